#!/usr/bin/env bash
# Makes sure the services the tests talk to are up on loopback: PostgreSQL on
# 127.0.0.1:5432 and Redis on 127.0.0.1:6379. Starts whichever does not answer, waits
# (bounded) until both do, and checks that PostgreSQL allows enough connections and locks
# for tests that run in parallel. Idempotent; prints nothing when all is already well.
set -euo pipefail

# Loopback only. The overrides exist so the script itself can be tried on spare ports.
pg_host=127.0.0.1
pg_port="${HUB_PG_PORT:-5432}"
pg_cluster="${PG_CLUSTER:-main}"
redis_host=127.0.0.1
redis_port="${HUB_REDIS_PORT:-6379}"
wait_seconds="${HUB_SERVICES_WAIT:-30}"
# Each test gets its own database or tenant schema and pool, in parallel.
min_connections="${HUB_PG_MIN_CONNECTIONS:-100}"
min_locks_per_transaction="${HUB_PG_MIN_LOCKS:-64}"

die() { echo "ensure-services: $*" >&2; exit 1; }
say() { echo "ensure-services: $*" >&2; }

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found (Debian: $2)"; }
need pg_isready postgresql-client
need psql postgresql-client
need redis-cli redis-tools

pg_answers() { pg_isready -q -h "$pg_host" -p "$pg_port" -t 2; }
redis_answers() { [[ "$(redis-cli -h "$redis_host" -p "$redis_port" ping 2>/dev/null)" == PONG ]]; }

# The newest installed major version, unless PG_VERSION names one.
pg_version() {
  if [[ -n "${PG_VERSION:-}" ]]; then echo "$PG_VERSION"; return; fi
  # shellcheck disable=SC2012 # directory names are plain version numbers
  ls /etc/postgresql 2>/dev/null | sort -V | tail -n1
}

start_postgres() {
  local version
  version="$(pg_version)"
  [[ -n "$version" ]] || die "PostgreSQL does not answer on $pg_host:$pg_port and no cluster is configured under /etc/postgresql"
  need pg_ctlcluster postgresql-common
  say "starting PostgreSQL $version/$pg_cluster"
  # Exit status 2 means "already running" (e.g. still starting up): waiting below covers it.
  pg_ctlcluster --skip-systemctl-redirect "$version" "$pg_cluster" start || [[ $? -eq 2 ]] ||
    die "pg_ctlcluster $version $pg_cluster start failed; see /var/log/postgresql/postgresql-$version-$pg_cluster.log"
}

start_redis() {
  need redis-server redis-server
  say "starting Redis on $redis_host:$redis_port"
  redis-server --daemonize yes --bind "$redis_host" --port "$redis_port" \
    --save "" --appendonly no >/dev/null ||
    die "redis-server failed to start"
}

wait_for() {
  local what="$1" probe="$2" deadline=$((SECONDS + wait_seconds))
  until "$probe"; do
    ((SECONDS < deadline)) || die "$what did not answer within ${wait_seconds}s"
    sleep 0.5
  done
}

# pg_isready: 1 = starting up (rejecting connections), 2 = no response. Start only on 2.
pg_status=0
pg_isready -q -h "$pg_host" -p "$pg_port" -t 2 || pg_status=$?
if [[ $pg_status -eq 2 || $pg_status -eq 3 ]]; then
  start_postgres
fi
redis_answers || start_redis

wait_for "PostgreSQL on $pg_host:$pg_port" pg_answers
wait_for "Redis on $redis_host:$redis_port" redis_answers

# Trust auth as postgres (or root, where that is the superuser set up).
pg_user=""
for candidate in postgres root; do
  if psql -h "$pg_host" -p "$pg_port" -U "$candidate" -d postgres -XAtqc 'select 1' >/dev/null 2>&1; then
    pg_user="$candidate"
    break
  fi
done
[[ -n "$pg_user" ]] || die "cannot connect to PostgreSQL on $pg_host:$pg_port as postgres or root (trust auth expected)"

pg_setting() {
  psql -h "$pg_host" -p "$pg_port" -U "$pg_user" -d postgres -XAtqc "select setting from pg_settings where name = '$1'"
}

connections="$(pg_setting max_connections)"
locks="$(pg_setting max_locks_per_transaction)"
if ((connections >= min_connections && locks >= min_locks_per_transaction)); then
  exit 0
fi

# Both are postmaster settings: raise them with ALTER SYSTEM and restart the cluster.
say "raising PostgreSQL limits (max_connections $connections -> >= $min_connections, max_locks_per_transaction $locks -> >= $min_locks_per_transaction)"
((connections >= min_connections)) ||
  psql -h "$pg_host" -p "$pg_port" -U "$pg_user" -d postgres -XAtqc "alter system set max_connections = $min_connections" >/dev/null
((locks >= min_locks_per_transaction)) ||
  psql -h "$pg_host" -p "$pg_port" -U "$pg_user" -d postgres -XAtqc "alter system set max_locks_per_transaction = $min_locks_per_transaction" >/dev/null
version="$(pg_version)"
[[ -n "$version" ]] || die "cannot restart PostgreSQL to apply new limits: no cluster under /etc/postgresql"
need pg_ctlcluster postgresql-common
pg_ctlcluster --skip-systemctl-redirect "$version" "$pg_cluster" restart ||
  die "pg_ctlcluster $version $pg_cluster restart failed; see /var/log/postgresql/postgresql-$version-$pg_cluster.log"
wait_for "PostgreSQL on $pg_host:$pg_port (after restart)" pg_answers
[[ "$(pg_setting max_connections)" -ge "$min_connections" ]] || die "max_connections is still below $min_connections"
[[ "$(pg_setting max_locks_per_transaction)" -ge "$min_locks_per_transaction" ]] || die "max_locks_per_transaction is still below $min_locks_per_transaction"
