// Websocket notification-to-callback overhead against a real anvil on loopback.
//
// Latency, our own time only: from the moment the read loop has a whole frame (the read
// completion, WsTransport::frame_received_at) to
// - the subscription's handler being invoked (routing: message and params parsed), and
// - the block header decoded inside it (what BlockStream hands to its tracker).
// Network and anvil's mining are excluded: each iteration mines one block with evm_mine
// and measures the notification it produces. Reported as manual time per notification
// (mean) and as median / p99 counters. Target: median < 100 us.
//
// Baseline in the same binary: nlohmann::json::parse of the same notification text, the
// DOM parse a straightforward client would do per message.
#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "bench/latency.hpp"
#include "chain/json_rpc.hpp"
#include "chain/ws_transport.hpp"
#include "tests/support/anvil.hpp"

using namespace vigil;
using Clock = std::chrono::steady_clock;
using bench::micros;
using bench::percentile;

namespace {

/// One anvil, one connected transport with a newHeads subscription, shared by the
/// benchmarks below (starting anvil costs far more than the measurements).
struct Fixture {
    test::Anvil anvil;
    net::io_context ioc;
    rpc::WsTransport ws{ioc.get_executor(), anvil.ws_url()};
    std::vector<double> to_callback_us, to_header_us;
    std::string last_notification;  ///< the params.result text of the latest head
    bool got = false;
    uint64_t next_id = 1;

    Fixture() {
        run_until_done([this]() -> Task<void> {
            auto connected = co_await ws.connect();
            if (!connected) throw std::runtime_error(connected.error().to_string());
            // Named, not a lambda inside co_await: g++ 12 destroys such captures twice.
            rpc::NotificationHandler on_head = [this](std::string_view result) {
                const auto invoked = Clock::now();
                auto header = rpc::decode<BlockHeader>(result);
                const auto decoded = Clock::now();
                benchmark::DoNotOptimize(header);
                to_callback_us.push_back(micros(invoked - ws.frame_received_at()));
                to_header_us.push_back(micros(decoded - ws.frame_received_at()));
                last_notification = result;
                got = true;
            };
            auto sub = co_await ws.subscribe(R"(["newHeads"])", std::move(on_head));
            if (!sub) throw std::runtime_error(sub.error().to_string());
        });
    }

    void run_until_done(std::function<Task<void>()> body) {
        bool done = false;
        net::co_spawn(
            ioc,
            [&]() -> Task<void> {
                co_await body();
                done = true;
            },
            [](std::exception_ptr e) {
                if (e) std::rethrow_exception(e);
            });
        while (!done) ioc.run_one();
    }

    /// Mines one block and runs the loop until its notification has been handled.
    void mine_one() {
        got = false;
        net::co_spawn(ioc, ws.roundtrip(rpc::make_request(next_id++, rpc::Call{"evm_mine", "[]"})),
                      net::detached);
        while (!got) ioc.run_one();
    }
};

Fixture& fixture() {
    static Fixture f;
    return f;
}

// Latency (manual time = frame read -> header decoded, per notification).
void ws_notification_to_callback(benchmark::State& state) {
    Fixture& f = fixture();
    f.to_callback_us.clear();
    f.to_header_us.clear();
    for (auto _ : state) {
        f.mine_one();
        state.SetIterationTime(f.to_header_us.back() / 1e6);
    }
    state.counters["callback_median_us"] = percentile(f.to_callback_us, 0.5);
    state.counters["callback_p99_us"] = percentile(f.to_callback_us, 0.99);
    state.counters["header_median_us"] = percentile(f.to_header_us, 0.5);
    state.counters["header_p99_us"] = percentile(f.to_header_us, 0.99);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(ws_notification_to_callback)
    ->UseManualTime()
    ->Iterations(1000)
    ->Unit(benchmark::kMicrosecond);

// Throughput baseline: a DOM parse of one captured newHeads notification result.
void nlohmann_parse_new_head(benchmark::State& state) {
    Fixture& f = fixture();
    if (f.last_notification.empty()) f.mine_one();
    const std::string text = f.last_notification;
    for (auto _ : state) benchmark::DoNotOptimize(nlohmann::json::parse(text));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(nlohmann_parse_new_head)->Unit(benchmark::kMicrosecond);

// Throughput: our decode of the same text into a BlockHeader.
void decode_new_head(benchmark::State& state) {
    Fixture& f = fixture();
    if (f.last_notification.empty()) f.mine_one();
    const std::string text = f.last_notification;
    for (auto _ : state) benchmark::DoNotOptimize(rpc::decode<BlockHeader>(text));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(decode_new_head)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
