#include "agent/fees.hpp"

#include <algorithm>
#include <cassert>
#include <limits>
#include <vector>

#include "chain/strings.hpp"

namespace vigil::agent {
namespace {

// Decimal digits. Not vigil::to_string (u256::str()): inlined here, GCC 12 reports a false
// -Wrestrict inside Boost's string building.
std::string dec(u256 v) {
    if (v == 0) return "0";
    std::string out;
    while (v != 0) {
        out += static_cast<char>('0' + static_cast<unsigned>(v % 10));
        v /= 10;
    }
    std::reverse(out.begin(), out.end());
    return out;
}

u256 gwei(uint64_t g) {
    return u256(g) * kWeiPerGwei;
}

// Median of the configured percentile over the blocks that had transactions.
u256 median_priority(const FeeHistory& history) {
    std::vector<u256> tips;
    for (std::size_t i = 0; i < history.reward.size(); ++i) {
        if (history.reward[i].empty()) continue;
        if (i < history.gas_used_ratio.size() && history.gas_used_ratio[i] == 0) continue;
        tips.push_back(history.reward[i][0]);
    }
    if (tips.empty()) return 0;
    const auto mid = tips.begin() + static_cast<std::ptrdiff_t>(tips.size() / 2);
    std::nth_element(tips.begin(), mid, tips.end());
    return *mid;
}

// previous + ceil(previous / 8), at least previous + 1.
u256 bumped(const u256& previous) {
    const u256 step = (previous + 7) / 8;
    return previous + std::max(step, u256(1));
}

// geth's txpool replacement minimum with its default price bump of 10%.
u256 node_minimum(const u256& previous) {
    return previous * 110 / 100;
}

}  // namespace

std::string_view to_string(FeeErrc e) noexcept {
    switch (e) {
        case FeeErrc::no_base_fee:
            return "no_base_fee";
        case FeeErrc::no_fee_data:
            return "no_fee_data";
    }
    return "unknown";
}

std::string FeeError::to_string() const {
    std::string out(agent::to_string(kind));
    switch (kind) {
        case FeeErrc::no_base_fee:
            out += ": the chain reports no base fee (not EIP-1559); set its fees to legacy";
            break;
        case FeeErrc::no_fee_data:
            out += ": no base fee and no priority-fee rewards to price a legacy gasPrice from";
            break;
    }
    return out;
}

std::optional<u256> next_base_fee(const BlockHeader& parent) {
    if (!parent.base_fee_per_gas) return std::nullopt;
    const u256& base = *parent.base_fee_per_gas;
    const uint64_t target = parent.gas_limit / 2;
    if (target == 0 || parent.gas_used == target) return base;
    if (parent.gas_used > target) {
        const u256 delta = base * (parent.gas_used - target) / target / 8;
        return base + std::max(delta, u256(1));
    }
    const u256 delta = base * (target - parent.gas_used) / target / 8;
    return base - delta;
}

Result<FeeQuote, FeeError> quote_fees(const FeeHistory& history, const BlockHeader& latest,
                                      const FeeConfig& config) {
    assert(config.base_fee_multiplier >= 1);
    std::optional<u256> next_base;
    if (!history.base_fee_per_gas.empty() && history.base_fee_per_gas.back() != 0) {
        next_base = history.base_fee_per_gas.back();
    } else {
        // geth reports zeros for pre-London blocks, so a zero is "no base fee" too; the
        // header then decides (a 1559 chain with a zero base fee has one in its header).
        next_base = next_base_fee(latest);
    }
    const u256 market_priority = median_priority(history);
    const u256 fee_cap = gwei(config.max_fee_gwei);
    FeeQuote quote;

    if (config.legacy) {
        if (!next_base && market_priority == 0) return unexpected(FeeError{FeeErrc::no_fee_data});
        const u256 wanted = next_base.value_or(0) * config.base_fee_multiplier + market_priority;
        const u256 price = std::min(wanted, fee_cap);
        quote.fees = Fees{price, price, true};
        if (price < wanted) {
            quote.capped = true;
            quote.warning = concat({"gasPrice capped at ", dec(fee_cap), " wei (max_fee_gwei ",
                                    std::to_string(config.max_fee_gwei), "); the market asks ",
                                    dec(wanted), " wei"});
        }
        return quote;
    }

    if (!next_base) return unexpected(FeeError{FeeErrc::no_base_fee});
    const u256 priority_cap = gwei(config.max_priority_fee_gwei);
    u256 priority = std::min(market_priority, priority_cap);
    const u256 wanted_max = *next_base * config.base_fee_multiplier + priority;
    const u256 max_fee = std::min(wanted_max, fee_cap);
    if (market_priority > priority_cap) {
        quote.capped = true;
        quote.warning =
            concat({"priority fee capped at ", dec(priority_cap), " wei (max_priority_fee_gwei ",
                    std::to_string(config.max_priority_fee_gwei), "); the market asks ",
                    dec(market_priority), " wei"});
    }
    if (max_fee < wanted_max) {
        quote.capped = true;
        if (!quote.warning.empty()) quote.warning += "; ";
        quote.warning += concat({"max fee capped at ", dec(fee_cap), " wei (max_fee_gwei ",
                                 std::to_string(config.max_fee_gwei), "); wanted ", dec(wanted_max),
                                 " wei from next base fee ", dec(*next_base), " wei"});
        if (*next_base > fee_cap) quote.warning += ", so the tx cannot be included now";
    }
    priority = std::min(priority, max_fee);
    quote.fees = Fees{max_fee, priority, false};
    return quote;
}

FeeBump bump_fees(const Fees& previous, const FeeConfig& config) {
    const u256 fee_cap = gwei(config.max_fee_gwei);
    const u256 want_max = bumped(previous.max_fee_per_gas);
    const u256 max_fee = std::min(want_max, fee_cap);
    FeeBump bump;
    u256 priority;
    u256 want_priority;
    if (previous.legacy) {
        want_priority = want_max;
        priority = max_fee;
    } else {
        want_priority = bumped(previous.max_priority_fee_per_gas);
        priority = std::min({want_priority, gwei(config.max_priority_fee_gwei), max_fee});
    }
    bump.fees = Fees{max_fee, priority, previous.legacy};
    bump.capped = max_fee < want_max || priority < want_priority;
    const bool max_held =
        max_fee < node_minimum(previous.max_fee_per_gas) || max_fee == previous.max_fee_per_gas;
    const bool priority_held =
        !previous.legacy && (priority < node_minimum(previous.max_priority_fee_per_gas) ||
                             priority == previous.max_priority_fee_per_gas);
    bump.held_at_cap = max_held || priority_held;
    if (bump.held_at_cap) {
        const u256& old = max_held ? previous.max_fee_per_gas : previous.max_priority_fee_per_gas;
        bump.warning = concat(
            {"replacement impossible: ",
             max_held ? (previous.legacy ? "gasPrice " : "max fee ") : "priority fee ", "held at ",
             dec(old), " wei; its cap allows ", dec(max_held ? max_fee : priority),
             " wei, below the node's 10% replacement minimum ", dec(node_minimum(old)), " wei"});
        bump.fees = previous;
    } else if (bump.capped) {
        bump.warning = concat(
            {"bump limited by the fee caps to ", dec(max_fee), " / ", dec(priority), " wei"});
    }
    return bump;
}

u256 gas_cost_wei(uint64_t gas_limit, const u256& max_fee_per_gas) {
    using boost::multiprecision::uint512_t;
    const uint512_t cost = uint512_t(gas_limit) * uint512_t(max_fee_per_gas);
    const uint512_t max = uint512_t(std::numeric_limits<u256>::max());
    return cost > max ? std::numeric_limits<u256>::max() : u256(cost);
}

Result<void, Unprofitable> check_profit(const std::optional<u256>& expected_profit_wei,
                                        uint64_t gas_limit, const Fees& fees) {
    if (!expected_profit_wei) return {};
    const u256 cost = gas_cost_wei(gas_limit, fees.max_fee_per_gas);
    if (cost <= *expected_profit_wei) return {};
    return unexpected(Unprofitable{
        cost, *expected_profit_wei,
        concat({"unprofitable: worst-case gas cost ", dec(cost), " wei (gas limit ",
                std::to_string(gas_limit), " × max fee ", dec(fees.max_fee_per_gas),
                " wei) exceeds expected profit ", dec(*expected_profit_wei), " wei"})});
}

}  // namespace vigil::agent
