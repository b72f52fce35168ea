#pragma once
// Password-based key derivation for keystores: PBKDF2-HMAC-SHA256 and scrypt.
//
// scrypt is our own ROMix over OpenSSL's PBKDF2 because OpenSSL 3 enforces RFC 7914's
// "N < 2^(128*r/8)", which keystores made by geth and others break: the Web3 Secret Storage
// vector `test2` uses n=262144 with r=1. golang.org/x/crypto/scrypt (geth), libscrypt and
// libsodium do not enforce that rule, and neither do we.
#include <cstdint>
#include <span>

#include "chain/bytes.hpp"

namespace vigil::keys {

struct ScryptParams {
    uint64_t n = 0;  ///< CPU/memory cost: a power of two, at least 2
    uint32_t r = 0;  ///< block size factor, at least 1
    uint32_t p = 0;  ///< parallelisation factor, at least 1; r * p < 2^30
    bool operator==(const ScryptParams&) const = default;
};

/// Bytes of working memory scrypt needs for `params`: 128 * r * (n + p).
uint64_t scrypt_memory_bytes(const ScryptParams& params) noexcept;

/// RFC 7914 scrypt. `params` must satisfy the limits in ScryptParams (asserted: callers
/// validate untrusted values first, see keystore.cpp). The working memory is wiped before
/// it is freed. Throws std::bad_alloc when the memory is not available.
void scrypt(BytesView password, BytesView salt, const ScryptParams& params, std::span<uint8_t> out);

/// PBKDF2 with HMAC-SHA256 (RFC 8018), `iterations` >= 1.
void pbkdf2_hmac_sha256(BytesView password, BytesView salt, uint32_t iterations,
                        std::span<uint8_t> out);

}  // namespace vigil::keys
