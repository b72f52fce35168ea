#pragma once
#include "chain/bytes.hpp"

namespace vigil {
/// Keccak-256 as Ethereum uses it (original Keccak padding 0x01, not SHA3-256's 0x06).
/// Debian ships no C/C++ Keccak and OpenSSL 3.0 has no KECCAK-256, so this is a compact
/// implementation checked against published vectors and against cast.
Hash32 keccak256(BytesView data) noexcept;
inline Hash32 keccak256(std::string_view text) noexcept {
    return keccak256(BytesView(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}
}  // namespace vigil
