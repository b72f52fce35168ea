#include "agent/nonces.hpp"

#include <algorithm>
#include <cassert>
#include <limits>
#include <utility>

#include "chain/strings.hpp"

namespace vigil::agent {
namespace {

// "5..7" (inclusive, as people read nonces), "5" for one nonce.
std::string span_text(const NonceRange& r) {
    if (r.size() == 1) return std::to_string(r.first);
    return concat({std::to_string(r.first), "..", std::to_string(r.end - 1)});
}

}  // namespace

std::string_view to_string(NonceEvent e) noexcept {
    switch (e) {
        case NonceEvent::consistent:
            return "consistent";
        case NonceEvent::foreign_nonces:
            return "foreign_nonces";
        case NonceEvent::gap:
            return "gap";
        case NonceEvent::node_behind:
            return "node_behind";
        case NonceEvent::reorged:
            return "reorged";
        case NonceEvent::implausible:
            return "implausible";
    }
    return "unknown";
}

std::string NonceObservation::to_string() const {
    std::string out(agent::to_string(event));
    switch (event) {
        case NonceEvent::consistent:
            break;
        case NonceEvent::foreign_nonces:
            out += concat({": nonces ", span_text(range), " used by another sender"});
            if (!recheck.empty()) out += concat({", re-check ", span_text(recheck)});
            break;
        case NonceEvent::gap:
            out += concat({": nonces ", span_text(range), " unknown to the node, rebroadcast"});
            break;
        case NonceEvent::node_behind:
            out += concat({": node count below ours by ", std::to_string(range.size())});
            break;
        case NonceEvent::reorged:
            out += concat({": nonces ", span_text(range), " no longer mined after a reorg"});
            break;
        case NonceEvent::implausible:
            out += concat({": count ", std::to_string(range.end), " ignored"});
            break;
    }
    return out;
}

NonceTracker::NonceTracker(uint64_t chain_id, const Address& signer, uint64_t next,
                           uint64_t confirmed)
    : chain_id_(chain_id), signer_(signer), next_(next), confirmed_(confirmed) {
    assert(confirmed <= next);
}

NonceRange NonceTracker::reserve(uint64_t n) {
    assert(n >= 1);
    assert(n <= std::numeric_limits<uint64_t>::max() - next_);
    const NonceRange range{next_, next_ + n};
    next_ = range.end;
    return range;
}

NonceObservation NonceTracker::foreign(uint64_t count) {
    NonceObservation o{NonceEvent::foreign_nonces, {next_, count}, {}};
    if (!in_flight().empty()) o.recheck = in_flight();
    next_ = count;
    return o;
}

NonceObservation NonceTracker::observe_pending_count(uint64_t pending) {
    if (pending > kMaxCount || (pending > next_ && pending <= given_back_to_))
        return {NonceEvent::implausible, {next_, pending}, {}};
    if (pending < confirmed_) return {NonceEvent::node_behind, {pending, confirmed_}, {}};
    if (pending > next_) return foreign(pending);
    if (pending < next_) return {NonceEvent::gap, {pending, next_}, {}};
    return {};
}

NonceObservation NonceTracker::observe_latest_count(uint64_t latest) {
    if (latest > kMaxCount) return {NonceEvent::implausible, {next_, latest}, {}};
    const bool reorged = std::exchange(reorged_, false);
    if (latest < confirmed_ && reorged) {
        const NonceObservation o{NonceEvent::reorged, {latest, confirmed_}, {}};
        confirmed_ = latest;
        return o;
    }
    if (latest < confirmed_) return {NonceEvent::node_behind, {latest, confirmed_}, {}};
    if (latest > next_) {
        auto o = foreign(latest);
        confirmed_ = latest;
        return o;
    }
    confirmed_ = latest;
    return {};
}

HolePlan NonceTracker::check_holes(uint64_t latest, std::span<const uint64_t> ours, uint64_t block,
                                   uint64_t wait_blocks, std::size_t max_fill) {
    std::vector<uint64_t> mine;  // ours at or above `latest`, sorted, distinct
    for (uint64_t n : ours)
        if (n >= latest) mine.push_back(n);
    std::sort(mine.begin(), mine.end());
    mine.erase(std::unique(mine.begin(), mine.end()), mine.end());
    const uint64_t top = mine.empty() ? latest : mine.back() + 1;  // past our highest
    if (top - latest == mine.size() && next_ <= top) {
        hole_since_.reset();  // no hole
        return {};
    }
    if (!hole_since_) hole_since_ = block;
    if (block < *hole_since_ + wait_blocks) return {};
    hole_since_.reset();
    HolePlan plan;
    auto held = mine.begin();
    for (uint64_t n = latest; n < top && plan.fill.size() < max_fill; ++n) {
        if (held != mine.end() && *held == n)
            ++held;
        else
            plan.fill.push_back(n);
    }
    if (next_ > top) {
        plan.given_back = {top, next_};
        given_back_to_ = std::max(given_back_to_, next_);
        next_ = top;
        confirmed_ = std::min(confirmed_, next_);
    }
    return plan;
}

}  // namespace vigil::agent
