// RLP against the ethereum/tests vectors (RLPTests), plus one bad input per error kind,
// depth and size bombs, and the size/encoding boundaries of integers, strings and lists.
#include <gtest/gtest.h>

#include <boost/multiprecision/cpp_int.hpp>
#include <map>
#include <set>

#include "chain/rlp.hpp"
#include "tests/support/vectors.hpp"

using namespace vigil;
using vigil::test::hex;

namespace vigil {
// gtest prints the rule's name on failure instead of the enum's bytes.
void PrintTo(RlpError e, std::ostream* os) {
    *os << to_string(e);
}
}  // namespace vigil

namespace {

Bytes text_bytes(const std::string& s) {
    return Bytes(s.begin(), s.end());
}

// "#<decimal>" in rlptest.json is a big integer (up to 2^256, one more than u256 holds).
Bytes big_integer_bytes(const std::string& decimal) {
    const boost::multiprecision::cpp_int v(decimal);
    Bytes out;
    boost::multiprecision::export_bits(v, std::back_inserter(out), 8, true);
    return v == 0 ? Bytes{} : out;
}

// Encodes a vector's `in` from its JSON shape, with the encoder under test as building
// blocks: strings, integers, big integers and nested lists.
void encode_json(Bytes& out, const nlohmann::json& in) {
    if (in.is_array()) {
        Bytes payload;
        for (const auto& item : in) encode_json(payload, item);
        rlp::append_list_header(out, payload.size());
        out.insert(out.end(), payload.begin(), payload.end());
    } else if (in.is_number_unsigned()) {
        rlp::append_uint(out, in.get<uint64_t>());
    } else {
        const std::string s = in.get<std::string>();
        rlp::append_string(out,
                           s.starts_with('#') ? big_integer_bytes(s.substr(1)) : text_bytes(s));
    }
}

// Checks that a decoded item has the JSON shape and values of a vector's `in`.
void expect_matches(const rlp::Item& item, const nlohmann::json& in, const std::string& where) {
    if (in.is_array()) {
        auto items = rlp::as_list(item);
        ASSERT_TRUE(items.has_value()) << where;
        ASSERT_EQ(items->count().value_or(0), in.size()) << where;
        for (std::size_t i = 0; i < in.size(); ++i)
            expect_matches(*items->next(), in[i], where + "[" + std::to_string(i) + "]");
    } else if (in.is_number_unsigned()) {
        EXPECT_EQ(rlp::as_u64(item).value_or(~0ull), in.get<uint64_t>()) << where;
    } else {
        const std::string s = in.get<std::string>();
        const Bytes expected = s.starts_with('#') ? big_integer_bytes(s.substr(1)) : text_bytes(s);
        auto b = rlp::as_bytes(item);
        ASSERT_TRUE(b.has_value()) << where;
        EXPECT_EQ(Bytes(b->begin(), b->end()), expected) << where;
    }
}

Bytes reencode(BytesView encoded) {
    Bytes out;
    rlp::append_item(out, *rlp::decode_one(encoded));
    return out;
}

// `levels` lists nested in each other around an empty list, built outside-in in O(n).
Bytes nested_lists(std::size_t levels) {
    std::vector<std::size_t> payload_sizes(levels);  // [0] is the outermost
    std::size_t inner = 1;                           // the innermost 0xc0
    for (std::size_t i = levels; i-- > 0;) {
        payload_sizes[i] = inner;
        inner = rlp::list_size(inner);
    }
    Bytes out;
    out.reserve(inner);
    for (std::size_t size : payload_sizes) rlp::append_list_header(out, size);
    out.push_back(0xc0);
    return out;
}

}  // namespace

TEST(rlp_vectors, rlptest_encodes_decodes_and_round_trips) {
    const auto cases = test::load_vector("ethereum-tests/RLPTests/rlptest.json");
    ASSERT_EQ(cases.size(), 28u);
    for (const auto& [name, c] : cases.items()) {
        const Bytes expected = hex(c["out"].get<std::string>());
        Bytes encoded;
        encode_json(encoded, c["in"]);
        EXPECT_EQ(to_hex(encoded), to_hex(expected)) << name;

        auto item = rlp::decode_one(expected);
        ASSERT_TRUE(item.has_value()) << name << ": " << to_string(item.error());
        expect_matches(*item, c["in"], name);
        EXPECT_EQ(reencode(expected), expected) << name;
    }
}

TEST(rlp_vectors, invalid_rlp_is_rejected_naming_the_rule) {
    // The rule each upstream case breaks, as this decoder names it.
    const std::map<std::string, RlpError> expected_errors = {
        {"int32Overflow", RlpError::input_too_short},
        {"int32Overflow2", RlpError::input_too_short},
        {"wrongSizeList", RlpError::non_optimal_size},
        {"wrongSizeList2", RlpError::non_optimal_size},
        // 0xb90021: a two-byte size 0x0021; its zero byte is the first rule broken.
        {"incorrectLengthInArray", RlpError::leading_zero_size},
        {"randomRLP", RlpError::leading_zero_size},
        {"bytesShouldBeSingleByte00", RlpError::non_canonical_size},
        {"bytesShouldBeSingleByte01", RlpError::non_canonical_size},
        {"bytesShouldBeSingleByte7F", RlpError::non_canonical_size},
        {"leadingZerosInLongLengthArray1", RlpError::leading_zero_size},
        {"leadingZerosInLongLengthArray2", RlpError::leading_zero_size},
        {"leadingZerosInLongLengthList1", RlpError::leading_zero_size},
        {"leadingZerosInLongLengthList2", RlpError::leading_zero_size},
        {"nonOptimalLongLengthArray1", RlpError::non_optimal_size},
        {"nonOptimalLongLengthArray2", RlpError::non_optimal_size},
        {"nonOptimalLongLengthList1", RlpError::non_optimal_size},
        {"nonOptimalLongLengthList2", RlpError::non_optimal_size},
        {"emptyEncoding", RlpError::input_too_short},
        {"lessThanShortLengthArray1", RlpError::input_too_short},
        {"lessThanShortLengthArray2", RlpError::input_too_short},
        {"lessThanShortLengthList1", RlpError::input_too_short},
        {"lessThanShortLengthList2", RlpError::input_too_short},
        {"lessThanLongLengthArray1", RlpError::input_too_short},
        {"lessThanLongLengthArray2", RlpError::input_too_short},
        {"lessThanLongLengthList1", RlpError::input_too_short},
        {"lessThanLongLengthList2", RlpError::input_too_short},
    };
    const auto cases = test::load_vector("ethereum-tests/RLPTests/invalidRLPTest.json");
    ASSERT_EQ(cases.size(), expected_errors.size());
    for (const auto& [name, c] : cases.items()) {
        ASSERT_EQ(c["in"], "INVALID") << name;
        ASSERT_TRUE(expected_errors.contains(name)) << "no expected error for " << name;
        auto item = rlp::decode_one(hex(c["out"].get<std::string>()));
        ASSERT_FALSE(item.has_value()) << name << " was accepted";
        EXPECT_EQ(to_string(item.error()), to_string(expected_errors.at(name))) << name;
    }
}

TEST(rlp_vectors, random_rlp_example_round_trips) {
    const auto cases = test::load_vector("ethereum-tests/RLPTests/RandomRLPTests/example.json");
    ASSERT_FALSE(cases.empty());
    for (const auto& [name, c] : cases.items()) {
        ASSERT_EQ(c["in"], "VALID") << name;
        const Bytes encoded = hex(c["out"].get<std::string>());
        ASSERT_TRUE(rlp::decode_one(encoded).has_value()) << name;
        EXPECT_EQ(reencode(encoded), encoded) << name;
    }
}

TEST(rlp_decode, names_the_rule_it_breaks) {
    struct Case {
        const char* name;
        Bytes input;
        Result<void, RlpError> (*read)(BytesView);  // how the input is read
        RlpError expected;
    };
    const auto item = [](BytesView in) -> Result<void, RlpError> {
        return rlp::decode_one(in).transform([](const rlp::Item&) {});
    };
    const auto u64 = [](BytesView in) -> Result<void, RlpError> {
        return rlp::decode_one(in).and_then(rlp::as_u64).transform([](uint64_t) {});
    };
    const auto list = [](BytesView in) -> Result<void, RlpError> {
        return rlp::decode_one(in).and_then(rlp::as_list).transform([](const rlp::Reader&) {});
    };
    const auto address = [](BytesView in) -> Result<void, RlpError> {
        return rlp::decode_one(in).and_then(rlp::as_address).transform([](const Address&) {});
    };
    Bytes long_size_with_zero = hex("b90038");
    long_size_with_zero.resize(3 + 56, 'a');
    Bytes short_address = hex("93");
    short_address.resize(1 + 19, 0x11);

    const std::vector<Case> cases = {
        {"string cut short", hex("836162"), item, RlpError::input_too_short},
        {"byte after the item", hex("8000"), item, RlpError::trailing_bytes},
        {"single byte in a 0x81 header", hex("8105"), item, RlpError::non_canonical_size},
        {"long form for one byte", hex("b801ff"), item, RlpError::non_optimal_size},
        {"size 56 written 0x0038", long_size_with_zero, item, RlpError::leading_zero_size},
        {"integer 4 written 0x0004", hex("820004"), u64, RlpError::leading_zero},
        {"nine-byte u64", hex("89010000000000000000"), u64, RlpError::overflow},
        {"item longer than its list", hex("c28261"), item, RlpError::item_overruns_list},
        {"list read as integer", hex("c0"), u64, RlpError::unexpected_list},
        {"string read as list", hex("80"), list, RlpError::unexpected_string},
        {"19-byte address", short_address, address, RlpError::wrong_size},
        {"65 nested lists", nested_lists(rlp::kMaxDepth + 1), item, RlpError::too_deep},
    };
    std::set<RlpError> covered;
    for (const Case& c : cases) {
        auto r = c.read(c.input);
        ASSERT_FALSE(r.has_value()) << c.name << " was accepted";
        EXPECT_EQ(to_string(r.error()), to_string(c.expected)) << c.name;
        EXPECT_TRUE(covered.insert(c.expected).second) << "two cases for " << to_string(c.expected);
    }
    // Every enumerator has its case and its own name.
    std::set<std::string_view> names;
    for (int e = 0; e <= static_cast<int>(RlpError::too_deep); ++e) {
        EXPECT_TRUE(covered.contains(RlpError(e))) << "no case for RlpError " << e;
        EXPECT_NE(to_string(RlpError(e)), "unknown");
        names.insert(to_string(RlpError(e)));
    }
    EXPECT_EQ(names.size(), covered.size());
}

TEST(rlp_decode, depth_limit_is_exact_and_bombs_fail_fast) {
    EXPECT_TRUE(rlp::decode_one(nested_lists(rlp::kMaxDepth - 1)).has_value());  // 64 deep
    EXPECT_EQ(rlp::decode_one(nested_lists(rlp::kMaxDepth)).error(), RlpError::too_deep);
    // 200,000 levels: refused at level 65, not by running out of stack.
    EXPECT_EQ(rlp::decode_one(nested_lists(200000)).error(), RlpError::too_deep);
    // A bomb hidden behind a valid sibling is found too.
    Bytes sibling = hex("80");
    const Bytes deep = nested_lists(rlp::kMaxDepth);
    Bytes payload = sibling;
    payload.insert(payload.end(), deep.begin(), deep.end());
    Bytes outer;
    rlp::append_list_header(outer, payload.size());
    outer.insert(outer.end(), payload.begin(), payload.end());
    EXPECT_EQ(rlp::decode_one(outer).error(), RlpError::too_deep);
}

TEST(rlp_decode, huge_sizes_are_compared_with_the_input_not_allocated) {
    // 2^64 - 1 byte string and list with nothing behind them.
    EXPECT_EQ(rlp::decode_one(hex("bfffffffffffffffff")).error(), RlpError::input_too_short);
    EXPECT_EQ(rlp::decode_one(hex("ffffffffffffffffff")).error(), RlpError::input_too_short);
    // The same claims inside a list overrun the list.
    EXPECT_EQ(rlp::decode_one(hex("c9bfffffffffffffffff")).error(), RlpError::item_overruns_list);
    EXPECT_EQ(rlp::decode_one(hex("c9ffffffffffffffffff")).error(), RlpError::item_overruns_list);
    // A size field cut short.
    EXPECT_EQ(rlp::decode_one(hex("b90100")).error(), RlpError::input_too_short);
    EXPECT_EQ(rlp::decode_one(hex("c2b901")).error(), RlpError::item_overruns_list);
}

TEST(rlp_decode, integers_at_their_width_limits) {
    const auto u64 = [](const char* h) { return rlp::decode_one(hex(h)).and_then(rlp::as_u64); };
    const auto u256_of = [](const Bytes& b) { return rlp::decode_one(b).and_then(rlp::as_u256); };
    EXPECT_EQ(*u64("80"), 0u);
    EXPECT_EQ(*u64("7f"), 127u);
    EXPECT_EQ(*u64("8180"), 128u);
    EXPECT_EQ(*u64("88ffffffffffffffff"), ~0ull);
    EXPECT_EQ(u64("00").error(), RlpError::leading_zero);  // zero is 0x80, never 0x00
    EXPECT_EQ(u64("8200ff").error(), RlpError::leading_zero);

    Bytes max256 = hex("a0");
    max256.resize(33, 0xff);
    EXPECT_EQ(*u256_of(max256), ~u256(0));
    Bytes too_wide = hex("a1");
    too_wide.resize(34, 0xff);
    EXPECT_EQ(u256_of(too_wide).error(), RlpError::overflow);
    EXPECT_EQ(*u256_of(hex("8401020304")), u256(0x01020304));
}

TEST(rlp_decode, reader_walks_items_and_stays_put_on_failure) {
    const Bytes in = hex("c783616263c20102");  // ["abc", [1, 2]]
    auto top = rlp::decode_one(in);
    ASSERT_TRUE(top.has_value());
    auto items = rlp::as_list(*top);
    ASSERT_TRUE(items.has_value());
    EXPECT_EQ(*items->count(), 2u);
    EXPECT_EQ(to_hex(*items->next().and_then(rlp::as_bytes)), "0x616263");
    auto inner = items->next().and_then(rlp::as_list);
    ASSERT_TRUE(inner.has_value());
    EXPECT_EQ(*inner->next().and_then(rlp::as_u64), 1u);
    EXPECT_EQ(*inner->next().and_then(rlp::as_u64), 2u);
    EXPECT_TRUE(items->empty());
    EXPECT_EQ(items->next().error(), RlpError::input_too_short);

    // A reader over bad bytes fails without moving.
    const Bytes bad_bytes = hex("8105");
    rlp::Reader bad(bad_bytes);
    EXPECT_EQ(bad.next().error(), RlpError::non_canonical_size);
    EXPECT_FALSE(bad.empty());
    EXPECT_EQ(bad.count().error(), RlpError::non_canonical_size);
}

TEST(rlp_encode, size_boundaries) {
    const auto enc_string = [](std::size_t n, uint8_t fill) {
        Bytes out;
        rlp::append_string(out, Bytes(n, fill));
        return out;
    };
    EXPECT_EQ(to_hex(enc_string(0, 0)), "0x80");
    EXPECT_EQ(to_hex(enc_string(1, 0x00)), "0x00");
    EXPECT_EQ(to_hex(enc_string(1, 0x7f)), "0x7f");
    EXPECT_EQ(to_hex(enc_string(1, 0x80)), "0x8180");
    EXPECT_EQ(enc_string(55, 1)[0], 0xb7);
    EXPECT_EQ(BytesView(enc_string(56, 1)).first(2)[1], 56);
    EXPECT_EQ(enc_string(56, 1)[0], 0xb8);
    EXPECT_EQ(to_hex(BytesView(enc_string(256, 1)).first(3)), "0xb90100");
    for (std::size_t n : {0, 1, 55, 56, 255, 256, 65536}) {
        EXPECT_EQ(enc_string(n, 0xaa).size(), rlp::string_size(Bytes(n, 0xaa))) << n;
        EXPECT_EQ(rlp::header_size(n) + n, rlp::list_size(n)) << n;
    }
    EXPECT_EQ(rlp::header_size(55), 1u);
    EXPECT_EQ(rlp::header_size(56), 2u);
    EXPECT_EQ(rlp::header_size(std::size_t{1} << 32), 6u);

    Bytes list;
    rlp::append_list_header(list, 55);
    rlp::append_list_header(list, 56);
    rlp::append_list_header(list, 1024);
    EXPECT_EQ(to_hex(list), "0xf7f838f90400");

    const auto enc_uint = [](const auto& v) {
        Bytes out;
        rlp::append_uint(out, v);
        EXPECT_EQ(out.size(), rlp::uint_size(v));
        return to_hex(out);
    };
    EXPECT_EQ(enc_uint(uint64_t{0}), "0x80");
    EXPECT_EQ(enc_uint(uint64_t{0x7f}), "0x7f");
    EXPECT_EQ(enc_uint(uint64_t{0x80}), "0x8180");
    EXPECT_EQ(enc_uint(uint64_t{0x0400}), "0x820400");
    EXPECT_EQ(enc_uint(~uint64_t{0}), "0x88ffffffffffffffff");
    EXPECT_EQ(enc_uint(u256(0)), "0x80");
    EXPECT_EQ(enc_uint(u256(0x7f)), "0x7f");
    EXPECT_EQ(enc_uint(u256(1) << 64), "0x89010000000000000000");
    EXPECT_EQ(enc_uint(~u256(0)), "0xa0" + std::string(64, 'f'));
}
