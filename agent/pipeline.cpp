#include "agent/pipeline.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <system_error>
#include <utility>

#include "chain/abi.hpp"
#include "chain/json_rpc.hpp"
#include "chain/strings.hpp"
#include "chain/tx.hpp"

namespace vigil::agent {

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kTransferGas = 21'000;
/// Keys of the self-sends that fill nonce holes: "vigil/fill/<address>/<nonce>/<block>".
constexpr std::string_view kFillerPrefix = "vigil/fill/";

uint64_t add_saturated(uint64_t a, uint64_t b) {
    return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max()
                                                        : a + b;
}

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

/// How a node answered a broadcast, from its error text (geth, reth, anvil, erigon).
enum class SendAnswer { accepted, known, nonce_used, underpriced, rejected, unknown };

SendAnswer classify(const RpcResult<Hash32>& result) {
    if (result) return SendAnswer::accepted;
    const rpc::Failure& f = result.error();
    if (f.kind != rpc::Errc::rpc_error) return SendAnswer::unknown;  // may have landed
    const std::string text = lower(f.rpc.message);
    for (std::string_view known : {"already known", "known transaction", "already imported",
                                   "alreadyknown", "already exists"})
        if (text.find(known) != std::string::npos) return SendAnswer::known;
    for (std::string_view used :
         {"nonce too low", "nonce is too low", "oldnonce", "nonce too small"})
        if (text.find(used) != std::string::npos) return SendAnswer::nonce_used;
    // Fees below what the node takes now (anvil refuses a max fee under the base fee; geth
    // a replacement under +10%): the same bytes may be taken later, or replaced.
    for (std::string_view low : {"underpriced", "less than block base fee", "fee cap less than",
                                 "feecap too low", "fee too low", "max fee per gas less than"})
        if (text.find(low) != std::string::npos) return SendAnswer::underpriced;
    return SendAnswer::rejected;
}

std::string selector_text(BytesView calldata) {
    return calldata.size() >= 4 ? to_hex(calldata.first(4)) : "none";
}

std::string revert_reason(const rpc::Failure& f) {
    if (f.kind != rpc::Errc::rpc_error) return f.to_string();
    if (auto data = rpc::revert_data(f.rpc)) {
        if (auto revert = abi::decode_revert(*data)) return abi::to_string(*revert);
        return concat({"undecodable revert data ", to_hex(*data)});
    }
    return f.rpc.message;
}

bool passed(const Intent& intent, const BlockHeader& head) {
    return (intent.deadline_block && head.number >= *intent.deadline_block) ||
           (intent.deadline_timestamp && head.timestamp >= *intent.deadline_timestamp);
}

bool live(const Attempt& a) {
    return a.state == AttemptState::signed_ || a.state == AttemptState::broadcast;
}

/// A coroutine run beside its caller: it starts at the caller's next suspension, and
/// join() waits for its end (and rethrows what it threw).
class Beside {
public:
    Beside(const net::any_io_executor& executor, Task<void> task)
        : state_(std::make_shared<State>(executor)) {
        net::co_spawn(executor, std::move(task), [state = state_](std::exception_ptr e) {
            state->error = e;
            state->done = true;
            state->timer.cancel();
        });
    }

    Task<void> join() {
        while (!state_->done) {
            boost::system::error_code ec;
            co_await state_->timer.async_wait(net::redirect_error(net::use_awaitable, ec));
        }
        if (state_->error) std::rethrow_exception(state_->error);
    }

private:
    struct State {
        explicit State(const net::any_io_executor& executor)
            : timer(executor, net::steady_timer::time_point::max()) {}
        net::steady_timer timer;  // cancelled at the end
        bool done = false;
        std::exception_ptr error;
    };
    std::shared_ptr<State> state_;
};

}  // namespace

struct TxPipeline::Slot {
    std::string name;
    const keys::Signer* signer = nullptr;  ///< nullptr: an address no configured signer has
    Address address;
    NonceTracker nonces;
};

/// A journaled intent not finished yet: one nonce, one or more attempts at it.
struct TxPipeline::Tracked {
    Intent intent;
    Slot* slot = nullptr;
    uint64_t nonce = 0;
    std::vector<Attempt> attempts;  ///< journal order; the newest last
                                    /// When the newest attempt was signed (or last found held at
                                    /// the cap): the clock of
    /// replace_after_blocks. Re-sending the same bytes does not reset it.
    uint64_t attempt_block = 0;
    bool cancelling = false;         ///< a cancellation was signed for this nonce
    std::string rejection;           ///< why a node refused it, if one did
    std::optional<Receipt> receipt;  ///< of the attempt that was mined, while canonical
    /// The first block at which its nonce was used and no attempt of ours had a receipt.
    std::optional<uint64_t> foreign_seen;
};

struct TxPipeline::Candidate {
    Intent intent;
    Slot* slot = nullptr;
    uint64_t gas_limit = 0;
};

TxPipeline::TxPipeline(PipelineConfig config, Provider& provider, Provider* private_sender,
                       Journal& journal, const SignerMap& signers, Allowlist allowlist, Logger& log,
                       OutcomeSink on_outcome)
    : config_(std::move(config)),
      provider_(provider),
      sender_(private_sender ? *private_sender : provider),
      journal_(journal),
      allowlist_(std::move(allowlist)),
      log_(log),
      on_outcome_(std::move(on_outcome)) {
    for (const auto& [name, signer] : signers)
        slots_.emplace(name, std::make_unique<Slot>(
                                 Slot{name, signer.get(), signer->address(),
                                      NonceTracker(config_.chain_id, signer->address(), 0)}));
}

TxPipeline::~TxPipeline() = default;

void TxPipeline::set_observer(Observer observer) {
    observer_ = std::move(observer);
}

void TxPipeline::note(PipelineStage stage, std::string_view detail) {
    if (observer_) observer_(stage, detail);
}

bool TxPipeline::kill_switch_engaged() const {
    if (killed_) return true;
    std::error_code ec;
    return !config_.kill_switch_file.empty() &&
           std::filesystem::exists(config_.kill_switch_file, ec);
}

TxPipeline::Slot* TxPipeline::slot_for(std::string_view signer) {
    auto it = slots_.find(signer);
    return it == slots_.end() || !it->second->signer ? nullptr : it->second.get();
}

TxPipeline::Slot& TxPipeline::slot_of(const Address& address) {
    for (auto& [name, slot] : slots_)
        if (slot->address == address) return *slot;
    auto journaled = journal_.next_nonce(config_.chain_id, address);
    const uint64_t next = journaled ? journaled->value_or(0) : 0;
    std::string name = concat({"unconfigured ", to_checksum(address)});
    auto slot = std::make_unique<Slot>(
        Slot{name, nullptr, address, NonceTracker(config_.chain_id, address, next)});
    return *slots_.insert_or_assign(std::move(name), std::move(slot)).first->second;
}

TxPipeline::Tracked& TxPipeline::track(JournaledIntent ji, uint64_t block) {
    auto t = std::make_unique<Tracked>();
    t->slot = &slot_of(ji.attempts.front().signer);
    t->nonce = ji.attempts.front().nonce;
    t->attempt_block = block;
    for (const Attempt& a : ji.attempts) t->cancelling |= is_cancellation(a, t->slot->address);
    t->attempts = std::move(ji.attempts);
    t->intent = std::move(ji.intent);
    std::string key = t->intent.idempotency_key;
    return *tracked_.insert_or_assign(std::move(key), std::move(t)).first->second;
}

bool TxPipeline::journal_ok(const Result<void, JournalError>& r, std::string_view what) {
    if (r) return true;
    log_.error("journal.failed", {{"operation", std::string(what)},
                                  {"kind", std::string(to_string(r.error().kind))},
                                  {"detail", r.error().detail}});
    return false;
}

bool TxPipeline::is_cancellation(const Attempt& a, const Address& signer) const {
    auto tx = decode_signed(a.raw_tx);
    return tx && tx->tx.to == signer && tx->tx.value == 0 && tx->tx.data.empty();
}

void TxPipeline::spend(const u256& cost) {
    spend_.emplace_back(Clock::now(), cost);
    spend_total_ += cost;
}

u256 TxPipeline::spent_last_hour() {
    const auto horizon = Clock::now() - std::chrono::hours(1);
    while (!spend_.empty() && spend_.front().first < horizon) {
        spend_total_ -= spend_.front().second;
        spend_.pop_front();
    }
    return spend_total_;
}

TxEnvelope TxPipeline::envelope(uint64_t nonce, const Fees& fees, uint64_t gas_limit,
                                const Address& to, const u256& value, const Bytes& data) const {
    TxEnvelope tx;
    tx.type = config_.fees.legacy ? TxType::legacy : TxType::eip1559;
    tx.chain_id = config_.chain_id;
    tx.nonce = nonce;
    if (config_.fees.legacy)
        tx.gas_price = fees.max_fee_per_gas;
    else {
        tx.max_fee_per_gas = fees.max_fee_per_gas;
        tx.max_priority_fee_per_gas = fees.max_priority_fee_per_gas;
    }
    tx.gas_limit = gas_limit;
    tx.to = to;
    tx.value = value;
    tx.data = data;
    return tx;
}

Result<Attempt, std::string> TxPipeline::sign(Slot& slot, const std::string& key,
                                              const TxEnvelope& tx, const Fees& fees) {
    auto raw = slot.signer->sign(tx);
    if (!raw) return unexpected(raw.error().to_string());
    Attempt a;
    a.tx_hash = tx_hash(*raw);
    a.intent_key = key;
    a.chain_id = config_.chain_id;
    a.signer = slot.address;
    a.nonce = tx.nonce;
    a.raw_tx = std::move(*raw);
    a.max_fee_per_gas = fees.max_fee_per_gas;
    a.max_priority_fee_per_gas = fees.max_priority_fee_per_gas;
    a.gas_limit = tx.gas_limit;
    a.dry_run = config_.dry_run;
    return a;
}

Result<std::vector<Attempt>, std::string> TxPipeline::sign_wave(std::span<const Unsigned> txs,
                                                                std::span<const Intent> intents,
                                                                const Fees& fees) {
    // On this thread: a second one (std::async per wave, or a long-lived worker) made the
    // reaction to a price crash slower in bench/reaction_bench on a 2-vCPU machine, where
    // the node leaves no core free (13 transactions: 460 us on two threads, 343 us on one).
    std::vector<Attempt> attempts;
    attempts.reserve(txs.size());
    for (std::size_t i = 0; i < txs.size(); ++i) {
        auto a = sign(*txs[i].slot, intents[i].idempotency_key, txs[i].tx, fees);
        if (!a) return unexpected(std::move(a.error()));
        attempts.push_back(std::move(*a));
    }
    return attempts;
}

void TxPipeline::drop(const Intent& intent, OutcomeKind kind, uint64_t block, std::string detail) {
    Outcome outcome{intent.idempotency_key, kind, std::nullopt, block, std::move(detail)};
    log_.warn(kind == OutcomeKind::reverted ? "intent.reverted" : "intent.dropped",
              {{"key", intent.idempotency_key},
               {"strategy", intent.strategy},
               {"detail", outcome.detail}});
    if (on_outcome_) on_outcome_(intent.strategy, outcome);
}

void TxPipeline::finish(Tracked& t, OutcomeKind kind, uint64_t block, std::string detail) {
    Outcome outcome{t.intent.idempotency_key, kind, std::nullopt, block, std::move(detail)};
    if (t.receipt) outcome.tx_hash = t.receipt->tx_hash;
    if (!journal_ok(journal_.finish_intent(outcome), "finish_intent")) return;  // next block
    note(PipelineStage::confirmed, outcome.idempotency_key);
    const LogLevel level = kind == OutcomeKind::included ? LogLevel::info : LogLevel::warn;
    log_.write(level, "intent.finished",
               {{"key", outcome.idempotency_key},
                {"outcome", std::string(vigil::to_string(kind))},
                {"block", std::to_string(block)},
                {"tx", outcome.tx_hash ? to_hex(*outcome.tx_hash) : "none"},
                {"detail", outcome.detail}});
    const std::string strategy = t.intent.strategy;
    tracked_.erase(outcome.idempotency_key);  // `t` dies here
    if (on_outcome_) on_outcome_(strategy, outcome);
}

Task<void> TxPipeline::refresh_fees(const BlockHeader& head) {
    if (quote_ && quote_block_ >= head.number) co_return;
    const double percentiles[] = {config_.fees.priority_percentile};
    auto history =
        co_await provider_.fee_history(config_.fee_history_blocks, head.number, percentiles);
    if (!history) {
        log_.warn("fees.refresh_failed", {{"detail", history.error().to_string()}});
        co_return;
    }
    auto quote = quote_fees(*history, head, config_.fees);
    if (!quote) {
        log_.error("fees.refresh_failed", {{"detail", quote.error().to_string()}});
        co_return;
    }
    if (quote->capped) log_.warn("fees.capped", {{"detail", quote->warning}});
    quote_ = std::move(*quote);
    quote_block_ = head.number;
}

Task<Result<void, std::string>> TxPipeline::start(const BlockHeader& head) {
    auto id = co_await provider_.chain_id();
    if (!id) co_return unexpected(concat({"eth_chainId: ", id.error().to_string()}));
    if (*id != config_.chain_id)
        co_return unexpected(concat({"the node's chain id is ", std::to_string(*id),
                                     ", the config says ", std::to_string(config_.chain_id)}));
    auto pending = journal_.pending_intents();
    if (!pending) co_return unexpected(concat({"journal: ", pending.error().detail}));
    // An address no configured signer has gets a slot of its own, without a signer.
    for (const JournaledIntent& ji : *pending)
        if (ji.chain_id == config_.chain_id && !ji.attempts.empty() && !ji.attempts.front().dry_run)
            slot_of(ji.attempts.front().signer);
    for (auto& [name, slot] : slots_) {
        auto journaled = journal_.next_nonce(config_.chain_id, slot->address);
        if (!journaled) co_return unexpected(concat({"journal: ", journaled.error().detail}));
        auto latest = co_await provider_.get_transaction_count(slot->address, head.number);
        if (!latest)
            co_return unexpected(concat({"eth_getTransactionCount: ", latest.error().to_string()}));
        const uint64_t next = std::max(journaled->value_or(0), *latest);
        slot->nonces = NonceTracker(config_.chain_id, slot->address, next, *latest);
    }
    for (JournaledIntent& ji : *pending) {
        if (ji.chain_id != config_.chain_id) continue;
        if (ji.attempts.empty() || ji.attempts.front().dry_run) {
            // Nothing of it can be sent: close it.
            Outcome outcome{ji.intent.idempotency_key, OutcomeKind::dropped, std::nullopt,
                            head.number, "no transaction was signed"};
            journal_ok(journal_.finish_intent(outcome), "finish_intent");
            continue;
        }
        Tracked& t = track(std::move(ji), head.number);
        if (!t.slot->signer)
            log_.warn("intent.orphaned",
                      {{"key", t.intent.idempotency_key},
                       {"signer", to_checksum(t.slot->address)},
                       {"detail",
                        concat({"no configured signer has this address (signer '", t.intent.signer,
                                "' of the journal): its journaled "
                                "bytes may be re-sent, nothing is signed for it"})}});
        log_.info("intent.resumed", {{"key", t.intent.idempotency_key},
                                     {"nonce", std::to_string(t.nonce)},
                                     {"attempts", std::to_string(t.attempts.size())}});
    }
    tip_number_ = head.number;
    tip_timestamp_ = head.timestamp;
    co_await refresh_fees(head);
    for (auto& [name, slot] : slots_) co_await reconcile(*slot, head);
    co_return Result<void, std::string>{};
}

Task<void> TxPipeline::simulate(std::vector<Candidate>& wave, const BlockHeader& head) {
    std::vector<CallRequest> requests;
    requests.reserve(wave.size());
    for (const Candidate& c : wave)
        requests.push_back(
            {c.slot->address, c.intent.target, c.intent.calldata, c.intent.value, std::nullopt});
    // Both passes keep the survivors' requests in step with `wave`.
    auto keep = [&](auto& results, auto on_ok) {
        std::size_t out = 0;
        for (std::size_t i = 0; i < wave.size(); ++i) {
            if (!results[i]) {
                const bool reverted = results[i].error().kind == rpc::Errc::rpc_error;
                drop(wave[i].intent, reverted ? OutcomeKind::reverted : OutcomeKind::dropped,
                     head.number,
                     concat({reverted ? "reverted in simulation: " : "simulation failed: ",
                             revert_reason(results[i].error())}));
                continue;
            }
            on_ok(wave[i], *results[i]);
            if (out != i) {
                wave[out] = std::move(wave[i]);
                requests[out] = std::move(requests[i]);
            }
            ++out;
        }
        wave.resize(out);
        requests.resize(out);
    };
    auto calls = co_await provider_.call_batch(requests, BlockTag::pending);
    keep(calls, [](Candidate&, const Bytes&) {});
    if (wave.empty()) co_return;
    auto estimates = co_await provider_.estimate_gas_batch(requests, BlockTag::pending);
    keep(estimates, [&](Candidate& c, uint64_t estimate) {
        c.gas_limit = estimate + estimate * config_.gas_margin_percent / 100;
        if (c.intent.gas_cap) c.gas_limit = std::min(c.gas_limit, *c.intent.gas_cap);
        if (c.gas_limit < estimate) c.gas_limit = 0;  // the cap is below the estimate
    });
}

Task<void> TxPipeline::submit(std::vector<Intent> intents, const BlockHeader& head,
                              SubmitOptions options) {
    if (options.simulate != config::Simulation::automatic) {
        co_await submit_wave(std::move(intents), head,
                             options.simulate == config::Simulation::always);
        co_return;
    }
    const auto inexact = std::stable_partition(intents.begin(), intents.end(),
                                               [](const Intent& i) { return i.exact; });
    std::vector<Intent> simulated(std::make_move_iterator(inexact),
                                  std::make_move_iterator(intents.end()));
    intents.erase(inexact, intents.end());
    if (!intents.empty()) co_await submit_wave(std::move(intents), head, false);
    if (!simulated.empty()) co_await submit_wave(std::move(simulated), head, true);
}

Task<void> TxPipeline::submit_wave(std::vector<Intent> intents, const BlockHeader& head,
                                   bool simulate_first) {
    const bool killed = kill_switch_engaged();
    std::vector<Candidate> wave;
    wave.reserve(intents.size());
    // The idempotency check: keys tracked now, repeated in the wave, or journaled before.
    std::vector<std::string_view> keys;
    keys.reserve(intents.size());
    for (const Intent& intent : intents) keys.push_back(intent.idempotency_key);
    auto journaled = journal_.journaled(keys);
    for (std::size_t i = 0; i < intents.size(); ++i) {
        Intent& intent = intents[i];
        const std::string& key = intent.idempotency_key;
        if (!journaled) {
            drop(intent, OutcomeKind::dropped, head.number,
                 concat({"journal lookup failed: ", journaled.error().detail}));
            continue;
        }
        const bool in_wave = std::any_of(wave.begin(), wave.end(), [&](const Candidate& c) {
            return c.intent.idempotency_key == key;
        });
        if (in_wave || tracked_.contains(key) || (*journaled)[i]) {
            log_.debug("intent.duplicate", {{"key", key}});
            continue;
        }
        Slot* slot = slot_for(intent.signer);
        auto allowed = allowlist_.check(intent.signer, slot ? slot->address : Address{},
                                        intent.target, intent.calldata);
        if (!slot || !allowed) {
            const std::string detail =
                allowed ? concat({"signer '", intent.signer, "' is not configured"})
                        : allowed.error().to_string();
            log_.warn("security.refused",
                      {{"key", key}, {"strategy", intent.strategy}, {"detail", detail}});
            drop(intent, OutcomeKind::dropped, head.number, detail);
            continue;
        }
        if (passed(intent, head)) {
            drop(intent, OutcomeKind::expired, head.number, "deadline passed before sending");
            continue;
        }
        if (killed) {
            drop(intent, OutcomeKind::dropped, head.number, "kill switch engaged");
            continue;
        }
        if (!simulate_first && !intent.gas_cap) {
            drop(intent, OutcomeKind::dropped, head.number,
                 "simulation is off and the intent has no gas_cap to use as its gas limit");
            continue;
        }
        const uint64_t gas_limit = simulate_first ? 0 : *intent.gas_cap;
        wave.push_back({std::move(intent), slot, gas_limit});
    }
    if (killed && !kill_logged_) {
        log_.warn("kill_switch.engaged", {{"detail", "no transaction is broadcast"}});
        kill_logged_ = true;
    }
    if (wave.empty()) co_return;
    if (simulate_first) co_await simulate(wave, head);
    if (wave.empty()) co_return;
    // on_block refreshes the quote after each wave, off the hot path: a quote from the
    // block before is used as is (the base fee multiplier covers one block's rise).
    if (!quote_ || quote_block_ + 1 < head.number) co_await refresh_fees(head);
    if (!quote_) {
        for (const Candidate& c : wave)
            drop(c.intent, OutcomeKind::dropped, head.number, "no fee quote yet");
        co_return;
    }
    const Fees fees = quote_->fees;

    // Every survivor within the limits goes, in the strategy's order.
    std::vector<Candidate> approved;
    std::map<Slot*, uint64_t> planned;  // approved per signer, toward max_inflight_txs
    u256 spent = spent_last_hour();
    for (Candidate& c : wave) {
        if (c.gas_limit == 0) {
            drop(c.intent, OutcomeKind::dropped, head.number,
                 concat({"gas estimate exceeds the intent's gas_cap ",
                         std::to_string(*c.intent.gas_cap)}));
            continue;
        }
        if (auto profit = check_profit(c.intent.expected_profit_wei, c.gas_limit, fees); !profit) {
            drop(c.intent, OutcomeKind::dropped, head.number, profit.error().message);
            continue;
        }
        Slot& slot = *c.slot;
        if (slot.nonces.in_flight().size() + planned[&slot] >= config_.max_inflight_txs) {
            drop(c.intent, OutcomeKind::dropped, head.number,
                 concat({"max_inflight_txs (", std::to_string(config_.max_inflight_txs),
                         ") reached for signer '", slot.name, "'"}));
            continue;
        }
        const u256 cost = gas_cost_wei(c.gas_limit, fees.max_fee_per_gas);
        if (spent + cost > config_.max_gas_spend_per_hour_wei) {
            drop(c.intent, OutcomeKind::dropped, head.number,
                 concat({"max_gas_spend_per_hour_wei (",
                         vigil::to_string(config_.max_gas_spend_per_hour_wei),
                         ") would be exceeded: ", vigil::to_string(spent),
                         " spent in the last hour + ", vigil::to_string(cost)}));
            continue;
        }
        ++planned[&slot];
        spent += cost;
        spend(cost);
        approved.push_back(std::move(c));
    }
    if (approved.empty()) co_return;

    // The first intent (a strategy lists its most valuable first) is signed, journaled and
    // on the wire before the rest is signed: it leaves one signature after the checks, not
    // one per intent. The rest follows as one journal transaction and one batch. A dry run
    // sends nothing, so it keeps the wave whole.
    const std::size_t lead = config_.dry_run ? approved.size() : 1;
    std::vector<Tracked*> first = commit(std::span(approved).first(lead), fees, head);
    if (lead == approved.size()) {
        co_await send(std::move(first));
        co_return;
    }
    const auto executor = co_await net::this_coro::executor;
    Beside sending_first(executor, send(std::move(first)));
    co_await net::post(executor, net::use_awaitable);  // it writes its request meanwhile
    co_await send(commit(std::span(approved).subspan(lead), fees, head));
    co_await sending_first.join();
}

std::vector<TxPipeline::Tracked*> TxPipeline::commit(std::span<Candidate> wave, const Fees& fees,
                                                     const BlockHeader& head) {
    // Each transaction gets the next nonce of its signer.
    std::map<Slot*, NonceTracker> before;  // to give nonces back if signing or the journal fails
    std::vector<Intent> intents;
    std::vector<Unsigned> to_sign;  // intents[i] is signed as to_sign[i]
    intents.reserve(wave.size());
    to_sign.reserve(wave.size());
    for (Candidate& c : wave) {
        Slot& slot = *c.slot;
        before.try_emplace(&slot, slot.nonces);
        const uint64_t nonce = slot.nonces.reserve(1).first;
        to_sign.push_back({&slot, envelope(nonce, fees, c.gas_limit, c.intent.target,
                                           c.intent.value, c.intent.calldata)});
        intents.push_back(std::move(c.intent));
    }
    const auto fail = [&](std::string_view why, std::string_view detail) {
        for (auto& [slot, tracker] : before) slot->nonces = tracker;
        for (const Intent& intent : intents)
            drop(intent, OutcomeKind::dropped, head.number, concat({why, detail}));
    };
    auto signed_wave = sign_wave(to_sign, intents, fees);
    if (!signed_wave) {
        // A signer failed (a remote one can): its nonces must not be skipped, so nothing of
        // the wave is used.
        fail("signing failed: ", signed_wave.error());
        return {};
    }
    std::vector<Attempt> attempts = std::move(*signed_wave);

    std::vector<NonceState> nonces;
    if (config_.dry_run) {
        for (auto& [slot, tracker] : before) slot->nonces = tracker;  // nothing is in flight
    } else {
        for (const auto& [slot, tracker] : before)
            nonces.push_back({config_.chain_id, slot->address, slot->nonces.next()});
    }
    auto written = journal_.record_wave({config_.chain_id, head.number, intents, attempts, nonces});
    if (!written) {
        fail("journal write failed: ", written.error().detail);
        return {};
    }
    note(PipelineStage::journaled, std::to_string(attempts.size()));

    if (config_.dry_run) {
        for (std::size_t i = 0; i < attempts.size(); ++i) {
            const Intent& intent = intents[i];
            const Attempt& a = attempts[i];
            log_.info("tx.dry_run",
                      {{"key", intent.idempotency_key},
                       {"to", to_checksum(intent.target)},
                       {"selector", selector_text(intent.calldata)},
                       {"nonce", std::to_string(a.nonce)},
                       {"gas_limit", std::to_string(a.gas_limit)},
                       {"max_fee_per_gas", vigil::to_string(a.max_fee_per_gas)},
                       {"max_priority_fee_per_gas", vigil::to_string(a.max_priority_fee_per_gas)},
                       {"expected_profit_wei", intent.expected_profit_wei
                                                   ? vigil::to_string(*intent.expected_profit_wei)
                                                   : "none"},
                       {"tx", to_hex(a.tx_hash)},
                       {"raw", to_hex(a.raw_tx)}});
            Outcome outcome{intent.idempotency_key,
                            OutcomeKind::dropped,
                            a.tx_hash,
                            head.number,
                            "dry-run: signed and journaled, not broadcast",
                            true};
            journal_ok(journal_.finish_intent(outcome), "finish_intent");
            if (on_outcome_) on_outcome_(intent.strategy, outcome);
        }
        return {};
    }

    std::vector<Tracked*> sent;
    for (std::size_t i = 0; i < attempts.size(); ++i) {
        auto t = std::make_unique<Tracked>();
        t->slot = to_sign[i].slot;
        t->nonce = attempts[i].nonce;
        t->attempt_block = head.number;
        t->attempts.push_back(std::move(attempts[i]));
        t->intent = std::move(intents[i]);
        sent.push_back(t.get());
        std::string key = t->intent.idempotency_key;
        tracked_.emplace(std::move(key), std::move(t));
    }
    return sent;
}

Task<void> TxPipeline::send(std::vector<Tracked*> wave) {
    if (wave.empty()) co_return;
    const std::size_t size = wave.size();
    co_await broadcast(std::move(wave));
    note(PipelineStage::broadcast, std::to_string(size));
}

Task<void> TxPipeline::broadcast(std::vector<Tracked*> batch) {
    if (batch.empty()) co_return;
    if (kill_switch_engaged()) {
        if (!kill_logged_)
            log_.warn("kill_switch.engaged", {{"detail", "no transaction is broadcast"}});
        kill_logged_ = true;
        co_return;
    }
    kill_logged_ = false;
    std::vector<Bytes> raws;
    std::vector<std::string> keys;
    raws.reserve(batch.size());
    for (Tracked* t : batch) {
        raws.push_back(t->attempts.back().raw_tx);
        keys.push_back(t->intent.idempotency_key);
    }
    auto results = co_await sender_.send_raw_transactions(raws);
    // `batch` may have gone stale while awaiting only if another call ran: the pipeline is
    // not re-entrant, but look the intents up again by key to stay safe.
    std::vector<Attempt*> handed;  // signed, now accepted: one journal write for all
    for (std::size_t i = 0; i < keys.size(); ++i) {
        auto it = tracked_.find(keys[i]);
        if (it == tracked_.end()) continue;
        Tracked& t = *it->second;
        Attempt& a = t.attempts.back();

        const SendAnswer answer = classify(results[i]);
        const std::string hash = to_hex(a.tx_hash);
        switch (answer) {
            case SendAnswer::accepted:
            case SendAnswer::known:
                if (a.state == AttemptState::signed_) handed.push_back(&a);
                log_.info("tx.sent",
                          {{"key", t.intent.idempotency_key},
                           {"nonce", std::to_string(a.nonce)},
                           {"tx", hash},
                           {"max_fee_per_gas", vigil::to_string(a.max_fee_per_gas)},
                           {"node", answer == SendAnswer::known ? "already known" : "accepted"}});
                break;
            case SendAnswer::nonce_used:
                // Mined already (ours, or another sender's): the next reconcile decides.
                log_.info("tx.nonce_used", {{"key", t.intent.idempotency_key},
                                            {"nonce", std::to_string(a.nonce)},
                                            {"tx", hash}});
                break;
            case SendAnswer::underpriced:
            case SendAnswer::unknown:
                // Too cheap for now, or maybe received: it stays live, to be sent again or
                // replaced at the next blocks.
                log_.warn(answer == SendAnswer::underpriced ? "tx.underpriced" : "tx.send_unknown",
                          {{"key", t.intent.idempotency_key},
                           {"tx", hash},
                           {"detail", results[i].error().to_string()}});
                break;
            case SendAnswer::rejected:
                if (journal_ok(journal_.mark_dropped(a.tx_hash), "mark_dropped"))
                    a.state = AttemptState::dropped;
                t.rejection = results[i].error().to_string();
                log_.warn("tx.rejected", {{"key", t.intent.idempotency_key},
                                          {"nonce", std::to_string(a.nonce)},
                                          {"tx", hash},
                                          {"detail", t.rejection}});
                break;
        }
    }
    std::vector<Hash32> hashes;
    for (const Attempt* a : handed) hashes.push_back(a->tx_hash);
    if (hashes.empty() || !journal_ok(journal_.mark_broadcast(hashes), "mark_broadcast")) co_return;
    for (Attempt* a : handed) a->state = AttemptState::broadcast;
}

Task<void> TxPipeline::on_block(const BlockEvent& event) {
    const BlockHeader& head = event.header;
    if (event.kind == BlockEvent::Kind::removed) {
        co_await take_back(head);
        co_return;
    }
    if (head.number > tip_number_) {
        tip_number_ = head.number;
        tip_timestamp_ = head.timestamp;
    }
    co_await refresh_fees(head);
    for (auto& [name, slot] : slots_) co_await reconcile(*slot, head);
    journal_ok(journal_.maintain(), "maintain");  // after the block's wave, off its path
}

Task<void> TxPipeline::take_back(const BlockHeader& removed) {
    for (auto& [name, slot] : slots_) slot->nonces.reorged();
    // What the block included: from the journal (finished intents are only there), and
    // from memory (a receipt whose mark_included failed to journal).
    std::vector<std::pair<std::string, Hash32>> back;  // intent key, attempt
    for (const auto& [key, t] : tracked_)
        if (t->receipt && t->receipt->block_hash == removed.hash)
            back.emplace_back(key, t->receipt->tx_hash);
    auto included = journal_.included_in_block(removed.hash);
    if (!included)
        log_.error("journal.failed", {{"operation", "included_in_block"},
                                      {"kind", std::string(to_string(included.error().kind))},
                                      {"detail", included.error().detail}});
    else
        for (const Attempt& a : *included)
            if (std::none_of(back.begin(), back.end(),
                             [&](const auto& b) { return b.second == a.tx_hash; }))
                back.emplace_back(a.intent_key, a.tx_hash);

    std::vector<Tracked*> again;
    for (const auto& [key, hash] : back) {
        auto found = journal_.find_intent(key);
        if (!found || !*found) {
            log_.error("journal.failed",
                       {{"operation", "find_intent"},
                        {"key", key},
                        {"detail", found ? "not journaled" : found.error().detail}});
            continue;
        }
        JournaledIntent& ji = **found;
        const bool finished = ji.outcome.has_value();
        // The deadline rule (pipeline.hpp): a fresh window from the highest block seen.
        Reopen reopen{key, hash, ji.intent.deadline_block, ji.intent.deadline_timestamp};
        if (auto& d = reopen.deadline_block)
            d = std::max(*d, add_saturated(tip_number_, *d - std::min(*d, ji.created_block)));
        if (auto& d = reopen.deadline_timestamp)
            d = add_saturated(*d, tip_timestamp_ - std::min(tip_timestamp_, removed.timestamp));
        if (!journal_ok(journal_.reopen(reopen), "reopen")) continue;
        ji.intent.deadline_block = reopen.deadline_block;
        ji.intent.deadline_timestamp = reopen.deadline_timestamp;
        auto a = std::find_if(ji.attempts.begin(), ji.attempts.end(),
                              [&](const Attempt& x) { return x.tx_hash == hash; });
        if (a == ji.attempts.end()) continue;  // the journal holds it: cannot happen
        a->state = AttemptState::broadcast;
        a->included_block_number.reset();
        a->included_block_hash.reset();
        std::rotate(a, a + 1, ji.attempts.end());  // the one re-sent is the newest
        Tracked& t = track(std::move(ji), tip_number_);
        log_.warn("tx.reorged_out", {{"key", key},
                                     {"tx", to_hex(hash)},
                                     {"nonce", std::to_string(t.nonce)},
                                     {"block", std::to_string(removed.number)},
                                     {"reopened", finished ? "finished" : "in flight"}});
        again.push_back(&t);
    }
    std::sort(again.begin(), again.end(),
              [](const Tracked* a, const Tracked* b) { return a->nonce < b->nonce; });
    co_await broadcast(std::move(again));
}

Task<void> TxPipeline::reconcile(Slot& slot, const BlockHeader& head) {
    auto latest = co_await provider_.get_transaction_count(slot.address, head.number);
    if (!latest) {
        log_.warn("nonces.read_failed",
                  {{"signer", slot.name}, {"detail", latest.error().to_string()}});
        co_return;
    }
    if (auto seen = slot.nonces.observe_latest_count(*latest); seen.event != NonceEvent::consistent)
        log_.warn("nonces.observed", {{"signer", slot.name}, {"detail", seen.to_string()}});

    std::vector<std::string> keys;
    for (const auto& [key, t] : tracked_)
        if (t->slot == &slot) keys.push_back(key);
    // Mined nonces first: receipts, confirmations, outcomes.
    for (const std::string& key : keys) {
        auto it = tracked_.find(key);
        if (it != tracked_.end() && it->second->nonce < *latest)
            co_await resolve_mined(*it->second, head);
    }

    auto pending = co_await provider_.get_transaction_count(slot.address, BlockTag::pending);
    if (!pending) {
        log_.warn("nonces.read_failed",
                  {{"signer", slot.name}, {"detail", pending.error().to_string()}});
        co_return;
    }
    const NonceObservation seen = slot.nonces.observe_pending_count(*pending);
    if (seen.event != NonceEvent::consistent)
        log_.warn("nonces.observed", {{"signer", slot.name}, {"detail", seen.to_string()}});
    std::vector<Tracked*> resend;
    for (const std::string& key : keys) {
        auto it = tracked_.find(key);
        if (it == tracked_.end() || it->second->nonce < *latest) continue;
        Tracked& t = *it->second;
        if (co_await advance_pending(t, slot, head)) continue;  // replaced or cancelled
        if (seen.event != NonceEvent::gap || !seen.range.contains(t.nonce)) continue;
        // The node lost it (dropped from its pool, or never got it before a crash).
        auto newest = std::find_if(t.attempts.rbegin(), t.attempts.rend(), live);
        if (newest == t.attempts.rend()) continue;
        std::rotate(newest.base() - 1, newest.base(), t.attempts.end());
        log_.warn("tx.resend", {{"key", key},
                                {"nonce", std::to_string(t.nonce)},
                                {"tx", to_hex(t.attempts.back().tx_hash)}});
        resend.push_back(&t);
    }
    co_await broadcast(std::move(resend));

    // From the count we hold for mined (a lagging node's lower count is not believed).
    const uint64_t mined = slot.nonces.confirmed();
    std::vector<uint64_t> ours;
    for (const auto& [key, t] : tracked_)
        if (t->slot == &slot && t->nonce >= mined) ours.push_back(t->nonce);
    const HolePlan holes = slot.nonces.check_holes(
        mined, ours, head.number, config_.replace_after_blocks, config_.max_inflight_txs);
    if (!holes.given_back.empty()) {
        log_.warn("nonces.given_back",
                  {{"signer", slot.name},
                   {"detail", concat({"nonces ", std::to_string(holes.given_back.first), "..",
                                      std::to_string(holes.given_back.end - 1),
                                      " were never used: next nonce back to ",
                                      std::to_string(slot.nonces.next())})}});
        journal_ok(journal_.set_next_nonce({config_.chain_id, slot.address, slot.nonces.next()}),
                   "set_next_nonce");
    }
    if (!holes.fill.empty()) co_await fill_holes(slot, holes.fill, head);
}

Task<void> TxPipeline::fill_holes(Slot& slot, std::span<const uint64_t> nonces,
                                  const BlockHeader& head) {
    if (!slot.signer || !quote_ || kill_switch_engaged()) co_return;
    const Fees fees = quote_->fees;
    std::vector<Intent> intents;
    std::vector<Attempt> attempts;
    for (uint64_t nonce : nonces) {
        Intent in;
        in.idempotency_key = concat({kFillerPrefix, to_checksum(slot.address), "/",
                                     std::to_string(nonce), "/", std::to_string(head.number)});
        in.signer = slot.name;
        in.target = slot.address;
        in.gas_cap = kTransferGas;
        in.reason = concat({"nonce ", std::to_string(nonce),
                            " is a hole below our transactions: filled by a self-send"});
        auto a = sign(slot, in.idempotency_key,
                      envelope(nonce, fees, kTransferGas, slot.address, 0, {}), fees);
        if (!a) {
            log_.error("tx.sign_failed", {{"key", in.idempotency_key}, {"detail", a.error()}});
            co_return;
        }
        intents.push_back(std::move(in));
        attempts.push_back(std::move(*a));
    }
    if (!journal_ok(journal_.record_wave({config_.chain_id, head.number, intents, attempts, {}}),
                    "record_wave"))
        co_return;
    std::vector<Tracked*> fillers;
    for (std::size_t i = 0; i < intents.size(); ++i) {
        spend(gas_cost_wei(kTransferGas, fees.max_fee_per_gas));
        log_.warn("tx.fill_hole", {{"key", intents[i].idempotency_key},
                                   {"nonce", std::to_string(attempts[i].nonce)},
                                   {"tx", to_hex(attempts[i].tx_hash)}});
        fillers.push_back(&track(JournaledIntent{std::move(intents[i]),
                                                 config_.chain_id,
                                                 head.number,
                                                 std::nullopt,
                                                 {std::move(attempts[i])}},
                                 head.number));
    }
    co_await broadcast(std::move(fillers));
}

Task<void> TxPipeline::resolve_mined(Tracked& t, const BlockHeader& head) {
    if (!t.receipt) {
        bool all_known = true;
        for (std::size_t i = t.attempts.size(); i-- > 0;) {
            auto r = co_await provider_.get_transaction_receipt(t.attempts[i].tx_hash);
            if (!r) {
                all_known = false;
                continue;
            }
            if (!r->has_value()) continue;
            t.receipt = std::move(**r);
            for (Attempt& a : t.attempts) {
                if (a.tx_hash == t.receipt->tx_hash) {
                    if (journal_ok(journal_.mark_included(a.tx_hash, t.receipt->block_number,
                                                          t.receipt->block_hash),
                                   "mark_included")) {
                        a.state = AttemptState::included;
                        a.included_block_number = t.receipt->block_number;
                        a.included_block_hash = t.receipt->block_hash;
                    }
                } else if (live(a) &&
                           journal_ok(journal_.mark_replaced(a.tx_hash), "mark_replaced")) {
                    a.state = AttemptState::replaced;
                }
            }
            break;
        }
        if (!t.receipt) {
            if (!all_known) co_return;  // look again next block
            // The nonce is used and none of ours has a receipt. A node can count a block's
            // transactions before it serves their receipts, so this must hold for
            // `confirmations` blocks (at least one more) before the intent is given up: a
            // wrong "replaced" would let the strategy send the same call again.
            if (!t.foreign_seen) t.foreign_seen = head.number;
            if (head.number < *t.foreign_seen + std::max<uint64_t>(config_.confirmations, 1))
                co_return;
            for (Attempt& a : t.attempts)
                if (live(a) && journal_ok(journal_.mark_replaced(a.tx_hash), "mark_replaced"))
                    a.state = AttemptState::replaced;
            finish(t, OutcomeKind::replaced, head.number,
                   concat({"nonce ", std::to_string(t.nonce),
                           " was used by another transaction from the same key"}));
            co_return;
        }
    }
    if (head.number + 1 < t.receipt->block_number + config_.confirmations) co_return;
    const Attempt* landed = nullptr;
    for (const Attempt& a : t.attempts)
        if (a.tx_hash == t.receipt->tx_hash) landed = &a;
    const uint64_t block = t.receipt->block_number;
    if (t.intent.idempotency_key.starts_with(kFillerPrefix) && t.receipt->status) {
        finish(t, OutcomeKind::included, block, "filled a nonce hole");
    } else if (landed && is_cancellation(*landed, t.slot->address)) {
        if (!t.rejection.empty())
            finish(t, OutcomeKind::dropped, block,
                   concat({"the node refused it (", t.rejection, "); its nonce was filled"}));
        else
            finish(t, OutcomeKind::expired, block, "deadline passed; the nonce was cancelled");
    } else if (t.receipt->status) {
        finish(t, OutcomeKind::included, block, "");
    } else {
        finish(t, OutcomeKind::reverted, block,
               concat({"status 0 in block ", std::to_string(block), ", gas used ",
                       std::to_string(t.receipt->gas_used)}));
    }
}

Task<bool> TxPipeline::advance_pending(Tracked& t, Slot& slot, const BlockHeader& head) {
    const bool refused = std::none_of(t.attempts.begin(), t.attempts.end(), live);
    const bool cancel = !t.cancelling && (refused || passed(t.intent, head));
    const bool stuck = head.number >= t.attempt_block + config_.replace_after_blocks;
    if ((!cancel && !stuck) || kill_switch_engaged() || !slot.signer) co_return false;

    const Attempt& newest = t.attempts.back();
    const FeeBump bump =
        bump_fees({newest.max_fee_per_gas, newest.max_priority_fee_per_gas, config_.fees.legacy},
                  config_.fees);
    if (bump.held_at_cap && !cancel) {
        // A replacement would be refused as underpriced: the one sent stays in effect.
        log_.warn("fees.held_at_cap",
                  {{"key", t.intent.idempotency_key}, {"detail", bump.warning}});
        t.attempt_block = head.number;
        co_return false;
    }
    Fees fees = bump.fees;
    if (quote_) {  // never below what the market asks now
        fees.max_fee_per_gas = std::max(fees.max_fee_per_gas, quote_->fees.max_fee_per_gas);
        fees.max_priority_fee_per_gas =
            std::max(fees.max_priority_fee_per_gas, quote_->fees.max_priority_fee_per_gas);
    }
    if (bump.capped)
        log_.warn("fees.capped", {{"key", t.intent.idempotency_key}, {"detail", bump.warning}});

    TxEnvelope tx;
    if (cancel || t.cancelling) {
        tx = envelope(t.nonce, fees, kTransferGas, slot.address, 0, {});
    } else {
        auto previous = decode_signed(newest.raw_tx);
        if (!previous) co_return false;  // we signed it: cannot happen
        tx = envelope(t.nonce, fees, previous->tx.gas_limit, t.intent.target, t.intent.value,
                      t.intent.calldata);
    }
    auto attempt = sign(slot, t.intent.idempotency_key, tx, fees);
    if (!attempt) {
        log_.error("tx.sign_failed",
                   {{"key", t.intent.idempotency_key}, {"detail", attempt.error()}});
        co_return false;
    }
    if (cancel) t.cancelling = true;
    t.attempt_block = head.number;
    auto same = std::find_if(t.attempts.begin(), t.attempts.end(),
                             [&](const Attempt& a) { return a.tx_hash == attempt->tx_hash; });
    if (same != t.attempts.end()) {
        // Identical fees (both at the cap): this transaction exists; send it again if it is
        // the live one (a superseded one stays so: one live attempt per nonce).
        if (!live(*same)) co_return false;
        std::rotate(same, same + 1, t.attempts.end());
    } else {
        std::vector<Hash32> superseded;
        for (const Attempt& a : t.attempts)
            if (live(a)) superseded.push_back(a.tx_hash);
        if (!journal_ok(journal_.replace(superseded, *attempt), "replace")) co_return false;
        for (Attempt& a : t.attempts)
            if (live(a)) a.state = AttemptState::replaced;
        spend(gas_cost_wei(tx.gas_limit, fees.max_fee_per_gas));
        log_.warn(cancel ? "tx.cancel" : "tx.replace",
                  {{"key", t.intent.idempotency_key},
                   {"nonce", std::to_string(t.nonce)},
                   {"tx", to_hex(attempt->tx_hash)},
                   {"max_fee_per_gas", vigil::to_string(fees.max_fee_per_gas)},
                   {"max_priority_fee_per_gas", vigil::to_string(fees.max_priority_fee_per_gas)}});
        t.attempts.push_back(std::move(*attempt));
    }
    std::vector<Tracked*> replacement{&t};
    co_await broadcast(std::move(replacement));
    co_return true;
}

}  // namespace vigil::agent
