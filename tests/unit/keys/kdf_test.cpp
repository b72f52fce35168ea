// scrypt and PBKDF2-HMAC-SHA256 against RFC 7914's vectors and, for scrypt, against OpenSSL's
// independent implementation over random parameters.
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <random>

#include "keys/kdf.hpp"
#include "tests/support/key_test_support.hpp"
#include "tests/support/vectors.hpp"

using namespace vigil;
using namespace vigil::keys;
using test::bytes_of;

namespace {

std::string scrypt_hex(std::string_view password, std::string_view salt, ScryptParams params,
                       std::size_t bytes) {
    Bytes out(bytes);
    scrypt(bytes_of(password), bytes_of(salt), params, out);
    return to_hex(out);
}

/// OpenSSL's EVP_KDF "SCRYPT", usable where RFC 7914's N < 2^(16 r) holds.
Bytes openssl_scrypt(BytesView password, BytesView salt, ScryptParams params, std::size_t bytes) {
    EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "SCRYPT", nullptr);
    EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
    uint64_t n = params.n;
    uint32_t r = params.r, p = params.p;
    uint64_t maxmem = uint64_t{1} << 30;
    const OSSL_PARAM ossl_params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
                                          const_cast<uint8_t*>(password.data()), password.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt.data()),
                                          salt.size()),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
        OSSL_PARAM_construct_end(),
    };
    Bytes out(bytes);
    const int ok = EVP_KDF_derive(ctx, out.data(), out.size(), ossl_params);
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    if (ok != 1) throw std::runtime_error("OpenSSL scrypt failed");
    return out;
}

}  // namespace

TEST(scrypt, rfc7914_vectors) {
    // RFC 7914 section 12; the fourth vector (N = 2^20) needs 1 GiB and is left out.
    EXPECT_EQ(scrypt_hex("", "", {16, 1, 1}, 64),
              "0x77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
              "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906");
    EXPECT_EQ(scrypt_hex("password", "NaCl", {1024, 8, 16}, 64),
              "0xfdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
              "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
    EXPECT_EQ(scrypt_hex("pleaseletmein", "SodiumChloride", {16384, 8, 1}, 64),
              "0x7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"
              "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887");
}

TEST(scrypt, matches_openssl_on_random_parameters) {
    std::mt19937_64 rng(7914);
    for (int i = 0; i < 24; ++i) {
        const uint32_t r = 1 + static_cast<uint32_t>(rng() % 4);
        const uint32_t p = 1 + static_cast<uint32_t>(rng() % 3);
        // Powers of two below both 2^11 (to stay fast) and OpenSSL's 2^(16 r).
        const uint64_t n = uint64_t{1} << (1 + rng() % 10);
        Bytes password(rng() % 40), salt(rng() % 40);
        for (auto& b : password) b = static_cast<uint8_t>(rng());
        for (auto& b : salt) b = static_cast<uint8_t>(rng());
        const std::size_t bytes = 1 + rng() % 80;
        Bytes ours(bytes);
        scrypt(password, salt, {n, r, p}, ours);
        EXPECT_EQ(ours, openssl_scrypt(password, salt, {n, r, p}, bytes))
            << "n=" << n << " r=" << r << " p=" << p;
    }
}

TEST(scrypt, memory_is_128_r_times_n_plus_p) {
    EXPECT_EQ(scrypt_memory_bytes({262144, 8, 1}), 128ull * 8 * (262144 + 1));
    EXPECT_EQ(scrypt_memory_bytes({262144, 1, 8}), 128ull * (262144 + 8));
}

TEST(pbkdf2_hmac_sha256, rfc7914_vectors) {
    // RFC 7914 section 11.
    Bytes out(64);
    pbkdf2_hmac_sha256(bytes_of("passwd"), bytes_of("salt"), 1, out);
    EXPECT_EQ(to_hex(out),
              "0x55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
              "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
    pbkdf2_hmac_sha256(bytes_of("Password"), bytes_of("NaCl"), 80000, out);
    EXPECT_EQ(to_hex(out),
              "0x4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
              "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d");
}
