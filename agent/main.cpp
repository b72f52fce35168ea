#include <iostream>
#include <string_view>
#include <vector>

#include "agent/cli.hpp"

namespace {
constexpr std::string_view kUsage = R"(usage: vigil <command> [args]

commands:
  keys new --keystore DIR              create a key, write it as an encrypted keystore
  keys import --keystore DIR           import a hex key from stdin or --key-env NAME
  keys address FILE                    print a keystore's address (no password needed)
  run --config FILE [--dry-run]        run the agent (--log-format json for machines)
  positions --config FILE [--strategy NAME]
                                       table of tracked positions and their health
  check-config FILE                    validate a config, print it resolved (secrets masked)
  abi encode SIG [ARGS...]             ABI-encode arguments, like `cast abi-encode`
  abi decode SIG HEX                   ABI-decode output data, like `cast abi-decode`

exit codes: 0 success, 1 runtime failure, 2 bad usage or bad config
)";
}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        (args.empty() ? std::cerr : std::cout) << kUsage;
        return args.empty() ? vigil::cli::kUsage : vigil::cli::kOk;
    }
    const std::string_view command = args[0];
    const std::span<const std::string_view> rest(args.data() + 1, args.size() - 1);
    try {
        if (command == "abi") return vigil::cli::abi_command(rest, std::cout, std::cerr);
        if (command == "run") return vigil::cli::run_command(rest, std::cout, std::cerr);
        if (command == "positions")
            return vigil::cli::positions_command(rest, std::cout, std::cerr);
        if (command == "check-config")
            return vigil::cli::check_config_command(rest, std::cout, std::cerr);
        if (command == "keys")
            return vigil::cli::keys_command(rest, std::cin, std::cout, std::cerr);
    } catch (const std::exception& e) {
        // Exceptions stop at the edge: one line, non-zero exit.
        std::cerr << "vigil " << command << ": " << e.what() << "\n";
        return vigil::cli::kFailure;
    }
    std::cerr << "vigil: unknown command '" << command << "'\n" << kUsage;
    return vigil::cli::kUsage;
}
