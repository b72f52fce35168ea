// `vigil run --config FILE [--dry-run] [--log-format text|json]` and
// `vigil positions --config FILE [--strategy NAME]`.
#include <csignal>
#include <cstdio>
#include <iomanip>
#include <map>
#include <ostream>
#include <thread>

#include "agent/cli.hpp"
#include "agent/runner.hpp"
#include "agent/strategy_kinds.hpp"
#include "chain/rpc_provider.hpp"
#include "chain/strings.hpp"
#include "keys/key_source.hpp"

namespace vigil::cli {
namespace {

constexpr std::string_view kRunUsage =
    R"(usage: vigil run --config FILE [--dry-run] [--log-format text|json]

Runs every enabled strategy of FILE: one loop per chain follows its blocks, evaluates the
strategies and sends their transactions through the pipeline (simulate, price, sign,
journal, send, replace, confirm). SIGINT or SIGTERM stops cleanly (in-flight transactions
stay journaled; the next run re-tracks them); SIGUSR1 or the file <state_dir>/KILL stops
every broadcast at once.
  --dry-run          simulate, sign and journal (in <state_dir>/dry-run), never broadcast
  --log-format F     text (default) or json: one JSON object per line
)";

constexpr std::string_view kPositionsUsage =
    R"(usage: vigil positions --config FILE [--strategy NAME]

Prints the positions each strategy tracks (account, collateral, debt, health, whether it is
liquidatable, estimated profit) at the chain's latest block, from the strategy's checkpoint
when `vigil run` left one. Sends nothing.
)";

struct Args {
    std::string config;
    std::string strategy;
    bool dry_run = false;
    agent::LogFormat format = agent::LogFormat::text;
    bool help = false;
};

/// Flags of `command`; nullopt after printing the usage error.
std::optional<Args> parse_args(std::string_view command, std::span<const std::string_view> args,
                               bool run, std::ostream& err) {
    Args out;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view a = args[i];
        const bool has_value = i + 1 < args.size();
        if (a == "--help" || a == "-h") {
            out.help = true;
        } else if (a == "--config" && has_value) {
            out.config = args[++i];
        } else if (run && a == "--dry-run") {
            out.dry_run = true;
        } else if (run && a == "--log-format" && has_value) {
            const std::string_view f = args[++i];
            if (f != "text" && f != "json") {
                err << "vigil " << command << ": --log-format must be text or json, not '" << f
                    << "'\n";
                return std::nullopt;
            }
            out.format = f == "json" ? agent::LogFormat::json : agent::LogFormat::text;
        } else if (!run && a == "--strategy" && has_value) {
            out.strategy = args[++i];
        } else {
            err << "vigil " << command << ": unexpected argument '" << a << "' (see vigil "
                << command << " --help)\n";
            return std::nullopt;
        }
    }
    if (!out.help && out.config.empty()) {
        err << "vigil " << command << ": --config FILE is required\n";
        return std::nullopt;
    }
    return out;
}

keys::KeySource key_source(const config::SignerConfig& signer) {
    if (const auto* env = std::get_if<config::EnvKey>(&signer.key))
        return keys::KeyFromEnv{env->private_key_env};
    const auto& store = std::get<config::KeystoreKey>(signer.key);
    keys::PasswordSource password;
    if (const auto* env = std::get_if<config::PasswordEnv>(&store.password))
        password = keys::PasswordFromEnv{env->name};
    else
        password = keys::PasswordFromFile{std::get<config::PasswordFile>(store.password).path};
    return keys::KeyFromKeystore{store.keystore, password};
}

/// The loaded config and, per chain with enabled strategies, the strategies to run.
struct Plan {
    config::Config config;
    std::map<std::string, std::vector<agent::RunnerStrategy>> chains;
    agent::SignerMap signers;
};

/// Loads and validates the config and builds what `names` selects (empty: all enabled).
/// Errors are printed; the exit code is returned instead of a plan.
std::variant<Plan, int> plan(const std::string& file, std::string_view only, agent::Logger& log,
                             std::ostream& err, std::string_view command) {
    Plan p;
    const auto kinds = agent::strategy_kinds();
    auto loaded = config::load_config(file, config::process_env, kinds);
    if (!loaded) {
        for (const auto& e : loaded.error()) err << e.to_string() << "\n";
        return kUsage;
    }
    p.config = std::move(*loaded);
    for (const config::StrategyConfig& s : p.config.strategies) {
        if (!s.enabled || (!only.empty() && s.name != only)) continue;
        auto built = agent::make_strategy(s, log);
        if (!built) {
            err << "vigil " << command << ": strategy " << s.name << ": " << built.error() << "\n";
            return kFailure;
        }
        if (!p.signers.contains(s.signer)) {
            auto signer = keys::make_signer(key_source(p.config.signers.at(s.signer)));
            if (!signer) {
                err << "vigil " << command << ": signer " << s.signer << ": "
                    << signer.error().to_string() << "\n";
                return kFailure;
            }
            p.signers.emplace(s.signer, std::move(*signer));
        }
        p.chains[s.chain].push_back({std::move(*built), s.signer, s.simulate});
    }
    if (p.chains.empty()) {
        err << "vigil " << command << ": "
            << (only.empty() ? "no enabled strategy in the config"
                             : concat({"no enabled strategy named '", only, "'"}))
            << "\n";
        return kUsage;
    }
    return p;
}

// The last signal received; the handler may only touch a lock-free atomic.
std::atomic<int> g_signal{0};
void on_signal(int sig) {
    g_signal.store(sig);
}

}  // namespace

int run_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
    const auto parsed = parse_args("run", args, true, err);
    if (!parsed) return kUsage;
    if (parsed->help) {
        out << kRunUsage;
        return kOk;
    }
    agent::Logger log(out, parsed->format);
    auto planned = plan(parsed->config, {}, log, err, "run");
    if (auto* code = std::get_if<int>(&planned)) return *code;
    Plan& p = std::get<Plan>(planned);

    if (p.config.metrics)
        log.warn("metrics.not_served", {{"listen", p.config.metrics->listen},
                                        {"detail", "this build has no metrics server yet"}});
    std::vector<std::unique_ptr<agent::ChainRunner>> runners;
    for (auto& [chain, strategies] : p.chains)
        runners.push_back(std::make_unique<agent::ChainRunner>(
            p.config, p.config.chains.at(chain), std::move(strategies), p.signers, log,
            agent::RunnerOptions{parsed->dry_run}));

    // Signals are polled: a handler may not post to an io_context.
    g_signal = 0;
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGUSR1, on_signal);
    std::vector<Result<void, std::string>> results(runners.size());
    std::vector<std::thread> threads;
    std::atomic<std::size_t> running{runners.size()};
    std::atomic<bool> failed{false};
    for (std::size_t i = 0; i < runners.size(); ++i)
        threads.emplace_back([&, i] {
            results[i] = runners[i]->run();
            if (!results[i]) failed = true;  // one chain failing stops them all
            --running;
        });
    bool stopping = false;
    while (running > 0) {
        const int sig = g_signal.exchange(0);
        if (sig == SIGUSR1) {
            for (auto& r : runners) r->engage_kill_switch();
        } else if (sig != 0) {
            log.info("agent.stopping", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
        }
        // stop() is queued on the runner's loop, so one call also stops a runner still
        // starting up.
        if (!stopping && ((sig != 0 && sig != SIGUSR1) || failed)) {
            for (auto& r : runners) r->stop();
            stopping = true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    for (std::thread& t : threads) t.join();
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    std::signal(SIGUSR1, SIG_DFL);
    int code = kOk;
    for (const auto& r : results)
        if (!r) {
            err << "vigil run: " << r.error() << "\n";
            code = kFailure;
        }
    return code;
}

int positions_command(std::span<const std::string_view> args, std::ostream& out,
                      std::ostream& err) {
    const auto parsed = parse_args("positions", args, false, err);
    if (!parsed) return kUsage;
    if (parsed->help) {
        out << kPositionsUsage;
        return kOk;
    }
    // Warnings go to stderr, apart from the table (a checkpoint that could not be used, an
    // oracle that reverted); the strategies' progress is not shown.
    agent::Logger log(err, agent::LogFormat::text, agent::LogLevel::warn);
    auto planned = plan(parsed->config, parsed->strategy, log, err, "positions");
    if (auto* code = std::get_if<int>(&planned)) return *code;
    Plan& p = std::get<Plan>(planned);
    for (auto& [chain_name, strategies] : p.chains) {
        auto rows = agent::evaluate_positions(p.config, p.config.chains.at(chain_name), strategies,
                                              p.signers, log);
        if (!rows) {
            err << "vigil positions: " << rows.error() << "\n";
            return kFailure;
        }
        for (const auto& [strategy, list] : *rows) {
            out << "strategy " << strategy << " (chain " << chain_name << "): " << list.size()
                << " positions\n";
            out << std::left << std::setw(14) << "market" << std::setw(44) << "account"
                << std::right << std::setw(28) << "collateral" << std::setw(28) << "debt"
                << std::setw(10) << "health" << std::setw(14) << "liquidatable" << std::setw(28)
                << "est. profit"
                << "\n";
            for (const PositionRow& row : list) {
                char health[32];
                std::snprintf(health, sizeof health, "%.4f", row.health);
                out << std::left << std::setw(14) << row.market.substr(0, 12) << std::setw(44)
                    << to_checksum(row.account) << std::right << std::setw(28) << row.collateral
                    << std::setw(28) << row.debt << std::setw(10) << health << std::setw(14)
                    << (row.liquidatable ? "yes" : "no") << std::setw(28)
                    << (row.estimated_profit.empty() ? "-" : row.estimated_profit) << "\n";
            }
        }
    }
    return kOk;
}

}  // namespace vigil::cli
