// libFuzzer target: RLP decode and raw transaction decode on arbitrary bytes. Whatever
// either decoder accepts must encode back to exactly the input: the strict decoder admits
// one encoding per value, so any difference is a bug (a second encoding, or a lossy read).
#include <algorithm>
#include <cstdlib>

#include "chain/rlp.hpp"
#include "chain/tx.hpp"

using namespace vigil;

namespace {

void require(bool ok) {
    if (!ok) std::abort();
}

// Typed reads of any item must fail cleanly or give a value that encodes back to the item.
void read_typed(const rlp::Item& item, BytesView encoded) {
    if (auto v = rlp::as_u64(item)) {
        Bytes out;
        rlp::append_uint(out, *v);
        require(std::ranges::equal(out, encoded));
    }
    if (auto v = rlp::as_u256(item)) {
        Bytes out;
        rlp::append_uint(out, *v);
        require(std::ranges::equal(out, encoded));
    }
    if (auto items = rlp::as_list(item)) require(items->count().has_value());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const BytesView in(data, size);

    if (auto item = rlp::decode_one(in)) {
        Bytes out;
        rlp::append_item(out, *item);
        require(std::ranges::equal(out, in));
        read_typed(*item, in);
    }

    if (auto tx = decode_signed(in)) {
        require(std::ranges::equal(encode_signed(tx->tx, tx->sig), in));
        require(check_signature(tx->sig).has_value());
        // The signing payload of anything decodable must itself be canonical RLP.
        const Bytes payload = signing_payload(tx->tx);
        const BytesView body =
            tx->tx.type == TxType::legacy ? BytesView(payload) : BytesView(payload).subspan(1);
        require(rlp::decode_one(body).has_value());
    }
    return 0;
}
