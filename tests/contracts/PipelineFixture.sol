// SPDX-License-Identifier: MIT
// Test fixture for the transaction pipeline's integration tests: counts the calls made for
// each id, so a test can check that every intent took effect exactly once, and reverts
// with a reason for ids the test marks as refused. Compiled by tests/contracts/compile.js
// with solc-js 0.8.19 into PipelineFixture.bin (creation code, hex).
pragma solidity 0.8.19;

contract PipelineFixture {
    event Hit(uint256 indexed id, address indexed sender, uint256 count);

    mapping(uint256 => uint256) public hits;
    mapping(uint256 => bool) public refused;

    function refuse(uint256 id) external {
        refused[id] = true;
    }

    /// Counts one call for `id`; reverts with "refused id" when `id` was refused.
    function hit(uint256 id) external {
        require(!refused[id], "refused id");
        uint256 count = hits[id] + 1;
        hits[id] = count;
        emit Hit(id, msg.sender, count);
    }
}
