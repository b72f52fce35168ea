// Reaction time on a real anvil with the real Morpho Blue: from the block that carries an
// oracle price crash to the eth_sendRawTransaction of the first liquidation (the pipeline
// sends a wave's first transaction alone, then the rest in one batch).
//
// Each iteration reverts anvil to a snapshot (60 borrowers, keeper approved), builds the
// chain loop afresh (BlockStream on the websocket, MorphoLiquidator, TxPipeline with its
// journal in a new temp dir, as ChainRunner wires them), lets the strategy backfill, then
// sets a price 25% lower (one mined block) and waits for the first send. Every JSON-RPC
// request goes through a recording transport, so the interval splits into node round
// trips and our own time:
//  - start: the tracker's eth_getLogs{blockHash} request for the crash block, issued as
//    soon as the newHeads notification is decoded (ws_bench measures that decode: ~26 us
//    median, not included here);
//  - end: the first send handed to the transport (which writes it before returning);
//  - own = end - start - (time inside the node round trips in between: that block's logs,
//    the strategy's one batched read, and with simulation the eth_call and
//    eth_estimateGas batches).
// Reported as median / p90 of own and total time (manual time = mean own time), with the
// pipeline's share: from the strategy's intents to the send (pipeline_median_us), of
// which checks + signing + the durable journal write of the first transaction
// (to_journaled_median_us; its fsync depends on the disk: run with TMPDIR=/dev/shm to
// take the disk out). wave_own_median_us is the own time to the send of the rest of the
// wave: its last transaction on the wire.
// Target: own time <= 1 ms at the median.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include "agent/pipeline.hpp"
#include "bench/latency.hpp"
#include "chain/block_stream.hpp"
#include "chain/http_transport.hpp"
#include "chain/rpc_provider.hpp"
#include "strategies/morpho/liquidator.hpp"
#include "tests/support/anvil.hpp"
#include "tests/support/key_test_support.hpp"
#include "tests/support/morpho_fixture.hpp"
#include "tests/support/task.hpp"

using namespace vigil;
using namespace vigil::agent;
using Clock = std::chrono::steady_clock;
using bench::micros;
using bench::percentile;

namespace {

struct Recorder {
    bool armed = false;
    std::optional<Clock::time_point> logs_at;       ///< first block-logs request after arming
    std::optional<Clock::time_point> send_at;       ///< first send after arming
    std::optional<Clock::time_point> last_send_at;  ///< latest send after arming
    std::optional<Clock::time_point> intents_at;    ///< the strategy returned liquidations
    std::optional<Clock::time_point> journaled_at;  ///< their wave is durable
    std::size_t wave = 0;    ///< transactions journaled (the first alone, then the rest)
    bool submitted = false;  ///< the pipeline is done with the wave
    struct Rpc {
        Clock::time_point start, end;
        bool send = false;
    };
    std::vector<Rpc> rpcs;

    /// Our own time from the block's logs request to `end`: minus the node round trips in
    /// between. Sends do not count as the node's time: the first one is in flight while
    /// this thread signs the rest.
    double own_until(Clock::time_point end) const {
        double in_node = 0;
        for (const Rpc& r : rpcs)
            if (!r.send && r.start >= *logs_at && r.end <= end) in_node += micros(r.end - r.start);
        return micros(end - *logs_at) - in_node;
    }
};

/// Forwards to an HttpTransport and records when each request started and ended.
class RecordingTransport final : public rpc::Transport {
public:
    RecordingTransport(std::unique_ptr<rpc::Transport> inner, Recorder& recorder)
        : inner_(std::move(inner)), recorder_(recorder) {}
    Task<Result<std::string, rpc::Failure>> roundtrip(std::string body) override {
        const auto start = Clock::now();
        const bool send = body.find("eth_sendRawTransaction") != std::string::npos;
        if (recorder_.armed) {
            if (send && !recorder_.send_at) recorder_.send_at = start;
            if (send) recorder_.last_send_at = start;
            if (!recorder_.logs_at && body.find("eth_getLogs") != std::string::npos &&
                body.find("blockHash") != std::string::npos)
                recorder_.logs_at = start;
        }
        auto answer = co_await inner_->roundtrip(std::move(body));
        if (recorder_.armed) recorder_.rpcs.push_back({start, Clock::now(), send});
        co_return answer;
    }
    const std::string& endpoint() const noexcept override { return inner_->endpoint(); }

private:
    std::unique_ptr<rpc::Transport> inner_;
    Recorder& recorder_;
};

struct Measured {
    double own_us = 0;
    double wave_own_us = 0;  ///< own time to the send that carries the wave's last transaction
    double pipeline_us = 0;  ///< intents returned to send (the pipeline's part, no RPC)
    double signed_journaled_us = 0;  ///< intents returned to their wave durable
    std::size_t wave = 0;
    double total_us = 0;
    std::size_t round_trips = 0;
};

/// One crash and reaction; throws when vigil did not send within 10 s.
Measured react_once(const test::Anvil& anvil, test::MorphoFixture& fixture,
                    const keys::Signer& keeper, bool simulate, unsigned iteration) {
    const auto& d = fixture.deployment();
    net::io_context ioc;
    Recorder recorder;
    std::vector<std::unique_ptr<rpc::Transport>> transports;
    transports.push_back(std::make_unique<RecordingTransport>(
        std::make_unique<rpc::HttpTransport>(ioc.get_executor(), anvil.http_url()), recorder));
    RpcProvider provider(ioc.get_executor(), std::move(transports));
    test::TempDir dir;
    auto journal = Journal::open(dir.path());
    if (!journal) throw std::runtime_error(journal.error().detail);
    std::ostringstream log_text;
    Logger log(log_text, LogFormat::text, LogLevel::error);

    morpho::LiquidatorOptions options;
    options.name = "morpho";
    options.morpho = d.morpho;
    options.all_markets = true;
    options.start_block = d.deploy_block;
    morpho::MorphoLiquidator strategy(options, [](std::string_view, std::string) {});
    SignerMap signers;
    signers.emplace("keeper", std::make_unique<keys::LocalSigner>(
                                  test::signer_from_hex(test::Anvil::kDevKey1)));
    PipelineConfig config;
    config.chain_id = d.chain_id;
    config.max_inflight_txs = 64;
    std::unique_ptr<TxPipeline> pipeline;

    const BlockHeader head = fixture.chain().block(BlockTag::latest);
    test::run(ioc, [&]() -> Task<bool> {
        const StrategyContext context{provider, d.chain_id, "keeper", keeper.address()};
        auto started = co_await strategy.start(context, head.number, std::nullopt);
        if (!started) throw std::runtime_error(started.error());
        Allowlist allow;  // as ChainRunner builds it, after the strategy started
        for (const DeclaredCall& call : strategy.declared_calls())
            allow.add("keeper", call.target, call.selector);
        pipeline = std::make_unique<TxPipeline>(config, provider, nullptr, *journal, signers,
                                                std::move(allow), log, TxPipeline::OutcomeSink{});
        pipeline->set_observer([&](PipelineStage stage, std::string_view count) {
            if (stage != PipelineStage::journaled) return;
            if (!recorder.journaled_at) recorder.journaled_at = Clock::now();
            recorder.wave += std::stoul(std::string(count));
        });
        auto ready = co_await pipeline->start(head);
        if (!ready) throw std::runtime_error(ready.error());
        co_return true;
    }());

    BlockStreamOptions stream_options;
    stream_options.ws_urls = {anvil.ws_url()};
    stream_options.start_block = head.number + 1;
    stream_options.tracker.filters = {strategy.log_filter()};
    stream_options.tracker.reads = [&](const BlockHeader& h) { return strategy.block_reads(h); };
    // As ChainRunner does: each event is handled as soon as the stream delivers it (events
    // come one block at a time here, so handling them concurrently cannot reorder them).
    auto handle = [&](BlockEvent event) -> Task<void> {
        auto intents = co_await strategy.on_block(event);
        if (intents.empty()) co_return;
        if (!recorder.intents_at) recorder.intents_at = Clock::now();
        co_await pipeline->submit(
            std::move(intents), event.header,
            SubmitOptions{simulate ? config::Simulation::always : config::Simulation::automatic});
        recorder.submitted = true;
    };
    bool connected = false;
    BlockStream stream(
        ioc.get_executor(), provider, stream_options,
        [&](const BlockEvent& event) { net::co_spawn(ioc, handle(event), net::detached); },
        [&](const StreamNotice& n) { connected |= n.kind == StreamNotice::Kind::connected; });
    stream.start();
    ioc.restart();  // test::run stops the io_context when its task is done
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!connected && Clock::now() < deadline) ioc.run_for(std::chrono::milliseconds(5));

    // Crash the price from another thread; this one runs the chain loop.
    recorder.armed = true;
    std::thread crash([&] {
        // A new DevChain: it counts nonces itself, and the snapshot revert reset them. The
        // price differs per iteration, so that no transaction repeats one reverted away.
        test::DevChain chain(anvil.http_url());
        test::set_oracle_price(chain, d, 0, d.markets[0].price * 3 / 4 - iteration);
    });
    while (!recorder.submitted && Clock::now() < deadline)
        ioc.run_for(std::chrono::milliseconds(5));
    crash.join();
    stream.stop();
    if (!recorder.send_at || !recorder.logs_at)
        throw std::runtime_error("no liquidation sent within 10 s: " + log_text.str());
    Measured m;
    m.total_us = micros(*recorder.send_at - *recorder.logs_at);
    m.own_us = recorder.own_until(*recorder.send_at);
    m.wave_own_us = recorder.own_until(*recorder.last_send_at);
    for (const Recorder::Rpc& r : recorder.rpcs)
        m.round_trips += r.start >= *recorder.logs_at && r.end <= *recorder.send_at;
    m.pipeline_us = micros(*recorder.send_at - *recorder.intents_at);
    m.signed_journaled_us = micros(*recorder.journaled_at - *recorder.intents_at);
    m.wave = recorder.wave;
    return m;
}

void crash_to_first_liquidation_sent(benchmark::State& state) {
    const bool simulate = state.range(0) != 0;
    test::Anvil anvil;
    test::MorphoFixtureOptions fo;
    fo.keeper_loan_balance = u256(50'000'000) * morpho::kWad;
    test::MorphoFixture fixture(anvil.http_url(), fo);
    const auto& d = fixture.deployment();
    const keys::LocalSigner keeper = test::signer_from_hex(test::Anvil::kDevKey1);
    // Approved once before the snapshot, so the first block after a crash liquidates.
    fixture.chain().transact(keeper, d.loan_token,
                             test::calldata("approve(address,uint256)", {d.morpho, ~u256(0)}));
    const std::string snapshot_method = "evm_snapshot";
    std::string snapshot = fixture.chain().rpc(snapshot_method, "[]");
    std::vector<double> own, wave_own, total, pipeline_part, journaled;
    std::size_t wave = SIZE_MAX;  // the smallest of the iterations
    std::size_t round_trips = 0;
    unsigned iteration = 0;
    for (auto _ : state) {
        fixture.chain().rpc("evm_revert", "[" + snapshot + "]");
        snapshot = fixture.chain().rpc(snapshot_method, "[]");
        const Measured m = react_once(anvil, fixture, keeper, simulate, iteration++);
        own.push_back(m.own_us);
        wave_own.push_back(m.wave_own_us);
        total.push_back(m.total_us);
        pipeline_part.push_back(m.pipeline_us);
        journaled.push_back(m.signed_journaled_us);
        wave = std::min(wave, m.wave);
        // anvil answers a send before it mines it: let the wave be mined before the next
        // revert, or it lands on the reverted state and the next crash finds less to do.
        const std::string keeper_hex = "\"" + to_hex(keeper.address()) + "\"";
        while (fixture.chain().rpc("eth_getTransactionCount", "[" + keeper_hex + ",\"latest\"]") !=
               fixture.chain().rpc("eth_getTransactionCount", "[" + keeper_hex + ",\"pending\"]"))
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        round_trips = m.round_trips;
        state.SetIterationTime(m.own_us / 1e6);
    }
    state.counters["own_median_us"] = percentile(own, 0.5);
    state.counters["own_p90_us"] = percentile(own, 0.9);
    state.counters["wave_own_median_us"] = percentile(wave_own, 0.5);
    state.counters["total_median_us"] = percentile(total, 0.5);
    state.counters["pipeline_median_us"] = percentile(pipeline_part, 0.5);
    state.counters["to_journaled_median_us"] = percentile(journaled, 0.5);
    state.counters["wave"] = static_cast<double>(wave);  // liquidations, fewest in a crash
    state.counters["round_trips"] = static_cast<double>(round_trips);
}
// simulate=0: the default ("auto": exact liquidations are not simulated); 1: always.
BENCHMARK(crash_to_first_liquidation_sent)
    ->ArgName("simulate")
    ->Arg(0)
    ->Arg(1)
    ->Iterations(20)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
