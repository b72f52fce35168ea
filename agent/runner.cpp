#include "agent/runner.hpp"

#include <atomic>
#include <deque>
#include <map>

#include "chain/block_stream.hpp"
#include "chain/rpc_provider.hpp"
#include "chain/strings.hpp"

namespace vigil::agent {

std::string checkpoint_key(std::string_view strategy) {
    return concat({"strategy/", strategy});
}

namespace {

PipelineConfig pipeline_config(const config::Config& config, const config::ChainConfig& chain,
                               bool dry_run) {
    PipelineConfig p;
    p.chain_id = chain.chain_id;
    p.fees.max_fee_gwei = chain.fees.max_fee_gwei;
    p.fees.max_priority_fee_gwei = chain.fees.max_priority_fee_gwei;
    p.fees.priority_percentile = chain.fees.priority_percentile;
    p.fees.base_fee_multiplier = chain.fees.base_fee_multiplier;
    p.fees.legacy = chain.fees.legacy;
    p.gas_margin_percent = chain.gas_margin_percent;
    p.replace_after_blocks = chain.replace_after_blocks;
    p.confirmations = chain.confirmations;
    p.max_inflight_txs = static_cast<uint32_t>(config.limits.max_inflight_txs);
    p.max_gas_spend_per_hour_wei = config.limits.max_gas_spend_per_hour_wei;
    p.kill_switch_file = config.state_dir / "KILL";
    p.dry_run = dry_run;
    return p;
}

/// The block number before the first newline of a checkpoint value.
std::optional<uint64_t> checkpoint_block(std::string_view text) {
    const auto newline = text.find('\n');
    if (newline == 0 || newline == std::string_view::npos || newline > 19) return std::nullopt;
    uint64_t out = 0;
    for (char c : text.substr(0, newline)) {
        if (c < '0' || c > '9') return std::nullopt;
        out = out * 10 + static_cast<uint64_t>(c - '0');
    }
    return out;
}

/// The strategy's checkpoint in `journal`, if it has one; an error is one line.
Result<std::optional<std::string>, std::string> saved_checkpoint(Journal& journal,
                                                                 const RunnerStrategy& rs) {
    auto saved = journal.checkpoint(checkpoint_key(rs.strategy->name()));
    if (!saved) return unexpected(concat({"journal: ", saved.error().detail}));
    return std::move(*saved);
}

/// Restores the strategy's mirror from its checkpoint (`saved`) when there is one and it
/// fits, then lets it catch up to `head`.
Task<Result<void, std::string>> start_strategy(RunnerStrategy& rs, Provider& provider,
                                               const std::optional<std::string>& saved,
                                               uint64_t chain_id, const SignerMap& signers,
                                               const BlockHeader& head, Logger& log) {
    Strategy& s = *rs.strategy;
    std::optional<uint64_t> resume;
    if (saved) {
        const std::string_view text = *saved;
        const auto block = checkpoint_block(text);
        auto restored = block
                            ? s.restore(text.substr(text.find('\n') + 1))
                            : Result<void, std::string>(unexpected(std::string("no block number")));
        if (restored && *block <= head.number) {
            resume = block;
        } else {
            log.warn("strategy.checkpoint_ignored",
                     {{"strategy", std::string(s.name())},
                      {"detail",
                       restored ? "checkpoint is ahead of the node's head" : restored.error()}});
        }
    }
    const auto signer = signers.find(rs.signer);
    if (signer == signers.end())
        co_return unexpected(
            concat({"strategy ", s.name(), ": signer '", rs.signer, "' is not loaded"}));
    const StrategyContext context{provider, chain_id, rs.signer, signer->second->address()};
    const auto started_at = std::chrono::steady_clock::now();
    auto started = co_await s.start(context, head.number, resume);
    if (!started) co_return unexpected(concat({"strategy ", s.name(), ": ", started.error()}));
    log.info("strategy.started",
             {{"strategy", std::string(s.name())},
              {"from", resume ? concat({"checkpoint at block ", std::to_string(*resume)})
                              : std::string("its start block")},
              {"head", std::to_string(head.number)},
              {"ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now() - started_at)
                                        .count())}});
    co_return Result<void, std::string>{};
}

/// The latest block, or one line saying why not.
Task<Result<BlockHeader, std::string>> latest_block(Provider& provider) {
    auto head = co_await provider.get_block(BlockTag::latest);
    if (!head) co_return unexpected(concat({"eth_getBlockByNumber: ", head.error().to_string()}));
    if (!*head) co_return unexpected(std::string("the node has no latest block"));
    co_return std::move(**head);
}

/// Each endpoint must serve the chain's id; one that does not is refused with an error log.
ChainCheck chain_check(const config::ChainConfig& chain, Logger& log) {
    return {
        chain.chain_id, [&log, name = chain.name](const rpc::Failure& refused) {
            log.error("rpc.endpoint_refused", {{"chain", name}, {"detail", refused.to_string()}});
        }};
}

RpcProviderConfig provider_config(const config::ChainConfig& chain, Logger& log) {
    RpcProviderConfig rpc;
    rpc.endpoints = chain.rpc;
    rpc.policy.max_log_range = chain.max_log_range;
    rpc.policy.check = chain_check(chain, log);
    return rpc;
}

/// Runs `task` on a fresh io_context until it finishes.
template <class T>
Result<T, std::string> run_to_end(net::io_context& ioc, Task<Result<T, std::string>> task) {
    Result<T, std::string> result = unexpected(std::string("did not finish"));
    net::co_spawn(ioc, std::move(task), [&](std::exception_ptr e, Result<T, std::string> r) {
        if (!e) {
            result = std::move(r);
        } else {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                result = unexpected(concat({"internal error: ", ex.what()}));
            }
        }
        ioc.stop();
    });
    ioc.run();
    return result;
}

}  // namespace

class ChainRunner::Impl {
public:
    Impl(const config::Config& config, const config::ChainConfig& chain,
         std::vector<RunnerStrategy> strategies, const SignerMap& signers, Logger& log,
         RunnerOptions options)
        : config_(config),
          chain_(chain),
          strategies_(std::move(strategies)),
          signers_(signers),
          log_(log),
          options_(options),
          wake_(ioc_) {}

    Result<void, std::string> run() { return run_to_end(ioc_, main()); }

    void stop() {
        net::post(ioc_, [this] {
            stopping_ = true;
            wake_.cancel();
        });
    }
    void engage_kill_switch() {
        net::post(ioc_, [this] {
            if (pipeline_) pipeline_->engage_kill_switch();
            log_.warn("kill_switch.engaged", {{"chain", chain_.name}, {"detail", "by signal"}});
        });
    }

private:
    Task<Result<void, std::string>> main() {
        const std::filesystem::path journal_dir =
            options_.dry_run ? config_.state_dir / "dry-run" : config_.state_dir;
        auto journal = Journal::open(journal_dir);
        if (!journal) co_return unexpected(concat({"journal: ", journal.error().detail}));
        journal_.emplace(std::move(*journal));

        provider_ =
            std::make_unique<RpcProvider>(ioc_.get_executor(), provider_config(chain_, log_));
        if (chain_.private_rpc) {
            RpcProviderConfig relay;
            relay.endpoints = {chain_.private_rpc->url};
            relay.policy.check = chain_check(chain_, log_);
            relay.policy.send_method =
                chain_.private_rpc->method == config::PrivateRpcMethod::send_private_transaction
                    ? SendMethod::private_transaction
                    : SendMethod::raw_transaction;
            relay_ = std::make_unique<RpcProvider>(ioc_.get_executor(), relay);
        }
        auto head = co_await latest_block(*provider_);
        if (!head) co_return unexpected(std::move(head.error()));
        last_block_ = head->number;
        log_.info("chain.connected", {{"chain", chain_.name},
                                      {"head", std::to_string(last_block_)},
                                      {"dry_run", options_.dry_run ? "true" : "false"}});

        Allowlist allow;
        for (const auto& [name, signer] : config_.signers)
            for (const config::AllowEntry& entry : signer.allow)
                if (auto added = allow.add(name, to_checksum(entry.to), entry.function); !added)
                    co_return unexpected(added.error().to_string());
        std::vector<LogFilter> filters;
        for (RunnerStrategy& rs : strategies_) {
            auto saved = saved_checkpoint(*journal_, rs);
            if (!saved) co_return unexpected(std::move(saved.error()));
            if (auto started = co_await start_strategy(rs, *provider_, *saved, chain_.chain_id,
                                                       signers_, *head, log_);
                !started)
                co_return unexpected(std::move(started.error()));
            for (const DeclaredCall& call : rs.strategy->declared_calls())
                allow.add(rs.signer, call.target, call.selector);
            filters.push_back(rs.strategy->log_filter());
        }

        pipeline_ = std::make_unique<TxPipeline>(
            pipeline_config(config_, chain_, options_.dry_run), *provider_, relay_.get(), *journal_,
            signers_, std::move(allow), log_,
            [this](std::string_view strategy, const Outcome& outcome) {
                for (RunnerStrategy& rs : strategies_)
                    if (rs.strategy->name() == strategy) rs.strategy->on_outcome(outcome);
            });
        if (auto started = co_await pipeline_->start(*head); !started)
            co_return unexpected(concat({"pipeline: ", started.error()}));

        // What is due at the head already (approvals ahead of need, positions liquidatable
        // at start) goes out before the first new block.
        co_await decide(BlockEvent{BlockEvent::Kind::added, *head, {}});

        BlockStreamOptions stream_options;
        stream_options.ws_urls = chain_.ws;
        stream_options.chain_id = chain_.chain_id;
        stream_options.poll_interval = chain_.poll_interval;
        stream_options.tracker.filters = std::move(filters);
        // Each block's logs and the strategies' reads at it: one batch, one round trip.
        stream_options.tracker.reads = [this](const BlockHeader& header) {
            std::vector<CallRequest> calls;
            for (const RunnerStrategy& rs : strategies_) {
                std::vector<CallRequest> more = rs.strategy->block_reads(header);
                calls.insert(calls.end(), std::make_move_iterator(more.begin()),
                             std::make_move_iterator(more.end()));
            }
            return calls;
        };
        stream_options.start_block = last_block_ + 1;
        BlockStream stream(
            ioc_.get_executor(), *provider_, stream_options,
            [this](const BlockEvent& event) {
                queue_.push_back(event);
                wake_.cancel();
            },
            [this](const StreamNotice& notice) {
                using enum StreamNotice::Kind;
                log_.write(notice.kind == connected     ? LogLevel::info
                           : notice.kind == wrong_chain ? LogLevel::error
                                                        : LogLevel::warn,
                           concat({"stream.", to_string(notice.kind)}),
                           {{"chain", chain_.name}, {"detail", notice.detail}});
            });
        stream.start();
        while (!stopping_) {
            if (queue_.empty()) {
                wake_.expires_at(net::steady_timer::time_point::max());
                boost::system::error_code ec;
                co_await wake_.async_wait(net::redirect_error(net::use_awaitable, ec));
                continue;
            }
            BlockEvent event = std::move(queue_.front());
            queue_.pop_front();
            co_await process(event);
        }
        stream.stop();
        checkpoint();
        log_.info("chain.stopped", {{"chain", chain_.name},
                                    {"block", std::to_string(last_block_)},
                                    {"in_flight", std::to_string(pipeline_->in_flight())}});
        co_return Result<void, std::string>{};
    }

    /// The strategies' decisions at the event, sent at once: the hot path.
    Task<void> decide(const BlockEvent& event) {
        for (RunnerStrategy& rs : strategies_) {
            std::vector<Intent> intents = co_await rs.strategy->on_block(event);
            if (!intents.empty())
                co_await pipeline_->submit(std::move(intents), event.header,
                                           SubmitOptions{rs.simulate});
        }
    }

    /// One block event: the strategies first, then the pipeline's bookkeeping for the block.
    Task<void> process(const BlockEvent& event) {
        co_await decide(event);
        co_await pipeline_->on_block(event);
        if (event.kind != BlockEvent::Kind::added) co_return;
        last_block_ = event.header.number;
        if (++since_checkpoint_ >= options_.checkpoint_every_blocks) checkpoint();
    }

    void checkpoint() {
        since_checkpoint_ = 0;
        for (RunnerStrategy& rs : strategies_) {
            const std::string value =
                concat({std::to_string(last_block_), "\n", rs.strategy->save()});
            if (auto saved = journal_->set_checkpoint(checkpoint_key(rs.strategy->name()), value);
                !saved)
                log_.error("checkpoint.failed", {{"strategy", std::string(rs.strategy->name())},
                                                 {"detail", saved.error().detail}});
        }
    }

    const config::Config& config_;
    const config::ChainConfig& chain_;
    std::vector<RunnerStrategy> strategies_;
    const SignerMap& signers_;
    Logger& log_;
    RunnerOptions options_;
    net::io_context ioc_;
    net::steady_timer wake_;
    std::optional<Journal> journal_;
    std::unique_ptr<RpcProvider> provider_;
    std::unique_ptr<RpcProvider> relay_;
    std::unique_ptr<TxPipeline> pipeline_;
    std::deque<BlockEvent> queue_;
    bool stopping_ = false;
    uint64_t last_block_ = 0;
    uint64_t since_checkpoint_ = 0;
};

ChainRunner::ChainRunner(const config::Config& config, const config::ChainConfig& chain,
                         std::vector<RunnerStrategy> strategies, const SignerMap& signers,
                         Logger& log, RunnerOptions options)
    : impl_(std::make_unique<Impl>(config, chain, std::move(strategies), signers, log, options)) {}

ChainRunner::~ChainRunner() = default;

Result<void, std::string> ChainRunner::run() {
    return impl_->run();
}
void ChainRunner::stop() {
    impl_->stop();
}
void ChainRunner::engage_kill_switch() {
    impl_->engage_kill_switch();
}

Result<std::vector<std::pair<std::string, std::vector<PositionRow>>>, std::string>
evaluate_positions(const config::Config& config, const config::ChainConfig& chain,
                   std::vector<RunnerStrategy>& strategies, const SignerMap& signers, Logger& log) {
    using Rows = std::vector<std::pair<std::string, std::vector<PositionRow>>>;
    // The checkpoints are read at once and the journal closed: a `vigil run` on this
    // state_dir must be able to open it meanwhile. While one runs, it holds the journal, and
    // each strategy backfills from its start block instead.
    std::vector<std::optional<std::string>> saved(strategies.size());
    if (auto journal = Journal::open(config.state_dir); journal) {
        for (std::size_t i = 0; i < strategies.size(); ++i) {
            auto text = saved_checkpoint(*journal, strategies[i]);
            if (!text) return unexpected(std::move(text.error()));
            saved[i] = std::move(*text);
        }
    } else if (journal.error().kind == JournalErrc::in_use) {
        log.warn("positions.no_checkpoint",
                 {{"detail",
                   "the journal is in use (vigil run?): strategies start from their "
                   "start_block"}});
    } else {
        return unexpected(concat({"journal: ", journal.error().detail}));
    }
    net::io_context ioc;
    RpcProvider provider(ioc.get_executor(), provider_config(chain, log));
    auto evaluate = [&]() -> Task<Result<Rows, std::string>> {
        auto head = co_await latest_block(provider);
        if (!head) co_return unexpected(std::move(head.error()));
        Rows rows;
        for (std::size_t i = 0; i < strategies.size(); ++i) {
            RunnerStrategy& rs = strategies[i];
            auto started = co_await start_strategy(rs, provider, saved[i], chain.chain_id, signers,
                                                   *head, log);
            if (!started) co_return unexpected(std::move(started.error()));
            // An added event without logs: the strategy reads this block's prices and
            // evaluates; the intents it returns are not sent.
            const BlockEvent event{BlockEvent::Kind::added, *head, {}};
            co_await rs.strategy->on_block(event);
            rows.emplace_back(std::string(rs.strategy->name()), rs.strategy->positions());
        }
        co_return rows;
    };
    return run_to_end(ioc, evaluate());
}

}  // namespace vigil::agent
