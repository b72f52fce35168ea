// Decoding an eth_getLogs response body into std::vector<Log>.
//
// Throughput, one core: items are logs, so the output reads logs/s. The body is what
// geth and anvil send for ERC-20 Transfer logs (3 topics, 32 bytes of data, member order
// as geth writes it), built once outside the loop. Target: >= 200,000 logs/s.
//
// Baselines in the same binary, on the same body:
// - nlohmann_parse: nlohmann::json::parse into a DOM, which is where a straightforward
//   client starts (reading the DOM into typed values would come on top);
// - nlohmann_accept: nlohmann's validating SAX pass that builds nothing, a floor for
//   any parser built on its lexer.
#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>
#include <string>

#include "chain/json_rpc.hpp"

using namespace vigil;

namespace {

std::string hex_word(uint64_t v) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out(64, '0');
    for (int i = 63; v != 0; --i, v >>= 4) out[static_cast<std::size_t>(i)] = kDigits[v & 0xf];
    return out;
}

std::string quantity(uint64_t v) {
    return to_quantity(u256(v));
}

// A response with `count` Transfer logs, ten per block.
std::string logs_body(std::size_t count) {
    std::string body = R"({"jsonrpc":"2.0","id":1,"result":[)";
    for (std::size_t i = 0; i < count; ++i) {
        const uint64_t block = 18'000'000 + i / 10;
        if (i) body += ',';
        body += R"({"address":"0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48","topics":[)";
        body += R"("0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",)";
        body += "\"0x" + hex_word(0x1000 + i) + "\",\"0x" + hex_word(0x2000 + i) + "\"],";
        body += "\"data\":\"0x" + hex_word(1'000'000 * (i + 1)) + "\",";
        body += "\"blockNumber\":\"" + quantity(block) + "\",";
        body += "\"blockHash\":\"0x" + hex_word(block * 7919) + "\",";
        body += "\"transactionHash\":\"0x" + hex_word(i * 104729 + 1) + "\",";
        body += "\"transactionIndex\":\"" + quantity(i % 10) + "\",";
        body += "\"logIndex\":\"" + quantity(i % 10) + "\",\"removed\":false}";
    }
    body += "]}";
    return body;
}

constexpr std::size_t kLogs = 10'000;

void get_logs_decode(benchmark::State& state) {
    const std::string body = logs_body(kLogs);
    for (auto _ : state) {
        auto result = rpc::read_response(body, 1);
        auto logs = rpc::decode<std::vector<Log>>(*result);
        if (!logs || logs->size() != kLogs) state.SkipWithError("decode failed");
        benchmark::DoNotOptimize(logs);
    }
    state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kLogs));
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
}
BENCHMARK(get_logs_decode)->Unit(benchmark::kMillisecond);

void nlohmann_parse(benchmark::State& state) {
    const std::string body = logs_body(kLogs);
    for (auto _ : state) {
        auto json = nlohmann::json::parse(body);
        benchmark::DoNotOptimize(json);
    }
    state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kLogs));
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
}
BENCHMARK(nlohmann_parse)->Unit(benchmark::kMillisecond);

void nlohmann_accept(benchmark::State& state) {
    const std::string body = logs_body(kLogs);
    for (auto _ : state) benchmark::DoNotOptimize(nlohmann::json::accept(body));
    state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kLogs));
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
}
BENCHMARK(nlohmann_accept)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
