#pragma once
// Many contract reads in few eth_calls through Multicall3's aggregate3 (mds1/multicall3,
// deployed at the same address on most EVM chains).
#include <cstddef>
#include <span>
#include <vector>

#include "chain/bytes.hpp"
#include "chain/provider.hpp"
#include "chain/result.hpp"
#include "chain/rpc_error.hpp"

namespace vigil {

/// 0xcA11bde05977b3631167028862bE2a173976CA11, the address Multicall3 has on every chain
/// it was deployed to with its presigned transaction.
inline constexpr Address kMulticall3Address{{0xca, 0x11, 0xbd, 0xe0, 0x59, 0x77, 0xb3,
                                             0x63, 0x11, 0x67, 0x02, 0x88, 0x62, 0xbe,
                                             0x2a, 0x17, 0x39, 0x76, 0xca, 0x11}};

/// One call of an aggregate3 batch: Multicall3.Call3.
struct MulticallCall {
    Address target;
    Bytes call_data;
    /// When false and the call reverts, the whole chunk holding it reverts (and
    /// multicall fails); when true its failure is reported in its own result.
    bool allow_failure = true;
};

/// One result: Multicall3.Result. `return_data` is the revert data when !success.
struct MulticallResult {
    bool success = false;
    Bytes return_data;
    bool operator==(const MulticallResult&) const = default;
};

struct MulticallOptions {
    Address multicall = kMulticall3Address;
    /// Calls per eth_call. Nodes cap the gas of an eth_call (geth: 50M by default), and a
    /// chunk's gas is the sum of its calls'.
    std::size_t chunk_size = 200;
};

/// aggregate3 calldata for `calls` (the selector 0x82ad56cb and the ABI-encoded
/// (address,bool,bytes)[]).
Bytes encode_aggregate3(std::span<const MulticallCall> calls);
/// Decodes aggregate3's return data, (bool,bytes)[], which must hold `expected` results.
/// Failures are malformed_response: the ABI rule broken, a wrong count, or empty data
/// ("no contract at the multicall address" – a call to an account without code returns
/// nothing rather than reverting).
[[nodiscard]] Result<std::vector<MulticallResult>, rpc::Failure> decode_aggregate3(
    BytesView data, std::size_t expected);

/// Runs `calls` at `block` as aggregate3 eth_calls of options.chunk_size calls each, all
/// chunks in one JSON-RPC batch (one round trip), and returns one result per call in
/// order. Fails as a whole when any chunk fails: a chunk reverts (a call with
/// allow_failure false failed: rpc_error, "Multicall3: call failed"), the batch fails,
/// or a chunk's answer cannot be decoded.
Task<RpcResult<std::vector<MulticallResult>>> multicall(Provider& provider,
                                                        std::span<const MulticallCall> calls,
                                                        BlockId block,
                                                        const MulticallOptions& options = {});

}  // namespace vigil
