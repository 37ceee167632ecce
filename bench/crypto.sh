#!/usr/bin/env bash
# Crypto micro-benchmarks (issue 3, deliverable 6): runs crates/kernel/benches/crypto.rs with
# criterion in release and prints ONE JSON object to stdout, the median ns per operation of
# each benchmark, e.g.
#   {"seal_64": 350.1, "open_64": 320.0, "seal_open_64": 630.2, "seal_4k": 1890.4, ...}
# Everything else (cargo, criterion) goes to stderr. Target: seal_open_64 < 1000 ns.
#
# Settings (environment):
#   CRYPTO_BENCH_WARMUP    warm-up seconds per benchmark       (default 1)
#   CRYPTO_BENCH_SECONDS   measurement seconds per benchmark   (default 3)
#   CRYPTO_BENCH_TIMEOUT   bound on the measuring run, seconds (default 600; the build is
#                          bounded separately by CRYPTO_BUILD_TIMEOUT, default 1800)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

WARMUP="${CRYPTO_BENCH_WARMUP:-1}"
SECONDS_PER="${CRYPTO_BENCH_SECONDS:-3}"
RUN_TIMEOUT="${CRYPTO_BENCH_TIMEOUT:-600}"
BUILD_TIMEOUT="${CRYPTO_BUILD_TIMEOUT:-1800}"
for v in "$WARMUP" "$SECONDS_PER" "$RUN_TIMEOUT" "$BUILD_TIMEOUT"; do
  [[ "$v" =~ ^[0-9]+$ && "$v" -gt 0 ]] || { echo "crypto.sh: settings must be whole seconds > 0" >&2; exit 2; }
done

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
# A directory of its own, emptied first: no baseline comparison, no stale figure from a
# benchmark that did not run this time.
export CRITERION_HOME="$TARGET_DIR/bench/crypto-criterion"
rm -rf "$CRITERION_HOME"

echo "crypto.sh: building the criterion bench (release)" >&2
timeout "$BUILD_TIMEOUT" cargo bench -p hub-kernel --bench crypto --no-run >&2

echo "crypto.sh: measuring (${WARMUP}s warm-up, ${SECONDS_PER}s per benchmark)" >&2
timeout "$RUN_TIMEOUT" cargo bench -p hub-kernel --bench crypto -- \
  --warm-up-time "$WARMUP" --measurement-time "$SECONDS_PER" --noplot >&2

# criterion writes <group>/<function>/new/estimates.json; the names come from the bench file.
python3 - "$CRITERION_HOME" <<'PY'
import json
import sys
from pathlib import Path

home = Path(sys.argv[1])
benches = {
    "seal_64": "seal_64/seal",
    "open_64": "open_64/open",
    "seal_open_64": "seal_open_64/seal_open",
    "seal_4k": "seal_4k/seal",
    "open_4k": "open_4k/open",
    "blind_index": "blind_index/email",
    "kek_unwrap": "kek_unwrap/data_key",
    "key_ring_from_wrapped": "key_ring_from_wrapped/one_version",
}
out, missing = {}, []
for key, path in benches.items():
    f = home / path / "new" / "estimates.json"
    try:
        out[key] = round(json.loads(f.read_text())["median"]["point_estimate"], 1)
    except (OSError, ValueError, KeyError) as e:
        missing.append(f"{path}: {e}")
if missing:
    print("crypto.sh: missing results:\n  " + "\n  ".join(missing), file=sys.stderr)
    sys.exit(1)
verdict = "met" if out["seal_open_64"] < 1000 else "NOT met"
print(f"crypto.sh: seal+open of 64 B = {out['seal_open_64']} ns (target < 1000 ns: {verdict})",
      file=sys.stderr)
print(json.dumps(out))
PY
