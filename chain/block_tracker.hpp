#pragma once
// BlockTracker: turns "this is the head now" hints, from any source (websocket newHeads,
// HTTP polling, a catch-up after a reconnect), into one ordered stream of BlockEvents in
// which every canonical block is delivered exactly once, gaps are backfilled and reorgs
// are unwound. It is the single place where continuity is decided: the transports may
// drop, repeat or reorder notifications, and the stream stays exact.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chain/asio.hpp"
#include "chain/provider.hpp"
#include "chain/result.hpp"
#include "chain/rpc_error.hpp"
#include "chain/rpc_types.hpp"

namespace vigil {

struct BlockTrackerOptions {
    /// Canonical blocks kept (headers and their logs). A reorg must share an ancestor
    /// with these to be unwound block by block; a deeper one is a DeepReorg. A reorg to
    /// a shorter branch keeps fewer until new blocks arrive: the blocks it removed leave
    /// the window and nothing older is fetched back.
    std::size_t depth = 64;
    /// Logs delivered with each block: the union of these filters, fetched per block by
    /// hash. Empty: blocks carry no logs and no log request is made.
    std::vector<LogFilter> filters;
    /// Calls made at each added block's hash in the same JSON-RPC batch as its logs
    /// (Provider::read_block), asked when the block is fetched; their answers come with
    /// the block (BlockEvent::reads). Only for the head being advanced to: blocks on the
    /// way to it are delivered catching_up, without reads. Unset or empty: none. When the batch
    /// fails, the block is fetched again without them (a node may refuse a batch for its size), and
    /// comes without reads.
    std::function<std::vector<CallRequest>(const BlockHeader&)> reads = nullptr;
};

enum class TrackErrc {
    rpc_failed,       ///< a Provider call failed; TrackError::rpc says how
    block_not_found,  ///< the node does not know a block the tracker needs: it lags the
                      ///< node that announced the head, or the block was reorged away
    bad_block,        ///< the node answered a different block than asked for (number or
                      ///< hash): a broken node, never walked on, so the walk terminates
};
std::string_view to_string(TrackErrc e) noexcept;

struct TrackError {
    TrackErrc kind;
    std::optional<rpc::Failure> rpc;  ///< set when kind == rpc_failed
    std::string detail;               ///< which block was being fetched
    /// "block_not_found: parent 0xab.. of block 12" / "rpc_failed: <failure>"
    std::string to_string() const;
};

/// The tracker lost continuity: walking back from `new_block` found no block in common
/// with the kept window, and blocks older than the window had been delivered (a reorg
/// deeper than BlockTrackerOptions::depth, or a different chain). Every kept block has
/// been delivered as removed before this is reported, and the stream restarts at
/// `new_block`; what a consumer derived from older blocks must be rebuilt from chain
/// state. (A fork below the first block delivered since the start is not this: nothing
/// older was delivered, so the kept blocks are removed and the new branch is added from
/// the start height, as for any reorg.)
struct DeepReorg {
    BlockHeader old_tip;
    BlockHeader new_block;
    uint64_t oldest_kept = 0;  ///< the walk compared every kept block down to this number
};

/// Keeps the last `depth` canonical blocks and advances them to each new head.
///
/// Events are delivered through the callbacks, synchronously, from inside `advance`:
/// - a head whose parent is the tip is added;
/// - a head further ahead is preceded by the missing blocks, fetched by number and
///   checked to link by parent hash, delivered oldest first (gap backfill);
/// - a head whose parent is not the tip starts a walk back by parent hash to the
///   common ancestor; then the blocks above it are delivered removed, newest first,
///   with the logs they were delivered with marked `removed`, and the new branch
///   added, oldest first, with its logs;
/// - a head already delivered, or older than the window, is ignored.
/// So the added-minus-removed events always spell one hash-linked chain. Added blocks
/// below the head are delivered `catching_up` (BlockEvent), the head itself not.
///
/// A failed fetch leaves the delivered chain consistent: a reorg is fetched in full
/// before any of it is delivered, a backfill delivers block by block. Calling
/// `advance` again with the same or a later head resumes where it stopped.
///
/// Not thread-safe; `advance` must not be called again before the previous call has
/// completed (the owner serialises heads; BlockStream does).
class BlockTracker {
public:
    struct Callbacks {
        std::function<void(const BlockEvent&)> on_event;
        std::function<void(const DeepReorg&)> on_deep_reorg;
    };

    /// `provider` must outlive the tracker. options.depth >= 1.
    BlockTracker(Provider& provider, BlockTrackerOptions options, Callbacks callbacks);

    /// Makes `block_number` the first block delivered (a resume point), instead of the
    /// first head seen. Only before the first `advance`. A reorg of blocks below the
    /// resume point is not detected: nothing older is known.
    void start_at(uint64_t block_number);

    /// Advances the delivered chain to `head` (see the class comment). On error, the
    /// events delivered so far stand and the rest is delivered by a later call.
    Task<Result<void, TrackError>> advance(BlockHeader head);

    /// The newest delivered canonical block, if any.
    std::optional<BlockHeader> tip() const;
    /// The next block number a backfill or resume would fetch: tip + 1, or the resume
    /// point before the first block.
    std::optional<uint64_t> next_block_number() const;
    /// Kept blocks, at most options.depth.
    std::size_t size() const noexcept { return window_.size(); }

private:
    struct Entry {
        BlockHeader header;
        std::vector<Log> logs;
        std::shared_ptr<const BlockReads> reads;
    };

    const Entry* find(uint64_t block_number) const noexcept;
    bool delivered(const BlockHeader& header) const noexcept;
    Task<Result<BlockHeader, TrackError>> fetch_header(BlockId id, std::string what);
    /// The block's logs and reads, one round trip; `header` is moved into the entry.
    Task<Result<Entry, TrackError>> fetch_entry(BlockHeader header);
    Task<Result<void, TrackError>> attach(BlockHeader block);
    Task<Result<void, TrackError>> append(BlockHeader block);
    Task<Result<void, TrackError>> unwind_to(BlockHeader block);
    Task<Result<void, TrackError>> restart_at(BlockHeader block);
    void push(Entry entry);
    void pop_removed();

    Provider& provider_;
    BlockTrackerOptions options_;
    Callbacks callbacks_;
    std::deque<Entry> window_;  ///< contiguous numbers, hash-linked, oldest first
    std::optional<uint64_t> resume_at_;
    uint64_t first_delivered_ = 0;  ///< lowest number delivered since the (re)start
    uint64_t target_ = 0;           ///< the head `advance` is on its way to
    bool busy_ = false;
};

}  // namespace vigil
