// chain/ micro-benchmarks: keccak-256 and the ABI on the liquidation hot path.
// All figures are throughput of independent operations on one core (items/s).
#include <benchmark/benchmark.h>

#include <cstring>

#include "chain/abi.hpp"
#include "chain/keccak.hpp"

using namespace vigil;

namespace {

Bytes filled(std::size_t n) {
    Bytes b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 31 + 7);
    return b;
}

void keccak(benchmark::State& state, std::size_t n) {
    const Bytes data = filled(n);
    for (auto _ : state) benchmark::DoNotOptimize(keccak256(data));
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(n));
}
void keccak256_32(benchmark::State& state) {
    keccak(state, 32);
}
void keccak256_1000(benchmark::State& state) {
    keccak(state, 1000);
}
BENCHMARK(keccak256_32);
BENCHMARK(keccak256_1000);

struct Liquidation {
    abi::Function fn =
        *abi::parse_function("liquidationCall(address,address,address,uint256,bool)");
    std::vector<abi::AbiValue> args;
    Liquidation() {
        const char* addrs[] = {"0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
                               "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359",
                               "0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb"};
        for (const char* a : addrs) args.emplace_back(*parse_address(a));
        args.emplace_back(u256(1234567890123456789ull));
        args.emplace_back(false);
    }
};

// Generic path: a new calldata buffer per call, as a strategy building one intent does.
void abi_encode_liquidation_call(benchmark::State& state) {
    const Liquidation l;
    if (!abi::encode_call(l.fn, l.args)) {
        state.SkipWithError("sample call does not encode");
        return;
    }
    for (auto _ : state) benchmark::DoNotOptimize(abi::encode_call(l.fn, l.args));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(abi_encode_liquidation_call);

// Same encoding into a reused buffer: no allocation at all.
void abi_encode_liquidation_call_reused_buffer(benchmark::State& state) {
    const Liquidation l;
    Bytes out;
    out.reserve(4 + 5 * 32);
    for (auto _ : state) {
        out.assign(l.fn.selector.begin(), l.fn.selector.end());
        benchmark::DoNotOptimize(abi::encode_params(l.fn.inputs, l.args, out));
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(abi_encode_liquidation_call_reused_buffer);

// Baseline: the same 164 bytes written by hand for this one signature, the floor any
// generic encoder is measured against.
void abi_encode_liquidation_call_handwritten_baseline(benchmark::State& state) {
    const Liquidation l;
    const Address* a[3];
    for (int i = 0; i < 3; ++i) a[i] = std::get_if<Address>(&l.args[static_cast<std::size_t>(i)].v);
    const u256 amount = std::get<u256>(l.args[3].v);
    const bool receive_a_token = std::get<bool>(l.args[4].v);
    std::array<uint8_t, 4 + 5 * 32> out{};
    for (auto _ : state) {
        std::memcpy(out.data(), l.fn.selector.data(), 4);
        for (int i = 0; i < 3; ++i) {
            std::memset(out.data() + 4 + 32 * i, 0, 12);
            std::memcpy(out.data() + 16 + 32 * i, a[i]->data(), 20);
        }
        store_be(amount, std::span<uint8_t, 32>(out.data() + 100, 32));
        std::memset(out.data() + 132, 0, 31);
        out[163] = receive_a_token ? 1 : 0;
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(abi_encode_liquidation_call_handwritten_baseline);

// A typical lending-market log: Aave v3 Borrow, three indexed topics plus four data words.
void abi_decode_borrow_log(benchmark::State& state) {
    const abi::Event e = *abi::parse_event(
        "event Borrow(address indexed reserve, address user, address indexed onBehalfOf, uint256 "
        "amount, "
        "uint8 interestRateMode, uint256 borrowRate, uint16 indexed referralCode)");
    std::vector<Hash32> topics(4);
    topics[0] = e.topic0;
    topics[1].bytes[31] = 0x11;
    topics[2].bytes[31] = 0x22;
    topics[3].bytes[31] = 0x01;
    Bytes data(4 * 32, 0);
    data[31] = 0x33;   // user
    data[63] = 0xff;   // amount
    data[95] = 2;      // variable rate mode
    data[127] = 0x42;  // borrow rate
    if (auto check = abi::decode_log(e, topics, data); !check) {
        state.SkipWithError(("sample log does not decode: " + check.error().to_string()).c_str());
        return;
    }
    for (auto _ : state) benchmark::DoNotOptimize(abi::decode_log(e, topics, data));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(abi_decode_borrow_log);

}  // namespace

BENCHMARK_MAIN();
