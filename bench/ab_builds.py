#!/usr/bin/env python3
"""Two builds of `hub` side by side: the same reads against the same data, interleaved.

    python3 bench/ab_builds.py BEFORE_BIN AFTER_BIN

For a change that has no setting to switch it off (so `make bench`'s before/after section
cannot show it), build the commit before it into another target directory and compare:

    git worktree add /tmp/before <commit> && (cd /tmp/before &&
        CARGO_TARGET_DIR=/tmp/before-target cargo build --release -p hub-gateway --bin hub)
    python3 bench/ab_builds.py /tmp/before-target/release/hub target/release/hub

A fresh database (AB_DB, default hub_ab) on the loopback PostgreSQL, AB_TENANTS tenants with
20 courses each provisioned through the AFTER gateway (bench/seed.py), then both gateways
serve it at once (same key-encryption key, same Redis) and wrk drives GET /v1/courses/{id}
(uniform tenant choice) at each of AB_CONNECTIONS, AB_RUNS times AB_DURATION seconds,
alternating builds within each run. Prints medians and after/before ratios and writes them
to bench/out/ab-builds.json. Both builds must share the database schema (no migration
between them). Loopback only; every step is time-bounded; the database is dropped at the end.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from wrklib import parse_wrk, summarise_runs, wrk_cmd

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DB = os.environ.get("AB_DB", "hub_ab")
TENANTS = int(os.environ.get("AB_TENANTS", "1000"))
DURATION = int(os.environ.get("AB_DURATION", "10"))
RUNS = int(os.environ.get("AB_RUNS", "3"))
CONNECTIONS = [int(c) for c in os.environ.get("AB_CONNECTIONS", "16 64").split()]
PG = os.environ.get("AB_PG", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("AB_REDIS", "redis://127.0.0.1:6379")
if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", DB):
    raise SystemExit("ab_builds: AB_DB must be a plain lower-case identifier")
for url in (PG, REDIS):
    if not re.match(r"^[a-z]+://([^@/]+@)?(127\.0\.0\.1|localhost)(:\d+)?", url):
        raise SystemExit(f"ab_builds: {url} is not on loopback")


def log(message: str) -> None:
    print(f"[ab {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def psql(sql: str) -> None:
    subprocess.run(["psql", f"{PG}/postgres", "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                   check=True, timeout=120, capture_output=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary: str, env: dict, logfile: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([binary, "serve"], env={**env, "HUB_LISTEN": f"127.0.0.1:{port}"},
                            stdout=logfile.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"ab_builds: {binary} exited at start (see {logfile})")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"ab_builds: {binary} not ready in 60 s")


def wrk(url: str, connections: int, targets: Path) -> dict:
    env = {**os.environ, "BENCH_TARGETS": str(targets), "BENCH_KIND": "hub", "BENCH_DIST": "uniform",
           "BENCH_TENANTS": str(TENANTS)}
    out = subprocess.run(wrk_cmd("get", connections, DURATION, url, threads=2), env=env,
                         capture_output=True, text=True, timeout=DURATION + 60).stdout
    return parse_wrk(out)


def main() -> int:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    builds = {"before": sys.argv[1], "after": sys.argv[2]}
    for binary in builds.values():
        if not os.access(binary, os.X_OK):
            raise SystemExit(f"ab_builds: {binary} is not an executable")
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="hub-ab-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({"DATABASE_URL": f"{PG}/{DB}", "REDIS_URL": REDIS, "HUB_KEK": secrets.token_hex(32),
                "HUB_LOG_LEVEL": "warn", "HUB_RATE_LIMIT_PER_KEY": "1000000000",
                "HUB_RATE_LIMIT_PER_IP": "1000000000", "HUB_DATA_DIR": str(work / "data"),
                "HUB_CONFIG": str(work / "no-hub.toml")})
    procs: list[subprocess.Popen] = []
    try:
        psql(f"drop database if exists {DB} with (force)")
        psql(f"create database {DB}")
        after, after_url = start(builds["after"], env, work / "after.log")
        procs.append(after)
        token = subprocess.run([builds["after"], "operator-key", "create", "--name", "ab"], env=env,
                               capture_output=True, text=True, check=True, timeout=60).stdout.strip()
        targets = work / "targets.tsv"
        log(f"provisioning {TENANTS} tenants through the after build")
        subprocess.run([sys.executable, str(ROOT / "bench/seed.py"), "--url", after_url, "--total", str(TENANTS),
                        "--targets", str(targets), "--quiet"], env={**os.environ, "BENCH_OPERATOR_TOKEN": token},
                       check=True, timeout=3600)
        before, before_url = start(builds["before"], env, work / "before.log")
        procs.append(before)
        urls = {"before": before_url, "after": after_url}
        for name, url in urls.items():  # warm both: connections, caches
            wrk(url, CONNECTIONS[0], targets)
        samples: dict = {name: {c: [] for c in CONNECTIONS} for name in builds}
        for run in range(1, RUNS + 1):
            order = ["before", "after"] if run % 2 else ["after", "before"]
            for connections in CONNECTIONS:
                for name in order:
                    result = wrk(urls[name], connections, targets)
                    samples[name][connections].append(result)
                    log(f"run {run} {name} c{connections}: {result['rps']:.0f} req/s "
                        f"p50 {result['p50_ms']:.2f} ms p99 {result['p99_ms']:.2f} ms errors {result['errors']}")
        summary: dict = {"tenants": TENANTS, "duration_s": DURATION, "runs": RUNS, "builds": builds, "cells": []}
        for connections in CONNECTIONS:
            cell = {"connections": connections}
            for name in builds:
                cell[name] = summarise_runs(samples[name][connections])
            cell["rps_after_over_before"] = round(cell["after"]["rps"] / cell["before"]["rps"], 3)
            cell["p50_after_over_before"] = round(cell["after"]["p50_ms"] / cell["before"]["p50_ms"], 3)
            cell["p99_after_over_before"] = round(cell["after"]["p99_ms"] / cell["before"]["p99_ms"], 3)
            summary["cells"].append(cell)
            log(f"c{connections}: before {cell['before']['rps']:.0f} req/s, after {cell['after']['rps']:.0f} "
                f"req/s: x{cell['rps_after_over_before']} (p50 x{cell['p50_after_over_before']}, "
                f"p99 x{cell['p99_after_over_before']})")
        (OUT / "ab-builds.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        print(json.dumps(summary))
        return 0
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=25)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
        try:
            psql(f"drop database if exists {DB} with (force)")
        except subprocess.SubprocessError:
            log(f"could not drop {DB}")


if __name__ == "__main__":
    sys.exit(main())
