// Web3 Secret Storage v3: the official vectors, every malformed field with its exact error,
// write/read round trips, the file on disk, and keystores exchanged with foundry's cast.
#include <openssl/evp.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "chain/keccak.hpp"
#include "keys/keystore.hpp"
#include "keys/local_signer.hpp"
#include "tests/support/anvil.hpp"
#include "tests/support/key_test_support.hpp"
#include "tests/support/vectors.hpp"

using namespace vigil;
using namespace vigil::keys;
using nlohmann::json;
using test::bytes_of;

namespace {

json keystore_vectors() {
    return test::load_vector("ethereum-tests/KeyStoreTests/basic_tests.json");
}

Address cast_address_of(const std::string& key_hex) {
    return *parse_address(test::cast({"wallet", "address", "--private-key", key_hex}));
}

SecretKey key_from_hex(std::string_view hex) {
    const Bytes b = test::hex(hex);
    return SecretKey(std::span<const uint8_t, 32>(b.data(), 32));
}

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// A pbkdf2 keystore (c = 1) around any 32 bytes, built here from the spec rather than by
/// encrypt_keystore, which refuses plaintexts that are not keys.
std::string hand_made_keystore(const Bytes& plaintext, std::string_view password) {
    const Bytes salt(16, 0x5a), iv(16, 0x11);
    std::array<uint8_t, 32> dk{};
    pbkdf2_hmac_sha256(bytes_of(password), salt, 1, dk);
    Bytes ciphertext(plaintext.size());
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    int len = 0;
    EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), nullptr, dk.data(), iv.data());
    EVP_EncryptUpdate(ctx, ciphertext.data(), &len, plaintext.data(),
                      static_cast<int>(plaintext.size()));
    EVP_CIPHER_CTX_free(ctx);
    Bytes mac_input(dk.begin() + 16, dk.end());
    mac_input.insert(mac_input.end(), ciphertext.begin(), ciphertext.end());
    const auto hex = [](BytesView b) { return to_hex(b).substr(2); };
    return json{
        {"version", 3},
        {"crypto",
         {{"cipher", "aes-128-ctr"},
          {"cipherparams", {{"iv", hex(iv)}}},
          {"ciphertext", hex(ciphertext)},
          {"kdf", "pbkdf2"},
          {"kdfparams", {{"c", 1}, {"dklen", 32}, {"prf", "hmac-sha256"}, {"salt", hex(salt)}}},
          {"mac", hex(keccak256(mac_input))}}}}
        .dump();
}

}  // namespace

TEST(keystore, decrypts_the_web3_secret_storage_vectors) {
    const json vectors = keystore_vectors();
    ASSERT_EQ(vectors.size(), 5u);
    for (const auto& [name, v] : vectors.items()) {
        SCOPED_TRACE(name);
        const std::string priv = v["priv"].get<std::string>();
        auto key = decrypt_keystore(v["json"].dump(), bytes_of(v["password"].get<std::string>()));
        ASSERT_TRUE(key.has_value()) << key.error().to_string();
        // Bytes compared as a bool, so a failure prints no key; the address comes from cast.
        EXPECT_TRUE(std::ranges::equal(key->view(), test::hex(priv)));
        EXPECT_EQ(*address_of(*key), cast_address_of(priv));
    }
}

TEST(keystore, wrong_password_is_caught_by_the_mac) {
    const json vectors = keystore_vectors();
    for (const char* name : {"test1", "mycrypto"}) {
        auto key = decrypt_keystore(vectors[name]["json"].dump(), bytes_of("not the password"));
        ASSERT_FALSE(key.has_value()) << name;
        EXPECT_EQ(key.error().kind, KeyErrc::wrong_password) << name;
        EXPECT_EQ(key.error().to_string(), "wrong_password: keystore MAC does not match");
    }
}

TEST(keystore, reads_the_address_field_without_a_password) {
    const json vectors = keystore_vectors();
    EXPECT_EQ(*keystore_address(vectors["mycrypto"]["json"].dump()),
              *parse_address("0x460121576cc7df020759730751f92bd62fd78dd6"));
    const auto missing = keystore_address(vectors["test1"]["json"].dump());
    ASSERT_FALSE(missing.has_value());
    EXPECT_EQ(missing.error().to_string(), "bad_keystore: address: missing");
}

struct Corruption {
    const char* name;
    const char* base;  // vector to start from: test1 (pbkdf2) or mycrypto (scrypt)
    std::function<void(json&)> mutate;
    KeyErrc kind;
    const char* detail;
};

TEST(keystore, each_corruption_gives_its_exact_error) {
    const json vectors = keystore_vectors();
    const auto cut = [](json& field, std::size_t digits) {
        field = field.get<std::string>().substr(0, digits);
    };
    const auto flip_last_digit = [](json& field) {
        std::string s = field.get<std::string>();
        s.back() = s.back() == '0' ? '1' : '0';
        field = s;
    };
    const std::vector<Corruption> cases = {
        {"version missing", "test1", [](json& j) { j.erase("version"); }, KeyErrc::bad_keystore,
         "version: missing"},
        {"version text", "test1", [](json& j) { j["version"] = "3"; }, KeyErrc::bad_keystore,
         "version: must be a non-negative integer"},
        {"version 1", "test1", [](json& j) { j["version"] = 1; }, KeyErrc::unsupported_keystore,
         "version: only version 3 is supported"},
        {"crypto missing", "test1", [](json& j) { j.erase("crypto"); }, KeyErrc::bad_keystore,
         "crypto: missing"},
        {"crypto not object", "test1", [](json& j) { j["crypto"] = json::array(); },
         KeyErrc::bad_keystore, "crypto: must be an object"},
        {"cipher missing", "test1", [](json& j) { j["crypto"].erase("cipher"); },
         KeyErrc::bad_keystore, "crypto.cipher: missing"},
        {"cipher cbc", "test1", [](json& j) { j["crypto"]["cipher"] = "aes-128-cbc"; },
         KeyErrc::unsupported_keystore, "crypto.cipher: only aes-128-ctr is supported"},
        {"cipherparams missing", "test1", [](json& j) { j["crypto"].erase("cipherparams"); },
         KeyErrc::bad_keystore, "crypto.cipherparams: missing"},
        {"iv missing", "test1", [](json& j) { j["crypto"]["cipherparams"].erase("iv"); },
         KeyErrc::bad_keystore, "crypto.cipherparams.iv: missing"},
        {"iv bad hex", "test1",
         [](json& j) { j["crypto"]["cipherparams"]["iv"] = "6087dab2f9fdbbfaddc31a909735c1eX"; },
         KeyErrc::bad_keystore, "crypto.cipherparams.iv: bad_digit at offset 31"},
        {"iv 15 bytes", "test1", [&](json& j) { cut(j["crypto"]["cipherparams"]["iv"], 30); },
         KeyErrc::bad_keystore, "crypto.cipherparams.iv: must be 16 bytes"},
        {"ciphertext truncated", "test1", [&](json& j) { cut(j["crypto"]["ciphertext"], 62); },
         KeyErrc::bad_keystore, "crypto.ciphertext: must be 32 bytes"},
        {"ciphertext odd length", "test1", [&](json& j) { cut(j["crypto"]["ciphertext"], 63); },
         KeyErrc::bad_keystore, "crypto.ciphertext: odd_length at offset 63"},
        {"ciphertext number", "test1", [](json& j) { j["crypto"]["ciphertext"] = 5; },
         KeyErrc::bad_keystore, "crypto.ciphertext: must be a string"},
        {"kdf missing", "test1", [](json& j) { j["crypto"].erase("kdf"); }, KeyErrc::bad_keystore,
         "crypto.kdf: missing"},
        {"kdf unknown", "test1", [](json& j) { j["crypto"]["kdf"] = "argon2id"; },
         KeyErrc::unsupported_keystore, "crypto.kdf: only scrypt and pbkdf2 are supported"},
        {"kdfparams missing", "test1", [](json& j) { j["crypto"].erase("kdfparams"); },
         KeyErrc::bad_keystore, "crypto.kdfparams: missing"},
        {"dklen 16", "test1", [](json& j) { j["crypto"]["kdfparams"]["dklen"] = 16; },
         KeyErrc::bad_keystore, "crypto.kdfparams.dklen: must be 32"},
        {"dklen missing", "test1", [](json& j) { j["crypto"]["kdfparams"].erase("dklen"); },
         KeyErrc::bad_keystore, "crypto.kdfparams.dklen: missing"},
        {"salt bad hex", "test1", [](json& j) { j["crypto"]["kdfparams"]["salt"] = "zz"; },
         KeyErrc::bad_keystore, "crypto.kdfparams.salt: bad_digit at offset 0"},
        {"prf sha512", "test1", [](json& j) { j["crypto"]["kdfparams"]["prf"] = "hmac-sha512"; },
         KeyErrc::unsupported_keystore, "crypto.kdfparams.prf: only hmac-sha256 is supported"},
        {"c zero", "test1", [](json& j) { j["crypto"]["kdfparams"]["c"] = 0; },
         KeyErrc::bad_keystore, "crypto.kdfparams.c: must be between 1 and 2^31-1"},
        {"c too big", "test1", [](json& j) { j["crypto"]["kdfparams"]["c"] = 1ull << 31; },
         KeyErrc::bad_keystore, "crypto.kdfparams.c: must be between 1 and 2^31-1"},
        {"c missing", "test1", [](json& j) { j["crypto"]["kdfparams"].erase("c"); },
         KeyErrc::bad_keystore, "crypto.kdfparams.c: missing"},
        {"mac missing", "test1", [](json& j) { j["crypto"].erase("mac"); }, KeyErrc::bad_keystore,
         "crypto.mac: missing"},
        {"mac 31 bytes", "test1", [&](json& j) { cut(j["crypto"]["mac"], 62); },
         KeyErrc::bad_keystore, "crypto.mac: must be 32 bytes"},
        {"mac altered", "test1", [&](json& j) { flip_last_digit(j["crypto"]["mac"]); },
         KeyErrc::wrong_password, "keystore MAC does not match"},
        {"ciphertext altered", "test1",
         [&](json& j) { flip_last_digit(j["crypto"]["ciphertext"]); }, KeyErrc::wrong_password,
         "keystore MAC does not match"},
        {"address bad hex", "mycrypto",
         [](json& j) { j["address"] = "460121576cc7df020759730751f92bd62fd78ddg"; },
         KeyErrc::bad_keystore, "address: bad_digit at offset 39"},
        {"address short", "mycrypto", [](json& j) { j["address"] = "460121576cc7"; },
         KeyErrc::bad_keystore, "address: must be 20 bytes"},
        {"address of another key", "mycrypto",
         [](json& j) { j["address"] = "f39fd6e51aad88f6f4ce6ab8827279cfffb92266"; },
         KeyErrc::bad_keystore, "address: does not match the decrypted key"},
        {"n not a power of two", "mycrypto", [](json& j) { j["crypto"]["kdfparams"]["n"] = 8000; },
         KeyErrc::bad_keystore, "crypto.kdfparams.n: must be a power of two above 1"},
        {"n one", "mycrypto", [](json& j) { j["crypto"]["kdfparams"]["n"] = 1; },
         KeyErrc::bad_keystore, "crypto.kdfparams.n: must be a power of two above 1"},
        {"n negative", "mycrypto", [](json& j) { j["crypto"]["kdfparams"]["n"] = -8192; },
         KeyErrc::bad_keystore, "crypto.kdfparams.n: must be a non-negative integer"},
        {"n fractional", "mycrypto", [](json& j) { j["crypto"]["kdfparams"]["n"] = 8192.5; },
         KeyErrc::bad_keystore, "crypto.kdfparams.n: must be a non-negative integer"},
        {"r zero", "mycrypto", [](json& j) { j["crypto"]["kdfparams"]["r"] = 0; },
         KeyErrc::bad_keystore, "crypto.kdfparams.r: must be a positive 32-bit integer"},
        {"p missing", "mycrypto", [](json& j) { j["crypto"]["kdfparams"].erase("p"); },
         KeyErrc::bad_keystore, "crypto.kdfparams.p: missing"},
        {"r * p too big", "mycrypto",
         [](json& j) {
             j["crypto"]["kdfparams"]["r"] = 32768;
             j["crypto"]["kdfparams"]["p"] = 32768;
         },
         KeyErrc::bad_keystore, "crypto.kdfparams: r * p must be below 2^30"},
        {"scrypt work over limit", "mycrypto",
         [](json& j) { j["crypto"]["kdfparams"]["n"] = 1 << 22; }, KeyErrc::unsupported_keystore,
         "crypto.kdfparams: n * r * p is over the 2^24 limit"},
        {"scrypt memory over limit", "mycrypto",
         [](json& j) {
             j["crypto"]["kdfparams"]["n"] = 1 << 20;
             j["crypto"]["kdfparams"]["r"] = 16;
         },
         KeyErrc::unsupported_keystore, "crypto.kdfparams: scrypt would need more than 1 GiB"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        json doc = vectors[c.base]["json"];
        c.mutate(doc);
        auto key =
            decrypt_keystore(doc.dump(), bytes_of(vectors[c.base]["password"].get<std::string>()));
        ASSERT_FALSE(key.has_value());
        EXPECT_EQ(key.error().kind, c.kind);
        EXPECT_EQ(key.error().detail, c.detail);
    }
}

TEST(keystore, rejects_text_that_is_not_a_keystore_object) {
    for (const auto& [text, detail] : std::vector<std::pair<std::string, std::string>>{
             {"{\"version\": 3,", "keystore: not valid JSON"},
             {"", "keystore: not valid JSON"},
             {"[3]", "keystore: must be a JSON object"}}) {
        auto key = decrypt_keystore(text, bytes_of("pw"));
        ASSERT_FALSE(key.has_value());
        EXPECT_EQ(key.error().kind, KeyErrc::bad_keystore);
        EXPECT_EQ(key.error().detail, detail);
    }
}

TEST(keystore, reads_capitalised_crypto_as_geth_does) {
    json doc = keystore_vectors()["mycrypto"]["json"];
    doc["Crypto"] = doc["crypto"];
    doc.erase("crypto");
    auto key = decrypt_keystore(doc.dump(), bytes_of("foobartest121"));
    ASSERT_TRUE(key.has_value()) << key.error().to_string();
}

TEST(keystore, plaintext_that_is_not_a_key_is_rejected_after_the_mac) {
    // The curve order n itself and zero: both pass the MAC, neither is a key.
    const Bytes order =
        test::hex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
    for (const Bytes& plaintext : {Bytes(32, 0), order}) {
        auto key = decrypt_keystore(hand_made_keystore(plaintext, "pw"), bytes_of("pw"));
        ASSERT_FALSE(key.has_value());
        EXPECT_EQ(key.error().kind, KeyErrc::invalid_private_key);
    }
    // The same construction around a real key decrypts, so the failures above are the key's.
    const Bytes one = test::hex("0000000000000000000000000000000000000000000000000000000000000001");
    EXPECT_TRUE(decrypt_keystore(hand_made_keystore(one, "pw"), bytes_of("pw")).has_value());
}

TEST(keystore, round_trips_with_geth_fields) {
    const SecretKey key = key_from_hex(test::kLeakTestKey);
    const Address address = *address_of(key);
    auto text = encrypt_keystore(key, bytes_of("correct horse"), kLightScrypt);
    ASSERT_TRUE(text.has_value()) << text.error().to_string();

    auto back = decrypt_keystore(*text, bytes_of("correct horse"));
    ASSERT_TRUE(back.has_value()) << back.error().to_string();
    EXPECT_TRUE(std::ranges::equal(back->view(), key.view()));
    EXPECT_EQ(decrypt_keystore(*text, bytes_of("correct horsE")).error().kind,
              KeyErrc::wrong_password);

    const json doc = json::parse(*text);
    EXPECT_EQ(doc["version"], 3);
    EXPECT_EQ(doc["address"], to_hex(address).substr(2));  // lower case, no 0x
    EXPECT_TRUE(std::regex_match(
        doc["id"].get<std::string>(),
        std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")));
    const json& crypto = doc["crypto"];
    EXPECT_EQ(crypto["cipher"], "aes-128-ctr");
    EXPECT_EQ(crypto["kdf"], "scrypt");
    EXPECT_EQ(crypto["kdfparams"], (json{{"dklen", 32},
                                         {"n", 4096},
                                         {"r", 8},
                                         {"p", 6},
                                         {"salt", crypto["kdfparams"]["salt"]}}));
    EXPECT_EQ(crypto["kdfparams"]["salt"].get<std::string>().size(), 64u);
    EXPECT_EQ(crypto["cipherparams"]["iv"].get<std::string>().size(), 32u);
    EXPECT_EQ(*keystore_address(*text), address);

    // Fresh salt, IV and id each time.
    const json again = json::parse(*encrypt_keystore(key, bytes_of("correct horse"), kLightScrypt));
    EXPECT_NE(again["crypto"]["kdfparams"]["salt"], crypto["kdfparams"]["salt"]);
    EXPECT_NE(again["crypto"]["cipherparams"]["iv"], crypto["cipherparams"]["iv"]);
    EXPECT_NE(again["id"], doc["id"]);
    EXPECT_FALSE(test::mentions_key(*text, test::kLeakTestKey));
}

TEST(keystore, refuses_to_encrypt_an_invalid_key) {
    const SecretKey zero;
    auto text = encrypt_keystore(zero, bytes_of("pw"), kLightScrypt);
    ASSERT_FALSE(text.has_value());
    EXPECT_EQ(text.error().kind, KeyErrc::invalid_private_key);
}

TEST(keystore_file, is_written_atomically_with_geth_name_and_mode_0600) {
    test::TempDir tmp;
    const auto dir = tmp.path() / "keys";  // created by the write
    const Address address = *parse_address("0x460121576cc7df020759730751f92bd62fd78dd6");
    auto path = write_keystore_file(dir, address, "{\"version\":3}");
    ASSERT_TRUE(path.has_value()) << path.error().to_string();
    EXPECT_EQ(path->parent_path(), dir);
    EXPECT_TRUE(std::regex_match(
        path->filename().string(),
        std::regex(
            R"(UTC--\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{9}Z--460121576cc7df020759730751f92bd62fd78dd6)")));
    struct stat st {};
    ASSERT_EQ(::stat(path->c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_EQ(::stat(dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    EXPECT_EQ(slurp(*path), "{\"version\":3}");
    EXPECT_EQ(*read_keystore_file(*path), "{\"version\":3}");
    // Nothing but the keystore is left in the directory: the temporary file was renamed.
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);
}

TEST(keystore_file, io_errors_name_the_path) {
    test::TempDir tmp;
    const auto missing = tmp.path() / "no-such-dir" / "sub";
    auto written = write_keystore_file(missing, Address{}, "{}");
    ASSERT_FALSE(written.has_value());
    EXPECT_EQ(written.error().kind, KeyErrc::io);
    EXPECT_NE(written.error().detail.find(missing.string()), std::string::npos);

    auto read = read_keystore_file(tmp.path() / "absent.json");
    ASSERT_FALSE(read.has_value());
    EXPECT_EQ(read.error().kind, KeyErrc::io);
    EXPECT_NE(read.error().detail.find("absent.json"), std::string::npos);

    const auto big = tmp.path() / "big.json";
    std::ofstream(big) << std::string(kMaxKeystoreFileBytes + 1, ' ');
    auto too_big = read_keystore_file(big);
    ASSERT_FALSE(too_big.has_value());
    EXPECT_EQ(too_big.error().kind, KeyErrc::bad_keystore);
}

// Interop with foundry's cast, both directions. cast's own keystores use scrypt n=8192 and
// carry no "address" field.
TEST(keystore_cast, cast_decrypts_what_vigil_writes) {
    test::TempDir tmp;
    const std::string key_hex = std::string(test::Anvil::kDevKey1).substr(2);
    const SecretKey key = key_from_hex(key_hex);
    auto text = encrypt_keystore(key, bytes_of("vigil pw"));  // the default: geth's standard
    ASSERT_TRUE(text.has_value()) << text.error().to_string();
    EXPECT_EQ(json::parse(*text)["crypto"]["kdfparams"]["n"], 262144);
    const auto path = write_keystore_file(tmp.path(), *address_of(key), *text);
    ASSERT_TRUE(path.has_value()) << path.error().to_string();

    const std::string out =
        test::cast({"wallet", "decrypt-keystore", "-k", tmp.path().string(),
                    path->filename().string(), "--unsafe-password", "vigil pw"});
    EXPECT_TRUE(out.find("0x" + key_hex) != std::string::npos);
}

TEST(keystore_cast, vigil_decrypts_what_cast_writes) {
    test::TempDir tmp;
    // `cast wallet new DIR`: "Created new encrypted keystore file: PATH\nAddress: 0x..."
    const std::string created =
        test::cast({"wallet", "new", tmp.path().string(), "--unsafe-password", "cast pw"});
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        created, m, std::regex(R"(keystore file: (\S+)\s+Address:\s+(0x[0-9a-fA-F]{40}))")));
    auto text = read_keystore_file(m[1].str());
    ASSERT_TRUE(text.has_value()) << text.error().to_string();
    auto key = decrypt_keystore(*text, bytes_of("cast pw"));
    ASSERT_TRUE(key.has_value()) << key.error().to_string();
    EXPECT_EQ(*address_of(*key), *parse_address(m[2].str()));
    EXPECT_EQ(keystore_address(*text).error().detail, "address: missing");

    // `cast wallet import` of a known key.
    test::cast({"wallet", "import", "dev0", "-k", tmp.path().string(), "--private-key",
                test::Anvil::kDevKey0, "--unsafe-password", "cast pw"});
    auto imported = decrypt_keystore(*read_keystore_file(tmp.path() / "dev0"), bytes_of("cast pw"));
    ASSERT_TRUE(imported.has_value()) << imported.error().to_string();
    EXPECT_EQ(*address_of(*imported), *parse_address(test::Anvil::kDevAddress0));
}
