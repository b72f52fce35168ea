// Compiles Morpho Blue and its mocks from the sources shipped in the pinned npm package
// @morpho-org/morpho-blue 1.0.0 (it ships no bytecode) with the pinned solc-js 0.8.19 and
// Morpho's own settings: via-IR, optimizer on with 999,999 runs, EVM version paris
// (morpho-org/morpho-blue foundry.toml; 999,999 rather than 2^32-1 because Etherscan
// verifies no more runs, which is how the deployed Morpho was compiled).
// Writes one <Contract>.json per contract ({"abi": [...], "bytecode": "0x..."}) into OUT_DIR.
// Run by CMake at build time:
//   node tests/contracts/morpho/compile.js TOOLS_DIR OUT_DIR
const fs = require('fs');
const path = require('path');

const [toolsDir, outDir] = process.argv.slice(2);
if (!toolsDir || !outDir) {
  console.error('usage: node compile.js TOOLS_DIR OUT_DIR');
  process.exit(2);
}
const solc = require(path.resolve(toolsDir, 'solc'));
const pkg = path.resolve(toolsDir, '@morpho-org/morpho-blue');

// Every .sol file under src/, keyed by its path relative to the package, so that the
// sources' relative imports resolve among themselves.
function collect(dir, sources) {
  for (const entry of fs.readdirSync(dir, {withFileTypes: true})) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) collect(full, sources);
    else if (entry.name.endsWith('.sol'))
      sources[path.relative(pkg, full)] = {content: fs.readFileSync(full, 'utf8')};
  }
  return sources;
}

const wanted = {
  'src/Morpho.sol': 'Morpho',
  'src/mocks/ERC20Mock.sol': 'ERC20Mock',
  'src/mocks/OracleMock.sol': 'OracleMock',
  'src/mocks/IrmMock.sol': 'IrmMock',
};
const all = collect(path.join(pkg, 'src'), {});
const sources = {};
// Only the wanted files and what they import are compiled (solc follows the imports
// through the callback below), so unused periphery code does not slow the build.
for (const file of Object.keys(wanted)) sources[file] = all[file];

const input = {
  language: 'Solidity',
  sources,
  settings: {
    viaIR: true,
    optimizer: {enabled: true, runs: 999999},
    evmVersion: 'paris',
    outputSelection: {'*': {'*': ['abi', 'evm.bytecode.object']}},
  },
};
const findImports = (p) => (all[p] ? {contents: all[p].content} : {error: 'not found: ' + p});

if (solc.version().indexOf('0.8.19') !== 0) {
  console.error('expected solc 0.8.19, found ' + solc.version());
  process.exit(1);
}
const started = Date.now();
const output = JSON.parse(solc.compile(JSON.stringify(input), {import: findImports}));
let failed = false;
for (const e of output.errors || []) {
  if (e.severity === 'error') {
    console.error(e.formattedMessage);
    failed = true;
  }
}
if (failed) process.exit(1);
fs.mkdirSync(outDir, {recursive: true});
for (const [file, name] of Object.entries(wanted)) {
  const c = output.contracts[file][name];
  const json = {contract: name, source: '@morpho-org/morpho-blue/' + file, solc: solc.version(),
                abi: c.abi, bytecode: '0x' + c.evm.bytecode.object};
  fs.writeFileSync(path.join(outDir, name + '.json'), JSON.stringify(json) + '\n');
}
console.log(`morpho contracts compiled with solc ${solc.version()} (via-IR, 999999 runs) in ` +
            `${((Date.now() - started) / 1000).toFixed(1)} s`);
