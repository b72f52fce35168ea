#include "keys/kdf.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <climits>
#include <new>
#include <utility>

#include "keys/secret.hpp"

namespace vigil::keys {
namespace {

constexpr std::size_t kSalsaWords = 16;  // one 64-byte Salsa20 block

uint32_t load_le32(const uint8_t* p) noexcept {
    return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

void store_le32(uint32_t v, uint8_t* p) noexcept {
    p[0] = static_cast<uint8_t>(v);
    p[1] = static_cast<uint8_t>(v >> 8);
    p[2] = static_cast<uint8_t>(v >> 16);
    p[3] = static_cast<uint8_t>(v >> 24);
}

/// B = Salsa20/8(B xor X), in place on B: the xor of BlockMix fused into the core.
/// Written as sixteen scalars and macros rather than an array and a lambda: the result is
/// the same at -O2, but the unoptimised sanitizer build that CI runs derives geth's standard
/// scrypt in ~2 s instead of ~14 s.
void salsa20_8_xor(uint32_t* b, const uint32_t* x) noexcept {
    const uint32_t j0 = b[0] ^ x[0], j1 = b[1] ^ x[1], j2 = b[2] ^ x[2], j3 = b[3] ^ x[3],
                   j4 = b[4] ^ x[4], j5 = b[5] ^ x[5], j6 = b[6] ^ x[6], j7 = b[7] ^ x[7],
                   j8 = b[8] ^ x[8], j9 = b[9] ^ x[9], j10 = b[10] ^ x[10], j11 = b[11] ^ x[11],
                   j12 = b[12] ^ x[12], j13 = b[13] ^ x[13], j14 = b[14] ^ x[14],
                   j15 = b[15] ^ x[15];
    uint32_t x0 = j0, x1 = j1, x2 = j2, x3 = j3, x4 = j4, x5 = j5, x6 = j6, x7 = j7, x8 = j8,
             x9 = j9, x10 = j10, x11 = j11, x12 = j12, x13 = j13, x14 = j14, x15 = j15;
#define VIGIL_ROTL(v, n) (((v) << (n)) | ((v) >> (32 - (n))))
#define VIGIL_QUARTER(a, b, c, d) \
    b ^= VIGIL_ROTL(a + d, 7);    \
    c ^= VIGIL_ROTL(b + a, 9);    \
    d ^= VIGIL_ROTL(c + b, 13);   \
    a ^= VIGIL_ROTL(d + c, 18)
    for (int round = 0; round < 8; round += 2) {
        // Columns, then rows (Salsa20 specification, section 4).
        VIGIL_QUARTER(x0, x4, x8, x12);
        VIGIL_QUARTER(x5, x9, x13, x1);
        VIGIL_QUARTER(x10, x14, x2, x6);
        VIGIL_QUARTER(x15, x3, x7, x11);
        VIGIL_QUARTER(x0, x1, x2, x3);
        VIGIL_QUARTER(x5, x6, x7, x4);
        VIGIL_QUARTER(x10, x11, x8, x9);
        VIGIL_QUARTER(x15, x12, x13, x14);
    }
#undef VIGIL_QUARTER
#undef VIGIL_ROTL
    b[0] = x0 + j0;
    b[1] = x1 + j1;
    b[2] = x2 + j2;
    b[3] = x3 + j3;
    b[4] = x4 + j4;
    b[5] = x5 + j5;
    b[6] = x6 + j6;
    b[7] = x7 + j7;
    b[8] = x8 + j8;
    b[9] = x9 + j9;
    b[10] = x10 + j10;
    b[11] = x11 + j11;
    b[12] = x12 + j12;
    b[13] = x13 + j13;
    b[14] = x14 + j14;
    b[15] = x15 + j15;
}

/// scryptBlockMix (RFC 7914 section 4): `in` is 2r Salsa blocks; writes `out`, which must
/// not alias `in`. The even-indexed outputs go to the first half, the odd to the second.
void block_mix(const uint32_t* in, uint32_t* out, uint32_t r) noexcept {
    uint32_t x[kSalsaWords];
    const uint32_t* last = in + (2 * r - 1) * kSalsaWords;
    for (std::size_t i = 0; i < kSalsaWords; ++i) x[i] = last[i];
    for (uint32_t i = 0; i < 2 * r; ++i) {
        salsa20_8_xor(x, in + i * kSalsaWords);
        uint32_t* dst = out + ((i / 2) + (i % 2) * r) * kSalsaWords;
        for (std::size_t k = 0; k < kSalsaWords; ++k) dst[k] = x[k];
    }
}

/// scryptROMix (RFC 7914 section 5) on one 128*r-byte block `b`, in place. `v` holds
/// n * 32 * r words, `t` 64 * r words (two scratch blocks).
void ro_mix(uint8_t* b, uint32_t r, uint64_t n, uint32_t* v, uint32_t* t) noexcept {
    const std::size_t words = 32 * static_cast<std::size_t>(r);
    uint32_t* x = t;
    uint32_t* y = t + words;
    for (std::size_t i = 0; i < words; ++i) x[i] = load_le32(b + 4 * i);
    for (uint64_t i = 0; i < n; ++i) {
        std::copy(x, x + words, v + i * words);
        block_mix(x, y, r);
        std::swap(x, y);
    }
    for (uint64_t i = 0; i < n; ++i) {
        // Integerify: the first 64 bits of the last Salsa block, little-endian; n is a
        // power of two, so "mod n" is a mask.
        const uint32_t* last = x + (2 * r - 1) * kSalsaWords;
        const uint64_t j = ((uint64_t{last[1]} << 32) | last[0]) & (n - 1);
        const uint32_t* vj = v + j * words;
        for (std::size_t k = 0; k < words; ++k) x[k] ^= vj[k];
        block_mix(x, y, r);
        std::swap(x, y);
    }
    for (std::size_t i = 0; i < words; ++i) store_le32(x[i], b + 4 * i);
}

}  // namespace

uint64_t scrypt_memory_bytes(const ScryptParams& params) noexcept {
    return 128 * uint64_t{params.r} * (params.n + params.p);
}

void pbkdf2_hmac_sha256(BytesView password, BytesView salt, uint32_t iterations,
                        std::span<uint8_t> out) {
    assert(iterations >= 1 && iterations <= INT_MAX);
    assert(password.size() <= INT_MAX && salt.size() <= INT_MAX && out.size() <= INT_MAX);
    // OpenSSL wants a char* password; an empty span may have a null data pointer.
    static const char kEmpty = 0;
    const char* pass = password.empty() ? &kEmpty : reinterpret_cast<const char*>(password.data());
    if (PKCS5_PBKDF2_HMAC(pass, static_cast<int>(password.size()), salt.data(),
                          static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                          static_cast<int>(out.size()), out.data()) != 1) {
        // With valid arguments OpenSSL fails only when it cannot allocate.
        throw std::bad_alloc();
    }
}

void scrypt(BytesView password, BytesView salt, const ScryptParams& params,
            std::span<uint8_t> out) {
    const auto [n, r, p] = params;
    assert(n >= 2 && std::has_single_bit(n));
    assert(r >= 1 && p >= 1 && uint64_t{r} * p < (uint64_t{1} << 30));
    const std::size_t block_bytes = 128 * static_cast<std::size_t>(r);

    SecretBytes b(block_bytes * p);
    pbkdf2_hmac_sha256(password, salt, 1, b.span());
    SecretBuffer<uint32_t> v(static_cast<std::size_t>(n) * 32 * r);
    SecretBuffer<uint32_t> t(64 * static_cast<std::size_t>(r));
    for (uint32_t i = 0; i < p; ++i) ro_mix(b.data() + i * block_bytes, r, n, v.data(), t.data());
    pbkdf2_hmac_sha256(password, b.view(), 1, out);
}

}  // namespace vigil::keys
