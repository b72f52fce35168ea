#include "chain/json_rpc.hpp"

#include <array>
#include <cassert>
#include <charconv>
#include <cstring>
#include <limits>

namespace vigil::rpc {

// ---------------------------------------------------------------------------------------
// Requests

namespace {

void append_quantity(std::string& out, uint64_t v) {
    static constexpr char kDigits[] = "0123456789abcdef";
    char buf[16];
    int n = 0;
    do {
        buf[n++] = kDigits[v & 0xf];
        v >>= 4;
    } while (v != 0);
    out += "0x";
    while (n > 0) out += buf[--n];
}

void append_string(std::string& out, std::string_view text) {
    out += '"';
    out += text;
    out += '"';
}

void append_hex_string(std::string& out, BytesView bytes) {
    out += "\"0x";
    append_hex(out, bytes);
    out += '"';
}

// A block parameter as JSON: a quantity or tag string, or for a hash the EIP-1898 object
// (`by_hash_object`) or the plain hash string.
enum class HashForm { eip1898_object, plain };
void append_block(std::string& out, const BlockId& block, HashForm form) {
    if (const auto* hash = std::get_if<Hash32>(&block); hash && form == HashForm::eip1898_object) {
        out += "{\"blockHash\":";
        append_hex_string(out, *hash);
        out += '}';
        return;
    }
    append_string(out, to_block_param(block));
}

void append_filter_members(std::string& out, const LogFilter& filter) {
    if (!filter.addresses.empty()) {
        out += ",\"address\":[";
        for (std::size_t i = 0; i < filter.addresses.size(); ++i) {
            if (i) out += ',';
            append_hex_string(out, filter.addresses[i]);
        }
        out += ']';
    }
    if (!filter.topics.empty()) {
        out += ",\"topics\":[";
        for (std::size_t i = 0; i < filter.topics.size(); ++i) {
            if (i) out += ',';
            if (filter.topics[i].empty()) {
                out += "null";
                continue;
            }
            out += '[';
            for (std::size_t j = 0; j < filter.topics[i].size(); ++j) {
                if (j) out += ',';
                append_hex_string(out, filter.topics[i][j]);
            }
            out += ']';
        }
        out += ']';
    }
}

void append_call_request(std::string& out, const CallRequest& r) {
    out += '{';
    if (r.from) {
        out += "\"from\":";
        append_hex_string(out, *r.from);
        out += ',';
    }
    out += "\"to\":";
    append_hex_string(out, r.to);
    out += ",\"data\":";
    append_hex_string(out, r.data);
    if (r.value) {
        out += ",\"value\":";
        append_string(out, to_quantity(*r.value));
    }
    if (r.gas) {
        out += ",\"gas\":\"";
        append_quantity(out, *r.gas);
        out += '"';
    }
    out += '}';
}

void append_overrides(std::string& out, std::span<const StateOverride> overrides) {
    out += '{';
    for (std::size_t i = 0; i < overrides.size(); ++i) {
        const StateOverride& o = overrides[i];
        if (i) out += ',';
        append_hex_string(out, o.address);
        out += ":{";
        bool first = true;
        auto member = [&](std::string_view name) {
            if (!first) out += ',';
            first = false;
            append_string(out, name);
            out += ':';
        };
        if (o.balance) {
            member("balance");
            append_string(out, to_quantity(*o.balance));
        }
        if (o.nonce) {
            member("nonce");
            out += '"';
            append_quantity(out, *o.nonce);
            out += '"';
        }
        if (o.code) {
            member("code");
            append_hex_string(out, *o.code);
        }
        if (!o.state_diff.empty()) {
            member("stateDiff");
            out += '{';
            for (std::size_t j = 0; j < o.state_diff.size(); ++j) {
                if (j) out += ',';
                append_hex_string(out, o.state_diff[j].first);
                out += ':';
                append_hex_string(out, o.state_diff[j].second);
            }
            out += '}';
        }
        out += '}';
    }
    out += '}';
}

void append_request(std::string& out, uint64_t id, const Call& call) {
    assert(call.method.find_first_of("\"\\") == std::string::npos);
    out += "{\"jsonrpc\":\"2.0\",\"id\":";
    out += std::to_string(id);
    out += ",\"method\":";
    append_string(out, call.method);
    out += ",\"params\":";
    out += call.params.empty() ? "[]" : call.params;
    out += '}';
}

}  // namespace

std::string make_request(uint64_t id, const Call& call) {
    std::string out;
    out.reserve(64 + call.method.size() + call.params.size());
    append_request(out, id, call);
    return out;
}

std::string make_batch(uint64_t first_id, std::span<const Call> calls) {
    assert(!calls.empty());
    std::string out = "[";
    for (std::size_t i = 0; i < calls.size(); ++i) {
        if (i) out += ',';
        append_request(out, first_id + i, calls[i]);
    }
    out += ']';
    return out;
}

namespace eth {

Call chain_id() {
    return {"eth_chainId", "[]"};
}
Call block_number() {
    return {"eth_blockNumber", "[]"};
}
Call max_priority_fee() {
    return {"eth_maxPriorityFeePerGas", "[]"};
}

Call get_block(const BlockId& block) {
    std::string p = "[";
    append_block(p, block, HashForm::plain);
    p += ",false]";
    const bool by_hash = std::holds_alternative<Hash32>(block);
    return {by_hash ? "eth_getBlockByHash" : "eth_getBlockByNumber", std::move(p)};
}

Call get_logs(const LogFilter& filter, uint64_t from_block, uint64_t to_block) {
    std::string p = "[{\"fromBlock\":\"";
    append_quantity(p, from_block);
    p += "\",\"toBlock\":\"";
    append_quantity(p, to_block);
    p += '"';
    append_filter_members(p, filter);
    p += "}]";
    return {"eth_getLogs", std::move(p)};
}

Call get_block_logs(const LogFilter& filter, const Hash32& block_hash) {
    std::string p = "[{\"blockHash\":";
    append_hex_string(p, block_hash);
    append_filter_members(p, filter);
    p += "}]";
    return {"eth_getLogs", std::move(p)};
}

Call call(const CallRequest& request, const BlockId& block,
          std::span<const StateOverride> overrides) {
    std::string p = "[";
    append_call_request(p, request);
    p += ',';
    append_block(p, block, HashForm::eip1898_object);
    if (!overrides.empty()) {
        p += ',';
        append_overrides(p, overrides);
    }
    p += ']';
    return {"eth_call", std::move(p)};
}

Call estimate_gas(const CallRequest& request, const BlockId& block) {
    std::string p = "[";
    append_call_request(p, request);
    p += ',';
    append_block(p, block, HashForm::eip1898_object);
    p += ']';
    return {"eth_estimateGas", std::move(p)};
}

Call fee_history(uint64_t block_count, const BlockId& newest, std::span<const double> percentiles) {
    std::string p = "[\"";
    append_quantity(p, block_count);
    p += "\",";
    append_block(p, newest, HashForm::plain);
    p += ",[";
    for (std::size_t i = 0; i < percentiles.size(); ++i) {
        if (i) p += ',';
        char buf[32];
        const auto r = std::to_chars(buf, buf + sizeof buf, percentiles[i]);
        p.append(buf, r.ptr);
    }
    p += "]]";
    return {"eth_feeHistory", std::move(p)};
}

Call get_transaction_count(const Address& account, const BlockId& block) {
    std::string p = "[";
    append_hex_string(p, account);
    p += ',';
    append_block(p, block, HashForm::eip1898_object);
    p += ']';
    return {"eth_getTransactionCount", std::move(p)};
}

Call send_raw_transaction(BytesView raw) {
    std::string p = "[";
    append_hex_string(p, raw);
    p += ']';
    return {"eth_sendRawTransaction", std::move(p)};
}

Call send_private_transaction(BytesView raw) {
    std::string p = R"([{"tx":)";
    append_hex_string(p, raw);
    p += "}]";
    return {"eth_sendPrivateTransaction", std::move(p)};
}

Call get_transaction_receipt(const Hash32& tx_hash) {
    std::string p = "[";
    append_hex_string(p, tx_hash);
    p += ']';
    return {"eth_getTransactionReceipt", std::move(p)};
}

Call get_code(const Address& account, const BlockId& block) {
    std::string p = "[";
    append_hex_string(p, account);
    p += ',';
    append_block(p, block, HashForm::eip1898_object);
    p += ']';
    return {"eth_getCode", std::move(p)};
}

}  // namespace eth

// ---------------------------------------------------------------------------------------
// Reading JSON

namespace {

Failure malformed(std::string detail) {
    Failure f{Errc::malformed_response, {}, {}, 0, std::nullopt, std::move(detail)};
    return f;
}

// Where a value sits in the response, kept as a chain of stack frames and turned into
// text ("result[3].logIndex") only when an error is reported.
struct Path {
    const Path* parent = nullptr;
    std::string_view key;  // empty: an array element at `index`
    std::size_t index = 0;

    Path member(std::string_view k) const { return Path{this, k, 0}; }
    Path element(std::size_t i) const { return Path{this, {}, i}; }
    void append_to(std::string& out) const {
        if (parent) parent->append_to(out);
        if (!key.empty()) {
            if (parent) out += '.';
            out += key;
        } else {
            out += '[' + std::to_string(index) + ']';
        }
    }
    std::string str() const {
        std::string out;
        append_to(out);
        return out;
    }
};

// A strict RFC 8259 pull parser over one text. Strings are returned as raw views between
// their quotes; escapes are validated while scanning and decoded only on request. The
// first error stops it: every later call fails fast, and `failure()` tells what broke,
// either a syntax error (with its offset) or a typed error set by a decoder with `fail`.
class Reader {
public:
    explicit Reader(std::string_view text)
        : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()) {}

    bool ok() const noexcept { return !failed_; }
    Failure failure() const { return failure_; }

    // A decoder's typed error at `path`, e.g. "not a quantity".
    bool fail(const Path& path, std::string_view what) {
        if (!failed_) {
            std::string detail = path.str();
            detail += ": ";
            detail += what;
            failure_ = malformed(std::move(detail));
            failed_ = true;
        }
        p_ = end_;
        return false;
    }

    char peek() {
        skip_ws();
        return p_ < end_ ? *p_ : '\0';
    }
    bool consume(char c) {
        if (peek() != c) return false;
        ++p_;
        return true;
    }
    // After the top-level value only whitespace may follow.
    bool finish() {
        if (failed_) return false;
        skip_ws();
        return p_ == end_ || syntax("trailing characters");
    }

    // A string value; `raw` is the text between the quotes, `escaped` whether it holds
    // backslash escapes (then `unescape(raw)` gives its value).
    bool string(std::string_view& raw, bool& escaped) {
        if (!consume('"')) return syntax("expected a string");
        const char* start = p_;
        escaped = false;
        for (;;) {
            // Fast path: the hex strings that make up most of a response are plain ASCII.
            while (p_ < end_ && is_plain(static_cast<unsigned char>(*p_))) ++p_;
            if (p_ >= end_) return syntax("unterminated string");
            const unsigned char c = static_cast<unsigned char>(*p_);
            if (c == '"') break;
            if (c == '\\') {
                escaped = true;
                if (!escape()) return false;
            } else if (c < 0x20) {
                return syntax("control character in string");
            } else if (!utf8_sequence()) {
                return false;
            }
        }
        raw = std::string_view(start, static_cast<std::size_t>(p_ - start));
        ++p_;
        return true;
    }

    // A number's text, checked against the JSON grammar.
    bool number(std::string_view& raw) {
        skip_ws();
        const char* start = p_;
        if (p_ < end_ && *p_ == '-') ++p_;
        if (p_ < end_ && *p_ == '0') {
            ++p_;
        } else if (p_ < end_ && *p_ >= '1' && *p_ <= '9') {
            while (p_ < end_ && is_digit(*p_)) ++p_;
        } else {
            return syntax("expected a value");
        }
        if (p_ < end_ && *p_ == '.') {
            ++p_;
            if (p_ >= end_ || !is_digit(*p_)) return syntax("expected a digit");
            while (p_ < end_ && is_digit(*p_)) ++p_;
        }
        if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
            ++p_;
            if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
            if (p_ >= end_ || !is_digit(*p_)) return syntax("expected a digit");
            while (p_ < end_ && is_digit(*p_)) ++p_;
        }
        raw = std::string_view(start, static_cast<std::size_t>(p_ - start));
        return true;
    }

    // true / false / null.
    bool literal(std::string_view word) {
        skip_ws();
        if (static_cast<std::size_t>(end_ - p_) < word.size() ||
            std::memcmp(p_, word.data(), word.size()) != 0)
            return syntax("expected a value");
        p_ += word.size();
        return true;
    }

    // Skips any value (validating it) and returns its text.
    bool skip(std::string_view& raw, int depth = 0) {
        const char c = peek();
        const char* start = p_;
        bool ok = false;
        if (depth >= kMaxJsonDepth && (c == '{' || c == '[')) return syntax("nesting too deep");
        switch (c) {
            case '{':
                ok = object([&](std::string_view) {
                    std::string_view ignored;
                    return skip(ignored, depth + 1);
                });
                break;
            case '[':
                ok = array([&](std::size_t) {
                    std::string_view ignored;
                    return skip(ignored, depth + 1);
                });
                break;
            case '"': {
                std::string_view s;
                bool escaped;
                ok = string(s, escaped);
                break;
            }
            case 't':
                ok = literal("true");
                break;
            case 'f':
                ok = literal("false");
                break;
            case 'n':
                ok = literal("null");
                break;
            default: {
                std::string_view n;
                ok = number(n);
            }
        }
        if (ok) raw = std::string_view(start, static_cast<std::size_t>(p_ - start));
        return ok;
    }

    // {"key": value, ...}: calls member(key) with the reader at the value; member must
    // consume the value and return false to stop.
    template <class F>
    bool object(F&& member) {
        if (!consume('{')) return syntax("expected '{'");
        if (consume('}')) return true;
        do {
            if (peek() != '"') return syntax("expected a key");
            std::string_view key;
            bool escaped;
            if (!string(key, escaped)) return false;
            std::string decoded;
            if (escaped) {
                decoded = unescape(key);
                key = decoded;
            }
            if (!consume(':')) return syntax("expected ':'");
            if (!member(key)) return false;
        } while (consume(','));
        return consume('}') || syntax("expected ',' or '}'");
    }

    // [value, ...]: calls element(i) with the reader at the i-th value.
    template <class F>
    bool array(F&& element) {
        if (!consume('[')) return syntax("expected '['");
        if (consume(']')) return true;
        std::size_t i = 0;
        do {
            if (!element(i++)) return false;
        } while (consume(','));
        return consume(']') || syntax("expected ',' or ']'");
    }

    // The value of a raw string that `string` validated.
    static std::string unescape(std::string_view raw) {
        std::string out;
        out.reserve(raw.size());
        for (std::size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] != '\\') {
                out += raw[i];
                continue;
            }
            const char e = raw[++i];
            switch (e) {
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'u': {
                    uint32_t cp = hex4(raw.data() + i + 1);
                    i += 4;
                    if (cp >= 0xd800 && cp <= 0xdbff) {  // validated: a low surrogate follows
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (hex4(raw.data() + i + 3) - 0xdc00);
                        i += 6;
                    }
                    append_utf8(out, cp);
                    break;
                }
                default:
                    out += e;  // '"', '\\', '/'
            }
        }
        return out;
    }

private:
    static bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
    static bool is_plain(unsigned char c) noexcept {
        return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
    }
    static int hex_digit(char c) noexcept {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }
    static uint32_t hex4(const char* p) noexcept {
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i) v = v << 4 | static_cast<uint32_t>(hex_digit(p[i]));
        return v;
    }
    static void append_utf8(std::string& out, uint32_t cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xc0 | cp >> 6);
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xe0 | cp >> 12);
            out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else {
            out += static_cast<char>(0xf0 | cp >> 18);
            out += static_cast<char>(0x80 | (cp >> 12 & 0x3f));
            out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        }
    }

    void skip_ws() noexcept {
        while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
    }

    bool syntax(const char* what) {
        if (!failed_) {
            failure_ =
                malformed("invalid JSON at offset " + std::to_string(p_ - begin_) + ": " + what);
            failed_ = true;
        }
        p_ = end_;
        return false;
    }

    bool read_hex4(uint32_t& cp) {
        if (end_ - p_ < 4) return syntax("bad \\u escape");
        for (int i = 0; i < 4; ++i)
            if (hex_digit(p_[i]) < 0) return syntax("bad \\u escape");
        cp = hex4(p_);
        p_ += 4;
        return true;
    }

    // At a backslash: one escape; a \u high surrogate must be followed by a low one.
    bool escape() {
        ++p_;
        if (p_ >= end_) return syntax("unterminated string");
        const char e = *p_++;
        switch (e) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                return true;
            case 'u': {
                uint32_t cp = 0;
                if (!read_hex4(cp)) return false;
                if (cp >= 0xdc00 && cp <= 0xdfff) return syntax("lone surrogate");
                if (cp < 0xd800 || cp > 0xdbff) return true;
                if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return syntax("lone surrogate");
                p_ += 2;
                uint32_t low = 0;
                if (!read_hex4(low)) return false;
                return (low >= 0xdc00 && low <= 0xdfff) || syntax("lone surrogate");
            }
            default:
                --p_;
                return syntax("bad escape");
        }
    }

    // At a byte >= 0x80: one well-formed UTF-8 sequence (no overlong forms, no
    // surrogates, nothing above U+10FFFF), as RFC 3629 defines it.
    bool utf8_sequence() {
        const auto* s = reinterpret_cast<const unsigned char*>(p_);
        const std::size_t left = static_cast<std::size_t>(end_ - p_);
        std::size_t n;
        unsigned char lo = 0x80, hi = 0xbf;  // bounds of the second byte
        if (s[0] >= 0xc2 && s[0] <= 0xdf) {
            n = 2;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
            n = 3;
            if (s[0] == 0xe0) lo = 0xa0;
            if (s[0] == 0xed) hi = 0x9f;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
            n = 4;
            if (s[0] == 0xf0) lo = 0x90;
            if (s[0] == 0xf4) hi = 0x8f;
        } else {
            return syntax("invalid UTF-8");
        }
        if (left < n || s[1] < lo || s[1] > hi) return syntax("invalid UTF-8");
        for (std::size_t i = 2; i < n; ++i)
            if (s[i] < 0x80 || s[i] > 0xbf) return syntax("invalid UTF-8");
        p_ += n;
        return true;
    }

    const char* begin_;
    const char* p_;
    const char* end_;
    bool failed_ = false;
    Failure failure_{Errc::malformed_response, {}, {}, 0, std::nullopt, {}};
};

// ---------------------------------------------------------------------------------------
// Typed fields. Each reads one value at `path` or records why it could not.

// A string whose text has no escapes: every hex value Ethereum sends is one.
bool plain_string(Reader& r, const Path& path, std::string_view& text, std::string_view what) {
    if (r.peek() != '"') return r.fail(path, what);
    bool escaped;
    if (!r.string(text, escaped)) return false;
    return !escaped || r.fail(path, what);
}

int hex_nibble(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// "0x" + 1..max_digits hex digits, no leading zero unless the value is zero.
bool is_quantity(std::string_view t, std::size_t max_digits) noexcept {
    if (t.size() < 3 || t[0] != '0' || t[1] != 'x') return false;
    const std::string_view digits = t.substr(2);
    if (digits.size() > max_digits || (digits.size() > 1 && digits[0] == '0')) return false;
    for (char c : digits)
        if (hex_nibble(c) < 0) return false;
    return true;
}

bool read_u64(Reader& r, const Path& path, uint64_t& out) {
    std::string_view t;
    if (!plain_string(r, path, t, "not a quantity")) return false;
    const auto v = parse_quantity(t);
    if (v) {
        out = *v;
        return true;
    }
    return r.fail(path, is_quantity(t, 64) ? "quantity out of range" : "not a quantity");
}

bool read_u256(Reader& r, const Path& path, u256& out) {
    std::string_view t;
    if (!plain_string(r, path, t, "not a quantity")) return false;
    if (!is_quantity(t, 64)) return r.fail(path, "not a quantity");
    out = *parse_u256(t);  // a well-formed quantity of at most 64 digits always parses
    return true;
}

template <std::size_t N>
bool read_fixed(Reader& r, const Path& path, FixedBytes<N>& out, std::string_view what) {
    std::string_view t;
    if (!plain_string(r, path, t, what)) return false;
    if (t.size() != 2 + 2 * N || t[0] != '0' || t[1] != 'x') return r.fail(path, what);
    const char* d = t.data() + 2;
    for (std::size_t i = 0; i < N; ++i) {
        const int hi = hex_nibble(d[2 * i]), lo = hex_nibble(d[2 * i + 1]);
        if ((hi | lo) < 0) return r.fail(path, what);
        out.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    return true;
}
bool read_hash(Reader& r, const Path& path, Hash32& out) {
    return read_fixed(r, path, out, "not a hash");
}
// Nodes send addresses in lower case; a mixed-case one must carry a valid EIP-55
// checksum, as everywhere else in vigil.
bool read_address(Reader& r, const Path& path, Address& out) {
    std::string_view t;
    if (!plain_string(r, path, t, "not an address")) return false;
    auto a = parse_address(t);
    if (!a) return r.fail(path, "not an address");
    out = *a;
    return true;
}

bool read_data(Reader& r, const Path& path, Bytes& out) {
    std::string_view t;
    if (!plain_string(r, path, t, "not hex data")) return false;
    if (t.size() < 2 || t[0] != '0' || t[1] != 'x' || t.size() % 2 != 0)
        return r.fail(path, "not hex data");
    out.resize((t.size() - 2) / 2);
    const char* d = t.data() + 2;
    for (std::size_t i = 0; i < out.size(); ++i) {
        const int hi = hex_nibble(d[2 * i]), lo = hex_nibble(d[2 * i + 1]);
        if ((hi | lo) < 0) return r.fail(path, "not hex data");
        out[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    return true;
}

bool read_bool(Reader& r, const Path& path, bool& out) {
    const char c = r.peek();
    if (c != 't' && c != 'f') return r.fail(path, "not a bool");
    out = c == 't';
    return r.literal(out ? "true" : "false");
}

bool read_double(Reader& r, const Path& path, double& out) {
    const char c = r.peek();
    if (c != '-' && (c < '0' || c > '9')) return r.fail(path, "not a number");
    std::string_view t;
    if (!r.number(t)) return false;
    const auto res = std::from_chars(t.data(), t.data() + t.size(), out);
    return res.ec == std::errc() || r.fail(path, "not a number");
}

// An array of T read with `item(reader, path, T&)`.
template <class T, class F>
bool read_list(Reader& r, const Path& path, std::vector<T>& out, F&& item) {
    if (r.peek() != '[') return r.fail(path, "not an array");
    return r.array([&](std::size_t i) {
        out.emplace_back();
        return item(r, path.element(i), out.back());
    });
}

// Reads an object whose members are known by name. `fields` lists the names; member
// i is decoded by `on_field(i, reader, path)`. Names flagged required must be present;
// any name twice is a "duplicate key"; unknown names are skipped.
struct FieldSpec {
    std::string_view name;
    bool required;
};
template <std::size_t N, class F>
bool read_object(Reader& r, const Path& path, const std::array<FieldSpec, N>& fields,
                 F&& on_field) {
    static_assert(N <= 32);
    if (r.peek() != '{') return r.fail(path, "not an object");
    uint32_t seen = 0;
    const bool ok = r.object([&](std::string_view key) {
        for (std::size_t i = 0; i < N; ++i) {
            if (fields[i].name != key) continue;
            const Path field_path = path.member(fields[i].name);
            if (seen & (1u << i)) return r.fail(field_path, "duplicate key");
            seen |= 1u << i;
            return on_field(i, r, field_path);
        }
        std::string_view ignored;
        return r.skip(ignored, 1);
    });
    if (!ok) return false;
    for (std::size_t i = 0; i < N; ++i)
        if (fields[i].required && !(seen & (1u << i)))
            return r.fail(path.member(fields[i].name), "missing");
    return true;
}

constexpr std::array<FieldSpec, 9> kLogFields = {{
    {"address", true},
    {"topics", true},
    {"data", true},
    {"blockNumber", true},
    {"blockHash", true},
    {"transactionHash", true},
    {"transactionIndex", true},
    {"logIndex", true},
    {"removed", false},
}};

bool read_log(Reader& r, const Path& path, Log& log) {
    return read_object(r, path, kLogFields, [&](std::size_t i, Reader& rr, const Path& p) {
        switch (i) {
            case 0:
                return read_address(rr, p, log.address);
            case 1:
                return read_list(rr, p, log.topics, read_hash);
            case 2:
                return read_data(rr, p, log.data);
            case 3:
                return read_u64(rr, p, log.block_number);
            case 4:
                return read_hash(rr, p, log.block_hash);
            case 5:
                return read_hash(rr, p, log.tx_hash);
            case 6:
                return read_u64(rr, p, log.tx_index);
            case 7:
                return read_u64(rr, p, log.log_index);
            default:
                return read_bool(rr, p, log.removed);
        }
    });
}

bool read_logs(Reader& r, const Path& path, std::vector<Log>& logs) {
    return read_list(r, path, logs, read_log);
}

constexpr std::array<FieldSpec, 7> kHeaderFields = {{
    {"number", true},
    {"hash", true},
    {"parentHash", true},
    {"timestamp", true},
    {"gasLimit", true},
    {"gasUsed", true},
    {"baseFeePerGas", false},
}};

bool read_header(Reader& r, const Path& path, BlockHeader& h) {
    return read_object(r, path, kHeaderFields, [&](std::size_t i, Reader& rr, const Path& p) {
        switch (i) {
            case 0:
                return read_u64(rr, p, h.number);
            case 1:
                return read_hash(rr, p, h.hash);
            case 2:
                return read_hash(rr, p, h.parent_hash);
            case 3:
                return read_u64(rr, p, h.timestamp);
            case 4:
                return read_u64(rr, p, h.gas_limit);
            case 5:
                return read_u64(rr, p, h.gas_used);
            default:
                return read_u256(rr, p, h.base_fee_per_gas.emplace());
        }
    });
}

constexpr std::array<FieldSpec, 9> kReceiptFields = {{
    {"transactionHash", true},
    {"blockNumber", true},
    {"blockHash", true},
    {"transactionIndex", true},
    {"status", true},
    {"gasUsed", true},
    {"effectiveGasPrice", true},
    {"contractAddress", false},
    {"logs", true},
}};

bool read_receipt(Reader& r, const Path& path, Receipt& rc) {
    return read_object(r, path, kReceiptFields, [&](std::size_t i, Reader& rr, const Path& p) {
        switch (i) {
            case 0:
                return read_hash(rr, p, rc.tx_hash);
            case 1:
                return read_u64(rr, p, rc.block_number);
            case 2:
                return read_hash(rr, p, rc.block_hash);
            case 3:
                return read_u64(rr, p, rc.tx_index);
            case 4: {
                uint64_t status = 0;
                if (!read_u64(rr, p, status)) return false;
                if (status > 1) return rr.fail(p, "not 0x0 or 0x1");
                rc.status = status == 1;
                return true;
            }
            case 5:
                return read_u64(rr, p, rc.gas_used);
            case 6:
                return read_u256(rr, p, rc.effective_gas_price);
            case 7:
                if (rr.peek() == 'n') return rr.literal("null");
                return read_address(rr, p, rc.contract_address.emplace());
            default:
                return read_logs(rr, p, rc.logs);
        }
    });
}

constexpr std::array<FieldSpec, 4> kFeeHistoryFields = {{
    {"oldestBlock", true},
    {"baseFeePerGas", true},
    {"gasUsedRatio", true},
    {"reward", false},
}};

bool read_fee_history(Reader& r, const Path& path, FeeHistory& fh) {
    return read_object(r, path, kFeeHistoryFields, [&](std::size_t i, Reader& rr, const Path& p) {
        switch (i) {
            case 0:
                return read_u64(rr, p, fh.oldest_block);
            case 1:
                return read_list(rr, p, fh.base_fee_per_gas, read_u256);
            case 2:
                return read_list(rr, p, fh.gas_used_ratio, read_double);
            default:
                return read_list(rr, p, fh.reward,
                                 [](Reader& r2, const Path& p2, std::vector<u256>& row) {
                                     return read_list(r2, p2, row, read_u256);
                                 });
        }
    });
}

// null → nullopt, else T read by `read`.
template <class T, class F>
bool read_nullable(Reader& r, const Path& path, std::optional<T>& out, F&& read) {
    if (r.peek() == 'n') return r.literal("null");
    return read(r, path, out.emplace());
}

// Runs `read` over the whole text: the value must be all there is.
template <class T, class F>
Result<T, Failure> decode_with(std::string_view json, std::string_view path_name, F&& read) {
    Reader r(json);
    const Path path{nullptr, path_name, 0};
    T value{};
    if (!read(r, path, value) || !r.finish()) return unexpected(r.failure());
    return value;
}

}  // namespace

std::optional<uint64_t> parse_quantity(std::string_view text) noexcept {
    if (!is_quantity(text, 16)) return std::nullopt;
    uint64_t v = 0;
    for (char c : text.substr(2)) v = v << 4 | static_cast<uint64_t>(hex_nibble(c));
    return v;
}

template <class T>
Result<T, Failure> decode(std::string_view json, std::string_view path) {
    if constexpr (std::is_same_v<T, uint64_t>)
        return decode_with<T>(json, path, read_u64);
    else if constexpr (std::is_same_v<T, u256>)
        return decode_with<T>(json, path, read_u256);
    else if constexpr (std::is_same_v<T, Bytes>)
        return decode_with<T>(json, path, read_data);
    else if constexpr (std::is_same_v<T, Hash32>)
        return decode_with<T>(json, path, read_hash);
    else if constexpr (std::is_same_v<T, BlockHeader>)
        return decode_with<T>(json, path, read_header);
    else if constexpr (std::is_same_v<T, Log>)
        return decode_with<T>(json, path, read_log);
    else if constexpr (std::is_same_v<T, std::vector<Log>>)
        return decode_with<T>(json, path, read_logs);
    else if constexpr (std::is_same_v<T, FeeHistory>)
        return decode_with<T>(json, path, read_fee_history);
    else if constexpr (std::is_same_v<T, std::optional<BlockHeader>>)
        return decode_with<T>(json, path, [](Reader& r, const Path& p, T& out) {
            return read_nullable(r, p, out, read_header);
        });
    else if constexpr (std::is_same_v<T, std::optional<Receipt>>)
        return decode_with<T>(json, path, [](Reader& r, const Path& p, T& out) {
            return read_nullable(r, p, out, read_receipt);
        });
    else
        static_assert(sizeof(T) == 0, "no decoder for this type");
}

template Result<uint64_t, Failure> decode<uint64_t>(std::string_view, std::string_view);
template Result<u256, Failure> decode<u256>(std::string_view, std::string_view);
template Result<Bytes, Failure> decode<Bytes>(std::string_view, std::string_view);
template Result<Hash32, Failure> decode<Hash32>(std::string_view, std::string_view);
template Result<BlockHeader, Failure> decode<BlockHeader>(std::string_view, std::string_view);
template Result<std::optional<BlockHeader>, Failure> decode<std::optional<BlockHeader>>(
    std::string_view, std::string_view);
template Result<Log, Failure> decode<Log>(std::string_view, std::string_view);
template Result<std::vector<Log>, Failure> decode<std::vector<Log>>(std::string_view,
                                                                    std::string_view);
template Result<std::optional<Receipt>, Failure> decode<std::optional<Receipt>>(std::string_view,
                                                                                std::string_view);
template Result<FeeHistory, Failure> decode<FeeHistory>(std::string_view, std::string_view);

// ---------------------------------------------------------------------------------------
// Envelopes

namespace {

bool read_integer(Reader& r, const Path& path, int64_t& out) {
    const char c = r.peek();
    if (c != '-' && (c < '0' || c > '9')) return r.fail(path, "not an integer");
    std::string_view t;
    if (!r.number(t)) return false;
    const auto res = std::from_chars(t.data(), t.data() + t.size(), out);
    return (res.ec == std::errc() && res.ptr == t.data() + t.size()) ||
           r.fail(path, "not an integer");
}

bool read_text(Reader& r, const Path& path, std::string& out) {
    if (r.peek() != '"') return r.fail(path, "not a string");
    std::string_view raw;
    bool escaped;
    if (!r.string(raw, escaped)) return false;
    out = escaped ? Reader::unescape(raw) : std::string(raw);
    return true;
}

constexpr std::array<FieldSpec, 3> kErrorFields = {{
    {"code", true},
    {"message", true},
    {"data", false},
}};

bool read_error(Reader& r, const Path& path, RpcError& e) {
    return read_object(r, path, kErrorFields, [&](std::size_t i, Reader& rr, const Path& p) {
        switch (i) {
            case 0:
                return read_integer(rr, p, e.code);
            case 1:
                return read_text(rr, p, e.message);
            default: {
                std::string_view raw;
                if (!rr.skip(raw, 2)) return false;
                e.data = std::string(raw);
                return true;
            }
        }
    });
}

constexpr std::array<FieldSpec, 6> kEnvelopeFields = {{
    {"jsonrpc", true},
    {"id", false},
    {"result", false},
    {"error", false},
    {"method", false},
    {"params", false},
}};

bool read_envelope(Reader& r, const Path& path, Envelope& env) {
    const bool ok =
        read_object(r, path, kEnvelopeFields, [&](std::size_t i, Reader& rr, const Path& p) {
            switch (i) {
                case 0: {
                    std::string_view v;
                    if (!plain_string(rr, p, v, "not \"2.0\"")) return false;
                    return v == "2.0" || rr.fail(p, "not \"2.0\"");
                }
                case 1: {
                    if (rr.peek() == 'n') return rr.literal("null");
                    int64_t id = 0;
                    if (!read_integer(rr, p, id)) return false;
                    if (id < 0) return rr.fail(p, "not an integer");
                    env.id = static_cast<uint64_t>(id);
                    return true;
                }
                case 2:
                    return rr.skip(env.result, 1);
                case 3:
                    return read_error(rr, p, env.error.emplace());
                case 4:
                    return plain_string(rr, p, env.method, "not a string");
                default:
                    return rr.skip(env.params, 1);
            }
        });
    if (!ok) return false;
    if (!env.result.empty() && env.error) return r.fail(path, "result and error both present");
    return true;
}

Failure rpc_failure(RpcError error) {
    Failure f{Errc::rpc_error, {}, std::move(error), 0, std::nullopt, {}};
    return f;
}

// The outcome of one response object (at `path`) for the request it answers.
Result<std::string_view, Failure> outcome(const Envelope& env, const Path& path) {
    if (env.error) return unexpected(rpc_failure(*env.error));
    if (env.result.empty()) return unexpected(malformed(path.member("result").str() + ": missing"));
    return env.result;
}

}  // namespace

Result<Envelope, Failure> read_message(std::string_view text) {
    Reader r(text);
    Envelope env;
    const Path root{nullptr, "response", 0};
    if (r.peek() != '{') {
        std::string_view ignored;
        if (!r.skip(ignored) || !r.finish()) return unexpected(r.failure());
        return unexpected(malformed("response: not an object"));
    }
    if (!read_envelope(r, root, env) || !r.finish()) return unexpected(r.failure());
    return env;
}

Result<std::string_view, Failure> read_response(std::string_view body, uint64_t id) {
    auto env = read_message(body);
    if (!env) return unexpected(env.error());
    // A node that could not parse the request answers with id null and an error.
    if (env->error && !env->id) return unexpected(rpc_failure(*env->error));
    if (env->id != id) return unexpected(malformed("response.id: expected " + std::to_string(id)));
    return outcome(*env, Path{nullptr, "response", 0});
}

Result<std::vector<Result<std::string_view, Failure>>, Failure> read_batch(std::string_view body,
                                                                           uint64_t first_id,
                                                                           std::size_t count) {
    Reader r(body);
    const Path root{nullptr, "response", 0};
    if (r.peek() == '{') {
        // One object instead of an array: the node refused the batch as a whole.
        Envelope env;
        if (!read_envelope(r, root, env) || !r.finish()) return unexpected(r.failure());
        if (env.error) return unexpected(rpc_failure(*env.error));
        return unexpected(malformed("response: not an array"));
    }
    if (r.peek() != '[') {
        std::string_view ignored;
        if (!r.skip(ignored) || !r.finish()) return unexpected(r.failure());
        return unexpected(malformed("response: not an array"));
    }
    std::vector<std::optional<Result<std::string_view, Failure>>> slots(count);
    const bool ok = r.array([&](std::size_t i) {
        const Path p = root.element(i);
        Envelope env;
        if (!read_envelope(r, p, env)) return false;
        // Elements with id null (a request the node could not read) match no request;
        // the request they stand for is then reported missing.
        if (!env.id) return true;
        if (*env.id < first_id || *env.id - first_id >= count)
            return r.fail(p.member("id"), "not requested");
        auto& slot = slots[*env.id - first_id];
        if (slot) return r.fail(p.member("id"), "duplicate");
        slot = outcome(env, p);
        return true;
    });
    if (!ok || !r.finish()) return unexpected(r.failure());
    std::vector<Result<std::string_view, Failure>> out;
    out.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        if (slots[i])
            out.push_back(std::move(*slots[i]));
        else
            out.push_back(unexpected(
                malformed("id " + std::to_string(first_id + i) + ": missing from batch response")));
    }
    return out;
}

std::optional<Bytes> revert_data(const RpcError& error) {
    if (error.data.empty()) return std::nullopt;
    auto bytes = decode_with<Bytes>(error.data, "data", read_data);
    if (!bytes) return std::nullopt;
    return std::move(*bytes);
}

}  // namespace vigil::rpc
