#pragma once
// Byte strings, hex text and the fixed-size values of Ethereum (Address, Hash32).
#include <algorithm>
#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "chain/result.hpp"

namespace vigil {

using Bytes = std::vector<uint8_t>;
using BytesView = std::span<const uint8_t>;

/// What went wrong while reading a value from text (hex, numbers, addresses).
enum class ParseErrc {
    empty,           ///< no digits at all
    missing_prefix,  ///< "0x" required but absent
    odd_length,      ///< hex byte string with an odd number of digits
    bad_digit,       ///< a character that is not a digit of the base
    wrong_length,    ///< a fixed-size value (address, hash) with the wrong byte count
    bad_checksum,    ///< mixed-case address whose EIP-55 checksum does not match
    overflow,        ///< number does not fit the target type
};
std::string_view to_string(ParseErrc e) noexcept;

struct ParseError {
    ParseErrc kind;
    std::size_t offset = 0;  ///< position in the input text where the rule failed
    bool operator==(const ParseError&) const = default;
    /// "bad_digit at offset 5": stable words that tests and users can match.
    std::string to_string() const;
};

enum class HexPrefix { required, optional };

/// Decodes hex text to bytes; "0x"/"0X" prefix per `prefix`; both cases of a-f.
[[nodiscard]] Result<Bytes, ParseError> parse_hex(std::string_view text,
                                                  HexPrefix prefix = HexPrefix::required);
/// Lower-case hex with a "0x" prefix.
std::string to_hex(BytesView bytes);
/// Appends lower-case hex without prefix.
void append_hex(std::string& out, BytesView bytes);

/// N bytes with value semantics: comparable, hashable, no implicit conversions.
template <std::size_t N>
struct FixedBytes {
    static constexpr std::size_t size = N;
    std::array<uint8_t, N> bytes{};

    constexpr FixedBytes() = default;
    explicit constexpr FixedBytes(const std::array<uint8_t, N>& b) : bytes(b) {}
    /// From a span whose length the caller knows to be N.
    static FixedBytes from_span(std::span<const uint8_t, N> s) {
        FixedBytes r;
        std::copy(s.begin(), s.end(), r.bytes.begin());
        return r;
    }
    constexpr uint8_t* data() noexcept { return bytes.data(); }
    constexpr const uint8_t* data() const noexcept { return bytes.data(); }
    constexpr std::span<const uint8_t, N> view() const noexcept { return bytes; }
    constexpr operator BytesView() const noexcept { return bytes; }
    constexpr bool is_zero() const noexcept {
        return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
    }
    constexpr auto operator<=>(const FixedBytes&) const = default;
    constexpr bool operator==(const FixedBytes&) const = default;
};

using Hash32 = FixedBytes<32>;
using Address = FixedBytes<20>;

/// Exactly 32 bytes of hex, "0x" required.
[[nodiscard]] Result<Hash32, ParseError> parse_hash32(std::string_view text);
/// 20 bytes of hex, "0x" required. All-lower or all-upper digits are accepted as is;
/// mixed case must be the EIP-55 checksum (a typo in a checksummed address is caught).
[[nodiscard]] Result<Address, ParseError> parse_address(std::string_view text);
/// EIP-55 mixed-case form with "0x".
std::string to_checksum(const Address& a);
inline std::string to_hex(const Hash32& h) {
    return to_hex(BytesView(h.bytes));
}

}  // namespace vigil

template <std::size_t N>
struct std::hash<vigil::FixedBytes<N>> {
    std::size_t operator()(const vigil::FixedBytes<N>& v) const noexcept {
        // Addresses and hashes are already uniformly distributed: take 8 bytes.
        std::size_t h = 0;
        std::memcpy(&h, v.bytes.data(), std::min(sizeof h, N));
        return h;
    }
};
