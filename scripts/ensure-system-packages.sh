#!/usr/bin/env bash
# Installs the Debian packages the Rust build links against, only those missing:
# libxmlsec1 + libxml2 (XML signatures of SAML responses, through the `samael` crate),
# OpenSSL headers, pkg-config to find them, and libclang for the bindings `libxml` generates.
# Idempotent: when `dpkg -s` finds every package, it prints nothing and changes nothing.
set -euo pipefail

packages=(libxmlsec1-dev libxml2-dev libssl-dev pkg-config libclang-dev)

command -v dpkg >/dev/null 2>&1 || {
  echo "ensure-system-packages: not a Debian-like system; install ${packages[*]} (or equivalents) yourself" >&2
  exit 0
}

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "ensure-system-packages: installing ${missing[*]}" >&2
sudo=()
[[ "$(id -u)" -eq 0 ]] || sudo=(sudo)
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
