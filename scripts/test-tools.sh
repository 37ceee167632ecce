#!/usr/bin/env bash
# Installs the Python tools the tests use (schemathesis, openapi-python-client,
# openapi-spec-validator, aiosmtpd, scim2-tester, localstripe) into .venv,
# exactly as locked in scripts/requirements-test.txt. Idempotent: when the lock file, the
# interpreter and the venv are unchanged since the last successful install, it returns at
# once and prints nothing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
lock="$root/scripts/requirements-test.txt"
stamp="$venv/.requirements-test.stamp"
python="${PYTHON:-python3}"

die() { echo "test-tools: $*" >&2; exit 1; }

command -v "$python" >/dev/null 2>&1 || die "$python not found; install Python 3.11+"
[[ -f "$lock" ]] || die "missing $lock"

# The stamp covers the lock file, the interpreter that built the venv and this script, so
# a changed pin or a new Python reinstalls, and anything else is a no-op.
want="$(
  {
    sha256sum "$lock" "${BASH_SOURCE[0]}" | cut -d' ' -f1
    "$python" -c 'import sys; print(sys.version)'
  } | sha256sum | cut -d' ' -f1
)"

# Tests run in parallel and several of them call this script: one installs, the others wait
# for it and then find the stamp current. (Outside the venv, which may be deleted below.)
mutex="${TMPDIR:-/tmp}/hub-test-tools-$(printf '%s' "$root" | sha256sum | cut -c1-16).lock"
exec 9>"$mutex"
flock 9

venv_works() {
  [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c 'import sys' >/dev/null 2>&1
}

if venv_works && [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/st" \
  && -x "$venv/bin/openapi-python-client" && -x "$venv/bin/openapi-spec-validator" \
  && -x "$venv/bin/localstripe" ]] \
  && "$venv/bin/python" -c 'import aiosmtpd, scim2_tester' >/dev/null 2>&1; then
  exit 0
fi

# A venv left by another interpreter (or half-created) is rebuilt rather than patched.
if [[ -d "$venv" ]] && ! venv_works; then
  rm -rf "$venv"
fi
if [[ ! -d "$venv" ]]; then
  "$python" -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# --no-deps: the lock file lists every transitive dependency; `pip check` below proves it
# is complete and consistent, so nothing outside it is ever resolved from the index.
if ! "$venv/bin/python" -m pip install --require-virtualenv --disable-pip-version-check \
  --no-input --quiet --no-deps -r "$lock" >"$log" 2>&1; then
  cat "$log" >&2
  die "pip install -r scripts/requirements-test.txt failed"
fi
if ! "$venv/bin/python" -m pip check --disable-pip-version-check >"$log" 2>&1; then
  cat "$log" >&2
  die "scripts/requirements-test.txt is incomplete or inconsistent (pip check above)"
fi
if ! "$venv/bin/st" --version >"$log" 2>&1; then
  cat "$log" >&2
  die ".venv/bin/st does not run"
fi
if ! "$venv/bin/openapi-python-client" --version >>"$log" 2>&1; then
  cat "$log" >&2
  die ".venv/bin/openapi-python-client does not run"
fi
if ! "$venv/bin/openapi-spec-validator" --version >>"$log" 2>&1 \
  || ! "$venv/bin/python" -c 'import openapi_schema_validator' >>"$log" 2>&1; then
  cat "$log" >&2
  die ".venv/bin/openapi-spec-validator does not run"
fi

if ! "$venv/bin/python" -m aiosmtpd --version >>"$log" 2>&1; then
  cat "$log" >&2
  die ".venv/bin/python -m aiosmtpd does not run"
fi

if ! "$venv/bin/python" -c 'import importlib.metadata as m, scim2_tester, scim2_client.engines.httpx2; print("scim2-tester", m.version("scim2-tester"))' >>"$log" 2>&1; then
  cat "$log" >&2
  die "scim2-tester does not import in .venv"
fi

# `--help` runs the console script, which imports localstripe.server and with it aiohttp,
# the resources and python-dateutil: a missing or broken piece of the closure fails here.
if ! "$venv/bin/localstripe" --help >/dev/null 2>>"$log" \
  || ! "$venv/bin/python" -c 'import importlib.metadata as m; print("localstripe", m.version("localstripe"))' >>"$log" 2>&1; then
  cat "$log" >&2
  die ".venv/bin/localstripe does not run"
fi

echo "$want" >"$stamp"
echo "test-tools: installed $(paste -sd ';' "$log") into .venv" >&2
