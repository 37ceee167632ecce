#!/usr/bin/env python3
"""Provisions benchmark tenants through the hub's public API (stdlib only).

Grows the tenant set to --total tenants: each new tenant is created with POST /v1/tenants
(operator key), then gets --courses courses with POST /v1/courses (its first admin key).
Several tenants are provisioned at once (--concurrency), each worker keeping one HTTP/1.1
keep-alive connection. One line per tenant is appended to the targets file:

    slug <TAB> admin token <TAB> course id <TAB> course id ...

Tenants already in the targets file are kept, so calling this again with a larger --total
provisions only the difference. The client-side latency of each POST /v1/tenants is
recorded; a JSON summary (p50/p99, throughput) goes to --summary.

The operator token is read from the environment (BENCH_OPERATOR_TOKEN), not argv, so it does
not show up in process listings. Only loopback URLs are accepted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor, as_completed

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
TAGS = ["computing", "first-year", "science", "humanities", "online", "evening", "lab"]


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of the values, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def summarise(values_ms: list[float]) -> dict:
    if not values_ms:
        return {"n": 0}
    return {
        "n": len(values_ms),
        "p50_ms": round(percentile(values_ms, 50), 3),
        "p90_ms": round(percentile(values_ms, 90), 3),
        "p99_ms": round(percentile(values_ms, 99), 3),
        "max_ms": round(max(values_ms), 3),
        "mean_ms": round(sum(values_ms) / len(values_ms), 3),
    }


class SeedError(RuntimeError):
    pass


class Client:
    """One keep-alive connection per worker thread; reconnects once on a dropped connection."""

    def __init__(self, host: str, port: int, timeout: float):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn: http.client.HTTPConnection | None = None

    def post(self, path: str, token: str, body: dict) -> tuple[int, bytes, float]:
        payload = json.dumps(body).encode()
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            started = time.perf_counter()
            try:
                self.conn.request("POST", path, body=payload, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                continue
            elapsed_ms = (time.perf_counter() - started) * 1000
            if response.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            return response.status, data, elapsed_ms
        raise SeedError("unreachable")


def read_existing(path: str) -> int:
    if not os.path.exists(path):
        return 0
    with open(path, encoding="utf-8") as f:
        return sum(1 for line in f if line.strip() and not line.startswith("#"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="hub base URL, e.g. http://127.0.0.1:8080")
    ap.add_argument("--total", type=int, required=True, help="tenant count to grow to")
    ap.add_argument("--courses", type=int, default=20, help="courses per tenant (default 20)")
    ap.add_argument("--concurrency", type=int, default=8, help="tenants in flight (default 8)")
    ap.add_argument("--targets", required=True, help="targets file to append to")
    ap.add_argument("--summary", help="write a JSON summary here")
    ap.add_argument("--latencies", help="append one provisioning latency (ms) per line here")
    ap.add_argument("--slug-prefix", default="bench", help="tenant slugs are <prefix>-<number>")
    ap.add_argument("--start-index", type=int, help="first slug number (default: next after the targets file)")
    ap.add_argument("--timeout", type=float, default=60.0, help="per-request timeout in seconds")
    ap.add_argument("--progress-every", type=float, default=2.0, help="seconds between progress lines")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()

    token = os.environ.get("BENCH_OPERATOR_TOKEN", "").strip()
    if not token:
        ap.error("BENCH_OPERATOR_TOKEN is not set (create one with `hub operator-key create`)")
    url = urllib.parse.urlsplit(args.url)
    if url.scheme != "http" or url.hostname not in LOOPBACK or url.port is None:
        ap.error(f"--url must be http://<loopback>:<port>, got {args.url!r}")
    if args.concurrency < 1 or args.courses < 0 or args.total < 0:
        ap.error("--concurrency must be >= 1, --courses and --total >= 0")

    existing = read_existing(args.targets)
    start = args.start_index if args.start_index is not None else existing + 1
    wanted = max(0, args.total - existing)
    indices = list(range(start, start + wanted))

    lock = threading.Lock()
    local = threading.local()
    latencies: list[float] = []
    course_latencies: list[float] = []
    done = {"tenants": 0, "courses": 0}
    stop = threading.Event()
    started = time.perf_counter()

    def client() -> Client:
        if not hasattr(local, "client"):
            local.client = Client(url.hostname, url.port, args.timeout)
        return local.client

    targets = open(args.targets, "a", encoding="utf-8")
    latency_file = open(args.latencies, "a", encoding="utf-8") if args.latencies else None

    def provision(index: int) -> None:
        if stop.is_set():
            return
        c = client()
        slug = f"{args.slug_prefix}-{index:06d}"
        status, body, ms = c.post(
            "/v1/tenants", token, {"slug": slug, "name": f"Benchmark Institution {index}"}
        )
        if status != 201:
            raise SeedError(f"POST /v1/tenants {slug}: HTTP {status}: {body[:500].decode(errors='replace')}")
        provisioned = json.loads(body)
        admin = provisioned["admin_api_key"]["token"]
        ids: list[str] = []
        local_course_ms: list[float] = []
        for k in range(1, args.courses + 1):
            course = {
                "code": f"C-{k:04d}",
                "title": f"Course {k} of {slug}",
                "description": "A benchmark course. " * 10,
                "status": "published",
                "tags": [TAGS[k % len(TAGS)], TAGS[(k + 1) % len(TAGS)]] if k % 3 else [TAGS[k % len(TAGS)]],
                "minimum_age": 16 if k % 2 else None,
            }
            status, body, cms = c.post("/v1/courses", admin, course)
            if status != 201:
                raise SeedError(f"POST /v1/courses ({slug}, C-{k:04d}): HTTP {status}: {body[:500].decode(errors='replace')}")
            ids.append(json.loads(body)["id"])
            local_course_ms.append(cms)
        with lock:
            targets.write("\t".join([slug, admin, *ids]) + "\n")
            targets.flush()
            if latency_file:
                latency_file.write(f"{ms:.3f}\n")
            latencies.append(ms)
            course_latencies.extend(local_course_ms)
            done["tenants"] += 1
            done["courses"] += len(ids)

    def progress(final: bool = False) -> None:
        if args.quiet:
            return
        elapsed = time.perf_counter() - started
        with lock:
            n, c = done["tenants"], done["courses"]
        rate = n / elapsed if elapsed > 0 else 0.0
        eta = (wanted - n) / rate if rate > 0 else float("inf")
        eta_text = f"{eta:.0f}s" if eta != float("inf") else "?"
        print(
            f"seed: {existing + n}/{args.total} tenants (+{n} new, {c} courses) "
            f"{rate:.1f} tenants/s, elapsed {elapsed:.0f}s" + ("" if final else f", eta {eta_text}"),
            file=sys.stderr,
            flush=True,
        )

    def reporter() -> None:
        while not stop.wait(args.progress_every):
            progress()

    failure: BaseException | None = None
    if wanted:
        ticker = threading.Thread(target=reporter, daemon=True)
        ticker.start()
        try:
            with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
                futures = [pool.submit(provision, i) for i in indices]
                for future in as_completed(futures):
                    error = future.exception()
                    if error is not None and failure is None:
                        failure = error
                        stop.set()
                        for f in futures:
                            f.cancel()
        except KeyboardInterrupt:
            stop.set()
            failure = KeyboardInterrupt()
        finally:
            stop.set()
            targets.close()
            if latency_file:
                latency_file.close()
        progress(final=True)
    else:
        targets.close()
        if latency_file:
            latency_file.close()

    elapsed = time.perf_counter() - started
    summary = {
        "from": existing,
        "to": existing + done["tenants"],
        "requested_total": args.total,
        "new_tenants": done["tenants"],
        "new_courses": done["courses"],
        "courses_per_tenant": args.courses,
        "concurrency": args.concurrency,
        "elapsed_s": round(elapsed, 3),
        "tenants_per_s": round(done["tenants"] / elapsed, 2) if elapsed > 0 and done["tenants"] else None,
        "provision_latency": summarise(latencies),
        "course_create_latency": summarise(course_latencies),
        "error": None if failure is None else f"{type(failure).__name__}: {failure}",
    }
    if args.summary:
        with open(args.summary, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)
    if failure is not None:
        print(f"seed: FAILED: {summary['error']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
