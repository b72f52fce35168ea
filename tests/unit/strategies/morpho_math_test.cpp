// Morpho Blue's arithmetic (strategies/morpho/math.hpp) on hand-checked cases: each
// expected value below was worked out from the Solidity formulas with exact integers
// (comments show the arithmetic), plus the checked-arithmetic reverts and the market id
// against cast. The differential test against the deployed contract is
// tests/integration/morpho_math_anvil_test.cpp.
#include <gtest/gtest.h>

#include <random>

#include "strategies/morpho/math.hpp"
#include "tests/support/anvil.hpp"

using namespace vigil;
using namespace vigil::morpho;

namespace {

u256 dec(const char* text) {
    return *parse_u256(text);
}
const u256 kE18 = kWad;
const u256 kE24 = kWad * 1'000'000;
const u256 kMaxU256 = std::numeric_limits<u256>::max();

}  // namespace

TEST(morpho_math, mul_div_rounds_like_mathlib) {
    EXPECT_EQ(*mul_div_down(10, 3, 4), 7);  // 30 / 4 = 7.5
    EXPECT_EQ(*mul_div_up(10, 3, 4), 8);
    EXPECT_EQ(*mul_div_up(12, 3, 4), 9);  // exact: no rounding up
    EXPECT_EQ(*mul_div_up(0, 3, 4), 0);
    EXPECT_EQ(*w_mul_down(3 * kE18 / 2, 3 * kE18 / 2), 9 * kE18 / 4);
    EXPECT_EQ(*w_div_down(1, 3), 333'333'333'333'333'333u);
    EXPECT_EQ(*w_div_up(1, 3), 333'333'333'333'333'334u);
    // The largest product that fits, and one over it.
    EXPECT_EQ(*mul_div_down(kMaxU256, 1, 1), kMaxU256);
    EXPECT_EQ(*mul_div_down(u256(1) << 255, 1, 2), u256(1) << 254);
    EXPECT_EQ(mul_div_down(u256(1) << 255, 2, 2).error(), MathError::overflow);
    EXPECT_EQ(mul_div_down(u256(1) << 128, u256(1) << 128, 1).error(), MathError::overflow);
    EXPECT_EQ(*mul_div_down((u256(1) << 128) - 1, (u256(1) << 128) + 1, 1), kMaxU256);
}

TEST(morpho_math, mul_div_reverts_where_solidity_does) {
    EXPECT_EQ(mul_div_down(1, 1, 0).error(), MathError::division_by_zero);
    EXPECT_EQ(mul_div_up(1, 1, 0).error(), MathError::underflow);  // d - 1 first
    // x * y fits but x * y + (d - 1) does not.
    EXPECT_EQ(mul_div_up(kMaxU256, 1, 2).error(), MathError::overflow);
    EXPECT_EQ(to_string(MathError::overflow), "arithmetic overflow or underflow");
    EXPECT_EQ(to_string(MathError::healthy_position), "position is healthy");
}

TEST(morpho_math, taylor_compounded) {
    // 50% APR as a per-second rate: 0.5e18 / 31,536,000 = 15,854,895,991 (down).
    const u256 rate = kE18 / 2 / 31'536'000;
    ASSERT_EQ(rate, 15'854'895'991u);
    // One day: x*n = 1,369,863,013,622,400; + that^2 / 2e18 = 938,261,213,302;
    // + that * x*n / 3e18 = 428,459,728 (each down) = 1,370,801,704,390,736 ~ e^0.00137 - 1.
    EXPECT_EQ(*w_taylor_compounded(rate, 86'400), 1'370'801'704'390'736u);
    // One year: 0.5 + 0.125 + 0.0208333 (terms of e^0.5 - 1, truncated by the rate's floor).
    EXPECT_EQ(*w_taylor_compounded(rate, 31'536'000), dec("645833333288119333"));
    EXPECT_EQ(*w_taylor_compounded(0, 1'000'000), 0);
    EXPECT_EQ(w_taylor_compounded(u256(1) << 200, u256(1) << 60).error(), MathError::overflow);
}

TEST(morpho_math, shares_use_virtual_shares_and_assets) {
    // Empty market: 1 asset = 1e6 shares.
    EXPECT_EQ(*to_shares_down(100, 0, 0), 100'000'000u);
    EXPECT_EQ(*to_assets_down(100'000'000, 0, 0), 100);
    EXPECT_EQ(*to_assets_down(999'999, 0, 0), 0);
    EXPECT_EQ(*to_assets_up(1, 0, 0), 1);  // (1 * 1 + 1e6 - 1) / 1e6
    // 2 assets for 1e6 shares (+ virtual): shares = assets * (1e6 + 1e6) / (2 + 1).
    EXPECT_EQ(*to_shares_down(3, 2, 1'000'000), 2'000'000u);
    EXPECT_EQ(*to_shares_down(1, 2, 1'000'000), 666'666u);
    EXPECT_EQ(*to_shares_up(1, 2, 1'000'000), 666'667u);
    EXPECT_EQ(to_shares_down(1, kMaxU256, 0).error(), MathError::overflow);  // totalAssets + 1
}

TEST(morpho_math, market_id_is_keccak_of_abi_encoded_params) {
    MarketParams p;
    p.loan_token = *parse_address("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2");
    p.collateral_token = *parse_address("0x7f39C581F595B53c5cb19bD0b3f8dA6c935E2Ca0");
    p.oracle = *parse_address("0x2a01EB9496094dA03c4E364Def50f5aD1280AD72");
    p.irm = *parse_address("0x870aC11D48B15DB9a138Cf899d20F13F79Ba00BC");
    p.lltv = dec("945000000000000000");
    const std::string encoded =
        test::cast({"abi-encode", "f(address,address,address,address,uint256)",
                    to_checksum(p.loan_token), to_checksum(p.collateral_token),
                    to_checksum(p.oracle), to_checksum(p.irm), to_string(p.lltv)});
    EXPECT_EQ(to_hex(p.id()), test::cast({"keccak", encoded}));
    MarketParams other = p;
    other.lltv += 1;
    EXPECT_NE(other.id(), p.id());
}

TEST(morpho_math, accrue_interest_with_fee) {
    Market m;
    m.total_supply_assets = 1000 * kE18;
    m.total_supply_shares = 1000 * kE24;
    m.total_borrow_assets = 500 * kE18;
    m.total_borrow_shares = 500 * kE24;
    m.last_update = 1'000'000;
    m.fee = kE18 / 10;
    const u256 rate = kE18 / 2 / 31'536'000;

    Market same = m;
    EXPECT_EQ(accrue_interest(same, rate, 1'000'000)->interest, 0);  // elapsed 0: no change
    EXPECT_EQ(same, m);
    EXPECT_EQ(accrue_interest(same, rate, 999'999).error(), MathError::underflow);
    EXPECT_EQ(same, m);

    const auto a = accrue_interest(m, rate, 1'000'000 + 86'400);
    ASSERT_TRUE(a.has_value());
    // interest = 500e18 * 1,370,801,704,390,736 / 1e18 (down)
    EXPECT_EQ(a->interest, dec("685400852195368000"));
    EXPECT_EQ(m.total_borrow_assets, dec("500685400852195368000"));
    EXPECT_EQ(m.total_supply_assets, dec("1000685400852195368000"));
    // feeAmount = interest / 10 = 68,540,085,219,536,800; feeShares =
    // feeAmount * (1000e24 + 1e6) / (total supply after interest - feeAmount + 1)
    EXPECT_EQ(a->fee_shares, dec("68497831594603171764796"));
    EXPECT_EQ(m.total_supply_shares, 1000 * kE24 + a->fee_shares);
    EXPECT_EQ(m.last_update, 1'000'000 + 86'400);

    // A total past uint128 reverts and leaves the market as it was.
    Market full = m;
    full.total_borrow_assets = kMaxUint128 - 1;
    full.total_supply_assets = kMaxUint128 - 1;
    const Market before = full;
    EXPECT_EQ(accrue_interest(full, rate, 2'000'000).error(), MathError::overflow);
    EXPECT_EQ(full, before);
}

TEST(morpho_math, incentive_factor) {
    // 1 / (1 - 0.3 * (1 - lltv)), down, capped at 1.15.
    EXPECT_EQ(*liquidation_incentive_factor(dec("860000000000000000")),
              dec("1043841336116910229"));  // 1 / 0.958
    EXPECT_EQ(*liquidation_incentive_factor(dec("770000000000000000")),
              dec("1074113856068743286"));                                        // 1 / 0.931
    EXPECT_EQ(*liquidation_incentive_factor(0), kMaxLiquidationIncentiveFactor);  // 1/0.7 > 1.15
    EXPECT_EQ(*liquidation_incentive_factor(kE18), kE18);
    EXPECT_EQ(liquidation_incentive_factor(kE18 + 1).error(), MathError::underflow);
}

namespace {
// 1,100 loan assets owed on 1,000e24 shares (interest has accrued); a borrower with
// 10 collateral at a price of 100 (1e38) and lltv 0.86 may borrow 860.
struct Book {
    Market market;
    Position position;
    u256 lltv = dec("860000000000000000");
    u256 price = 100 * kOraclePriceScale;
    Book() {
        market.total_supply_assets = 2000 * kE18;
        market.total_supply_shares = 2000 * kE24;
        market.total_borrow_assets = 1100 * kE18;
        market.total_borrow_shares = 1000 * kE24;
        position.collateral = 10 * kE18;
        // toSharesUp(900e18): the position owes 900e18 + 1 (toAssetsUp rounds up again).
        position.borrow_shares = dec("818181818181818181818256199");
    }
};
}  // namespace

TEST(morpho_math, health_at_the_boundary) {
    Book b;
    EXPECT_EQ(*borrowed_assets(b.position, b.market), 900 * kE18 + 1);
    EXPECT_EQ(*max_borrow(b.position.collateral, b.price, b.lltv), 860 * kE18);
    EXPECT_FALSE(*is_healthy(b.position, b.market, b.price, b.lltv));
    // The collateral where health flips: maxBorrow = c * 100 * 0.86 = 86 c.
    Position p = b.position;
    p.collateral = dec("10465116279069767442");  // ceil((900e18 + 1) / 86)
    EXPECT_EQ(*max_borrow(p.collateral, b.price, b.lltv), dec("900000000000000000012"));
    EXPECT_TRUE(*is_healthy(p, b.market, b.price, b.lltv));
    p.collateral = dec("10465116279069767441");  // one unit less: 74 wei short
    EXPECT_EQ(*max_borrow(p.collateral, b.price, b.lltv), dec("899999999999999999926"));
    EXPECT_FALSE(*is_healthy(p, b.market, b.price, b.lltv));
    // Debt exactly equal to maxBorrow is healthy (an empty market: 1e6 shares per asset).
    Position exact;
    exact.collateral = p.collateral;
    const u256 limit = *max_borrow(exact.collateral, b.price, b.lltv);
    exact.borrow_shares = limit * 1'000'000;
    EXPECT_EQ(*borrowed_assets(exact, Market{}), limit);
    EXPECT_TRUE(*is_healthy(exact, Market{}, b.price, b.lltv));
    exact.borrow_shares += 1;
    EXPECT_FALSE(*is_healthy(exact, Market{}, b.price, b.lltv));
    // No debt is healthy whatever the price; a price whose product overflows reverts.
    Position none;
    none.collateral = 1;
    EXPECT_TRUE(*is_healthy(none, b.market, 0, b.lltv));
    EXPECT_EQ(is_healthy(b.position, b.market, kMaxU256, b.lltv).error(), MathError::overflow);
}

TEST(morpho_math, health_agrees_with_its_definition_near_the_boundary) {
    // is_healthy compares without dividing (maxBorrow * S >= shares * A); it must give
    // maxBorrow >= toAssetsUp(shares) on every position, most of all within a few wei of it.
    std::mt19937_64 rng(7);
    Market m;
    m.total_borrow_assets = u256(3'512'345) * kE18 + rng();
    m.total_borrow_shares = u256(3'400'000) * kE24 + rng();
    const u256 lltv = dec("860000000000000000");
    std::size_t healthy = 0, total = 0;
    for (int i = 0; i < 20'000; ++i) {
        const u256 price = u256(1 + rng() % 5'000) * kOraclePriceScale + u256(rng()) * rng();
        Position p;
        p.collateral = u256(rng() % 1'000) * kE18 + rng();
        const u256 limit = *max_borrow(p.collateral, price, lltv);
        const u256 target = limit + 3 - rng() % 7;  // limit - 3 .. limit + 3
        p.borrow_shares = *to_shares_down(target, m.total_borrow_assets, m.total_borrow_shares) +
                          rng() % 3'000'000 - 1'500'000;
        const bool expected = limit >= *borrowed_assets(p, m);
        ASSERT_EQ(*is_healthy(p, m, price, lltv), expected) << "case " << i;
        healthy += expected;
        ++total;
    }
    EXPECT_GT(healthy, total / 5);  // both outcomes well represented
    EXPECT_LT(healthy, total * 4 / 5);
}

TEST(morpho_math, liquidate_by_seized_assets) {
    Book b;
    const Market m0 = b.market;
    const auto l = liquidate(b.market, b.position, b.lltv, b.price, kE18, 0);
    ASSERT_TRUE(l.has_value()) << to_string(l.error());
    // quoted = 1e18 * 1e38 / 1e36 = 100e18; / LIF (up) = 95.8e18 + 1 ... shares up, assets up.
    EXPECT_EQ(l->seized_assets, kE18);
    EXPECT_EQ(l->repaid_shares, dec("87090909090909090963644281"));
    EXPECT_EQ(l->repaid_assets, dec("95800000000000000061"));
    EXPECT_EQ(l->bad_debt_assets, 0);
    EXPECT_EQ(b.position.collateral, 9 * kE18);
    EXPECT_EQ(b.position.borrow_shares,
              dec("818181818181818181818256199") - dec("87090909090909090963644281"));
    EXPECT_EQ(b.market.total_borrow_assets, m0.total_borrow_assets - l->repaid_assets);
    EXPECT_EQ(b.market.total_borrow_shares, m0.total_borrow_shares - l->repaid_shares);
    EXPECT_EQ(b.market.total_supply_assets, m0.total_supply_assets);
}

TEST(morpho_math, liquidate_by_shares_and_bad_debt) {
    Book b;
    // All shares: seized = toAssetsDown(shares) * LIF / price = 9.3946 collateral.
    {
        Book c;
        const auto l =
            liquidate(c.market, c.position, c.lltv, c.price, 0, c.position.borrow_shares);
        ASSERT_TRUE(l.has_value());
        EXPECT_EQ(l->seized_assets, dec("9394572025052192061"));
        EXPECT_EQ(l->repaid_assets, 900 * kE18 + 1);
        EXPECT_EQ(c.position.borrow_shares, 0);
        EXPECT_EQ(c.position.collateral, 10 * kE18 - dec("9394572025052192061"));
    }
    // Price halves: all 10 collateral buys 500 / 1.0438 of debt; the rest is bad debt.
    b.price = 50 * kOraclePriceScale;
    const Market m0 = b.market;
    const auto l = liquidate(b.market, b.position, b.lltv, b.price, 10 * kE18, 0);
    ASSERT_TRUE(l.has_value());
    EXPECT_EQ(b.position.collateral, 0);
    EXPECT_EQ(b.position.borrow_shares, 0);
    EXPECT_EQ(l->bad_debt_shares, dec("818181818181818181818256199") - l->repaid_shares);
    // The market no longer counts the written-off debt, and suppliers absorb it.
    EXPECT_EQ(b.market.total_borrow_shares,
              m0.total_borrow_shares - dec("818181818181818181818256199"));
    EXPECT_EQ(b.market.total_supply_assets, m0.total_supply_assets - l->bad_debt_assets);
    EXPECT_EQ(b.market.total_borrow_assets,
              m0.total_borrow_assets - l->repaid_assets - l->bad_debt_assets);
    // repaid + bad debt = the 900e18 + 1 owed, give or take the rounding of each part.
    const u256 total = l->repaid_assets + l->bad_debt_assets;
    EXPECT_GE(total, 900 * kE18);
    EXPECT_LE(total, 900 * kE18 + 2);
}

TEST(morpho_math, liquidate_reverts_like_morpho) {
    Book b;
    const Market m0 = b.market;
    const Position p0 = b.position;
    EXPECT_EQ(liquidate(b.market, b.position, b.lltv, b.price, 0, 0).error(),
              MathError::inconsistent_input);
    EXPECT_EQ(liquidate(b.market, b.position, b.lltv, b.price, 1, 1).error(),
              MathError::inconsistent_input);
    EXPECT_EQ(liquidate(b.market, b.position, b.lltv, b.price * 2, 1, 0).error(),
              MathError::healthy_position);
    EXPECT_EQ(liquidate(b.market, b.position, b.lltv, b.price, 10 * kE18 + 1, 0).error(),
              MathError::underflow);  // more collateral than the position has
    EXPECT_EQ(liquidate(b.market, b.position, b.lltv, b.price, 0, p0.borrow_shares + 1).error(),
              MathError::underflow);
    EXPECT_EQ(b.market, m0);
    EXPECT_EQ(b.position, p0);
}

TEST(morpho_math, best_liquidation_repays_all_shares_when_collateral_covers_them) {
    Book b;
    const auto plan = best_liquidation(b.market, b.position, b.lltv, b.price);
    ASSERT_TRUE(plan.has_value());
    ASSERT_TRUE(plan->has_value());
    const LiquidationPlan& p = **plan;
    EXPECT_EQ(p.seized_assets, 0);
    EXPECT_EQ(p.repaid_shares, b.position.borrow_shares);
    EXPECT_EQ(p.expected.seized_assets, dec("9394572025052192061"));
    EXPECT_EQ(p.expected.repaid_assets, 900 * kE18 + 1);
    // 9.394...e18 collateral at 100 = 939.457...e18, less the 900e18 + 1 repaid.
    EXPECT_EQ(p.seized_value, dec("939457202505219206100"));
    EXPECT_EQ(p.profit, i256(dec("39457202505219206099")));

    // Healthy: nothing to do.
    EXPECT_FALSE(best_liquidation(b.market, b.position, b.lltv, b.price * 2)->has_value());
}

TEST(morpho_math, best_liquidation_seizes_all_collateral_under_water) {
    Book b;
    b.price = 50 * kOraclePriceScale;
    const auto plan = best_liquidation(b.market, b.position, b.lltv, b.price);
    ASSERT_TRUE(plan.has_value() && plan->has_value());
    EXPECT_EQ((*plan)->seized_assets, 10 * kE18);
    EXPECT_EQ((*plan)->repaid_shares, 0);
    EXPECT_GT((*plan)->expected.bad_debt_assets, 0);
    EXPECT_GT((*plan)->profit, 0);
}

TEST(morpho_math, best_liquidation_respects_the_repay_cap) {
    Book b;
    const u256 cap = 100 * kE18;
    const auto plan = best_liquidation(b.market, b.position, b.lltv, b.price, cap);
    ASSERT_TRUE(plan.has_value() && plan->has_value());
    const LiquidationPlan& p = **plan;
    EXPECT_EQ(p.repaid_shares, 0);
    EXPECT_LE(p.expected.repaid_assets, cap);
    // Maximal: one more unit of collateral would repay more than the cap.
    Market m = b.market;
    Position pos = b.position;
    const auto more = liquidate(m, pos, b.lltv, b.price, p.seized_assets + 1, 0);
    ASSERT_TRUE(more.has_value());
    EXPECT_GT(more->repaid_assets, cap);
    // A cap below one unit's repayment allows nothing.
    EXPECT_FALSE(best_liquidation(b.market, b.position, b.lltv, b.price, u256(0))->has_value());
}

// The search behind best_liquidation, on a predicate whose answer is known: every bound,
// answer and guess for small bounds, random ones for 200-bit bounds. Only [1, bound) is
// asked, the answer's own value comes back, and the calls stay within the gallop's budget.
TEST(morpho_math, largest_feasible_finds_the_answer_from_any_guess) {
    const auto check = [](const u256& bound, const u256& answer, const u256& guess) {
        int calls = 0;
        bool in_range = true;
        const auto feasible = [&](const u256& x) -> std::optional<u256> {
            ++calls;
            in_range = in_range && x >= 1 && x < bound;
            if (x >= 1 && x <= answer) return x * 3;
            return std::nullopt;
        };
        const auto found = largest_feasible(bound, guess, feasible);
        const std::string where = "bound " + to_string(bound) + " answer " + to_string(answer) +
                                  " guess " + to_string(guess);
        EXPECT_TRUE(in_range) << where;
        if (answer == 0) {
            EXPECT_FALSE(found.has_value()) << where;
        } else {
            EXPECT_EQ(found, std::optional<u256>(answer * 3)) << where;
        }
        // Clamped to [1, bound - 1], a guess misses by `error`: each gallop step doubles,
        // then the bisection halves what it bracketed.
        const u256 start = std::clamp(guess, u256(1), bound > 1 ? u256(bound - 1) : u256(1));
        const u256 error = start > answer ? u256(start - answer) : u256(answer - start);
        const int budget = 4 + 2 * static_cast<int>(msb(error + 1));
        EXPECT_LE(calls, budget) << where;
        if (answer >= 1 && start == answer && answer + 1 < bound) {
            EXPECT_EQ(calls, 2) << where;
        }
        return !::testing::Test::HasFailure();
    };
    for (unsigned bound = 1; bound <= 40; ++bound)
        for (unsigned answer = 0; answer < bound; ++answer)
            for (unsigned guess = 0; guess <= bound + 1; ++guess)
                ASSERT_TRUE(check(bound, answer, guess));
    std::mt19937_64 rng(5);
    const auto draw = [&] {
        u256 v = 0;
        for (int i = 0; i < 4; ++i) v = (v << 64) | rng();
        return v >> (56 + rng() % 200);  // 0 to 200 bits
    };
    for (int i = 0; i < 20'000; ++i) {
        const u256 bound = draw() + 2;
        const u256 answer = draw() % bound;
        // Near the answer (the estimate's usual error) or anywhere.
        const u256 guess = i % 2 ? answer + rng() % 5 - 2 : draw() % (bound + 1);
        ASSERT_TRUE(check(bound, answer, guess)) << i;
    }
}

// The plan by amount is the largest feasible seizure: feasible itself, one more unit not
// (more than the position's shares, more than the cap, or more collateral than it has).
// Random positions, prices and caps, so that each bound binds in some of them.
TEST(morpho_math, best_liquidation_by_amount_is_the_largest_feasible_seizure) {
    std::mt19937_64 rng(11);
    const auto draw = [&](uint64_t lo, uint64_t hi) {
        return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
    };
    int by_amount = 0, capped = 0;
    for (int i = 0; i < 3'000; ++i) {
        Book b;
        b.market.total_supply_assets = u256(1'000'000'000) * kE18;
        b.market.total_supply_shares = b.market.total_supply_assets * 1'000'000;
        b.market.total_borrow_assets = u256(800'000'000) * kE18;
        b.market.total_borrow_shares = b.market.total_borrow_assets * 1'000'000 / 3;
        b.position.collateral = u256(draw(1, 1'000'000)) * kE18 / draw(1, 1'000);
        b.price = u256(draw(1, 2'000)) * kOraclePriceScale / draw(1, 100);
        // Debt between 100% and 160% of the borrowing limit: unhealthy, sometimes under water.
        const u256 limit = b.position.collateral * b.price / kOraclePriceScale * b.lltv / kWad;
        const u256 debt = limit * draw(1'001, 1'600) / 1'000;
        b.position.borrow_shares =
            *to_shares_up(debt, b.market.total_borrow_assets, b.market.total_borrow_shares);
        std::optional<u256> cap;
        if (i % 3 == 0) cap = u256(draw(1, 1'000'000)) * kE18 / draw(1, 100'000);
        const auto plan = best_liquidation(b.market, b.position, b.lltv, b.price, cap);
        ASSERT_TRUE(plan.has_value()) << i;
        if (!*plan || (*plan)->seized_assets == 0) continue;
        ++by_amount;
        const u256 seized = (*plan)->seized_assets;
        const auto feasible = [&](const u256& amount) {
            Market m = b.market;
            Position p = b.position;
            const auto done = liquidate(m, p, b.lltv, b.price, amount, 0);
            return done && (!cap || done->repaid_assets <= *cap);
        };
        ASSERT_TRUE(feasible(seized)) << i;
        if (seized < b.position.collateral) {
            ASSERT_FALSE(feasible(seized + 1)) << i;
            if (cap) ++capped;
        }
    }
    EXPECT_GT(by_amount, 300);  // the cases exist, and the caps bind in some
    EXPECT_GT(capped, 50);
}
