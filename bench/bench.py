#!/usr/bin/env python3
"""The measuring half of `make bench` (stdlib only).

bench/run.sh prepares everything (wrk, release build, fresh database, `hub serve`, operator
key) and then runs this driver, which:

  1. initialises a pgbench database (the database's own ceiling),
  2. for each tenant count in BENCH_TENANT_COUNTS (the same database grown step by step):
     provisions the difference (bench/seed.py), then runs, interleaved over BENCH_RUNS
     repetitions, GET /v1/courses/{id} and GET /v1/courses?limit=20 under uniform and Zipf
     tenant choice at every connection count, and `pgbench -S -M prepared` at the same client
     counts; then the Django peer (bench/peer/serve.sh), if there is one, on the same rows,
  3. soaks at the largest count while sampling memory (bench/memwatch.py runs throughout),
  4. measures one backend's catalog memory after touching every tenant
     (pg_backend_memory_contexts),
  5. times `hub migrate` and an additive DDL pass over every tenant (bench/ddl_pass.py) with
     reads running, kills each in the middle and resumes it,
  6. provisions a few more tenants one at a time (provisioning latency without queueing),

writing bench/out/results.json after every phase (so an aborted run still leaves its figures).
bench/report.py turns that file into BENCHMARKS.md.

Every load run is bounded in time (wrk -d, pgbench -T) and targets loopback only.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path

from wrklib import ENDPOINTS, parse_wrk, summarise_runs, wrk_cmd

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


# --- configuration ----------------------------------------------------------------------------


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, "")
    if value == "":
        if default is None:
            raise SystemExit(f"bench.py: {name} is not set (run through bench/run.sh / make bench)")
        return default
    return value


def env_int(name: str, default: int) -> int:
    text = env(name, str(default))
    try:
        return int(text)
    except ValueError:
        raise SystemExit(f"bench.py: {name}={text!r} is not an integer") from None


def env_ints(name: str, default: str) -> list[int]:
    text = env(name, default)
    try:
        values = [int(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise SystemExit(f"bench.py: {name}={text!r} must be integers separated by spaces") from None
    if not values or any(v < 1 for v in values):
        raise SystemExit(f"bench.py: {name}={text!r} must list positive integers")
    return values


QUICK = env("BENCH_QUICK", "0") not in ("0", "", "false", "no")
OUT = Path(env("BENCH_OUT", str(ROOT / "bench" / "out")))
RAW = OUT / "raw"
RUN = OUT / "run"
RESULTS = OUT / "results.json"
TARGETS = OUT / "targets.tsv"
HUB_URL = env("BENCH_HUB_URL")
HUB_PID = env_int("BENCH_HUB_PID", 0)
HUB_BIN = env("BENCH_HUB_BIN")
DB = env("BENCH_DB", "hub_bench")
PGBENCH_DB = env("BENCH_PGBENCH_DB", "hub_bench_pgbench")
PGHOST = env("PGHOST", "127.0.0.1")
PGPORT = env("PGPORT", "5432")
PGUSER = env("PGUSER", "postgres")
COUNTS = sorted(set(env_ints("BENCH_TENANT_COUNTS", "1 50" if QUICK else "1 1000 10000")))
DURATION = env_int("BENCH_DURATION", 3 if QUICK else 15)
RUNS = env_int("BENCH_RUNS", 3)
CONNECTIONS = env_ints("BENCH_CONNECTIONS", "16 64")
THREADS = env_int("BENCH_THREADS", 2)
COURSES = env_int("BENCH_COURSES", 20)
SEED_CONCURRENCY = env_int("BENCH_SEED_CONCURRENCY", 8)
SOAK_SECS = env_int("BENCH_SOAK_SECS", 10 if QUICK else 60)
SOAK_DIST = env("BENCH_SOAK_DIST", "uniform")
PG_SCALE = env_int("BENCH_PG_SCALE", 10)
PROBE_TENANTS = env_int("BENCH_PROBE_TENANTS", 20 if QUICK else 100)
MIGRATE_CONNECTIONS = env_int("BENCH_MIGRATE_CONNECTIONS", 16)
# Schemas per DDL transaction; 0 = auto: a tenth of the tenants, at most 5 (so even a quick
# run rolls out in several batches, and a reader of a tenant being altered waits only for a
# short batch; with 50 per batch, read p99 during the pass was 2.8 x idle).
DDL_BATCH = env_int("BENCH_DDL_BATCH", 0)
DDL_PARALLEL = env_int("BENCH_DDL_PARALLEL", 2)
PEER_STATUS = env("BENCH_PEER_STATUS", "not run: bench/peer/serve.sh not present")
PEER_DISTS = env("BENCH_PEER_DISTS", "uniform").split()
PEER_START_TIMEOUT = env_int("BENCH_PEER_START_TIMEOUT", 300)
MEM_INTERVAL = float(env("BENCH_MEM_INTERVAL", "1" if QUICK else "2"))
MIN_AVAILABLE_MB = float(env("BENCH_MIN_AVAILABLE_MB", "1500"))
GUARD_PID = env_int("BENCH_GUARD_PID", 0)
ENDPOINT_LABELS = {"get": "GET /v1/courses/{id}", "list": "GET /v1/courses?limit=20"}
PSQL = ["psql", "-h", PGHOST, "-p", PGPORT, "-U", PGUSER]

for name, value in (("BENCH_RUNS", RUNS), ("BENCH_DURATION", DURATION), ("BENCH_THREADS", THREADS)):
    if value < 1:
        raise SystemExit(f"bench.py: {name} must be at least 1")
if SOAK_DIST not in ("uniform", "zipf"):
    raise SystemExit("bench.py: BENCH_SOAK_DIST must be uniform or zipf")
if PGHOST not in LOOPBACK or urllib.parse.urlsplit(HUB_URL).hostname not in LOOPBACK:
    raise SystemExit("bench.py: only loopback targets are allowed")


# --- bookkeeping ------------------------------------------------------------------------------


results: dict = {}
children: set[subprocess.Popen] = set()
peer_proc: subprocess.Popen | None = None


class Aborted(Exception):
    pass


def on_signal(signum: int, _frame: object) -> None:
    raise Aborted(f"signal {signal.Signals(signum).name}")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def save() -> None:
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    tmp.replace(RESULTS)


def set_phase(name: str) -> None:
    (RUN / "phase").write_text(name + "\n", encoding="utf-8")
    results.setdefault("phases", []).append({"name": name, "started": round(time.time(), 3)})
    log(f"phase: {name}")


def command(text: str) -> None:
    """Records a command line for BENCHMARKS.md, in order of first use. Load commands are
    recorded as templates (<N> tenants of the step, <C> connections/clients, <dist>) so the
    list stays short; BENCHMARKS.md gives the values."""
    text = re.sub(r"BENCH_TENANTS=\d+", "BENCH_TENANTS=<N>", text)
    text = re.sub(r"BENCH_DIST=(uniform|zipf)", "BENCH_DIST=<dist>", text)
    text = re.sub(r" -c \d+ ", " -c <C> ", text)
    if "--slug-prefix bench " in text:
        text = re.sub(r" --total \d+ ", " --total <N> ", text)
    text = re.sub(r"bench/out/run/pgbench-logs/[^ ]+/pgbench", "<log dir>/pgbench", text)
    text = re.sub(r"ntenants=\d+", "ntenants=<N>", text)
    text = re.sub(r"search_path=t_[0-9a-f]{32}", "search_path=<first tenant schema>", text)
    text = re.sub(r"bench/out/run/seed-[^ ]+\.json", "<summary.json>", text)
    cmds = results.setdefault("commands", [])
    if text not in cmds:
        cmds.append(text)


def display(cmd: list[str], env_vars: dict[str, str] | None = None) -> str:
    words = ["python3" if c == sys.executable else str(c) for c in cmd]
    text = " ".join(shlex.quote(w) for w in words)
    if env_vars:
        text = " ".join(f"{k}={shlex.quote(v)}" for k, v in env_vars.items()) + " " + text
    return text.replace(str(ROOT) + "/", "")


def spawn(cmd: list[str], *, env_extra: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    environment = dict(os.environ)
    if env_extra:
        environment.update(env_extra)
    proc = subprocess.Popen(cmd, env=environment, cwd=ROOT, start_new_session=True, **kw)
    children.add(proc)
    # Its own process group, recorded so bench/run.sh can stop it even if this driver dies.
    (RUN / "pids").mkdir(parents=True, exist_ok=True)
    (RUN / "pids" / f"{proc.pid}.pgid").write_text(f"{proc.pid}\n")
    return proc


def forget(proc: subprocess.Popen) -> None:
    children.discard(proc)
    (RUN / "pids" / f"{proc.pid}.pgid").unlink(missing_ok=True)


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 15.0) -> None:
    """Stops a child we started (its own process group) and waits, bounded."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except OSError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait(timeout=10)
    forget(proc)


def run(cmd: list[str], *, timeout: float, env_extra: dict[str, str] | None = None,
        check: bool = True, stdin_text: str | None = None) -> subprocess.CompletedProcess:
    proc = spawn(cmd, env_extra=env_extra, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                 stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL, text=True)
    try:
        out, err = proc.communicate(input=stdin_text, timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_process(proc, signal.SIGKILL)
        raise RuntimeError(f"timed out after {timeout:.0f}s: {display(cmd)}") from None
    finally:
        forget(proc)
    result = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    if check and proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {display(cmd)}\n{err.strip()[-2000:]}")
    return result


def psql(database: str, sql: str, timeout: float = 120) -> str:
    return run([*PSQL, "-d", database, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
               timeout=timeout).stdout.strip()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-int(q * len(ordered)) // 100)))
    return ordered[rank - 1]


# --- load generators --------------------------------------------------------------------------


def wrk_env(kind: str, dist: str, tenants: int) -> dict[str, str]:
    return {"BENCH_KIND": kind, "BENCH_DIST": dist, "BENCH_TENANTS": str(tenants),
            "BENCH_TARGETS": str(TARGETS)}


def run_wrk(label: str, kind: str, endpoint: str, dist: str, tenants: int, connections: int,
            duration: int, url: str) -> dict:
    cmd = wrk_cmd(endpoint, connections, duration, url, THREADS)
    extra = wrk_env(kind, dist, tenants)
    command(display(cmd, extra).replace(url, f"http://127.0.0.1:<{kind} port>"))
    out = run(cmd, timeout=duration + 60, env_extra=extra)
    (RAW / f"{label}.txt").write_text(out.stdout + out.stderr, encoding="utf-8")
    parsed = parse_wrk(out.stdout)
    if parsed["errors"]:
        log(f"  {label}: {parsed['errors']} errors {parsed['error_detail']}")
    log(f"  {label}: {parsed['rps']:.0f} req/s p50 {parsed['p50_ms']:.2f} ms p99 {parsed['p99_ms']:.2f} ms")
    return parsed


class BackgroundWrk:
    """wrk running beside another operation; stopped with SIGINT (wrk then prints its stats)."""

    def __init__(self, label: str, endpoint: str, dist: str, tenants: int, connections: int, cap: int):
        self.label = label
        cmd = wrk_cmd(endpoint, connections, cap, HUB_URL, THREADS)
        extra = wrk_env("hub", dist, tenants)
        command(display(cmd, extra).replace(HUB_URL, "http://127.0.0.1:<hub port>")
                + "   # in the background, stopped with SIGINT when the operation ends")
        self.proc = spawn(cmd, env_extra=extra, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(0.5)

    def stop(self) -> dict:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            out, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            stop_process(self.proc, signal.SIGKILL)
            raise RuntimeError(f"{self.label}: wrk did not stop") from None
        forget(self.proc)
        (RAW / f"{self.label}.txt").write_text(out, encoding="utf-8")
        parsed = parse_wrk(out)
        log(f"  {self.label}: {parsed['rps']:.0f} req/s p50 {parsed['p50_ms']:.2f} ms p99 {parsed['p99_ms']:.2f} ms")
        return parsed


def pgbench_init() -> None:
    cmd = ["pgbench", "-h", PGHOST, "-p", PGPORT, "-U", PGUSER, "-i", "-s", str(PG_SCALE), "-q", PGBENCH_DB]
    command(display(cmd))
    run(cmd, timeout=1800)


def run_pgbench(label: str, clients: int, duration: int, *, workload: list[str] | None = None,
                database: str = PGBENCH_DB, env_extra: dict[str, str] | None = None) -> dict:
    """pgbench -S (the default workload) or a custom one, with sampled per-transaction logs
    for the latency percentiles."""
    logdir = RUN / "pgbench-logs" / label
    logdir.mkdir(parents=True, exist_ok=True)
    cmd = ["pgbench", "-h", PGHOST, "-p", PGPORT, "-U", PGUSER, *(workload or ["-S"]), "-M", "prepared", "-n",
           "-c", str(clients), "-j", str(min(THREADS, clients)), "-T", str(duration),
           "-l", "--sampling-rate", "0.1", "--log-prefix", str(logdir / "pgbench"), database]
    command(display(cmd, env_extra))
    out = run(cmd, timeout=duration + 120, env_extra=env_extra)
    (RAW / f"{label}.txt").write_text(out.stdout + out.stderr, encoding="utf-8")
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out.stdout)
    avg = re.search(r"latency average = ([\d.]+) ms", out.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", out.stdout)
    if not tps:
        raise RuntimeError(f"cannot parse pgbench output:\n{out.stdout[-2000:]}")
    latencies: list[float] = []
    for path in logdir.glob("pgbench*"):
        with path.open(encoding="ascii", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3:
                    latencies.append(int(parts[2]) / 1000)
        path.unlink()
    result = {
        "rps": round(float(tps.group(1)), 1),
        "p50_ms": round(percentile(latencies, 50), 3) if latencies else None,
        "p99_ms": round(percentile(latencies, 99), 3) if latencies else None,
        "mean_ms": float(avg.group(1)) if avg else None,
        "errors": int(failed.group(1)) if failed else 0,
        "requests": None,
        "sampled_latencies": len(latencies),
    }
    log(f"  {label}: {result['rps']:.0f} tps p50 {result['p50_ms']} ms p99 {result['p99_ms']} ms")
    return result


# --- provisioning -----------------------------------------------------------------------------


def seed(total: int, *, targets: Path = TARGETS, courses: int = COURSES, concurrency: int = SEED_CONCURRENCY,
         prefix: str = "bench", label: str) -> dict:
    summary_path = RUN / f"seed-{label}.json"
    cmd = [sys.executable, str(ROOT / "bench/seed.py"), "--url", HUB_URL, "--total", str(total),
           "--courses", str(courses), "--concurrency", str(concurrency), "--targets", str(targets),
           "--slug-prefix", prefix, "--summary", str(summary_path)]
    command(display(cmd).replace(HUB_URL, "http://127.0.0.1:<hub port>"))
    # Generous bound: 10,000 tenants x 21 requests at a slow 50 tenants/s is under 4 minutes.
    proc = spawn(cmd, stderr=None, stdout=subprocess.DEVNULL)
    try:
        code = proc.wait(timeout=max(600, total * 2))
    except subprocess.TimeoutExpired:
        stop_process(proc)
        raise RuntimeError(f"seeding to {total} tenants timed out") from None
    forget(proc)
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    if code != 0:
        raise RuntimeError(f"seeding failed: {summary.get('error', f'exit {code}')}")
    return summary


# --- the Django peer --------------------------------------------------------------------------


def http_status(url: str, host: str, timeout: float = 2.0) -> int | None:
    parts = urllib.parse.urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as s:
            s.sendall(f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            s.settimeout(timeout)
            head = s.recv(64).decode("latin-1")
        match = re.match(r"HTTP/1\.[01] (\d{3})", head)
        return int(match.group(1)) if match else None
    except OSError:
        return None


def first_target() -> tuple[str, str]:
    with TARGETS.open(encoding="utf-8") as f:
        fields = f.readline().rstrip("\n").split("\t")
    return fields[0], fields[2]


def start_peer() -> str:
    global peer_proc
    port = free_port()
    db_url = f"postgres://{PGUSER}@{PGHOST}:{PGPORT}/{DB}"
    cmd = ["bash", str(ROOT / "bench/peer/serve.sh"), str(port), db_url]
    command(display(cmd).replace(str(port), "<peer port>"))
    logfile = open(OUT / "logs" / "peer.log", "a", encoding="utf-8")
    peer_proc = spawn(cmd, stdout=logfile, stderr=subprocess.STDOUT)
    (RUN / "pids").mkdir(exist_ok=True)
    (RUN / "pids" / "peer.pgid").write_text(f"{peer_proc.pid}\n")
    url = f"http://127.0.0.1:{port}"
    slug, course = first_target()
    deadline = time.time() + PEER_START_TIMEOUT
    while time.time() < deadline:
        if peer_proc.poll() is not None:
            raise RuntimeError(f"bench/peer/serve.sh exited with {peer_proc.returncode}; see bench/out/logs/peer.log")
        status = http_status(f"{url}/courses/{course}", f"{slug}.peer.test")
        if status == 200:
            return url
        time.sleep(1)
    raise RuntimeError(f"the peer did not answer 200 on /courses/<id> within {PEER_START_TIMEOUT}s")


def stop_peer() -> None:
    global peer_proc
    if peer_proc is not None:
        stop_process(peer_proc, grace=20)
        peer_proc = None
        try:
            (RUN / "pids" / "peer.pgid").unlink()
        except OSError:
            pass


# --- phases -----------------------------------------------------------------------------------


def machine() -> dict:
    def read(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    lscpu = read(["lscpu"])
    model = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines()
                  if line.startswith("Model name:")), "unknown")
    mem_kb = 0
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    settings = {}
    for name in ("server_version", "fsync", "synchronous_commit", "full_page_writes", "shared_buffers",
                 "max_connections", "work_mem", "max_locks_per_transaction"):
        settings[name] = psql("postgres", f"show {name}")
    git = read(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = bool(read(["git", "-C", str(ROOT), "status", "--porcelain", "--", "crates", "migrations"]))
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": read(["uname", "-r"]),
        "postgres": settings,
        "wrk": read(["wrk", "--version"]).splitlines()[0] if read(["wrk", "--version"]) else "",
        "pgbench": read(["pgbench", "--version"]),
        "rustc": read(["rustc", "--version"]),
        "python": sys.version.split()[0],
        "git_commit": git + ("+uncommitted changes" if dirty else ""),
        "load_average_at_start": os.getloadavg()[0],
    }


def warm_up(kind: str, url: str, tenants: int) -> None:
    seconds = max(1, min(DURATION, 5))
    for endpoint in ENDPOINTS:
        cmd = wrk_cmd(endpoint, max(CONNECTIONS), seconds, url, THREADS)
        run(cmd, timeout=seconds + 60, env_extra=wrk_env(kind, "uniform", tenants))


def zipf_exponent(n: int, hot_fraction: float = 0.01, hot_share: float = 0.8) -> float:
    """The exponent bench/wrk/common.lua solves for: the hottest ceil(1 % of n) ranks get 80 %."""
    hot = max(1, math.ceil(n * hot_fraction))
    if hot >= n:
        return 0.0

    def share(x: float) -> float:
        weights = [k ** -x for k in range(1, n + 1)]
        return sum(weights[:hot]) / sum(weights)

    lo, hi = 0.0, 30.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if share(mid) < hot_share else (lo, mid)
    return hi


SCOPE_SQL = """\\set c random(1, :ncourses)
BEGIN;
SELECT set_config('transaction_read_only', 'on', true) AS ro, set_config('search_path', m.schema_name, true) AS sp, m.course_id FROM public.bench_map m WHERE m.t = :t AND m.c = :c \\gset
SELECT id, code, title, description, status, tags, minimum_age, revision, created_at, updated_at FROM courses WHERE id = :course_id;
ROLLBACK;
"""


def prepare_scope_workload(tenants: int) -> tuple[str, dict[str, Path]]:
    """The hub's database work for GET /v1/courses/{id}, without the gateway: per transaction
    BEGIN; READ ONLY and SET LOCAL search_path (set_config(..., true), with the map lookup in
    the same round trip); the prepared primary-key select; ROLLBACK (the hub sends that one in
    the background with the pool's release check; pgbench waits for it, so this is the harder
    baseline). public.bench_map (tenant rank, course) →
    (schema, course id) follows the order of the targets file, so the Zipf ranks match wrk's.
    Returns the first tenant's schema (the sessions' default search_path, so the prepared select
    can be parsed; PostgreSQL re-plans it whenever the path changes, as for the hub) and the
    script files per distribution."""
    schemas = dict(line.split("|") for line in psql(DB, "select slug, schema_name from hub_control.tenants").splitlines())
    rows = []
    with TARGETS.open(encoding="utf-8") as f:
        for rank, line in enumerate(f, start=1):
            if rank > tenants:
                break
            fields = line.rstrip("\n").split("\t")
            schema = schemas[fields[0]]
            if not re.fullmatch(r"t_[0-9a-f]{32}", schema):
                raise RuntimeError(f"unexpected schema name {schema!r}")
            rows += [f"{rank}\t{c}\t{schema}\t{cid}" for c, cid in enumerate(fields[2:2 + COURSES], start=1)]
    copy = ("drop table if exists public.bench_map;\n"
            "create table public.bench_map (t int, c int, schema_name text, course_id uuid, primary key (t, c));\n"
            "copy public.bench_map from stdin;\n" + "\n".join(rows) + "\n\\.\nanalyze public.bench_map;\n")
    run([*PSQL, "-d", DB, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"], timeout=600, stdin_text=copy)
    scripts = {}
    for dist, pick in (("uniform", "\\set t random(1, :ntenants)"),
                       ("zipf", f"\\set t random_zipfian(1, :ntenants, {max(1.001, zipf_exponent(tenants)):.4f})")):
        path = ROOT / "bench" / "out" / "run" / f"scope-{dist}.sql"
        path.write_text(pick + "\n" + SCOPE_SQL, encoding="utf-8")
        scripts[dist] = path
    return schemas[first_target()[0]], scripts


def load_step(step: dict, tenants: int) -> None:
    dists = ["uniform", "zipf"] if tenants > 1 else ["uniform"]
    hub: dict = {e: {d: {str(c): {"runs": []} for c in CONNECTIONS} for d in dists} for e in ENDPOINTS}
    pg: dict = {str(c): {"runs": []} for c in CONNECTIONS}
    scope: dict = {d: {str(c): {"runs": []} for c in CONNECTIONS} for d in dists}
    step["hub"], step["pgbench"], step["scope_pgbench"] = hub, pg, scope
    if tenants == 1:
        step["note"] = "one tenant: Zipf and uniform choose the same tenant, so the uniform figures stand for both"
    first_schema, scripts = prepare_scope_workload(tenants)
    scope_env = {"PGOPTIONS": f"-c search_path={first_schema}"}
    warm_up("hub", HUB_URL, tenants)
    for r in range(1, RUNS + 1):
        for endpoint in ENDPOINTS:
            for dist in dists:
                for c in CONNECTIONS:
                    label = f"n{tenants}-hub-{endpoint}-{dist}-c{c}-r{r}"
                    hub[endpoint][dist][str(c)]["runs"].append(
                        run_wrk(label, "hub", endpoint, dist, tenants, c, DURATION, HUB_URL))
        for c in CONNECTIONS:
            pg[str(c)]["runs"].append(run_pgbench(f"n{tenants}-pgbench-c{c}-r{r}", c, DURATION))
        for dist in dists:
            for c in CONNECTIONS:
                scope[dist][str(c)]["runs"].append(run_pgbench(
                    f"n{tenants}-scope-{dist}-c{c}-r{r}", c, DURATION, database=DB, env_extra=scope_env,
                    workload=["-f", str(scripts[dist]), "-D", f"ntenants={tenants}", "-D", f"ncourses={COURSES}"]))
        save()
    for endpoint in hub.values():
        for dist in endpoint.values():
            for cell in dist.values():
                cell["median"] = summarise_runs(cell["runs"])
    for cell in pg.values():
        cell["median"] = summarise_runs(cell["runs"])
    for dist in scope.values():
        for cell in dist.values():
            cell["median"] = summarise_runs(cell["runs"])
    psql(DB, "drop table if exists public.bench_map")
    save()


def peer_step(step: dict, tenants: int) -> None:
    if not PEER_STATUS.startswith("ready"):
        step["peer"] = {"status": PEER_STATUS}
        return
    set_phase(f"peer at {tenants} tenants")
    peer: dict = {"status": "running", "dists": PEER_DISTS}
    step["peer"] = peer
    try:
        url = start_peer()
        warm_up("peer", url, tenants)
        cells = {e: {d: {str(c): {"runs": []} for c in CONNECTIONS} for d in PEER_DISTS} for e in ENDPOINTS}
        peer["results"] = cells
        for r in range(1, RUNS + 1):
            for endpoint in ENDPOINTS:
                for dist in PEER_DISTS:
                    for c in CONNECTIONS:
                        label = f"n{tenants}-peer-{endpoint}-{dist}-c{c}-r{r}"
                        cells[endpoint][dist][str(c)]["runs"].append(
                            run_wrk(label, "peer", endpoint, dist, tenants, c, DURATION, url))
        for endpoint in cells.values():
            for dist in endpoint.values():
                for cell in dist.values():
                    cell["median"] = summarise_runs(cell["runs"])
        peer["status"] = "ok"
    except (RuntimeError, OSError, ValueError) as error:
        peer["status"] = f"failed: {error}"
        log(f"peer failed: {error}")
    finally:
        stop_peer()
        save()


def print_ratios(step: dict) -> None:
    """The step's medians and ratios on the console (BENCHMARKS.md has them all)."""
    peer = step.get("peer", {})
    for endpoint in ENDPOINTS:
        for c in CONNECTIONS:
            hub = step["hub"][endpoint]["uniform"][str(c)]["median"]
            pg = step["pgbench"][str(c)]["median"]
            text = (f"  {step['tenants']} tenants, {ENDPOINT_LABELS[endpoint]}, {c} conns, uniform: hub "
                    f"{hub['rps']:.0f} req/s (p50 {hub['p50_ms']} ms, p99 {hub['p99_ms']} ms); "
                    f"hub/pgbench {hub['rps'] / pg['rps']:.3f}")
            if peer.get("status") == "ok":
                pm = peer["results"][endpoint].get("uniform", {}).get(str(c), {}).get("median") or {}
                text += f"; hub/peer {hub['rps'] / pm['rps']:.2f}" if pm.get("rps") else ""
            else:
                text += f"; peer {peer.get('status', 'not run')}"
            log(text)


def soak(tenants: int) -> None:
    set_phase("soak")
    c = max(CONNECTIONS)
    started = time.time()
    parsed = run_wrk(f"soak-n{tenants}-{SOAK_DIST}-c{c}", "hub", "get", SOAK_DIST, tenants, c, SOAK_SECS, HUB_URL)
    results["soak"] = {"tenants": tenants, "seconds": SOAK_SECS, "dist": SOAK_DIST, "connections": c,
                       "endpoint": "get", "started": round(started, 3), "ended": round(time.time(), 3),
                       "wrk": parsed}
    save()


def catalog_probe() -> None:
    """One fresh backend touches every tenant the way the hub does (BEGIN; SET LOCAL
    search_path; prepared PK select; COMMIT), twice, then reports its own memory contexts."""
    set_phase("catalog probe")
    slugs = {}
    for line in psql(DB, "select slug, schema_name from hub_control.tenants where status = 'active'").splitlines():
        slug, schema = line.split("|")
        if re.fullmatch(r"t_[0-9a-f]{32}", schema):
            slugs[slug] = schema
    pairs = []
    with TARGETS.open(encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if fields[0] in slugs and len(fields) > 2:
                pairs.append((slugs[fields[0]], fields[2]))
    mem_sql = ("select 'MEM', coalesce(sum(total_bytes), 0), "
               "coalesce(sum(total_bytes) filter (where name = 'CacheMemoryContext' or parent = 'CacheMemoryContext'), 0) "
               "from pg_backend_memory_contexts;")
    if not pairs:
        raise RuntimeError("catalog probe: no tenants found in hub_control.tenants and the targets file")
    # Prepared once (in the first tenant's schema, where `courses` resolves); PostgreSQL
    # re-plans it whenever search_path differs, as it does for the hub's prepared statements.
    lines = ["\\set ON_ERROR_STOP 1", "\\pset format unaligned", "\\pset tuples_only on",
             f'SET search_path TO "{pairs[0][0]}";',
             "PREPARE q(uuid) AS SELECT id, code, title, description, status, tags, minimum_age, "
             "revision, created_at, updated_at FROM courses WHERE id = $1;",
             "RESET search_path;", mem_sql, "select 'T', extract(epoch from clock_timestamp());"]
    for _ in (1, 2):
        lines.append("\\o /dev/null")
        for schema, course in pairs:
            lines.append(f"BEGIN; SET LOCAL search_path TO \"{schema}\"; EXECUTE q('{course}'); COMMIT;")
        lines += ["\\o", mem_sql, "select 'T', extract(epoch from clock_timestamp());"]
    script = "\n".join(lines) + "\n"
    command(f"psql -d {DB} -f <script: per tenant BEGIN; SET LOCAL search_path TO t_<id>; EXECUTE q(<course id>); "
            "COMMIT; twice over all tenants, then pg_backend_memory_contexts>")
    out = run([*PSQL, "-d", DB, "-X", "-q", "-f", "-"], timeout=1800, stdin_text=script).stdout
    mems = [line.split("|")[1:] for line in out.splitlines() if line.startswith("MEM|")]
    times = [float(line.split("|")[1]) for line in out.splitlines() if line.startswith("T|")]
    n = len(pairs)
    results["catalog_probe"] = {
        "tenants": n,
        "before_total_mb": round(int(mems[0][0]) / 2**20, 2),
        "before_cache_mb": round(int(mems[0][1]) / 2**20, 2),
        "after_total_mb": round(int(mems[-1][0]) / 2**20, 2),
        "after_cache_mb": round(int(mems[-1][1]) / 2**20, 2),
        "per_tenant_kb": round((int(mems[-1][0]) - int(mems[0][0])) / 1024 / max(n, 1), 1),
        "first_pass_us_per_tenant": round((times[1] - times[0]) * 1e6 / max(n, 1), 1),
        "second_pass_us_per_tenant": round((times[2] - times[1]) * 1e6 / max(n, 1), 1),
    }
    log(f"  catalog probe: {results['catalog_probe']}")
    save()


def kill_midway(cmd: list[str], label: str, progress: re.Pattern, fraction: float = 0.4) -> dict:
    """Runs cmd and SIGKILLs its process group once its progress output (done/total) passes
    `fraction`: a kill in the middle, whatever the speed of the machine."""
    logpath = OUT / "logs" / f"{label}.log"
    started = time.perf_counter()
    proc = spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    timer = threading.Timer(3600, lambda: stop_process(proc, signal.SIGKILL))
    timer.start()
    done = total = 0
    killed = False
    try:
        with logpath.open("w", encoding="utf-8") as logfile:
            for line in proc.stdout:
                logfile.write(line)
                match = progress.search(line)
                if match:
                    done, total = int(match.group(1)), int(match.group(2))
                    if total and done < total and done >= fraction * total:
                        os.killpg(proc.pid, signal.SIGKILL)
                        killed = True
                        break
        proc.wait(timeout=30)
    finally:
        timer.cancel()
        stop_process(proc, signal.SIGKILL)
    return {"killed": killed, "killed_after_s": round(time.perf_counter() - started, 3) if killed else None,
            "progress_at_kill": f"{done}/{total}", "exit": "SIGKILL" if killed else proc.returncode}


def hub_migrate(label: str) -> dict:
    cmd = [HUB_BIN, "migrate"]
    command("target/release/hub migrate   # DATABASE_URL, REDIS_URL, HUB_KEK as for hub serve")
    logpath = OUT / "logs" / f"{label}.log"
    with logpath.open("w", encoding="utf-8") as logfile:
        started = time.perf_counter()
        proc = spawn(cmd, stdout=logfile, stderr=subprocess.STDOUT)
        try:
            code = proc.wait(timeout=3600)
        except subprocess.TimeoutExpired:
            stop_process(proc)
            raise RuntimeError("hub migrate took over an hour") from None
        finally:
            forget(proc)
        elapsed = time.perf_counter() - started
    text = logpath.read_text(encoding="utf-8", errors="replace")
    summary = re.search(r"tenants: (\d+) migrated, (\d+) failed", text)
    return {
        "elapsed_s": round(elapsed, 3),
        "exit": code,
        "migrated": int(summary.group(1)) if summary else None,
        "failed": int(summary.group(2)) if summary else None,
    }


def ddl_batch_for(tenants: int) -> int:
    # Small batches: a read of a tenant being altered waits for its batch to commit.
    return DDL_BATCH if DDL_BATCH > 0 else max(1, min(5, tenants // 10))


def ddl_cmd(action: str, batch: int) -> list[str]:
    cmd = [sys.executable, str(ROOT / "bench/ddl_pass.py"), action, "--psql", " ".join([*PSQL, "-d", DB])]
    if action != "count":
        cmd += ["--batch", str(batch), "--parallel", str(DDL_PARALLEL)]
    command(display(cmd))
    return cmd


def ddl(action: str, batch: int = 1) -> dict:
    proc = spawn(ddl_cmd(action, batch), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=3600)
    except subprocess.TimeoutExpired:
        stop_process(proc)
        raise RuntimeError(f"ddl_pass {action} took over an hour") from None
    forget(proc)
    if proc.returncode != 0 and action != "count":
        raise RuntimeError(f"ddl_pass {action} failed: {err.strip()[-1000:]} {out.strip()[-1000:]}")
    return json.loads(out.strip().splitlines()[-1])


def migration(tenants: int) -> None:
    mig: dict = {"tenants": tenants, "read": {"endpoint": "get", "dist": "uniform", "connections": MIGRATE_CONNECTIONS}}
    results["migration"] = mig

    set_phase("migration: idle reads")
    idle = [run_wrk(f"migrate-idle-r{r}", "hub", "get", "uniform", tenants, MIGRATE_CONNECTIONS, DURATION, HUB_URL)
            for r in range(1, RUNS + 1)]
    mig["read"]["idle"] = summarise_runs(idle)
    save()

    set_phase("migration: hub migrate")
    reads = BackgroundWrk("migrate-hub-reads", "get", "uniform", tenants, MIGRATE_CONNECTIONS, 3600)
    try:
        noop = hub_migrate("hub-migrate")
    finally:
        noop_reads = reads.stop()
    mig["hub_migrate"] = noop
    mig["read"]["during_hub_migrate"] = noop_reads
    save()

    set_phase("migration: additive DDL")
    batch = ddl_batch_for(tenants)
    reads = BackgroundWrk("migrate-ddl-add-reads", "get", "uniform", tenants, MIGRATE_CONNECTIONS, 3600)
    try:
        add = ddl("add", batch)
    finally:
        add_reads = reads.stop()
    reads = BackgroundWrk("migrate-ddl-drop-reads", "get", "uniform", tenants, MIGRATE_CONNECTIONS, 3600)
    try:
        drop = ddl("drop", batch)
    finally:
        drop_reads = reads.stop()
    mig["ddl_add"], mig["ddl_drop"] = add, drop
    mig["read"]["during_ddl_add"], mig["read"]["during_ddl_drop"] = add_reads, drop_reads
    save()

    set_phase("migration: kill and resume")
    # Kill each pass (SIGKILL, no chance to clean up) once 40 % of the tenants are done, then
    # run it again. Smaller DDL batches here so even a quick run has a middle to kill in.
    resume: dict = {}
    batch = max(1, min(ddl_batch_for(tenants), tenants // 10))
    resume["ddl_batch"] = batch
    resume["ddl_killed"] = kill_midway(ddl_cmd("add", batch), "ddl-add-killed", re.compile(r"progress (\d+)/(\d+)"))
    resume["ddl_after_kill"] = ddl("count")
    resume["ddl_resumed"] = ddl("add", batch)
    resume["ddl_after_resume"] = ddl("count")
    resume["ddl_ok"] = (resume["ddl_killed"]["killed"] and resume["ddl_after_resume"]["without_column"] == 0)
    ddl("drop", batch)
    command("target/release/hub migrate   # killed with SIGKILL once 40 % of tenants are done, then run again")
    resume["hub_migrate_killed"] = kill_midway([HUB_BIN, "migrate"], "hub-migrate-killed",
                                               re.compile(r"\] (\d+)/(\d+) "))
    resume["hub_migrate_resumed"] = hub_migrate("hub-migrate-resumed")
    resume["hub_migrate_ok"] = (resume["hub_migrate_killed"]["killed"]
                                and resume["hub_migrate_resumed"]["exit"] == 0
                                and resume["hub_migrate_resumed"]["failed"] == 0)
    mig["resume"] = resume
    save()


def provision_probe(existing: int) -> None:
    set_phase("provisioning probe")
    summary = seed(PROBE_TENANTS, targets=RUN / "probe-targets.tsv", courses=0, concurrency=1,
                   prefix="probe", label="probe")
    summary["existing_tenants"] = existing
    results["provisioning"]["probe"] = summary
    save()


def summarise_memory(subset: list[dict]) -> dict:
    hub_rss = [s["hub_rss_kb"] for s in subset if s.get("hub_rss_kb")]
    per_backend: dict[int, dict] = {}
    hub_backends = 0
    for s in subset:
        owned = [b for b in s["backends"] if b["owner"] == "hub"]
        hub_backends = max(hub_backends, len(owned))
        for b in owned:
            cur = per_backend.setdefault(b["pid"], {"rss_kb": 0, "anon_kb": 0})
            cur["rss_kb"] = max(cur["rss_kb"], b.get("rss_kb") or 0)
            cur["anon_kb"] = max(cur["anon_kb"], b.get("anon_kb") or 0)
    anon = [v["anon_kb"] for v in per_backend.values()]
    rss = [v["rss_kb"] for v in per_backend.values()]
    others = [b.get("anon_kb") or 0 for s in subset for b in s["backends"] if b["owner"] != "hub"]
    return {
        "samples": len(subset),
        "gateway_rss_mb": {
            "first": round(hub_rss[0] / 1024, 1) if hub_rss else None,
            "last": round(hub_rss[-1] / 1024, 1) if hub_rss else None,
            "max": round(max(hub_rss) / 1024, 1) if hub_rss else None,
        },
        "hub_backends_max_count": hub_backends,
        "hub_backends_seen": len(per_backend),
        "backend_anon_mb_max": round(max(anon) / 1024, 1) if anon else None,
        "backend_anon_mb_median_of_max": round(statistics.median(anon) / 1024, 1) if anon else None,
        "backend_rss_mb_max": round(max(rss) / 1024, 1) if rss else None,
        "backend_anon_mb_sum_max": round(max(
            (sum(b.get("anon_kb") or 0 for b in s["backends"] if b["owner"] == "hub") for s in subset),
            default=0) / 1024, 1),
        "other_backend_anon_mb_max": round(max(others) / 1024, 1) if others else None,
        "min_mem_available_mb": min((s["mem_available_mb"] for s in subset if s.get("mem_available_mb")), default=None),
    }


def read_memory_samples(path: Path) -> list[dict]:
    samples = []
    if path.exists():
        with path.open(encoding="utf-8") as f:
            for line in f:
                try:
                    samples.append(json.loads(line))
                except ValueError:
                    continue
    return samples


def memory_summary() -> None:
    samples = read_memory_samples(OUT / "memory.jsonl")
    if not samples:
        return

    phases = sorted({s["phase"] for s in samples}, key=lambda p: next(i for i, s in enumerate(samples) if s["phase"] == p))
    memory = {"interval_s": MEM_INTERVAL, "whole_run": summarise_memory(samples),
              "by_phase": {p: summarise_memory([s for s in samples if s["phase"] == p]) for p in phases}}
    soak_info = results.get("soak")
    if soak_info:
        subset = [s for s in samples if soak_info["started"] <= s["t"] <= soak_info["ended"]]
        if subset:
            memory["soak"] = summarise_memory(subset)
            third = max(1, len(subset) // 3)
            memory["soak"]["first_third"] = summarise_memory(subset[:third])
            memory["soak"]["last_third"] = summarise_memory(subset[-third:])
    results["memory"] = memory


# --- mechanism before/after ---------------------------------------------------------------------

# Fresh gateways on the same database, each with one setting changed, so the effect of each
# mechanism is measured in one run. "after" is the shipped default.
VARIANTS = [
    ("before", {"HUB_DATABASE_LANES": "1", "HUB_RATE_LIMIT_SYNC_MS": "0"},
     "one pool of 32 (no lanes); every rate-limit check waits for Redis (2 round trips a request)"),
    ("lanes", {"HUB_DATABASE_LANES": "16", "HUB_RATE_LIMIT_SYNC_MS": "0"},
     "16 lanes of 2, a tenant on the less busy of its two; rate limits still wait for Redis"),
    ("after", {"HUB_DATABASE_LANES": "16", "HUB_RATE_LIMIT_SYNC_MS": "100"},
     "16 lanes; rate limits counted in process and shared through Redis every 100 ms (the default)"),
]


def start_variant_hub(name: str, settings: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    extra = {**settings, "HUB_LISTEN": f"127.0.0.1:{port}"}
    shown = " ".join(f"{k}={v}" for k, v in settings.items())
    command(f"{shown} HUB_LISTEN=127.0.0.1:<port> target/release/hub serve   # variant `{name}`, "
            "other settings as for the main gateway, same database and Redis")
    log_file = (OUT / "logs" / f"hub-{name}.log").open("w", encoding="utf-8")
    proc = spawn([HUB_BIN, "serve"], env_extra=extra, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"variant hub `{name}` exited at start (bench/out/logs/hub-{name}.log)")
        if http_status(f"{url}/readyz", "127.0.0.1") == 200:
            return proc, url
        time.sleep(0.2)
    raise RuntimeError(f"variant hub `{name}` not ready in 60 s")


def mechanism_ab(tenants: int) -> None:
    """GET by id under uniform and Zipf traffic against each variant in turn. One variant runs
    at a time: beside the main gateway, PostgreSQL's 100 connections hold one more pool, not
    three. Each variant is warmed up first and keeps its connections for all its runs."""
    dists = ["uniform", "zipf"] if tenants > 1 else ["uniform"]
    ab: dict = {"tenants": tenants, "variants": [], "cells": {}}
    results["mechanism"] = ab
    for name, settings, description in VARIANTS:
        ab["variants"].append({"name": name, "settings": settings, "description": description})
        proc, url = start_variant_hub(name, settings)
        mem_out = OUT / f"memory-{name}.jsonl"
        mem_out.unlink(missing_ok=True)
        watch = None
        try:
            watch = spawn([sys.executable, str(ROOT / "bench/memwatch.py"), "--hub-pid", str(proc.pid),
                           "--database", DB, "--psql", " ".join([*PSQL, "-d", "postgres"]),
                           "--out", str(mem_out), "--phase-file", str(RUN / "phase"),
                           "--interval", str(MEM_INTERVAL), "--min-available-mb", str(MIN_AVAILABLE_MB)])
            warm_up("hub", url, tenants)
            for r in range(1, RUNS + 1):
                for dist in dists:
                    for c in CONNECTIONS:
                        cell = ab["cells"].setdefault(dist, {}).setdefault(str(c), {}).setdefault(name, {"runs": []})
                        cell["runs"].append(run_wrk(f"ab-n{tenants}-{name}-get-{dist}-c{c}-r{r}", "hub", "get",
                                                    dist, tenants, c, DURATION, url))
            save()
        finally:
            stop_process(proc, grace=25)
            if watch is not None:
                stop_process(watch, grace=10)
            samples = read_memory_samples(mem_out)
            if samples:
                ab.setdefault("memory", {})[name] = summarise_memory(samples)
            save()
    for per_c in ab["cells"].values():
        for per_variant in per_c.values():
            for cell in per_variant.values():
                cell["median"] = summarise_runs(cell["runs"])
    save()


# --- main -------------------------------------------------------------------------------------


def main() -> int:
    for d in (OUT, RAW, RUN, OUT / "logs"):
        d.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = time.time()
    results.update({
        "schema_version": 1,
        "status": "running",
        "quick": QUICK,
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": {
            "tenant_counts": COUNTS, "duration_s": DURATION, "runs": RUNS, "connections": CONNECTIONS,
            "wrk_threads": THREADS, "courses_per_tenant": COURSES, "seed_concurrency": SEED_CONCURRENCY,
            "soak_s": SOAK_SECS, "soak_dist": SOAK_DIST, "pgbench_scale": PG_SCALE,
            "probe_tenants": PROBE_TENANTS, "migrate_read_connections": MIGRATE_CONNECTIONS,
            "ddl_batch": DDL_BATCH or "auto: a tenth of the tenants, at most 5", "ddl_parallel": DDL_PARALLEL, "peer_dists": PEER_DISTS,
            "hub_env": {k: os.environ.get(k) for k in (
                "HUB_RATE_LIMIT_PER_KEY", "HUB_RATE_LIMIT_PER_IP", "HUB_LOG_LEVEL",
                "HUB_DATABASE_MAX_CONNECTIONS", "HUB_DATABASE_LANES", "HUB_RATE_LIMIT_SYNC_MS") if os.environ.get(k)},
            "zipf": "tenant ranks 1..N, weight k^-s, s solved so the hottest ceil(1 % of N) tenants get 80 % of requests",
        },
        "commands": results.get("commands", []),
        "steps": [],
        "provisioning": {"steps": []},
        "peer_status": PEER_STATUS,
    })
    for line in env("BENCH_SETUP_COMMANDS", "").split("\n"):
        if line.strip():
            command(line.strip())
    memwatch = None
    exit_code = 0
    try:
        results["machine"] = machine()
        save()
        memwatch_cmd = [sys.executable, str(ROOT / "bench/memwatch.py"), "--hub-pid", str(HUB_PID),
                        "--database", DB, "--psql", " ".join([*PSQL, "-d", "postgres"]),
                        "--out", str(OUT / "memory.jsonl"), "--phase-file", str(RUN / "phase"),
                        "--interval", str(MEM_INTERVAL), "--min-available-mb", str(MIN_AVAILABLE_MB),
                        "--guard-file", str(RUN / "memory-guard")]
        if GUARD_PID:
            memwatch_cmd += ["--guard-pid", str(GUARD_PID)]
        (OUT / "memory.jsonl").unlink(missing_ok=True)
        set_phase("setup")
        memwatch = spawn(memwatch_cmd)
        command(re.sub(r"(--(?:hub|guard)-pid) \d+", r"\1 <pid>", display(memwatch_cmd)))
        (RUN / "pids").mkdir(exist_ok=True)
        (RUN / "pids" / "memwatch.pgid").write_text(f"{memwatch.pid}\n")

        set_phase("pgbench init")
        pgbench_init()

        for tenants in COUNTS:
            set_phase(f"provision to {tenants}")
            prov = seed(tenants, label=f"to-{tenants}")
            results["provisioning"]["steps"].append(prov)
            save()
            set_phase(f"load at {tenants} tenants")
            step = {"tenants": tenants}
            results["steps"].append(step)
            load_step(step, tenants)
            peer_step(step, tenants)
            save()
            try:
                print_ratios(step)
            except (KeyError, TypeError, ZeroDivisionError) as error:
                log(f"  (no ratio summary: {error!r})")

        largest = COUNTS[-1]
        set_phase(f"before/after at {largest} tenants")
        mechanism_ab(largest)
        soak(largest)
        catalog_probe()
        migration(largest)
        provision_probe(largest)
        results["status"] = "complete"
    except Aborted as why:
        guard = RUN / "memory-guard"
        reason = guard.read_text().strip() if guard.exists() else str(why)
        results["status"] = f"aborted: {reason}"
        log(f"aborted: {reason}")
        exit_code = 130
    except Exception as error:  # noqa: BLE001 - record any failure in the results, then fail
        results["status"] = f"failed: {type(error).__name__}: {error}"
        log(f"FAILED: {error}")
        exit_code = 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop_peer()
        for proc in list(children):
            if proc is not memwatch:
                stop_process(proc, grace=10)
        if memwatch is not None:
            stop_process(memwatch, grace=10)
            (RUN / "pids" / "memwatch.pgid").unlink(missing_ok=True)
        memory_summary()
        results["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        results["driver_elapsed_s"] = round(time.time() - started, 1)
        save()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
