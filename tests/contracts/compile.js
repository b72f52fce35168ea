// Compiles the test fixtures with the pinned solc-js (tools/node_modules/solc, 0.8.19) and
// writes NAME.bin (creation code as 0x-hex) beside each NAME.sol. Run from the repo root:
//   node tests/contracts/compile.js
const fs = require('fs');
const path = require('path');
const solc = require(path.resolve('tools/node_modules/solc'));

const dir = path.resolve('tests/contracts');
for (const name of ['RpcFixture', 'PipelineFixture']) {
  const file = `${name}.sol`;
  const input = {
    language: 'Solidity',
    sources: {[file]: {content: fs.readFileSync(path.join(dir, file), 'utf8')}},
    settings: {optimizer: {enabled: true, runs: 200}, outputSelection: {'*': {'*': ['evm.bytecode.object']}}},
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  for (const e of output.errors || []) {
    console.error(e.formattedMessage);
    if (e.severity === 'error') process.exit(1);
  }
  const bin = output.contracts[file][name].evm.bytecode.object;
  fs.writeFileSync(path.join(dir, `${name}.bin`), '0x' + bin + '\n');
  console.log(`${name}.bin: ${bin.length / 2} bytes`);
}
