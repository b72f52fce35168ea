#include "chain/keccak.hpp"

#include <bit>

namespace vigil {
namespace {
constexpr uint64_t kRoundConstants[24] = {
    0x0000000000000001, 0x0000000000008082, 0x800000000000808a, 0x8000000080008000,
    0x000000000000808b, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008a, 0x0000000000000088, 0x0000000080008009, 0x000000008000000a,
    0x000000008000808b, 0x800000000000008b, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800a, 0x800000008000000a,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
};
// Rotation offsets and lane permutation of rho+pi, walked along the pi cycle from lane 1.
constexpr int kRho[24] = {1,  3,  6,  10, 15, 21, 28, 36, 45, 55, 2,  14,
                          27, 41, 56, 8,  25, 43, 62, 18, 39, 61, 20, 44};
constexpr int kPi[24] = {10, 7,  11, 17, 18, 3, 5,  16, 8,  21, 24, 4,
                         15, 23, 19, 13, 12, 2, 20, 14, 22, 9,  6,  1};

// Written out per lane (theta, chi) and unrolled (rho+pi): the generic loops with `% 5`
// indexing cost about twice as much on g++ 12.
void keccak_f1600(uint64_t st[25]) noexcept {
    for (uint64_t rc : kRoundConstants) {
        const uint64_t c0 = st[0] ^ st[5] ^ st[10] ^ st[15] ^ st[20];
        const uint64_t c1 = st[1] ^ st[6] ^ st[11] ^ st[16] ^ st[21];
        const uint64_t c2 = st[2] ^ st[7] ^ st[12] ^ st[17] ^ st[22];
        const uint64_t c3 = st[3] ^ st[8] ^ st[13] ^ st[18] ^ st[23];
        const uint64_t c4 = st[4] ^ st[9] ^ st[14] ^ st[19] ^ st[24];
        const uint64_t d[5] = {c4 ^ std::rotl(c1, 1), c0 ^ std::rotl(c2, 1), c1 ^ std::rotl(c3, 1),
                               c2 ^ std::rotl(c4, 1), c3 ^ std::rotl(c0, 1)};
#pragma GCC unroll 5
        for (int y = 0; y < 25; y += 5) {
            st[y] ^= d[0];
            st[y + 1] ^= d[1];
            st[y + 2] ^= d[2];
            st[y + 3] ^= d[3];
            st[y + 4] ^= d[4];
        }
        uint64_t t = st[1];
#pragma GCC unroll 24
        for (int i = 0; i < 24; ++i) {
            const uint64_t next = st[kPi[i]];
            st[kPi[i]] = std::rotl(t, kRho[i]);
            t = next;
        }
#pragma GCC unroll 5
        for (int y = 0; y < 25; y += 5) {
            const uint64_t a0 = st[y], a1 = st[y + 1], a2 = st[y + 2], a3 = st[y + 3],
                           a4 = st[y + 4];
            st[y] = a0 ^ (~a1 & a2);
            st[y + 1] = a1 ^ (~a2 & a3);
            st[y + 2] = a2 ^ (~a3 & a4);
            st[y + 3] = a3 ^ (~a4 & a0);
            st[y + 4] = a4 ^ (~a0 & a1);
        }
        st[0] ^= rc;
    }
}

static_assert(std::endian::native == std::endian::little, "lanes are loaded little-endian");
constexpr std::size_t kRate = 136;  // bytes: 1600 - 2*256 bits
}  // namespace

Hash32 keccak256(BytesView data) noexcept {
    uint64_t st[25] = {};
    const uint8_t* p = data.data();
    std::size_t n = data.size();
    while (n >= kRate) {
        for (std::size_t i = 0; i < kRate / 8; ++i) {
            uint64_t lane;
            std::memcpy(&lane, p + 8 * i, 8);
            st[i] ^= lane;
        }
        keccak_f1600(st);
        p += kRate;
        n -= kRate;
    }
    uint8_t last[kRate] = {};
    if (n != 0) std::memcpy(last, p, n);
    last[n] ^= 0x01;
    last[kRate - 1] ^= 0x80;
    for (std::size_t i = 0; i < kRate / 8; ++i) {
        uint64_t lane;
        std::memcpy(&lane, last + 8 * i, 8);
        st[i] ^= lane;
    }
    keccak_f1600(st);
    Hash32 out;
    std::memcpy(out.data(), st, 32);
    return out;
}
}  // namespace vigil
