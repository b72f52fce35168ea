#pragma once
// Fee policy of the transaction pipeline: what to offer for gas, how to bump a stuck
// transaction, and whether an intent is worth its worst-case gas cost. Pure: the caller
// fetches eth_feeHistory and the latest header; nothing here does I/O or reads a clock.
#include <cstdint>
#include <optional>
#include <string>

#include "chain/result.hpp"
#include "chain/rpc_types.hpp"
#include "chain/u256.hpp"

namespace vigil::agent {

inline constexpr uint64_t kWeiPerGwei = 1'000'000'000;

/// One chain's fee settings. Caps are in whole gwei: they bound every fee this module
/// returns, so later u256 products (gas × fee) stay far from 2^256.
struct FeeConfig {
    uint64_t max_fee_gwei = 200;         ///< cap on max_fee_per_gas (legacy: on gasPrice)
    uint64_t max_priority_fee_gwei = 3;  ///< cap on max_priority_fee_per_gas
    /// The eth_feeHistory reward percentile to request, e.g. 50. quote_fees reads column 0
    /// of `reward`, so request exactly {priority_percentile}.
    double priority_percentile = 50;
    /// max_fee = next base fee × this + priority. geth (eth_sendTransaction's defaults) and
    /// ethers use 2: the base fee rises at most 12.5% per full block, so ×2 keeps the tx
    /// includable through five full blocks in a row (1.125^5 = 1.80) without a replacement.
    /// Must be at least 1.
    uint32_t base_fee_multiplier = 2;
    /// Chain without EIP-1559: quote a gasPrice (type-0 tx) instead.
    bool legacy = false;
};

/// What to put in a transaction, in wei per gas. Legacy: both fields equal the gasPrice
/// (EIP-1559 treats a legacy tx the same way), so bumping needs no special case.
struct Fees {
    u256 max_fee_per_gas = 0;
    u256 max_priority_fee_per_gas = 0;
    bool legacy = false;
    bool operator==(const Fees&) const = default;
};

struct FeeQuote {
    Fees fees;
    /// A cap lowered a fee below what the market asks; `warning` says which and by how much.
    bool capped = false;
    std::string warning;
};

enum class FeeErrc {
    no_base_fee,  ///< the chain reports no base fee but the config is not `legacy`
    no_fee_data,  ///< legacy chain and no reward or base fee to price from
};
std::string_view to_string(FeeErrc e) noexcept;

struct FeeError {
    FeeErrc kind;
    bool operator==(const FeeError&) const = default;
    /// "no_base_fee: ..." with a hint to the config key.
    std::string to_string() const;
};

/// EIP-1559 next-block base fee from a parent header (elasticity 2, change denominator 8).
/// nullopt when the header has no base fee (pre-London or a non-1559 chain).
std::optional<u256> next_base_fee(const BlockHeader& parent);

/// Fees for a transaction to be included in the next block.
/// - next base fee: the last entry of history.base_fee_per_gas (eth_feeHistory returns the
///   next block's as its extra entry); if the history has none, computed from `latest`.
/// - priority: the median over the history's blocks of reward[i][0] (the configured
///   percentile), skipping blocks with gas_used_ratio 0, whose rewards are all zero;
///   0 when there is no reward data.
/// - EIP-1559: priority = min(priority, priority cap); max_fee = next base × multiplier +
///   priority, then min(max_fee, fee cap) and priority ≤ max_fee.
/// - legacy: gasPrice = next base × multiplier (0 on chains that report none) + priority,
///   bounded by the fee cap; the priority cap does not apply.
/// A binding cap is not an error: the quote is `capped` with a warning, and the caller
/// decides whether to send at the cap.
[[nodiscard]] Result<FeeQuote, FeeError> quote_fees(const FeeHistory& history,
                                                    const BlockHeader& latest,
                                                    const FeeConfig& config);

struct FeeBump {
    Fees fees;
    /// A cap kept a fee below previous + 12.5%; the replacement may still be accepted.
    bool capped = false;
    /// A cap kept a fee below the node's replacement minimum (geth's default price bump,
    /// previous × 110 / 100, and never equal to previous): the node would refuse a
    /// replacement as underpriced, so don't send one. `fees` is then `previous`, which stays
    /// in effect; `warning` says which fee and both numbers.
    bool held_at_cap = false;
    std::string warning;
};

/// Fees for a replacement of a tx sent with `previous`: each fee + ceil(fee / 8) (at least
/// 1 wei), so 12.5% rounded up, always above the node's 10% minimum; then bounded by the
/// caps as in quote_fees. Legacy fees bump the gasPrice against the fee cap only.
[[nodiscard]] FeeBump bump_fees(const Fees& previous, const FeeConfig& config);

/// Worst-case cost of a tx: gas_limit × max_fee_per_gas, saturating at 2^256 − 1 (which
/// capped fees never reach).
u256 gas_cost_wei(uint64_t gas_limit, const u256& max_fee_per_gas);

struct Unprofitable {
    u256 gas_cost_wei;
    u256 expected_profit_wei;
    bool operator==(const Unprofitable&) const = default;
    /// "unprofitable: worst-case gas cost 2100000000000000 wei (gas limit 21000 × max fee
    /// 100000000000 wei) exceeds expected profit 1000 wei": the line the log prints.
    std::string message;
};

/// Drops an intent whose worst-case gas cost exceeds its expected profit (equal passes).
/// No expected profit (a guardian's pause): always passes.
[[nodiscard]] Result<void, Unprofitable> check_profit(
    const std::optional<u256>& expected_profit_wei, uint64_t gas_limit, const Fees& fees);

}  // namespace vigil::agent
