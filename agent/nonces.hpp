#pragma once
// Nonce bookkeeping for one (chain, signer): which nonce to assign next, and what the node's
// transaction counts say about nonces we did not use or it does not know. A pure state
// machine: the pipeline fetches eth_getTransactionCount and acts on the observations
// (rebroadcast from the journal, re-check intents); nothing here does I/O.
#include <cstdint>
#include <string>
#include <string_view>

#include "chain/bytes.hpp"

namespace vigil::agent {

/// Nonces [first, end).
struct NonceRange {
    uint64_t first = 0;
    uint64_t end = 0;
    bool empty() const noexcept { return first >= end; }
    uint64_t size() const noexcept { return empty() ? 0 : end - first; }
    bool contains(uint64_t nonce) const noexcept { return nonce >= first && nonce < end; }
    bool operator==(const NonceRange&) const = default;
};

enum class NonceEvent {
    consistent,  ///< the count agrees with our bookkeeping
    /// The count is above our next nonce: another sender with this key used `range`. Our
    /// next nonce jumps past it. `recheck` holds our in-flight nonces from before the jump:
    /// the other sender may have taken those too, so their intents need their receipts
    /// checked (a foreign receipt means the intent was `replaced`, not included).
    foreign_nonces,
    /// The pending count is below our next nonce: the node's pool lacks our `range`
    /// (dropped, or a crash before broadcast). Rebroadcast each from the journal; a nonce
    /// reserved but never signed must be filled (its tx or a cancellation), else every later
    /// nonce stays stuck.
    gap,
    /// The count is below the latest count we saw: a lagging node, or a reorg that un-mined
    /// `range`. Nothing changes; the reorg case is handled from the block stream.
    node_behind,
};
std::string_view to_string(NonceEvent e) noexcept;

struct NonceObservation {
    NonceEvent event = NonceEvent::consistent;
    NonceRange range;    ///< see NonceEvent
    NonceRange recheck;  ///< foreign_nonces only; {0, 0} when nothing was in flight
    bool operator==(const NonceObservation&) const = default;
    /// "foreign_nonces: nonces 5..7 used by another sender, re-check 3..4": the log line.
    std::string to_string() const;
};

/// Owner of one signer's nonces on one chain. Start it from the journal: `next` = one past
/// the highest nonce the journal holds for the signer (0 for a new key) and `confirmed` =
/// the latest count, then observe the pending count, which reports whatever the journal
/// does not know (foreign use, or journaled nonces the node lost).
///
/// State: `confirmed` (nonces below it are mined, as far as we know) ≤ `next`. Nonces in
/// [confirmed, next) are in flight: reserved by us, signed or about to be.
///
/// Observe counts only between waves: a nonce reserved but not yet broadcast reads as a gap.
class NonceTracker {
public:
    NonceTracker(uint64_t chain_id, const Address& signer, uint64_t next, uint64_t confirmed = 0);

    uint64_t chain_id() const noexcept { return chain_id_; }
    const Address& signer() const noexcept { return signer_; }
    uint64_t next() const noexcept { return next_; }
    uint64_t confirmed() const noexcept { return confirmed_; }
    NonceRange in_flight() const noexcept { return {confirmed_, next_}; }

    /// Assigns `n` consecutive nonces (n ≥ 1) for a wave; they are in flight from now on.
    /// The caller must not exceed 2^64 − 1 (EIP-2681): asserted.
    NonceRange reserve(uint64_t n);

    /// eth_getTransactionCount(signer, "pending") = P. Rules, in order:
    /// P < confirmed: node_behind [P, confirmed), no change.
    /// P > next: foreign_nonces [next, P), recheck = in flight; next = P.
    /// P < next: gap [P, next).
    /// P = next: consistent.
    NonceObservation observe_pending_count(uint64_t pending);

    /// eth_getTransactionCount(signer, "latest") = L. Rules, in order:
    /// L < confirmed: node_behind [L, confirmed), no change.
    /// L > next: foreign_nonces [next, L), recheck = in flight; confirmed = next = L.
    /// otherwise: consistent; confirmed = L.
    NonceObservation observe_latest_count(uint64_t latest);

private:
    NonceObservation foreign(uint64_t count);

    uint64_t chain_id_;
    Address signer_;
    uint64_t next_;
    uint64_t confirmed_;
};

}  // namespace vigil::agent
