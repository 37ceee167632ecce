#!/usr/bin/env bash
# Makes sure the loopback SAML 2.0 test IdP (tests/idp/saml) can run: installs its npm
# dependencies exactly as pinned in package-lock.json (`npm ci`) when node_modules is
# missing, incomplete, or older than package-lock.json. Idempotent and safe to call from
# several test processes at once (serialised with flock when available).
#
# Start the IdP afterwards with: node tests/idp/saml/server.mjs <config.json>
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
idp_dir="$repo_root/tests/idp/saml"

die() { echo "ensure-saml-idp: $*" >&2; exit 1; }
say() { echo "ensure-saml-idp: $*" >&2; }

command -v node >/dev/null 2>&1 || die "node not found (Debian: apt-get install nodejs; Node.js >= 20 needed)"
command -v npm >/dev/null 2>&1 || die "npm not found (Debian: apt-get install npm)"

node_major="$(node -p 'process.versions.node.split(".")[0]')"
[[ "$node_major" -ge 20 ]] || die "Node.js >= 20 needed, found $(node --version)"

[[ -f "$idp_dir/package.json" && -f "$idp_dir/package-lock.json" ]] \
  || die "missing $idp_dir/package.json or package-lock.json"

# npm writes node_modules/.package-lock.json on every install: use it as the stamp.
stamp="$idp_dir/node_modules/.package-lock.json"
up_to_date() {
  [[ -f "$stamp" ]] \
    && [[ -f "$idp_dir/node_modules/samlify/package.json" ]] \
    && [[ -f "$idp_dir/node_modules/@authenio/samlify-xmllint-wasm/package.json" ]] \
    && [[ -f "$idp_dir/node_modules/xmllint-wasm/xmllint.wasm" ]] \
    && [[ -f "$idp_dir/node_modules/@xmldom/xmldom/package.json" ]] \
    && ! [[ "$idp_dir/package-lock.json" -nt "$stamp" ]] \
    && ! [[ "$idp_dir/package.json" -nt "$stamp" ]]
}

if up_to_date; then
  say "dependencies in $idp_dir/node_modules are up to date"
  exit 0
fi

if command -v flock >/dev/null 2>&1; then
  exec 9>"$idp_dir/.ensure-saml-idp.lock"
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
say "installed samlify $(node -p "require('$idp_dir/node_modules/samlify/package.json').version")"
