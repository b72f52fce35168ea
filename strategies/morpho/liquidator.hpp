#pragma once
// Morpho Blue liquidations (`kind: "morpho-blue.liquidate"`): a mirror of the markets and
// positions built from Morpho's logs, health evaluated locally with Morpho's exact math
// (math.hpp) behind a per-market screen (book.hpp), and liquidate intents with the seized
// amount that maximises profit.
//
// Per added block the strategy reads, at the block hash: per market Morpho.market(id) and
// the oracle's price(), per loan token the keeper's balanceOf and allowance to Morpho, and
// per market whose interest accrues at the block the IRM's borrowRateView(params, market).
// It asks for them before the block arrives (block_reads), so the runner fetches them in
// the block's own batch with its logs: one round trip. The rate is asked at the totals of
// the last read; a market touched in the block has other totals but lastUpdate = the
// block's timestamp, so it accrues nothing and needs no rate. Whatever is missing from
// the block's batch (a new market, a mirror that moved meanwhile) is read at once, a
// second round trip.
//
// Liquidation amounts come from Morpho's exact math (math.hpp, differential-tested
// against the contract) on state read at the block, so a liquidation is `exact` (sent
// without simulation under `simulate: auto`) unless the mirror of positions is in doubt:
// for kDoubtBlocks blocks after a start from a checkpoint, a reorg, a gap in the blocks, or
// totals the logs did not predict (a missed event).
//
// Approvals go out before they are needed: whenever the keeper's allowance to Morpho of
// a loan token is below its balance of it (at start, when a market with a new loan token
// appears, when the allowance runs low), an approve of 2^256-1 is proposed.
//
// Intents are keyed `morpho/<market id>/<borrower>/<n>`, n the number of Liquidate events
// seen for that borrower in that market: a replay gives the same key, a liquidation a new
// one. A key whose intent failed (reverted, dropped, replaced, expired) is never reused,
// since the pipeline's journal refuses a key it has seen: the next attempt for the same n
// is `.../<n>/retry<k>`.
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "strategies/morpho/book.hpp"
#include "strategies/morpho/math.hpp"
#include "strategies/strategy.hpp"

namespace vigil::morpho {

/// The params of a `morpho-blue.liquidate` strategy.
struct LiquidatorOptions {
    std::string name;  ///< the configured strategy name (Intent::strategy)
    Address morpho;
    /// Every market created since start_block (markets stays empty).
    bool all_markets = false;
    std::vector<Hash32> markets;  ///< the market ids to watch, unless all_markets
    /// First block to backfill logs from; must not be after the watched markets'
    /// CreateMarket (positions opened before it would be missed).
    uint64_t start_block = 0;
    /// Skip liquidations whose expected profit is lower (see Intent::expected_profit_wei).
    u256 min_profit_wei = 0;
    std::optional<u256> max_repay_assets;  ///< cap on loan assets repaid per transaction
};

/// Where the strategy writes its log lines: an event name ("morpho.liquidation") and a
/// human detail. The agent passes its logger.
using LogSink = std::function<void(std::string_view event, std::string detail)>;

class MorphoLiquidator : public Strategy {
public:
    MorphoLiquidator(LiquidatorOptions options, LogSink log);

    std::string_view name() const override { return options_.name; }
    LogFilter log_filter() const override;
    std::vector<DeclaredCall> declared_calls() const override;

    Task<Result<void, std::string>> start(const StrategyContext& context, uint64_t head,
                                          std::optional<uint64_t> resume) override;
    std::vector<CallRequest> block_reads(const BlockHeader& header) const override;
    Task<std::vector<Intent>> on_block(const BlockEvent& event) override;
    void on_outcome(const Outcome& outcome) override;

    /// Text, one record a line: options, last applied block, markets (params and mirrored
    /// totals), positions (account, borrow shares, collateral, Liquidate count), retry
    /// counters. In-flight intents are not saved: the pipeline resumes them.
    std::string save() const override;
    Result<void, std::string> restore(std::string_view saved) override;

    /// Every mirrored position with debt or collateral, at the last evaluated block (start()
    /// evaluates the head): market id, debt rounded up as Morpho does, health = max borrow /
    /// debt (the `liquidatable` column is Morpho's exact answer, which rounding may make
    /// differ from health < 1 at the boundary), the best liquidation's profit in loan token
    /// units. Empty before start().
    std::vector<PositionRow> positions() const override;

    // For tests and the agent's status output.
    std::size_t market_count() const noexcept { return markets_.size(); }
    std::optional<uint64_t> last_block() const noexcept { return applied_through_; }
    /// The mirrored (borrow shares, collateral) of `account`, if the market and the
    /// position are known.
    std::optional<Position> position(const Hash32& market, const Address& account) const;
    /// Keys of intents returned and not yet reported by on_outcome.
    std::vector<std::string> in_flight() const;

    /// Everything the mirror holds, for tests comparing two mirrors (apply then undo).
    bool same_mirror(const MorphoLiquidator& other) const;

private:
    struct MarketState {
        Hash32 id;
        MarketParams params;
        /// Morpho.market(id) after the last applied block: read at each evaluated block,
        /// moved by logs in between. `known` false until the first read (backfill alone
        /// cannot know lastUpdate).
        Market totals;
        bool known = false;
        PositionBook book;
        /// The last evaluation: the market accrued to its block's timestamp, its price.
        struct Evaluated {
            Market accrued;
            u256 price;
            uint64_t block = 0;
        };
        std::optional<Evaluated> evaluated;
    };
    struct TokenState {
        u256 balance = 0;
        u256 allowance = 0;
        bool read = false;                             ///< read at the last evaluated block
        std::optional<std::string> approve_in_flight;  ///< its key
    };
    struct InFlight {
        Address token;
        u256 repaid_assets;  ///< what it will take from the keeper's balance
        uint64_t proposed_block = 0;
    };

    void apply_log(const Log& log, bool undo, std::optional<uint64_t> timestamp);
    MarketState* find_market(const Hash32& id);
    bool wanted(const Hash32& id) const;
    /// The loan tokens of the markets, each once, in market order.
    std::vector<Address> loan_tokens() const;
    /// Per market market(id) and price(), then per loan token balanceOf and allowance.
    std::vector<CallRequest> state_reads() const;
    static CallRequest rate_request(const MarketParams& params, const Market& totals);
    /// Reads the block's state (from `prefetched` where it holds the calls), evaluates
    /// every market and, with `intents`, plans.
    Task<Result<void, std::string>> read_and_evaluate(const BlockHeader& header,
                                                      const BlockReads* prefetched,
                                                      std::vector<Intent>* intents);
    /// The mirror of positions is in doubt at `block` and the next kDoubtBlocks.
    void doubt(uint64_t block);
    void plan_liquidations(const BlockHeader& header, std::vector<Intent>& intents);
    std::string base_key(const MarketState& m, uint32_t position) const;
    void log(std::string_view event, std::string detail) const;

    LiquidatorOptions options_;
    LogSink log_;
    Provider* provider_ = nullptr;
    std::string signer_;
    Address keeper_;

    std::vector<MarketState> markets_;
    std::unordered_map<Hash32, std::size_t> market_index_;
    std::optional<uint64_t> applied_through_;
    std::map<Address, TokenState> tokens_;
    std::map<std::string, InFlight, std::less<>> in_flight_;
    /// Failed attempts per base key (`morpho/<id>/<borrower>/<n>`).
    std::map<std::string, uint32_t, std::less<>> retries_;
    /// Liquidations decided at this block or later are exact (see the file comment).
    uint64_t certain_from_ = 0;
    /// Base keys whose skip reason was already logged (one line per position and reason).
    std::map<std::string, std::string, std::less<>> skip_logged_;
};

}  // namespace vigil::morpho
