#include "chain/abi_text.hpp"

#include <algorithm>
#include <array>

#include "chain/abi_unicode.hpp"

namespace vigil::abi {
namespace {

const u256 kU256Max = ~u256(0);

// 10^n for n <= 77, the powers that fit 256 bits.
const std::array<u256, 78>& powers_of_ten() {
    static const auto table = [] {
        std::array<u256, 78> t;
        t[0] = 1;
        for (std::size_t i = 1; i < t.size(); ++i) t[i] = t[i - 1] * 10;
        return t;
    }();
    return table;
}

bool checked_mul(u256& a, const u256& b) {
    if (b != 0 && a > kU256Max / b) return false;
    a *= b;
    return true;
}

bool checked_add(u256& a, const u256& b) {
    if (a > kU256Max - b) return false;
    a += b;
    return true;
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
int hex_value(char c) {
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return c - 'A' + 10;
}

// Length of `s` without trailing Unicode White_Space, which is what Rust's
// str::trim_end (behind cast's unquoted strings) removes.
std::size_t trimmed_length(std::string_view s) {
    static constexpr std::string_view kWide[] = {"\xC2\x85",     "\xC2\xA0",     "\xE1\x9A\x80",
                                                 "\xE2\x80\xA8", "\xE2\x80\xA9", "\xE2\x80\xAF",
                                                 "\xE2\x81\x9F", "\xE3\x80\x80"};
    for (;;) {
        const std::string_view rest = s;
        if (!s.empty() && (s.back() == ' ' || (s.back() >= '\t' && s.back() <= '\r'))) {
            s.remove_suffix(1);
        } else if (s.size() >= 3 && s.substr(s.size() - 3, 2) == "\xE2\x80" &&
                   static_cast<uint8_t>(s.back()) >= 0x80 &&
                   static_cast<uint8_t>(s.back()) <= 0x8A) {
            s.remove_suffix(3);  // U+2000..U+200A
        } else {
            for (const auto w : kWide)
                if (s.ends_with(w)) {
                    s.remove_suffix(w.size());
                    break;
                }
        }
        if (s.size() == rest.size()) return s.size();
    }
}

// Follows alloy-dyn-abi's `coerce_str` grammar (the parser behind cast abi-encode),
// including where it allows white space: around list items but not before a ','
// that follows a bool, hex or quoted string.
class ValueParser {
public:
    explicit ValueParser(std::string_view text) : s_(text) {}

    Result<AbiValue, AbiFailure> whole(const AbiType& type) {
        auto v = value(type, 0);
        if (!v) return v;
        if (pos_ != s_.size()) return unexpected(fail(AbiError::trailing_text));
        return v;
    }

private:
    std::string_view s_;
    std::size_t pos_ = 0;
    char list_end_ = '\0';  // closing bracket of the innermost list, '\0' at top level

    char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
    AbiFailure fail(AbiError e) const { return AbiFailure{e, pos_}; }
    AbiFailure fail_at(AbiError e, std::size_t at) const { return AbiFailure{e, at}; }
    void skip_space() {
        while (peek() == ' ' || peek() == '\t') ++pos_;
    }

    Result<AbiValue, AbiFailure> value(const AbiType& t, unsigned depth) {
        if (depth > kMaxDepth) return unexpected(fail(AbiError::too_deep));
        switch (t.kind) {
            case AbiKind::boolean:
                return boolean();
            case AbiKind::uint: {
                auto v = number(t.size);
                if (!v) return unexpected(v.error());
                return AbiValue(*v);
            }
            case AbiKind::sint:
                return signed_number(t.size);
            case AbiKind::address:
                return address();
            case AbiKind::fixed_bytes:
                return fixed_bytes(t.size);
            case AbiKind::bytes: {
                auto h = hex_digits();
                if (!h) return unexpected(h.error());
                return AbiValue(std::move(*h));
            }
            case AbiKind::string:
                return string();
            case AbiKind::array:
            case AbiKind::fixed_array:
                return array(t, depth);
            case AbiKind::tuple:
                return tuple(t, depth);
        }
        return unexpected(fail(AbiError::value_mismatch));
    }

    Result<AbiValue, AbiFailure> boolean() {
        const std::size_t at = pos_;
        while (is_alpha(peek())) ++pos_;
        const auto word = s_.substr(at, pos_ - at);
        if (word == "true") return AbiValue(true);
        if (word == "false") return AbiValue(false);
        return unexpected(fail_at(AbiError::bad_bool, at));
    }

    // {literal}[.digits][e[+-]digits][ ]*[unit], the value checked against `bits`.
    Result<u256, AbiFailure> number(unsigned bits) {
        const std::size_t at = pos_;
        unsigned base = 10;
        if (peek() == '0' && pos_ + 1 < s_.size()) {
            const char p = s_[pos_ + 1];
            base = (p == 'x' || p == 'X')   ? 16
                   : (p == 'b' || p == 'B') ? 2
                   : (p == 'o' || p == 'O') ? 8
                                            : 10;
            if (base != 10) pos_ += 2;
        }
        // Like alloy, read every hex digit after a prefix, then reject the ones the
        // base does not have: `0b12` is a bad digit, not `0b1` followed by junk.
        const std::size_t digits_at = pos_;
        while (base == 10 ? is_digit(peek()) : is_hex(peek())) ++pos_;
        if (pos_ == digits_at) return unexpected(fail(AbiError::bad_number));
        u256 value = 0;
        for (std::size_t i = digits_at; i < pos_; ++i) {
            const int d = hex_value(s_[i]);
            if (d >= static_cast<int>(base)) return unexpected(fail_at(AbiError::bad_number, i));
            if (!checked_mul(value, base) || !checked_add(value, static_cast<unsigned>(d)))
                return unexpected(fail_at(AbiError::number_overflow, at));
        }

        std::string_view fraction;
        if (peek() == '.') {
            const std::size_t f = ++pos_;
            while (is_digit(peek())) ++pos_;
            if (pos_ == f) return unexpected(fail(AbiError::bad_number));
            fraction = s_.substr(f, pos_ - f);
        }
        long exponent = 0;
        if (peek() == 'e' || peek() == 'E') {
            // Only a complete exponent counts; otherwise the 'e' is left for the unit
            // (where it fails), as alloy's optional parser backtracks. The value
            // saturates: any exponent beyond 10^6 fails the range checks below anyway.
            std::size_t p = pos_ + 1;
            const bool negative = p < s_.size() && s_[p] == '-';
            if (p < s_.size() && (s_[p] == '-' || s_[p] == '+')) ++p;
            const std::size_t e_digits = p;
            for (; p < s_.size() && is_digit(s_[p]); ++p)
                exponent = std::min(exponent * 10 + (s_[p] - '0'), 1'000'000L);
            if (p > e_digits) {
                pos_ = p;
                if (negative) exponent = -exponent;
            } else {
                exponent = 0;
            }
        }
        skip_space();
        const std::size_t unit_at = pos_;
        while (is_alpha(peek())) ++pos_;
        const auto unit = s_.substr(unit_at, pos_ - unit_at);
        long scale = 0;
        if (unit == "ether")
            scale = 18;
        else if (unit == "gwei" || unit == "nano" || unit == "nanoether")
            scale = 9;
        else if (!unit.empty() && unit != "wei")
            return unexpected(fail_at(AbiError::bad_unit, unit_at));

        scale += exponent;
        if (scale < 0) return unexpected(fail_at(AbiError::bad_fraction, at));
        if (scale >= static_cast<long>(powers_of_ten().size()))
            return unexpected(fail_at(AbiError::number_overflow, at));
        if (!fraction.empty()) {
            // The fraction's digits must be absorbed by the scale: `1.5 gwei` is whole
            // wei, `1.5` (wei) and `1.0` (a decimal with no scale at all) are not.
            if (fraction.size() > static_cast<std::size_t>(scale))
                return unexpected(fail_at(AbiError::bad_fraction, at));
            u256 f = 0;
            for (char c : fraction) f = f * 10 + static_cast<unsigned>(c - '0');
            scale -= static_cast<long>(fraction.size());
            if (!checked_mul(value, powers_of_ten()[fraction.size()]) || !checked_add(value, f))
                return unexpected(fail_at(AbiError::number_overflow, at));
        }
        if (!checked_mul(value, powers_of_ten()[static_cast<std::size_t>(scale)]))
            return unexpected(fail_at(AbiError::number_overflow, at));
        if (bits < 256 && (value >> bits) != 0)
            return unexpected(fail_at(AbiError::number_overflow, at));
        return value;
    }

    Result<AbiValue, AbiFailure> signed_number(unsigned bits) {
        const std::size_t at = pos_;
        const bool negative = peek() == '-';
        if (peek() == '-' || peek() == '+') ++pos_;
        auto magnitude = number(bits);
        if (!magnitude) return unexpected(magnitude.error());
        const u256 half = u256(1) << (bits - 1);
        if (negative ? *magnitude > half : *magnitude >= half)
            return unexpected(fail_at(AbiError::number_overflow, at));
        const i256 v = static_cast<i256>(*magnitude);
        return AbiValue(negative ? i256(-v) : v);
    }

    // (0x)?[0-9a-fA-F]*, with the digits decoded; "0x" is needed for zero digits.
    Result<Bytes, AbiFailure> hex_digits() {
        const std::size_t at = pos_;
        if (s_.substr(pos_, 2) == "0x") pos_ += 2;
        const std::size_t digits_at = pos_;
        while (is_hex(peek())) ++pos_;
        if (pos_ == at) return unexpected(fail(AbiError::bad_hex));
        // A letter or digit that stops the run is a bad digit, not trailing text.
        if (is_alpha(peek()) || is_digit(peek())) return unexpected(fail(AbiError::bad_hex));
        const auto digits = s_.substr(digits_at, pos_ - digits_at);
        if (digits.size() % 2 != 0) return unexpected(fail_at(AbiError::bad_hex, at));
        Bytes out(digits.size() / 2);
        for (std::size_t i = 0; i < out.size(); ++i)
            out[i] =
                static_cast<uint8_t>(hex_value(digits[2 * i]) << 4 | hex_value(digits[2 * i + 1]));
        return out;
    }

    Result<AbiValue, AbiFailure> address() {
        const std::size_t at = pos_;
        auto b = hex_digits();
        if (!b) return unexpected(b.error());
        if (b->size() != 20) return unexpected(fail_at(AbiError::wrong_length, at));
        const auto digits = s_.substr(pos_ - 40, 40);
        auto a = parse_address("0x" + std::string(digits));
        if (!a)
            return unexpected(fail_at(AbiError::bad_checksum, pos_ - 40 + (a.error().offset - 2)));
        return AbiValue(*a);
    }

    Result<AbiValue, AbiFailure> fixed_bytes(unsigned n) {
        const std::size_t at = pos_;
        auto b = hex_digits();
        if (!b) return unexpected(b.error());
        if (b->size() != n) return unexpected(fail_at(AbiError::wrong_length, at));
        BytesN out;
        std::copy(b->begin(), b->end(), out.bytes.begin());
        out.size = static_cast<uint8_t>(n);
        return AbiValue(out);
    }

    Result<AbiValue, AbiFailure> string() {
        if (pos_ == s_.size()) return AbiValue(std::string());
        const char quote = peek();
        if (quote == '"' || quote == '\'') {
            const std::size_t open = pos_++;
            const std::size_t close = s_.find(quote, pos_);
            if (close == std::string_view::npos)
                return unexpected(fail_at(AbiError::unterminated_string, open));
            std::string out(s_.substr(pos_, close - pos_));
            pos_ = close + 1;
            return AbiValue(std::move(out));
        }
        std::string_view text;
        if (list_end_ != '\0') {
            const std::size_t end = s_.find_first_of(std::string{',', list_end_}, pos_);
            text = s_.substr(pos_, (end == std::string_view::npos ? s_.size() : end) - pos_);
            if (text.empty()) return unexpected(fail(AbiError::expected_value));
        } else {
            text = s_.substr(pos_);
        }
        pos_ += text.size();
        return AbiValue(std::string(text.substr(0, trimmed_length(text))));
    }

    // '[' [item {',' item}] [','] ']'
    Result<AbiValue, AbiFailure> array(const AbiType& t, unsigned depth) {
        const std::size_t open = pos_;
        if (peek() != '[') return unexpected(fail(AbiError::expected_list));
        ++pos_;
        skip_space();
        const char outer = std::exchange(list_end_, ']');
        AbiArray out;
        for (;;) {
            if (peek() == ']') break;
            auto item = value(t.components[0], depth + 1);
            if (!item) return unexpected(item.error());
            out.items.push_back(std::move(*item));
            if (peek() == ',') {
                ++pos_;
                skip_space();
                continue;
            }
            skip_space();
            if (peek() != ']') return unexpected(fail(AbiError::unclosed_list));
        }
        ++pos_;
        list_end_ = outer;
        if (t.kind == AbiKind::fixed_array && out.items.size() != t.size)
            return unexpected(fail_at(AbiError::array_length, open));
        return AbiValue(std::move(out));
    }

    // [ ]* '(' item {',' item} ')', white space allowed around items, no trailing comma.
    Result<AbiValue, AbiFailure> tuple(const AbiType& t, unsigned depth) {
        skip_space();
        if (peek() != '(') return unexpected(fail(AbiError::expected_list));
        ++pos_;
        const char outer = std::exchange(list_end_, ')');
        AbiTuple out;
        for (std::size_t i = 0; i < t.components.size(); ++i) {
            if (i > 0) {
                skip_space();
                if (peek() != ',') return unexpected(fail(AbiError::unclosed_list));
                ++pos_;
            }
            skip_space();
            auto item = value(t.components[i], depth + 1);
            if (!item) return unexpected(item.error());
            out.items.push_back(std::move(*item));
        }
        skip_space();
        if (peek() != ')') return unexpected(fail(AbiError::unclosed_list));
        ++pos_;
        list_end_ = outer;
        return AbiValue(std::move(out));
    }
};

// ---- display ----------------------------------------------------------------------

// "1.234e9": four significant digits, trailing zeros dropped (foundry's
// format_uint_exp), for magnitudes from 10000 up.
void append_magnitude(std::string& out, const u256& magnitude, bool negative) {
    const std::string digits = magnitude.str();
    if (negative) out += '-';
    out += digits;
    if (magnitude < 10000) return;
    std::string mantissa = digits.substr(0, 4);
    while (mantissa.size() > 1 && mantissa.back() == '0') mantissa.pop_back();
    out += " [";
    if (negative) out += '-';
    out += mantissa[0];
    if (mantissa.size() > 1) {
        out += '.';
        out.append(mantissa, 1);
    }
    out += 'e';
    out += std::to_string(digits.size() - 1);
    out += ']';
}

void append_escaped_code_point(std::string& out, char32_t cp) {
    static constexpr char kHex[] = "0123456789abcdef";
    out += "\\u{";
    int shift = 20;
    while (shift > 0 && ((cp >> shift) & 0xf) == 0) shift -= 4;
    for (; shift >= 0; shift -= 4) out += kHex[(cp >> shift) & 0xf];
    out += '}';
}

// Length of the valid UTF-8 sequence at s[i..], or of its longest valid prefix
// negated (a maximal invalid subpart, which from_utf8_lossy turns into one U+FFFD).
// `cp` receives the code point when valid.
int utf8_sequence(std::string_view s, std::size_t i, char32_t& cp) {
    const auto b = [&](std::size_t k) { return static_cast<uint8_t>(s[i + k]); };
    const uint8_t lead = b(0);
    int width;
    uint8_t lo = 0x80, hi = 0xbf;  // valid range of the second byte
    if (lead >= 0xc2 && lead <= 0xdf)
        width = 2;
    else if (lead >= 0xe0 && lead <= 0xef) {
        width = 3;
        if (lead == 0xe0) lo = 0xa0;
        if (lead == 0xed) hi = 0x9f;  // no surrogates
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        width = 4;
        if (lead == 0xf0) lo = 0x90;
        if (lead == 0xf4) hi = 0x8f;
    } else {
        return -1;
    }
    cp = lead & (0xff >> (width + 1));
    for (int k = 1; k < width; ++k) {
        if (i + static_cast<std::size_t>(k) >= s.size()) return -k;
        const uint8_t c = b(static_cast<std::size_t>(k));
        if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xbf)) return -k;
        cp = cp << 6 | (c & 0x3f);
    }
    return width;
}

// Rust's `{:?}` of String::from_utf8_lossy(bytes), which is how cast shows strings.
void append_debug_string(std::string& out, std::string_view s) {
    out += '"';
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<uint8_t>(s[i]);
        if (c < 0x80) {
            switch (c) {
                case '\0':
                    out += "\\0";
                    break;
                case '\t':
                    out += "\\t";
                    break;
                case '\r':
                    out += "\\r";
                    break;
                case '\n':
                    out += "\\n";
                    break;
                case '\\':
                    out += "\\\\";
                    break;
                case '"':
                    out += "\\\"";
                    break;
                default:
                    if (c < 0x20 || c == 0x7f)
                        append_escaped_code_point(out, c);
                    else
                        out += static_cast<char>(c);
            }
            ++i;
            continue;
        }
        char32_t cp = 0;
        const int n = utf8_sequence(s, i, cp);
        if (n < 0) {
            out += "\xEF\xBF\xBD";  // U+FFFD
            i += static_cast<std::size_t>(-n);
        } else {
            if (detail::debug_escapes(cp))
                append_escaped_code_point(out, cp);
            else
                out.append(s.substr(i, static_cast<std::size_t>(n)));
            i += static_cast<std::size_t>(n);
        }
    }
    out += '"';
}

template <class Items>
void append_list(std::string& out, const Items& items, char open, char close) {
    out += open;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += ", ";
        append_value(out, items[i]);
    }
    out += close;
}

struct Appender {
    std::string& out;
    void operator()(const u256& x) const { append_magnitude(out, x, false); }
    void operator()(const i256& x) const {
        append_magnitude(out, static_cast<u256>(x < 0 ? i256(-x) : x), x < 0);
    }
    void operator()(const Address& a) const { out += to_checksum(a); }
    void operator()(bool b) const { out += b ? "true" : "false"; }
    void operator()(const BytesN& b) const { out += to_hex(b.view()); }
    void operator()(const Bytes& b) const { out += to_hex(b); }
    void operator()(const std::string& s) const { append_debug_string(out, s); }
    void operator()(const AbiArray& a) const { append_list(out, a.items, '[', ']'); }
    void operator()(const AbiTuple& t) const { append_list(out, t.items, '(', ')'); }
};

}  // namespace

Result<AbiValue, AbiFailure> parse_value(const AbiType& type, std::string_view text) {
    return ValueParser(text).whole(type);
}

void append_value(std::string& out, const AbiValue& value) {
    std::visit(Appender{out}, value.v);
}

std::string format_value(const AbiValue& value) {
    std::string out;
    append_value(out, value);
    return out;
}

std::string to_string(const Revert& revert) {
    std::string out;
    switch (revert.kind) {
        case RevertKind::empty:
            return "empty revert data";
        case RevertKind::error_string:
            out = "Error(";
            append_debug_string(out, revert.message);
            out += ')';
            return out;
        case RevertKind::panic:
            out = "Panic(";
            out += to_quantity(revert.panic_code);
            out += ": ";
            out += panic_meaning(revert.panic_code);
            out += ')';
            return out;
        case RevertKind::custom:
            out = revert.error->name;
            append_list(out, revert.args, '(', ')');
            return out;
        case RevertKind::unknown:
            out = "unknown error selector ";
            out += to_hex(BytesView(revert.selector));
            return out;
    }
    return out;
}

}  // namespace vigil::abi
