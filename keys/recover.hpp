#pragma once
// Who signed: Ethereum addresses from public keys, and sender recovery from recoverable
// secp256k1 signatures (the ecrecover of a transaction).
#include <cstdint>
#include <span>

#include "chain/bytes.hpp"
#include "chain/result.hpp"
#include "chain/tx.hpp"
#include "keys/errors.hpp"

namespace vigil::keys {

/// The address of a public key: the last 20 bytes of keccak256 of its 64-byte uncompressed
/// form x || y (big-endian coordinates, without the 0x04 prefix byte).
Address address_from_public_key(std::span<const uint8_t, 64> xy) noexcept;

/// The address whose key made `sig` over `digest`. The signature must follow the
/// transaction rules (check_signature in chain/tx.hpp: r, s in [1, n), s <= n / 2,
/// y_parity 0 or 1), else KeyErrc::invalid_signature naming the rule; recovery_failed when
/// no public key matches (r is not the x of a curve point).
[[nodiscard]] Result<Address, KeyError> recover_address(const Hash32& digest, const Signature& sig);

/// The sender of a decoded transaction: recover_address over its signing_hash.
[[nodiscard]] Result<Address, KeyError> recover_sender(const SignedTx& signed_tx);

}  // namespace vigil::keys
