#include "tests/support/anvil.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace vigil::test {

Anvil::Anvil(const std::vector<std::string>& extra_args) {
    // The port is free when chosen but another process may take it before anvil binds:
    // try a few ports before giving up.
    for (int attempt = 0; attempt < 5; ++attempt) {
        port_ = free_port();
        std::vector<std::string> argv = {tool_path("anvil"),    "--host",  "127.0.0.1", "--port",
                                         std::to_string(port_), "--silent"};
        argv.insert(argv.end(), extra_args.begin(), extra_args.end());
        child_ = std::make_unique<Child>(argv);
        if (wait_for_port(port_, 15000) && child_->running()) return;
        child_.reset();
    }
    throw std::runtime_error("anvil did not start on a loopback port");
}

std::string cast(const std::vector<std::string>& args, const std::string& input) {
    std::vector<std::string> argv = {tool_path("cast")};
    argv.insert(argv.end(), args.begin(), args.end());
    RunResult r = run(argv, input);
    if (r.exit_code != 0) throw std::runtime_error("cast " + args.front() + " failed: " + r.err);
    while (!r.out.empty() && (r.out.back() == '\n' || r.out.back() == '\r')) r.out.pop_back();
    return r.out;
}

std::string Anvil::cast(std::vector<std::string> args) const {
    args.push_back("--rpc-url");
    args.push_back(http_url());
    return test::cast(args);
}

std::string Anvil::deploy(const std::string& bin_file) const {
    const std::string path = std::string(VIGIL_CONTRACTS_DIR) + "/" + bin_file;
    std::ifstream in(path);
    std::string code;
    in >> code;
    if (code.empty()) throw std::runtime_error("no creation code in " + path);
    // --create takes the rest of the line, so the RPC URL goes first.
    const auto sent = nlohmann::json::parse(test::cast(
        {"send", "--json", "--rpc-url", http_url(), "--private-key", kDevKey0, "--create", code}));
    return sent.at("contractAddress").get<std::string>();
}

}  // namespace vigil::test
