#include "chain/u256.hpp"

#include <bit>

namespace vigil {
namespace {
using Backend = u256::backend_type;
static_assert(sizeof(boost::multiprecision::limb_type) == 8, "load/store assume 64-bit limbs");

uint64_t load64(const uint8_t* p) noexcept {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

int digit_value(char c, unsigned base) noexcept {
    int v = -1;
    if (c >= '0' && c <= '9')
        v = c - '0';
    else if (base == 16 && c >= 'a' && c <= 'f')
        v = c - 'a' + 10;
    else if (base == 16 && c >= 'A' && c <= 'F')
        v = c - 'A' + 10;
    return v;
}

// Parses unsigned digits at text[start..]; `limit` is the largest allowed value.
Result<u256, ParseError> parse_magnitude(std::string_view text, std::size_t start,
                                         const u256& limit) {
    unsigned base = 10;
    if (text.size() >= start + 2 && text[start] == '0' &&
        (text[start + 1] == 'x' || text[start + 1] == 'X')) {
        base = 16;
        start += 2;
    }
    if (start == text.size()) return unexpected(ParseError{ParseErrc::empty, start});
    u256 v = 0;
    const u256 max_before_mul = limit / base;
    for (std::size_t i = start; i < text.size(); ++i) {
        const int d = digit_value(text[i], base);
        if (d < 0) return unexpected(ParseError{ParseErrc::bad_digit, i});
        if (v > max_before_mul) return unexpected(ParseError{ParseErrc::overflow, i});
        v *= base;
        if (limit - v < static_cast<unsigned>(d))
            return unexpected(ParseError{ParseErrc::overflow, i});
        v += static_cast<unsigned>(d);
    }
    return v;
}

const u256 kMax = ~u256(0);
const u256 kInt256Max = kMax >> 1;  // 2^255 - 1
}  // namespace

Result<u256, ParseError> parse_u256(std::string_view text) {
    return parse_magnitude(text, 0, kMax);
}

Result<i256, ParseError> parse_i256(std::string_view text) {
    const bool negative = !text.empty() && text[0] == '-';
    // -2^255 is allowed, +2^255 is not.
    auto m = parse_magnitude(text, negative ? 1 : 0, negative ? kInt256Max + 1 : kInt256Max);
    if (!m) return unexpected(m.error());
    i256 v = static_cast<i256>(*m);
    return negative ? i256(-v) : v;
}

bool fits_int(const i256& v, unsigned bits) noexcept {
    const i256 half = i256(1) << (bits - 1);
    return v >= -half && v < half;
}

u256 load_be(std::span<const uint8_t, 32> in) noexcept {
    u256 r;
    Backend& b = r.backend();
    b.resize(4, 4);
    auto* limbs = b.limbs();
    for (int i = 0; i < 4; ++i) limbs[i] = load64(in.data() + 8 * (3 - i));
    b.normalize();
    return r;
}

void store_be(const u256& v, std::span<uint8_t, 32> out) noexcept {
    const Backend& b = v.backend();
    const auto* limbs = b.limbs();
    const unsigned n = b.size();
    for (unsigned i = 0; i < 4; ++i) {
        const uint64_t limb = i < n ? __builtin_bswap64(static_cast<uint64_t>(limbs[i])) : 0;
        std::memcpy(out.data() + 8 * (3 - i), &limb, 8);
    }
}

Bytes to_be_trimmed(const u256& v) {
    std::array<uint8_t, 32> word;
    store_be(v, word);
    std::size_t skip = 0;
    while (skip < 32 && word[skip] == 0) ++skip;
    return Bytes(word.begin() + static_cast<std::ptrdiff_t>(skip), word.end());
}

u256 to_twos_complement(const i256& v) noexcept {
    if (v >= 0) return static_cast<u256>(v);
    return ~static_cast<u256>(-v) + 1;  // wraps mod 2^256
}

i256 from_twos_complement(const u256& v) noexcept {
    if (v <= kInt256Max) return static_cast<i256>(v);
    return -static_cast<i256>(~v + 1);  // ~v + 1 is 2^255 at most, fits the magnitude
}

std::string to_quantity(const u256& v) {
    if (v == 0) return "0x0";
    std::array<uint8_t, 32> word;
    store_be(v, word);
    std::string hex;
    append_hex(hex, word);
    return "0x" + hex.substr(hex.find_first_not_of('0'));
}

}  // namespace vigil
