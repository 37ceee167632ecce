#!/usr/bin/env bash
# Installs the Django REST Framework + django-tenants peer into bench/.venv-peer, exactly as
# locked in bench/peer/requirements.txt (from PyPI). Idempotent: when the lock, this script
# and the interpreter are unchanged since the last good install, it returns at once.
#   PYTHON=python3.11 bash bench/peer/setup.sh     (default interpreter: python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$(cd "$here/.." && pwd)/.venv-peer"
lock="$here/requirements.txt"
stamp="$venv/.peer-installed"
python="${PYTHON:-python3}"

die() { echo "peer setup: $*" >&2; exit 1; }

command -v "$python" >/dev/null 2>&1 || die "$python not found; install Python 3.10+"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || die "$python is $("$python" -V 2>&1); Django 5.2 needs 3.10+"

want="$(
  {
    sha256sum "$lock" "${BASH_SOURCE[0]}" | cut -d' ' -f1
    "$python" -c 'import sys; print(sys.version)'
  } | sha256sum | cut -d' ' -f1
)"

# Two harness steps may call this at once: one installs, the other waits and finds the stamp.
exec 9>"${TMPDIR:-/tmp}/hub-bench-peer-$(printf '%s' "$venv" | sha256sum | cut -c1-16).lock"
flock 9

venv_works() { [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; }

if venv_works && [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/gunicorn" ]]; then
  exit 0
fi

# A venv from another interpreter, or half built, is rebuilt rather than patched.
rm -rf "$venv"
"$python" -m venv "$venv" || die "$python -m venv failed (Debian: apt-get install python3-venv)"
printf '*\n' >"$venv/.gitignore"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# --no-deps: the lock lists every transitive dependency; `pip check` proves it complete.
if ! "$venv/bin/python" -m pip install --require-virtualenv --disable-pip-version-check \
  --no-input --quiet --no-deps -r "$lock" >"$log" 2>&1; then
  cat "$log" >&2
  die "pip install -r bench/peer/requirements.txt failed"
fi
if ! "$venv/bin/python" -m pip check --disable-pip-version-check >"$log" 2>&1; then
  cat "$log" >&2
  die "bench/peer/requirements.txt is incomplete or inconsistent (pip check above)"
fi
versions="$("$venv/bin/python" - <<'PY'
import django, django_tenants, gunicorn, psycopg2, rest_framework
from importlib.metadata import version
print(f"Django {django.get_version()}, djangorestframework {rest_framework.VERSION}, "
      f"django-tenants {version('django-tenants')}, gunicorn {gunicorn.__version__}, "
      f"psycopg2 {psycopg2.__version__.split()[0]}")
PY
)" || die "the installed peer does not import"

echo "$want" >"$stamp"
echo "peer setup: installed $versions into ${venv#"$(cd "$here/../.." && pwd)/"}" >&2
