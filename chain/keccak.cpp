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

void keccak_f1600(uint64_t st[25]) noexcept {
    for (uint64_t rc : kRoundConstants) {
        uint64_t c[5];
        for (int x = 0; x < 5; ++x) c[x] = st[x] ^ st[x + 5] ^ st[x + 10] ^ st[x + 15] ^ st[x + 20];
        for (int x = 0; x < 5; ++x) {
            const uint64_t d = c[(x + 4) % 5] ^ std::rotl(c[(x + 1) % 5], 1);
            for (int y = 0; y < 25; y += 5) st[y + x] ^= d;
        }
        uint64_t t = st[1];
        for (int i = 0; i < 24; ++i) {
            const int j = kPi[i];
            const uint64_t tmp = st[j];
            st[j] = std::rotl(t, kRho[i]);
            t = tmp;
        }
        for (int y = 0; y < 25; y += 5) {
            uint64_t row[5];
            for (int x = 0; x < 5; ++x) row[x] = st[y + x];
            for (int x = 0; x < 5; ++x) st[y + x] = row[x] ^ (~row[(x + 1) % 5] & row[(x + 2) % 5]);
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
