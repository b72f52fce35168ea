#pragma once
// ChainRunner: one chain's loop. Block stream → strategies → transaction pipeline, on the
// chain's own io_context (one thread), from start-up (resume from the checkpoint, backfill,
// re-track what the journal holds) to a clean stop (checkpoint; in-flight transactions
// stay journaled for the next start).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "agent/log.hpp"
#include "agent/pipeline.hpp"
#include "chain/asio.hpp"
#include "config/config.hpp"
#include "strategies/strategy.hpp"

namespace vigil::agent {

/// A configured strategy, built, with what the runner needs to know about it.
struct RunnerStrategy {
    std::unique_ptr<Strategy> strategy;
    std::string signer;                                           ///< configured signer name
    config::Simulation simulate = config::Simulation::automatic;  ///< SubmitOptions::simulate
};

struct RunnerOptions {
    /// Simulate, sign and journal (in <state_dir>/dry-run), never broadcast.
    bool dry_run = false;
    /// The strategies' mirrors are checkpointed every this many blocks, and at stop.
    uint64_t checkpoint_every_blocks = 20;
};

/// The checkpoint key of a strategy's saved mirror: "strategy/<name>"; its value is the
/// block number, a newline, and Strategy::save().
std::string checkpoint_key(std::string_view strategy);

/// For `vigil positions`: starts each strategy (from its checkpoint when there is one, and
/// the journal is not held by a running vigil), evaluates it at the chain's latest block
/// and returns its positions, by strategy name. Sends nothing.
Result<std::vector<std::pair<std::string, std::vector<PositionRow>>>, std::string>
evaluate_positions(const config::Config& config, const config::ChainConfig& chain,
                   std::vector<RunnerStrategy>& strategies, const SignerMap& signers, Logger& log);

class ChainRunner {
public:
    /// `config` and `signers` must outlive the runner; `signers` holds at least the signers
    /// of `strategies`.
    ChainRunner(const config::Config& config, const config::ChainConfig& chain,
                std::vector<RunnerStrategy> strategies, const SignerMap& signers, Logger& log,
                RunnerOptions options = {});
    ~ChainRunner();
    ChainRunner(const ChainRunner&) = delete;
    ChainRunner& operator=(const ChainRunner&) = delete;

    /// Runs the chain on the calling thread until stop(); an error that prevents running
    /// (bad endpoint, wrong chain id, journal, a strategy that cannot start) is one line.
    Result<void, std::string> run();
    /// From any thread: finish the block being processed, checkpoint, return from run().
    void stop();
    /// From any thread: the kill switch; no broadcast from now on.
    void engage_kill_switch();

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::agent
