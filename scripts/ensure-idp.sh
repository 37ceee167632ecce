#!/usr/bin/env bash
# Makes sure the loopback test IdPs (tests/idp/<name>: `oidc` = npm oidc-provider, `saml` =
# samlify) can run: installs each one's npm dependencies exactly as pinned in its
# package-lock.json (`npm ci`) when node_modules is missing, incomplete, or older than the
# lock file. Idempotent and safe to call from several processes at once (flock).
#
#   scripts/ensure-idp.sh            every IdP under tests/idp
#   scripts/ensure-idp.sh oidc saml  the ones named
#
# Start one afterwards with: node tests/idp/<name>/server.mjs <config.json>
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

die() { echo "ensure-idp: $*" >&2; exit 1; }
say() { echo "ensure-idp: $*" >&2; }

command -v node >/dev/null 2>&1 || die "node not found (Debian: apt-get install nodejs; Node.js >= 20 needed)"
command -v npm >/dev/null 2>&1 || die "npm not found (Debian: apt-get install npm)"

node_major="$(node -p 'process.versions.node.split(".")[0]')"
[[ "$node_major" -ge 20 ]] || die "Node.js >= 20 needed, found $(node --version)"

if [[ $# -eq 0 ]]; then
  set -- $(cd "$repo_root/tests/idp" && for d in */; do [[ -f "$d/package-lock.json" ]] && echo "${d%/}"; done)
fi

# npm writes node_modules/.package-lock.json at the end of every install: the stamp.
up_to_date() {
  local dir="$1" stamp="$1/node_modules/.package-lock.json"
  [[ -f "$stamp" ]] \
    && ! [[ "$dir/package-lock.json" -nt "$stamp" ]] \
    && ! [[ "$dir/package.json" -nt "$stamp" ]] \
    && node -e '
      const fs = require("fs"), dir = process.argv[1];
      const deps = Object.keys(require(dir + "/package.json").dependencies || {});
      process.exit(deps.every(d => fs.existsSync(`${dir}/node_modules/${d}/package.json`)) ? 0 : 1);
    ' "$dir"
}

for name in "$@"; do
  dir="$repo_root/tests/idp/$name"
  [[ -f "$dir/package.json" && -f "$dir/package-lock.json" ]] \
    || die "missing $dir/package.json or package-lock.json"
  if up_to_date "$dir"; then
    say "$name: dependencies are up to date"
    continue
  fi
  (
    if command -v flock >/dev/null 2>&1; then
      exec 9>"$dir/.ensure-idp.lock"
      flock 9
      if up_to_date "$dir"; then # another process installed them while we waited
        say "$name: dependencies are up to date"
        exit 0
      fi
    fi
    say "$name: installing dependencies: (cd $dir && npm ci --no-audit --no-fund)"
    (cd "$dir" && npm ci --no-audit --no-fund) >&2 || die "npm ci failed in $dir"
    touch "$dir/node_modules/.package-lock.json"
    say "$name: installed"
  )
done
