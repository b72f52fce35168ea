#include "agent/journal.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <array>
#include <cassert>
#include <system_error>
#include <utility>

namespace vigil::agent {

namespace {

// Migration i takes a file from schema version i to i + 1. Constant SQL only: every value
// the journal stores goes through a bound parameter.
constexpr std::array<const char*, Journal::kSchemaVersion> kMigrations = {
    R"sql(
CREATE TABLE intents (
    key TEXT PRIMARY KEY NOT NULL,
    chain_id INTEGER NOT NULL,
    strategy TEXT NOT NULL,
    signer TEXT NOT NULL,
    target BLOB NOT NULL,
    calldata BLOB NOT NULL,
    value BLOB NOT NULL,
    deadline_block INTEGER,
    deadline_timestamp INTEGER,
    expected_profit_wei BLOB,
    gas_cap INTEGER,
    reason TEXT NOT NULL,
    created_block INTEGER NOT NULL,
    outcome TEXT CHECK (outcome IN ('included', 'reverted', 'replaced', 'dropped', 'expired')),
    outcome_tx_hash BLOB,
    outcome_block INTEGER,
    outcome_detail TEXT
);
CREATE INDEX intents_pending ON intents (outcome) WHERE outcome IS NULL;
CREATE TABLE attempts (
    tx_hash BLOB PRIMARY KEY NOT NULL,
    intent_key TEXT NOT NULL REFERENCES intents (key),
    chain_id INTEGER NOT NULL,
    signer BLOB NOT NULL,
    nonce INTEGER NOT NULL,
    raw_tx BLOB NOT NULL,
    max_fee_per_gas BLOB NOT NULL,
    max_priority_fee_per_gas BLOB NOT NULL,
    gas_limit INTEGER NOT NULL,
    dry_run INTEGER NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('signed', 'broadcast', 'included', 'replaced', 'dropped')),
    included_block INTEGER,
    included_block_hash BLOB
);
CREATE INDEX attempts_by_intent ON attempts (intent_key, nonce);
CREATE TABLE nonces (
    chain_id INTEGER NOT NULL,
    signer BLOB NOT NULL,
    next_nonce INTEGER NOT NULL,
    PRIMARY KEY (chain_id, signer)
);
CREATE TABLE checkpoints (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
)sql",
    R"sql(
CREATE INDEX attempts_by_block ON attempts (included_block_hash)
    WHERE included_block_hash IS NOT NULL;
UPDATE attempts SET state = 'replaced'
    WHERE state IN ('signed', 'broadcast') AND dry_run = 0 AND rowid NOT IN (
        SELECT max(rowid) FROM attempts WHERE state IN ('signed', 'broadcast') AND dry_run = 0
        GROUP BY chain_id, signer, nonce);
CREATE UNIQUE INDEX attempts_live_nonce ON attempts (chain_id, signer, nonce)
    WHERE state IN ('signed', 'broadcast') AND dry_run = 0;
)sql",
};

constexpr const char* kIntentColumns =
    "key, chain_id, strategy, signer, target, calldata, value, deadline_block, "
    "deadline_timestamp, expected_profit_wei, gas_cap, reason, created_block, outcome, "
    "outcome_tx_hash, outcome_block, outcome_detail";
constexpr const char* kAttemptColumns =
    "tx_hash, intent_key, chain_id, signer, nonce, raw_tx, max_fee_per_gas, "
    "max_priority_fee_per_gas, gas_limit, dry_run, state, included_block, included_block_hash";

// Indexes of the cached statements; a namespace keeps `sql::finish_intent` apart from
// Journal::finish_intent.
namespace sql {
enum Id : std::size_t {
    begin,
    commit,
    rollback,
    insert_intent,
    insert_attempt,
    upsert_nonce,
    set_attempt_state,
    finish_intent,
    select_pending,
    select_intent,
    select_intent_exists,
    select_attempt_exists,
    select_attempts_of_intent,
    select_live_attempts,
    select_in_block,
    reopen_intent,
    select_nonce,
    select_checkpoint,
    upsert_checkpoint,
    count,
};
}  // namespace sql

std::array<std::string, sql::count> statement_texts() {
    using namespace sql;
    std::array<std::string, count> s;
    const std::string intents = kIntentColumns;
    const std::string attempts = kAttemptColumns;
    s[begin] = "BEGIN IMMEDIATE";
    s[commit] = "COMMIT";
    s[rollback] = "ROLLBACK";
    s[insert_intent] =
        "INSERT INTO intents (key, chain_id, strategy, signer, target, calldata, value, "
        "deadline_block, deadline_timestamp, expected_profit_wei, gas_cap, reason, "
        "created_block) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
    s[insert_attempt] = "INSERT INTO attempts (" + attempts +
                        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
    s[upsert_nonce] =
        "INSERT INTO nonces (chain_id, signer, next_nonce) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (chain_id, signer) DO UPDATE SET next_nonce = excluded.next_nonce";
    s[set_attempt_state] =
        "UPDATE attempts SET state = ?1, included_block = ?2, included_block_hash = ?3 "
        "WHERE tx_hash = ?4";
    s[finish_intent] =
        "UPDATE intents SET outcome = ?1, outcome_tx_hash = ?2, outcome_block = ?3, "
        "outcome_detail = ?4 WHERE key = ?5";
    s[select_pending] = "SELECT " + intents +
                        " FROM intents WHERE outcome IS NULL ORDER BY "
                        "(SELECT min(nonce) FROM attempts WHERE intent_key = intents.key), rowid";
    s[select_intent] = "SELECT " + intents + " FROM intents WHERE key = ?1";
    s[select_intent_exists] = "SELECT 1 FROM intents WHERE key = ?1";
    s[select_attempt_exists] = "SELECT 1 FROM attempts WHERE tx_hash = ?1";
    s[select_attempts_of_intent] =
        "SELECT " + attempts + " FROM attempts WHERE intent_key = ?1 ORDER BY nonce, rowid";
    s[select_live_attempts] = "SELECT " + attempts +
                              " FROM attempts WHERE chain_id = ?1 AND signer = ?2 AND state IN "
                              "('signed', 'broadcast') ORDER BY nonce, rowid";
    s[select_in_block] = "SELECT " + attempts +
                         " FROM attempts WHERE included_block_hash = ?1 AND state = 'included' "
                         "ORDER BY nonce, rowid";
    s[reopen_intent] =
        "UPDATE intents SET outcome = NULL, outcome_tx_hash = NULL, outcome_block = NULL, "
        "outcome_detail = NULL, deadline_block = ?1, deadline_timestamp = ?2 WHERE key = ?3";
    s[select_nonce] = "SELECT next_nonce FROM nonces WHERE chain_id = ?1 AND signer = ?2";
    s[select_checkpoint] = "SELECT value FROM checkpoints WHERE key = ?1";
    s[upsert_checkpoint] =
        "INSERT INTO checkpoints (key, value) VALUES (?1, ?2) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value";
    return s;
}

constexpr std::array<std::string_view, 5> kAttemptStateNames = {"signed", "broadcast", "included",
                                                                "replaced", "dropped"};

template <class E, std::size_t N>
std::optional<E> enum_from_name(const std::array<std::string_view, N>& names,
                                std::string_view name) {
    for (std::size_t i = 0; i < N; ++i) {
        if (names[i] == name) return static_cast<E>(i);
    }
    return std::nullopt;
}

JournalErrc kind_of(int rc) {
    switch (rc & 0xff) {
        case SQLITE_NOTADB:
        case SQLITE_CORRUPT:
            return JournalErrc::corrupt;
        case SQLITE_CANTOPEN:
            return JournalErrc::cannot_open;
        case SQLITE_BUSY:
            return JournalErrc::in_use;
        default:
            return JournalErrc::sqlite_failure;
    }
}

JournalError db_error(sqlite3* db, int rc, std::string_view what) {
    std::string detail(what);
    detail += ": ";
    // The connection's message is more precise than the code's, when it is about this rc.
    detail += db != nullptr && sqlite3_errcode(db) == rc ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return {kind_of(rc), std::move(detail)};
}

// SQLite stores signed 64-bit integers; uint64 values round-trip through their bit pattern
// (C++20 defines both conversions modulo 2^64).
int64_t to_db(uint64_t v) {
    return static_cast<int64_t>(v);
}

/// Binds parameters of a cached statement and resets it (bindings cleared) when it goes
/// out of scope, so the next use starts clean whatever path this one took.
class Query {
public:
    explicit Query(sqlite3_stmt* stmt) : stmt_(stmt) {}
    Query(const Query&) = delete;
    Query& operator=(const Query&) = delete;
    ~Query() {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }

    void bind(int i, uint64_t v) { check(sqlite3_bind_int64(stmt_, i, to_db(v))); }
    void bind(int i, std::optional<uint64_t> v) {
        if (v) {
            bind(i, *v);
        } else {
            check(sqlite3_bind_null(stmt_, i));
        }
    }
    void bind(int i, bool v) { check(sqlite3_bind_int(stmt_, i, v ? 1 : 0)); }
    // The bound text and blobs outlive the statement's use (SQLITE_STATIC); an empty one is
    // bound explicitly because a null pointer would bind NULL.
    void bind(int i, std::string_view v) {
        check(v.empty() ? sqlite3_bind_text(stmt_, i, "", 0, SQLITE_STATIC)
                        : sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()),
                                            SQLITE_STATIC));
    }
    void bind(int i, BytesView v) {
        check(v.empty() ? sqlite3_bind_zeroblob(stmt_, i, 0)
                        : sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()),
                                            SQLITE_STATIC));
    }
    void bind(int i, const u256& v) {
        std::array<uint8_t, 32> be{};
        store_be(v, be);
        check(sqlite3_bind_blob(stmt_, i, be.data(), 32, SQLITE_TRANSIENT));
    }
    void bind(int i, const std::optional<u256>& v) {
        if (v) {
            bind(i, *v);
        } else {
            check(sqlite3_bind_null(stmt_, i));
        }
    }
    void bind(int i, const std::optional<Hash32>& v) {
        if (v) {
            bind(i, BytesView(v->bytes));
        } else {
            check(sqlite3_bind_null(stmt_, i));
        }
    }

    /// SQLITE_ROW, SQLITE_DONE or an error code (a failed bind is reported here).
    int step() { return bind_rc_ != SQLITE_OK ? bind_rc_ : sqlite3_step(stmt_); }

    // Column readers; a value of the wrong type or size (a damaged or foreign file) sets
    // bad(), which the caller turns into JournalErrc::corrupt.
    bool is_null(int c) const { return sqlite3_column_type(stmt_, c) == SQLITE_NULL; }
    uint64_t u64(int c) const { return static_cast<uint64_t>(sqlite3_column_int64(stmt_, c)); }
    std::optional<uint64_t> opt_u64(int c) const {
        return is_null(c) ? std::nullopt : std::optional(u64(c));
    }
    std::string text(int c) const {
        const auto* p = sqlite3_column_text(stmt_, c);
        const int n = sqlite3_column_bytes(stmt_, c);
        return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), n);
    }
    Bytes blob(int c) const {
        const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, c));
        const int n = sqlite3_column_bytes(stmt_, c);
        return p == nullptr ? Bytes() : Bytes(p, p + n);
    }
    template <std::size_t N>
    FixedBytes<N> fixed(int c) {
        FixedBytes<N> out;
        const Bytes b = blob(c);
        if (b.size() != N) {
            bad_ = true;
            return out;
        }
        std::copy(b.begin(), b.end(), out.bytes.begin());
        return out;
    }
    u256 word(int c) { return load_be(fixed<32>(c).view()); }
    template <class E, std::size_t N>
    E name(int c, const std::array<std::string_view, N>& names) {
        const auto e = enum_from_name<E>(names, text(c));
        if (!e) bad_ = true;
        return e.value_or(E{});
    }
    bool bad() const { return bad_; }

private:
    void check(int rc) {
        if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
    }

    sqlite3_stmt* stmt_;
    int bind_rc_ = SQLITE_OK;
    bool bad_ = false;
};

JournaledIntent read_intent(Query& q) {
    JournaledIntent r;
    r.intent.idempotency_key = q.text(0);
    r.chain_id = q.u64(1);
    r.intent.strategy = q.text(2);
    r.intent.signer = q.text(3);
    r.intent.target = q.fixed<20>(4);
    r.intent.calldata = q.blob(5);
    r.intent.value = q.word(6);
    r.intent.deadline_block = q.opt_u64(7);
    r.intent.deadline_timestamp = q.opt_u64(8);
    if (!q.is_null(9)) r.intent.expected_profit_wei = q.word(9);
    r.intent.gas_cap = q.opt_u64(10);
    r.intent.reason = q.text(11);
    r.created_block = q.u64(12);
    if (!q.is_null(13)) {
        Outcome o;
        o.idempotency_key = r.intent.idempotency_key;
        o.kind = q.name<OutcomeKind>(13, kOutcomeKindNames);
        if (!q.is_null(14)) o.tx_hash = q.fixed<32>(14);
        o.block_number = q.u64(15);
        o.detail = q.text(16);
        r.outcome = std::move(o);
    }
    return r;
}

Attempt read_attempt(Query& q) {
    Attempt a;
    a.tx_hash = q.fixed<32>(0);
    a.intent_key = q.text(1);
    a.chain_id = q.u64(2);
    a.signer = q.fixed<20>(3);
    a.nonce = q.u64(4);
    a.raw_tx = q.blob(5);
    a.max_fee_per_gas = q.word(6);
    a.max_priority_fee_per_gas = q.word(7);
    a.gas_limit = q.u64(8);
    a.dry_run = q.u64(9) != 0;
    a.state = q.name<AttemptState>(10, kAttemptStateNames);
    a.included_block_number = q.opt_u64(11);
    if (!q.is_null(12)) a.included_block_hash = q.fixed<32>(12);
    return a;
}

// The WAL. SQLite appends frames to it until a checkpoint has copied them all into the
// database; the next commit then overwrites it from the start. An append grows the file, so
// its fsync must also commit file-system metadata: on this project's test VM a 4 KiB
// append + fdatasync takes 264 us, an overwrite 95 us. So open() checkpoints the WAL and
// extends it with zeros to kWalFrames frames, and Journal::maintain() checkpoints again
// (off the hot path) before the commits reach its end: every commit overwrites existing
// blocks. Recovery stops at the first frame that is not valid, as zeros are; the file is
// kept across a clean close (SQLITE_FCNTL_PERSIST_WAL).
constexpr int64_t kPageSize = 4096;  // SQLite's default, which the journal keeps
constexpr int64_t kWalFrames = 1024;
constexpr int64_t kWalBytes = 32 + kWalFrames * (24 + kPageSize);  // header, frames
/// A commit that finds the WAL this long checkpoints at once: maintain() was not called.
constexpr int kWalFramesMax = 4 * kWalFrames;

/// Extends the WAL with zeros to kWalBytes, best effort (an optimisation only). Called right
/// after a RESTART checkpoint: every frame in it is in the database, and the next commit
/// writes from the start of the file.
void extend_wal(const std::string& wal_path) {
    const int fd = ::open(wal_path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return;
    const off_t end = ::lseek(fd, 0, SEEK_END);
    if (end >= 0 && end < kWalBytes) {
        const std::array<char, 64 * 1024> zeros{};
        int64_t left = kWalBytes - end;
        while (left > 0) {
            const auto n = ::write(fd, zeros.data(),
                                   static_cast<std::size_t>(std::min<int64_t>(left, zeros.size())));
            if (n <= 0) break;
            left -= n;
        }
        ::fdatasync(fd);
    }
    ::close(fd);
}

/// After each commit: the WAL's length in frames. Checkpoints only as a safety net, when
/// maintain() has not been called for a long time.
int on_wal_commit(void* frames, sqlite3* db, const char* schema, int wal_frames) {
    *static_cast<int*>(frames) = wal_frames;
    if (wal_frames >= kWalFramesMax) {
        sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    }
    return SQLITE_OK;
}

Result<void, JournalError> exec(sqlite3* db, const char* sql, std::string_view what) {
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return unexpected(db_error(db, rc, what));
    return {};
}

}  // namespace

std::string_view to_string(JournalErrc kind) noexcept {
    switch (kind) {
        case JournalErrc::cannot_open:
            return "cannot_open";
        case JournalErrc::corrupt:
            return "corrupt";
        case JournalErrc::newer_schema:
            return "newer_schema";
        case JournalErrc::duplicate_key:
            return "duplicate_key";
        case JournalErrc::duplicate_attempt:
            return "duplicate_attempt";
        case JournalErrc::unknown_intent:
            return "unknown_intent";
        case JournalErrc::unknown_attempt:
            return "unknown_attempt";
        case JournalErrc::in_use:
            return "in_use";
        case JournalErrc::nonce_in_use:
            return "nonce_in_use";
        case JournalErrc::sqlite_failure:
            return "sqlite_failure";
    }
    return "unknown";
}

std::string_view to_string(AttemptState state) noexcept {
    return kAttemptStateNames[static_cast<std::size_t>(state)];
}

bool JournaledIntent::may_still_land() const noexcept {
    for (const auto& a : attempts) {
        if (a.state == AttemptState::signed_ || a.state == AttemptState::broadcast ||
            a.state == AttemptState::included) {
            return true;
        }
    }
    return false;
}

struct Journal::Impl {
    sqlite3* db = nullptr;
    std::array<sqlite3_stmt*, sql::count> stmts{};
    int wal_frames = 0;  ///< the WAL's length after the last commit

    Impl() = default;
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    ~Impl() {
        for (auto* s : stmts) sqlite3_finalize(s);
        // All statements are finalized, so close cannot fail with SQLITE_BUSY.
        sqlite3_close(db);
    }

    Query query(sql::Id which) { return Query(stmts[which]); }

    JournalError error(int rc, std::string_view what) const { return db_error(db, rc, what); }

    Result<void, JournalError> run(sql::Id which, std::string_view what) {
        Query q = query(which);
        const int rc = q.step();
        if (rc != SQLITE_DONE) return unexpected(error(rc, what));
        return {};
    }

    Result<void, JournalError> migrate() {
        if (auto r = exec(db, "BEGIN IMMEDIATE", "begin migration"); !r) return r;
        auto result = migrate_in_db_txn();
        if (!result) {
            sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
            return result;
        }
        return exec(db, "COMMIT", "commit migration");
    }

    Result<void, JournalError> migrate_in_db_txn() {
        if (auto r =
                exec(db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
                     "create schema_version");
            !r) {
            return r;
        }
        sqlite3_stmt* raw = nullptr;
        int rc =
            sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_version", -1, &raw, nullptr);
        if (rc != SQLITE_OK) return unexpected(error(rc, "read schema version"));
        int64_t version = 0;
        {
            Query q(raw);
            rc = q.step();
            if (rc == SQLITE_ROW && !q.is_null(0)) version = static_cast<int64_t>(q.u64(0));
        }
        sqlite3_finalize(raw);
        if (rc != SQLITE_ROW) return unexpected(error(rc, "read schema version"));
        if (version > Journal::kSchemaVersion || version < 0) {
            return unexpected(JournalError{JournalErrc::newer_schema,
                                           "file has schema version " + std::to_string(version) +
                                               ", this build knows up to " +
                                               std::to_string(Journal::kSchemaVersion)});
        }
        if (version == Journal::kSchemaVersion) return {};
        for (auto v = static_cast<std::size_t>(version); v < kMigrations.size(); ++v) {
            const auto what = "migrate to schema version " + std::to_string(v + 1);
            if (auto r = exec(db, kMigrations[v], what); !r) return r;
        }
        if (auto r = exec(db, "DELETE FROM schema_version", "write schema version"); !r) return r;
        const auto insert = "INSERT INTO schema_version (version) VALUES (" +
                            std::to_string(Journal::kSchemaVersion) +
                            ")";  // a constant of this build
        return exec(db, insert.c_str(), "write schema version");
    }

    Result<void, JournalError> prepare() {
        const auto texts = statement_texts();
        for (std::size_t i = 0; i < sql::count; ++i) {
            const int rc = sqlite3_prepare_v3(db, texts[i].c_str(), -1, SQLITE_PREPARE_PERSISTENT,
                                              &stmts[i], nullptr);
            if (rc != SQLITE_OK) return unexpected(error(rc, "prepare statement"));
        }
        return {};
    }

    /// Runs `body` inside BEGIN IMMEDIATE ... COMMIT; rolls back if it or the commit fails.
    template <class F>
    Result<void, JournalError> in_db_txn(std::string_view what, F&& body) {
        if (auto r = run(sql::begin, what); !r) return r;
        auto result = body();
        if (result) result = run(sql::commit, what);
        if (!result) {
            // After a failed COMMIT SQLite may already have rolled back; a second ROLLBACK
            // then fails harmlessly.
            Query q = query(sql::rollback);
            q.step();
        }
        return result;
    }

    Result<void, JournalError> set_state(const Hash32& tx_hash, AttemptState state,
                                         std::optional<uint64_t> block_number,
                                         const std::optional<Hash32>& block_hash) {
        Query q = query(sql::set_attempt_state);
        q.bind(1, to_string(state));
        q.bind(2, block_number);
        q.bind(3, block_hash);
        q.bind(4, BytesView(tx_hash.bytes));
        const int rc = q.step();
        if (rc == SQLITE_CONSTRAINT_UNIQUE)
            return unexpected(nonce_in_use("mark attempt", tx_hash));
        if (rc != SQLITE_DONE) return unexpected(error(rc, "mark attempt"));
        if (sqlite3_changes(db) == 0) {
            return unexpected(
                JournalError{JournalErrc::unknown_attempt,
                             "mark attempt " + to_hex(tx_hash) + ": no such attempt"});
        }
        return {};
    }

    /// Whether an attempt has this hash (SQLite may report a repeated attempt by the live
    /// nonce index rather than by its primary key).
    bool attempt_exists(const Hash32& tx_hash) {
        Query q = query(sql::select_attempt_exists);
        q.bind(1, BytesView(tx_hash.bytes));
        return q.step() == SQLITE_ROW;
    }

    Result<void, JournalError> insert_attempt(const Attempt& a, const std::string& what) {
        Query q = query(sql::insert_attempt);
        q.bind(1, BytesView(a.tx_hash.bytes));
        q.bind(2, std::string_view(a.intent_key));
        q.bind(3, a.chain_id);
        q.bind(4, BytesView(a.signer.bytes));
        q.bind(5, a.nonce);
        q.bind(6, BytesView(a.raw_tx));
        q.bind(7, a.max_fee_per_gas);
        q.bind(8, a.max_priority_fee_per_gas);
        q.bind(9, a.gas_limit);
        q.bind(10, a.dry_run);
        q.bind(11, to_string(a.state));
        q.bind(12, a.included_block_number);
        q.bind(13, a.included_block_hash);
        const int rc = q.step();
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY ||
            (rc == SQLITE_CONSTRAINT_UNIQUE && attempt_exists(a.tx_hash))) {
            return unexpected(
                JournalError{JournalErrc::duplicate_attempt,
                             what + ": attempt " + to_hex(a.tx_hash) + " already journaled"});
        }
        if (rc == SQLITE_CONSTRAINT_UNIQUE)
            return unexpected(nonce_in_use(what + ": attempt", a.tx_hash));
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
            return unexpected(JournalError{
                JournalErrc::unknown_intent,
                what + ": attempt " + to_hex(a.tx_hash) + " for unknown intent " + a.intent_key});
        }
        if (rc != SQLITE_DONE) return unexpected(error(rc, what + ": insert attempt"));
        return {};
    }

    static JournalError nonce_in_use(std::string_view what, const Hash32& tx_hash) {
        return {JournalErrc::nonce_in_use,
                std::string(what) + " " + to_hex(tx_hash) +
                    ": another live attempt holds its (chain, signer, nonce); a replacement "
                    "must supersede it"};
    }

    Result<std::vector<Attempt>, JournalError> read_attempts(Query& q, std::string_view what) {
        std::vector<Attempt> out;
        int rc;
        while ((rc = q.step()) == SQLITE_ROW) out.push_back(read_attempt(q));
        if (rc != SQLITE_DONE) return unexpected(error(rc, what));
        if (q.bad())
            return unexpected(JournalError{JournalErrc::corrupt, std::string(what) + ": bad row"});
        return out;
    }

    Result<void, JournalError> attach_attempts(JournaledIntent& intent) {
        Query q = query(sql::select_attempts_of_intent);
        q.bind(1, std::string_view(intent.intent.idempotency_key));
        auto attempts = read_attempts(q, "read attempts");
        if (!attempts) return unexpected(attempts.error());
        intent.attempts = std::move(*attempts);
        return {};
    }
};

Journal::Journal(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Journal::Journal(Journal&&) noexcept = default;
Journal& Journal::operator=(Journal&&) noexcept = default;
Journal::~Journal() = default;

Result<Journal, JournalError> Journal::open(const std::filesystem::path& state_dir) {
    std::error_code ec;
    std::filesystem::create_directories(state_dir, ec);
    if (ec) {
        return unexpected(
            JournalError{JournalErrc::cannot_open,
                         "create state dir " + state_dir.string() + ": " + ec.message()});
    }
    const auto path = (state_dir / kFileName).string();
    auto impl = std::make_unique<Impl>();
    // NOMUTEX: a Journal is used from one thread; SQLite's per-call locking would be waste.
    const int rc =
        sqlite3_open_v2(path.c_str(), &impl->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        auto err = db_error(impl->db, rc, "open " + path);
        err.kind = JournalErrc::cannot_open;
        return unexpected(std::move(err));
    }
    sqlite3_extended_result_codes(impl->db, 1);
    int persist_wal = 1;
    sqlite3_file_control(impl->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist_wal);
    sqlite3_wal_hook(impl->db, on_wal_commit, &impl->wal_frames);  // replaces autocheckpoint
    // One process per journal: in EXCLUSIVE locking mode the connection keeps the file's
    // lock from its first access to its close. A second vigil on this state_dir (a second
    // owner of the same nonces) cannot open it, and no transaction pays for file-lock system
    // calls and wal-index checks (set before WAL mode, the wal-index is in heap memory).
    // Another process holding it for a moment (`vigil positions` reading checkpoints) is
    // waited for.
    sqlite3_busy_timeout(impl->db, 2000);
    const auto in_use = [&](JournalError err) {
        if (err.kind == JournalErrc::in_use)
            err.detail =
                path + " is in use by another process (one vigil per state_dir): " + err.detail;
        return unexpected(std::move(err));
    };
    if (auto r = exec(impl->db, "PRAGMA locking_mode = EXCLUSIVE", "open " + path); !r) {
        return unexpected(r.error());
    }
    // The first read of the file happens here, so a file that is not a database fails here.
    if (auto r = exec(impl->db, "PRAGMA journal_mode = WAL", "open " + path); !r) {
        return in_use(r.error());
    }
    // FULL, not WAL's usual NORMAL: NORMAL may lose the last commits on power loss, and a lost
    // journaled wave is a signed tx the restart does not know about.
    if (auto r = exec(impl->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON",
                      "configure " + path);
        !r) {
        return unexpected(r.error());
    }
    if (auto r = impl->migrate(); !r) {
        auto err = r.error();
        if (err.kind == JournalErrc::newer_schema) err.detail = path + ": " + err.detail;
        return in_use(std::move(err));
    }
    if (auto r = impl->prepare(); !r) return unexpected(r.error());
    const int restarted =
        sqlite3_wal_checkpoint_v2(impl->db, "main", SQLITE_CHECKPOINT_RESTART, nullptr, nullptr);
    if (restarted == SQLITE_OK) {
        extend_wal(path + "-wal");
        // The first commit after a restart also syncs the WAL's new header: do it now, not
        // in the first wave.
        exec(impl->db, "UPDATE schema_version SET version = version", "restart the WAL");
    }
    return Journal(std::move(impl));
}

Result<void, JournalError> Journal::record_wave(const Wave& wave) {
    auto& d = *impl_;
    return d.in_db_txn("record wave", [&]() -> Result<void, JournalError> {
        for (const auto& intent : wave.intents) {
            Query q = d.query(sql::insert_intent);
            q.bind(1, std::string_view(intent.idempotency_key));
            q.bind(2, wave.chain_id);
            q.bind(3, std::string_view(intent.strategy));
            q.bind(4, std::string_view(intent.signer));
            q.bind(5, BytesView(intent.target.bytes));
            q.bind(6, BytesView(intent.calldata));
            q.bind(7, intent.value);
            q.bind(8, intent.deadline_block);
            q.bind(9, intent.deadline_timestamp);
            q.bind(10, intent.expected_profit_wei);
            q.bind(11, intent.gas_cap);
            q.bind(12, std::string_view(intent.reason));
            q.bind(13, wave.created_block);
            const int rc = q.step();
            if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
                return unexpected(JournalError{
                    JournalErrc::duplicate_key,
                    "record wave: intent " + intent.idempotency_key + " already journaled"});
            }
            if (rc != SQLITE_DONE) return unexpected(d.error(rc, "record wave: insert intent"));
        }
        for (const auto& a : wave.attempts)
            if (auto r = d.insert_attempt(a, "record wave"); !r) return r;
        for (const auto& n : wave.nonces) {
            Query q = d.query(sql::upsert_nonce);
            q.bind(1, n.chain_id);
            q.bind(2, BytesView(n.signer.bytes));
            q.bind(3, n.next_nonce);
            const int rc = q.step();
            if (rc != SQLITE_DONE) return unexpected(d.error(rc, "record wave: set nonce"));
        }
        return {};
    });
}

Result<void, JournalError> Journal::mark_broadcast(std::span<const Hash32> tx_hashes) {
    auto& d = *impl_;
    return d.in_db_txn("mark broadcast", [&]() -> Result<void, JournalError> {
        for (const Hash32& h : tx_hashes)
            if (auto r = d.set_state(h, AttemptState::broadcast, std::nullopt, std::nullopt); !r)
                return r;
        return {};
    });
}

Result<void, JournalError> Journal::mark_included(const Hash32& tx_hash, uint64_t block_number,
                                                  const Hash32& block_hash) {
    return impl_->set_state(tx_hash, AttemptState::included, block_number, block_hash);
}

Result<void, JournalError> Journal::mark_replaced(const Hash32& tx_hash) {
    return impl_->set_state(tx_hash, AttemptState::replaced, std::nullopt, std::nullopt);
}

Result<void, JournalError> Journal::mark_dropped(const Hash32& tx_hash) {
    return impl_->set_state(tx_hash, AttemptState::dropped, std::nullopt, std::nullopt);
}

Result<void, JournalError> Journal::finish_intent(const Outcome& outcome) {
    auto& d = *impl_;
    Query q = d.query(sql::finish_intent);
    q.bind(1, vigil::to_string(outcome.kind));
    q.bind(2, outcome.tx_hash);
    q.bind(3, outcome.block_number);
    q.bind(4, std::string_view(outcome.detail));
    q.bind(5, std::string_view(outcome.idempotency_key));
    const int rc = q.step();
    if (rc != SQLITE_DONE) return unexpected(d.error(rc, "finish intent"));
    if (sqlite3_changes(d.db) == 0) {
        return unexpected(
            JournalError{JournalErrc::unknown_intent,
                         "finish intent " + outcome.idempotency_key + ": no such intent"});
    }
    return {};
}

Result<std::vector<JournaledIntent>, JournalError> Journal::pending_intents() {
    auto& d = *impl_;
    std::vector<JournaledIntent> out;
    {
        Query q = d.query(sql::select_pending);
        int rc;
        while ((rc = q.step()) == SQLITE_ROW) out.push_back(read_intent(q));
        if (rc != SQLITE_DONE) return unexpected(d.error(rc, "read pending intents"));
        if (q.bad()) {
            return unexpected(JournalError{JournalErrc::corrupt, "read pending intents: bad row"});
        }
    }
    for (auto& intent : out) {
        if (auto r = d.attach_attempts(intent); !r) return unexpected(r.error());
    }
    return out;
}

Result<std::vector<Attempt>, JournalError> Journal::live_attempts(uint64_t chain_id,
                                                                  const Address& signer) {
    auto& d = *impl_;
    Query q = d.query(sql::select_live_attempts);
    q.bind(1, chain_id);
    q.bind(2, BytesView(signer.bytes));
    return d.read_attempts(q, "read live attempts");
}

Result<void, JournalError> Journal::replace(std::span<const Hash32> superseded,
                                            const Attempt& replacement) {
    auto& d = *impl_;
    return d.in_db_txn("replace attempt", [&]() -> Result<void, JournalError> {
        for (const Hash32& h : superseded)
            if (auto r = d.set_state(h, AttemptState::replaced, std::nullopt, std::nullopt); !r)
                return r;
        return d.insert_attempt(replacement, "replace attempt");
    });
}

Result<std::vector<Attempt>, JournalError> Journal::included_in_block(const Hash32& block_hash) {
    auto& d = *impl_;
    Query q = d.query(sql::select_in_block);
    q.bind(1, BytesView(block_hash.bytes));
    return d.read_attempts(q, "read attempts in block");
}

Result<void, JournalError> Journal::reopen(const Reopen& reopen) {
    auto& d = *impl_;
    return d.in_db_txn("reopen intent", [&]() -> Result<void, JournalError> {
        Query q = d.query(sql::reopen_intent);
        q.bind(1, reopen.deadline_block);
        q.bind(2, reopen.deadline_timestamp);
        q.bind(3, std::string_view(reopen.key));
        const int rc = q.step();
        if (rc != SQLITE_DONE) return unexpected(d.error(rc, "reopen intent"));
        if (sqlite3_changes(d.db) == 0)
            return unexpected(JournalError{JournalErrc::unknown_intent,
                                           "reopen intent " + reopen.key + ": no such intent"});
        return d.set_state(reopen.tx_hash, AttemptState::broadcast, std::nullopt, std::nullopt);
    });
}

Result<std::optional<JournaledIntent>, JournalError> Journal::find_intent(
    std::string_view idempotency_key) {
    auto& d = *impl_;
    std::optional<JournaledIntent> out;
    {
        Query q = d.query(sql::select_intent);
        q.bind(1, idempotency_key);
        const int rc = q.step();
        if (rc == SQLITE_ROW) {
            out = read_intent(q);
            if (q.bad())
                return unexpected(JournalError{JournalErrc::corrupt, "find intent: bad row"});
        } else if (rc != SQLITE_DONE) {
            return unexpected(d.error(rc, "find intent"));
        }
    }
    if (out) {
        if (auto r = d.attach_attempts(*out); !r) return unexpected(r.error());
    }
    return out;
}

Result<std::vector<bool>, JournalError> Journal::journaled(std::span<const std::string_view> keys) {
    auto& d = *impl_;
    std::vector<bool> out(keys.size(), false);
    auto read = d.in_db_txn("journaled keys", [&]() -> Result<void, JournalError> {
        for (std::size_t i = 0; i < keys.size(); ++i) {
            Query q = d.query(sql::select_intent_exists);
            q.bind(1, keys[i]);
            const int rc = q.step();
            if (rc == SQLITE_ROW)
                out[i] = true;
            else if (rc != SQLITE_DONE)
                return unexpected(d.error(rc, "journaled keys"));
        }
        return {};
    });
    if (!read) return unexpected(read.error());
    return out;
}

Result<void, JournalError> Journal::maintain() {
    auto& d = *impl_;
    if (d.wal_frames < kWalFrames / 2) return {};
    int frames = 0;
    int copied = 0;
    const int rc =
        sqlite3_wal_checkpoint_v2(d.db, "main", SQLITE_CHECKPOINT_PASSIVE, &frames, &copied);
    if (rc != SQLITE_OK) return unexpected(d.error(rc, "checkpoint"));
    if (copied == frames) d.wal_frames = 0;  // the next commit starts the WAL over
    return {};
}

Result<std::optional<uint64_t>, JournalError> Journal::next_nonce(uint64_t chain_id,
                                                                  const Address& signer) {
    auto& d = *impl_;
    Query q = d.query(sql::select_nonce);
    q.bind(1, chain_id);
    q.bind(2, BytesView(signer.bytes));
    const int rc = q.step();
    if (rc == SQLITE_ROW) return std::optional<uint64_t>(q.u64(0));
    if (rc != SQLITE_DONE) return unexpected(d.error(rc, "read next nonce"));
    return std::optional<uint64_t>();
}

Result<void, JournalError> Journal::set_next_nonce(const NonceState& nonce) {
    auto& d = *impl_;
    Query q = d.query(sql::upsert_nonce);
    q.bind(1, nonce.chain_id);
    q.bind(2, BytesView(nonce.signer.bytes));
    q.bind(3, nonce.next_nonce);
    const int rc = q.step();
    if (rc != SQLITE_DONE) return unexpected(d.error(rc, "set next nonce"));
    return {};
}

Result<std::optional<std::string>, JournalError> Journal::checkpoint(std::string_view key) {
    auto& d = *impl_;
    Query q = d.query(sql::select_checkpoint);
    q.bind(1, key);
    const int rc = q.step();
    if (rc == SQLITE_ROW) return std::optional<std::string>(q.text(0));
    if (rc != SQLITE_DONE) return unexpected(d.error(rc, "read checkpoint"));
    return std::optional<std::string>();
}

Result<void, JournalError> Journal::set_checkpoint(std::string_view key, std::string_view value) {
    auto& d = *impl_;
    Query q = d.query(sql::upsert_checkpoint);
    q.bind(1, key);
    q.bind(2, value);
    const int rc = q.step();
    if (rc != SQLITE_DONE) return unexpected(d.error(rc, "set checkpoint"));
    return {};
}

}  // namespace vigil::agent
