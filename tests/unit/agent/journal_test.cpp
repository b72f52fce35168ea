// The SQLite journal: round trips of every record, waves, restart, idempotency keys, the
// exact error for a newer schema and for a file that is not a database, and crash safety
// (a child journaling waves is SIGKILLed at random points; the parent checks what is left).
#include "agent/journal.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

using namespace vigil;
using namespace vigil::agent;

namespace {

constexpr uint64_t kChain = 31337;

/// A fresh state dir per test, removed afterwards.
class TempDir {
public:
    TempDir() {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        path_ = std::filesystem::temp_directory_path() /
                ("vigil-journal-" + std::to_string(::getpid()) + "-" + info->name());
        std::filesystem::remove_all(path_);
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path file() const { return path_ / Journal::kFileName; }

private:
    std::filesystem::path path_;
};

Address address_of(uint8_t b) {
    Address a;
    a.bytes.fill(b);
    return a;
}

Hash32 hash_of(uint64_t n, uint8_t tag = 0) {
    Hash32 h;
    h.bytes[0] = tag;
    for (int i = 0; i < 8; ++i) h.bytes[31 - i] = static_cast<uint8_t>(n >> (8 * i));
    return h;
}

Intent make_intent(const std::string& key) {
    Intent in;
    in.idempotency_key = key;
    in.strategy = "morpho";
    in.signer = "keeper";
    in.target = address_of(0x22);
    in.calldata = {0xde, 0xad, 0xbe, 0xef, 0x00, 0x01};
    in.value = 7;
    in.reason = "health factor 0.97 < 1";
    return in;
}

Attempt make_attempt(const std::string& key, uint64_t nonce, uint8_t tag = 0) {
    Attempt a;
    a.tx_hash = hash_of(nonce, tag);
    a.intent_key = key;
    a.chain_id = kChain;
    a.signer = address_of(0x11);
    a.nonce = nonce;
    a.raw_tx = Bytes(120, static_cast<uint8_t>(nonce));
    a.max_fee_per_gas = u256(30'000'000'000ull);
    a.max_priority_fee_per_gas = u256(2'000'000'000ull);
    a.gas_limit = 250'000;
    return a;
}

Journal open_ok(const std::filesystem::path& dir) {
    auto j = Journal::open(dir);
    EXPECT_TRUE(j.has_value()) << (j ? "" : j.error().detail);
    return std::move(*j);
}

void record_ok(Journal& j, std::span<const Intent> intents, std::span<const Attempt> attempts,
               std::span<const NonceState> nonces = {}, uint64_t block = 100) {
    const auto r = j.record_wave(Wave{kChain, block, intents, attempts, nonces});
    ASSERT_TRUE(r.has_value()) << r.error().detail;
}

/// Runs one SQL statement on the file directly, as an operator's shell (or a newer build)
/// would.
void raw_exec(const std::filesystem::path& file, const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
    char* msg = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg);
    EXPECT_EQ(rc, SQLITE_OK) << (msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(db);
}

int64_t raw_count(const std::filesystem::path& file, const char* sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &s, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    int64_t n = -1;
    if (sqlite3_step(s) == SQLITE_ROW) n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

std::string raw_text(const std::filesystem::path& file, const char* sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &s, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    std::string out;
    if (sqlite3_step(s) == SQLITE_ROW) {
        out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
}

/// Outcome declares no operator==, so JournaledIntent has none either.
bool same(const JournaledIntent& a, const JournaledIntent& b) {
    if (a.outcome.has_value() != b.outcome.has_value()) return false;
    if (a.outcome) {
        const auto& x = *a.outcome;
        const auto& y = *b.outcome;
        if (x.idempotency_key != y.idempotency_key || x.kind != y.kind || x.tx_hash != y.tx_hash ||
            x.block_number != y.block_number || x.detail != y.detail) {
            return false;
        }
    }
    return a.intent == b.intent && a.chain_id == b.chain_id && a.created_block == b.created_block &&
           a.attempts == b.attempts;
}

}  // namespace

TEST(journal, creates_the_file_in_wal_mode) {
    TempDir dir;
    { auto j = open_ok(dir.path()); }
    ASSERT_TRUE(std::filesystem::exists(dir.file()));
    EXPECT_EQ(raw_text(dir.file(), "PRAGMA journal_mode"), "wal");
    EXPECT_EQ(raw_count(dir.file(), "SELECT max(version) FROM schema_version"),
              Journal::kSchemaVersion);
}

TEST(journal, round_trips_an_intent_with_every_field) {
    TempDir dir;
    auto j = open_ok(dir.path());
    Intent in = make_intent("morpho/0xm/0xb/1234");
    in.value = u256(1) << 255;
    in.deadline_block = 1300;
    in.deadline_timestamp = 1'800'000'000;
    in.expected_profit_wei = (u256(1) << 200) + 3;
    in.gas_cap = 900'000;
    const std::vector<Intent> intents{in};
    record_ok(j, intents, {}, {}, 1234);

    const auto found = j.find_intent(in.idempotency_key);
    ASSERT_TRUE(found.has_value()) << found.error().detail;
    ASSERT_TRUE(found->has_value());
    EXPECT_EQ((*found)->intent, in);
    EXPECT_EQ((*found)->chain_id, kChain);
    EXPECT_EQ((*found)->created_block, 1234u);
    EXPECT_FALSE((*found)->outcome.has_value());
    EXPECT_TRUE((*found)->attempts.empty());
    EXPECT_FALSE((*found)->may_still_land());
}

TEST(journal, round_trips_an_intent_without_optionals_and_empty_fields) {
    TempDir dir;
    auto j = open_ok(dir.path());
    Intent in;
    in.idempotency_key = "k";
    const std::vector<Intent> intents{in};
    record_ok(j, intents, {});
    const auto found = j.find_intent("k");
    ASSERT_TRUE(found.has_value() && found->has_value());
    EXPECT_EQ((*found)->intent, in);
}

TEST(journal, find_intent_of_an_unknown_key_is_nullopt) {
    TempDir dir;
    auto j = open_ok(dir.path());
    const auto found = j.find_intent("never");
    ASSERT_TRUE(found.has_value());
    EXPECT_FALSE(found->has_value());
}

TEST(journal, round_trips_an_attempt_through_every_state) {
    TempDir dir;
    auto j = open_ok(dir.path());
    const std::vector<Intent> intents{make_intent("a")};
    Attempt first = make_attempt("a", 5);
    first.dry_run = true;
    first.max_fee_per_gas = (u256(1) << 255) + 1;
    const std::vector<Attempt> attempts{first};
    record_ok(j, intents, attempts);

    auto read = [&]() {
        auto f = j.find_intent("a");
        EXPECT_TRUE(f.has_value() && f->has_value());
        EXPECT_EQ((*f)->attempts.size(), 1u);
        return (*f)->attempts.at(0);
    };
    EXPECT_EQ(read(), first);

    ASSERT_TRUE(j.mark_broadcast(first.tx_hash).has_value());
    EXPECT_EQ(read().state, AttemptState::broadcast);

    const Hash32 block_hash = hash_of(99, 0xbb);
    ASSERT_TRUE(j.mark_included(first.tx_hash, 4321, block_hash).has_value());
    Attempt included = first;
    included.state = AttemptState::included;
    included.included_block_number = 4321;
    included.included_block_hash = block_hash;
    EXPECT_EQ(read(), included);

    // Reorged out: back to broadcast, the block forgotten.
    ASSERT_TRUE(j.mark_broadcast(first.tx_hash).has_value());
    Attempt reorged = first;
    reorged.state = AttemptState::broadcast;
    EXPECT_EQ(read(), reorged);

    ASSERT_TRUE(j.mark_replaced(first.tx_hash).has_value());
    EXPECT_EQ(read().state, AttemptState::replaced);
    ASSERT_TRUE(j.mark_dropped(first.tx_hash).has_value());
    EXPECT_EQ(read().state, AttemptState::dropped);
}

TEST(journal, marking_an_unknown_attempt_is_unknown_attempt) {
    TempDir dir;
    auto j = open_ok(dir.path());
    const Hash32 h = hash_of(1);
    EXPECT_EQ(j.mark_broadcast(h).error().kind, JournalErrc::unknown_attempt);
    EXPECT_EQ(j.mark_included(h, 1, h).error().kind, JournalErrc::unknown_attempt);
    EXPECT_EQ(j.mark_replaced(h).error().kind, JournalErrc::unknown_attempt);
    EXPECT_EQ(j.mark_dropped(h).error().kind, JournalErrc::unknown_attempt);
}

TEST(journal, finish_intent_round_trips_the_outcome_and_leaves_pending) {
    TempDir dir;
    auto j = open_ok(dir.path());
    const std::vector<Intent> intents{make_intent("a"), make_intent("b")};
    record_ok(j, intents, {});

    Outcome o;
    o.idempotency_key = "a";
    o.kind = OutcomeKind::reverted;
    o.tx_hash = hash_of(3);
    o.block_number = 77;
    o.detail = "Error(string): not liquidatable";
    ASSERT_TRUE(j.finish_intent(o).has_value());
    const auto a = j.find_intent("a");
    ASSERT_TRUE(a.has_value() && a->has_value());
    EXPECT_EQ((*a)->outcome->idempotency_key, "a");
    EXPECT_EQ((*a)->outcome->kind, OutcomeKind::reverted);
    EXPECT_EQ((*a)->outcome->tx_hash, o.tx_hash);
    EXPECT_EQ((*a)->outcome->block_number, 77u);
    EXPECT_EQ((*a)->outcome->detail, o.detail);

    for (auto kind : {OutcomeKind::included, OutcomeKind::replaced, OutcomeKind::dropped,
                      OutcomeKind::expired}) {
        Outcome b;
        b.idempotency_key = "b";
        b.kind = kind;
        ASSERT_TRUE(j.finish_intent(b).has_value());
        EXPECT_EQ((*j.find_intent("b"))->outcome->kind, kind);
        EXPECT_FALSE((*j.find_intent("b"))->outcome->tx_hash.has_value());
    }

    const auto pending = j.pending_intents();
    ASSERT_TRUE(pending.has_value());
    EXPECT_TRUE(pending->empty());

    Outcome unknown;
    unknown.idempotency_key = "zzz";
    EXPECT_EQ(j.finish_intent(unknown).error().kind, JournalErrc::unknown_intent);
}

TEST(journal, records_a_wave_of_100_intents_in_one_call) {
    TempDir dir;
    auto j = open_ok(dir.path());
    std::vector<Intent> intents;
    std::vector<Attempt> attempts;
    for (uint64_t i = 0; i < 100; ++i) {
        intents.push_back(make_intent("wave/" + std::to_string(i)));
        attempts.push_back(make_attempt(intents.back().idempotency_key, 10 + i));
    }
    const std::vector<NonceState> nonces{{kChain, address_of(0x11), 110}};
    record_ok(j, intents, attempts, nonces, 500);

    const auto pending = j.pending_intents();
    ASSERT_TRUE(pending.has_value()) << pending.error().detail;
    ASSERT_EQ(pending->size(), 100u);
    for (std::size_t i = 0; i < 100; ++i) {
        const auto& p = (*pending)[i];
        EXPECT_EQ(p.intent, intents[i]);
        EXPECT_EQ(p.created_block, 500u);
        ASSERT_EQ(p.attempts.size(), 1u);
        EXPECT_EQ(p.attempts[0], attempts[i]);
        EXPECT_TRUE(p.may_still_land());
    }
    EXPECT_EQ(*j.next_nonce(kChain, address_of(0x11)), std::optional<uint64_t>(110));
}

TEST(journal, pending_intents_are_ordered_by_nonce_with_attempts_in_nonce_order) {
    TempDir dir;
    auto j = open_ok(dir.path());
    const std::vector<Intent> intents{make_intent("late"), make_intent("early"),
                                      make_intent("none")};
    const std::vector<Attempt> attempts{make_attempt("late", 9), make_attempt("early", 4)};
    record_ok(j, intents, attempts);
    // A replacement of "late" at a higher nonce, journaled in a later wave of attempts only.
    const std::vector<Attempt> replacement{make_attempt("late", 8, 1)};
    record_ok(j, {}, replacement);

    const auto pending = j.pending_intents();
    ASSERT_TRUE(pending.has_value());
    ASSERT_EQ(pending->size(), 3u);
    EXPECT_EQ((*pending)[0].intent.idempotency_key, "none");
    EXPECT_EQ((*pending)[1].intent.idempotency_key, "early");
    EXPECT_EQ((*pending)[2].intent.idempotency_key, "late");
    ASSERT_EQ((*pending)[2].attempts.size(), 2u);
    EXPECT_EQ((*pending)[2].attempts[0].nonce, 8u);
    EXPECT_EQ((*pending)[2].attempts[1].nonce, 9u);
}

TEST(journal, reopening_gives_the_same_pending_set) {
    TempDir dir;
    std::vector<JournaledIntent> before;
    {
        auto j = open_ok(dir.path());
        std::vector<Intent> intents;
        std::vector<Attempt> attempts;
        for (uint64_t i = 0; i < 10; ++i) {
            intents.push_back(make_intent("r/" + std::to_string(i)));
            attempts.push_back(make_attempt(intents.back().idempotency_key, i));
        }
        const std::vector<NonceState> nonces{{kChain, address_of(0x11), 10}};
        record_ok(j, intents, attempts, nonces);
        ASSERT_TRUE(j.mark_broadcast(attempts[3].tx_hash).has_value());
        ASSERT_TRUE(j.mark_included(attempts[4].tx_hash, 101, hash_of(101, 0xbb)).has_value());
        Outcome done;
        done.idempotency_key = "r/5";
        ASSERT_TRUE(j.finish_intent(done).has_value());
        ASSERT_TRUE(j.set_checkpoint("chain/31337/last_block", "101").has_value());
        before = *j.pending_intents();
        ASSERT_EQ(before.size(), 9u);
    }
    auto j = open_ok(dir.path());
    const auto after = j.pending_intents();
    ASSERT_TRUE(after.has_value());
    ASSERT_EQ(after->size(), before.size());
    for (std::size_t i = 0; i < before.size(); ++i) {
        EXPECT_TRUE(same((*after)[i], before[i])) << before[i].intent.idempotency_key;
    }
    EXPECT_EQ(*j.next_nonce(kChain, address_of(0x11)), std::optional<uint64_t>(10));
    EXPECT_EQ(*j.checkpoint("chain/31337/last_block"), std::optional<std::string>("101"));
}

TEST(journal, live_attempts_are_signed_or_broadcast_of_one_chain_and_signer) {
    TempDir dir;
    auto j = open_ok(dir.path());
    const std::vector<Intent> intents{make_intent("a"), make_intent("b"), make_intent("c"),
                                      make_intent("d")};
    Attempt other_signer = make_attempt("c", 2);
    other_signer.signer = address_of(0x33);
    Attempt other_chain = make_attempt("d", 3);
    other_chain.chain_id = 1;
    const std::vector<Attempt> attempts{make_attempt("a", 1), make_attempt("b", 0),
                                        make_attempt("a", 5, 1), other_signer, other_chain};
    record_ok(j, intents, attempts);
    ASSERT_TRUE(j.mark_broadcast(attempts[1].tx_hash).has_value());
    ASSERT_TRUE(j.mark_dropped(attempts[2].tx_hash).has_value());

    const auto live = j.live_attempts(kChain, address_of(0x11));
    ASSERT_TRUE(live.has_value());
    ASSERT_EQ(live->size(), 2u);
    EXPECT_EQ((*live)[0].nonce, 0u);
    EXPECT_EQ((*live)[0].state, AttemptState::broadcast);
    EXPECT_EQ((*live)[1].nonce, 1u);
    EXPECT_EQ((*live)[1].state, AttemptState::signed_);
    EXPECT_EQ(j.live_attempts(1, address_of(0x11))->size(), 1u);
    EXPECT_EQ(j.live_attempts(kChain, address_of(0x33))->size(), 1u);
    EXPECT_TRUE(j.live_attempts(5, address_of(0x11))->empty());
}

TEST(journal, a_duplicate_idempotency_key_rejects_the_whole_wave) {
    TempDir dir;
    auto j = open_ok(dir.path());
    const std::vector<Intent> first{make_intent("dup")};
    const std::vector<Attempt> first_attempts{make_attempt("dup", 0)};
    const std::vector<NonceState> first_nonce{{kChain, address_of(0x11), 1}};
    record_ok(j, first, first_attempts, first_nonce);

    const std::vector<Intent> second{make_intent("fresh"), make_intent("dup")};
    const std::vector<Attempt> second_attempts{make_attempt("fresh", 1), make_attempt("dup", 2)};
    const std::vector<NonceState> second_nonce{{kChain, address_of(0x11), 3}};
    const auto r = j.record_wave(Wave{kChain, 101, second, second_attempts, second_nonce});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, JournalErrc::duplicate_key);
    EXPECT_NE(r.error().detail.find("dup"), std::string::npos) << r.error().detail;

    EXPECT_FALSE(j.find_intent("fresh")->has_value());
    EXPECT_EQ((*j.find_intent("dup"))->attempts.size(), 1u);
    EXPECT_EQ(*j.next_nonce(kChain, address_of(0x11)), std::optional<uint64_t>(1));
    // Two copies of one key inside a single wave are refused the same way.
    const std::vector<Intent> twice{make_intent("x"), make_intent("x")};
    EXPECT_EQ(j.record_wave(Wave{kChain, 102, twice, {}, {}}).error().kind,
              JournalErrc::duplicate_key);
    EXPECT_FALSE(j.find_intent("x")->has_value());
}

TEST(journal, an_attempt_for_an_unknown_intent_is_unknown_intent) {
    TempDir dir;
    auto j = open_ok(dir.path());
    const std::vector<Intent> intents{make_intent("known")};
    const std::vector<Attempt> attempts{make_attempt("known", 0), make_attempt("orphan", 1)};
    const auto r = j.record_wave(Wave{kChain, 1, intents, attempts, {}});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, JournalErrc::unknown_intent);
    EXPECT_FALSE(j.find_intent("known")->has_value());
}

TEST(journal, a_duplicate_tx_hash_is_duplicate_attempt) {
    TempDir dir;
    auto j = open_ok(dir.path());
    const std::vector<Intent> intents{make_intent("a")};
    const std::vector<Attempt> attempts{make_attempt("a", 0)};
    record_ok(j, intents, attempts);
    EXPECT_EQ(j.record_wave(Wave{kChain, 1, {}, attempts, {}}).error().kind,
              JournalErrc::duplicate_attempt);
}

TEST(journal, commits_overwrite_the_wal_instead_of_growing_it) {
    TempDir dir;
    const auto wal = std::filesystem::path(dir.file().string() + "-wal");
    std::uintmax_t given = 0;
    uint64_t nonce = 0;
    {
        auto j = open_ok(dir.path());
        given = std::filesystem::file_size(wal);
        EXPECT_GE(given, 1024u * 4096u);  // written in full at open
        // 200 waves of 10: a WAL frame per intent or so, twice what the file holds.
        for (int w = 0; w < 200; ++w) {
            std::vector<Intent> intents;
            std::vector<Attempt> attempts;
            for (int i = 0; i < 10; ++i, ++nonce) {
                char key[24];  // ("k" + std::to_string trips GCC 12's -Wrestrict here)
                std::snprintf(key, sizeof key, "k%llu", static_cast<unsigned long long>(nonce));
                intents.push_back(make_intent(key));
                attempts.push_back(make_attempt(intents.back().idempotency_key, nonce));
            }
            const std::vector<NonceState> nonces{{kChain, address_of(0x11), nonce}};
            record_ok(j, intents, attempts, nonces, static_cast<uint64_t>(w));
            ASSERT_TRUE(j.maintain().has_value());
            ASSERT_EQ(std::filesystem::file_size(wal), given) << "after wave " << w;
        }
    }
    // Kept across a clean close, and every wave is there after it.
    EXPECT_EQ(std::filesystem::file_size(wal), given);
    {
        auto j = open_ok(dir.path());
        EXPECT_EQ(j.next_nonce(kChain, address_of(0x11)).value(), std::optional<uint64_t>(2000));
        EXPECT_EQ(std::filesystem::file_size(wal), given);
    }
    EXPECT_EQ(raw_count(dir.file(), "SELECT count(*) FROM intents"), 2000);
}

TEST(journal, is_held_by_one_connection_until_closed) {
    TempDir dir;
    {
        auto first = open_ok(dir.path());
        // Another process's connection (SQLite keeps connections of one process apart).
        const auto second = Journal::open(dir.path());
        ASSERT_FALSE(second.has_value());
        EXPECT_EQ(second.error().kind, JournalErrc::in_use);
        EXPECT_EQ(to_string(second.error().kind), "in_use");
        EXPECT_NE(second.error().detail.find(dir.file().string() +
                                             " is in use by another process (one vigil per "
                                             "state_dir): "),
                  std::string::npos)
            << second.error().detail;
        // Nor can a plain reader look in meanwhile.
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(dir.file().c_str(), &db), SQLITE_OK);
        EXPECT_EQ(sqlite3_exec(db, "SELECT count(*) FROM intents", nullptr, nullptr, nullptr),
                  SQLITE_BUSY);
        sqlite3_close(db);
        // The holder goes on as before.
        const std::vector<Intent> intents{make_intent("k")};
        const std::vector<Attempt> attempts{make_attempt("k", 0)};
        record_ok(first, intents, attempts, {}, 1);
    }
    auto reopened = open_ok(dir.path());
    EXPECT_EQ(reopened.pending_intents().value().size(), 1u);
}

TEST(journal, next_nonce_and_checkpoints_round_trip) {
    TempDir dir;
    auto j = open_ok(dir.path());
    EXPECT_EQ(*j.next_nonce(kChain, address_of(0x11)), std::nullopt);
    ASSERT_TRUE(j.set_next_nonce({kChain, address_of(0x11), 42}).has_value());
    ASSERT_TRUE(j.set_next_nonce({kChain, address_of(0x12), UINT64_MAX}).has_value());
    EXPECT_EQ(*j.next_nonce(kChain, address_of(0x11)), std::optional<uint64_t>(42));
    EXPECT_EQ(*j.next_nonce(kChain, address_of(0x12)), std::optional<uint64_t>(UINT64_MAX));
    EXPECT_EQ(*j.next_nonce(1, address_of(0x11)), std::nullopt);
    ASSERT_TRUE(j.set_next_nonce({kChain, address_of(0x11), 43}).has_value());
    EXPECT_EQ(*j.next_nonce(kChain, address_of(0x11)), std::optional<uint64_t>(43));

    EXPECT_EQ(*j.checkpoint("chain/1/last_block"), std::nullopt);
    ASSERT_TRUE(j.set_checkpoint("chain/1/last_block", "10").has_value());
    ASSERT_TRUE(j.set_checkpoint("chain/1/last_block", "11").has_value());
    ASSERT_TRUE(j.set_checkpoint("empty", "").has_value());
    EXPECT_EQ(*j.checkpoint("chain/1/last_block"), std::optional<std::string>("11"));
    EXPECT_EQ(*j.checkpoint("empty"), std::optional<std::string>(""));
}

TEST(journal, a_newer_schema_version_is_newer_schema) {
    TempDir dir;
    { auto j = open_ok(dir.path()); }
    raw_exec(dir.file(),
             "UPDATE schema_version SET version = " + std::to_string(Journal::kSchemaVersion + 1));
    const auto j = Journal::open(dir.path());
    ASSERT_FALSE(j.has_value());
    EXPECT_EQ(j.error().kind, JournalErrc::newer_schema);
    EXPECT_NE(j.error().detail.find("file has schema version 3, this build knows up to 2"),
              std::string::npos)
        << j.error().detail;
    EXPECT_EQ(to_string(j.error().kind), "newer_schema");
    // Refusing did not downgrade the file.
    EXPECT_EQ(raw_count(dir.file(), "SELECT max(version) FROM schema_version"),
              Journal::kSchemaVersion + 1);
}

TEST(journal, a_file_of_random_bytes_is_corrupt) {
    TempDir dir;
    std::filesystem::create_directories(dir.path());
    {
        std::mt19937 rng(7);
        std::ofstream out(dir.file(), std::ios::binary);
        for (int i = 0; i < 8192; ++i) out.put(static_cast<char>(rng()));
    }
    const auto j = Journal::open(dir.path());
    ASSERT_FALSE(j.has_value());
    EXPECT_EQ(j.error().kind, JournalErrc::corrupt);
    EXPECT_NE(j.error().detail.find("not a database"), std::string::npos) << j.error().detail;
}

TEST(journal, a_state_dir_that_is_a_file_is_cannot_open) {
    TempDir dir;
    std::filesystem::create_directories(dir.path());
    const auto not_a_dir = dir.path() / "plain-file";
    std::ofstream(not_a_dir) << "x";
    const auto j = Journal::open(not_a_dir);
    ASSERT_FALSE(j.has_value());
    EXPECT_EQ(j.error().kind, JournalErrc::cannot_open);
}

// A child process journals waves of kWaveSize intents (one attempt each, nonce advance)
// as fast as it can and is SIGKILLed after a random delay, 25 times over the same file.
// After each kill the parent reopens the journal and checks that SQLite's recovery left it
// consistent: integrity_check ok, no attempt without its intent, and every wave complete
// (kWaveSize intents, each with its attempt) or absent, with the nonce counter matching the
// last complete wave.
TEST(journal, survives_sigkill_at_random_points_without_partial_waves) {
    TempDir dir;
    constexpr int kKills = 25;
    constexpr uint64_t kWaveSize = 10;
    std::mt19937 rng(20261122);
    uint64_t waves_seen = 0;
    for (int round = 0; round < kKills; ++round) {
        const pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            // Child: no gtest, no exit handlers; only _exit.
            auto j = Journal::open(dir.path());
            if (!j) ::_exit(2);
            for (uint64_t wave = 0;; ++wave) {
                std::vector<Intent> intents;
                std::vector<Attempt> attempts;
                const std::string prefix =
                    "crash/" + std::to_string(round) + "/" + std::to_string(wave) + "/";
                for (uint64_t i = 0; i < kWaveSize; ++i) {
                    intents.push_back(make_intent(prefix + std::to_string(i)));
                    Attempt a = make_attempt(intents.back().idempotency_key, wave * kWaveSize + i,
                                             static_cast<uint8_t>(round));
                    a.signer = address_of(static_cast<uint8_t>(0x40 + round));  // own nonces
                    attempts.push_back(a);
                }
                const std::vector<NonceState> nonces{
                    {kChain, address_of(0x11), (wave + 1) * kWaveSize}};
                if (!j->record_wave(Wave{kChain, wave, intents, attempts, nonces})) ::_exit(3);
            }
        }
        std::this_thread::sleep_for(std::chrono::microseconds(2'000 + rng() % 40'000));
        ASSERT_EQ(::kill(pid, SIGKILL), 0);
        int status = 0;
        ASSERT_EQ(::waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFSIGNALED(status)) << "child exited on its own, status " << status;

        // SQLite's own recovery first (the journal holds the file while open).
        EXPECT_EQ(raw_text(dir.file(), "PRAGMA integrity_check"), "ok");
        EXPECT_EQ(raw_count(dir.file(),
                            "SELECT count(*) FROM attempts WHERE intent_key NOT IN "
                            "(SELECT key FROM intents)"),
                  0);
        auto j = open_ok(dir.path());
        const auto pending = j.pending_intents();
        ASSERT_TRUE(pending.has_value()) << pending.error().detail;
        // Intents per wave of this round, keyed by wave number.
        std::map<uint64_t, uint64_t> per_wave;
        const std::string mine = "crash/" + std::to_string(round) + "/";
        for (const auto& p : *pending) {
            ASSERT_EQ(p.attempts.size(), 1u) << p.intent.idempotency_key;
            const auto& key = p.intent.idempotency_key;
            if (key.rfind(mine, 0) != 0) continue;
            const auto rest = key.substr(mine.size());
            ++per_wave[std::stoull(rest.substr(0, rest.find('/')))];
        }
        uint64_t waves = 0;
        for (const auto& [wave, count] : per_wave) {
            EXPECT_EQ(count, kWaveSize) << "round " << round << " wave " << wave;
            EXPECT_EQ(wave, waves) << "waves of a round are journaled in order";
            ++waves;
        }
        const auto nonce = j.next_nonce(kChain, address_of(0x11));
        ASSERT_TRUE(nonce.has_value());
        if (waves > 0) {
            EXPECT_EQ(**nonce, waves * kWaveSize) << "round " << round;
        }
        waves_seen += waves;
    }
    // The kills must have landed mid-stream, not before the first commit every time.
    EXPECT_GT(waves_seen, 0u);
}

TEST(journal, one_live_attempt_per_nonce_a_replacement_supersedes_its_predecessor) {
    TempDir dir;
    auto j = open_ok(dir.path());
    const std::vector<Intent> intents{make_intent("a"), make_intent("b")};
    const std::vector<Attempt> first{make_attempt("a", 5)};
    record_ok(j, intents, first, {}, 100);
    ASSERT_TRUE(j.mark_broadcast(first[0].tx_hash).has_value());

    // Other bytes at the same (chain, signer, nonce), without superseding: refused, whether
    // for the same intent or another one.
    const Attempt bumped = make_attempt("a", 5, 1);
    const std::vector<Attempt> second{bumped};
    const auto refused = j.record_wave(Wave{kChain, 101, {}, second, {}});
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().kind, JournalErrc::nonce_in_use);
    EXPECT_EQ(to_string(refused.error().kind), "nonce_in_use");
    const std::vector<Attempt> other{make_attempt("b", 5, 2)};
    EXPECT_EQ(j.record_wave(Wave{kChain, 101, {}, other, {}}).error().kind,
              JournalErrc::nonce_in_use);
    // Unknown predecessor: nothing written.
    const Hash32 unknown[] = {hash_of(77, 7)};
    EXPECT_EQ(j.replace(unknown, bumped).error().kind, JournalErrc::unknown_attempt);
    EXPECT_EQ((*j.find_intent("a"))->attempts.size(), 1u);

    // Named as superseded: the predecessor is replaced, the replacement is the live one.
    const Hash32 predecessor[] = {first[0].tx_hash};
    ASSERT_TRUE(j.replace(predecessor, bumped).has_value());
    const auto a = *j.find_intent("a");
    ASSERT_EQ(a->attempts.size(), 2u);
    EXPECT_EQ(a->attempts[0].state, AttemptState::replaced);
    EXPECT_EQ(a->attempts[1].tx_hash, bumped.tx_hash);
    EXPECT_EQ(a->attempts[1].state, AttemptState::signed_);
    EXPECT_EQ(j.live_attempts(kChain, address_of(0x11))->size(), 1u);
    // The superseded one cannot become live again beside it.
    EXPECT_EQ(j.mark_broadcast(first[0].tx_hash).error().kind, JournalErrc::nonce_in_use);
    // Another signer, or a dry run, at that nonce is no conflict.
    Attempt elsewhere = make_attempt("b", 5, 3);
    elsewhere.signer = address_of(0x12);
    Attempt dry = make_attempt("b", 5, 4);
    dry.dry_run = true;
    const std::vector<Attempt> fine{elsewhere, dry};
    record_ok(j, {}, fine, {}, 102);
}

TEST(journal, a_removed_block_finds_its_attempts_and_reopens_their_intents) {
    TempDir dir;
    auto j = open_ok(dir.path());
    Intent in = make_intent("a");
    in.deadline_block = 105;
    const std::vector<Intent> intents{in, make_intent("b")};
    const std::vector<Attempt> attempts{make_attempt("a", 5), make_attempt("b", 6)};
    record_ok(j, intents, attempts, {}, 100);
    const Hash32 block = hash_of(101, 0xbb);
    ASSERT_TRUE(j.mark_included(attempts[0].tx_hash, 101, block).has_value());
    ASSERT_TRUE(j.mark_included(attempts[1].tx_hash, 102, hash_of(102, 0xbb)).has_value());
    Outcome done;
    done.idempotency_key = "a";
    done.tx_hash = attempts[0].tx_hash;
    done.block_number = 101;
    ASSERT_TRUE(j.finish_intent(done).has_value());
    EXPECT_EQ(j.pending_intents()->size(), 1u);  // b only

    const auto in_block = j.included_in_block(block);
    ASSERT_TRUE(in_block.has_value()) << in_block.error().detail;
    ASSERT_EQ(in_block->size(), 1u);
    EXPECT_EQ(in_block->at(0).tx_hash, attempts[0].tx_hash);
    EXPECT_TRUE(j.included_in_block(hash_of(1, 0xcc))->empty());

    ASSERT_TRUE(j.reopen({"a", attempts[0].tx_hash, 140, std::nullopt}).has_value());
    const auto a = *j.find_intent("a");
    EXPECT_FALSE(a->outcome.has_value());
    EXPECT_EQ(a->intent.deadline_block, std::optional<uint64_t>(140));
    EXPECT_EQ(a->attempts.at(0).state, AttemptState::broadcast);
    EXPECT_FALSE(a->attempts.at(0).included_block_hash.has_value());
    EXPECT_EQ(j.pending_intents()->size(), 2u);
    EXPECT_TRUE(j.included_in_block(block)->empty());

    EXPECT_EQ(j.reopen({"zz", attempts[0].tx_hash, {}, {}}).error().kind,
              JournalErrc::unknown_intent);
    EXPECT_EQ(j.reopen({"b", hash_of(9, 9), {}, {}}).error().kind, JournalErrc::unknown_attempt);
    EXPECT_EQ(j.find_intent("b").value()->attempts.at(0).state, AttemptState::included);
}

TEST(journal, migrating_a_version_1_file_keeps_only_the_newest_live_attempt_per_nonce) {
    TempDir dir;
    {
        auto j = open_ok(dir.path());
        const std::vector<Intent> intents{make_intent("a")};
        const std::vector<Attempt> first{make_attempt("a", 5)};
        record_ok(j, intents, first);
    }
    // As a version 1 file holds them: a predecessor and its replacement, both live.
    raw_exec(dir.file(),
             "DROP INDEX attempts_live_nonce; DROP INDEX attempts_by_block; "
             "UPDATE schema_version SET version = 1; "
             "INSERT INTO attempts SELECT x'01' || substr(tx_hash, 2), intent_key, chain_id, "
             "signer, nonce, raw_tx, max_fee_per_gas, max_priority_fee_per_gas, gas_limit, "
             "dry_run, 'broadcast', NULL, NULL FROM attempts");
    {
        auto j = open_ok(dir.path());
        const auto a = *j.find_intent("a");
        ASSERT_EQ(a->attempts.size(), 2u);
        EXPECT_EQ(a->attempts[0].state, AttemptState::replaced);
        EXPECT_EQ(a->attempts[1].state, AttemptState::broadcast);
        EXPECT_EQ(a->attempts[1].tx_hash, hash_of(5, 1));
    }
    EXPECT_EQ(raw_count(dir.file(), "SELECT max(version) FROM schema_version"), 2);
}
