// BlockTracker driven by an in-memory chain behind the Provider interface: linking,
// duplicates, gap backfill, reorgs (shallow, same height, below the start, deeper than
// the window), failed fetches, and a randomized run checked against the final chain.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <unordered_map>

#include "chain/block_tracker.hpp"
#include "chain/keccak.hpp"
#include "tests/support/stub_provider.hpp"

using namespace vigil;

namespace {

const Address kTokenA = Address::from_span(keccak256(std::string_view("a")).view().first<20>());
const Address kTokenB = Address::from_span(keccak256(std::string_view("b")).view().first<20>());

rpc::Failure fake_failure(std::string detail) {
    return rpc::Failure{rpc::Errc::timeout, "fake", {}, 0, std::nullopt, std::move(detail)};
}

/// A chain in memory: every block ever mined stays known by hash (as on a real node,
/// until it forgets side chains); `canonical_` maps numbers to the current branch.
/// Each block has one log from kTokenA and one from kTokenB.
class FakeChain : public test::StubProvider {
public:
    FakeChain() { mine_on(Hash32{}, 0); }

    /// Extends the canonical chain to `number`.
    void extend_to(uint64_t number) {
        while (head().number < number) mine_on(head().hash, head().number + 1);
    }
    /// Replaces the canonical blocks above `ancestor` with a new branch up to `number`.
    void fork(uint64_t ancestor, uint64_t number) {
        canonical_.resize(ancestor + 1);
        ++salt_;
        extend_to(number);
    }
    const BlockHeader& head() const { return blocks_.at(canonical_.back()); }
    const BlockHeader& at(uint64_t number) const { return blocks_.at(canonical_.at(number)); }
    /// The node forgets a block (its hash lookups answer null, as after a node restart).
    void forget(const Hash32& hash) { blocks_.erase(hash); }

    int calls = 0;
    /// The call with this ordinal (1-based, counting every call) fails with a timeout.
    int fail_call = 0;

    Task<RpcResult<std::optional<BlockHeader>>> get_block(BlockId block) override {
        if (++calls == fail_call) co_return unexpected(fake_failure("get_block"));
        std::optional<BlockHeader> out;
        if (const auto* n = std::get_if<uint64_t>(&block)) {
            if (*n < canonical_.size()) out = blocks_.at(canonical_[*n]);
        } else if (const auto* h = std::get_if<Hash32>(&block)) {
            if (auto it = blocks_.find(*h); it != blocks_.end()) out = it->second;
        } else {
            out = head();
        }
        co_return out;
    }
    Task<RpcResult<std::vector<Log>>> get_block_logs(const LogFilter& filter,
                                                     const Hash32& block_hash) override {
        if (++calls == fail_call) co_return unexpected(fake_failure("get_block_logs"));
        std::vector<Log> out;
        for (const Log& log : logs_.at(block_hash)) {
            const auto& a = filter.addresses;
            if (a.empty() || std::find(a.begin(), a.end(), log.address) != a.end())
                out.push_back(log);
        }
        co_return out;
    }

    Task<RpcResult<uint64_t>> block_number() override { co_return head().number; }
    /// While set, a read_block with calls fails as a whole, as a node refuses a batch
    /// above its size limit (geth: 1,000 calls).
    bool refuse_batches_with_calls = false;
    Task<RpcResult<BlockData>> read_block(std::span<const LogFilter> filters,
                                          const Hash32& block_hash,
                                          std::span<const CallRequest> requests) override {
        if (refuse_batches_with_calls && !requests.empty()) {
            ++calls;
            co_return unexpected(rpc::Failure{rpc::Errc::rpc_error, "fake",
                                              rpc::RpcError{-32600, "batch too large", ""}, 0,
                                              std::nullopt, ""});
        }
        co_return co_await Provider::read_block(filters, block_hash, requests);
    }
    /// Answers each call with its data and the block's hash, so that a test can tell
    /// which block each answer was read at.
    Task<std::vector<RpcResult<Bytes>>> call_batch(std::span<const CallRequest> requests,
                                                   BlockId block) override {
        ++calls;
        std::vector<RpcResult<Bytes>> out;
        for (const CallRequest& r : requests) {
            Bytes answer = r.data;
            const Hash32& hash = std::get<Hash32>(block);
            answer.insert(answer.end(), hash.bytes.begin(), hash.bytes.end());
            out.push_back(std::move(answer));
        }
        co_return out;
    }

private:
    void mine_on(const Hash32& parent, uint64_t number) {
        BlockHeader h;
        h.number = number;
        h.parent_hash = parent;
        h.hash = keccak256("block " + std::to_string(number) + " salt " + std::to_string(salt_));
        h.timestamp = 1000 + number;
        std::vector<Log> logs;
        for (const Address& a : {kTokenA, kTokenB}) {
            Log log;
            log.address = a;
            log.block_number = number;
            log.block_hash = h.hash;
            log.log_index = logs.size();
            logs.push_back(log);
        }
        logs_[h.hash] = std::move(logs);
        blocks_[h.hash] = h;
        canonical_.push_back(h.hash);
    }

    std::unordered_map<Hash32, BlockHeader> blocks_;
    std::unordered_map<Hash32, std::vector<Log>> logs_;
    std::vector<Hash32> canonical_;
    int salt_ = 0;
};

/// One delivered event, reduced to what the assertions compare.
struct Seen {
    BlockEvent::Kind kind;
    uint64_t number;
    Hash32 hash;
    bool operator==(const Seen&) const = default;
};

Seen added(const BlockHeader& h) {
    return {BlockEvent::Kind::added, h.number, h.hash};
}
Seen removed(const BlockHeader& h) {
    return {BlockEvent::Kind::removed, h.number, h.hash};
}

void PrintTo(const Seen& s, std::ostream* os) {
    *os << (s.kind == BlockEvent::Kind::added ? "+" : "-") << s.number << " "
        << to_hex(s.hash).substr(0, 10);
}

struct Harness {
    explicit Harness(std::size_t depth = 64, std::vector<LogFilter> filters = {LogFilter{}},
                     std::function<std::vector<CallRequest>(const BlockHeader&)> reads = nullptr)
        : tracker(
              chain, BlockTrackerOptions{depth, std::move(filters), std::move(reads)},
              BlockTracker::Callbacks{[this](const BlockEvent& e) {
                                          seen.push_back({e.kind, e.header.number, e.header.hash});
                                          events.push_back(e);
                                      },
                                      [this](const DeepReorg& d) { deep.push_back(d); }}) {}

    Result<void, TrackError> advance(const BlockHeader& head) {
        net::io_context ioc;
        std::optional<Result<void, TrackError>> out;
        net::co_spawn(
            ioc, [&]() -> Task<void> { out = co_await tracker.advance(head); }, net::detached);
        ioc.run();
        return *out;
    }
    /// Advances to the canonical head and expects success.
    void follow() { ASSERT_TRUE(advance(chain.head()).has_value()); }

    FakeChain chain;
    BlockTracker tracker;
    std::vector<Seen> seen;
    std::vector<BlockEvent> events;
    std::vector<DeepReorg> deep;
};

std::vector<Seen> added_range(const FakeChain& chain, uint64_t from, uint64_t to) {
    std::vector<Seen> out;
    for (uint64_t n = from; n <= to; ++n) out.push_back(added(chain.at(n)));
    return out;
}

}  // namespace

TEST(block_tracker, starts_at_the_first_head_and_appends_linked_heads) {
    Harness h;
    h.chain.extend_to(3);
    h.follow();
    for (uint64_t n = 4; n <= 6; ++n) {
        h.chain.extend_to(n);
        h.follow();
    }
    EXPECT_EQ(h.seen, added_range(h.chain, 3, 6));
    EXPECT_EQ(h.tracker.tip(), h.chain.at(6));
    EXPECT_EQ(h.tracker.next_block_number(), 7u);
    ASSERT_EQ(h.events.back().logs.size(), 2u);
    EXPECT_FALSE(h.events.back().logs[0].removed);
}

TEST(block_tracker, ignores_duplicate_and_old_heads) {
    Harness h;
    h.chain.extend_to(5);
    h.follow();
    h.chain.extend_to(6);
    h.follow();
    h.follow();
    const int calls = h.chain.calls;
    ASSERT_TRUE(h.advance(h.chain.at(5)).has_value());
    ASSERT_TRUE(h.advance(h.chain.at(2)).has_value());  // below the window
    EXPECT_EQ(h.chain.calls, calls);
    EXPECT_EQ(h.seen, added_range(h.chain, 5, 6));
}

TEST(block_tracker, backfills_a_gap_oldest_first) {
    Harness h;
    h.chain.extend_to(2);
    h.follow();
    h.chain.extend_to(9);
    h.follow();
    EXPECT_EQ(h.seen, added_range(h.chain, 2, 9));
    for (const BlockEvent& e : h.events) {
        ASSERT_EQ(e.logs.size(), 2u);
        EXPECT_EQ(e.logs[0].block_hash, e.header.hash);
        // Heads 2 and 9 are the newest known when delivered; 3..8 are on the way to 9.
        EXPECT_EQ(e.catching_up, e.header.number != 2 && e.header.number != 9) << e.header.number;
    }
}

TEST(block_tracker, resumes_from_a_block_number) {
    Harness h;
    h.chain.extend_to(10);
    h.tracker.start_at(4);
    EXPECT_EQ(h.tracker.next_block_number(), 4u);
    ASSERT_TRUE(h.advance(h.chain.at(3)).has_value());  // before the resume point
    EXPECT_TRUE(h.seen.empty());
    h.follow();
    EXPECT_EQ(h.seen, added_range(h.chain, 4, 10));
}

TEST(block_tracker, unwinds_a_reorg_newest_first_then_adds_the_branch) {
    Harness h;
    h.chain.extend_to(2);
    h.follow();
    h.chain.extend_to(6);
    h.follow();
    const std::vector<BlockHeader> old = {h.chain.at(4), h.chain.at(5), h.chain.at(6)};
    h.seen.clear();
    h.events.clear();

    h.chain.fork(3, 7);
    h.follow();
    std::vector<Seen> want = {removed(old[2]), removed(old[1]), removed(old[0])};
    for (uint64_t n = 4; n <= 7; ++n) want.push_back(added(h.chain.at(n)));
    EXPECT_EQ(h.seen, want);
    // Removed blocks carry the logs they were delivered with, now marked removed.
    ASSERT_EQ(h.events[0].logs.size(), 2u);
    EXPECT_TRUE(h.events[0].logs[0].removed);
    EXPECT_TRUE(h.events[0].logs[1].removed);
    EXPECT_EQ(h.events[0].logs[0].block_hash, old[2].hash);
    EXPECT_FALSE(h.events[3].logs[0].removed);
    EXPECT_TRUE(h.deep.empty());
    // The new branch below its top (7) is on the way to it.
    for (std::size_t i = 3; i < h.events.size(); ++i)
        EXPECT_EQ(h.events[i].catching_up, h.events[i].header.number != 7) << i;
}

TEST(block_tracker, reorg_to_the_same_height_and_to_a_shorter_chain) {
    Harness h;
    h.chain.extend_to(1);
    h.follow();
    h.chain.extend_to(6);
    h.follow();
    const BlockHeader old5 = h.chain.at(5), old6 = h.chain.at(6);
    h.seen.clear();
    h.chain.fork(4, 5);  // the new head is lower than the tip
    h.follow();
    EXPECT_EQ(h.seen, (std::vector<Seen>{removed(old6), removed(old5), added(h.chain.at(5))}));

    const BlockHeader prev5 = h.chain.at(5);
    h.seen.clear();
    h.chain.fork(4, 5);  // same height
    h.follow();
    EXPECT_EQ(h.seen, (std::vector<Seen>{removed(prev5), added(h.chain.at(5))}));
}

TEST(block_tracker, detects_a_reorg_inside_a_gap) {
    // Tip 5; meanwhile the chain reorged at 3 and grew to 9: the backfill by number
    // fetches block 6 of the new branch, which does not link, and walks back from it.
    Harness h;
    h.chain.extend_to(1);
    h.follow();
    h.chain.extend_to(5);
    h.follow();
    const BlockHeader old4 = h.chain.at(4), old5 = h.chain.at(5);
    h.seen.clear();
    h.chain.fork(3, 9);
    h.follow();
    std::vector<Seen> want = {removed(old5), removed(old4)};
    for (uint64_t n = 4; n <= 9; ++n) want.push_back(added(h.chain.at(n)));
    EXPECT_EQ(h.seen, want);
}

TEST(block_tracker, a_fork_below_the_start_replaces_the_window_without_alarm) {
    Harness h;
    h.chain.extend_to(5);
    h.follow();  // first delivered: 5
    h.chain.extend_to(6);
    h.follow();
    const BlockHeader old5 = h.chain.at(5), old6 = h.chain.at(6);
    h.seen.clear();
    h.chain.fork(3, 6);
    h.follow();
    EXPECT_EQ(h.seen, (std::vector<Seen>{removed(old6), removed(old5), added(h.chain.at(5)),
                                         added(h.chain.at(6))}));
    EXPECT_TRUE(h.deep.empty());
}

TEST(block_tracker, reorg_deeper_than_the_window_reports_and_restarts) {
    Harness h(/*depth=*/4);
    h.chain.extend_to(1);
    h.follow();
    h.chain.extend_to(10);
    h.follow();
    EXPECT_EQ(h.tracker.size(), 4u);
    h.seen.clear();
    std::vector<BlockHeader> kept;
    for (uint64_t n = 7; n <= 10; ++n) kept.push_back(h.chain.at(n));

    h.chain.fork(2, 11);
    h.follow();
    ASSERT_EQ(h.deep.size(), 1u);
    EXPECT_EQ(h.deep[0].old_tip, kept.back());
    EXPECT_EQ(h.deep[0].new_block, h.chain.at(11));
    EXPECT_EQ(h.deep[0].oldest_kept, 7u);
    EXPECT_EQ(h.seen, (std::vector<Seen>{removed(kept[3]), removed(kept[2]), removed(kept[1]),
                                         removed(kept[0]), added(h.chain.at(11))}));
    // And it carries on from there.
    h.chain.extend_to(12);
    h.follow();
    EXPECT_EQ(h.seen.back(), added(h.chain.at(12)));
}

TEST(block_tracker, keeps_only_depth_blocks) {
    Harness h(/*depth=*/8);
    h.chain.extend_to(1);
    h.follow();
    h.chain.extend_to(100);
    h.follow();
    EXPECT_EQ(h.tracker.size(), 8u);
    EXPECT_EQ(h.seen.size(), 100u);
}

TEST(block_tracker, merges_logs_of_several_filters_once_each_in_order) {
    LogFilter only_b{{kTokenB}, {}};
    LogFilter a_and_b{{kTokenA, kTokenB}, {}};
    Harness h(64, {only_b, a_and_b});
    h.chain.extend_to(1);
    h.follow();
    ASSERT_EQ(h.events.size(), 1u);
    ASSERT_EQ(h.events[0].logs.size(), 2u);
    EXPECT_EQ(h.events[0].logs[0].address, kTokenA);
    EXPECT_EQ(h.events[0].logs[1].address, kTokenB);
}

TEST(block_tracker, without_filters_makes_no_log_requests) {
    Harness h(64, {});
    h.chain.extend_to(1);
    h.follow();
    h.chain.extend_to(4);
    h.follow();
    EXPECT_EQ(h.seen, added_range(h.chain, 1, 4));
    EXPECT_EQ(h.chain.calls, 2);  // headers of 2 and 3; 1 and 4 came as heads
    EXPECT_TRUE(h.events.back().logs.empty());
}

TEST(block_tracker, each_added_block_brings_the_reads_asked_for_it) {
    std::vector<uint64_t> asked;
    Harness h(64, {LogFilter{}}, [&](const BlockHeader& header) {
        asked.push_back(header.number);
        const uint8_t n = static_cast<uint8_t>(header.number);
        return std::vector<CallRequest>{
            {std::nullopt, kTokenA, Bytes{n}, std::nullopt, std::nullopt},
            {std::nullopt, kTokenB, Bytes{n, n}, std::nullopt, std::nullopt}};
    });
    h.chain.extend_to(1);
    h.follow();
    h.chain.extend_to(3);  // a gap: block 2 is fetched by number
    h.follow();
    h.chain.fork(2, 3);  // a reorg: 3 removed, 3' added
    h.follow();
    // Block 2 was fetched on the way to head 3: it is catching up, without reads.
    EXPECT_EQ(asked, (std::vector<uint64_t>{1, 3, 3}));
    ASSERT_EQ(h.events.size(), 5u);
    EXPECT_EQ(h.events[1].header.number, 2u);
    EXPECT_TRUE(h.events[1].catching_up);
    EXPECT_EQ(h.events[1].reads, nullptr);
    for (const BlockEvent& e : h.events) {
        if (e.kind == BlockEvent::Kind::removed || e.catching_up) continue;
        ASSERT_TRUE(e.reads) << e.header.number;
        EXPECT_EQ(e.logs.size(), 2u);  // the logs came with them
        const uint8_t n = static_cast<uint8_t>(e.header.number);
        const CallRequest second{std::nullopt, kTokenB, Bytes{n, n}, std::nullopt, std::nullopt};
        const auto* answer = e.reads->find(second);
        ASSERT_TRUE(answer && answer->has_value());
        Bytes expected{n, n};
        expected.insert(expected.end(), e.header.hash.bytes.begin(), e.header.hash.bytes.end());
        EXPECT_EQ(**answer, expected);
        EXPECT_EQ(e.reads->find({std::nullopt, kTokenA, Bytes{n, n}, std::nullopt, std::nullopt}),
                  nullptr);  // not asked: not there
    }
}

TEST(block_tracker, a_block_whose_reads_the_node_refuses_comes_with_its_logs_alone) {
    Harness h(64, {LogFilter{}}, [](const BlockHeader&) {
        return std::vector<CallRequest>{
            {std::nullopt, kTokenA, Bytes{1}, std::nullopt, std::nullopt}};
    });
    h.chain.refuse_batches_with_calls = true;
    h.chain.extend_to(1);
    h.follow();
    ASSERT_EQ(h.seen, added_range(h.chain, 1, 1));
    EXPECT_EQ(h.events[0].logs.size(), 2u);
    EXPECT_EQ(h.events[0].reads, nullptr);  // its consumers read for themselves
}

TEST(block_tracker, a_failed_reorg_fetch_delivers_nothing_and_a_retry_completes) {
    Harness h;
    h.chain.extend_to(1);
    h.follow();
    h.chain.extend_to(6);
    h.follow();
    const std::vector<Seen> before = h.seen;
    h.chain.fork(2, 6);
    // The walk fetches parents 5', 4', 3', then logs of 3'..6': fail the last log fetch.
    h.chain.fail_call = h.chain.calls + 7;
    auto r = h.advance(h.chain.head());
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, TrackErrc::rpc_failed);
    EXPECT_NE(r.error().to_string().find("logs of block 6"), std::string::npos)
        << r.error().to_string();
    EXPECT_EQ(h.seen, before);
    EXPECT_EQ(h.tracker.tip()->number, 6u);

    h.follow();
    ASSERT_EQ(h.seen.size(), before.size() + 8);
    EXPECT_EQ(h.seen[before.size()].kind, BlockEvent::Kind::removed);
    EXPECT_EQ(h.seen.back(), added(h.chain.at(6)));
}

TEST(block_tracker, a_failed_backfill_keeps_what_was_delivered) {
    Harness h;
    h.chain.extend_to(1);
    h.follow();
    h.chain.extend_to(6);
    h.chain.fail_call = h.chain.calls + 5;  // header 2, logs 2, header 3, logs 3, header 4
    ASSERT_FALSE(h.advance(h.chain.head()).has_value());
    EXPECT_EQ(h.seen, added_range(h.chain, 1, 3));
    h.follow();
    EXPECT_EQ(h.seen, added_range(h.chain, 1, 6));
}

TEST(block_tracker, names_a_parent_the_node_does_not_know) {
    Harness h;
    h.chain.extend_to(1);
    h.follow();
    h.chain.extend_to(4);
    h.follow();
    h.chain.fork(1, 4);
    const Hash32 forgotten = h.chain.at(3).hash;
    h.chain.forget(forgotten);
    auto r = h.advance(h.chain.head());
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, TrackErrc::block_not_found);
    EXPECT_EQ(r.error().to_string(),
              "block_not_found: parent " + to_hex(forgotten).substr(0, 10) + ".. of block 4");
}

TEST(block_tracker, randomized_heads_spell_the_final_chain_exactly_once) {
    // Heads are dropped, repeated and interleaved with reorgs of random depth; applying
    // the events to a mirror (added: push, removed: pop the same block) must give the
    // final canonical chain, with no block added twice while canonical.
    std::mt19937 rng(20240611);
    Harness h(/*depth=*/16);
    h.chain.extend_to(1);
    h.follow();
    std::vector<BlockHeader> mirror;
    std::size_t applied = 0, removals = 0;
    const auto apply = [&] {
        for (; applied < h.events.size(); ++applied) {
            const BlockEvent& e = h.events[applied];
            if (e.kind == BlockEvent::Kind::added) {
                if (!mirror.empty()) {
                    ASSERT_EQ(e.header.parent_hash, mirror.back().hash);
                }
                mirror.push_back(e.header);
            } else {
                ASSERT_FALSE(mirror.empty());
                ASSERT_EQ(mirror.back(), e.header);
                for (const Log& log : e.logs) ASSERT_TRUE(log.removed);
                mirror.pop_back();
                ++removals;
            }
        }
    };
    for (int step = 0; step < 2000; ++step) {
        const int dice = static_cast<int>(rng() % 10);
        const uint64_t tip = h.chain.head().number;
        if (dice < 6) {
            h.chain.extend_to(tip + 1 + rng() % 3);
        } else if (dice < 8 && tip > 12) {
            // Fork choice keeps the branch at least as long; a shorter one would shrink
            // the kept window, and repeated ones could walk it below its start.
            const uint64_t ancestor = tip - 1 - rng() % 10;
            h.chain.fork(ancestor, tip + rng() % 3);
        }
        if (rng() % 4 != 0) h.follow();  // a dropped notification otherwise
        if (rng() % 5 == 0) h.follow();  // a duplicate
        apply();
    }
    h.follow();
    apply();
    EXPECT_TRUE(h.deep.empty());
    EXPECT_GT(removals, 500u);  // the run did exercise reorgs
    ASSERT_FALSE(mirror.empty());
    EXPECT_EQ(mirror.back(), h.chain.head());
    for (const BlockHeader& b : mirror) EXPECT_EQ(b, h.chain.at(b.number));
    EXPECT_EQ(mirror.size(), h.chain.head().number);  // blocks 1..head, each once
}
