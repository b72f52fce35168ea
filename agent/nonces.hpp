#pragma once
// Nonce bookkeeping for one (chain, signer): which nonce to assign next, and what the node's
// transaction counts say about nonces we did not use or it does not know. A pure state
// machine: the pipeline fetches eth_getTransactionCount and acts on the observations
// (rebroadcast from the journal, re-check intents); nothing here does I/O.
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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
    /// The count is below the latest count we saw, and no block was removed since: a
    /// lagging endpoint. Nothing changes.
    node_behind,
    /// The latest count after a removed block (reorged()) is below the one we saw: the new
    /// branch lacks `range`. confirmed = the count; the pipeline re-sends ours from the
    /// journal, and a nonce of `range` nobody re-sends is a hole (check_holes).
    reorged,
    /// The count is above kMaxCount: no account sends that many transactions, so it is a
    /// lie; ignored. Also a pending count at or below one given back before (check_holes):
    /// `range` = [next, count).
    implausible,
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

/// What check_holes decided.
struct HolePlan {
    /// Nonces below our highest unmined one that nothing of ours holds: sign a zero-value
    /// self-send at each (at most `max_fill`, lowest first; the rest at a later check).
    std::vector<uint64_t> fill;
    /// Nonces above all of ours, never signed by us: `next` moved back to given_back.first.
    NonceRange given_back;
    bool empty() const noexcept { return fill.empty() && given_back.empty(); }
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
///
/// Holes. One inflated pending count (an evicted transaction of another sender with this
/// key, a stale endpoint) moves `next` past nonces that then nobody uses; a reorg can remove
/// another sender's transaction. A hole is a nonce in [latest, next) that no unmined
/// transaction of ours holds; while one is below one of ours, ours never mine. The rule
/// (check_holes), applied once the hole has been visible for `wait_blocks` blocks (the
/// pipeline passes replace_after_blocks, and checks every block: filled within
/// replace_after_blocks + 2 blocks of being visible):
///  - holes below our highest unmined nonce are filled by a zero-value self-send each. This
///    is safe whoever else holds the nonce: the filler changes no state but the nonce, and
///    if another transaction takes the nonce first the filler is simply not mined. Moving
///    `next` back and re-signing what is above instead is not safe: the transactions signed
///    at the higher nonces would still be valid, and could land once the hole is filled,
///    executing an intent twice.
///  - holes above all of ours were never signed by us: `next` moves back to just above our
///    highest (or to `latest`), and a pending count up to the old `next` is not believed
///    again (implausible).
/// Waiting first lets another sender's transaction that is merely slow fill the hole.
///
/// Counts are bounded: one above kMaxCount is ignored (implausible), so `next` stays at or
/// below kMaxCount and reserving a wave (n ≤ 2^32) never wraps. A node answering 2^64 − 1
/// changes nothing.
class NonceTracker {
public:
    /// 2^63 − 1: far above any real transaction count, far below 2^64 − 1 (EIP-2681).
    static constexpr uint64_t kMaxCount = std::numeric_limits<uint64_t>::max() / 2;

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
    /// P > kMaxCount, or next < P ≤ a count given back before: implausible, no change.
    /// P < confirmed: node_behind [P, confirmed), no change.
    /// P > next: foreign_nonces [next, P), recheck = in flight; next = P.
    /// P < next: gap [P, next).
    /// P = next: consistent.
    NonceObservation observe_pending_count(uint64_t pending);

    /// eth_getTransactionCount(signer, "latest") = L. Rules, in order:
    /// L > kMaxCount: implausible, no change.
    /// L < confirmed after reorged(): reorged [L, confirmed); confirmed = L.
    /// L < confirmed: node_behind [L, confirmed), no change.
    /// L > next: foreign_nonces [next, L), recheck = in flight; confirmed = next = L.
    /// otherwise: consistent; confirmed = L.
    NonceObservation observe_latest_count(uint64_t latest);

    /// A block was removed: the chain's counts may go down. The next latest count is taken
    /// as it is, even below `confirmed` (reorged); later ones are node_behind again.
    void reorged() noexcept { reorged_ = true; }

    /// The hole rule (see the class comment) at block `block`. `latest`: the latest count
    /// just observed; `ours`: the nonces ≥ latest of our unmined transactions (any order).
    /// The wait restarts whenever no hole is visible.
    HolePlan check_holes(uint64_t latest, std::span<const uint64_t> ours, uint64_t block,
                         uint64_t wait_blocks, std::size_t max_fill);

private:
    NonceObservation foreign(uint64_t count);

    uint64_t chain_id_;
    Address signer_;
    uint64_t next_;
    uint64_t confirmed_;
    bool reorged_ = false;
    uint64_t given_back_to_ = 0;          ///< the highest `next` given back (0: none)
    std::optional<uint64_t> hole_since_;  ///< the block a hole was first seen at
};

}  // namespace vigil::agent
