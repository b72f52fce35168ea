// Differential test: transactions of all three types signed by vigil are byte-identical
// to what foundry's `cast mktx` signs for the same key and fields, and decode back to the
// same fields and sender.
#include <gtest/gtest.h>

#include <random>

#include "chain/tx.hpp"
#include "keys/local_signer.hpp"
#include "keys/recover.hpp"
#include "tests/support/anvil.hpp"
#include "tests/support/vectors.hpp"

using namespace vigil;

namespace {
u256 random_u256(std::mt19937_64& rng, unsigned max_bits) {
    u256 v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 64) | rng();
    const unsigned bits = std::uniform_int_distribution<unsigned>(0, max_bits)(rng);
    return bits == 0 ? u256(0) : v >> (256 - bits);
}

template <std::size_t N>
FixedBytes<N> random_fixed(std::mt19937_64& rng) {
    FixedBytes<N> r;
    for (auto& b : r.bytes) b = static_cast<uint8_t>(rng());
    return r;
}
/// A random transaction of `type`: calldata is empty or >= 4 bytes (cast reads shorter
/// data as a signature), sometimes a creation, random access lists for typed ones.
TxEnvelope random_tx(std::mt19937_64& rng, TxType type) {
    static constexpr uint64_t kChainIds[] = {1, 10, 137, 8453, 31337, 11155111, 4294967296};
    TxEnvelope tx;
    tx.type = type;
    tx.chain_id = kChainIds[rng() % std::size(kChainIds)];
    tx.nonce = static_cast<uint64_t>(random_u256(rng, 40));
    tx.gas_limit = 21000 + rng() % 30'000'000;
    // Only the fields the type has, so that decoding gives back an equal envelope.
    if (type == TxType::eip1559) {
        tx.max_fee_per_gas = random_u256(rng, 100);
        tx.max_priority_fee_per_gas = random_u256(rng, 100) % (tx.max_fee_per_gas + 1);
    } else {
        tx.gas_price = random_u256(rng, 100);
    }
    tx.value = random_u256(rng, 96);
    const bool create = rng() % 8 == 0;
    if (!create) tx.to = random_fixed<20>(rng);
    const std::size_t data_len = (create || rng() % 3 != 0) ? 4 + rng() % 200 : 0;
    for (std::size_t i = 0; i < data_len; ++i) tx.data.push_back(static_cast<uint8_t>(rng()));
    if (type != TxType::legacy) {
        const std::size_t entries = rng() % 3;
        for (std::size_t i = 0; i < entries; ++i) {
            AccessListEntry e{random_fixed<20>(rng), {}};
            const std::size_t keys = rng() % 3;
            for (std::size_t k = 0; k < keys; ++k) e.storage_keys.push_back(random_fixed<32>(rng));
            tx.access_list.push_back(std::move(e));
        }
    }
    return tx;
}

/// `cast mktx` arguments (without the key) that build the same transaction.
std::vector<std::string> mktx_args(const TxEnvelope& tx) {
    std::vector<std::string> a = {"mktx",
                                  "--chain",
                                  std::to_string(tx.chain_id),
                                  "--nonce",
                                  std::to_string(tx.nonce),
                                  "--gas-limit",
                                  std::to_string(tx.gas_limit),
                                  "--value",
                                  to_string(tx.value)};
    if (tx.type == TxType::eip1559) {
        a.insert(a.end(), {"--gas-price", to_string(tx.max_fee_per_gas), "--priority-gas-price",
                           to_string(tx.max_priority_fee_per_gas)});
    } else {
        a.insert(a.end(), {"--legacy", "--gas-price", to_string(tx.gas_price)});
    }
    // cast picks type 1 for a legacy-priced tx that carries an access list, even an empty one.
    if (tx.type != TxType::legacy) {
        std::string list = "[";
        for (const auto& e : tx.access_list) {
            if (list.size() > 1) list += ",";
            list += R"({"address":")" + to_checksum(e.address) + R"(","storageKeys":[)";
            for (std::size_t k = 0; k < e.storage_keys.size(); ++k)
                list += (k ? ",\"" : "\"") + to_hex(e.storage_keys[k]) + "\"";
            list += "]}";
        }
        a.insert(a.end(), {"--access-list", list + "]"});
    }
    if (tx.to) {
        a.push_back(to_checksum(*tx.to));
        if (!tx.data.empty()) a.push_back(to_hex(tx.data));
    } else {
        a.insert(a.end(), {"--create", to_hex(tx.data)});
    }
    return a;
}

keys::LocalSigner dev_signer() {
    const Bytes key = test::hex(test::Anvil::kDevKey0);
    auto signer =
        keys::make_local_signer(keys::SecretKey(std::span<const uint8_t, 32>(key.data(), 32)));
    if (!signer) throw std::runtime_error("dev key rejected");
    return std::move(*signer);
}
}  // namespace

class tx_cast_diff : public testing::TestWithParam<TxType> {};

TEST_P(tx_cast_diff, signed_bytes_equal_cast_mktx) {
    const auto signer = dev_signer();
    const uint64_t seed = 0x5eed0000u + static_cast<uint64_t>(GetParam());
    std::mt19937_64 rng(seed);
    constexpr int kCases = 40;
    for (int i = 0; i < kCases; ++i) {
        const TxEnvelope tx = random_tx(rng, GetParam());
        auto args = mktx_args(tx);
        args.insert(args.begin() + 1, {"--private-key", test::Anvil::kDevKey0});
        const std::string expected = test::cast(args);
        const auto raw = signer.sign(tx);
        ASSERT_TRUE(raw.has_value()) << raw.error().to_string();
        ASSERT_EQ(to_hex(*raw), expected) << "seed " << seed << " case " << i;

        const auto decoded = decode_signed(*raw);
        ASSERT_TRUE(decoded.has_value()) << decoded.error().to_string();
        EXPECT_EQ(decoded->tx, tx) << "case " << i;
        const auto sender = keys::recover_sender(*decoded);
        ASSERT_TRUE(sender.has_value());
        EXPECT_EQ(*sender, signer.address());
    }
}

INSTANTIATE_TEST_SUITE_P(all_types, tx_cast_diff,
                         testing::Values(TxType::legacy, TxType::eip2930, TxType::eip1559),
                         [](const auto& info) {
                             switch (info.param) {
                                 case TxType::legacy:
                                     return std::string("legacy");
                                 case TxType::eip2930:
                                     return std::string("eip2930");
                                 case TxType::eip1559:
                                     return std::string("eip1559");
                             }
                             return std::string("unknown");
                         });
