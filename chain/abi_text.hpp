#pragma once
// ABI values as text, in the forms foundry's cast reads (`cast abi-encode SIG ARGS`)
// and prints (`cast abi-decode SIG HEX`), so operators can paste between the two.
//
// Deliberate differences from cast 1.7.1, each stricter than cast:
// - intN accepts [-2^(N-1), 2^(N-1)); cast also takes -2^(N-1)-1 down to -(2^N-1) for
//   N < 256 and encodes a word Solidity's decoder rejects.
// - A mixed-case address must carry a valid EIP-55 checksum (a typo is caught); cast
//   accepts any case.
#include <string>
#include <string_view>

#include "chain/abi_codec.hpp"

namespace vigil::abi {

/// Parses one argument of `type` as cast does:
/// - uintN/intN: decimal, or 0x/0b/0o with hex/binary/octal digits; intN takes a sign;
///   a fraction and exponent scaled by a unit: `1.5 gwei`, `2e18`, `1e-3 ether`
///   (wei, gwei, nano, nanoether, ether); the value must fit N bits;
/// - bool: `true` or `false`;
/// - address: 40 hex digits, "0x" optional; bytesN: exactly 2N digits; bytes: an even
///   number of digits, "0x" required when there are none;
/// - string: the text itself with trailing white space trimmed, or a "..." / '...'
///   quoted string (no escapes); inside a list, an unquoted string ends at ',' or the
///   list's closing bracket;
/// - T[] / T[k]: `[a, b]` (a trailing comma is allowed); tuples: `(a, b)`.
/// Failure offsets are character offsets into `text`.
[[nodiscard]] Result<AbiValue, AbiFailure> parse_value(const AbiType& type, std::string_view text);

/// Appends `value` as cast prints it: integers in decimal with a `[1.234e9]` hint from
/// 10000 up, addresses EIP-55 checksummed, bytes and bytesN as 0x hex, strings quoted
/// with Rust's escapes (invalid UTF-8 shown as U+FFFD), `[a, b]` arrays, `(a, b)` tuples.
void append_value(std::string& out, const AbiValue& value);
/// append_value into a new string: one line of `cast abi-decode` output.
std::string format_value(const AbiValue& value);

/// One line for logs and the CLI: `Error("reason")`, `Panic(0x11: arithmetic overflow
/// or underflow)`, `InsufficientBalance(1, 2)`, `unknown error selector 0x12345678`,
/// `empty revert data`.
std::string to_string(const Revert& revert);

}  // namespace vigil::abi
