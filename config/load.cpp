// Loading: JSON syntax (with duplicate-key detection), `${VAR}` substitution, then one
// pass over the schema through ParamsReader, collecting every problem.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "chain/strings.hpp"
#include "config/config.hpp"

namespace vigil::config {

std::string_view to_string(PrivateRpcMethod m) noexcept {
    switch (m) {
        case PrivateRpcMethod::send_raw_transaction:
            return "eth_sendRawTransaction";
        case PrivateRpcMethod::send_private_transaction:
            return "eth_sendPrivateTransaction";
    }
    return "unknown";
}

std::optional<std::string> process_env(std::string_view name) {
    const std::string key(name);
    if (const char* value = std::getenv(key.c_str())) return std::string(value);
    return std::nullopt;
}

namespace {

// --- syntax -------------------------------------------------------------------------

/// Tracks the path of the value being parsed, to report duplicate keys by path (the
/// parser keeps the last value silently, and a repeated key is as likely a mistake as
/// an unknown one).
class DuplicateKeys {
public:
    explicit DuplicateKeys(ReadContext& ctx) : ctx_(&ctx) {}

    bool on_event(Json::parse_event_t event, const Json& parsed) {
        using E = Json::parse_event_t;
        switch (event) {
            case E::object_start:
            case E::array_start:
                stack_.push_back(Frame{event == E::array_start, 0, child_path(), {}, {}});
                break;
            case E::key: {
                auto& frame = stack_.back();
                frame.key = parsed.get<std::string>();
                if (!frame.keys.insert(frame.key).second)
                    ctx_->add(join_path(frame.path, frame.key), "duplicate key");
                break;
            }
            case E::object_end:
            case E::array_end:
                stack_.pop_back();
                value_done();
                break;
            case E::value:
                value_done();
                break;
        }
        return true;
    }

private:
    struct Frame {
        bool array;
        std::size_t index;
        std::string path;
        std::string key;
        std::set<std::string> keys;
    };
    std::string child_path() const {
        if (stack_.empty()) return "";
        const auto& f = stack_.back();
        return f.array ? index_path(f.path, f.index) : join_path(f.path, f.key);
    }
    void value_done() {
        if (!stack_.empty() && stack_.back().array) ++stack_.back().index;
    }

    ReadContext* ctx_;
    std::vector<Frame> stack_;
};

/// "[json.exception.parse_error.101] parse error at line 3, column 7: syntax error ..."
/// becomes "SOURCE:3:7: syntax error ...".
ConfigError syntax_error(std::string_view source, const std::string& what) {
    static const std::regex kPosition(R"(line (\d+), column (\d+): (.*))");
    std::smatch m;
    if (std::regex_search(what, m, kPosition))
        return ConfigError{concat({source, ":", m[1].str(), ":", m[2].str()}), m[3].str()};
    return ConfigError{std::string(source), what};
}

// --- substitution -------------------------------------------------------------------

bool is_name_char(char c, bool first) {
    const auto u = static_cast<unsigned char>(c);
    return std::isalpha(u) || c == '_' || (!first && std::isdigit(u));
}

/// Replaces `${NAME}` in every string value (keys stay as written). A string that used
/// a substitution gets its display form in ctx.masked; one that failed is reported once
/// and listed in ctx.unresolved.
void substitute(Json& node, const std::string& path, const EnvLookup& env, ReadContext& ctx) {
    if (node.is_object()) {
        for (auto& [key, value] : node.items()) substitute(value, join_path(path, key), env, ctx);
        return;
    }
    if (node.is_array()) {
        for (std::size_t i = 0; i < node.size(); ++i)
            substitute(node[i], index_path(path, i), env, ctx);
        return;
    }
    if (!node.is_string()) return;
    const auto& text = node.get_ref<const std::string&>();
    if (text.find('$') == std::string::npos) return;

    std::string resolved, shown;
    bool substituted = false;
    for (std::size_t i = 0; i < text.size();) {
        if (text.compare(i, 3, "$${") == 0) {
            resolved += "${";
            shown += "${";
            i += 3;
            continue;
        }
        if (text.compare(i, 2, "${") != 0) {
            resolved += text[i];
            shown += text[i];
            ++i;
            continue;
        }
        const auto close = text.find('}', i + 2);
        if (close == std::string::npos) {
            ctx.add(path, "unterminated ${ (write $${ for a literal ${)");
            ctx.unresolved.insert(path);
            return;
        }
        const std::string name = text.substr(i + 2, close - i - 2);
        bool valid = !name.empty();
        for (std::size_t k = 0; k < name.size() && valid; ++k)
            valid = is_name_char(name[k], k == 0);
        if (!valid) {
            ctx.add(path, concat({"bad variable name in ${", name, "}"}));
            ctx.unresolved.insert(path);
            return;
        }
        const auto value = env(name);
        if (!value) {
            ctx.add(path, concat({"environment variable ", name, " is not set"}));
            ctx.unresolved.insert(path);
            return;
        }
        resolved += *value;
        shown += "***";
        substituted = true;
        i = close + 1;
    }
    if (substituted) ctx.masked.emplace(path, std::move(shown));
    node = std::move(resolved);
}

// --- value checks -------------------------------------------------------------------

/// "scheme://host[:port][/...]" with one of `schemes`: enough to catch a missing scheme,
/// a ws URL in `rpc` or a stray space; the transports report what is left at connect.
bool is_url(std::string_view text, std::initializer_list<std::string_view> schemes) {
    const auto sep = text.find("://");
    if (sep == std::string_view::npos) return false;
    std::string scheme(text.substr(0, sep));
    for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (std::find(schemes.begin(), schemes.end(), scheme) == schemes.end()) return false;
    for (const char c : text)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
    std::string_view authority = text.substr(sep + 3);
    authority = authority.substr(0, authority.find_first_of("/?#"));
    if (const auto at = authority.rfind('@'); at != std::string_view::npos)
        authority.remove_prefix(at + 1);
    std::string_view host = authority;
    if (!authority.empty() && authority.front() == '[') {  // IPv6 literal
        const auto end = authority.find(']');
        if (end == std::string_view::npos) return false;
        host = authority.substr(0, end + 1);
        authority.remove_prefix(end + 1);
        if (!authority.empty() && authority.front() != ':') return false;
    } else if (const auto colon = authority.find(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        authority.remove_prefix(colon);
    } else {
        authority = {};
    }
    if (host.empty()) return false;
    if (!authority.empty()) {  // ":port"
        const auto port = authority.substr(1);
        if (port.empty() || port.size() > 5 ||
            port.find_first_not_of("0123456789") != std::string_view::npos)
            return false;
        const int n = std::stoi(std::string(port));
        if (n < 1 || n > 65535) return false;
    }
    return true;
}

/// "HOST:PORT" for the metrics listener.
bool is_listen_address(std::string_view text) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    const auto port = text.substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string_view::npos)
        return false;
    const int n = std::stoi(std::string(port));
    return n >= 1 && n <= 65535;
}

/// The value quoted for a message, unless it came from substitution.
std::string quoted(const ReadContext& ctx, std::string_view path, std::string_view value) {
    if (ctx.is_masked(path)) return "***";
    return concat({"'", value, "'"});
}

std::filesystem::path resolve(const std::filesystem::path& base, const std::string& text) {
    const std::filesystem::path p(text);
    if (p.is_absolute() || base.empty()) return p.lexically_normal();
    return (base / p).lexically_normal();
}

/// The string at `key`; a missing required key is reported. nullopt when absent or
/// already reported.
std::optional<std::string> read_text(ParamsReader& r, std::string_view key, bool required) {
    if (required && !r.has(key)) {
        r.error(key, "missing required key");
        return std::nullopt;
    }
    return r.optional_string(key);
}

/// A non-empty path string at `key`, resolved against `base`.
std::optional<std::filesystem::path> read_path(ParamsReader& r, std::string_view key,
                                               const std::filesystem::path& base, bool required) {
    const auto text = read_text(r, key, required);
    if (!text) return std::nullopt;
    if (text->empty()) {
        r.error(key, "must not be empty");
        return std::nullopt;
    }
    return resolve(base, *text);
}

/// An environment variable's name whose variable must be set (value not read).
std::string read_env_name(ParamsReader& r, std::string_view key, const EnvLookup& env) {
    const auto name = r.optional_string(key);
    if (!name) return {};
    if (name->empty()) {
        r.error(key, "must not be empty");
    } else if (!env(*name)) {
        r.error(key, concat({"environment variable ", *name, " is not set"}));
    }
    return *name;
}

std::vector<std::string> read_urls(ParamsReader& r, std::string_view key, bool required,
                                   std::initializer_list<std::string_view> schemes,
                                   std::string_view message) {
    std::vector<std::string> out;
    if (required && !r.has(key)) {
        r.error(key, "missing required key");
        return out;
    }
    const Json* list = r.raw(key);
    if (!list) return out;
    if (!list->is_array()) {
        r.error(key, "expected an array");
        return out;
    }
    if (list->empty() && required) r.error(key, "must not be empty");
    auto& ctx = r.context();
    for (std::size_t i = 0; i < list->size(); ++i) {
        const std::string path = index_path(r.path(key), i);
        if (ctx.unresolved.contains(path)) continue;
        const Json& v = (*list)[i];
        if (!v.is_string()) {
            ctx.add(path, "expected a string");
        } else if (!is_url(v.get_ref<const std::string&>(), schemes)) {
            ctx.add(path, std::string(message));
        } else {
            out.push_back(v.get<std::string>());
        }
    }
    return out;
}

// --- sections -----------------------------------------------------------------------

FeeSettings read_fees(ParamsReader& r) {
    FeeSettings f;
    f.max_fee_gwei = r.optional_u64("max_fee_gwei", f.max_fee_gwei, {1});
    f.max_priority_fee_gwei = r.optional_u64("max_priority_fee_gwei", f.max_priority_fee_gwei);
    if (f.max_priority_fee_gwei > f.max_fee_gwei)
        r.error("max_priority_fee_gwei", "must not exceed max_fee_gwei");
    f.priority_percentile = r.optional_number("priority_percentile", f.priority_percentile, 0, 100);
    f.base_fee_multiplier = static_cast<uint32_t>(
        r.optional_u64("base_fee_multiplier", f.base_fee_multiplier, {1, 100}));
    f.legacy = r.optional_bool("legacy", f.legacy);
    r.finish();
    return f;
}

std::optional<PrivateRpc> read_private_rpc(ParamsReader& chain) {
    constexpr std::string_view kKey = "private_rpc";
    auto& ctx = chain.context();
    const std::string path = chain.path(kKey);
    const Json* v = chain.raw(kKey);
    if (!v || v->is_null()) return std::nullopt;
    const auto check_url = [&](const std::string& at, const std::string& url) {
        if (is_url(url, {"http", "https"})) return true;
        ctx.add(at, "not an http(s) URL");
        return false;
    };
    if (v->is_string()) {
        const auto url = v->get<std::string>();
        if (!check_url(path, url)) return std::nullopt;
        return PrivateRpc{url};
    }
    if (!v->is_object()) {
        ctx.add(path, "expected null, a URL string or an object");
        return std::nullopt;
    }
    ParamsReader r(*v, path, ctx);
    PrivateRpc out;
    out.url = r.required_string("url");
    const bool url_ok =
        r.raw("url") && r.raw("url")->is_string() && check_url(r.path("url"), out.url);
    const auto method = r.optional_string("method");
    bool method_ok = true;
    if (method) {
        if (*method == to_string(PrivateRpcMethod::send_raw_transaction)) {
            out.method = PrivateRpcMethod::send_raw_transaction;
        } else if (*method == to_string(PrivateRpcMethod::send_private_transaction)) {
            out.method = PrivateRpcMethod::send_private_transaction;
        } else {
            r.error("method", "must be eth_sendRawTransaction or eth_sendPrivateTransaction");
            method_ok = false;
        }
    }
    r.finish();
    if (!url_ok || !method_ok) return std::nullopt;
    return out;
}

ChainConfig read_chain(ParamsReader& r, std::string name) {
    ChainConfig c;
    c.name = std::move(name);
    c.chain_id = r.required_u64("chain_id", {1});
    c.rpc = read_urls(r, "rpc", true, {"http", "https"}, "not an http(s) URL");
    c.ws = read_urls(r, "ws", false, {"ws", "wss"}, "not a ws(s) URL");
    c.poll_interval = std::chrono::milliseconds(static_cast<int64_t>(r.optional_u64(
        "poll_interval_ms", static_cast<uint64_t>(c.poll_interval.count()), {1, 3'600'000})));
    c.confirmations = r.optional_u64("confirmations", c.confirmations, {1, 10'000});
    c.replace_after_blocks =
        r.optional_u64("replace_after_blocks", c.replace_after_blocks, {1, 10'000});
    c.gas_margin_percent = static_cast<uint32_t>(
        r.optional_u64("gas_margin_percent", c.gas_margin_percent, {0, 1000}));
    c.max_log_range = r.optional_u64("max_log_range", c.max_log_range, {1});
    if (auto fees = r.optional_object("fees")) c.fees = read_fees(*fees);
    c.private_rpc = read_private_rpc(r);
    r.finish();
    return c;
}

SignerConfig read_signer(ParamsReader& r, std::string name, const std::filesystem::path& base,
                         const EnvLookup& env) {
    SignerConfig s;
    s.name = std::move(name);
    const bool keystore = r.has("keystore");
    const bool key_env = r.has("private_key_env");
    const bool password_env = r.has("password_env");
    const bool password_file = r.has("password_file");
    if (keystore == key_env) r.error("", "set exactly one of keystore or private_key_env");
    const auto keystore_path = read_path(r, "keystore", base, false);
    const auto key_env_name = read_env_name(r, "private_key_env", env);
    const auto password_env_name = read_env_name(r, "password_env", env);
    const auto password_path = read_path(r, "password_file", base, false);
    // Password rules only once the key source is clear: a typo in "keystore" is one error.
    if (keystore && !key_env && password_env == password_file) {
        r.error("", "keystore needs exactly one of password_env or password_file");
    } else if (key_env && !keystore && (password_env || password_file)) {
        r.error(password_env ? "password_env" : "password_file", "only valid with keystore");
    }
    if (keystore) {
        KeystoreKey k;
        k.keystore = keystore_path.value_or(std::filesystem::path());
        if (password_file) {
            k.password = PasswordFile{password_path.value_or(std::filesystem::path())};
        } else {
            k.password = PasswordEnv{password_env_name};
        }
        s.key = std::move(k);
    } else {
        s.key = EnvKey{key_env_name};
    }
    for (auto& entry : r.optional_objects("allow")) {
        AllowEntry a;
        a.to = entry.required_address("to");
        a.function = entry.required_string("function");
        if (entry.is_string("function") && a.function.empty())
            entry.error("function", "must not be empty");
        entry.finish();
        s.allow.push_back(std::move(a));
    }
    r.finish();
    return s;
}

std::string known_kinds(std::span<const StrategyKind> kinds) {
    std::string out;
    for (const auto& k : kinds) {
        if (!out.empty()) out += ", ";
        out += k.kind;
    }
    return out.empty() ? "none" : out;
}

/// Which references can be checked: a `chains` or `signers` section that is missing or
/// not an object has been reported already, and every reference into it would repeat that.
struct Sections {
    bool chains = false;
    bool signers = false;
};

StrategyConfig read_strategy(ParamsReader& r, const Config& config, Sections checkable,
                             std::span<const StrategyKind> kinds) {
    auto& ctx = r.context();
    StrategyConfig s;
    const auto name = read_text(r, "name", true);
    const auto kind_name = read_text(r, "kind", true);
    const auto chain = read_text(r, "chain", true);
    const auto signer = read_text(r, "signer", true);
    s.name = name.value_or("");
    s.kind = kind_name.value_or("");
    s.chain = chain.value_or("");
    s.signer = signer.value_or("");
    if (const Json* simulate = r.raw("simulate")) {
        if (simulate->is_boolean())
            s.simulate = simulate->get<bool>() ? Simulation::always : Simulation::never;
        else if (!simulate->is_string() || simulate->get<std::string>() != "auto")
            r.error("simulate", "expected true, false or \"auto\"");
    }
    s.enabled = r.optional_bool("enabled", s.enabled);
    if (name && name->empty()) r.error("name", "must not be empty");
    if (chain && checkable.chains && !config.chains.contains(*chain))
        r.error("chain", concat({"no chain named ", quoted(ctx, r.path("chain"), *chain)}));
    if (signer && checkable.signers && !config.signers.contains(*signer))
        r.error("signer", concat({"no signer named ", quoted(ctx, r.path("signer"), *signer)}));

    const StrategyKind* kind = nullptr;
    if (kind_name) {
        for (const auto& k : kinds)
            if (k.kind == *kind_name) kind = &k;
        if (!kind)
            r.error("kind", concat({"unknown kind ", quoted(ctx, r.path("kind"), *kind_name),
                                    " (known: ", known_kinds(kinds), ")"}));
    }
    const Json* params = r.raw("params");
    if (params) s.params_json = *params;
    // Without a known kind there is no schema to check the params against.
    if (kind) {
        static const Json kEmpty = Json::object();
        ParamsReader p(params ? *params : kEmpty, r.path("params"), ctx);
        if (!params || params->is_object()) {
            s.params = kind->parse(p);
            p.finish();
        }
    }
    r.finish();
    return s;
}

Limits read_limits(ParamsReader& r) {
    Limits l;
    l.max_inflight_txs = r.optional_u64("max_inflight_txs", l.max_inflight_txs, {1, 10'000});
    l.max_gas_spend_per_hour_wei =
        r.optional_u256("max_gas_spend_per_hour_wei", l.max_gas_spend_per_hour_wei);
    r.finish();
    return l;
}

MetricsConfig read_metrics(ParamsReader& r) {
    MetricsConfig m;
    if (const auto listen = r.optional_string("listen")) {
        m.listen = *listen;
        if (!is_listen_address(m.listen)) r.error("listen", "not HOST:PORT");
    }
    r.finish();
    return m;
}

void read_config(ParamsReader& root, const std::filesystem::path& base, const EnvLookup& env,
                 std::span<const StrategyKind> kinds, Config& config) {
    if (auto dir = read_path(root, "state_dir", base, true)) config.state_dir = *dir;

    Sections checkable;
    auto chains = root.required_object("chains");
    checkable.chains = root.raw("chains") && root.raw("chains")->is_object();
    if (checkable.chains && chains.keys().empty()) root.error("chains", "must not be empty");
    for (const auto& name : chains.keys()) {
        auto chain = chains.required_object(name);
        config.chains.emplace(name, read_chain(chain, name));
    }
    chains.finish();

    const Json* signers_json = root.raw("signers");
    checkable.signers = !root.has("signers") || (signers_json && signers_json->is_object());
    if (auto signers = root.optional_object("signers")) {
        for (const auto& name : signers->keys()) {
            auto signer = signers->required_object(name);
            config.signers.emplace(name, read_signer(signer, name, base, env));
        }
        signers->finish();
    }

    std::map<std::string, std::string, std::less<>> first_by_name;
    for (auto& entry : root.optional_objects("strategies")) {
        auto strategy = read_strategy(entry, config, checkable, kinds);
        if (entry.is_string("name") && entry.raw("name") && !strategy.name.empty()) {
            const auto [it, inserted] = first_by_name.emplace(strategy.name, entry.path());
            if (!inserted) entry.error("name", concat({"duplicate name (also ", it->second, ")"}));
        }
        config.strategies.push_back(std::move(strategy));
    }

    if (auto limits = root.optional_object("limits")) config.limits = read_limits(*limits);
    if (auto metrics = root.optional_object("metrics")) config.metrics = read_metrics(*metrics);
    root.finish();
}

}  // namespace

Result<Config, std::vector<ConfigError>> parse_config(std::string_view text,
                                                      const std::filesystem::path& base_dir,
                                                      const EnvLookup& env,
                                                      std::span<const StrategyKind> kinds,
                                                      std::string_view source) {
    ReadContext ctx;
    Json doc;
    try {
        DuplicateKeys duplicates(ctx);
        doc = Json::parse(
            text,
            [&](int, Json::parse_event_t event, Json& parsed) {
                return duplicates.on_event(event, parsed);
            },
            /*allow_exceptions=*/true, /*ignore_comments=*/true);
    } catch (const Json::parse_error& e) {
        return unexpected(std::vector<ConfigError>{syntax_error(source, e.what())});
    }
    if (!doc.is_object())
        return unexpected(
            std::vector<ConfigError>{ConfigError{std::string(source), "expected a JSON object"}});

    substitute(doc, "", env, ctx);
    Config config;
    ParamsReader root(doc, "", ctx);
    read_config(root, base_dir, env, kinds, config);
    if (!ctx.errors.empty()) return unexpected(std::move(ctx.errors));
    config.masked = std::move(ctx.masked);
    return config;
}

Result<Config, std::vector<ConfigError>> load_config(const std::filesystem::path& file,
                                                     const EnvLookup& env,
                                                     std::span<const StrategyKind> kinds) {
    const std::string name = file.string();
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec))
        return unexpected(std::vector<ConfigError>{ConfigError{name, "is a directory"}});
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        const int err = errno;
        return unexpected(std::vector<ConfigError>{
            ConfigError{name, concat({"cannot read (", std::strerror(err), ")"})}});
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return unexpected(std::vector<ConfigError>{ConfigError{name, "cannot read"}});
    const auto base = std::filesystem::absolute(file, ec).parent_path();
    return parse_config(text.str(), base, env, kinds, name);
}

}  // namespace vigil::config
