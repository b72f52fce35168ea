#include "chain/provider.hpp"

#include <algorithm>
#include <iterator>

namespace vigil {

void merge_block_logs(std::vector<Log>& logs, std::vector<Log> more) {
    if (logs.empty()) {
        logs = std::move(more);
        return;
    }
    logs.insert(logs.end(), std::make_move_iterator(more.begin()),
                std::make_move_iterator(more.end()));
    // A log matching two filters came twice; within one block log_index identifies it.
    const auto by_index = [](const Log& a, const Log& b) { return a.log_index < b.log_index; };
    std::stable_sort(logs.begin(), logs.end(), by_index);
    logs.erase(std::unique(logs.begin(), logs.end(),
                           [](const Log& a, const Log& b) { return a.log_index == b.log_index; }),
               logs.end());
}

Task<RpcResult<BlockData>> Provider::read_block(std::span<const LogFilter> filters,
                                                const Hash32& block_hash,
                                                std::span<const CallRequest> calls) {
    BlockData data;
    for (const LogFilter& filter : filters) {
        auto logs = co_await get_block_logs(filter, block_hash);
        if (!logs) co_return unexpected(std::move(logs.error()));
        merge_block_logs(data.logs, std::move(*logs));
    }
    if (!calls.empty()) data.calls = co_await call_batch(calls, block_hash);
    co_return data;
}

Task<std::vector<RpcResult<Bytes>>> calls_at_block(Provider& provider,
                                                   std::span<const CallRequest> requests,
                                                   const Hash32& block_hash,
                                                   const BlockReads* known) {
    std::vector<RpcResult<Bytes>> answers;
    answers.reserve(requests.size());
    std::vector<CallRequest> missing;
    std::vector<std::size_t> missing_at;
    for (const CallRequest& r : requests) {
        const RpcResult<Bytes>* answer = known ? known->find(r) : nullptr;
        if (answer) {
            answers.push_back(*answer);
            continue;
        }
        missing_at.push_back(answers.size());
        missing.push_back(r);
        answers.emplace_back(Bytes{});
    }
    if (missing.empty()) co_return answers;
    auto read = co_await provider.call_batch(missing, block_hash);
    for (std::size_t i = 0; i < missing_at.size(); ++i)
        answers[missing_at[i]] =
            i < read.size() ? std::move(read[i])
                            : RpcResult<Bytes>(unexpected(rpc::Failure{
                                  rpc::Errc::malformed_response,
                                  {},
                                  {},
                                  0,
                                  std::nullopt,
                                  "the batch answered " + std::to_string(read.size()) + " of " +
                                      std::to_string(missing.size()) + " calls"}));
    co_return answers;
}

}  // namespace vigil
