"""wrk as the benchmarks drive it: the command line, the result line the Lua scripts print
(bench/wrk/common.lua), and medians over runs. Shared by bench/bench.py and
bench/ab_builds.py (stdlib only)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENDPOINTS = {"get": "bench/wrk/get_course.lua", "list": "bench/wrk/list_courses.lua"}


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def summarise_runs(runs: list[dict]) -> dict:
    """Median of each figure over the runs (each figure on its own)."""
    return {
        "rps": median([r["rps"] for r in runs]),
        "p50_ms": median([r["p50_ms"] for r in runs]),
        "p99_ms": median([r["p99_ms"] for r in runs]),
        "errors": sum(r.get("errors") or 0 for r in runs),
        "requests": sum(r.get("requests") or 0 for r in runs),
        "runs": len(runs),
    }


def wrk_cmd(endpoint: str, connections: int, duration: int, url: str, threads: int) -> list[str]:
    return ["wrk", "-t", str(min(threads, connections)), "-c", str(connections), "-d", f"{duration}s",
            "--latency", "--timeout", "10s", "-s", str(ROOT / ENDPOINTS[endpoint]), url]


def parse_wrk(stdout: str) -> dict:
    for line in stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            data = json.loads(line[len("BENCH_JSON "):])
            lat = data["latency_us"]
            errors = data["errors"]
            return {
                "rps": round(data["rps"], 1),
                "p50_ms": round(lat["p50"] / 1000, 3),
                "p90_ms": round(lat["p90"] / 1000, 3),
                "p99_ms": round(lat["p99"] / 1000, 3),
                "max_ms": round(lat["max"] / 1000, 3),
                "requests": data["requests"],
                "duration_s": data["duration_s"],
                "errors": sum(errors.values()),
                "error_detail": errors,
                # The learning part's scripts (bench/wrk/learning.lua) count 2xx answers.
                "ok": data.get("ok"),
                "non_2xx": data.get("non_2xx"),
                "ok_rps": round(data["ok_rps"], 2) if "ok_rps" in data else None,
                "tenants": data["tenants"],
                "hot_tenants": data["hot_tenants"],
                "zipf_s": data["zipf_s"],
                "hot_share": data["hot_share"],
            }
    raise RuntimeError("wrk printed no BENCH_JSON line:\n" + stdout[-2000:])
