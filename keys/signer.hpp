#pragma once
// The Signer interface: the only way the rest of vigil gets a signature. The key never
// leaves an implementation: not through accessors, operator<<, logs, errors or exceptions.
#include "chain/result.hpp"
#include "chain/tx.hpp"
#include "keys/errors.hpp"

namespace vigil::keys {

class Signer {
public:
    virtual ~Signer() = default;
    virtual Address address() const noexcept = 0;
    /// Recoverable, low-s, deterministic (RFC 6979) signature of a 32-byte digest. Safe to
    /// call from several threads at once.
    virtual Result<Signature, KeyError> sign_hash(const Hash32& digest) const = 0;
    /// Signs `tx` and returns its raw encoding (ready for eth_sendRawTransaction).
    Result<Bytes, KeyError> sign(const TxEnvelope& tx) const {
        return sign_hash(signing_hash(tx)).transform([&](const Signature& sig) {
            return encode_signed(tx, sig);
        });
    }
};

}  // namespace vigil::keys
