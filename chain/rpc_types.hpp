#pragma once
// Typed values of Ethereum JSON-RPC: what the Provider returns and what strategies read.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "chain/bytes.hpp"
#include "chain/result.hpp"
#include "chain/rpc_error.hpp"
#include "chain/u256.hpp"

namespace vigil {

enum class BlockTag { latest, pending, safe, finalized, earliest };
/// A block by number, by hash (EIP-1898 for calls) or by tag.
using BlockId = std::variant<uint64_t, Hash32, BlockTag>;

struct Log {
    Address address;
    std::vector<Hash32> topics;
    Bytes data;
    uint64_t block_number = 0;
    Hash32 block_hash;
    Hash32 tx_hash;
    uint64_t tx_index = 0;
    uint64_t log_index = 0;
    bool removed = false;  ///< true when a reorg took the log's block off the canonical chain
    bool operator==(const Log&) const = default;
};

struct BlockHeader {
    uint64_t number = 0;
    Hash32 hash;
    Hash32 parent_hash;
    uint64_t timestamp = 0;  ///< seconds since the epoch
    uint64_t gas_limit = 0;
    uint64_t gas_used = 0;
    std::optional<u256> base_fee_per_gas;  ///< absent before London
    bool operator==(const BlockHeader&) const = default;
};

struct Receipt {
    Hash32 tx_hash;
    uint64_t block_number = 0;
    Hash32 block_hash;
    uint64_t tx_index = 0;
    bool status = false;  ///< true: success
    uint64_t gas_used = 0;
    u256 effective_gas_price = 0;
    std::optional<Address> contract_address;
    std::vector<Log> logs;
};

/// eth_getLogs / logs subscription filter. An empty `topics[i]` matches anything at i.
struct LogFilter {
    std::vector<Address> addresses;
    std::vector<std::vector<Hash32>> topics;
    bool operator==(const LogFilter&) const = default;
};

struct FeeHistory {
    uint64_t oldest_block = 0;
    std::vector<u256> base_fee_per_gas;  ///< one more entry than blocks: the next block's
    std::vector<double> gas_used_ratio;
    std::vector<std::vector<u256>> reward;  ///< per block, one entry per requested percentile
};

/// eth_call / eth_estimateGas request.
struct CallRequest {
    std::optional<Address> from;
    Address to;
    Bytes data;
    std::optional<u256> value;
    std::optional<uint64_t> gas;
    bool operator==(const CallRequest&) const = default;
};

/// One account's state override for eth_call (geth's third eth_call parameter).
struct StateOverride {
    Address address;
    std::optional<u256> balance;
    std::optional<uint64_t> nonce;
    std::optional<Bytes> code;
    std::vector<std::pair<Hash32, Hash32>> state_diff;  ///< slot → value
};

/// eth_calls made at one block's hash, with their answers: what the consumers of a block
/// asked to read before it arrived (BlockTrackerOptions::reads), so that the block costs
/// one round trip. A consumer looks up each call it needs; one it does not find (its
/// state moved after it asked) it makes itself.
class BlockReads {
public:
    /// One answer per request, in order.
    BlockReads(std::vector<CallRequest> requests, std::vector<Result<Bytes, rpc::Failure>> answers);

    /// The answer to a call equal to `request` (every field), or null if none was made.
    const Result<Bytes, rpc::Failure>* find(const CallRequest& request) const;
    std::size_t size() const noexcept { return requests_.size(); }

private:
    std::vector<CallRequest> requests_;
    std::vector<Result<Bytes, rpc::Failure>> answers_;
    std::vector<std::size_t> order_;  ///< indices of requests_, sorted by request
};

/// One item of the ordered block stream that the BlockTracker emits. On a reorg the
/// removed blocks come first, newest first, with their logs marked `removed`; then the
/// new canonical blocks, oldest first. Every block is delivered added exactly once
/// while it stays canonical.
struct BlockEvent {
    enum class Kind { added, removed };
    Kind kind = Kind::added;
    BlockHeader header;
    std::vector<Log> logs;  ///< logs matching the subscriber's filters, in log_index order
    /// Calls made at this block's hash in the same JSON-RPC batch as its logs (see
    /// BlockTrackerOptions::reads); null when none were asked.
    std::shared_ptr<const BlockReads> reads = nullptr;
    /// An added block delivered on the way to a newer head the stream already knows (a
    /// backfill after a gap or a restart, a reorg's new branch below its top): consumers
    /// keep their mirrors with it and act at the newest block only. It carries no reads.
    bool catching_up = false;
};

std::string to_string(BlockTag tag);
/// JSON-RPC block parameter: "0x1a", "latest", or a hash.
std::string to_block_param(const BlockId& id);

}  // namespace vigil
