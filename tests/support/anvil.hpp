#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.hpp"

namespace vigil::test {

/// A real anvil on a free loopback port, started for one test and killed by PID after.
class Anvil {
public:
    /// Extra command-line arguments, e.g. {"--block-time", "0.1"}.
    explicit Anvil(const std::vector<std::string>& extra_args = {});

    unsigned short port() const noexcept { return port_; }
    std::string http_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::string ws_url() const { return "ws://127.0.0.1:" + std::to_string(port_); }
    /// Runs `cast ARGS... --rpc-url <this anvil>` and returns stdout without the trailing
    /// newline; a non-zero exit fails the calling test with cast's stderr.
    std::string cast(std::vector<std::string> args) const;
    /// Deploys the creation code in tests/contracts/<bin_file> (0x-hex) from dev account 0
    /// and returns the new contract's address (as EIP-55 text, for cast).
    std::string deploy(const std::string& bin_file) const;

    /// anvil's default (test-only, publicly known) development accounts.
    static constexpr const char* kDevKey0 =
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    static constexpr const char* kDevAddress0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
    static constexpr const char* kDevKey1 =
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
    static constexpr const char* kDevAddress1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

private:
    unsigned short port_ = 0;
    std::unique_ptr<Child> child_;
};

/// Runs the pinned cast with ARGS (no RPC): returns stdout without trailing newline;
/// a non-zero exit throws with cast's stderr.
std::string cast(const std::vector<std::string>& args, const std::string& input = {});

}  // namespace vigil::test
