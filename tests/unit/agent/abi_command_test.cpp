// `vigil abi encode|decode`: output equal to cast's for the same input, and one clear
// line with exit code 2 for bad usage.
#include <gtest/gtest.h>

#include <sstream>

#include "agent/cli.hpp"
#include "tests/support/anvil.hpp"
#include "tests/support/vectors.hpp"

namespace {

struct Outcome {
    int code;
    std::string out, err;
};

Outcome run_abi(std::vector<std::string> args) {
    std::vector<std::string_view> views(args.begin(), args.end());
    std::ostringstream out, err;
    const int code = vigil::cli::abi_command(views, out, err);
    return {code, out.str(), err.str()};
}

// One line on stderr, naming `rule`, and nothing on stdout.
void expect_usage_error(const Outcome& o, std::string_view rule) {
    EXPECT_EQ(o.code, vigil::cli::kUsage);
    EXPECT_TRUE(o.out.empty()) << o.out;
    EXPECT_NE(o.err.find(rule), std::string::npos) << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
}

}  // namespace

TEST(abi_command, encode_prints_the_spec_examples) {
    const auto file = vigil::test::load_vector("solidity/abi_spec_examples.json");
    for (const auto& v : file["vectors"]) {
        std::vector<std::string> args = {"encode", v["signature"].get<std::string>()};
        for (const auto& a : v["args_cast"]) args.push_back(a.get<std::string>());
        const auto o = run_abi(args);
        ASSERT_EQ(o.code, vigil::cli::kOk) << o.err;
        // cast abi-encode prints the arguments without the selector.
        const std::string expected = v["expected"].get<std::string>();
        EXPECT_EQ(o.out, "0x" + expected.substr(10) + "\n") << v["name"];
        EXPECT_TRUE(o.err.empty());
    }
}

TEST(abi_command, prints_what_cast_prints) {
    const std::vector<std::vector<std::string>> encodes = {
        {"encode", "liquidationCall(address,address,address,uint256,bool)",
         "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359",
         "0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb", "1.5 ether", "true"},
        {"encode", "function f((uint256,string)[] xs, int8 y) returns (bool)",
         "[(1, hello), (2,\"a,b\")]", "-128"},
        {"encode", "f()"},
    };
    const std::vector<std::vector<std::string>> decodes = {
        {"decode", "f()((uint256,bool),uint8[2][])",
         "0x000000000000000000000000000000000000000000000000000000000000000100000000000000000000000"
         "0000000000000000000000000"
         "00000000000000010000000000000000000000000000000000000000000000000000000000000060000000000"
         "00000000000000000000000"
         "00000000000000000000000000000002000000000000000000000000000000000000000000000000000000000"
         "00000010000000000000000"
         "00000000000000000000000000000000000000000000000200000000000000000000000000000000000000000"
         "00000000000000000000003"
         "0000000000000000000000000000000000000000000000000000000000000004"},
        {"decode", "balanceOf(address)(uint256)",
         "0x00000000000000000000000000000000000000000000000000000000000f4240"},
        {"decode", "f()(int256,string,address)",
         "0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffc1800000000000000000000000"
         "00000000000000000000000"
         "00000000000000006000000000000000000000000000000000000000000000000000000000deadbeef0000000"
         "00000000000000000000000"
         "000000000000000000000000000000000a2274616209c3a92c5c6e00000000000000000000000000000000000"
         "000000000"},
        {"decode", "--input", "transfer(address,uint256)",
         "0x0000000000000000000000005aaeb6053f3e94c9b9a09f33669435e7ef1beaed00000000000000000000000"
         "00000000000000000"
         "000000000de0b6b3a7640000"},
    };
    for (const auto* group : {&encodes, &decodes}) {
        for (const auto& args : *group) {
            const auto o = run_abi(args);
            ASSERT_EQ(o.code, vigil::cli::kOk) << args[1] << ": " << o.err;
            std::vector<std::string> cast_args = {args[0] == "encode" ? "abi-encode"
                                                                      : "abi-decode"};
            cast_args.insert(cast_args.end(), args.begin() + 1, args.end());
            EXPECT_EQ(o.out, vigil::test::cast(cast_args) + "\n") << args[1];
        }
    }
}

TEST(abi_command, bad_input_is_one_line_and_exit_code_2) {
    expect_usage_error(run_abi({}), "usage");
    expect_usage_error(run_abi({"frobnicate"}), "unknown subcommand");
    expect_usage_error(run_abi({"encode"}), "missing SIG");
    expect_usage_error(run_abi({"encode", "f(uint7)", "1"}),
                       "signature: bad_type_size at offset 2");
    expect_usage_error(run_abi({"encode", "f(uint256,bool)", "1"}),
                       "arg_count: f(uint256,bool) takes 2 arguments, got 1");
    expect_usage_error(run_abi({"encode", "f(uint256)", "1", "2"}), "arg_count");
    expect_usage_error(run_abi({"encode", "f(bool,uint8)", "true", "256"}),
                       "argument 2: number_overflow at offset 0");
    expect_usage_error(run_abi({"decode", "f()(uint256)"}), "arg_count");
    expect_usage_error(run_abi({"decode", "f(uint256)", "0x"}), "no output types");
    expect_usage_error(run_abi({"decode", "f()(uint256)", "0xzz"}), "data: bad_digit at offset 2");
    expect_usage_error(run_abi({"decode", "f()(uint256)", "0x00"}), "data: truncated at offset 0");
    expect_usage_error(run_abi({"decode", "f()(uint8)", "0x" + std::string(61, '0') + "100"}),
                       "data: dirty_bits at offset 0");
    expect_usage_error(run_abi({"decode", "--input", "transfer(address,uint256)", "0x12345678"}),
                       "data: truncated at offset 0");
}
