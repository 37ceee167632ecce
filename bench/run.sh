#!/usr/bin/env bash
# `make bench`: the scale benchmarks of issue 3, the privacy benchmarks of issue 10, the
# learning benchmarks of issue 11 (xAPI ingest, statement reads, progress) and the billing
# benchmarks of issue 12 (Stripe webhook replay, finance's history and export), in one command,
# on loopback only. BENCH_ONLY=privacy runs the privacy part alone (about 20 minutes full, a few
# with BENCH_QUICK=1), BENCH_ONLY=learning the learning part alone (about 15-30 minutes full:
# seeding 1,000,000 statements dominates; a few minutes quick), BENCH_ONLY=billing the billing
# part alone (about 15-30 minutes full: applying 8,000 events, each fetching its object from
# localstripe, dominates; a few minutes quick), BENCH_ONLY=scale the scale part alone (about 45
# minutes); unset, all four run: scale, privacy, learning, billing.
#
#   1. installs what it needs (Debian wrk via apt-get if missing; pgbench and psql must be
#      there), starts PostgreSQL/Redis if they are down (scripts/ensure-services.sh),
#      prepares the Django peer (bench/peer/setup.sh) if the peer exists,
#   2. builds `hub` in release,
#   3. creates a fresh database hub_bench (and hub_bench_pgbench for pgbench),
#   3b. billing: starts localstripe (pinned, .venv; `--from-scratch`) on a free loopback port and
#      the project's Stripe front (tests/stripe/stripe_front.py) before it, as
#      tests/api/stripe_fake.rs does; no webhook endpoint is registered at localstripe,
#   4. starts `hub serve` (release) against it and Redis, on a free loopback port, with a
#      generated key-encryption key, high rate limits and log level warn (with the billing
#      part: Stripe configured as the front, a generated webhook secret; for the whole run when
#      every part runs, where the other parts send no billing traffic),
#   5. scale: runs bench/bench.py (provisioning, load, pgbench, peer, soak, memory, migration),
#   6. privacy: runs bench/privacy.py (export and erasure of a subject with 100,000 records, a
#      retention sweep over 1,000 institutions with reads running), on the same gateway,
#   6b. learning: runs bench/learning.py (xAPI ingest of batches of 50 at 16 connections and
#      pgbench inserting the same rows directly, GET /xapi/statements by agent and by activity
#      at 1,000,000 statements, a learner's progress read beside the course read),
#   6c. billing: runs bench/billing.py (10,000 signed Stripe deliveries with 20 % duplicates
#      about real purchases, refunds and charges, acknowledgement latency and processing rate,
#      the final records checked against Stripe's; finance's list and CSV export over 100,000
#      payments with the gateway's RSS during the export),
#   7. stops the gateway (and localstripe and the front); scale: runs bench/crypto.sh (criterion) and bench/crypto-share.sh
#      (perf: crypto's share of request CPU) if they exist,
#   8. renders BENCHMARKS.md from bench/out/results.json (bench/report.py). The privacy part
#      alone merges its figures into an existing results.json and replaces only the privacy
#      section of BENCHMARKS.md, so the scale figures already there stay as they were; the
#      learning and the billing part alone likewise (each its own section).
#
# Everything it starts is stopped on exit, on error, on Ctrl-C and when the overall time
# guard (BENCH_TIMEOUT seconds) fires. Settings (environment):
#   BENCH_ONLY                 unset: every part; `scale`, `privacy`, `learning` or `billing`: that part alone
#   BENCH_QUICK=1              tenant counts "1 50", 3-second runs, 10-second soak
#   BENCH_TENANT_COUNTS        default "1 1000 10000" (grown step by step in one database)
#   BENCH_DURATION / BENCH_RUNS / BENCH_CONNECTIONS   default 15 s / 3 / "16 64"
#   BENCH_SOAK_SECS            default 60 (1800 for the 30-minute soak)
#   BENCH_TIMEOUT              overall guard in seconds (default: 2100 quick, 18000 + soak full,
#                              + 900 quick / 9000 full with the learning part, + 900 / 3600 with
#                              the billing part; the privacy, learning or billing part alone:
#                              900 quick, 3600 / 9000 / 3600 full)
#   BENCH_COURSES / BENCH_SEED_CONCURRENCY           default 20 courses per tenant / 8 in flight
#   BENCH_PEER_DISTS           tenant choices for the peer (default "uniform"; "uniform zipf")
#   BENCH_DDL_BATCH / BENCH_DDL_PARALLEL   schemas per DDL transaction (default: N/10, <= 50) / 2
#   BENCH_MIN_AVAILABLE_MB     memory guard: stop when MemAvailable drops below (default 1500)
#   BENCH_KEEP_DB=1            keep hub_bench and hub_bench_pgbench afterwards
#   BENCH_SKIP_CRYPTO=1        do not run bench/crypto.sh and bench/crypto-share.sh
#   Privacy part (bench/privacy.py; quick values in brackets):
#   BENCH_PRIVACY_RECORDS      records of the export/erasure subject, default 100000 [2000]
#   BENCH_PRIVACY_CONSENTS     of which consent records (PUT /v1/me/consents), 1000 [100]
#   BENCH_SWEEP_TENANTS / BENCH_SWEEP_EXPIRED   institutions swept / expired records each,
#                              default 1000 / 1000 [20 / 100]
#   BENCH_SWEEP_CONNECTIONS    wrk connections of the reads during the sweep (default 16)
#   BENCH_PRIVACY_DURATION     seconds per idle read run (default 10 [3]), BENCH_RUNS runs
#   BENCH_RETENTION_PAUSE_MS   the gateway's pause between two steps of a retention run
#                              (HUB_RETENTION_BATCH_PAUSE_MS; default 0 here: the worst case
#                              for the traffic beside it; the product's default is 100)
#   BENCH_PRIVACY_REQUESTS     on_behalf (default: the admin asks, verified by the mailed code)
#                              or self (the person asks; see bench/privacy.py)
#   Learning part (bench/learning.py; quick values in brackets):
#   BENCH_XAPI_STATEMENTS      statements in the tenant for the reads, default 1000000 [20000]
#   BENCH_XAPI_BATCH           statements per POST (default 50); BENCH_LEARNING_CONNECTIONS 16
#   BENCH_XAPI_AGENTS / BENCH_XAPI_ACTIVITIES   default one per 1,000 statements (at least 10)
#   BENCH_XAPI_LIMIT           `limit` of the reads (default unset: the server's page)
#   BENCH_XAPI_SEED_TIMEOUT    seconds the seeding up to BENCH_XAPI_STATEMENTS may take
#                              (default 7200 [900])
#   Billing part (bench/billing.py; quick values in brackets):
#   BENCH_BILLING_EVENTS       signed deliveries sent, 20 % of them duplicates, default 10000 [1000]
#   BENCH_BILLING_PAYMENTS     real purchases the events are about (a third partly refunded, a
#                              third fully), default 800 [80]; BENCH_BILLING_CONNECTIONS 16
#   BENCH_BILLING_HISTORY_ROWS payments in the institution for the list and export, default
#                              100000 [5000] (the purchases plus rows seeded by COPY)
#   BENCH_BILLING_SEED         the shuffle's and the seeding's seed (default 20261204)
#   BENCH_BILLING_POLL_MS      the gateway's billing_poll_ms (default unset: the product's 1000)
#   BENCH_NICE                 unset (default): nothing reniced. A negative number (e.g. -10,
#                              root only): PostgreSQL, Redis and everything the bench starts
#                              (gateway, wrk, pgbench) run at that priority, so other work on
#                              the machine (builds at nice 0) takes little of the CPU; the
#                              report says so beside the load average.
#   BENCH_PROFILE              release (default) or dev: a smoke run of the harness on the debug
#                              build (`cargo build`); its report goes to bench/out/BENCHMARKS.dev.md,
#                              never to BENCHMARKS.md (debug figures are not the product's)
#   BENCH_DB / BENCH_PGBENCH_DB   the databases created afresh (default hub_bench / hub_bench_pgbench)
#   PGHOST/PGPORT/PGUSER       default 127.0.0.1 / 5432 / postgres (loopback only)
#   BENCH_REDIS_URL            default redis://127.0.0.1:6379/13 (loopback only)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

OUT="$ROOT/bench/out"
RUN="$OUT/run"
LOGS="$OUT/logs"
export BENCH_OUT="$OUT"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

BENCH_PROFILE="${BENCH_PROFILE:-release}"
case "$BENCH_PROFILE" in
  release) BUILD_FLAGS=(--release) PROFILE_DIR=release REPORT="$ROOT/BENCHMARKS.md" ;;
  dev) BUILD_FLAGS=() PROFILE_DIR=debug REPORT="$OUT/BENCHMARKS.dev.md" ;;
  *) printf 'BENCH_PROFILE must be release or dev (got %s)\n' "$BENCH_PROFILE" >&2; exit 2 ;;
esac
export BENCH_PROFILE
case "${BENCH_QUICK:-0}" in 0 | "" | false | no) BENCH_QUICK=0 ;; *) BENCH_QUICK=1 ;; esac
export BENCH_QUICK
case "${BENCH_ONLY:-}" in
  "" | all | both) RUN_SCALE=1 RUN_PRIVACY=1 RUN_LEARNING=1 RUN_BILLING=1 ;;
  scale) RUN_SCALE=1 RUN_PRIVACY=0 RUN_LEARNING=0 RUN_BILLING=0 ;;
  privacy) RUN_SCALE=0 RUN_PRIVACY=1 RUN_LEARNING=0 RUN_BILLING=0 ;;
  learning) RUN_SCALE=0 RUN_PRIVACY=0 RUN_LEARNING=1 RUN_BILLING=0 ;;
  billing) RUN_SCALE=0 RUN_PRIVACY=0 RUN_LEARNING=0 RUN_BILLING=1 ;;
  *) printf 'BENCH_ONLY must be unset, scale, privacy, learning or billing (got %s)\n' "$BENCH_ONLY" >&2; exit 2 ;;
esac
if [[ $BENCH_QUICK == 1 ]]; then
  : "${BENCH_TENANT_COUNTS:=1 50}" "${BENCH_DURATION:=3}" "${BENCH_SOAK_SECS:=10}"
  ((RUN_SCALE)) || : "${BENCH_TIMEOUT:=$((900 + RUN_PRIVACY * RUN_LEARNING * 900))}"
  : "${BENCH_TIMEOUT:=$((2100 + RUN_LEARNING * 900 + RUN_BILLING * 900))}"
else
  : "${BENCH_TENANT_COUNTS:=1 1000 10000}" "${BENCH_DURATION:=15}" "${BENCH_SOAK_SECS:=60}"
  # The learning part's seeding of 1,000,000 statements may take up to BENCH_XAPI_SEED_TIMEOUT.
  ((RUN_SCALE || RUN_PRIVACY || RUN_BILLING)) || : "${BENCH_TIMEOUT:=9000}"
  ((RUN_SCALE || RUN_PRIVACY || RUN_LEARNING)) || : "${BENCH_TIMEOUT:=3600}"
  ((RUN_SCALE)) || : "${BENCH_TIMEOUT:=$((3600 + RUN_LEARNING * 9000))}"
  : "${BENCH_TIMEOUT:=$((18000 + BENCH_SOAK_SECS + RUN_LEARNING * 9000 + RUN_BILLING * 3600))}"
fi
: "${BENCH_RUNS:=3}" "${BENCH_CONNECTIONS:=16 64}"
export BENCH_TENANT_COUNTS BENCH_DURATION BENCH_SOAK_SECS BENCH_RUNS BENCH_CONNECTIONS

export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
BENCH_REDIS_URL="${BENCH_REDIS_URL:-redis://127.0.0.1:6379/13}"
export BENCH_DB="${BENCH_DB:-hub_bench}" BENCH_PGBENCH_DB="${BENCH_PGBENCH_DB:-hub_bench_pgbench}"

# --- guards -----------------------------------------------------------------------------------

[[ "$BENCH_TIMEOUT" =~ ^[0-9]+$ ]] || die "BENCH_TIMEOUT must be a number of seconds"
[[ "$BENCH_SOAK_SECS" =~ ^[0-9]+$ && "$BENCH_DURATION" =~ ^[0-9]+$ ]] ||
  die "BENCH_SOAK_SECS and BENCH_DURATION must be whole seconds"
case "$PGHOST" in 127.0.0.1 | localhost | ::1) ;; *) die "PGHOST must be loopback, got $PGHOST" ;; esac
case "$BENCH_REDIS_URL" in redis://127.0.0.1:* | redis://localhost:* | redis://\[::1\]:*) ;;
  *) die "BENCH_REDIS_URL must be a loopback redis:// URL, got $BENCH_REDIS_URL" ;;
esac

# --- cleanup ----------------------------------------------------------------------------------

HUB_PID="" DRIVER_PID="" CHILD_PID="" WATCHDOG_PID="" STRIPE_PID="" FRONT_PID="" CLEANED=0 STARTED=$SECONDS

stop_pid() { # pid, name, grace seconds: TERM, wait (bounded), then KILL
  local pid="$1" name="$2" grace="${3:-20}" i
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  log "$name did not stop within ${grace}s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

stop_group() { # process-group id recorded by bench.py for children it started in a new session
  local pgid="$1" i
  [[ "$pgid" =~ ^[0-9]+$ ]] || return 0
  kill -0 -- "-$pgid" 2>/dev/null || return 0
  kill -TERM -- "-$pgid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 -- "-$pgid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL -- "-$pgid" 2>/dev/null || true
}

# PostgreSQL (the postmaster and its backends all run as `postgres`) and Redis, for BENCH_NICE.
service_pids() { pgrep -x postgres; pgrep -x redis-server; }

cleanup() {
  local status=$?
  ((CLEANED)) && return
  CLEANED=1
  trap - INT TERM
  set +e
  [[ -n "$CHILD_PID" ]] && stop_pid "$CHILD_PID" "build/setup step" 10
  [[ -n "$DRIVER_PID" ]] && stop_pid "$DRIVER_PID" "bench.py" 60
  if [[ -d "$RUN/pids" ]]; then
    for f in "$RUN"/pids/*.pgid; do
      [[ -e "$f" ]] && stop_group "$(cat "$f")" && rm -f "$f"
    done
  fi
  [[ -n "$HUB_PID" ]] && stop_pid "$HUB_PID" "hub serve" 25
  [[ -n "$FRONT_PID" ]] && stop_pid "$FRONT_PID" "the Stripe front" 10
  [[ -n "$STRIPE_PID" ]] && stop_pid "$STRIPE_PID" "localstripe" 10
  [[ -n "$WATCHDOG_PID" ]] && kill "$WATCHDOG_PID" 2>/dev/null && wait "$WATCHDOG_PID" 2>/dev/null
  if [[ -n "${BENCH_NICE:-}" ]]; then # PostgreSQL and Redis back to the usual priority
    for pid in $(service_pids); do renice -n 0 -p "$pid" >/dev/null 2>&1; done
  fi
  if ((status != 0)); then
    if [[ -f "$OUT/results.json" ]]; then
      python3 bench/report.py --results "$OUT/results.json" --out "$OUT/BENCHMARKS.partial.md" \
        >/dev/null 2>&1 && log "partial figures: bench/out/BENCHMARKS.partial.md (BENCHMARKS.md left as it was)"
    fi
    log "bench FAILED (exit $status) after $((SECONDS - STARTED))s; logs in bench/out/logs/"
  fi
  if [[ "${BENCH_KEEP_DB:-0}" != 1 && -n "${DB_CREATED:-}" ]]; then
    psql -XAtq -d postgres -c "drop database if exists $BENCH_DB with (force)" >/dev/null 2>&1
    psql -XAtq -d postgres -c "drop database if exists $BENCH_PGBENCH_DB with (force)" >/dev/null 2>&1
    # The key store the gateway creates beside its database (crates/tenant/src/keys.rs).
    psql -XAtq -d postgres -c "drop database if exists ${BENCH_DB}_keys with (force)" >/dev/null 2>&1
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'if [[ -s "$RUN/memory-guard" ]]; then log "$(cat "$RUN/memory-guard")"; else log "stopped by SIGTERM (overall time guard of ${BENCH_TIMEOUT}s, or a signal)"; fi; exit 143' TERM

# Runs a long step in the background and waits, so a signal is handled at once.
step() {
  "$@" &
  CHILD_PID=$!
  wait "$CHILD_PID"
  CHILD_PID=""
}

rm -rf "$RUN"
mkdir -p "$OUT" "$RUN/pids" "$LOGS" "$OUT/raw"
if ((RUN_SCALE)); then
  rm -f "$OUT"/raw/* "$OUT/targets.tsv" "$OUT/results.json" "$OUT/crypto.json" "$OUT/crypto-share.json" \
    "$OUT/BENCHMARKS.partial.md"
else
  # One part alone: the other parts' figures in results.json stay (merged into).
  if ((RUN_PRIVACY)); then rm -f "$OUT"/raw/privacy-*; fi
  if ((RUN_LEARNING)); then rm -f "$OUT"/raw/learning-*; fi
  if ((RUN_BILLING)); then rm -f "$OUT"/raw/billing-*; fi
  rm -f "$OUT/BENCHMARKS.partial.md"
fi

# Overall time guard: one process that sends SIGTERM to this script when time is up.
python3 -c 'import os, signal, sys, time
time.sleep(int(sys.argv[1])); os.kill(int(sys.argv[2]), signal.SIGTERM)' "$BENCH_TIMEOUT" $$ &
WATCHDOG_PID=$!

log "make bench ($([[ $BENCH_QUICK == 1 ]] && echo quick || echo full); $( ((RUN_SCALE)) && echo -n 'scale ')$( ((RUN_PRIVACY)) && echo -n 'privacy ')$( ((RUN_LEARNING)) && echo -n 'learning ')$( ((RUN_BILLING)) && echo -n 'billing')): tenants '$BENCH_TENANT_COUNTS', ${BENCH_DURATION}s x ${BENCH_RUNS} runs, connections '$BENCH_CONNECTIONS', soak ${BENCH_SOAK_SECS}s, guard ${BENCH_TIMEOUT}s; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# --- tools ------------------------------------------------------------------------------------

SETUP_COMMANDS=""
note_cmd() { SETUP_COMMANDS+="$*"$'\n'; }

for tool in psql pgbench python3 cargo; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (Debian: postgresql-client for psql/pgbench; rustup for cargo)"
done
if ! command -v wrk >/dev/null 2>&1; then
  log "installing wrk (Debian package)"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  step bash -c "$SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk" >"$LOGS/apt-wrk.log" 2>&1 ||
    die "could not install wrk; see bench/out/logs/apt-wrk.log (or: apt-get install wrk)"
fi
note_cmd "apt-get update -qq && apt-get install -y -qq wrk   # only when wrk is missing"

step bash scripts/ensure-services.sh || die "PostgreSQL/Redis not available (scripts/ensure-services.sh)"
REDIS_HOSTPORT="${BENCH_REDIS_URL#redis://}"
REDIS_HOSTPORT="${REDIS_HOSTPORT%%/*}"
[[ "$(redis-cli -h "${REDIS_HOSTPORT%:*}" -p "${REDIS_HOSTPORT##*:}" ping 2>/dev/null)" == PONG ]] ||
  die "Redis does not answer at $BENCH_REDIS_URL"

# --- the Django peer (built by bench/peer/; optional) -----------------------------------------

if ((!RUN_SCALE)); then
  export BENCH_PEER_STATUS="not run: BENCH_ONLY=${BENCH_ONLY}"
elif [[ -f bench/peer/setup.sh && -f bench/peer/serve.sh ]]; then
  log "preparing the Django peer (bench/peer/setup.sh)"
  note_cmd "bash bench/peer/setup.sh"
  if step bash bench/peer/setup.sh >"$LOGS/peer-setup.log" 2>&1; then
    export BENCH_PEER_STATUS="ready"
  else
    export BENCH_PEER_STATUS="failed: bench/peer/setup.sh exited non-zero (see bench/out/logs/peer-setup.log)"
    log "peer setup failed; the peer is reported as not run (bench/out/logs/peer-setup.log)"
  fi
else
  export BENCH_PEER_STATUS="not run: bench/peer/setup.sh and bench/peer/serve.sh are not present"
fi

# --- build ------------------------------------------------------------------------------------

log "building hub ($BENCH_PROFILE); the first build takes several minutes"
note_cmd "cargo build ${BUILD_FLAGS[*]:-} -p hub-gateway --bin hub"
step cargo build "${BUILD_FLAGS[@]}" -p hub-gateway --bin hub >"$LOGS/build.log" 2>&1 ||
  { tail -n 30 "$LOGS/build.log" >&2; die "$BENCH_PROFILE build failed (bench/out/logs/build.log)"; }
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
HUB_BIN="$TARGET_DIR/$PROFILE_DIR/hub"
[[ -x "$HUB_BIN" ]] || die "no binary at $HUB_BIN after the build"
export BENCH_HUB_BIN="$HUB_BIN"

# --- priority (BENCH_NICE) ---------------------------------------------------------------------

export BENCH_NICE="${BENCH_NICE:-}"
if [[ -n "$BENCH_NICE" ]]; then
  [[ $(id -u) -eq 0 ]] || die "BENCH_NICE needs root (renice to a negative priority)"
  # PostgreSQL's postmaster and its backends (new backends inherit the postmaster's priority),
  # Redis, and this script: everything started from here on inherits it.
  for pid in $(service_pids); do renice -n "$BENCH_NICE" -p "$pid" >/dev/null 2>&1 || true; done
  renice -n "$BENCH_NICE" -p $$ >/dev/null || die "renice of the bench failed"
  log "bench, PostgreSQL and Redis at nice $BENCH_NICE"
  note_cmd "renice -n $BENCH_NICE (PostgreSQL, Redis, the bench and everything it starts)"
fi

# --- databases --------------------------------------------------------------------------------

psql_admin() { psql -XAtq -v ON_ERROR_STOP=1 -d postgres "$@"; }
log "creating fresh databases $BENCH_DB and $BENCH_PGBENCH_DB on $PGHOST:$PGPORT"
for db in "$BENCH_DB" "$BENCH_PGBENCH_DB"; do
  psql_admin -c "drop database if exists $db with (force)" >/dev/null
  psql_admin -c "create database $db" >/dev/null
  note_cmd "psql -d postgres -c 'drop database if exists $db with (force)' -c 'create database $db'"
done
psql_admin -c "drop database if exists ${BENCH_DB}_keys with (force)" >/dev/null # the gateway makes it afresh
DB_CREATED=1
max_conn="$(psql_admin -c 'show max_connections')"
for c in $BENCH_CONNECTIONS; do ((c > ${peak:-0})) && peak=$c; done
if ((max_conn < 32 + ${peak:-64} + 2)); then
  log "WARNING: max_connections is $max_conn; the gateway's pool (32) plus pgbench at ${peak:-64} clients need $((32 + ${peak:-64} + 2)); pgbench may fail with 'too many clients'"
fi

# --- Stripe (the billing part): localstripe behind the project's front -------------------------

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
if ((RUN_BILLING)); then
  [[ -x .venv/bin/localstripe ]] || step bash scripts/test-tools.sh >"$LOGS/test-tools.log" 2>&1 ||
    die "localstripe is not installed and scripts/test-tools.sh failed (bench/out/logs/test-tools.log)"
  note_cmd "bash scripts/test-tools.sh   # localstripe (pinned) into .venv, when missing"
  # localstripe takes no port 0: a port freed a moment ago may be taken in between, so a few tries.
  for ((try = 0; try < 5; try++)); do
    STRIPE_PORT="$(free_port)"
    .venv/bin/localstripe --port "$STRIPE_PORT" --from-scratch >"$LOGS/localstripe.log" 2>&1 &
    STRIPE_PID=$!
    for ((i = 0; i < 200; i++)); do
      kill -0 "$STRIPE_PID" 2>/dev/null || break
      if curl -fsS -m 2 -H "Authorization: Bearer sk_test_hub_bench" \
        "http://127.0.0.1:$STRIPE_PORT/v1/customers?limit=1" 2>/dev/null | grep -q '"object": *"list"'; then
        break 2
      fi
      sleep 0.1
    done
    stop_pid "$STRIPE_PID" "localstripe" 5
    STRIPE_PID=""
  done
  [[ -n "$STRIPE_PID" ]] || die "localstripe did not start (bench/out/logs/localstripe.log)"
  note_cmd ".venv/bin/localstripe --port <free port> --from-scratch"
  # The front exits when its stdin closes: a FIFO this script holds open for it.
  mkfifo "$RUN/front.stdin"
  exec 7<>"$RUN/front.stdin"
  .venv/bin/python tests/stripe/stripe_front.py "http://127.0.0.1:$STRIPE_PORT" \
    tests/stripe/fixtures/stripe-objects.json <"$RUN/front.stdin" >"$RUN/front.out" 2>"$LOGS/stripe-front.log" &
  FRONT_PID=$!
  for ((i = 0; i < 200; i++)); do
    grep -q '^READY ' "$RUN/front.out" 2>/dev/null && break
    kill -0 "$FRONT_PID" 2>/dev/null || die "the Stripe front exited at start (bench/out/logs/stripe-front.log)"
    sleep 0.1
  done
  FRONT_URL="$(sed -n 's/^READY //p' "$RUN/front.out" | head -1)"
  [[ "$FRONT_URL" == http://127.0.0.1:* ]] || die "the Stripe front did not start (bench/out/logs/stripe-front.log)"
  note_cmd ".venv/bin/python tests/stripe/stripe_front.py http://127.0.0.1:<localstripe port> tests/stripe/fixtures/stripe-objects.json   # prints READY <url>"
  export HUB_STRIPE_API_KEY="sk_test_hub_bench"
  export HUB_STRIPE_API_BASE="$FRONT_URL/"
  BENCH_STRIPE_WEBHOOK_SECRET="whsec_bench_$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
  export BENCH_STRIPE_WEBHOOK_SECRET HUB_STRIPE_WEBHOOK_SECRETS="[$BENCH_STRIPE_WEBHOOK_SECRET]"
  export BENCH_STRIPE_URL="$FRONT_URL"
  [[ -n "${BENCH_BILLING_POLL_MS:-}" ]] && export HUB_BILLING_POLL_MS="$BENCH_BILLING_POLL_MS"
  log "localstripe on 127.0.0.1:$STRIPE_PORT behind the Stripe front at $FRONT_URL"
fi

# --- the gateway ------------------------------------------------------------------------------

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$BENCH_DB"
export REDIS_URL="$BENCH_REDIS_URL"
HUB_KEK="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
export HUB_KEK
export HUB_LISTEN="127.0.0.1:$PORT"
export HUB_LOG_LEVEL="${HUB_LOG_LEVEL:-warn}"
export HUB_RATE_LIMIT_PER_KEY="${HUB_RATE_LIMIT_PER_KEY:-1000000000}"
export HUB_RATE_LIMIT_PER_IP="${HUB_RATE_LIMIT_PER_IP:-1000000000}"
export HUB_DATA_DIR="$RUN/data"
export HUB_CONFIG="$RUN/no-hub.toml" # never pick up a developer's ./hub.toml
# Retention: no scheduled sweep during any measurement (the privacy part starts its runs
# itself); the sweeper's clock 100 days ahead, so what the privacy part seeds is past the
# default 90-day period of technical data; mail to <data dir>/mail, looked for every second
# (the privacy part reads a reset code there).
export HUB_RETENTION_SWEEP_SECS=0
export HUB_RETENTION_CLOCK_OFFSET_SECS="${BENCH_RETENTION_CLOCK_OFFSET_SECS:-8640000}"
export HUB_RETENTION_BATCH_PAUSE_MS="${BENCH_RETENTION_PAUSE_MS:-0}"
export HUB_MAIL_POLL_SECS=1
# The Makefile exports HUB_TEST_* for `make test`; the gateway would read them as (unknown)
# HUB_ settings and refuse to start.
while read -r var; do unset "$var"; done < <(compgen -e | grep '^HUB_TEST_' || true)
note_cmd "DATABASE_URL=postgres://$PGUSER@$PGHOST:$PGPORT/$BENCH_DB REDIS_URL=$BENCH_REDIS_URL HUB_KEK=<generated> HUB_LISTEN=127.0.0.1:<port> HUB_LOG_LEVEL=$HUB_LOG_LEVEL HUB_RATE_LIMIT_PER_KEY=$HUB_RATE_LIMIT_PER_KEY HUB_RATE_LIMIT_PER_IP=$HUB_RATE_LIMIT_PER_IP HUB_RETENTION_SWEEP_SECS=0 HUB_RETENTION_CLOCK_OFFSET_SECS=$HUB_RETENTION_CLOCK_OFFSET_SECS HUB_RETENTION_BATCH_PAUSE_MS=$HUB_RETENTION_BATCH_PAUSE_MS HUB_MAIL_POLL_SECS=1$( ((RUN_BILLING)) && echo " HUB_STRIPE_API_KEY=sk_test_hub_bench HUB_STRIPE_API_BASE=<front url>/ HUB_STRIPE_WEBHOOK_SECRETS=<generated whsec_…>${HUB_BILLING_POLL_MS:+ HUB_BILLING_POLL_MS=$HUB_BILLING_POLL_MS}") target/$PROFILE_DIR/hub serve"

log "starting hub serve on 127.0.0.1:$PORT"
"$HUB_BIN" serve >"$LOGS/hub.log" 2>&1 &
HUB_PID=$!
for ((i = 0; i < 300; i++)); do
  kill -0 "$HUB_PID" 2>/dev/null || { tail -n 30 "$LOGS/hub.log" >&2; die "hub serve exited at start (bench/out/logs/hub.log)"; }
  if python3 - "$PORT" <<'EOF' 2>/dev/null; then break; fi
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
  sleep 0.2
done
((i < 300)) || die "hub serve did not become ready in 60s (bench/out/logs/hub.log)"

note_cmd "target/$PROFILE_DIR/hub operator-key create --name bench"
BENCH_OPERATOR_TOKEN="$("$HUB_BIN" operator-key create --name bench 2>>"$LOGS/hub.log")" ||
  die "hub operator-key create failed (bench/out/logs/hub.log)"
export BENCH_OPERATOR_TOKEN
export BENCH_HUB_URL="http://127.0.0.1:$PORT" BENCH_HUB_PID="$HUB_PID" BENCH_GUARD_PID=$$
export BENCH_SETUP_COMMANDS="$SETUP_COMMANDS"

# --- measure ----------------------------------------------------------------------------------

DRIVER_STATUS=0
if ((RUN_SCALE)); then
  log "running the scale benchmarks (bench/bench.py); raw outputs in bench/out/raw/"
  python3 bench/bench.py &
  DRIVER_PID=$!
  wait "$DRIVER_PID" || DRIVER_STATUS=$?
  DRIVER_PID=""
fi
PRIVACY_STATUS=0
if ((RUN_PRIVACY && DRIVER_STATUS == 0)); then
  log "running the privacy benchmarks (bench/privacy.py); raw outputs in bench/out/raw/privacy-*"
  python3 bench/privacy.py &
  DRIVER_PID=$!
  wait "$DRIVER_PID" || PRIVACY_STATUS=$?
  DRIVER_PID=""
fi
LEARNING_STATUS=0
if ((RUN_LEARNING && DRIVER_STATUS == 0 && PRIVACY_STATUS == 0)); then
  log "running the learning benchmarks (bench/learning.py); raw outputs in bench/out/raw/learning-*"
  python3 bench/learning.py &
  DRIVER_PID=$!
  wait "$DRIVER_PID" || LEARNING_STATUS=$?
  DRIVER_PID=""
fi
BILLING_STATUS=0
if ((RUN_BILLING && DRIVER_STATUS == 0 && PRIVACY_STATUS == 0 && LEARNING_STATUS == 0)); then
  log "running the billing benchmarks (bench/billing.py); raw outputs in bench/out/raw/billing-*"
  python3 bench/billing.py &
  DRIVER_PID=$!
  wait "$DRIVER_PID" || BILLING_STATUS=$?
  DRIVER_PID=""
fi

stop_pid "$HUB_PID" "hub serve" 25
HUB_PID=""
[[ -n "$FRONT_PID" ]] && stop_pid "$FRONT_PID" "the Stripe front" 10
[[ -n "$STRIPE_PID" ]] && stop_pid "$STRIPE_PID" "localstripe" 10
FRONT_PID="" STRIPE_PID=""
((DRIVER_STATUS == 0)) || die "bench.py failed (exit $DRIVER_STATUS); see its messages above"
((PRIVACY_STATUS == 0)) || die "privacy.py failed (exit $PRIVACY_STATUS); see its messages above"
((LEARNING_STATUS == 0)) || die "learning.py failed (exit $LEARNING_STATUS); see its messages above"
((BILLING_STATUS == 0)) || die "billing.py failed (exit $BILLING_STATUS); see its messages above"

# --- crypto (crates/kernel/benches via bench/crypto.sh, perf via bench/crypto-share.sh) -------
# Both are optional and run after the gateway has stopped, so they measure an idle machine.
# Each prints one JSON object on stdout; a failure is reported as such, not hidden.

run_json() { # script, output file, label
  local script="$1" out="$2" label="$3"
  [[ -f "$script" && "${BENCH_SKIP_CRYPTO:-0}" != 1 ]] || return 0
  log "running $script ($label)"
  if step bash "$script" >"$out" 2>"$LOGS/$(basename "$script" .sh).log" &&
    python3 -c 'import json, sys; assert isinstance(json.load(open(sys.argv[1])), dict)' "$out" 2>/dev/null; then
    :
  else
    log "$script failed or printed no JSON object (bench/out/logs/$(basename "$script" .sh).log); reported as failed"
    printf '{"status": "failed: %s exited non-zero or printed no JSON object (see bench/out/logs/%s.log)"}\n' \
      "$script" "$(basename "$script" .sh)" >"$out"
  fi
}
if ((RUN_SCALE)); then
  run_json bench/crypto.sh "$OUT/crypto.json" "criterion"
  run_json bench/crypto-share.sh "$OUT/crypto-share.json" "crypto share of request CPU, perf"
fi

# --- report -----------------------------------------------------------------------------------

if ((RUN_SCALE)); then
  python3 bench/report.py --results "$OUT/results.json" --crypto "$OUT/crypto.json" \
    --crypto-share "$OUT/crypto-share.json" --elapsed "$((SECONDS - STARTED))" --out "$REPORT"
else
  if ((RUN_PRIVACY)); then
    python3 bench/report.py --only privacy --results "$OUT/results.json" --out "$REPORT"
  fi
  if ((RUN_LEARNING)); then
    python3 bench/report.py --only learning --results "$OUT/results.json" --out "$REPORT"
  fi
  if ((RUN_BILLING)); then
    python3 bench/report.py --only billing --results "$OUT/results.json" --out "$REPORT"
  fi
fi
log "done in $((SECONDS - STARTED))s: ${REPORT#"$ROOT"/} and bench/out/results.json"
