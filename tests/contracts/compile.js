// Compiles RpcFixture.sol with the pinned solc-js (tools/node_modules/solc, 0.8.19) and
// writes RpcFixture.bin (creation code as 0x-hex). Run from the repo root:
//   node tests/contracts/compile.js
const fs = require('fs');
const path = require('path');
const solc = require(path.resolve('tools/node_modules/solc'));

const dir = path.resolve('tests/contracts');
const input = {
  language: 'Solidity',
  sources: {'RpcFixture.sol': {content: fs.readFileSync(path.join(dir, 'RpcFixture.sol'), 'utf8')}},
  settings: {optimizer: {enabled: true, runs: 200}, outputSelection: {'*': {'*': ['evm.bytecode.object']}}},
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
for (const e of output.errors || []) {
  console.error(e.formattedMessage);
  if (e.severity === 'error') process.exit(1);
}
const bin = output.contracts['RpcFixture.sol'].RpcFixture.evm.bytecode.object;
fs.writeFileSync(path.join(dir, 'RpcFixture.bin'), '0x' + bin + '\n');
console.log(`RpcFixture.bin: ${bin.length / 2} bytes`);
