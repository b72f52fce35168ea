// Fee policy: quotes from eth_feeHistory bounded by the caps, 12.5% bumps rounded up that
// hold at the cap, and the profit check on both sides.
#include "agent/fees.hpp"

#include <gtest/gtest.h>

namespace {

using vigil::u256;
using namespace vigil::agent;

constexpr uint64_t kGwei = kWeiPerGwei;

}  // namespace

namespace vigil::agent {
// Readable failures instead of gtest's byte dump.
void PrintTo(const Fees& f, std::ostream* os) {
    *os << "{max_fee " << f.max_fee_per_gas << ", priority " << f.max_priority_fee_per_gas
        << (f.legacy ? ", legacy}" : "}");
}
}  // namespace vigil::agent

namespace {

// History of `blocks` blocks, each with `tip` at the requested percentile, whose next base
// fee is `next_base`.
vigil::FeeHistory history(u256 next_base, u256 tip, std::size_t blocks = 3) {
    vigil::FeeHistory h;
    h.oldest_block = 100;
    for (std::size_t i = 0; i < blocks; ++i) {
        h.base_fee_per_gas.push_back(next_base);
        h.gas_used_ratio.push_back(0.5);
        h.reward.push_back({tip});
    }
    h.base_fee_per_gas.push_back(next_base);
    return h;
}

vigil::BlockHeader london_header(u256 base, uint64_t used, uint64_t limit = 30'000'000) {
    vigil::BlockHeader b;
    b.number = 103;
    b.gas_limit = limit;
    b.gas_used = used;
    b.base_fee_per_gas = base;
    return b;
}

FeeConfig config(uint64_t max_fee_gwei = 100, uint64_t max_priority_gwei = 2) {
    FeeConfig c;
    c.max_fee_gwei = max_fee_gwei;
    c.max_priority_fee_gwei = max_priority_gwei;
    return c;
}

}  // namespace

TEST(next_base_fee, follows_eip1559) {
    struct Case {
        uint64_t used;
        u256 want;
    };
    const Case cases[] = {
        {15'000'000, 1000},  // at target: unchanged
        {30'000'000, 1125},  // full: +12.5%
        {0, 875},            // empty: -12.5%
        {15'000'001, 1001},  // just above target: at least +1 wei
    };
    for (const auto& c : cases) {
        EXPECT_EQ(next_base_fee(london_header(1000, c.used)), c.want) << c.used;
    }
    vigil::BlockHeader pre_london;
    EXPECT_EQ(next_base_fee(pre_london), std::nullopt);
}

TEST(quote_fees, table) {
    struct Case {
        const char* name;
        u256 next_base;
        u256 tip;
        FeeConfig cfg;
        Fees want;
        bool capped;
    };
    const Case cases[] = {
        {"uncapped: base x2 + tip",
         10 * kGwei,
         1 * kGwei,
         config(),
         {21 * kGwei, 1 * kGwei},
         false},
        {"priority cap binds", 10 * kGwei, 5 * kGwei, config(), {22 * kGwei, 2 * kGwei}, true},
        {"fee cap binds", 60 * kGwei, 1 * kGwei, config(), {100 * kGwei, 1 * kGwei}, true},
        {"fee cap below the tip", 1, 5 * kGwei, config(0, 2), {0, 0}, true},
    };
    for (const auto& c : cases) {
        const auto q = quote_fees(history(c.next_base, c.tip), london_header(1, 0), c.cfg);
        ASSERT_TRUE(q.has_value()) << c.name;
        EXPECT_EQ(q->fees, c.want) << c.name;
        EXPECT_EQ(q->capped, c.capped) << c.name;
        EXPECT_EQ(q->warning.empty(), !c.capped) << c.name << ": " << q->warning;
    }
}

TEST(quote_fees, uses_the_history_next_base_fee_not_the_latest_header) {
    const auto q = quote_fees(history(7 * kGwei, 0), london_header(1 * kGwei, 0), config());
    ASSERT_TRUE(q.has_value());
    EXPECT_EQ(q->fees.max_fee_per_gas, 14 * kGwei);
}

TEST(quote_fees, falls_back_to_the_latest_header_without_history) {
    const auto q = quote_fees(vigil::FeeHistory{}, london_header(8 * kGwei, 30'000'000), config());
    ASSERT_TRUE(q.has_value());
    EXPECT_EQ(q->fees, (Fees{18 * kGwei, 0}));  // next base 9 gwei × 2, no tip data
}

TEST(quote_fees, priority_is_the_median_of_busy_blocks) {
    auto h = history(1 * kGwei, 0, 4);
    h.reward = {{3}, {1}, {2}, {0}};
    h.gas_used_ratio = {0.3, 0.4, 0.9, 0.0};  // the last block was empty: its 0 is skipped
    const auto q = quote_fees(h, london_header(1, 0), config());
    ASSERT_TRUE(q.has_value());
    EXPECT_EQ(q->fees.max_priority_fee_per_gas, 2);
}

TEST(quote_fees, warns_when_the_base_fee_alone_exceeds_the_cap) {
    const auto q = quote_fees(history(150 * kGwei, 0), london_header(1, 0), config());
    ASSERT_TRUE(q.has_value());
    EXPECT_TRUE(q->capped);
    EXPECT_NE(q->warning.find("max fee capped at 100000000000 wei"), std::string::npos)
        << q->warning;
    EXPECT_NE(q->warning.find("cannot be included now"), std::string::npos) << q->warning;
}

TEST(quote_fees, legacy_prices_a_gas_price) {
    auto cfg = config(100, 2);
    cfg.legacy = true;
    // Pre-London history: geth reports zero base fees; the tip column is the gas price.
    const auto q = quote_fees(history(0, 5 * kGwei), vigil::BlockHeader{}, cfg);
    ASSERT_TRUE(q.has_value());
    EXPECT_EQ(q->fees, (Fees{5 * kGwei, 5 * kGwei, true}));  // priority cap does not apply
    EXPECT_FALSE(q->capped);

    const auto capped = quote_fees(history(0, 500 * kGwei), vigil::BlockHeader{}, cfg);
    ASSERT_TRUE(capped.has_value());
    EXPECT_EQ(capped->fees, (Fees{100 * kGwei, 100 * kGwei, true}));
    EXPECT_TRUE(capped->capped);
    EXPECT_NE(capped->warning.find("gasPrice capped"), std::string::npos) << capped->warning;
}

TEST(quote_fees, names_each_error) {
    const auto no_base = quote_fees(history(0, 1), vigil::BlockHeader{}, config());
    ASSERT_FALSE(no_base.has_value());
    EXPECT_EQ(no_base.error().kind, FeeErrc::no_base_fee);
    EXPECT_EQ(no_base.error().to_string().rfind("no_base_fee: ", 0), 0u);

    auto cfg = config();
    cfg.legacy = true;
    const auto no_data = quote_fees(vigil::FeeHistory{}, vigil::BlockHeader{}, cfg);
    ASSERT_FALSE(no_data.has_value());
    EXPECT_EQ(no_data.error().kind, FeeErrc::no_fee_data);
    EXPECT_EQ(no_data.error().to_string().rfind("no_fee_data: ", 0), 0u);
}

TEST(bump_fees, raises_by_an_eighth_rounded_up) {
    struct Case {
        u256 previous;
        u256 want;
    };
    const Case cases[] = {
        {8, 9},    // exact eighth
        {9, 11},   // 9/8 = 1.125 → 2
        {15, 17},  // 15/8 = 1.875 → 2
        {17, 20},  // 17/8 = 2.125 → 3
        {1, 2},    // 1/8 rounds up to 1
        {0, 1},    // at least one wei
        {1'000'000'001, 1'125'000'002},
    };
    for (const auto& c : cases) {
        const auto b = bump_fees(Fees{c.previous, c.previous}, config(100, 100));
        EXPECT_EQ(b.fees, (Fees{c.want, c.want})) << c.previous;
        EXPECT_FALSE(b.capped);
        EXPECT_FALSE(b.held_at_cap);
        // Always strictly above geth's 10% minimum.
        EXPECT_GE(b.fees.max_fee_per_gas * 100, c.previous * 110) << c.previous;
    }
}

TEST(bump_fees, sequence_from_one_gwei_reaches_the_cap_and_holds) {
    const auto cfg = config(2, 2);
    Fees fees{1 * kGwei, 1 * kGwei};
    int bumps = 0;
    FeeBump b;
    for (;;) {
        b = bump_fees(fees, cfg);
        if (b.held_at_cap) break;
        ASSERT_GT(b.fees.max_fee_per_gas, fees.max_fee_per_gas);
        ASSERT_GT(b.fees.max_priority_fee_per_gas, fees.max_priority_fee_per_gas);
        fees = b.fees;
        ASSERT_LT(++bumps, 20);
    }
    // 1.125^5 = 1.80 gwei; the sixth bump is cut to the 2 gwei cap (+11%, still accepted
    // by the node), and the seventh cannot rise at all.
    EXPECT_EQ(bumps, 6);
    EXPECT_EQ(fees, (Fees{2 * kGwei, 2 * kGwei}));
    EXPECT_EQ(b.fees, fees);
    EXPECT_EQ(b.warning,
              "replacement impossible: max fee held at 2000000000 wei; its cap allows "
              "2000000000 wei, below the node's 10% replacement minimum 2200000000 wei");
}

TEST(bump_fees, holds_when_the_cap_allows_less_than_ten_percent) {
    // 1.125^9 gwei = 2886507582 wei; a 3 gwei cap allows only +3.9%: keep the old fees.
    const Fees previous{2'886'507'582, 1};
    const auto b = bump_fees(previous, config(3, 3));
    EXPECT_TRUE(b.held_at_cap);
    EXPECT_EQ(b.fees, previous);
    EXPECT_NE(b.warning.find("its cap allows 3000000000 wei"), std::string::npos) << b.warning;
}

TEST(bump_fees, a_cap_above_ten_percent_caps_but_does_not_hold) {
    const auto b = bump_fees(Fees{100, 10}, FeeConfig{.max_fee_gwei = 1});
    EXPECT_FALSE(b.capped);
    const auto near = bump_fees(Fees{900'000'000, 1}, FeeConfig{.max_fee_gwei = 1});
    EXPECT_EQ(near.fees.max_fee_per_gas, 1 * kGwei);  // +11.1%: capped, still replaceable
    EXPECT_TRUE(near.capped);
    EXPECT_FALSE(near.held_at_cap);
    EXPECT_NE(near.warning.find("bump limited"), std::string::npos);
}

TEST(bump_fees, priority_cap_holds_too) {
    const auto b = bump_fees(Fees{10 * kGwei, 2 * kGwei}, config(100, 2));
    EXPECT_EQ(b.fees, (Fees{10 * kGwei, 2 * kGwei}));
    EXPECT_TRUE(b.held_at_cap);
    EXPECT_NE(b.warning.find("priority fee held at 2000000000 wei"), std::string::npos)
        << b.warning;
}

TEST(bump_fees, legacy_bumps_the_gas_price_against_the_fee_cap) {
    const auto b = bump_fees(Fees{16, 16, true}, config(100, 0));
    EXPECT_EQ(b.fees, (Fees{18, 18, true}));
    EXPECT_FALSE(b.held_at_cap);
    const auto held = bump_fees(Fees{100 * kGwei, 100 * kGwei, true}, config(100, 0));
    EXPECT_TRUE(held.held_at_cap);
    EXPECT_NE(held.warning.find("gasPrice held at"), std::string::npos) << held.warning;
}

TEST(gas_cost_wei, multiplies_and_saturates) {
    EXPECT_EQ(gas_cost_wei(21'000, 100 * kGwei), u256(2'100'000) * kGwei);
    EXPECT_EQ(gas_cost_wei(0, 5), 0);
    const u256 max = std::numeric_limits<u256>::max();
    EXPECT_EQ(gas_cost_wei(2, max / 2 + 1), max);
}

TEST(check_profit, both_sides_of_the_line) {
    const Fees fees{10, 1};
    EXPECT_TRUE(check_profit(u256(1000), 100, fees).has_value());  // equal passes
    EXPECT_TRUE(check_profit(std::nullopt, 100, fees).has_value());
    const auto loss = check_profit(u256(999), 100, fees);
    ASSERT_FALSE(loss.has_value());
    EXPECT_EQ(loss.error().gas_cost_wei, 1000);
    EXPECT_EQ(loss.error().expected_profit_wei, 999);
    EXPECT_EQ(loss.error().message,
              "unprofitable: worst-case gas cost 1000 wei (gas limit 100 × max fee 10 wei) "
              "exceeds expected profit 999 wei");
}

TEST(quote_fees, a_zero_base_fee_chain_is_still_eip1559) {
    // anvil --base-fee 0: the history's zeros defer to the header, which has a base fee.
    const auto q = quote_fees(history(0, 1 * kGwei), london_header(0, 0), config());
    ASSERT_TRUE(q.has_value());
    EXPECT_EQ(q->fees, (Fees{1 * kGwei, 1 * kGwei}));
}
