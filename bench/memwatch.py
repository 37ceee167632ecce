#!/usr/bin/env python3
"""Samples memory while `make bench` runs (stdlib only; Linux /proc).

Every --interval seconds it appends one JSON line to --out with
  - the gateway's VmRSS / RssAnon (from /proc/<hub pid>/status),
  - every PostgreSQL backend connected to --database (pids from pg_stat_activity, queried
    through psql on the `postgres` database so the sampler is not one of them): VmRSS and
    RssAnon from /proc/<pid>/status, labelled "hub" when its client port is one of the
    gateway's own sockets, else "other" (peer, `hub migrate`, psql DDL, ...),
  - the machine's MemAvailable,
  - the current phase (the text of --phase-file, written by bench/bench.py).

RssAnon is the backend's private memory (catalog and plan caches, work memory); VmRSS also
counts the shared buffers the backend has touched, so it overstates what one backend costs.

Memory guard: when MemAvailable drops below --min-available-mb it writes --guard-file and
sends SIGTERM to --guard-pid (bench/run.sh), which stops everything and reports the abort.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time


def status_kb(pid: int) -> dict[str, int] | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def mem_available_mb() -> float | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def local_ports_of(pid: int) -> set[int]:
    """Local TCP ports of the process's sockets (its ends of the PostgreSQL connections)."""
    inodes = socket_inodes(pid)
    ports: set[int] = set()
    if not inodes:
        return ports
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as f:
                next(f, None)
                for line in f:
                    parts = line.split()
                    if len(parts) > 9 and parts[9] in inodes:
                        ports.add(int(parts[1].rsplit(":", 1)[1], 16))
        except OSError:
            continue
    return ports


def backends(psql: list[str], database: str) -> list[tuple[int, int | None, str]]:
    sql = (
        "select pid, coalesce(client_port, -1), coalesce(application_name, '') "
        f"from pg_stat_activity where datname = '{database}' and backend_type = 'client backend'"
    )
    try:
        out = subprocess.run(
            [*psql, "-XAtq", "-F", "\t", "-c", sql],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return []
    rows = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            port = int(parts[1])
            rows.append((int(parts[0]), port if port >= 0 else None, parts[2] if len(parts) > 2 else ""))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hub-pid", type=int, required=True)
    ap.add_argument("--database", required=True)
    ap.add_argument("--psql", default="psql -h 127.0.0.1 -p 5432 -U postgres -d postgres")
    ap.add_argument("--out", required=True)
    ap.add_argument("--phase-file", required=True)
    ap.add_argument("--interval", type=float, default=2.0)
    ap.add_argument("--min-available-mb", type=float, default=1500.0)
    ap.add_argument("--guard-pid", type=int)
    ap.add_argument("--guard-file")
    args = ap.parse_args()
    if not all(c.isalnum() or c == "_" for c in args.database):
        ap.error("--database must be a plain identifier")
    psql = args.psql.split()

    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    with open(args.out, "a", encoding="utf-8") as out:
        while running:
            t = time.time()
            try:
                with open(args.phase_file, encoding="utf-8") as f:
                    phase = f.read().strip()
            except OSError:
                phase = ""
            hub = status_kb(args.hub_pid)
            hub_ports = local_ports_of(args.hub_pid) if hub else set()
            rows = []
            for pid, port, app in backends(psql, args.database):
                mem = status_kb(pid)
                if mem is None:
                    continue
                rows.append({
                    "pid": pid,
                    "owner": "hub" if port in hub_ports else "other",
                    "app": app,
                    "rss_kb": mem.get("VmRSS"),
                    "anon_kb": mem.get("RssAnon"),
                })
            available = mem_available_mb()
            sample = {
                "t": round(t, 3),
                "phase": phase,
                "hub_rss_kb": hub.get("VmRSS") if hub else None,
                "hub_anon_kb": hub.get("RssAnon") if hub else None,
                "mem_available_mb": round(available, 1) if available is not None else None,
                "backends": rows,
            }
            out.write(json.dumps(sample, separators=(",", ":")) + "\n")
            out.flush()
            if (
                available is not None
                and available < args.min_available_mb
                and args.guard_pid
            ):
                message = (
                    f"memory guard: MemAvailable {available:.0f} MB < {args.min_available_mb:.0f} MB "
                    f"during phase '{phase}'; stopping the benchmark"
                )
                print(message, file=sys.stderr, flush=True)
                if args.guard_file:
                    with open(args.guard_file, "w", encoding="utf-8") as f:
                        f.write(message + "\n")
                try:
                    os.kill(args.guard_pid, signal.SIGTERM)
                except OSError:
                    pass
                return 3
            # Sleep in small steps so SIGTERM ends the sampler promptly.
            deadline = t + args.interval
            while running and time.time() < deadline:
                time.sleep(min(0.2, max(0.0, deadline - time.time())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
