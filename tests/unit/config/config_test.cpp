// Config loading: one case per kind of mistake with its exact `path: message`, all mistakes
// of a config reported together, defaults, ${VAR} substitution and its masking in the
// printout, relative paths, comments, and the example configs.
#include "config/config.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "tests/support/key_test_support.hpp"

using namespace vigil;
using namespace vigil::config;

namespace {

/// The params of the test kind "fake.watch": every kind of getter, nested and arrays.
struct FakeParams {
    Address target;
    std::vector<Hash32> ids;
    u256 amount = 7;
    uint64_t count = 1;
    bool flag = false;
};

std::any parse_fake(ParamsReader& r) {
    FakeParams p;
    p.target = r.required_address("target");
    if (r.has("ids")) p.ids = r.required_hashes("ids");
    p.amount = r.optional_u256("amount", p.amount);
    p.count = r.optional_u64("count", p.count, {1, 10});
    if (auto nested = r.optional_object("nested")) {
        p.flag = nested->optional_bool("flag", false);
        nested->finish();
    }
    return p;
}

/// Mirrors the agent's morpho-blue.liquidate parser, so the examples load without agent/.
std::any parse_morpho(ParamsReader& r) {
    FakeParams p;
    p.target = r.required_address("morpho");
    if (!r.is_string("markets")) p.ids = r.required_hashes("markets");
    r.raw("markets");
    p.count = r.required_u64("start_block");
    p.amount = r.required_u256("min_profit_wei");
    r.optional_u256("max_repay_assets");
    return p;
}

const std::vector<StrategyKind> kKinds = {
    {"fake.watch", parse_fake},
    {"fake.other", [](ParamsReader&) -> std::any { return 0; }},
};

const std::map<std::string, std::string, std::less<>> kEnv = {
    {"KEEPER_KEY", "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"},
    {"API_KEY", "s3cr3t-api-key"},
    {"PASSWORD", "hunter2-password"},
    {"EMPTY", ""},
};

std::optional<std::string> fake_env(std::string_view name) {
    const auto it = kEnv.find(name);
    if (it == kEnv.end()) return std::nullopt;
    return it->second;
}

constexpr const char* kTarget = "0x1111111111111111111111111111111111111111";
constexpr const char* kMorpho = "0xBBBBBbbBBb9cC5e90e3b3Af64bdAF62C37EEFFCb";

/// A minimal valid config; each case mutates one thing.
Json base_config() {
    return Json::parse(R"({
        "state_dir": "state",
        "chains": { "local": { "chain_id": 31337, "rpc": ["http://127.0.0.1:8545"] } },
        "signers": { "keeper": { "private_key_env": "KEEPER_KEY" } },
        "strategies": [ { "name": "watch", "kind": "fake.watch", "chain": "local",
                          "signer": "keeper",
                          "params": { "target": "0x1111111111111111111111111111111111111111" } } ]
    })");
}

Result<Config, std::vector<ConfigError>> parse(std::string_view text,
                                               std::span<const StrategyKind> kinds = kKinds) {
    return parse_config(text, "/etc/vigil", fake_env, kinds);
}

std::vector<std::string> error_lines(const Result<Config, std::vector<ConfigError>>& r) {
    std::vector<std::string> out;
    if (r) return out;
    for (const auto& e : r.error()) out.push_back(e.to_string());
    return out;
}

std::string printed(const Config& c) {
    std::ostringstream out;
    print_config(c, out);
    return out.str();
}

struct MistakeCase {
    const char* name;
    std::function<void(Json&)> mutate;
    std::string error;  ///< the one expected "path: message"
};

std::string two_strategies_named(const char* second) {
    auto j = base_config();
    auto s = j["strategies"][0];
    s["name"] = second;
    j["strategies"].push_back(s);
    return j.dump();
}

}  // namespace

TEST(config, base_config_is_valid) {
    const auto r = parse(base_config().dump());
    ASSERT_TRUE(r.has_value()) << ::testing::PrintToString(error_lines(r));
    EXPECT_EQ(std::any_cast<FakeParams>(r->strategies.at(0).params).target,
              *parse_address(kTarget));
}

TEST(config, each_mistake_is_one_error_naming_its_path) {
    const std::vector<MistakeCase> cases = {
        // unknown keys, at every level
        {"root", [](Json& j) { j["chain"] = 1; }, "chain: unknown key"},
        {"chain", [](Json& j) { j["chains"]["local"]["rpcs"] = Json::array(); },
         "chains.local.rpcs: unknown key"},
        {"fees",
         [](Json& j) {
             j["chains"]["local"]["fees"] = {{"max_fee", 1}};
         },
         "chains.local.fees.max_fee: unknown key"},
        {"private_rpc",
         [](Json& j) {
             j["chains"]["local"]["private_rpc"] = {{"url", "https://p.example"}, {"mode", "x"}};
         },
         "chains.local.private_rpc.mode: unknown key"},
        {"signer", [](Json& j) { j["signers"]["keeper"]["pasword_env"] = "PASSWORD"; },
         "signers.keeper.pasword_env: unknown key"},
        {"allow entry",
         [](Json& j) {
             j["signers"]["keeper"]["allow"] = Json::array(
                 {{{"to", kTarget}, {"function", "receive"}, {"selector", "0x12345678"}}});
         },
         "signers.keeper.allow[0].selector: unknown key"},
        {"strategy", [](Json& j) { j["strategies"][0]["chains"] = "local"; },
         "strategies[0].chains: unknown key"},
        {"params", [](Json& j) { j["strategies"][0]["params"]["targets"] = 1; },
         "strategies[0].params.targets: unknown key"},
        {"nested params",
         [](Json& j) {
             j["strategies"][0]["params"]["nested"] = {{"flag", true}, {"flgs", 1}};
         },
         "strategies[0].params.nested.flgs: unknown key"},
        {"limits",
         [](Json& j) {
             j["limits"] = {{"max_inflight", 1}};
         },
         "limits.max_inflight: unknown key"},
        {"metrics",
         [](Json& j) {
             j["metrics"] = {{"port", 9464}};
         },
         "metrics.port: unknown key"},
        // missing required keys
        {"state_dir", [](Json& j) { j.erase("state_dir"); }, "state_dir: missing required key"},
        {"chains", [](Json& j) { j.erase("chains"); }, "chains: missing required key"},
        {"rpc", [](Json& j) { j["chains"]["local"].erase("rpc"); },
         "chains.local.rpc: missing required key"},
        {"chain_id", [](Json& j) { j["chains"]["local"].erase("chain_id"); },
         "chains.local.chain_id: missing required key"},
        {"strategy chain", [](Json& j) { j["strategies"][0].erase("chain"); },
         "strategies[0].chain: missing required key"},
        {"params key", [](Json& j) { j["strategies"][0].erase("params"); },
         "strategies[0].params.target: missing required key"},
        // wrong types
        {"string", [](Json& j) { j["state_dir"] = 5; }, "state_dir: expected a string"},
        {"object", [](Json& j) { j["chains"] = Json::array(); }, "chains: expected an object"},
        {"array", [](Json& j) { j["chains"]["local"]["rpc"] = "http://127.0.0.1:8545"; },
         "chains.local.rpc: expected an array"},
        {"array element", [](Json& j) { j["chains"]["local"]["rpc"] = Json::array({8545}); },
         "chains.local.rpc[0]: expected a string"},
        {"boolean", [](Json& j) { j["strategies"][0]["enabled"] = "yes"; },
         "strategies[0].enabled: expected a boolean"},
        {"simulate", [](Json& j) { j["strategies"][0]["simulate"] = "yes"; },
         "strategies[0].simulate: expected true, false or \"auto\""},
        {"integer", [](Json& j) { j["chains"]["local"]["chain_id"] = "1"; },
         "chains.local.chain_id: expected an integer"},
        {"number",
         [](Json& j) {
             j["chains"]["local"]["fees"] = {{"priority_percentile", "50"}};
         },
         "chains.local.fees.priority_percentile: expected a number"},
        {"params object", [](Json& j) { j["strategies"][0]["params"] = Json::array(); },
         "strategies[0].params: expected an object"},
        {"strategies array", [](Json& j) { j["strategies"] = Json::object(); },
         "strategies: expected an array"},
        {"strategy element", [](Json& j) { j["strategies"][0] = "watch"; },
         "strategies[0]: expected an object"},
        {"private_rpc shape", [](Json& j) { j["chains"]["local"]["private_rpc"] = 1; },
         "chains.local.private_rpc: expected null, a URL string or an object"},
        {"signers type", [](Json& j) { j["signers"] = "keeper"; }, "signers: expected an object"},
        {"section from an unset variable", [](Json& j) { j["signers"] = "${NOPE}"; },
         "signers: environment variable NOPE is not set"},
        {"chains from an unset variable", [](Json& j) { j["chains"] = "${NOPE}"; },
         "chains: environment variable NOPE is not set"},
        // addresses and hashes
        {"short address", [](Json& j) { j["strategies"][0]["params"]["target"] = "0x1234"; },
         "strategies[0].params.target: not an address (wrong length)"},
        {"no prefix",
         [](Json& j) {
             j["strategies"][0]["params"]["target"] = "1111111111111111111111111111111111111111";
         },
         "strategies[0].params.target: not an address (missing 0x prefix)"},
        {"bad digit",
         [](Json& j) {
             j["strategies"][0]["params"]["target"] = "0x111111111111111111111111111111111111111g";
         },
         "strategies[0].params.target: not an address (bad digit)"},
        {"bad checksum",
         [](Json& j) {
             // kMorpho with its last letter's case flipped.
             j["strategies"][0]["params"]["target"] = "0xBBBBBbbBBb9cC5e90e3b3Af64bdAF62C37EEFFCB";
         },
         "strategies[0].params.target: not an address (bad checksum)"},
        {"address type", [](Json& j) { j["strategies"][0]["params"]["target"] = 17; },
         "strategies[0].params.target: expected an address string"},
        {"allow to",
         [](Json& j) {
             j["signers"]["keeper"]["allow"] = Json::array(
                 {{{"to", "0xbbbbbbbbbb9cc5e90e3b3af64bdaf62c37eeffcb"}, {"function", "receive"}},
                  {{"to", "0xBBBBBbbBBb9cC5e90e3b3Af64bdAF62C37EEFFcb"}, {"function", "receive"}}});
         },
         "signers.keeper.allow[1].to: not an address (bad checksum)"},
        {"allow function",
         [](Json& j) {
             j["signers"]["keeper"]["allow"] = Json::array({{{"to", kTarget}, {"function", ""}}});
         },
         "signers.keeper.allow[0].function: must not be empty"},
        {"hash",
         [](Json& j) {
             j["strategies"][0]["params"]["ids"] = {"0x" + std::string(64, 'a'), "0x12"};
         },
         "strategies[0].params.ids[1]: not a 32-byte hash (wrong length)"},
        // URLs
        {"ws in rpc", [](Json& j) { j["chains"]["local"]["rpc"] = {"ws://127.0.0.1:8545"}; },
         "chains.local.rpc[0]: not an http(s) URL"},
        {"http in ws", [](Json& j) { j["chains"]["local"]["ws"] = {"http://127.0.0.1:8545"}; },
         "chains.local.ws[0]: not a ws(s) URL"},
        {"no scheme",
         [](Json& j) {
             j["chains"]["local"]["rpc"] = {"http://a.example", "127.0.0.1:8545"};
         },
         "chains.local.rpc[1]: not an http(s) URL"},
        {"no host", [](Json& j) { j["chains"]["local"]["rpc"] = {"http://:8545"}; },
         "chains.local.rpc[0]: not an http(s) URL"},
        {"bad port", [](Json& j) { j["chains"]["local"]["rpc"] = {"http://127.0.0.1:99999"}; },
         "chains.local.rpc[0]: not an http(s) URL"},
        {"space", [](Json& j) { j["chains"]["local"]["rpc"] = {"http://127.0.0.1:8545 "}; },
         "chains.local.rpc[0]: not an http(s) URL"},
        {"empty rpc", [](Json& j) { j["chains"]["local"]["rpc"] = Json::array(); },
         "chains.local.rpc: must not be empty"},
        {"private_rpc url",
         [](Json& j) { j["chains"]["local"]["private_rpc"] = "wss://p.example"; },
         "chains.local.private_rpc: not an http(s) URL"},
        {"private_rpc method",
         [](Json& j) {
             j["chains"]["local"]["private_rpc"] = {{"url", "https://p.example"},
                                                    {"method", "eth_sendBundle"}};
         },
         "chains.local.private_rpc.method: must be eth_sendRawTransaction or "
         "eth_sendPrivateTransaction"},
        {"metrics listen",
         [](Json& j) {
             j["metrics"] = {{"listen", "127.0.0.1"}};
         },
         "metrics.listen: not HOST:PORT"},
        // numbers
        {"negative", [](Json& j) { j["chains"]["local"]["confirmations"] = -1; },
         "chains.local.confirmations: must not be negative"},
        {"fraction", [](Json& j) { j["chains"]["local"]["confirmations"] = 1.5; },
         "chains.local.confirmations: expected an integer"},
        {"beyond u64",
         [](Json& j) { j["chains"]["local"]["chain_id"] = Json::parse("18446744073709551616"); },
         "chains.local.chain_id: too large"},
        {"zero chain id", [](Json& j) { j["chains"]["local"]["chain_id"] = 0; },
         "chains.local.chain_id: must be at least 1"},
        {"margin", [](Json& j) { j["chains"]["local"]["gas_margin_percent"] = 1001; },
         "chains.local.gas_margin_percent: must be at most 1000"},
        {"multiplier",
         [](Json& j) {
             j["chains"]["local"]["fees"] = {{"base_fee_multiplier", 0}};
         },
         "chains.local.fees.base_fee_multiplier: must be between 1 and 100"},
        {"percentile",
         [](Json& j) {
             j["chains"]["local"]["fees"] = {{"priority_percentile", 100.5}};
         },
         "chains.local.fees.priority_percentile: must be between 0 and 100"},
        {"priority above cap",
         [](Json& j) {
             j["chains"]["local"]["fees"] = {{"max_fee_gwei", 2}, {"max_priority_fee_gwei", 3}};
         },
         "chains.local.fees.max_priority_fee_gwei: must not exceed max_fee_gwei"},
        {"params bounds", [](Json& j) { j["strategies"][0]["params"]["count"] = 11; },
         "strategies[0].params.count: must be between 1 and 10"},
        // u256 decimal strings
        {"u256 number",
         [](Json& j) {
             j["limits"] = {{"max_gas_spend_per_hour_wei", 5}};
         },
         "limits.max_gas_spend_per_hour_wei: expected a decimal string"},
        {"u256 exponent",
         [](Json& j) {
             j["limits"] = {{"max_gas_spend_per_hour_wei", "1e18"}};
         },
         "limits.max_gas_spend_per_hour_wei: not a u256 decimal string (bad digit)"},
        {"u256 hex", [](Json& j) { j["strategies"][0]["params"]["amount"] = "0x10"; },
         "strategies[0].params.amount: not a u256 decimal string (bad digit)"},
        {"u256 negative", [](Json& j) { j["strategies"][0]["params"]["amount"] = "-1"; },
         "strategies[0].params.amount: not a u256 decimal string (bad digit)"},
        {"u256 empty", [](Json& j) { j["strategies"][0]["params"]["amount"] = ""; },
         "strategies[0].params.amount: not a u256 decimal string (empty)"},
        {"u256 overflow",
         [](Json& j) {
             // 2^256
             j["strategies"][0]["params"]["amount"] =
                 "115792089237316195423570985008687907853269984665640564039457584007913129639936";
         },
         "strategies[0].params.amount: not a u256 decimal string (too large)"},
        // references and names
        {"undefined chain", [](Json& j) { j["strategies"][0]["chain"] = "mainnet"; },
         "strategies[0].chain: no chain named 'mainnet'"},
        {"undefined signer", [](Json& j) { j["strategies"][0]["signer"] = "pauser"; },
         "strategies[0].signer: no signer named 'pauser'"},
        {"no chains",
         [](Json& j) {
             j["chains"] = Json::object();
             j.erase("strategies");
         },
         "chains: must not be empty"},
        {"empty name", [](Json& j) { j["strategies"][0]["name"] = ""; },
         "strategies[0].name: must not be empty"},
        {"unknown kind", [](Json& j) { j["strategies"][0]["kind"] = "morpho"; },
         "strategies[0].kind: unknown kind 'morpho' (known: fake.watch, fake.other)"},
        // signers and the environment
        {"key env unset", [](Json& j) { j["signers"]["keeper"]["private_key_env"] = "NOPE"; },
         "signers.keeper.private_key_env: environment variable NOPE is not set"},
        {"password env unset",
         [](Json& j) {
             j["signers"]["keeper"] = {{"keystore", "k.json"}, {"password_env", "NOPE"}};
         },
         "signers.keeper.password_env: environment variable NOPE is not set"},
        {"both key sources", [](Json& j) { j["signers"]["keeper"]["keystore"] = "k.json"; },
         "signers.keeper: set exactly one of keystore or private_key_env"},
        {"no key source", [](Json& j) { j["signers"]["keeper"] = Json::object(); },
         "signers.keeper: set exactly one of keystore or private_key_env"},
        {"no password",
         [](Json& j) {
             j["signers"]["keeper"] = {{"keystore", "k.json"}};
         },
         "signers.keeper: keystore needs exactly one of password_env or password_file"},
        {"two passwords",
         [](Json& j) {
             j["signers"]["keeper"] = {
                 {"keystore", "k.json"}, {"password_env", "PASSWORD"}, {"password_file", "p"}};
         },
         "signers.keeper: keystore needs exactly one of password_env or password_file"},
        {"password without keystore",
         [](Json& j) { j["signers"]["keeper"]["password_file"] = "p.txt"; },
         "signers.keeper.password_file: only valid with keystore"},
        {"empty keystore path",
         [](Json& j) {
             j["signers"]["keeper"] = {{"keystore", ""}, {"password_env", "PASSWORD"}};
         },
         "signers.keeper.keystore: must not be empty"},
        {"substitution unset",
         [](Json& j) { j["chains"]["local"]["rpc"] = {"https://eth.example/v2/${NOPE}"}; },
         "chains.local.rpc[0]: environment variable NOPE is not set"},
        {"substitution in params",
         [](Json& j) { j["strategies"][0]["params"]["target"] = "${NOPE}"; },
         "strategies[0].params.target: environment variable NOPE is not set"},
        {"substitution unterminated", [](Json& j) { j["state_dir"] = "${HOME"; },
         "state_dir: unterminated ${ (write $${ for a literal ${)"},
        {"substitution bad name", [](Json& j) { j["state_dir"] = "${1X}/state"; },
         "state_dir: bad variable name in ${1X}"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        auto j = base_config();
        c.mutate(j);
        EXPECT_EQ(error_lines(parse(j.dump())), std::vector<std::string>{c.error});
    }
}

TEST(config, duplicates_are_errors) {
    EXPECT_EQ(error_lines(parse(two_strategies_named("watch"))),
              std::vector<std::string>{"strategies[1].name: duplicate name (also strategies[0])"});
    EXPECT_TRUE(parse(two_strategies_named("watch-2")).has_value());

    // Duplicate keys are found by path, through objects and array indexes.
    auto text = two_strategies_named("watch-2");
    text.insert(text.rfind("\"kind\""), R"("enabled": true, "enabled": false, )");
    text.insert(1, R"("state_dir": "other", )");
    EXPECT_EQ(error_lines(parse(text)), (std::vector<std::string>{
                                            "state_dir: duplicate key",
                                            "strategies[1].enabled: duplicate key",
                                        }));
}

TEST(config, syntax_errors_give_line_and_column) {
    EXPECT_EQ(error_lines(parse("{\n  \"state_dir\": \"a\",\n  \"chains\": x\n}")),
              std::vector<std::string>{
                  "config:3:13: syntax error while parsing value - invalid literal; last read: "
                  "'\"chains\": x'"});
    const auto r = parse_config("{\"a\": 1", "/", fake_env, kKinds, "vigil.json");
    ASSERT_FALSE(r.has_value());
    ASSERT_EQ(r.error().size(), 1u);
    EXPECT_EQ(r.error()[0].path, "vigil.json:1:8");
    EXPECT_EQ(error_lines(parse("[1]")),
              std::vector<std::string>{"config: expected a JSON object"});
}

TEST(config, reports_every_mistake_at_once) {
    auto j = base_config();
    j["chains"]["local"]["rpc"] = {"ws://127.0.0.1:8545"};
    j["chains"]["local"]["confirmatons"] = 2;
    j["signers"]["keeper"]["private_key_env"] = "NOPE";
    j["strategies"][0]["params"]["target"] = "0xBBBBBbbBBb9cC5e90e3b3Af64bdAF62C37EEFFCB";
    j["strategies"][0]["chain"] = "main";
    j["limits"] = {{"max_inflight_txs", 0}};
    EXPECT_EQ(error_lines(parse(j.dump())),
              (std::vector<std::string>{
                  "chains.local.rpc[0]: not an http(s) URL",
                  "chains.local.confirmatons: unknown key",
                  "signers.keeper.private_key_env: environment variable NOPE is not set",
                  "strategies[0].chain: no chain named 'main'",
                  "strategies[0].params.target: not an address (bad checksum)",
                  "limits.max_inflight_txs: must be between 1 and 10000",
              }));
}

TEST(config, unknown_kind_skips_its_params) {
    auto j = base_config();
    j["strategies"][0]["kind"] = "fake.nope";
    j["strategies"][0]["params"] = {{"anything", 1}};
    EXPECT_EQ(
        error_lines(parse(j.dump(), {})),
        std::vector<std::string>{"strategies[0].kind: unknown kind 'fake.nope' (known: none)"});
}

TEST(config, defaults) {
    const auto r = parse(base_config().dump());
    ASSERT_TRUE(r.has_value());
    const auto& chain = r->chains.at("local");
    EXPECT_EQ(chain.name, "local");
    EXPECT_EQ(chain.chain_id, 31337u);
    EXPECT_EQ(chain.rpc, std::vector<std::string>{"http://127.0.0.1:8545"});
    EXPECT_TRUE(chain.ws.empty());
    EXPECT_EQ(chain.poll_interval, std::chrono::milliseconds(2000));
    EXPECT_EQ(chain.confirmations, 1u);
    EXPECT_EQ(chain.replace_after_blocks, 3u);
    EXPECT_EQ(chain.gas_margin_percent, 20u);
    EXPECT_EQ(chain.max_log_range, 2000u);
    EXPECT_EQ(chain.fees.max_fee_gwei, 200u);
    EXPECT_EQ(chain.fees.max_priority_fee_gwei, 3u);
    EXPECT_EQ(chain.fees.priority_percentile, 50.0);
    EXPECT_EQ(chain.fees.base_fee_multiplier, 2u);
    EXPECT_FALSE(chain.fees.legacy);
    EXPECT_FALSE(chain.private_rpc.has_value());
    const auto& signer = r->signers.at("keeper");
    ASSERT_TRUE(std::holds_alternative<EnvKey>(signer.key));
    EXPECT_EQ(std::get<EnvKey>(signer.key).private_key_env, "KEEPER_KEY");
    EXPECT_TRUE(signer.allow.empty());
    const auto& strategy = r->strategies.at(0);
    EXPECT_EQ(strategy.simulate, Simulation::automatic);
    EXPECT_TRUE(strategy.enabled);
    const auto params = std::any_cast<FakeParams>(strategy.params);
    EXPECT_EQ(params.amount, 7u);
    EXPECT_EQ(params.count, 1u);
    EXPECT_EQ(r->limits.max_inflight_txs, 512u);
    EXPECT_EQ(r->limits.max_gas_spend_per_hour_wei, u256("1000000000000000000"));
    EXPECT_FALSE(r->metrics.has_value());

    auto j = base_config();
    j["metrics"] = Json::object();
    j.erase("strategies");
    j.erase("signers");
    const auto bare = parse(j.dump());
    ASSERT_TRUE(bare.has_value());
    EXPECT_EQ(bare->metrics.value().listen, "127.0.0.1:9464");
    EXPECT_TRUE(bare->strategies.empty());
}

TEST(config, reads_every_field) {
    auto j = base_config();
    j["chains"]["local"] = Json::parse(R"({
        "chain_id": 1, "rpc": ["https://a.example", "http://b.example:8545/x"],
        "ws": ["wss://a.example/ws", "ws://[::1]:8546"], "poll_interval_ms": 500,
        "confirmations": 3, "replace_after_blocks": 5, "gas_margin_percent": 0,
        "max_log_range": 100,
        "fees": { "max_fee_gwei": 90, "max_priority_fee_gwei": 90, "priority_percentile": 12.5,
                  "base_fee_multiplier": 1, "legacy": true },
        "private_rpc": { "url": "https://p.example", "method": "eth_sendPrivateTransaction" }
    })");
    j["signers"]["keeper"] = {
        {"keystore", "keys/k.json"},
        {"password_file", "/run/secrets/pw"},
        {"allow", Json::array({{{"to", kMorpho}, {"function", "0x12345678"}}})}};
    j["strategies"][0]["simulate"] = false;
    j["strategies"][0]["enabled"] = false;
    j["strategies"][0]["params"] = {{"target", kMorpho},
                                    {"ids", {"0x" + std::string(64, 'f')}},
                                    {"amount", "123456789012345678901234567890"},
                                    {"count", 10},
                                    {"nested", {{"flag", true}}}};
    j["limits"] = {{"max_inflight_txs", 2}, {"max_gas_spend_per_hour_wei", "0"}};
    j["metrics"] = {{"listen", "[::1]:9000"}};
    const auto r = parse(j.dump());
    ASSERT_TRUE(r.has_value()) << ::testing::PrintToString(error_lines(r));
    const auto& c = r->chains.at("local");
    EXPECT_EQ(c.ws.size(), 2u);
    EXPECT_EQ(c.poll_interval, std::chrono::milliseconds(500));
    EXPECT_EQ(c.confirmations, 3u);
    EXPECT_EQ(c.replace_after_blocks, 5u);
    EXPECT_EQ(c.gas_margin_percent, 0u);
    EXPECT_EQ(c.max_log_range, 100u);
    EXPECT_EQ(c.fees.max_fee_gwei, 90u);
    EXPECT_EQ(c.fees.priority_percentile, 12.5);
    EXPECT_EQ(c.fees.base_fee_multiplier, 1u);
    EXPECT_TRUE(c.fees.legacy);
    ASSERT_TRUE(c.private_rpc.has_value());
    EXPECT_EQ(c.private_rpc->url, "https://p.example");
    EXPECT_EQ(c.private_rpc->method, PrivateRpcMethod::send_private_transaction);
    const auto& key = std::get<KeystoreKey>(r->signers.at("keeper").key);
    EXPECT_EQ(key.keystore, "/etc/vigil/keys/k.json");
    EXPECT_EQ(std::get<PasswordFile>(key.password).path, "/run/secrets/pw");
    const auto& allow = r->signers.at("keeper").allow;
    ASSERT_EQ(allow.size(), 1u);
    EXPECT_EQ(allow[0].to, *parse_address(kMorpho));
    EXPECT_EQ(allow[0].function, "0x12345678");
    const auto& s = r->strategies.at(0);
    EXPECT_EQ(s.simulate, Simulation::never);
    EXPECT_FALSE(s.enabled);
    const auto p = std::any_cast<FakeParams>(s.params);
    EXPECT_EQ(p.ids.size(), 1u);
    EXPECT_EQ(p.amount, u256("123456789012345678901234567890"));
    EXPECT_EQ(p.count, 10u);
    EXPECT_TRUE(p.flag);
    EXPECT_EQ(r->limits.max_inflight_txs, 2u);
    EXPECT_EQ(r->limits.max_gas_spend_per_hour_wei, 0u);
    EXPECT_EQ(r->metrics.value().listen, "[::1]:9000");

    j["chains"]["local"]["private_rpc"] = "https://q.example";
    const auto plain = parse(j.dump());
    ASSERT_TRUE(plain.has_value());
    EXPECT_EQ(plain->chains.at("local").private_rpc->method,
              PrivateRpcMethod::send_raw_transaction);
    j["chains"]["local"]["private_rpc"] = nullptr;
    EXPECT_FALSE(parse(j.dump())->chains.at("local").private_rpc.has_value());
}

TEST(config, substitutes_environment_variables) {
    auto j = base_config();
    j["chains"]["local"]["rpc"] = {"https://eth.example/v2/${API_KEY}", "http://127.0.0.1:8545"};
    j["state_dir"] = "/var/${API_KEY}/x";
    j["strategies"][0]["name"] = "cost $${X} ${EMPTY}";
    const auto r = parse(j.dump());
    ASSERT_TRUE(r.has_value()) << ::testing::PrintToString(error_lines(r));
    EXPECT_EQ(r->chains.at("local").rpc[0], "https://eth.example/v2/s3cr3t-api-key");
    EXPECT_EQ(r->state_dir, "/var/s3cr3t-api-key/x");
    EXPECT_EQ(r->strategies[0].name, "cost ${X} ");
    // "$${" alone is a literal, not a substitution: nothing to mask.
    j["strategies"][0]["name"] = "a$${b}";
    const auto literal = parse(j.dump());
    ASSERT_TRUE(literal.has_value());
    EXPECT_EQ(literal->strategies[0].name, "a${b}");
    EXPECT_FALSE(literal->masked.contains("strategies[0].name"));
    EXPECT_TRUE(literal->masked.contains("chains.local.rpc[0]"));
}

TEST(config, printout_masks_substituted_values_and_url_secrets) {
    auto j = base_config();
    j["chains"]["local"]["rpc"] = {"https://eth.example/v2/${API_KEY}",
                                   "https://user:hunter2-password@b.example/key-in-path"};
    j["chains"]["local"]["ws"] = {"wss://${API_KEY}@ws.example/x", "ws://127.0.0.1:8546"};
    j["chains"]["local"]["private_rpc"] = {{"url", "https://p.example/${API_KEY}"}};
    j["signers"]["guard"] = {{"keystore", "${API_KEY}.json"}, {"password_env", "PASSWORD"}};
    j["strategies"][0]["params"]["ids"] = {"0x" + std::string(64, 'a')};
    j["strategies"][0]["params"]["nested"] = {{"flag", true}};
    j["strategies"][0]["name"] = "watch-${API_KEY}";
    const auto r = parse(j.dump());
    ASSERT_TRUE(r.has_value()) << ::testing::PrintToString(error_lines(r));
    const std::string out = printed(*r);
    EXPECT_EQ(out.find("s3cr3t"), std::string::npos) << out;
    EXPECT_EQ(out.find("hunter2"), std::string::npos) << out;
    EXPECT_EQ(out.find("key-in-path"), std::string::npos) << out;
    EXPECT_EQ(out.find(vigil::test::kLeakTestKey.substr(0, 32)), std::string::npos);
    EXPECT_NE(out.find("\"https://eth.example/v2/***\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"https://***@b.example/***\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"wss://***@ws.example/x\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"ws://127.0.0.1:8546\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"https://p.example/***\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"keystore\": \"***.json\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"watch-***\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"password_env\": \"PASSWORD\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"private_key_env\": \"KEEPER_KEY\""), std::string::npos) << out;

    // The printout is JSON with the resolved values.
    const auto printed_json = Json::parse(out);
    EXPECT_EQ(printed_json["state_dir"], "/etc/vigil/state");
    EXPECT_EQ(printed_json["chains"]["local"]["confirmations"], 1);
    EXPECT_EQ(printed_json["strategies"][0]["params"]["target"], kTarget);
    EXPECT_EQ(printed_json["limits"]["max_gas_spend_per_hour_wei"], "1000000000000000000");
}

TEST(config, secrets_stay_out_of_error_messages) {
    auto j = base_config();
    j["strategies"][0]["chain"] = "${API_KEY}";
    j["strategies"][0]["kind"] = "${API_KEY}";
    j["chains"]["local"]["rpc"] = {"${API_KEY}"};
    const auto lines = error_lines(parse(j.dump()));
    EXPECT_EQ(lines, (std::vector<std::string>{
                         "chains.local.rpc[0]: not an http(s) URL",
                         "strategies[0].chain: no chain named ***",
                         "strategies[0].kind: unknown kind *** (known: fake.watch, fake.other)",
                     }));
}

TEST(config, resolves_relative_paths_against_the_config_directory) {
    auto j = base_config();
    j["state_dir"] = "../var/./state";
    j["signers"]["keeper"] = {{"keystore", "keys/k.json"}, {"password_file", "pw.txt"}};
    j["signers"]["other"] = {{"keystore", "/abs/k.json"}, {"password_env", "PASSWORD"}};
    const auto r = parse_config(j.dump(), "/srv/vigil/conf", fake_env, kKinds);
    ASSERT_TRUE(r.has_value()) << ::testing::PrintToString(error_lines(r));
    EXPECT_EQ(r->state_dir, "/srv/vigil/var/state");
    const auto& key = std::get<KeystoreKey>(r->signers.at("keeper").key);
    EXPECT_EQ(key.keystore, "/srv/vigil/conf/keys/k.json");
    EXPECT_EQ(std::get<PasswordFile>(key.password).path, "/srv/vigil/conf/pw.txt");
    EXPECT_EQ(std::get<KeystoreKey>(r->signers.at("other").key).keystore, "/abs/k.json");
}

TEST(config, allows_comments) {
    const auto r = parse(R"(// leading comment
        {
          /* block comment */ "state_dir": "s", // trailing
          "chains": { "local": { "chain_id": 1, "rpc": ["http://127.0.0.1:8545"] } }
        })");
    ASSERT_TRUE(r.has_value()) << ::testing::PrintToString(error_lines(r));
    EXPECT_EQ(r->chains.at("local").chain_id, 1u);
}

TEST(config, load_config_reads_the_file) {
    vigil::test::TempDir dir;
    const auto file = dir.path() / "vigil.json";
    std::ofstream(file) << base_config().dump();
    const auto r = load_config(file, fake_env, kKinds);
    ASSERT_TRUE(r.has_value()) << ::testing::PrintToString(error_lines(r));
    EXPECT_EQ(r->state_dir, dir.path() / "state");

    std::ofstream(file) << "{\n\n  \"state_dir\": }";
    const auto bad = load_config(file, fake_env, kKinds);
    ASSERT_FALSE(bad.has_value());
    EXPECT_EQ(bad.error().at(0).path, file.string() + ":3:16");

    const auto missing = load_config(dir.path() / "nope.json", fake_env, kKinds);
    EXPECT_EQ(error_lines(missing),
              std::vector<std::string>{(dir.path() / "nope.json").string() +
                                       ": cannot read (No such file or directory)"});
    EXPECT_EQ(error_lines(load_config(dir.path(), fake_env, kKinds)),
              std::vector<std::string>{dir.path().string() + ": is a directory"});
}

TEST(config, example_configs_load) {
    const std::vector<StrategyKind> kinds = {{"morpho-blue.liquidate", parse_morpho}};
    const std::filesystem::path examples = VIGIL_CONFIG_EXAMPLES_DIR;
    const std::map<std::string, std::string, std::less<>> env = {
        {"VIGIL_KEEPER_KEY", std::string(vigil::test::kLeakTestKey)},
        {"VIGIL_MORPHO", kMorpho},
        {"ETH_RPC_URL", "https://eth-mainnet.example/v2/s3cr3t-api-key"},
        {"ETH_WS_URL", "wss://eth-mainnet.example/ws/s3cr3t-api-key"},
        {"VIGIL_KEEPER_PASSWORD", "hunter2-password"},
    };
    const EnvLookup lookup = [&](std::string_view name) -> std::optional<std::string> {
        const auto it = env.find(name);
        if (it == env.end()) return std::nullopt;
        return it->second;
    };

    const auto devnet = load_config(examples / "devnet.json", lookup, kinds);
    ASSERT_TRUE(devnet.has_value()) << ::testing::PrintToString(error_lines(devnet));
    EXPECT_EQ(devnet->chains.at("local").chain_id, 31337u);
    EXPECT_EQ(devnet->chains.at("local").ws, std::vector<std::string>{"ws://127.0.0.1:8545"});
    EXPECT_EQ(std::get<EnvKey>(devnet->signers.at("keeper").key).private_key_env,
              "VIGIL_KEEPER_KEY");
    EXPECT_EQ(std::any_cast<FakeParams>(devnet->strategies.at(0).params).target,
              *parse_address(kMorpho));

    const auto mainnet = load_config(examples / "mainnet.json", lookup, kinds);
    ASSERT_TRUE(mainnet.has_value()) << ::testing::PrintToString(error_lines(mainnet));
    EXPECT_EQ(mainnet->chains.at("mainnet").chain_id, 1u);
    EXPECT_EQ(mainnet->chains.at("mainnet").private_rpc.value().url,
              "https://rpc.flashbots.net/fast");
    EXPECT_EQ(std::get<KeystoreKey>(mainnet->signers.at("keeper").key).keystore,
              examples / "keys/keeper.json");
    const std::string out = printed(*mainnet);
    EXPECT_EQ(out.find("s3cr3t"), std::string::npos) << out;
    EXPECT_EQ(out.find("hunter2"), std::string::npos) << out;

    // Without the variables, each one is reported.
    const auto bare = load_config(examples / "mainnet.json", fake_env, kinds);
    EXPECT_EQ(error_lines(bare), (std::vector<std::string>{
                                     "chains.mainnet.rpc[0]: environment variable ETH_RPC_URL "
                                     "is not set",
                                     "chains.mainnet.ws[0]: environment variable ETH_WS_URL is "
                                     "not set",
                                     "signers.keeper.password_env: environment variable "
                                     "VIGIL_KEEPER_PASSWORD is not set",
                                 }));
}
