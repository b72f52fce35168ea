// `vigil run` end to end (issue 5): the real binary, as a process of its own, against a real
// anvil mining every second with the real Morpho Blue bytecode (MorphoFixture: 60 borrowers
// in two markets). Each test writes a config in a temp dir (the keeper is anvil's dev
// account 1, its key in the child's environment), starts vigil with `--log-format json`,
// waits until it follows the chain, drops both oracle prices to 75% in one block, and then
// reads the chain: Liquidate events, position(), balances, and every transaction the keeper
// mined.
//
// Which borrowers the drop makes liquidatable is Morpho's own answer, not our math's: a
// liquidate simulated (eth_call from the keeper) at the drop block reverts with "position is
// healthy" exactly for the healthy ones.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/journal.hpp"
#include "chain/abi.hpp"
#include "chain/json_rpc.hpp"
#include "chain/keccak.hpp"
#include "tests/support/anvil.hpp"
#include "tests/support/fault_proxy.hpp"
#include "tests/support/key_test_support.hpp"
#include "tests/support/morpho_fixture.hpp"
#include "tests/support/process.hpp"

using namespace vigil;
using morpho::kWad;
using test::Anvil;
using json = nlohmann::json;

namespace {

constexpr const char* kKeyEnv = "VIGIL_E2E_KEEPER_KEY";
/// Both oracle prices drop to this share of the fixture's (basis points).
constexpr uint64_t kDropToBps = 7'500;
/// Every borrower's health (max borrow / debt) at the drop must be at least this far from 1,
/// so that the interest accrued during a run (about 1e-6 a minute here) cannot move anyone
/// across the line: the set of liquidatable borrowers is the drop block's.
constexpr double kMinHealthMargin = 1e-3;
/// The keeper's loan tokens: enough to repay every liquidation the drop makes possible.
const u256 kKeeperLoanBalance = u256(50'000'000) * kWad;
constexpr auto kStartWait = std::chrono::seconds(30);
constexpr auto kLiquidationWait = std::chrono::seconds(60);
constexpr auto kStopWait = std::chrono::seconds(15);

const Hash32 kLiquidateTopic = keccak256(
    std::string_view("Liquidate(bytes32,address,address,uint256,uint256,uint256,uint256,uint256)"));

std::string lower_hex(const Address& a) {
    return to_hex(BytesView(a.bytes));
}

u256 word_at(BytesView data, std::size_t index) {
    return load_be(std::span<const uint8_t, 32>(data.data() + 32 * index, 32));
}

Address address_of(const Hash32& topic) {
    Address a;
    std::copy(topic.bytes.begin() + 12, topic.bytes.end(), a.bytes.begin());
    return a;
}

std::string field(const json& line, const char* key) {
    const auto it = line.find(key);
    return it != line.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool is_event(const json& line, std::string_view event) {
    return field(line, "event") == event;
}

/// "morpho/<market id>/<borrower>/<n>[/retry<k>]" → the borrower (lowercase hex); empty for
/// other keys (the approval's "morpho/approve/...").
std::string borrower_of_key(const std::string& key) {
    std::vector<std::string> parts;
    std::istringstream in(key);
    for (std::string part; std::getline(in, part, '/');) parts.push_back(part);
    if (parts.size() < 4 || parts[0] != "morpho" || parts[1] == "approve") return {};
    return parts[2];
}

/// `vigil run` as a child process; its stdout and stderr go to a file read as it grows.
class VigilProcess {
public:
    VigilProcess(const std::filesystem::path& config, const std::filesystem::path& log,
                 bool dry_run)
        : log_path_(log), child_(argv(config, dry_run), log.string()) {}

    /// The lines written so far: JSON log lines, and anything else as {"unparsed": text} (log lines
    /// have an "event").
    const std::vector<json>& lines() {
        poll();
        return lines_;
    }

    /// The first line that `match` accepts, waiting up to `limit` for it; nullopt when the
    /// time runs out or the process ends first.
    std::optional<json> wait_for(const std::function<bool(const json&)>& match,
                                 std::chrono::milliseconds limit) {
        const auto until = std::chrono::steady_clock::now() + limit;
        std::size_t seen = 0;
        for (;;) {
            poll();
            for (; seen < lines_.size(); ++seen)
                if (match(lines_[seen])) return lines_[seen];
            if (exited() || std::chrono::steady_clock::now() >= until) return std::nullopt;
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }

    bool exited() const {
        siginfo_t info{};
        return ::waitid(P_PID, static_cast<id_t>(child_.pid()), &info,
                        WEXITED | WNOHANG | WNOWAIT) == 0 &&
               info.si_pid == child_.pid();
    }

    /// Sends `sig` and reaps the process, killing it when it has not ended within `limit`;
    /// returns the wait status.
    int stop(int sig, std::chrono::milliseconds limit = kStopWait) {
        ::kill(child_.pid(), sig);
        const auto until = std::chrono::steady_clock::now() + limit;
        while (!exited() && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        hung_on_stop_ = !exited();
        const int status = child_.kill_and_wait(SIGKILL);  // reaps; a no-op signal if ended
        poll();
        return status;
    }
    bool hung_on_stop() const { return hung_on_stop_; }

    /// A short account of the log for failure messages: the count of lines per event,
    /// then each distinct warning, error, strategy line (morpho.*) and non-JSON line once
    /// with its count. A position's key and long numbers are left out of a detail, so that
    /// one reason given for many positions or blocks is one line.
    std::string summary() {
        std::map<std::string, int> events;
        std::vector<std::pair<std::string, int>> notable;
        const auto note = [&notable](std::string text) {
            const auto it = std::find_if(notable.begin(), notable.end(),
                                         [&](const auto& n) { return n.first == text; });
            if (it == notable.end())
                notable.emplace_back(std::move(text), 1);
            else
                ++it->second;
        };
        for (const json& l : lines()) {
            if (!l.contains("event")) {
                note("output: " + field(l, "unparsed"));
                continue;
            }
            const std::string event = field(l, "event"), level = field(l, "level");
            ++events[event];
            if (level != "warn" && level != "error" && !event.starts_with("morpho.")) continue;
            std::string detail = field(l, "detail");
            if (detail.starts_with("morpho/"))
                if (const auto colon = detail.find(": "); colon != std::string::npos)
                    detail = "<key>" + detail.substr(colon);
            // Amounts move with every block's interest.
            detail = std::regex_replace(detail, std::regex("\\b[0-9]{6,}\\b"), "<n>");
            note(level + " " + event + " " + detail);
        }
        std::ostringstream out;
        out << "  lines:";
        for (const auto& [event, n] : events) out << " " << event << "=" << n;
        out << "\n";
        constexpr std::size_t kShown = 40;
        for (std::size_t i = 0; i < notable.size() && i < kShown; ++i)
            out << "  " << (notable[i].second > 1 ? std::to_string(notable[i].second) + "x " : "")
                << notable[i].first << "\n";
        if (notable.size() > kShown) out << "  ... and " << notable.size() - kShown << " more\n";
        return out.str();
    }

private:
    static std::vector<std::string> argv(const std::filesystem::path& config, bool dry_run) {
        std::vector<std::string> args = {VIGIL_BINARY,    "run",          "--config",
                                         config.string(), "--log-format", "json"};
        if (dry_run) args.push_back("--dry-run");
        return args;
    }

    void poll() {
        std::ifstream in(log_path_, std::ios::binary);
        in.seekg(static_cast<std::streamoff>(consumed_));
        std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::size_t start = 0;
        for (std::size_t nl; (nl = chunk.find('\n', start)) != std::string::npos; start = nl + 1) {
            const std::string line = chunk.substr(start, nl - start);
            if (line.empty()) continue;
            json parsed = json::parse(line, nullptr, false);
            lines_.push_back(parsed.is_object() ? std::move(parsed) : json{{"unparsed", line}});
        }
        consumed_ += start;
    }

    std::filesystem::path log_path_;
    test::Child child_;
    std::size_t consumed_ = 0;
    std::vector<json> lines_;
    bool hung_on_stop_ = false;
};

/// One Liquidate event of Morpho.
struct Liquidation {
    std::size_t borrower = 0;  ///< index into the deployment's borrowers
    Address caller;
    u256 repaid_assets, seized_assets, bad_debt_assets;
    uint64_t block_number = 0;
    Hash32 tx_hash;
};

/// A transaction mined from the keeper's address.
struct KeeperTx {
    uint64_t nonce = 0;
    uint64_t block_number = 0;
    Hash32 hash;
    Address to;
    Bytes input;
    bool success = false;
};

/// The market as Morpho stands at one block, per borrower: position, health and whether
/// Morpho lets it be liquidated.
struct BookAt {
    uint64_t block = 0;
    std::vector<morpho::Position> positions;
    std::vector<double> health;  ///< max borrow / debt; infinity without debt
    std::set<std::size_t> liquidatable;
};

/// anvil mining every second, Morpho with its book, the keeper's key in the environment and
/// a config for vigil in a temp dir.
class MorphoRun {
public:
    MorphoRun()
        : anvil_({"--block-time", "1"}),
          key_(kKeyEnv, std::string(Anvil::kDevKey1)),
          fixture_(anvil_.http_url(), fixture_options()) {
        write_config(anvil_.http_url(), anvil_.ws_url());
    }

    unsigned short anvil_port() const { return anvil_.port(); }
    /// vigil's endpoints become `proxy`'s (a FaultProxy in front of this anvil).
    void route_through(const test::FaultProxy& proxy) const {
        write_config(proxy.http_url(), proxy.ws_url());
    }
    /// vigil's `rpc` endpoint becomes `url` (its websocket stays anvil's).
    void use_rpc(const std::string& url) const { write_config(url, anvil_.ws_url()); }

    const test::MorphoDeployment& d() const { return fixture_.deployment(); }
    test::DevChain& chain() { return fixture_.chain(); }
    const std::filesystem::path& dir() const { return dir_.path(); }

    std::unique_ptr<VigilProcess> start(const std::string& run, bool dry_run = false) {
        return std::make_unique<VigilProcess>(config_path(), dir() / ("vigil-" + run + ".log"),
                                              dry_run);
    }

    /// Waits until `vigil` follows new blocks (its websocket subscribed, after the backfill
    /// and the strategy's start); fails the test when it does not.
    static void expect_following(VigilProcess& vigil) {
        const auto connected = vigil.wait_for(
            [](const json& l) { return is_event(l, "stream.connected"); }, kStartWait);
        ASSERT_TRUE(connected) << "vigil did not start following the chain:\n" << vigil.summary();
    }

    /// Both oracles' setPrice to kDropToBps of the fixture's price, sent together; returns
    /// the block from which both prices hold.
    uint64_t drop_prices() {
        std::vector<Hash32> txs;
        for (const auto& m : d().markets)
            txs.push_back(chain().send(fixture_.owner(), m.params.oracle,
                                       test::calldata("setPrice(uint256)", {dropped_price(m)}),
                                       100'000));
        const auto receipts = chain().settle(txs);
        uint64_t block = 0;
        for (const auto& r : receipts) block = std::max(block, r.block_number);
        return block;
    }
    static u256 dropped_price(const test::MorphoDeployment::MarketInfo& m) {
        return m.price * kDropToBps / 10'000;
    }

    BookAt book_at(uint64_t block) {
        BookAt book;
        book.block = block;
        std::vector<morpho::Market> markets;
        std::vector<u256> prices;
        for (const auto& m : d().markets) {
            markets.push_back(test::read_market(chain(), d().morpho, m.id, block));
            prices.push_back(test::read_price(chain(), m.params.oracle, block));
        }
        for (std::size_t b = 0; b < d().borrowers.size(); ++b) {
            const auto& borrower = d().borrowers[b];
            const std::size_t m = borrower.market;
            const auto pos = test::read_position(chain(), d().morpho, d().markets[m].id,
                                                 borrower.address, block);
            book.positions.push_back(pos);
            const u256 debt = morpho::borrowed_assets(pos, markets[m]).value_or(0);
            const u256 limit =
                morpho::max_borrow(pos.collateral, prices[m], d().markets[m].params.lltv)
                    .value_or(0);
            book.health.push_back(
                debt.is_zero() ? INFINITY : limit.convert_to<double>() / debt.convert_to<double>());
            if (!is_healthy_on_chain(b, block)) book.liquidatable.insert(b);
        }
        return book;
    }

    bool is_healthy_on_chain(std::size_t b, BlockId block) {
        return test::is_healthy_on_chain(chain(), d(), b, block);
    }

    std::vector<Liquidation> liquidations() {
        LogFilter filter;
        filter.addresses = {d().morpho};
        filter.topics = {{kLiquidateTopic}};
        const uint64_t head = chain().block_number();
        auto logs = chain().run(chain().provider().get_logs(filter, d().deploy_block, head));
        if (!logs) throw std::runtime_error("eth_getLogs: " + logs.error().to_string());
        std::map<Address, std::size_t> index;
        for (std::size_t b = 0; b < d().borrowers.size(); ++b) index[d().borrowers[b].address] = b;
        std::vector<Liquidation> out;
        for (const Log& l : *logs) {
            if (l.topics.size() != 4 || l.data.size() != 5 * 32) continue;
            const auto it = index.find(address_of(l.topics[3]));
            if (it == index.end()) throw std::runtime_error("Liquidate of an unknown borrower");
            out.push_back({it->second, address_of(l.topics[2]), word_at(l.data, 0),
                           word_at(l.data, 2), word_at(l.data, 3), l.block_number, l.tx_hash});
        }
        return out;
    }

    u256 balance_of(const Address& token, const Address& account) {
        return word_at(chain().call_ok(token, test::calldata("balanceOf(address)", {account})), 0);
    }

    u256 allowance_to_morpho() {
        return word_at(chain().call_ok(d().loan_token, test::calldata("allowance(address,address)",
                                                                      {d().keeper, d().morpho})),
                       0);
    }

    uint64_t keeper_nonce(BlockTag tag) {
        auto n = chain().run(chain().provider().get_transaction_count(d().keeper, tag));
        if (!n) throw std::runtime_error("eth_getTransactionCount: " + n.error().to_string());
        return *n;
    }

    /// Every transaction the keeper has mined, in block order, with its receipt's status.
    std::vector<KeeperTx> keeper_txs() {
        std::vector<KeeperTx> out;
        const uint64_t head = chain().block_number();
        const std::string keeper = lower_hex(d().keeper);
        for (uint64_t n = d().deploy_block; n <= head; ++n) {
            const json block = json::parse(
                chain().rpc("eth_getBlockByNumber", "[\"" + to_quantity(n) + "\", true]"));
            for (const json& tx : block.at("transactions")) {
                std::string from = tx.at("from").get<std::string>();
                std::transform(from.begin(), from.end(), from.begin(), ::tolower);
                if (from != keeper) continue;
                KeeperTx k;
                k.nonce = *rpc::parse_quantity(tx.at("nonce").get<std::string>());
                k.block_number = n;
                k.hash = *parse_hash32(tx.at("hash").get<std::string>());
                if (tx.at("to").is_string()) k.to = *parse_address(tx.at("to").get<std::string>());
                k.input = *parse_hex(tx.at("input").get<std::string>());
                const json receipt = json::parse(
                    chain().rpc("eth_getTransactionReceipt", "[\"" + to_hex(k.hash) + "\"]"));
                k.success = receipt.at("status").get<std::string>() == "0x1";
                out.push_back(std::move(k));
            }
        }
        return out;
    }

    /// Waits until each of `expected` has a Liquidate event and is no longer liquidatable,
    /// or `limit` runs out, or `vigil` ends; returns whether they all got there.
    bool wait_until_liquidated(const std::set<std::size_t>& expected, VigilProcess& vigil,
                               std::chrono::milliseconds limit) {
        const auto until = std::chrono::steady_clock::now() + limit;
        for (;;) {
            std::set<std::size_t> done;
            for (const auto& l : liquidations()) done.insert(l.borrower);
            const bool all =
                std::includes(done.begin(), done.end(), expected.begin(), expected.end()) &&
                std::none_of(expected.begin(), expected.end(), [&](std::size_t b) {
                    return !is_healthy_on_chain(b, BlockTag::latest);
                });
            if (all) return true;
            if (vigil.exited() || std::chrono::steady_clock::now() >= until) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
        }
    }

    /// Waits for `blocks` more blocks to be mined.
    void wait_blocks(uint64_t blocks) {
        const uint64_t target = chain().block_number() + blocks;
        while (chain().block_number() < target)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }

    /// The checks shared by the runs that send: after the drop at `at_drop`, Morpho's
    /// Liquidate events name exactly the liquidatable borrowers, all by the keeper; none of
    /// them is liquidatable any more; the healthy ones' positions are as they were; the
    /// keeper paid exactly the repaid assets, got the seized collateral, and the collateral
    /// is worth more than what it repaid at the oracle price.
    void expect_liquidated_exactly(const BookAt& at_drop, const u256& loan_before);

    std::filesystem::path config_path() const { return dir() / "vigil.json"; }

private:
    static test::MorphoFixtureOptions fixture_options() {
        test::MorphoFixtureOptions o;
        o.keeper_loan_balance = kKeeperLoanBalance;
        return o;
    }

    void write_config(const std::string& rpc, const std::string& ws) const {
        const json config = {
            {"state_dir", (dir() / "state").string()},
            {"chains",
             {{"local",
               {{"chain_id", d().chain_id}, {"rpc", {rpc}}, {"ws", {ws}}, {"confirmations", 1}}}}},
            {"signers", {{"keeper", {{"private_key_env", kKeyEnv}}}}},
            {"strategies",
             {{{"name", "morpho"},
               {"kind", "morpho-blue.liquidate"},
               {"chain", "local"},
               {"signer", "keeper"},
               {"params",
                {{"morpho", to_checksum(d().morpho)},
                 {"markets", "all"},
                 {"start_block", d().deploy_block},
                 {"min_profit_wei", "0"}}}}}},
        };  // limits and simulation: the defaults
        std::ofstream(config_path()) << config.dump(2) << "\n";
    }

    test::TempDir dir_;
    Anvil anvil_;
    test::ScopedEnv key_;
    test::MorphoFixture fixture_;
};

void MorphoRun::expect_liquidated_exactly(const BookAt& at_drop, const u256& loan_before) {
    const auto events = liquidations();
    std::set<std::size_t> liquidated;
    std::map<std::size_t, int> per_borrower;
    u256 repaid = 0, seized_value = 0, seized = 0;
    for (const Liquidation& l : events) {
        EXPECT_EQ(l.caller, d().keeper) << "borrower " << l.borrower << " liquidated by "
                                        << to_checksum(l.caller) << " in block " << l.block_number;
        liquidated.insert(l.borrower);
        ++per_borrower[l.borrower];
        const auto& market = d().markets[d().borrowers[l.borrower].market];
        repaid += l.repaid_assets;
        seized += l.seized_assets;
        seized_value += *morpho::mul_div_down(l.seized_assets, dropped_price(market),
                                              morpho::kOraclePriceScale);
    }
    EXPECT_EQ(liquidated, at_drop.liquidatable)
        << "the liquidated borrowers are not the ones the drop made liquidatable";
    std::size_t twice = 0;
    for (const auto& [b, n] : per_borrower) twice += n > 1 ? 1 : 0;
    std::cout << "[ vigil ] " << at_drop.liquidatable.size() << " of " << d().borrowers.size()
              << " borrowers liquidatable at block " << at_drop.block << "; " << events.size()
              << " Liquidate events, " << twice << " borrowers liquidated more than once\n";

    for (std::size_t b = 0; b < d().borrowers.size(); ++b) {
        const auto& borrower = d().borrowers[b];
        EXPECT_TRUE(is_healthy_on_chain(b, BlockTag::latest))
            << "borrower " << b << " is still liquidatable after the run";
        if (at_drop.liquidatable.contains(b)) continue;
        const auto now = test::read_position(chain(), d().morpho, d().markets[borrower.market].id,
                                             borrower.address);
        EXPECT_EQ(now.borrow_shares, at_drop.positions[b].borrow_shares)
            << "healthy borrower " << b;
        EXPECT_EQ(now.collateral, at_drop.positions[b].collateral) << "healthy borrower " << b;
    }

    const u256 loan_after = balance_of(d().loan_token, d().keeper);
    ASSERT_LE(loan_after, loan_before);
    EXPECT_EQ(u256(loan_before - loan_after), repaid)
        << "the keeper's loan tokens did not pay exactly the repaid assets";
    EXPECT_EQ(balance_of(d().collateral_token, d().keeper), seized)
        << "the keeper does not hold the seized collateral";
    EXPECT_GT(seized, u256(0));
    EXPECT_GT(seized_value, repaid) << "the liquidations lost money at the oracle price";
    std::cout << "[ vigil ] repaid " << repaid << " loan units for collateral worth "
              << seized_value << " (profit " << (seized_value - repaid) << ")\n";
}

/// Expects `txs` to be the keeper's whole history: nonces 0..n-1 in order, the approval
/// of the loan token first, then only liquidate calls to Morpho, every one successful, and no
/// borrower liquidated by two of them. No revert is excused: nobody else liquidates here, so
/// a reverted liquidation is one of vigil's own (a second one for a position it already
/// liquidated reverts with "position is healthy"). With Fillers::allowed, transactions from
/// the keeper to itself without calldata (a nonce hole filled) may sit between them.
enum class Fillers { forbidden, allowed };
void expect_clean_keeper_history(MorphoRun& run, const std::vector<KeeperTx>& txs,
                                 const std::string& logs, Fillers fillers = Fillers::forbidden) {
    const auto& d = run.d();
    const Hash32 approve = keccak256(std::string_view("approve(address,uint256)"));
    const Hash32 liquidate = keccak256("liquidate(" + std::string(test::kMarketParamsType) +
                                       ",address,uint256,uint256,bytes)");
    const auto has_selector = [](const KeeperTx& tx, const Hash32& h) {
        return tx.input.size() >= 4 &&
               std::equal(tx.input.begin(), tx.input.begin() + 4, h.bytes.begin());
    };
    ASSERT_FALSE(txs.empty());
    std::map<Address, int> liquidations_of;
    std::ostringstream reverted;
    for (std::size_t i = 0; i < txs.size(); ++i) {
        const KeeperTx& tx = txs[i];
        SCOPED_TRACE("keeper tx " + to_hex(tx.hash) + " nonce " + std::to_string(tx.nonce) +
                     " in block " + std::to_string(tx.block_number));
        EXPECT_EQ(tx.nonce, i) << "the keeper's mined nonces are not 0, 1, 2, ...";
        if (!tx.success)
            reverted << "  " << to_hex(tx.hash) << " nonce " << tx.nonce << " block "
                     << tx.block_number << "\n";
        if (fillers == Fillers::allowed && tx.to == d.keeper && tx.input.empty()) continue;
        if (i == 0) {
            EXPECT_EQ(tx.to, d.loan_token);
            EXPECT_TRUE(has_selector(tx, approve)) << "the first tx is not the approval";
            continue;
        }
        EXPECT_EQ(tx.to, d.morpho);
        ASSERT_TRUE(has_selector(tx, liquidate) && tx.input.size() >= 4 + 6 * 32)
            << "not a liquidate call";
        Address borrower;
        std::copy(tx.input.begin() + 4 + 5 * 32 + 12, tx.input.begin() + 4 + 6 * 32,
                  borrower.bytes.begin());
        EXPECT_EQ(++liquidations_of[borrower], 1)
            << "borrower " << to_checksum(borrower) << " liquidated by a second transaction";
    }
    EXPECT_EQ(reverted.str(), "") << "the keeper mined reverted transactions; the runs' logs:\n"
                                  << logs;
    EXPECT_EQ(run.keeper_nonce(BlockTag::latest), txs.size());
    EXPECT_EQ(run.keeper_nonce(BlockTag::pending), txs.size()) << "a keeper tx is still pending";
}

}  // namespace

TEST(morpho_run, liquidates_every_liquidatable_borrower_and_none_of_the_healthy) {
    MorphoRun run;
    const u256 loan_before = run.balance_of(run.d().loan_token, run.d().keeper);
    auto vigil = run.start("1");
    MorphoRun::expect_following(*vigil);
    if (HasFatalFailure()) return;

    const auto started = std::chrono::steady_clock::now();
    const BookAt at_drop = run.book_at(run.drop_prices());
    ASSERT_FALSE(at_drop.liquidatable.empty());
    ASSERT_LT(at_drop.liquidatable.size(), run.d().borrowers.size());
    for (std::size_t b = 0; b < at_drop.health.size(); ++b)
        ASSERT_GT(std::abs(at_drop.health[b] - 1), kMinHealthMargin)
            << "borrower " << b << " sits on the line (health " << at_drop.health[b]
            << "): choose another kDropToBps";
    const bool done = run.wait_until_liquidated(at_drop.liquidatable, *vigil, kLiquidationWait);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    run.wait_blocks(2);  // a duplicate sent late would land now
    const int status = vigil->stop(SIGINT);
    EXPECT_FALSE(vigil->hung_on_stop()) << "vigil did not stop within 15 s of SIGINT";
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "vigil run ended with status " << status << ":\n"
        << vigil->summary();
    EXPECT_TRUE(done) << "not every liquidatable borrower was liquidated within 60 s:\n"
                      << vigil->summary();
    std::cout << "[ vigil ] price drop to last liquidation seen: " << took.count() << " ms\n";
    const auto& lines = vigil->lines();
    EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [](const json& l) {
        return is_event(l, "chain.stopped");
    })) << "no chain.stopped line after SIGINT";

    run.expect_liquidated_exactly(at_drop, loan_before);
    expect_clean_keeper_history(run, run.keeper_txs(), vigil->summary());
}

// The race, in the default config: the approval goes out at start, before anything is
// liquidatable, and the block that makes positions liquidatable gets all their
// liquidations in its own wave: every one is mined in the very next block (anvil mines
// each second; the wave leaves a few milliseconds after the block's notification).
TEST(morpho_run, the_crash_blocks_wave_carries_every_liquidation) {
    MorphoRun run;
    auto vigil = run.start("1");
    MorphoRun::expect_following(*vigil);
    if (HasFatalFailure()) return;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (run.allowance_to_morpho() != std::numeric_limits<u256>::max() &&
           std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_EQ(run.allowance_to_morpho(), std::numeric_limits<u256>::max())
        << "no approval before any liquidation was needed:\n"
        << vigil->summary();

    const BookAt at_drop = run.book_at(run.drop_prices());
    ASSERT_FALSE(at_drop.liquidatable.empty());
    const bool done = run.wait_until_liquidated(at_drop.liquidatable, *vigil, kLiquidationWait);
    EXPECT_EQ(vigil->stop(SIGINT), 0) << vigil->summary();
    ASSERT_TRUE(done) << vigil->summary();
    std::map<uint64_t, std::size_t> per_block;
    for (const Liquidation& l : run.liquidations()) ++per_block[l.block_number];
    EXPECT_EQ(per_block,
              (std::map<uint64_t, std::size_t>{{at_drop.block + 1, at_drop.liquidatable.size()}}))
        << "liquidations per block, after the drop in block " << at_drop.block << "\n"
        << vigil->summary();
}

// One node round trip from a block to the liquidations it calls for, watched at the wire
// (a recording proxy between vigil and anvil): the crash block's eth_getLogs and every
// eth_call at its hash go out in one JSON-RPC batch, and nothing else is asked of the
// node before the first liquidation is sent.
TEST(morpho_run, one_round_trip_from_the_crash_block_to_the_first_liquidation) {
    MorphoRun run;
    test::FaultProxy proxy(run.anvil_port());
    run.route_through(proxy);
    auto vigil = run.start("1");
    MorphoRun::expect_following(*vigil);
    if (HasFatalFailure()) return;
    run.wait_blocks(2);  // the approval made at start is mined
    proxy.set_recording(true);
    const BookAt at_drop = run.book_at(run.drop_prices());
    ASSERT_FALSE(at_drop.liquidatable.empty());
    const bool done = run.wait_until_liquidated(at_drop.liquidatable, *vigil, kLiquidationWait);
    EXPECT_EQ(vigil->stop(SIGINT), 0) << vigil->summary();
    ASSERT_TRUE(done) << vigil->summary();

    const std::string crash_hash = to_hex(run.chain().block(at_drop.block).hash);
    const auto calls = proxy.take_recorded();
    std::optional<std::chrono::steady_clock::time_point> logs_at, first_send_at;
    for (const auto& c : calls) {
        if (!logs_at && c.method == "eth_getLogs" && c.params.find(crash_hash) != std::string::npos)
            logs_at = c.at;
        if (logs_at && !first_send_at && c.method == "eth_sendRawTransaction") first_send_at = c.at;
    }
    ASSERT_TRUE(logs_at) << "no eth_getLogs for the crash block " << crash_hash;
    ASSERT_TRUE(first_send_at) << "no liquidation sent after the crash block's logs";
    std::size_t reads_with_the_logs = 0;
    std::ostringstream between;
    for (const auto& c : calls) {
        if (c.at == *logs_at && c.method == "eth_call") {
            ++reads_with_the_logs;
            EXPECT_NE(c.params.find(crash_hash), std::string::npos) << c.params;
        }
        if (c.at > *logs_at && c.at < *first_send_at)
            between << c.method << " " << c.params << "\n";
    }
    EXPECT_GT(reads_with_the_logs, 0u) << "the crash block's reads did not go with its logs";
    EXPECT_EQ(between.str(), "") << "calls between the crash block's logs and the first send";
}

// A node that lies once (issue 16): vigil's rpc goes through a proxy that inflates the
// keeper's pending count by 3 in one answer during the wave, as an evicted transaction from
// the same key or a stale endpoint would. Every liquidation must still be included, the
// keeper's mined nonces have no hole, and the journal agrees with the chain.
TEST(morpho_run, an_inflated_pending_count_in_the_wave_still_ends_with_every_liquidation) {
    MorphoRun run;
    test::FaultProxy proxy(run.anvil_port());
    run.use_rpc(proxy.http_url());
    const u256 loan_before = run.balance_of(run.d().loan_token, run.d().keeper);
    auto vigil = run.start("1");
    MorphoRun::expect_following(*vigil);
    if (HasFatalFailure()) return;

    const uint64_t drop_block = run.drop_prices();
    // The wave is on its way: the next pending count vigil reads is 3 too high.
    const auto sent = vigil->wait_for(
        [](const json& l) {
            return is_event(l, "tx.sent") && !borrower_of_key(field(l, "key")).empty();
        },
        std::chrono::seconds(30));
    proxy.inflate_pending_count(3);
    ASSERT_TRUE(sent) << "no liquidation sent:\n" << vigil->summary();
    const BookAt at_drop = run.book_at(drop_block);
    ASSERT_FALSE(at_drop.liquidatable.empty());
    const bool done = run.wait_until_liquidated(at_drop.liquidatable, *vigil, kLiquidationWait);
    run.wait_blocks(2);
    const int status = vigil->stop(SIGINT);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "vigil run ended with status " << status << ":\n"
        << vigil->summary();
    EXPECT_EQ(proxy.lies_told("eth_getTransactionCount"), 1u);
    EXPECT_TRUE(done) << "not every liquidatable borrower was liquidated within 60 s:\n"
                      << vigil->summary();
    run.expect_liquidated_exactly(at_drop, loan_before);
    const auto txs = run.keeper_txs();
    expect_clean_keeper_history(run, txs, vigil->summary(), Fillers::allowed);

    // The journal's nonces are the chain's: its next nonce is the keeper's count, nothing is
    // left in flight, and every transaction it saw included is the mined one at its nonce.
    auto journal = agent::Journal::open(run.dir() / "state");
    ASSERT_TRUE(journal) << journal.error().detail;
    const uint64_t mined = run.keeper_nonce(BlockTag::latest);
    EXPECT_EQ(journal->next_nonce(run.d().chain_id, run.d().keeper).value(), mined);
    EXPECT_TRUE(journal->live_attempts(run.d().chain_id, run.d().keeper).value().empty());
    std::set<std::string> keys;  // of every intent the log names
    for (const json& l : vigil->lines())
        if (!field(l, "key").empty()) keys.insert(field(l, "key"));
    std::size_t included = 0;
    for (const std::string& key : keys) {
        const auto intent = journal->find_intent(key).value();
        if (!intent) continue;  // dropped before it was journaled
        for (const agent::Attempt& a : intent->attempts) {
            if (a.state != agent::AttemptState::included) continue;
            ++included;
            ASSERT_LT(a.nonce, txs.size()) << key;
            EXPECT_EQ(txs[a.nonce].hash, a.tx_hash) << key << " nonce " << a.nonce;
        }
    }
    EXPECT_EQ(included, mined) << "mined keeper transactions the journal does not hold as included";
}

// The journal belongs to one process: a second `vigil run` on the same state_dir (a second
// owner of the keeper's nonces) stops at once with the reason, and `vigil positions` still
// works while the first runs, from a backfill instead of the checkpoint.
TEST(morpho_run, a_running_vigil_holds_its_state_dir) {
    MorphoRun run;
    auto vigil = run.start("1");
    MorphoRun::expect_following(*vigil);
    if (HasFatalFailure()) return;

    const std::string config = run.config_path().string();
    const auto second = test::run({VIGIL_BINARY, "run", "--config", config});
    EXPECT_EQ(second.exit_code, 1) << second.out << second.err;
    EXPECT_NE((second.out + second.err)
                  .find("is in use by another process (one vigil per "
                        "state_dir)"),
              std::string::npos)
        << second.out << second.err;

    const auto positions = test::run({VIGIL_BINARY, "positions", "--config", config});
    EXPECT_EQ(positions.exit_code, 0) << positions.out << positions.err;
    EXPECT_NE(positions.out.find(" positions\n"), std::string::npos) << positions.out;
    EXPECT_NE((positions.out + positions.err).find("positions.no_checkpoint"), std::string::npos)
        << positions.out << positions.err;

    const int status = vigil->stop(SIGINT);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "vigil run ended with status " << status << ":\n"
        << vigil->summary();
    // The first run went on undisturbed.
    const auto& lines = vigil->lines();
    EXPECT_TRUE(std::none_of(lines.begin(), lines.end(), [](const json& l) {
        return field(l, "level") == "error";
    })) << vigil->summary();
}

namespace {

/// `vigil run --dry-run` through the drop: no transaction, no Liquidate, and one tx.dry_run
/// line per liquidatable borrower with its estimated profit. The keeper has approved Morpho
/// before vigil starts, so no approval is needed.
void expect_dry_run_prints_the_liquidations() {
    MorphoRun run;
    const auto keeper = test::signer_from_hex(Anvil::kDevKey1);
    run.chain().transact(keeper, run.d().loan_token,
                         test::calldata("approve(address,uint256)",
                                        {run.d().morpho, std::numeric_limits<u256>::max()}),
                         100'000);
    const uint64_t nonce_before = run.keeper_nonce(BlockTag::latest);
    auto vigil = run.start("dry", /*dry_run=*/true);
    MorphoRun::expect_following(*vigil);
    if (::testing::Test::HasFatalFailure()) return;

    const BookAt at_drop = run.book_at(run.drop_prices());
    ASSERT_FALSE(at_drop.liquidatable.empty());
    std::map<std::string, std::size_t> expected;  // lowercase address → borrower
    for (const std::size_t b : at_drop.liquidatable)
        expected[lower_hex(run.d().borrowers[b].address)] = b;

    // Waits until every liquidatable borrower has its tx.dry_run line.
    std::map<std::string, json> printed;  // borrower → its first tx.dry_run line
    vigil->wait_for(
        [&](const json& l) {
            if (!is_event(l, "tx.dry_run")) return false;
            const std::string borrower = borrower_of_key(field(l, "key"));
            if (!borrower.empty()) printed.emplace(borrower, l);
            return std::all_of(expected.begin(), expected.end(),
                               [&](const auto& e) { return printed.contains(e.first); });
        },
        std::chrono::seconds(20));
    run.wait_blocks(2);
    const int status = vigil->stop(SIGINT);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "vigil run --dry-run ended with status " << status << ":\n"
        << vigil->summary();

    EXPECT_EQ(run.keeper_nonce(BlockTag::latest), nonce_before);
    EXPECT_EQ(run.keeper_nonce(BlockTag::pending), nonce_before);
    EXPECT_TRUE(run.liquidations().empty()) << "a dry run liquidated";
    for (std::size_t b = 0; b < run.d().borrowers.size(); ++b)
        EXPECT_TRUE(at_drop.liquidatable.contains(b) ||
                    run.is_healthy_on_chain(b, BlockTag::latest));

    // The tx.dry_run lines, short: key and estimated profit.
    std::size_t dry_run_lines = 0;
    std::ostringstream shown;
    for (const json& l : vigil->lines())
        if (is_event(l, "tx.dry_run") && ++dry_run_lines <= 10)
            shown << "  " << field(l, "key") << " expected_profit_wei "
                  << field(l, "expected_profit_wei") << "\n";
    if (dry_run_lines > 10) shown << "  ... and " << dry_run_lines - 10 << " more\n";
    std::vector<std::size_t> missing;
    for (const auto& [address, b] : expected) {
        const auto it = printed.find(address);
        if (it == printed.end()) {
            missing.push_back(b);
            continue;
        }
        const std::string profit = field(it->second, "expected_profit_wei");
        const auto parsed = parse_u256(profit);
        EXPECT_TRUE(parsed && *parsed > 0)
            << "borrower " << b << ": expected_profit_wei '" << profit << "'";
        EXPECT_EQ(field(it->second, "to"), to_checksum(run.d().morpho));
    }
    EXPECT_TRUE(missing.empty()) << missing.size() << " of " << expected.size()
                                 << " liquidatable borrowers have no tx.dry_run line; the "
                                 << dry_run_lines << " tx.dry_run lines:\n"
                                 << shown.str() << "the log:\n"
                                 << vigil->summary();
    for (const auto& [address, line] : printed)
        EXPECT_TRUE(expected.contains(address)) << "a healthy borrower in " << line.dump();
    std::cout << "[ vigil ] " << dry_run_lines << " tx.dry_run lines for " << expected.size()
              << " liquidatable borrowers\n";
}

}  // namespace

// The keeper has approved Morpho before: a tx.dry_run line for every liquidation.
TEST(morpho_run, dry_run_sends_nothing_and_prints_the_liquidations) {
    expect_dry_run_prints_the_liquidations();
}

// The fixture's keeper has never approved Morpho. The dry run prints the approval once
// (tx.dry_run), at start, and each planned liquidation, with its profit, as waiting for it;
// nothing is sent.
TEST(morpho_run, dry_run_without_the_allowance_prints_the_approval_and_the_waiting_plans) {
    MorphoRun run;
    const uint64_t nonce_before = run.keeper_nonce(BlockTag::latest);
    auto vigil = run.start("dry-unapproved", /*dry_run=*/true);
    MorphoRun::expect_following(*vigil);
    if (::testing::Test::HasFatalFailure()) return;
    const BookAt at_drop = run.book_at(run.drop_prices());
    ASSERT_FALSE(at_drop.liquidatable.empty());
    std::set<std::string> expected;
    for (const std::size_t b : at_drop.liquidatable)
        expected.insert(lower_hex(run.d().borrowers[b].address));
    const std::size_t planned = expected.size();

    std::set<std::string> waiting;
    std::size_t approvals = 0;
    vigil->wait_for(
        [&](const json& l) {
            if (is_event(l, "tx.dry_run"))
                approvals += field(l, "key").starts_with("morpho/approve/");
            const std::string detail = field(l, "detail");
            if (is_event(l, "morpho.skip") &&
                detail.find("waits for the approval") != std::string::npos &&
                detail.find("profit") != std::string::npos)
                waiting.insert(borrower_of_key(detail.substr(0, detail.find(':'))));
            return approvals > 0 && waiting.size() >= planned;
        },
        std::chrono::seconds(20));
    run.wait_blocks(3);  // the approval is not proposed again
    const int status = vigil->stop(SIGINT);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << vigil->summary();

    std::size_t dry_run_lines = 0;
    for (const json& l : vigil->lines()) {
        if (!is_event(l, "tx.dry_run")) continue;
        ++dry_run_lines;
        EXPECT_TRUE(field(l, "key").starts_with("morpho/approve/")) << l.dump();
        EXPECT_EQ(field(l, "to"), to_checksum(run.d().loan_token));
    }
    EXPECT_EQ(dry_run_lines, 1u) << vigil->summary();
    EXPECT_EQ(waiting.size(), planned) << vigil->summary();
    for (const std::string& borrower : waiting)
        EXPECT_TRUE(expected.contains(borrower)) << "a healthy borrower waits: " << borrower;
    EXPECT_EQ(run.keeper_nonce(BlockTag::latest), nonce_before);
    EXPECT_EQ(run.keeper_nonce(BlockTag::pending), nonce_before);
    EXPECT_TRUE(run.liquidations().empty()) << "a dry run liquidated";
}

/// Where the first run is killed: at the first line of this event for a liquidation.
class morpho_run_sigkill : public ::testing::TestWithParam<const char*> {};

TEST_P(morpho_run_sigkill, in_a_liquidation_wave_then_restart_liquidates_each_once) {
    const std::string kill_at = GetParam();
    MorphoRun run;
    const u256 loan_before = run.balance_of(run.d().loan_token, run.d().keeper);
    auto first = run.start("1");
    MorphoRun::expect_following(*first);
    if (HasFatalFailure()) return;

    const uint64_t drop_block = run.drop_prices();
    const auto sent = first->wait_for(
        [&](const json& l) {
            if (!is_event(l, kill_at)) return false;
            // tx.sent names the key; morpho.liquidation starts its detail with it.
            const std::string key = kill_at == "tx.sent" ? field(l, "key") : field(l, "detail");
            return !borrower_of_key(key.substr(0, key.find(':'))).empty();
        },
        std::chrono::seconds(30));
    const int killed = first->stop(SIGKILL);
    ASSERT_TRUE(sent) << "no " << kill_at << " line for a liquidation:\n" << first->summary();
    EXPECT_TRUE(WIFSIGNALED(killed) && WTERMSIG(killed) == SIGKILL);
    // Morpho's answer at the drop block, read after the kill so that it cannot delay it.
    const BookAt at_drop = run.book_at(drop_block);
    ASSERT_FALSE(at_drop.liquidatable.empty());
    std::size_t sent_lines = 0, planned = 0;
    for (const json& l : first->lines()) {
        sent_lines += is_event(l, "tx.sent") ? 1 : 0;
        planned += is_event(l, "morpho.liquidation") ? 1 : 0;
    }
    std::cout << "[ vigil ] killed after " << sent_lines << " tx.sent lines (" << planned
              << " liquidations planned, " << at_drop.liquidatable.size() << " liquidatable)\n";

    auto second = run.start("2");
    MorphoRun::expect_following(*second);
    if (HasFatalFailure()) return;
    const bool done = run.wait_until_liquidated(at_drop.liquidatable, *second, kLiquidationWait);
    run.wait_blocks(3);
    const int status = second->stop(SIGINT);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "the restarted vigil ended with status " << status << ":\n"
        << second->summary();
    EXPECT_TRUE(done) << "not every liquidatable borrower was liquidated:\n"
                      << first->summary() << second->summary();

    // How the restart found things: what it resumed from the journal, what it sent anew.
    const std::string counts = second->summary();
    std::cout << "[ vigil ] restarted run, " << counts.substr(2, counts.find('\n') - 2) << "\n";
    run.expect_liquidated_exactly(at_drop, loan_before);
    expect_clean_keeper_history(run, run.keeper_txs(), first->summary() + second->summary());
}

// tx.sent: the wave's batch has been answered and is being marked broadcast in the journal,
// one by one. morpho.liquidation: the strategy has just planned the wave, which is on its way
// through simulation, signing and the journal to the node: the kill lands before or after the
// journal write or the send, depending on timing.
INSTANTIATE_TEST_SUITE_P(morpho_run, morpho_run_sigkill,
                         ::testing::Values("tx.sent", "morpho.liquidation"), [](const auto& info) {
                             return std::string(info.param) == "tx.sent" ? "at_first_tx_sent"
                                                                         : "at_first_plan";
                         });
