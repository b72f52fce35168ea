#pragma once
// What a strategy asks for and what became of it. Strategies return Intents; the agent's
// TxPipeline turns each into at most one included transaction and reports an Outcome.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "chain/bytes.hpp"
#include "chain/u256.hpp"

namespace vigil {

/// A call a strategy wants made. Pure data: a replay of the same block gives equal intents.
struct Intent {
    /// Stable identity of what is wanted, derived from content (strategy, protocol, account,
    /// trigger block), e.g. "morpho/0xmarket/0xborrower/1234". The pipeline never signs a
    /// second transaction for a key while an earlier attempt may still land.
    std::string idempotency_key;
    std::string strategy;  ///< the strategy's configured name
    std::string signer;    ///< the configured signer name to send from
    Address target;
    Bytes calldata;
    u256 value = 0;  ///< wei
    /// Give up (cancel if pending) after this block; nullopt: no block deadline.
    std::optional<uint64_t> deadline_block;
    /// Give up after this block timestamp (seconds); nullopt: no time deadline.
    std::optional<uint64_t> deadline_timestamp;
    /// Expected profit in wei of the native token; an intent whose gas cost exceeds it is
    /// dropped. nullopt: not profit-driven (a guardian's pause).
    std::optional<u256> expected_profit_wei;
    std::optional<uint64_t> gas_cap;  ///< upper bound on the gas limit
    /// The strategy computed this call with exact math from state read at the block it
    /// decided on, and trusts its mirror: a simulation would only repeat its computation.
    /// Under `"simulate": "auto"` (the default) such an intent is sent without eth_call
    /// and eth_estimateGas, with gas_cap as its gas limit; any other is simulated.
    bool exact = false;
    std::string reason;  ///< why, for the audit log
    bool operator==(const Intent&) const = default;
};

enum class OutcomeKind {
    included,  ///< mined with status 1 and confirmed
    reverted,  ///< mined with status 0, or reverted in simulation (never sent)
    replaced,  ///< another transaction took the nonce (ours was replaced or cancelled)
    dropped,   ///< not sent: allow-list, limits, kill switch, or unprofitable
    expired,   ///< the deadline passed before inclusion (a cancellation was sent if needed)
};
/// The names logs and the journal use, in enum order.
inline constexpr std::array<std::string_view, 5> kOutcomeKindNames = {
    "included", "reverted", "replaced", "dropped", "expired"};
inline std::string_view to_string(OutcomeKind kind) noexcept {
    return kOutcomeKindNames[static_cast<std::size_t>(kind)];
}

struct Outcome {
    std::string idempotency_key;
    OutcomeKind kind = OutcomeKind::included;
    std::optional<Hash32> tx_hash;
    uint64_t block_number = 0;  ///< where it was included or decided
    std::string detail;         ///< the decoded revert reason, the rule that dropped it, ...
    /// A dry run's outcome (kind dropped): signed and journaled, never sent. A strategy may
    /// treat the intent as sent (not propose it again) for the rest of the run.
    bool dry_run = false;
};

}  // namespace vigil
