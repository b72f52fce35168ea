// `vigil keys new|import|address`: keystore v3 management from the command line.
#include <openssl/crypto.h>

#include <istream>
#include <optional>
#include <ostream>
#include <span>
#include <string>

#include "agent/cli.hpp"
#include "keys/key_source.hpp"
#include "keys/keystore.hpp"
#include "keys/local_signer.hpp"

namespace vigil::cli {
namespace {

constexpr std::string_view kKeysUsage = R"(usage:
  vigil keys new --keystore DIR [PASSWORD]
  vigil keys import --keystore DIR [--key-env NAME] [PASSWORD]
  vigil keys address FILE

new      creates a key from the system's CSPRNG and writes it encrypted to DIR
import   encrypts a hex private key read from stdin (or from env var NAME) into DIR
address  prints a keystore's checksummed address; no password needed

PASSWORD is --password-env NAME or --password-file FILE (trailing newline ignored);
the default is the environment variable VIGIL_KEYSTORE_PASSWORD. Empty passwords are refused.
)";

constexpr const char* kDefaultPasswordEnv = "VIGIL_KEYSTORE_PASSWORD";

struct Options {
    std::optional<std::string> keystore_dir;
    std::optional<keys::PasswordSource> password;
    std::optional<std::string> key_env;
};

bool is_known_flag(std::string_view arg) {
    return arg == "--keystore" || arg == "--password-env" || arg == "--password-file" ||
           arg == "--key-env";
}

/// Parses `--name value` pairs; `allow_key_env` only for import. Returns the usage error,
/// which quotes an argument only when it is one of our flag names: a key pasted in the
/// wrong place must not be echoed to the terminal or a log.
std::optional<std::string> parse_options(std::span<const std::string_view> args, bool allow_key_env,
                                         Options& opts) {
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view flag = args[i];
        if (!is_known_flag(flag))
            return "unexpected argument #" + std::to_string(i + 1) + " after the subcommand";
        if (i + 1 >= args.size()) return "option " + std::string(flag) + " needs a value";
        const std::string value(args[++i]);
        if (flag == "--keystore" && !opts.keystore_dir) {
            opts.keystore_dir = value;
        } else if (flag == "--password-env" && !opts.password) {
            opts.password = keys::PasswordFromEnv{value};
        } else if (flag == "--password-file" && !opts.password) {
            opts.password = keys::PasswordFromFile{value};
        } else if (flag == "--key-env" && allow_key_env && !opts.key_env) {
            opts.key_env = value;
        } else {
            return "option " + std::string(flag) + " repeated or not valid here";
        }
    }
    if (!opts.keystore_dir) return "--keystore DIR is required";
    return std::nullopt;
}

/// The key for `import`: from the named environment variable, or the first line of `in`.
Result<keys::SecretKey, keys::KeyError> import_key(const Options& opts, std::istream& in) {
    if (opts.key_env) return keys::read_key_env(*opts.key_env);
    std::string line;
    // A key with stray whitespace fits, so a regrow does not leave a copy of it behind.
    line.reserve(256);
    std::getline(in, line);
    std::string_view text = line;
    const auto first = text.find_first_not_of(" \t\r\n");
    text = first == std::string_view::npos
               ? std::string_view()
               : text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
    auto key = keys::parse_private_key(text);
    OPENSSL_cleanse(line.data(), line.size());
    return key;
}

/// Encrypts `key` with the chosen password and writes it into the keystore directory.
int write_keystore(const Options& opts, const keys::SecretKey& key, std::string_view command,
                   std::ostream& out, std::ostream& err) {
    const auto fail = [&](const keys::KeyError& e) {
        err << "vigil keys " << command << ": " << e.to_string() << "\n";
        return kFailure;
    };
    const auto address = keys::address_of(key);
    if (!address) return fail(address.error());
    auto password =
        keys::read_password(opts.password.value_or(keys::PasswordFromEnv{kDefaultPasswordEnv}));
    if (!password) return fail(password.error());
    if (password->empty()) {
        err << "vigil keys " << command << ": refusing an empty password\n";
        return kFailure;
    }
    const auto json = keys::encrypt_keystore(key, password->view());
    if (!json) return fail(json.error());
    const auto path = keys::write_keystore_file(*opts.keystore_dir, *address, *json);
    if (!path) return fail(path.error());
    out << "Address:  " << to_checksum(*address) << "\n"
        << "Keystore: " << path->string() << "\n";
    return kOk;
}

int usage_error(std::string_view command, const std::string& message, std::ostream& err) {
    err << "vigil keys" << (command.empty() ? "" : " ") << command << ": " << message
        << " (see vigil keys --help)\n";
    return kUsage;
}

}  // namespace

int keys_command(std::span<const std::string_view> args, std::istream& in, std::ostream& out,
                 std::ostream& err) {
    if (args.empty()) return usage_error("", "missing subcommand", err);
    const std::string_view command = args[0];
    const auto rest = args.subspan(1);
    if (command == "--help" || command == "-h" || command == "help") {
        out << kKeysUsage;
        return kOk;
    }
    if (command == "address") {
        if (rest.size() != 1) return usage_error(command, "expected exactly one FILE", err);
        const auto address =
            keys::read_keystore_file(std::string(rest[0])).and_then([](const std::string& text) {
                return keys::keystore_address(text);
            });
        if (!address) {
            err << "vigil keys address: " << address.error().to_string() << "\n";
            return kFailure;
        }
        out << to_checksum(*address) << "\n";
        return kOk;
    }
    if (command != "new" && command != "import")
        return usage_error("", "unknown subcommand (expected new, import or address)", err);

    Options opts;
    if (auto problem = parse_options(rest, command == "import", opts))
        return usage_error(command, *problem, err);
    auto key = command == "new" ? keys::generate_key() : import_key(opts, in);
    if (!key) {
        err << "vigil keys " << command << ": " << key.error().to_string() << "\n";
        return kFailure;
    }
    return write_keystore(opts, *key, command, out, err);
}

}  // namespace vigil::cli
