#include "chain/bytes.hpp"

#include "chain/keccak.hpp"

namespace vigil {

std::string_view to_string(ParseErrc e) noexcept {
    switch (e) {
        case ParseErrc::empty:
            return "empty";
        case ParseErrc::missing_prefix:
            return "missing_prefix";
        case ParseErrc::odd_length:
            return "odd_length";
        case ParseErrc::bad_digit:
            return "bad_digit";
        case ParseErrc::wrong_length:
            return "wrong_length";
        case ParseErrc::bad_checksum:
            return "bad_checksum";
        case ParseErrc::overflow:
            return "overflow";
    }
    return "unknown";
}

std::string ParseError::to_string() const {
    return std::string(vigil::to_string(kind)) + " at offset " + std::to_string(offset);
}

namespace {
constexpr char kDigits[] = "0123456789abcdef";

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool has_prefix(std::string_view t) noexcept {
    return t.size() >= 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X');
}

// Decodes the digits after the prefix into `out` (which has the right size).
Result<void, ParseError> decode_digits(std::string_view digits, std::size_t base_offset,
                                       uint8_t* out) {
    for (std::size_t i = 0; i < digits.size(); i += 2) {
        const int hi = hex_value(digits[i]);
        if (hi < 0) return unexpected(ParseError{ParseErrc::bad_digit, base_offset + i});
        const int lo = hex_value(digits[i + 1]);
        if (lo < 0) return unexpected(ParseError{ParseErrc::bad_digit, base_offset + i + 1});
        out[i / 2] = static_cast<uint8_t>(hi << 4 | lo);
    }
    return {};
}

template <std::size_t N>
Result<FixedBytes<N>, ParseError> parse_fixed(std::string_view text) {
    if (!has_prefix(text)) return unexpected(ParseError{ParseErrc::missing_prefix, 0});
    const auto digits = text.substr(2);
    if (digits.size() != 2 * N) return unexpected(ParseError{ParseErrc::wrong_length, 2});
    FixedBytes<N> r;
    if (auto ok = decode_digits(digits, 2, r.data()); !ok) return unexpected(ok.error());
    return r;
}
}  // namespace

Result<Bytes, ParseError> parse_hex(std::string_view text, HexPrefix prefix) {
    std::size_t start = 0;
    if (has_prefix(text))
        start = 2;
    else if (prefix == HexPrefix::required)
        return unexpected(ParseError{ParseErrc::missing_prefix, 0});
    const auto digits = text.substr(start);
    if (digits.size() % 2 != 0) return unexpected(ParseError{ParseErrc::odd_length, text.size()});
    Bytes out(digits.size() / 2);
    if (auto ok = decode_digits(digits, start, out.data()); !ok) return unexpected(ok.error());
    return out;
}

void append_hex(std::string& out, BytesView bytes) {
    const std::size_t at = out.size();
    out.resize(at + 2 * bytes.size());
    char* p = out.data() + at;
    for (uint8_t b : bytes) {
        *p++ = kDigits[b >> 4];
        *p++ = kDigits[b & 0xf];
    }
}

std::string to_hex(BytesView bytes) {
    std::string out = "0x";
    append_hex(out, bytes);
    return out;
}

Result<Hash32, ParseError> parse_hash32(std::string_view text) {
    return parse_fixed<32>(text);
}

std::string to_checksum(const Address& a) {
    std::string lower;
    append_hex(lower, a.bytes);
    const Hash32 h = keccak256(lower);
    std::string out = "0x";
    for (std::size_t i = 0; i < lower.size(); ++i) {
        const uint8_t nibble = (h.bytes[i / 2] >> (i % 2 == 0 ? 4 : 0)) & 0xf;
        const char c = lower[i];
        out += (c >= 'a' && nibble >= 8) ? static_cast<char>(c - 'a' + 'A') : c;
    }
    return out;
}

Result<Address, ParseError> parse_address(std::string_view text) {
    auto a = parse_fixed<20>(text);
    if (!a) return a;
    const auto digits = text.substr(2);
    const bool has_lower = digits.find_first_of("abcdef") != std::string_view::npos;
    const bool has_upper = digits.find_first_of("ABCDEF") != std::string_view::npos;
    if (has_lower && has_upper) {
        const std::string expected = to_checksum(*a);
        for (std::size_t i = 0; i < digits.size(); ++i)
            if (digits[i] != expected[2 + i])
                return unexpected(ParseError{ParseErrc::bad_checksum, 2 + i});
    }
    return a;
}

}  // namespace vigil
