#include "strategies/morpho/book.hpp"

#include <algorithm>
#include <cstring>

namespace vigil::morpho {

namespace {

// Fibonacci hashing of bytes 0..8 and 12..20: addresses are uniform, but crafted ones (tests,
// vanity prefixes) are not, so both ends are mixed in.
std::size_t slot_hash(const Address& a, std::size_t mask) noexcept {
    uint64_t head = 0, tail = 0;
    std::memcpy(&head, a.bytes.data(), 8);
    std::memcpy(&tail, a.bytes.data() + 12, 8);
    return static_cast<std::size_t>(
               ((head ^ (tail * 0x9e3779b97f4a7c15ULL)) * 0x9e3779b97f4a7c15ULL) >> 32) &
           mask;
}

}  // namespace

std::optional<uint32_t> PositionBook::find(const Address& account) const noexcept {
    if (slots_.empty()) return std::nullopt;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = slot_hash(account, mask);; i = (i + 1) & mask) {
        const uint32_t slot = slots_[i];
        if (slot == 0) return std::nullopt;
        if (accounts_[slot - 1] == account) return slot - 1;
    }
}

uint32_t PositionBook::find_or_add(const Address& account) {
    if (auto found = find(account)) return *found;
    if (2 * (accounts_.size() + 1) > slots_.size()) grow_index(accounts_.size() + 1);
    const auto n = static_cast<uint32_t>(accounts_.size());
    accounts_.push_back(account);
    borrow_shares_.push_back(0);
    collateral_.push_back(0);
    liquidations_.push_back(0);
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = slot_hash(account, mask);
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = n + 1;
    return n;
}

// Load factor at most 1/2: probes stay short, and 4-byte slots cost 8 to 16 bytes a position.
void PositionBook::grow_index(std::size_t positions) {
    std::size_t capacity = std::max<std::size_t>(16, slots_.size());
    while (capacity < 2 * positions) capacity *= 2;
    if (capacity == slots_.size()) return;
    slots_.assign(capacity, 0);
    const std::size_t mask = capacity - 1;
    for (uint32_t n = 0; n < accounts_.size(); ++n) {
        std::size_t i = slot_hash(accounts_[n], mask);
        while (slots_[i] != 0) i = (i + 1) & mask;
        slots_[i] = n + 1;
    }
}

void PositionBook::reserve(std::size_t n) {
    accounts_.reserve(n);
    borrow_shares_.reserve(n);
    collateral_.reserve(n);
    liquidations_.reserve(n);
    grow_index(n);
}

bool PositionBook::same_positions(const PositionBook& o) const noexcept {
    const auto covered = [](const PositionBook& x, const PositionBook& y) {
        for (uint32_t i = 0; i < x.size(); ++i) {
            if (x.is_empty(i)) continue;
            const auto j = y.find(x.accounts_[i]);
            if (!j || x.borrow_shares_[i] != y.borrow_shares_[*j] ||
                x.collateral_[i] != y.collateral_[*j] || x.liquidations_[i] != y.liquidations_[*j])
                return false;
        }
        return true;
    };
    return covered(*this, o) && covered(o, *this);
}

// ---------------------------------------------------------------------------------------
// The screen's proof.
//
// Morpho: maxBorrow = floor(floor(c P / 1e36) L / 1e18), borrowed = ceil(s (A+1) / (S+1e6)),
// healthy iff maxBorrow >= borrowed (c collateral, s borrow shares, P price, L lltv, A and S
// the accrued totals). With the reals X = c a, a = P L / 1e54, and Y = s b, b = (A+1)/(S+1e6):
//   X - 2 < maxBorrow <= X   (each floor loses less than 1, and L <= 1e18 scales the first
//                             loss by at most 1)
//   Y <= borrowed < Y + 1.
// So X >= Y + 3 implies healthy (maxBorrow > X - 2 >= Y + 1 > borrowed), and X < Y implies
// unhealthy (maxBorrow <= X < Y <= borrowed).
//
// Doubles (round to nearest, u = 2^-53): a_d = P_d * L_d / 1e54_d has a relative error below
// 2^-49 (a u256 conversion errs by at most 2u, the others by u each). x_lo = a_d (1 - 2^-30)
// rounded is below a (1 - 2^-31); x_hi above a (1 + 2^-31); likewise y_lo, y_hi around b.
// to_double(c) errs by less than 2^-51 relative, so fl(c_d x_lo) <= X, fl(c_d x_hi) >= X,
// fl(s_d y_lo) <= Y, and U = fl(s_d y_hi) lies in [Y (1 + 2^-32), Y (1 + 2^-29)].
// - screen() says healthy when fl(c_d x_lo) >= fl(U + 4) >= (U + 4)(1 - u): then
//   X >= Y + Y 2^-32 + 4 - Y 2^-52 - 2^-51 >= Y + 3.
// - It says unhealthy when fl(c_d x_hi) < fl(s_d y_lo): then X < Y.
// Everything else is undecided and goes to math.hpp.
//
// The bounds that keep this true and keep the exact check from failing (Morpho reverting):
// L <= 1e18, A and S below 2^127 (s (A+1) plus S+1e6 fits 256 bits), P < 2^255, and per
// position c_d <= c_max = 2^255 / P_d (1 - 2^-20), which gives c P < 2^255: collateral * price
// does not overflow. (maxBorrow * (S+1e6) may; math.hpp then answers healthy, which is exact:
// that product exceeds the debt's, which fits.) Positions above c_max go to the exact check;
// markets outside the other bounds disable the screen. Nothing is NaN; a zero price makes
// c_max infinite, which compares as intended.

HealthScreen::HealthScreen(const Market& accrued, const u256& price, const u256& lltv) noexcept
    : market_(accrued), price_(price), lltv_(lltv) {
    const u256 bound127 = u256(1) << 127;
    enabled_ = price < (u256(1) << 255) && lltv <= kWad && accrued.total_borrow_assets < bound127 &&
               accrued.total_borrow_shares < bound127;
    if (!enabled_) return;
    const double a = price.convert_to<double>() * lltv.convert_to<double>() / 1e54;
    const double b = (accrued.total_borrow_assets + kVirtualAssets).convert_to<double>() /
                     (accrued.total_borrow_shares + kVirtualShares).convert_to<double>();
    c_max_ = 0x1p255 / price.convert_to<double>() * (1 - 0x1p-20);
    constexpr double kMargin = 0x1p-30;
    x_lo_ = a * (1 - kMargin);
    x_hi_ = a * (1 + kMargin);
    y_lo_ = b * (1 - kMargin);
    y_hi_ = b * (1 + kMargin);
}

MathResult<bool> HealthScreen::is_healthy(u128 borrow_shares, u128 collateral) const noexcept {
    switch (screen(borrow_shares, collateral)) {
        case Verdict::healthy:
            return true;
        case Verdict::unhealthy:
            return false;
        case Verdict::undecided:
            break;
    }
    return morpho::is_healthy(Position{0, to_u256(borrow_shares), to_u256(collateral)}, market_,
                              price_, lltv_);
}

EvaluationStats evaluate(const PositionBook& book, const HealthScreen& screen,
                         std::vector<uint32_t>& unhealthy) {
    EvaluationStats stats;
    const auto shares = book.borrow_shares();
    const auto collateral = book.collateral();
    const auto n = static_cast<uint32_t>(book.size());
    for (uint32_t i = 0; i < n; ++i) {
        switch (screen.screen(shares[i], collateral[i])) {
            case Verdict::healthy:
                ++stats.screened;
                continue;
            case Verdict::unhealthy:
                ++stats.screened;
                unhealthy.push_back(i);
                continue;
            case Verdict::undecided:
                break;
        }
        ++stats.exact;
        const auto healthy = screen.is_healthy(shares[i], collateral[i]);
        if (!healthy) {
            ++stats.failed;
        } else if (!*healthy) {
            unhealthy.push_back(i);
        }
    }
    return stats;
}

}  // namespace vigil::morpho
