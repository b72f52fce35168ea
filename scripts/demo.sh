#!/usr/bin/env bash
# The demo (a local devnet with a Morpho Blue market liquidated live by vigil) lands with
# the agent issue. Until then this builds vigil and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" --target vigil
echo "demo: not yet — the agent (vigil run) and the Morpho Blue demo are not built yet."
echo "      vigil itself is built: build/release/agent/vigil --help"
