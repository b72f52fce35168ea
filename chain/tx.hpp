#pragma once
// Ethereum transaction envelopes: legacy with EIP-155, EIP-2930 (type 1), EIP-1559 (type 2).
// Signing hashes, signed raw encodings and strict decoding of raw transactions.
// Signing and sender recovery need secp256k1 and live in keys/ (keys/signer.hpp,
// keys/recover.hpp); this file is pure encoding.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chain/bytes.hpp"
#include "chain/keccak.hpp"
#include "chain/result.hpp"
#include "chain/rlp.hpp"
#include "chain/u256.hpp"

namespace vigil {

enum class TxType : uint8_t { legacy = 0, eip2930 = 1, eip1559 = 2 };

struct AccessListEntry {
    Address address;
    std::vector<Hash32> storage_keys;
    bool operator==(const AccessListEntry&) const = default;
};
using AccessList = std::vector<AccessListEntry>;

/// The unsigned fields of a transaction. Fields that the type does not have are ignored
/// when encoding (gas_price for eip1559; the two 1559 fees and access_list for legacy).
/// Legacy transactions are always signed with EIP-155 replay protection.
struct TxEnvelope {
    TxType type = TxType::eip1559;
    uint64_t chain_id = 1;
    uint64_t nonce = 0;
    u256 gas_price = 0;                 ///< wei per gas; legacy and eip2930
    u256 max_priority_fee_per_gas = 0;  ///< wei per gas; eip1559
    u256 max_fee_per_gas = 0;           ///< wei per gas; eip1559
    uint64_t gas_limit = 0;
    std::optional<Address> to;  ///< nullopt creates a contract
    u256 value = 0;             ///< wei
    Bytes data;
    AccessList access_list;  ///< eip2930 and eip1559
    bool operator==(const TxEnvelope&) const = default;
};

/// secp256k1 signature in Ethereum's form: y_parity is 0 or 1 (the recovery id).
struct Signature {
    u256 r;
    u256 s;
    uint8_t y_parity = 0;
    bool operator==(const Signature&) const = default;
};

/// The payload the sender signs: rlp([nonce, gasPrice, gasLimit, to, value, data, chainId,
/// 0, 0]) for legacy (EIP-155); type byte || rlp(fields without the signature) for
/// EIP-2930 and EIP-1559.
Bytes signing_payload(const TxEnvelope& tx);
/// keccak256 of signing_payload(tx).
Hash32 signing_hash(const TxEnvelope& tx);
/// The raw signed transaction, as eth_sendRawTransaction takes it. Legacy carries
/// v = chain_id * 2 + 35 + y_parity (EIP-155); typed ones carry y_parity. The signature is
/// written as given (a Signer makes it valid); y_parity must be 0 or 1.
Bytes encode_signed(const TxEnvelope& tx, const Signature& sig);
/// The transaction hash of a raw signed transaction.
inline Hash32 tx_hash(BytesView raw) noexcept {
    return keccak256(raw);
}

/// A transaction as decoded from its raw bytes.
struct SignedTx {
    TxEnvelope tx;
    Signature sig;
    bool operator==(const SignedTx&) const = default;
};

/// The rule a raw transaction broke. Names are stable words that tests and logs match.
enum class TxErrc {
    rlp,                 ///< a field or the envelope broke an RLP rule: TxError::rlp
    unknown_type,        ///< a type byte other than 1 (EIP-2930) or 2 (EIP-1559)
    wrong_field_count,   ///< a list with more or fewer items than its type has
    unprotected_legacy,  ///< legacy v of 27 or 28: no EIP-155 chain id (vigil never signs one)
    invalid_v,           ///< legacy v that is neither 27/28 nor 35 + 2 * chain_id + y_parity
                         ///< for a 64-bit chain id
    invalid_chain_id,    ///< legacy v that encodes chain id 0 (v = 35 or 36)
    invalid_y_parity,    ///< typed y_parity other than 0 or 1
    invalid_r,           ///< r is zero or >= the secp256k1 order n
    invalid_s,           ///< s is zero or >= n
    high_s,              ///< s > n / 2: the malleable twin of a valid signature (EIP-2)
    priority_fee_above_max_fee,  ///< EIP-1559 max_priority_fee_per_gas > max_fee_per_gas
};
std::string_view to_string(TxErrc e) noexcept;

struct TxError {
    TxErrc kind;
    RlpError rlp{};  ///< the RLP rule when kind == TxErrc::rlp; value-initialised otherwise
    /// The field where the rule failed, named as in TxEnvelope/Signature ("nonce",
    /// "access_list.storage_key", "v"); empty for the envelope itself.
    std::string_view field;
    bool operator==(const TxError&) const = default;
    /// "rlp leading_zero in nonce", "high_s in s", "unknown_type".
    std::string to_string() const;
};

/// The signature rules of a transaction: r and s in [1, n) of secp256k1, s <= n / 2
/// (EIP-2), y_parity 0 or 1. Errors name the field ("r", "s", "y_parity").
[[nodiscard]] Result<void, TxError> check_signature(const Signature& sig) noexcept;

/// Decodes a raw signed transaction (legacy with EIP-155, EIP-2930, EIP-1559) and checks
/// every rule a node checks without state: canonical RLP throughout, exact field counts,
/// integer widths (chain_id, nonce, gas_limit 64-bit; fees and value 256-bit), `to` empty
/// or 20 bytes, access-list addresses of 20 and storage keys of 32 bytes, r and s in
/// [1, n), low s, y_parity 0 or 1, an EIP-155 legacy v, and priority fee <= max fee. On
/// success encode_signed(tx, sig) gives back `raw` exactly. Does not recover the sender
/// (keys/recover.hpp does).
[[nodiscard]] Result<SignedTx, TxError> decode_signed(BytesView raw);

}  // namespace vigil
