#include "agent/strategy_kinds.hpp"

namespace vigil::agent {

MorphoLiquidateParams parse_morpho_liquidate(config::ParamsReader& params) {
    MorphoLiquidateParams p;
    p.morpho = params.required_address("morpho");
    if (params.is_string("markets")) {
        p.all_markets = params.required_string("markets") == "all";
        if (!p.all_markets) params.error("markets", R"(expected "all" or an array of market ids)");
    } else {
        p.markets = params.required_hashes("markets");
        if (params.raw("markets") && params.raw("markets")->empty())
            params.error("markets", R"(must not be empty (use "all" for every market))");
    }
    p.start_block = params.required_u64("start_block");
    p.min_profit_wei = params.required_u256("min_profit_wei");
    p.max_repay_assets = params.optional_u256("max_repay_assets");
    return p;
}

std::vector<config::StrategyKind> strategy_kinds() {
    return {
        {"morpho-blue.liquidate",
         [](config::ParamsReader& r) -> std::any { return parse_morpho_liquidate(r); }},
    };
}

}  // namespace vigil::agent
