#pragma once
// Web3 Secret Storage v3 keystores (the JSON files geth, cast and wallets write): scrypt or
// PBKDF2-HMAC-SHA256, AES-128-CTR, and a Keccak MAC over the ciphertext.
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "chain/bytes.hpp"
#include "chain/result.hpp"
#include "keys/errors.hpp"
#include "keys/kdf.hpp"
#include "keys/secret.hpp"

namespace vigil::keys {

/// geth's StandardScryptN/P: ~256 MiB and most of a second per derivation. The default for
/// every keystore vigil writes.
inline constexpr ScryptParams kStandardScrypt{262144, 8, 1};
/// geth's LightScryptN/P (4 MiB). Only for tests, which pass it explicitly.
inline constexpr ScryptParams kLightScrypt{4096, 8, 6};

/// Limits on what a keystore may ask of us, so that a hostile file cannot exhaust memory or
/// time: 1 GiB of scrypt memory and n * r * p <= 2^24 (8 times geth's standard setting).
inline constexpr uint64_t kMaxScryptMemoryBytes = uint64_t{1} << 30;
inline constexpr uint64_t kMaxScryptWork = uint64_t{1} << 24;
/// Keystore files are under 1 KiB; anything over this is not one.
inline constexpr std::size_t kMaxKeystoreFileBytes = std::size_t{1} << 20;

/// Decrypts a v3 keystore with `password`.
/// Checks, in this order: every field (`bad_keystore`, or `unsupported_keystore` for another
/// version, cipher, kdf or prf, or for scrypt parameters over the limits above), each error
/// naming its JSON path ("crypto.kdfparams.dklen: must be 32"); then the MAC, compared in
/// constant time before anything is decrypted (`wrong_password`); then that the plaintext is
/// a valid secp256k1 key (`invalid_private_key`); then, when the optional "address" field is
/// present, that it is the key's address (`bad_keystore`). Unknown fields are ignored, and
/// "Crypto" is read where "crypto" is absent, as geth does. No detail ever contains the
/// password or key bytes.
[[nodiscard]] Result<SecretKey, KeyError> decrypt_keystore(std::string_view json,
                                                           BytesView password);

/// Encrypts `key` as geth does: AES-128-CTR under a key derived by scrypt with `params`,
/// fresh random 32-byte salt and 16-byte IV, a random UUID v4 "id", and "address" as
/// lower-case hex without "0x". Returns the JSON text. `invalid_private_key` when the key is
/// not a valid secp256k1 key, `entropy_unavailable` when the system RNG fails. `params` must
/// be valid and within the limits above (asserted: it is our own choice, not input).
[[nodiscard]] Result<std::string, KeyError> encrypt_keystore(
    const SecretKey& key, BytesView password, const ScryptParams& params = kStandardScrypt);

/// The "address" field of a keystore, read without the password. `bad_keystore` when it is
/// missing (cast writes keystores without one) or malformed.
[[nodiscard]] Result<Address, KeyError> keystore_address(std::string_view json);

/// The text of a keystore file; `io` naming the path when it cannot be read,
/// `bad_keystore` when it is larger than kMaxKeystoreFileBytes.
[[nodiscard]] Result<std::string, KeyError> read_keystore_file(const std::filesystem::path& path);

/// Writes `json` to `dir/UTC--<UTC time with nanoseconds>--<address hex>`, geth's file name,
/// with mode 0600. The file appears complete or not at all: the text goes to a temporary
/// file in `dir` that is synced and then renamed. `dir` is created (mode 0700) when missing;
/// its parent must exist.
/// Returns the path written; `io` naming what failed otherwise.
[[nodiscard]] Result<std::filesystem::path, KeyError> write_keystore_file(
    const std::filesystem::path& dir, const Address& address, std::string_view json);

}  // namespace vigil::keys
