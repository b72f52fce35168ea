#pragma once
// RLP (Ethereum Yellow Paper, appendix B): encoding into a caller's buffer, and a strict,
// bounded decoder that hands out views into its input.
//
// Encoding appends to a Bytes buffer. Callers that know their fields compute the exact size
// first (the *_size functions) and reserve once, so encoding a transaction allocates once.
//
// Decoding admits exactly one encoding per value: non-canonical headers and integers are
// errors, so that a decoded and re-encoded transaction hashes to what the node hashed.
// Nothing is allocated from a length field: every length is compared with the bytes that
// are actually there before it is used, and the result is a view into the input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "chain/bytes.hpp"
#include "chain/result.hpp"
#include "chain/u256.hpp"

namespace vigil {

/// The RLP rule an input broke. Each name is stable: tests and error messages match it.
enum class RlpError {
    input_too_short,     ///< a header or payload runs past the end of the input (or no input)
    trailing_bytes,      ///< bytes after the single top-level item
    non_canonical_size,  ///< a single byte below 0x80 wrapped in a 0x81 header (0x8105)
    non_optimal_size,    ///< long-form size for a payload under 56 bytes (0xb801ff)
    leading_zero_size,   ///< long-form size written with leading zero bytes (0xb90040...)
    leading_zero,        ///< integer payload with leading zero bytes (0x820004, 0x00)
    overflow,            ///< integer wider than the type read into (u64: 8 bytes, u256: 32)
    item_overruns_list,  ///< an item inside a list runs past the end of the list's payload
    unexpected_list,     ///< a list where a byte string or integer was expected
    unexpected_string,   ///< a byte string where a list was expected
    wrong_size,          ///< a fixed-size byte string (Address, Hash32) of another length
    too_deep,            ///< lists nested deeper than rlp::kMaxDepth
};
std::string_view to_string(RlpError e) noexcept;

namespace rlp {

/// Deepest list nesting decode_one accepts; the top-level list is depth 1. Ethereum's
/// structures need at most 4 (a typed tx's access-list storage keys); 64 leaves room for
/// any of them while keeping decode_one's recursion to a few kilobytes of stack.
inline constexpr std::size_t kMaxDepth = 64;
/// Longest header: prefix byte plus an 8-byte size.
inline constexpr std::size_t kMaxHeaderSize = 9;

// ---- Encoding ------------------------------------------------------------------------

/// Size of the header in front of a payload of `payload_size` bytes (string or list).
constexpr std::size_t header_size(std::size_t payload_size) noexcept {
    std::size_t n = 1;
    if (payload_size >= 56)
        for (std::size_t s = payload_size; s != 0; s >>= 8) ++n;
    return n;
}
/// Encoded size of the byte string `s` (a single byte below 0x80 is its own encoding).
constexpr std::size_t string_size(BytesView s) noexcept {
    return s.size() == 1 && s[0] < 0x80 ? 1 : header_size(s.size()) + s.size();
}
/// Encoded size of an unsigned integer (big-endian, no leading zeros; zero is 0x80).
std::size_t uint_size(uint64_t v) noexcept;
std::size_t uint_size(const u256& v) noexcept;
/// Encoded size of a list whose items take `payload_size` bytes in all.
constexpr std::size_t list_size(std::size_t payload_size) noexcept {
    return header_size(payload_size) + payload_size;
}

/// Appends a list header; the caller then appends items of exactly `payload_size` bytes.
void append_list_header(Bytes& out, std::size_t payload_size);
/// Appends the byte string `s`.
void append_string(Bytes& out, BytesView s);
/// Appends an unsigned integer as a minimal big-endian byte string.
void append_uint(Bytes& out, uint64_t v);
void append_uint(Bytes& out, const u256& v);

// ---- Decoding ------------------------------------------------------------------------

/// One item: a byte string or a list, as a view of its payload (header stripped) inside
/// the decoded input. Valid as long as that input is.
struct Item {
    bool is_list = false;
    BytesView payload;
};

/// Reads items one after another from a run of bytes: a whole input, or a list's payload
/// (from as_list). Each read checks every header rule of the item it returns and advances
/// past it; the insides of a returned list are checked only when they are read (or by
/// decode_one, which checks them all). A failed read leaves the reader where it was.
class Reader {
public:
    /// Reads the items of a top-level input; a size past its end is input_too_short.
    explicit Reader(BytesView input) noexcept : rest_(input) {}

    bool empty() const noexcept { return rest_.empty(); }
    /// The next item. input_too_short when nothing is left; item_overruns_list when an
    /// item inside a list claims more bytes than the list has left.
    [[nodiscard]] Result<Item, RlpError> next() noexcept;
    /// How many items are left, checking each header without consuming anything.
    [[nodiscard]] Result<std::size_t, RlpError> count() const noexcept;

private:
    friend Result<Reader, RlpError> as_list(const Item& item) noexcept;
    Reader(BytesView payload, bool in_list) noexcept : rest_(payload), in_list_(in_list) {}

    BytesView rest_;
    bool in_list_ = false;
};

/// Decodes exactly one item filling all of `in`: trailing bytes are an error, and every
/// nested item is checked (header rules, sizes inside their lists, depth <= kMaxDepth).
/// Integer rules (leading_zero, overflow) are checked when an item is read as an integer:
/// RLP itself does not say which byte strings are integers.
[[nodiscard]] Result<Item, RlpError> decode_one(BytesView in) noexcept;

/// A reader over the items of a list; unexpected_string for a byte string.
[[nodiscard]] Result<Reader, RlpError> as_list(const Item& item) noexcept;
/// The byte string's payload; unexpected_list for a list.
[[nodiscard]] Result<BytesView, RlpError> as_bytes(const Item& item) noexcept;
/// An integer of at most 8 bytes without leading zeros (zero is the empty string).
[[nodiscard]] Result<uint64_t, RlpError> as_u64(const Item& item) noexcept;
/// An integer of at most 32 bytes without leading zeros (zero is the empty string).
[[nodiscard]] Result<u256, RlpError> as_u256(const Item& item) noexcept;
/// A byte string of exactly 20 bytes; wrong_size otherwise.
[[nodiscard]] Result<Address, RlpError> as_address(const Item& item) noexcept;
/// A byte string of exactly 32 bytes; wrong_size otherwise.
[[nodiscard]] Result<Hash32, RlpError> as_hash32(const Item& item) noexcept;

/// Appends `item` encoded anew from its parts: strings through append_string, lists item
/// by item with their headers recomputed. `item` must come from decode_one (checked, and
/// so not deeper than kMaxDepth). Because the decoder admits one encoding per value, the
/// result equals the bytes the item was decoded from: the round trip that tests and the
/// fuzz target check.
void append_item(Bytes& out, const Item& item);

}  // namespace rlp
}  // namespace vigil
