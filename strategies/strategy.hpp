#pragma once
// The Strategy interface: pure policy between the block stream and the transaction pipeline.
// A strategy reads chain state through the read-only Provider, keeps its own mirror, and
// returns Intents; it never signs, sends or sleeps. The agent's ChainRunner owns it.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chain/abi_types.hpp"
#include "chain/asio.hpp"
#include "chain/bytes.hpp"
#include "chain/provider.hpp"
#include "chain/result.hpp"
#include "chain/rpc_types.hpp"
#include "strategies/intent.hpp"

namespace vigil {

/// A call a strategy's intents make: the agent adds each to the signer's allow-list.
struct DeclaredCall {
    Address target;
    abi::Selector selector;
    bool operator==(const DeclaredCall&) const = default;
};

/// One tracked position, for `vigil positions`. Amounts are in the protocol's token units
/// as text (exact), health as a ratio (≥ 1 healthy; infinity without debt).
struct PositionRow {
    std::string market;  ///< e.g. a Morpho market id
    Address account;
    std::string collateral;
    std::string debt;
    double health = 0;
    bool liquidatable = false;
    std::string estimated_profit;  ///< in loan-token units; empty when not liquidatable
};

/// What a strategy is given when it starts. `provider` outlives the strategy; use it for
/// reads only.
struct StrategyContext {
    Provider& provider;
    uint64_t chain_id = 0;
    std::string signer;      ///< configured signer name, to put in Intent::signer
    Address signer_address;  ///< its address (balances, allowances)
};

class Strategy {
public:
    virtual ~Strategy() = default;

    /// The configured name (Intent::strategy).
    virtual std::string_view name() const = 0;
    /// The logs the strategy needs in its BlockEvents (address + topics).
    virtual LogFilter log_filter() const = 0;
    /// Every (target, selector) its intents may call.
    virtual std::vector<DeclaredCall> declared_calls() const = 0;

    /// Builds the mirror up to and including block `head`: from the configured start
    /// block, or from just after `resume` when a saved state was restored. Errors are one
    /// line for the log; the runner retries.
    virtual Task<Result<void, std::string>> start(const StrategyContext& context, uint64_t head,
                                                  std::optional<uint64_t> resume) = 0;
    /// The eth_calls it will want at `header`'s hash, decided from its mirror as it is when
    /// the block is fetched (before the block's logs, maybe before the blocks before it
    /// were given to on_block). The runner sends them in the same JSON-RPC batch as the
    /// block's logs, and on_block finds their answers in BlockEvent::reads: one round trip
    /// from a new head to the intents. A call on_block needs and does not find there (the
    /// mirror moved meanwhile) it makes itself. Default: none.
    virtual std::vector<CallRequest> block_reads(const BlockHeader& header) const {
        (void)header;
        return {};
    }
    /// One event of the block stream (added or removed), in order. Returns the intents this
    /// block calls for (an empty list for removed blocks and most added ones). An added
    /// block `catching_up` (a newer one is already known) should only move the mirror:
    /// deciding at it would act on state the chain has left behind. The runner
    /// also calls it once at start with the head it started at (an added event without
    /// logs, for a block start() already applied): intents due before any new block, such
    /// as approvals, go out then.
    virtual Task<std::vector<Intent>> on_block(const BlockEvent& event) = 0;
    /// What became of one of its intents.
    virtual void on_outcome(const Outcome& outcome) = 0;

    /// The mirror as text, for the runner's checkpoint, and back. restore() rejects a
    /// state from another configuration with a one-line error (then start() rescans).
    virtual std::string save() const = 0;
    virtual Result<void, std::string> restore(std::string_view saved) = 0;

    /// The positions it tracks as of the last added block it evaluated (MorphoLiquidator:
    /// every borrower). Strategies without positions (a guardian) return none.
    virtual std::vector<PositionRow> positions() const { return {}; }
};

}  // namespace vigil
