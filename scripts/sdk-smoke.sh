#!/usr/bin/env bash
# Promise D5 as an integrator lives it: generate a Python SDK from the committed spec
# (openapi/openapi.json) with openapi-python-client, then drive a running gateway with it
# (scripts/sdk_smoke.py): provision an institution, create, list, read and update a course,
# and read a 404 as a parsed problem.
#
#   HUB_URL=http://127.0.0.1:PORT HUB_OPERATOR_TOKEN=<operator bearer token> scripts/sdk-smoke.sh
#
# The generator runs with --fail-on-warning: an operation or schema it cannot handle fails
# here instead of silently missing from the SDK. No network besides HUB_URL. The generated
# client is written to a temporary directory and removed afterwards (SDK_KEEP=1 keeps it).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

die() { echo "sdk-smoke: $*" >&2; exit 2; }

[[ -n "${HUB_URL:-}" ]] || die "HUB_URL is not set (e.g. http://127.0.0.1:8080)"
[[ -n "${HUB_OPERATOR_TOKEN:-}" ]] ||
  die "HUB_OPERATOR_TOKEN is not set (an operator key: hub operator-key create --name NAME)"
origin="${HUB_URL%/}"
[[ "$origin" =~ ^https?://[^/]+$ ]] || die "HUB_URL must be scheme://host:port with no path, got: $HUB_URL"

spec="$root/openapi/openapi.json"
[[ -f "$spec" ]] || die "missing $spec"

bash "$root/scripts/test-tools.sh"
venv="$root/.venv"
# The generator formats its output with ruff (also from the lock) when it finds it on PATH.
export PATH="$venv/bin:$PATH"

work="$(mktemp -d "${TMPDIR:-/tmp}/hub-sdk.XXXXXX")"
if [[ "${SDK_KEEP:-}" == 1 ]]; then
  echo "sdk-smoke: keeping the generated client in $work" >&2
else
  trap 'rm -rf "$work"' EXIT
fi

# The output directory's name is the package name: `import hub_client`.
started=$SECONDS
(
  cd "$work"
  openapi-python-client generate \
    --path "$spec" \
    --output-path "$work/hub_client" \
    --meta none \
    --config "$root/scripts/sdk-config.yaml" \
    --fail-on-warning
) || die "openapi-python-client could not generate a client from openapi/openapi.json (above)"
echo "sdk-smoke: generated hub_client from openapi/openapi.json in $((SECONDS - started)) s"

HUB_URL="$origin" PYTHONPATH="$work" PYTHONDONTWRITEBYTECODE=1 \
  "$venv/bin/python" "$root/scripts/sdk_smoke.py"
