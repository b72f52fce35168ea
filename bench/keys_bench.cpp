// keys/ micro-benchmarks: the cost of a signature, from libsecp256k1 alone up to a signed,
// encoded EIP-1559 transaction. All figures are throughput of independent operations on one
// core (items/s); the first is the baseline the others are read against.
#include <benchmark/benchmark.h>
#include <openssl/rand.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include <array>
#include <cstring>

#include "keys/key_source.hpp"
#include "keys/local_signer.hpp"

using namespace vigil;

namespace {

// anvil's first development key: public, test-only.
constexpr const char* kKeyHex = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

keys::SecretKey bench_key() {
    return *keys::parse_private_key(kKeyHex);
}

/// A different digest per iteration, so that each signature draws a new RFC 6979 nonce as
/// the transactions below do.
Hash32 digest_for(uint64_t i) {
    Hash32 h;
    h.bytes.fill(0x5a);
    std::memcpy(h.data(), &i, sizeof i);
    return h;
}

// Baseline: libsecp256k1 alone, on a randomised context like LocalSigner's.
void secp256k1_sign_recoverable(benchmark::State& state) {
    secp256k1_context* ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    std::array<uint8_t, 32> seed{};
    RAND_bytes(seed.data(), static_cast<int>(seed.size()));
    if (secp256k1_context_randomize(ctx, seed.data()) != 1) state.SkipWithError("randomize");
    const keys::SecretKey key = bench_key();
    uint64_t i = 0;
    for (auto _ : state) {
        const Hash32 digest = digest_for(++i);
        secp256k1_ecdsa_recoverable_signature sig;
        secp256k1_ecdsa_sign_recoverable(ctx, &sig, digest.data(), key.view().data(), nullptr,
                                         nullptr);
        std::array<uint8_t, 64> compact;
        int recovery_id = 0;
        secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, compact.data(), &recovery_id,
                                                                &sig);
        benchmark::DoNotOptimize(compact);
        benchmark::DoNotOptimize(recovery_id);
    }
    state.SetItemsProcessed(state.iterations());
    secp256k1_context_destroy(ctx);
}
BENCHMARK(secp256k1_sign_recoverable);

// The same through LocalSigner: adds the Signature (two u256) and the Result.
void local_signer_sign_hash(benchmark::State& state) {
    const auto signer = *keys::make_local_signer(bench_key());
    uint64_t i = 0;
    for (auto _ : state) benchmark::DoNotOptimize(signer.sign_hash(digest_for(++i)));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(local_signer_sign_hash);

// The hot path's whole signing step for a liquidation-sized call: signing_hash (RLP +
// keccak), sign, and the raw encoding, through the Signer interface. Nonce bumped each time.
void sign_eip1559(benchmark::State& state) {
    const auto local = *keys::make_local_signer(bench_key());
    const keys::Signer& signer = local;
    TxEnvelope tx;
    tx.type = TxType::eip1559;
    tx.chain_id = 1;
    tx.nonce = 0;
    tx.max_priority_fee_per_gas = 2'000'000'000;
    tx.max_fee_per_gas = 80'000'000'000;
    tx.gas_limit = 600'000;
    tx.to = *parse_address("0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2");
    // liquidationCall(address,address,address,uint256,bool): selector + 5 words.
    tx.data.assign(4 + 5 * 32, 0);
    for (std::size_t k = 0; k < tx.data.size(); ++k) tx.data[k] = static_cast<uint8_t>(k * 7 + 1);
    for (auto _ : state) {
        ++tx.nonce;
        benchmark::DoNotOptimize(signer.sign(tx));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(sign_eip1559);

}  // namespace

BENCHMARK_MAIN();
