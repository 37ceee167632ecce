#!/usr/bin/env bash
# A second PostgreSQL cluster on another loopback port (default 5433), for the tests of
# tenant schemas spread over several clusters (the path a Citus or multi-cluster deployment
# takes). Creates it with Debian's pg_createcluster if absent (trust auth, loopback only),
# starts it if stopped, waits until it answers. Idempotent; quiet when all is well.
set -euo pipefail

port="${HUB_SECOND_PG_PORT:-5433}"
name="${HUB_SECOND_PG_CLUSTER:-hubsecond}"
wait_seconds="${HUB_SERVICES_WAIT:-30}"

die() { echo "ensure-second-cluster: $*" >&2; exit 1; }
say() { echo "ensure-second-cluster: $*" >&2; }

answers() { pg_isready -q -h 127.0.0.1 -p "$port" -t 2; }
answers && exit 0

command -v pg_createcluster >/dev/null || die "pg_createcluster not found (Debian: postgresql-common)"
# shellcheck disable=SC2012 # directory names are plain version numbers
version="${PG_VERSION:-$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)}"
[[ -n "$version" ]] || die "no PostgreSQL installation under /etc/postgresql"

if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$version $name"; then
  say "creating PostgreSQL $version cluster '$name' on 127.0.0.1:$port"
  pg_createcluster "$version" "$name" --port "$port" -- --auth-local=trust --auth-host=trust >/dev/null ||
    die "pg_createcluster $version $name failed"
  conf="/etc/postgresql/$version/$name/postgresql.conf"
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "max_connections = 100"
  } >>"$conf"
fi

say "starting PostgreSQL $version/$name"
pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start || [[ $? -eq 2 ]] ||
  die "pg_ctlcluster $version $name start failed; see /var/log/postgresql/postgresql-$version-$name.log"

deadline=$((SECONDS + wait_seconds))
until answers; do
  ((SECONDS < deadline)) || die "the second cluster did not answer on 127.0.0.1:$port within ${wait_seconds}s"
  sleep 0.5
done
