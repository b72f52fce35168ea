#include "chain/rpc_types.hpp"

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

}  // namespace vigil
