// RpcProvider over HTTP against a real anvil: every Provider method (checked against
// cast), failover between two endpoints, the fault proxy's HTTP faults, at-most-once
// eth_sendRawTransaction, eth_getLogs range splitting, and Multicall3.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "chain/abi.hpp"
#include "chain/http_transport.hpp"
#include "chain/json_rpc.hpp"
#include "chain/keccak.hpp"
#include "chain/multicall.hpp"
#include "chain/rpc_provider.hpp"
#include "tests/support/anvil.hpp"
#include "tests/support/fault_proxy.hpp"
#include "tests/support/process.hpp"
#include "tests/support/task.hpp"
#include "tests/support/vectors.hpp"

using namespace vigil;
using namespace std::chrono_literals;
using vigil::test::Anvil;
using vigil::test::FaultProxy;
using vigil::test::hex;
using vigil::test::HttpFault;
using vigil::test::run;

namespace {

// Lets `d` pass on the chain's io_context (demotions and rate limits are timed).
void pause(net::io_context& ioc, std::chrono::milliseconds d) {
    run(ioc, [&ioc, d]() -> Task<bool> {
        net::steady_timer timer(ioc, d);
        co_await timer.async_wait(net::use_awaitable);
        co_return true;
    }());
}

// Waits until no endpoint of `provider` is demoted (at most 5 s).
void until_healthy(net::io_context& ioc, const RpcProvider& provider) {
    for (int i = 0; i < 100; ++i) {
        const auto health = provider.health();
        if (std::none_of(health.begin(), health.end(),
                         [](const EndpointHealth& h) { return h.demoted; }))
            return;
        pause(ioc, 50ms);
    }
    ADD_FAILURE() << "an endpoint stayed demoted";
}

// The receipt of `tx_hash` once mined: anvil answers eth_sendRawTransaction before its
// automine has sealed the block. Polls for at most 5 s.
std::optional<Receipt> mined_receipt(net::io_context& ioc, RpcProvider& provider,
                                     const Hash32& tx_hash) {
    for (int i = 0; i < 100; ++i) {
        auto receipt = run(ioc, provider.get_transaction_receipt(tx_hash));
        if (!receipt) ADD_FAILURE() << receipt.error().to_string();
        if (!receipt || receipt->has_value()) return receipt ? *receipt : std::nullopt;
        pause(ioc, 50ms);
    }
    return std::nullopt;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    std::string text = s.str();
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return text;
}

std::string contract_path(const std::string& name) {
    return std::string(VIGIL_CONTRACTS_DIR) + "/" + name;
}

Address address(std::string_view text) {
    return *parse_address(text);
}

Hash32 word(uint64_t v) {
    Hash32 h;
    store_be(u256(v), h.bytes);
    return h;
}

// The uint256 in 32 bytes of return data.
u256 word_value(const Bytes& data) {
    EXPECT_EQ(data.size(), 32u);
    return data.size() == 32 ? load_be(std::span<const uint8_t, 32>(data.data(), 32)) : u256(0);
}

// A JSON string of `cast rpc` output ("\"0x1\"") as its text.
std::string unquote(std::string text) {
    return nlohmann::json::parse(text).get<std::string>();
}

Bytes calldata(std::string_view signature, std::vector<vigil::abi::AbiValue> args) {
    return *vigil::abi::encode_call(*vigil::abi::parse_function(signature), args);
}

// Short durations so that recovery and retries fit in a test.
RpcPolicy fast_policy() {
    RpcPolicy p;
    p.backoff_base = 20ms;
    p.backoff_max = 200ms;
    p.demote_base = 300ms;
    p.demote_max = 1s;
    return p;
}

RpcProviderConfig config_for(std::vector<std::string> urls, RpcPolicy policy = fast_policy()) {
    RpcProviderConfig c;
    c.endpoints = std::move(urls);
    c.http.connect_timeout = 2s;
    c.http.request_timeout = 5s;
    c.policy = policy;
    return c;
}

// A test chain: anvil, the chain's io_context, and raw JSON-RPC for anvil_* methods.
struct Chain {
    explicit Chain(const std::vector<std::string>& anvil_args = {}) : anvil(anvil_args) {}

    Anvil anvil;
    net::io_context ioc;

    // Sends one request straight to anvil; fails the test on any error.
    std::string rpc(std::string_view method, std::string params) {
        rpc::HttpTransport transport(ioc.get_executor(), anvil.http_url());
        auto body = run(ioc, transport.roundtrip(
                                 rpc::make_request(1, {std::string(method), std::move(params)})));
        EXPECT_TRUE(body) << body.error().to_string();
        auto result = rpc::read_response(*body, 1);
        EXPECT_TRUE(result) << method << ": " << result.error().to_string();
        return result ? std::string(*result) : std::string();
    }

    // Deploys tests/contracts/RpcFixture.bin from dev account 0.
    Address deploy_fixture() { return address(anvil.deploy("RpcFixture.bin")); }

    // One transaction from dev account 0 calling fixture.ping(count): `count` logs in one
    // new block (anvil mines each transaction at once).
    void ping(const Address& fixture, uint64_t count) {
        const std::string data = to_hex(calldata("ping(uint256)", {u256(count)}));
        rpc("eth_sendTransaction", R"([{"from":")" + std::string(Anvil::kDevAddress0) +
                                       R"(","to":")" + to_hex(fixture) + R"(","data":")" + data +
                                       R"("}])");
    }

    void mine(uint64_t blocks) { rpc("anvil_mine", "[\"" + to_quantity(u256(blocks)) + "\"]"); }
};

}  // namespace

TEST(http_provider, every_method_against_anvil) {
    Chain chain;
    const Address fixture = chain.deploy_fixture();
    chain.ping(fixture, 3);
    RpcProvider provider(chain.ioc.get_executor(), config_for({chain.anvil.http_url()}));
    auto& ioc = chain.ioc;

    EXPECT_EQ(run(ioc, provider.chain_id()).value(), std::stoull(chain.anvil.cast({"chain-id"})));
    const uint64_t head = run(ioc, provider.block_number()).value();
    EXPECT_EQ(head, std::stoull(chain.anvil.cast({"block-number"})));

    // Blocks by number, hash and tag agree with cast; an unknown block is nullopt.
    auto latest = run(ioc, provider.get_block(BlockTag::latest)).value();
    ASSERT_TRUE(latest.has_value());
    EXPECT_EQ(latest->number, head);
    EXPECT_EQ(to_hex(latest->hash), chain.anvil.cast({"block", "latest", "--field", "hash"}));
    EXPECT_EQ(to_hex(latest->parent_hash),
              chain.anvil.cast({"block", "latest", "--field", "parentHash"}));
    EXPECT_EQ(latest->timestamp,
              std::stoull(chain.anvil.cast({"block", "latest", "--field", "timestamp"})));
    EXPECT_TRUE(latest->base_fee_per_gas.has_value());
    EXPECT_EQ(run(ioc, provider.get_block(latest->hash)).value(), latest);
    EXPECT_EQ(run(ioc, provider.get_block(head)).value(), latest);
    EXPECT_EQ(run(ioc, provider.get_block(head + 100)).value(), std::nullopt);

    // Logs by range and by block hash.
    LogFilter filter;
    filter.addresses = {fixture};
    auto logs = run(ioc, provider.get_logs(filter, 0, head)).value();
    ASSERT_EQ(logs.size(), 3u);
    EXPECT_EQ(logs[2].block_number, head);
    EXPECT_EQ(logs[2].block_hash, latest->hash);
    EXPECT_EQ(logs[2].topics.size(), 3u);
    EXPECT_EQ(logs[2].topics[0], keccak256("Ping(uint256,address,uint256)"));
    EXPECT_EQ(run(ioc, provider.get_block_logs(filter, latest->hash)).value(), logs);
    filter.topics = {{}, {word(1)}};
    EXPECT_EQ(run(ioc, provider.get_logs(filter, 0, head)).value(), std::vector<Log>{logs[1]});
    auto unknown_block = run(ioc, provider.get_block_logs(filter, Hash32{}));
    ASSERT_FALSE(unknown_block);
    EXPECT_EQ(unknown_block.error().kind, rpc::Errc::rpc_error);

    // eth_call: a value, a revert with its reason, a state override, a batch.
    CallRequest twice;
    twice.to = fixture;
    twice.data = calldata("twice(uint256)", {u256(22)});
    EXPECT_EQ(run(ioc, provider.call(twice, BlockTag::latest)).value(),
              hex(chain.anvil.cast({"call", to_hex(fixture), "twice(uint256)", "22"})));
    EXPECT_EQ(run(ioc, provider.call(twice, latest->hash)).value(),
              hex(std::string(62, '0') + "2c"));
    CallRequest seven = twice;
    seven.data = calldata("twice(uint256)", {u256(14)});
    auto reverted = run(ioc, provider.call(seven, BlockTag::latest));
    ASSERT_FALSE(reverted);
    EXPECT_EQ(reverted.error().kind, rpc::Errc::rpc_error);
    auto reason = vigil::abi::decode_revert(rpc::revert_data(reverted.error().rpc).value());
    ASSERT_TRUE(reason);
    EXPECT_EQ(reason->message, "multiple of 7");

    CallRequest emitted;
    emitted.to = fixture;
    emitted.data = calldata("emitted()", {});
    EXPECT_EQ(word_value(run(ioc, provider.call(emitted, BlockTag::latest)).value()), 3);
    StateOverride slot0;
    slot0.address = fixture;
    slot0.state_diff = {{Hash32{}, word(77)}};
    EXPECT_EQ(word_value(
                  run(ioc, provider.call(emitted, BlockTag::latest, std::span(&slot0, 1))).value()),
              77);

    const CallRequest batch[] = {twice, seven, emitted};
    auto results = run(ioc, provider.call_batch(batch, BlockTag::latest));
    ASSERT_EQ(results.size(), 3u);
    EXPECT_EQ(results[0].value(), hex(std::string(62, '0') + "2c"));
    EXPECT_EQ(results[1].error().kind, rpc::Errc::rpc_error);
    EXPECT_EQ(word_value(results[2].value()), 3);

    // Gas, fees, nonces, code.
    CallRequest ping;
    ping.from = address(Anvil::kDevAddress0);
    ping.to = fixture;
    ping.data = calldata("ping(uint256)", {u256(2)});
    EXPECT_EQ(run(ioc, provider.estimate_gas(ping, BlockTag::latest)).value(),
              std::stoull(chain.anvil.cast({"estimate", "--from", Anvil::kDevAddress0,
                                            to_hex(fixture), "ping(uint256)", "2"})));
    const double percentiles[] = {25, 75};
    auto fees = run(ioc, provider.fee_history(2, BlockTag::latest, percentiles)).value();
    EXPECT_EQ(fees.oldest_block, head - 1);
    EXPECT_EQ(fees.base_fee_per_gas.size(), 3u);
    EXPECT_EQ(fees.gas_used_ratio.size(), 2u);
    ASSERT_EQ(fees.reward.size(), 2u);
    EXPECT_EQ(fees.reward[0].size(), 2u);
    EXPECT_EQ(run(ioc, provider.max_priority_fee()).value(),
              *parse_u256(unquote(chain.anvil.cast({"rpc", "eth_maxPriorityFeePerGas"}))));
    EXPECT_EQ(
        run(ioc, provider.get_transaction_count(address(Anvil::kDevAddress0), BlockTag::latest))
            .value(),
        std::stoull(chain.anvil.cast({"nonce", Anvil::kDevAddress0})));
    EXPECT_EQ(to_hex(run(ioc, provider.get_code(fixture, BlockTag::latest)).value()),
              chain.anvil.cast({"code", to_hex(fixture)}));
    EXPECT_EQ(run(ioc, provider.get_code(address(Anvil::kDevAddress1), BlockTag::latest)).value(),
              Bytes{});

    // A transaction signed by cast: its hash comes back, then its receipt.
    const std::string raw =
        chain.anvil.cast({"mktx", "--private-key", Anvil::kDevKey1, to_hex(fixture),
                          "ping(uint256)", "4", "--gas-limit", "200000"});
    const Hash32 tx_hash = run(ioc, provider.send_raw_transaction(hex(raw))).value();
    EXPECT_EQ(to_hex(tx_hash), test::cast({"keccak", raw}));
    auto receipt = mined_receipt(ioc, provider, tx_hash);
    ASSERT_TRUE(receipt.has_value());
    EXPECT_TRUE(receipt->status);
    EXPECT_EQ(receipt->tx_hash, tx_hash);
    EXPECT_EQ(receipt->block_number, head + 1);
    EXPECT_EQ(receipt->logs.size(), 4u);
    EXPECT_EQ(receipt->gas_used,
              std::stoull(chain.anvil.cast({"receipt", to_hex(tx_hash), "gasUsed"})));
    EXPECT_EQ(receipt->contract_address, std::nullopt);
    EXPECT_EQ(run(ioc, provider.get_transaction_receipt(Hash32{})).value(), std::nullopt);

    // The same bytes again: the node's answer is returned as it is.
    auto again = run(ioc, provider.send_raw_transaction(hex(raw)));
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().kind, rpc::Errc::rpc_error) << again.error().to_string();
}

TEST(http_transport, reuses_one_keep_alive_connection) {
    Chain chain;
    FaultProxy proxy(chain.anvil.port());
    rpc::HttpTransport transport(chain.ioc.get_executor(), proxy.http_url());
    for (uint64_t id = 1; id <= 10; ++id) {
        auto body =
            run(chain.ioc, transport.roundtrip(rpc::make_request(id, rpc::eth::block_number())));
        ASSERT_TRUE(body) << body.error().to_string();
        EXPECT_TRUE(rpc::read_response(*body, id));
    }
    EXPECT_EQ(proxy.forwarded("eth_blockNumber"), 10u);
    EXPECT_EQ(proxy.connections_accepted(), 1u);
}

// The pipeline sends a wave's first transaction and signs the rest while it is in flight:
// that only helps if the request leaves before the caller's coroutine yields.
TEST(http_transport, writes_a_request_before_the_caller_yields) {
    Chain chain;
    FaultProxy proxy(chain.anvil.port());
    rpc::HttpTransport transport(chain.ioc.get_executor(), proxy.http_url());
    const std::string request = rpc::make_request(1, rpc::eth::block_number());
    ASSERT_TRUE(run(chain.ioc, transport.roundtrip(request)));  // opens the connection

    std::optional<Result<std::string, rpc::Failure>> answer;
    net::co_spawn(
        chain.ioc, [&]() -> Task<void> { answer = co_await transport.roundtrip(request); },
        net::detached);
    // Queued behind the roundtrip's start, and holds the io thread until the proxy saw the
    // request: only a write made inside roundtrip itself can get there.
    bool seen_while_holding = false;
    net::post(chain.ioc, [&] {
        const auto deadline = std::chrono::steady_clock::now() + 2s;
        while (!seen_while_holding && std::chrono::steady_clock::now() < deadline) {
            seen_while_holding = proxy.received("eth_blockNumber") == 2;
            std::this_thread::sleep_for(1ms);
        }
    });
    chain.ioc.restart();
    while (!answer && chain.ioc.run_one_for(5s)) {
    }
    EXPECT_TRUE(seen_while_holding);
    ASSERT_TRUE(answer);
    EXPECT_TRUE(*answer) << answer->error().to_string();
    EXPECT_EQ(proxy.connections_accepted(), 1u);
}

TEST(http_transport, masks_credentials_in_endpoint_names) {
    net::io_context ioc;
    rpc::HttpTransport transport(ioc.get_executor(),
                                 "https://user:secret@eth.example.org/v2/KEY123?x=1");
    EXPECT_EQ(transport.endpoint(), "https://***@eth.example.org/***");
    EXPECT_EQ(rpc::mask_url("http://127.0.0.1:8545"), "http://127.0.0.1:8545");
    EXPECT_EQ(rpc::mask_url("not a url"), "<invalid url>");
}

TEST(http_transport, verifies_tls_certificates) {
    // A loopback TLS server with a self-signed certificate for 127.0.0.1. `openssl
    // s_server -www` answers GET only, so a request that gets through TLS times out.
    // (bootstrap.sh installs openssl; without it test::run fails this test.)
    const std::string openssl = "/usr/bin/openssl";
    const auto dir =
        std::filesystem::temp_directory_path() / ("vigil-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
    ASSERT_EQ(
        test::run({openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                   "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days",
                   "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"})
            .exit_code,
        0);
    const unsigned short port = test::free_port();
    test::Child server({openssl, "s_server", "-accept", std::to_string(port), "-cert", cert, "-key",
                        key, "-www", "-quiet"});
    ASSERT_TRUE(test::wait_for_port(port, 10000));
    const std::string url = "https://127.0.0.1:" + std::to_string(port);
    net::io_context ioc;

    // Verification is on: an unknown issuer fails the handshake, before any request.
    rpc::HttpTransport strict(ioc.get_executor(), url);
    auto refused = run(ioc, strict.roundtrip(rpc::make_request(1, rpc::eth::chain_id())));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().kind, rpc::Errc::connect_failed) << refused.error().to_string();
    EXPECT_TRUE(refused.error().not_sent());
    EXPECT_NE(refused.error().detail.find("certificate"), std::string::npos)
        << refused.error().detail;

    // With its certificate as a trusted CA, TLS succeeds and the request goes out.
    rpc::HttpOptions trusting;
    trusting.ca_file = cert;
    trusting.request_timeout = 500ms;
    rpc::HttpTransport trusted(ioc.get_executor(), url, trusting);
    auto sent = run(ioc, trusted.roundtrip(rpc::make_request(1, rpc::eth::chain_id())));
    ASSERT_FALSE(sent);
    EXPECT_EQ(sent.error().kind, rpc::Errc::timeout) << sent.error().to_string();
    std::filesystem::remove_all(dir);
}

TEST(http_provider, fails_over_and_returns_to_the_first_endpoint) {
    Chain chain;
    FaultProxy first(chain.anvil.port());
    FaultProxy second(chain.anvil.port());
    RpcProvider provider(chain.ioc.get_executor(),
                         config_for({first.http_url(), second.http_url()}));

    ASSERT_TRUE(run(chain.ioc, provider.block_number()));
    EXPECT_EQ(first.forwarded("eth_blockNumber"), 1u);
    EXPECT_EQ(second.forwarded("eth_blockNumber"), 0u);

    // The first endpoint dies: calls succeed on the second.
    first.set_listening(false);
    first.cut();
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(run(chain.ioc, provider.block_number()));
    EXPECT_EQ(first.forwarded("eth_blockNumber"), 1u);
    EXPECT_EQ(second.forwarded("eth_blockNumber"), 5u);
    EXPECT_TRUE(provider.health()[0].demoted);
    EXPECT_GE(provider.health()[0].consecutive_failures, 1u);

    // It comes back: once its demotion has passed it serves again.
    first.set_listening(true);
    until_healthy(chain.ioc, provider);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(run(chain.ioc, provider.block_number()));
    EXPECT_EQ(first.forwarded("eth_blockNumber"), 4u);
    EXPECT_EQ(second.forwarded("eth_blockNumber"), 5u);
    EXPECT_EQ(provider.health()[0].consecutive_failures, 0u);
    EXPECT_FALSE(provider.health()[0].demoted);
}

TEST(http_provider, a_slow_endpoint_is_demoted) {
    Chain chain;
    FaultProxy first(chain.anvil.port());
    FaultProxy second(chain.anvil.port());
    RpcPolicy policy = fast_policy();
    policy.slow_response = 150ms;
    RpcProvider provider(chain.ioc.get_executor(),
                         config_for({first.http_url(), second.http_url()}, policy));

    first.set_delay(200ms);
    ASSERT_TRUE(run(chain.ioc, provider.block_number()));  // slow, but the answer is used
    ASSERT_TRUE(run(chain.ioc, provider.block_number()));
    EXPECT_EQ(first.forwarded("eth_blockNumber"), 1u);
    EXPECT_EQ(second.forwarded("eth_blockNumber"), 1u);
    EXPECT_TRUE(provider.health()[0].demoted);
}

// ---- endpoints that lie ----

// A provider over `urls` that checks chain id 31337 and keeps every refusal it reports.
struct CheckedProvider {
    CheckedProvider(net::io_context& ioc, std::vector<std::string> urls) {
        RpcProviderConfig config = config_for(std::move(urls));
        config.policy.check = {31337, [this](const rpc::Failure& f) { refused.push_back(f); }};
        provider = std::make_unique<RpcProvider>(ioc.get_executor(), config);
    }
    std::vector<rpc::Failure> refused;
    std::unique_ptr<RpcProvider> provider;
};

TEST(http_provider, an_endpoint_on_another_chain_is_refused_and_never_used) {
    Chain chain;
    FaultProxy first(chain.anvil.port());
    FaultProxy second(chain.anvil.port());
    first.lie_chain_id(1);
    CheckedProvider checked(chain.ioc, {first.http_url(), second.http_url()});
    RpcProvider& provider = *checked.provider;

    for (int i = 0; i < 5; ++i) ASSERT_TRUE(run(chain.ioc, provider.block_number()));
    const std::string raw = chain.anvil.cast(
        {"mktx", "--private-key", Anvil::kDevKey1, Anvil::kDevAddress0, "--value", "1"});
    auto sent = run(chain.ioc, provider.send_raw_transaction(hex(raw)));
    ASSERT_TRUE(sent) << sent.error().to_string();

    // The first was asked its chain id once, and nothing else.
    EXPECT_EQ(first.received("eth_chainId"), 1u);
    EXPECT_EQ(first.received("eth_blockNumber"), 0u);
    EXPECT_EQ(first.received("eth_sendRawTransaction"), 0u);
    EXPECT_EQ(second.forwarded("eth_blockNumber"), 5u);
    EXPECT_EQ(second.forwarded("eth_sendRawTransaction"), 1u);
    ASSERT_EQ(checked.refused.size(), 1u);
    EXPECT_EQ(checked.refused[0].kind, rpc::Errc::wrong_chain);
    EXPECT_EQ(checked.refused[0].to_string(),
              "wrong_chain from " + first.http_url() + ": eth_chainId answered 1, expected 31337");
    EXPECT_TRUE(provider.health()[0].refused);
    EXPECT_FALSE(provider.health()[1].refused);

    // Even once the second fails, the refused one gets nothing.
    second.set_listening(false);
    second.cut();
    auto down = run(chain.ioc, provider.block_number());
    ASSERT_FALSE(down);
    EXPECT_EQ(first.received("eth_blockNumber"), 0u);
}

TEST(http_provider, an_endpoint_is_checked_again_when_it_comes_back_after_a_failure) {
    Chain chain;
    FaultProxy first(chain.anvil.port());
    FaultProxy second(chain.anvil.port());
    CheckedProvider checked(chain.ioc, {first.http_url(), second.http_url()});
    RpcProvider& provider = *checked.provider;
    ASSERT_TRUE(run(chain.ioc, provider.block_number()));
    ASSERT_TRUE(run(chain.ioc, provider.block_number()));
    EXPECT_EQ(first.forwarded("eth_chainId"), 1u);  // once, not per request
    EXPECT_EQ(first.forwarded("eth_blockNumber"), 2u);

    // Behind the same URL another chain's node now answers, after a failure: the failover
    // back to it is a new connection, and the check refuses it.
    first.lie_chain_id(1);
    first.inject(HttpFault::close_without_response);
    ASSERT_TRUE(run(chain.ioc, provider.block_number()));  // served by the second
    until_healthy(chain.ioc, provider);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(run(chain.ioc, provider.block_number()));
    EXPECT_EQ(first.received("eth_chainId"), 2u);
    EXPECT_EQ(first.forwarded("eth_blockNumber"), 2u);
    EXPECT_EQ(second.forwarded("eth_blockNumber"), 4u);
    ASSERT_EQ(checked.refused.size(), 1u);
    EXPECT_TRUE(provider.health()[0].refused);
}

TEST(http_provider, with_every_endpoint_refused_calls_fail_and_nothing_is_sent) {
    Chain chain;
    FaultProxy only(chain.anvil.port());
    only.lie_chain_id(5);
    CheckedProvider checked(chain.ioc, {only.http_url()});
    auto number = run(chain.ioc, checked.provider->block_number());
    ASSERT_FALSE(number);
    EXPECT_EQ(number.error().kind, rpc::Errc::unavailable) << number.error().to_string();
    const std::string raw = chain.anvil.cast(
        {"mktx", "--private-key", Anvil::kDevKey1, Anvil::kDevAddress0, "--value", "1"});
    auto sent = run(chain.ioc, checked.provider->send_raw_transaction(hex(raw)));
    ASSERT_FALSE(sent);
    EXPECT_TRUE(sent.error().not_sent()) << sent.error().to_string();
    EXPECT_EQ(only.received("eth_blockNumber"), 0u);
    EXPECT_EQ(only.received("eth_sendRawTransaction"), 0u);
    EXPECT_EQ(checked.refused.size(), 1u);
}

TEST(http_provider, a_receipt_for_another_hash_is_refused) {
    Chain chain;
    FaultProxy proxy(chain.anvil.port());
    RpcPolicy once = fast_policy();
    once.read_attempts = 1;
    RpcProvider provider(chain.ioc.get_executor(), config_for({proxy.http_url()}, once));
    const std::string raw = chain.anvil.cast(
        {"mktx", "--private-key", Anvil::kDevKey1, Anvil::kDevAddress0, "--value", "1"});
    const Hash32 tx_hash = *parse_hash32(test::cast({"keccak", raw}));
    ASSERT_TRUE(run(chain.ioc, provider.send_raw_transaction(hex(raw))));
    ASSERT_TRUE(mined_receipt(chain.ioc, provider, tx_hash).has_value());

    proxy.lie_receipt();
    auto lied = run(chain.ioc, provider.get_transaction_receipt(tx_hash));
    ASSERT_FALSE(lied) << "accepted a receipt for " << to_hex((*lied)->tx_hash);
    EXPECT_EQ(lied.error().kind, rpc::Errc::wrong_receipt) << lied.error().to_string();
    EXPECT_NE(lied.error().detail.find("asked for " + to_hex(tx_hash)), std::string::npos)
        << lied.error().to_string();
    EXPECT_EQ(proxy.lies_told("eth_getTransactionReceipt"), 1u);

    // With retries (the default), the lie costs one more request and the answer is right.
    RpcProvider retrying(chain.ioc.get_executor(), config_for({proxy.http_url()}));
    proxy.lie_receipt();
    auto receipt = run(chain.ioc, retrying.get_transaction_receipt(tx_hash));
    ASSERT_TRUE(receipt && *receipt) << (receipt ? "null" : receipt.error().to_string());
    EXPECT_EQ((*receipt)->tx_hash, tx_hash);
    EXPECT_EQ(proxy.lies_told("eth_getTransactionReceipt"), 2u);
}

namespace {
struct FaultCase {
    HttpFault fault;
    rpc::Errc without_retry;  // what a single attempt returns
};
const FaultCase kFaults[] = {
    {HttpFault::status_429, rpc::Errc::rate_limited},
    {HttpFault::status_500, rpc::Errc::http_status},
    {HttpFault::status_503, rpc::Errc::http_status},
    {HttpFault::garbage_body, rpc::Errc::malformed_response},
    {HttpFault::half_body, rpc::Errc::connection_closed},
    {HttpFault::hang, rpc::Errc::timeout},
    {HttpFault::close_without_response, rpc::Errc::connection_closed},
};
}  // namespace

TEST(http_provider, each_http_fault_is_typed_without_retries) {
    Chain chain;
    FaultProxy proxy(chain.anvil.port());
    RpcProviderConfig config = config_for({proxy.http_url()});
    config.http.request_timeout = 500ms;
    config.policy.read_attempts = 1;
    RpcProvider provider(chain.ioc.get_executor(), config);
    for (const FaultCase& c : kFaults) {
        SCOPED_TRACE(static_cast<int>(c.fault));
        proxy.inject(c.fault);
        auto r = run(chain.ioc, provider.chain_id());
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().kind, c.without_retry) << r.error().to_string();
        EXPECT_EQ(r.error().endpoint, proxy.http_url());
        EXPECT_EQ(proxy.pending_faults(), 0u);
        // The endpoint serves again right after (after a 429's Retry-After: 1).
        EXPECT_EQ(run(chain.ioc, provider.chain_id()).value(), 31337u);
    }
    EXPECT_EQ(proxy.received("eth_chainId"), 2 * std::size(kFaults));
    EXPECT_EQ(proxy.forwarded("eth_chainId"), std::size(kFaults));
}

TEST(http_provider, reads_are_retried_through_each_http_fault) {
    Chain chain;
    FaultProxy proxy(chain.anvil.port());
    RpcProviderConfig config = config_for({proxy.http_url()});
    config.http.request_timeout = 500ms;
    RpcProvider provider(chain.ioc.get_executor(), config);
    for (const FaultCase& c : kFaults) {
        SCOPED_TRACE(static_cast<int>(c.fault));
        const auto received = proxy.received("eth_chainId");
        const auto forwarded = proxy.forwarded("eth_chainId");
        proxy.inject(c.fault);
        const auto start = std::chrono::steady_clock::now();
        EXPECT_EQ(run(chain.ioc, provider.chain_id()).value(), 31337u);
        EXPECT_EQ(proxy.received("eth_chainId"), received + 2);
        EXPECT_EQ(proxy.forwarded("eth_chainId"), forwarded + 1);
        // Retry-After: 1 is honoured before asking the rate-limited endpoint again.
        if (c.fault == HttpFault::status_429) {
            EXPECT_GE(std::chrono::steady_clock::now() - start, 1s);
        }
    }
}

TEST(http_provider, a_long_retry_after_is_returned_not_waited_for) {
    Chain chain;
    FaultProxy proxy(chain.anvil.port());
    RpcProviderConfig config = config_for({proxy.http_url()});
    config.policy.max_retry_after = 500ms;
    RpcProvider provider(chain.ioc.get_executor(), config);
    proxy.inject(HttpFault::status_429);
    auto r = run(chain.ioc, provider.block_number());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, rpc::Errc::rate_limited);
    EXPECT_EQ(r.error().http_status, 429);
    EXPECT_EQ(r.error().retry_after, std::chrono::milliseconds(1000));
    EXPECT_EQ(proxy.received("eth_blockNumber"), 1u);
}

TEST(http_provider, send_raw_transaction_is_never_duplicated) {
    Chain chain;
    FaultProxy first(chain.anvil.port());
    FaultProxy second(chain.anvil.port());
    RpcProviderConfig config = config_for({first.http_url(), second.http_url()});
    config.http.request_timeout = 500ms;
    RpcProvider provider(chain.ioc.get_executor(), config);
    const std::string raw = chain.anvil.cast(
        {"mktx", "--private-key", Anvil::kDevKey1, Anvil::kDevAddress0, "--value", "1"});
    const Hash32 tx_hash = *parse_hash32(test::cast({"keccak", raw}));
    auto pending = [&] {
        return run(chain.ioc, provider.get_transaction_receipt(tx_hash)).value();
    };

    // A read through the same fault is retried, here on the other endpoint.
    first.inject(HttpFault::close_without_response);
    ASSERT_TRUE(run(chain.ioc, provider.block_number()));
    EXPECT_EQ(first.received("eth_blockNumber"), 1u);
    EXPECT_EQ(second.forwarded("eth_blockNumber"), 1u);

    // The connection closes after the request went out: the outcome is unknown, so the
    // failure is returned and the bytes go nowhere else.
    until_healthy(chain.ioc, provider);
    first.inject(HttpFault::close_without_response);
    auto closed = run(chain.ioc, provider.send_raw_transaction(hex(raw)));
    ASSERT_FALSE(closed);
    EXPECT_EQ(closed.error().kind, rpc::Errc::connection_closed) << closed.error().to_string();
    EXPECT_EQ(first.received("eth_sendRawTransaction"), 1u);
    EXPECT_EQ(first.forwarded("eth_sendRawTransaction"), 0u);
    EXPECT_EQ(second.received("eth_sendRawTransaction"), 0u);
    EXPECT_EQ(pending(), std::nullopt);

    // A hang ends in a timeout, again not resent.
    until_healthy(chain.ioc, provider);
    first.inject(HttpFault::hang);
    auto hung = run(chain.ioc, provider.send_raw_transaction(hex(raw)));
    ASSERT_FALSE(hung);
    EXPECT_EQ(hung.error().kind, rpc::Errc::timeout) << hung.error().to_string();
    EXPECT_EQ(first.received("eth_sendRawTransaction"), 2u);
    EXPECT_EQ(first.forwarded("eth_sendRawTransaction"), 0u);
    EXPECT_EQ(second.received("eth_sendRawTransaction"), 0u);
    EXPECT_EQ(pending(), std::nullopt);

    // An endpoint that refuses connections certainly did not get it: the next one does.
    until_healthy(chain.ioc, provider);
    first.set_listening(false);
    first.cut();
    auto sent = run(chain.ioc, provider.send_raw_transaction(hex(raw)));
    ASSERT_TRUE(sent) << sent.error().to_string();
    EXPECT_EQ(*sent, tx_hash);
    EXPECT_EQ(first.received("eth_sendRawTransaction"), 2u);
    EXPECT_EQ(second.received("eth_sendRawTransaction"), 1u);
    EXPECT_EQ(second.forwarded("eth_sendRawTransaction"), 1u);
    EXPECT_TRUE(mined_receipt(chain.ioc, provider, tx_hash).has_value());
}

TEST(http_provider, get_logs_splits_5000_blocks_into_the_same_logs) {
    // anvil mines ever more slowly as its chain grows unless old states are pruned; logs
    // are kept either way.
    Chain chain({"--prune-history"});
    const Address fixture = chain.deploy_fixture();
    // 40 transactions, 1 to 5 logs each, 125 blocks apart: logs on both sides of every
    // 1,000-block boundary.
    const uint64_t start = std::stoull(chain.anvil.cast({"block-number"})) + 1;
    for (uint64_t i = 0; i < 40; ++i) {
        chain.ping(fixture, 1 + i % 5);
        chain.mine(124);
    }
    // anvil may mine a transaction into the first block of the anvil_mine that follows
    // it rather than a block of its own: top the range up to 5,000 blocks.
    if (const uint64_t mined = std::stoull(chain.anvil.cast({"block-number"})) - start + 1;
        mined < 5000)
        chain.mine(5000 - mined);
    const uint64_t head = std::stoull(chain.anvil.cast({"block-number"}));
    ASSERT_EQ(head - start + 1, 5000u);

    FaultProxy proxy(chain.anvil.port());
    RpcPolicy unlimited_policy = fast_policy();
    unlimited_policy.max_log_range = 0;
    RpcProvider unlimited(chain.ioc.get_executor(),
                          config_for({proxy.http_url()}, unlimited_policy));
    RpcPolicy split_policy = fast_policy();
    split_policy.max_log_range = 1000;
    RpcProvider split(chain.ioc.get_executor(), config_for({proxy.http_url()}, split_policy));

    LogFilter filter;
    filter.addresses = {fixture};
    const auto whole = run(chain.ioc, unlimited.get_logs(filter, start, head)).value();
    EXPECT_EQ(proxy.forwarded("eth_getLogs"), 1u);
    const auto pieces = run(chain.ioc, split.get_logs(filter, start, head)).value();
    EXPECT_EQ(proxy.forwarded("eth_getLogs"), 1u + (head - start + 1 + 999) / 1000);
    EXPECT_EQ(whole.size(), 120u);  // 8 rounds of 1+2+3+4+5
    EXPECT_EQ(pieces, whole);
    for (std::size_t i = 1; i < pieces.size(); ++i)
        EXPECT_LT(std::pair(pieces[i - 1].block_number, pieces[i - 1].log_index),
                  std::pair(pieces[i].block_number, pieces[i].log_index));
    // cast agrees on the count.
    const auto cast_logs = nlohmann::json::parse(
        chain.anvil.cast({"logs", "--json", "--from-block", std::to_string(start), "--to-block",
                          std::to_string(head), "--address", to_hex(fixture)}));
    EXPECT_EQ(cast_logs.size(), whole.size());
}

TEST(http_provider, multicall3_batches_500_calls_with_failures) {
    Chain chain;
    chain.rpc("anvil_setCode", "[\"" + to_checksum(kMulticall3Address) + "\",\"" +
                                   read_text(contract_path("Multicall3.runtime.hex")) + "\"]");
    EXPECT_EQ(test::cast({"keccak", chain.anvil.cast({"code", to_checksum(kMulticall3Address)})}),
              "0xd5c15df687b16f2ff992fc8d767b4216323184a2bbc6ee2f9c398c318e770891");
    const Address fixture = chain.deploy_fixture();
    FaultProxy proxy(chain.anvil.port());
    RpcProvider provider(chain.ioc.get_executor(), config_for({proxy.http_url()}));

    std::vector<MulticallCall> calls;
    for (uint64_t i = 1; i <= 500; ++i)
        calls.push_back({fixture, calldata("twice(uint256)", {u256(i)}), true});
    MulticallOptions options;
    options.chunk_size = 200;
    auto results = run(chain.ioc, multicall(provider, calls, BlockTag::latest, options)).value();
    ASSERT_EQ(results.size(), 500u);
    for (uint64_t i = 1; i <= 500; ++i) {
        const MulticallResult& r = results[i - 1];
        if (i % 7 == 0) {
            EXPECT_FALSE(r.success) << i;
            auto reason = vigil::abi::decode_revert(r.return_data);
            ASSERT_TRUE(reason) << i;
            EXPECT_EQ(reason->message, "multiple of 7");
        } else {
            EXPECT_TRUE(r.success) << i;
            EXPECT_EQ(word_value(r.return_data), 2 * i);
        }
    }
    // Three chunks, one HTTP request.
    EXPECT_EQ(proxy.forwarded("eth_call"), 3u);
    EXPECT_EQ(proxy.connections_accepted(), 1u);

    // A failing call that may not fail reverts its chunk, and the whole multicall fails.
    calls[6].allow_failure = false;  // twice(7)
    auto strict = run(chain.ioc, multicall(provider, calls, BlockTag::latest, options));
    ASSERT_FALSE(strict);
    EXPECT_EQ(strict.error().kind, rpc::Errc::rpc_error);
    EXPECT_EQ(vigil::abi::decode_revert(rpc::revert_data(strict.error().rpc).value())->message,
              "Multicall3: call failed");

    // No contract at the address: an empty answer, reported as such.
    options.multicall = address("0x000000000000000000000000000000000000dead");
    auto missing =
        run(chain.ioc, multicall(provider, std::span(calls).first(3), BlockTag::latest, options));
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().kind, rpc::Errc::malformed_response);
}
