// Key sources (hex key in an env var, keystore + password from env or file) and the rule that
// no failure path repeats the key.
#include <gtest/gtest.h>

#include <fstream>

#include "keys/key_source.hpp"
#include "keys/keystore.hpp"
#include "keys/local_signer.hpp"
#include "tests/support/anvil.hpp"
#include "tests/support/key_test_support.hpp"
#include "tests/support/vectors.hpp"

using namespace vigil;
using namespace vigil::keys;
using test::bytes_of;
using test::kLeakTestKey;
using test::mentions_key;

namespace {

constexpr const char* kKeyVar = "VIGIL_TEST_KEY";
constexpr const char* kPasswordVar = "VIGIL_TEST_PASSWORD";

Address leak_test_address() {
    return *address_of(*parse_private_key(kLeakTestKey));
}

/// A light keystore of kLeakTestKey under `password`, written into `dir`.
std::filesystem::path write_test_keystore(const std::filesystem::path& dir,
                                          std::string_view password) {
    const SecretKey key = *parse_private_key(kLeakTestKey);
    const auto json = encrypt_keystore(key, bytes_of(password), kLightScrypt);
    return *write_keystore_file(dir, leak_test_address(), *json);
}

void write_text(const std::filesystem::path& p, std::string_view text) {
    std::ofstream(p, std::ios::binary) << text;
}

}  // namespace

TEST(parse_private_key, accepts_64_hex_digits_with_or_without_0x) {
    const Address expected = *address_of(*parse_private_key(kLeakTestKey));
    std::string upper(kLeakTestKey);
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (const std::string& text : {"0x" + std::string(kLeakTestKey), "0X" + upper, upper}) {
        auto key = parse_private_key(text);
        ASSERT_TRUE(key.has_value());
        EXPECT_EQ(*address_of(*key), expected);
    }
}

TEST(parse_private_key, rejects_malformed_text_without_repeating_it) {
    const std::string key(kLeakTestKey);
    for (const std::string& text :
         std::vector<std::string>{"", "0x", key.substr(0, 63), key + "0", key.substr(0, 63) + "g",
                                  " " + key, key + "\n", "0x" + key.substr(0, 62)}) {
        auto parsed = parse_private_key(text);
        ASSERT_FALSE(parsed.has_value());
        EXPECT_EQ(parsed.error().kind, KeyErrc::invalid_private_key);
        EXPECT_EQ(parsed.error().detail, "private key must be 64 hex digits, 0x optional");
    }
}

TEST(key_source, env_key_gives_its_signer) {
    test::ScopedEnv env(kKeyVar, "0x" + std::string(kLeakTestKey));
    auto signer = make_signer(KeyFromEnv{kKeyVar});
    ASSERT_TRUE(signer.has_value()) << signer.error().to_string();
    EXPECT_EQ((*signer)->address(), leak_test_address());
}

TEST(key_source, env_key_errors_name_the_variable) {
    {
        test::ScopedEnv env(kKeyVar, std::nullopt);
        auto signer = make_signer(KeyFromEnv{kKeyVar});
        ASSERT_FALSE(signer.has_value());
        EXPECT_EQ(signer.error().to_string(), "missing_env: VIGIL_TEST_KEY is not set");
    }
    {
        test::ScopedEnv env(kKeyVar, std::string(kLeakTestKey) + "00");
        auto signer = make_signer(KeyFromEnv{kKeyVar});
        ASSERT_FALSE(signer.has_value());
        EXPECT_EQ(signer.error().to_string(),
                  "invalid_private_key: VIGIL_TEST_KEY: private key must be 64 hex digits, 0x "
                  "optional");
    }
    {
        test::ScopedEnv env(kKeyVar, std::string(64, '0'));
        auto signer = make_signer(KeyFromEnv{kKeyVar});
        ASSERT_FALSE(signer.has_value());
        EXPECT_EQ(signer.error().to_string(),
                  "invalid_private_key: VIGIL_TEST_KEY: private key must be in [1, n-1] of "
                  "secp256k1");
    }
}

TEST(key_source, keystore_with_password_from_env_or_file) {
    test::TempDir tmp;
    const auto path = write_test_keystore(tmp.path(), "s3cret");
    {
        test::ScopedEnv env(kPasswordVar, "s3cret");
        auto signer = make_signer(KeyFromKeystore{path, PasswordFromEnv{kPasswordVar}});
        ASSERT_TRUE(signer.has_value()) << signer.error().to_string();
        EXPECT_EQ((*signer)->address(), leak_test_address());
    }
    // Trailing newlines, as editors and `echo` leave them, are not part of the password.
    for (const char* content : {"s3cret", "s3cret\n", "s3cret\r\n", "s3cret\n\n"}) {
        const auto file = tmp.path() / "password.txt";
        write_text(file, content);
        auto signer = make_signer(KeyFromKeystore{path, PasswordFromFile{file}});
        ASSERT_TRUE(signer.has_value()) << signer.error().to_string();
        EXPECT_EQ((*signer)->address(), leak_test_address());
    }
}

TEST(key_source, keystore_errors_name_the_file_or_variable) {
    test::TempDir tmp;
    const auto path = write_test_keystore(tmp.path(), "s3cret");
    {
        test::ScopedEnv env(kPasswordVar, "wrong");
        auto signer = make_signer(KeyFromKeystore{path, PasswordFromEnv{kPasswordVar}});
        ASSERT_FALSE(signer.has_value());
        EXPECT_EQ(signer.error().to_string(),
                  "wrong_password: " + path.string() + ": keystore MAC does not match");
    }
    {
        test::ScopedEnv env(kPasswordVar, std::nullopt);
        auto signer = make_signer(KeyFromKeystore{path, PasswordFromEnv{kPasswordVar}});
        ASSERT_FALSE(signer.has_value());
        EXPECT_EQ(signer.error().to_string(), "missing_env: VIGIL_TEST_PASSWORD is not set");
    }
    {
        auto signer = make_signer(KeyFromKeystore{path, PasswordFromFile{tmp.path() / "nope"}});
        ASSERT_FALSE(signer.has_value());
        EXPECT_EQ(signer.error().kind, KeyErrc::io);
        EXPECT_NE(signer.error().detail.find("nope"), std::string::npos);
    }
    {
        test::ScopedEnv env(kPasswordVar, "s3cret");
        auto signer = make_signer(
            KeyFromKeystore{tmp.path() / "missing.json", PasswordFromEnv{kPasswordVar}});
        ASSERT_FALSE(signer.has_value());
        EXPECT_EQ(signer.error().kind, KeyErrc::io);
        EXPECT_NE(signer.error().detail.find("missing.json"), std::string::npos);
    }
    {
        const auto big = tmp.path() / "big-password";
        write_text(big, std::string(kMaxPasswordFileBytes + 1, 'x'));
        auto password = read_password(PasswordFromFile{big});
        ASSERT_FALSE(password.has_value());
        EXPECT_EQ(password.error().kind, KeyErrc::io);
        write_text(big, std::string(kMaxPasswordFileBytes, 'x'));
        EXPECT_EQ(read_password(PasswordFromFile{big})->size(), kMaxPasswordFileBytes);
    }
}

TEST(key_source, an_empty_env_value_is_an_empty_password) {
    test::ScopedEnv env(kPasswordVar, "");
    auto password = read_password(PasswordFromEnv{kPasswordVar});
    ASSERT_TRUE(password.has_value());
    EXPECT_TRUE(password->empty());
}

// The key must not reach any error text, whatever went wrong around it.
TEST(key_source, no_failure_repeats_the_key) {
    const std::string key(kLeakTestKey);
    test::TempDir tmp;
    std::vector<std::string> texts;
    const auto collect = [&](const auto& result) {
        ASSERT_FALSE(result.has_value());
        texts.push_back(result.error().to_string());
        texts.push_back(std::string(to_string(result.error().kind)));
    };
    // The key, mangled in ways a user might paste it.
    for (const std::string& value : {key + "0", key.substr(0, 63), key.substr(0, 63) + "z",
                                     "0x" + key + " ", " 0x" + key, key + "\n", "0x0x" + key}) {
        collect(parse_private_key(value));
        test::ScopedEnv env(kKeyVar, value);
        collect(make_signer(KeyFromEnv{kKeyVar}));
    }
    // The key used as a password, a keystore path, or written where the keystore should be.
    const auto path = write_test_keystore(tmp.path(), "s3cret");
    {
        test::ScopedEnv env(kPasswordVar, key);
        collect(make_signer(KeyFromKeystore{path, PasswordFromEnv{kPasswordVar}}));
    }
    const auto key_as_keystore = tmp.path() / "not-a-keystore.json";
    write_text(key_as_keystore, "{\"address\": \"" + key + "\", \"version\": 3}");
    collect(read_keystore_file(key_as_keystore).and_then([](const std::string& t) {
        return decrypt_keystore(t, bytes_of("pw"));
    }));
    collect(read_keystore_file(key_as_keystore).and_then([](const std::string& t) {
        return keystore_address(t);
    }));
    write_text(key_as_keystore, key);
    collect(read_keystore_file(key_as_keystore).and_then([](const std::string& t) {
        return decrypt_keystore(t, bytes_of("pw"));
    }));

    ASSERT_GE(texts.size(), 30u);
    for (const auto& text : texts) EXPECT_FALSE(mentions_key(text, key));
    // The check itself can fail: it finds the key in any case, with or without 0x.
    std::string upper = key;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_TRUE(mentions_key("error: 0X" + upper + ".", key));
    EXPECT_TRUE(mentions_key("truncated " + key.substr(0, 32), key));
}
