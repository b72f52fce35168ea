#include "config/params_reader.hpp"

#include <cmath>
#include <cstdio>

#include "chain/strings.hpp"

namespace vigil::config {

std::string ConfigError::to_string() const {
    return concat({path, ": ", message});
}

void ReadContext::add(std::string path, std::string message) {
    errors.push_back(ConfigError{std::move(path), std::move(message)});
}

std::string join_path(std::string_view parent, std::string_view key) {
    if (parent.empty()) return std::string(key);
    return concat({parent, ".", key});
}

std::string index_path(std::string_view parent, std::size_t index) {
    return concat({parent, "[", std::to_string(index), "]"});
}

namespace {

std::string_view words(ParseErrc e) {
    switch (e) {
        case ParseErrc::empty:
            return "empty";
        case ParseErrc::missing_prefix:
            return "missing 0x prefix";
        case ParseErrc::odd_length:
        case ParseErrc::wrong_length:
            return "wrong length";
        case ParseErrc::bad_digit:
            return "bad digit";
        case ParseErrc::bad_checksum:
            return "bad checksum";
        case ParseErrc::overflow:
            return "too large";
    }
    return "invalid";
}

std::string bounds_message(const Bounds& b) {
    constexpr uint64_t kNoMax = std::numeric_limits<uint64_t>::max();
    if (b.max == kNoMax) return concat({"must be at least ", std::to_string(b.min)});
    if (b.min == 0) return concat({"must be at most ", std::to_string(b.max)});
    return concat({"must be between ", std::to_string(b.min), " and ", std::to_string(b.max)});
}

// The checks behind each getter, on one value at `path`. Each returns nullopt after
// recording its error.
std::optional<std::string> as_string(const Json& v, const std::string& path, ReadContext& ctx) {
    if (!v.is_string()) {
        ctx.add(path, "expected a string");
        return std::nullopt;
    }
    return v.get<std::string>();
}

std::optional<uint64_t> as_u64(const Json& v, const std::string& path, const Bounds& bounds,
                               ReadContext& ctx) {
    std::optional<uint64_t> value;
    if (v.is_number_unsigned()) {
        value = v.get<uint64_t>();
    } else if (v.is_number_integer()) {
        ctx.add(path, "must not be negative");
    } else if (v.is_number_float()) {
        // nlohmann reads integers beyond 64 bits as doubles.
        const double d = v.get<double>();
        if (std::floor(d) == d && d >= 18446744073709551616.0) {
            ctx.add(path, "too large");
        } else if (std::floor(d) == d && d < 0) {
            ctx.add(path, "must not be negative");
        } else {
            ctx.add(path, "expected an integer");
        }
    } else {
        ctx.add(path, "expected an integer");
    }
    if (value && (*value < bounds.min || *value > bounds.max)) {
        ctx.add(path, bounds_message(bounds));
        value.reset();
    }
    return value;
}

std::optional<u256> as_u256(const Json& v, const std::string& path, ReadContext& ctx) {
    if (!v.is_string()) {
        ctx.add(path, "expected a decimal string");
        return std::nullopt;
    }
    const auto& text = v.get_ref<const std::string&>();
    // parse_u256 also takes 0x-hex; the config promises decimal only.
    const auto bad = text.find_first_not_of("0123456789");
    if (bad != std::string::npos) {
        ctx.add(path, "not a u256 decimal string (bad digit)");
        return std::nullopt;
    }
    auto value = parse_u256(text);
    if (!value) {
        ctx.add(path, concat({"not a u256 decimal string (", words(value.error().kind), ")"}));
        return std::nullopt;
    }
    return *value;
}

/// A string parsed by `parse` (which returns a Result with a ParseError); `what` names the
/// expected kind in both messages.
template <class Parse>
auto as_parsed(const Json& v, const std::string& path, ReadContext& ctx, std::string_view what,
               Parse parse) -> std::optional<typename decltype(parse(std::string()))::value_type> {
    if (!v.is_string()) {
        ctx.add(path, concat({"expected ", what, " string"}));
        return std::nullopt;
    }
    auto parsed = parse(v.get_ref<const std::string&>());
    if (!parsed) {
        ctx.add(path, concat({"not ", what, " (", words(parsed.error().kind), ")"}));
        return std::nullopt;
    }
    return *parsed;
}

std::optional<Address> as_address(const Json& v, const std::string& path, ReadContext& ctx) {
    return as_parsed(v, path, ctx, "an address",
                     [](const std::string& text) { return parse_address(text); });
}

std::optional<Hash32> as_hash(const Json& v, const std::string& path, ReadContext& ctx) {
    return as_parsed(v, path, ctx, "a 32-byte hash",
                     [](const std::string& text) { return parse_hash32(text); });
}

/// The elements of the array at `key` that `read` accepts (each rejection is reported by
/// `read` under its element's path; elements whose `${VAR}` is unset are skipped silently).
template <class T, class Read>
std::vector<T> read_array(const Json* v, const std::string& path, ReadContext& ctx,
                          ParamsReader& reader, std::string_view key, Read read) {
    std::vector<T> out;
    if (!v) return out;
    if (!v->is_array()) {
        reader.error(key, "expected an array");
        return out;
    }
    for (std::size_t i = 0; i < v->size(); ++i) {
        const std::string element = index_path(path, i);
        if (ctx.unresolved.contains(element)) continue;
        if (auto x = read((*v)[i], element, ctx)) out.push_back(*x);
    }
    return out;
}

}  // namespace

ParamsReader::ParamsReader(const Json& object, std::string path, ReadContext& context)
    : object_(object.is_object() ? &object : nullptr), path_(std::move(path)), context_(&context) {
    if (!object_ && !context.unresolved.contains(path_)) context.add(path_, "expected an object");
}

bool ParamsReader::has(std::string_view key) const {
    return object_ && object_->contains(key);
}

bool ParamsReader::is_string(std::string_view key) const {
    if (!object_) return false;
    const auto it = object_->find(key);
    return it != object_->end() && it->is_string() && !context_->unresolved.contains(path(key));
}

std::vector<std::string> ParamsReader::keys() const {
    std::vector<std::string> out;
    if (!object_) return out;
    for (const auto& [key, value] : object_->items()) out.push_back(key);
    return out;
}

std::string ParamsReader::path(std::string_view key) const {
    return join_path(path_, key);
}

void ParamsReader::error(std::string_view key, std::string message) {
    context_->add(key.empty() ? path_ : path(key), std::move(message));
}

const Json* ParamsReader::fetch(std::string_view key) {
    if (!object_) return nullptr;
    read_.insert(std::string(key));
    const auto it = object_->find(key);
    if (it == object_->end()) return nullptr;
    if (context_->unresolved.contains(path(key))) return nullptr;
    return &*it;
}

const Json* ParamsReader::fetch_required(std::string_view key) {
    const Json* v = fetch(key);
    if (!v && object_ && !object_->contains(key)) error(key, "missing required key");
    return v;
}

const Json* ParamsReader::raw(std::string_view key) {
    return fetch(key);
}

std::string ParamsReader::required_string(std::string_view key) {
    const Json* v = fetch_required(key);
    if (!v) return {};
    return as_string(*v, path(key), *context_).value_or("");
}

std::optional<std::string> ParamsReader::optional_string(std::string_view key) {
    const Json* v = fetch(key);
    if (!v) return std::nullopt;
    return as_string(*v, path(key), *context_);
}

std::string ParamsReader::optional_string(std::string_view key, std::string fallback) {
    return optional_string(key).value_or(std::move(fallback));
}

std::vector<std::string> ParamsReader::optional_strings(std::string_view key) {
    return read_array<std::string>(fetch(key), path(key), *context_, *this, key, as_string);
}

bool ParamsReader::optional_bool(std::string_view key, bool fallback) {
    const Json* v = fetch(key);
    if (!v) return fallback;
    if (!v->is_boolean()) {
        error(key, "expected a boolean");
        return fallback;
    }
    return v->get<bool>();
}

uint64_t ParamsReader::required_u64(std::string_view key, Bounds bounds) {
    const Json* v = fetch_required(key);
    if (!v) return 0;
    return as_u64(*v, path(key), bounds, *context_).value_or(0);
}

uint64_t ParamsReader::optional_u64(std::string_view key, uint64_t fallback, Bounds bounds) {
    const Json* v = fetch(key);
    if (!v) return fallback;
    return as_u64(*v, path(key), bounds, *context_).value_or(fallback);
}

double ParamsReader::optional_number(std::string_view key, double fallback, double min,
                                     double max) {
    const Json* v = fetch(key);
    if (!v) return fallback;
    if (!v->is_number()) {
        error(key, "expected a number");
        return fallback;
    }
    const double d = v->get<double>();
    if (!(d >= min && d <= max)) {
        // %g keeps "0" and "100" short, as users wrote them.
        char text[64];
        std::snprintf(text, sizeof text, "must be between %g and %g", min, max);
        error(key, text);
        return fallback;
    }
    return d;
}

u256 ParamsReader::required_u256(std::string_view key) {
    const Json* v = fetch_required(key);
    if (!v) return 0;
    return as_u256(*v, path(key), *context_).value_or(0);
}

std::optional<u256> ParamsReader::optional_u256(std::string_view key) {
    const Json* v = fetch(key);
    if (!v) return std::nullopt;
    return as_u256(*v, path(key), *context_);
}

u256 ParamsReader::optional_u256(std::string_view key, const u256& fallback) {
    return optional_u256(key).value_or(fallback);
}

Address ParamsReader::required_address(std::string_view key) {
    const Json* v = fetch_required(key);
    if (!v) return {};
    return as_address(*v, path(key), *context_).value_or(Address{});
}

std::optional<Address> ParamsReader::optional_address(std::string_view key) {
    const Json* v = fetch(key);
    if (!v) return std::nullopt;
    return as_address(*v, path(key), *context_);
}

std::vector<Address> ParamsReader::required_addresses(std::string_view key) {
    return read_array<Address>(fetch_required(key), path(key), *context_, *this, key, as_address);
}

std::vector<Hash32> ParamsReader::required_hashes(std::string_view key) {
    return read_array<Hash32>(fetch_required(key), path(key), *context_, *this, key, as_hash);
}

ParamsReader ParamsReader::required_object(std::string_view key) {
    static const Json kEmpty = Json::object();
    const Json* v = fetch_required(key);
    if (!v) {
        // Already reported (missing or unresolved) or this reader is not over an object:
        // an empty reader that reports nothing more.
        ParamsReader empty(kEmpty, path(key), *context_);
        empty.object_ = nullptr;
        return empty;
    }
    return ParamsReader(*v, path(key), *context_);
}

std::optional<ParamsReader> ParamsReader::optional_object(std::string_view key) {
    const Json* v = fetch(key);
    if (!v) return std::nullopt;
    return ParamsReader(*v, path(key), *context_);
}

std::vector<ParamsReader> ParamsReader::optional_objects(std::string_view key) {
    std::vector<ParamsReader> out;
    const Json* v = fetch(key);
    if (!v) return out;
    if (!v->is_array()) {
        error(key, "expected an array");
        return out;
    }
    for (std::size_t i = 0; i < v->size(); ++i) {
        const std::string element = index_path(path(key), i);
        if (!(*v)[i].is_object()) {
            context_->add(element, "expected an object");
            continue;
        }
        out.emplace_back((*v)[i], element, *context_);
    }
    return out;
}

void ParamsReader::finish() {
    if (finished_ || !object_) return;
    finished_ = true;
    for (const auto& [key, value] : object_->items())
        if (!read_.contains(key)) error(key, "unknown key");
}

}  // namespace vigil::config
