#!/usr/bin/env bash
# Makes sure the third-party xAPI client the LRS tests drive (tests/xapi: npm @xapi/xapi)
# can run: installs its npm dependencies exactly as pinned in tests/xapi/package-lock.json
# (`npm ci`) when node_modules is missing, incomplete, or older than the lock file.
# Idempotent and safe to call from several processes at once (flock); tests/api/xapi.rs
# calls it before running tests/xapi/client.mjs.
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/xapi"

die() { echo "ensure-xapi-client: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "node not found (Debian: apt-get install nodejs; Node.js >= 20 needed)"
command -v npm >/dev/null 2>&1 || die "npm not found (Debian: apt-get install npm)"
[[ -f "$dir/package.json" && -f "$dir/package-lock.json" ]] || die "missing $dir/package-lock.json"

# npm writes node_modules/.package-lock.json at the end of every install: the stamp.
up_to_date() {
  local stamp="$dir/node_modules/.package-lock.json"
  [[ -f "$stamp" ]] \
    && ! [[ "$dir/package-lock.json" -nt "$stamp" ]] \
    && ! [[ "$dir/package.json" -nt "$stamp" ]] \
    && [[ -f "$dir/node_modules/@xapi/xapi/package.json" ]]
}

up_to_date && exit 0
exec 9>"$dir/.ensure-xapi-client.lock"
flock 9
up_to_date && exit 0
echo "ensure-xapi-client: installing: (cd $dir && npm ci --no-audit --no-fund --ignore-scripts)" >&2
(cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts) >&2 || die "npm ci failed in $dir"
touch "$dir/node_modules/.package-lock.json"
