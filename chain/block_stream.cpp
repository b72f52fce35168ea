#include "chain/block_stream.hpp"

#include <algorithm>
#include <deque>
#include <random>
#include <utility>

#include "chain/backoff.hpp"
#include "chain/json_rpc.hpp"
#include "chain/rpc_provider.hpp"

namespace vigil {

namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

/// Consecutive failures of one kind (sync, reconnect) and the delay before the next try.
class Backoff {
public:
    Backoff(milliseconds min, milliseconds max) : min_(min), max_(max) {}
    milliseconds next(std::mt19937_64& rng) { return backoff_delay(++failures_, min_, max_, rng); }
    void reset() { failures_ = 0; }

private:
    milliseconds min_, max_;
    unsigned failures_ = 0;
};

/// More heads than this waiting for the tracker means it is far behind (a long
/// backfill): older hints are dropped, the tracker fills them in by number anyway.
constexpr std::size_t kMaxQueuedHeads = 1024;

}  // namespace

std::string_view to_string(StreamNotice::Kind kind) noexcept {
    switch (kind) {
        case StreamNotice::Kind::connected:
            return "connected";
        case StreamNotice::Kind::disconnected:
            return "disconnected";
        case StreamNotice::Kind::fetch_failed:
            return "fetch_failed";
        case StreamNotice::Kind::deep_reorg:
            return "deep_reorg";
        case StreamNotice::Kind::wrong_chain:
            return "wrong_chain";
    }
    return "unknown";
}

class BlockStream::Impl : public std::enable_shared_from_this<Impl> {
public:
    Impl(net::any_io_executor executor, Provider& provider, BlockStreamOptions options,
         std::function<void(const BlockEvent&)> on_event,
         std::function<void(const StreamNotice&)> on_notice)
        : executor_(executor),
          provider_(provider),
          options_(std::move(options)),
          on_event_(std::move(on_event)),
          on_notice_(std::move(on_notice)),
          tracker_(provider_, options_.tracker,
                   BlockTracker::Callbacks{[this](const BlockEvent& e) { deliver(e); },
                                           [this](const DeepReorg& d) { deep_reorg(d); }}),
          wake_(executor),
          retry_timer_(executor),
          reconnect_timer_(executor),
          ws_down_signal_(executor),
          poll_timer_(executor),
          rng_(std::random_device{}()),
          sync_backoff_(options_.retry_min, options_.retry_max),
          reconnect_backoff_(options_.retry_min, options_.retry_max) {
        if (options_.start_block) tracker_.start_at(*options_.start_block);
    }

    void start() {
        auto self = shared_from_this();
        net::co_spawn(executor_, sync_loop(self), net::detached);
        if (options_.ws_urls.empty()) {
            net::co_spawn(executor_, poll_loop(self), net::detached);
            return;
        }
        std::weak_ptr<Impl> weak = self;
        for (const std::string& url : options_.ws_urls) {
            auto& ws = ws_.emplace_back(
                std::make_unique<rpc::WsTransport>(executor_, url, options_.ws), false);
            ws.transport->set_closed_handler(
                [weak, index = ws_.size() - 1](const rpc::Failure& why) {
                    // A connection left behind (its end is posted) says nothing of the current one.
                    if (auto me = weak.lock(); me && index == me->current_) me->on_ws_down(why);
                });
        }
        net::co_spawn(executor_, ws_loop(self), net::detached);
    }

    void stop() {
        if (stopped_) return;
        stopped_ = true;
        for (Ws& ws : ws_) ws.transport->close();
        for (net::steady_timer* t :
             {&wake_, &retry_timer_, &reconnect_timer_, &ws_down_signal_, &poll_timer_}) {
            t->cancel();
        }
    }

private:
    void deliver(const BlockEvent& e) {
        if (!stopped_ && on_event_) on_event_(e);
    }
    void notice(StreamNotice n) {
        if (!stopped_ && on_notice_) on_notice_(n);
    }
    void deep_reorg(const DeepReorg& d) {
        notice({StreamNotice::Kind::deep_reorg,
                "no common block with the " + std::to_string(options_.tracker.depth) +
                    " kept (old tip " + std::to_string(d.old_tip.number) + ", new block " +
                    std::to_string(d.new_block.number) + "): restarting at the new block",
                d});
    }

    void request_catch_up() {
        catch_up_ = true;
        wake_.cancel();
    }

    void on_head(BlockHeader head) {
        if (heads_.size() == kMaxQueuedHeads) heads_.pop_front();
        heads_.push_back(std::move(head));
        wake_.cancel();
    }

    void on_ws_down(const rpc::Failure& why) {
        ws_down_ = true;
        ws_down_reason_ = why.to_string();
        ws_down_signal_.cancel();
    }

    /// Waits on `timer` for `d`, or until it is cancelled (stop, a wake-up).
    static Task<void> sleep(net::steady_timer& timer, milliseconds d) {
        timer.expires_after(d);
        boost::system::error_code ec;
        co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    }

    /// The only caller of the tracker, so heads reach it one at a time, in arrival order.
    Task<void> sync_loop([[maybe_unused]] std::shared_ptr<Impl> self) {
        while (!stopped_) {
            if (catch_up_) {
                catch_up_ = false;
                auto latest = co_await provider_.get_block(BlockTag::latest);
                if (stopped_) co_return;
                if (latest && *latest) {
                    heads_.push_back(std::move(**latest));
                } else {
                    notice({StreamNotice::Kind::fetch_failed,
                            "latest block: " + (latest ? std::string("node returned null")
                                                       : latest.error().to_string()),
                            std::nullopt});
                    co_await sleep(retry_timer_, sync_backoff_.next(rng_));
                    catch_up_ = true;
                    continue;
                }
            }
            if (heads_.empty()) {
                wake_.expires_at(net::steady_timer::time_point::max());
                boost::system::error_code ec;
                co_await wake_.async_wait(net::redirect_error(net::use_awaitable, ec));
                continue;
            }
            BlockHeader head = std::move(heads_.front());
            heads_.pop_front();
            auto advanced = co_await tracker_.advance(std::move(head));
            if (stopped_) co_return;
            if (advanced) {
                sync_backoff_.reset();
                continue;
            }
            notice({StreamNotice::Kind::fetch_failed, advanced.error().to_string(), std::nullopt});
            co_await sleep(retry_timer_, sync_backoff_.next(rng_));
            // A later head redoes the failed work; without one, ask the node where it is.
            if (heads_.empty()) catch_up_ = true;
        }
    }

    Task<void> ws_loop([[maybe_unused]] std::shared_ptr<Impl> self) {
        while (!stopped_) {
            ws_down_ = false;
            rpc::WsTransport& ws = *ws_[current_].transport;
            auto connected = co_await ws.connect();
            if (stopped_) co_return;
            Result<void, rpc::Failure> checked;
            if (connected && options_.chain_id)
                checked = co_await check_chain_id(ws, *options_.chain_id, 1);
            if (stopped_) co_return;
            if (!connected) {
                notice({StreamNotice::Kind::disconnected, connected.error().to_string(),
                        std::nullopt});
            } else if (!checked) {
                ws.close();
                const bool refused = checked.error().kind == rpc::Errc::wrong_chain;
                ws_[current_].refused = refused;
                notice(
                    {refused ? StreamNotice::Kind::wrong_chain : StreamNotice::Kind::disconnected,
                     checked.error().to_string(), std::nullopt});
            } else {
                // A named handler, not a lambda in the co_await expression: g++ 12
                // destroys the captures of such a closure twice (a weak_ptr here).
                rpc::NotificationHandler on_head =
                    [weak = std::weak_ptr<Impl>(self)](std::string_view result) {
                        if (auto me = weak.lock()) me->on_notification(result);
                    };
                auto subscribed = co_await ws.subscribe(R"(["newHeads"])", std::move(on_head));
                if (stopped_) co_return;
                if (subscribed) {
                    reconnect_backoff_.reset();
                    notice({StreamNotice::Kind::connected, ws.endpoint(), std::nullopt});
                    // Heads from now on arrive as notifications; everything before them
                    // (the outage, or the start point) is reached from the latest block.
                    request_catch_up();
                    last_notification_at_ = Clock::now();
                    while (!ws_down_ && !stopped_) {
                        const auto stale_at = last_notification_at_ + options_.head_timeout;
                        if (Clock::now() >= stale_at) {
                            ws.close();  // an owner's close is not reported back
                            ws_down_ = true;
                            ws_down_reason_ = "no newHeads for " +
                                              std::to_string(options_.head_timeout.count()) + " ms";
                            break;
                        }
                        ws_down_signal_.expires_at(stale_at);
                        boost::system::error_code ec;
                        co_await ws_down_signal_.async_wait(
                            net::redirect_error(net::use_awaitable, ec));
                    }
                    if (stopped_) co_return;
                    notice({StreamNotice::Kind::disconnected, ws_down_reason_, std::nullopt});
                } else {
                    ws.close();
                    notice({StreamNotice::Kind::disconnected,
                            "subscribe: " + subscribed.error().to_string(), std::nullopt});
                }
            }
            // Keep blocks flowing over HTTP while the websocket is down.
            request_catch_up();
            if (!next_ws()) {
                // Every websocket endpoint serves another chain: heads come from polling.
                net::co_spawn(executor_, poll_loop(self), net::detached);
                co_return;
            }
            co_await sleep(reconnect_timer_, reconnect_backoff_.next(rng_));
        }
    }

    /// Moves current_ to the next websocket endpoint not refused, in round robin; false
    /// when every one is refused.
    bool next_ws() {
        for (std::size_t step = 1; step <= ws_.size(); ++step) {
            const std::size_t i = (current_ + step) % ws_.size();
            if (!ws_[i].refused) {
                current_ = i;
                return true;
            }
        }
        return false;
    }

    void on_notification(std::string_view result) {
        last_notification_at_ = Clock::now();
        auto head = rpc::decode<BlockHeader>(result, "params.result");
        if (head) return on_head(std::move(*head));
        // Unreadable head: the block is still reached through the next head or this
        // catch-up; say so, since a node sending such heads needs attention.
        notice({StreamNotice::Kind::fetch_failed, "newHeads: " + head.error().to_string(),
                std::nullopt});
        request_catch_up();
    }

    Task<void> poll_loop([[maybe_unused]] std::shared_ptr<Impl> self) {
        std::optional<uint64_t> last_seen;
        while (!stopped_) {
            auto number = co_await provider_.block_number();
            if (stopped_) co_return;
            // Any change, down included (a reorg to a shorter chain), is worth a look.
            if (number && *number != last_seen) {
                last_seen = *number;
                request_catch_up();
            } else if (!number) {
                notice({StreamNotice::Kind::fetch_failed,
                        "eth_blockNumber: " + number.error().to_string(), std::nullopt});
            }
            co_await sleep(poll_timer_, options_.poll_interval);
        }
    }

    net::any_io_executor executor_;
    Provider& provider_;
    BlockStreamOptions options_;
    std::function<void(const BlockEvent&)> on_event_;
    std::function<void(const StreamNotice&)> on_notice_;
    BlockTracker tracker_;
    struct Ws {
        std::unique_ptr<rpc::WsTransport> transport;
        bool refused = false;  ///< it serves another chain: never connected to again
    };
    std::vector<Ws> ws_;       ///< one per options_.ws_urls entry
    std::size_t current_ = 0;  ///< the one connected or being connected to

    std::deque<BlockHeader> heads_;  ///< head hints not yet given to the tracker
    bool catch_up_ = true;           ///< ask the HTTP node for its latest block next
    net::steady_timer wake_;         ///< the sync loop sleeps on it while idle
    net::steady_timer retry_timer_;
    net::steady_timer reconnect_timer_;
    net::steady_timer ws_down_signal_;
    net::steady_timer poll_timer_;
    bool ws_down_ = false;
    std::string ws_down_reason_;
    Clock::time_point last_notification_at_;  ///< of the current subscription
    bool stopped_ = false;
    std::mt19937_64 rng_;
    Backoff sync_backoff_;
    Backoff reconnect_backoff_;
};

BlockStream::BlockStream(net::any_io_executor executor, Provider& provider,
                         BlockStreamOptions options,
                         std::function<void(const BlockEvent&)> on_event,
                         std::function<void(const StreamNotice&)> on_notice)
    : impl_(std::make_shared<Impl>(std::move(executor), provider, std::move(options),
                                   std::move(on_event), std::move(on_notice))) {}

BlockStream::~BlockStream() {
    impl_->stop();
}

void BlockStream::start() {
    impl_->start();
}

void BlockStream::stop() {
    impl_->stop();
}

}  // namespace vigil
