#pragma once
// TxPipeline: from a strategy's Intent to an included transaction, at most once, across
// crashes, dropped transactions, fee spikes, reorgs and other senders using the same key.
//
//   submit(wave):  allow-list → limits / kill switch → simulate (eth_call + eth_estimateGas,
//                  one batch each; by default not for exact intents, which go first) → fees (cached
//                  per block) → profit; then the first intent alone and the rest together: nonces →
//                  sign → journal (one durable SQLite transaction each) → eth_sendRawTransaction
//                  (one batch each; the first is on the wire while the rest is signed)
//   on_block(ev):  refresh fees; per signer, the node's latest and pending counts: resolve
//                  mined nonces from receipts, confirm after `confirmations` blocks, re-send
//                  what the node lost, replace what is stuck, cancel what expired, fill
//                  nonce holes (NonceTracker); for a removed block, reopen what it included.
//
// The journal is the source of truth: an intent key journaled once is never signed again
// with another nonce, and start() resumes every attempt that may still land.
//
// Signers are known by address. A journaled attempt belongs to the configured signer with
// its address, whatever name the signer has now. An attempt whose address no configured
// signer has (its key was changed or removed) is still tracked by that address: re-sent
// with its journaled bytes when the node lost it and resolved from receipts, but nothing is
// ever signed for it again (no replacement, no cancellation: its deadline is not enforced,
// no hole below it is filled); the log says `intent.orphaned` at start.
//
// Reorgs. A removed block takes back every attempt of ours it included, finished or not
// (Journal::included_in_block): the intent is reopened (outcome cleared, attempt back to
// broadcast), re-sent at once with its journaled bytes (its nonce is free again on the new
// branch), and reported again when it lands (or whatever else becomes of it). Deadline rule:
// a reopened intent gets a fresh window, counted from the highest block seen before the
// reorg: deadline_block = max(deadline_block, highest + (deadline_block − created_block)),
// and a timestamp deadline moves forward by the time since the removed block (highest
// block's timestamp − removed block's), so that a reorg of empty blocks gets every
// liquidation included again rather than cancelled. Each signer's counter follows the chain
// (NonceTracker::reorged): the next latest count is taken even if lower.
//
// Not re-entrant: the runner calls start, submit and on_block one at a time, on the chain's
// executor (each call's coroutine must finish before the next call starts).
#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/allowlist.hpp"
#include "agent/fees.hpp"
#include "agent/journal.hpp"
#include "agent/log.hpp"
#include "agent/nonces.hpp"
#include "chain/asio.hpp"
#include "chain/provider.hpp"
#include "config/config.hpp"
#include "keys/signer.hpp"
#include "strategies/intent.hpp"

namespace vigil::agent {

struct PipelineConfig {
    uint64_t chain_id = 0;
    FeeConfig fees;
    /// Gas limit = eth_estimateGas × (100 + margin) / 100, at most the intent's gas_cap.
    uint32_t gas_margin_percent = 20;
    /// A transaction not mined this many blocks after it was sent is sent again with fees
    /// bumped by 12.5% (bump_fees); held at the cap, the same bytes are re-sent instead.
    uint64_t replace_after_blocks = 3;
    /// An intent is reported once its transaction is this many blocks deep (1: in the
    /// head block).
    uint64_t confirmations = 1;
    /// Per signer: nonces in flight (sent, not yet confirmed). Intents beyond it are dropped.
    uint32_t max_inflight_txs = 512;
    /// Worst-case gas cost (gas limit × max fee) of everything signed in the last hour.
    u256 max_gas_spend_per_hour_wei = u256(1'000'000'000'000'000'000ull);
    /// When this file exists (or engage_kill_switch() was called), nothing is broadcast.
    std::filesystem::path kill_switch_file;
    /// Simulate, price, sign and journal (attempts marked dry_run), never broadcast.
    bool dry_run = false;
    /// Blocks of eth_feeHistory per refresh.
    uint64_t fee_history_blocks = 10;
};

/// The signers the pipeline may use, by configured name.
using SignerMap = std::map<std::string, std::unique_ptr<keys::Signer>, std::less<>>;

struct SubmitOptions {
    /// Which intents get eth_call + eth_estimateGas first (one round trip each, one batch
    /// for the wave). Unsimulated: the gas limit is the intent's gas_cap (an intent without
    /// one is dropped). automatic: exact intents (Intent::exact) are not simulated, and go
    /// first, as a wave of their own; the rest follow simulated.
    config::Simulation simulate = config::Simulation::automatic;
};

/// Points an observer can watch (metrics, tests; the crash tests stop the process at them).
enum class PipelineStage {
    /// Signed transactions are durable, none of them sent yet: a wave's first one, then
    /// the rest (a dry run: the whole wave at once).
    journaled,
    broadcast,  ///< the batch of what was journaled together was answered
    confirmed,  ///< an intent's outcome was journaled, before the strategy hears of it
};

class TxPipeline {
public:
    /// Outcome of an intent, for its strategy (Intent::strategy).
    using OutcomeSink = std::function<void(std::string_view strategy, const Outcome&)>;
    using Observer = std::function<void(PipelineStage, std::string_view detail)>;

    /// `provider` reads and, without `private_sender`, broadcasts; `private_sender` (a
    /// chain's private_rpc) gets every broadcast instead. All must outlive the pipeline.
    TxPipeline(PipelineConfig config, Provider& provider, Provider* private_sender,
               Journal& journal, const SignerMap& signers, Allowlist allowlist, Logger& log,
               OutcomeSink on_outcome);
    ~TxPipeline();
    TxPipeline(const TxPipeline&) = delete;
    TxPipeline& operator=(const TxPipeline&) = delete;

    void set_observer(Observer observer);

    /// Once, before anything else: checks the node's chain id, loads every intent the
    /// journal has not finished, sets each signer's nonces from the journal and the node,
    /// and reconciles against `head` (re-sends what the node lost). An error is one line.
    [[nodiscard]] Task<Result<void, std::string>> start(const BlockHeader& head);

    /// One wave of intents, decided at block `head`. Each ends journaled and sent, or with
    /// an Outcome at once (refused, dropped, reverted in simulation). Keys already journaled
    /// are skipped (debug log): a replay of the same block sends nothing twice. The first
    /// intent is journaled and sent on its own, ahead of the rest (see PipelineStage).
    Task<void> submit(std::vector<Intent> intents, const BlockHeader& head,
                      SubmitOptions options = {});

    /// Every block event, in stream order. A removed block reopens what it included (see
    /// the file comment).
    Task<void> on_block(const BlockEvent& event);

    /// Stops all broadcasts now (the signal handler's path; the file is the other).
    void engage_kill_switch() noexcept { killed_ = true; }
    bool kill_switch_engaged() const;

    /// Intents sent and not yet reported.
    std::size_t in_flight() const noexcept { return tracked_.size(); }

private:
    struct Slot;
    struct Tracked;
    struct Candidate;
    /// A transaction of a wave, nonce assigned, not yet signed.
    struct Unsigned {
        Slot* slot;
        TxEnvelope tx;
    };

    /// The configured signer of that name; nullptr if none.
    Slot* slot_for(std::string_view signer);
    /// The slot of a signer address: a configured signer's, or one without a signer (made
    /// on first use, its nonces from the journal) for an address no signer has now.
    Slot& slot_of(const Address& address);
    /// Tracks a journaled intent with attempts (by its first attempt's signer address), its
    /// replacement clock at `block`.
    Tracked& track(JournaledIntent ji, uint64_t block);
    /// A removed block: every attempt it included is reopened and re-sent.
    Task<void> take_back(const BlockHeader& removed);
    /// A zero-value self-send at each of `nonces` (NonceTracker's hole rule), journaled and
    /// tracked like any intent.
    Task<void> fill_holes(Slot& slot, std::span<const uint64_t> nonces, const BlockHeader& head);
    Task<void> refresh_fees(const BlockHeader& head);
    Task<void> simulate(std::vector<Candidate>& wave, const BlockHeader& head);
    /// submit() of intents that are all simulated, or none.
    Task<void> submit_wave(std::vector<Intent> intents, const BlockHeader& head, bool simulate);
    void drop(const Intent& intent, OutcomeKind kind, uint64_t block, std::string detail);
    Result<Attempt, std::string> sign(Slot& slot, const std::string& key, const TxEnvelope& tx,
                                      const Fees& fees);
    /// Signs a wave (intents[i] as txs[i]); the first signer error fails the whole wave.
    Result<std::vector<Attempt>, std::string> sign_wave(std::span<const Unsigned> txs,
                                                        std::span<const Intent> intents,
                                                        const Fees& fees);
    TxEnvelope envelope(uint64_t nonce, const Fees& fees, uint64_t gas_limit, const Address& to,
                        const u256& value, const Bytes& data) const;
    /// Reserves the nonces of an approved wave (in order), signs it and journals it in one
    /// transaction; returns it tracked, ready to send. Signing or journal failure: each
    /// intent is dropped, its nonce given back. A dry run: each intent reported, none kept.
    std::vector<Tracked*> commit(std::span<Candidate> wave, const Fees& fees,
                                 const BlockHeader& head);
    /// Broadcasts a committed wave, then tells the observer.
    Task<void> send(std::vector<Tracked*> wave);
    Task<void> broadcast(std::vector<Tracked*> batch);
    Task<void> reconcile(Slot& slot, const BlockHeader& head);
    Task<void> resolve_mined(Tracked& t, const BlockHeader& head);
    /// Cancels past the deadline, replaces when stuck; true if it sent something.
    Task<bool> advance_pending(Tracked& t, Slot& slot, const BlockHeader& head);
    void finish(Tracked& t, OutcomeKind kind, uint64_t block, std::string detail);
    bool journal_ok(const Result<void, JournalError>& r, std::string_view what);
    void note(PipelineStage stage, std::string_view detail);
    bool is_cancellation(const Attempt& a, const Address& signer) const;
    void spend(const u256& cost);
    u256 spent_last_hour();

    PipelineConfig config_;
    Provider& provider_;
    Provider& sender_;
    Journal& journal_;
    Allowlist allowlist_;
    Logger& log_;
    OutcomeSink on_outcome_;
    Observer observer_;
    std::map<std::string, std::unique_ptr<Slot>, std::less<>> slots_;
    /// Journaled intents not finished, by key.
    std::map<std::string, std::unique_ptr<Tracked>, std::less<>> tracked_;
    uint64_t tip_number_ = 0;     ///< the highest block added (or started at)
    uint64_t tip_timestamp_ = 0;  ///< its timestamp
    std::optional<FeeQuote> quote_;
    uint64_t quote_block_ = 0;
    /// Worst-case costs of what was signed, with when, for the hourly cap.
    std::deque<std::pair<std::chrono::steady_clock::time_point, u256>> spend_;
    u256 spend_total_ = 0;  ///< sum of spend_
    bool killed_ = false;
    bool kill_logged_ = false;
};

}  // namespace vigil::agent
