// Transactions against official vectors: the EIP-155 example and ethereum/tests
// TransactionTests (decode, hash, recovered sender, or the named rejection), round trips,
// and one-field mutations of each valid vector.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <optional>

#include "chain/rlp.hpp"
#include "chain/tx.hpp"
#include "keys/recover.hpp"
#include "tests/support/vectors.hpp"

using namespace vigil;
using vigil::test::hex;

namespace {

const u256 kN{"0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"};

std::string lower_hex(const Address& a) {
    return to_hex(BytesView(a));
}

u256 decimal(const nlohmann::json& j) {
    return *parse_u256(j.get<std::string>());
}

// The fields of a raw tx as separate encoded items, to break one and put it back together.
struct RawFields {
    std::optional<uint8_t> type;  // none for legacy
    std::vector<Bytes> items;

    static RawFields split(BytesView raw) {
        RawFields f;
        if (raw[0] < 0x80) {
            f.type = raw[0];
            raw = raw.subspan(1);
        }
        auto list = rlp::decode_one(raw).and_then(rlp::as_list);
        while (list && !list->empty()) {
            Bytes item;
            rlp::append_item(item, *list->next());
            f.items.push_back(std::move(item));
        }
        return f;
    }
    Bytes join() const {
        Bytes payload;
        for (const Bytes& i : items) payload.insert(payload.end(), i.begin(), i.end());
        Bytes out;
        if (type) out.push_back(*type);
        rlp::append_list_header(out, payload.size());
        out.insert(out.end(), payload.begin(), payload.end());
        return out;
    }
};

// The field names decode_signed reports, in each type's order, and which are integers.
struct FieldName {
    std::string_view name;
    bool integer;
};
const std::vector<FieldName>& field_names(TxType type) {
    static const std::vector<FieldName> legacy = {
        {"nonce", true}, {"gas_price", true}, {"gas_limit", true}, {"to", false}, {"value", true},
        {"data", false}, {"v", true},         {"r", true},         {"s", true}};
    static const std::vector<FieldName> eip2930 = {
        {"chain_id", true}, {"nonce", true}, {"gas_price", true}, {"gas_limit", true},
        {"to", false},      {"value", true}, {"data", false},     {"access_list", false},
        {"y_parity", true}, {"r", true},     {"s", true}};
    static const std::vector<FieldName> eip1559 = {
        {"chain_id", true},        {"nonce", true},     {"max_priority_fee_per_gas", true},
        {"max_fee_per_gas", true}, {"gas_limit", true}, {"to", false},
        {"value", true},           {"data", false},     {"access_list", false},
        {"y_parity", true},        {"r", true},         {"s", true}};
    switch (type) {
        case TxType::legacy:
            return legacy;
        case TxType::eip2930:
            return eip2930;
        case TxType::eip1559:
            return eip1559;
    }
    throw std::logic_error("unknown TxType");
}

// The same integer with a zero byte in front: the non-canonical twin of a field.
Bytes with_leading_zero(const Bytes& item) {
    const BytesView payload = *rlp::decode_one(item).and_then(rlp::as_bytes);
    Bytes padded{0};
    padded.insert(padded.end(), payload.begin(), payload.end());
    Bytes out;
    rlp::append_string(out, padded);
    return out;
}

// Checks that every one-field break of a valid raw tx is rejected naming the rule and the
// field, and that changing a signed value changes who appears to have signed.
void expect_mutations_rejected(const Bytes& raw, const Address& sender, const std::string& name) {
    const auto decoded = decode_signed(raw);
    ASSERT_TRUE(decoded.has_value()) << name;
    const auto& names = field_names(decoded->tx.type);
    const RawFields fields = RawFields::split(raw);
    ASSERT_EQ(fields.items.size(), names.size()) << name;

    const auto expect_error = [&](const Bytes& bad, const TxError& expected,
                                  const std::string& what) {
        auto r = decode_signed(bad);
        ASSERT_FALSE(r.has_value()) << name << ": " << what << " was accepted";
        EXPECT_EQ(r.error().to_string(), expected.to_string()) << name << ": " << what;
    };
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (!names[i].integer) continue;
        RawFields bad = fields;
        bad.items[i] = with_leading_zero(bad.items[i]);
        expect_error(bad.join(), {TxErrc::rlp, RlpError::leading_zero, names[i].name},
                     "leading zero in " + std::string(names[i].name));
    }
    RawFields shorter = fields;
    shorter.items.pop_back();
    expect_error(shorter.join(), {TxErrc::wrong_field_count, {}, ""}, "a field dropped");
    RawFields longer = fields;
    longer.items.push_back(Bytes{0x80});
    expect_error(longer.join(), {TxErrc::wrong_field_count, {}, ""}, "a field added");
    Bytes trailing = raw;
    trailing.push_back(0x80);
    expect_error(trailing, {TxErrc::rlp, RlpError::trailing_bytes, ""}, "a trailing byte");

    // The malleable twin (n - s, other parity) is the same signer's signature: rejected.
    Signature twin = decoded->sig;
    twin.s = kN - twin.s;
    twin.y_parity ^= 1;
    expect_error(encode_signed(decoded->tx, twin), {TxErrc::high_s, {}, "s"}, "high-s twin");
    EXPECT_EQ(keys::recover_address(signing_hash(decoded->tx), twin).error().kind,
              keys::KeyErrc::invalid_signature);
    Signature zero_r = decoded->sig;
    zero_r.r = 0;
    expect_error(encode_signed(decoded->tx, zero_r), {TxErrc::invalid_r, {}, "r"}, "r = 0");

    // A well-formed change to a signed field keeps the tx decodable, but the signature no
    // longer belongs to the sender.
    SignedTx bumped = *decoded;
    ++bumped.tx.nonce;
    auto bumped_back = decode_signed(encode_signed(bumped.tx, bumped.sig));
    ASSERT_TRUE(bumped_back.has_value()) << name;
    auto other = keys::recover_sender(*bumped_back);
    EXPECT_TRUE(!other.has_value() || *other != sender) << name;
}

// The rejection decode_signed gives for each upstream exception name.
const std::map<std::string, TxError>& expected_rejections() {
    static const std::map<std::string, TxError> m = {
        {"TransactionException.RLP_LEADING_ZEROS_NONCE",
         {TxErrc::rlp, RlpError::leading_zero, "nonce"}},
        {"TransactionException.RLP_LEADING_ZEROS_BASEFEE",
         {TxErrc::rlp, RlpError::leading_zero, "max_fee_per_gas"}},
        {"TransactionException.RLP_INVALID_ACCESS_LIST_STORAGE_TOO_SHORT",
         {TxErrc::rlp, RlpError::wrong_size, "access_list.storage_keys"}},
        {"TransactionException.PRIORITY_GREATER_THAN_MAX_FEE_PER_GAS_2",
         {TxErrc::priority_fee_above_max_fee, {}, "max_priority_fee_per_gas"}},
        {"TransactionException.INVALID_CHAINID", {TxErrc::invalid_chain_id, {}, "v"}},
        {"TransactionException.TYPE_NOT_SUPPORTED", {TxErrc::unknown_type, {}, ""}},
    };
    return m;
}

// Newest first: a vector is judged by the latest fork it has a result for.
constexpr const char* kForks[] = {"Prague", "Cancun", "Shanghai", "Paris", "London", "Berlin"};

}  // namespace

TEST(tx_vectors, eip155_example) {
    const auto v = test::load_vector("eips/eip155_example.json");
    const auto& e = v["eip"];
    TxEnvelope tx;
    tx.type = TxType::legacy;
    tx.nonce = e["tx"]["nonce"].get<uint64_t>();
    tx.gas_price = decimal(e["tx"]["gasPrice"]);
    tx.gas_limit = e["tx"]["gasLimit"].get<uint64_t>();
    tx.to = *parse_address(e["tx"]["to"].get<std::string>());
    tx.value = decimal(e["tx"]["value"]);
    tx.data = hex(e["tx"]["data"].get<std::string>());
    tx.chain_id = e["tx"]["chainId"].get<uint64_t>();

    EXPECT_EQ(to_hex(signing_payload(tx)), e["signingData"].get<std::string>());
    EXPECT_EQ(to_hex(signing_hash(tx)), e["signingHash"].get<std::string>());

    // EIP-155: v = chain_id * 2 + 35 + y_parity.
    const uint64_t v_value = e["v"].get<uint64_t>();
    const Signature sig{decimal(e["r"]), decimal(e["s"]),
                        static_cast<uint8_t>(v_value - 35 - 2 * tx.chain_id)};
    const Bytes raw = hex(e["signedTx"].get<std::string>());
    EXPECT_EQ(to_hex(encode_signed(tx, sig)), to_hex(raw));

    auto decoded = decode_signed(raw);
    ASSERT_TRUE(decoded.has_value()) << decoded.error().to_string();
    EXPECT_EQ(decoded->tx, tx);
    EXPECT_EQ(decoded->sig, sig);

    const std::string sender = v["derived"]["sender"].get<std::string>();
    auto recovered = keys::recover_sender(*decoded);
    ASSERT_TRUE(recovered.has_value()) << recovered.error().detail;
    EXPECT_EQ(to_checksum(*recovered), sender);
    EXPECT_EQ(to_checksum(
                  *keys::recover_address(*parse_hash32(e["signingHash"].get<std::string>()), sig)),
              sender);
    expect_mutations_rejected(raw, *recovered, "eip155_example");
}

TEST(tx_vectors, transaction_tests_at_the_latest_fork) {
    const std::filesystem::path root =
        std::filesystem::path(VIGIL_VECTORS_DIR) / "ethereum-tests" / "TransactionTests";
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root))
        if (entry.path().extension() == ".json") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    ASSERT_GE(files.size(), 10u);

    std::size_t valid = 0, invalid = 0;
    for (const auto& path : files) {
        const auto file =
            test::load_vector(std::filesystem::relative(path, VIGIL_VECTORS_DIR).string());
        for (const auto& [name, t] : file.items()) {
            const Bytes raw = hex(t["txbytes"].get<std::string>());
            const auto& results = t["result"];
            const char* const* fork =
                std::find_if(std::begin(kForks), std::end(kForks),
                             [&](const char* f) { return results.contains(f); });
            ASSERT_NE(fork, std::end(kForks)) << name << ": no recent fork in its results";
            const auto& expected = results[*fork];
            SCOPED_TRACE(name + " at " + *fork);

            auto decoded = decode_signed(raw);
            if (expected.contains("exception")) {
                ++invalid;
                const std::string exception = expected["exception"].get<std::string>();
                ASSERT_TRUE(expected_rejections().contains(exception))
                    << "no expected rejection for " << exception;
                ASSERT_FALSE(decoded.has_value()) << "accepted; upstream says " << exception;
                EXPECT_EQ(decoded.error().to_string(),
                          expected_rejections().at(exception).to_string());
                continue;
            }
            ++valid;
            ASSERT_TRUE(decoded.has_value()) << decoded.error().to_string();
            EXPECT_EQ(to_hex(tx_hash(raw)), expected["hash"].get<std::string>());
            EXPECT_EQ(encode_signed(decoded->tx, decoded->sig), raw);
            auto sender = keys::recover_sender(*decoded);
            ASSERT_TRUE(sender.has_value()) << sender.error().detail;
            EXPECT_EQ(lower_hex(*sender), expected["sender"].get<std::string>());
            expect_mutations_rejected(raw, *sender, name);
        }
    }
    EXPECT_GE(valid, 4u);
    EXPECT_GE(invalid, 6u);
}

TEST(recover, address_from_public_key_of_the_generator) {
    // Private key 1: the public key is the generator G; its address is well known.
    const Bytes g =
        hex("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
            "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8");
    EXPECT_EQ(
        to_checksum(keys::address_from_public_key(std::span<const uint8_t, 64>(g.data(), 64))),
        "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf");
}

TEST(recover, names_what_went_wrong) {
    const Hash32 digest = keccak256(std::string_view("vigil"));
    const u256 s{"0x67cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83"};
    // No curve point has x = 5 (5^3 + 7 is not a square mod p).
    auto none = keys::recover_address(digest, Signature{5, s, 0});
    ASSERT_FALSE(none.has_value());
    EXPECT_EQ(none.error().kind, keys::KeyErrc::recovery_failed);

    const std::vector<std::pair<Signature, std::string>> bad = {
        {Signature{0, s, 0}, "invalid_r in r"},
        {Signature{kN, s, 0}, "invalid_r in r"},
        {Signature{5, 0, 0}, "invalid_s in s"},
        {Signature{5, kN - 1, 0}, "high_s in s"},
        {Signature{5, s, 2}, "invalid_y_parity in y_parity"},
    };
    for (const auto& [sig, detail] : bad) {
        auto r = keys::recover_address(digest, sig);
        ASSERT_FALSE(r.has_value()) << detail;
        EXPECT_EQ(r.error().kind, keys::KeyErrc::invalid_signature) << detail;
        EXPECT_EQ(r.error().detail, detail);
    }
}
