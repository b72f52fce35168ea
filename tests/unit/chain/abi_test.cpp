// Solidity ABI: the spec's published examples, round trips, events, revert data, and
// one exact AbiError for every kind of bad input.
#include <gtest/gtest.h>

#include "chain/abi.hpp"
#include "chain/keccak.hpp"
#include "tests/support/vectors.hpp"

namespace vigil::abi {
// Readable failures in gtest messages.
void PrintTo(const AbiFailure& f, std::ostream* os) {
    *os << f.to_string();
}
}  // namespace vigil::abi

using namespace vigil;
using namespace vigil::abi;
using vigil::test::hex;

namespace {

Function fn(std::string_view sig) {
    auto f = parse_function(sig);
    if (!f) throw std::runtime_error(std::string(sig) + ": " + f.error().to_string());
    return *f;
}

// 32-byte big-endian word of `v`, as hex without prefix.
std::string w(const u256& v) {
    std::array<uint8_t, 32> b{};
    store_be(v, b);
    std::string s;
    append_hex(s, b);
    return s;
}

std::vector<AbiValue> parse_args(const Function& f, const std::vector<std::string>& texts) {
    std::vector<AbiValue> out;
    for (std::size_t i = 0; i < texts.size(); ++i) {
        auto v = parse_value(f.inputs.components[i], texts[i]);
        if (!v) throw std::runtime_error(texts[i] + ": " + v.error().to_string());
        out.push_back(*v);
    }
    return out;
}

AbiFailure decode_failure(std::string_view outputs, const std::string& data_hex) {
    const Function f = fn("f()" + std::string(outputs));
    auto r = decode_params(f.outputs, hex(data_hex));
    EXPECT_FALSE(r.has_value()) << outputs << " " << data_hex;
    return r ? AbiFailure{AbiError::value_mismatch, 999} : r.error();
}

const u256 k2pow255 = u256(1) << 255;

}  // namespace

// ---- published vectors ------------------------------------------------------------

TEST(abi_spec, examples_give_the_published_selector_and_calldata) {
    const auto file = test::load_vector("solidity/abi_spec_examples.json");
    ASSERT_EQ(file["vectors"].size(), 5u);
    for (const auto& v : file["vectors"]) {
        const std::string name = v["name"];
        const Function f = fn(v["signature"].get<std::string>());
        EXPECT_EQ(to_hex(BytesView(f.selector)), v["selector"].get<std::string>()) << name;
        const auto args = parse_args(f, v["args_cast"].get<std::vector<std::string>>());
        auto calldata = encode_call(f, args);
        ASSERT_TRUE(calldata.has_value()) << name << ": " << calldata.error().to_string();
        EXPECT_EQ(to_hex(*calldata), v["expected"].get<std::string>()) << name;
        // And back: the published calldata decodes to the same values.
        auto decoded = decode_call(f, hex(v["expected"].get<std::string>()));
        ASSERT_TRUE(decoded.has_value()) << name << ": " << decoded.error().to_string();
        EXPECT_EQ(*decoded, args) << name;
        if (v.contains("returns")) {
            const Function with_out = fn(v["signature"].get<std::string>() + "(" +
                                         v["returns"]["type"].get<std::string>() + ")");
            auto r =
                decode_params(with_out.outputs, hex(v["returns"]["encoded"].get<std::string>()));
            ASSERT_TRUE(r.has_value());
            EXPECT_EQ(format_value((*r)[0]), v["returns"]["value"].get<std::string>());
        }
    }
}

TEST(abi_selector, well_known_functions_and_events) {
    // ERC-20 and Aave v3 selectors/topics as published in their verified ABIs.
    EXPECT_EQ(to_hex(BytesView(fn("transfer(address,uint256)").selector)), "0xa9059cbb");
    EXPECT_EQ(to_hex(BytesView(fn("balanceOf(address)").selector)), "0x70a08231");
    EXPECT_EQ(
        to_hex(BytesView(fn("liquidationCall(address,address,address,uint256,bool)").selector)),
        "0x00a718a9");
    auto transfer =
        parse_event("event Transfer(address indexed from, address indexed to, uint256 value)");
    ASSERT_TRUE(transfer.has_value());
    EXPECT_EQ(to_hex(transfer->topic0),
              "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");
}

// ---- signatures and types ----------------------------------------------------------

TEST(abi_signature, accepts_the_human_readable_forms) {
    const std::string canonical = "f(uint256,bool)";
    for (const char* text :
         {"f(uint256,bool)", "f(uint,bool)", "function f(uint256 x, bool y) returns (bool)",
          "function f(uint256 x, bool y) external view returns (bool ok)", "f(uint256,bool)(bool)",
          "f (uint256 memory x , bool)", "f(uint256,bool,)", "  f(uint256,bool)  "}) {
        auto f = parse_function(text);
        ASSERT_TRUE(f.has_value()) << text << ": " << f.error().to_string();
        EXPECT_EQ(f->signature(), canonical) << text;
    }
    const Function out = fn("balanceOf(address)(uint256)");
    EXPECT_TRUE(out.has_outputs);
    EXPECT_EQ(to_string(out.outputs), "(uint256)");
    const Function named = fn("function f(uint256 amount) returns (bool ok)");
    EXPECT_EQ(named.input_names, std::vector<std::string>{"amount"});
    EXPECT_EQ(named.output_names, std::vector<std::string>{"ok"});
    // A function may be called like a keyword.
    EXPECT_EQ(fn("event(uint256)").signature(), "event(uint256)");
}

TEST(abi_signature, canonical_types_of_nested_tuples_and_arrays) {
    const Function f =
        fn("liquidate(((address,address,address,address,uint256),address,uint256,uint256,bytes))");
    EXPECT_EQ(
        f.signature(),
        "liquidate(((address,address,address,address,uint256),address,uint256,uint256,bytes))");
    EXPECT_TRUE(f.inputs.components[0].dynamic);
    auto t = parse_type("tuple(uint, bytes3[2], (int8,string)[])[][4]");
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(to_string(*t), "(uint256,bytes3[2],(int8,string)[])[][4]");
    EXPECT_EQ(to_string(*parse_type("(address user, uint256 amount)")), "(address,uint256)");
    EXPECT_EQ(parse_type("(uint256,bytes32)[3]")->head_size, 192u);
    EXPECT_FALSE(parse_type("(uint256,bytes32)[3]")->dynamic);
}

TEST(abi_event, parses_indexed_and_anonymous) {
    auto e = parse_event(
        "event Borrow(address indexed reserve, address user, address indexed onBehalfOf, uint256 "
        "amount, "
        "uint8 interestRateMode, uint256 borrowRate, uint16 indexed referralCode)");
    ASSERT_TRUE(e.has_value()) << e.error().to_string();
    EXPECT_EQ(e->signature(), "Borrow(address,address,address,uint256,uint8,uint256,uint16)");
    // Aave v3 Pool's Borrow topic, as indexed by block explorers.
    EXPECT_EQ(to_hex(e->topic0),
              "0xb3d084820fb1a9decffb176436bd02558d15fac9b0ddfed8c465bc7359d7dce0");
    EXPECT_EQ(e->indexed, (std::vector<bool>{true, false, true, false, false, false, true}));
    EXPECT_EQ(e->names[1], "user");
    EXPECT_TRUE(
        parse_event(
            "event A(uint indexed a, uint indexed b, uint indexed c, uint indexed d) anonymous")
            ->anonymous);
}

// ---- round trips ------------------------------------------------------------------

TEST(abi_codec, round_trips_every_kind) {
    const Function f =
        fn("f(uint8,uint256,int8,int256,address,bool,bytes1,bytes32,bytes,string,uint16[],int24[3],"
           "(bool,string[],(address,bytes)[2])[],string[2][])");
    const std::vector<std::string> texts = {
        "255",
        "115792089237316195423570985008687907853269984665640564039457584007913129639935",
        "-128",
        "-57896044618658097711785492504343953926634992332820282019728792003956564819968",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "true",
        "0xff",
        "0x" + std::string(64, 'a'),
        "0x",
        "hello, \"world\"",
        "[1,2,65535]",
        "[-8388608,0,8388607]",
        "[(true,[a,\"b,c\",''],[(0x0000000000000000000000000000000000000001,0x01),"
        "(0xdAC17F958D2ee523a2206206994597C13D831ec7,0x)]),(false,[],[("
        "0x0000000000000000000000000000000000000000,"
        "0x0102030405060708091011121314151617181920212223242526272829303132333435),"
        "(0x0000000000000000000000000000000000000002,0xfe)])]",
        "[[x,y],[\"\",z]]",
    };
    const auto args = parse_args(f, texts);
    auto calldata = encode_call(f, args);
    ASSERT_TRUE(calldata.has_value()) << calldata.error().to_string();
    auto back = decode_call(f, *calldata);
    ASSERT_TRUE(back.has_value()) << back.error().to_string();
    EXPECT_EQ(*back, args);
    // Appending to a buffer gives the same bytes after what was there.
    Bytes out = {0xaa};
    ASSERT_TRUE(encode_params(f.inputs, args, out).has_value());
    EXPECT_EQ(Bytes(out.begin() + 1, out.end()), Bytes(calldata->begin() + 4, calldata->end()));
}

TEST(abi_codec, encodes_the_liquidation_call_word_by_word) {
    const Function f = fn("liquidationCall(address,address,address,uint256,bool)");
    const auto args =
        parse_args(f, {"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
                       "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
                       "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "1 ether", "false"});
    const auto calldata = encode_call(f, args);
    ASSERT_TRUE(calldata.has_value());
    EXPECT_EQ(to_hex(*calldata),
              "0x00a718a9"
              "0000000000000000000000005aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
              "000000000000000000000000fb6916095ca1df60bb79ce92ce3ea74c37c5d359"
              "000000000000000000000000dbf03b407c01e7cd3cbea99509d93f8dddc8c6fb" +
                  w(u256(1000000000000000000ull)) + w(0));
}

// ---- text forms -------------------------------------------------------------------

TEST(abi_text, numbers_take_cast_units_and_bases) {
    const auto u = [](std::string_view text) {
        return std::get<u256>(parse_value(make_uint(256), text)->v);
    };
    EXPECT_EQ(u("1 ether"), u256(1000000000000000000ull));
    EXPECT_EQ(u("1.5gwei"), u256(1500000000));
    EXPECT_EQ(u("1e3"), u256(1000));
    EXPECT_EQ(u("1e-3 ether"), u256(1000000000000000ull));
    EXPECT_EQ(u("0x1F"), u256(31));
    EXPECT_EQ(u("0X1f"), u256(31));
    EXPECT_EQ(u("0b101"), u256(5));
    EXPECT_EQ(u("0o17"), u256(15));
    EXPECT_EQ(u("007"), u256(7));
    EXPECT_EQ(u("1 "), u256(1));
    EXPECT_EQ(std::get<i256>(parse_value(make_int(256), "-0x10")->v), i256(-16));
    EXPECT_EQ(std::get<i256>(parse_value(make_int(8), "+5")->v), i256(5));
}

TEST(abi_text, strings_lists_and_white_space_like_cast) {
    const auto s = [](std::string_view text) {
        return std::get<std::string>(parse_value(make_string(), text)->v);
    };
    EXPECT_EQ(s(" hello "), " hello");
    EXPECT_EQ(s("'it'"), "it");
    EXPECT_EQ(s("\"a,b\""), "a,b");
    EXPECT_EQ(s(""), "");
    auto list = parse_value(make_array(make_string()), "[\"a,b\", c , d,]");
    ASSERT_TRUE(list.has_value());
    EXPECT_EQ(list->v,
              AbiValue(AbiArray{{std::string("a,b"), std::string("c"), std::string("d")}}).v);
    EXPECT_TRUE(parse_value(make_array(make_bool()), "[ true,false ]").has_value());
    EXPECT_EQ(std::get<AbiArray>(parse_value(make_array(make_uint(8)), "[ ]")->v).items.size(), 0u);
    EXPECT_TRUE(parse_value(*parse_type("(uint256,string)"), " (1, hello world )").has_value());
    // No space before a ',' after a bool, as in cast.
    EXPECT_EQ(parse_value(make_array(make_bool()), "[true , false]").error(),
              (AbiFailure{AbiError::unclosed_list, 6}));
}

TEST(abi_text, formats_values_like_cast) {
    // Outputs of `cast abi-decode` (foundry 1.7.1) for these values.
    EXPECT_EQ(format_value(u256(1234)), "1234");
    EXPECT_EQ(format_value(u256(9999)), "9999");
    EXPECT_EQ(format_value(u256(10000)), "10000 [1e4]");
    EXPECT_EQ(format_value(u256(1000000000000000000ull)), "1000000000000000000 [1e18]");
    EXPECT_EQ(format_value(u256(12345678901234ull)), "12345678901234 [1.234e13]");
    EXPECT_EQ(format_value(i256(-12345678)), "-12345678 [-1.234e7]");
    EXPECT_EQ(format_value(i256(-32768)), "-32768 [-3.276e4]");
    EXPECT_EQ(format_value(i256(-5)), "-5");
    EXPECT_EQ(format_value(*parse_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")),
              "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");
    EXPECT_EQ(format_value(std::string("tab\tq\"b\\ 'x' \x01\x7f")),
              R"("tab\tq\"b\\ 'x' \u{1}\u{7f}")");
    EXPECT_EQ(format_value(std::string("\xc3\xa9 \xe6\x97\xa5 \xcc\x81x \xe2\x80\x8b")),
              "\"\xc3\xa9 \xe6\x97\xa5 \\u{301}x \\u{200b}\"");
    EXPECT_EQ(format_value(std::string("\xff"
                                       "A\xe2\x82")),
              "\"\xef\xbf\xbd"
              "A\xef\xbf\xbd\"");
    EXPECT_EQ(format_value(AbiTuple{{u256(1), true}}), "(1, true)");
    EXPECT_EQ(format_value(AbiArray{{AbiArray{{u256(1), u256(2)}}, AbiArray{}}}), "[[1, 2], []]");
}

// ---- events -----------------------------------------------------------------------

TEST(abi_log, decodes_topics_and_data) {
    const Event e =
        *parse_event("event Transfer(address indexed from, address indexed to, uint256 value)");
    const Address from = *parse_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed");
    const Address to = *parse_address("0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359");
    const auto topic = [](const Address& a) {
        Hash32 h;
        std::copy(a.bytes.begin(), a.bytes.end(), h.bytes.begin() + 12);
        return h;
    };
    const std::vector<Hash32> topics = {e.topic0, topic(from), topic(to)};
    auto values = decode_log(e, topics, hex(w(u256(1000))));
    ASSERT_TRUE(values.has_value()) << values.error().to_string();
    EXPECT_EQ(*values, (std::vector<AbiValue>{from, to, u256(1000)}));

    EXPECT_EQ(decode_log(e, std::span(topics).first(2), hex(w(1))).error(),
              (AbiFailure{AbiError::topic_count, 2}));
    auto wrong = topics;
    wrong[0].bytes[0] ^= 1;
    EXPECT_EQ(decode_log(e, wrong, hex(w(1))).error(), (AbiFailure{AbiError::topic_mismatch, 0}));
    auto dirty = topics;
    dirty[2].bytes[0] = 1;
    EXPECT_EQ(decode_log(e, dirty, hex(w(1))).error(), (AbiFailure{AbiError::dirty_bits, 2}));
    EXPECT_EQ(decode_log(e, topics, hex("00")).error(), (AbiFailure{AbiError::truncated, 0}));
}

TEST(abi_log, indexed_dynamic_values_give_their_hash) {
    const Event e =
        *parse_event("event Named(string indexed name, uint256[] indexed ids, bytes note)");
    const Hash32 name_hash = keccak256(std::string_view("alice"));
    const Hash32 ids_hash = keccak256(hex(w(1) + w(2)));
    const auto data =
        encode_params(make_tuple({make_bytes()}), std::vector<AbiValue>{Bytes{0xbe, 0xef}});
    ASSERT_TRUE(data.has_value());
    auto values = decode_log(e, std::vector<Hash32>{e.topic0, name_hash, ids_hash}, *data);
    ASSERT_TRUE(values.has_value()) << values.error().to_string();
    ASSERT_EQ(values->size(), 3u);
    EXPECT_EQ(std::get<BytesN>((*values)[0].v).view().size(), 32u);
    EXPECT_EQ(Hash32(std::get<BytesN>((*values)[0].v).bytes), name_hash);
    EXPECT_EQ(Hash32(std::get<BytesN>((*values)[1].v).bytes), ids_hash);
    EXPECT_EQ((*values)[2], AbiValue(Bytes{0xbe, 0xef}));
}

// ---- revert data ------------------------------------------------------------------

TEST(abi_revert, error_string_from_the_solidity_docs) {
    // The example revert data of Solidity's "revert" documentation.
    const auto data =
        hex("0x08c379a0"
            "0000000000000000000000000000000000000000000000000000000000000020"
            "000000000000000000000000000000000000000000000000000000000000001a"
            "4e6f7420656e6f7567682045746865722070726f76696465642e000000000000");
    auto r = decode_revert(data);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->kind, RevertKind::error_string);
    EXPECT_EQ(r->message, "Not enough Ether provided.");
    EXPECT_EQ(to_string(*r), "Error(\"Not enough Ether provided.\")");
}

TEST(abi_revert, panic_codes_carry_their_meaning) {
    const std::vector<std::pair<unsigned, std::string_view>> codes = {
        {0x01, "assertion failed"},
        {0x11, "arithmetic overflow or underflow"},
        {0x12, "division or modulo by zero"},
        {0x21, "conversion to an invalid enum value"},
        {0x22, "access to an incorrectly encoded storage byte array"},
        {0x31, "pop() on an empty array"},
        {0x32, "array index out of bounds"},
        {0x41, "out of memory (too much allocated or array too large)"},
        {0x51, "call to a zero-initialized internal function"},
        {0x99, "unknown panic code"}};
    for (const auto& [code, meaning] : codes) {
        auto r = decode_revert(hex("4e487b71" + w(code)));
        ASSERT_TRUE(r.has_value());
        EXPECT_EQ(r->kind, RevertKind::panic);
        EXPECT_EQ(r->panic_code, code);
        EXPECT_EQ(panic_meaning(r->panic_code), meaning);
    }
    EXPECT_EQ(to_string(*decode_revert(hex("4e487b71" + w(0x11)))),
              "Panic(0x11: arithmetic overflow or underflow)");
}

TEST(abi_revert, custom_unknown_and_empty) {
    const std::vector<Function> errors = {
        *parse_error("error Unauthorized()"),
        *parse_error("error InsufficientBalance(uint256 available, uint256 required)")};
    EXPECT_EQ(to_hex(BytesView(errors[1].selector)), "0xcf479181");
    auto r = decode_revert(hex("cf479181" + w(1) + w(20000)), errors);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->kind, RevertKind::custom);
    EXPECT_EQ(r->error, &errors[1]);
    EXPECT_EQ(to_string(*r), "InsufficientBalance(1, 20000 [2e4])");

    auto unknown = decode_revert(hex("deadbeef" + w(1)), errors);
    ASSERT_TRUE(unknown.has_value());
    EXPECT_EQ(unknown->kind, RevertKind::unknown);
    EXPECT_EQ(to_string(*unknown), "unknown error selector 0xdeadbeef");
    EXPECT_EQ(decode_revert({})->kind, RevertKind::empty);
    EXPECT_EQ(decode_revert(hex("08c379")).error(), (AbiFailure{AbiError::truncated, 0}));
    // A malformed Error(string): offsets count from the start of the revert data.
    EXPECT_EQ(decode_revert(hex("08c379a0" + w(0x20) + w(k2pow255))).error(),
              (AbiFailure{AbiError::length_out_of_range, 36}));
}

// ---- bad input: one exact error each ----------------------------------------------

TEST(abi_signature, names_the_rule_it_breaks) {
    const std::vector<std::pair<std::string, AbiFailure>> cases = {
        {"f(uint7)", {AbiError::bad_type_size, 2}},
        {"f(uint264)", {AbiError::bad_type_size, 2}},
        {"f(uint08)", {AbiError::bad_type_size, 2}},
        {"f(bytes33)", {AbiError::bad_type_size, 2}},
        {"f(bytes0)", {AbiError::bad_type_size, 2}},
        {"f(foo)", {AbiError::unknown_type, 2}},
        {"f(function)", {AbiError::unknown_type, 2}},
        {"f(uint256[0])", {AbiError::bad_array_size, 10}},
        {"f(uint256[4294967296])", {AbiError::bad_array_size, 10}},
        {"f(uint256[2)", {AbiError::unclosed_bracket, 11}},
        {"f(uint256", {AbiError::unclosed_paren, 9}},
        {"f(uint256 a b)", {AbiError::unclosed_paren, 12}},
        {"f uint256)", {AbiError::expected_paren, 2}},
        {"(uint256)", {AbiError::expected_identifier, 0}},
        {"f(,)", {AbiError::expected_identifier, 2}},
        {"f(uint256) x", {AbiError::trailing_text, 11}},
        {"f(())", {AbiError::empty_tuple, 2}},
        {"f(uint256[65536][65536][2])", {AbiError::type_too_large, 2}},
        {"f(" + std::string(40, '(') + "uint256" + std::string(40, ')') + ")",
         {AbiError::too_deep, 2 + kMaxDepth}},
        {"f(uint256" +
             [] {
                 std::string s;
                 for (int i = 0; i < 40; ++i) s += "[]";
                 return s;
             }() +
             ")",
         {AbiError::too_deep, 9 + 2 * (kMaxDepth - 1)}},
    };
    for (const auto& [text, expected] : cases) {
        auto f = parse_function(text);
        ASSERT_FALSE(f.has_value()) << text;
        EXPECT_EQ(f.error(), expected) << text << ": got " << f.error().to_string();
    }
    EXPECT_EQ(parse_event("event E(uint indexed a, uint indexed b, uint indexed c, uint indexed d)")
                  .error(),
              (AbiFailure{AbiError::too_many_indexed, 7}));
    EXPECT_EQ(parse_type("uint256 x").error(), (AbiFailure{AbiError::trailing_text, 8}));
}

TEST(abi_text, names_the_rule_it_breaks) {
    struct Case {
        std::string type, text;
        AbiFailure expected;
    };
    const std::vector<Case> cases = {
        {"uint8", "256", {AbiError::number_overflow, 0}},
        {"uint256",
         "115792089237316195423570985008687907853269984665640564039457584007913129639936",
         {AbiError::number_overflow, 0}},
        {"uint256", "1e78", {AbiError::number_overflow, 0}},
        {"int8", "128", {AbiError::number_overflow, 0}},
        {"int8", "-129", {AbiError::number_overflow, 0}},
        {"uint256", "-1", {AbiError::bad_number, 0}},
        {"uint256", " 1", {AbiError::bad_number, 0}},
        {"uint256", "0x", {AbiError::bad_number, 2}},
        {"uint256", "0b12", {AbiError::bad_number, 3}},
        {"uint256", "12a", {AbiError::bad_unit, 2}},
        {"uint256", "1 parsec", {AbiError::bad_unit, 2}},
        {"uint256", "1.5", {AbiError::bad_fraction, 0}},
        {"uint256", "1.0", {AbiError::bad_fraction, 0}},
        {"uint256", "1e-3", {AbiError::bad_fraction, 0}},
        {"uint256", "1.", {AbiError::bad_number, 2}},
        {"bool", "yes", {AbiError::bad_bool, 0}},
        {"bool", "1", {AbiError::bad_bool, 0}},
        {"bool", "true ", {AbiError::trailing_text, 4}},
        {"address", "0x1234", {AbiError::wrong_length, 0}},
        {"address", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", {AbiError::bad_checksum, 41}},
        {"bytes", "0x123", {AbiError::bad_hex, 0}},
        {"bytes", "0x12zz", {AbiError::bad_hex, 4}},
        {"bytes", "", {AbiError::bad_hex, 0}},
        {"bytes2", "0x01", {AbiError::wrong_length, 0}},
        {"string", "\"abc", {AbiError::unterminated_string, 0}},
        {"string", "\"a\"b", {AbiError::trailing_text, 3}},
        {"uint256[]", "1,2", {AbiError::expected_list, 0}},
        {"uint256[]", "[1 2]", {AbiError::unclosed_list, 3}},
        {"uint256[]", "[1,2", {AbiError::unclosed_list, 4}},
        {"uint256[]", "[,]", {AbiError::bad_number, 1}},
        {"uint256[2]", "[1]", {AbiError::array_length, 0}},
        {"(uint256,bool)", "(1)", {AbiError::unclosed_list, 2}},
        {"(uint256,bool)", "(1,true,)", {AbiError::unclosed_list, 7}},
        {"(uint256,bool)", "[1,true]", {AbiError::expected_list, 0}},
        {"string[]", "[a,,b]", {AbiError::expected_value, 3}},
    };
    for (const auto& c : cases) {
        auto t = parse_type(c.type);
        ASSERT_TRUE(t.has_value()) << c.type;
        auto v = parse_value(*t, c.text);
        ASSERT_FALSE(v.has_value()) << c.type << " " << c.text;
        EXPECT_EQ(v.error(), c.expected)
            << c.type << " '" << c.text << "': got " << v.error().to_string();
    }
}

TEST(abi_codec, encoder_checks_values_against_types) {
    const Function f = fn("f(uint8,int16,bytes2,(bool,address))");
    const BytesN b2{{0x01, 0x02}, 2};
    const AbiTuple inner{{true, Address{}}};
    auto ok = encode_call(f, std::vector<AbiValue>{u256(255), i256(-32768), b2, inner});
    EXPECT_TRUE(ok.has_value());
    EXPECT_EQ(encode_call(f, std::vector<AbiValue>{u256(256), i256(0), b2, inner}).error(),
              (AbiFailure{AbiError::number_overflow, 0}));
    EXPECT_EQ(encode_call(f, std::vector<AbiValue>{u256(1), i256(32768), b2, inner}).error(),
              (AbiFailure{AbiError::number_overflow, 1}));
    EXPECT_EQ(encode_call(f, std::vector<AbiValue>{u256(1), u256(1), b2, inner}).error(),
              (AbiFailure{AbiError::value_mismatch, 1}));
    EXPECT_EQ(encode_call(f, std::vector<AbiValue>{u256(1), i256(1), BytesN{{}, 3}, inner}).error(),
              (AbiFailure{AbiError::value_mismatch, 2}));
    EXPECT_EQ(encode_call(f, std::vector<AbiValue>{u256(1), i256(1), b2, AbiTuple{{true}}}).error(),
              (AbiFailure{AbiError::value_mismatch, 3}));
    EXPECT_EQ(encode_call(f, std::vector<AbiValue>{u256(1)}).error(),
              (AbiFailure{AbiError::arg_count, 1}));
}

TEST(abi_decode, rejects_hostile_and_truncated_data) {
    const std::vector<std::tuple<std::string, std::string, AbiFailure>> cases = {
        // Truncated.
        {"(uint256)", "", {AbiError::truncated, 0}},
        {"(uint256)", std::string(62, '0'), {AbiError::truncated, 0}},
        {"(uint256,uint256)", w(1), {AbiError::truncated, 0}},
        {"(bytes)", w(0x40) + w(0), {AbiError::truncated, 64}},
        {"(uint256[2][2])", w(1) + w(2) + w(3), {AbiError::truncated, 0}},
        // Offsets.
        {"(bytes)", w(k2pow255), {AbiError::offset_out_of_range, 0}},
        {"(bytes)", w(0x1000), {AbiError::offset_out_of_range, 0}},
        {"(bytes)", w(0), {AbiError::offset_into_head, 0}},
        {"(uint256,string)", w(1) + w(0x20) + w(0), {AbiError::offset_into_head, 32}},
        {"(uint256[][])", w(0x20) + w(1) + w(0), {AbiError::offset_into_head, 64}},
        // Lengths.
        {"(bytes)", w(0x20) + w(k2pow255), {AbiError::length_out_of_range, 32}},
        {"(bytes)", w(0x20) + w(33) + w(0), {AbiError::length_out_of_range, 32}},
        {"(string)", w(0x20) + w(~u256(0)), {AbiError::length_out_of_range, 32}},
        {"(uint256[])", w(0x20) + w(k2pow255), {AbiError::length_out_of_range, 32}},
        {"(uint256[])", w(0x20) + w(3) + w(1) + w(2), {AbiError::length_out_of_range, 32}},
        {"((uint256,uint256)[])",
         w(0x20) + w(2) + w(1) + w(2) + w(3),
         {AbiError::length_out_of_range, 32}},
        {"(bytes[])", w(0x20) + w(u256(1) << 64), {AbiError::length_out_of_range, 32}},
        // Dirty bits.
        {"(uint8)", w(0x100), {AbiError::dirty_bits, 0}},
        {"(uint248)", w(u256(1) << 248), {AbiError::dirty_bits, 0}},
        {"(int8)", w(0x80), {AbiError::dirty_bits, 0}},
        {"(int8)", w(~u256(0) - 0x80), {AbiError::dirty_bits, 0}},
        {"(address)", w(u256(1) << 160), {AbiError::dirty_bits, 0}},
        {"(bool)", w(2), {AbiError::dirty_bits, 0}},
        {"(bytes1)", "0101" + std::string(60, '0'), {AbiError::dirty_bits, 0}},
        {"(uint256,uint8[])", w(1) + w(0x40) + w(2) + w(1) + w(256), {AbiError::dirty_bits, 128}},
    };
    for (const auto& [outputs, data, expected] : cases)
        EXPECT_EQ(decode_failure(outputs, data), expected)
            << outputs << " " << data << ": got " << decode_failure(outputs, data).to_string();
}

TEST(abi_decode, accepts_canonical_edges) {
    // Sign-extended minimum int8 and the all-ones int256 decode; trailing bytes are
    // ignored as Solidity's decoder ignores them.
    auto v = decode_params(*parse_type("(int8,int256,bool)"),
                           hex(w(~u256(0) - 0x7f) + w(~u256(0)) + w(1) + "ff"));
    ASSERT_TRUE(v.has_value()) << v.error().to_string();
    EXPECT_EQ(*v, (std::vector<AbiValue>{i256(-128), i256(-1), true}));
}

TEST(abi_decode, bounds_nesting_depth) {
    AbiType t = make_uint(256);
    for (unsigned i = 0; i < kMaxDepth + 2; ++i) t = make_tuple({t});
    EXPECT_EQ(decode_params(make_tuple({t}), hex(w(1))).error().error, AbiError::too_deep);
    AbiType shallow = make_uint(256);
    for (unsigned i = 0; i < kMaxDepth - 2; ++i) shallow = make_tuple({shallow});
    EXPECT_TRUE(decode_params(make_tuple({shallow}), hex(w(1))).has_value());
}

TEST(abi_decode, call_checks_the_selector) {
    const Function f = fn("transfer(address,uint256)");
    EXPECT_EQ(decode_call(f, hex("a9059cbc" + w(1) + w(2))).error(),
              (AbiFailure{AbiError::bad_selector, 0}));
    EXPECT_EQ(decode_call(f, hex("a905")).error(), (AbiFailure{AbiError::truncated, 0}));
    // Offsets in calldata failures count the selector.
    EXPECT_EQ(decode_call(f, hex("a9059cbb" + w(u256(1) << 160) + w(2))).error(),
              (AbiFailure{AbiError::dirty_bits, 4}));
}
