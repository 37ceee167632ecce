#!/usr/bin/env bash
# Makes sure the loopback OpenID Connect test IdP (tests/idp/oidc) can run: installs its
# npm dependencies exactly as pinned in package-lock.json (`npm ci`) when node_modules is
# missing, incomplete, or older than package-lock.json. Idempotent and safe to call from
# several test processes at once (serialised with flock when available).
#
# Start the IdP afterwards with: node tests/idp/oidc/server.mjs <config.json>
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
idp_dir="$repo_root/tests/idp/oidc"

die() { echo "ensure-idp: $*" >&2; exit 1; }
say() { echo "ensure-idp: $*" >&2; }

command -v node >/dev/null 2>&1 || die "node not found (Debian: apt-get install nodejs; Node.js >= 20 needed)"
command -v npm >/dev/null 2>&1 || die "npm not found (Debian: apt-get install npm)"

node_major="$(node -p 'process.versions.node.split(".")[0]')"
[[ "$node_major" -ge 20 ]] || die "Node.js >= 20 needed, found $(node --version)"

[[ -f "$idp_dir/package.json" && -f "$idp_dir/package-lock.json" ]] \
  || die "missing $idp_dir/package.json or package-lock.json"

# npm writes node_modules/.package-lock.json on every install: use it as the stamp.
stamp="$idp_dir/node_modules/.package-lock.json"
up_to_date() {
  [[ -f "$stamp" && -f "$idp_dir/node_modules/oidc-provider/package.json" ]] \
    && ! [[ "$idp_dir/package-lock.json" -nt "$stamp" ]] \
    && ! [[ "$idp_dir/package.json" -nt "$stamp" ]]
}

if up_to_date; then
  say "dependencies in $idp_dir/node_modules are up to date"
  exit 0
fi

if command -v flock >/dev/null 2>&1; then
  exec 9>"$idp_dir/.ensure-idp.lock"
  flock 9
  if up_to_date; then # another process installed them while we waited
    say "dependencies in $idp_dir/node_modules are up to date"
    exit 0
  fi
fi

say "installing dependencies: (cd $idp_dir && npm ci --no-audit --no-fund)"
(cd "$idp_dir" && npm ci --no-audit --no-fund) >&2 \
  || die "npm ci failed in $idp_dir"
touch "$stamp"
say "installed oidc-provider $(node -p "require('$idp_dir/node_modules/oidc-provider/package.json').version")"
