#pragma once
#include <string>
#include <string_view>

namespace vigil::keys {

/// What went wrong in key handling. Messages never contain key material or passwords.
enum class KeyErrc {
    invalid_private_key,   ///< zero, >= the curve order, or not 32 bytes
    invalid_signature,     ///< r or s out of range, s not low, bad recovery id
    recovery_failed,       ///< no public key recovers from this signature and hash
    wrong_password,        ///< keystore MAC mismatch
    bad_keystore,          ///< keystore JSON missing a field or holding a malformed value
    unsupported_keystore,  ///< a kdf/cipher/version vigil does not implement
    missing_env,           ///< the named environment variable is not set
    io,                    ///< a file could not be read or written
    entropy_unavailable,   ///< the system's random generator failed (new keys, salts, IVs)
};
std::string_view to_string(KeyErrc e) noexcept;

struct KeyError {
    KeyErrc kind;
    std::string detail;  ///< what and where, e.g. "crypto.kdfparams.n: not a power of two"
    /// "bad_keystore: crypto.kdfparams.n: not a power of two"
    std::string to_string() const;
};

}  // namespace vigil::keys
