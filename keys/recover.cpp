#include "keys/recover.hpp"

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include <array>
#include <cassert>

namespace vigil::keys {
namespace {

// Recovery needs no secret and no precomputed signing tables, so the library's static
// context serves; the self-test it asks for runs once, on first use.
const secp256k1_context* context() noexcept {
    static const secp256k1_context* const ctx = [] {
        secp256k1_selftest();
        return secp256k1_context_static;
    }();
    return ctx;
}

}  // namespace

Address address_from_public_key(std::span<const uint8_t, 64> xy) noexcept {
    const Hash32 h = keccak256(BytesView(xy));
    return Address::from_span(std::span<const uint8_t, 32>(h.bytes).last<20>());
}

Result<Address, KeyError> recover_address(const Hash32& digest, const Signature& sig) {
    if (auto ok = check_signature(sig); !ok)
        return unexpected(KeyError{KeyErrc::invalid_signature, ok.error().to_string()});

    std::array<uint8_t, 64> compact;
    store_be(sig.r, std::span<uint8_t, 32>(compact.data(), 32));
    store_be(sig.s, std::span<uint8_t, 32>(compact.data() + 32, 32));
    secp256k1_ecdsa_recoverable_signature parsed;
    [[maybe_unused]] const int parsed_ok = secp256k1_ecdsa_recoverable_signature_parse_compact(
        context(), &parsed, compact.data(), sig.y_parity);
    assert(parsed_ok && "check_signature keeps r and s below n, so parsing cannot fail");
    secp256k1_pubkey pubkey;
    if (!secp256k1_ecdsa_recover(context(), &pubkey, &parsed, digest.data()))
        return unexpected(KeyError{KeyErrc::recovery_failed, "no public key for this signature"});

    std::array<uint8_t, 65> uncompressed;
    std::size_t size = uncompressed.size();
    secp256k1_ec_pubkey_serialize(context(), uncompressed.data(), &size, &pubkey,
                                  SECP256K1_EC_UNCOMPRESSED);
    return address_from_public_key(std::span<const uint8_t, 64>(uncompressed.data() + 1, 64));
}

Result<Address, KeyError> recover_sender(const SignedTx& signed_tx) {
    return recover_address(signing_hash(signed_tx.tx), signed_tx.sig);
}

}  // namespace vigil::keys
