#pragma once
// ABI words by hand, for fakes that answer eth_call and emit logs without an ABI: a value
// as a 32-byte word, an address as a topic or a word.
#include <algorithm>
#include <initializer_list>
#include <span>

#include "chain/bytes.hpp"
#include "chain/u256.hpp"

namespace vigil::test {

/// The values as consecutive 32-byte big-endian words.
inline Bytes words(std::initializer_list<u256> values) {
    Bytes out;
    for (const u256& v : values) {
        out.resize(out.size() + 32);
        store_be(v, std::span<uint8_t, 32>(out.data() + out.size() - 32, 32));
    }
    return out;
}

/// An address left-padded to a log topic.
inline Hash32 topic(const Address& a) {
    Hash32 h;
    std::copy(a.bytes.begin(), a.bytes.end(), h.bytes.begin() + 12);
    return h;
}

/// An address as the uint256 of its word.
inline u256 word(const Address& a) {
    u256 v = 0;
    for (uint8_t b : a.bytes) v = (v << 8) | b;
    return v;
}

}  // namespace vigil::test
