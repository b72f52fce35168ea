#include "keys/local_signer.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include <array>

#include "chain/u256.hpp"
#include "keys/recover.hpp"

namespace vigil::keys {
namespace {

struct SharedContext {
    secp256k1_context* ctx = nullptr;
    bool randomized = false;
};

/// The one signing context, created on first use. Randomising it blinds the secret-dependent
/// arithmetic against timing and power side channels. It is never destroyed: a signer on
/// another thread may still use it while static objects are torn down at exit.
const SharedContext& shared_context() {
    static const SharedContext shared = [] {
        SharedContext c;
        c.ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
        std::array<uint8_t, 32> seed{};
        c.randomized = RAND_priv_bytes(seed.data(), static_cast<int>(seed.size())) == 1 &&
                       secp256k1_context_randomize(c.ctx, seed.data()) == 1;
        OPENSSL_cleanse(seed.data(), seed.size());
        return c;
    }();
    return shared;
}

Result<const secp256k1_context*, KeyError> context() {
    const SharedContext& shared = shared_context();
    if (!shared.randomized)
        return unexpected(
            KeyError{KeyErrc::entropy_unavailable, "no randomness to blind the secp256k1 context"});
    return shared.ctx;
}

}  // namespace

Result<Address, KeyError> address_of(const SecretKey& key) {
    auto ctx = context();
    if (!ctx) return unexpected(ctx.error());
    secp256k1_pubkey pubkey;
    if (secp256k1_ec_seckey_verify(*ctx, key.view().data()) != 1 ||
        secp256k1_ec_pubkey_create(*ctx, &pubkey, key.view().data()) != 1)
        return unexpected(
            KeyError{KeyErrc::invalid_private_key, "private key must be in [1, n-1] of secp256k1"});
    std::array<uint8_t, 65> uncompressed{};
    std::size_t size = uncompressed.size();
    secp256k1_ec_pubkey_serialize(*ctx, uncompressed.data(), &size, &pubkey,
                                  SECP256K1_EC_UNCOMPRESSED);
    return address_from_public_key(std::span<const uint8_t, 64>(uncompressed.data() + 1, 64));
}

Result<LocalSigner, KeyError> make_local_signer(SecretKey key) {
    auto address = address_of(key);
    if (!address) return unexpected(address.error());
    return LocalSigner(std::move(key), *address);
}

Result<Signature, KeyError> LocalSigner::sign_hash(const Hash32& digest) const {
    // The context was randomised when this signer was made; only its pointer is needed here.
    const secp256k1_context* ctx = shared_context().ctx;
    secp256k1_ecdsa_recoverable_signature sig;
    // Null nonce function: RFC 6979 (secp256k1_nonce_function_default).
    if (secp256k1_ecdsa_sign_recoverable(ctx, &sig, digest.data(), key_.view().data(), nullptr,
                                         nullptr) != 1) {
        // Only a nonce function giving up, which RFC 6979 does with probability ~2^-128.
        return unexpected(KeyError{KeyErrc::invalid_signature, "secp256k1 signing failed"});
    }
    std::array<uint8_t, 64> compact{};
    int recovery_id = 0;
    secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, compact.data(), &recovery_id,
                                                            &sig);
    return Signature{load_be(std::span<const uint8_t, 32>(compact.data(), 32)),
                     load_be(std::span<const uint8_t, 32>(compact.data() + 32, 32)),
                     static_cast<uint8_t>(recovery_id)};
}

Result<SecretKey, KeyError> generate_key() {
    auto ctx = context();
    if (!ctx) return unexpected(ctx.error());
    SecretKey key;
    do {
        if (RAND_priv_bytes(key.data(), static_cast<int>(SecretKey::size)) != 1)
            return unexpected(KeyError{KeyErrc::entropy_unavailable, "RAND_priv_bytes failed"});
    } while (secp256k1_ec_seckey_verify(*ctx, key.view().data()) != 1);
    return key;
}

}  // namespace vigil::keys
