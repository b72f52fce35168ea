#!/usr/bin/env bash
# Installs everything vigil's build and tests need on Debian 12, as root. Idempotent:
# apt-get runs only when a package is missing, npm only when the lockfile changed.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    g++ cmake make pkg-config git ca-certificates clang-format openssl
    libboost-dev libcurl4-openssl-dev libssl-dev nlohmann-json3-dev libsecp256k1-dev
    libexpected-dev libsqlite3-dev libgtest-dev libgmock-dev libbenchmark-dev
    nodejs npm
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A node from outside Debian (e.g. nodesource, nvm) is fine too.
if command -v node >/dev/null && command -v npm >/dev/null; then
    missing=("${missing[@]/nodejs/}")
    missing=("${missing[@]/npm/}")
fi
read -r -a missing <<<"${missing[*]}"
if ((${#missing[@]})); then
    if [ "$(id -u)" -ne 0 ]; then
        echo "bootstrap: missing Debian packages (${missing[*]}); run as root to install them" >&2
        exit 1
    fi
    echo "bootstrap: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Pinned node tools: anvil and cast (foundry), solc-js, Morpho Blue sources.
stamp=tools/node_modules/.vigil-lock.sha256
want=$(sha256sum tools/package-lock.json | cut -d' ' -f1)
if [ ! -x tools/node_modules/.bin/anvil ] || [ ! -x tools/node_modules/.bin/cast ] ||
   [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "bootstrap: npm ci in tools/"
    (cd tools && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
fi
tools/node_modules/.bin/anvil --version | head -n1
tools/node_modules/.bin/cast --version | head -n1
