#include "keys/errors.hpp"

namespace vigil::keys {

std::string_view to_string(KeyErrc e) noexcept {
    switch (e) {
        case KeyErrc::invalid_private_key:
            return "invalid_private_key";
        case KeyErrc::invalid_signature:
            return "invalid_signature";
        case KeyErrc::recovery_failed:
            return "recovery_failed";
        case KeyErrc::wrong_password:
            return "wrong_password";
        case KeyErrc::bad_keystore:
            return "bad_keystore";
        case KeyErrc::unsupported_keystore:
            return "unsupported_keystore";
        case KeyErrc::missing_env:
            return "missing_env";
        case KeyErrc::io:
            return "io";
        case KeyErrc::entropy_unavailable:
            return "entropy_unavailable";
    }
    return "unknown";
}

std::string KeyError::to_string() const {
    std::string text(keys::to_string(kind));
    if (!detail.empty()) {
        text += ": ";
        text += detail;
    }
    return text;
}

}  // namespace vigil::keys
