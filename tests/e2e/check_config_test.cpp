// `vigil check-config` as a process: exit codes, the masked printout, and one stderr line per
// problem, with the agent's real strategy registry (morpho-blue.liquidate).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/key_test_support.hpp"
#include "tests/support/process.hpp"

using namespace vigil;

namespace {

constexpr const char* kApiKey = "e2e-s3cr3t-api-key";

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

test::RunResult check_config(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {VIGIL_BINARY, "check-config"};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::run(argv);
}

std::filesystem::path write(const test::TempDir& dir, const std::string& name,
                            const std::string& text) {
    const auto path = dir.path() / name;
    std::ofstream(path) << text;
    return path;
}

// A config with a substituted API key, a key from the environment and Morpho params.
constexpr const char* kGood = R"({
  // comments are fine
  "state_dir": "state",
  "chains": { "main": {
      "chain_id": 1,
      "rpc": ["https://eth.example/v2/${VIGIL_E2E_API_KEY}"],
      "ws": ["wss://eth.example/ws/${VIGIL_E2E_API_KEY}"] } },
  "signers": { "keeper": { "private_key_env": "VIGIL_E2E_KEY" } },
  "strategies": [ { "name": "morpho", "kind": "morpho-blue.liquidate", "chain": "main",
      "signer": "keeper",
      "params": { "morpho": "0xBBBBBbbBBb9cC5e90e3b3Af64bdAF62C37EEFFCb",
                  "markets": ["0xb323495f7e4148be5643a4ea4a8221eef163e4bccfdedc2a6f4696baacbc86cc"],
                  "start_block": 18883124, "min_profit_wei": "1000" } } ]
})";

}  // namespace

TEST(check_config, prints_a_good_config_masked) {
    test::TempDir dir;
    const test::ScopedEnv api("VIGIL_E2E_API_KEY", std::string(kApiKey));
    const test::ScopedEnv key("VIGIL_E2E_KEY", "0x" + std::string(test::kLeakTestKey));
    const auto r = check_config({write(dir, "vigil.json", kGood).string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_NE(r.out.find("\"https://eth.example/v2/***\""), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\"private_key_env\": \"VIGIL_E2E_KEY\""), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\"state_dir\": \"" + (dir.path() / "state").string() + "\""),
              std::string::npos)
        << r.out;
    EXPECT_EQ(r.out.find(kApiKey), std::string::npos);
    EXPECT_FALSE(test::mentions_key(r.out, test::kLeakTestKey));
}

TEST(check_config, reports_each_mistake_on_its_own_line) {
    test::TempDir dir;
    const test::ScopedEnv api("VIGIL_E2E_API_KEY", std::string(kApiKey));
    const test::ScopedEnv key("VIGIL_E2E_KEY", "0x" + std::string(test::kLeakTestKey));
    std::string text = kGood;
    // 1. a websocket URL among the HTTP endpoints
    text.replace(text.find("https://eth.example/v2/"), 8, "ws://");
    // 2. a typo in the checksummed Morpho address (last letter's case)
    text.replace(text.find("EEFFCb"), 6, "EEFFCB");
    // 3. a misspelled key in the strategy
    text.insert(text.find("\"signer\": \"keeper\""), "\"simulte\": false, ");
    const auto r = check_config({write(dir, "bad.json", text).string()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(split_lines(r.err), (std::vector<std::string>{
                                      "chains.main.rpc[0]: not an http(s) URL",
                                      "strategies[0].params.morpho: not an address (bad checksum)",
                                      "strategies[0].simulte: unknown key",
                                  }))
        << r.err;
}

TEST(check_config, morpho_params_are_checked_by_the_registered_kind) {
    test::TempDir dir;
    const test::ScopedEnv api("VIGIL_E2E_API_KEY", std::string(kApiKey));
    const test::ScopedEnv key("VIGIL_E2E_KEY", std::nullopt);
    std::string text = kGood;
    text.insert(text.find("\"markets\""), R"("markets_all": true, )");
    text.replace(text.find("\"1000\""), 6, "1000");
    text.replace(text.find("\"start_block\": 18883124"), 23, "\"start_block\": -1");
    const auto r = check_config({write(dir, "bad.json", text).string()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(split_lines(r.err),
              (std::vector<std::string>{
                  "signers.keeper.private_key_env: environment variable VIGIL_E2E_KEY is not set",
                  "strategies[0].params.start_block: must not be negative",
                  "strategies[0].params.min_profit_wei: expected a decimal string",
                  "strategies[0].params.markets_all: unknown key",
              }))
        << r.err;
}

TEST(check_config, a_missing_file_is_one_line) {
    test::TempDir dir;
    const auto path = (dir.path() / "nope.json").string();
    const auto r = check_config({path});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(split_lines(r.err),
              std::vector<std::string>{path + ": cannot read (No such file or directory)"});
}

TEST(check_config, usage_errors_exit_2) {
    for (const auto& args : std::vector<std::vector<std::string>>{{}, {"a.json", "b.json"}}) {
        const auto r = check_config(args);
        EXPECT_EQ(r.exit_code, 2);
        EXPECT_EQ(split_lines(r.err).size(), 1u) << r.err;
    }
    EXPECT_EQ(check_config({"--help"}).exit_code, 0);
}

TEST(check_config, the_devnet_example_passes) {
    const test::ScopedEnv key("VIGIL_KEEPER_KEY", "0x" + std::string(test::kLeakTestKey));
    const test::ScopedEnv morpho("VIGIL_MORPHO", "0xBBBBBbbBBb9cC5e90e3b3Af64bdAF62C37EEFFCb");
    const auto r = check_config({std::string(VIGIL_CONFIG_EXAMPLES_DIR) + "/devnet.json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("\"chain_id\": 31337"), std::string::npos) << r.out;
    EXPECT_FALSE(test::mentions_key(r.out, test::kLeakTestKey));
}
