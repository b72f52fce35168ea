// NonceTracker: reservation, and what pending/latest transaction counts reveal: foreign use
// of our key, nonces the node lost, and a node that lags behind.
#include "agent/nonces.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <vector>

namespace {

using namespace vigil::agent;

const vigil::Address kSigner =
    vigil::parse_address("0x1111111111111111111111111111111111111111").value();

}  // namespace

TEST(nonce_tracker, reserves_consecutive_waves) {
    NonceTracker t(1, kSigner, 5, 5);
    EXPECT_EQ(t.chain_id(), 1u);
    EXPECT_EQ(t.signer(), kSigner);
    EXPECT_EQ(t.reserve(3), (NonceRange{5, 8}));
    EXPECT_EQ(t.reserve(1), (NonceRange{8, 9}));
    EXPECT_EQ(t.next(), 9u);
    EXPECT_EQ(t.in_flight(), (NonceRange{5, 9}));
    EXPECT_EQ(t.in_flight().size(), 4u);
    EXPECT_TRUE(t.in_flight().contains(8));
    EXPECT_FALSE(t.in_flight().contains(9));
}

TEST(nonce_tracker, pending_count_rules) {
    struct Case {
        const char* name;
        uint64_t pending;
        NonceObservation want;
        uint64_t next_after;
        const char* log;
    };
    // Every case starts from: confirmed 10, nonces 10..12 in flight, next 13.
    const Case cases[] = {
        {"all ours in the pool", 13, {}, 13, "consistent"},
        {"another sender used 13 and 14",
         15,
         {NonceEvent::foreign_nonces, {13, 15}, {10, 13}},
         15,
         "foreign_nonces: nonces 13..14 used by another sender, re-check 10..12"},
        {"the node lost 12",
         12,
         {NonceEvent::gap, {12, 13}, {}},
         13,
         "gap: nonces 12 unknown to the node, rebroadcast"},
        {"the node lost all in flight",
         10,
         {NonceEvent::gap, {10, 13}, {}},
         13,
         "gap: nonces 10..12 unknown to the node, rebroadcast"},
        {"a lagging node",
         8,
         {NonceEvent::node_behind, {8, 10}, {}},
         13,
         "node_behind: node count below ours by 2"},
    };
    for (const auto& c : cases) {
        NonceTracker t(1, kSigner, 10, 10);
        t.reserve(3);
        const auto o = t.observe_pending_count(c.pending);
        EXPECT_EQ(o, c.want) << c.name;
        EXPECT_EQ(o.to_string(), c.log) << c.name;
        EXPECT_EQ(t.next(), c.next_after) << c.name;
        EXPECT_EQ(t.confirmed(), 10u) << c.name;
    }
}

TEST(nonce_tracker, latest_count_rules) {
    struct Case {
        const char* name;
        uint64_t latest;
        NonceObservation want;
        uint64_t confirmed_after;
        uint64_t next_after;
    };
    // Every case starts from: confirmed 10, nonces 10..12 in flight, next 13.
    const Case cases[] = {
        {"nothing mined yet", 10, {}, 10, 13},
        {"two of ours mined", 12, {}, 12, 13},
        {"all ours mined", 13, {}, 13, 13},
        {"another sender's tx mined at 13",
         14,
         {NonceEvent::foreign_nonces, {13, 14}, {10, 13}},
         14,
         14},
        {"a lagging node or a reorg", 9, {NonceEvent::node_behind, {9, 10}, {}}, 10, 13},
    };
    for (const auto& c : cases) {
        NonceTracker t(1, kSigner, 10, 10);
        t.reserve(3);
        EXPECT_EQ(t.observe_latest_count(c.latest), c.want) << c.name;
        EXPECT_EQ(t.confirmed(), c.confirmed_after) << c.name;
        EXPECT_EQ(t.next(), c.next_after) << c.name;
    }
}

TEST(nonce_tracker, restart_from_the_journal_finds_foreign_use) {
    // The journal's last nonce was 6; meanwhile another process sent 7 and 8 with our key.
    NonceTracker t(31337, kSigner, 7, 7);
    const auto o = t.observe_pending_count(9);
    EXPECT_EQ(o, (NonceObservation{NonceEvent::foreign_nonces, {7, 9}, {}}));
    EXPECT_EQ(o.to_string(), "foreign_nonces: nonces 7..8 used by another sender");
    EXPECT_EQ(t.reserve(1), (NonceRange{9, 10}));
}

TEST(nonce_tracker, restart_from_the_journal_finds_lost_txs) {
    // Journaled and signed 4..6, but the node (restarted, pool flushed) knows none of them.
    NonceTracker t(1, kSigner, 7, 4);
    EXPECT_EQ(t.observe_pending_count(4), (NonceObservation{NonceEvent::gap, {4, 7}, {}}));
    // After the rebroadcast the pool holds them all.
    EXPECT_EQ(t.observe_pending_count(7), NonceObservation{});
    EXPECT_EQ(t.next(), 7u);
}

TEST(nonce_tracker, a_lagging_node_changes_nothing) {
    NonceTracker t(1, kSigner, 20, 20);
    t.reserve(2);
    EXPECT_EQ(t.observe_latest_count(21).event, NonceEvent::consistent);
    EXPECT_EQ(t.observe_latest_count(15).event, NonceEvent::node_behind);
    EXPECT_EQ(t.observe_pending_count(18).event, NonceEvent::node_behind);
    EXPECT_EQ(t.confirmed(), 21u);
    EXPECT_EQ(t.next(), 22u);
}

TEST(nonce_event, names_are_stable) {
    EXPECT_EQ(to_string(NonceEvent::consistent), "consistent");
    EXPECT_EQ(to_string(NonceEvent::foreign_nonces), "foreign_nonces");
    EXPECT_EQ(to_string(NonceEvent::gap), "gap");
    EXPECT_EQ(to_string(NonceEvent::node_behind), "node_behind");
    EXPECT_EQ(to_string(NonceEvent::reorged), "reorged");
    EXPECT_EQ(to_string(NonceEvent::implausible), "implausible");
}

TEST(nonce_tracker, after_a_removed_block_the_latest_count_may_go_down_once) {
    NonceTracker t(1, kSigner, 20, 20);
    t.reserve(2);
    EXPECT_EQ(t.observe_latest_count(22).event, NonceEvent::consistent);
    t.reorged();
    const auto o = t.observe_latest_count(15);
    EXPECT_EQ(o, (NonceObservation{NonceEvent::reorged, {15, 22}, {}}));
    EXPECT_EQ(o.to_string(), "reorged: nonces 15..21 no longer mined after a reorg");
    EXPECT_EQ(t.confirmed(), 15u);
    EXPECT_EQ(t.next(), 22u);
    EXPECT_EQ(t.in_flight(), (NonceRange{15, 22}));
    // Without another removed block, a lower count is a lagging node again.
    EXPECT_EQ(t.observe_latest_count(14).event, NonceEvent::node_behind);
    EXPECT_EQ(t.confirmed(), 15u);
}

TEST(nonce_tracker, counts_above_the_bound_are_ignored_and_nothing_wraps) {
    constexpr uint64_t kTop = std::numeric_limits<uint64_t>::max();
    NonceTracker t(1, kSigner, 3, 3);
    const auto o = t.observe_pending_count(kTop);
    EXPECT_EQ(o.event, NonceEvent::implausible);
    EXPECT_EQ(o.to_string(), "implausible: count 18446744073709551615 ignored");
    EXPECT_EQ(t.observe_latest_count(kTop).event, NonceEvent::implausible);
    EXPECT_EQ(t.observe_pending_count(NonceTracker::kMaxCount + 1).event, NonceEvent::implausible);
    EXPECT_EQ(t.next(), 3u);
    EXPECT_EQ(t.confirmed(), 3u);
    // The largest count believed still leaves room for any wave.
    EXPECT_EQ(t.observe_pending_count(NonceTracker::kMaxCount).event, NonceEvent::foreign_nonces);
    EXPECT_EQ(t.reserve(1u << 31).end, NonceTracker::kMaxCount + (1u << 31));
}

TEST(nonce_tracker, holes_below_ours_are_filled_after_the_wait) {
    // Ours: 12 and 13; the chain's count is 10; nothing of ours holds 10 or 11.
    NonceTracker t(1, kSigner, 14, 10);
    const uint64_t ours[] = {13, 12};
    EXPECT_TRUE(t.check_holes(10, ours, 100, 3, 8).empty());  // seen at 100
    EXPECT_TRUE(t.check_holes(10, ours, 102, 3, 8).empty());
    const HolePlan plan = t.check_holes(10, ours, 103, 3, 8);
    EXPECT_EQ(plan.fill, (std::vector<uint64_t>{10, 11}));
    EXPECT_TRUE(plan.given_back.empty());
    EXPECT_EQ(t.next(), 14u);
    // At most max_fill at a time, lowest first.
    NonceTracker u(1, kSigner, 14, 10);
    EXPECT_TRUE(u.check_holes(10, ours, 100, 0, 1).fill == std::vector<uint64_t>{10});
}

TEST(nonce_tracker, a_hole_that_closes_restarts_the_wait) {
    NonceTracker t(1, kSigner, 12, 10);
    const uint64_t ours[] = {11};
    EXPECT_TRUE(t.check_holes(10, ours, 100, 3, 8).empty());
    // Another sender's transaction at 10 was mined: no hole.
    EXPECT_TRUE(t.check_holes(11, ours, 101, 3, 8).empty());
    const uint64_t more[] = {13};
    NonceTracker u(1, kSigner, 14, 12);
    EXPECT_TRUE(u.check_holes(12, more, 102, 3, 8).empty());
    EXPECT_TRUE(u.check_holes(12, more, 104, 3, 8).empty());
    EXPECT_EQ(u.check_holes(12, more, 105, 3, 8).fill, (std::vector<uint64_t>{12}));
    // Nothing in flight and nothing reserved: never a hole.
    NonceTracker v(1, kSigner, 5, 5);
    EXPECT_TRUE(v.check_holes(5, {}, 100, 0, 8).empty());
}

TEST(nonce_tracker, an_inflated_pending_count_is_given_back_and_not_believed_again) {
    NonceTracker t(1, kSigner, 10, 10);
    t.reserve(1);  // ours: 10
    EXPECT_EQ(t.observe_pending_count(40).event, NonceEvent::foreign_nonces);
    EXPECT_EQ(t.next(), 40u);
    const uint64_t ours[] = {10};
    EXPECT_TRUE(t.check_holes(10, ours, 200, 3, 8).empty());
    const HolePlan plan = t.check_holes(10, ours, 203, 3, 8);
    EXPECT_TRUE(plan.fill.empty());
    EXPECT_EQ(plan.given_back, (NonceRange{11, 40}));
    EXPECT_EQ(t.next(), 11u);
    EXPECT_EQ(t.observe_pending_count(40).event, NonceEvent::implausible);
    EXPECT_EQ(t.next(), 11u);
    EXPECT_EQ(t.observe_pending_count(41).event, NonceEvent::foreign_nonces);  // new use
}
