// SPDX-License-Identifier: MIT
// Test fixture for tests/integration/http_provider_test.cpp: emits logs on demand (for
// eth_getLogs range splitting) and has a view that reverts for some inputs (for
// Multicall3 calls that fail). Compiled by tests/contracts/compile.js with solc-js
// 0.8.19 into RpcFixture.bin (creation code, hex).
pragma solidity 0.8.19;

contract RpcFixture {
    event Ping(uint256 indexed seq, address indexed sender, uint256 value);

    uint256 public emitted;

    /// Emits `count` Ping logs numbered on from `emitted`.
    function ping(uint256 count) external {
        uint256 seq = emitted;
        for (uint256 i = 0; i < count; ++i) emit Ping(seq + i, msg.sender, block.number);
        emitted = seq + count;
    }

    /// 2x, or a revert with "multiple of 7" when x is one.
    function twice(uint256 x) external pure returns (uint256) {
        require(x % 7 != 0, "multiple of 7");
        return 2 * x;
    }
}
