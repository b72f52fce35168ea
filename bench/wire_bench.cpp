// The liquidation race as a competitor sees it, at the wire (issue 16, item 1).
//
// How to run (Release build; `bash scripts/bootstrap.sh` once, for anvil and viem):
//   cmake --build build/release --target wire_bench vigil
//   build/release/bench/wire_bench [--iterations 5] [--vigil PATH] [--logs DIR]
// About 11 s per crash (the default: 5 iterations x 2 settings, about 2 minutes).
//
// One anvil mining a block every second (`--block-time 1`, transactions ordered by arrival:
// `--order fifo`, so that the wire decides the race, not the tip), the real Morpho Blue
// with 50 borrowers (MorphoFixture), Multicall3 at its canonical address. Two keepers race
// for the same liquidations in the same run, each through its own loopback FaultProxy that
// stamps every JSON-RPC call it writes to anvil (steady clock, this process):
//  - vigil: the real binary (`vigil run`), a process of its own, with the default config of
//    ARCHITECTURE.md (vigil's default limits and simulation, no approval made beforehand);
//  - peer: tools/peer/viem_keeper.mjs, a viem keeper written the usual way (approves at
//    start, one Multicall3 read per head, fixed gas, no simulation, one
//    eth_sendRawTransaction per liquidation, each awaited before the next, no receipts).
// Each iteration reverts anvil to a snapshot taken after setup, starts both keepers afresh
// (vigil with an empty state_dir), waits until both follow the chain and 4 more heads, then
// sets both oracles (the collateral's price) lower in one block, so that 25 of the 50
// borrowers become liquidatable; then watches 4 more blocks. This process has its
// own newHeads subscription straight on anvil: the crash head's notification is time zero.
// Per keeper it reports, from the proxy's records (and --logs DIR keeps, per race, both
// keepers' output, vigil's config and each proxy's record as <keeper>.wire.tsv):
//  - first tx: when its first transaction of any kind reached anvil, in ms after the crash
//    head's notification;
//  - first / last: when its first and last liquidate (the selector of the raw transaction's
//    calldata) reached anvil;
//  - before next head: how many of its liquidations reached anvil before the next block's
//    notification (after it, they can only land a block later);
//  - won: how many of its liquidations were mined successfully (the other keeper's
//    transaction for the same borrower then reverts): the race's outcome.
// Two settings, interleaved iteration by iteration: loopback, and "a node 10 ms away"
// (FaultProxy::set_delay(10 ms) on both proxies: every chunk, request or answer, websocket
// or HTTP, is delayed 10 ms each way, so a round trip costs 20 ms more). Medians over the
// iterations are printed as a Markdown table.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/latency.hpp"
#include "chain/json_rpc.hpp"
#include "chain/keccak.hpp"
#include "chain/tx.hpp"
#include "chain/ws_transport.hpp"
#include "tests/support/anvil.hpp"
#include "tests/support/fault_proxy.hpp"
#include "tests/support/key_test_support.hpp"
#include "tests/support/morpho_fixture.hpp"
#include "tests/support/process.hpp"

using namespace vigil;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

namespace {

constexpr std::size_t kBorrowers = 50;
constexpr std::size_t kLiquidatable = 25;  ///< the crash is chosen to make exactly these
constexpr uint64_t kFixtureSeed = 1;
const u256 kKeeperLoanBalance = u256(50'000'000) * morpho::kWad;
constexpr const char* kVigilKeyEnv = "VIGIL_WIRE_BENCH_KEY";
constexpr const char* kPeerKeyEnv = "VIEM_KEEPER_KEY";  // read by viem_keeper.mjs
// anvil's dev account 2 (public test key): the peer. vigil is dev account 1, the fixture's keeper.
constexpr const char* kPeerKey =
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
constexpr const char* kMulticall3 = "0xcA11bde05977b3631167028862bE2a173976CA11";
/// Heads between both keepers following the chain and the crash: a keeper may do more in
/// its first blocks (approvals, simulation while its mirror is new).
constexpr int kSettleHeads = 4;
/// Blocks watched after the crash block before the outcome is read.
constexpr uint64_t kBlocksAfterCrash = 4;
constexpr auto kStartLimit = 60s;

double ms(Clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error(what);
}

// ---------------------------------------------------------------------------------------
// Heads as this process sees them: a newHeads subscription straight on anvil.

struct Head {
    uint64_t number = 0;
    Hash32 hash, parent;
    Clock::time_point at;  ///< when the notification's frame was read
};

class HeadWatcher {
public:
    explicit HeadWatcher(const std::string& ws_url) : ws_(ioc_.get_executor(), ws_url) {
        std::promise<std::string> subscribed;  // empty text: subscribed; else the failure
        auto result = subscribed.get_future();
        net::co_spawn(ioc_, subscribe(std::move(subscribed)), net::detached);
        thread_ = std::thread([this] { ioc_.run(); });
        if (const std::string error = result.get(); !error.empty()) {
            stop();
            fail("newHeads subscription on anvil: " + error);
        }
    }
    ~HeadWatcher() { stop(); }
    HeadWatcher(const HeadWatcher&) = delete;
    HeadWatcher& operator=(const HeadWatcher&) = delete;

    std::optional<Head> child_of(const Hash32& hash) const {
        std::lock_guard lock(mutex_);
        for (const Head& h : heads_)
            if (h.parent == hash) return h;
        return std::nullopt;
    }
    /// The first head after the `seen` first ones that `match` accepts, waiting up to `limit`.
    std::optional<Head> wait(std::size_t seen, const std::function<bool(const Head&)>& match,
                             Clock::duration limit) {
        std::unique_lock lock(mutex_);
        const auto until = Clock::now() + limit;
        for (;;) {
            for (; seen < heads_.size(); ++seen)
                if (match(heads_[seen])) return heads_[seen];
            if (arrived_.wait_until(lock, until) == std::cv_status::timeout &&
                seen == heads_.size())
                return std::nullopt;
        }
    }
    std::size_t count() const {
        std::lock_guard lock(mutex_);
        return heads_.size();
    }

private:
    Task<void> subscribe(std::promise<std::string> subscribed) {
        auto connected = co_await ws_.connect();
        if (!connected) {
            subscribed.set_value(connected.error().to_string());
            co_return;
        }
        // Named, not a lambda inside co_await: g++ 12 destroys such captures twice.
        rpc::NotificationHandler on_head = [this](std::string_view result) {
            const auto header = rpc::decode<BlockHeader>(result);
            if (!header) return;
            std::lock_guard lock(mutex_);
            heads_.push_back(
                {header->number, header->hash, header->parent_hash, ws_.frame_received_at()});
            arrived_.notify_all();
        };
        auto sub = co_await ws_.subscribe(R"(["newHeads"])", std::move(on_head));
        subscribed.set_value(sub ? std::string() : sub.error().to_string());
    }

    void stop() {
        if (!thread_.joinable()) return;
        net::post(ioc_, [this] { ws_.close(); });
        work_.reset();
        ioc_.stop();
        thread_.join();
    }

    net::io_context ioc_;
    net::executor_work_guard<net::io_context::executor_type> work_{ioc_.get_executor()};
    rpc::WsTransport ws_;
    mutable std::mutex mutex_;
    std::condition_variable arrived_;
    std::vector<Head> heads_;
    std::thread thread_;
};

// ---------------------------------------------------------------------------------------
// The book and the crash

/// Both markets' oracle prices times ratio_ppm / 1e6, chosen so that exactly kLiquidatable
/// borrowers are liquidatable: between the kLiquidatable-th and the next borrower's
/// leverage (debt / borrow limit at the setup price), as far from both as possible.
struct Crash {
    uint64_t ratio_ppm = 0;
    double margin = 0;  ///< the distance to the nearest borrower's leverage
};

Crash choose_crash(const test::MorphoDeployment& d) {
    std::vector<double> leverage;
    for (const auto& b : d.borrowers) {
        const auto& m = d.markets[b.market];
        const u256 limit = morpho::max_borrow(b.collateral, m.price, m.params.lltv).value_or(0);
        leverage.push_back(b.borrowed.convert_to<double>() / limit.convert_to<double>());
    }
    std::sort(leverage.rbegin(), leverage.rend());
    const double ratio = (leverage[kLiquidatable - 1] + leverage[kLiquidatable]) / 2;
    return {static_cast<uint64_t>(ratio * 1e6), (leverage[kLiquidatable - 1] - ratio)};
}

/// Borrowers Morpho's formula finds unhealthy at `block` (no interest accrued since the
/// market's last update, as a view call sees it).
std::size_t count_liquidatable(test::DevChain& chain, const test::MorphoDeployment& d,
                               uint64_t block) {
    std::vector<morpho::Market> markets;
    std::vector<u256> prices;
    for (const auto& m : d.markets) {
        markets.push_back(test::read_market(chain, d.morpho, m.id, block));
        prices.push_back(test::read_price(chain, m.params.oracle, block));
    }
    std::size_t n = 0;
    for (const auto& b : d.borrowers) {
        const auto& m = d.markets[b.market];
        const auto pos = test::read_position(chain, d.morpho, m.id, b.address, block);
        const u256 debt = morpho::borrowed_assets(pos, markets[b.market]).value_or(0);
        const u256 limit =
            morpho::max_borrow(pos.collateral, prices[b.market], m.params.lltv).value_or(0);
        n += limit < debt;
    }
    return n;
}

// ---------------------------------------------------------------------------------------
// The keepers

/// A child process whose output (JSON lines) goes to a file, read as it grows.
class KeeperProcess {
public:
    KeeperProcess(const std::vector<std::string>& argv, std::filesystem::path log)
        : log_(std::move(log)), child_(argv, log_.string()) {}

    /// Waits until a line holds `"event":"<event>"`; false when the limit passes or the
    /// process ends first.
    bool wait_for_event(const std::string& event, Clock::duration limit) {
        const std::string needle = "\"event\":\"" + event + "\"";
        const auto until = Clock::now() + limit;
        for (;;) {
            if (text().find(needle) != std::string::npos) return true;
            if (!child_.running() || Clock::now() >= until) return false;
            std::this_thread::sleep_for(20ms);
        }
    }
    std::string text() const {
        std::ifstream in(log_);
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }
    /// The last `lines` lines of the output, for error messages.
    std::string tail(std::size_t lines = 30) const {
        const std::string all = text();
        std::size_t start = all.size();
        for (std::size_t n = 0; n <= lines && start > 0;)
            if (all[--start] == '\n') ++n;
        return all.substr(start);
    }

private:
    std::filesystem::path log_;
    test::Child child_;
};

void write_vigil_config(const std::filesystem::path& path, const std::filesystem::path& state,
                        const test::MorphoDeployment& d, const test::FaultProxy& proxy) {
    // ARCHITECTURE.md's config: only the endpoints, the keeper and the metrics port (one
    // free port, so that runs side by side do not collide) are this bench's.
    json markets = json::array();
    for (const auto& m : d.markets) markets.push_back(to_hex(m.id));
    const json config = {
        {"state_dir", state.string()},
        {"chains",
         {{"local",
           {{"chain_id", d.chain_id},
            {"rpc", {proxy.http_url()}},
            {"ws", {proxy.ws_url()}},
            {"confirmations", 1},
            {"fees", {{"max_fee_gwei", 300}, {"max_priority_fee_gwei", 3}}},
            {"private_rpc", nullptr}}}}},
        {"signers", {{"keeper", {{"private_key_env", kVigilKeyEnv}}}}},
        {"strategies",
         {{{"name", "morpho"},
           {"kind", "morpho-blue.liquidate"},
           {"chain", "local"},
           {"signer", "keeper"},
           {"params",
            {{"morpho", to_checksum(d.morpho)},
             {"markets", markets},
             {"start_block", d.deploy_block},
             {"min_profit_wei", "0"}}}}}},
        // ARCHITECTURE.md's example also sets max_inflight_txs 8, the default before issue
        // 16; vigil's default now (512) is what this measures.
        {"limits", {{"max_gas_spend_per_hour_wei", "500000000000000000"}}},
        {"metrics", {{"listen", "127.0.0.1:" + std::to_string(test::free_port())}}}};
    std::ofstream(path) << config.dump(2) << "\n";
}

// ---------------------------------------------------------------------------------------
// One race

/// One keeper's sends after the crash head; times in ms after it, on the wire (at anvil).
struct KeeperResult {
    std::optional<double> first_tx_ms;        ///< its first transaction of any kind
    std::optional<double> first_ms, last_ms;  ///< its first and last liquidation
    std::size_t sent = 0;                     ///< liquidations
    std::size_t before_next = 0;              ///< of which on the wire before the next head
    std::size_t won = 0;                      ///< of which mined successfully
    std::size_t other_sends = 0;              ///< other transactions (vigil's approve)
};

struct RaceResult {
    std::size_t liquidatable = 0;
    double block_interval_ms = 0;  ///< crash head to next head
    KeeperResult vigil, peer;
};

const Hash32 kLiquidateSelector = keccak256("liquidate(" + std::string(test::kMarketParamsType) +
                                            ",address,uint256,uint256,bytes)");

/// Writes every call a keeper's proxy recorded, one a line: ms after the crash head, method.
void write_wire_log(const std::filesystem::path& path,
                    const std::vector<test::FaultProxy::ForwardedCall>& calls, const Head& crash) {
    std::ofstream out(path);
    for (const auto& call : calls) out << ms(call.at - crash.at) << "\t" << call.method << "\n";
}

/// What one keeper's proxy recorded, read against the chain.
KeeperResult judge(test::DevChain& chain, const std::vector<test::FaultProxy::ForwardedCall>& calls,
                   const Head& crash, const Head& next) {
    KeeperResult r;
    for (const auto& call : calls) {
        if (call.method != "eth_sendRawTransaction" || call.at < crash.at) continue;
        const auto params = json::parse(call.params, nullptr, false);
        if (!params.is_array() || params.empty() || !params[0].is_string())
            fail("eth_sendRawTransaction with unreadable params: " + call.params);
        const auto raw = parse_hex(params[0].get<std::string>());
        if (!raw) fail("eth_sendRawTransaction of unreadable hex: " + call.params);
        const auto signed_tx = decode_signed(*raw);
        if (!signed_tx)
            fail("eth_sendRawTransaction of an unreadable transaction: " +
                 signed_tx.error().to_string());
        const Bytes& data = signed_tx->tx.data;
        const double at_ms = ms(call.at - crash.at);
        if (!r.first_tx_ms) r.first_tx_ms = at_ms;
        if (data.size() < 4 ||
            !std::equal(data.begin(), data.begin() + 4, kLiquidateSelector.bytes.begin())) {
            ++r.other_sends;
            continue;
        }
        ++r.sent;
        if (!r.first_ms) r.first_ms = at_ms;
        r.last_ms = at_ms;
        r.before_next += call.at < next.at;
        const std::string hash = "\"" + to_hex(tx_hash(*raw)) + "\"";
        const json receipt = json::parse(chain.rpc("eth_getTransactionReceipt", "[" + hash + "]"));
        r.won += receipt.is_object() && receipt.value("status", "") == "0x1";
    }
    return r;
}

struct Setup {
    test::Anvil& anvil;
    const test::MorphoDeployment& d;
    HeadWatcher& heads;
    Crash crash;
    std::filesystem::path vigil_binary;
    std::filesystem::path dir;  ///< configs and logs of each iteration
};

/// One crash and both keepers' reactions; `run` numbers the races of this process.
RaceResult race_once(const Setup& s, std::chrono::milliseconds delay, unsigned run) {
    const std::string tag = std::to_string(run) + "-" + std::to_string(delay.count()) + "ms";
    const auto dir = s.dir / tag;
    std::filesystem::create_directories(dir / "state");
    std::ofstream(dir / "deployment.json") << s.d.to_json().dump(2) << "\n";
    test::FaultProxy vigil_proxy(s.anvil.port()), peer_proxy(s.anvil.port());
    for (auto* proxy : {&vigil_proxy, &peer_proxy}) {
        proxy->set_delay(delay);
        proxy->set_recording(true);
    }
    write_vigil_config(dir / "vigil.json", dir / "state", s.d, vigil_proxy);

    KeeperProcess vigil({s.vigil_binary.string(), "run", "--config", (dir / "vigil.json").string(),
                         "--log-format", "json"},
                        dir / "vigil.log");
    KeeperProcess peer({VIGIL_NODE, VIGIL_PEER_SCRIPT, (dir / "deployment.json").string(),
                        peer_proxy.http_url(), peer_proxy.ws_url()},
                       dir / "peer.log");
    if (!vigil.wait_for_event("stream.connected", kStartLimit))
        fail("vigil did not start following the chain; its log:\n" + vigil.tail());
    if (!peer.wait_for_event("ready", kStartLimit))
        fail("the viem peer did not get ready; its output:\n" + peer.tail());

    // The crash right after a head: it has the whole block time to reach the next block.
    const auto any = [](const Head&) { return true; };
    std::optional<Head> head;
    for (int i = 0; i < kSettleHeads; ++i) head = s.heads.wait(s.heads.count(), any, 5s);
    if (!head) fail("anvil mines no blocks");
    const std::size_t before_crash = s.heads.count();  // heads of earlier races are older
    test::DevChain chain(s.anvil.http_url());
    const auto owner = test::signer_from_hex(test::Anvil::kDevKey0);
    std::vector<Hash32> sets;
    for (const auto& m : s.d.markets) {
        // Per iteration a price of its own, so that no transaction repeats one reverted away.
        const u256 price = m.price * s.crash.ratio_ppm / 1'000'000 - run;
        sets.push_back(chain.send(owner, m.params.oracle,
                                  test::calldata("setPrice(uint256)", {price}), 100'000));
    }
    std::optional<Receipt> last;
    for (const Hash32& h : sets) {
        for (auto until = Clock::now() + 10s; Clock::now() < until;) {
            auto receipt = chain.run(chain.provider().get_transaction_receipt(h));
            if (receipt && *receipt) {
                if (!last || (*receipt)->block_number > last->block_number) last = **receipt;
                break;
            }
            std::this_thread::sleep_for(20ms);
        }
    }
    if (!last) fail("the price change was not mined");
    if (last->block_number != head->number + 1)
        std::cerr << "warning: the two prices did not land in the block after the head\n";
    const auto crash = s.heads.wait(
        before_crash, [&](const Head& h) { return h.hash == last->block_hash; }, 5s);
    if (!crash) fail("no newHeads notification for the crash block");
    const auto after = s.heads.wait(
        before_crash, [&](const Head& h) { return h.number >= crash->number + kBlocksAfterCrash; },
        10s);
    const auto next = s.heads.child_of(crash->hash);
    if (!after || !next) fail("anvil stopped mining after the crash");

    // Let what was sent be mined before reading the outcome.
    const auto nonce = [&](const Address& a, const char* tag_name) {
        return chain.rpc("eth_getTransactionCount",
                         "[\"" + to_hex(a) + "\",\"" + std::string(tag_name) + "\"]");
    };
    const Address peer_address = test::signer_from_hex(kPeerKey).address();
    for (auto until = Clock::now() + 10s; Clock::now() < until; std::this_thread::sleep_for(50ms))
        if (nonce(s.d.keeper, "latest") == nonce(s.d.keeper, "pending") &&
            nonce(peer_address, "latest") == nonce(peer_address, "pending"))
            break;

    RaceResult r;
    r.liquidatable = count_liquidatable(chain, s.d, crash->number);
    r.block_interval_ms = ms(next->at - crash->at);
    const auto vigil_calls = vigil_proxy.take_recorded();
    const auto peer_calls = peer_proxy.take_recorded();
    write_wire_log(dir / "vigil.wire.tsv", vigil_calls, *crash);
    write_wire_log(dir / "peer.wire.tsv", peer_calls, *crash);
    r.vigil = judge(chain, vigil_calls, *crash, *next);
    r.peer = judge(chain, peer_calls, *crash, *next);
    return r;
}

// ---------------------------------------------------------------------------------------
// Report

std::string fixed(double v, int digits = 1) {
    std::ostringstream out;
    out << std::fixed << std::setprecision(digits) << v;
    return out.str();
}

std::string ms_text(std::optional<double> v) {
    return v ? fixed(*v) + " ms" : "none";
}

void print_iteration(const std::string& setting, unsigned i, const RaceResult& r) {
    const auto line = [](const char* name, const KeeperResult& k) {
        std::cout << "    " << std::left << std::setw(6) << name << std::right << "first tx "
                  << ms_text(k.first_tx_ms) << "; liquidations: first " << ms_text(k.first_ms)
                  << ", last " << ms_text(k.last_ms) << ", " << k.before_next << " of " << k.sent
                  << " before the next head, won " << k.won << "; other txs " << k.other_sends
                  << "\n";
    };
    std::cout << "  " << setting << " #" << i << ": " << r.liquidatable
              << " liquidatable at the crash block, next head after "
              << fixed(r.block_interval_ms, 0) << " ms\n";
    line("vigil", r.vigil);
    line("peer", r.peer);
}

/// The median of `f` over the races where it has a value; "none" when it has none, and
/// "(in k of n)" when it has fewer than all.
template <class F>
std::string median_text(const std::vector<RaceResult>& runs, F f, int digits, const char* unit) {
    std::vector<double> v;
    for (const auto& r : runs)
        if (const std::optional<double> x = f(r)) v.push_back(*x);
    if (v.empty()) return "none";
    std::string text = fixed(bench::percentile(v, 0.5), digits) + unit;
    if (v.size() < runs.size())
        text += " (in " + std::to_string(v.size()) + " of " + std::to_string(runs.size()) + ")";
    return text;
}

void print_table(const std::vector<std::pair<std::string, std::vector<RaceResult>>>& settings) {
    std::cout << "\n| node | keeper | first tx | first liquidation | last liquidation | "
                 "liquidations before the next block | won |\n|---|---|---|---|---|---|---|\n";
    for (const auto& [setting, runs] : settings) {
        const std::string liquidatable = median_text(
            runs, [](const RaceResult& r) { return std::optional<double>(r.liquidatable); }, 0, "");
        for (const bool is_vigil : {false, true}) {
            const auto k = [is_vigil](const RaceResult& r) -> const KeeperResult& {
                return is_vigil ? r.vigil : r.peer;
            };
            const auto count = [&](std::size_t KeeperResult::*field) {
                return median_text(
                    runs, [&](const RaceResult& r) { return std::optional<double>(k(r).*field); },
                    0, "");
            };
            std::cout << "| " << setting << " | "
                      << (is_vigil ? "vigil (default config)" : "viem peer") << " | "
                      << median_text(
                             runs, [&](const RaceResult& r) { return k(r).first_tx_ms; }, 1, " ms")
                      << " | "
                      << median_text(
                             runs, [&](const RaceResult& r) { return k(r).first_ms; }, 1, " ms")
                      << " | "
                      << median_text(
                             runs, [&](const RaceResult& r) { return k(r).last_ms; }, 1, " ms")
                      << " | " << count(&KeeperResult::before_next) << " | "
                      << count(&KeeperResult::won) << " of " << liquidatable << " |\n";
        }
    }
    for (const auto& [setting, runs] : settings) {
        std::cout << "\n"
                  << setting << ": the peer's first liquidation / vigil's, per crash: "
                  << median_text(
                         runs,
                         [](const RaceResult& r) -> std::optional<double> {
                             if (!r.peer.first_ms || !r.vigil.first_ms) return std::nullopt;
                             return *r.peer.first_ms / *r.vigil.first_ms;
                         },
                         1, "x");
    }
    std::cout << "\n\nMedians of " << settings.front().second.size()
              << " crashes. Times: from the crash block's newHeads notification (taken on anvil "
                 "itself) to the transaction reaching anvil through the keeper's proxy. won: "
                 "its liquidations mined successfully.\n";
}

struct Options {
    unsigned iterations = 5;
    std::filesystem::path vigil = VIGIL_BINARY;
    std::optional<std::filesystem::path> logs;
};

Options parse_options(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const bool has_value = i + 1 < argc;
        if (arg == "--iterations" && has_value) {
            o.iterations = static_cast<unsigned>(std::stoul(argv[++i]));
        } else if (arg == "--vigil" && has_value) {
            o.vigil = argv[++i];
        } else if (arg == "--logs" && has_value) {
            o.logs = argv[++i];
        } else {
            fail("usage: wire_bench [--iterations N] [--vigil PATH] [--logs DIR]");
        }
    }
    if (o.iterations == 0) fail("--iterations: at least 1");
    return o;
}

int run(int argc, char** argv) {
    const Options options = parse_options(argc, argv);
    ::setenv(kVigilKeyEnv, test::Anvil::kDevKey1, 1);
    ::setenv(kPeerKeyEnv, kPeerKey, 1);
    test::TempDir temp;
    const std::filesystem::path dir = options.logs.value_or(temp.path());

    test::Anvil anvil({"--block-time", "1", "--order", "fifo"});
    test::MorphoFixtureOptions fo;
    fo.borrowers = kBorrowers;
    fo.seed = kFixtureSeed;
    fo.keeper_loan_balance = kKeeperLoanBalance;
    test::MorphoFixture fixture(anvil.http_url(), fo);
    const auto& d = fixture.deployment();
    const Address peer = test::signer_from_hex(kPeerKey).address();
    fixture.chain().transact(
        fixture.owner(), d.loan_token,
        test::calldata("setBalance(address,uint256)", {peer, kKeeperLoanBalance}));
    const Address multicall = *parse_address(kMulticall3);
    if (fixture.chain()
            .run(fixture.chain().provider().get_code(multicall, BlockTag::latest))
            .value_or(Bytes{})
            .empty()) {
        std::ifstream in(std::string(VIGIL_CONTRACTS_DIR) + "/Multicall3.runtime.hex");
        std::string code;
        in >> code;
        fixture.chain().rpc("anvil_setCode",
                            "[\"" + std::string(kMulticall3) + "\",\"" + code + "\"]");
    }
    const Crash crash = choose_crash(d);
    std::cout << "wire_bench: " << d.borrowers.size() << " borrowers, crash to "
              << fixed(crash.ratio_ppm / 1e4, 2) << "% of both prices (nearest borrower "
              << fixed(crash.margin * 100, 2) << "% of its limit away), logs in " << dir.string()
              << "\n";

    HeadWatcher heads(anvil.ws_url());
    std::string snapshot = fixture.chain().rpc("evm_snapshot", "[]");
    const Setup setup{anvil, d, heads, crash, options.vigil, dir};
    std::vector<std::pair<std::string, std::vector<RaceResult>>> settings = {
        {"loopback", {}}, {"node 10 ms away", {}}};
    const std::chrono::milliseconds delays[] = {0ms, 10ms};
    for (unsigned i = 0; i < options.iterations; ++i) {
        for (std::size_t s = 0; s < settings.size(); ++s) {
            fixture.chain().rpc("evm_revert", "[" + snapshot + "]");
            snapshot = fixture.chain().rpc("evm_snapshot", "[]");
            const RaceResult r =
                race_once(setup, delays[s], static_cast<unsigned>(i * settings.size() + s));
            print_iteration(settings[s].first, i, r);
            settings[s].second.push_back(r);
        }
    }
    print_table(settings);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "wire_bench: " << e.what() << "\n";
        return 1;
    }
}
