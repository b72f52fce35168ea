#pragma once
// ABI encoding and strict decoding: calldata, return data, event logs, revert data.
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "chain/abi_types.hpp"
#include "chain/abi_value.hpp"

namespace vigil::abi {

/// Appends the encoding of `args` as the parameter tuple `params` (kind tuple) to
/// `out`: heads, then tails, offsets relative to the tuple's start. The size is
/// computed first, so `out` grows once. Checks every value against its type (kind,
/// shape, bit width: a u256 of 256 for uint8 is AbiError::number_overflow); on failure
/// `out` is unchanged and the failure's offset is the index of the argument at fault.
[[nodiscard]] Result<void, AbiFailure> encode_params(const AbiType& params,
                                                     std::span<const AbiValue> args, Bytes& out);
[[nodiscard]] Result<Bytes, AbiFailure> encode_params(const AbiType& params,
                                                      std::span<const AbiValue> args);

/// selector || encode_params(fn.inputs, args): the calldata of a call.
[[nodiscard]] Result<Bytes, AbiFailure> encode_call(const Function& fn,
                                                    std::span<const AbiValue> args);

/// Decodes `data` as the parameter tuple `params`. Strict and bounded, since `data`
/// comes from outside:
/// - every read is checked against the data's end before it happens (truncated);
/// - an offset must point past the head it sits in (offset_into_head) and inside the
///   data (offset_out_of_range); a length must fit the data left after it
///   (length_out_of_range): nothing is allocated for claims the data cannot back;
/// - value words must be canonical: no bits above an uintN/address, sign-extended
///   intN, bool 0 or 1, zero bytes after a bytesN (dirty_bits);
/// - nesting is bounded by the type, which parse_type caps at kMaxDepth.
/// Bytes after the last value and the padding after bytes/string contents are not
/// inspected, as Solidity's own decoder does not inspect them either.
/// Failure offsets are byte offsets into `data`.
[[nodiscard]] Result<std::vector<AbiValue>, AbiFailure> decode_params(const AbiType& params,
                                                                      BytesView data);

/// Checks the selector (AbiError::bad_selector) and decodes the arguments of a call;
/// failure offsets count from the start of `calldata`.
[[nodiscard]] Result<std::vector<AbiValue>, AbiFailure> decode_call(const Function& fn,
                                                                    BytesView calldata);

/// Decodes a log of `event`: one value per input, in declaration order. Indexed value
/// types (uintN, intN, address, bool, bytesN) are decoded from their topic with the
/// same checks as data words. Indexed bytes, string, arrays and tuples are stored in
/// the log only as keccak256 of their encoding: they come back as a BytesN of 32, the
/// hash. Checks the topic count (topic_count, offset = number of topics given) and,
/// unless the event is anonymous, topic0 (topic_mismatch). Data failures carry byte
/// offsets into `data`; a dirty indexed word carries the topic's index.
[[nodiscard]] Result<std::vector<AbiValue>, AbiFailure> decode_log(const Event& event,
                                                                   std::span<const Hash32> topics,
                                                                   BytesView data);

enum class RevertKind : uint8_t {
    empty,         ///< no data: `revert()`, `require(cond)` without message, out of gas
    error_string,  ///< Error(string), from `require(cond, "reason")` / `revert("reason")`
    panic,         ///< Panic(uint256), from assert, overflow, division by zero, ...
    custom,        ///< one of the custom errors the caller supplied
    unknown,       ///< a selector none of the above matches
};

struct Revert {
    RevertKind kind = RevertKind::empty;
    Selector selector{};              ///< first 4 bytes, unless kind is empty
    std::string message;              ///< error_string: the reason (raw bytes, maybe not UTF-8)
    u256 panic_code = 0;              ///< panic: the code; see panic_meaning
    const Function* error = nullptr;  ///< custom: the matching element of `errors`
    std::vector<AbiValue> args;       ///< custom: its decoded arguments
};

/// Decodes revert data: Error(string) (0x08c379a0), Panic(uint256) (0x4e487b71), a
/// custom error from `errors` matched by selector, or an unknown selector reported as
/// RevertKind::unknown (not an error: the contract is simply not described). Fails on
/// 1 to 3 bytes of data (truncated) and on malformed arguments, as decode_params does.
/// `errors` must outlive the result (Revert::error points into it).
[[nodiscard]] Result<Revert, AbiFailure> decode_revert(BytesView data,
                                                       std::span<const Function> errors = {});

/// What a Solidity panic code means: 0x01 "assertion failed", 0x11 "arithmetic
/// overflow or underflow", ...; "unknown panic code" for codes Solidity does not use.
std::string_view panic_meaning(const u256& code) noexcept;

}  // namespace vigil::abi
