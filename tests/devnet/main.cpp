// vigil_devnet: puts real Morpho Blue with a book of borrowers on a running dev node
// (anvil) and moves its oracle prices, for scripts/demo.sh and for trying vigil by hand.
//
//   vigil_devnet setup --rpc URL --out deployment.json [--borrowers N] [--seed S]
//                      [--keeper ADDRESS] [--keeper-balance TOKENS]
//   vigil_devnet set-price --rpc URL --deployment deployment.json --market N
//                          (--price DECIMAL | --drop-percent P)
//   vigil_devnet report --rpc URL --deployment deployment.json --since-block N
//                       [--wait-quiet SECONDS] [--timeout SECONDS]
//
// Uses anvil's public development key 0 as Morpho's owner and price setter; test only.
// Exit codes: 0 success, 1 runtime failure, 2 bad usage.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include "tests/support/morpho_fixture.hpp"

using namespace vigil;

namespace {

constexpr const char* kUsage =
    "usage: vigil_devnet setup --rpc URL --out FILE [--borrowers N] [--seed S] [--keeper "
    "ADDRESS] [--keeper-balance TOKENS]\n"
    "       vigil_devnet set-price --rpc URL --deployment FILE --market N "
    "(--price DECIMAL | --drop-percent P)\n"
    "       vigil_devnet report --rpc URL --deployment FILE --since-block N "
    "[--wait-quiet SECONDS] [--timeout SECONDS]\n";

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

// `value` / `scale` as a decimal with up to 4 fractional digits (display only).
std::string format_scaled(const u256& value, const u256& scale) {
    const u256 scaled = value / (scale / 10'000);
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

std::string format_price(const u256& price) {
    return format_scaled(price, morpho::kOraclePriceScale);
}

std::string format_tokens(const u256& amount) {
    return format_scaled(amount, morpho::kWad);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

int setup(std::map<std::string, std::string> o) {
    const std::string rpc = take(o, "rpc");
    const std::string out = take(o, "out");
    test::MorphoFixtureOptions fo;
    if (auto n = take_opt(o, "borrowers")) fo.borrowers = std::stoul(*n);
    if (auto s = take_opt(o, "seed")) fo.seed = std::stoull(*s);
    if (auto b = take_opt(o, "keeper-balance")) fo.keeper_loan_balance = parse_decimal(*b, 18);
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

    const auto deployment =
        test::MorphoDeployment::from_json(nlohmann::json::parse(read_file(path)));
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

// The keeper's liquidations since a block (the price crash): how many, what they repaid
// and seized, their profit at the oracles' prices now, their gas, and how long after the
// crash the last one was mined. With --wait-quiet, first waits until at least one
// liquidation was mined and none came for that many seconds (at most --timeout).
int report(std::map<std::string, std::string> o) {
    const std::string rpc = take(o, "rpc");
    const auto deployment =
        test::MorphoDeployment::from_json(nlohmann::json::parse(read_file(take(o, "deployment"))));
    const uint64_t since = std::stoull(take(o, "since-block"));
    const auto quiet = std::chrono::seconds(std::stoul(take_opt(o, "wait-quiet").value_or("0")));
    const auto timeout = std::chrono::seconds(std::stoul(take_opt(o, "timeout").value_or("120")));
    no_more(o);

    test::DevChain chain(rpc);
    const Hash32 liquidate_topic =
        keccak256("Liquidate(bytes32,address,address,uint256,uint256,uint256,uint256,uint256)");
    Hash32 keeper_topic;
    std::copy(deployment.keeper.bytes.begin(), deployment.keeper.bytes.end(),
              keeper_topic.bytes.begin() + 12);
    const LogFilter filter{{deployment.morpho}, {{liquidate_topic}, {}, {keeper_topic}}};
    auto fetch = [&] {
        auto logs = chain.run(chain.provider().get_logs(filter, since, chain.block_number()));
        if (!logs) throw std::runtime_error("eth_getLogs: " + logs.error().to_string());
        return std::move(*logs);
    };
    std::vector<Log> logs = fetch();
    const auto started = std::chrono::steady_clock::now();
    auto last_change = started;
    while (quiet.count() > 0 && std::chrono::steady_clock::now() - started < timeout &&
           (logs.empty() || std::chrono::steady_clock::now() - last_change < quiet)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        auto now = fetch();
        if (now.size() != logs.size()) last_change = std::chrono::steady_clock::now();
        logs = std::move(now);
    }

    u256 repaid = 0, profit_gain = 0, profit_loss = 0, gas_wei = 0;
    std::set<Address> borrowers;
    std::set<Hash32> txs;
    uint64_t last_block = since;
    for (const Log& log : logs) {
        const auto word = [&](std::size_t i) {
            return load_be(std::span<const uint8_t, 32>(log.data.data() + 32 * i, 32));
        };
        if (log.topics.size() != 4 || log.data.size() < 5 * 32)
            throw std::runtime_error("malformed Liquidate log");
        Address borrower;
        std::copy(log.topics[3].bytes.begin() + 12, log.topics[3].bytes.end(),
                  borrower.bytes.begin());
        borrowers.insert(borrower);
        txs.insert(log.tx_hash);
        last_block = std::max(last_block, log.block_number);
        const auto market = std::find_if(deployment.markets.begin(), deployment.markets.end(),
                                         [&](const auto& m) { return m.id == log.topics[1]; });
        if (market == deployment.markets.end()) continue;
        // Repaid loan assets against seized collateral valued at the oracle's price now.
        const u256 value =
            word(2) * test::read_price(chain, market->params.oracle) / morpho::kOraclePriceScale;
        repaid += word(0);
        if (value >= word(0))
            profit_gain += value - word(0);
        else
            profit_loss += word(0) - value;
    }
    for (const Hash32& tx : txs) {
        auto receipt = chain.run(chain.provider().get_transaction_receipt(tx));
        if (receipt && *receipt) gas_wei += (*receipt)->effective_gas_price * (*receipt)->gas_used;
    }
    const uint64_t crash_time = chain.block(since).timestamp;
    const uint64_t last_time = chain.block(last_block).timestamp;
    std::cout << "liquidations mined: " << logs.size() << " in " << txs.size() << " transactions, "
              << borrowers.size() << " borrowers\n"
              << "repaid: " << format_tokens(repaid) << " loan tokens\n"
              << "profit at the oracle price: "
              << (profit_gain >= profit_loss ? format_tokens(profit_gain - profit_loss)
                                             : "-" + format_tokens(profit_loss - profit_gain))
              << " loan tokens (seized collateral value - repaid debt)\n"
              << "gas paid: " << format_tokens(gas_wei) << " ETH\n"
              << "price crash (block " << since << ") to last liquidation mined (block "
              << last_block << "): " << (last_time - crash_time) << " s, " << (last_block - since)
              << " blocks\n";
    return logs.empty() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        if (argc < 2) throw Usage("missing command");
        const std::string command = argv[1];
        if (command == "setup") return setup(options(argc, argv));
        if (command == "set-price") return set_price(options(argc, argv));
        if (command == "report") return report(options(argc, argv));
        throw Usage("unknown command " + command);
    } catch (const Usage& e) {
        std::cerr << "vigil_devnet: " << e.what() << "\n" << kUsage;
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "vigil_devnet: " << e.what() << "\n";
        return 1;
    }
}
