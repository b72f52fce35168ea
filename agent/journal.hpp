#pragma once
// The transaction pipeline's crash-safe journal: every intent and every signed raw
// transaction is written here before it is broadcast, so that a restart after a crash at any
// point can re-track what may still land and never signs an intent twice with a new nonce.
//
// One SQLite file, <state_dir>/journal.sqlite, in WAL mode with synchronous=FULL: every
// write below is one db_txn and is on disk when the call returns. That fsync is the
// synchronous disk step of the hot path, so the pipeline journals many intents with one
// record_wave call (a wave's first intent, then the rest), and the WAL is kept so that the
// fsync is a cheap one: written in full when the journal is created, copied back into the
// database by maintain() off the hot path (see journal.cpp).
//
// One Journal per process and per thread: it holds one SQLite connection and its cached
// prepared statements, and is not safe to share between threads. The connection holds the
// file (exclusive locking) from open to close: another process cannot open it meanwhile
// (in_use). Never carry an open Journal across fork().
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "chain/bytes.hpp"
#include "chain/result.hpp"
#include "chain/u256.hpp"
#include "strategies/intent.hpp"

namespace vigil::agent {

enum class JournalErrc {
    cannot_open,        ///< the state dir or the file cannot be created or opened
    corrupt,            ///< the file is not an SQLite database, or a page fails to parse
    newer_schema,       ///< the file was written by a newer vigil (higher schema version)
    duplicate_key,      ///< an intent with this idempotency key is already journaled
    duplicate_attempt,  ///< an attempt with this tx hash is already journaled
    unknown_intent,     ///< no intent with this idempotency key
    unknown_attempt,    ///< no attempt with this tx hash
    in_use,             ///< another connection (another process) holds the journal
    /// Another live attempt (signed or broadcast, not a dry run) holds this (chain, signer
    /// address, nonce): a replacement must name its predecessor in Wave::superseded.
    nonce_in_use,
    sqlite_failure,  ///< any other SQLite error (I/O error, disk full)
};
std::string_view to_string(JournalErrc kind) noexcept;

/// `detail` names the operation and carries SQLite's message; it never holds key material
/// (the journal stores signed transactions, which are public once broadcast).
struct JournalError {
    JournalErrc kind = JournalErrc::sqlite_failure;
    std::string detail;
};

/// Life of one signed transaction. `signed_` has a trailing underscore because `signed` is a
/// keyword: journaled, not yet handed to any endpoint. `replaced`: superseded by a newer
/// attempt of ours at its nonce, or its nonce was used by another transaction; a superseded
/// attempt may still be mined (a node may have kept it) until its nonce is, so its receipt
/// is still looked for. At most one attempt per (chain, signer address, nonce) is live
/// (signed or broadcast; dry runs aside): the journal refuses a second (nonce_in_use).
enum class AttemptState { signed_, broadcast, included, replaced, dropped };
std::string_view to_string(AttemptState state) noexcept;

/// One signed transaction for an intent. The tx hash identifies it: a replacement (same
/// nonce, higher fees) is a new attempt of the same intent.
struct Attempt {
    Hash32 tx_hash;
    std::string intent_key;
    uint64_t chain_id = 0;
    Address signer;
    uint64_t nonce = 0;
    Bytes raw_tx;                       ///< the signed envelope, as sent by eth_sendRawTransaction
    u256 max_fee_per_gas = 0;           ///< wei; the gas price of a legacy tx
    u256 max_priority_fee_per_gas = 0;  ///< wei; equal to max_fee_per_gas for a legacy tx
    uint64_t gas_limit = 0;
    bool dry_run = false;  ///< signed and journaled, never to be broadcast
    AttemptState state = AttemptState::signed_;
    std::optional<uint64_t> included_block_number;  ///< set in state included only
    std::optional<Hash32> included_block_hash;      ///< set in state included only
    bool operator==(const Attempt&) const = default;
};

/// An intent as journaled, with all its attempts ordered by nonce, then by journal order.
struct JournaledIntent {
    Intent intent;
    uint64_t chain_id = 0;
    uint64_t created_block = 0;      ///< the block whose wave journaled it
    std::optional<Outcome> outcome;  ///< set once finish_intent was called: the intent is done
    std::vector<Attempt> attempts;

    /// True while some attempt is signed, broadcast or included (an included tx can still be
    /// reorged out): the pipeline must not sign this key again with a new nonce.
    bool may_still_land() const noexcept;
};

struct NonceState {
    uint64_t chain_id = 0;
    Address signer;
    uint64_t next_nonce = 0;  ///< the nonce the pipeline will use next
};

/// What the pipeline journals before broadcasting a wave: new intents (each key new), the
/// signed attempts (for these intents or for intents already journaled, e.g. replacements),
/// and the nonce counters after signing. Spans: the caller keeps the data alive for the call.
struct Wave {
    uint64_t chain_id = 0;
    uint64_t created_block = 0;
    std::span<const Intent> intents;
    std::span<const Attempt> attempts;
    std::span<const NonceState> nonces;
};

/// A reorg removed the block that included `tx_hash`, an attempt of intent `key`: the intent
/// is open again with these deadlines (see TxPipeline for the rule).
struct Reopen {
    std::string key;
    Hash32 tx_hash;
    std::optional<uint64_t> deadline_block;
    std::optional<uint64_t> deadline_timestamp;
};

class Journal {
public:
    /// Version 1: intents, attempts, nonces, checkpoints. Version 2: attempts found by
    /// included block hash; at most one live attempt per (chain, signer, nonce) (a v1 file's
    /// older live attempts at a nonce become replaced). Each later version adds one
    /// migration script; a file never goes back to an older build.
    static constexpr int kSchemaVersion = 2;
    static constexpr std::string_view kFileName = "journal.sqlite";

    /// Creates `state_dir` if needed, opens or creates journal.sqlite in it and migrates it to
    /// kSchemaVersion. Errors: cannot_open (dir or file), corrupt (not a database),
    /// newer_schema (detail gives both versions; no table is written), in_use (another
    /// process holds it, still after 2 s).
    [[nodiscard]] static Result<Journal, JournalError> open(const std::filesystem::path& state_dir);

    Journal(Journal&&) noexcept;
    Journal& operator=(Journal&&) noexcept;
    ~Journal();

    /// Journals the whole wave in one db_txn, durable on return. All or nothing: on
    /// duplicate_key, duplicate_attempt, unknown_intent (an attempt for a key neither in the
    /// wave nor journaled), nonce_in_use (a live attempt holds an attempt's nonce: a
    /// replacement goes through replace()) or any failure, nothing of the wave is written.
    [[nodiscard]] Result<void, JournalError> record_wave(const Wave& wave);

    /// Copies the WAL back into the database once it is half full, so that commits keep
    /// overwriting the WAL's first blocks instead of growing it: call it where a few
    /// milliseconds do not matter (the pipeline does after each block). A no-op otherwise.
    [[nodiscard]] Result<void, JournalError> maintain();

    /// State changes of attempts, each call one durable db_txn; unknown_attempt if no
    /// attempt has this hash (then nothing of the call is written). mark_broadcast takes a
    /// whole wave's hashes at once, and also takes an included attempt back to broadcast
    /// (reorged out) and clears its block.
    [[nodiscard]] Result<void, JournalError> mark_broadcast(std::span<const Hash32> tx_hashes);
    [[nodiscard]] Result<void, JournalError> mark_broadcast(const Hash32& tx_hash) {
        return mark_broadcast(std::span<const Hash32>(&tx_hash, 1));
    }
    [[nodiscard]] Result<void, JournalError> mark_included(const Hash32& tx_hash,
                                                           uint64_t block_number,
                                                           const Hash32& block_hash);
    [[nodiscard]] Result<void, JournalError> mark_replaced(const Hash32& tx_hash);
    [[nodiscard]] Result<void, JournalError> mark_dropped(const Hash32& tx_hash);

    /// A replacement at the nonce of `superseded` (the live attempts it replaces, marked
    /// replaced) in one db_txn: how a live attempt is succeeded by one with other bytes.
    /// Errors as record_wave, and unknown_attempt for a superseded hash; nothing written then.
    [[nodiscard]] Result<void, JournalError> replace(std::span<const Hash32> superseded,
                                                     const Attempt& replacement);

    /// Every attempt in state included at the block with this hash, finished intent or not,
    /// ordered by nonce: what a removed block takes back.
    [[nodiscard]] Result<std::vector<Attempt>, JournalError> included_in_block(
        const Hash32& block_hash);
    /// In one db_txn: the intent's outcome cleared (open again), its deadlines set, the
    /// attempt back to broadcast with its block cleared. unknown_intent, unknown_attempt,
    /// nonce_in_use (another live attempt holds its nonce); nothing written then.
    [[nodiscard]] Result<void, JournalError> reopen(const Reopen& reopen);

    /// Marks the intent done with this outcome (keyed by outcome.idempotency_key); a second
    /// call overwrites the first. unknown_intent if the key was never journaled.
    [[nodiscard]] Result<void, JournalError> finish_intent(const Outcome& outcome);

    /// For restart: every intent not done, with its attempts, ordered by the lowest nonce of
    /// its attempts (intents without attempts first), then by journal order.
    [[nodiscard]] Result<std::vector<JournaledIntent>, JournalError> pending_intents();
    /// Attempts of (chain_id, signer) in state signed or broadcast, ordered by nonce: what to
    /// re-track (and rebroadcast if the node does not know them) after a restart.
    [[nodiscard]] Result<std::vector<Attempt>, JournalError> live_attempts(uint64_t chain_id,
                                                                           const Address& signer);
    /// Idempotency check before signing: nullopt if the key was never journaled.
    [[nodiscard]] Result<std::optional<JournaledIntent>, JournalError> find_intent(
        std::string_view idempotency_key);

    /// For each key, whether an intent with it is journaled: the idempotency check of a
    /// whole wave, in one transaction (one lock instead of one per key).
    [[nodiscard]] Result<std::vector<bool>, JournalError> journaled(
        std::span<const std::string_view> keys);

    /// nullopt if no wave or set_next_nonce has recorded one for (chain_id, signer).
    [[nodiscard]] Result<std::optional<uint64_t>, JournalError> next_nonce(uint64_t chain_id,
                                                                           const Address& signer);
    [[nodiscard]] Result<void, JournalError> set_next_nonce(const NonceState& nonce);

    /// Opaque key/value text for the runner, e.g. "chain/31337/last_block" -> "1234".
    [[nodiscard]] Result<std::optional<std::string>, JournalError> checkpoint(std::string_view key);
    [[nodiscard]] Result<void, JournalError> set_checkpoint(std::string_view key,
                                                            std::string_view value);

private:
    struct Impl;
    explicit Journal(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::agent
