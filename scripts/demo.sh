#!/usr/bin/env bash
# The demo: vigil finds and liquidates Morpho Blue positions live on a local devnet.
#
#  1. installs what is missing (scripts/bootstrap.sh) and builds vigil and vigil_devnet;
#  2. starts anvil on 127.0.0.1:8545 (one block a second) and deploys the real Morpho Blue
#     (compiled from the npm package's sources) with two markets and 60 borrowers;
#  3. runs `vigil run --config config/examples/devnet.json` as the keeper (anvil's public
#     dev account 1), shows its positions table, then crashes both oracle prices by 30%;
#  4. waits until the liquidations stop, stops vigil (SIGINT) and prints a summary;
#  5. stops everything it started, also on Ctrl-C or failure.
# VIGIL_DEMO_DROP (percent, default 30) sets the crash; VIGIL_JOBS the build's parallelism;
# VIGIL_BUILD_DIR the CMake build directory (default build/release, as scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${VIGIL_JOBS:-$(nproc)}
drop=${VIGIL_DEMO_DROP:-30}
build=${VIGIL_BUILD_DIR:-build/release}
rpc=http://127.0.0.1:8545

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Installing and building (first run: several minutes)"
bash scripts/bootstrap.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$jobs" --target vigil vigil_devnet
vigil=$build/agent/vigil
devnet=$build/tests/vigil_devnet
anvil=tools/node_modules/.bin/anvil
cast=tools/node_modules/.bin/cast

work=$(mktemp -d)
anvil_pid=""
vigil_pid=""
cleanup() {
    if [[ -n $vigil_pid ]]; then kill -INT "$vigil_pid" 2>/dev/null || true; wait "$vigil_pid" 2>/dev/null || true; fi
    if [[ -n $anvil_pid ]]; then kill "$anvil_pid" 2>/dev/null || true; wait "$anvil_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

say "Starting anvil on $rpc"
if (exec 3<>/dev/tcp/127.0.0.1/8545) 2>/dev/null; then
    echo "demo: something already listens on 127.0.0.1:8545; stop it first" >&2
    exit 1
fi
"$anvil" --port 8545 --block-time 1 >"$work/anvil.log" 2>&1 &
anvil_pid=$!
for _ in $(seq 100); do
    "$cast" block-number --rpc-url "$rpc" >/dev/null 2>&1 && break
    sleep 0.1
done

say "Deploying Morpho Blue, two markets and 60 borrowers"
"$devnet" setup --rpc "$rpc" --out "$work/deployment.json" --keeper-balance 50000000
morpho=$(sed -n 's/^  "morpho": "\(0x[0-9a-fA-F]*\)".*/\1/p' "$work/deployment.json")

# The devnet config reads these two; the key is anvil's public dev account 1 (test only).
export VIGIL_KEEPER_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
export VIGIL_MORPHO=$morpho
config=config/examples/devnet.json
# The journal remembers the nonces of the chain it ran on: this anvil is a new chain.
rm -rf vigil-state
"$vigil" check-config "$config" >/dev/null

# The tables go to a file first: `vigil positions | head` would let head close the pipe
# while vigil still writes, and pipefail would end the demo on vigil's SIGPIPE.
say "Positions before the crash (vigil positions, first rows)"
"$vigil" positions --config "$config" >"$work/positions.txt"
head -8 "$work/positions.txt"

say "Starting vigil run (its log follows)"
"$vigil" run --config "$config" > >(tee "$work/vigil.log") 2>&1 &
vigil_pid=$!
for _ in $(seq 100); do
    grep -q "stream.connected" "$work/vigil.log" 2>/dev/null && break
    sleep 0.1
done
sleep 2

say "Crashing both oracle prices by $drop%"
crash_block=$(( $("$cast" block-number --rpc-url "$rpc") + 1 ))  # where the first new price lands
"$devnet" set-price --rpc "$rpc" --deployment "$work/deployment.json" --market 0 --drop-percent "$drop"
"$devnet" set-price --rpc "$rpc" --deployment "$work/deployment.json" --market 1 --drop-percent "$drop"

say "Waiting for the liquidations to stop (5 s without a new one)"
"$devnet" report --rpc "$rpc" --deployment "$work/deployment.json" --since-block "$crash_block" \
    --wait-quiet 5 --timeout 120 >"$work/report.txt" || true
kill -INT "$vigil_pid"
wait "$vigil_pid" || true
vigil_pid=""

say "Positions after (vigil positions, liquidatable ones if any)"
"$vigil" positions --config "$config" >"$work/positions.txt"
awk 'NR <= 2 || / yes /' "$work/positions.txt" | head -12

say "Summary"
cat "$work/report.txt"
echo "transactions vigil sent: $(grep -c ' tx.sent ' "$work/vigil.log" || true)," \
    "included: $(grep -c 'outcome=included' "$work/vigil.log" || true)"
cat <<'EOF'

What happened: vigil backfilled Morpho's logs into an in-memory mirror of every market and
position, approved the loan token at start (before any liquidation needed it), followed
new blocks over the websocket and read each block's logs and oracle prices in one batched
request. When the prices fell it computed health with Morpho's exact math, chose for each
unhealthy borrower the seized amount that maximizes profit, and sent every liquidation in
that block's wave, the most profitable first and the rest in one batch: priced, signed,
journaled (state in ./vigil-state), confirmed; not simulated, since the amounts come from
exact math on state read at the block (`"simulate": "auto"`). To
point vigil at a real chain, start from config/examples/mainnet.json (see README.md,
"Running on a real chain").
EOF
