// The transaction pipeline against a real anvil: intents to tests/contracts/PipelineFixture
// are simulated, signed, journaled, sent, mined and reported; and the ways that goes wrong
// (reverts, dropped and stuck transactions, fee spikes, other senders with the same key,
// refusals, the kill switch, reorgs) end as the pipeline promises.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "agent/pipeline.hpp"
#include "chain/abi.hpp"
#include "chain/rpc_provider.hpp"
#include "keys/local_signer.hpp"
#include "tests/support/anvil.hpp"
#include "tests/support/fault_proxy.hpp"
#include "tests/support/key_test_support.hpp"
#include "tests/support/task.hpp"
#include "tests/support/vectors.hpp"

using namespace vigil;
using namespace vigil::agent;
using test::Anvil;

namespace {

constexpr uint64_t kGwei = 1'000'000'000;

const vigil::abi::Function& hit_function() {
    static const vigil::abi::Function f = *vigil::abi::parse_function("hit(uint256)");
    return f;
}

Bytes hit_call(uint64_t id) {
    const vigil::abi::AbiValue args[] = {u256(id)};
    auto data = vigil::abi::encode_call(hit_function(), args);
    if (!data) throw std::runtime_error("encode hit");
    return *data;
}

std::unique_ptr<keys::Signer> dev_signer(const char* key_hex) {
    const Bytes key = test::hex(key_hex);
    auto signer =
        keys::make_local_signer(keys::SecretKey(std::span<const uint8_t, 32>(key.data(), 32)));
    if (!signer) throw std::runtime_error("dev key rejected");
    return std::make_unique<keys::LocalSigner>(std::move(*signer));
}

/// Another signer's signatures, with a hook run before each (a test watches what was sent
/// by then).
class WatchedSigner final : public keys::Signer {
public:
    WatchedSigner(std::unique_ptr<keys::Signer> inner, const std::function<void()>& hook)
        : inner_(std::move(inner)), hook_(hook) {}
    Address address() const noexcept override { return inner_->address(); }
    Result<Signature, keys::KeyError> sign_hash(const Hash32& digest) const override {
        if (hook_) hook_();
        return inner_->sign_hash(digest);
    }

private:
    std::unique_ptr<keys::Signer> inner_;
    const std::function<void()>& hook_;
};

struct Reported {
    std::string strategy;
    Outcome outcome;
};

/// anvil, the fixture contract deployed by dev account 0, and a pipeline sending as dev
/// account 1 ("keeper") with an allow-list of fixture.hit(uint256).
class Rig {
public:
    /// `private_relay`: reads go through one loopback proxy to anvil, broadcasts through
    /// another, standing for the chain's private_rpc (the proxies count what they carry).
    explicit Rig(PipelineConfig overrides = {}, bool private_relay = false)
        : read_proxy(private_relay ? std::make_unique<test::FaultProxy>(anvil.port()) : nullptr),
          relay_proxy(private_relay ? std::make_unique<test::FaultProxy>(anvil.port()) : nullptr),
          provider(
              ioc.get_executor(),
              RpcProviderConfig{{read_proxy ? read_proxy->http_url() : anvil.http_url()}, {}, {}}),
          journal(open_journal(dir.path())),
          log(log_text, LogFormat::text, LogLevel::debug) {
        fixture = *parse_address(anvil.deploy("PipelineFixture.bin"));
        keeper = *parse_address(Anvil::kDevAddress1);
        signers.emplace(
            "keeper", std::make_unique<WatchedSigner>(dev_signer(Anvil::kDevKey1), before_signing));
        Allowlist allow;
        allow.add("keeper", fixture, hit_function().selector);
        config = overrides;
        config.chain_id = 31337;
        config.kill_switch_file = dir.path() / "KILL";
        if (relay_proxy)
            relay = std::make_unique<RpcProvider>(
                ioc.get_executor(), RpcProviderConfig{{relay_proxy->http_url()}, {}, {}});
        pipeline = std::make_unique<TxPipeline>(
            config, provider, relay.get(), journal, signers, std::move(allow), log,
            [this](std::string_view strategy, const Outcome& o) {
                outcomes.push_back({std::string(strategy), o});
            });
    }

    static Journal open_journal(const std::filesystem::path& dir) {
        auto j = Journal::open(dir);
        if (!j) throw std::runtime_error(j.error().detail);
        return std::move(*j);
    }

    Intent intent(uint64_t id) const {
        Intent i;
        i.idempotency_key = "test/hit/" + std::to_string(id);
        i.strategy = "test";
        i.signer = "keeper";
        i.target = fixture;
        i.calldata = hit_call(id);
        i.reason = "test";
        return i;
    }

    BlockHeader head() {
        auto h = test::run(ioc, provider.get_block(BlockTag::latest));
        if (!h || !*h) throw std::runtime_error("no latest block");
        return **h;
    }
    void start() {
        auto r = test::run(ioc, pipeline->start(head()));
        if (!r) throw std::runtime_error(r.error());
    }
    void submit(std::vector<Intent> intents, SubmitOptions options = {}) {
        test::run(ioc, pipeline->submit(std::move(intents), head(), options));
    }
    /// Delivers the head block to the pipeline as an added event.
    void step() {
        test::run(ioc, pipeline->on_block(BlockEvent{BlockEvent::Kind::added, head(), {}}));
    }
    void mine() { anvil.cast({"rpc", "evm_mine"}); }
    /// anvil_setNextBlockBaseFeePerGas, in wei.
    void next_base_fee(uint64_t wei) {
        anvil.cast({"rpc", "anvil_setNextBlockBaseFeePerGas", std::to_string(wei)});
    }
    void automine(bool on) { anvil.cast({"rpc", "evm_setAutomine", on ? "true" : "false"}); }

    uint64_t hits(uint64_t id) {
        return std::stoull(anvil.cast(
            {"call", to_checksum(fixture), "hits(uint256)(uint256)", std::to_string(id)}));
    }
    uint64_t nonce(const char* tag = "latest") {
        return std::stoull(anvil.cast({"nonce", Anvil::kDevAddress1, "--block", tag}));
    }
    std::vector<Attempt> attempts(const std::string& key) {
        auto found = journal.find_intent(key);
        if (!found || !*found) return {};
        return (*found)->attempts;
    }
    /// Waits until the newest attempt of `key` is mined: anvil may answer a send before
    /// its automined block is in (cast receipt polls until it is).
    void wait_mined(const std::string& key) {
        anvil.cast({"receipt", to_hex(attempts(key).back().tx_hash), "status"});
    }
    /// Steps block by block (mining each) until `n` outcomes are in, at most `blocks`.
    void settle(std::size_t n, int blocks = 10) {
        for (int i = 0; i < blocks && outcomes.size() < n; ++i) {
            step();
            if (outcomes.size() < n) mine();
        }
    }
    bool logged(std::string_view event) const {
        return log_text.str().find(std::string(event)) != std::string::npos;
    }

    test::TempDir dir;
    Anvil anvil;
    std::unique_ptr<test::FaultProxy> read_proxy;
    std::unique_ptr<test::FaultProxy> relay_proxy;
    net::io_context ioc;
    RpcProvider provider;
    std::unique_ptr<RpcProvider> relay;
    Journal journal;
    std::ostringstream log_text;
    Logger log;
    std::function<void()> before_signing;  ///< run before each signature, if set
    SignerMap signers;
    PipelineConfig config;
    Address fixture;
    Address keeper;
    std::vector<Reported> outcomes;
    std::unique_ptr<TxPipeline> pipeline;
};

}  // namespace

TEST(pipeline_anvil, simple_intent_is_simulated_signed_journaled_sent_and_included) {
    Rig rig;
    rig.start();
    rig.submit({rig.intent(1)});
    // Journaled before broadcast and sent; anvil mines it (automine).
    rig.wait_mined("test/hit/1");
    auto attempts = rig.attempts("test/hit/1");
    ASSERT_EQ(attempts.size(), 1u);
    EXPECT_EQ(attempts[0].state, AttemptState::broadcast);
    EXPECT_EQ(attempts[0].nonce, 0u);
    EXPECT_EQ(rig.hits(1), 1u);
    EXPECT_TRUE(rig.outcomes.empty());  // not reported before the pipeline sees the block

    rig.step();
    ASSERT_EQ(rig.outcomes.size(), 1u) << rig.log_text.str();
    EXPECT_EQ(rig.outcomes[0].strategy, "test");
    EXPECT_EQ(rig.outcomes[0].outcome.kind, OutcomeKind::included);
    EXPECT_EQ(rig.outcomes[0].outcome.tx_hash, attempts[0].tx_hash);
    auto journaled = rig.journal.find_intent("test/hit/1");
    ASSERT_TRUE(journaled && *journaled && (*journaled)->outcome);
    EXPECT_EQ((*journaled)->outcome->kind, OutcomeKind::included);
    EXPECT_EQ((*journaled)->attempts[0].state, AttemptState::included);
    // A replay of the same intent sends nothing.
    rig.submit({rig.intent(1)});
    EXPECT_EQ(rig.nonce(), 1u);
    EXPECT_EQ(rig.hits(1), 1u);
}

TEST(pipeline_anvil, a_receipt_for_another_hash_marks_nothing_and_the_true_one_is_reported) {
    Rig rig({}, /*private_relay=*/true);  // reads go through read_proxy
    rig.start();
    rig.read_proxy->lie_receipt(test::FaultProxy::kAlways);
    rig.submit({rig.intent(1)});
    rig.wait_mined("test/hit/1");
    // Every receipt names another transaction: nothing is decided, nothing is marked.
    for (int i = 0; i < 2; ++i) {
        rig.step();
        rig.mine();
    }
    EXPECT_GT(rig.read_proxy->lies_told("eth_getTransactionReceipt"), 0u);
    EXPECT_TRUE(rig.outcomes.empty());
    auto attempts = rig.attempts("test/hit/1");
    ASSERT_EQ(attempts.size(), 1u);
    EXPECT_EQ(attempts[0].state, AttemptState::broadcast);

    // The node tells the truth again: included, under its own hash.
    rig.read_proxy->stop_lying();
    rig.settle(1);
    ASSERT_EQ(rig.outcomes.size(), 1u) << rig.log_text.str();
    EXPECT_EQ(rig.outcomes[0].outcome.kind, OutcomeKind::included);
    EXPECT_EQ(rig.outcomes[0].outcome.tx_hash, attempts[0].tx_hash);
    EXPECT_EQ(rig.attempts("test/hit/1")[0].state, AttemptState::included);
    EXPECT_EQ(rig.hits(1), 1u);
}

TEST(pipeline_anvil, a_revert_in_simulation_is_reported_and_never_broadcast) {
    Rig rig;
    rig.anvil.cast({"send", "--private-key", Anvil::kDevKey0, to_checksum(rig.fixture),
                    "refuse(uint256)", "7"});
    rig.start();
    rig.submit({rig.intent(7), rig.intent(8)});
    ASSERT_EQ(rig.outcomes.size(), 1u);
    EXPECT_EQ(rig.outcomes[0].outcome.kind, OutcomeKind::reverted);
    EXPECT_NE(rig.outcomes[0].outcome.detail.find("refused id"), std::string::npos)
        << rig.outcomes[0].outcome.detail;
    auto journaled = rig.journal.find_intent("test/hit/7");
    ASSERT_TRUE(journaled);
    EXPECT_FALSE(journaled->has_value());  // never signed, never journaled
    EXPECT_EQ(rig.nonce("pending"), 1u);   // only intent 8 was sent
    rig.wait_mined("test/hit/8");
    EXPECT_EQ(rig.hits(8), 1u);
}

TEST(pipeline_anvil, a_dropped_transaction_is_sent_again) {
    Rig rig;
    rig.start();
    rig.automine(false);
    rig.submit({rig.intent(2)});
    const auto attempts = rig.attempts("test/hit/2");
    ASSERT_EQ(attempts.size(), 1u);
    rig.anvil.cast({"rpc", "anvil_dropTransaction", to_hex(attempts[0].tx_hash)});
    rig.mine();
    EXPECT_EQ(rig.nonce(), 0u);  // the dropped tx was not mined
    rig.step();                  // the node's pending count shows the gap: re-sent
    EXPECT_TRUE(rig.logged("tx.resend")) << rig.log_text.str();
    rig.settle(1);
    ASSERT_EQ(rig.outcomes.size(), 1u) << rig.log_text.str();
    EXPECT_EQ(rig.outcomes[0].outcome.kind, OutcomeKind::included);
    EXPECT_EQ(rig.outcomes[0].outcome.tx_hash, attempts[0].tx_hash);  // the same bytes
    EXPECT_EQ(rig.hits(2), 1u);
}

TEST(pipeline_anvil, a_base_fee_spike_is_met_by_a_bumped_replacement_within_the_cap) {
    PipelineConfig config;
    config.replace_after_blocks = 1;
    config.fees.max_fee_gwei = 100;
    Rig rig(config);
    rig.start();
    rig.automine(false);
    rig.submit({rig.intent(3)});
    const u256 first_fee = rig.attempts("test/hit/3").at(0).max_fee_per_gas;
    ASSERT_LT(first_fee, u256(20 * kGwei));
    // The next block's base fee is above what the tx offers: it stays in the pool.
    rig.next_base_fee(30 * kGwei);
    rig.mine();
    EXPECT_EQ(rig.nonce(), 0u);
    // Replaced at the next block: the replacement supersedes its predecessor, one live
    // attempt per nonce.
    rig.step();
    {
        const auto replaced = rig.attempts("test/hit/3");
        ASSERT_GE(replaced.size(), 2u) << rig.log_text.str();
        auto live = rig.journal.live_attempts(31337, rig.keeper);
        ASSERT_TRUE(live);
        ASSERT_EQ(live->size(), 1u) << "a replacement must supersede its predecessor";
        EXPECT_EQ(live->at(0).tx_hash, replaced.back().tx_hash);
        for (std::size_t i = 0; i + 1 < replaced.size(); ++i)
            EXPECT_EQ(replaced[i].state, AttemptState::replaced);
    }
    rig.settle(1);
    ASSERT_EQ(rig.outcomes.size(), 1u) << rig.log_text.str();
    EXPECT_EQ(rig.outcomes[0].outcome.kind, OutcomeKind::included);
    const auto attempts = rig.attempts("test/hit/3");
    ASSERT_GE(attempts.size(), 2u);
    for (std::size_t i = 1; i < attempts.size(); ++i) {
        EXPECT_GE(attempts[i].max_fee_per_gas * 8, attempts[i - 1].max_fee_per_gas * 9);
        EXPECT_LE(attempts[i].max_fee_per_gas, u256(100 * kGwei));
    }
    EXPECT_EQ(attempts.front().state, AttemptState::replaced);
    EXPECT_EQ(attempts.back().state, AttemptState::included);
    EXPECT_EQ(rig.hits(3), 1u);
}

TEST(pipeline_anvil, fees_are_held_at_the_cap_with_a_warning) {
    PipelineConfig config;
    config.replace_after_blocks = 1;
    config.fees.max_fee_gwei = 5;
    Rig rig(config);
    rig.start();
    rig.automine(false);
    rig.submit({rig.intent(4)});
    // Every block's base fee is 30 gwei, above the 5 gwei cap: nothing can be included.
    for (int i = 0; i < 5; ++i) {
        rig.next_base_fee(30 * kGwei);
        rig.mine();
        rig.step();
    }
    EXPECT_TRUE(rig.logged("fees.held_at_cap")) << rig.log_text.str();
    EXPECT_TRUE(rig.outcomes.empty());
    const auto attempts = rig.attempts("test/hit/4");
    ASSERT_GE(attempts.size(), 2u);
    for (const Attempt& a : attempts) EXPECT_LE(a.max_fee_per_gas, u256(5 * kGwei));
    EXPECT_EQ(attempts.back().max_fee_per_gas, u256(5 * kGwei));
    // When the base fee falls again, the capped transaction is included.
    rig.next_base_fee(kGwei);
    rig.mine();
    rig.settle(1);
    ASSERT_EQ(rig.outcomes.size(), 1u) << rig.log_text.str();
    EXPECT_EQ(rig.outcomes[0].outcome.kind, OutcomeKind::included);
    EXPECT_EQ(rig.hits(4), 1u);
}

TEST(pipeline_anvil, another_sender_with_the_same_key_is_healed) {
    Rig rig;
    rig.start();
    rig.automine(false);
    rig.submit({rig.intent(5)});
    // Another process replaces our pending nonce 0 with its own transaction.
    rig.anvil.cast({"send", "--async", "--private-key", Anvil::kDevKey1, "--nonce", "0",
                    "--priority-gas-price", std::to_string(50 * kGwei), "--gas-price",
                    std::to_string(100 * kGwei), Anvil::kDevAddress0});
    rig.mine();
    // ...and sends nonce 1 before we see it.
    rig.anvil.cast(
        {"send", "--async", "--private-key", Anvil::kDevKey1, "--nonce", "1", Anvil::kDevAddress0});
    rig.mine();
    rig.step();
    // Not given up at the first sight of a used nonce without a receipt of ours (a node may
    // serve receipts late), but one block later.
    EXPECT_TRUE(rig.outcomes.empty());
    rig.mine();
    rig.step();
    ASSERT_EQ(rig.outcomes.size(), 1u) << rig.log_text.str();
    EXPECT_EQ(rig.outcomes[0].outcome.kind, OutcomeKind::replaced);
    EXPECT_EQ(rig.hits(5), 0u);
    // The next intent takes the next free nonce, 2: none skipped, none reused.
    rig.submit({rig.intent(6)});
    EXPECT_EQ(rig.attempts("test/hit/6").at(0).nonce, 2u);
    rig.mine();
    rig.settle(2);
    ASSERT_EQ(rig.outcomes.size(), 2u) << rig.log_text.str();
    EXPECT_EQ(rig.outcomes[1].outcome.kind, OutcomeKind::included);
    EXPECT_EQ(rig.hits(6), 1u);
    EXPECT_EQ(rig.nonce(), 3u);
}

TEST(pipeline_anvil, a_call_outside_the_allow_list_is_refused_and_nothing_is_signed) {
    Rig rig;
    rig.start();
    Intent other = rig.intent(9);
    other.calldata = test::hex("0xd09de08a");  // increment(): not allowed
    Intent elsewhere = rig.intent(10);
    elsewhere.target = *parse_address(Anvil::kDevAddress0);
    rig.submit({other, elsewhere});
    ASSERT_EQ(rig.outcomes.size(), 2u);
    EXPECT_NE(rig.outcomes[0].outcome.detail.find("selector_not_allowed"), std::string::npos);
    EXPECT_NE(rig.outcomes[1].outcome.detail.find("target_not_allowed"), std::string::npos);
    EXPECT_TRUE(rig.logged("security.refused"));
    EXPECT_FALSE(*rig.journal.find_intent("test/hit/9"));
    EXPECT_EQ(rig.nonce("pending"), 0u);
}

TEST(pipeline_anvil, the_kill_switch_stops_broadcasts_at_the_next_block) {
    PipelineConfig config;
    config.replace_after_blocks = 1;
    Rig rig(config);
    rig.start();
    rig.automine(false);
    rig.submit({rig.intent(11)});  // in the pool
    std::ofstream(rig.config.kill_switch_file) << "stop\n";
    rig.submit({rig.intent(12)});
    ASSERT_EQ(rig.outcomes.size(), 1u);
    EXPECT_EQ(rig.outcomes[0].outcome.detail, "kill switch engaged");
    // The stuck tx is neither replaced nor re-sent while the switch is on.
    rig.anvil.cast(
        {"rpc", "anvil_dropTransaction", to_hex(rig.attempts("test/hit/11").at(0).tx_hash)});
    for (int i = 0; i < 3; ++i) {
        rig.mine();
        rig.step();
    }
    EXPECT_EQ(rig.nonce("pending"), 0u);
    EXPECT_EQ(rig.attempts("test/hit/11").size(), 1u);
    EXPECT_TRUE(rig.logged("kill_switch.engaged"));
    // Released: the pipeline picks up where it was.
    std::filesystem::remove(rig.config.kill_switch_file);
    rig.step();
    rig.settle(2);
    ASSERT_EQ(rig.outcomes.size(), 2u) << rig.log_text.str();
    EXPECT_EQ(rig.outcomes[1].outcome.kind, OutcomeKind::included);
    EXPECT_EQ(rig.hits(11), 1u);
    EXPECT_EQ(rig.hits(12), 0u);
}

TEST(pipeline_anvil, an_intent_past_its_deadline_is_cancelled) {
    PipelineConfig config;
    config.fees.max_fee_gwei = 5;
    Rig rig(config);
    rig.start();
    rig.automine(false);
    Intent late = rig.intent(13);
    late.deadline_block = rig.head().number + 2;
    rig.submit({late});
    for (int i = 0; i < 3; ++i) {  // stuck under a base fee above the cap
        rig.next_base_fee(30 * kGwei);
        rig.mine();
        rig.step();
    }
    EXPECT_TRUE(rig.logged("tx.cancel")) << rig.log_text.str();
    rig.next_base_fee(kGwei);
    rig.mine();
    rig.settle(1);
    ASSERT_EQ(rig.outcomes.size(), 1u) << rig.log_text.str();
    EXPECT_EQ(rig.outcomes[0].outcome.kind, OutcomeKind::expired);
    EXPECT_EQ(rig.hits(13), 0u);
    EXPECT_EQ(rig.nonce(), 1u);  // the cancellation took the nonce
}

TEST(pipeline_anvil, dry_run_signs_and_journals_but_sends_nothing) {
    PipelineConfig config;
    config.dry_run = true;
    Rig rig(config);
    rig.start();
    rig.submit({rig.intent(14), rig.intent(15)});
    ASSERT_EQ(rig.outcomes.size(), 2u);
    EXPECT_NE(rig.outcomes[0].outcome.detail.find("dry-run"), std::string::npos);
    EXPECT_TRUE(rig.logged("tx.dry_run"));
    const auto attempts = rig.attempts("test/hit/15");
    ASSERT_EQ(attempts.size(), 1u);
    EXPECT_TRUE(attempts[0].dry_run);
    EXPECT_EQ(attempts[0].nonce, 1u);
    EXPECT_EQ(rig.nonce("pending"), 0u);
    EXPECT_EQ(rig.hits(14), 0u);
}

TEST(pipeline_anvil, a_transaction_reorged_out_is_tracked_and_sent_again) {
    PipelineConfig config;
    config.confirmations = 3;
    Rig rig(config);
    rig.start();
    rig.submit({rig.intent(16)});
    rig.wait_mined("test/hit/16");
    rig.step();  // seen mined, not yet confirmed
    const BlockHeader mined = rig.head();
    EXPECT_TRUE(rig.outcomes.empty());
    // anvil_reorg replaces the last block with an empty one; our tx is gone.
    rig.anvil.cast({"rpc", "anvil_reorg", "1", "[]"});
    EXPECT_EQ(rig.nonce(), 0u);
    test::run(rig.ioc, rig.pipeline->on_block(BlockEvent{BlockEvent::Kind::removed, mined, {}}));
    EXPECT_TRUE(rig.logged("tx.reorged_out")) << rig.log_text.str();
    rig.settle(1);
    ASSERT_EQ(rig.outcomes.size(), 1u) << rig.log_text.str();
    EXPECT_EQ(rig.outcomes[0].outcome.kind, OutcomeKind::included);
    EXPECT_EQ(rig.hits(16), 1u);
    EXPECT_EQ(rig.nonce(), 1u);
}

TEST(pipeline_anvil, with_a_private_relay_every_broadcast_goes_to_it) {
    PipelineConfig config;
    config.replace_after_blocks = 1;
    Rig rig(config, true);
    rig.start();
    rig.automine(false);
    rig.submit({rig.intent(17), rig.intent(18)});
    const auto first = rig.attempts("test/hit/17").at(0).tx_hash;
    // A replacement after a drop goes the same way.
    rig.anvil.cast({"rpc", "anvil_dropTransaction", to_hex(first)});
    rig.mine();
    rig.settle(2);
    ASSERT_EQ(rig.outcomes.size(), 2u) << rig.log_text.str();
    for (const Reported& r : rig.outcomes) EXPECT_EQ(r.outcome.kind, OutcomeKind::included);
    EXPECT_GE(rig.relay_proxy->forwarded("eth_sendRawTransaction"), 3u);
    EXPECT_EQ(rig.read_proxy->received("eth_sendRawTransaction"), 0u);
    EXPECT_GT(rig.read_proxy->received("eth_getTransactionCount"), 0u);
    EXPECT_EQ(rig.relay_proxy->received("eth_getTransactionCount"), 0u);
}

// "simulate": "auto" (the default): an exact intent goes out without eth_call and
// eth_estimateGas (gas_cap as its gas limit), ahead of the wave's inexact ones, which are
// simulated; "always" simulates both.
TEST(pipeline_anvil, under_auto_only_inexact_intents_are_simulated_and_exact_ones_go_first) {
    Rig rig({}, true);
    rig.start();
    Intent inexact = rig.intent(21);
    Intent exact = rig.intent(22);
    exact.exact = true;
    exact.gas_cap = 200'000;
    rig.submit({inexact, exact});
    EXPECT_EQ(rig.read_proxy->received("eth_call"), 1u);
    EXPECT_EQ(rig.read_proxy->received("eth_estimateGas"), 1u);
    const Attempt first = rig.attempts("test/hit/22").at(0);
    const Attempt second = rig.attempts("test/hit/21").at(0);
    EXPECT_LT(first.nonce, second.nonce) << "the exact intent did not go first";
    EXPECT_EQ(first.gas_limit, 200'000u);
    rig.settle(2);
    ASSERT_EQ(rig.outcomes.size(), 2u) << rig.log_text.str();
    for (const Reported& r : rig.outcomes) EXPECT_EQ(r.outcome.kind, OutcomeKind::included);

    Intent again = rig.intent(23);
    again.exact = true;
    again.gas_cap = 200'000;
    rig.submit({again}, SubmitOptions{config::Simulation::always});
    EXPECT_EQ(rig.read_proxy->received("eth_call"), 2u);
}

TEST(pipeline_anvil, a_large_wave_is_signed_with_consecutive_nonces) {
    PipelineConfig config;
    config.max_inflight_txs = 16;
    Rig rig(config);
    rig.start();
    rig.automine(false);
    std::vector<Intent> wave;
    for (uint64_t id = 20; id < 32; ++id) wave.push_back(rig.intent(id));
    rig.submit(wave);
    for (uint64_t id = 20; id < 32; ++id) {
        const auto attempts = rig.attempts("test/hit/" + std::to_string(id));
        ASSERT_EQ(attempts.size(), 1u) << rig.log_text.str();
        EXPECT_EQ(attempts[0].nonce, id - 20);
    }
    rig.mine();
    rig.settle(12);
    ASSERT_EQ(rig.outcomes.size(), 12u) << rig.log_text.str();
    for (const Reported& r : rig.outcomes) EXPECT_EQ(r.outcome.kind, OutcomeKind::included);
    for (uint64_t id = 20; id < 32; ++id) EXPECT_EQ(rig.hits(id), 1u);
    EXPECT_EQ(rig.nonce(), 12u);
}

// The first transaction of a wave is on the wire before the second is signed; the rest
// follows, journaled together, with the next nonces.
TEST(pipeline_anvil, a_wave_sends_its_first_transaction_before_signing_the_rest) {
    Rig rig({}, /*private_relay=*/true);
    rig.start();
    rig.automine(false);
    // A kept-alive connection to the relay, as after any earlier send: a new one would
    // first need the io thread to finish connecting.
    ASSERT_TRUE(test::run(rig.ioc, rig.relay->chain_id()));
    // The relay's count of sends at each signature. At the second one the io thread is held
    // (as signing holds it) until the first send arrives, for at most 2 s: only a request
    // already written gets there.
    std::vector<std::size_t> sends_seen;
    rig.before_signing = [&] {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        std::size_t seen = rig.relay_proxy->received("eth_sendRawTransaction");
        while (sends_seen.size() == 1 && seen == 0 && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
            seen = rig.relay_proxy->received("eth_sendRawTransaction");
        }
        sends_seen.push_back(seen);
    };
    std::vector<Intent> wave;
    for (uint64_t id = 40; id < 45; ++id) wave.push_back(rig.intent(id));
    rig.submit(wave);
    EXPECT_EQ(sends_seen, (std::vector<std::size_t>{0, 1, 1, 1, 1}));
    EXPECT_EQ(rig.relay_proxy->received("eth_sendRawTransaction"), 5u);
    for (uint64_t id = 40; id < 45; ++id) {
        const auto attempts = rig.attempts("test/hit/" + std::to_string(id));
        ASSERT_EQ(attempts.size(), 1u) << rig.log_text.str();
        EXPECT_EQ(attempts[0].nonce, id - 40);
        EXPECT_EQ(attempts[0].state, AttemptState::broadcast);
    }
    rig.mine();
    rig.settle(5);
    ASSERT_EQ(rig.outcomes.size(), 5u) << rig.log_text.str();
    for (const Reported& r : rig.outcomes) EXPECT_EQ(r.outcome.kind, OutcomeKind::included);
    EXPECT_EQ(rig.nonce(), 5u);
}

TEST(pipeline_anvil, a_nonce_hole_left_by_an_evicted_foreign_transaction_is_filled) {
    Rig rig;  // replace_after_blocks 3
    rig.start();
    rig.automine(false);
    // Another process sends at our next nonce: the pending count rises, the pipeline moves
    // its next nonce past it.
    const std::string foreign = rig.anvil.cast(
        {"send", "--async", "--private-key", Anvil::kDevKey1, "--nonce", "0", Anvil::kDevAddress0});
    rig.step();
    EXPECT_TRUE(rig.logged("foreign_nonces")) << rig.log_text.str();
    rig.submit({rig.intent(30), rig.intent(31)});
    EXPECT_EQ(rig.attempts("test/hit/30").at(0).nonce, 1u);
    // The foreign transaction is evicted before it is mined: nothing holds nonce 0.
    rig.anvil.cast({"rpc", "anvil_dropTransaction", foreign});
    // Within replace_after_blocks + 2 blocks of the hole being seen it is filled (a
    // zero-value self-send at 0) and ours are mined above it.
    const auto ours = [&] {
        return std::count_if(rig.outcomes.begin(), rig.outcomes.end(),
                             [](const Reported& r) { return r.strategy == "test"; });
    };
    for (uint64_t i = 0; i < rig.config.replace_after_blocks + 3 && ours() < 2; ++i) {
        rig.mine();
        rig.step();
    }
    ASSERT_EQ(ours(), 2) << rig.log_text.str();
    for (const Reported& r : rig.outcomes)
        EXPECT_EQ(r.outcome.kind, OutcomeKind::included) << r.outcome.idempotency_key;
    EXPECT_TRUE(rig.logged("tx.fill_hole")) << rig.log_text.str();
    EXPECT_EQ(rig.hits(30), 1u);
    EXPECT_EQ(rig.hits(31), 1u);
    EXPECT_EQ(rig.nonce(), 3u);
    // The filler was journaled like any transaction.
    auto pending = rig.journal.pending_intents();
    ASSERT_TRUE(pending);
    EXPECT_TRUE(pending->empty());
}

TEST(pipeline_anvil, a_key_changed_under_the_same_signer_name_never_signs_at_the_old_nonces) {
    PipelineConfig config;
    config.replace_after_blocks = 1;
    Rig rig(config);
    rig.start();
    rig.automine(false);
    Intent late = rig.intent(33);
    late.deadline_block = rig.head().number + 1;
    rig.submit({late});
    const auto sent = rig.attempts("test/hit/33");
    ASSERT_EQ(sent.size(), 1u);
    // The node loses it; vigil restarts with another key under the name "keeper".
    rig.anvil.cast({"rpc", "anvil_dropTransaction", to_hex(sent[0].tx_hash)});
    rig.pipeline.reset();
    constexpr const char* kOtherKey =
        "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";  // anvil dev 2
    SignerMap other;
    other.emplace("keeper", dev_signer(kOtherKey));
    const Address other_address = other.at("keeper")->address();
    Allowlist allow;
    allow.add("keeper", rig.fixture, hit_function().selector);
    rig.pipeline = std::make_unique<TxPipeline>(
        rig.config, rig.provider, nullptr, rig.journal, other, std::move(allow), rig.log,
        [&](std::string_view strategy, const Outcome& o) {
            rig.outcomes.push_back({std::string(strategy), o});
        });
    rig.start();
    EXPECT_TRUE(rig.logged("intent.orphaned")) << rig.log_text.str();
    rig.settle(1, 6);  // past its deadline and replace_after_blocks
    // Only the old key's journaled bytes were sent again; the new key signed nothing for it.
    for (const Attempt& a : rig.attempts("test/hit/33"))
        EXPECT_EQ(a.signer, rig.keeper) << "signed by " << to_checksum(a.signer);
    EXPECT_EQ(std::stoull(rig.anvil.cast({"nonce", to_checksum(other_address)})), 0u);
    ASSERT_EQ(rig.outcomes.size(), 1u) << rig.log_text.str();
    EXPECT_EQ(rig.outcomes[0].outcome.kind, OutcomeKind::included);
    EXPECT_EQ(rig.outcomes[0].outcome.tx_hash, sent[0].tx_hash);
    EXPECT_EQ(rig.hits(33), 1u);
    // A new intent under the name goes out from the new key at its own nonce.
    rig.submit({rig.intent(34)});
    const auto fresh = rig.attempts("test/hit/34");
    ASSERT_EQ(fresh.size(), 1u);
    EXPECT_EQ(fresh[0].signer, other_address);
    EXPECT_EQ(fresh[0].nonce, 0u);
}
