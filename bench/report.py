#!/usr/bin/env python3
"""Renders BENCHMARKS.md from bench/out/results.json (stdlib only).

Also evaluates every target of issue 3 against the figures, stores the verdicts back into
results.json ("targets") so the machine-readable file carries them too, and merges the
results of bench/crypto.sh (criterion) and bench/crypto-share.sh (perf) when given. A target is MET, NOT MET or NOT
RUN; nothing is left out because it missed.

    python3 bench/report.py [--results bench/out/results.json] [--crypto bench/out/crypto.json]
                            [--crypto-share bench/out/crypto-share.json] [--out BENCHMARKS.md]
                            [--elapsed SECONDS] [--only privacy|learning|billing]

The privacy part (issue 10, bench/privacy.py, key "privacy" of results.json) is rendered as
its own section between two markers. `--only privacy` (what `BENCH_ONLY=privacy make bench`
runs) replaces only that section of the existing --out file, or appends it, and leaves the
rest of the file as it was: the scale figures of an earlier full run stay. The learning part
(issue 11, bench/learning.py, key "learning") likewise, with `--only learning`, and the
billing part (issue 12, bench/billing.py, key "billing") with `--only billing`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENDPOINTS = {"get": "GET /v1/courses/{id}", "list": "GET /v1/courses?limit=20"}
DISTS = {"uniform": "uniform", "zipf": "Zipf (1 % → 80 %)"}


# --- helpers ----------------------------------------------------------------------------------


def fmt(value, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if abs(value) >= 1000:
            text = f"{value:,.0f}"
        else:
            text = f"{value:.{digits}f}"
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return text + unit


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def cell(step: dict, endpoint: str, dist: str, conns: str) -> dict | None:
    hub = step.get("hub", {}).get(endpoint, {})
    if dist not in hub and dist == "zipf" and step.get("tenants") == 1:
        dist = "uniform"  # one tenant: Zipf is the same workload
    return hub.get(dist, {}).get(conns, {}).get("median")


def peer_cell(step: dict, endpoint: str, dist: str, conns: str) -> dict | None:
    peer = step.get("peer", {})
    if peer.get("status") != "ok":
        return None
    return peer.get("results", {}).get(endpoint, {}).get(dist, {}).get(conns, {}).get("median")


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# --- targets ----------------------------------------------------------------------------------


def evaluate(results: dict) -> list[dict]:
    targets: list[dict] = []
    steps = results.get("steps", [])
    complete = [s for s in steps if s.get("hub") and all(
        "median" in c for e in s["hub"].values() for d in e.values() for c in d.values())]
    conns = [str(c) for c in results.get("config", {}).get("connections", [16, 64])]
    largest = complete[-1] if complete else None
    base = next((s for s in complete if s["tenants"] == 1), complete[0] if complete else None)
    n = largest["tenants"] if largest else None
    at = f"at {n:,} tenants" if n else ""
    scale_note = "" if (n or 0) >= 10000 else f" (measured {at}; the target is stated for 10,000)"

    def add(group: str, name: str, required: str, measured: str, ok: bool | None, note: str = "") -> None:
        status = "NOT RUN" if ok is None else ("MET" if ok else "NOT MET")
        targets.append({"group": group, "target": name, "required": required, "measured": measured,
                        "status": status, "note": note})

    # Full-stack read vs PostgreSQL's ceiling and vs the peer.
    for endpoint in ENDPOINTS:
        for c in conns:
            hub = cell(largest, endpoint, "uniform", c) if largest else None
            pg = largest.get("pgbench", {}).get(c, {}).get("median") if largest else None
            r = ratio(hub and hub["rps"], pg and pg["rps"])
            add("full-stack read", f"hub ≥ 0.30 × pgbench -S, {ENDPOINTS[endpoint]}, {c} conns, uniform",
                "≥ 0.30", f"{fmt(r, 3)} ({fmt(hub and hub['rps'], 0)} / {fmt(pg and pg['rps'], 0)} req/s, {at})",
                None if r is None else r >= 0.30, scale_note)
    for endpoint in ENDPOINTS:
        for c in conns:
            hub = cell(largest, endpoint, "uniform", c) if largest else None
            peer = peer_cell(largest, endpoint, "uniform", c) if largest else None
            r = ratio(hub and hub["rps"], peer and peer["rps"])
            status = largest.get("peer", {}).get("status", "not run") if largest else "not run"
            measured = (f"{fmt(r, 2)} ({fmt(hub and hub['rps'], 0)} / {fmt(peer and peer['rps'], 0)} req/s, {at})"
                        if r is not None else f"peer {status}")
            add("full-stack read", f"hub ≥ 5 × Django peer, {ENDPOINTS[endpoint]}, {c} conns, uniform",
                "≥ 5", measured, None if r is None else r >= 5, scale_note if r is not None else "")
    top = max(conns, key=int) if conns else "64"
    for endpoint in ENDPOINTS:
        hub = cell(largest, endpoint, "uniform", top) if largest else None
        p99 = hub and hub["p99_ms"]
        add("full-stack read", f"p99 < 5 ms at {top} connections, {ENDPOINTS[endpoint]}, uniform",
            "< 5 ms", f"{fmt(p99)} ms ({at})", None if p99 is None else p99 < 5, scale_note)

    # Tenant count.
    for dist, limit in (("uniform", 1.5), ("zipf", 1.2)):
        for endpoint in ENDPOINTS:
            for c in conns:
                big = cell(largest, endpoint, dist, c) if largest and base is not largest else None
                one = cell(base, endpoint, dist, c) if base else None
                r = ratio(big and big["p50_ms"], one and one["p50_ms"])
                add("tenant count",
                    f"p50 at N ≤ {limit} × p50 at 1 tenant, {DISTS[dist]}, {ENDPOINTS[endpoint]}, {c} conns",
                    f"≤ {limit}", f"{fmt(r, 2)} ({fmt(big and big['p50_ms'])} vs {fmt(one and one['p50_ms'])} ms, {at})",
                    None if r is None else r <= limit, scale_note)

    # Memory.
    mem = results.get("memory", {})
    whole = mem.get("whole_run", {})
    anon = whole.get("backend_anon_mb_max")
    add("memory", "PostgreSQL backend memory ≤ 256 MB per backend (max private RSS of any hub backend, whole run)",
        "≤ 256 MB", f"{fmt(anon, 1)} MB (RssAnon; VmRSS incl. shared buffers {fmt(whole.get('backend_rss_mb_max'), 1)} MB)",
        None if anon is None else anon <= 256, scale_note)
    probe = results.get("catalog_probe")
    if probe:
        add("memory", "PostgreSQL backend memory ≤ 256 MB after one backend touched every tenant (pg_backend_memory_contexts)",
            "≤ 256 MB", f"{fmt(probe['after_total_mb'], 1)} MB over {probe['tenants']:,} tenants "
            f"({fmt(probe['per_tenant_kb'], 1)} KB per tenant)", probe["after_total_mb"] <= 256, scale_note)
    else:
        add("memory", "PostgreSQL backend memory ≤ 256 MB (pg_backend_memory_contexts)", "≤ 256 MB", "–", None)

    # Provisioning.
    fsync = results.get("machine", {}).get("postgres", {}).get("fsync", "?")
    prov = results.get("provisioning", {})
    pr = (prov.get("probe") or {}).get("provision_latency", {})
    add("provisioning", f"provision one tenant p99 < 100 ms, one at a time (fsync {fsync})", "< 100 ms",
        f"p50 {fmt(pr.get('p50_ms'))} / p99 {fmt(pr.get('p99_ms'))} ms over {pr.get('n', 0)} tenants "
        f"(with {fmt((prov.get('probe') or {}).get('existing_tenants'))} existing)",
        None if pr.get("p99_ms") is None else pr["p99_ms"] < 100)
    bulk = [s for s in prov.get("steps", []) if s.get("provision_latency", {}).get("n")]
    if bulk:
        worst = max(bulk, key=lambda s: s["provision_latency"]["p99_ms"])
        lat = worst["provision_latency"]
        add("provisioning", f"provision p99 < 100 ms during bulk seeding ({worst['concurrency']} tenants in flight, "
            f"course creation interleaved; fsync {fsync})", "< 100 ms",
            f"p50 {fmt(lat['p50_ms'])} / p99 {fmt(lat['p99_ms'])} ms (step to {worst['to']:,})",
            lat["p99_ms"] < 100, "client-side latency includes queueing behind the other requests in flight")

    # Migration.
    mig = results.get("migration", {})
    hm = mig.get("hub_migrate", {})
    add("migration", f"`hub migrate` over all tenants < 60 s (no-op pass: no pending migration exists)", "< 60 s",
        f"{fmt(hm.get('elapsed_s'))} s for {fmt(mig.get('tenants'))} tenants (exit {hm.get('exit', '–')})",
        None if hm.get("elapsed_s") is None else (hm["elapsed_s"] < 60 and hm.get("exit") == 0), scale_note)
    add_pass = mig.get("ddl_add", {})
    add("migration", "additive DDL (ADD COLUMN per tenant schema, batched, parallel) < 60 s", "< 60 s",
        f"{fmt(add_pass.get('elapsed_s'))} s for {fmt(add_pass.get('schemas'))} schemas "
        f"({add_pass.get('batch_size', '–')} per transaction, {add_pass.get('parallel', '–')} in parallel)",
        None if add_pass.get("elapsed_s") is None else (add_pass["elapsed_s"] < 60 and add_pass.get("failed_batches") == 0),
        scale_note)
    resume = mig.get("resume", {})
    dk = resume.get("ddl_killed", {})
    if not resume:
        add("migration", "additive DDL resumable after a kill (SIGKILL mid-pass, then re-run)", "all schemas migrated", "–", None)
    elif not dk.get("killed"):
        add("migration", "additive DDL resumable after a kill (SIGKILL mid-pass, then re-run)", "all schemas migrated",
            f"the pass finished before the kill point ({dk.get('progress_at_kill')})", None)
    else:
        add("migration", "additive DDL resumable after a kill (SIGKILL mid-pass, then re-run)", "all schemas migrated",
            f"killed at {dk.get('progress_at_kill')} schemas; {fmt(resume.get('ddl_after_kill', {}).get('without_column'))} "
            f"pending after the kill; the re-run migrated {fmt(resume.get('ddl_resumed', {}).get('schemas'))}, "
            f"{fmt(resume.get('ddl_after_resume', {}).get('without_column'))} left pending",
            resume.get("ddl_ok"))
    hk = resume.get("hub_migrate_killed", {})
    hr = resume.get("hub_migrate_resumed", {})
    if not resume or not hk.get("killed"):
        add("migration", "`hub migrate` resumable after a kill (SIGKILL mid-pass, then re-run)", "re-run exits 0, 0 failed",
            f"the pass finished before the kill point ({hk.get('progress_at_kill')})" if resume else "–", None)
    else:
        add("migration", "`hub migrate` resumable after a kill (SIGKILL mid-pass, then re-run)", "re-run exits 0, 0 failed",
            f"killed at {hk.get('progress_at_kill')} tenants; re-run: {fmt(hr.get('migrated'))} migrated, "
            f"{fmt(hr.get('failed'))} failed, exit {hr.get('exit', '–')}", resume.get("hub_migrate_ok"))
    read = mig.get("read", {})
    idle = (read.get("idle") or {}).get("p99_ms")
    for key, label in (("during_hub_migrate", "`hub migrate`"), ("during_ddl_add", "additive DDL (add)"),
                       ("during_ddl_drop", "DDL rollback (drop)")):
        during = (read.get(key) or {}).get("p99_ms")
        r = ratio(during, idle)
        add("migration", f"read p99 during {label} ≤ 2 × idle", "≤ 2.0",
            f"{fmt(r, 2)} ({fmt(during)} vs {fmt(idle)} ms idle, {read.get('connections', '–')} conns)",
            None if r is None else r <= 2.0)

    # Crypto: bench/crypto.sh (criterion) and bench/crypto-share.sh (perf), when present.
    crypto = results.get("crypto") or {}
    micro = crypto.get("micro") or {"status": "not run: bench/crypto.sh not present"}
    share = crypto.get("share") or {"status": "not run: bench/crypto-share.sh not present"}
    so = micro.get("seal_open_64")
    add("crypto", "seal + open of a 64 B field < 1 µs per op (criterion median)", "< 1 µs",
        f"{fmt(so, 1)} ns" if isinstance(so, (int, float)) else str(micro.get("status", "–")),
        (so < 1000) if isinstance(so, (int, float)) else None)
    pct = share.get("crypto_share_percent")
    add("crypto", f"crypto share of request CPU ≤ 5 % ({share.get('endpoint', 'read with sealed fields')}, perf)",
        "≤ 5 %", f"{fmt(pct)} % of the gateway's CPU samples" if isinstance(pct, (int, float)) else str(share.get("status", "–")),
        (pct <= 5.0) if isinstance(pct, (int, float)) else None,
        "gateway process CPU only (PostgreSQL not in the denominator): an upper bound" if isinstance(pct, (int, float)) else "")
    return targets


# --- privacy (issue 10) ------------------------------------------------------------------------

PRIVACY_BEGIN = "<!-- privacy bench (bench/privacy.py): begin -->"
PRIVACY_END = "<!-- privacy bench (bench/privacy.py): end -->"


def evaluate_privacy(p: dict) -> list[dict]:
    targets: list[dict] = []

    def add(name: str, required: str, measured: str, ok: bool | None, note: str = "") -> None:
        status = "NOT RUN" if ok is None else ("MET" if ok else "NOT MET")
        targets.append({"group": "privacy", "target": name, "required": required, "measured": measured,
                        "status": status, "note": note})

    subject = p.get("subject") or {}
    d = subject.get("download") or {}
    bundle = subject.get("bundle") or {}
    n = bundle.get("total")
    of = f"{fmt(n)} records" if n is not None else f"target {fmt(subject.get('target_records'))} records"
    total = d.get("total_s")
    add("export download of one subject, total time", "< 5 s",
        f"{fmt(total, 3)} s for {of}, {fmt(d.get('bytes'))} bytes (first byte at {fmt(d.get('ttfb_s'), 3)} s)",
        None if total is None else total < 5)
    growth = d.get("rss_growth_mb")
    add("gateway memory growth during the download (VmRSS peak − before, sampled every "
        f"{fmt(d.get('rss_sample_interval_ms'), 0)} ms)", "< 50 MB",
        f"{fmt(growth, 1)} MB ({fmt(d.get('rss_before_mb'), 1)} → {fmt(d.get('rss_peak_mb'), 1)} MB)",
        None if growth is None else growth < 50)
    e = subject.get("erasure") or {}
    et = e.get("total_s")
    add("erasure of the same subject end to end (submit, approve, tasks and completeness scan, polled to `complete`)",
        "< 10 s", f"{fmt(et, 2)} s, {e.get('status', '–')} ({fmt(e.get('tasks_done'))}/{fmt(e.get('tasks'))} tasks done)",
        None if et is None else (et < 10 and e.get("status") == "complete"))
    sw = p.get("sweep") or {}
    idle, during = (sw.get("idle") or {}).get("p99_ms"), (sw.get("during") or {}).get("p99_ms")
    r = ratio(during, idle)
    add(f"read p99 during the retention sweep ≤ 1.5 × idle (GET /v1/courses/{{id}}, {sw.get('read_connections', '–')} conns)",
        "≤ 1.5", f"{fmt(r, 2)} ({fmt(during)} vs {fmt(idle)} ms idle)", None if r is None else r <= 1.5)
    rps = sw.get("records_per_s")
    targets.append({"group": "privacy", "target": f"retention sweep throughput over {fmt(sw.get('tenants'))} "
                    f"institutions × {fmt(sw.get('expired_per_tenant'))} expired records, one institution after another",
                    "required": "reported (no target)",
                    "measured": f"{fmt(rps, 0)} records/s ({fmt(sw.get('records_expired'))} in {fmt(sw.get('sweep_s'), 1)} s, "
                                f"{len(sw.get('failed') or [])} runs failed)" if rps is not None else "–",
                    "status": "NOT RUN" if rps is None else "REPORTED", "note": ""})
    return targets


def render_privacy(p: dict) -> str:
    out: list[str] = []
    w = out.append
    m = p.get("machine", {})
    pg = m.get("postgres", {})
    cfg = p.get("config", {})
    w(PRIVACY_BEGIN)
    w("## Privacy (issue 10): export, erasure, retention sweep")
    w("")
    w("Generated by `make bench` (both parts) or `BENCH_ONLY=privacy make bench` (this section alone), "
      "`bench/privacy.py` on the release gateway `bench/run.sh` starts. Seeding through the public API only.")
    w("")
    if p.get("quick"):
        w("> **Quick run** (`BENCH_QUICK=1`): a small subject and few institutions. The figures show that the "
          "harness works end to end; they are not the proof at the stated sizes.")
        w("")
    else:
        smaller = []
        if (cfg.get("records") or 0) < 100_000:
            smaller.append(f"a subject of {fmt(cfg.get('records'))} records (stated: 100,000)")
        if (cfg.get("sweep_tenants") or 0) < 1_000 or (cfg.get("sweep_expired_per_tenant") or 0) < 1_000:
            smaller.append(f"a sweep over {fmt(cfg.get('sweep_tenants'))} institutions × "
                           f"{fmt(cfg.get('sweep_expired_per_tenant'))} expired records (stated: 1,000 × 1,000)")
        if smaller:
            w(f"> **Smaller than the issue's sizes**: {'; '.join(smaller)}. The targets are evaluated at these "
              "sizes and say so.")
            w("")
    status = p.get("status", "unknown")
    if status != "complete":
        w(f"> **Run status: {status}.** The figures below are what was measured before it stopped.")
        w("")
    load = m.get("load_average_at_start")
    if load is not None and load > 0.5 * (m.get("cores") or 1):
        w(f"> Load average at start was {load:.2f} on {m.get('cores')} cores: other work was running on the "
          "machine (other builds), so absolute figures are noisy; the ratio (idle vs during the sweep) is taken "
          "within one run.")
        w("")
    w(table(["", ""], [
        ["Date (UTC)", f"{p.get('started_at', '–')} → {p.get('finished_at', '–')} ({fmt(p.get('elapsed_s'), 0)} s)"],
        ["Machine", f"{m.get('cpu_model', '–')}, {m.get('cores', '–')} cores, {m.get('ram_gb', '–')} GB RAM, kernel "
                    f"{m.get('kernel', '–')}; load average at start {fmt(load)}"],
        ["PostgreSQL", f"{pg.get('server_version', '–')} on loopback; fsync = **{pg.get('fsync', '–')}**, "
                       f"synchronous_commit = {pg.get('synchronous_commit', '–')}, shared_buffers = {pg.get('shared_buffers', '–')}"],
        ["Hub", f"commit {m.get('git_commit', '–')}, release build ({m.get('rustc', '–')}); retention clock "
                f"{fmt(cfg.get('retention_clock_offset_secs', 0) / 86400 if cfg.get('retention_clock_offset_secs') is not None else None, 0)} "
                f"days ahead, pause between steps {cfg.get('retention_batch_pause_ms', '–')} ms, scheduled sweep off"],
    ]))
    w("")
    targets = p.get("targets") or evaluate_privacy(p)
    met = sum(t["status"] == "MET" for t in targets)
    missed = sum(t["status"] == "NOT MET" for t in targets)
    w(f"{met} met, **{missed} not met**, {sum(t['status'] == 'NOT RUN' for t in targets)} not run.")
    w("")
    w(table(["Target", "Required", "Measured", "Status"], [
        [t["target"] + (f" <br>_{t['note']}_" if t.get("note") else ""), t["required"], t["measured"],
         f"**{t['status']}**" if t["status"] not in ("MET", "REPORTED") else t["status"]] for t in targets]))
    w("")

    subject = p.get("subject") or {}
    if subject:
        w("### Export and erasure of one subject")
        w("")
        reads = subject.get("audited_reads") or {}
        w(f"One person in a fresh institution, signed in with a local account. Their records: "
          f"{fmt(subject.get('consent_puts'))} consent changes of their own (`PUT /v1/me/consents`, four purposes "
          f"each: consent ledger records, and an audit entry by them each), and {fmt(reads.get('reads'))} reads of "
          f"their record by the institution's admin (`GET /v1/people/{{id}}`: each read is audited, naming them; "
          f"sent with wrk at {fmt(reads.get('connections'))} connections, {fmt(reads.get('reads_per_s'), 0)} reads/s). "
          + ("The person asks for the export and then the erasure (`POST /v1/me/privacy-requests`); "
             if subject.get("requests") == "self" else
             "The admin asks for the export and then the erasure on the person's behalf (`POST /v1/privacy-requests`, "
             "verified with the code mailed to the person: the wait for the mail is left out of the timings; "
             "`BENCH_PRIVACY_REQUESTS=self` has the person ask, see the note below); ")
          + "the admin approves, the request runs (polled every 20 ms). The person then takes a download link "
          "(`POST /v1/me/privacy-requests/{id}/download-link`) and the bundle is fetched with "
          "`GET /v1/privacy-downloads/{token}`, read as a stream (time to first byte = first body bytes). The "
          "gateway's VmRSS is sampled from `/proc` every 10 ms during the download.")
        w("")
        bundle = subject.get("bundle") or {}
        per = bundle.get("per_source") or {}
        if per:
            w("Records in the downloaded bundle, per source: " + ", ".join(f"{k} {fmt(v)}" for k, v in per.items())
              + f"; {fmt(bundle.get('total'))} in all.")
        elif bundle.get("note"):
            w(f"Bundle: {bundle['note']}.")
        w("")
        d = subject.get("download") or {}
        run = subject.get("export_run") or {}
        e = subject.get("erasure") or {}
        w(table(["Step", "Seconds", "Notes"], [
            ["export request → `complete` (assembled)", fmt(run.get("seconds"), 2), " → ".join(run.get("statuses", []))],
            ["download: first byte", fmt(d.get("ttfb_s"), 3), f"headers at {fmt(d.get('headers_s'), 3)} s; "
             f"{d.get('content_type', '–')}, transfer-encoding {d.get('transfer_encoding') or 'none'}"],
            ["download: total", fmt(d.get("total_s"), 3), f"{fmt(d.get('bytes'))} bytes; gateway VmRSS "
             f"{fmt(d.get('rss_before_mb'), 1)} MB before, {fmt(d.get('rss_peak_mb'), 1)} MB peak "
             f"({fmt(d.get('rss_samples'))} samples)"],
            ["erasure: submitted", fmt(e.get("submit_s"), 3), ""],
            ["erasure: approved", fmt(e.get("approved_s"), 3), "from submission"],
            ["erasure: `complete`", fmt(e.get("total_s"), 3), "from submission; " + " → ".join(e.get("statuses", []))
             + (f"; records per source: " + ", ".join(f"{k} {fmt(v)}" for k, v in (e.get("records") or {}).items())
                if e.get("records") else "")],
        ]))
        w("")
        for t in e.get("not_done") or []:
            w(f"Erasure task `{t.get('source')}`: {t.get('status')} after {t.get('attempts')} attempt(s): {t.get('error')}.")
            w("")
        if subject.get("requests") != "self":
            w("Why on the person's behalf by default: it is how an institution's privacy office files a request it "
              "received by other means. `BENCH_PRIVACY_REQUESTS=self` has the person ask instead "
              "(`POST /v1/me/privacy-requests`; their signed-in session verifies them, so no code). A self-made "
              "erasure failed its completeness scan on its own `submitted_by` until commit 8c34735 (found by this "
              "bench); `promise_r3_people_who_asked_or_decided_themselves_are_erased_from_the_requests_too` tests it.")
            w("")
    sw = p.get("sweep") or {}
    if sw:
        w("### Retention sweep")
        w("")
        seeding = sw.get("seeding") or {}
        w(f"{fmt(sw.get('tenants'))} institutions provisioned through the API (`bench/seed.py`, 2 courses each), one "
          f"person each, read {fmt(sw.get('expired_per_tenant'))} times by the admin (audited reads: each audit entry "
          f"holds the caller's IP, technical data with a 90-day period; {fmt(seeding.get('reads'))} reads at "
          f"{fmt(seeding.get('reads_per_s'), 0)}/s). The sweeper's clock runs {fmt(sw.get('clock_offset_days'), 0)} days "
          "ahead (`HUB_RETENTION_CLOCK_OFFSET_SECS`), so those IPs are past their period. Then one retention run per "
          "institution (`POST /v1/privacy/retention-runs`, followed to its end before the next, as the scheduler goes "
          f"through institutions), pause between steps {sw.get('batch_pause_ms', '–')} ms, while wrk reads "
          f"`GET /v1/courses/{{id}}` uniformly over those institutions at {fmt(sw.get('read_connections'))} connections. "
          "Idle: the same reads before the sweep (median of the runs"
          + (f"; the runs' p99: {' / '.join(fmt(v) for v in sw['idle_runs_p99_ms'])} ms" if sw.get("idle_runs_p99_ms") else "")
          + ").")
        w("")
        idle, during = sw.get("idle") or {}, sw.get("during") or {}
        w(table(["Reads", "req/s", "p50 ms", "p99 ms", "p99 vs idle", "errors"], [
            ["idle", fmt(idle.get("rps"), 0), fmt(idle.get("p50_ms")), fmt(idle.get("p99_ms")), "1.00", fmt(idle.get("errors"))],
            ["during the sweep", fmt(during.get("rps"), 0), fmt(during.get("p50_ms")), fmt(during.get("p99_ms")),
             fmt(ratio(during.get("p99_ms"), idle.get("p99_ms")), 2), fmt(during.get("errors"))],
        ]))
        w("")
        per = sw.get("per_source") or {}
        w(f"Sweep: {fmt(sw.get('records_expired'))} records expired in {fmt(sw.get('sweep_s'), 1)} s "
          f"({fmt(sw.get('records_per_s'), 0)} records/s), {fmt(sw.get('steps'))} steps, one run per institution "
          f"p50 {fmt(sw.get('run_s_p50'), 3)} s / max {fmt(sw.get('run_s_max'), 3)} s (including the polling), "
          f"{len(sw.get('failed') or [])} failed"
          + (". Per source/category: " + ", ".join(f"{k} {fmt(v)}" for k, v in per.items()) if per else "") + ".")
        w("")
    cmds = p.get("commands") or []
    if cmds:
        w("```sh")
        w(("BENCH_QUICK=1 " if p.get("quick") else "") + "BENCH_ONLY=privacy make bench   # this section alone; "
          f"settings: BENCH_PRIVACY_RECORDS={cfg.get('records')} BENCH_PRIVACY_CONSENTS={cfg.get('consent_records')} "
          f"BENCH_SWEEP_TENANTS={cfg.get('sweep_tenants')} BENCH_SWEEP_EXPIRED={cfg.get('sweep_expired_per_tenant')} "
          f"BENCH_SWEEP_CONNECTIONS={cfg.get('read_connections')} BENCH_PRIVACY_DURATION={cfg.get('duration_s')} "
          f"BENCH_RUNS={cfg.get('runs')}")
        for c in cmds:
            w(c)
        w("```")
        w("")
    w("Raw outputs: `bench/out/raw/privacy-*`; figures: key `privacy` of `bench/out/results.json`.")
    w(PRIVACY_END)
    w("")
    return "\n".join(out)


def splice_privacy(existing: str, section: str, begin: str = PRIVACY_BEGIN, end: str = PRIVACY_END) -> str:
    """`existing` with its section between `begin` and `end` replaced by `section` (appended
    when it has none)."""
    if begin in existing and end in existing:
        head, rest = existing.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        return head + section + ("\n" + tail if tail else "")
    return existing.rstrip("\n") + "\n\n" + section


# --- learning (issue 11) -----------------------------------------------------------------------

LEARNING_BEGIN = "<!-- learning bench (bench/learning.py): begin -->"
LEARNING_END = "<!-- learning bench (bench/learning.py): end -->"


def evaluate_learning(p: dict) -> list[dict]:
    targets: list[dict] = []
    tf = p.get("targets_from_issue") or {}
    want_rate = tf.get("ingest_statements_per_s", 10_000)
    want_ratio = tf.get("ingest_ratio_to_direct", 0.5)

    def add(name: str, required: str, measured: str, ok: bool | None, note: str = "") -> None:
        status = "NOT RUN" if ok is None else ("MET" if ok else "NOT MET")
        targets.append({"group": "learning", "target": name, "required": required, "measured": measured,
                        "status": status, "note": note})

    ing = p.get("ingest") or {}
    hub = (ing.get("hub") or {}).get("statements_per_s")
    direct = (ing.get("direct") or {}).get("statements_per_s")
    conns = ing.get("connections", "–")
    if ing.get("hub") and not ing["hub"].get("runs_answered", 1):
        hub = None  # no run got an answer: nothing measured, not a zero rate
    add(f"xAPI ingest, batches of {ing.get('batch', 50)}, {conns} connections: statements/s sustained",
        f"≥ {fmt(want_rate)} statements/s", f"{fmt(hub, 0)} statements/s" if hub is not None else
        "no batch answered within the runs", None if hub is None else hub >= want_rate)
    r = ing.get("ratio")
    add("xAPI ingest / PostgreSQL inserting the same rows directly (pgbench, same run)", f"≥ {want_ratio}",
        f"{fmt(r, 3)} ({fmt(hub, 0)} vs {fmt(direct, 0)} statements/s)", None if r is None else r >= want_ratio)
    rd = p.get("reads") or {}
    for name in ("agent", "activity"):
        q = rd.get(f"by_{name}") or {}
        answered = bool(q.get("requests"))
        targets.append({"group": "learning", "target": f"GET /xapi/statements by {name} over a tenant with "
                        f"{fmt(rd.get('statements'))} statements: p99",
                        "required": "reported (no number in the issue)",
                        "measured": (f"p99 {fmt(q.get('p99_ms'))} ms, p50 {fmt(q.get('p50_ms'))} ms, {fmt(q.get('rps'), 0)} req/s"
                                     if answered else "no request completed within the runs") if q else "–",
                        "status": ("REPORTED" if answered else "NOT MEASURED") if q else "NOT RUN", "note": ""})
    pr = p.get("progress") or {}
    g, c = pr.get("progress") or {}, pr.get("course") or {}
    targets.append({"group": "learning", "target": "progress read of a learner's course beside the course read",
                    "required": "reported (no number in the issue)",
                    "measured": f"{fmt(g.get('rps'), 0)} vs {fmt(c.get('rps'), 0)} req/s, p99 {fmt(g.get('p99_ms'))} vs "
                                f"{fmt(c.get('p99_ms'))} ms" if g and c else "–",
                    "status": "REPORTED" if g and c else "NOT RUN", "note": ""})
    return targets


def render_learning(p: dict) -> str:
    out: list[str] = []
    w = out.append
    m = p.get("machine", {})
    pg = m.get("postgres", {})
    cfg = p.get("config", {})
    w(LEARNING_BEGIN)
    w("## Learning records (issue 11): xAPI ingest, statement reads, progress")
    w("")
    w("Generated by `make bench` (every part) or `BENCH_ONLY=learning make bench` (this section alone), "
      f"`bench/learning.py` on the {p.get('profile', 'release')} gateway `bench/run.sh` starts. Seeding through the public API only.")
    w("")
    if p.get("profile", "release") != "release":
        w(f"> **{p['profile']} build** (`BENCH_PROFILE={p['profile']}`): a smoke run of the harness; "
          "these figures are not the product's.")
        w("")
    if p.get("quick"):
        w(f"> **Quick run** (`BENCH_QUICK=1`): {fmt(cfg.get('duration_s'))}-second runs and "
          f"{fmt(cfg.get('statements'))} statements instead of 1,000,000. The figures show that the harness "
          "works end to end; they are not the proof at the stated sizes.")
        w("")
    elif (cfg.get("statements") or 0) < 1_000_000:
        w(f"> **Smaller than the issue's size**: reads over {fmt(cfg.get('statements'))} statements (stated: 1,000,000).")
        w("")
    status = p.get("status", "unknown")
    if status != "complete":
        w(f"> **Run status: {status}.** The figures below are what was measured before it stopped.")
        w("")
    before, after = p.get("load_before") or [], p.get("load_after") or []
    load = before[0] if before else m.get("load_average_at_start")
    if load is not None and load > 0.5 * (m.get("cores") or 1):
        w(f"> Load average at start was {load:.2f} on {m.get('cores')} cores: other work was running on the "
          "machine, so absolute figures are noisy; the ratios are taken within one run.")
        w("")
    if m.get("bench_nice"):
        w(f"> Priority: PostgreSQL, Redis, the gateway, wrk and pgbench ran at nice {m['bench_nice']}, other work on "
          "the machine (builds) at nice 0, so the load average counts work that got little of the CPU while the "
          "bench was busy; when the bench waited (seeding, I/O) that work ran.")
        w("")
    w(table(["", ""], [
        ["Date (UTC)", f"{p.get('started_at', '–')} → {p.get('finished_at', '–')} ({fmt(p.get('elapsed_s'), 0)} s)"],
        ["Machine", f"{m.get('cpu_model', '–')}, nproc {m.get('nproc', m.get('cores', '–'))}, {m.get('ram_gb', '–')} GB RAM, "
                    f"kernel {m.get('kernel', '–')}; load average (1/5/15 min) before "
                    f"{' / '.join(fmt(v) for v in before) or '–'}, after {' / '.join(fmt(v) for v in after) or '–'}"],
        ["PostgreSQL", f"{pg.get('server_version', '–')} on loopback; fsync = **{pg.get('fsync', '–')}**, "
                       f"synchronous_commit = {pg.get('synchronous_commit', '–')}, shared_buffers = {pg.get('shared_buffers', '–')}"],
        ["Hub", f"commit {m.get('git_commit', '–')}, {p.get('profile', 'release')} build ({m.get('rustc', '–')})"],
    ]))
    w("")
    targets = p.get("targets") or evaluate_learning(p)
    met = sum(t["status"] == "MET" for t in targets)
    missed = sum(t["status"] == "NOT MET" for t in targets)
    w(f"{met} met, **{missed} not met**, {sum(t['status'] == 'NOT RUN' for t in targets)} not run"
      + (" (quick run: not the verdict at the stated sizes)" if p.get("quick") else "") + ".")
    w("")
    w(table(["Target", "Required", "Measured", "Status"], [
        [t["target"], t["required"], t["measured"],
         f"**{t['status']}**" if t["status"] not in ("MET", "REPORTED") else t["status"]] for t in targets]))
    w("")

    ing = p.get("ingest") or {}
    if ing:
        hub, direct, shape = ing.get("hub") or {}, ing.get("direct") or {}, ing.get("direct_shape") or {}
        w("### xAPI ingest vs PostgreSQL inserting the same rows")
        w("")
        w(f"One institution, one LRS credential (`POST /v1/lrs/credentials`, `statements/write` + `statements/read`). "
          f"wrk (`bench/wrk/xapi_ingest.lua`) POSTs `/xapi/statements` with HTTP Basic and "
          f"`X-Experience-API-Version: 1.0.3`, each request a batch of {fmt(ing.get('batch'))} distinct valid statements "
          f"(fresh UUIDs from a per-thread seed; actor name + mbox over {fmt(ing.get('agents'))} learners, verb with a "
          f"display, Activity object with a definition over {fmt(ing.get('activities'))} activities, result, context with "
          f"a registration and a parent course, timestamp), {fmt(ing.get('connections'))} connections, "
          f"{fmt(ing.get('runs'))} run(s) of {fmt(ing.get('duration_s'))} s after a short warm-up; statements/s = "
          f"{fmt(ing.get('batch'))} × 2xx responses/s (median of the runs).")
        w("")
        w(f"Direct insert, in the same run with the gateway idle: pgbench (`-f`, {fmt(ing.get('connections'))} clients, "
          f"same duration and runs) into copies of the tenant's three statement tables "
          "(`create table bench_direct.<t> (like <tenant schema>.<t> including all)`: same columns and indexes). "
          f"Each transaction inserts {fmt(ing.get('batch'))} statements under fresh ids with their index rows "
          f"({fmt(shape.get('agent_rows_per_statement'))} agent and {fmt(shape.get('activity_rows_per_statement'))} "
          f"activity rows a statement, as the gateway wrote them), taken from a pool of "
          f"{fmt(shape.get('pool_statements'))} rows the gateway ingested: the same sealed bytes "
          f"(statement {fmt(shape.get('statement_sealed_bytes_avg'))} B, actor {fmt(shape.get('actor_sealed_bytes_avg'))} B "
          "on average), so the sizes and their incompressibility are the gateway's.")
        w("")
        w(table(["", "statements/s", "per request / transaction", "p50 ms", "p99 ms", "non-2xx / failed"], [
            ["Hub `POST /xapi/statements`", fmt(hub.get("statements_per_s"), 0), f"{fmt(hub.get('batches_per_s'), 1)} requests/s",
             fmt(hub.get("p50_ms")), fmt(hub.get("p99_ms")), fmt(hub.get("non_2xx"))],
            ["PostgreSQL direct insert (pgbench)", fmt(direct.get("statements_per_s"), 0), f"{fmt(direct.get('tps'), 1)} tps",
             f"avg {fmt(direct.get('latency_avg_ms'))}", "–", fmt(direct.get("failed"))],
            ["ratio hub / direct", fmt(ing.get("ratio"), 3), "", "", "", ""],
        ]))
        w("")
        runs = ing.get("hub_runs") or []
        if runs:
            w("Runs (statements/s): hub " + " / ".join(fmt(r.get("statements_per_s"), 0) for r in runs)
              + "; direct " + " / ".join(fmt(r.get("statements_per_s"), 0) for r in ing.get("direct_runs") or [])
              + f". Load average before {' / '.join(fmt(v) for v in ing.get('load_before') or [])}, after "
              f"{' / '.join(fmt(v) for v in ing.get('load_after') or [])}.")
            w("")
        w("What the ratio leaves in the gateway's column and not in pgbench's: HTTP and JSON parsing, the validation "
          "of every statement, sealing under the tenant key and the blind indexes (crypto), the credential's "
          "authentication, the tenant's pool checkout, and two reads per batch in its transaction: the ids already "
          "stored (the conflict rule, Data 2.3.1.s9) and the actors' people by email blind index (`person_id`), "
          "then one multi-row insert per table (`crates/course/src/xapi/statements.rs`). The direct insert is one SQL "
          "statement per transaction (a CTE over the three tables), the cheapest way PostgreSQL takes the same rows.")
        w("")
    rd = p.get("reads") or {}
    if rd:
        w("### Statement reads at scale")
        w("")
        w(f"The ingest went on (unmeasured) until the tenant held {fmt(rd.get('statements'))} statements "
          f"({fmt(rd.get('seed_s'), 0)} s), then `analyze`. wrk (`bench/wrk/xapi_query.lua`) GETs "
          "`/xapi/statements?agent=<URL-encoded {\"mbox\": ...}>` or `?activity=<IRI>`, one of the "
          f"{fmt(rd.get('agents'))} learners / {fmt(rd.get('activities'))} activities drawn per request, limit "
          f"{rd.get('limit')} ({fmt(rd.get('page_statements'))} statements, {fmt(rd.get('page_bytes'))} bytes in one "
          f"answer), {fmt(rd.get('connections'))} connections, median of the runs.")
        w("")
        rows = []
        for name in ("agent", "activity"):
            q = rd.get(f"by_{name}") or {}
            rows.append([f"`GET /xapi/statements?{name}=…`", fmt(q.get("rps"), 0), fmt(q.get("p50_ms")), fmt(q.get("p99_ms")),
                         " / ".join(fmt(v) for v in q.get("runs_p99_ms") or []), fmt((q.get("errors") or 0) + (q.get("non_2xx") or 0))])
        w(table(["Query", "req/s", "p50 ms", "p99 ms", "p99 per run", "errors / non-2xx"], rows))
        w("")
    pr = p.get("progress") or {}
    if pr:
        w("### Progress read beside the course read")
        w("")
        w(f"A course of {fmt(pr.get('modules'))} modules × {fmt(pr.get('lessons_per_module'))} lessons (the last of "
          f"each module optional), a learner signed in (local account, reset code from the mail directory), enrolled, "
          f"{fmt(pr.get('completed'))} lessons completed and some started ({fmt(pr.get('percent'))} %). wrk "
          "(`bench/wrk/get_path.lua`) GETs `/v1/me/courses/{id}/progress` with the learner's session and "
          f"`/v1/courses/{{id}}` with the {pr.get('course_read_token')}, {fmt(pr.get('connections'))} connections, "
          "runs interleaved, median of the runs.")
        w("")
        g, c = pr.get("progress") or {}, pr.get("course") or {}
        w(table(["Read", "req/s", "p50 ms", "p99 ms", "p99 per run", "errors / non-2xx"], [
            ["`GET /v1/me/courses/{id}/progress`", fmt(g.get("rps"), 0), fmt(g.get("p50_ms")), fmt(g.get("p99_ms")),
             " / ".join(fmt(v) for v in g.get("runs_p99_ms") or []), fmt((g.get("errors") or 0) + (g.get("non_2xx") or 0))],
            ["`GET /v1/courses/{id}`", fmt(c.get("rps"), 0), fmt(c.get("p50_ms")), fmt(c.get("p99_ms")),
             " / ".join(fmt(v) for v in c.get("runs_p99_ms") or []), fmt((c.get("errors") or 0) + (c.get("non_2xx") or 0))],
            ["progress / course", fmt(pr.get("rps_ratio"), 3), "", fmt(ratio(g.get("p99_ms"), c.get("p99_ms")), 2), "", ""],
        ]))
        w("")
    cmds = p.get("commands") or []
    if cmds:
        w("```sh")
        w(("BENCH_QUICK=1 " if p.get("quick") else "") + "BENCH_ONLY=learning make bench   # this section alone; "
          f"settings: BENCH_XAPI_STATEMENTS={cfg.get('statements')} BENCH_XAPI_BATCH={cfg.get('batch')} "
          f"BENCH_LEARNING_CONNECTIONS={cfg.get('connections')} BENCH_XAPI_AGENTS={cfg.get('agents')} "
          f"BENCH_XAPI_ACTIVITIES={cfg.get('activities')} BENCH_DURATION={cfg.get('duration_s')} BENCH_RUNS={cfg.get('runs')}")
        for line in cmds:
            w(line)
        w("```")
        w("")
    w("Raw outputs: `bench/out/raw/learning-*`; figures: key `learning` of `bench/out/results.json`.")
    w(LEARNING_END)
    w("")
    return "\n".join(out)

# --- billing (issue 12) ------------------------------------------------------------------------

BILLING_BEGIN = "<!-- billing bench (bench/billing.py): begin -->"
BILLING_END = "<!-- billing bench (bench/billing.py): end -->"


def evaluate_billing(p: dict) -> list[dict]:
    targets: list[dict] = []
    want = (p.get("targets_from_issue") or {}).get("webhook_ack_p99_ms", 50)
    wh = p.get("webhooks") or {}
    ack, proc, check = wh.get("ack") or {}, wh.get("processing") or {}, wh.get("check") or {}

    def add(name: str, required: str, measured: str, status: str) -> None:
        targets.append({"group": "billing", "target": name, "required": required, "measured": measured,
                        "status": status, "note": ""})

    p99 = ack.get("p99_ms")
    add(f"Stripe webhook acknowledgement, {fmt(wh.get('deliveries'))} signed deliveries "
        f"({fmt(wh.get('duplicates_sent'))} duplicates), {fmt(wh.get('connections'))} connections: p99",
        f"< {fmt(want)} ms", f"p99 {fmt(p99)} ms, p50 {fmt(ack.get('p50_ms'))} ms" if p99 is not None else "–",
        "NOT RUN" if p99 is None else ("MET" if p99 < want else "NOT MET"))
    add("webhook processing: events applied per second until none is pending",
        "reported (no number in the issue)",
        f"{fmt(proc.get('events_per_s'))} events/s ({fmt(proc.get('events_to_apply'))} events in "
        f"{fmt(proc.get('seconds_from_first_delivery'))} s)" if proc else "–", "REPORTED" if proc else "NOT RUN")
    add("final records (payments, refunds, enrollments) equal Stripe's state after duplicates and shuffling",
        "no difference", (f"{fmt(check.get('differences'))} differences over {fmt(check.get('payments_compared'))} "
                          "payments" + ("" if check.get("ok") else "; checks failed: " + ", ".join(
                              k for k, v in (check.get("checks") or {}).items() if not v))) if check else "–",
        "NOT RUN" if not check else ("MET" if check.get("ok") else "NOT MET"))
    hi = p.get("history") or {}
    for key, label in (("list", "finance's payment list (cursor pages of 50)"),
                       ("list_succeeded_eur", "finance's payment list, status=succeeded&currency=eur")):
        q = hi.get(key) or {}
        add(f"{label} over {fmt((hi.get('seed') or {}).get('rows'))} payments", "reported (no number in the issue)",
            f"{fmt(q.get('rps'), 0)} req/s, p50 {fmt(q.get('p50_ms'))} ms, p99 {fmt(q.get('p99_ms'))} ms" if q else "–",
            "REPORTED" if q.get("requests") else "NOT RUN")
    ex = hi.get("export") or {}
    add("CSV export of every payment, streamed: time, and the gateway's RSS growth during it",
        "reported; memory bounded (streaming)",
        f"{fmt(ex.get('rows'))} rows, {fmt(ex.get('bytes'))} B in {fmt(ex.get('seconds'))} s; RSS growth at most "
        f"{fmt(ex.get('rss_growth_mib_max'))} MiB" if ex else "–", "REPORTED" if ex else "NOT RUN")
    return targets


def render_billing(p: dict) -> str:
    out: list[str] = []
    w = out.append
    m = p.get("machine", {})
    pg = m.get("postgres", {})
    cfg = p.get("config", {})
    w(BILLING_BEGIN)
    w("## Billing (issue 12): Stripe webhook replay, finance's history and export")
    w("")
    w("Generated by `make bench` (every part) or `BENCH_ONLY=billing make bench` (this section alone), "
      f"`bench/billing.py` on the {p.get('profile', 'release')} gateway `bench/run.sh` starts, against localstripe "
      f"{m.get('localstripe') or ''} (the pinned Stripe emulator) behind the project's Stripe front "
      "(`tests/stripe/stripe_front.py`), both on loopback, as the billing tests run them.")
    w("")
    if p.get("profile", "release") != "release":
        w(f"> **{p['profile']} build** (`BENCH_PROFILE={p['profile']}`): a smoke run of the harness; "
          "these figures are not the product's.")
        w("")
    if p.get("quick"):
        w(f"> **Quick run** (`BENCH_QUICK=1`): {fmt(cfg.get('events'))} deliveries and {fmt(cfg.get('history_rows'))} "
          f"payments instead of 10,000 and 100,000, {fmt(cfg.get('duration_s'))}-second runs. The figures show that "
          "the harness works end to end; they are not the proof at the stated sizes.")
        w("")
    status = p.get("status", "unknown")
    if status != "complete":
        w(f"> **Run status: {status}.** The figures below are what was measured before it stopped.")
        w("")
    before, after = p.get("load_before") or [], p.get("load_after") or []
    load = before[0] if before else m.get("load_average_at_start")
    if load is not None and load > 0.5 * (m.get("cores") or 1):
        w(f"> Load average at start was {load:.2f} on {m.get('cores')} cores: other work was running on the "
          "machine (builds), so absolute figures are noisy.")
        w("")
    if m.get("bench_nice"):
        w(f"> Priority: PostgreSQL, Redis, the gateway and wrk ran at nice {m['bench_nice']}.")
        w("")
    w(table(["", ""], [
        ["Date (UTC)", f"{p.get('started_at', '–')} → {p.get('finished_at', '–')} ({fmt(p.get('elapsed_s'), 0)} s)"],
        ["Machine", f"{m.get('cpu_model', '–')}, nproc {m.get('nproc', m.get('cores', '–'))}, {m.get('ram_gb', '–')} GB RAM, "
                    f"kernel {m.get('kernel', '–')}; load average (1/5/15 min) before "
                    f"{' / '.join(fmt(v) for v in before) or '–'}, after {' / '.join(fmt(v) for v in after) or '–'}"],
        ["PostgreSQL", f"{pg.get('server_version', '–')} on loopback; fsync = **{pg.get('fsync', '–')}**, "
                       f"synchronous_commit = {pg.get('synchronous_commit', '–')}, shared_buffers = {pg.get('shared_buffers', '–')}"],
        ["Hub", f"commit {m.get('git_commit', '–')}, {p.get('profile', 'release')} build ({m.get('rustc', '–')}); "
                f"billing_poll_ms {cfg.get('billing_poll_ms', 'default')}"],
    ]))
    w("")
    targets = p.get("targets") or evaluate_billing(p)
    met = sum(t["status"] == "MET" for t in targets)
    missed = sum(t["status"] == "NOT MET" for t in targets)
    w(f"{met} met, **{missed} not met**, {sum(t['status'] == 'NOT RUN' for t in targets)} not run"
      + (" (quick run: not the verdict at the stated sizes)" if p.get("quick") else "") + ".")
    w("")
    w(table(["Target", "Required", "Measured", "Status"], [
        [t["target"], t["required"], t["measured"],
         f"**{t['status']}**" if t["status"] not in ("MET", "REPORTED") else t["status"]] for t in targets]))
    w("")

    wh = p.get("webhooks") or {}
    if wh:
        ack, proc, check = wh.get("ack") or {}, wh.get("processing") or {}, wh.get("check") or {}
        objs = wh.get("objects") or {}
        w("### Webhook replay")
        w("")
        w(f"One institution with its Stripe account connected; the learner bought {fmt(wh.get('payments'))} priced "
          "courses for real (`POST /v1/me/purchases` with `pm_card_visa`: a customer and a confirmed PaymentIntent at "
          "Stripe on the connected account), then a third of the payments were partly refunded and a third fully (two "
          "refunds) directly at Stripe, as from its dashboard; no webhook endpoint was registered at localstripe, so "
          f"the gateway learnt of nothing by itself. From those objects ({fmt(objs.get('payment_intents'))} "
          f"PaymentIntents, {fmt(objs.get('charges'))} charges, {fmt(objs.get('refunds'))} refunds) "
          f"{fmt(wh.get('distinct_events'))} distinct events were built (Stripe's example event with the object as "
          "Stripe holds it, `account` set), several per object: "
          + ", ".join(f"{k} {fmt(v)}" for k, v in sorted((wh.get("event_types") or {}).items()))
          + f"; plus {fmt(wh.get('duplicates_sent'))} duplicates ({fmt(100 * (wh.get('duplicate_share') or 0), 0)} % "
          f"of the {fmt(wh.get('deliveries'))} deliveries), shuffled with seed {wh.get('seed')}. Bodies "
          f"{fmt(wh.get('body_bytes_avg'))} B on average (compact JSON). Each was signed as Stripe signs "
          "(`Stripe-Signature: t=<now>,v1=<HMAC-SHA256 of \"t.body\">`) by the driver just before sending (LuaJIT has "
          "no HMAC; the gateway accepts 300 s), and wrk (`bench/wrk/stripe_webhooks.lua`, one connection per "
          "thread) sent every line once, in the shuffled order.")
        w("")
        w(table(["Figure", "Value"], [
            ["deliveries answered 2xx / other / transport errors",
             f"{fmt(ack.get('ok'))} / {fmt(ack.get('non_2xx'))} / {fmt(ack.get('errors'))}"],
            ["answered `\"duplicate\": true`", f"{fmt(ack.get('duplicate_answers'))} (sent: {fmt(wh.get('duplicates_sent'))})"],
            ["acknowledgement latency p50 / p90 / p99 / max",
             f"{fmt(ack.get('p50_ms'))} / {fmt(ack.get('p90_ms'))} / {fmt(ack.get('p99_ms'))} / {fmt(ack.get('max_ms'))} ms"],
            ["all acknowledged after", f"{fmt(ack.get('seconds'))} s ({fmt(ack.get('deliveries_per_s'))} deliveries/s)"],
            ["inbox empty of `pending` after (from the first delivery)",
             f"{fmt(proc.get('seconds_from_first_delivery'))} s ({fmt(proc.get('after_last_ack_s'))} s after the last "
             "acknowledgement)"],
            ["processing throughput", f"**{fmt(proc.get('events_per_s'))} events/s** "
                                      f"({fmt(proc.get('events_to_apply'))} events applied)"],
            ["inbox rows of the run / states", f"{fmt(wh.get('inbox_rows_of_this_run'))} / " + ", ".join(
                f"{k} {fmt(v)}" for k, v in sorted((wh.get("inbox_states") or {}).items()))],
            ["events that needed more than one attempt", fmt(wh.get("attempts_above_one"))],
            ["records vs Stripe before the replay", f"{fmt((wh.get('before_replay') or {}).get('differences_from_stripe'))} "
                                                     "differences (nothing applied yet: the check can fail)"],
            ["records vs Stripe after", f"**{fmt(check.get('differences'))} differences** over "
                                        f"{fmt(check.get('payments_compared'))} payments; learner enrolled in "
                                        f"{fmt(check.get('enrolled'))} (expected {fmt(check.get('expected_enrolled'))})"],
        ]))
        w("")
        w("Processing applies each event by fetching its object again from Stripe (here: the front, then "
          "localstripe, single-threaded Python) and writing Stripe's current state (`crates/billing/src/sync.rs`); "
          "the rate therefore includes those round trips, one event after another. The check compares what finance "
          "reads through the API (`GET /v1/billing/payments`: status, amount refunded, charge, card; "
          "`GET /v1/billing/refunds`: each refund's Stripe id, amount and status; the payment's enrollment and the "
          "learner's `GET /v1/me/enrollments`) with " + (check.get("compared_with") or "Stripe's state") + ".")
        w("")
        for name, ok in (check.get("checks") or {}).items():
            w(f"- {'✓' if ok else '✗ **failed**:'} {name}")
        if check.get("examples"):
            w("")
            w("Differences (first ones): " + "; ".join(f"`{e}`" for e in check["examples"]))
        w("")

    hi = p.get("history") or {}
    if hi:
        seed, ex = hi.get("seed") or {}, hi.get("export") or {}
        w("### History and export")
        w("")
        w(f"The same institution with {fmt(seed.get('rows'))} payments: the purchases above plus "
          f"{fmt(seed.get('seeded'))} rows seeded with one `COPY` into the tenant's `billing_payments` in "
          f"{fmt(seed.get('seed_s'))} s, shaped as a purchase's row (course title, 49.00, Stripe ids of the same "
          "lengths, 80 % succeeded, 10 % partly refunded, 5 % refunded, 5 % unpaid, 90 % EUR / 10 % GBP, over a year) "
          "with the card sealed as the gateway seals it (AES-256-GCM under the tenant's data key, bound to the row, "
          f"`bench/sealing.py`; {fmt(seed.get('card_sealed_bytes_seeded_avg'))} B on average, a real purchase's "
          f"{fmt(seed.get('card_sealed_bytes_real'))} B, which opened with the same key first). The gateway opens every "
          "card it lists or exports, so a wrong seal would have failed the run. wrk "
          f"(`bench/wrk/get_paths.lua`) reads pages of 50 drawn from every cursor of a walk through the list, "
          f"{fmt(hi.get('runs'))} × {fmt(hi.get('duration_s'))} s at {fmt(hi.get('connections'))} connections, with "
          "finance's session (each call is audited, naming the payments read).")
        w("")
        rows = []
        for key, label in (("list", "`GET /v1/billing/payments?limit=50&cursor=…`"),
                           ("list_succeeded_eur", "`GET /v1/billing/payments?status=succeeded&currency=eur&limit=50&cursor=…`")):
            q = hi.get(key) or {}
            if q:
                rows.append([label, fmt(q.get("pages")), fmt(q.get("rps"), 0), fmt(q.get("p50_ms")), fmt(q.get("p99_ms")),
                             " / ".join(fmt(v) for v in q.get("runs_p99_ms") or []),
                             fmt((q.get("errors") or 0) + (q.get("non_2xx") or 0))])
        w(table(["Read", "pages", "req/s", "p50 ms", "p99 ms", "p99 per run", "errors / non-2xx"], rows))
        w("")
        if ex:
            w(f"CSV export (`GET /v1/billing/payments/export`, every payment), read as a stream end to end, "
              f"{len(ex.get('runs') or [])} runs; the gateway's RSS (VmRSS, `/proc/<pid>/status`) sampled every 10 ms:")
            w("")
            w(table(["Run", "rows", "bytes", "seconds", "first byte s", "rows/s", "RSS before MiB", "RSS peak MiB",
                     "growth MiB"], [
                [str(i), fmt(r.get("rows")), fmt(r.get("bytes")), fmt(r.get("seconds"), 3), fmt(r.get("ttfb_s"), 3),
                 fmt(r.get("rows_per_s")), fmt(r.get("rss_before_mib")), fmt(r.get("rss_peak_mib")),
                 fmt(r.get("rss_growth_mib"))] for i, r in enumerate(ex.get("runs") or [], start=1)]))
            w("")
            w(f"Rows checked: every run's rows and distinct payment ids equal the table's {fmt(ex.get('rows_checked'))}; "
              f"peak RSS growth **{fmt(ex.get('rss_growth_mib_max'))} MiB** for {fmt(ex.get('bytes'))} B of CSV.")
            w("")
    cmds = p.get("commands") or []
    if cmds:
        w("```sh")
        w(("BENCH_QUICK=1 " if p.get("quick") else "") + "BENCH_ONLY=billing make bench   # this section alone; "
          f"settings: BENCH_BILLING_EVENTS={cfg.get('events')} BENCH_BILLING_PAYMENTS={cfg.get('payments')} "
          f"BENCH_BILLING_HISTORY_ROWS={cfg.get('history_rows')} BENCH_BILLING_CONNECTIONS={cfg.get('connections')} "
          f"BENCH_BILLING_SEED={cfg.get('seed')} BENCH_DURATION={cfg.get('duration_s')} BENCH_RUNS={cfg.get('runs')}")
        for line in cmds:
            w(line)
        w("```")
        w("")
    w("Raw outputs: `bench/out/raw/billing-*`; figures: key `billing` of `bench/out/results.json`.")
    w(BILLING_END)
    w("")
    return "\n".join(out)


# --- rendering --------------------------------------------------------------------------------


def render(results: dict, elapsed: str | None) -> str:
    out: list[str] = []
    w = out.append
    m = results.get("machine", {})
    pg = m.get("postgres", {})
    cfg = results.get("config", {})
    status = results.get("status", "unknown")
    quick = results.get("quick")
    steps = results.get("steps", [])
    conns = [str(c) for c in cfg.get("connections", [16, 64])]

    w("# Benchmarks")
    w("")
    w("Generated by `make bench` (`bench/run.sh` → `bench/bench.py` → `bench/report.py` from "
      "`bench/out/results.json`). Issue 3: the scale proof of the tenant scope.")
    w("")
    if quick:
        w("> **Quick run** (`BENCH_QUICK=1`): few tenants and 3-second runs. The figures show that the "
          "harness works end to end; they are not the scale proof. Targets stated for 10,000 tenants "
          "are evaluated at the largest count of this run and say so.")
        w("")
    if status != "complete":
        w(f"> **Run status: {status}.** The figures below are what was measured before it stopped.")
        w("")
    if (m.get("load_average_at_start") or 0) > 0.5 * (m.get("cores") or 1):
        w(f"> Load average at start was {m['load_average_at_start']:.2f} on {m.get('cores')} cores: other work "
          "was running on the machine, so absolute figures are noisy; ratios taken within one run are "
          "more robust than the absolute numbers.")
        w("")

    w("## Machine")
    w("")
    w(table(["", ""], [
        ["Date (UTC)", f"{results.get('started_at', '–')} → {results.get('finished_at', '–')}"
                       + (f" ({int(elapsed) // 60} min {int(elapsed) % 60} s wall clock)" if elapsed else "")],
        ["CPU", f"{m.get('cpu_model', '–')}, {m.get('cores', '–')} cores"],
        ["RAM", f"{m.get('ram_gb', '–')} GB"],
        ["Kernel", m.get("kernel", "–")],
        ["PostgreSQL", f"{pg.get('server_version', '–')} on loopback; fsync = **{pg.get('fsync', '–')}**, "
                       f"synchronous_commit = {pg.get('synchronous_commit', '–')}, shared_buffers = "
                       f"{pg.get('shared_buffers', '–')}, max_connections = {pg.get('max_connections', '–')}"],
        ["Load generators", f"{m.get('wrk', '–')}; {m.get('pgbench', '–')}"],
        ["Hub", f"commit {m.get('git_commit', '–')}, release build ({m.get('rustc', '–')}), pool of "
                f"{cfg.get('hub_env', {}).get('HUB_DATABASE_MAX_CONNECTIONS', '32 (default)')} connections, "
                "Redis rate limiting (limits raised)"],
        ["Method", f"{cfg.get('runs', '–')} runs × {cfg.get('duration_s', '–')} s per figure, medians reported "
                   f"(each figure's own median); wrk {cfg.get('wrk_threads', 2)} threads; "
                   f"{cfg.get('courses_per_tenant', '–')} courses per tenant; runs interleaved"],
    ]))
    w("")

    targets = results.get("targets", [])
    w("## Targets")
    w("")
    met = sum(t["status"] == "MET" for t in targets)
    missed = sum(t["status"] == "NOT MET" for t in targets)
    not_run = sum(t["status"] == "NOT RUN" for t in targets)
    w(f"{met} met, **{missed} not met**, {not_run} not run.")
    w("")
    w(table(["Area", "Target", "Required", "Measured", "Status"], [
        [t["group"], t["target"] + (f" <br>_{t['note']}_" if t.get("note") else ""), t["required"], t["measured"],
         f"**{t['status']}**" if t["status"] != "MET" else t["status"]] for t in targets]))
    w("")

    # Full-stack read.
    w("## Full-stack read: hub vs PostgreSQL's ceiling vs the Django peer")
    w("")
    w("Hub: API-key auth (key and tenant lookup), per-key and per-IP rate limiting in Redis, the tenant "
      "read scope (`BEGIN`; `SET TRANSACTION READ ONLY; SET LOCAL search_path` in one message; `SELECT …`; "
      "the `ROLLBACK` goes out after the answer, with the pool's check of the returned connection), JSON. pgbench: `pgbench -S -M prepared` "
      f"(scale {cfg.get('pgbench_scale', '–')}) at the same client counts, the database's own ceiling. Peer: "
      "Django REST Framework + django-tenants under gunicorn, same database, same rows, tenant from the "
      "`Host` header, no authentication. Medians; latency in ms.")
    w("")
    for step in steps:
        if not step.get("hub"):
            continue
        n = step["tenants"]
        w(f"### {n:,} tenant{'s' if n != 1 else ''}")
        w("")
        if step.get("note"):
            w(f"_{step['note']}._")
            w("")
        rows = []
        for endpoint, label in ENDPOINTS.items():
            for dist in step["hub"].get(endpoint, {}):
                for c in conns:
                    h = cell(step, endpoint, dist, c)
                    if not h:
                        continue
                    p = step.get("pgbench", {}).get(c, {}).get("median") or {}
                    pe = peer_cell(step, endpoint, dist, c)
                    rows.append([label, DISTS.get(dist, dist), c, fmt(h["rps"], 0), fmt(h["p50_ms"]), fmt(h["p99_ms"]),
                                 fmt(h["errors"]), fmt(p.get("rps"), 0), fmt(ratio(h["rps"], p.get("rps")), 3),
                                 fmt(pe and pe["rps"], 0), fmt(pe and pe["p50_ms"]), fmt(pe and pe["p99_ms"]),
                                 fmt(ratio(h["rps"], pe and pe["rps"]), 2)])
        w(table(["Read", "Tenant choice", "Conns", "Hub req/s", "p50", "p99", "Errors", "pgbench tps", "hub/pgbench",
                 "Peer req/s", "Peer p50", "Peer p99", "hub/peer"], rows))
        w("")
        pgrows = [[c, fmt(v["median"]["rps"], 0), fmt(v["median"]["p50_ms"], 3), fmt(v["median"]["p99_ms"], 3)]
                  for c, v in step.get("pgbench", {}).items() if "median" in v]
        if pgrows:
            w("pgbench -S -M prepared: " + "; ".join(f"{r[0]} clients {r[1]} tps (p50 {r[2]} ms, p99 {r[3]} ms)"
                                                       for r in pgrows) + ".")
            w("")
        scope = step.get("scope_pgbench") or {}
        srows = []
        for dist, cells in scope.items():
            for c in conns:
                sc = (cells.get(c) or {}).get("median")
                h = cell(step, "get", dist, c)
                if sc:
                    srows.append([DISTS.get(dist, dist), c, fmt(sc["rps"], 0), fmt(sc["p50_ms"], 3), fmt(sc["p99_ms"], 3),
                                  fmt(h and h["rps"], 0), fmt(ratio(h and h["rps"], sc["rps"]), 3)])
        if srows:
            w("The hub's database work alone (pgbench, custom script `bench/out/run/scope-<dist>.sql`: `BEGIN`; "
              "`set_config('transaction_read_only', 'on', true)` and `set_config('search_path', <tenant schema>, true)`; "
              "the prepared primary-key select of a course; `ROLLBACK` — the read scope's statements without the "
              "gateway, auth or Redis; pgbench waits for the `ROLLBACK`, which the hub sends after answering):")
            w("")
            w(table(["Tenant choice", "Clients", "DB-only tps", "p50", "p99", "Hub GET by id req/s", "hub / DB-only"], srows))
            w("")
        peer = step.get("peer", {})
        if peer.get("status") != "ok":
            w(f"Peer: **{peer.get('status', 'not run')}**.")
            w("")

    # Tenant count.
    base = next((s for s in steps if s.get("tenants") == 1 and s.get("hub")), None)
    if base and len([s for s in steps if s.get("hub")]) > 1:
        w("## Tenant count: p50 at N tenants vs at 1")
        w("")
        w("Same read, same database grown step by step. Targets at 10,000: ≤ 1.5 × under uniform, ≤ 1.2 × under Zipf.")
        w("")
        rows = []
        for step in steps:
            if step is base or not step.get("hub"):
                continue
            for dist in ("uniform", "zipf"):
                for endpoint, label in ENDPOINTS.items():
                    for c in conns:
                        big, one = cell(step, endpoint, dist, c), cell(base, endpoint, dist, c)
                        if not big or not one:
                            continue
                        rows.append([f"{step['tenants']:,}", DISTS[dist], label, c, fmt(one["p50_ms"]), fmt(big["p50_ms"]),
                                     fmt(ratio(big["p50_ms"], one["p50_ms"]), 2), fmt(one["p99_ms"]), fmt(big["p99_ms"]),
                                     fmt(ratio(big["rps"], one["rps"]), 2)])
        w(table(["N", "Tenant choice", "Read", "Conns", "p50 at 1", "p50 at N", "p50 N/1", "p99 at 1", "p99 at N",
                 "req/s N/1"], rows))
        w("")
        srows = []
        for step in steps:
            if step is base or not step.get("scope_pgbench"):
                continue
            for dist in ("uniform", "zipf"):
                for c in conns:
                    big = ((step["scope_pgbench"].get(dist) or {}).get(c) or {}).get("median")
                    one = (((base.get("scope_pgbench") or {}).get("uniform") or {}).get(c) or {}).get("median")
                    if big and one:
                        srows.append([f"{step['tenants']:,}", DISTS[dist], c, fmt(one["rps"], 0), fmt(big["rps"], 0),
                                      fmt(ratio(big["rps"], one["rps"]), 2), fmt(one["p50_ms"], 3), fmt(big["p50_ms"], 3),
                                      fmt(ratio(big["p50_ms"], one["p50_ms"]), 2)])
        if srows:
            w("PostgreSQL alone, the same database work (see above), at N tenants vs 1: what the database "
              "itself loses to more schemas, apart from the gateway.")
            w("")
            w(table(["N", "Tenant choice", "Clients", "tps at 1", "tps at N", "tps N/1", "p50 at 1", "p50 at N", "p50 N/1"], srows))
            w("")
        zipf_runs = [r for s in steps if s.get("tenants", 1) > 1
                     for r in s["hub"].get("get", {}).get("zipf", {}).get(conns[0], {}).get("runs", [])[:1]]
        if zipf_runs:
            w("Zipf parameters (rank-k weight k^-s): " + "; ".join(
                f"{r['tenants']:,} tenants: s = {r['zipf_s']:.3f}, hottest {r['hot_tenants']} get "
                f"{100 * r['hot_share']:.0f} %" for r in zipf_runs) + ".")
            w("")

    # Before/after of the mechanisms.
    ab = results.get("mechanism")
    if ab and ab.get("cells"):
        w(f"## Before/after: connection lanes and write-behind rate limits ({ab['tenants']:,} tenants)")
        w("")
        w("A fresh gateway per variant on the same database and Redis, each with one setting changed, "
          "started, warmed up and loaded in turn (one at a time beside the main gateway, for PostgreSQL's "
          "100 connections); GET /v1/courses/{id}. Medians; latency in ms.")
        w("")
        names = [v["name"] for v in ab["variants"]]
        for v in ab["variants"]:
            shown = ", ".join(f"`{k}={val}`" for k, val in v["settings"].items())
            w(f"- **{v['name']}**: {v['description']} ({shown}).")
        w("")
        rows = []
        for dist, per_c in ab["cells"].items():
            for c, per_variant in per_c.items():
                medians = {n: (per_variant.get(n) or {}).get("median") for n in names}
                if not all(medians.values()):
                    continue
                first = medians[names[0]]
                row = [DISTS[dist], c]
                for n in names:
                    m = medians[n]
                    row += [fmt(m["rps"], 0), fmt(m["p50_ms"]), fmt(m["p99_ms"])]
                last = medians[names[-1]]
                row += [fmt(ratio(last["rps"], first["rps"]), 2), fmt(ratio(last["p99_ms"], first["p99_ms"]), 2)]
                rows.append(row)
        headers = ["Tenant choice", "Conns"]
        for n in names:
            headers += [f"{n} req/s", f"{n} p50", f"{n} p99"]
        headers += [f"req/s {names[-1]}/{names[0]}", f"p99 {names[-1]}/{names[0]}"]
        w(table(headers, rows))
        w("")
        mem = ab.get("memory") or {}
        if mem:
            mrows = [[n, str(m.get("hub_backends_seen")), fmt(m.get("backend_anon_mb_max"), 1),
                      fmt(m.get("backend_anon_mb_median_of_max"), 1), fmt(m.get("backend_anon_mb_sum_max"), 1),
                      fmt((m.get("gateway_rss_mb") or {}).get("max"), 1)]
                     for n in names if (m := mem.get(n))]
            w("PostgreSQL backends of each variant over its part of the run (private memory, RssAnon: "
              "catalog, relation and plan caches):")
            w("")
            w(table(["Variant", "Backends seen", "Max per backend MB", "Median backend MB",
                     "Max sum MB", "Gateway RSS max MB"], mrows))
            w("")

    # Provisioning.
    prov = results.get("provisioning", {})
    if prov.get("steps") or prov.get("probe"):
        w("## Provisioning")
        w("")
        w(f"Through the public API (`POST /v1/tenants` with an operator key: schema, tables, keys, profile, first "
          f"admin key, one transaction), client-side latency, fsync = {pg.get('fsync', '–')}.")
        w("")
        rows = []
        for s in prov.get("steps", []):
            lat = s.get("provision_latency", {})
            cl = s.get("course_create_latency", {})
            if not s.get("new_tenants"):
                continue
            rows.append([f"{s['from']:,} → {s['to']:,}", f"bulk, {s['concurrency']} in flight", fmt(s["elapsed_s"], 1),
                         fmt(s.get("tenants_per_s"), 1), fmt(lat.get("p50_ms")), fmt(lat.get("p99_ms")),
                         fmt(lat.get("max_ms")), f"{fmt(s['new_courses'])} ({fmt(cl.get('p50_ms'))} / {fmt(cl.get('p99_ms'))} ms)"])
        p = prov.get("probe")
        if p:
            lat = p.get("provision_latency", {})
            rows.append([f"+{p.get('new_tenants', 0)} with {fmt(p.get('existing_tenants'))} existing", "one at a time",
                         fmt(p.get("elapsed_s"), 1), fmt(p.get("tenants_per_s"), 1), fmt(lat.get("p50_ms")),
                         fmt(lat.get("p99_ms")), fmt(lat.get("max_ms")), "–"])
        w(table(["Tenants", "Mode", "Seconds", "Tenants/s", "p50 ms", "p99 ms", "max ms",
                 "Courses created (p50 / p99 ms)"], rows))
        w("")

    # Migration.
    mig = results.get("migration")
    if mig:
        w("## Migration over all tenants")
        w("")
        w(f"{fmt(mig.get('tenants'))} tenants. No tenant migration is pending in this code, so two things are timed, "
          "labelled apart: (1) `hub migrate` as shipped — a **no-op pass** that opens each tenant's scope, "
          "checks its migration table and records its version, one tenant after another; (2) a realistic "
          "**additive DDL** applied per tenant schema by `bench/ddl_pass.py` — `ALTER TABLE t_<id>.courses "
          "ADD COLUMN IF NOT EXISTS bench_extra text` in batches of schemas per transaction, several sessions in "
          "parallel, lock_timeout 2 s with retry — then dropped again. Reads (GET by id, uniform) run during each.")
        w("")
        read = mig.get("read", {})
        idle = read.get("idle") or {}
        rows = [["idle (median of runs)", "–", fmt(idle.get("rps"), 0), fmt(idle.get("p50_ms")), fmt(idle.get("p99_ms")),
                 "1.00", fmt(idle.get("errors"))]]
        for key, label, src in (("during_hub_migrate", "`hub migrate` (no-op pass)", mig.get("hub_migrate", {})),
                                ("during_ddl_add", "additive DDL: add column", mig.get("ddl_add", {})),
                                ("during_ddl_drop", "additive DDL: drop it again", mig.get("ddl_drop", {}))):
            r = read.get(key) or {}
            rows.append([label, fmt(src.get("elapsed_s")), fmt(r.get("rps"), 0), fmt(r.get("p50_ms")), fmt(r.get("p99_ms")),
                         fmt(ratio(r.get("p99_ms"), idle.get("p99_ms")), 2), fmt(r.get("errors"))])
        w(table(["Operation", "Seconds", "Reads req/s", "p50 ms", "p99 ms", "p99 vs idle", "Read errors"], rows))
        w("")
        resume = mig.get("resume", {})
        if resume:
            dk, hk = resume.get("ddl_killed", {}), resume.get("hub_migrate_killed", {})
            hr = resume.get("hub_migrate_resumed", {})
            w(f"Kill and resume (SIGKILL once 40 % were done, then the same command again): the DDL pass "
              f"(batches of {resume.get('ddl_batch', '–')}) was "
              + (f"killed at {dk.get('progress_at_kill')} schemas after {fmt(dk.get('killed_after_s'))} s, leaving "
                 f"{fmt(resume.get('ddl_after_kill', {}).get('without_column'))} pending; the re-run migrated "
                 f"{fmt(resume.get('ddl_resumed', {}).get('schemas'))} in {fmt(resume.get('ddl_resumed', {}).get('elapsed_s'))} s "
                 f"and left {fmt(resume.get('ddl_after_resume', {}).get('without_column'))} pending."
                 if dk.get("killed") else "not killed: it finished before the kill point.")
              + " `hub migrate` was "
              + (f"killed at {hk.get('progress_at_kill')} tenants after {fmt(hk.get('killed_after_s'))} s; the re-run "
                 f"reported {fmt(hr.get('migrated'))} migrated, {fmt(hr.get('failed'))} failed in {fmt(hr.get('elapsed_s'))} s."
                 if hk.get("killed") else "not killed: it finished before the kill point."))
            w("")

    # Memory.
    mem = results.get("memory")
    if mem:
        w("## Memory")
        w("")
        w(f"Sampled every {mem.get('interval_s')} s by `bench/memwatch.py`: the gateway's VmRSS, and for every "
          "PostgreSQL backend of the gateway's pool (matched by client port) VmRSS and RssAnon from "
          "`/proc/<pid>/status`. RssAnon is the backend's private memory (catalog, relation and plan caches); "
          "VmRSS also counts shared buffers it touched.")
        w("")
        rows = []
        for name, s in [("whole run", mem.get("whole_run", {}))] + ([("soak", mem["soak"])] if "soak" in mem else []) + \
                [(p, s) for p, s in mem.get("by_phase", {}).items() if p.startswith(("load at", "provision to"))]:
            g = s.get("gateway_rss_mb", {})
            rows.append([name, fmt(s.get("samples")), f"{fmt(g.get('first'), 1)} / {fmt(g.get('last'), 1)} / {fmt(g.get('max'), 1)}",
                         fmt(s.get("hub_backends_max_count")), fmt(s.get("backend_anon_mb_max"), 1),
                         fmt(s.get("backend_anon_mb_median_of_max"), 1), fmt(s.get("backend_rss_mb_max"), 1),
                         fmt(s.get("backend_anon_mb_sum_max"), 1)])
        w(table(["Window", "Samples", "Gateway RSS MB first / last / max", "Hub backends", "Max RssAnon per backend MB",
                 "Median backend's max RssAnon MB", "Max VmRSS per backend MB", "Max sum RssAnon MB"], rows))
        w("")
        soak = results.get("soak")
        if soak and "soak" in mem:
            s = mem["soak"]
            w(f"Soak: {soak['seconds']} s of GET by id, {soak['dist']} over {soak['tenants']:,} tenants at "
              f"{soak['connections']} connections ({fmt(soak['wrk']['rps'], 0)} req/s, p99 {fmt(soak['wrk']['p99_ms'])} ms). "
              f"Max RssAnon per backend, first third → last third of the soak: "
              f"{fmt(s.get('first_third', {}).get('backend_anon_mb_max'), 1)} → "
              f"{fmt(s.get('last_third', {}).get('backend_anon_mb_max'), 1)} MB; gateway RSS max "
              f"{fmt(s.get('first_third', {}).get('gateway_rss_mb', {}).get('max'), 1)} → "
              f"{fmt(s.get('last_third', {}).get('gateway_rss_mb', {}).get('max'), 1)} MB. "
              "(`BENCH_SOAK_SECS=1800` for the 30-minute soak.)")
            w("")
        probe = results.get("catalog_probe")
        if probe:
            w(f"One fresh backend, `pg_backend_memory_contexts` (its own view): before {fmt(probe['before_total_mb'], 1)} MB "
              f"(cache contexts {fmt(probe['before_cache_mb'], 1)} MB); after `BEGIN; SET LOCAL search_path; prepared PK "
              f"select; COMMIT` on each of {probe['tenants']:,} tenants, twice: {fmt(probe['after_total_mb'], 1)} MB "
              f"(cache contexts {fmt(probe['after_cache_mb'], 1)} MB), {fmt(probe['per_tenant_kb'], 1)} KB per tenant "
              f"touched. Time per tenant on that one connection: {fmt(probe['first_pass_us_per_tenant'], 0)} µs cold, "
              f"{fmt(probe['second_pass_us_per_tenant'], 0)} µs warm (PostgreSQL alone).")
            w("")
        w("Bound and mechanism: a backend's catalog caches grow with every tenant schema it touches and are "
          "not freed while it lives. Hard bound: the cluster's tenant count × the per-tenant figure above "
          "(what the one fresh backend reached after touching every tenant), reset when the connection is "
          "recycled after 30 minutes (`max_lifetime`, `crates/tenant/src/data_plane.rs`). Lanes keep backends "
          "well below it: a tenant's work runs on the less loaded of two of the 16 lanes, so under moderate "
          "load a backend touches about 2/16 of the tenants (the before/after section: a fresh gateway's "
          "backends with one pool vs with lanes). Under sustained saturation (64 requests in flight on 32 "
          "connections) work leaves its lanes for a queue a lane's worth shorter, and the caches of a "
          "long-running gateway's backends grow toward the hard bound (the `load at N tenants` rows above). "
          "Gateway RSS is bounded by its caches' capacities: unwrapped key rings (20,000 tenants, 5 min), "
          "resolved credentials and tenants (5 s), rate-limit buckets of the current minute.")
        w("")

    # Crypto.
    crypto = results.get("crypto") or {}
    w("## Crypto")
    w("")
    micro = crypto.get("micro")
    if not micro or set(micro) == {"status"}:
        w(f"Criterion (`bench/crypto.sh`): **{(micro or {}).get('status', 'not run: bench/crypto.sh not present')}**.")
    else:
        w("Criterion micro-benchmarks (`bench/crypto.sh`, `crates/kernel/benches/crypto.rs`), median ns per operation:")
        w("")
        w(table(["Benchmark", "ns / op"], [[f"`{k}`", fmt(v, 1)] for k, v in micro.items()]))
    w("")
    share = crypto.get("share")
    if not share or set(share) == {"status"}:
        w(f"Crypto share of request CPU (`bench/crypto-share.sh`): **{(share or {}).get('status', 'not run: bench/crypto-share.sh not present')}**.")
    else:
        w(f"Crypto share of request CPU (`bench/crypto-share.sh`: {share.get('method', '')}; backend "
          f"{share.get('backend', '–')}, {share.get('connections', '–')} connections, {share.get('seconds_per_endpoint', '–')} s "
          "per endpoint):")
        w("")
        rows = [[e, fmt(v.get("crypto_share_percent")), fmt(v.get("aead_and_blind_index_percent")), fmt(v.get("hash_percent")),
                 fmt(v.get("samples")), fmt(v.get("requests_per_second"), 0)]
                for e, v in (share.get("endpoints") or {}).items()]
        w(table(["Endpoint", "Crypto % of gateway CPU", "AEAD + blind index %", "Hashing %", "Samples", "req/s"], rows))
    w("")

    # Commands.
    w("## Command lines")
    w("")
    w("```sh")
    w(f"make bench{' BENCH_QUICK=1' if quick else ''}   # = bash bench/run.sh; settings: "
      f"BENCH_TENANT_COUNTS='{' '.join(map(str, cfg.get('tenant_counts', [])))}' BENCH_DURATION={cfg.get('duration_s')} "
      f"BENCH_RUNS={cfg.get('runs')} BENCH_CONNECTIONS='{' '.join(map(str, cfg.get('connections', [])))}' "
      f"BENCH_SOAK_SECS={cfg.get('soak_s')}")
    w(f"# <N>: tenant count of the step ({', '.join(map(str, cfg.get('tenant_counts', [])))}); "
      f"<C>: connections / clients ({', '.join(map(str, cfg.get('connections', [])))}); <dist>: uniform or zipf")
    for c in results.get("commands", []):
        w(c)
    w("```")
    w("")
    w("Raw outputs of every run: `bench/out/raw/`; logs: `bench/out/logs/`; memory samples: "
      "`bench/out/memory.jsonl`; all figures: `bench/out/results.json`.")
    w("")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=str(ROOT / "bench/out/results.json"))
    ap.add_argument("--crypto", help="JSON object printed by bench/crypto.sh, merged into results.json")
    ap.add_argument("--crypto-share", help="JSON object printed by bench/crypto-share.sh, merged too")
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument("--elapsed", help="wall-clock seconds of the whole make bench")
    ap.add_argument("--only", choices=["privacy", "learning", "billing"],
                    help="render only that part's section into the existing --out file")
    args = ap.parse_args()
    path = Path(args.results)
    if not path.exists():
        print(f"report: {path} does not exist; run `make bench` first", file=sys.stderr)
        return 1
    results = json.loads(path.read_text(encoding="utf-8"))
    if "privacy" in results:
        results["privacy"]["targets"] = evaluate_privacy(results["privacy"])
    if "learning" in results:
        results["learning"]["targets"] = evaluate_learning(results["learning"])
    if "billing" in results:
        results["billing"]["targets"] = evaluate_billing(results["billing"])
    parts = {"privacy": (render_privacy, PRIVACY_BEGIN, PRIVACY_END),
             "learning": (render_learning, LEARNING_BEGIN, LEARNING_END),
             "billing": (render_billing, BILLING_BEGIN, BILLING_END)}
    if args.only:
        if args.only not in results:
            print(f"report: {path} has no {args.only} figures; run `BENCH_ONLY={args.only} make bench`", file=sys.stderr)
            return 1
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
        out = Path(args.out)
        existing = out.read_text(encoding="utf-8") if out.exists() else "# Benchmarks\n"
        render_part, begin, end = parts[args.only]
        out.write_text(splice_privacy(existing, render_part(results[args.only]), begin, end), encoding="utf-8")
        print(f"report: wrote the {args.only} section of {args.out}", file=sys.stderr)
        return 0
    for key, source, script in (("micro", args.crypto, "bench/crypto.sh"),
                                ("share", args.crypto_share, "bench/crypto-share.sh")):
        if source and os.path.exists(source):
            try:
                value = json.loads(Path(source).read_text(encoding="utf-8"))
                value = value if isinstance(value, dict) else {"value": value}
            except ValueError:
                value = {"status": f"failed: {script} printed no valid JSON"}
            results.setdefault("crypto", {})[key] = value
            line = f"bash {script} > bench/out/{Path(source).name}   # after the gateway stopped"
            if line not in results.setdefault("commands", []):
                results["commands"].append(line)
    if args.elapsed:
        results["elapsed_s"] = int(args.elapsed)
    results["targets"] = evaluate(results)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    text = render(results, args.elapsed or results.get("elapsed_s"))
    for key, (render_part, begin, end) in parts.items():
        if key in results:
            text = splice_privacy(text, render_part(results[key]), begin, end)
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"report: wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
