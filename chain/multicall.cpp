#include "chain/multicall.hpp"

#include <algorithm>
#include <cassert>
#include <iterator>

#include "chain/abi.hpp"

namespace vigil {
namespace {

const abi::Function& aggregate3() {
    static const abi::Function fn =
        *abi::parse_function("aggregate3((address,bool,bytes)[] calls)((bool,bytes)[] returnData)");
    return fn;
}

rpc::Failure malformed(std::string detail) {
    rpc::Failure f{rpc::Errc::malformed_response, {}, {}, 0, std::nullopt, std::move(detail)};
    return f;
}

}  // namespace

Bytes encode_aggregate3(std::span<const MulticallCall> calls) {
    abi::AbiArray items;
    items.items.reserve(calls.size());
    for (const MulticallCall& c : calls)
        items.items.push_back(abi::AbiTuple{{c.target, c.allow_failure, c.call_data}});
    const abi::AbiValue args[] = {std::move(items)};
    auto data = abi::encode_call(aggregate3(), args);
    assert(data);  // the values are built to match the signature
    return std::move(*data);
}

Result<std::vector<MulticallResult>, rpc::Failure> decode_aggregate3(BytesView data,
                                                                     std::size_t expected) {
    if (data.empty())
        return unexpected(malformed("multicall: empty return data (no contract at the address?)"));
    auto values = abi::decode_params(aggregate3().outputs, data);
    if (!values) return unexpected(malformed("multicall: " + values.error().to_string()));
    const auto& items = std::get<abi::AbiArray>((*values)[0].v).items;
    if (items.size() != expected)
        return unexpected(malformed("multicall: " + std::to_string(items.size()) + " results for " +
                                    std::to_string(expected) + " calls"));
    std::vector<MulticallResult> out;
    out.reserve(items.size());
    for (const abi::AbiValue& item : items) {
        const auto& fields = std::get<abi::AbiTuple>(item.v).items;
        out.push_back({std::get<bool>(fields[0].v), std::get<Bytes>(fields[1].v)});
    }
    return out;
}

Task<RpcResult<std::vector<MulticallResult>>> multicall(Provider& provider,
                                                        std::span<const MulticallCall> calls,
                                                        BlockId block,
                                                        const MulticallOptions& options) {
    assert(options.chunk_size > 0);
    std::vector<MulticallResult> results;
    if (calls.empty()) co_return results;
    std::vector<CallRequest> chunks;
    std::vector<std::size_t> sizes;
    for (std::size_t at = 0; at < calls.size(); at += options.chunk_size) {
        const std::size_t n = std::min(options.chunk_size, calls.size() - at);
        CallRequest request;
        request.to = options.multicall;
        request.data = encode_aggregate3(calls.subspan(at, n));
        chunks.push_back(std::move(request));
        sizes.push_back(n);
    }
    auto answers = co_await provider.call_batch(chunks, block);
    results.reserve(calls.size());
    for (std::size_t i = 0; i < answers.size(); ++i) {
        if (!answers[i]) co_return unexpected(std::move(answers[i].error()));
        auto decoded = decode_aggregate3(*answers[i], sizes[i]);
        if (!decoded) co_return unexpected(std::move(decoded.error()));
        std::move(decoded->begin(), decoded->end(), std::back_inserter(results));
    }
    co_return results;
}

}  // namespace vigil
