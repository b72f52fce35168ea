#pragma once
// The strategy kinds this build of vigil knows. Each entry pairs how the config reads the
// kind's params with how the agent builds the strategy from them: adding a kind adds one
// entry to kind_entries(), never a branch in the loader or the runner.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/log.hpp"
#include "chain/result.hpp"
#include "config/config.hpp"
#include "strategies/morpho/liquidator.hpp"
#include "strategies/strategy.hpp"

namespace vigil::agent {

struct KindEntry {
    std::string kind;
    /// Reads the params (problems go to the reader); returns the kind's options.
    std::function<std::any(config::ParamsReader&)> parse;
    /// Builds the strategy from its config entry, whose `params` holds what parse returned.
    std::function<std::unique_ptr<Strategy>(const config::StrategyConfig&, Logger&)> make;
};

/// Every registered kind.
const std::vector<KindEntry>& kind_entries();

/// The parse halves of kind_entries(), as the config loader takes them.
std::vector<config::StrategyKind> strategy_kinds();

/// The strategy of a loaded config entry; an error line for a kind this build lacks.
Result<std::unique_ptr<Strategy>, std::string> make_strategy(const config::StrategyConfig& entry,
                                                             Logger& log);

/// `morpho-blue.liquidate` params: `morpho`, `markets` (array of 32-byte ids, or "all"),
/// `start_block`, `min_profit_wei` and optional `max_repay_assets`. The name is left empty
/// (make_strategy sets it from the entry).
morpho::LiquidatorOptions parse_morpho_liquidate(config::ParamsReader& params);

}  // namespace vigil::agent
