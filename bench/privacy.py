#!/usr/bin/env python3
"""The privacy part of `make bench` (issue 10; stdlib only).

bench/run.sh starts the gateway (release) with the settings this part needs — the scheduled
retention sweep off (`HUB_RETENTION_SWEEP_SECS=0`: runs are started here, one institution
after another, as the scheduler does), the sweeper's clock `HUB_RETENTION_CLOCK_OFFSET_SECS`
ahead (so the records seeded now are past the 90-day technical period), mail written to
`<data dir>/mail` and looked for every second — then runs this driver, which measures:

  1. Export of one subject holding BENCH_PRIVACY_RECORDS records across sources: the person
     signs in (local account, reset code from the mail directory), records consent
     (PUT /v1/me/consents, audited), and the institution's admin reads the person's record
     (GET /v1/people/{id}: every read is audited, naming the person) until the subject holds
     the total. The export is asked for on the person's behalf (POST /v1/privacy-requests,
     verified with the code mailed to them; BENCH_PRIVACY_REQUESTS=self: the person asks, POST
     /v1/me/privacy-requests), the admin approves, the export runs; then the person's download
     (POST .../download-link, GET /v1/privacy-downloads/{token}), read as a stream: time to
     first byte, total time, bytes,
     and the gateway's RSS sampled every 10 ms during the download (growth over the RSS just
     before it). Records per source are counted from the downloaded bundle.
  2. Erasure of the same subject end to end: submitted (as the export), approved by the admin,
     polled until `complete` (every source's task and the completeness scan); the wait for the
     mailed code is left out of the timings.
  3. A retention sweep over BENCH_SWEEP_TENANTS institutions with BENCH_SWEEP_EXPIRED expired
     records each (the audit trail's IP addresses of as many audited reads), run through
     POST /v1/privacy/retention-runs one institution after another and followed to its end:
     records/s; and the p99 of GET /v1/courses/{id} (wrk, uniform over those institutions) during
     the sweep vs idle.

Seeding uses only the public API (tenants, people, consent, audited reads; the reads in volume
with wrk and bench/wrk/audited_reads.lua). Results go under the key "privacy" of
bench/out/results.json, merged into what is there (the scale part's figures stay).
"""

from __future__ import annotations

import email
import email.policy
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from wrklib import parse_wrk, summarise_runs, wrk_cmd

ROOT = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, "")
    if value == "":
        if default is None:
            raise SystemExit(f"privacy.py: {name} is not set (run through bench/run.sh / make bench)")
        return default
    return value


def env_int(name: str, default: int) -> int:
    text = env(name, str(default))
    try:
        value = int(text)
    except ValueError:
        raise SystemExit(f"privacy.py: {name}={text!r} is not an integer") from None
    if value < 0:
        raise SystemExit(f"privacy.py: {name} must not be negative")
    return value


QUICK = env("BENCH_QUICK", "0") not in ("0", "", "false", "no")
OUT = Path(env("BENCH_OUT", str(ROOT / "bench" / "out")))
RAW, RUN = OUT / "raw", OUT / "run"
RESULTS = OUT / "results.json"
HUB_URL = env("BENCH_HUB_URL")
HUB_PID = env_int("BENCH_HUB_PID", 0)
OPERATOR = env("BENCH_OPERATOR_TOKEN")
MAIL_DIR = Path(env("HUB_MAIL_DIR", str(Path(env("HUB_DATA_DIR", str(RUN / "data"))) / "mail")))
RECORDS = env_int("BENCH_PRIVACY_RECORDS", 2_000 if QUICK else 100_000)
CONSENTS = env_int("BENCH_PRIVACY_CONSENTS", 100 if QUICK else 1_000)
SWEEP_TENANTS = env_int("BENCH_SWEEP_TENANTS", 20 if QUICK else 1_000)
SWEEP_EXPIRED = env_int("BENCH_SWEEP_EXPIRED", 100 if QUICK else 1_000)
READ_CONNECTIONS = env_int("BENCH_SWEEP_CONNECTIONS", 16)
DURATION = env_int("BENCH_PRIVACY_DURATION", 3 if QUICK else 10)
RUNS = env_int("BENCH_RUNS", 3)
THREADS = env_int("BENCH_THREADS", 2)
# wrk connections of the seeding reads: one institution's audit trail takes one append at a
# time (its hash chain), so the subject's reads gain little from more; the sweep's spread over
# many institutions and gain from as many as the gateway's pool.
SEED_CONNECTIONS = env_int("BENCH_PRIVACY_SEED_CONNECTIONS", 32)
SEED_CONCURRENCY = env_int("BENCH_SEED_CONCURRENCY", 8)
CLOCK_OFFSET = env_int("HUB_RETENTION_CLOCK_OFFSET_SECS", 0)
PAUSE_MS = env("HUB_RETENTION_BATCH_PAUSE_MS", "100 (default)")
# Who makes the two requests: `on_behalf` (the admin, verified with the code mailed to the
# person) or `self` (the signed-in person, POST /v1/me/privacy-requests). Default on_behalf:
# a self-made request keeps `submitted_by = person:<id>`, which the erasure's completeness
# scan finds, so a self-made erasure ends in `error` (reported; see BENCHMARKS.md).
REQUESTS = env("BENCH_PRIVACY_REQUESTS", "on_behalf")
if REQUESTS not in ("on_behalf", "self"):
    raise SystemExit("privacy.py: BENCH_PRIVACY_REQUESTS must be on_behalf or self")
SAMPLE_S = 0.01
PASSWORD = "meadow-kettle-orbit-42"
CONSENT_PURPOSES = ["analytics", "personalisation", "marketing", "integrations"]

_url = urllib.parse.urlsplit(HUB_URL)
if _url.hostname not in ("127.0.0.1", "localhost", "::1"):
    raise SystemExit("privacy.py: only a loopback gateway is allowed")
HOST, PORT = _url.hostname, _url.port


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] privacy: {message}", file=sys.stderr, flush=True)


# --- results (merged into results.json) ----------------------------------------------------------

privacy: dict = {}


def save() -> None:
    """Writes the privacy figures into results.json, keeping every other key as it is there."""
    merged: dict = {}
    if RESULTS.exists():
        try:
            merged = json.loads(RESULTS.read_text(encoding="utf-8"))
        except ValueError:
            merged = {}
    merged["privacy"] = privacy
    tmp = RESULTS.with_suffix(".privacy.tmp")
    tmp.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    tmp.replace(RESULTS)


def command(text: str) -> None:
    cmds = privacy.setdefault("commands", [])
    text = text.replace(str(RUN) + "/", "<run dir>/").replace(str(ROOT) + "/", "")
    text = text.replace(HUB_URL, "http://127.0.0.1:<hub port>")
    if text not in cmds:
        cmds.append(text)


# --- HTTP -----------------------------------------------------------------------------------------


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status, self.headers, self.raw = status, headers, body

    @property
    def json(self):
        return json.loads(self.raw) if self.raw else None

    def expect(self, *statuses: int, what: str) -> "Reply":
        if self.status not in statuses:
            raise RuntimeError(f"{what}: HTTP {self.status}: {self.raw[:600].decode(errors='replace')}")
        return self


class Client:
    """One keep-alive HTTP/1.1 connection; reconnects once when the gateway closed it."""

    def __init__(self, timeout: float = 120.0):
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, token: str | None = None, body=None,
             headers: dict[str, str] | None = None) -> Reply:
        payload = json.dumps(body).encode() if body is not None else None
        h = {"Accept": "application/json"}
        if token:
            h["Authorization"] = f"Bearer {token}"
        if payload is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, PORT, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=payload, headers=h)
                response = self.conn.getresponse()
                data = response.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                continue
            if response.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
        raise AssertionError("unreachable")


_local = threading.local()


def client() -> Client:
    if not hasattr(_local, "client"):
        _local.client = Client()
    return _local.client


def provision(slug: str) -> tuple[str, str]:
    """A new institution: (tenant id, its first admin key)."""
    r = client().call("POST", "/v1/tenants", OPERATOR, {"slug": slug, "name": f"Privacy bench {slug}"})
    body = r.expect(201, what=f"POST /v1/tenants {slug}").json
    return body["tenant"]["id"], body["admin_api_key"]["token"]


def add_person(admin: str, username: str, email_address: str) -> str:
    r = client().call("POST", "/v1/people", admin, {
        "name": f"{username.capitalize()} Subject", "username": username, "email": email_address,
        "phone": "+441632960961", "birth_date": "1990-01-02", "roles": ["learner"]})
    return r.expect(201, what="POST /v1/people").json["id"]


_mail_used: set[str] = set()


def wait_for_mail(address: str, marker: str, since: float, timeout: float = 60.0) -> str:
    """The text of the newest message to `address` containing `marker`, written after `since`
    and not read before (the gateway writes mail to the directory when no SMTP server is set)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if MAIL_DIR.is_dir():
            for path in sorted(MAIL_DIR.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True):
                if path.name in _mail_used or path.stat().st_mtime < since - 1:
                    continue
                msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                if address not in str(msg.get("To", "")):
                    continue
                part = msg.get_body(preferencelist=("plain",)) or msg
                text = part.get_content() if hasattr(part, "get_content") else str(part)
                if marker in text:
                    _mail_used.add(path.name)
                    return text
        time.sleep(0.2)
    raise RuntimeError(f"no message to {address} with {marker!r} in {MAIL_DIR} within {timeout:.0f} s")


def sign_in(slug: str, admin: str, username: str, address: str) -> str:
    """Allows local accounts, sets the person's password with the reset code mailed to them,
    signs in: the session token."""
    c = client()
    settings = c.call("GET", "/v1/sign-in-settings", admin).expect(200, what="GET /v1/sign-in-settings")
    c.call("PUT", "/v1/sign-in-settings", admin, {"local_accounts": True},
           {"If-Match": settings.headers["etag"]}).expect(200, what="PUT /v1/sign-in-settings")
    asked = time.time()
    c.call("POST", "/v1/auth/password-reset-requests", None, {"tenant": slug, "email": address}).expect(
        202, what="POST /v1/auth/password-reset-requests")
    text = wait_for_mail(address, "minutes: ", asked)
    code = text.split("minutes: ", 1)[1].split()[0]
    c.call("POST", "/v1/auth/password-resets", None, {"tenant": slug, "token": code, "new_password": PASSWORD}).expect(
        204, what="POST /v1/auth/password-resets")
    signed = c.call("POST", "/v1/auth/password", None, {"tenant": slug, "login": username, "password": PASSWORD})
    return signed.expect(200, what="POST /v1/auth/password").json["session_token"]


# --- wrk ------------------------------------------------------------------------------------------

children: set[subprocess.Popen] = set()


def spawn(cmd: list[str], env_extra: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    environment = dict(os.environ, **(env_extra or {}))
    proc = subprocess.Popen(cmd, env=environment, cwd=ROOT, start_new_session=True, **kw)
    children.add(proc)
    (RUN / "pids").mkdir(parents=True, exist_ok=True)
    (RUN / "pids" / f"{proc.pid}.pgid").write_text(f"{proc.pid}\n")
    return proc


def reap(proc: subprocess.Popen, sig: int | None = None, timeout: float = 60) -> str:
    if sig is not None and proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except OSError:
            pass
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
    children.discard(proc)
    (RUN / "pids" / f"{proc.pid}.pgid").unlink(missing_ok=True)
    return out or ""


def audited_reads(label: str, targets: list[tuple[str, str, int]]) -> dict:
    """Sends every target's count of audited reads with wrk; returns counts and the rate."""
    reads = RUN / f"reads-{label}.tsv"
    done = RUN / f"reads-{label}.done"
    reads.write_text("".join(f"{t}\t{p}\t{n}\n" for t, p, n in targets), encoding="utf-8")
    done.unlink(missing_ok=True)
    wanted = sum(n for _, _, n in targets)
    threads = max(1, min(THREADS, SEED_CONNECTIONS))
    cap = 3600
    cmd = ["wrk", "-t", str(threads), "-c", str(SEED_CONNECTIONS), "-d", f"{cap}s", "--timeout", "30s",
           "-s", str(ROOT / "bench/wrk/audited_reads.lua"), HUB_URL]
    extra = {"BENCH_READS_FILE": str(reads), "BENCH_READS_DONE": str(done), "BENCH_READS_THREADS": str(threads)}
    command(" ".join(f"{k}=<{Path(v).name}>" for k, v in extra.items() if k != "BENCH_READS_THREADS")
            + f" BENCH_READS_THREADS={threads} " + " ".join(cmd) + "   # ended with SIGINT once every thread is done")
    started = time.perf_counter()
    proc = spawn(["nice", "-n", "5", *cmd], extra, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    last_log = started
    while True:
        lines = done.read_text().splitlines() if done.exists() else []
        if len(lines) >= threads:
            break
        if proc.poll() is not None:
            break
        if time.perf_counter() - last_log > 15:
            log(f"  {label}: still sending audited reads ({time.perf_counter() - started:.0f} s)")
            last_log = time.perf_counter()
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    out = reap(proc, signal.SIGINT)
    (RAW / f"privacy-{label}.txt").write_text(out, encoding="utf-8")
    lines = done.read_text().splitlines() if done.exists() else []
    ok = sum(int(line.split("\t")[1]) for line in lines)
    other = sum(int(line.split("\t")[2]) for line in lines)
    if ok < wanted:
        raise RuntimeError(f"{label}: {ok} of {wanted} audited reads answered 200 ({other} other); see bench/out/raw/privacy-{label}.txt")
    result = {"reads": ok, "non_200": other, "seconds": round(elapsed, 2), "reads_per_s": round(ok / elapsed, 1),
              "connections": SEED_CONNECTIONS}
    log(f"  {label}: {ok:,} audited reads in {elapsed:.1f} s ({ok / elapsed:,.0f}/s)")
    return result


class BackgroundWrk:
    """GET /v1/courses/{id} beside the sweep; stopped with SIGINT (wrk then prints its figures)."""

    def __init__(self, label: str, targets: Path, tenants: int):
        self.label = label
        cmd = wrk_cmd("get", READ_CONNECTIONS, 3600, HUB_URL, THREADS)
        self.env = {"BENCH_KIND": "hub", "BENCH_DIST": "uniform", "BENCH_TENANTS": str(tenants),
                    "BENCH_TARGETS": str(targets)}
        command("BENCH_KIND=hub BENCH_DIST=uniform BENCH_TENANTS=<N> BENCH_TARGETS=<privacy targets> "
                + " ".join(cmd) + "   # in the background during the sweep, stopped with SIGINT")
        self.proc = spawn(cmd, self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(0.5)

    def stop(self) -> dict:
        out = reap(self.proc, signal.SIGINT)
        (RAW / f"privacy-{self.label}.txt").write_text(out, encoding="utf-8")
        return parse_wrk(out)


def wrk_reads(label: str, targets: Path, tenants: int) -> dict:
    cmd = wrk_cmd("get", READ_CONNECTIONS, DURATION, HUB_URL, THREADS)
    extra = {"BENCH_KIND": "hub", "BENCH_DIST": "uniform", "BENCH_TENANTS": str(tenants), "BENCH_TARGETS": str(targets)}
    command("BENCH_KIND=hub BENCH_DIST=uniform BENCH_TENANTS=<N> BENCH_TARGETS=<privacy targets> " + " ".join(cmd))
    proc = spawn(cmd, extra, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = reap(proc, timeout=DURATION + 60)
    (RAW / f"privacy-{label}.txt").write_text(out, encoding="utf-8")
    parsed = parse_wrk(out)
    log(f"  {label}: {parsed['rps']:.0f} req/s p50 {parsed['p50_ms']:.2f} ms p99 {parsed['p99_ms']:.2f} ms")
    return parsed


# --- memory ---------------------------------------------------------------------------------------


def rss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class RssSampler:
    """The gateway's VmRSS every 10 ms while a download runs."""

    def __init__(self, pid: int):
        self.pid, self.samples, self.running = pid, [], True
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while self.running:
            value = rss_kb(self.pid)
            if value is not None:
                self.samples.append(value)
            time.sleep(SAMPLE_S)

    def __enter__(self) -> "RssSampler":
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.running = False
        self.thread.join()


# --- 1. export -----------------------------------------------------------------------------------


def poll_request(admin: str, request_id: str, timeout: float) -> tuple[dict, float, list[str]]:
    """Follows a privacy request until it leaves approved / in_progress: (request, seconds
    from the first poll, statuses seen)."""
    c = Client()
    started = time.perf_counter()
    seen: list[str] = []
    while True:
        r = c.call("GET", f"/v1/privacy-requests/{request_id}", admin).expect(200, what="GET /v1/privacy-requests/{id}")
        body = r.json
        if not seen or seen[-1] != body["status"]:
            seen.append(body["status"])
        if body["status"] not in ("approved", "in_progress"):
            return body, time.perf_counter() - started, seen
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"request {request_id} still {body['status']} after {timeout:.0f} s")
        time.sleep(0.02)


def make_request(kind: str, admin: str, session: str, person: str, address: str) -> tuple[str, float]:
    """A privacy request about the person: (its id, seconds spent waiting for the mailed code,
    a person's step that the timings leave out)."""
    if REQUESTS == "self":
        r = client().call("POST", "/v1/me/privacy-requests", session, {"kind": kind})
        return r.expect(201, what=f"POST /v1/me/privacy-requests ({kind})").json["id"], 0.0
    asked = time.time()
    r = client().call("POST", "/v1/privacy-requests", admin, {"person_id": person, "kind": kind, "jurisdiction": "eu"})
    request_id = r.expect(201, what=f"POST /v1/privacy-requests ({kind})").json["id"]
    waited = time.perf_counter()
    text = wait_for_mail(address, "hours: ", asked)
    waited = time.perf_counter() - waited
    code = text.split("hours: ", 1)[1][:8]
    client().call("POST", f"/v1/privacy-requests/{request_id}/verification", admin, {"code": code}).expect(
        200, what="POST /v1/privacy-requests/{id}/verification")
    return request_id, waited


def decide(admin: str, request_id: str) -> None:
    client().call("POST", f"/v1/privacy-requests/{request_id}/decision", admin,
                  {"decision": "approve", "reason": "Checked against the records."}).expect(
        200, what="POST /v1/privacy-requests/{id}/decision")


def download(url_path: str) -> dict:
    """GET of the bundle, read as a stream into a file: time to first byte (first body bytes),
    total time, bytes, the gateway's RSS during it."""
    target = RUN / "export-bundle.body"
    conn = http.client.HTTPConnection(HOST, PORT, timeout=300)
    baseline = rss_kb(HUB_PID)
    with RssSampler(HUB_PID) as sampler:
        started = time.perf_counter()
        conn.request("GET", url_path, headers={"Accept": "application/json, text/csv, */*"})
        response = conn.getresponse()
        headers_at = time.perf_counter() - started
        first_at = None
        size = 0
        with target.open("wb") as f:
            while True:
                chunk = response.read1(1 << 16)
                if not chunk:
                    break
                if first_at is None:
                    first_at = time.perf_counter() - started
                size += len(chunk)
                f.write(chunk)
        total = time.perf_counter() - started
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"download: HTTP {response.status}: {target.read_bytes()[:600].decode(errors='replace')}")
    samples = sampler.samples
    peak = max(samples) if samples else None
    return {
        "status": response.status,
        "content_type": response.getheader("Content-Type"),
        "transfer_encoding": response.getheader("Transfer-Encoding"),
        "headers_s": round(headers_at, 4),
        "ttfb_s": round(first_at if first_at is not None else total, 4),
        "total_s": round(total, 4),
        "bytes": size,
        "rss_before_mb": round(baseline / 1024, 1) if baseline else None,
        "rss_peak_mb": round(peak / 1024, 1) if peak else None,
        "rss_growth_mb": round((peak - baseline) / 1024, 1) if peak and baseline else None,
        "rss_samples": len(samples),
        "rss_sample_interval_ms": SAMPLE_S * 1000,
    }


def count_bundle(path: Path) -> dict:
    """Records per source in the downloaded bundle ({"sources": {name: [records]}} today)."""
    try:
        bundle = json.loads(path.read_bytes())
    except ValueError as error:
        return {"parsed": False, "note": f"not one JSON document ({error}); per-source counts not taken"}
    sources = bundle.get("sources") if isinstance(bundle, dict) else None
    if not isinstance(sources, dict):
        return {"parsed": False, "note": "no `sources` object in the bundle; per-source counts not taken"}
    counts = {name: len(v) if isinstance(v, list) else 1 for name, v in sources.items()}
    return {"parsed": True, "per_source": {k: v for k, v in sorted(counts.items()) if v},
            "total": sum(counts.values())}


def export_and_erasure() -> None:
    part: dict = {"target_records": RECORDS, "consent_records": CONSENTS}
    privacy["subject"] = part
    slug = f"privacy-subject-{int(time.time())}"
    log(f"subject: provisioning {slug}")
    tenant, admin = provision(slug)
    address = f"ada@{slug}.test"
    person = add_person(admin, "ada", address)
    session = sign_in(slug, admin, "ada", address)
    part.update({"tenant": slug})

    # Consent: the person's own choices, four purposes a request, alternating.
    t0 = time.perf_counter()
    puts = 0
    for i in range((CONSENTS + len(CONSENT_PURPOSES) - 1) // len(CONSENT_PURPOSES)):
        choices = [{"purpose": p, "granted": (i + k) % 2 == 0} for k, p in enumerate(CONSENT_PURPOSES)]
        client().call("PUT", "/v1/me/consents", session, {"choices": choices}).expect(200, what="PUT /v1/me/consents")
        puts += 1
    part["consent_puts"] = puts
    part["consent_seconds"] = round(time.perf_counter() - t0, 2)
    log(f"  {puts} consent changes ({puts * len(CONSENT_PURPOSES)} records) in {part['consent_seconds']} s")

    # The rest: audited reads of the person's record by the admin.
    already = 1 + puts * len(CONSENT_PURPOSES) + puts  # the person, consent records, their audit entries
    reads = max(0, RECORDS - already)
    part["audited_reads"] = audited_reads("subject-reads", [(admin, f"/v1/people/{person}", reads)]) if reads else None
    save()

    # Export: asked by the person, approved by the admin, downloaded through the link.
    log("export: request, approval, run")
    part["requests"] = REQUESTS
    t0 = time.perf_counter()
    export_id, mail_wait = make_request("export", admin, session, person, address)
    decide(admin, export_id)
    done, polled, seen = poll_request(admin, export_id, timeout=900)
    part["export_run"] = {"seconds": round(time.perf_counter() - t0 - mail_wait, 2), "status": done["status"],
                          "statuses": seen, "mail_wait_s": round(mail_wait, 2)}
    if done["status"] != "complete":
        raise RuntimeError(f"export ended {done['status']}: {json.dumps(done)[:800]}")
    link = client().call("POST", f"/v1/me/privacy-requests/{export_id}/download-link", session).expect(
        201, what="POST /v1/me/privacy-requests/{id}/download-link").json
    log("export: download")
    part["download"] = download(link["url"])
    part["bundle"] = count_bundle(RUN / "export-bundle.body")
    d = part["download"]
    log(f"  download: first byte {d['ttfb_s']:.3f} s, total {d['total_s']:.3f} s, {d['bytes']:,} bytes, "
        f"RSS {d['rss_before_mb']} → peak {d['rss_peak_mb']} MB (+{d['rss_growth_mb']} MB); "
        f"{part['bundle'].get('total', '?')} records")
    save()

    # Erasure of the same person: submitted, approved, followed to `complete`.
    log("erasure: request, approval, run to complete")
    t0 = time.perf_counter()
    erasure_id, mail_wait = make_request("erasure", admin, session, person, address)
    submitted = time.perf_counter() - t0 - mail_wait
    decide(admin, erasure_id)
    approved = time.perf_counter() - t0 - mail_wait
    done, _, seen = poll_request(admin, erasure_id, timeout=900)
    total = time.perf_counter() - t0 - mail_wait
    tasks = done.get("tasks") or []
    part["erasure"] = {
        "status": done["status"], "statuses": seen, "mail_wait_s": round(mail_wait, 2), "submit_s": round(submitted, 3), "approved_s": round(approved, 3),
        "total_s": round(total, 3), "tasks": len(tasks),
        "tasks_done": sum(t.get("status") == "done" for t in tasks),
        "records": {t["source"]: next(iter(t["outcome"].values())).get("records")
                    for t in tasks if isinstance(t.get("outcome"), dict) and t["outcome"]
                    and isinstance(next(iter(t["outcome"].values())), dict)
                    and next(iter(t["outcome"].values())).get("records")},
        "receipt": bool(done.get("receipt")),
        "not_done": [{k: t.get(k) for k in ("source", "status", "attempts", "error", "outcome")}
                     for t in tasks if t.get("status") != "done"],
        "error": done.get("error") or done.get("scan"),
    }
    log(f"  erasure {done['status']} in {total:.2f} s ({part['erasure']['tasks_done']}/{len(tasks)} tasks done)")
    save()


# --- 3. retention sweep --------------------------------------------------------------------------


def sweep() -> None:
    part: dict = {"tenants": SWEEP_TENANTS, "expired_per_tenant": SWEEP_EXPIRED, "read_connections": READ_CONNECTIONS,
                  "clock_offset_days": round(CLOCK_OFFSET / 86400, 1), "batch_pause_ms": PAUSE_MS}
    privacy["sweep"] = part
    targets = RUN / "privacy-targets.tsv"
    targets.unlink(missing_ok=True)
    log(f"sweep: provisioning {SWEEP_TENANTS} institutions (bench/seed.py, 2 courses each)")
    prefix = f"ret{int(time.time()) % 100000}"
    cmd = [sys.executable, str(ROOT / "bench/seed.py"), "--url", HUB_URL, "--total", str(SWEEP_TENANTS),
           "--courses", "2", "--concurrency", str(SEED_CONCURRENCY), "--targets", str(targets),
           "--slug-prefix", prefix, "--summary", str(RUN / "seed-privacy.json"), "--quiet"]
    command(" ".join(["nice", "-n", "5", "python3", *cmd[1:]]).replace(prefix, "ret<n>"))
    t0 = time.perf_counter()
    proc = spawn(["nice", "-n", "5", *cmd], stdout=subprocess.DEVNULL)
    if proc.wait(timeout=max(600, SWEEP_TENANTS * 3)) != 0:
        raise RuntimeError("bench/seed.py failed for the sweep's institutions")
    children.discard(proc)
    (RUN / "pids" / f"{proc.pid}.pgid").unlink(missing_ok=True)
    rows = [line.rstrip("\n").split("\t") for line in targets.read_text().splitlines() if line.strip()]
    part["provision_s"] = round(time.perf_counter() - t0, 1)

    log(f"sweep: one person each, {SWEEP_EXPIRED} audited reads of them each")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(SEED_CONCURRENCY) as pool:
        people = list(pool.map(lambda r: add_person(r[1], "grace", f"grace@{r[0]}.test"), rows))
    part["people_s"] = round(time.perf_counter() - t0, 1)
    part["seeding"] = audited_reads("sweep-reads", [(r[1], f"/v1/people/{p}", SWEEP_EXPIRED) for r, p in zip(rows, people)])
    save()

    log("sweep: idle reads")
    idle_runs = [wrk_reads(f"sweep-idle-r{i}", targets, len(rows)) for i in range(1, RUNS + 1)]
    part["idle"] = summarise_runs(idle_runs)
    part["idle_runs_p99_ms"] = [r["p99_ms"] for r in idle_runs]
    save()

    log(f"sweep: retention runs over {len(rows)} institutions, one after another, reads in the background")
    c = Client()
    expired = 0
    steps = 0
    per_source: dict[str, int] = {}
    failed = []
    run_seconds = []
    background = BackgroundWrk("sweep-during", targets, len(rows))
    started = time.perf_counter()
    try:
        for slug, admin, *_ in rows:
            t = time.perf_counter()
            r = c.call("POST", "/v1/privacy/retention-runs", admin).expect(202, what=f"POST retention-runs ({slug})")
            location = r.headers.get("location") or f"/v1/privacy/retention-runs/{r.json['id']}"
            while True:
                body = c.call("GET", location, admin).expect(200, what="GET retention run").json
                if body["state"] != "running":
                    break
                time.sleep(0.01)
            run_seconds.append(time.perf_counter() - t)
            if body["state"] != "succeeded":
                failed.append(slug)
            expired += body.get("records_expired") or 0
            for s in body.get("steps", []):
                n = s.get("records") or 0
                steps += 1
                if n:
                    per_source[f"{s['source']}/{s['category']}"] = per_source.get(f"{s['source']}/{s['category']}", 0) + n
    finally:
        elapsed = time.perf_counter() - started
        during = background.stop()
    part["during"] = during
    part.update({
        "sweep_s": round(elapsed, 2), "records_expired": expired, "records_per_s": round(expired / elapsed, 1),
        "steps": steps, "per_source": per_source, "failed": failed,
        "run_s_p50": round(sorted(run_seconds)[len(run_seconds) // 2], 3) if run_seconds else None,
        "run_s_max": round(max(run_seconds), 3) if run_seconds else None,
    })
    idle = part["idle"]
    log(f"  sweep: {expired:,} records in {elapsed:.1f} s ({expired / elapsed:,.0f}/s), {len(failed)} failed; "
        f"reads p99 {during['p99_ms']:.2f} ms during vs {idle['p99_ms']:.2f} ms idle")
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
    except Exception as error:  # noqa: BLE001 - the figures matter more than the description
        mach = {"load_average_at_start": os.getloadavg()[0], "cores": os.cpu_count(), "error": str(error)}
    privacy.update({
        "status": "running", "quick": QUICK,
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": mach,
        "config": {"records": RECORDS, "consent_records": CONSENTS, "sweep_tenants": SWEEP_TENANTS,
                   "sweep_expired_per_tenant": SWEEP_EXPIRED, "read_connections": READ_CONNECTIONS,
                   "duration_s": DURATION, "runs": RUNS, "seed_connections": SEED_CONNECTIONS,
                   "retention_clock_offset_secs": CLOCK_OFFSET, "retention_batch_pause_ms": PAUSE_MS},
    })
    log(f"load average at start {mach.get('load_average_at_start')}")
    save()
    code = 0
    try:
        export_and_erasure()
        sweep()
        privacy["status"] = "complete"
    except KeyboardInterrupt as why:
        privacy["status"] = f"aborted: {why}"
        code = 130
    except Exception as error:  # noqa: BLE001 - recorded in the results, then fail
        privacy["status"] = f"failed: {type(error).__name__}: {error}"
        log(f"FAILED: {error}")
        code = 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for proc in list(children):
            reap(proc, signal.SIGTERM, timeout=15)
        privacy["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        privacy["elapsed_s"] = round(time.time() - started, 1)
        save()
    return code


if __name__ == "__main__":
    sys.exit(main())
