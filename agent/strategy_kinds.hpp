#pragma once
// The strategy kinds this build of vigil knows: the registry the config loader checks each
// strategy's `kind` and `params` against. Adding a kind adds one entry to strategy_kinds().
#include <cstdint>
#include <optional>
#include <vector>

#include "chain/bytes.hpp"
#include "chain/u256.hpp"
#include "config/config.hpp"

namespace vigil::agent {

/// Params of `morpho-blue.liquidate`.
struct MorphoLiquidateParams {
    Address morpho;
    /// `markets: "all"`: every market created since start_block (markets stays empty).
    bool all_markets = false;
    std::vector<Hash32> markets;           ///< the listed market ids, non-empty unless all_markets
    uint64_t start_block = 0;              ///< first block to backfill logs from
    u256 min_profit_wei = 0;               ///< skip liquidations whose estimated profit is lower
    std::optional<u256> max_repay_assets;  ///< cap on loan assets repaid per tx
};

/// Reads `morpho`, `markets` (array of 32-byte ids, or "all"), `start_block`,
/// `min_profit_wei` and optional `max_repay_assets`; problems go to the reader.
MorphoLiquidateParams parse_morpho_liquidate(config::ParamsReader& params);

/// Every registered kind with its params parser.
std::vector<config::StrategyKind> strategy_kinds();

}  // namespace vigil::agent
