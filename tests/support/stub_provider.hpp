#pragma once
// A Provider whose every method fails with "not used by this fake": fakes for unit tests
// and benchmarks of pure policy derive from it and override only the calls they serve.
#include <string>

#include "chain/provider.hpp"

namespace vigil::test {

class StubProvider : public Provider {
public:
    /// The failure every method not overridden returns (kind unavailable, so no caller
    /// mistakes it for a node's answer).
    static rpc::Failure unused(std::string what = "not used by this fake") {
        return {rpc::Errc::unavailable, "fake", {}, 0, std::nullopt, std::move(what)};
    }

    Task<RpcResult<uint64_t>> chain_id() override { co_return unexpected(unused()); }
    Task<RpcResult<uint64_t>> block_number() override { co_return unexpected(unused()); }
    Task<RpcResult<std::optional<BlockHeader>>> get_block(BlockId) override {
        co_return unexpected(unused());
    }
    Task<RpcResult<std::vector<Log>>> get_logs(const LogFilter&, uint64_t, uint64_t) override {
        co_return unexpected(unused());
    }
    Task<RpcResult<std::vector<Log>>> get_block_logs(const LogFilter&, const Hash32&) override {
        co_return unexpected(unused());
    }
    Task<RpcResult<Bytes>> call(const CallRequest&, BlockId,
                                std::span<const StateOverride>) override {
        co_return unexpected(unused());
    }
    Task<std::vector<RpcResult<Bytes>>> call_batch(std::span<const CallRequest> requests,
                                                   BlockId) override {
        co_return std::vector<RpcResult<Bytes>>(requests.size(), unexpected(unused()));
    }
    Task<RpcResult<uint64_t>> estimate_gas(const CallRequest&, BlockId) override {
        co_return unexpected(unused());
    }
    Task<std::vector<RpcResult<uint64_t>>> estimate_gas_batch(std::span<const CallRequest> requests,
                                                              BlockId) override {
        co_return std::vector<RpcResult<uint64_t>>(requests.size(), unexpected(unused()));
    }
    Task<RpcResult<FeeHistory>> fee_history(uint64_t, BlockId, std::span<const double>) override {
        co_return unexpected(unused());
    }
    Task<RpcResult<u256>> max_priority_fee() override { co_return unexpected(unused()); }
    Task<RpcResult<uint64_t>> get_transaction_count(const Address&, BlockId) override {
        co_return unexpected(unused());
    }
    Task<RpcResult<Hash32>> send_raw_transaction(BytesView) override {
        co_return unexpected(unused());
    }
    Task<std::vector<RpcResult<Hash32>>> send_raw_transactions(
        std::span<const Bytes> raws) override {
        co_return std::vector<RpcResult<Hash32>>(raws.size(), unexpected(unused()));
    }
    Task<RpcResult<std::optional<Receipt>>> get_transaction_receipt(const Hash32&) override {
        co_return unexpected(unused());
    }
    Task<RpcResult<Bytes>> get_code(const Address&, BlockId) override {
        co_return unexpected(unused());
    }
};

}  // namespace vigil::test
