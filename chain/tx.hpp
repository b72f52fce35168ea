#pragma once
// Ethereum transaction envelopes: legacy with EIP-155, EIP-2930 (type 1), EIP-1559 (type 2).
// Signing hashes, signed raw encodings and strict decoding of raw transactions.
// Signing and sender recovery need secp256k1 and live in keys/ (keys/signer.hpp,
// keys/recover.hpp); this file is pure encoding.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "chain/bytes.hpp"
#include "chain/keccak.hpp"
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

/// keccak256 of the payload the sender signs (EIP-155 for legacy, EIP-2718 typed otherwise).
Hash32 signing_hash(const TxEnvelope& tx);
/// The raw signed transaction, as eth_sendRawTransaction takes it.
Bytes encode_signed(const TxEnvelope& tx, const Signature& sig);
/// The transaction hash of a raw signed transaction.
inline Hash32 tx_hash(BytesView raw) noexcept { return keccak256(raw); }

}  // namespace vigil
