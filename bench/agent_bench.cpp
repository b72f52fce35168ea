// Journaling a wave: the pipeline signs a wave of intents and writes them all, with their
// signed transactions and the nonce advance, in one db_txn before any broadcast. That
// commit's fsync (WAL, synchronous=FULL) is the one synchronous disk step of the hot path.
//
// Latency, one core: each iteration journals one wave of 25 intents (25 attempts of ~200
// bytes of raw tx, one nonce row) into a journal in a fresh temp dir; items are intents, so
// the output reads intents/s, and Time is the latency of one wave. The figure depends on the
// disk's fsync far more than on our code.
//
// Baseline in the same binary: fdatasync_4k appends 4 KiB to a file on the same disk and
// fdatasyncs it, the floor for any durable commit there.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "agent/journal.hpp"

using namespace vigil;
using namespace vigil::agent;

namespace {

constexpr std::size_t kWaveSize = 25;

Address filled_address(uint8_t b) {
    Address a;
    a.bytes.fill(b);
    return a;
}

// Latency per wave of kWaveSize intents.
void record_wave_25(benchmark::State& state) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("vigil-agent-bench-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    {
        auto journal = Journal::open(dir);
        if (!journal) {
            state.SkipWithError(journal.error().detail.c_str());
            return;
        }
        const Address signer = filled_address(0x11);
        std::vector<Intent> intents(kWaveSize);
        std::vector<Attempt> attempts(kWaveSize);
        std::vector<NonceState> nonces(1);
        for (std::size_t i = 0; i < kWaveSize; ++i) {
            auto& in = intents[i];
            in.strategy = "morpho";
            in.signer = "keeper";
            in.target = filled_address(0x22);
            in.calldata = Bytes(4 + 32 * 3, 0xab);
            in.value = 0;
            in.deadline_block = 1000;
            in.expected_profit_wei = u256(1'000'000'000'000'000ull);
            in.reason = "health factor below 1";
            auto& a = attempts[i];
            a.chain_id = 1;
            a.signer = signer;
            a.raw_tx = Bytes(200, 0xcd);
            a.max_fee_per_gas = 30'000'000'000ull;
            a.max_priority_fee_per_gas = 2'000'000'000ull;
            a.gas_limit = 300'000;
        }
        uint64_t nonce = 0;
        uint64_t wave_number = 0;
        for (auto _ : state) {
            // Fresh keys and hashes per wave, built untimed: in the pipeline they exist
            // before the journal is called.
            state.PauseTiming();
            for (std::size_t i = 0; i < kWaveSize; ++i) {
                intents[i].idempotency_key =
                    "morpho/m/b" + std::to_string(i) + "/" + std::to_string(wave_number);
                attempts[i].intent_key = intents[i].idempotency_key;
                attempts[i].nonce = nonce;
                std::memcpy(attempts[i].tx_hash.data(), &nonce, sizeof nonce);
                ++nonce;
            }
            nonces[0] = NonceState{1, signer, nonce};
            ++wave_number;
            // As the pipeline does after each block, off the hot path.
            if (auto m = journal->maintain(); !m) {
                state.SkipWithError(m.error().detail.c_str());
                break;
            }
            state.ResumeTiming();
            const Wave wave{1, wave_number, intents, attempts, nonces};
            auto r = journal->record_wave(wave);
            benchmark::DoNotOptimize(r);
            if (!r) {
                state.SkipWithError(r.error().detail.c_str());
                break;
            }
        }
        state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kWaveSize));
    }
    std::filesystem::remove_all(dir);
}
BENCHMARK(record_wave_25)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Latency per durable 4 KiB append: the baseline for record_wave_25.
void fdatasync_4k(benchmark::State& state) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("vigil-agent-bench-sync-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto file = (dir / "append").string();
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        state.SkipWithError("cannot create the file");
        return;
    }
    const std::vector<char> page(4096, 'x');
    for (auto _ : state) {
        if (::write(fd, page.data(), page.size()) != static_cast<ssize_t>(page.size()) ||
            ::fdatasync(fd) != 0) {
            state.SkipWithError("write or fdatasync failed");
            break;
        }
    }
    state.SetItemsProcessed(state.iterations());
    ::close(fd);
    std::filesystem::remove_all(dir);
}
BENCHMARK(fdatasync_4k)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
