// The resolved config as JSON for `vigil check-config`, secrets masked.
#include <algorithm>
#include <cctype>
#include <ostream>
#include <utility>

#include "chain/http_transport.hpp"
#include "chain/strings.hpp"
#include "config/config.hpp"

namespace vigil::config {
namespace {

/// Hides "user:password@" in a URL whose substituted parts are already "***".
std::string mask_userinfo(const std::string& url) {
    const auto sep = url.find("://");
    if (sep == std::string::npos) return url;
    const auto start = sep + 3;
    const auto end = url.find_first_of("/?#", start);
    const auto at = url.rfind('@', end == std::string::npos ? url.size() : end);
    if (at == std::string::npos || at < start) return url;
    return concat(
        {std::string_view(url).substr(0, start), "***", std::string_view(url).substr(at)});
}

/// rpc::mask_url, which parses with libcurl: curl builds without websocket support (Debian
/// 12's) reject ws:// as an unsupported scheme, so ws(s) is masked as http(s).
std::string mask_any_url(const std::string& url) {
    for (const auto& [ws, http] :
         {std::pair{"ws://", "http://"}, std::pair{"wss://", "https://"}}) {
        const std::string_view prefix(ws);
        if (url.size() < prefix.size() ||
            !std::equal(prefix.begin(), prefix.end(), url.begin(), [](char a, char b) {
                return a == std::tolower(static_cast<unsigned char>(b));
            }))
            continue;
        const std::string masked = rpc::mask_url(concat({http, url.substr(prefix.size())}));
        if (!masked.starts_with(http)) return masked;
        return concat({ws, std::string_view(masked).substr(std::string_view(http).size())});
    }
    return rpc::mask_url(url);
}

class Printer {
public:
    explicit Printer(const Config& c) : masked_(c.masked) {}

    bool is_masked(const std::string& path) const { return masked_.contains(path); }
    Json text(const std::string& path, const std::string& value) const {
        const auto it = masked_.find(path);
        return it == masked_.end() ? value : it->second;
    }
    Json file(const std::string& path, const std::filesystem::path& value) const {
        const auto it = masked_.find(path);
        return it == masked_.end() ? value.string() : it->second;
    }
    Json url(const std::string& path, const std::string& value) const {
        const auto it = masked_.find(path);
        // rpc::mask_url hides the whole path, where providers put API keys; with a
        // substitution the user has said which part is secret.
        return it == masked_.end() ? mask_any_url(value) : mask_userinfo(it->second);
    }
    /// `value` as written, strings masked by their path.
    Json tree(const std::string& path, const Json& value) const {
        if (value.is_object()) {
            Json out = Json::object();
            for (const auto& [key, child] : value.items())
                out[key] = tree(join_path(path, key), child);
            return out;
        }
        if (value.is_array()) {
            Json out = Json::array();
            for (std::size_t i = 0; i < value.size(); ++i)
                out.push_back(tree(index_path(path, i), value[i]));
            return out;
        }
        if (value.is_string()) return text(path, value.get<std::string>());
        return value;
    }

private:
    const std::map<std::string, std::string, std::less<>>& masked_;
};

Json chain_json(const Printer& p, const std::string& path, const ChainConfig& c) {
    Json j = Json::object();
    j["chain_id"] = c.chain_id;
    j["rpc"] = Json::array();
    for (std::size_t i = 0; i < c.rpc.size(); ++i)
        j["rpc"].push_back(p.url(index_path(join_path(path, "rpc"), i), c.rpc[i]));
    j["ws"] = Json::array();
    for (std::size_t i = 0; i < c.ws.size(); ++i)
        j["ws"].push_back(p.url(index_path(join_path(path, "ws"), i), c.ws[i]));
    j["poll_interval_ms"] = c.poll_interval.count();
    j["confirmations"] = c.confirmations;
    j["replace_after_blocks"] = c.replace_after_blocks;
    j["gas_margin_percent"] = c.gas_margin_percent;
    j["max_log_range"] = c.max_log_range;
    j["fees"] = Json{{"max_fee_gwei", c.fees.max_fee_gwei},
                     {"max_priority_fee_gwei", c.fees.max_priority_fee_gwei},
                     {"priority_percentile", c.fees.priority_percentile},
                     {"base_fee_multiplier", c.fees.base_fee_multiplier},
                     {"legacy", c.fees.legacy}};
    if (c.private_rpc) {
        // Written either as a string or as {url, method}: the substitution is under one.
        const std::string at = join_path(path, "private_rpc");
        const std::string url_path = p.is_masked(at) ? at : join_path(at, "url");
        j["private_rpc"] = Json{{"url", p.url(url_path, c.private_rpc->url)},
                                {"method", to_string(c.private_rpc->method)}};
    } else {
        j["private_rpc"] = nullptr;
    }
    return j;
}

}  // namespace

void print_config(const Config& config, std::ostream& out) {
    const Printer p(config);
    Json j = Json::object();
    j["state_dir"] = p.file("state_dir", config.state_dir);
    j["chains"] = Json::object();
    for (const auto& [name, chain] : config.chains)
        j["chains"][name] = chain_json(p, join_path("chains", name), chain);
    j["signers"] = Json::object();
    for (const auto& [name, signer] : config.signers) {
        const std::string path = join_path("signers", name);
        Json s = Json::object();
        if (const auto* k = std::get_if<KeystoreKey>(&signer.key)) {
            s["keystore"] = p.file(join_path(path, "keystore"), k->keystore);
            if (const auto* env = std::get_if<PasswordEnv>(&k->password)) {
                s["password_env"] = p.text(join_path(path, "password_env"), env->name);
            } else {
                s["password_file"] = p.file(join_path(path, "password_file"),
                                            std::get<PasswordFile>(k->password).path);
            }
        } else {
            s["private_key_env"] = p.text(join_path(path, "private_key_env"),
                                          std::get<EnvKey>(signer.key).private_key_env);
        }
        s["allow"] = Json::array();
        for (std::size_t i = 0; i < signer.allow.size(); ++i) {
            const std::string at = index_path(join_path(path, "allow"), i);
            s["allow"].push_back(
                Json{{"to", p.text(join_path(at, "to"), to_checksum(signer.allow[i].to))},
                     {"function", p.text(join_path(at, "function"), signer.allow[i].function)}});
        }
        j["signers"][name] = std::move(s);
    }
    j["strategies"] = Json::array();
    for (std::size_t i = 0; i < config.strategies.size(); ++i) {
        const auto& s = config.strategies[i];
        const std::string path = index_path("strategies", i);
        j["strategies"].push_back(
            Json{{"name", p.text(join_path(path, "name"), s.name)},
                 {"kind", p.text(join_path(path, "kind"), s.kind)},
                 {"chain", p.text(join_path(path, "chain"), s.chain)},
                 {"signer", p.text(join_path(path, "signer"), s.signer)},
                 {"simulate", s.simulate == Simulation::automatic
                                  ? Json("auto")
                                  : Json(s.simulate == Simulation::always)},
                 {"enabled", s.enabled},
                 {"params", p.tree(join_path(path, "params"), s.params_json)}});
    }
    j["limits"] = Json{{"max_inflight_txs", config.limits.max_inflight_txs},
                       {"max_gas_spend_per_hour_wei",
                        p.text("limits.max_gas_spend_per_hour_wei",
                               vigil::to_string(config.limits.max_gas_spend_per_hour_wei))}};
    if (config.metrics) {
        j["metrics"] = Json{{"listen", p.text("metrics.listen", config.metrics->listen)}};
    } else {
        j["metrics"] = nullptr;
    }
    out << j.dump(2) << "\n";
}

}  // namespace vigil::config
