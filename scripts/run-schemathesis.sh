#!/usr/bin/env bash
# Black-box conformance of a running gateway against its own OpenAPI spec (promise D5).
#
#   HUB_URL=http://127.0.0.1:PORT HUB_TOKEN=<operator bearer token> scripts/run-schemathesis.sh [extra st args]
#
# Loads "$HUB_URL/openapi.json", sends every request to HUB_URL's origin (plus the spec's
# own base path) with "Authorization: Bearer $HUB_TOKEN", and fails on server errors,
# undocumented status codes, wrong content types and bodies that break the response schema.
# Bounded and reproducible: fixed seed, a few examples per operation, per-request and
# whole-run time limits, no example database and no cross-run cache
# (scripts/schemathesis.toml). HUB_URL is expected to be on loopback.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

die() { echo "run-schemathesis: $*" >&2; exit 2; }

[[ -n "${HUB_URL:-}" ]] || die "HUB_URL is not set (e.g. http://127.0.0.1:8080)"
[[ -n "${HUB_TOKEN:-}" ]] || die "HUB_TOKEN is not set (a bearer token: hub operator-key create --name NAME)"
origin="${HUB_URL%/}"
[[ "$origin" =~ ^https?://[^/]+$ ]] || die "HUB_URL must be scheme://host:port with no path, got: $HUB_URL"

st="$root/.venv/bin/st"
[[ -x "$st" ]] || bash "$root/scripts/test-tools.sh"

max_examples="${ST_MAX_EXAMPLES:-20}"
seed="${ST_SEED:-20261101}"
request_timeout="${ST_REQUEST_TIMEOUT:-10}"
run_timeout="${ST_RUN_TIMEOUT:-600}"
report_dir="${ST_REPORT_DIR:-$root/target/schemathesis}"

# Hypothesis keeps its own files; keep them with the report, out of the working tree.
export HYPOTHESIS_STORAGE_DIRECTORY="$report_dir/.hypothesis"

# `timeout` bounds the whole run; st's own --max-time is a budget it fills, not a cap.
exec timeout --kill-after=10 "$run_timeout" \
  "$st" --config-file "$root/scripts/schemathesis.toml" run "$origin/openapi.json" \
  --origin "$origin" \
  --header "Authorization: Bearer $HUB_TOKEN" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$max_examples" \
  --seed "$seed" \
  --generation-database none \
  --request-timeout "$request_timeout" \
  --wait-for-schema 30 \
  --workers 1 \
  --no-color \
  --report junit \
  --report-dir "$report_dir" \
  --report-junit-path "$report_dir/junit.xml" \
  "$@"
