// Allow-list: entries from config text and declared targets, every refusal kind named in
// the security log line, and the self-send cancellation kept apart from strategies' calls.
#include "agent/allowlist.hpp"

#include <gtest/gtest.h>

namespace {

using namespace vigil::agent;
using vigil::Address;
using vigil::Bytes;

Address address(const char* text) {
    return vigil::parse_address(text).value();
}

const Address kSigner = address("0x1111111111111111111111111111111111111111");
const Address kMorpho = address("0xbbbbbbbbbb9cc5e90e3b3af64bdaf62c37eeffcb");
const Address kToken = address("0x2222222222222222222222222222222222222222");
const Address kVault = address("0x3333333333333333333333333333333333333333");
constexpr const char* kLiquidate =
    "liquidate((address,address,address,address,uint256),address,uint256,uint256,bytes)";

Bytes calldata(std::initializer_list<uint8_t> bytes) {
    return Bytes(bytes);
}

Allowlist keeper_list() {
    Allowlist list;
    EXPECT_TRUE(list.add("keeper", "0xbbbbbbbbbb9cc5e90e3b3af64bdaf62c37eeffcb", kLiquidate));
    EXPECT_TRUE(list.add("keeper", "0x2222222222222222222222222222222222222222", "0xa9059cbb"));
    EXPECT_TRUE(list.add("keeper", "0x3333333333333333333333333333333333333333", "receive"));
    return list;
}

}  // namespace

TEST(allowlist, allows_the_listed_calls) {
    const auto list = keeper_list();
    const auto liquidate = vigil::abi::parse_function(kLiquidate).value().selector;
    Bytes call(liquidate.begin(), liquidate.end());
    call.resize(100, 0);
    EXPECT_TRUE(list.check("keeper", kSigner, kMorpho, call).has_value());
    // transfer(address,uint256)
    EXPECT_TRUE(
        list.check("keeper", kSigner, kToken, calldata({0xa9, 0x05, 0x9c, 0xbb})).has_value());
    EXPECT_TRUE(list.check("keeper", kSigner, kVault, Bytes{}).has_value());
}

TEST(allowlist, signature_and_selector_entries_agree) {
    Allowlist by_signature;
    ASSERT_TRUE(by_signature.add("s", "0x2222222222222222222222222222222222222222",
                                 "function transfer(address to, uint256 amount)"));
    EXPECT_TRUE(by_signature.check("s", kSigner, kToken, calldata({0xa9, 0x05, 0x9c, 0xbb, 0x00}))
                    .has_value());
}

TEST(allowlist, declared_targets_are_entries_too) {
    Allowlist list;
    list.add("guardian", kVault, vigil::abi::Selector{0x84, 0x56, 0xcb, 0x59});  // pause()
    EXPECT_TRUE(
        list.check("guardian", kSigner, kVault, calldata({0x84, 0x56, 0xcb, 0x59})).has_value());
    EXPECT_EQ(
        list.check("keeper", kSigner, kVault, calldata({0x84, 0x56, 0xcb, 0x59})).error().kind,
        RefusalKind::unknown_signer);
}

TEST(allowlist, each_refusal_names_its_rule) {
    auto list = keeper_list();
    list.allow_value_transfer("other", kToken);
    struct Case {
        const char* name;
        const char* signer;
        Address target;
        Bytes data;
        RefusalKind kind;
        const char* log;
    };
    const Case cases[] = {
        {"no entries for the signer", "nobody", kToken, calldata({0xa9, 0x05, 0x9c, 0xbb}),
         RefusalKind::unknown_signer,
         "refused: signer 'nobody' target 0x2222222222222222222222222222222222222222 "
         "selector 0xa9059cbb: unknown_signer"},
        {"unlisted target", "keeper", address("0x4444444444444444444444444444444444444444"),
         calldata({0xa9, 0x05, 0x9c, 0xbb}), RefusalKind::target_not_allowed,
         "refused: signer 'keeper' target 0x4444444444444444444444444444444444444444 "
         "selector 0xa9059cbb: target_not_allowed"},
        {"unlisted selector", "keeper", kToken, calldata({0x09, 0x5e, 0xa7, 0xb3, 0x01}),
         RefusalKind::selector_not_allowed,
         "refused: signer 'keeper' target 0x2222222222222222222222222222222222222222 "
         "selector 0x095ea7b3: selector_not_allowed"},
        {"three bytes of calldata", "keeper", kToken, calldata({0xa9, 0x05, 0x9c}),
         RefusalKind::short_calldata,
         "refused: signer 'keeper' target 0x2222222222222222222222222222222222222222 "
         "selector none: short_calldata"},
        {"value transfer without receive", "keeper", kToken, Bytes{},
         RefusalKind::value_transfer_not_allowed,
         "refused: signer 'keeper' target 0x2222222222222222222222222222222222222222 "
         "selector none: value_transfer_not_allowed"},
        {"call to the signer itself", "keeper", kSigner, Bytes{}, RefusalKind::targets_signer,
         "refused: signer 'keeper' target 0x1111111111111111111111111111111111111111 "
         "selector none: targets_signer"},
    };
    for (const auto& c : cases) {
        const auto r = list.check(c.signer, kSigner, c.target, c.data);
        ASSERT_FALSE(r.has_value()) << c.name;
        EXPECT_EQ(r.error().kind, c.kind) << c.name;
        EXPECT_EQ(r.error().signer, c.signer) << c.name;
        EXPECT_EQ(r.error().target, c.target) << c.name;
        EXPECT_EQ(r.error().to_string(), c.log) << c.name;
    }
}

TEST(allowlist, an_entry_for_the_signer_itself_does_not_allow_self_calls) {
    Allowlist list;
    list.allow_value_transfer("keeper", kSigner);
    ASSERT_TRUE(list.add("keeper", "0x1111111111111111111111111111111111111111", "0xa9059cbb"));
    EXPECT_EQ(list.check("keeper", kSigner, kSigner, Bytes{}).error().kind,
              RefusalKind::targets_signer);
    EXPECT_EQ(
        list.check("keeper", kSigner, kSigner, calldata({0xa9, 0x05, 0x9c, 0xbb})).error().kind,
        RefusalKind::targets_signer);
}

TEST(allowlist, a_value_transfer_entry_does_not_allow_calls) {
    const auto list = keeper_list();
    EXPECT_EQ(list.check("keeper", kSigner, kVault, calldata({1, 2, 3, 4})).error().kind,
              RefusalKind::selector_not_allowed);
}

TEST(allowlist, bad_entries_name_the_error_and_add_nothing) {
    Allowlist list;
    struct Case {
        const char* target;
        const char* function;
        AllowlistErrc kind;
    };
    const Case cases[] = {
        {"0x22222222", "0xa9059cbb", AllowlistErrc::bad_address},
        {"2222222222222222222222222222222222222222", "0xa9059cbb", AllowlistErrc::bad_address},
        {"0x2222222222222222222222222222222222222222", "0xa9059c", AllowlistErrc::bad_function},
        {"0x2222222222222222222222222222222222222222", "0xa9059cbz", AllowlistErrc::bad_function},
        {"0x2222222222222222222222222222222222222222", "transfer(address,",
         AllowlistErrc::bad_function},
        {"0x2222222222222222222222222222222222222222", "", AllowlistErrc::bad_function},
    };
    for (const auto& c : cases) {
        const auto r = list.add("keeper", c.target, c.function);
        ASSERT_FALSE(r.has_value()) << c.target << " " << c.function;
        EXPECT_EQ(r.error().kind, c.kind) << c.function;
        EXPECT_EQ(r.error().signer, "keeper");
        const auto line = r.error().to_string();
        EXPECT_EQ(line.rfind(std::string("allow-list entry for signer 'keeper': ") +
                                 std::string(to_string(c.kind)),
                             0),
                  0u)
            << line;
    }
    EXPECT_EQ(
        list.check("keeper", kSigner, kToken, calldata({0xa9, 0x05, 0x9c, 0xbb})).error().kind,
        RefusalKind::unknown_signer);
}

TEST(check_cancellation, allows_only_a_zero_value_empty_self_send) {
    EXPECT_TRUE(check_cancellation("keeper", kSigner, kSigner, 0, Bytes{}).has_value());
    struct Case {
        const char* name;
        Address to;
        vigil::u256 value;
        Bytes data;
    };
    const Case cases[] = {
        {"to another address", kToken, 0, Bytes{}},
        {"with value", kSigner, 1, Bytes{}},
        {"with data", kSigner, 0, calldata({0xa9, 0x05, 0x9c, 0xbb})},
    };
    for (const auto& c : cases) {
        const auto r = check_cancellation("keeper", kSigner, c.to, c.value, c.data);
        ASSERT_FALSE(r.has_value()) << c.name;
        EXPECT_EQ(r.error().kind, RefusalKind::not_a_cancellation) << c.name;
        EXPECT_NE(r.error().to_string().find(": not_a_cancellation"), std::string::npos);
    }
}
