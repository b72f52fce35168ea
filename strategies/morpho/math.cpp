#include "strategies/morpho/math.hpp"

#include <algorithm>
#include <array>

#include "chain/keccak.hpp"

namespace vigil::morpho {

namespace {

using u512 = boost::multiprecision::uint512_t;

// Propagates a MathError: `VIGIL_MORPHO_TRY(x, f(...))` declares x as f's value or returns
// its error. Local to this file.
#define VIGIL_MORPHO_TRY(name, expr)                              \
    auto name##_result = (expr);                                  \
    if (!name##_result) return unexpected(name##_result.error()); \
    auto name = std::move(*name##_result)

// Solidity's checked `x * y`. The 512-bit product is formed only when the bit lengths
// allow an overflow (msb(x) + msb(y) >= 255); below that the 256-bit product is exact.
MathResult<u256> mul(const u256& x, const u256& y) noexcept {
    if (x.is_zero() || y.is_zero()) return u256(0);
    if (msb(x) + msb(y) < 255) return u256(x * y);
    const u512 wide = u512(x) * u512(y);
    if (wide > u512(std::numeric_limits<u256>::max())) return unexpected(MathError::overflow);
    return u256(wide);
}

MathResult<u256> add(const u256& x, const u256& y) noexcept {
    u256 sum = x + y;  // wraps; a wrapped sum is smaller than either operand
    if (sum < x) return unexpected(MathError::overflow);
    return sum;
}

MathResult<u256> sub(const u256& x, const u256& y) noexcept {
    if (y > x) return unexpected(MathError::underflow);
    return u256(x - y);
}

MathResult<u256> div(const u256& x, const u256& d) noexcept {
    if (d.is_zero()) return unexpected(MathError::division_by_zero);
    return u256(x / d);
}

// UtilsLib.toUint128.
MathResult<u256> to_uint128(const u256& x) noexcept {
    if (x > kMaxUint128) return unexpected(MathError::max_uint128_exceeded);
    return x;
}

// A uint128 field's checked `+=` (Panic 0x11 on overflow).
MathResult<u256> add128(const u256& field, const u256& x) noexcept {
    VIGIL_MORPHO_TRY(sum, add(field, x));
    if (sum > kMaxUint128) return unexpected(MathError::overflow);
    return sum;
}

// UtilsLib.zeroFloorSub: max(0, x - y).
u256 zero_floor_sub(const u256& x, const u256& y) noexcept {
    return x > y ? u256(x - y) : u256(0);
}

// Morpho._isHealthy(marketParams, id, borrower, collateralPrice): the 4-argument form,
// which liquidate calls without the 3-argument form's "no borrow shares" shortcut.
//
// borrowed = toAssetsUp(borrowShares) = (x + (S - 1)) / S = ceil(x / S), with
// x = borrowShares * (totalBorrowAssets + 1) and S = totalBorrowShares + 1e6. For an integer
// maxBorrow m, m >= ceil(x / S) exactly when m * S >= x, so the comparison needs no division:
// u256 division is what costs here (about 80 ns each with Boost, a product about 8 ns), and
// this takes one of the three out. The sums and products Solidity evaluates are still
// checked, so a check that would revert on chain fails here too.
MathResult<bool> is_healthy_at(const Position& position, const Market& market, const u256& price,
                               const u256& lltv) noexcept {
    VIGIL_MORPHO_TRY(assets_total, add(market.total_borrow_assets, kVirtualAssets));
    VIGIL_MORPHO_TRY(shares_total, add(market.total_borrow_shares, kVirtualShares));
    VIGIL_MORPHO_TRY(owed_scaled, mul(position.borrow_shares, assets_total));
    if (!add(owed_scaled, shares_total - 1)) return unexpected(MathError::overflow);  // mulDivUp
    VIGIL_MORPHO_TRY(limit, max_borrow(position.collateral, price, lltv));
    // A product past 2^256 is larger than owed_scaled, which fits.
    const auto limit_scaled = mul(limit, shares_total);
    return !limit_scaled || *limit_scaled >= owed_scaled;
}

}  // namespace

std::string_view to_string(MathError e) noexcept {
    switch (e) {
        case MathError::overflow:
        case MathError::underflow:
            return "arithmetic overflow or underflow";
        case MathError::division_by_zero:
            return "division or modulo by zero";
        case MathError::max_uint128_exceeded:
            return "max uint128 exceeded";
        case MathError::inconsistent_input:
            return "inconsistent input";
        case MathError::healthy_position:
            return "position is healthy";
    }
    return "unknown";
}

// ---------------------------------------------------------------------------------------
// MathLib

MathResult<u256> mul_div_down(const u256& x, const u256& y, const u256& d) noexcept {
    // (x * y) / d
    VIGIL_MORPHO_TRY(product, mul(x, y));
    return div(product, d);
}

MathResult<u256> mul_div_up(const u256& x, const u256& y, const u256& d) noexcept {
    // (x * y + (d - 1)) / d
    VIGIL_MORPHO_TRY(product, mul(x, y));
    VIGIL_MORPHO_TRY(d_minus_1, sub(d, 1));
    VIGIL_MORPHO_TRY(sum, add(product, d_minus_1));
    return div(sum, d);
}

MathResult<u256> w_mul_down(const u256& x, const u256& y) noexcept {
    return mul_div_down(x, y, kWad);
}

MathResult<u256> w_div_down(const u256& x, const u256& y) noexcept {
    return mul_div_down(x, kWad, y);
}

MathResult<u256> w_div_up(const u256& x, const u256& y) noexcept {
    return mul_div_up(x, kWad, y);
}

MathResult<u256> w_taylor_compounded(const u256& x, const u256& n) noexcept {
    // firstTerm = x * n; secondTerm = mulDivDown(firstTerm, firstTerm, 2 * WAD);
    // thirdTerm = mulDivDown(secondTerm, firstTerm, 3 * WAD); return the sum.
    VIGIL_MORPHO_TRY(first, mul(x, n));
    VIGIL_MORPHO_TRY(second, mul_div_down(first, first, 2 * kWad));
    VIGIL_MORPHO_TRY(third, mul_div_down(second, first, 3 * kWad));
    VIGIL_MORPHO_TRY(partial, add(first, second));
    return add(partial, third);
}

// ---------------------------------------------------------------------------------------
// SharesMathLib

MathResult<u256> to_shares_down(const u256& assets, const u256& total_assets,
                                const u256& total_shares) noexcept {
    VIGIL_MORPHO_TRY(shares, add(total_shares, kVirtualShares));
    VIGIL_MORPHO_TRY(assets_total, add(total_assets, kVirtualAssets));
    return mul_div_down(assets, shares, assets_total);
}

MathResult<u256> to_assets_down(const u256& shares, const u256& total_assets,
                                const u256& total_shares) noexcept {
    VIGIL_MORPHO_TRY(assets_total, add(total_assets, kVirtualAssets));
    VIGIL_MORPHO_TRY(shares_total, add(total_shares, kVirtualShares));
    return mul_div_down(shares, assets_total, shares_total);
}

MathResult<u256> to_shares_up(const u256& assets, const u256& total_assets,
                              const u256& total_shares) noexcept {
    VIGIL_MORPHO_TRY(shares, add(total_shares, kVirtualShares));
    VIGIL_MORPHO_TRY(assets_total, add(total_assets, kVirtualAssets));
    return mul_div_up(assets, shares, assets_total);
}

MathResult<u256> to_assets_up(const u256& shares, const u256& total_assets,
                              const u256& total_shares) noexcept {
    VIGIL_MORPHO_TRY(assets_total, add(total_assets, kVirtualAssets));
    VIGIL_MORPHO_TRY(shares_total, add(total_shares, kVirtualShares));
    return mul_div_up(shares, assets_total, shares_total);
}

// ---------------------------------------------------------------------------------------
// MarketParamsLib

Hash32 MarketParams::id() const noexcept {
    std::array<uint8_t, 5 * 32> words{};
    const Address* addresses[] = {&loan_token, &collateral_token, &oracle, &irm};
    for (std::size_t i = 0; i < 4; ++i)
        std::copy(addresses[i]->bytes.begin(), addresses[i]->bytes.end(),
                  words.begin() + 32 * i + 12);
    store_be(lltv, std::span<uint8_t, 32>(words.data() + 4 * 32, 32));
    return keccak256(BytesView(words));
}

// ---------------------------------------------------------------------------------------
// Morpho._accrueInterest

MathResult<Accrual> accrue_interest(Market& market, const u256& borrow_rate,
                                    uint64_t timestamp) noexcept {
    // uint256 elapsed = block.timestamp - market[id].lastUpdate; if (elapsed == 0) return;
    VIGIL_MORPHO_TRY(elapsed, sub(u256(timestamp), market.last_update));
    if (elapsed.is_zero()) return Accrual{};

    Market m = market;
    Accrual accrual;
    // interest = totalBorrowAssets.wMulDown(borrowRate.wTaylorCompounded(elapsed))
    VIGIL_MORPHO_TRY(growth, w_taylor_compounded(borrow_rate, elapsed));
    VIGIL_MORPHO_TRY(interest, w_mul_down(m.total_borrow_assets, growth));
    accrual.interest = interest;
    // totalBorrowAssets += interest.toUint128(); totalSupplyAssets += interest.toUint128();
    VIGIL_MORPHO_TRY(interest128, to_uint128(interest));
    VIGIL_MORPHO_TRY(borrow_assets, add128(m.total_borrow_assets, interest128));
    m.total_borrow_assets = borrow_assets;
    VIGIL_MORPHO_TRY(supply_assets, add128(m.total_supply_assets, interest128));
    m.total_supply_assets = supply_assets;

    if (!m.fee.is_zero()) {
        // feeAmount = interest.wMulDown(fee); the fee is taken out of the supply total in
        // the share price because that total already includes the whole interest:
        // feeShares = feeAmount.toSharesDown(totalSupplyAssets - feeAmount, totalSupplyShares)
        VIGIL_MORPHO_TRY(fee_amount, w_mul_down(interest, m.fee));
        VIGIL_MORPHO_TRY(supply_without_fee, sub(m.total_supply_assets, fee_amount));
        VIGIL_MORPHO_TRY(fee_shares,
                         to_shares_down(fee_amount, supply_without_fee, m.total_supply_shares));
        // totalSupplyShares += feeShares.toUint128() (the fee recipient's supplyShares too)
        VIGIL_MORPHO_TRY(fee_shares128, to_uint128(fee_shares));
        VIGIL_MORPHO_TRY(supply_shares, add128(m.total_supply_shares, fee_shares128));
        m.total_supply_shares = supply_shares;
        accrual.fee_shares = fee_shares;
    }
    // lastUpdate = uint128(block.timestamp)
    m.last_update = timestamp;
    market = m;
    return accrual;
}

// ---------------------------------------------------------------------------------------
// Morpho._isHealthy

MathResult<u256> borrowed_assets(const Position& position, const Market& market) noexcept {
    return to_assets_up(position.borrow_shares, market.total_borrow_assets,
                        market.total_borrow_shares);
}

MathResult<u256> max_borrow(const u256& collateral, const u256& price, const u256& lltv) noexcept {
    // collateral.mulDivDown(collateralPrice, ORACLE_PRICE_SCALE).wMulDown(marketParams.lltv)
    VIGIL_MORPHO_TRY(value, mul_div_down(collateral, price, kOraclePriceScale));
    return w_mul_down(value, lltv);
}

MathResult<bool> is_healthy(const Position& position, const Market& market, const u256& price,
                            const u256& lltv) noexcept {
    // if (position[id][borrower].borrowShares == 0) return true;
    if (position.borrow_shares.is_zero()) return true;
    return is_healthy_at(position, market, price, lltv);
}

// ---------------------------------------------------------------------------------------
// Morpho.liquidate

MathResult<u256> liquidation_incentive_factor(const u256& lltv) noexcept {
    // min(MAX_LIQUIDATION_INCENTIVE_FACTOR, WAD.wDivDown(WAD - LIQUIDATION_CURSOR.wMulDown(WAD -
    // lltv)))
    VIGIL_MORPHO_TRY(one_minus_lltv, sub(kWad, lltv));
    VIGIL_MORPHO_TRY(cursor_part, w_mul_down(kLiquidationCursor, one_minus_lltv));
    VIGIL_MORPHO_TRY(denominator, sub(kWad, cursor_part));
    VIGIL_MORPHO_TRY(factor, w_div_down(kWad, denominator));
    return factor < kMaxLiquidationIncentiveFactor ? factor : kMaxLiquidationIncentiveFactor;
}

MathResult<u256> repaid_shares_for_seized(const Market& market, const u256& seized_assets,
                                          const u256& price,
                                          const u256& incentive_factor) noexcept {
    // seizedAssetsQuoted = seizedAssets.mulDivUp(collateralPrice, ORACLE_PRICE_SCALE);
    // repaidShares = seizedAssetsQuoted.wDivUp(liquidationIncentiveFactor)
    //                    .toSharesUp(totalBorrowAssets, totalBorrowShares);
    VIGIL_MORPHO_TRY(quoted, mul_div_up(seized_assets, price, kOraclePriceScale));
    VIGIL_MORPHO_TRY(repaid_assets, w_div_up(quoted, incentive_factor));
    return to_shares_up(repaid_assets, market.total_borrow_assets, market.total_borrow_shares);
}

MathResult<u256> seized_for_repaid_shares(const Market& market, const u256& repaid_shares,
                                          const u256& price,
                                          const u256& incentive_factor) noexcept {
    // seizedAssets = repaidShares.toAssetsDown(totalBorrowAssets, totalBorrowShares)
    //                    .wMulDown(liquidationIncentiveFactor)
    //                    .mulDivDown(ORACLE_PRICE_SCALE, collateralPrice);
    VIGIL_MORPHO_TRY(assets, to_assets_down(repaid_shares, market.total_borrow_assets,
                                            market.total_borrow_shares));
    VIGIL_MORPHO_TRY(with_incentive, w_mul_down(assets, incentive_factor));
    return mul_div_down(with_incentive, kOraclePriceScale, price);
}

MathResult<Liquidation> liquidate(Market& market, Position& position, const u256& lltv,
                                  const u256& price, const u256& seized_assets,
                                  const u256& repaid_shares) noexcept {
    // require(UtilsLib.exactlyOneZero(seizedAssets, repaidShares), ErrorsLib.INCONSISTENT_INPUT);
    if (seized_assets.is_zero() == repaid_shares.is_zero())
        return unexpected(MathError::inconsistent_input);

    Market m = market;
    Position p = position;
    Liquidation out;
    out.seized_assets = seized_assets;
    out.repaid_shares = repaid_shares;
    {
        // require(!_isHealthy(marketParams, id, borrower, collateralPrice), HEALTHY_POSITION);
        VIGIL_MORPHO_TRY(healthy, is_healthy_at(p, m, price, lltv));
        if (healthy) return unexpected(MathError::healthy_position);

        VIGIL_MORPHO_TRY(factor, liquidation_incentive_factor(lltv));
        if (!seized_assets.is_zero()) {
            VIGIL_MORPHO_TRY(shares, repaid_shares_for_seized(m, seized_assets, price, factor));
            out.repaid_shares = shares;
        } else {
            VIGIL_MORPHO_TRY(seized, seized_for_repaid_shares(m, repaid_shares, price, factor));
            out.seized_assets = seized;
        }
    }
    // repaidAssets = repaidShares.toAssetsUp(totalBorrowAssets, totalBorrowShares);
    VIGIL_MORPHO_TRY(repaid_assets,
                     to_assets_up(out.repaid_shares, m.total_borrow_assets, m.total_borrow_shares));
    out.repaid_assets = repaid_assets;

    // position.borrowShares -= repaidShares.toUint128();
    // market.totalBorrowShares -= repaidShares.toUint128();
    // market.totalBorrowAssets = zeroFloorSub(totalBorrowAssets, repaidAssets).toUint128();
    VIGIL_MORPHO_TRY(repaid_shares128, to_uint128(out.repaid_shares));
    VIGIL_MORPHO_TRY(borrow_shares, sub(p.borrow_shares, repaid_shares128));
    p.borrow_shares = borrow_shares;
    VIGIL_MORPHO_TRY(total_borrow_shares, sub(m.total_borrow_shares, repaid_shares128));
    m.total_borrow_shares = total_borrow_shares;
    m.total_borrow_assets = zero_floor_sub(m.total_borrow_assets, out.repaid_assets);

    // position.collateral -= seizedAssets.toUint128();
    VIGIL_MORPHO_TRY(seized128, to_uint128(out.seized_assets));
    VIGIL_MORPHO_TRY(collateral, sub(p.collateral, seized128));
    p.collateral = collateral;

    if (p.collateral.is_zero()) {
        // badDebtShares = position.borrowShares;
        // badDebtAssets = min(totalBorrowAssets, badDebtShares.toAssetsUp(totalBorrowAssets,
        //                                                                 totalBorrowShares));
        out.bad_debt_shares = p.borrow_shares;
        VIGIL_MORPHO_TRY(bad_assets, to_assets_up(out.bad_debt_shares, m.total_borrow_assets,
                                                  m.total_borrow_shares));
        out.bad_debt_assets =
            bad_assets < m.total_borrow_assets ? bad_assets : m.total_borrow_assets;
        // totalBorrowAssets -= badDebtAssets; totalSupplyAssets -= badDebtAssets;
        // totalBorrowShares -= badDebtShares; position.borrowShares = 0;
        VIGIL_MORPHO_TRY(tba, sub(m.total_borrow_assets, out.bad_debt_assets));
        VIGIL_MORPHO_TRY(tsa, sub(m.total_supply_assets, out.bad_debt_assets));
        VIGIL_MORPHO_TRY(tbs, sub(m.total_borrow_shares, out.bad_debt_shares));
        m.total_borrow_assets = tba;
        m.total_supply_assets = tsa;
        m.total_borrow_shares = tbs;
        p.borrow_shares = 0;
    }
    market = m;
    position = p;
    return out;
}

// ---------------------------------------------------------------------------------------
// Choosing the liquidation

namespace {

// One liquidate call simulated on copies, with its profit; nullopt when Morpho would
// revert with these arguments (too many shares or too much collateral, a cap exceeded).
std::optional<LiquidationPlan> simulate(const Market& market, const Position& position,
                                        const u256& lltv, const u256& price, const u256& seized,
                                        const u256& shares, const std::optional<u256>& cap) {
    Market m = market;
    Position p = position;
    const auto done = liquidate(m, p, lltv, price, seized, shares);
    if (!done) return std::nullopt;
    if (cap && done->repaid_assets > *cap) return std::nullopt;
    const auto value = mul_div_down(done->seized_assets, price, kOraclePriceScale);
    if (!value) return std::nullopt;
    LiquidationPlan plan;
    plan.seized_assets = seized;
    plan.repaid_shares = shares;
    plan.expected = *done;
    plan.seized_value = *value;
    plan.profit = i256(*value) - i256(done->repaid_assets);
    return plan;
}

}  // namespace

MathResult<std::optional<LiquidationPlan>> best_liquidation(
    const Market& market, const Position& position, const u256& lltv, const u256& price,
    const std::optional<u256>& max_repay_assets) noexcept {
    if (position.borrow_shares.is_zero() || position.collateral.is_zero())
        return std::optional<LiquidationPlan>();
    VIGIL_MORPHO_TRY(healthy, is_healthy_at(position, market, price, lltv));
    if (healthy) return std::optional<LiquidationPlan>();
    VIGIL_MORPHO_TRY(factor, liquidation_incentive_factor(lltv));

    std::optional<LiquidationPlan> best;
    const auto consider = [&best](std::optional<LiquidationPlan> plan) {
        if (plan && (!best || plan->profit > best->profit)) best = std::move(plan);
    };

    // Repaying every borrow share, when the collateral covers the seizure it implies.
    VIGIL_MORPHO_TRY(seized_all,
                     seized_for_repaid_shares(market, position.borrow_shares, price, factor));
    if (seized_all <= position.collateral)
        consider(
            simulate(market, position, lltv, price, 0, position.borrow_shares, max_repay_assets));

    // Seizing by amount: the largest seizedAssets in [1, collateral] whose derived
    // repaidShares stays within the position's shares and whose repaid assets stay within
    // the cap. Both grow with seizedAssets, so the feasible amounts are an interval from 1.
    const auto feasible = [&](const u256& seized) {
        return simulate(market, position, lltv, price, seized, 0, max_repay_assets);
    };
    if (auto all = feasible(position.collateral)) {
        consider(std::move(all));
        return best;
    }
    // Not all of it: the bound is near the seizure that repays the binding amount of
    // shares, all of them or what the cap's assets buy; the search starts there (4
    // simulations in all when that estimate is exact).
    u256 shares = position.borrow_shares;
    if (max_repay_assets) {
        const auto capped = to_shares_down(*max_repay_assets, market.total_borrow_assets,
                                           market.total_borrow_shares);
        if (capped && *capped < shares) shares = *capped;
    }
    const auto seized = seized_for_repaid_shares(market, shares, price, factor);
    consider(largest_feasible(position.collateral, seized ? *seized : u256(1), feasible));
    return best;
}

#undef VIGIL_MORPHO_TRY

}  // namespace vigil::morpho
