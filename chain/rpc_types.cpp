#include "chain/rpc_types.hpp"

#include <algorithm>
#include <cassert>
#include <tuple>

namespace vigil {

std::string to_string(BlockTag tag) {
    switch (tag) {
        case BlockTag::latest:
            return "latest";
        case BlockTag::pending:
            return "pending";
        case BlockTag::safe:
            return "safe";
        case BlockTag::finalized:
            return "finalized";
        case BlockTag::earliest:
            return "earliest";
    }
    return "latest";
}

std::string to_block_param(const BlockId& id) {
    struct Visitor {
        std::string operator()(uint64_t number) const { return to_quantity(u256(number)); }
        std::string operator()(const Hash32& hash) const { return to_hex(hash); }
        std::string operator()(BlockTag tag) const { return to_string(tag); }
    };
    return std::visit(Visitor{}, id);
}

namespace {

bool request_less(const CallRequest& a, const CallRequest& b) {
    return std::tie(a.to, a.data, a.from, a.value, a.gas) <
           std::tie(b.to, b.data, b.from, b.value, b.gas);
}

}  // namespace

BlockReads::BlockReads(std::vector<CallRequest> requests,
                       std::vector<Result<Bytes, rpc::Failure>> answers)
    : requests_(std::move(requests)), answers_(std::move(answers)), order_(requests_.size()) {
    assert(requests_.size() == answers_.size());
    for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = i;
    std::stable_sort(order_.begin(), order_.end(), [this](std::size_t a, std::size_t b) {
        return request_less(requests_[a], requests_[b]);
    });
}

const Result<Bytes, rpc::Failure>* BlockReads::find(const CallRequest& request) const {
    const auto it = std::lower_bound(
        order_.begin(), order_.end(), request,
        [this](std::size_t i, const CallRequest& r) { return request_less(requests_[i], r); });
    if (it == order_.end() || !(requests_[*it] == request)) return nullptr;
    return &answers_[*it];
}

}  // namespace vigil
