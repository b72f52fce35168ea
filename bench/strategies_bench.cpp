// Strategies: Morpho Blue health evaluation over a mirrored book.
//
// Throughput, one core: items are positions, so the output reads positions/s.
// exact_is_healthy is the baseline: math.hpp's exact check (Boost u256) on every position.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "strategies/morpho/math.hpp"

using namespace vigil;
using namespace vigil::morpho;

namespace {

constexpr std::size_t kPositions = 100'000;

// Throughput: the exact check alone over kPositions positions of one market.
void exact_is_healthy(benchmark::State& state) {
    std::mt19937_64 rng(7);
    Market market;
    market.total_borrow_assets = u256(1'000'000) * kWad;
    market.total_borrow_shares = market.total_borrow_assets * kVirtualShares;
    const u256 price = 2'000 * kOraclePriceScale;
    const u256 lltv = u256(860'000'000'000'000'000ULL);
    std::vector<Position> book(kPositions);
    for (auto& p : book) {
        p.collateral = u256(rng() % 1'000'000) * kWad / 1000 + 1;
        p.borrow_shares = p.collateral * 2'000 * (50 + rng() % 50) / 100 * kVirtualShares;
    }
    for (auto _ : state) {
        std::size_t healthy = 0;
        for (const auto& p : book) healthy += is_healthy(p, market, price, lltv).value_or(false);
        benchmark::DoNotOptimize(healthy);
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kPositions));
}
BENCHMARK(exact_is_healthy)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
