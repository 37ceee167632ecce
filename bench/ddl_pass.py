#!/usr/bin/env python3
"""An additive migration over every tenant schema, the way a real one would be rolled out.

No real new tenant migration exists to time, so this applies a realistic additive DDL to each
tenant's `courses` table:

    add:   ALTER TABLE "t_<id>".courses ADD COLUMN IF NOT EXISTS bench_extra text
    drop:  ALTER TABLE "t_<id>".courses DROP COLUMN IF EXISTS bench_extra

in batches (--batch schemas per transaction, so no transaction needs thousands of locks) with
--parallel psql sessions at once, each with a short lock_timeout so a batch never queues
behind a long reader (a timed-out batch is retried). Only schemas still pending are touched
(for `add`: courses without the column; for `drop`: with it), so a pass killed in the middle
resumes where it stopped when started again. Prints "progress <done>/<total>" on stderr after
each committed batch and a JSON summary on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SCHEMA = re.compile(r"^t_[0-9a-f]{32}$")
COLUMN = "bench_extra"


def pending(psql: list[str], action: str) -> list[str]:
    has = "exists" if action == "drop" else "not exists"
    sql = f"""
        select t.schema_name from hub_control.tenants t
        where t.status <> 'offboarding' and {has} (
            select 1 from pg_attribute a
            join pg_class c on c.oid = a.attrelid
            join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = t.schema_name and c.relname = 'courses'
              and a.attname = '{COLUMN}' and not a.attisdropped)
        order by t.id"""
    out = subprocess.run([*psql, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    schemas = [line.strip() for line in out.splitlines() if line.strip()]
    bad = [s for s in schemas if not SCHEMA.match(s)]
    if bad:
        raise SystemExit(f"ddl_pass: refusing unexpected schema names: {bad[:3]}")
    return schemas


def statement(action: str, schema: str) -> str:
    if action == "add":
        return f'ALTER TABLE "{schema}".courses ADD COLUMN IF NOT EXISTS {COLUMN} text;'
    return f'ALTER TABLE "{schema}".courses DROP COLUMN IF EXISTS {COLUMN};'


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["add", "drop", "count"])
    ap.add_argument("--psql", required=True, help="psql command line for the hub database")
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--lock-timeout-ms", type=int, default=2000)
    ap.add_argument("--retries", type=int, default=5)
    args = ap.parse_args()
    psql = shlex.split(args.psql)

    if args.action == "count":
        with_column = len(pending(psql, "drop"))
        without = len(pending(psql, "add"))
        print(json.dumps({"with_column": with_column, "without_column": without}))
        return 0

    running: dict[subprocess.Popen, tuple[list[str], int]] = {}

    def terminate(signum: int, _frame: object) -> None:
        for proc in list(running):
            try:
                proc.terminate()
            except OSError:
                pass
        for proc in list(running):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        print(json.dumps({"action": args.action, "interrupted": True}), flush=True)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)

    started = time.perf_counter()
    schemas = pending(psql, args.action)
    batches = [schemas[i:i + args.batch] for i in range(0, len(schemas), args.batch)]
    queue: list[tuple[list[str], int]] = [(b, 0) for b in batches]
    workdir = tempfile.mkdtemp(prefix="hub-ddl-")
    done_schemas = 0
    retried = 0
    failed: list[str] = []
    batch_seconds: list[float] = []
    starts: dict[subprocess.Popen, float] = {}
    counter = 0

    while queue or running:
        while queue and len(running) < args.parallel:
            batch, attempt = queue.pop(0)
            counter += 1
            path = os.path.join(workdir, f"batch-{counter}.sql")
            with open(path, "w", encoding="utf-8") as f:
                f.write(f"SET lock_timeout = '{args.lock_timeout_ms}ms';\n")
                f.write("\n".join(statement(args.action, s) for s in batch) + "\n")
            proc = subprocess.Popen(
                [*psql, "-XAtq", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", path],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )
            running[proc] = (batch, attempt)
            starts[proc] = time.perf_counter()
        time.sleep(0.005)
        for proc in [p for p in running if p.poll() is not None]:
            batch, attempt = running.pop(proc)
            err = proc.stderr.read() if proc.stderr else ""
            elapsed = time.perf_counter() - starts.pop(proc)
            if proc.returncode == 0:
                done_schemas += len(batch)
                batch_seconds.append(elapsed)
                print(f"progress {done_schemas}/{len(schemas)}", file=sys.stderr, flush=True)
            elif attempt < args.retries and "lock timeout" in err:
                retried += 1
                queue.append((batch, attempt + 1))
            else:
                failed.append(err.strip()[:300] or f"psql exited {proc.returncode}")

    elapsed = time.perf_counter() - started
    shutil.rmtree(workdir, ignore_errors=True)
    batch_seconds.sort()
    summary = {
        "action": args.action,
        "statement": statement(args.action, "t_<id>"),
        "schemas": done_schemas,
        "pending_at_start": len(schemas),
        "batch_size": args.batch,
        "parallel": args.parallel,
        "elapsed_s": round(elapsed, 3),
        "batches": len(batch_seconds),
        "batch_p50_s": round(batch_seconds[len(batch_seconds) // 2], 4) if batch_seconds else None,
        "batch_max_s": round(batch_seconds[-1], 4) if batch_seconds else None,
        "lock_timeout_retries": retried,
        "failed_batches": len(failed),
        "errors": failed[:5],
    }
    print(json.dumps(summary), flush=True)
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
