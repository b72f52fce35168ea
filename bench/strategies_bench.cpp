// Strategies: the Morpho liquidator's health evaluation over 100,000 mirrored positions of
// one market, after a price change (target: <= 5 ms, i.e. >= 20M positions/s), and the
// mirror's memory per position (target: <= 256 bytes).
//
// Throughput, one core: items are positions, so the output reads positions/s.
//  - exact_is_healthy (baseline): math.hpp's exact check on every position.
//  - screened_evaluate: what MorphoLiquidator does per market and block: a HealthScreen for
//    the new price, then book.hpp's evaluate() (the screen, the exact check for the few
//    near the boundary). Its result is identical to the baseline's (checked before timing).
//  - screened_evaluate_and_plan: the same plus math.hpp's best_liquidation for every
//    liquidatable position (about 7% of them after the 5% drop used here): why the
//    liquidator plans only the 16 most profitable per block.
//  - on_block_price_change: MorphoLiquidator::on_block itself, the node's answers in memory
//    (no I/O): what the agent's thread spends on a block that moves the price.
// mirror_bytes_per_position builds a MorphoLiquidator's mirror from 200,000 logs (a
// SupplyCollateral and a Borrow per account) and reports the heap it holds (mallinfo2's
// uordblks + hblkhd before and after, logs freed) divided by the positions.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <random>
#include <vector>

#include "chain/keccak.hpp"
#include "strategies/morpho/book.hpp"
#include "strategies/morpho/liquidator.hpp"
#include "strategies/morpho/math.hpp"
#include "tests/support/stub_provider.hpp"
#include "tests/support/words.hpp"

using namespace vigil;
using namespace vigil::morpho;

namespace {

constexpr std::size_t kPositions = 100'000;
const u256 kLltv = u256(860'000'000'000'000'000ULL);
const u256 kPriceBefore = 2'000 * kOraclePriceScale;
const u256 kPriceAfter = 1'900 * kOraclePriceScale;  // -5%

// Heap bytes in use: small blocks (uordblks) and mmapped large ones (hblkhd), where vectors
// of 100,000 elements live.
std::size_t heap_in_use() {
    const auto m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

Address account(std::size_t i) {
    return Address::from_span(keccak256("account " + std::to_string(i)).view().first<20>());
}

// 100,000 positions: collateral 0.1 to 1,000 units (18 decimals), debt 30% to 99.9% of the
// limit at kPriceBefore, borrowed at 1e6 shares per asset.
struct Book {
    PositionBook book;
    Market market;
    Book() {
        std::mt19937_64 rng(7);
        book.reserve(kPositions);
        u256 total_assets = 0;
        for (std::size_t i = 0; i < kPositions; ++i) {
            const u256 collateral = u256(100'000'000'000'000'000ULL) * (1 + rng() % 10'000);
            const u256 limit = *max_borrow(collateral, kPriceBefore, kLltv);
            const u256 debt = limit * (300 + rng() % 700) / 1000;
            const uint32_t p = book.find_or_add(account(i));
            book.collateral(p) = low128(collateral);
            book.borrow_shares(p) = low128(debt * kVirtualShares);
            total_assets += debt;
        }
        market.total_borrow_assets = total_assets;
        market.total_borrow_shares = total_assets * kVirtualShares;
        market.total_supply_assets = total_assets * 2;
        market.total_supply_shares = market.total_supply_assets * kVirtualShares;
    }
};
const Book& book() {
    static const Book b;
    return b;
}

// Throughput: the exact check alone over every position (baseline).
void exact_is_healthy(benchmark::State& state) {
    const Book& b = book();
    for (auto _ : state) {
        std::size_t unhealthy = 0;
        for (uint32_t i = 0; i < b.book.size(); ++i)
            unhealthy +=
                !is_healthy(b.book.position(i), b.market, kPriceAfter, kLltv).value_or(true);
        benchmark::DoNotOptimize(unhealthy);
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kPositions));
}
BENCHMARK(exact_is_healthy)->Unit(benchmark::kMillisecond);

// Throughput: screen + exact fallback, the liquidator's per-block evaluation of a market.
void screened_evaluate(benchmark::State& state) {
    const Book& b = book();
    std::vector<uint32_t> unhealthy;
    unhealthy.reserve(kPositions);
    // Same answer as the baseline, position by position.
    {
        const HealthScreen screen(b.market, kPriceAfter, kLltv);
        evaluate(b.book, screen, unhealthy);
        std::size_t k = 0;
        for (uint32_t i = 0; i < b.book.size(); ++i) {
            const bool exact = !*is_healthy(b.book.position(i), b.market, kPriceAfter, kLltv);
            const bool listed = k < unhealthy.size() && unhealthy[k] == i;
            k += listed;
            if (exact != listed) {
                state.SkipWithError("screened evaluation differs from the exact check");
                return;
            }
        }
    }
    EvaluationStats stats;
    bool flip = false;
    for (auto _ : state) {
        // A new price every iteration: the screen is rebuilt as it is for each block.
        flip = !flip;
        const HealthScreen screen(b.market, flip ? kPriceAfter : kPriceAfter + 1, kLltv);
        unhealthy.clear();
        stats = evaluate(b.book, screen, unhealthy);
        benchmark::DoNotOptimize(unhealthy.data());
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kPositions));
    state.counters["unhealthy"] = static_cast<double>(unhealthy.size());
    state.counters["exact_checks"] = static_cast<double>(stats.exact);
}
BENCHMARK(screened_evaluate)->Unit(benchmark::kMillisecond);

// Latency of a crash block: evaluation plus a liquidation plan for every unhealthy position.
void screened_evaluate_and_plan(benchmark::State& state) {
    const Book& b = book();
    std::vector<uint32_t> unhealthy;
    unhealthy.reserve(kPositions);
    for (auto _ : state) {
        const HealthScreen screen(b.market, kPriceAfter, kLltv);
        unhealthy.clear();
        evaluate(b.book, screen, unhealthy);
        std::size_t planned = 0;
        for (const uint32_t i : unhealthy)
            planned += best_liquidation(b.market, b.book.position(i), kLltv, kPriceAfter)
                           .value_or(std::nullopt)
                           .has_value();
        benchmark::DoNotOptimize(planned);
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kPositions));
    state.counters["planned"] = static_cast<double>(unhealthy.size());
}
BENCHMARK(screened_evaluate_and_plan)->Unit(benchmark::kMillisecond);

using test::words;

const Address kMorpho = account(1'000'000'001);
const MarketParams kParams{account(1'000'000'002), account(1'000'000'003), account(1'000'000'004),
                           account(1'000'000'005), kLltv};
constexpr uint64_t kTimestamp0 = 1'700'000'000;

// Book()'s positions as Morpho's logs (a SupplyCollateral and a Borrow per account), fed to a
// MorphoLiquidator block by block through on_block, before start(): logs are applied, nothing
// is read. Blocks 1 (CreateMarket) to 101.
std::unique_ptr<MorphoLiquidator> build_mirror(net::io_context& ioc) {
    const Hash32 id = kParams.id();
    const auto log_of = [&](std::string_view signature, std::vector<Hash32> topics, Bytes data) {
        Log l;
        l.address = kMorpho;
        l.topics = {keccak256(signature), id};
        l.topics.insert(l.topics.end(), topics.begin(), topics.end());
        l.data = std::move(data);
        return l;
    };
    auto liquidator = std::make_unique<MorphoLiquidator>(
        LiquidatorOptions{"bench", kMorpho, true, {}, 0, 0, std::nullopt}, nullptr);
    const auto feed = [&](BlockEvent ev) {
        net::co_spawn(ioc, liquidator->on_block(ev), net::detached);
        ioc.restart();
        ioc.run();
    };
    BlockEvent create;
    create.header.number = 1;
    create.header.timestamp = kTimestamp0;
    create.logs.push_back(
        log_of("CreateMarket(bytes32,(address,address,address,address,uint256))", {},
               words({test::word(kParams.loan_token), test::word(kParams.collateral_token),
                      test::word(kParams.oracle), test::word(kParams.irm), kParams.lltv})));
    feed(std::move(create));
    const PositionBook& source = book().book;
    constexpr uint32_t kPerBlock = 1'000;
    for (uint32_t start = 0; start < kPositions; start += kPerBlock) {
        BlockEvent ev;
        ev.header.number = 2 + start / kPerBlock;
        ev.header.timestamp = kTimestamp0;
        for (uint32_t i = start; i < start + kPerBlock; ++i) {
            const Hash32 who = test::topic(source.account(i));
            const u256 shares = to_u256(source.borrow_shares(i));
            ev.logs.push_back(log_of("SupplyCollateral(bytes32,address,address,uint256)",
                                     {who, who}, words({to_u256(source.collateral(i))})));
            ev.logs.push_back(
                log_of("Borrow(bytes32,address,address,address,uint256,uint256)", {who, who},
                       words({test::word(source.account(i)), shares / kVirtualShares, shares})));
        }
        feed(std::move(ev));
    }
    return liquidator;
}

// Memory: the heap a MorphoLiquidator's mirror holds for kPositions positions.
void mirror_bytes_per_position(benchmark::State& state) {
    double per_position = 0;
    for (auto _ : state) {
        net::io_context ioc;
        const std::size_t before = heap_in_use();
        auto liquidator = build_mirror(ioc);
        const std::size_t after = heap_in_use();
        per_position = static_cast<double>(after - before) / kPositions;
        if (!liquidator->position(kParams.id(), book().book.account(kPositions - 1))) {
            state.SkipWithError("the mirror lacks the last position");
            return;
        }
    }
    state.counters["bytes_per_position"] = per_position;
}
BENCHMARK(mirror_bytes_per_position)->Unit(benchmark::kMillisecond)->Iterations(1);

// The node, in memory: answers the liquidator's per-block batch (market, price, rate,
// balance, allowance) with Book()'s totals and a price the benchmark sets.
class BatchOnlyProvider : public test::StubProvider {
public:
    u256 price = kPriceBefore;
    Task<std::vector<RpcResult<Bytes>>> call_batch(std::span<const CallRequest> requests,
                                                   BlockId) override {
        std::vector<RpcResult<Bytes>> out;
        const Market& m = book().market;
        for (const CallRequest& r : requests) {
            if (r.to == kMorpho)  // market(id): what the Borrow logs add up to
                out.push_back(
                    words({0, 0, m.total_borrow_assets, m.total_borrow_shares, kTimestamp0, 0}));
            else if (r.to == kParams.oracle)
                out.push_back(words({price}));
            else if (r.to == kParams.irm)
                out.push_back(words({0}));
            else  // balanceOf, allowance
                out.push_back(words({std::numeric_limits<u256>::max() / 2}));
        }
        co_return out;
    }
    Task<RpcResult<std::optional<BlockHeader>>> get_block(BlockId block) override {
        BlockHeader h;
        h.number = std::get<uint64_t>(block);
        h.timestamp = kTimestamp0 + 12 * h.number;
        co_return std::optional<BlockHeader>(h);
    }
    Task<RpcResult<std::vector<Log>>> get_logs(const LogFilter&, uint64_t, uint64_t) override {
        co_return std::vector<Log>{};
    }
};

// Latency of MorphoLiquidator::on_block for a block that moves the price, the node's answers
// in memory: decode the batch, accrue, evaluate all 100,000 positions, plan and encode.
//  - Arg 0: the price moves between 2,000 and 2,001: nothing liquidatable.
//  - Arg 1: the price moves between 1,900 and 1,899 (a crash): ~7,000 liquidatable, the 16
//    best are planned with math.hpp's best_liquidation and returned as intents (reported
//    dropped at once, outside the timing, so that every block plans again).
// Items are positions.
void on_block_price_change(benchmark::State& state) {
    net::io_context ioc;
    auto liquidator = build_mirror(ioc);
    BatchOnlyProvider node;
    const StrategyContext context{node, 1, "keeper", account(1'000'000'006)};
    uint64_t number = *liquidator->last_block();
    bool started = false;
    net::co_spawn(
        ioc,
        [&]() -> Task<void> {
            started = (co_await liquidator->start(context, number, {})).has_value();
        },
        net::detached);
    ioc.restart();
    ioc.run();
    if (!started) {
        state.SkipWithError("start() failed");
        return;
    }
    std::size_t intents = 0;
    for (auto _ : state) {
        BlockEvent ev;
        ev.header.number = ++number;
        ev.header.timestamp = kTimestamp0 + 12 * number;
        const u256 base = state.range(0) ? kPriceAfter : kPriceBefore;
        const u256 moved =
            state.range(0) ? u256(base - kOraclePriceScale) : u256(base + kOraclePriceScale);
        node.price = number % 2 ? base : moved;
        std::vector<Intent> out;
        net::co_spawn(
            ioc, [&]() -> Task<void> { out = co_await liquidator->on_block(ev); }, net::detached);
        ioc.restart();
        ioc.run();
        intents += out.size();
        state.PauseTiming();
        for (const Intent& in : out)
            liquidator->on_outcome(
                Outcome{in.idempotency_key, OutcomeKind::dropped, std::nullopt, number, ""});
        state.ResumeTiming();
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kPositions));
    state.counters["intents_per_block"] =
        static_cast<double>(intents) / static_cast<double>(state.iterations());
}
BENCHMARK(on_block_price_change)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
