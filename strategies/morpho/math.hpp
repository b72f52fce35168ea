#pragma once
// Morpho Blue's arithmetic, mirrored from @morpho-org/morpho-blue 1.0.0 (src/Morpho.sol and
// src/libraries/{MathLib,SharesMathLib,ConstantsLib,MarketParamsLib,UtilsLib}.sol), so that
// health, accrued interest and liquidation amounts computed here are the ones the contract
// computes, to the wei. Each function names the Solidity function it mirrors.
//
// Solidity 0.8 arithmetic is checked: where Morpho would revert (a product over 2^256, a
// subtraction below zero, a division by zero, a uint128 cast or field that overflows) these
// functions return that failure instead of wrapping. Every operand stays in 256 bits as in
// the EVM; a 512-bit product is formed only to tell whether x*y overflowed, and only when
// the operands' bit lengths say it might.
//
// Nothing here allocates: u256 is Boost's fixed-width cpp_int (inline storage).
//
// Speed: Boost's u256 division is the bottleneck (about 80 ns; a product about 8 ns).
// is_healthy needs two (maxBorrow's 1e36 and 1e18 scalings; the debt's rounding-up division
// is replaced by an exact cross-multiplication) and takes about 170 ns per position here,
// 17 ms for 100,000, against a 5 ms target. Getting there needs a screen in front of it,
// e.g. per market and price a floating-point health ratio with a proven error bound that
// settles all but the positions within that bound of the boundary, which this exact check
// then decides (or 128-bit native limbs with division by the constant scales).
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>

#include "chain/bytes.hpp"
#include "chain/result.hpp"
#include "chain/u256.hpp"

namespace vigil::morpho {

/// MathLib.WAD: 1e18, the unit of lltv, fee and rates.
inline const u256 kWad{1'000'000'000'000'000'000ULL};
/// ConstantsLib.ORACLE_PRICE_SCALE: 1e36. An oracle price is the value of 1 collateral
/// unit in loan units, times 1e36.
inline const u256 kOraclePriceScale = kWad * kWad;
/// SharesMathLib.VIRTUAL_SHARES and VIRTUAL_ASSETS.
inline const u256 kVirtualShares{1'000'000U};
inline const u256 kVirtualAssets{1U};
/// ConstantsLib.MAX_LIQUIDATION_INCENTIVE_FACTOR (1.15e18) and LIQUIDATION_CURSOR (0.3e18).
inline const u256 kMaxLiquidationIncentiveFactor{1'150'000'000'000'000'000ULL};
inline const u256 kLiquidationCursor{300'000'000'000'000'000ULL};
/// type(uint128).max: the bound of every Market field and of Position borrow shares and
/// collateral.
inline const u256 kMaxUint128 = (u256(1) << 128) - 1;

/// Why Morpho would revert. The first four are Solidity panics (checked arithmetic); the
/// others are Morpho's require messages (ErrorsLib), see to_string.
enum class MathError : uint8_t {
    overflow,              ///< Panic 0x11: a sum or product over 2^256 - 1
    underflow,             ///< Panic 0x11: a subtraction below zero
    division_by_zero,      ///< Panic 0x12
    max_uint128_exceeded,  ///< UtilsLib.toUint128 (a uint128 field's `+=` is `overflow`)
    inconsistent_input,    ///< liquidate: not exactly one of seizedAssets, repaidShares is 0
    healthy_position,      ///< liquidate: the position is healthy
};
/// Morpho's message for the require failures ("position is healthy", "inconsistent
/// input", "max uint128 exceeded"), "arithmetic overflow or underflow" / "division or
/// modulo by zero" for the panics.
std::string_view to_string(MathError e) noexcept;

template <class T>
using MathResult = Result<T, MathError>;

// ---------------------------------------------------------------------------------------
// MathLib

/// MathLib.mulDivDown: (x * y) / d, rounded down; overflow when x * y does not fit.
[[nodiscard]] MathResult<u256> mul_div_down(const u256& x, const u256& y, const u256& d) noexcept;
/// MathLib.mulDivUp: (x * y + (d - 1)) / d. Checked in Solidity's evaluation order: the
/// product, then d - 1 (underflow for d = 0), then the sum.
[[nodiscard]] MathResult<u256> mul_div_up(const u256& x, const u256& y, const u256& d) noexcept;
/// MathLib.wMulDown: x * y / WAD.
[[nodiscard]] MathResult<u256> w_mul_down(const u256& x, const u256& y) noexcept;
/// MathLib.wDivDown: x * WAD / y.
[[nodiscard]] MathResult<u256> w_div_down(const u256& x, const u256& y) noexcept;
/// MathLib.wDivUp: x * WAD / y, rounded up.
[[nodiscard]] MathResult<u256> w_div_up(const u256& x, const u256& y) noexcept;
/// MathLib.wTaylorCompounded: x*n + (x*n)^2/(2 WAD) + (x*n)^3/(6 WAD^2), the first three
/// terms of e^(x n) - 1 (x a per-second WAD rate, n seconds).
[[nodiscard]] MathResult<u256> w_taylor_compounded(const u256& x, const u256& n) noexcept;

// ---------------------------------------------------------------------------------------
// SharesMathLib (virtual shares and assets: OpenZeppelin's inflation-attack mitigation)

/// SharesMathLib.toSharesDown: assets * (totalShares + 1e6) / (totalAssets + 1).
[[nodiscard]] MathResult<u256> to_shares_down(const u256& assets, const u256& total_assets,
                                              const u256& total_shares) noexcept;
/// SharesMathLib.toAssetsDown: shares * (totalAssets + 1) / (totalShares + 1e6).
[[nodiscard]] MathResult<u256> to_assets_down(const u256& shares, const u256& total_assets,
                                              const u256& total_shares) noexcept;
/// SharesMathLib.toSharesUp.
[[nodiscard]] MathResult<u256> to_shares_up(const u256& assets, const u256& total_assets,
                                            const u256& total_shares) noexcept;
/// SharesMathLib.toAssetsUp.
[[nodiscard]] MathResult<u256> to_assets_up(const u256& shares, const u256& total_assets,
                                            const u256& total_shares) noexcept;

// ---------------------------------------------------------------------------------------
// State (IMorpho.sol structs)

/// IMorpho.MarketParams.
struct MarketParams {
    Address loan_token;
    Address collateral_token;
    Address oracle;
    Address irm;
    u256 lltv;  ///< WAD; enabled LLTVs are below 1e18

    /// MarketParamsLib.id: keccak256 of the five 32-byte words (= abi.encode(params)).
    Hash32 id() const noexcept;
    bool operator==(const MarketParams&) const = default;
};

/// IMorpho.Market. Every field is a uint128 on chain (values above kMaxUint128 never
/// occur there); they are u256 here so that arithmetic reads like Solidity's.
struct Market {
    u256 total_supply_assets = 0;
    u256 total_supply_shares = 0;
    u256 total_borrow_assets = 0;
    u256 total_borrow_shares = 0;
    u256 last_update = 0;  ///< seconds (block timestamp of the last accrual)
    u256 fee = 0;          ///< WAD share of interest that goes to the fee recipient
    bool operator==(const Market&) const = default;
};

/// IMorpho.Position. borrow_shares and collateral are uint128 on chain.
struct Position {
    u256 supply_shares = 0;
    u256 borrow_shares = 0;
    u256 collateral = 0;
    bool operator==(const Position&) const = default;
};

// ---------------------------------------------------------------------------------------
// Interest

struct Accrual {
    u256 interest = 0;    ///< added to both total borrow and total supply assets
    u256 fee_shares = 0;  ///< minted to the fee recipient
};

/// Morpho._accrueInterest: brings `market` to `timestamp` with the IRM's per-second WAD
/// rate `borrow_rate`, which the caller gets from the IRM for the market *before* this
/// accrual (IIrm.borrowRate(marketParams, market)). A market whose IRM is address(0) is
/// the same as rate 0. Nothing happens when timestamp == last_update. On failure `market`
/// is unchanged (Morpho's transaction would revert); underflow when timestamp is before
/// last_update.
[[nodiscard]] MathResult<Accrual> accrue_interest(Market& market, const u256& borrow_rate,
                                                  uint64_t timestamp) noexcept;

// ---------------------------------------------------------------------------------------
// Health

/// The debt of a position in loan assets, rounded up as Morpho._isHealthy rounds it:
/// toAssetsUp(borrowShares, totalBorrowAssets, totalBorrowShares). `market` must be accrued
/// to the block being evaluated.
[[nodiscard]] MathResult<u256> borrowed_assets(const Position& position,
                                               const Market& market) noexcept;
/// The most a collateral may back (Morpho._isHealthy's maxBorrow):
/// collateral * price / 1e36 (down), then * lltv / WAD (down).
[[nodiscard]] MathResult<u256> max_borrow(const u256& collateral, const u256& price,
                                          const u256& lltv) noexcept;
/// Morpho._isHealthy(marketParams, id, borrower, collateralPrice): maxBorrow >= borrowed.
/// No borrow shares is healthy without looking at the price, as the 3-argument
/// _isHealthy does. A failure is a revert of whatever Morpho call checks health (e.g. a
/// price so large that collateral * price overflows).
[[nodiscard]] MathResult<bool> is_healthy(const Position& position, const Market& market,
                                          const u256& price, const u256& lltv) noexcept;

// ---------------------------------------------------------------------------------------
// Liquidation

/// min(MAX_LIQUIDATION_INCENTIVE_FACTOR, WAD.wDivDown(WAD - LIQUIDATION_CURSOR.wMulDown(WAD -
/// lltv))), as Morpho.liquidate computes it. lltv must be <= WAD (Morpho enables only
/// lltv < WAD); underflow otherwise.
[[nodiscard]] MathResult<u256> liquidation_incentive_factor(const u256& lltv) noexcept;

/// What one Morpho.liquidate call does, in the units of its Liquidate event.
struct Liquidation {
    u256 seized_assets = 0;    ///< collateral sent to the liquidator
    u256 repaid_shares = 0;    ///< borrow shares burnt
    u256 repaid_assets = 0;    ///< loan assets the liquidator pays (toAssetsUp of the shares)
    u256 bad_debt_assets = 0;  ///< debt written off against suppliers (collateral reached 0)
    u256 bad_debt_shares = 0;
};

/// Morpho.liquidate from the accrual on: given exactly one of `seized_assets` and
/// `repaid_shares` non-zero (inconsistent_input otherwise), checks that the position is
/// unhealthy at `price` (healthy_position), computes the other amount, repaid assets, and
/// the bad debt realised when the position's collateral reaches zero; applies all of it to
/// `market` and `position`. `market` must already be accrued to the block's timestamp
/// (see accrue_interest). On failure both are unchanged, as after a revert; seizing more
/// collateral or repaying more shares than the position has is an underflow, as on chain.
[[nodiscard]] MathResult<Liquidation> liquidate(Market& market, Position& position,
                                                const u256& lltv, const u256& price,
                                                const u256& seized_assets,
                                                const u256& repaid_shares) noexcept;

/// The repaidShares Morpho.liquidate derives from seizedAssets:
/// seized.mulDivUp(price, 1e36).wDivUp(LIF).toSharesUp(totalBorrowAssets, totalBorrowShares).
[[nodiscard]] MathResult<u256> repaid_shares_for_seized(const Market& market,
                                                        const u256& seized_assets,
                                                        const u256& price,
                                                        const u256& incentive_factor) noexcept;
/// The seizedAssets Morpho.liquidate derives from repaidShares:
/// shares.toAssetsDown(...).wMulDown(LIF).mulDivDown(1e36, price).
[[nodiscard]] MathResult<u256> seized_for_repaid_shares(const Market& market,
                                                        const u256& repaid_shares,
                                                        const u256& price,
                                                        const u256& incentive_factor) noexcept;

/// The arguments of the most profitable single liquidate call on an unhealthy position,
/// and what it would do.
struct LiquidationPlan {
    u256 seized_assets = 0;  ///< the liquidate argument; 0 when repaid_shares is the one used
    u256 repaid_shares = 0;  ///< the liquidate argument; 0 when seized_assets is the one used
    Liquidation expected;    ///< what the call does (amounts as in the Liquidate event)
    u256 seized_value = 0;   ///< expected.seized_assets * price / 1e36 (down), in loan units
    /// seized_value - expected.repaid_assets, in loan units, before gas; may be negative
    /// for dust positions (the repaid amount rounds up).
    i256 profit = 0;
};

/// The largest x in [1, bound) for which `feasible(x)` holds, with what feasible returned
/// for it, given that feasible (x -> std::optional<T>) holds from 1 up to some point and
/// never after, and that it does not hold at `bound`; nullopt when it does not hold at 1.
/// Starts at `guess` (clamped to [1, bound - 1]), gallops away from it to bracket the
/// answer, then bisects: 2 calls when the guess is the answer, about 2·log2 of the
/// guess's error otherwise. The answer's value is kept, never computed twice.
template <class F>
auto largest_feasible(const u256& bound, const u256& guess, F&& feasible)
    -> decltype(feasible(bound)) {
    using Value = decltype(feasible(bound));
    if (bound <= 1) return Value();
    u256 lo = std::clamp(guess, u256(1), u256(bound - 1));  // feasible once `at_lo` holds
    u256 hi = bound;                                        // not feasible
    Value at_lo = feasible(lo);
    if (at_lo) {
        for (u256 step = 1; hi - lo > step; step <<= 1) {
            auto next = feasible(lo + step);
            if (!next) {
                hi = lo + step;
                break;
            }
            lo += step;
            at_lo = std::move(next);
        }
    } else {
        hi = lo;
        lo = 1;
        if (hi == 1 || !(at_lo = feasible(1))) return Value();
        for (u256 step = 1; hi - lo > step; step <<= 1) {
            if (auto below = feasible(hi - step)) {
                lo = hi - step;
                at_lo = std::move(below);
                break;
            }
            hi -= step;
        }
    }
    while (hi - lo > 1) {
        const u256 mid = lo + (hi - lo) / 2;
        if (auto value = feasible(mid)) {
            lo = mid;
            at_lo = std::move(value);
        } else {
            hi = mid;
        }
    }
    return at_lo;
}

/// Picks the liquidate arguments that maximise the liquidator's profit (seized collateral
/// value minus repaid assets). Profit grows with the amount seized, so this is the largest
/// liquidation the position allows: all its borrow shares when its collateral covers them
/// with the incentive (repaying by shares, which leaves no dust), otherwise all its
/// collateral (Morpho then realises the remaining debt as bad debt), and never more than
/// `max_repay_assets` of repaid assets when given. `market` must be accrued. nullopt when
/// the position is healthy, has no debt or collateral, or the cap allows nothing; an error
/// when Morpho's arithmetic would revert.
[[nodiscard]] MathResult<std::optional<LiquidationPlan>> best_liquidation(
    const Market& market, const Position& position, const u256& lltv, const u256& price,
    const std::optional<u256>& max_repay_assets = std::nullopt) noexcept;

}  // namespace vigil::morpho
