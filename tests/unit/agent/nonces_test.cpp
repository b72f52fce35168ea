// NonceTracker: reservation, and what pending/latest transaction counts reveal: foreign use
// of our key, nonces the node lost, and a node that lags behind.
#include "agent/nonces.hpp"

#include <gtest/gtest.h>

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
}
