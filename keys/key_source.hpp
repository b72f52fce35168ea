#pragma once
// Where signing keys and keystore passwords come from: environment variables and files,
// never the config file itself (see the `signers` section of the config).
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "chain/result.hpp"
#include "keys/errors.hpp"
#include "keys/secret.hpp"
#include "keys/signer.hpp"

namespace vigil::keys {

/// A password held in the environment variable `name`.
struct PasswordFromEnv {
    std::string name;
};
/// A password held in a file; trailing "\n" and "\r" are not part of it.
struct PasswordFromFile {
    std::filesystem::path path;
};
using PasswordSource = std::variant<PasswordFromEnv, PasswordFromFile>;

/// A hex private key held in the environment variable `name`.
struct KeyFromEnv {
    std::string name;
};
/// A v3 keystore file and where its password comes from.
struct KeyFromKeystore {
    std::filesystem::path path;
    PasswordSource password;
};
using KeySource = std::variant<KeyFromEnv, KeyFromKeystore>;

/// Password files longer than this are refused: nobody types a 64 KiB password.
inline constexpr std::size_t kMaxPasswordFileBytes = std::size_t{64} << 10;

/// Reads a private key written as 64 hex digits, "0x" optional, nothing around them.
/// `invalid_private_key` when the text is not that; the error never repeats the text.
/// The scalar itself is checked later, by make_local_signer.
[[nodiscard]] Result<SecretKey, KeyError> parse_private_key(std::string_view hex);

/// The private key in environment variable `name`, in parse_private_key's format.
/// `missing_env` when unset; `invalid_private_key` prefixed with the variable's name.
[[nodiscard]] Result<SecretKey, KeyError> read_key_env(std::string_view name);

/// The password bytes. `missing_env` naming the variable when it is unset (an empty value
/// is an empty password); `io` naming the file when it cannot be read or is larger than
/// kMaxPasswordFileBytes.
[[nodiscard]] Result<SecretBytes, KeyError> read_password(const PasswordSource& source);

/// A signer for `source`. Errors name the variable or file they concern (`missing_env`,
/// `invalid_private_key`, `io`, and the keystore errors of decrypt_keystore prefixed with
/// the file's path), never the key or password.
[[nodiscard]] Result<std::unique_ptr<Signer>, KeyError> make_signer(const KeySource& source);

}  // namespace vigil::keys
