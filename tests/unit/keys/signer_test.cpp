// LocalSigner: key validation, addresses, low-s deterministic signatures that recover to the
// signer, and byte-for-byte agreement with foundry's cast for digests and transactions.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "chain/tx.hpp"
#include "keys/local_signer.hpp"
#include "keys/recover.hpp"
#include "tests/support/anvil.hpp"
#include "tests/support/key_test_support.hpp"
#include "tests/support/vectors.hpp"

using namespace vigil;
using namespace vigil::keys;

namespace {

SecretKey key_from_hex(std::string_view hex) {
    const Bytes b = test::hex(hex);
    return SecretKey(std::span<const uint8_t, 32>(b.data(), 32));
}

LocalSigner dev_signer() {
    return *make_local_signer(key_from_hex(test::Anvil::kDevKey0));
}

const u256 kHalfOrder =
    *parse_u256("0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0");

Hash32 random_digest(std::mt19937_64& rng) {
    Hash32 h;
    for (auto& b : h.bytes) b = static_cast<uint8_t>(rng());
    return h;
}

std::string word_hex(const u256& v) {
    std::array<uint8_t, 32> w{};
    store_be(v, w);
    return to_hex(BytesView(w)).substr(2);
}

}  // namespace

TEST(local_signer, derives_the_address_of_known_keys) {
    EXPECT_EQ(dev_signer().address(), *parse_address(test::Anvil::kDevAddress0));
    auto signer = make_local_signer(key_from_hex(test::Anvil::kDevKey1));
    ASSERT_TRUE(signer.has_value());
    EXPECT_EQ(signer->address(), *parse_address(test::Anvil::kDevAddress1));
    EXPECT_EQ(*address_of(key_from_hex(test::Anvil::kDevKey1)), signer->address());
}

TEST(local_signer, rejects_keys_outside_one_to_n_minus_one) {
    const char* bad[] = {
        "0000000000000000000000000000000000000000000000000000000000000000",
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",  // n
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364142",  // n + 1
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    };
    for (const char* hex : bad) {
        auto signer = make_local_signer(key_from_hex(hex));
        ASSERT_FALSE(signer.has_value()) << hex;
        EXPECT_EQ(signer.error().kind, KeyErrc::invalid_private_key);
        EXPECT_EQ(signer.error().to_string(),
                  "invalid_private_key: private key must be in [1, n-1] of secp256k1");
    }
    for (const char* good : {"0000000000000000000000000000000000000000000000000000000000000001",
                             "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140"})
        EXPECT_TRUE(make_local_signer(key_from_hex(good)).has_value()) << good;
}

TEST(local_signer, signatures_are_low_s_deterministic_and_recover_to_the_signer) {
    const LocalSigner signer = dev_signer();
    std::mt19937_64 rng(6979);
    for (int i = 0; i < 200; ++i) {
        const Hash32 digest = random_digest(rng);
        auto sig = signer.sign_hash(digest);
        ASSERT_TRUE(sig.has_value());
        EXPECT_LE(sig->s, kHalfOrder);
        EXPECT_LE(sig->y_parity, 1);
        EXPECT_EQ(*signer.sign_hash(digest), *sig);
        auto who = recover_address(digest, *sig);
        ASSERT_TRUE(who.has_value()) << who.error().to_string();
        EXPECT_EQ(*who, signer.address());
    }
}

TEST(local_signer, matches_cast_wallet_sign_no_hash) {
    const LocalSigner signer = dev_signer();
    std::mt19937_64 rng(31337);
    std::set<uint8_t> parities;
    for (int i = 0; i < 6; ++i) {
        const Hash32 digest = random_digest(rng);
        const Signature sig = *signer.sign_hash(digest);
        parities.insert(sig.y_parity);
        // cast prints r || s || v with v = 27 + y_parity.
        const std::string theirs = test::cast({"wallet", "sign", "--no-hash", "--private-key",
                                               test::Anvil::kDevKey0, to_hex(digest)});
        const std::string v = sig.y_parity == 0 ? "1b" : "1c";
        EXPECT_EQ(theirs, "0x" + word_hex(sig.r) + word_hex(sig.s) + v);
    }
}

TEST(local_signer, signed_eip1559_tx_matches_cast_mktx_and_recovers) {
    const LocalSigner signer = dev_signer();
    TxEnvelope tx;
    tx.type = TxType::eip1559;
    tx.chain_id = 1;
    tx.nonce = 7;
    tx.max_priority_fee_per_gas = 1'000'000'000;
    tx.max_fee_per_gas = 30'000'000'000;
    tx.gas_limit = 21000;
    tx.to = *parse_address(test::Anvil::kDevAddress1);
    tx.value = 12345;
    auto raw = signer.sign(tx);
    ASSERT_TRUE(raw.has_value());
    EXPECT_EQ(to_hex(*raw), test::cast({"mktx", "--private-key", test::Anvil::kDevKey0, "--chain",
                                        "1", "--nonce", "7", "--gas-limit", "21000", "--gas-price",
                                        "30000000000", "--priority-gas-price", "1000000000",
                                        test::Anvil::kDevAddress1, "--value", "12345"}));
    auto decoded = decode_signed(*raw);
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(*recover_sender(*decoded), signer.address());
}

TEST(local_signer, generated_keys_are_valid_and_distinct) {
    auto a = generate_key();
    auto b = generate_key();
    ASSERT_TRUE(a.has_value() && b.has_value());
    EXPECT_FALSE(std::ranges::equal(a->view(), b->view()));
    EXPECT_TRUE(make_local_signer(std::move(*a)).has_value());
}

TEST(secret_key, moving_wipes_the_source) {
    SecretKey from = key_from_hex(test::kLeakTestKey);
    const SecretKey to = std::move(from);
    EXPECT_TRUE(std::ranges::all_of(from.view(), [](uint8_t b) { return b == 0; }));
    EXPECT_FALSE(std::ranges::all_of(to.view(), [](uint8_t b) { return b == 0; }));
    EXPECT_TRUE(std::ranges::equal(to.copy().view(), to.view()));
}

TEST(secret_bytes, shrinks_and_moves) {
    SecretBytes bytes(8);
    std::ranges::fill(bytes.span(), uint8_t{7});
    bytes.shrink_to(3);
    EXPECT_EQ(bytes.size(), 3u);
    SecretBytes moved = std::move(bytes);
    EXPECT_EQ(moved.size(), 3u);
    EXPECT_TRUE(bytes.empty());
}
