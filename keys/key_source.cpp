#include "keys/key_source.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "keys/keystore.hpp"
#include "keys/local_signer.hpp"

namespace vigil::keys {
namespace {

int hex_digit(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

KeyError missing_env(std::string_view name) {
    return {KeyErrc::missing_env, printable_name(name) + " is not set"};
}

/// Prefixes the detail with where the key came from ("VIGIL_KEY: ...").
KeyError located(std::string_view where, KeyError e) {
    e.detail = printable_name(where) + ": " + e.detail;
    return e;
}

Result<SecretBytes, KeyError> read_secret_file(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return unexpected(KeyError{KeyErrc::io, "cannot open " + printable_name(path.string()) +
                                                    ": " + std::strerror(errno)});
    // Read straight into wiped memory: a stream would leave copies in its own buffers.
    // One byte more than the limit tells "at the limit" from "over it".
    SecretBytes buf(kMaxPasswordFileBytes + 1);
    std::size_t used = 0;
    int err = 0;
    while (used < buf.size()) {
        const ssize_t n = ::read(fd, buf.data() + used, buf.size() - used);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) err = errno;
        if (n <= 0) break;
        used += static_cast<std::size_t>(n);
    }
    ::close(fd);
    if (err != 0)
        return unexpected(KeyError{KeyErrc::io, "cannot read " + printable_name(path.string()) +
                                                    ": " + std::strerror(err)});
    if (used > kMaxPasswordFileBytes)
        return unexpected(
            KeyError{KeyErrc::io, printable_name(path.string()) + ": larger than 64 KiB"});
    buf.shrink_to(used);
    return buf;
}

Result<std::unique_ptr<Signer>, KeyError> boxed(Result<LocalSigner, KeyError> signer) {
    if (!signer) return unexpected(signer.error());
    return std::make_unique<LocalSigner>(std::move(*signer));
}

Result<std::unique_ptr<Signer>, KeyError> signer_from(const KeyFromEnv& source) {
    auto key = read_key_env(source.name);
    if (!key) return unexpected(key.error());
    auto signer = boxed(make_local_signer(std::move(*key)));
    if (!signer) return unexpected(located(source.name, signer.error()));
    return signer;
}

Result<std::unique_ptr<Signer>, KeyError> signer_from(const KeyFromKeystore& source) {
    auto text = read_keystore_file(source.path);
    if (!text) return unexpected(text.error());
    auto password = read_password(source.password);
    if (!password) return unexpected(password.error());
    auto key = decrypt_keystore(*text, password->view());
    if (!key) return unexpected(located(source.path.string(), key.error()));
    return boxed(make_local_signer(std::move(*key)));
}

}  // namespace

Result<SecretKey, KeyError> parse_private_key(std::string_view hex) {
    if (hex.size() >= 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) hex.remove_prefix(2);
    const KeyError invalid{KeyErrc::invalid_private_key,
                           "private key must be 64 hex digits, 0x optional"};
    if (hex.size() != 2 * SecretKey::size) return unexpected(invalid);
    SecretKey key;
    for (std::size_t i = 0; i < SecretKey::size; ++i) {
        const int hi = hex_digit(hex[2 * i]);
        const int lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return unexpected(invalid);
        key.data()[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    return key;
}

Result<SecretKey, KeyError> read_key_env(std::string_view name) {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return unexpected(missing_env(name));
    auto key = parse_private_key(value);
    if (!key) return unexpected(located(name, key.error()));
    return key;
}

Result<SecretBytes, KeyError> read_password(const PasswordSource& source) {
    if (const auto* env = std::get_if<PasswordFromEnv>(&source)) {
        const char* value = std::getenv(env->name.c_str());
        if (value == nullptr) return unexpected(missing_env(env->name));
        SecretBytes password(std::strlen(value));
        std::memcpy(password.data(), value, password.size());
        return password;
    }
    auto password = read_secret_file(std::get<PasswordFromFile>(source).path);
    if (!password) return unexpected(password.error());
    std::size_t size = password->size();
    while (size > 0 && (password->data()[size - 1] == '\n' || password->data()[size - 1] == '\r'))
        --size;
    password->shrink_to(size);
    return password;
}

Result<std::unique_ptr<Signer>, KeyError> make_signer(const KeySource& source) {
    return std::visit([](const auto& s) { return signer_from(s); }, source);
}

}  // namespace vigil::keys
