// Transaction envelopes without keys: encode/decode round trips of the three types, the
// shape of signing payloads, and one named bad input per TxErrc (official vectors and
// sender recovery are in tests/unit/keys/tx_vectors_test.cpp).
#include <gtest/gtest.h>

#include <set>

#include "chain/rlp.hpp"
#include "chain/tx.hpp"
#include "tests/support/vectors.hpp"

using namespace vigil;
using vigil::test::hex;

namespace {

const u256 kN{"0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"};

Address address_of(uint8_t fill) {
    Address a;
    a.bytes.fill(fill);
    return a;
}
Hash32 hash_of(uint8_t fill) {
    Hash32 h;
    h.bytes.fill(fill);
    return h;
}

TxEnvelope sample(TxType type) {
    TxEnvelope tx;
    tx.type = type;
    tx.chain_id = 31337;
    tx.nonce = 7;
    tx.gas_price = type == TxType::eip1559 ? 0 : 20'000'000'000u;
    tx.max_priority_fee_per_gas = type == TxType::eip1559 ? 2'000'000'000u : 0;
    tx.max_fee_per_gas = type == TxType::eip1559 ? 30'000'000'000u : 0;
    tx.gas_limit = 100'000;
    tx.to = address_of(0x35);
    tx.value = u256(1'000'000'000'000'000'000ull) + 1;
    tx.data = hex("a9059cbb00");
    if (type != TxType::legacy)
        tx.access_list = {{address_of(0xaa), {hash_of(1), hash_of(2)}}, {address_of(0xbb), {}}};
    return tx;
}

const Signature kSig{u256("0x28ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276"),
                     u256("0x67cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83"), 1};

// Builds raw bytes from already encoded fields: `type` byte (none for legacy) || list.
Bytes raw_from(std::optional<uint8_t> type, const std::vector<Bytes>& fields) {
    Bytes payload;
    for (const Bytes& f : fields) payload.insert(payload.end(), f.begin(), f.end());
    Bytes out;
    if (type) out.push_back(*type);
    rlp::append_list_header(out, payload.size());
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}
Bytes uint_item(const u256& v) {
    Bytes out;
    rlp::append_uint(out, v);
    return out;
}
Bytes string_item(BytesView b) {
    Bytes out;
    rlp::append_string(out, b);
    return out;
}
Bytes list_item(const std::vector<Bytes>& items) {
    return raw_from(std::nullopt, items);
}

// A valid EIP-1559 tx as a field list, for the bad-input table to break one field at a time.
std::vector<Bytes> eip1559_fields() {
    return {uint_item(1),                                         // chain_id
            uint_item(0),                                         // nonce
            uint_item(1),                                         // max_priority_fee_per_gas
            uint_item(2),                                         // max_fee_per_gas
            uint_item(21000),                                     // gas_limit
            string_item(address_of(0x35)),                        // to
            uint_item(0),                                         // value
            string_item({}),                                      // data
            list_item({list_item({string_item(address_of(0xaa)),  // access_list
                                  list_item({string_item(hash_of(1))})})}),
            uint_item(0),        // y_parity
            uint_item(kSig.r),   // r
            uint_item(kSig.s)};  // s
}
std::vector<Bytes> legacy_fields(const u256& v) {
    return {uint_item(0),     uint_item(1),    uint_item(21000), string_item(address_of(0x35)),
            uint_item(0),     string_item({}), uint_item(v),     uint_item(kSig.r),
            uint_item(kSig.s)};
}
template <class F>
Bytes eip1559_with(F&& change) {
    auto fields = eip1559_fields();
    change(fields);
    return raw_from(0x02, fields);
}

}  // namespace

TEST(tx_encode, round_trips_all_three_types) {
    for (TxType type : {TxType::legacy, TxType::eip2930, TxType::eip1559}) {
        const TxEnvelope tx = sample(type);
        const Bytes raw = encode_signed(tx, kSig);
        auto decoded = decode_signed(raw);
        ASSERT_TRUE(decoded.has_value())
            << static_cast<int>(type) << ": " << decoded.error().to_string();
        EXPECT_EQ(decoded->tx, tx);
        EXPECT_EQ(decoded->sig, kSig);
        EXPECT_EQ(encode_signed(decoded->tx, decoded->sig), raw);
    }
}

TEST(tx_encode, contract_creation_and_empty_access_list_round_trip) {
    TxEnvelope tx = sample(TxType::eip1559);
    tx.to.reset();
    tx.access_list.clear();
    tx.value = 0;
    const Bytes raw = encode_signed(tx, kSig);
    auto decoded = decode_signed(raw);
    ASSERT_TRUE(decoded.has_value()) << decoded.error().to_string();
    EXPECT_FALSE(decoded->tx.to.has_value());
    EXPECT_EQ(decoded->tx, tx);
}

TEST(tx_encode, legacy_v_carries_chain_ids_beyond_64_bits_of_v) {
    // v = chain_id * 2 + 35 + y does not fit 64 bits for the largest chain ids.
    TxEnvelope tx = sample(TxType::legacy);
    tx.chain_id = ~uint64_t{0};
    const Bytes raw = encode_signed(tx, kSig);
    auto fields = rlp::decode_one(raw).and_then(rlp::as_list);
    ASSERT_TRUE(fields.has_value());
    for (int i = 0; i < 6; ++i) ASSERT_TRUE(fields->next().has_value());
    const u256 v = *fields->next().and_then(rlp::as_u256);
    EXPECT_EQ(v, u256(tx.chain_id) * 2 + 35 + kSig.y_parity);
    auto decoded = decode_signed(raw);
    ASSERT_TRUE(decoded.has_value()) << decoded.error().to_string();
    EXPECT_EQ(decoded->tx.chain_id, tx.chain_id);
    EXPECT_EQ(decoded->sig.y_parity, 1);
}

TEST(tx_signing, payloads_have_each_types_shape) {
    // Legacy: 9 items ending in chain_id, 0, 0 (EIP-155), no type byte.
    const TxEnvelope legacy = sample(TxType::legacy);
    const Bytes lp = signing_payload(legacy);
    auto items = rlp::decode_one(lp).and_then(rlp::as_list);
    ASSERT_TRUE(items.has_value());
    EXPECT_EQ(*items->count(), 9u);
    for (int i = 0; i < 6; ++i) ASSERT_TRUE(items->next().has_value());
    EXPECT_EQ(*items->next().and_then(rlp::as_u64), legacy.chain_id);
    EXPECT_EQ(*items->next().and_then(rlp::as_u64), 0u);
    EXPECT_EQ(*items->next().and_then(rlp::as_u64), 0u);

    // Typed: the type byte, then the fields without the signature (EIP-2930: 8, 1559: 9).
    for (auto [type, count] : {std::pair{TxType::eip2930, 8u}, std::pair{TxType::eip1559, 9u}}) {
        const Bytes p = signing_payload(sample(type));
        ASSERT_EQ(p[0], static_cast<uint8_t>(type));
        auto fields = rlp::decode_one(BytesView(p).subspan(1)).and_then(rlp::as_list);
        ASSERT_TRUE(fields.has_value());
        EXPECT_EQ(*fields->count(), count);
        // The signed encoding is the same list with y_parity, r, s appended.
        const Bytes raw = encode_signed(sample(type), kSig);
        auto signed_fields = rlp::decode_one(BytesView(raw).subspan(1)).and_then(rlp::as_list);
        EXPECT_EQ(*signed_fields->count(), count + 3);
        EXPECT_EQ(signing_hash(sample(type)), keccak256(p));
    }
}

TEST(tx_signing, every_field_changes_the_signing_hash) {
    const TxEnvelope base = sample(TxType::eip1559);
    std::vector<TxEnvelope> changed(9, base);
    changed[0].chain_id++;
    changed[1].nonce++;
    changed[2].max_priority_fee_per_gas++;
    changed[3].max_fee_per_gas++;
    changed[4].gas_limit++;
    changed[5].to->bytes[19] ^= 1;
    changed[6].value++;
    changed[7].data.push_back(0);
    changed[8].access_list[0].storage_keys[1].bytes[0] ^= 1;
    std::set<Hash32> hashes{signing_hash(base)};
    for (const TxEnvelope& tx : changed) EXPECT_TRUE(hashes.insert(signing_hash(tx)).second);
    // gas_price is not part of an EIP-1559 tx.
    TxEnvelope ignored = base;
    ignored.gas_price = 5;
    EXPECT_EQ(signing_hash(ignored), signing_hash(base));
}

TEST(tx_decode, names_the_rule_it_breaks) {
    struct Case {
        const char* name;
        Bytes raw;
        TxError expected;
    };
    const u256 half_n = kN >> 1;
    const std::vector<Case> cases = {
        {"nonce 0x00ff",
         eip1559_with([](auto& f) { f[1] = hex("8200ff"); }),
         {TxErrc::rlp, RlpError::leading_zero, "nonce"}},
        {"type 3", raw_from(0x03, eip1559_fields()), {TxErrc::unknown_type, {}, ""}},
        {"11 fields",
         eip1559_with([](auto& f) { f.pop_back(); }),
         {TxErrc::wrong_field_count, {}, ""}},
        {"legacy v = 27",
         raw_from(std::nullopt, legacy_fields(27)),
         {TxErrc::unprotected_legacy, {}, "v"}},
        {"legacy v = 30", raw_from(std::nullopt, legacy_fields(30)), {TxErrc::invalid_v, {}, "v"}},
        {"legacy v = 35",
         raw_from(std::nullopt, legacy_fields(35)),
         {TxErrc::invalid_chain_id, {}, "v"}},
        {"y_parity 2",
         eip1559_with([](auto& f) { f[9] = uint_item(2); }),
         {TxErrc::invalid_y_parity, {}, "y_parity"}},
        {"r = 0",
         eip1559_with([](auto& f) { f[10] = uint_item(0); }),
         {TxErrc::invalid_r, {}, "r"}},
        {"s = n",
         eip1559_with([&](auto& f) { f[11] = uint_item(kN); }),
         {TxErrc::invalid_s, {}, "s"}},
        {"s = n/2 + 1",
         eip1559_with([&](auto& f) { f[11] = uint_item(half_n + 1); }),
         {TxErrc::high_s, {}, "s"}},
        {"priority fee 3 > max fee 2",
         eip1559_with([](auto& f) { f[2] = uint_item(3); }),
         {TxErrc::priority_fee_above_max_fee, {}, "max_priority_fee_per_gas"}},
    };
    std::set<TxErrc> covered;
    for (const Case& c : cases) {
        auto r = decode_signed(c.raw);
        ASSERT_FALSE(r.has_value()) << c.name << " was accepted";
        EXPECT_EQ(r.error().to_string(), c.expected.to_string()) << c.name;
        covered.insert(c.expected.kind);
    }
    for (int e = 0; e <= static_cast<int>(TxErrc::priority_fee_above_max_fee); ++e) {
        EXPECT_TRUE(covered.contains(TxErrc(e))) << "no case for TxErrc " << e;
        EXPECT_NE(to_string(TxErrc(e)), "unknown");
    }
    // The edges of those rules are accepted.
    EXPECT_TRUE(
        decode_signed(eip1559_with([&](auto& f) { f[11] = uint_item(half_n); })).has_value());
    EXPECT_TRUE(decode_signed(eip1559_with([](auto& f) { f[2] = uint_item(2); })).has_value());
    EXPECT_TRUE(decode_signed(raw_from(std::nullopt, legacy_fields(37))).has_value());
}

TEST(tx_decode, field_encodings_are_checked_where_they_sit) {
    Bytes addr19(19, 0x35), key31(31, 1), nine(9, 1), wide(33, 1);
    const auto access_list_with = [](Bytes entry) { return list_item({std::move(entry)}); };
    const std::vector<std::pair<Bytes, TxError>> cases = {
        {{}, {TxErrc::rlp, RlpError::input_too_short, ""}},
        {hex("02"), {TxErrc::rlp, RlpError::input_too_short, ""}},
        {hex("8180"), {TxErrc::rlp, RlpError::unexpected_string, ""}},
        {hex("0280"), {TxErrc::rlp, RlpError::unexpected_string, ""}},
        {[] {
             auto r = raw_from(0x02, eip1559_fields());
             r.push_back(0);
             return r;
         }(),
         {TxErrc::rlp, RlpError::trailing_bytes, ""}},
        {eip1559_with([&](auto& f) { f[0] = string_item(nine); }),
         {TxErrc::rlp, RlpError::overflow, "chain_id"}},
        {eip1559_with([&](auto& f) { f[4] = string_item(nine); }),
         {TxErrc::rlp, RlpError::overflow, "gas_limit"}},
        {eip1559_with([&](auto& f) { f[6] = string_item(wide); }),
         {TxErrc::rlp, RlpError::overflow, "value"}},
        {eip1559_with([&](auto& f) { f[3] = hex("00"); }),
         {TxErrc::rlp, RlpError::leading_zero, "max_fee_per_gas"}},
        {eip1559_with([&](auto& f) { f[5] = string_item(addr19); }),
         {TxErrc::rlp, RlpError::wrong_size, "to"}},
        {eip1559_with([&](auto& f) { f[7] = list_item({}); }),
         {TxErrc::rlp, RlpError::unexpected_list, "data"}},
        {eip1559_with([&](auto& f) { f[8] = string_item({}); }),
         {TxErrc::rlp, RlpError::unexpected_string, "access_list"}},
        {eip1559_with(
             [&](auto& f) { f[8] = access_list_with(list_item({string_item(address_of(1))})); }),
         {TxErrc::wrong_field_count, {}, "access_list"}},
        {eip1559_with([&](auto& f) {
             f[8] = access_list_with(
                 list_item({string_item(addr19), list_item({string_item(hash_of(1))})}));
         }),
         {TxErrc::rlp, RlpError::wrong_size, "access_list.address"}},
        {eip1559_with([&](auto& f) {
             f[8] = access_list_with(
                 list_item({string_item(address_of(1)), list_item({string_item(key31)})}));
         }),
         {TxErrc::rlp, RlpError::wrong_size, "access_list.storage_keys"}},
        {eip1559_with([&](auto& f) {
             f[8] = access_list_with(list_item({string_item(address_of(1)), string_item({})}));
         }),
         {TxErrc::rlp, RlpError::unexpected_string, "access_list.storage_keys"}},
        {raw_from(std::nullopt, legacy_fields(u256(1) << 70)), {TxErrc::invalid_v, {}, "v"}},
    };
    for (const auto& [raw, expected] : cases) {
        auto r = decode_signed(raw);
        ASSERT_FALSE(r.has_value()) << to_hex(raw) << " was accepted";
        EXPECT_EQ(r.error().to_string(), expected.to_string()) << to_hex(raw);
    }
}

TEST(tx_decode, error_text_names_rule_and_field) {
    EXPECT_EQ((TxError{TxErrc::rlp, RlpError::leading_zero, "nonce"}).to_string(),
              "rlp leading_zero in nonce");
    EXPECT_EQ((TxError{TxErrc::high_s, {}, "s"}).to_string(), "high_s in s");
    EXPECT_EQ((TxError{TxErrc::unknown_type, {}, ""}).to_string(), "unknown_type");
}
