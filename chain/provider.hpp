#pragma once
// Typed Ethereum JSON-RPC. Strategies see this interface only (read-only use); the agent
// uses the implementation over several endpoints (chain/rpc_provider.hpp), and unit tests
// of pure policy may use a fake.
#include <optional>
#include <span>
#include <vector>

#include "chain/asio.hpp"
#include "chain/result.hpp"
#include "chain/rpc_error.hpp"
#include "chain/rpc_types.hpp"

namespace vigil {

template <class T>
using RpcResult = Result<T, rpc::Failure>;

/// What a block needs from the node, read in one round trip: its logs and calls at its hash.
struct BlockData {
    /// The union of the filters' logs, in log_index order, each log once.
    std::vector<Log> logs;
    /// One answer per call asked, in order.
    std::vector<RpcResult<Bytes>> calls;
};

/// Appends `more` (one block's logs in log_index order) to `logs` (the same block's), keeping
/// log_index order and each log once: the union of several filters' answers.
void merge_block_logs(std::vector<Log>& logs, std::vector<Log> more);

class Provider {
public:
    virtual ~Provider() = default;

    virtual Task<RpcResult<uint64_t>> chain_id() = 0;
    virtual Task<RpcResult<uint64_t>> block_number() = 0;
    /// nullopt when the node does not know the block.
    virtual Task<RpcResult<std::optional<BlockHeader>>> get_block(BlockId block) = 0;
    /// Logs in [from_block, to_block], split into smaller ranges when the node refuses a
    /// range or caps results, and when the range exceeds the configured maximum. The result
    /// is the same as one unrestricted query: ordered by (block_number, log_index).
    virtual Task<RpcResult<std::vector<Log>>> get_logs(const LogFilter& filter, uint64_t from_block,
                                                       uint64_t to_block) = 0;
    /// Logs of exactly the block with this hash (eth_getLogs with `blockHash`, EIP-234),
    /// in log_index order. Unlike a range query it cannot mix two forks during a reorg,
    /// so the BlockTracker uses it to pair each header with its own logs. A hash the node
    /// does not know is a Failure of kind rpc_error (geth and anvil: -32000 "unknown
    /// block"), not an empty list.
    virtual Task<RpcResult<std::vector<Log>>> get_block_logs(const LogFilter& filter,
                                                             const Hash32& block_hash) = 0;
    /// get_block_logs for each filter and call_batch at the same block hash, as one JSON-RPC
    /// batch where the implementation can (RpcProvider does): the BlockTracker reads each
    /// block's logs and its consumers' calls with it. The logs failing fails the whole read;
    /// a call failing is that call's answer. No filters and no calls: no request. The
    /// default makes the separate calls, one after another.
    virtual Task<RpcResult<BlockData>> read_block(std::span<const LogFilter> filters,
                                                  const Hash32& block_hash,
                                                  std::span<const CallRequest> calls);
    /// eth_call; a revert is a Failure of kind rpc_error whose rpc.data holds the revert
    /// bytes (decode them with chain/abi.hpp).
    virtual Task<RpcResult<Bytes>> call(const CallRequest& request, BlockId block,
                                        std::span<const StateOverride> overrides = {}) = 0;
    /// Many eth_calls as one JSON-RPC batch (one round trip); one result per request.
    virtual Task<std::vector<RpcResult<Bytes>>> call_batch(std::span<const CallRequest> requests,
                                                           BlockId block) = 0;
    virtual Task<RpcResult<uint64_t>> estimate_gas(const CallRequest& request, BlockId block) = 0;
    /// Many eth_estimateGas as one JSON-RPC batch; one result per request.
    virtual Task<std::vector<RpcResult<uint64_t>>> estimate_gas_batch(
        std::span<const CallRequest> requests, BlockId block) = 0;
    virtual Task<RpcResult<FeeHistory>> fee_history(uint64_t block_count, BlockId newest,
                                                    std::span<const double> percentiles) = 0;
    virtual Task<RpcResult<u256>> max_priority_fee() = 0;
    virtual Task<RpcResult<uint64_t>> get_transaction_count(const Address& account,
                                                            BlockId block) = 0;
    /// Never retried on another endpoint unless the first certainly did not receive it
    /// (Failure::not_sent); a timeout is returned to the caller, who knows the tx hash.
    virtual Task<RpcResult<Hash32>> send_raw_transaction(BytesView raw) = 0;
    /// Several signed transactions as one JSON-RPC batch: one write on one connection,
    /// one result per transaction, with send_raw_transaction's at-most-once rule.
    virtual Task<std::vector<RpcResult<Hash32>>> send_raw_transactions(
        std::span<const Bytes> raws) = 0;
    /// nullopt while the transaction is not mined.
    virtual Task<RpcResult<std::optional<Receipt>>> get_transaction_receipt(
        const Hash32& tx_hash) = 0;
    virtual Task<RpcResult<Bytes>> get_code(const Address& account, BlockId block) = 0;
};

/// eth_call of each request at `block_hash`: the answers `known` holds (read with the
/// block's logs, may be null), the others in one call_batch; one answer per request.
Task<std::vector<RpcResult<Bytes>>> calls_at_block(Provider& provider,
                                                   std::span<const CallRequest> requests,
                                                   const Hash32& block_hash,
                                                   const BlockReads* known);

}  // namespace vigil
