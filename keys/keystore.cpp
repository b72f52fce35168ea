#include "keys/keystore.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <bit>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <new>
#include <nlohmann/json.hpp>
#include <optional>

#include "chain/keccak.hpp"
#include "keys/local_signer.hpp"

namespace vigil::keys {
namespace {

using nlohmann::json;

constexpr std::size_t kKeyBytes = SecretKey::size;
constexpr std::size_t kDerivedKeyBytes = 32;  // [0,16) AES key, [16,32) MAC key
constexpr std::size_t kIvBytes = 16;
constexpr std::size_t kSaltBytes = 32;

KeyError bad(std::string path, std::string_view rule) {
    return {KeyErrc::bad_keystore, std::move(path) + ": " + std::string(rule)};
}
KeyError unsupported(std::string path, std::string_view rule) {
    return {KeyErrc::unsupported_keystore, std::move(path) + ": " + std::string(rule)};
}

std::string join(std::string_view parent, std::string_view key) {
    return parent.empty() ? std::string(key) : std::string(parent) + "." + std::string(key);
}

/// Reads the fields of one JSON object, each error naming the field's full path.
class Fields {
public:
    Fields(const json& object, std::string path) : object_(object), path_(std::move(path)) {}

    Result<const json*, KeyError> member(std::string_view key) const {
        const auto it = object_.find(key);
        if (it == object_.end()) return unexpected(bad(join(path_, key), "missing"));
        return &*it;
    }
    Result<Fields, KeyError> object(std::string_view key) const {
        return member(key).and_then([&](const json* v) -> Result<Fields, KeyError> {
            if (!v->is_object()) return unexpected(bad(join(path_, key), "must be an object"));
            return Fields(*v, join(path_, key));
        });
    }
    Result<std::string, KeyError> string(std::string_view key) const {
        return member(key).and_then([&](const json* v) -> Result<std::string, KeyError> {
            if (!v->is_string()) return unexpected(bad(join(path_, key), "must be a string"));
            return v->get<std::string>();
        });
    }
    Result<uint64_t, KeyError> unsigned_int(std::string_view key) const {
        return member(key).and_then([&](const json* v) -> Result<uint64_t, KeyError> {
            if (!v->is_number_unsigned())
                return unexpected(bad(join(path_, key), "must be a non-negative integer"));
            return v->get<uint64_t>();
        });
    }
    /// Hex with or without "0x" (geth writes none); `bytes` is the required length, or 0
    /// for any length.
    Result<Bytes, KeyError> hex(std::string_view key, std::size_t bytes) const {
        return string(key).and_then([&](const std::string& text) -> Result<Bytes, KeyError> {
            auto parsed = parse_hex(text, HexPrefix::optional);
            if (!parsed) return unexpected(bad(join(path_, key), parsed.error().to_string()));
            if (bytes != 0 && parsed->size() != bytes)
                return unexpected(
                    bad(join(path_, key), "must be " + std::to_string(bytes) + " bytes"));
            return std::move(*parsed);
        });
    }
    const std::string& path() const noexcept { return path_; }

private:
    const json& object_;
    std::string path_;
};

enum class Kdf { scrypt, pbkdf2 };

/// Everything a v3 keystore says, checked for shape but not yet for the password.
struct Parsed {
    Bytes iv;
    Bytes ciphertext;
    Bytes mac;
    Kdf kdf = Kdf::scrypt;
    Bytes salt;
    ScryptParams scrypt;
    uint32_t pbkdf2_iterations = 0;
    std::optional<Address> address;
};

Result<json, KeyError> parse_json(std::string_view text) {
    json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
    // The parser's own message quotes the input around the error; we say only that it failed.
    if (doc.is_discarded()) return unexpected(bad("keystore", "not valid JSON"));
    if (!doc.is_object()) return unexpected(bad("keystore", "must be a JSON object"));
    return doc;
}

Result<std::optional<Address>, KeyError> parse_address_field(const Fields& root, const json& doc) {
    if (!doc.contains("address")) return std::optional<Address>();
    return root.hex("address", Address::size).transform([](const Bytes& b) {
        return std::optional<Address>(Address::from_span(std::span<const uint8_t, 20>(b)));
    });
}

Result<void, KeyError> parse_scrypt(const Fields& params, Parsed& out) {
    auto n = params.unsigned_int("n");
    if (!n) return unexpected(n.error());
    if (*n < 2 || !std::has_single_bit(*n))
        return unexpected(bad(join(params.path(), "n"), "must be a power of two above 1"));
    auto r = params.unsigned_int("r");
    if (!r) return unexpected(r.error());
    if (*r < 1 || *r > UINT32_MAX)
        return unexpected(bad(join(params.path(), "r"), "must be a positive 32-bit integer"));
    auto p = params.unsigned_int("p");
    if (!p) return unexpected(p.error());
    if (*p < 1 || *p > UINT32_MAX)
        return unexpected(bad(join(params.path(), "p"), "must be a positive 32-bit integer"));
    // RFC 7914's own bound; both factors are below 2^32, so the product cannot overflow.
    if (*r * *p >= (uint64_t{1} << 30))
        return unexpected(bad(params.path(), "r * p must be below 2^30"));
    out.scrypt = {*n, static_cast<uint32_t>(*r), static_cast<uint32_t>(*p)};
    // n < 2^64 and r, p < 2^30 here: compare by division so that nothing overflows.
    if (*n > kMaxScryptWork / (*r * *p))
        return unexpected(unsupported(params.path(), "n * r * p is over the 2^24 limit"));
    if (*n > kMaxScryptMemoryBytes / (128 * *r) ||
        scrypt_memory_bytes(out.scrypt) > kMaxScryptMemoryBytes)
        return unexpected(unsupported(params.path(), "scrypt would need more than 1 GiB"));
    return {};
}

Result<void, KeyError> parse_pbkdf2(const Fields& params, Parsed& out) {
    auto prf = params.string("prf");
    if (!prf) return unexpected(prf.error());
    if (*prf != "hmac-sha256")
        return unexpected(unsupported(join(params.path(), "prf"), "only hmac-sha256 is supported"));
    auto c = params.unsigned_int("c");
    if (!c) return unexpected(c.error());
    if (*c < 1 || *c > INT_MAX)
        return unexpected(bad(join(params.path(), "c"), "must be between 1 and 2^31-1"));
    out.pbkdf2_iterations = static_cast<uint32_t>(*c);
    return {};
}

Result<Parsed, KeyError> parse_keystore(std::string_view text) {
    auto doc = parse_json(text);
    if (!doc) return unexpected(doc.error());
    const Fields root(*doc, "");
    Parsed out;

    auto version = root.unsigned_int("version");
    if (!version) return unexpected(version.error());
    if (*version != 3) return unexpected(unsupported("version", "only version 3 is supported"));

    // geth reads the object case-insensitively; "Crypto" is what MyEtherWallet writes.
    auto crypto =
        root.object(doc->contains("crypto") || !doc->contains("Crypto") ? "crypto" : "Crypto");
    if (!crypto) return unexpected(crypto.error());

    auto cipher = crypto->string("cipher");
    if (!cipher) return unexpected(cipher.error());
    if (*cipher != "aes-128-ctr")
        return unexpected(
            unsupported(join(crypto->path(), "cipher"), "only aes-128-ctr is supported"));
    auto cipherparams = crypto->object("cipherparams");
    if (!cipherparams) return unexpected(cipherparams.error());
    auto iv = cipherparams->hex("iv", kIvBytes);
    if (!iv) return unexpected(iv.error());
    out.iv = std::move(*iv);
    auto ciphertext = crypto->hex("ciphertext", kKeyBytes);
    if (!ciphertext) return unexpected(ciphertext.error());
    out.ciphertext = std::move(*ciphertext);

    auto kdf = crypto->string("kdf");
    if (!kdf) return unexpected(kdf.error());
    if (*kdf == "scrypt") {
        out.kdf = Kdf::scrypt;
    } else if (*kdf == "pbkdf2") {
        out.kdf = Kdf::pbkdf2;
    } else {
        return unexpected(
            unsupported(join(crypto->path(), "kdf"), "only scrypt and pbkdf2 are supported"));
    }
    auto kdfparams = crypto->object("kdfparams");
    if (!kdfparams) return unexpected(kdfparams.error());
    auto dklen = kdfparams->unsigned_int("dklen");
    if (!dklen) return unexpected(dklen.error());
    if (*dklen != kDerivedKeyBytes)
        return unexpected(bad(join(kdfparams->path(), "dklen"), "must be 32"));
    auto salt = kdfparams->hex("salt", 0);
    if (!salt) return unexpected(salt.error());
    out.salt = std::move(*salt);
    auto params =
        out.kdf == Kdf::scrypt ? parse_scrypt(*kdfparams, out) : parse_pbkdf2(*kdfparams, out);
    if (!params) return unexpected(params.error());

    auto mac = crypto->hex("mac", 32);
    if (!mac) return unexpected(mac.error());
    out.mac = std::move(*mac);

    auto address = parse_address_field(root, *doc);
    if (!address) return unexpected(address.error());
    out.address = *address;
    return out;
}

void derive_key(const Parsed& ks, BytesView password, std::span<uint8_t> out) {
    if (ks.kdf == Kdf::scrypt) {
        scrypt(password, ks.salt, ks.scrypt, out);
    } else {
        pbkdf2_hmac_sha256(password, ks.salt, ks.pbkdf2_iterations, out);
    }
}

/// keccak256(derived_key[16..32] || ciphertext), the v3 MAC.
Hash32 keystore_mac(std::span<const uint8_t> derived_key, BytesView ciphertext) {
    SecretBytes input(16 + ciphertext.size());
    std::copy(derived_key.begin() + 16, derived_key.begin() + 32, input.data());
    std::copy(ciphertext.begin(), ciphertext.end(), input.data() + 16);
    return keccak256(input.view());
}

/// AES-128-CTR; the same operation encrypts and decrypts. `out` has the size of `in`.
void aes_128_ctr(std::span<const uint8_t> key16, BytesView iv, BytesView in, uint8_t* out) {
    std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(),
                                                                        &EVP_CIPHER_CTX_free);
    int len = 0;
    int tail = 0;
    // With a fixed cipher and sizes checked by the parser, OpenSSL fails only when it
    // cannot allocate.
    if (!ctx ||
        EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_ctr(), nullptr, key16.data(), iv.data()) != 1 ||
        EVP_EncryptUpdate(ctx.get(), out, &len, in.data(), static_cast<int>(in.size())) != 1 ||
        EVP_EncryptFinal_ex(ctx.get(), out + len, &tail) != 1) {
        throw std::bad_alloc();
    }
}

Result<void, KeyError> random_bytes(std::span<uint8_t> out) {
    if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1)
        return unexpected(KeyError{KeyErrc::entropy_unavailable, "RAND_bytes failed"});
    return {};
}

/// RFC 4122 version 4: random bits with the version and variant fields set.
Result<std::string, KeyError> uuid_v4() {
    std::array<uint8_t, 16> b{};
    if (auto ok = random_bytes(b); !ok) return unexpected(ok.error());
    b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);
    b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);
    std::string hex;
    append_hex(hex, b);
    return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
           hex.substr(16, 4) + "-" + hex.substr(20);
}

std::string lower_hex(BytesView bytes) {
    std::string out;
    append_hex(out, bytes);
    return out;
}

KeyError io_error(const std::string& what, const std::filesystem::path& path, int err) {
    return {KeyErrc::io, what + " " + printable_name(path.string()) + ": " + std::strerror(err)};
}

/// geth's keyFileName: "UTC--2006-01-02T15-04-05.999999999Z--<address hex>", nanoseconds
/// always nine digits.
std::string keystore_file_name(const Address& address) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(now);
    const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(now - secs);
    const std::time_t t = static_cast<std::time_t>(secs.count());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[64];
    std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d-%02d-%02d.%09lldZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<long long>(nanos.count()));
    return "UTC--" + std::string(stamp) + "--" + lower_hex(address);
}

/// Closes the descriptor on scope exit.
struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace

Result<SecretKey, KeyError> decrypt_keystore(std::string_view json_text, BytesView password) {
    auto parsed = parse_keystore(json_text);
    if (!parsed) return unexpected(parsed.error());

    SecretBytes derived(kDerivedKeyBytes);
    derive_key(*parsed, password, derived.span());
    const Hash32 mac = keystore_mac(derived.view(), parsed->ciphertext);
    // Constant time, so that timing tells an attacker nothing about how close a guess was.
    if (CRYPTO_memcmp(mac.data(), parsed->mac.data(), mac.size) != 0)
        return unexpected(KeyError{KeyErrc::wrong_password, "keystore MAC does not match"});

    SecretKey key;
    aes_128_ctr(derived.view().first(16), parsed->iv, parsed->ciphertext, key.data());
    auto address = address_of(key);
    if (!address && address.error().kind == KeyErrc::invalid_private_key)
        return unexpected(KeyError{KeyErrc::invalid_private_key,
                                   "keystore decrypts to a value that is not a secp256k1 key"});
    if (!address) return unexpected(address.error());
    if (parsed->address && *parsed->address != *address)
        return unexpected(bad("address", "does not match the decrypted key"));
    return key;
}

Result<std::string, KeyError> encrypt_keystore(const SecretKey& key, BytesView password,
                                               const ScryptParams& params) {
    assert(params.n >= 2 && std::has_single_bit(params.n) && params.r >= 1 && params.p >= 1);
    assert(params.n <= kMaxScryptWork / (uint64_t{params.r} * params.p));
    assert(scrypt_memory_bytes(params) <= kMaxScryptMemoryBytes);
    auto address = address_of(key);
    if (!address) return unexpected(address.error());

    std::array<uint8_t, kSaltBytes> salt{};
    std::array<uint8_t, kIvBytes> iv{};
    if (auto ok = random_bytes(salt); !ok) return unexpected(ok.error());
    if (auto ok = random_bytes(iv); !ok) return unexpected(ok.error());
    auto id = uuid_v4();
    if (!id) return unexpected(id.error());

    SecretBytes derived(kDerivedKeyBytes);
    scrypt(password, salt, params, derived.span());
    Bytes ciphertext(kKeyBytes);
    aes_128_ctr(derived.view().first(16), iv, key.view(), ciphertext.data());
    const Hash32 mac = keystore_mac(derived.view(), ciphertext);

    const json doc = {
        {"address", lower_hex(*address)},
        {"crypto",
         {{"cipher", "aes-128-ctr"},
          {"ciphertext", lower_hex(ciphertext)},
          {"cipherparams", {{"iv", lower_hex(iv)}}},
          {"kdf", "scrypt"},
          {"kdfparams",
           {{"dklen", kDerivedKeyBytes},
            {"n", params.n},
            {"p", params.p},
            {"r", params.r},
            {"salt", lower_hex(salt)}}},
          {"mac", lower_hex(mac)}}},
        {"id", *id},
        {"version", 3},
    };
    return doc.dump();
}

Result<Address, KeyError> keystore_address(std::string_view json_text) {
    auto doc = parse_json(json_text);
    if (!doc) return unexpected(doc.error());
    const Fields root(*doc, "");
    return root.hex("address", Address::size).transform([](const Bytes& b) {
        return Address::from_span(std::span<const uint8_t, 20>(b));
    });
}

Result<std::string, KeyError> read_keystore_file(const std::filesystem::path& path) {
    Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (file.fd < 0) return unexpected(io_error("cannot open", path, errno));
    std::string text;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(file.fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return unexpected(io_error("cannot read", path, errno));
        }
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > kMaxKeystoreFileBytes)
            return unexpected(
                bad(printable_name(path.string()), "larger than 1 MiB, not a keystore"));
    }
    return text;
}

Result<std::filesystem::path, KeyError> write_keystore_file(const std::filesystem::path& dir,
                                                            const Address& address,
                                                            std::string_view json_text) {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        return unexpected(io_error("cannot create directory", dir, errno));
    // Two writes for one address within a nanosecond would share a name; they hold the
    // same key, so replacing one with the other loses nothing.
    const std::filesystem::path final_path = dir / keystore_file_name(address);
    // Hidden while incomplete. (Built with append: GCC 12 gives a false -Wrestrict
    // warning for `"." + std::string`.)
    std::string temp_name(".");
    temp_name.append(final_path.filename().string()).append(".tmp-XXXXXX");
    std::string temp = (dir / temp_name).string();
    Fd file{::mkostemp(temp.data(), O_CLOEXEC)};  // mkostemp creates the file with mode 0600
    if (file.fd < 0) return unexpected(io_error("cannot create file in", dir, errno));

    const auto fail = [&](const char* what, const std::filesystem::path& p) {
        const int err = errno;
        ::unlink(temp.c_str());
        return unexpected(io_error(what, p, err));
    };
    std::size_t written = 0;
    while (written < json_text.size()) {
        const ssize_t n = ::write(file.fd, json_text.data() + written, json_text.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail("cannot write", temp);
        written += static_cast<std::size_t>(n);
    }
    if (::fsync(file.fd) != 0) return fail("cannot sync", temp);
    if (::rename(temp.c_str(), final_path.c_str()) != 0)
        return fail("cannot rename to", final_path);
    // Sync the directory too, so that the new name survives a crash.
    Fd dir_fd{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (dir_fd.fd < 0 || ::fsync(dir_fd.fd) != 0)
        return unexpected(io_error("cannot sync directory", dir, errno));
    return final_path;
}

}  // namespace vigil::keys
