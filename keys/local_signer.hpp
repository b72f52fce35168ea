#pragma once
// A Signer holding its key in this process, over libsecp256k1.
#include "chain/result.hpp"
#include "keys/errors.hpp"
#include "keys/secret.hpp"
#include "keys/signer.hpp"

namespace vigil::keys {

/// Signs with a key held in memory (wiped when the signer dies). All signers share one
/// libsecp256k1 context, created on first use and randomised against side channels; signing
/// only reads it, so one signer may sign from several threads.
class LocalSigner final : public Signer {
public:
    LocalSigner(LocalSigner&&) noexcept = default;
    LocalSigner& operator=(LocalSigner&&) noexcept = default;

    Address address() const noexcept override { return address_; }
    /// ECDSA with the RFC 6979 nonce and a low s (libsecp256k1 produces only low s), so the
    /// same key and digest always give the same signature. y_parity is the recovery id.
    Result<Signature, KeyError> sign_hash(const Hash32& digest) const override;

private:
    friend Result<LocalSigner, KeyError> make_local_signer(SecretKey key);
    LocalSigner(SecretKey key, const Address& address) noexcept
        : key_(std::move(key)), address_(address) {}

    SecretKey key_;
    Address address_;
};

/// A signer for `key`. `invalid_private_key` when the key is zero or not below the curve
/// order; `entropy_unavailable` when the shared context could not be randomised.
[[nodiscard]] Result<LocalSigner, KeyError> make_local_signer(SecretKey key);

/// The Ethereum address of `key` (last 20 bytes of keccak256 of the uncompressed public
/// key), with the same errors as make_local_signer.
[[nodiscard]] Result<Address, KeyError> address_of(const SecretKey& key);

/// A new key from the operating system's CSPRNG (OpenSSL RAND_priv_bytes), redrawn in the
/// (2^-128 likely) case that it is not a valid secp256k1 key. `entropy_unavailable` when
/// the generator fails.
[[nodiscard]] Result<SecretKey, KeyError> generate_key();

}  // namespace vigil::keys
