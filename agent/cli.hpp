#pragma once
// Subcommands of the vigil executable. Each takes the arguments after its own name
// and returns the process exit code: 0 success, 1 runtime failure, 2 bad usage.
#include <iosfwd>
#include <span>
#include <string_view>

namespace vigil::cli {

enum ExitCode : int { kOk = 0, kFailure = 1, kUsage = 2 };

/// `vigil abi encode SIG ARGS...` / `vigil abi decode SIG HEX`.
int abi_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);
/// `vigil check-config FILE`: prints the resolved config (secrets masked) and returns 0,
/// or prints one "path: message" line per problem to `err` and returns kUsage.
int check_config_command(std::span<const std::string_view> args, std::ostream& out,
                         std::ostream& err);
/// `vigil keys new|import|address ...`.
/// `vigil run --config FILE [--dry-run] [--log-format text|json]`.
int run_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);
/// `vigil positions --config FILE [--strategy NAME]`.
int positions_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);
int keys_command(std::span<const std::string_view> args, std::istream& in, std::ostream& out,
                 std::ostream& err);

}  // namespace vigil::cli
