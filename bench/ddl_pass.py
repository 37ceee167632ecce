#!/usr/bin/env python3
"""An additive migration over every tenant schema, the way a real one would be rolled out.

No real new tenant migration exists to time, so this applies a realistic additive DDL to each
tenant's `courses` table:

    add:   ALTER TABLE "t_<id>".courses ADD COLUMN IF NOT EXISTS bench_extra text
    drop:  ALTER TABLE "t_<id>".courses DROP COLUMN IF EXISTS bench_extra

in small batches (--batch schemas per transaction) over --parallel long-lived psql sessions,
each transaction with a short lock_timeout so a batch never queues behind a long reader (a
timed-out batch is retried). Small batches matter for the readers: a read of a tenant whose
table is being altered waits until that batch commits, so the share of tenants locked at any
moment (parallel x batch / tenants) and the time a batch holds its locks set the readers' p99. Only schemas still pending are touched
(for `add`: courses without the column; for `drop`: with it), so a pass killed in the middle
resumes where it stopped when started again. Prints "progress <done>/<total>" on stderr after
each committed batch and a JSON summary on stdout.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
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
    ap.add_argument("--batch", type=int, default=5)
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

    sessions: list[subprocess.Popen] = []

    def terminate(signum: int, _frame: object) -> None:
        for proc in sessions:
            try:
                proc.terminate()
            except OSError:
                pass
        print(json.dumps({"action": args.action, "interrupted": True}), flush=True)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)

    started = time.perf_counter()
    schemas = pending(psql, args.action)
    work: queue.Queue = queue.Queue()
    for i in range(0, len(schemas), args.batch):
        work.put((schemas[i:i + args.batch], 0))
    lock = threading.Lock()
    state = {"done": 0, "retried": 0}
    failed: list[str] = []
    batch_seconds: list[float] = []
    counter = itertools.count(1)

    def run_session() -> None:
        # One psql per worker for the whole pass: no process start per batch. Errors go to the
        # same pipe; each batch ends with a marker line carrying psql's last SQLSTATE.
        proc = subprocess.Popen([*psql, "-XAtq", "-v", "ON_ERROR_STOP=0"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        with lock:
            sessions.append(proc)
        try:
            while True:
                try:
                    batch, attempt = work.get_nowait()
                except queue.Empty:
                    return
                marker = f"ddl-batch-{next(counter)}"
                script = ["\\set LAST_ERROR_SQLSTATE 00000", "BEGIN;",
                          f"SET LOCAL lock_timeout = '{args.lock_timeout_ms}ms';",
                          *(statement(args.action, s) for s in batch), "COMMIT;",
                          f"\\echo {marker} :LAST_ERROR_SQLSTATE"]
                began = time.perf_counter()
                proc.stdin.write("\n".join(script) + "\n")
                proc.stdin.flush()
                errors, sqlstate = [], None
                for line in proc.stdout:
                    if line.startswith(marker + " "):
                        sqlstate = line.split()[-1]
                        break
                    if "ERROR" in line:
                        errors.append(line.strip())
                if sqlstate is None:
                    with lock:
                        failed.append(f"psql session ended (exit {proc.poll()})")
                    return
                elapsed = time.perf_counter() - began
                with lock:
                    if sqlstate == "00000" and not errors:
                        state["done"] += len(batch)
                        batch_seconds.append(elapsed)
                        print(f"progress {state['done']}/{len(schemas)}", file=sys.stderr, flush=True)
                    elif attempt < args.retries and any("lock timeout" in e for e in errors):
                        state["retried"] += 1
                        work.put((batch, attempt + 1))
                    else:
                        failed.append((errors[0] if errors else f"SQLSTATE {sqlstate}")[:300])
        finally:
            try:
                proc.stdin.close()
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()

    workers = [threading.Thread(target=run_session, daemon=True) for _ in range(max(1, args.parallel))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done_schemas, retried = state["done"], state["retried"]

    elapsed = time.perf_counter() - started
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
