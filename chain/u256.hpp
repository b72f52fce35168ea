#pragma once
// 256-bit integers.
//
// Choice: Boost.Multiprecision's fixed-width cpp_int (header-only, in Debian's Boost
// 1.74, exact and well tested). uint256_t is "unchecked": arithmetic wraps mod 2^256
// exactly as the EVM does, and overflow of *input* is caught at the parse/decode
// boundary instead. intx (faster) is not packaged in Debian and writing our own
// division is a risk we do not need: hot loops that need more speed (position health)
// work in 128-bit native integers where the protocol bounds values (Morpho uses uint128).
// int256_t is sign-magnitude with a 256-bit magnitude, wider than Solidity's int256:
// code that accepts a signed value checks [-2^255, 2^255) itself (see fits_int256).
#include <boost/multiprecision/cpp_int.hpp>
#include <string>
#include <string_view>

#include "chain/bytes.hpp"

namespace vigil {

using u256 = boost::multiprecision::uint256_t;
using i256 = boost::multiprecision::int256_t;

/// Decimal digits, or hex with "0x". Rejects empty input, signs, whitespace, and
/// values >= 2^256 (ParseErrc::overflow, offset of the digit that overflowed).
[[nodiscard]] Result<u256, ParseError> parse_u256(std::string_view text);
/// Like parse_u256 with an optional leading '-'; range is Solidity's int256.
[[nodiscard]] Result<i256, ParseError> parse_i256(std::string_view text);

/// True when v is in [-2^(bits-1), 2^(bits-1)).
bool fits_int(const i256& v, unsigned bits) noexcept;

/// Big-endian 32-byte word.
u256 load_be(std::span<const uint8_t, 32> in) noexcept;
void store_be(const u256& v, std::span<uint8_t, 32> out) noexcept;
/// Big-endian without leading zero bytes (empty for zero), as RLP wants integers.
Bytes to_be_trimmed(const u256& v);

/// Two's-complement 256-bit word of a signed value (which must fit int256).
u256 to_twos_complement(const i256& v) noexcept;
i256 from_twos_complement(const u256& v) noexcept;

/// "0x1a": JSON-RPC quantity (no leading zeros, "0x0" for zero).
std::string to_quantity(const u256& v);
inline std::string to_string(const u256& v) {
    return v.str();
}

}  // namespace vigil
