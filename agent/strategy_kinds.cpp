#include "agent/strategy_kinds.hpp"

#include "chain/strings.hpp"

namespace vigil::agent {

morpho::LiquidatorOptions parse_morpho_liquidate(config::ParamsReader& params) {
    morpho::LiquidatorOptions p;
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

namespace {

/// A strategy's log sink writing through the agent's logger, tagged with its name.
morpho::LogSink sink(Logger& log, std::string strategy) {
    return [&log, strategy = std::move(strategy)](std::string_view event, std::string detail) {
        log.info(event, {{"strategy", strategy}, {"detail", std::move(detail)}});
    };
}

}  // namespace

const std::vector<KindEntry>& kind_entries() {
    static const std::vector<KindEntry> entries = {
        {"morpho-blue.liquidate",
         [](config::ParamsReader& r) -> std::any { return parse_morpho_liquidate(r); },
         [](const config::StrategyConfig& entry, Logger& log) -> std::unique_ptr<Strategy> {
             auto options = std::any_cast<morpho::LiquidatorOptions>(entry.params);
             options.name = entry.name;
             return std::make_unique<morpho::MorphoLiquidator>(std::move(options),
                                                               sink(log, entry.name));
         }},
    };
    return entries;
}

std::vector<config::StrategyKind> strategy_kinds() {
    std::vector<config::StrategyKind> out;
    for (const KindEntry& e : kind_entries()) out.push_back({e.kind, e.parse});
    return out;
}

Result<std::unique_ptr<Strategy>, std::string> make_strategy(const config::StrategyConfig& entry,
                                                             Logger& log) {
    for (const KindEntry& e : kind_entries())
        if (e.kind == entry.kind) return e.make(entry, log);
    return unexpected(concat({"unknown kind '", entry.kind, "'"}));
}

}  // namespace vigil::agent
