#!/usr/bin/env bash
# Serves the Django REST Framework + django-tenants peer on 127.0.0.1:<port> over the hub's
# database: syncs the django-tenants registry (public schema) from hub_control.tenants, then
# execs gunicorn, which prints "PEER READY" once a worker can answer; GET /healthz → 200.
#   bash bench/peer/serve.sh <port> <database_url>
# Environment (optional): PEER_WORKERS (default 2 × cores + 1), PEER_WORKER_CLASS (sync),
# PEER_THREADS (1; for gthread), PEER_CONN_MAX_AGE ("none" = persistent), PYTHON (setup.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$(cd "$here/.." && pwd)/.venv-peer"

die() { echo "peer serve: $*" >&2; exit 1; }

[[ $# -eq 2 ]] || die "usage: serve.sh <port> <database_url>"
port="$1"
[[ "$port" =~ ^[0-9]+$ && "$port" -ge 1 && "$port" -le 65535 ]] || die "bad port: $port"
[[ "$2" =~ ^postgres(ql)?:// ]] || die "database_url must be postgres://…"

bash "$here/setup.sh"

export PEER_DATABASE_URL="$2"
export DJANGO_SETTINGS_MODULE=peer_site.settings
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
# Byte-code goes into the venv, not into the work tree.
export PYTHONPYCACHEPREFIX="$venv/pycache"
export PYTHONUNBUFFERED=1

cores="$(nproc 2>/dev/null || echo 2)"
workers="${PEER_WORKERS:-$((cores * 2 + 1))}"
worker_class="${PEER_WORKER_CLASS:-sync}"
threads="${PEER_THREADS:-1}"

cd "$here"
# `migrate_schemas --shared` (django-tenants' own tables, public schema only; it never
# touches a tenant schema), then the registry sync, in one Python process.
"$venv/bin/python" manage.py sync_hub_tenants --migrate-shared || die "registry sync failed"

echo "peer serve: gunicorn on 127.0.0.1:$port, $workers $worker_class workers × $threads threads" >&2
exec "$venv/bin/gunicorn" peer_site.wsgi:application \
  --config "$here/gunicorn.conf.py" \
  --bind "127.0.0.1:$port" \
  --workers "$workers" \
  --worker-class "$worker_class" \
  --threads "$threads" \
  --preload \
  --backlog 2048 \
  --timeout 60 \
  --graceful-timeout 5 \
  --log-level warning \
  --error-logfile - \
  --no-control-socket
