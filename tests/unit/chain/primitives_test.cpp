// Hex, Address (EIP-55), Hash32, u256 parsing and keccak-256 against published vectors.
#include <gtest/gtest.h>

#include "chain/bytes.hpp"
#include "chain/keccak.hpp"
#include "chain/u256.hpp"
#include "tests/support/vectors.hpp"

using namespace vigil;
using vigil::test::hex;

TEST(hex, round_trips_and_accepts_both_cases) {
    EXPECT_EQ(to_hex(*parse_hex("0xDeadBEEF")), "0xdeadbeef");
    EXPECT_EQ(parse_hex("0x")->size(), 0u);
    EXPECT_EQ(*parse_hex("abcd", HexPrefix::optional), (Bytes{0xab, 0xcd}));
}

TEST(hex, names_the_rule_it_breaks) {
    EXPECT_EQ(parse_hex("abcd").error(), (ParseError{ParseErrc::missing_prefix, 0}));
    EXPECT_EQ(parse_hex("0xabc").error(), (ParseError{ParseErrc::odd_length, 5}));
    EXPECT_EQ(parse_hex("0xabgd").error(), (ParseError{ParseErrc::bad_digit, 4}));
    EXPECT_EQ(parse_hex("0x abc").error(), (ParseError{ParseErrc::bad_digit, 2}));
    EXPECT_EQ(parse_hex("0xab").value_or(Bytes{}), (Bytes{0xab}));
    EXPECT_EQ(ParseError({ParseErrc::bad_digit, 4}).to_string(), "bad_digit at offset 4");
}

TEST(address, eip55_vectors_round_trip) {
    const auto vectors = test::load_vector("eips/eip55_checksum.json");
    ASSERT_EQ(vectors.size(), 8u);
    for (const auto& v : vectors) {
        const std::string text = v.get<std::string>();
        auto a = parse_address(text);
        ASSERT_TRUE(a.has_value()) << text;
        EXPECT_EQ(to_checksum(*a), text);
    }
}

TEST(address, rejects_wrong_checksum_and_length) {
    // One letter's case flipped in a spec vector.
    EXPECT_EQ(parse_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD").error(),
              (ParseError{ParseErrc::bad_checksum, 41}));
    // All-lower and all-upper carry no checksum and are accepted.
    EXPECT_TRUE(parse_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed").has_value());
    EXPECT_TRUE(parse_address("0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED").has_value());
    EXPECT_EQ(parse_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea").error().kind,
              ParseErrc::wrong_length);
    EXPECT_EQ(parse_address("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed").error().kind,
              ParseErrc::missing_prefix);
    EXPECT_EQ(parse_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg").error(),
              (ParseError{ParseErrc::bad_digit, 41}));
}

TEST(hash32, requires_exactly_32_bytes) {
    const std::string h = "0x" + std::string(64, 'a');
    EXPECT_EQ(to_hex(*parse_hash32(h)), h);
    EXPECT_EQ(parse_hash32("0x" + std::string(62, 'a')).error().kind, ParseErrc::wrong_length);
}

TEST(keccak, published_vectors) {
    const auto file = test::load_vector("keccak/keccak256.json");
    ASSERT_GE(file["vectors"].size(), 4u);
    for (const auto& v : file["vectors"]) {
        const Bytes input = hex(v["input_hex"].get<std::string>());
        EXPECT_EQ(to_hex(keccak256(input)), v["expected"].get<std::string>()) << v["name"];
    }
}

TEST(keccak, rate_block_boundaries_differ) {
    // 135, 136 and 137 bytes hit the padding edge cases; all must differ and be stable.
    const Bytes a(135, 0), b(136, 0), c(137, 0);
    EXPECT_NE(keccak256(a), keccak256(b));
    EXPECT_NE(keccak256(b), keccak256(c));
    EXPECT_EQ(keccak256(b), keccak256(Bytes(136, 0)));
}

TEST(u256, parses_decimal_and_hex_with_overflow_errors) {
    const std::string max_dec =
        "115792089237316195423570985008687907853269984665640564039457584007913129639935";
    EXPECT_EQ(*parse_u256(max_dec), ~u256(0));
    EXPECT_EQ(*parse_u256("0x" + std::string(64, 'f')), ~u256(0));
    EXPECT_EQ(*parse_u256("0"), u256(0));
    EXPECT_EQ(*parse_u256("0x1A"), u256(26));
    EXPECT_EQ(parse_u256(max_dec.substr(0, 77) + "6").error(),
              (ParseError{ParseErrc::overflow, 77}));
    EXPECT_EQ(parse_u256(max_dec + "0").error().kind, ParseErrc::overflow);
    EXPECT_EQ(parse_u256("0x1" + std::string(64, '0')).error().kind, ParseErrc::overflow);
    EXPECT_EQ(parse_u256("").error().kind, ParseErrc::empty);
    EXPECT_EQ(parse_u256("0x").error().kind, ParseErrc::empty);
    EXPECT_EQ(parse_u256("12a").error(), (ParseError{ParseErrc::bad_digit, 2}));
    EXPECT_EQ(parse_u256("-1").error(), (ParseError{ParseErrc::bad_digit, 0}));
    EXPECT_EQ(parse_u256(" 1").error().kind, ParseErrc::bad_digit);
}

TEST(i256, range_is_solidity_int256) {
    const u256 two255 = u256(1) << 255;
    EXPECT_EQ(*parse_i256("-" + to_string(two255)), -static_cast<i256>(two255));
    EXPECT_EQ(parse_i256(to_string(two255)).error().kind, ParseErrc::overflow);
    EXPECT_EQ(*parse_i256("-0x10"), i256(-16));
    EXPECT_EQ(to_twos_complement(i256(-1)), ~u256(0));
    EXPECT_EQ(from_twos_complement(~u256(0)), i256(-1));
    EXPECT_EQ(from_twos_complement(two255), -static_cast<i256>(two255));
    EXPECT_TRUE(fits_int(i256(127), 8));
    EXPECT_FALSE(fits_int(i256(128), 8));
    EXPECT_TRUE(fits_int(i256(-128), 8));
    EXPECT_FALSE(fits_int(i256(-129), 8));
}

TEST(u256, big_endian_load_store_round_trip) {
    std::array<uint8_t, 32> word{};
    for (int i = 0; i < 32; ++i) word[static_cast<std::size_t>(i)] = static_cast<uint8_t>(i + 1);
    const u256 v = load_be(word);
    u256 expected;
    boost::multiprecision::import_bits(expected, word.begin(), word.end(), 8, true);
    EXPECT_EQ(v, expected);
    std::array<uint8_t, 32> back{};
    store_be(v, back);
    EXPECT_EQ(back, word);
    store_be(u256(0x1234), back);
    EXPECT_EQ(to_hex(BytesView(back)), "0x" + std::string(60, '0') + "1234");
    EXPECT_EQ(to_be_trimmed(u256(0x1234)), (Bytes{0x12, 0x34}));
    EXPECT_TRUE(to_be_trimmed(u256(0)).empty());
    EXPECT_EQ(to_quantity(u256(0)), "0x0");
    EXPECT_EQ(to_quantity(u256(4096)), "0x1000");
}
