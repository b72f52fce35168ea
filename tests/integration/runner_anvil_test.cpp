// ChainRunner against a real anvil: the websocket block stream feeds a strategy, whose
// intents go through the pipeline and come back as outcomes; the strategy's mirror is
// checkpointed and restored on the next start. The strategy here is a small test policy
// (one call to tests/contracts/PipelineFixture per chosen block); Morpho's is tested
// end to end in tests/e2e.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <sstream>
#include <thread>

#include "agent/runner.hpp"
#include "chain/abi.hpp"
#include "keys/local_signer.hpp"
#include "tests/support/anvil.hpp"
#include "tests/support/key_test_support.hpp"
#include "tests/support/vectors.hpp"

using namespace vigil;
using namespace vigil::agent;
using test::Anvil;
using namespace std::chrono_literals;

namespace {

const vigil::abi::Function& hit_function() {
    static const vigil::abi::Function f = *vigil::abi::parse_function("hit(uint256)");
    return f;
}

/// What a HitStrategy saw; outlives the runner that owns the strategy.
struct Observed {
    std::size_t outcome_count() {
        std::lock_guard lock(mutex);
        return outcomes.size();
    }
    std::mutex mutex;
    std::vector<Outcome> outcomes;
    std::atomic<uint64_t> logs_seen{0};
    uint64_t started_head = 0;
    std::optional<uint64_t> resumed_from;
    std::string restored;
};

/// Calls fixture.hit(n) for every added block n in [first, last]; counts the Hit logs its
/// events carry. Its saved state is the number of Hit logs seen.
class HitStrategy final : public Strategy {
public:
    HitStrategy(Observed& seen, Address fixture, uint64_t first, uint64_t last)
        : seen_(seen), fixture_(fixture), first_(first), last_(last) {}

    std::string_view name() const override { return "hits"; }
    LogFilter log_filter() const override { return {{fixture_}, {}}; }
    std::vector<DeclaredCall> declared_calls() const override {
        return {{fixture_, hit_function().selector}};
    }
    Task<Result<void, std::string>> start(const StrategyContext& context, uint64_t head,
                                          std::optional<uint64_t> resume) override {
        signer_ = context.signer;
        seen_.started_head = head;
        seen_.resumed_from = resume;
        co_return Result<void, std::string>{};
    }
    Task<std::vector<Intent>> on_block(const BlockEvent& event) override {
        std::vector<Intent> out;
        if (event.kind != BlockEvent::Kind::added) co_return out;
        seen_.logs_seen += event.logs.size();
        const uint64_t n = event.header.number;
        if (n < first_ || n > last_) co_return out;
        Intent i;
        i.idempotency_key = "hits/" + std::to_string(n);
        i.strategy = "hits";
        i.signer = signer_;
        i.target = fixture_;
        const vigil::abi::AbiValue args[] = {u256(n)};
        i.calldata = *vigil::abi::encode_call(hit_function(), args);
        out.push_back(std::move(i));
        co_return out;
    }
    void on_outcome(const Outcome& outcome) override {
        std::lock_guard lock(seen_.mutex);
        seen_.outcomes.push_back(outcome);
    }
    std::string save() const override { return std::to_string(seen_.logs_seen.load()); }
    Result<void, std::string> restore(std::string_view saved) override {
        seen_.restored = std::string(saved);
        seen_.logs_seen = std::stoull(seen_.restored);
        return {};
    }

private:
    Observed& seen_;
    Address fixture_;
    uint64_t first_;
    uint64_t last_;
    std::string signer_;
};

std::unique_ptr<keys::Signer> keeper_signer() {
    const Bytes key = test::hex(Anvil::kDevKey1);
    auto signer =
        keys::make_local_signer(keys::SecretKey(std::span<const uint8_t, 32>(key.data(), 32)));
    return std::make_unique<keys::LocalSigner>(std::move(*signer));
}

}  // namespace

TEST(runner_anvil, blocks_flow_from_the_stream_through_a_strategy_to_included_transactions) {
    Anvil anvil({"--block-time", "1"});
    test::TempDir dir;
    const Address fixture = *parse_address(anvil.deploy("PipelineFixture.bin"));

    config::Config config;
    config.state_dir = dir.path();
    config::ChainConfig chain;
    chain.name = "local";
    chain.chain_id = 31337;
    chain.rpc = {anvil.http_url()};
    chain.ws = {anvil.ws_url()};
    config.chains.emplace("local", chain);
    SignerMap signers;
    signers.emplace("keeper", keeper_signer());
    std::ostringstream log_text;
    Logger log(log_text, LogFormat::json, LogLevel::debug);

    const uint64_t head = std::stoull(anvil.cast({"block-number"}));
    const uint64_t first = head + 2, last = head + 4;  // three intents, one per block
    auto run_once = [&](Observed& seen, std::size_t want) {
        std::vector<RunnerStrategy> list;
        list.push_back({std::make_unique<HitStrategy>(seen, fixture, first, last), "keeper",
                        config::Simulation::always});
        ChainRunner runner(config, config.chains.at("local"), std::move(list), signers, log,
                           RunnerOptions{false, 1});
        Result<void, std::string> result;
        std::thread thread([&] { result = runner.run(); });
        for (int i = 0; i < 200 && seen.outcome_count() < want; ++i)
            std::this_thread::sleep_for(50ms);
        runner.stop();
        thread.join();
        EXPECT_TRUE(result) << (result ? "" : result.error()) << log_text.str();
    };

    Observed seen;
    run_once(seen, 3);
    ASSERT_EQ(seen.outcome_count(), 3u) << log_text.str();
    for (const Outcome& o : seen.outcomes) EXPECT_EQ(o.kind, OutcomeKind::included);
    for (uint64_t n = first; n <= last; ++n)
        EXPECT_EQ(
            anvil.cast({"call", to_checksum(fixture), "hits(uint256)(uint256)", std::to_string(n)}),
            "1");
    EXPECT_EQ(seen.started_head, head);
    EXPECT_FALSE(seen.resumed_from);
    EXPECT_GE(seen.logs_seen.load(), 3u);  // the Hit logs came with their blocks
    EXPECT_NE(log_text.str().find(R"("event":"chain.stopped")"), std::string::npos);

    // The next start resumes from the checkpoint: the mirror comes back, nothing is re-sent.
    Observed second;
    run_once(second, 0);
    ASSERT_TRUE(second.resumed_from);
    EXPECT_GE(*second.resumed_from, last);
    EXPECT_EQ(second.restored, std::to_string(seen.logs_seen.load()));
    EXPECT_EQ(std::stoull(anvil.cast({"nonce", Anvil::kDevAddress1})), 3u);
}
