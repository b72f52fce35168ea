#pragma once
// BlockStream: the one ordered stream of BlockEvents for a chain. Heads come from a
// websocket newHeads subscription (or, without a websocket endpoint, from polling
// eth_blockNumber over HTTP); every head goes through one BlockTracker, which backfills
// gaps and unwinds reorgs over HTTP. A reconnect is just another gap.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chain/asio.hpp"
#include "chain/block_tracker.hpp"
#include "chain/provider.hpp"
#include "chain/rpc_types.hpp"
#include "chain/ws_transport.hpp"

namespace vigil {

struct BlockStreamOptions {
    /// ws:// or wss:// endpoints for newHeads, in order of preference: each connection that
    /// fails or ends moves on to the next (round robin). Empty: poll over HTTP instead.
    std::vector<std::string> ws_urls;
    /// The chain id every websocket connection must answer to eth_chainId before it
    /// subscribes, at each connect and reconnect. An endpoint that answers another id is
    /// refused for good (notice wrong_chain) and never used again; with every one refused,
    /// the stream polls over HTTP. nullopt: not checked.
    std::optional<uint64_t> chain_id;
    rpc::WsOptions ws;
    /// Websocket mode: with no newHeads notification for this long the subscription is
    /// presumed stuck (a node can keep answering pings and stop notifying), and the
    /// connection is replaced: reconnect, resubscribe, catch up. Make it several block
    /// times; on a chain without blocks it costs one reconnect per period.
    std::chrono::milliseconds head_timeout{60'000};
    /// HTTP mode: how often eth_blockNumber is asked.
    std::chrono::milliseconds poll_interval{2'000};
    /// Waits between reconnect attempts, and between retries of a failed backfill: start
    /// at `retry_min`, double up to `retry_max`, each drawn uniformly from [d/2, d] so
    /// that many agents do not reconnect in step.
    std::chrono::milliseconds retry_min{250};
    std::chrono::milliseconds retry_max{5'000};
    BlockTrackerOptions tracker;
    /// First block delivered (a resume point); unset: the chain's head at start.
    std::optional<uint64_t> start_block;
};

/// Besides blocks, what the stream tells its owner (for logs, metrics and health).
struct StreamNotice {
    enum class Kind {
        connected,     ///< websocket (re)connected and subscribed
        disconnected,  ///< websocket lost or not reachable; `detail` says why
        fetch_failed,  ///< a backfill or head fetch failed; retried after a backoff
        deep_reorg,    ///< continuity lost (see DeepReorg); `deep_reorg` is set
        wrong_chain,   ///< a websocket endpoint serves another chain: refused; `detail` names
                       ///< it and both ids
    };
    Kind kind;
    std::string detail;
    std::optional<DeepReorg> deep_reorg;
};
std::string_view to_string(StreamNotice::Kind kind) noexcept;

/// Delivers every canonical block from the start point on exactly once, in order, with
/// reorgs as removed-then-added events (the BlockTracker's contract), across websocket
/// drops, dead peers, missed notifications and failing HTTP fetches:
/// - websocket mode: connect, check the chain id (BlockStreamOptions::chain_id), subscribe
///   newHeads, then catch up to the HTTP node's latest block. Every head goes to the tracker, which
///   fills any gap by number. When the connection ends (closed, dead-peer timeout), reconnect with
///   exponential backoff and jitter, to the next ws URL, resubscribe, and catch up again: the
///   blocks mined during the outage are a gap like any other. While reconnect attempts fail, each
///   one also catches up over HTTP, so blocks keep coming at the retry cadence. A subscription
///   silent for head_timeout is treated as a lost connection.
/// - HTTP mode: every poll_interval, eth_blockNumber; when it changed, catch up.
/// Logs come with each block from the tracker (by block hash), not from a logs
/// subscription: that would save one round trip per block but is not ordered against
/// newHeads, and the exactly-once guarantee would then need a second reconciliation.
///
/// Callbacks run on the executor, one at a time, never after stop(). The executor
/// must run on one thread (the chain's io_context). `provider` must outlive the stream
/// and the calls it has in flight (destroy both after the io_context has stopped).
class BlockStream {
public:
    BlockStream(net::any_io_executor executor, Provider& provider, BlockStreamOptions options,
                std::function<void(const BlockEvent&)> on_event,
                std::function<void(const StreamNotice&)> on_notice = {});
    /// Stops.
    ~BlockStream();
    BlockStream(const BlockStream&) = delete;
    BlockStream& operator=(const BlockStream&) = delete;

    /// Starts the stream; once.
    void start();
    /// Closes the websocket and ends delivery: no callback runs after this returns.
    void stop();

private:
    class Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace vigil
