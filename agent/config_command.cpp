// `vigil check-config FILE`: load and validate a config with this build's strategy kinds,
// then print it resolved with secrets masked, or every problem one per line.
#include <ostream>
#include <span>
#include <string>

#include "agent/cli.hpp"
#include "agent/strategy_kinds.hpp"
#include "config/config.hpp"

namespace vigil::cli {
namespace {

constexpr std::string_view kCheckConfigUsage = R"(usage: vigil check-config FILE

Validates FILE (JSON, comments allowed) and prints the resolved config: defaults filled in,
paths made absolute, ${VAR} substitutions and URL paths and credentials shown as ***.
On a bad config prints one line per problem, "path: message", to stderr and exits 2.
)";

}  // namespace

int check_config_command(std::span<const std::string_view> args, std::ostream& out,
                         std::ostream& err) {
    if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
        out << kCheckConfigUsage;
        return kOk;
    }
    if (args.size() != 1 || args[0].empty() || args[0].starts_with("-")) {
        err << "vigil check-config: expected exactly one FILE (see vigil check-config --help)\n";
        return kUsage;
    }
    const auto kinds = agent::strategy_kinds();
    const auto config = config::load_config(std::string(args[0]), config::process_env, kinds);
    if (!config) {
        for (const auto& e : config.error()) err << e.to_string() << "\n";
        return kUsage;
    }
    config::print_config(*config, out);
    return kOk;
}

}  // namespace vigil::cli
