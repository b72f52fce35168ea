// Transactions signed by vigil are accepted by a real anvil and mined with status 1.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "chain/tx.hpp"
#include "keys/local_signer.hpp"
#include "tests/support/anvil.hpp"
#include "tests/support/vectors.hpp"

using namespace vigil;

namespace {
keys::LocalSigner signer_for(const char* key_hex) {
    const Bytes key = test::hex(key_hex);
    auto signer =
        keys::make_local_signer(keys::SecretKey(std::span<const uint8_t, 32>(key.data(), 32)));
    if (!signer) throw std::runtime_error("dev key rejected");
    return std::move(*signer);
}
}  // namespace

TEST(tx_anvil, all_three_types_are_mined_with_status_1) {
    test::Anvil anvil;
    const auto signer = signer_for(test::Anvil::kDevKey0);
    ASSERT_EQ(to_checksum(signer.address()), test::Anvil::kDevAddress0);
    const uint64_t chain_id = std::stoull(anvil.cast({"chain-id"}));
    uint64_t nonce = std::stoull(anvil.cast({"nonce", test::Anvil::kDevAddress0}));
    const Address to = *parse_address(test::Anvil::kDevAddress1);
    const std::string balance_before = anvil.cast({"balance", test::Anvil::kDevAddress1});

    const u256 gwei = 1'000'000'000;
    std::vector<TxEnvelope> txs;
    for (TxType type : {TxType::legacy, TxType::eip2930, TxType::eip1559}) {
        TxEnvelope tx;
        tx.type = type;
        tx.chain_id = chain_id;
        tx.nonce = nonce++;
        tx.gas_price = 10 * gwei;
        tx.max_fee_per_gas = 10 * gwei;
        tx.max_priority_fee_per_gas = 2 * gwei;
        tx.gas_limit = 100'000;
        tx.to = to;
        tx.value = 1000 + static_cast<unsigned>(type);
        if (type != TxType::legacy) tx.access_list = {{to, {Hash32{}}}};
        txs.push_back(tx);
    }
    // A contract creation (init code returning empty runtime code: PUSH1 0 PUSH1 0 RETURN).
    TxEnvelope create = txs.back();
    create.nonce = nonce++;
    create.to.reset();
    create.value = 0;
    create.access_list.clear();
    create.data = {0x60, 0x00, 0x60, 0x00, 0xf3};
    txs.push_back(create);

    for (const TxEnvelope& tx : txs) {
        const auto raw = signer.sign(tx);
        ASSERT_TRUE(raw.has_value()) << raw.error().to_string();
        const std::string hash = to_hex(tx_hash(*raw));
        anvil.cast({"publish", to_hex(*raw)});
        const auto receipt = nlohmann::json::parse(anvil.cast({"receipt", hash, "--json"}));
        EXPECT_EQ(receipt["status"], "0x1") << "type " << static_cast<int>(tx.type);
        EXPECT_EQ(receipt["type"], "0x" + std::to_string(static_cast<int>(tx.type)));
    }
    EXPECT_EQ(std::stoull(anvil.cast({"nonce", test::Anvil::kDevAddress0})), nonce);
    const u256 gained = *parse_u256(anvil.cast({"balance", test::Anvil::kDevAddress1})) -
                        *parse_u256(balance_before);
    EXPECT_EQ(gained, u256(1000 + 1001 + 1002));
}
