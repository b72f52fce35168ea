// What a block needs from the node in one round trip (issue 16): RpcProvider::read_block
// against a real anvil sends a block's eth_getLogs and the eth_calls at its hash as one
// JSON-RPC batch, with the answers the separate calls give.
#include <gtest/gtest.h>

#include <memory>

#include "chain/abi.hpp"
#include "chain/http_transport.hpp"
#include "chain/keccak.hpp"
#include "chain/rpc_provider.hpp"
#include "tests/support/anvil.hpp"
#include "tests/support/task.hpp"

using namespace vigil;
using vigil::test::Anvil;
using vigil::test::run;

namespace {

/// Counts the HTTP round trips of the transport it wraps.
class CountingTransport final : public rpc::Transport {
public:
    CountingTransport(std::unique_ptr<rpc::Transport> inner, int& count)
        : inner_(std::move(inner)), count_(count) {}
    Task<Result<std::string, rpc::Failure>> roundtrip(std::string body) override {
        ++count_;
        co_return co_await inner_->roundtrip(std::move(body));
    }
    const std::string& endpoint() const noexcept override { return inner_->endpoint(); }

private:
    std::unique_ptr<rpc::Transport> inner_;
    int& count_;
};

Bytes calldata(std::string_view signature, const std::vector<vigil::abi::AbiValue>& args) {
    auto fn = vigil::abi::parse_function(signature);
    EXPECT_TRUE(fn.has_value());
    auto data = vigil::abi::encode_call(*fn, args);
    EXPECT_TRUE(data.has_value());
    return *data;
}

CallRequest call_to(const Address& to, Bytes data) {
    return {std::nullopt, to, std::move(data), std::nullopt, std::nullopt};
}

}  // namespace

TEST(read_block, logs_and_calls_at_a_block_hash_in_one_round_trip) {
    Anvil anvil;
    const Address fixture = *parse_address(anvil.deploy("RpcFixture.bin"));
    anvil.cast(
        {"send", to_checksum(fixture), "ping(uint256)", "3", "--private-key", Anvil::kDevKey0});
    anvil.cast(
        {"send", to_checksum(fixture), "ping(uint256)", "2", "--private-key", Anvil::kDevKey0});

    net::io_context ioc;
    int round_trips = 0;
    std::vector<std::unique_ptr<rpc::Transport>> transports;
    transports.push_back(std::make_unique<CountingTransport>(
        std::make_unique<rpc::HttpTransport>(ioc.get_executor(), anvil.http_url()), round_trips));
    RpcProvider provider(ioc.get_executor(), std::move(transports));
    const auto latest = run(ioc, provider.get_block(BlockTag::latest));
    ASSERT_TRUE(latest && *latest);
    const BlockHeader second = **latest;  // the block of ping(2)
    const auto parent = run(ioc, provider.get_block(second.parent_hash));
    ASSERT_TRUE(parent && *parent);
    const BlockHeader first = **parent;  // the block of ping(3)

    const LogFilter pings{{fixture}, {}};
    const LogFilter nothing{{*parse_address("0x000000000000000000000000000000000000dEaD")}, {}};
    const std::vector<LogFilter> filters{pings, nothing, pings};  // a log matched twice: once
    const std::vector<CallRequest> calls{
        call_to(fixture, calldata("emitted()", {})),
        call_to(fixture, calldata("twice(uint256)", {u256(7)})),  // reverts
        call_to(fixture, calldata("twice(uint256)", {u256(22)})),
    };
    round_trips = 0;
    const auto at_first = run(ioc, provider.read_block(filters, first.hash, calls));
    EXPECT_EQ(round_trips, 1);
    ASSERT_TRUE(at_first) << at_first.error().to_string();

    // The same answers as the separate calls.
    const auto logs = run(ioc, provider.get_block_logs(pings, first.hash));
    ASSERT_TRUE(logs);
    EXPECT_EQ(at_first->logs, *logs);
    EXPECT_EQ(at_first->logs.size(), 3u);
    const auto separate = run(ioc, provider.call_batch(calls, first.hash));
    ASSERT_EQ(at_first->calls.size(), 3u);
    ASSERT_TRUE(at_first->calls[0].has_value() && separate[0].has_value());
    EXPECT_EQ(*at_first->calls[0], *separate[0]);
    EXPECT_EQ(at_first->calls[0]->back(), 3);  // emitted() after the first block: 3, not 5
    ASSERT_FALSE(at_first->calls[1].has_value());
    EXPECT_EQ(at_first->calls[1].error().kind, rpc::Errc::rpc_error);
    EXPECT_NE(at_first->calls[1].error().rpc.data.find(to_hex(Bytes{0x08, 0xc3, 0x79, 0xa0})),
              std::string::npos);  // Error("multiple of 7")
    ASSERT_TRUE(at_first->calls[2].has_value() && separate[2].has_value());
    EXPECT_EQ(*at_first->calls[2], *separate[2]);
    EXPECT_EQ(at_first->calls[2]->back(), 44);

    const auto at_second = run(ioc, provider.read_block(filters, second.hash, calls));
    ASSERT_TRUE(at_second);
    EXPECT_EQ(at_second->logs.size(), 2u);
    ASSERT_TRUE(at_second->calls[0].has_value());
    EXPECT_EQ(at_second->calls[0]->back(), 5);

    // Nothing asked: no request.
    round_trips = 0;
    EXPECT_TRUE(run(ioc, provider.read_block({}, second.hash, {})));
    EXPECT_EQ(round_trips, 0);

    // A block the node does not know fails the read (the logs cannot be had).
    const auto unknown = run(ioc, provider.read_block(filters, keccak256("no block"), calls));
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().kind, rpc::Errc::rpc_error);
}
