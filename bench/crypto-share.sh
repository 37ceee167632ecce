#!/usr/bin/env bash
# Share of request CPU spent on crypto in the full-stack read (issue 3, deliverable 6; target
# ≤ 5 %). Prints ONE JSON object to stdout; everything else goes to stderr.
#
# How: a release `hub` on a free loopback port, with its own throw-away data directory
# (embedded SQLite by default), one institution, one course and one contact (name, email and
# phone sealed). For each endpoint, wrk drives GETs for a fixed time while `perf record`
# samples the hub process (cpu-clock, the software timer: this VM has no hardware counters)
# with DWARF call graphs. A sample counts as crypto when any frame of its stack belongs to
# the crypto code: hub_kernel::crypto (seal/open/blind index, including their allocations)
# or the aes, aes-gcm, ghash, polyval, ctr, cipher, universal-hash, aead, sha2, hmac, digest
# crates (which also catches the SHA-256 of the API-key secret on every request). The share
# is of the hub process's CPU only: the database's CPU (PostgreSQL) is not in the
# denominator, so the figure is an upper bound of crypto's share of the whole request.
#
#   GET /v1/contacts/{id}  three sealed fields opened per request: the read with personal data
#   GET /v1/courses/{id}   the catalog read of the full-stack benchmark (no sealed fields)
#
# Settings (environment):
#   CRYPTO_SHARE_SECONDS      sampled seconds per endpoint          (default 10)
#   CRYPTO_SHARE_CONNECTIONS  wrk connections                       (default 16)
#   CRYPTO_SHARE_FREQ         samples per second per thread         (default 499)
#   CRYPTO_SHARE_BACKEND      auto (default: postgres when a loopback server answers, as in
#                             the full-stack read; else sqlite), sqlite, or postgres (a fresh
#                             database hub_crypto_share on PGHOST:PGPORT, dropped after)
#   CRYPTO_SHARE_TIMEOUT      overall guard in seconds              (default 1800)
#   CRYPTO_SHARE_KEEP=1       keep the temporary directory (perf data, logs)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${CRYPTO_SHARE_SECONDS:-10}"
CONNS="${CRYPTO_SHARE_CONNECTIONS:-16}"
FREQ="${CRYPTO_SHARE_FREQ:-499}"
BACKEND="${CRYPTO_SHARE_BACKEND:-auto}"
GUARD="${CRYPTO_SHARE_TIMEOUT:-1800}"
PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
DB_NAME=hub_crypto_share

log() { printf '[crypto-share %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for v in "$DURATION" "$CONNS" "$FREQ" "$GUARD"; do
  [[ "$v" =~ ^[0-9]+$ && "$v" -gt 0 ]] || die "numeric settings must be whole numbers > 0"
done
case "$PGHOST" in 127.0.0.1 | localhost | ::1) ;; *) die "PGHOST must be loopback, got $PGHOST" ;; esac
if [[ $BACKEND == auto ]]; then
  if command -v psql >/dev/null 2>&1 &&
    psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -qAtc 'SELECT 1' >/dev/null 2>&1; then
    BACKEND=postgres
  else
    BACKEND=sqlite
  fi
fi
case "$BACKEND" in
  sqlite) ;;
  postgres) ;;
  *) die "CRYPTO_SHARE_BACKEND must be auto, sqlite or postgres" ;;
esac

# --- tools ------------------------------------------------------------------------------------

apt_install() {
  log "installing $* (apt-get)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; } >&2 ||
    die "could not install $*"
}
command -v perf >/dev/null 2>&1 || apt_install linux-perf
command -v wrk >/dev/null 2>&1 || apt_install wrk
command -v curl >/dev/null 2>&1 || apt_install curl
command -v python3 >/dev/null 2>&1 || die "python3 is required"
perf record -q -e cpu-clock -o /dev/null -- true >/dev/null 2>&1 ||
  die "perf cannot sample here (perf record -e cpu-clock failed; kernel.perf_event_paranoid?)"
if [[ $BACKEND == postgres ]]; then
  command -v psql >/dev/null 2>&1 || die "psql is required for CRYPTO_SHARE_BACKEND=postgres"
fi

# --- cleanup: everything started here stops on exit, error, Ctrl-C or the guard ---------------

TMP="$(mktemp -d -t hub-crypto-share.XXXXXX)"
HUB_PID="" WRK_PID="" PERF_PID="" GUARD_PID=""
stop_pid() { # pid, grace seconds
  local pid="$1" grace="$2" i
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$PERF_PID" 5
  stop_pid "$WRK_PID" 2
  stop_pid "$HUB_PID" 10
  [[ -n "$GUARD_PID" ]] && kill "$GUARD_PID" 2>/dev/null && wait "$GUARD_PID" 2>/dev/null
  if [[ $BACKEND == postgres ]]; then
    psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -qAtc \
      "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [[ "${CRYPTO_SHARE_KEEP:-0}" == 1 ]]; then
    log "kept $TMP"
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# The guard signals this shell; the EXIT trap then stops what it started.
(
  trap 'kill "$SLEEP_PID" 2>/dev/null; exit 0' TERM
  sleep "$GUARD" &
  SLEEP_PID=$!
  wait "$SLEEP_PID" && log "overall guard of ${GUARD}s fired" && kill -TERM $$
) 2>/dev/null &
GUARD_PID=$!

# --- build and start the gateway ---------------------------------------------------------------

log "building hub (release)"
(cd "$ROOT" && timeout 1800 cargo build --release -q -p hub-gateway --bin hub) >&2
HUB="${CARGO_TARGET_DIR:-$ROOT/target}/release/hub"
[[ -x "$HUB" ]] || die "no release binary at $HUB"

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
unset DATABASE_URL REDIS_URL HUB_CONFIG HUB_KEK HUB_KEK_FILE
export HUB_LISTEN="127.0.0.1:$PORT" HUB_DATA_DIR="$TMP/data" HUB_LOG_LEVEL=warn \
  HUB_RATE_LIMIT_PER_KEY=1000000000 HUB_RATE_LIMIT_PER_IP=1000000000 HUB_SHUTDOWN_GRACE_SECS=2
if [[ $BACKEND == postgres ]]; then
  psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -qAtc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >&2
  psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -qAtc "CREATE DATABASE $DB_NAME" >&2
  export DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB_NAME"
  python3 -c 'import secrets; print(secrets.token_hex(32))' >"$TMP/kek.hex"
  export HUB_KEK_FILE="$TMP/kek.hex"
fi
mkdir -p "$TMP/data"
cd "$TMP" # no hub.toml here: only the settings above apply

OPERATOR="$("$HUB" operator-key create --name crypto-share 2>"$TMP/operator.log" | tail -n 1)" ||
  die "operator-key create failed: $(cat "$TMP/operator.log")"
"$HUB" serve >"$TMP/hub.log" 2>&1 &
HUB_PID=$!
for ((i = 0; i < 600; i++)); do
  curl -fs "$BASE/healthz" >/dev/null 2>&1 && break
  kill -0 "$HUB_PID" 2>/dev/null || die "hub exited at start: $(tail -n 20 "$TMP/hub.log")"
  sleep 0.1
done
curl -fs "$BASE/healthz" >/dev/null || die "hub did not answer /healthz within 60 s"
log "hub $HUB_PID serving on $BASE ($BACKEND)"

# --- data: one institution, one course, one contact ---------------------------------------------

post() { # path, token, json body → response body
  curl -fsS -X POST "$BASE$1" -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
    -H "Idempotency-Key: crypto-share-$RANDOM-$RANDOM" -d "$3"
}
json_get() { python3 -c 'import json, sys; v = json.load(sys.stdin)
for k in sys.argv[1:]: v = v[k]
print(v)' "$@"; }

ADMIN="$(post /v1/tenants "$OPERATOR" '{"slug": "crypto-share", "name": "Crypto Share University"}' |
  json_get admin_api_key token)" || die "provisioning failed"
COURSE_ID="$(post /v1/courses "$ADMIN" \
  '{"code": "CS-101", "title": "Introduction to Computer Science", "tags": ["computing"]}' |
  json_get id)" || die "course create failed"
CONTACT_ID="$(post /v1/contacts "$ADMIN" \
  '{"role": "data_protection_officer", "name": "Ada Lovelace", "email": "dpo@northfield.example", "phone": "+441632960961"}' |
  json_get id)" || die "contact create failed"

# --- measure --------------------------------------------------------------------------------------

measure() { # name, path, label → writes the endpoint's JSON to $TMP/share-<name>.json
  local name="$1" path="$2" label="$3" url="$BASE$2"
  local body
  body="$(curl -fsS "$url" -H "Authorization: Bearer $ADMIN")" || die "GET $path failed"
  [[ $name != contacts || $body == *dpo@northfield.example* ]] || die "contact did not open: $body"
  log "warming up GET $path"
  wrk -t1 -c"$CONNS" -d2s -H "Authorization: Bearer $ADMIN" "$url" >/dev/null
  log "GET $path: wrk ${CONNS} connections, perf samples ${DURATION}s"
  wrk -t1 -c"$CONNS" -d"$((DURATION + 3))s" -H "Authorization: Bearer $ADMIN" "$url" \
    >"$TMP/wrk-$name.txt" 2>&1 &
  WRK_PID=$!
  sleep 1
  perf record -q -e cpu-clock -F "$FREQ" --call-graph dwarf,8192 -p "$HUB_PID" \
    -o "$TMP/perf-$name.data" -- sleep "$DURATION" >"$TMP/perf-$name.log" 2>&1 &
  PERF_PID=$!
  wait "$PERF_PID" || die "perf record failed: $(tail -n 5 "$TMP/perf-$name.log")"
  PERF_PID=""
  wait "$WRK_PID" || die "wrk failed: $(cat "$TMP/wrk-$name.txt")"
  WRK_PID=""
  if grep -q 'Non-2xx' "$TMP/wrk-$name.txt"; then
    die "GET $path answered errors under load: $(grep 'Non-2xx' "$TMP/wrk-$name.txt")"
  fi
  log "resolving call graphs of GET $path"
  perf script -i "$TMP/perf-$name.data" -F comm,tid,period,ip,sym --no-inline 2>/dev/null |
    python3 "$TMP/classify.py" "$label" "$TMP/wrk-$name.txt" >"$TMP/share-$name.json" ||
    die "no samples for GET $path"
}

cat >"$TMP/classify.py" <<'PY'
"""Reads `perf script` samples (header line, then one frame per line, blank line between) and
prints the endpoint's share of samples, weighted by period, with a crypto frame anywhere on
the stack."""
import json
import re
import sys

AEAD = re.compile(r"(?:^|[<\s(&,*])(?:" + r"(?:aes|aes_gcm|aead|ghash|polyval|ctr|cipher|universal_hash)::"
                  + r"|hub_kernel::crypto::)")
HASH = re.compile(r"(?:^|[<\s(&,*])(?:sha2|hmac|digest|block_buffer)::")
endpoint, wrk_file = sys.argv[1], sys.argv[2]

total = aead = hashing = 0
samples = 0
weight = 0
frames: list[str] = []


def flush() -> None:
    global total, aead, hashing, samples
    if weight == 0:
        return
    samples += 1
    total += weight
    # The innermost crypto frame decides the kind.
    for sym in frames:
        if AEAD.search(sym):
            aead += weight
            return
        if HASH.search(sym):
            hashing += weight
            return


for line in sys.stdin:
    if not line.strip():
        flush()
        weight, frames = 0, []
    elif line.startswith("\t") and weight:
        parts = line.strip().split(None, 1)
        frames.append(parts[1] if len(parts) > 1 else "")
    else:
        m = re.search(r"\s(\d+)\s*$", line.strip()) or re.search(r"\s(\d+)\s", line)
        weight = int(m.group(1)) if m else 1
        frames = []
flush()

wrk = open(wrk_file, encoding="utf-8").read()
m = re.search(r"Requests/sec:\s*([\d.]+)", wrk)
share = lambda x: round(100.0 * x / total, 2) if total else None
print(json.dumps({
    "endpoint": endpoint,
    "crypto_share_percent": share(aead + hashing),
    "aead_and_blind_index_percent": share(aead),
    "hash_percent": share(hashing),
    "samples": samples,
    "requests_per_second": float(m.group(1)) if m else None,
}))
if not samples:
    sys.exit("no samples")
PY

measure contacts "/v1/contacts/$CONTACT_ID" "GET /v1/contacts/{id}"
measure courses "/v1/courses/$COURSE_ID" "GET /v1/courses/{id}"

python3 - "$TMP/share-contacts.json" "$TMP/share-courses.json" "$BACKEND" "$DURATION" "$CONNS" <<'PY'
import json
import sys

contacts, courses = (json.load(open(p, encoding="utf-8")) for p in sys.argv[1:3])
out = {
    "endpoint": contacts["endpoint"],
    "crypto_share_percent": contacts["crypto_share_percent"],
    "target_percent": 5.0,
    "target_met": contacts["crypto_share_percent"] is not None
    and contacts["crypto_share_percent"] <= 5.0,
    "method": "perf record -e cpu-clock --call-graph dwarf on the hub process under wrk; "
    "share of samples with a crypto frame on the stack (hub process CPU only)",
    "backend": sys.argv[3],
    "seconds_per_endpoint": int(sys.argv[4]),
    "connections": int(sys.argv[5]),
    "endpoints": {contacts["endpoint"]: contacts, courses["endpoint"]: courses},
}
print(json.dumps(out))
PY
