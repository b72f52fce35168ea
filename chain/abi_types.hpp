#pragma once
// Solidity ABI types and human-readable signatures: the type tree, the errors of the
// whole ABI module, and parsing of `f(uint256)`, `function f(uint x) returns (bool)`,
// cast's `f(uint256)(bool)` and `event E(address indexed a, ...)`.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "chain/bytes.hpp"
#include "chain/result.hpp"

namespace vigil::abi {

/// The rule an ABI input broke. One enum for the module, so the CLI and the tests
/// see one vocabulary; the names are stable words (see to_string).
enum class AbiError : uint8_t {
    // Signature and type text.
    expected_identifier,  ///< a function, event or type name was expected
    expected_paren,       ///< '(' must follow a function or event name
    unclosed_paren,       ///< a parameter list lacks ',' or ')'
    unclosed_bracket,     ///< an array suffix lacks ']'
    unknown_type,         ///< not an elementary Solidity type (`foo`, `function`)
    bad_type_size,        ///< uintN/intN with N not in 8..256 step 8, bytesN with N not in 1..32
    bad_array_size,       ///< T[k] with k zero, not decimal, or above 2^32
    empty_tuple,          ///< `()` as a component: zero-size types defeat length checks
    type_too_large,       ///< a static type whose encoding exceeds kMaxStaticSize
    too_many_indexed,     ///< more indexed event parameters than topics can carry
    trailing_text,        ///< text continues after a complete signature, type or value
    too_deep,             ///< nesting beyond kMaxDepth (types, value text, decoded data)
    // Argument text (the forms `cast abi-encode` accepts).
    arg_count,            ///< wrong number of arguments for the signature
    bad_number,           ///< no digits, or a digit outside the number's base
    number_overflow,      ///< the number does not fit the type's bit width
    bad_fraction,         ///< a fraction finer than its unit allows (`1.5` wei)
    bad_unit,             ///< a unit other than wei, gwei, nano, nanoether, ether
    bad_bool,             ///< neither `true` nor `false`
    bad_hex,              ///< a non-hex digit, odd digit count, or empty without "0x"
    wrong_length,         ///< address or bytesN text with the wrong byte count
    bad_checksum,         ///< mixed-case address whose EIP-55 checksum does not match
    unterminated_string,  ///< a quoted string without its closing quote
    expected_list,        ///< '[' (array) or '(' (tuple) expected
    unclosed_list,        ///< ',' or the closing bracket expected
    expected_value,       ///< an empty element where a value belongs (`[a,,b]`)
    array_length,         ///< T[k] given a number of elements other than k
    // Values handed to the encoder.
    value_mismatch,  ///< the value's kind or shape does not match the type
    // Encoded data.
    truncated,            ///< data ends inside a word the type needs
    offset_out_of_range,  ///< an offset points past the end of the data
    offset_into_head,     ///< an offset points back into the head it was read from
    length_out_of_range,  ///< a length word claims more than the remaining data holds
    dirty_bits,           ///< a word not in canonical form (uint8 high bits, bool 2, ...)
    // Logs and revert data.
    topic_count,     ///< a log with a number of topics other than the event's
    topic_mismatch,  ///< topic0 is not the event's signature hash
    bad_selector,    ///< calldata whose selector is not the function's
};

/// "dirty_bits": the enumerator's name.
std::string_view to_string(AbiError e) noexcept;

/// An AbiError and where it happened. `offset` is a character offset for text, a
/// byte offset for encoded data, and the argument index for values given to the
/// encoder (there is no text to point into).
struct AbiFailure {
    AbiError error;
    std::size_t offset = 0;
    bool operator==(const AbiFailure&) const = default;
    /// "dirty_bits at offset 36".
    std::string to_string() const;
};

/// Nesting limit for type text, value text and decoding; real contracts stay below 8.
inline constexpr unsigned kMaxDepth = 32;
/// Largest static encoding a type may have (fixed arrays multiply): 2^32 bytes keeps
/// every size computation far from overflow.
inline constexpr uint64_t kMaxStaticSize = uint64_t{1} << 32;

enum class AbiKind : uint8_t {
    uint,  ///< uintN, size = N bits
    sint,  ///< intN, size = N bits
    address,
    boolean,
    fixed_bytes,  ///< bytesN, size = N bytes
    bytes,
    string,
    array,        ///< T[], components = {T}
    fixed_array,  ///< T[k], components = {T}, size = k
    tuple,        ///< (T1,...,Tn), components = members
};

/// A node of the type tree. Build with the make_* factories or parse_type, which fill
/// in `dynamic` and `head_size` so the codec never recomputes them.
struct AbiType {
    AbiKind kind = AbiKind::tuple;
    uint32_t size = 0;                ///< bits, bytes or element count (see AbiKind)
    bool dynamic = false;             ///< encoded out of line (bytes, string, T[], or holds one)
    uint64_t head_size = 0;           ///< bytes taken in the parent's head: 32 if dynamic
    std::vector<AbiType> components;  ///< element type (arrays) or members (tuple)

    bool operator==(const AbiType&) const = default;
};

// Factories for types built in code (tests, fixed signatures). Sizes out of range are
// our own bug, so they assert; text from outside goes through parse_type instead.
// Elements and members must have a non-zero head (no empty tuples): a length word
// could otherwise claim any count of zero-size elements.

/// uintN; asserts bits in 8..256, multiple of 8.
AbiType make_uint(unsigned bits);
/// intN; asserts bits in 8..256, multiple of 8.
AbiType make_int(unsigned bits);
/// address (160 bits, left-padded).
AbiType make_address();
/// bool (one word, 0 or 1).
AbiType make_bool();
/// bytesN; asserts n in 1..32.
AbiType make_fixed_bytes(unsigned n);
/// bytes (dynamic).
AbiType make_bytes();
/// string (dynamic).
AbiType make_string();
/// T[] (dynamic).
AbiType make_array(AbiType element);
/// T[k]: dynamic when T is. Asserts 1 <= n and a static size within kMaxStaticSize
/// (parse_type checks both).
AbiType make_fixed_array(AbiType element, uint32_t n);
/// (T1,...,Tn): dynamic when any member is; also a parameter list, which may be empty.
AbiType make_tuple(std::vector<AbiType> members);

/// Canonical type string as hashed for selectors: `uint256`, `(address,uint256)[2]`.
std::string to_string(const AbiType& type);
/// Appends the canonical string of `type` to `out`.
void append_canonical(std::string& out, const AbiType& type);

using Selector = std::array<uint8_t, 4>;

/// A function or custom error. `selector` is keccak256(signature())[0..4], computed by
/// the parser so encoding calldata hashes nothing.
struct Function {
    std::string name;
    AbiType inputs = make_tuple({});
    AbiType outputs = make_tuple({});
    std::vector<std::string> input_names;  ///< "" where the signature gave no name
    std::vector<std::string> output_names;
    bool has_outputs = false;  ///< the signature had a returns list (`f()(uint)`, `returns (...)`)
    Selector selector{};

    /// `name(type1,type2)`, canonical types, no names: the text hashed for the selector.
    std::string signature() const;
};

/// An event. `data_inputs` and `topic0` are derived from the inputs by parse_event, so
/// decoding a log copies and hashes nothing.
struct Event {
    std::string name;
    AbiType inputs = make_tuple({});
    std::vector<std::string> names;
    std::vector<bool> indexed;             ///< one flag per input
    bool anonymous = false;                ///< anonymous events have no topic0
    AbiType data_inputs = make_tuple({});  ///< the non-indexed inputs: the layout of the log's data
    Hash32 topic0{};

    std::string signature() const;
};

/// Parses one type: `uint`, `(address,uint256)[]`, `tuple(bool,bytes)[2][]`. Aliases
/// `uint`/`int` become `uint256`/`int256`. Whitespace around the type is allowed.
[[nodiscard]] Result<AbiType, AbiFailure> parse_type(std::string_view text);

/// Parses `name(params)` with optional `function ` prefix, parameter names and data
/// locations, visibility/mutability words, and outputs written `returns (...)` or
/// directly after the inputs as cast does: `balanceOf(address)(uint256)`.
[[nodiscard]] Result<Function, AbiFailure> parse_function(std::string_view text);

/// Parses a custom error: `error Name(params)` or `Name(params)`; no outputs.
[[nodiscard]] Result<Function, AbiFailure> parse_error(std::string_view text);

/// Parses `event Name(type [indexed] [name], ...) [anonymous]` (the `event ` prefix is
/// optional). At most 3 indexed parameters (4 when anonymous).
[[nodiscard]] Result<Event, AbiFailure> parse_event(std::string_view text);

}  // namespace vigil::abi
