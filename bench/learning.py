#!/usr/bin/env python3
"""The learning part of `make bench` (issue 11 "Bench"; stdlib only).

bench/run.sh starts the gateway (release), then runs this driver after the privacy part (or
alone with BENCH_ONLY=learning). On one institution provisioned through the public API it
measures:

  1. xAPI ingest: an LRS credential (POST /v1/lrs/credentials, statements/write + read), wrk
     POSTing /xapi/statements batches of BENCH_XAPI_BATCH (50) distinct valid statements
     (bench/wrk/xapi_ingest.lua: fresh UUIDs from a per-thread seed, X-Experience-API-Version
     1.0.3, HTTP Basic) at BENCH_LEARNING_CONNECTIONS (16) for BENCH_DURATION, BENCH_RUNS
     runs: statements/s = batch x 2xx responses/s.
  2. The direct-insert baseline, same run: pgbench (-f, a custom script) inserting the same
     rows into copies of the tenant's three statement tables (`create table ... (like
     <tenant schema>.<table> including all)` in the scratch schema `bench_direct` of the bench
     database: same columns, indexes), in transactions of BENCH_XAPI_BATCH statements with
     their agent and activity index rows, as many clients as connections, same duration. The
     rows are the ingested rows themselves (sealed statement, blind index, ...: the same sizes,
     incompressible as they are), copied once into a pool and inserted again under fresh ids.
     Reported: both rates, the ratio, the machine and its load average before and after.
  3. Reads at BENCH_XAPI_STATEMENTS (1,000,000; quick 20,000) statements in the tenant: the
     ingest goes on (unmeasured) until the tenant holds that many, then wrk GETs
     /xapi/statements?agent=<URL-encoded JSON agent> and ?activity=<IRI>, one drawn per request
     from the BENCH_XAPI_AGENTS / BENCH_XAPI_ACTIVITIES the ingest wrote: rps, p50, p99.
  4. Progress read: a learner (local account, signed in with the reset code from the mail
     directory), enrolled in a course of BENCH_LEARNING_MODULES modules x
     BENCH_LEARNING_LESSONS lessons with some lessons completed or started; wrk
     GET /v1/me/courses/{id}/progress and GET /v1/courses/{id} with the learner's session and the
     same connections, runs interleaved: rps and p99 side by side.

Results go under the key "learning" of bench/out/results.json, merged into what is there.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from privacy import (  # the privacy part's HTTP client, provisioning, sign-in and wrk children
    Client, add_person, children, client, provision, reap, sign_in, spawn)
from wrklib import parse_wrk, summarise_runs

ROOT = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, "")
    if value == "":
        if default is None:
            raise SystemExit(f"learning.py: {name} is not set (run through bench/run.sh / make bench)")
        return default
    return value


def env_int(name: str, default: int) -> int:
    text = env(name, str(default))
    try:
        value = int(text)
    except ValueError:
        raise SystemExit(f"learning.py: {name}={text!r} is not an integer") from None
    if value < 0:
        raise SystemExit(f"learning.py: {name} must not be negative")
    return value


QUICK = env("BENCH_QUICK", "0") not in ("0", "", "false", "no")
OUT = Path(env("BENCH_OUT", str(ROOT / "bench" / "out")))
RAW, RUN = OUT / "raw", OUT / "run"
RESULTS = OUT / "results.json"
HUB_URL = env("BENCH_HUB_URL")
DB = env("BENCH_DB", "hub_bench")
PGHOST, PGPORT, PGUSER = env("PGHOST", "127.0.0.1"), env("PGPORT", "5432"), env("PGUSER", "postgres")
DURATION = env_int("BENCH_DURATION", 3 if QUICK else 15)
RUNS = max(1, env_int("BENCH_RUNS", 3))
THREADS = max(1, env_int("BENCH_THREADS", 2))
CONNECTIONS = max(1, env_int("BENCH_LEARNING_CONNECTIONS", 16))
BATCH = max(1, env_int("BENCH_XAPI_BATCH", 50))
STATEMENTS = env_int("BENCH_XAPI_STATEMENTS", 20_000 if QUICK else 1_000_000)
# One agent / activity per 1,000 statements (at 1,000,000: 1,000 learners with about 1,000
# statements each, 1,000 activities with about 1,000 each), at least 10.
AGENTS = max(1, env_int("BENCH_XAPI_AGENTS", max(10, STATEMENTS // 1000)))
ACTIVITIES = max(1, env_int("BENCH_XAPI_ACTIVITIES", max(10, STATEMENTS // 1000)))
READ_LIMIT = env("BENCH_XAPI_LIMIT", "")  # unset: the server's page (what a plain client gets)
MODULES = max(1, env_int("BENCH_LEARNING_MODULES", 4))
LESSONS = max(1, env_int("BENCH_LEARNING_LESSONS", 5))
SEED_CHUNK = max(5, env_int("BENCH_XAPI_SEED_SECONDS", 30))
SEED_TIMEOUT = env_int("BENCH_XAPI_SEED_TIMEOUT", 900 if QUICK else 7200)
TARGET_RATE = 10_000  # statements/s on the 2-core machine (the issue)
TARGET_RATIO = 0.5  # of the direct-insert rate (the issue)

_url = HUB_URL.split("//", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
if _url not in ("127.0.0.1", "localhost", "[::1]"):
    raise SystemExit("learning.py: only a loopback gateway is allowed")
if PGHOST not in ("127.0.0.1", "localhost", "::1"):
    raise SystemExit("learning.py: PGHOST must be loopback")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] learning: {message}", file=sys.stderr, flush=True)


# --- results (merged into results.json) ----------------------------------------------------------

learning: dict = {}


def save() -> None:
    """Writes the learning figures into results.json, keeping every other key as it is there."""
    merged: dict = {}
    if RESULTS.exists():
        try:
            merged = json.loads(RESULTS.read_text(encoding="utf-8"))
        except ValueError:
            merged = {}
    merged["learning"] = learning
    tmp = RESULTS.with_suffix(".learning.tmp")
    tmp.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    tmp.replace(RESULTS)


def command(text: str) -> None:
    cmds = learning.setdefault("commands", [])
    text = text.replace(str(RUN) + "/", "<run dir>/").replace(str(ROOT) + "/", "")
    text = text.replace(HUB_URL, "http://127.0.0.1:<hub port>")
    text = re.sub(r"t_[0-9a-f]{32}", "<tenant schema>", text)
    if text not in cmds:
        cmds.append(text)


def loadavg() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


# --- PostgreSQL ----------------------------------------------------------------------------------


def psql(sql: str, timeout: float = 600) -> str:
    out = subprocess.run(["psql", "-h", PGHOST, "-p", PGPORT, "-U", PGUSER, "-d", DB, "-XAtq", "-v", "ON_ERROR_STOP=1",
                          "-c", sql], capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"psql: {out.stderr.strip()[-1500:]}")
    return out.stdout.strip()


def tenant_schema(slug: str) -> str:
    schema = psql(f"select schema_name from hub_control.tenants where slug = '{slug}'")
    if not re.fullmatch(r"t_[0-9a-f]{32}", schema):
        raise RuntimeError(f"unexpected schema name {schema!r} for {slug}")
    return schema


def statement_count(schema: str) -> int:
    return int(psql(f"select count(*) from {schema}.xapi_statements"))


# --- wrk ------------------------------------------------------------------------------------------


def wrk(label: str, script: str, extra: dict[str, str], duration: int, shown: dict[str, str],
        note: str = "") -> dict:
    """One wrk run of a bench/wrk script; the parsed BENCH_JSON line (with 2xx counts)."""
    cmd = ["wrk", "-t", str(min(THREADS, CONNECTIONS)), "-c", str(CONNECTIONS), "-d", f"{duration}s", "--latency",
           "--timeout", "30s", "-s", str(ROOT / "bench" / "wrk" / script), HUB_URL]
    text = " ".join(f"{k}={v}" for k, v in shown.items()) + " " + " ".join(cmd)
    if note:
        text = text.replace(f"-d {duration}s", "-d <seconds>") + "   # " + note
    command(text)
    proc = spawn(cmd, extra, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = reap(proc, timeout=duration + 90)
    (RAW / f"learning-{label}.txt").write_text(out, encoding="utf-8")
    parsed = parse_wrk(out)
    if parsed["non_2xx"] or parsed["errors"]:
        log(f"  {label}: {parsed['non_2xx']} non-2xx, errors {parsed['error_detail']}")
    if not parsed["requests"]:
        log(f"  {label}: no request completed within {duration} s: its latency figures are empty")
    return parsed


def ingest_env(auth: str, seed: int) -> tuple[dict[str, str], dict[str, str]]:
    extra = {"BENCH_XAPI_AUTH": auth, "BENCH_XAPI_BATCH": str(BATCH), "BENCH_XAPI_AGENTS": str(AGENTS),
             "BENCH_XAPI_ACTIVITIES": str(ACTIVITIES), "BENCH_SEED": str(seed)}
    shown = dict(extra, BENCH_XAPI_AUTH="'Basic <key:secret>'", BENCH_SEED="<fresh per run>")
    return extra, shown


_seeds = iter(range(int(time.time()) % 1_000_000 * 1000, 1 << 62, 7919))


def ingest_run(label: str, auth: str, duration: int, note: str = "") -> dict:
    extra, shown = ingest_env(auth, next(_seeds))
    r = wrk(label, "xapi_ingest.lua", extra, duration, shown, note)
    r["statements_per_s"] = round(r["ok_rps"] * BATCH, 1)
    r["statements"] = r["ok"] * BATCH
    log(f"  {label}: {r['statements_per_s']:,.0f} statements/s ({r['ok_rps']:.1f} batches/s), "
        f"p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms, {r['non_2xx']} non-2xx")
    return r


# --- 1 + 2. ingest and the direct-insert baseline ------------------------------------------------

POOL = "bench_direct"
TABLES = ("xapi_statements", "xapi_statement_agents", "xapi_statement_activities")


def prepare_direct(schema: str) -> dict:
    """The scratch schema: copies of the tenant's three tables (columns, indexes, defaults),
    empty, and a pool of the ingested rows numbered 1..n (statements) with their index rows."""
    have = statement_count(schema)
    pool = min(have, 20_000)
    if pool < BATCH:
        raise RuntimeError(f"only {have} statements ingested: too few for a pool of {BATCH}")
    sql = f"""
drop schema if exists {POOL} cascade;
create schema {POOL};
create table {POOL}.xapi_statements (like {schema}.xapi_statements including all);
create table {POOL}.xapi_statement_agents (like {schema}.xapi_statement_agents including all);
create table {POOL}.xapi_statement_activities (like {schema}.xapi_statement_activities including all);
create table {POOL}.pool_statements as
  select row_number() over (order by stored, id) as n, s.* from {schema}.xapi_statements s
  order by stored, id limit {pool};
create unique index on {POOL}.pool_statements (n);
create table {POOL}.pool_agents as
  select p.n, a.agent_index, a.agent_sealed, a.direct
  from {POOL}.pool_statements p join {schema}.xapi_statement_agents a on a.statement_id = p.id;
create index on {POOL}.pool_agents (n);
create table {POOL}.pool_activities as
  select p.n, c.position, c.activity_id, c.direct
  from {POOL}.pool_statements p join {schema}.xapi_statement_activities c on c.statement_id = p.id;
create index on {POOL}.pool_activities (n);
analyze {POOL}.pool_statements; analyze {POOL}.pool_agents; analyze {POOL}.pool_activities;
"""
    psql(sql)
    shape = psql(f"""select count(*), round(avg(octet_length(statement_sealed))), round(avg(octet_length(actor_sealed))),
      (select count(*) from {POOL}.pool_agents), (select count(*) from {POOL}.pool_activities)
      from {POOL}.pool_statements""").split("|")
    n, stmt_bytes, actor_bytes, agents, activities = (int(float(v)) for v in shape)
    command(f"psql -d {DB} -c 'create schema {POOL}; create table {POOL}.<t> (like <tenant schema>.<t> including all)"
            f" for <t> in {', '.join(TABLES)}; create table {POOL}.pool_* as <the ingested rows, numbered>'")
    return {"pool_statements": n, "statement_sealed_bytes_avg": stmt_bytes, "actor_sealed_bytes_avg": actor_bytes,
            "agent_rows_per_statement": round(agents / n, 2), "activity_rows_per_statement": round(activities / n, 2)}


def direct_script(pool: int) -> Path:
    """One transaction: BATCH statements drawn from the pool (a contiguous range from a random
    start), each inserted under a fresh id with its agent and activity index rows."""
    path = RUN / "direct-insert.sql"
    cols = ("statement_sealed, actor_index, actor_sealed, person_id, verb_id, activity_id, registration, voids, "
            "voided, restricted, credential_id, statement_timestamp")
    path.write_text(f"""\\set base random(1, {pool - BATCH + 1})
BEGIN;
WITH ids AS (SELECT n, gen_random_uuid() AS id FROM generate_series(:base, :base + {BATCH - 1}) AS n),
s AS (INSERT INTO {POOL}.xapi_statements (id, {cols}, stored)
      SELECT ids.id, {', '.join('p.' + c.strip() for c in cols.split(','))}, now()
      FROM ids JOIN {POOL}.pool_statements p USING (n)),
a AS (INSERT INTO {POOL}.xapi_statement_agents (id, statement_id, agent_index, agent_sealed, direct)
      SELECT gen_random_uuid(), ids.id, p.agent_index, p.agent_sealed, p.direct
      FROM ids JOIN {POOL}.pool_agents p USING (n))
INSERT INTO {POOL}.xapi_statement_activities (statement_id, position, activity_id, direct)
SELECT ids.id, p.position, p.activity_id, p.direct FROM ids JOIN {POOL}.pool_activities p USING (n);
COMMIT;
""", encoding="utf-8")
    return path


def pgbench_run(label: str, script: Path) -> dict:
    cmd = ["pgbench", "-h", PGHOST, "-p", PGPORT, "-U", PGUSER, "-n", "-M", "prepared", "-f", str(script),
           "-c", str(CONNECTIONS), "-j", str(min(THREADS, CONNECTIONS)), "-T", str(DURATION), DB]
    command(" ".join(cmd) + f"   # {script.name}: {BATCH} statements + their index rows a transaction")
    proc = spawn(cmd, None, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = reap(proc, timeout=DURATION + 120)
    (RAW / f"learning-{label}.txt").write_text(out, encoding="utf-8")
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    lat = re.search(r"latency average = ([\d.]+) ms", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    if not tps or proc.returncode not in (0, None):
        raise RuntimeError(f"pgbench failed (exit {proc.returncode}):\n{out[-2000:]}")
    result = {"tps": round(float(tps.group(1)), 1), "statements_per_s": round(float(tps.group(1)) * BATCH, 1),
              "latency_avg_ms": float(lat.group(1)) if lat else None,
              "failed": int(failed.group(1)) if failed else 0}
    log(f"  {label}: {result['statements_per_s']:,.0f} statements/s ({result['tps']:.1f} tps), "
        f"latency avg {result['latency_avg_ms']} ms")
    return result


def answered(runs: list[dict]) -> list[dict]:
    """The runs in which at least one request completed: a run with none has no latency and
    no rate to take a median of (it is kept in the raw runs and counted as such)."""
    return [r for r in runs if r.get("requests")]


def median(values: list[float]) -> float | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return round(values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2, 3)


def ingest(auth: str, schema: str) -> None:
    part: dict = {"batch": BATCH, "connections": CONNECTIONS, "duration_s": DURATION, "runs": RUNS,
                  "agents": AGENTS, "activities": ACTIVITIES, "load_before": loadavg()}
    learning["ingest"] = part
    log(f"ingest: {RUNS} x {DURATION} s, batches of {BATCH}, {CONNECTIONS} connections")
    ingest_run("ingest-warmup", auth, max(1, min(DURATION, 3)))
    all_runs = [ingest_run(f"ingest-r{i}", auth, DURATION) for i in range(1, RUNS + 1)]
    part["hub_runs"] = all_runs
    runs = answered(all_runs)
    part["hub"] = {
        "runs_answered": len(runs),
        "statements_per_s": median([r["statements_per_s"] for r in runs]),
        "batches_per_s": median([r["ok_rps"] for r in runs]),
        "p50_ms": median([r["p50_ms"] for r in runs]), "p99_ms": median([r["p99_ms"] for r in runs]),
        "non_2xx": sum(r["non_2xx"] for r in all_runs), "errors": sum(r["errors"] for r in all_runs),
    }
    part["statements_in_tenant_after"] = statement_count(schema)
    save()

    log("direct insert: pool of the ingested rows, pgbench with a custom script")
    part["direct_shape"] = prepare_direct(schema)
    script = direct_script(part["direct_shape"]["pool_statements"])
    part["direct_script"] = script.read_text(encoding="utf-8")
    direct = [pgbench_run(f"direct-r{i}", script) for i in range(1, RUNS + 1)]
    part["direct_runs"] = direct
    part["direct"] = {"statements_per_s": median([r["statements_per_s"] for r in direct]),
                      "tps": median([r["tps"] for r in direct]),
                      "latency_avg_ms": median([r["latency_avg_ms"] for r in direct]),
                      "failed": sum(r["failed"] for r in direct)}
    psql(f"drop schema {POOL} cascade")
    hub, pg = part["hub"]["statements_per_s"], part["direct"]["statements_per_s"]
    part["ratio"] = round(hub / pg, 3) if hub and pg else None
    part["load_after"] = loadavg()
    log(f"  ingest {hub:,.0f} statements/s vs direct insert {pg:,.0f}: ratio {part['ratio']}")
    save()


# --- 3. reads at scale ---------------------------------------------------------------------------


def reads(auth: str, schema: str) -> None:
    part: dict = {"target_statements": STATEMENTS, "agents": AGENTS, "activities": ACTIVITIES,
                  "limit": READ_LIMIT or "server default", "connections": CONNECTIONS}
    learning["reads"] = part
    have = statement_count(schema)
    log(f"reads: seeding {have:,} → {STATEMENTS:,} statements with the ingest (unmeasured)")
    started = time.perf_counter()
    chunks = 0
    last_rate = 0.0
    while have < STATEMENTS:
        if time.perf_counter() - started > SEED_TIMEOUT:
            raise RuntimeError(f"seeding stopped at {have:,} of {STATEMENTS:,} statements after {SEED_TIMEOUT} s")
        # Long enough to reach the target at the rate last seen, within bounds; SEED_CHUNK
        # seconds while no rate is known (nothing answered within a measured run).
        rate = last_rate or (learning.get("ingest", {}).get("hub") or {}).get("statements_per_s") or 0
        seconds = int(min(SEED_CHUNK * 10, max(2, (STATEMENTS - have) / rate * 1.05 + 1))) if rate > 0 else SEED_CHUNK
        chunks += 1
        before = have
        ingest_run(f"seed-{chunks}", auth, seconds,
                   f"seeding (unmeasured), repeated until the tenant holds {STATEMENTS:,} statements")
        have = statement_count(schema)
        last_rate = (have - before) / seconds
        log(f"  {have:,} statements")
    part["statements"] = have
    part["seed_s"] = round(time.perf_counter() - started, 1)
    psql(f"analyze {schema}.xapi_statements; analyze {schema}.xapi_statement_agents; "
         f"analyze {schema}.xapi_statement_activities")
    part["load_before"] = loadavg()
    save()
    for name in ("agent", "activity"):
        extra = {"BENCH_XAPI_AUTH": auth, "BENCH_XAPI_FILTER": name, "BENCH_XAPI_AGENTS": str(AGENTS),
                 "BENCH_XAPI_ACTIVITIES": str(ACTIVITIES)}
        if READ_LIMIT:
            extra["BENCH_XAPI_LIMIT"] = READ_LIMIT
        shown = dict(extra, BENCH_XAPI_AUTH="'Basic <key:secret>'")
        runs = []
        for i in range(1, RUNS + 1):
            r = wrk(f"by-{name}-r{i}", "xapi_query.lua", extra, DURATION, shown)
            log(f"  by {name} r{i}: {r['rps']:.0f} req/s p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms")
            runs.append(r)
        part[f"by_{name}"] = dict(summarise_runs(answered(runs)) if answered(runs) else {"runs": 0},
                                  non_2xx=sum(r["non_2xx"] for r in runs), runs_total=len(runs),
                                  runs_p99_ms=[r["p99_ms"] if r["requests"] else None for r in runs])
        save()
    # What one answer holds (the page a client gets), read once outside the timings.
    c = Client()
    q = "/xapi/statements?agent=" + quote('{"mbox":"mailto:learner1@bench.test"}', safe="") + (
        f"&limit={READ_LIMIT}" if READ_LIMIT else "")
    # The gateway may still be answering requests wrk gave up on (a slow page): a 503 says so
    # and is retried; the size of a page is a description, not a figure, so it never fails the run.
    for attempt in range(10):
        r = c.call("GET", q, None, headers={"Authorization": auth, "X-Experience-API-Version": "1.0.3"})
        if r.status != 503:
            break
        time.sleep(2)
    if r.status == 200:
        part["page_statements"] = len((r.json or {}).get("statements") or [])
        part["page_bytes"] = len(r.raw)
    else:
        part["page_read"] = f"HTTP {r.status} after {attempt + 1} attempt(s): {r.raw[:200].decode(errors='replace')}"
        log(f"  one page read outside the timings: {part['page_read']}")
    part["load_after"] = loadavg()
    save()


# --- 4. progress read ----------------------------------------------------------------------------


def progress(admin: str, slug: str) -> None:
    part: dict = {"modules": MODULES, "lessons_per_module": LESSONS, "connections": CONNECTIONS}
    learning["progress"] = part
    c = client()
    log(f"progress: a course of {MODULES} x {LESSONS} lessons, a signed-in learner with some progress")
    course = c.call("POST", "/v1/courses", admin, {"code": "BENCH-1", "title": "Bench course", "status": "published"}
                    ).expect(201, what="POST /v1/courses").json["id"]
    lessons = []
    for m in range(1, MODULES + 1):
        module = c.call("POST", f"/v1/courses/{course}/modules", admin, {"title": f"Module {m}"}).expect(
            201, what="POST /v1/courses/{id}/modules").json["id"]
        for k in range(1, LESSONS + 1):
            lessons.append(c.call("POST", f"/v1/modules/{module}/lessons", admin,
                                  {"title": f"Lesson {m}.{k}", "required": k != LESSONS}).expect(
                201, what="POST /v1/modules/{id}/lessons").json["id"])
    address = f"lin@{slug}.test"
    person = add_person(admin, "lin", address)
    session = sign_in(slug, admin, "lin", address)
    c.call("POST", f"/v1/courses/{course}/enrollments", admin, {"person_id": person}).expect(
        201, what="POST /v1/courses/{id}/enrollments")
    # About half the lessons completed, a few started: the progress read sums real rows.
    done = 0
    for i, lesson in enumerate(lessons):
        status = "completed" if i % 2 == 0 else ("started" if i % 3 == 0 else None)
        if status:
            c.call("PUT", f"/v1/me/courses/{course}/lessons/{lesson}/progress", session, {"status": status}).expect(
                200, what="PUT /v1/me/courses/{id}/lessons/{id}/progress")
            done += status == "completed"
    body = c.call("GET", f"/v1/me/courses/{course}/progress", session).expect(
        200, what="GET /v1/me/courses/{id}/progress").json
    part.update({"lessons": len(lessons), "completed": done, "percent": body.get("percent")})
    course_read = c.call("GET", f"/v1/courses/{course}", session)
    part["course_read_token"] = "learner session"
    course_token = session
    if course_read.status != 200:
        # The learner may not read the course resource itself; then the admin's key reads it
        # (said so in the report).
        part["course_read_token"] = f"admin API key (the learner's session got HTTP {course_read.status})"
        course_token = admin
    part["load_before"] = loadavg()
    paths = {"progress": (f"/v1/me/courses/{course}/progress", session),
             "course": (f"/v1/courses/{course}", course_token)}
    runs: dict[str, list[dict]] = {"progress": [], "course": []}
    for i in range(1, RUNS + 1):
        for name, (path, token) in paths.items():  # interleaved: the same machine state for both
            extra = {"BENCH_GET_PATH": path, "BENCH_GET_TOKEN": token, "BENCH_GET_LABEL": name}
            shown = {"BENCH_GET_PATH": path.replace(course, "<course id>"), "BENCH_GET_TOKEN": "<token>",
                     "BENCH_GET_LABEL": name}
            r = wrk(f"{name}-r{i}", "get_path.lua", extra, DURATION, shown)
            log(f"  {name} r{i}: {r['rps']:.0f} req/s p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms")
            runs[name].append(r)
    for name, rs in runs.items():
        part[name] = dict(summarise_runs(answered(rs)) if answered(rs) else {"runs": 0},
                          non_2xx=sum(r["non_2xx"] for r in rs), runs_total=len(rs),
                          runs_p99_ms=[r["p99_ms"] if r["requests"] else None for r in rs])
    p, cr = part["progress"]["rps"], part["course"]["rps"]
    part["rps_ratio"] = round(p / cr, 3) if p and cr else None
    part["load_after"] = loadavg()
    save()


# --- main -----------------------------------------------------------------------------------------


def on_signal(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> int:
    for d in (OUT, RAW, RUN):
        d.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, on_signal)
    started = time.time()
    try:
        from bench import machine  # the scale part's description of the machine (same keys)
        mach = machine()
    except (Exception, SystemExit) as error:  # noqa: BLE001 - the figures matter more than the description
        mach = {"load_average_at_start": os.getloadavg()[0], "cores": os.cpu_count(), "error": str(error)}
    mach["bench_nice"] = env("BENCH_NICE", "") or None
    mach["nproc"] = int(subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or 0)
    learning.clear()
    learning.update({
        "status": "running", "quick": QUICK, "profile": env("BENCH_PROFILE", "release"),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": mach, "load_before": loadavg(),
        "config": {"duration_s": DURATION, "runs": RUNS, "connections": CONNECTIONS, "batch": BATCH,
                   "statements": STATEMENTS, "agents": AGENTS, "activities": ACTIVITIES,
                   "read_limit": READ_LIMIT or None, "modules": MODULES, "lessons_per_module": LESSONS},
        "targets_from_issue": {"ingest_statements_per_s": TARGET_RATE, "ingest_ratio_to_direct": TARGET_RATIO},
    })
    log(f"load average at start {learning['load_before']}")
    save()
    code = 0
    try:
        slug = f"learning-{int(time.time())}"
        log(f"provisioning {slug} and an LRS credential")
        _, admin = provision(slug)
        schema = tenant_schema(slug)
        lrs = client().call("POST", "/v1/lrs/credentials", admin,
                            {"name": "bench", "scopes": ["statements/write", "statements/read"]}).expect(
            201, what="POST /v1/lrs/credentials").json
        auth = "Basic " + base64.b64encode(f"{lrs['credential']['key']}:{lrs['secret']}".encode()).decode()
        learning["tenant"] = slug
        ingest(auth, schema)
        reads(auth, schema)
        progress(admin, slug)
        learning["status"] = "complete"
    except KeyboardInterrupt as why:
        learning["status"] = f"aborted: {why}"
        code = 130
    except Exception as error:  # noqa: BLE001 - recorded in the results, then fail
        learning["status"] = f"failed: {type(error).__name__}: {error}"
        log(f"FAILED: {error}")
        code = 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for proc in list(children):
            reap(proc, signal.SIGTERM, timeout=15)
        learning["load_after"] = loadavg()
        learning["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        learning["elapsed_s"] = round(time.time() - started, 1)
        save()
    return code


if __name__ == "__main__":
    sys.exit(main())
