#pragma once
// The liquidator's compact mirror of one Morpho Blue market's positions, and the screen that
// decides their health in a few nanoseconds each.
//
// Memory: Morpho stores a position's borrowShares and collateral as uint128, so they are kept
// here as two flat arrays of native 128-bit integers beside the accounts (20 bytes) and the
// count of Liquidate events (4 bytes): 56 bytes a position, plus an open-addressing index of
// 4-byte slots (8 to 16 bytes a position at its load factor), plus vector slack.
//
// Speed: math.hpp's exact health check costs about 170 ns (Boost u256 divisions). With the
// block's price, lltv and accrued totals fixed, HealthScreen reduces a position's check to
// two int-to-double conversions and two multiplications, with an error margin proven in
// book.cpp, and sends only positions within that margin of the boundary (about 2^-30
// relative) to the exact check; the result is always the exact check's.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "chain/bytes.hpp"
#include "chain/u256.hpp"
#include "strategies/morpho/math.hpp"

namespace vigil::morpho {

/// Native unsigned 128-bit integer (GCC/Clang), the width of Morpho's position fields.
__extension__ typedef unsigned __int128 u128;

inline u256 to_u256(u128 v) noexcept {
    return (u256(static_cast<uint64_t>(v >> 64)) << 64) | u256(static_cast<uint64_t>(v));
}
/// The low 128 bits of `v` (values from Morpho's uint128 fields fit).
inline u128 low128(const u256& v) noexcept {
    const u256 lo = v & u256(~uint64_t{0});
    const u256 hi = (v >> 64) & u256(~uint64_t{0});
    return (u128(hi.convert_to<uint64_t>()) << 64) | u128(lo.convert_to<uint64_t>());
}

/// The positions of one market: flat arrays indexed by a position number, and an index
/// from account to number. Positions are never removed (an emptied one keeps its number
/// and its liquidation count, which the intents' keys depend on).
class PositionBook {
public:
    std::size_t size() const noexcept { return accounts_.size(); }
    std::optional<uint32_t> find(const Address& account) const noexcept;
    /// The position of `account`, created empty if new.
    uint32_t find_or_add(const Address& account);

    const Address& account(uint32_t i) const noexcept { return accounts_[i]; }
    u128& borrow_shares(uint32_t i) noexcept { return borrow_shares_[i]; }
    u128& collateral(uint32_t i) noexcept { return collateral_[i]; }
    uint32_t& liquidations(uint32_t i) noexcept { return liquidations_[i]; }
    u128 borrow_shares(uint32_t i) const noexcept { return borrow_shares_[i]; }
    u128 collateral(uint32_t i) const noexcept { return collateral_[i]; }
    uint32_t liquidations(uint32_t i) const noexcept { return liquidations_[i]; }
    std::span<const u128> borrow_shares() const noexcept { return borrow_shares_; }
    std::span<const u128> collateral() const noexcept { return collateral_; }

    /// math.hpp's form of position i (supply shares are not mirrored: 0).
    Position position(uint32_t i) const noexcept {
        return Position{0, to_u256(borrow_shares_[i]), to_u256(collateral_[i])};
    }
    /// No borrow shares, no collateral, no liquidation: the same as no position.
    bool is_empty(uint32_t i) const noexcept {
        return borrow_shares_[i] == 0 && collateral_[i] == 0 && liquidations_[i] == 0;
    }
    void reserve(std::size_t n);
    /// The same non-empty positions (whatever their numbering).
    bool same_positions(const PositionBook& o) const noexcept;

private:
    void grow_index(std::size_t positions);

    std::vector<Address> accounts_;
    std::vector<u128> borrow_shares_;
    std::vector<u128> collateral_;
    std::vector<uint32_t> liquidations_;
    /// Open addressing, linear probing: 0 is empty, otherwise position number + 1.
    std::vector<uint32_t> slots_;
};

enum class Verdict : uint8_t { healthy, unhealthy, undecided };

/// Morpho's health check for one block of one market, screened. Build it from the market
/// accrued to the block, the oracle price and the lltv; then screen(...) settles a position
/// with doubles when it is clearly on one side, and is_healthy(...) gives exactly
/// math.hpp's is_healthy for every position (the exact check for the undecided ones).
class HealthScreen {
public:
    HealthScreen(const Market& accrued, const u256& price, const u256& lltv) noexcept;

    /// healthy / unhealthy only when math.hpp's is_healthy would say so (and not fail);
    /// undecided otherwise. Inline: the per-position loop is the hot path.
    Verdict screen(u128 borrow_shares, u128 collateral) const noexcept {
        if (borrow_shares == 0) return Verdict::healthy;
        if (!enabled_) return Verdict::undecided;
        const double c = to_double(collateral);
        const double s = to_double(borrow_shares);
        if (c > c_max_) return Verdict::undecided;  // collateral * price may overflow
        if (c * x_lo_ >= s * y_hi_ + 4.0) return Verdict::healthy;
        if (c * x_hi_ < s * y_lo_) return Verdict::unhealthy;
        return Verdict::undecided;
    }
    /// Exactly is_healthy(Position{0, shares, collateral}, accrued, price, lltv).
    MathResult<bool> is_healthy(u128 borrow_shares, u128 collateral) const noexcept;

    /// False when the market's values are outside the bounds the proof assumes (then every
    /// position goes to the exact check).
    bool enabled() const noexcept { return enabled_; }

    /// Rounded to nearest twice: relative error below 2^-51.
    static double to_double(u128 v) noexcept {
        return static_cast<double>(static_cast<uint64_t>(v >> 64)) * 0x1p64 +
               static_cast<double>(static_cast<uint64_t>(v));
    }

private:
    Market market_;
    u256 price_;
    u256 lltv_;
    bool enabled_ = false;
    // Bounds on maxBorrow's real value per collateral unit (price * lltv / 1e54) and on
    // the debt's real value per borrow share ((totalBorrowAssets + 1) / (totalBorrowShares
    // + 1e6)), widened by 2^-30 relative each way: see book.cpp.
    double x_lo_ = 0, x_hi_ = 0, y_lo_ = 0, y_hi_ = 0;
    /// Collateral (as a double) below which collateral * price < 2^255 surely.
    double c_max_ = 0;
};

/// What evaluate() found.
struct EvaluationStats {
    std::size_t screened = 0;  ///< settled by the screen
    std::size_t exact = 0;     ///< sent to the exact check
    std::size_t failed = 0;    ///< the exact check failed (Morpho's arithmetic would revert)
};

/// Appends to `unhealthy` the number of every position of `book` that Morpho would let be
/// liquidated at this block: borrow shares and is_healthy false. Positions whose check fails
/// (a revert on chain) are counted, not listed.
EvaluationStats evaluate(const PositionBook& book, const HealthScreen& screen,
                         std::vector<uint32_t>& unhealthy);

}  // namespace vigil::morpho
