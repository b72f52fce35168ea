// vigil_devnet: puts real Morpho Blue with a book of borrowers on a running dev node
// (anvil) and moves its oracle prices, for scripts/demo.sh and for trying vigil by hand.
//
//   vigil_devnet setup --rpc URL --out deployment.json [--borrowers N] [--seed S]
//                      [--keeper ADDRESS]
//   vigil_devnet set-price --rpc URL --deployment deployment.json --market N
//                          (--price DECIMAL | --drop-percent P)
//
// Uses anvil's public development key 0 as Morpho's owner and price setter; test only.
// Exit codes: 0 success, 1 runtime failure, 2 bad usage.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <string_view>

#include "tests/support/morpho_fixture.hpp"

using namespace vigil;

namespace {

constexpr const char* kUsage =
    "usage: vigil_devnet setup --rpc URL --out FILE [--borrowers N] [--seed S] [--keeper "
    "ADDRESS]\n"
    "       vigil_devnet set-price --rpc URL --deployment FILE --market N "
    "(--price DECIMAL | --drop-percent P)\n";

struct Usage : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// "--name value" pairs after the command.
std::map<std::string, std::string> options(int argc, char** argv) {
    std::map<std::string, std::string> out;
    for (int i = 2; i < argc; i += 2) {
        const std::string name = argv[i];
        if (name.rfind("--", 0) != 0 || i + 1 >= argc) throw Usage("expected --option VALUE");
        out[name.substr(2)] = argv[i + 1];
    }
    return out;
}

std::string take(std::map<std::string, std::string>& o, const std::string& name) {
    const auto it = o.find(name);
    if (it == o.end()) throw Usage("missing --" + name);
    std::string v = it->second;
    o.erase(it);
    return v;
}

std::optional<std::string> take_opt(std::map<std::string, std::string>& o,
                                    const std::string& name) {
    const auto it = o.find(name);
    if (it == o.end()) return std::nullopt;
    std::string v = it->second;
    o.erase(it);
    return v;
}

void no_more(const std::map<std::string, std::string>& o) {
    if (!o.empty()) throw Usage("unknown option --" + o.begin()->first);
}

// "1234.5" → 1234.5 × 10^scale_digits, exactly; more fractional digits than scale_digits
// are refused rather than rounded.
u256 parse_decimal(std::string_view text, unsigned scale_digits) {
    const auto dot = text.find('.');
    std::string whole(text.substr(0, dot));
    std::string frac = dot == std::string_view::npos ? "" : std::string(text.substr(dot + 1));
    if (frac.size() > scale_digits) throw Usage("too many decimals in " + std::string(text));
    frac.append(scale_digits - frac.size(), '0');
    if (whole.empty()) whole = "0";
    const auto v = parse_u256(whole + frac);
    if (!v) throw Usage("not a decimal number: " + std::string(text));
    return *v;
}

std::string format_price(const u256& price) {
    // 1e36 scale to a decimal with up to 4 fractional digits (display only).
    const u256 scaled = price / (morpho::kOraclePriceScale / 10'000);
    std::string s = to_string(scaled / 10'000);
    const unsigned frac = static_cast<unsigned>(scaled % 10'000);
    if (frac != 0) {
        char buf[16];
        std::snprintf(buf, sizeof buf, ".%04u", frac);
        s += buf;
        while (s.back() == '0') s.pop_back();
    }
    return s;
}

int setup(std::map<std::string, std::string> o) {
    const std::string rpc = take(o, "rpc");
    const std::string out = take(o, "out");
    test::MorphoFixtureOptions fo;
    if (auto n = take_opt(o, "borrowers")) fo.borrowers = std::stoul(*n);
    if (auto s = take_opt(o, "seed")) fo.seed = std::stoull(*s);
    if (auto k = take_opt(o, "keeper")) {
        auto a = parse_address(*k);
        if (!a) throw Usage("--keeper: not an address");
        fo.keeper = *a;
    }
    no_more(o);
    if (fo.borrowers < 2) throw Usage("--borrowers: at least 2");

    const auto start = std::chrono::steady_clock::now();
    test::MorphoFixture fixture(rpc, fo);
    const auto& d = fixture.deployment();
    std::ofstream file(out);
    file << d.to_json().dump(2) << "\n";
    if (!file) throw std::runtime_error("cannot write " + out);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    std::cout << "Morpho Blue " << to_checksum(d.morpho) << " at block " << d.deploy_block << ": "
              << d.markets.size() << " markets (lltv 0.86 @ " << format_price(d.markets[0].price)
              << ", 0.77 @ " << format_price(d.markets[1].price) << "), " << d.borrowers.size()
              << " borrowers, keeper " << to_checksum(d.keeper) << " funded; wrote " << out
              << " in " << ms << " ms\n";
    return 0;
}

int set_price(std::map<std::string, std::string> o) {
    const std::string rpc = take(o, "rpc");
    const std::string path = take(o, "deployment");
    const std::size_t market = std::stoul(take(o, "market"));
    const auto price_text = take_opt(o, "price");
    const auto drop_text = take_opt(o, "drop-percent");
    no_more(o);
    if (price_text.has_value() == drop_text.has_value())
        throw Usage("give exactly one of --price and --drop-percent");

    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path);
    const auto deployment = test::MorphoDeployment::from_json(nlohmann::json::parse(in));
    if (market >= deployment.markets.size()) throw Usage("--market: no such market");
    test::DevChain chain(rpc);
    const Address oracle = deployment.markets[market].params.oracle;
    const u256 old_price = test::read_price(chain, oracle);
    u256 new_price;
    if (price_text) {
        new_price = parse_decimal(*price_text, 36);
    } else {
        const u256 drop = parse_decimal(*drop_text, 18);  // percent × 1e18
        const u256 hundred = 100 * morpho::kWad;
        if (drop > hundred) throw Usage("--drop-percent: at most 100");
        new_price = old_price * (hundred - drop) / hundred;
    }
    test::set_oracle_price(chain, deployment, market, new_price);
    std::cout << "market " << market << " (" << to_hex(deployment.markets[market].id) << "): price "
              << format_price(old_price) << " -> " << format_price(new_price) << "\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        if (argc < 2) throw Usage("missing command");
        const std::string command = argv[1];
        if (command == "setup") return setup(options(argc, argv));
        if (command == "set-price") return set_price(options(argc, argv));
        throw Usage("unknown command " + command);
    } catch (const Usage& e) {
        std::cerr << "vigil_devnet: " << e.what() << "\n" << kUsage;
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "vigil_devnet: " << e.what() << "\n";
        return 1;
    }
}
