#pragma once
// ABI values: a variant tree that mirrors AbiType. A value carries its kind (so it can
// be printed without its type) but not bit widths: those live in the type, and the
// encoder checks each value against them.
#include <array>
#include <concepts>
#include <cstdint>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "chain/bytes.hpp"
#include "chain/u256.hpp"

namespace vigil::abi {

struct AbiValue;

/// bytes1..bytes32: `size` significant bytes, left-aligned, the rest zero.
struct BytesN {
    std::array<uint8_t, 32> bytes{};
    uint8_t size = 0;
    bool operator==(const BytesN&) const = default;
    BytesView view() const noexcept { return BytesView(bytes.data(), size); }
};

/// T[] and T[k].
struct AbiArray {
    std::vector<AbiValue> items;
    bool operator==(const AbiArray&) const;
};

/// (T1,...,Tn); also the argument list of a call.
struct AbiTuple {
    std::vector<AbiValue> items;
    bool operator==(const AbiTuple&) const;
};

/// One value. uintN is u256 and intN is i256 whatever N; `std::string` holds the bytes
/// of a Solidity string as they are (not necessarily valid UTF-8 when decoded).
struct AbiValue {
    using Variant =
        std::variant<u256, i256, Address, bool, BytesN, Bytes, std::string, AbiArray, AbiTuple>;
    Variant v;

    AbiValue() = default;
    /// From any alternative (u256, Address, AbiTuple, ...). Plain integers are
    /// ambiguous between u256 and i256 and do not compile: say which.
    template <class T>
    requires(!std::same_as<std::remove_cvref_t<T>, AbiValue> &&
             std::constructible_from<Variant, T&&>) AbiValue(T&& x)
        : v(std::forward<T>(x)) {}

    bool operator==(const AbiValue&) const = default;
};

inline bool AbiArray::operator==(const AbiArray& o) const {
    return items == o.items;
}
inline bool AbiTuple::operator==(const AbiTuple& o) const {
    return items == o.items;
}

}  // namespace vigil::abi
