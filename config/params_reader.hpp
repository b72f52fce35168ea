#pragma once
// Typed reading of one JSON object of the config, with every problem recorded as a
// `path: message` error instead of stopping at the first. The loader reads its own
// sections with it, and each strategy kind reads its `params` with it, so unknown keys,
// wrong types and bad values are reported in the same words everywhere.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "chain/bytes.hpp"
#include "chain/u256.hpp"

namespace vigil::config {

/// The config's JSON: objects keep their file order, so printouts and unknown-key errors
/// follow the file.
using Json = nlohmann::ordered_json;

/// One problem in a config: where ("strategies[1].params.morpho", or "FILE:LINE:COL" for
/// JSON syntax, or "FILE" for the file as a whole) and what, in stable words.
struct ConfigError {
    std::string path;
    std::string message;
    bool operator==(const ConfigError&) const = default;
    /// "path: message".
    std::string to_string() const;
};

/// What the readers of one config share with the loader.
struct ReadContext {
    std::vector<ConfigError> errors;
    /// Strings that came from `${VAR}` substitution, by path: the text to print instead,
    /// each substitution shown as "***".
    std::map<std::string, std::string, std::less<>> masked;
    /// Strings whose substitution failed (already reported): readers skip them silently,
    /// so one missing variable is one error.
    std::set<std::string, std::less<>> unresolved;

    void add(std::string path, std::string message);
    bool is_masked(std::string_view path) const { return masked.contains(path); }
};

/// Inclusive bounds for integers; the message names them ("must be between 0 and 100").
struct Bounds {
    uint64_t min = 0;
    uint64_t max = std::numeric_limits<uint64_t>::max();
};

/// Reads the keys of one JSON object. Each getter marks its key as read and, on a bad
/// value, records an error at `path.key` and returns the fallback (or a zero value for
/// required keys): callers never branch on errors, the loader checks the error list at
/// the end. finish() reports every key no getter asked for as "unknown key".
///
/// A reader made for something that is not an object has reported that already; its
/// getters then return fallbacks and report nothing more.
///
/// Messages: "missing required key", "expected a string" (…an object, an array, a
/// boolean, an integer, a number), "must not be negative", "too large",
/// "must be at least N" / "must be at most N" / "must be between N and M",
/// "not an address (bad checksum)" (the ParseErrc in words), "not a 32-byte hash (…)",
/// "not a u256 decimal string (…)", "must not be empty", "unknown key".
class ParamsReader {
public:
    /// `object` must outlive the reader; `path` is "" for the document root.
    ParamsReader(const Json& object, std::string path, ReadContext& context);

    /// Whether `key` is present (does not count as reading it).
    bool has(std::string_view key) const;
    /// Whether `key` is present and a string whose substitution (if any) succeeded.
    bool is_string(std::string_view key) const;
    /// The keys present, in file order (for maps such as `chains`).
    std::vector<std::string> keys() const;

    std::string required_string(std::string_view key);
    std::optional<std::string> optional_string(std::string_view key);
    std::string optional_string(std::string_view key, std::string fallback);
    /// Array of strings; a missing key is an empty array.
    std::vector<std::string> optional_strings(std::string_view key);

    bool optional_bool(std::string_view key, bool fallback);

    uint64_t required_u64(std::string_view key, Bounds bounds = {});
    uint64_t optional_u64(std::string_view key, uint64_t fallback, Bounds bounds = {});
    /// Any JSON number in [min, max] (percentiles).
    double optional_number(std::string_view key, double fallback, double min, double max);

    /// u256 values are decimal strings: a JSON number would lose digits above 2^53.
    u256 required_u256(std::string_view key);
    std::optional<u256> optional_u256(std::string_view key);
    u256 optional_u256(std::string_view key, const u256& fallback);

    /// "0x" + 40 hex digits; mixed case must be the EIP-55 checksum.
    Address required_address(std::string_view key);
    std::optional<Address> optional_address(std::string_view key);
    std::vector<Address> required_addresses(std::string_view key);
    /// "0x" + 64 hex digits (market ids, topics).
    std::vector<Hash32> required_hashes(std::string_view key);

    /// A nested object; a missing key is "missing required key" and an empty reader.
    ParamsReader required_object(std::string_view key);
    std::optional<ParamsReader> optional_object(std::string_view key);
    /// An array of objects, one reader per element (path "key[i]"); elements that are
    /// not objects are reported and skipped. A missing key is an empty array.
    std::vector<ParamsReader> optional_objects(std::string_view key);

    /// The raw value, marked as read, for shapes the getters do not cover; nullptr when
    /// absent or when its `${VAR}` substitution failed.
    const Json* raw(std::string_view key);

    /// Records `message` at `path(key)`, or at this object's path when `key` is empty.
    void error(std::string_view key, std::string message);
    /// "parent.key" ("key" at the root).
    std::string path(std::string_view key) const;
    const std::string& path() const noexcept { return path_; }
    ReadContext& context() noexcept { return *context_; }

    /// Reports each key that no getter read as "unknown key". Idempotent.
    void finish();

private:
    /// The value at `key`, marked as read; nullptr (and nothing reported) when absent,
    /// unresolved, or when this reader is not over an object.
    const Json* fetch(std::string_view key);
    const Json* fetch_required(std::string_view key);

    const Json* object_;  ///< nullptr when the value was not an object
    std::string path_;
    ReadContext* context_;
    std::set<std::string, std::less<>> read_;
    bool finished_ = false;
};

/// "parent.key", or "key" when parent is the root "".
std::string join_path(std::string_view parent, std::string_view key);
/// "parent[index]".
std::string index_path(std::string_view parent, std::size_t index);

}  // namespace vigil::config
