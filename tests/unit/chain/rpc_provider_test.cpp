// RpcProvider policy over scripted transports: eth_getLogs range halving, the refusal
// and rate-limit phrasings, which failures are retried and which are returned, and
// at-most-once writes. Deterministic and network-free; tests/integration/
// http_provider_test.cpp runs the same policy against anvil through a fault proxy.
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "chain/rpc_provider.hpp"

using namespace vigil;
using nlohmann::json;

namespace {

// Answers each request body with `answer(request)`: a JSON response text or a Failure.
class ScriptedTransport final : public rpc::Transport {
public:
    using Answer = std::function<Result<std::string, rpc::Failure>(const json& request)>;
    explicit ScriptedTransport(std::string name, Answer answer)
        : name_(std::move(name)), answer_(std::move(answer)) {}

    Task<Result<std::string, rpc::Failure>> roundtrip(std::string body) override {
        bodies.push_back(body);
        co_return answer_(json::parse(body));
    }
    const std::string& endpoint() const noexcept override { return name_; }

    std::vector<std::string> bodies;

private:
    std::string name_;
    Answer answer_;
};

std::string result(const json& request, const json& value) {
    return json{{"jsonrpc", "2.0"}, {"id", request.at("id")}, {"result", value}}.dump();
}
std::string error(const json& request, int code, std::string_view message) {
    return json{{"jsonrpc", "2.0"},
                {"id", request.at("id")},
                {"error", {{"code", code}, {"message", message}}}}
        .dump();
}
rpc::Failure failure(rpc::Errc kind) {
    rpc::Failure f{kind, {}, {}, 0, std::nullopt, "scripted"};
    return f;
}

template <class T>
T run(net::io_context& ioc, Task<T> task) {
    std::optional<T> out;
    net::co_spawn(ioc, std::move(task), [&](std::exception_ptr e, T v) {
        if (e) std::rethrow_exception(e);
        out.emplace(std::move(v));
    });
    ioc.restart();
    ioc.run();  // scripted transports never wait, only backoff timers do
    return std::move(out.value());
}

struct Fixture {
    net::io_context ioc;
    std::vector<ScriptedTransport*> transports;
    std::unique_ptr<RpcProvider> provider;

    explicit Fixture(std::vector<ScriptedTransport::Answer> answers, RpcPolicy policy = fast()) {
        std::vector<std::unique_ptr<rpc::Transport>> owned;
        for (std::size_t i = 0; i < answers.size(); ++i) {
            auto t = std::make_unique<ScriptedTransport>("endpoint" + std::to_string(i),
                                                         std::move(answers[i]));
            transports.push_back(t.get());
            owned.push_back(std::move(t));
        }
        provider = std::make_unique<RpcProvider>(ioc.get_executor(), std::move(owned), policy);
    }
    static RpcPolicy fast() {
        RpcPolicy p;
        p.backoff_base = std::chrono::milliseconds(1);
        p.backoff_max = std::chrono::milliseconds(4);
        return p;
    }
};

uint64_t quantity(const json& j) {
    return std::stoull(j.get<std::string>(), nullptr, 16);
}

// A log at `block`, as a node writes it.
json log_at(uint64_t block) {
    const std::string hash = "0x" + std::string(64, 'a');
    return {{"address", "0x" + std::string(40, '1')},
            {"topics", json::array()},
            {"data", "0x"},
            {"blockNumber", to_quantity(u256(block))},
            {"blockHash", hash},
            {"transactionHash", hash},
            {"transactionIndex", "0x0"},
            {"logIndex", "0x0"},
            {"removed", false}};
}

}  // namespace

TEST(rpc_provider_policy, halves_refused_log_ranges_and_merges_in_order) {
    // A node that refuses more than 300 blocks per query and has a log every 50 blocks.
    Fixture f({[](const json& request) -> Result<std::string, rpc::Failure> {
        const auto& filter = request.at("params").at(0);
        const uint64_t from = quantity(filter.at("fromBlock")), to = quantity(filter.at("toBlock"));
        if (to - from + 1 > 300)
            return error(request, -32005, "query returned more than 10000 results");
        json logs = json::array();
        for (uint64_t b = from; b <= to; ++b)
            if (b % 50 == 0) logs.push_back(log_at(b));
        return result(request, logs);
    }});
    auto logs = run(f.ioc, f.provider->get_logs({}, 0, 2999)).value();
    ASSERT_EQ(logs.size(), 60u);
    for (std::size_t i = 0; i < logs.size(); ++i) EXPECT_EQ(logs[i].block_number, 50 * i);
    // 0..1999 is cut to 2,000 (the default max_log_range), refused, halved to 1,000,
    // refused, halved to 500, refused, halved to 250; then 250-block pieces to the end.
    EXPECT_EQ(f.transports[0]->bodies.size(), 3u + 12u);
}

TEST(rpc_provider_policy, a_refused_single_block_fails) {
    Fixture f({[](const json& request) -> Result<std::string, rpc::Failure> {
        return error(request, -32602,
                     "Log response size exceeded. You can make eth_getLogs requests with up to a "
                     "2K block range");
    }});
    auto logs = run(f.ioc, f.provider->get_logs({}, 5, 6));
    ASSERT_FALSE(logs);
    EXPECT_EQ(logs.error().kind, rpc::Errc::rpc_error);
    EXPECT_EQ(logs.error().endpoint, "endpoint0");
    EXPECT_EQ(f.transports[0]->bodies.size(), 2u);  // [5,6], then [5,5]
    EXPECT_EQ(run(f.ioc, f.provider->get_logs({}, 7, 6)).value(), std::vector<Log>{});
    EXPECT_EQ(f.transports[0]->bodies.size(), 2u);
}

TEST(rpc_provider_policy, recognises_how_nodes_refuse_ranges_and_limit_rates) {
    auto says = [](int code, std::string message) {
        rpc::Failure f{rpc::Errc::rpc_error, {}, {code, std::move(message), {}}, 0,
                       std::nullopt,         {}};
        return f;
    };
    for (const auto& message : {
             "query returned more than 10000 results. Try with this block range [0x1, 0x2].",
             "exceed maximum block range: 50000",
             "Block range is too large",
             "eth_getLogs block range too large, range: 20000, max: 10000",
             "requested range exceeds maximum RPC range limit",
             "eth_getLogs is limited to a 10000 range",
             "Log response size exceeded.",
             "query exceeds max results 20000, retry with the range 1-200",
             "limit exceeded",
             "too many logs",
         })
        EXPECT_TRUE(is_range_refusal(says(-32005, message))) << message;
    for (const auto& message : {"daily request count exceeded, request rate limited",
                                "Too Many Requests", "project ID request rate exceeded",
                                "Your app has exceeded its compute units per "
                                "second capacity (rate limit)"})
        EXPECT_TRUE(is_rate_limit(says(-32005, message))) << message;
    EXPECT_FALSE(is_range_refusal(says(3, "execution reverted")));
    EXPECT_FALSE(is_rate_limit(says(-32000, "nonce too low")));
    // Only error objects say this; an HTTP failure with such a body does not.
    rpc::Failure http = says(0, "limit exceeded");
    http.kind = rpc::Errc::http_status;
    EXPECT_FALSE(is_range_refusal(http));
}

TEST(rpc_provider_policy, retries_reads_on_failures_and_rate_limit_errors_not_on_answers) {
    int calls = 0;
    Fixture f({[&](const json& request) -> Result<std::string, rpc::Failure> {
        switch (++calls) {
            case 1:
                return error(request, -32005, "daily request count exceeded, request rate limited");
            case 2:
                return unexpected(failure(rpc::Errc::timeout));
            case 3:
                return "not json";
            case 4:
                return result(request, "0x7");
            default:
                return error(request, 3, "execution reverted");
        }
    }});
    EXPECT_EQ(run(f.ioc, f.provider->block_number()).value(), 7u);
    EXPECT_EQ(calls, 4);
    EXPECT_EQ(f.provider->health()[0].failures, 3u);
    EXPECT_EQ(f.provider->health()[0].consecutive_failures, 0u);

    auto reverted = run(f.ioc, f.provider->call({}, BlockTag::latest));
    ASSERT_FALSE(reverted);
    EXPECT_EQ(reverted.error().rpc.message, "execution reverted");
    EXPECT_EQ(calls, 5);  // an answer is not retried
    EXPECT_FALSE(f.provider->health()[0].demoted);
}

TEST(rpc_provider_policy, gives_up_after_read_attempts_with_the_last_failure) {
    RpcPolicy policy = Fixture::fast();
    policy.read_attempts = 3;
    Fixture f({[](const json&) -> Result<std::string, rpc::Failure> {
                   return unexpected(failure(rpc::Errc::connection_closed));
               },
               [](const json&) -> Result<std::string, rpc::Failure> {
                   return unexpected(failure(rpc::Errc::http_status));
               }},
              policy);
    auto r = run(f.ioc, f.provider->chain_id());
    ASSERT_FALSE(r);
    // endpoint0, endpoint1 (failover, no wait), then endpoint0 again after a backoff:
    // both are demoted now and endpoint0's demotion, the older one, ends first.
    EXPECT_EQ(f.transports[0]->bodies.size(), 2u);
    EXPECT_EQ(f.transports[1]->bodies.size(), 1u);
    EXPECT_EQ(r.error().kind, rpc::Errc::connection_closed);
    EXPECT_EQ(r.error().endpoint, "endpoint0");
}

TEST(rpc_provider_policy, send_raw_transaction_moves_on_only_when_not_sent) {
    const std::string hash = "0x" + std::string(64, 'c');
    const Bytes raw = {0x02, 0xf8};
    auto accept = [&](const json& request) -> Result<std::string, rpc::Failure> {
        return result(request, hash);
    };
    // The outcome is unknown, or the node answered: returned, never sent elsewhere.
    for (const rpc::Errc first :
         {rpc::Errc::timeout, rpc::Errc::connection_closed, rpc::Errc::rate_limited,
          rpc::Errc::http_status, rpc::Errc::malformed_response, rpc::Errc::rpc_error}) {
        SCOPED_TRACE(std::string(rpc::to_string(first)));
        Fixture f({[&](const json& request) -> Result<std::string, rpc::Failure> {
                       if (first == rpc::Errc::rpc_error)
                           return error(request, -32000, "nonce too low");
                       return unexpected(failure(first));
                   },
                   accept});
        auto sent = run(f.ioc, f.provider->send_raw_transaction(raw));
        ASSERT_FALSE(sent);
        EXPECT_EQ(sent.error().kind, first);
        EXPECT_EQ(sent.error().endpoint, "endpoint0");
        EXPECT_EQ(f.transports[0]->bodies.size(), 1u);
        EXPECT_EQ(f.transports[1]->bodies.size(), 0u);
    }
    // Certainly not sent: the next endpoint gets the same bytes.
    Fixture f({[](const json&) -> Result<std::string, rpc::Failure> {
                   return unexpected(failure(rpc::Errc::connect_failed));
               },
               accept});
    EXPECT_EQ(to_hex(run(f.ioc, f.provider->send_raw_transaction(raw)).value()), hash);
    ASSERT_EQ(f.transports[1]->bodies.size(), 1u);
    EXPECT_EQ(json::parse(f.transports[1]->bodies[0]).at("params"), json::array({"0x02f8"}));
    // Every endpoint refused the connection: the last failure.
    Fixture down({[](const json&) -> Result<std::string, rpc::Failure> {
        return unexpected(failure(rpc::Errc::connect_failed));
    }});
    EXPECT_EQ(run(down.ioc, down.provider->send_raw_transaction(raw)).error().kind,
              rpc::Errc::connect_failed);
}

TEST(rpc_provider_policy, a_refused_batch_fails_each_call) {
    Fixture f({[](const json&) -> Result<std::string, rpc::Failure> {
        return R"({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"batch too large"}})";
    }});
    const CallRequest calls[2] = {};
    auto results = run(f.ioc, f.provider->call_batch(calls, BlockTag::latest));
    ASSERT_EQ(results.size(), 2u);
    for (const auto& r : results) EXPECT_EQ(r.error().rpc.message, "batch too large");
    EXPECT_EQ(f.transports[0]->bodies.size(), 1u);
    EXPECT_TRUE(json::parse(f.transports[0]->bodies[0]).is_array());
    EXPECT_TRUE(run(f.ioc, f.provider->call_batch({}, BlockTag::latest)).empty());
    EXPECT_EQ(f.transports[0]->bodies.size(), 1u);
}
