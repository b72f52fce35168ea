// Crash safety of the transaction pipeline (issue 4): vigil_pipeline_driver, a TxPipeline in a
// process of its own, is killed with SIGKILL again and again on one state dir while it sends
// kIntents calls fixture.hit(i) on an interval-mining anvil, and restarted each time. Half of
// the kills are the driver's own, at a pipeline stage (a wave journaled, a wave's batch
// answered, an outcome journaled) and a varying count; the other half come from this test
// after a random delay (seeded: the seed is printed, VIGIL_CRASH_SEED replays it), so they land
// anywhere, mid-start, mid-batch or mid-fsync. A last run without a kill must finish, and then
// every intent must have taken effect exactly once on chain, every nonce 0..kIntents-1 used
// by exactly one intent and none beyond, and the journal must show each intent included.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/journal.hpp"
#include "chain/abi.hpp"
#include "chain/rpc_provider.hpp"
#include "tests/support/anvil.hpp"
#include "tests/support/key_test_support.hpp"
#include "tests/support/process.hpp"
#include "tests/support/task.hpp"

using namespace vigil;
using namespace vigil::agent;
using test::Anvil;

namespace {

/// A run makes about one intent of progress (a wave per block, killed within a few blocks):
/// 32 leave work for every kill run and some for the last run to finish.
constexpr uint64_t kIntents = 32;
/// Runs ended by SIGKILL; a last run without a kill follows.
constexpr int kKillRuns = 24;
/// New intents per block: a run makes progress a few intents at a time, so that the kills
/// spread over the whole batch instead of the first run finishing it.
constexpr uint64_t kWave = 1;
/// anvil mines every 0.25 s (it takes fractions of a second).
constexpr const char* kBlockTime = "0.25";
/// The test's own kills come after a delay drawn uniformly from [0, kMaxKillDelay].
constexpr auto kMaxKillDelay = std::chrono::milliseconds(500);
/// A driver run that lasts longer has hung.
constexpr auto kRunLimit = std::chrono::seconds(20);
constexpr const char* kSeedEnv = "VIGIL_CRASH_SEED";

std::string fixture_code() {
    std::ifstream in(std::string(VIGIL_CONTRACTS_DIR) + "/PipelineFixture.bin");
    std::string text;
    in >> text;
    if (text.empty()) throw std::runtime_error("PipelineFixture.bin missing");
    return text;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

/// The event name of a log line ("<time> <LEVEL> <event> fields…"), or the line itself when
/// it is not a log line (the summary, an error).
std::string event_of(const std::string& line) {
    std::istringstream words(line);
    std::string time, level, event;
    words >> time >> level >> event;
    return !time.empty() && time.back() == 'Z' && !event.empty() ? event : line;
}

/// The event of the driver's last line; "startup" when it wrote none.
std::string last_event(const std::string& log) {
    std::istringstream lines(log);
    std::string line, last;
    while (std::getline(lines, line))
        if (!line.empty()) last = line;
    return last.empty() ? "startup" : event_of(last);
}

/// "journaled=J finished=F" from the driver's driver.started line, as it found the journal.
std::string progress_at_start(const std::string& log) {
    std::istringstream lines(log);
    for (std::string line; std::getline(lines, line);) {
        if (event_of(line) != "driver.started") continue;
        const auto from = line.find("journaled=");
        const auto to = line.find(" in_flight=");
        if (from != std::string::npos && to != std::string::npos)
            return line.substr(from, to - from);
    }
    return "not started";
}

/// Counts the WARN and ERROR lines of a run's log by "<LEVEL> <event>".
void count_alerts(const std::string& log, std::map<std::string, int>& alerts) {
    std::istringstream lines(log);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        std::string time, level, event;
        words >> time >> level >> event;
        if (level == "WARN" || level == "ERROR") ++alerts[level + " " + event];
    }
}

struct DriverRun {
    int status = 0;  ///< wait status
    bool hung = false;
    std::chrono::milliseconds took{0};
    std::string log;

    bool killed() const { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }
    bool exited_ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

/// Runs the driver with `args` until it ends, or kills it after `kill_after` (when given) or
/// kRunLimit. Its output goes to `log_path`.
DriverRun run_driver(std::vector<std::string> args,
                     std::optional<std::chrono::milliseconds> kill_after,
                     const std::filesystem::path& log_path) {
    args.insert(args.begin(), VIGIL_PIPELINE_DRIVER);
    const auto start = std::chrono::steady_clock::now();
    DriverRun run;
    {
        test::Child child(args, log_path.string());
        for (;;) {
            // WNOWAIT: look without reaping, so that kill_and_wait below reaps it and gives the
            // status (a kill of a zombie is harmless).
            siginfo_t info{};
            const bool ended = ::waitid(P_PID, static_cast<id_t>(child.pid()), &info,
                                        WEXITED | WNOHANG | WNOWAIT) == 0 &&
                               info.si_pid == child.pid();
            const auto elapsed = std::chrono::steady_clock::now() - start;
            if (!ended && elapsed < kRunLimit && (!kill_after || elapsed < *kill_after)) {
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
                continue;
            }
            run.hung = !ended && elapsed >= kRunLimit;
            run.status = child.kill_and_wait(SIGKILL);
            break;
        }
    }
    run.took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    run.log = read_file(log_path);
    return run;
}

uint64_t seed() {
    if (const char* text = std::getenv(kSeedEnv)) return std::stoull(text);
    return std::random_device{}();
}

}  // namespace

TEST(pipeline_crash, every_intent_is_included_once_across_sigkills_at_any_point) {
    const uint64_t rng_seed = seed();
    std::cout << "pipeline_crash seed " << rng_seed << " (" << kSeedEnv << " replays it)\n";
    RecordProperty("seed", std::to_string(rng_seed));
    std::mt19937_64 rng(rng_seed);

    test::TempDir dir;
    const auto state_dir = dir.path() / "state";
    Anvil anvil({"--block-time", kBlockTime});
    const auto deployed = nlohmann::json::parse(
        test::cast({"send", "--json", "--rpc-url", anvil.http_url(), "--private-key",
                    Anvil::kDevKey0, "--create", fixture_code()}));
    const std::string fixture = deployed.at("contractAddress").get<std::string>();
    const test::ScopedEnv key("VIGIL_TEST_KEY", std::string(Anvil::kDevKey1));
    const std::vector<std::string> base = {
        "--rpc",   anvil.http_url(),         "--state", state_dir.string(),   "--fixture", fixture,
        "--count", std::to_string(kIntents), "--wave",  std::to_string(kWave)};

    // The kill runs: even runs die at a stage, odd runs by our SIGKILL after a random delay.
    constexpr const char* kStages[] = {"journaled", "broadcast", "confirmed"};
    std::map<std::string, int> landed;  // by stage, or "random@<last event>"
    int kills = 0;
    std::ostringstream table;
    std::map<std::string, int> alerts;  // WARN and ERROR lines of every run, by event
    bool finished_early = false;
    for (int r = 0; r < kKillRuns; ++r) {
        std::vector<std::string> args = base;
        std::optional<std::chrono::milliseconds> delay;
        std::string stage;
        std::string plan;
        if (r % 2 == 0) {
            stage = kStages[(r / 2) % 3];
            const uint64_t k = 1 + rng() % (stage == "confirmed" ? 3 : 2);
            args.insert(args.end(), {"--crash-at", stage, "--crash-after", std::to_string(k)});
            plan = stage + " #" + std::to_string(k);
        } else {
            delay = std::chrono::milliseconds(rng() % (kMaxKillDelay.count() + 1));
            plan = "after " + std::to_string(delay->count()) + " ms";
        }
        const auto log_path = dir.path() / ("run-" + std::to_string(r) + ".log");
        const DriverRun run = run_driver(args, delay, log_path);
        count_alerts(run.log, alerts);
        ASSERT_FALSE(run.hung) << "run " << r << " (" << plan << ") hung:\n" << run.log;
        table << "run " << r << " [" << progress_at_start(run.log) << "]: " << plan << " -> ";
        if (run.killed()) {
            ++kills;
            const std::string where = delay ? "random@" + last_event(run.log) : stage;
            ++landed[where];
            table << "killed (" << last_event(run.log) << ")";
        } else {
            // Only a finished driver may end on its own before its kill point.
            ASSERT_TRUE(run.exited_ok())
                << "run " << r << " (" << plan << ") failed, status " << run.status << ":\n"
                << run.log;
            table << "finished before the kill: " << last_event(run.log);
            finished_early = true;
        }
        table << ", " << run.took.count() << " ms\n";
        if (finished_early) break;
    }

    const DriverRun last = run_driver(base, std::nullopt, dir.path() / "run-last.log");
    table << "last run [" << progress_at_start(last.log) << "]: " << last.took.count()
          << " ms: " << last_event(last.log) << "\n";
    std::cout << table.str() << "kills landed: " << kills << "\n";
    for (const auto& [where, n] : landed) std::cout << "  " << where << ": " << n << "\n";
    count_alerts(last.log, alerts);
    std::cout << "warnings and errors logged:\n";
    for (const auto& [what, n] : alerts) std::cout << "  " << what << ": " << n << "\n";
    ASSERT_TRUE(last.exited_ok()) << "the last run failed, status " << last.status << ":\n"
                                  << last.log;
    // The acceptance asks for at least 20 kill points; the runs stop early only if the work
    // ran out, which kIntents is sized to avoid.
    EXPECT_GE(kills, 20) << "the work ran out early";

    // On chain: every hit(i) exactly once; the keeper's nonce is kIntents, so every tx it ever
    // mined is one of the intents (a skipped nonce would stall, a stray cancellation or a
    // duplicate would push it past kIntents).
    net::io_context ioc;
    RpcProvider provider(ioc.get_executor(), RpcProviderConfig{{anvil.http_url()}, {}, {}});
    const Address fixture_address = *parse_address(fixture);
    const Address keeper = *parse_address(Anvil::kDevAddress1);
    const vigil::abi::Function hits = *vigil::abi::parse_function("hits(uint256)(uint256)");
    std::vector<CallRequest> calls;
    for (uint64_t i = 0; i < kIntents; ++i) {
        const vigil::abi::AbiValue args[] = {u256(i)};
        calls.push_back(
            {std::nullopt, fixture_address, *vigil::abi::encode_call(hits, args), {}, {}});
    }
    const auto counts = test::run(ioc, provider.call_batch(calls, BlockTag::latest));
    ASSERT_EQ(counts.size(), kIntents);
    for (uint64_t i = 0; i < kIntents; ++i) {
        ASSERT_TRUE(counts[i] && counts[i]->size() == 32) << "hits(" << i << ")";
        EXPECT_EQ(load_be(std::span<const uint8_t, 32>(counts[i]->data(), 32)), u256(1))
            << "hits(" << i << ")";
    }
    const auto latest = test::run(ioc, provider.get_transaction_count(keeper, BlockTag::latest));
    const auto pending = test::run(ioc, provider.get_transaction_count(keeper, BlockTag::pending));
    ASSERT_TRUE(latest && pending);
    EXPECT_EQ(*latest, kIntents);
    EXPECT_EQ(*pending, kIntents);

    // In the journal (every driver is gone): each intent included, all its attempts at one
    // nonce (never signed again with a new one), and the nonces 0..kIntents-1 each once.
    auto journal = Journal::open(state_dir);
    ASSERT_TRUE(journal) << journal.error().detail;
    std::set<uint64_t> nonces;
    for (uint64_t i = 0; i < kIntents; ++i) {
        const std::string key_name = "crash/" + std::to_string(i);
        auto found = journal->find_intent(key_name);
        ASSERT_TRUE(found && *found) << key_name << " not journaled";
        const JournaledIntent& ji = **found;
        ASSERT_TRUE(ji.outcome) << key_name << " not finished";
        EXPECT_EQ(ji.outcome->kind, OutcomeKind::included)
            << key_name << ": " << vigil::to_string(ji.outcome->kind) << " " << ji.outcome->detail;
        ASSERT_FALSE(ji.attempts.empty()) << key_name;
        int included = 0;
        for (const Attempt& a : ji.attempts) {
            EXPECT_EQ(a.nonce, ji.attempts.front().nonce) << key_name << " signed at two nonces";
            if (a.state == AttemptState::included) {
                ++included;
                EXPECT_EQ(ji.outcome->tx_hash, a.tx_hash) << key_name;
            }
        }
        EXPECT_EQ(included, 1) << key_name;
        EXPECT_TRUE(nonces.insert(ji.attempts.front().nonce).second)
            << key_name << " shares nonce " << ji.attempts.front().nonce;
    }
    EXPECT_EQ(nonces.size(), kIntents);
    if (!nonces.empty()) {
        EXPECT_EQ(*nonces.rbegin(), kIntents - 1);
    }
}
