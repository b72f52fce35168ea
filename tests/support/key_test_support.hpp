#pragma once
// Helpers for tests of key handling (unit_keys and the `vigil keys` CLI tests in unit_agent):
// scratch directories, scoped environment variables, and a check that a key's hex is absent
// from text. Not a *_test.cpp, so no test binary compiles it on its own.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "chain/bytes.hpp"

namespace vigil::test {

/// A fresh directory under the system temp dir, removed with its contents at scope exit.
class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "vigil-keys-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
};

/// Sets (or with nullopt, unsets) an environment variable and restores it at scope exit.
class ScopedEnv {
public:
    ScopedEnv(std::string name, const std::optional<std::string>& value) : name_(std::move(name)) {
        if (const char* old = std::getenv(name_.c_str())) old_ = old;
        if (value) {
            ::setenv(name_.c_str(), value->c_str(), 1);
        } else {
            ::unsetenv(name_.c_str());
        }
    }
    ~ScopedEnv() {
        if (old_) {
            ::setenv(name_.c_str(), old_->c_str(), 1);
        } else {
            ::unsetenv(name_.c_str());
        }
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    std::string name_;
    std::optional<std::string> old_;
};

/// True when `text` holds `key_hex` (64 digits, no prefix) in any letter case, with or
/// without "0x", or either 32-digit half of it (a truncated echo is a leak too).
/// Returns a bool so that a failing check prints neither the text nor the key.
inline bool mentions_key(std::string_view text, std::string_view key_hex) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string key(key_hex);
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return lower.find(key.substr(0, 32)) != std::string::npos ||
           lower.find(key.substr(32)) != std::string::npos;
}

/// The signing key of the web3.js documentation examples: public, used by nobody.
inline constexpr std::string_view kLeakTestKey =
    "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";

/// The password as the byte view the keystore API takes.
inline BytesView bytes_of(std::string_view text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

}  // namespace vigil::test
