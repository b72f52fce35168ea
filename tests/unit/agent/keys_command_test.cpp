// `vigil keys new|import|address`, run in-process with string streams: exit codes, the files
// written, and that no output ever contains the key.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "agent/cli.hpp"
#include "keys/key_source.hpp"
#include "keys/keystore.hpp"
#include "tests/support/anvil.hpp"
#include "tests/support/key_test_support.hpp"

using namespace vigil;
using test::kLeakTestKey;
using test::mentions_key;

namespace {

constexpr const char* kPasswordVar = "VIGIL_KEYSTORE_PASSWORD";
const Address kLeakTestAddress = *parse_address("0x2c7536E3605D9C16a7a3D7b1898e529396a65c23");

struct CliRun {
    int code = -1;
    std::string out;
    std::string err;
};

CliRun run_keys(std::vector<std::string> args, const std::string& stdin_text = {}) {
    const std::vector<std::string_view> views(args.begin(), args.end());
    std::istringstream in(stdin_text);
    std::ostringstream out, err;
    CliRun r;
    r.code = cli::keys_command(views, in, out, err);
    r.out = out.str();
    r.err = err.str();
    return r;
}

/// The keystore path printed by new/import ("Keystore: PATH").
std::string printed_path(const CliRun& r) {
    std::smatch m;
    if (!std::regex_search(r.out, m, std::regex(R"(Keystore: (\S+))"))) return {};
    return m[1].str();
}

Address printed_address(const CliRun& r) {
    std::smatch m;
    if (!std::regex_search(r.out, m, std::regex(R"(Address:  (0x[0-9a-fA-F]{40}))"))) return {};
    return *parse_address(m[1].str());
}

}  // namespace

TEST(keys_command, usage_errors_exit_2) {
    EXPECT_EQ(run_keys({}).code, cli::kUsage);
    EXPECT_EQ(run_keys({"rotate"}).code, cli::kUsage);
    EXPECT_EQ(run_keys({"new"}).code, cli::kUsage);                // no --keystore
    EXPECT_EQ(run_keys({"new", "--keystore"}).code, cli::kUsage);  // no value
    EXPECT_EQ(run_keys({"new", "--keystore", "a", "--keystore", "b"}).code, cli::kUsage);
    EXPECT_EQ(run_keys({"new", "--keystore", "a", "--key-env", "K"}).code,
              cli::kUsage);  // import only
    EXPECT_EQ(
        run_keys({"import", "--keystore", "a", "--password-env", "X", "--password-file", "f"}).code,
        cli::kUsage);
    EXPECT_EQ(run_keys({"address"}).code, cli::kUsage);
    const CliRun r = run_keys({"new", "--keystore", "a", "--colour", "red"});
    EXPECT_EQ(r.code, cli::kUsage);
    EXPECT_EQ(r.err,
              "vigil keys new: unexpected argument #3 after the subcommand "
              "(see vigil keys --help)\n");
    EXPECT_EQ(run_keys({"--help"}).code, cli::kOk);
}

TEST(keys_command, new_writes_a_keystore_that_decrypts_with_the_password) {
    test::TempDir tmp;
    test::ScopedEnv password(kPasswordVar, "new-key pw");
    const CliRun r = run_keys({"new", "--keystore", (tmp.path() / "ks").string()});
    ASSERT_EQ(r.code, cli::kOk) << r.err;
    EXPECT_EQ(r.err, "");
    const std::string path = printed_path(r);
    ASSERT_FALSE(path.empty()) << r.out;
    EXPECT_EQ(std::filesystem::path(path).parent_path(), tmp.path() / "ks");
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    auto signer =
        keys::make_signer(keys::KeyFromKeystore{path, keys::PasswordFromEnv{kPasswordVar}});
    ASSERT_TRUE(signer.has_value()) << signer.error().to_string();
    EXPECT_EQ((*signer)->address(), printed_address(r));

    const CliRun address = run_keys({"address", path});
    EXPECT_EQ(address.code, cli::kOk);
    EXPECT_EQ(address.out, to_checksum(printed_address(r)) + "\n");
}

TEST(keys_command, import_reads_the_key_from_stdin_or_env) {
    test::TempDir tmp;
    const auto pw_file = tmp.path() / "pw";
    std::ofstream(pw_file) << "file pw\n";
    const CliRun from_stdin =
        run_keys({"import", "--keystore", tmp.path().string(), "--password-file", pw_file.string()},
                 "0x" + std::string(kLeakTestKey) + "\n");
    ASSERT_EQ(from_stdin.code, cli::kOk) << from_stdin.err;
    EXPECT_EQ(printed_address(from_stdin), kLeakTestAddress);
    EXPECT_EQ(run_keys({"address", printed_path(from_stdin)}).out,
              to_checksum(kLeakTestAddress) + "\n");

    test::ScopedEnv key("VIGIL_TEST_IMPORT_KEY", std::string(kLeakTestKey));
    test::ScopedEnv password("VIGIL_TEST_IMPORT_PW", "env pw");
    const CliRun from_env =
        run_keys({"import", "--keystore", tmp.path().string(), "--key-env", "VIGIL_TEST_IMPORT_KEY",
                  "--password-env", "VIGIL_TEST_IMPORT_PW"});
    ASSERT_EQ(from_env.code, cli::kOk) << from_env.err;
    EXPECT_EQ(printed_address(from_env), kLeakTestAddress);
    // cast reads what the CLI wrote, with the password from the env var.
    const std::string decrypted =
        test::cast({"wallet", "decrypt-keystore", "-k", tmp.path().string(),
                    std::filesystem::path(printed_path(from_env)).filename().string(),
                    "--unsafe-password", "env pw"});
    EXPECT_TRUE(mentions_key(decrypted, kLeakTestKey));
}

TEST(keys_command, runtime_failures_exit_1_with_one_line) {
    test::TempDir tmp;
    const std::string dir = tmp.path().string();
    {
        test::ScopedEnv password(kPasswordVar, std::nullopt);
        const CliRun r = run_keys({"new", "--keystore", dir});
        EXPECT_EQ(r.code, cli::kFailure);
        EXPECT_EQ(r.err, "vigil keys new: missing_env: VIGIL_KEYSTORE_PASSWORD is not set\n");
    }
    {
        test::ScopedEnv password(kPasswordVar, "");
        const CliRun r = run_keys({"new", "--keystore", dir});
        EXPECT_EQ(r.code, cli::kFailure);
        EXPECT_EQ(r.err, "vigil keys new: refusing an empty password\n");
    }
    {
        test::ScopedEnv password(kPasswordVar, "pw");
        const CliRun r = run_keys({"import", "--keystore", dir}, "not a key\n");
        EXPECT_EQ(r.code, cli::kFailure);
        EXPECT_EQ(r.err,
                  "vigil keys import: invalid_private_key: private key must be 64 hex "
                  "digits, 0x optional\n");
        const CliRun zero = run_keys({"import", "--keystore", dir}, std::string(64, '0'));
        EXPECT_EQ(zero.code, cli::kFailure);
        EXPECT_EQ(zero.err,
                  "vigil keys import: invalid_private_key: private key must be in "
                  "[1, n-1] of secp256k1\n");
    }
    const CliRun missing = run_keys({"address", (tmp.path() / "absent").string()});
    EXPECT_EQ(missing.code, cli::kFailure);
    EXPECT_EQ(missing.err.find("vigil keys address: io: cannot open "), 0u);
    EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));  // nothing written by any failure
}

TEST(keys_command, address_of_a_cast_keystore_needs_the_field) {
    test::TempDir tmp;
    test::cast({"wallet", "import", "dev0", "-k", tmp.path().string(), "--private-key",
                test::Anvil::kDevKey0, "--unsafe-password", "pw"});
    const CliRun r = run_keys({"address", (tmp.path() / "dev0").string()});
    EXPECT_EQ(r.code, cli::kFailure);
    EXPECT_EQ(r.err, "vigil keys address: bad_keystore: address: missing\n");
}

// Runs the key through every path that can fail around it, and one that succeeds, and
// searches everything the CLI printed.
TEST(keys_command, no_output_contains_the_key) {
    test::TempDir tmp;
    const std::string dir = tmp.path().string();
    const std::string key(kLeakTestKey);
    test::ScopedEnv password(kPasswordVar, "pw");
    std::string printed;
    const auto expect_code = [&](const CliRun& r, int code) {
        EXPECT_EQ(r.code, code);
        EXPECT_FALSE(r.err.empty() && code != cli::kOk);
        printed += r.out + r.err;
    };
    // Mangled keys on stdin and in the env var.
    for (const std::string& value : {key + "0", key.substr(0, 63), "0x" + key.substr(0, 63) + "q",
                                     "0x0x" + key, key + " " + key}) {
        expect_code(run_keys({"import", "--keystore", dir}, value), cli::kFailure);
        test::ScopedEnv env("VIGIL_TEST_IMPORT_KEY", value);
        expect_code(run_keys({"import", "--keystore", dir, "--key-env", "VIGIL_TEST_IMPORT_KEY"}),
                    cli::kFailure);
    }
    // The key pasted where a name goes: subcommand, flag, env var name, file or directory.
    expect_code(run_keys({key}), cli::kUsage);
    expect_code(run_keys({"0x" + key, "--keystore", dir}), cli::kUsage);
    expect_code(run_keys({"import", "--keystore", dir, key}), cli::kUsage);
    expect_code(run_keys({"import", "--keystore", dir, "--key-env", key}), cli::kFailure);
    expect_code(run_keys({"import", "--keystore", dir, "--password-env", "0x" + key}, key),
                cli::kFailure);
    expect_code(run_keys({"import", "--keystore", dir, "--password-file", key}, key),
                cli::kFailure);
    expect_code(run_keys({"import", "--keystore", dir + "/" + key + "/sub"}, key), cli::kFailure);
    expect_code(run_keys({"address", key}), cli::kFailure);
    // A successful import prints only the address and the path.
    expect_code(run_keys({"import", "--keystore", dir}, key), cli::kOk);

    EXPECT_NE(printed.find("Address:  0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"),
              std::string::npos);
    EXPECT_FALSE(mentions_key(printed, key));
}
