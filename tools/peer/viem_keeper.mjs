// A Morpho Blue liquidation keeper written the usual way with viem: the competitor that
// bench/wire_bench.cpp races vigil against. Test and bench use only.
//
//   VIEM_KEEPER_KEY=0x… node tools/peer/viem_keeper.mjs DEPLOYMENT_JSON HTTP_URL WS_URL
//
// DEPLOYMENT_JSON is MorphoDeployment::to_json (tests/support/morpho_fixture.hpp): Morpho,
// the loan token, the markets and the borrowers to watch. The keeper
//  - approves Morpho for the loan token at start and waits for it to be mined;
//  - follows new heads over the websocket (watchBlocks: eth_subscribe newHeads);
//  - on each head, reads every market, oracle price and position with ONE Multicall3
//    aggregate3 eth_call at that block (over HTTP);
//  - computes health with Morpho's own formula in bigint, and for each liquidatable
//    borrower sends liquidate(marketParams, borrower, seizedAssets, 0, "0x") with
//    walletClient.writeContract: fixed gas and fees, nonces counted locally, no simulation,
//    one eth_sendRawTransaction per liquidation, one after another, each awaiting the
//    node's answer (the hash) but no receipt. A borrower is liquidated at most once a run.
// It writes one JSON line per event to stdout: "ready" (approved, subscribed), "block"
// (per head: liquidatable and sent counts) and "error".
import { readFileSync } from 'node:fs';
import {
  createPublicClient,
  createWalletClient,
  defineChain,
  erc20Abi,
  http,
  maxUint256,
  parseAbi,
  webSocket,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

const MULTICALL3 = '0xcA11bde05977b3631167028862bE2a173976CA11';
const GAS = 500_000n;
// The same caps as vigil's default config (ARCHITECTURE.md: max_fee_gwei 300, priority 3).
const MAX_FEE_PER_GAS = 300_000_000_000n;
const MAX_PRIORITY_FEE_PER_GAS = 3_000_000_000n;

const WAD = 10n ** 18n;
const ORACLE_PRICE_SCALE = 10n ** 36n;
const VIRTUAL_SHARES = 10n ** 6n;
const VIRTUAL_ASSETS = 1n;
const MAX_LIQUIDATION_INCENTIVE_FACTOR = 1_150_000_000_000_000_000n;
const LIQUIDATION_CURSOR = 300_000_000_000_000_000n;

const morphoAbi = parseAbi([
  'function market(bytes32 id) view returns (uint128 totalSupplyAssets, uint128 totalSupplyShares, uint128 totalBorrowAssets, uint128 totalBorrowShares, uint128 lastUpdate, uint128 fee)',
  'function position(bytes32 id, address user) view returns (uint256 supplyShares, uint128 borrowShares, uint128 collateral)',
  'function liquidate((address loanToken, address collateralToken, address oracle, address irm, uint256 lltv) marketParams, address borrower, uint256 seizedAssets, uint256 repaidShares, bytes data) returns (uint256, uint256)',
]);
const oracleAbi = parseAbi(['function price() view returns (uint256)']);

// Morpho's MathLib / SharesMathLib.
const mulDivDown = (x, y, d) => (x * y) / d;
const mulDivUp = (x, y, d) => (x * y + (d - 1n)) / d;
const wMulDown = (x, y) => mulDivDown(x, y, WAD);
const wDivDown = (x, y) => mulDivDown(x, WAD, y);
const wDivUp = (x, y) => mulDivUp(x, WAD, y);
const toAssetsUp = (shares, assets, total) =>
  mulDivUp(shares, assets + VIRTUAL_ASSETS, total + VIRTUAL_SHARES);
const toAssetsDown = (shares, assets, total) =>
  mulDivDown(shares, assets + VIRTUAL_ASSETS, total + VIRTUAL_SHARES);
const toSharesUp = (assets, totalAssets, totalShares) =>
  mulDivUp(assets, totalShares + VIRTUAL_SHARES, totalAssets + VIRTUAL_ASSETS);
const min = (a, b) => (a < b ? a : b);

const say = (event, fields = {}) =>
  process.stdout.write(
    JSON.stringify({ event, ...fields }, (_, v) => (typeof v === 'bigint' ? v.toString() : v)) +
      '\n',
  );

const [deploymentPath, httpUrl, wsUrl] = process.argv.slice(2);
const key = process.env.VIEM_KEEPER_KEY;
if (!deploymentPath || !httpUrl || !wsUrl || !key) {
  console.error('usage: VIEM_KEEPER_KEY=0x… node viem_keeper.mjs DEPLOYMENT_JSON HTTP_URL WS_URL');
  process.exit(2);
}
const deployment = JSON.parse(readFileSync(deploymentPath, 'utf8'));
const markets = deployment.markets.map((m) => ({
  id: m.id,
  params: {
    loanToken: m.loan_token,
    collateralToken: m.collateral_token,
    oracle: m.oracle,
    irm: m.irm,
    lltv: BigInt(m.lltv),
  },
}));
const borrowers = deployment.borrowers.map((b) => ({ address: b.address, market: b.market }));

const chain = defineChain({
  id: deployment.chain_id,
  name: 'bench',
  nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
  rpcUrls: { default: { http: [httpUrl], webSocket: [wsUrl] } },
  contracts: { multicall3: { address: MULTICALL3 } },
});
const account = privateKeyToAccount(key);
const publicClient = createPublicClient({ chain, transport: http(httpUrl), pollingInterval: 100 });
const wsClient = createPublicClient({ chain, transport: webSocket(wsUrl) });
const walletClient = createWalletClient({ account, chain, transport: http(httpUrl) });

// The seized collateral that repays the whole debt (all the collateral when it is worth
// less), rounded so that the shares Morpho computes for it never exceed the position's.
function seizedAssets(position, market, price, lltv) {
  const incentive = min(
    MAX_LIQUIDATION_INCENTIVE_FACTOR,
    wDivDown(WAD, WAD - wMulDown(LIQUIDATION_CURSOR, WAD - lltv)),
  );
  const debt = toAssetsDown(position.borrowShares, market.totalBorrowAssets, market.totalBorrowShares);
  let seized = min(position.collateral, mulDivDown(wMulDown(debt, incentive), ORACLE_PRICE_SCALE, price));
  const repaidShares = (s) =>
    toSharesUp(
      wDivUp(mulDivUp(s, price, ORACLE_PRICE_SCALE), incentive),
      market.totalBorrowAssets,
      market.totalBorrowShares,
    );
  while (seized > 0n && repaidShares(seized) > position.borrowShares) seized -= 1n + seized / 1_000_000n;
  return seized;
}

const contracts = [
  ...markets.map((m) => ({ address: deployment.morpho, abi: morphoAbi, functionName: 'market', args: [m.id] })),
  ...markets.map((m) => ({ address: m.params.oracle, abi: oracleAbi, functionName: 'price' })),
  ...borrowers.map((b) => ({
    address: deployment.morpho,
    abi: morphoAbi,
    functionName: 'position',
    args: [markets[b.market].id, b.address],
  })),
];

const liquidated = new Set();
let nonce = 0;

async function onBlock(block) {
  const results = await publicClient.multicall({
    contracts,
    blockNumber: block.number,
    allowFailure: false,
    batchSize: 0, // one aggregate3 for the whole book
  });
  const state = markets.map((_, i) => {
    const [totalSupplyAssets, totalSupplyShares, totalBorrowAssets, totalBorrowShares] = results[i];
    return { totalSupplyAssets, totalSupplyShares, totalBorrowAssets, totalBorrowShares };
  });
  const prices = markets.map((_, i) => results[markets.length + i]);
  const todo = [];
  let liquidatable = 0;
  borrowers.forEach((b, i) => {
    const [, borrowShares, collateral] = results[2 * markets.length + i];
    const position = { borrowShares, collateral };
    const market = state[b.market];
    const price = prices[b.market];
    const lltv = markets[b.market].params.lltv;
    const borrowed = toAssetsUp(borrowShares, market.totalBorrowAssets, market.totalBorrowShares);
    const maxBorrow = wMulDown(mulDivDown(collateral, price, ORACLE_PRICE_SCALE), lltv);
    if (borrowed === 0n || maxBorrow >= borrowed) return;
    ++liquidatable;
    if (liquidated.has(b.address)) return;
    const seized = seizedAssets(position, market, price, lltv);
    if (seized === 0n) return;
    liquidated.add(b.address);
    todo.push({ borrower: b.address, params: markets[b.market].params, seized });
  });
  let failed = 0;
  for (const { borrower, params, seized } of todo) {
    try {
      await walletClient.writeContract({
        address: deployment.morpho,
        abi: morphoAbi,
        functionName: 'liquidate',
        args: [params, borrower, seized, 0n, '0x'],
        nonce: nonce++,
        chainId: chain.id, // without it viem 2.58 asks the node to eth_fillTransaction first
        gas: GAS,
        maxFeePerGas: MAX_FEE_PER_GAS,
        maxPriorityFeePerGas: MAX_PRIORITY_FEE_PER_GAS,
      });
    } catch (e) {
      ++failed;
      say('error', { detail: String(e?.shortMessage ?? e) });
    }
  }
  say('block', { number: block.number, liquidatable, sent: todo.length, failed });
}

const approval = await walletClient.writeContract({
  address: deployment.loan_token,
  abi: erc20Abi,
  functionName: 'approve',
  args: [deployment.morpho, maxUint256],
  gas: 100_000n,
  maxFeePerGas: MAX_FEE_PER_GAS,
  maxPriorityFeePerGas: MAX_PRIORITY_FEE_PER_GAS,
});
await publicClient.waitForTransactionReceipt({ hash: approval });
nonce = await publicClient.getTransactionCount({ address: account.address, blockTag: 'pending' });

// One head at a time, in order: a slow block delays the next one's read, as in most bots.
let queue = Promise.resolve();
await new Promise((resolve) => {
  wsClient.watchBlocks({
    onBlock: (block) => {
      resolve();
      queue = queue.then(() => onBlock(block)).catch((e) => say('error', { detail: String(e) }));
    },
    onError: (e) => say('error', { detail: String(e) }),
  });
  // watchBlocks subscribes asynchronously; the first head proves the subscription is live.
});
say('ready', { address: account.address, nonce });
