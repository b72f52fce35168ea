// Reorgs that remove the keeper's liquidations (issue 16, item 3): a ChainRunner with the
// real Morpho Blue liquidator, against a real anvil mining every second with the real Morpho
// Blue bytecode (MorphoFixture). Both oracle prices drop, the keeper liquidates, its
// liquidations are confirmed and reported, then anvil_reorg replaces the blocks that hold
// them with empty ones. Every liquidation must be included again on the new branch, within
// a bounded time, and the journal's nonces must be the chain's.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "agent/runner.hpp"
#include "chain/json_rpc.hpp"
#include "chain/keccak.hpp"
#include "chain/strings.hpp"
#include "keys/local_signer.hpp"
#include "strategies/morpho/liquidator.hpp"
#include "tests/support/anvil.hpp"
#include "tests/support/key_test_support.hpp"
#include "tests/support/morpho_fixture.hpp"

using namespace vigil;
using namespace vigil::agent;
using namespace std::chrono_literals;
using test::Anvil;

namespace {

const Hash32 kLiquidateTopic = keccak256(
    std::string_view("Liquidate(bytes32,address,address,uint256,uint256,uint256,uint256,uint256)"));

struct ReorgCase {
    const char* name;
    uint64_t confirmations;
    uint64_t depth;
    /// Where the removed blocks start: at the keeper's first mined transaction (all of them
    /// removed), or at its last one (the latest liquidations removed).
    bool from_first;
};

/// anvil with Morpho and 60 borrowers, and a ChainRunner (the Morpho liquidator, signer
/// "keeper" = dev account 1) on a thread of its own, logging JSON lines to a file.
class ReorgRun {
public:
    explicit ReorgRun(uint64_t confirmations)
        : anvil_({"--block-time", "1"}),
          fixture_(anvil_.http_url(), fixture_options()),
          log_file_(dir_.path() / "vigil.log"),
          log_(log_file_, LogFormat::json, LogLevel::debug) {
        config_.state_dir = dir_.path() / "state";
        config::ChainConfig chain;
        chain.name = "local";
        chain.chain_id = fixture_.deployment().chain_id;
        chain.rpc = {anvil_.http_url()};
        chain.ws = {anvil_.ws_url()};
        chain.confirmations = confirmations;
        config_.chains.emplace("local", chain);
        config_.limits.max_inflight_txs = 64;
        config_.limits.max_gas_spend_per_hour_wei = u256(100) * morpho::kWad;
        signers_.emplace(
            "keeper", std::make_unique<keys::LocalSigner>(test::signer_from_hex(Anvil::kDevKey1)));
    }
    ~ReorgRun() { stop(); }

    test::DevChain& chain() { return fixture_.chain(); }
    const test::MorphoDeployment& d() const { return fixture_.deployment(); }

    void start() {
        morpho::LiquidatorOptions options;
        options.name = "morpho";
        options.morpho = d().morpho;
        options.all_markets = true;
        options.start_block = d().deploy_block;
        std::vector<RunnerStrategy> list;
        list.push_back({std::make_unique<morpho::MorphoLiquidator>(
                            options,
                            [this](std::string_view event, std::string detail) {
                                log_.info(event, {{"detail", detail}});
                            }),
                        "keeper", config::Simulation::automatic});
        runner_ = std::make_unique<ChainRunner>(config_, config_.chains.at("local"),
                                                std::move(list), signers_, log_);
        thread_ = std::thread([this] { result_ = runner_->run(); });
        const auto until = std::chrono::steady_clock::now() + 30s;
        while (!logged("stream.connected") && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(50ms);
        ASSERT_TRUE(logged("stream.connected")) << log_text();
    }
    void stop() {
        if (!runner_) return;
        runner_->stop();
        thread_.join();
        EXPECT_TRUE(result_) << (result_ ? "" : result_.error());
        runner_.reset();
    }

    std::string log_text() const {
        std::ifstream in(dir_.path() / "vigil.log");
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }
    bool logged(std::string_view event) const {
        return log_text().find(concat({"\"event\":\"", event, "\""})) != std::string::npos;
    }

    /// Both oracle prices to 75%; returns the block from which both hold.
    uint64_t drop_prices() {
        for (std::size_t m = 0; m < d().markets.size(); ++m)
            fixture_.set_price(m, d().markets[m].price * 3 / 4);
        return chain().block_number();
    }

    /// The borrowers Morpho says are not healthy at `block`.
    std::set<std::size_t> liquidatable(BlockId block) {
        std::set<std::size_t> out;
        for (std::size_t b = 0; b < d().borrowers.size(); ++b)
            if (!test::is_healthy_on_chain(chain(), d(), b, block)) out.insert(b);
        return out;
    }

    /// The canonical Liquidate events since `from`: borrower address → block.
    std::map<Address, uint64_t> liquidations(uint64_t from) {
        LogFilter filter;
        filter.addresses = {d().morpho};
        filter.topics = {{kLiquidateTopic}};
        auto logs = chain().run(chain().provider().get_logs(filter, from, chain().block_number()));
        if (!logs) throw std::runtime_error("eth_getLogs: " + logs.error().to_string());
        std::map<Address, uint64_t> out;
        for (const Log& l : *logs) {
            Address a;
            std::copy(l.topics.at(3).bytes.begin() + 12, l.topics.at(3).bytes.end(),
                      a.bytes.begin());
            out[a] = l.block_number;
        }
        return out;
    }
    bool all_liquidated(const std::set<std::size_t>& expected, uint64_t from) {
        const auto done = liquidations(from);
        for (std::size_t b : expected)
            if (!done.contains(d().borrowers[b].address)) return false;
        return true;
    }
    bool wait_liquidated(const std::set<std::size_t>& expected, uint64_t from,
                         std::chrono::seconds limit) {
        const auto until = std::chrono::steady_clock::now() + limit;
        while (!all_liquidated(expected, from)) {
            if (std::chrono::steady_clock::now() >= until) return false;
            std::this_thread::sleep_for(100ms);
        }
        return true;
    }

    uint64_t keeper_nonce(BlockId at = BlockTag::latest) {
        auto n = chain().run(chain().provider().get_transaction_count(d().keeper, at));
        if (!n) throw std::runtime_error(n.error().to_string());
        return *n;
    }
    /// Blocks of the keeper's mined transactions from `from` on.
    std::vector<uint64_t> keeper_blocks(uint64_t from) {
        std::vector<uint64_t> out;
        const std::string keeper = to_hex(BytesView(d().keeper.bytes));
        for (uint64_t n = from; n <= chain().block_number(); ++n) {
            const auto block = nlohmann::json::parse(
                chain().rpc("eth_getBlockByNumber", "[\"" + to_quantity(n) + "\", true]"));
            for (const auto& tx : block.at("transactions")) {
                std::string sender = tx.at("from").get<std::string>();
                for (char& c : sender) c = static_cast<char>(std::tolower(c));
                if (sender == keeper) out.push_back(n);
            }
        }
        return out;
    }
    void interval_mining(bool on) { chain().rpc("evm_setIntervalMining", on ? "[1]" : "[0]"); }
    /// Mines until the head is `number`, a block every 300 ms (the runner follows).
    void mine_to(uint64_t number) {
        while (chain().block_number() < number) {
            chain().mine();
            std::this_thread::sleep_for(300ms);
        }
        std::this_thread::sleep_for(1s);  // the runner has processed the head
    }

    /// After stop(): every intent in `keys` (those sent before the reorg) finished mined
    /// again, its tx in the canonical block the journal names; the journal's nonces are the
    /// chain's: every nonce below the chain's count is one included attempt.
    void expect_journal_matches_chain(const std::vector<std::string>& keys) {
        auto journal = Journal::open(config_.state_dir);
        ASSERT_TRUE(journal) << journal.error().detail;
        auto open = journal->pending_intents();
        ASSERT_TRUE(open);
        EXPECT_TRUE(open->empty()) << open->size() << " intents still open";
        const uint64_t chain_count = keeper_nonce();
        auto next = journal->next_nonce(d().chain_id, d().keeper);
        ASSERT_TRUE(next && *next);
        EXPECT_EQ(**next, chain_count) << "the journal's next nonce is not the chain's count";
        std::set<uint64_t> included;
        std::size_t reverted = 0;
        for (const std::string& key : sent_keys()) {
            auto found = journal->find_intent(key);
            ASSERT_TRUE(found && *found);
            const JournaledIntent& ji = **found;
            ASSERT_TRUE(ji.outcome) << key;
            if (std::find(keys.begin(), keys.end(), key) != keys.end()) {
                // Mined (a re-sent liquidation can revert on the new branch: the strategy then
                // liquidates under a retry key, which wait_liquidated saw land).
                EXPECT_TRUE(ji.outcome->kind == OutcomeKind::included ||
                            ji.outcome->kind == OutcomeKind::reverted)
                    << key << ": " << ji.outcome->detail << "\n"
                    << lines_with(key);
                if (ji.outcome->kind == OutcomeKind::reverted) ++reverted;
            }
            for (const Attempt& a : ji.attempts) {
                if (a.state != AttemptState::included) continue;
                const auto receipt = nlohmann::json::parse(
                    chain().rpc("eth_getTransactionReceipt", "[\"" + to_hex(a.tx_hash) + "\"]"));
                ASSERT_TRUE(receipt.is_object()) << key << ": its included tx is not mined";
                EXPECT_EQ(receipt.at("blockHash").get<std::string>(),
                          to_hex(*a.included_block_hash))
                    << key;
                EXPECT_TRUE(included.insert(a.nonce).second) << "nonce " << a.nonce << " twice";
            }
        }
        std::cout << "[ reorg ] " << keys.size() << " intents sent before the reorg, " << reverted
                  << " reverted\n";
        EXPECT_EQ(included.size(), chain_count)
            << "the journal's included nonces are not 0.." << chain_count - 1;
    }

    /// The log lines that mention `text`.
    std::string lines_with(const std::string& text) const {
        std::istringstream in(log_text());
        std::string out;
        for (std::string line; std::getline(in, line);)
            if (line.find(text) != std::string::npos) out += line + "\n";
        return out;
    }

    /// The keys of every intent the runner sent (its tx.sent lines).
    std::vector<std::string> sent_keys() {
        std::vector<std::string> keys;
        std::istringstream in(log_text());
        for (std::string line; std::getline(in, line);) {
            const auto j = nlohmann::json::parse(line, nullptr, false);
            if (j.is_object() && j.value("event", "") == "tx.sent")
                keys.push_back(j.value("key", ""));
        }
        std::sort(keys.begin(), keys.end());
        keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
        return keys;
    }

private:
    static test::MorphoFixtureOptions fixture_options() {
        test::MorphoFixtureOptions o;
        o.keeper_loan_balance = u256(50'000'000) * morpho::kWad;
        return o;
    }

    test::TempDir dir_;
    Anvil anvil_;
    test::MorphoFixture fixture_;
    std::ofstream log_file_;
    Logger log_;
    config::Config config_;
    SignerMap signers_;
    std::unique_ptr<ChainRunner> runner_;
    std::thread thread_;
    Result<void, std::string> result_;
};

class reorg_anvil : public ::testing::TestWithParam<ReorgCase> {};

}  // namespace

TEST_P(reorg_anvil, removed_liquidations_are_included_again) {
    const ReorgCase& c = GetParam();
    ReorgRun run(c.confirmations);
    run.start();
    const uint64_t drop = run.drop_prices();
    const std::set<std::size_t> expected = run.liquidatable(drop);
    ASSERT_GE(expected.size(), 10u);
    ASSERT_TRUE(run.wait_liquidated(expected, drop, 60s)) << run.log_text();
    run.interval_mining(false);
    const std::vector<uint64_t> blocks = run.keeper_blocks(drop);
    ASSERT_FALSE(blocks.empty());
    // Confirmed and reported (finished) unless `depth` reaches above them.
    const uint64_t anchor = c.from_first ? blocks.front() : blocks.back();
    ASSERT_LE(run.chain().block_number(), anchor + c.depth - 1) << "too slow to place the reorg";
    run.mine_to(anchor + c.depth - 1);
    const uint64_t before = run.keeper_nonce();
    // What the keeper mined before `anchor` (the approval made at start) stays.
    const uint64_t kept = run.keeper_nonce(anchor - 1);
    const std::vector<std::string> sent = run.sent_keys();
    run.chain().rpc("anvil_reorg", "[" + std::to_string(c.depth) + ", []]");
    const uint64_t after = run.keeper_nonce();
    ASSERT_LT(after, before) << "the reorg removed none of the keeper's transactions";
    if (c.from_first) {
        EXPECT_EQ(after, kept);
        EXPECT_FALSE(run.all_liquidated(expected, drop));
    }
    std::cout << "[ reorg ] " << expected.size() << " liquidatable; keeper nonce " << before
              << " -> " << after << " after a reorg of depth " << c.depth << "\n";
    run.interval_mining(true);
    EXPECT_TRUE(run.wait_liquidated(expected, drop, 30s))
        << "not every liquidation was included again\n"
        << run.log_text();
    run.mine_to(run.chain().block_number() + c.confirmations + 1);
    run.stop();
    run.expect_journal_matches_chain(sent);
}

INSTANTIATE_TEST_SUITE_P(cases, reorg_anvil,
                         ::testing::Values(ReorgCase{"depth_20_confirmations_1", 1, 20, true},
                                           ReorgCase{"depth_3_confirmations_1", 1, 3, false},
                                           ReorgCase{"depth_3_confirmations_5", 5, 3, false}),
                         [](const auto& info) { return std::string(info.param.name); });
