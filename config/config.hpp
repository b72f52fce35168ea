#pragma once
// The agent's configuration: a JSON file (comments allowed) read into typed structs, with
// `${VAR}` substitution, paths resolved against the file's directory, and every problem
// reported before anything starts. Schema and defaults: ../shared/ARCHITECTURE.md,
// "Config"; the defaults are the field initializers below.
#include <any>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "chain/bytes.hpp"
#include "chain/result.hpp"
#include "chain/u256.hpp"
#include "config/params_reader.hpp"

namespace vigil::config {

/// One chain's fee policy, as the agent's FeeConfig wants it.
struct FeeSettings {
    uint64_t max_fee_gwei = 200;
    uint64_t max_priority_fee_gwei = 3;  ///< at most max_fee_gwei
    double priority_percentile = 50;     ///< eth_feeHistory reward percentile, 0..100
    uint32_t base_fee_multiplier = 2;    ///< at least 1
    bool legacy = false;
};

enum class PrivateRpcMethod { send_raw_transaction, send_private_transaction };
/// "eth_sendRawTransaction" / "eth_sendPrivateTransaction".
std::string_view to_string(PrivateRpcMethod m) noexcept;

/// A private submission endpoint (a builder or protect RPC).
struct PrivateRpc {
    std::string url;  ///< http(s)
    PrivateRpcMethod method = PrivateRpcMethod::send_raw_transaction;
};

struct ChainConfig {
    std::string name;  ///< its key under `chains`
    uint64_t chain_id = 0;
    std::vector<std::string> rpc;  ///< http(s) URLs, non-empty, failover in order
    std::vector<std::string> ws;   ///< ws(s) URLs; empty: poll the rpc endpoints
    std::chrono::milliseconds poll_interval{2000};
    uint64_t confirmations = 1;
    uint64_t replace_after_blocks = 3;  ///< re-send with bumped fees after this many blocks
    uint32_t gas_margin_percent = 20;   ///< gas limit = estimate × (100 + margin) / 100
    uint64_t max_log_range = 2000;      ///< blocks per eth_getLogs request
    FeeSettings fees;
    std::optional<PrivateRpc> private_rpc;
};

/// The keystore password in an environment variable (its existence is checked at load;
/// the value is never read here).
struct PasswordEnv {
    std::string name;
};
/// The keystore password in a file (trailing newline not part of it).
struct PasswordFile {
    std::filesystem::path path;
};
struct KeystoreKey {
    std::filesystem::path keystore;
    std::variant<PasswordEnv, PasswordFile> password;
};
/// A hex private key in an environment variable (checked to exist, never read here).
struct EnvKey {
    std::string private_key_env;
};

/// An explicit allow-list entry; `function` is checked by the agent's Allowlist.
struct AllowEntry {
    Address to;
    std::string function;  ///< "liquidate(...)", "0x12345678" or "receive"
};

struct SignerConfig {
    std::string name;  ///< its key under `signers`
    std::variant<KeystoreKey, EnvKey> key;
    std::vector<AllowEntry> allow;
};

/// Which of a strategy's intents the pipeline simulates (eth_call + eth_estimateGas, one
/// round trip each) before signing. Config `simulate`: "auto", true or false.
enum class Simulation {
    /// "auto", the default: every intent but those the strategy marks exact
    /// (Intent::exact: exact math on state read at the block, a mirror not in doubt).
    automatic,
    always,  ///< true
    never,   ///< false: no intent is simulated; its gas_cap is its gas limit
};
struct StrategyConfig {
    std::string name;
    std::string kind;
    std::string chain;   ///< a key of Config::chains
    std::string signer;  ///< a key of Config::signers
    Simulation simulate = Simulation::automatic;
    bool enabled = true;
    /// What the kind's parser returned (std::any_cast to the kind's params type).
    std::any params;
    /// The params as written, after substitution, for printing.
    Json params_json = Json::object();
};

struct Limits {
    /// Per signer: transactions sent and not yet confirmed. Above the largest wave a block
    /// can hold, so that no wave is cut short (see the Morpho liquidator's per-block cap).
    uint64_t max_inflight_txs = 512;
    u256 max_gas_spend_per_hour_wei = 1'000'000'000'000'000'000ULL;  ///< 1 ether
};

struct MetricsConfig {
    std::string listen = "127.0.0.1:9464";  ///< HOST:PORT
};

struct Config {
    std::filesystem::path state_dir;
    std::map<std::string, ChainConfig, std::less<>> chains;
    std::map<std::string, SignerConfig, std::less<>> signers;
    std::vector<StrategyConfig> strategies;
    Limits limits;
    std::optional<MetricsConfig> metrics;
    /// For print_config: strings that came from `${VAR}` substitution, by config path,
    /// as they may be shown (each substituted part "***").
    std::map<std::string, std::string, std::less<>> masked;
};

/// Each strategy kind owns the schema of its params: `parse` reads them through the
/// reader (which reports every problem) and returns the kind's params struct. The loader
/// calls reader.finish() after `parse`, so unread keys are reported without the parser
/// asking; nested readers are the parser's to finish.
struct StrategyKind {
    std::string kind;
    std::function<std::any(ParamsReader&)> parse;
};

/// The value of environment variable `name`, or nullopt when unset. Injected so that
/// tests do not touch the process environment.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
/// getenv.
std::optional<std::string> process_env(std::string_view name);

/// Reads config text. `base_dir` resolves relative paths; `source` names the text in
/// syntax errors ("FILE:LINE:COL: message"). Checks everything before returning and
/// returns all problems, one error each, in a stable order (file order within an object):
/// unknown keys at every level (params via `kinds`), wrong types, bad addresses, URLs,
/// numbers and u256 strings, references to undefined chains and signers, duplicate keys
/// and strategy names, unknown kinds, unset environment variables (`${VAR}` in strings,
/// `password_env`, `private_key_env`: existence only).
///
/// `${NAME}` in any string value is replaced by the variable's value; `$${` is a literal
/// `${`. Substituted values are in Config::masked for printing.
[[nodiscard]] Result<Config, std::vector<ConfigError>> parse_config(
    std::string_view text, const std::filesystem::path& base_dir, const EnvLookup& env,
    std::span<const StrategyKind> kinds, std::string_view source = "config");

/// parse_config of the file's contents, relative paths resolved against the directory
/// that holds it (made absolute). An unreadable file is one error naming the file.
[[nodiscard]] Result<Config, std::vector<ConfigError>> load_config(
    const std::filesystem::path& file, const EnvLookup& env, std::span<const StrategyKind> kinds);

/// The resolved config (defaults filled in, paths resolved) as indented JSON. Strings that
/// came from substitution show "***" for each substituted part; URLs without substitution
/// go through rpc::mask_url (credentials, path and query hidden), with substitution only
/// their credentials are hidden besides. Environment variable names are shown, never
/// their values.
void print_config(const Config& config, std::ostream& out);

}  // namespace vigil::config
