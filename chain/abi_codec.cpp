#include "chain/abi_codec.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace vigil::abi {
namespace {

constexpr uint64_t pad32(uint64_t n) noexcept {
    return (n + 31) / 32 * 32;
}

// Element i of a sequence has type `types[0]` when `repeat` (arrays) or `types[i]`
// (tuples); one pair of functions then serves tuples, T[k], T[] and parameter lists.
struct SeqTypes {
    const AbiType* types;
    bool repeat;
    const AbiType& at(std::size_t i) const noexcept { return repeat ? types[0] : types[i]; }
};

uint64_t head_size(SeqTypes types, std::size_t n) noexcept {
    if (types.repeat) return n * types.types[0].head_size;
    uint64_t head = 0;
    for (std::size_t i = 0; i < n; ++i) head += types.types[i].head_size;
    return head;
}

// ---- encoding ---------------------------------------------------------------------
//
// Two passes: `size` validates and measures, `write` fills a buffer of exactly that
// size. Measuring first is what lets encode_params grow the output once.

Result<uint64_t, AbiFailure> size_of(const AbiType& t, const AbiValue& v, std::size_t arg);

Result<uint64_t, AbiFailure> seq_size(SeqTypes types, std::span<const AbiValue> items,
                                      std::size_t arg) {
    uint64_t total = 0;
    for (std::size_t i = 0; i < items.size(); ++i) {
        const AbiType& t = types.at(i);
        auto n = size_of(t, items[i], arg);
        if (!n) return n;
        total += t.dynamic ? 32 + *n : *n;
    }
    return total;
}

Result<uint64_t, AbiFailure> size_of(const AbiType& t, const AbiValue& v, std::size_t arg) {
    const auto mismatch = unexpected(AbiFailure{AbiError::value_mismatch, arg});
    switch (t.kind) {
        case AbiKind::uint: {
            const u256* x = std::get_if<u256>(&v.v);
            if (!x) return mismatch;
            if (t.size < 256 && (*x >> t.size) != 0)
                return unexpected(AbiFailure{AbiError::number_overflow, arg});
            return 32;
        }
        case AbiKind::sint: {
            const i256* x = std::get_if<i256>(&v.v);
            if (!x) return mismatch;
            if (!fits_int(*x, t.size))
                return unexpected(AbiFailure{AbiError::number_overflow, arg});
            return 32;
        }
        case AbiKind::address:
            if (!std::holds_alternative<Address>(v.v)) return mismatch;
            return 32;
        case AbiKind::boolean:
            if (!std::holds_alternative<bool>(v.v)) return mismatch;
            return 32;
        case AbiKind::fixed_bytes: {
            const BytesN* x = std::get_if<BytesN>(&v.v);
            if (!x || x->size != t.size) return mismatch;
            return 32;
        }
        case AbiKind::bytes: {
            const Bytes* x = std::get_if<Bytes>(&v.v);
            if (!x) return mismatch;
            return 32 + pad32(x->size());
        }
        case AbiKind::string: {
            const std::string* x = std::get_if<std::string>(&v.v);
            if (!x) return mismatch;
            return 32 + pad32(x->size());
        }
        case AbiKind::array: {
            const AbiArray* x = std::get_if<AbiArray>(&v.v);
            if (!x) return mismatch;
            auto n = seq_size({t.components.data(), true}, x->items, arg);
            if (!n) return n;
            return 32 + *n;
        }
        case AbiKind::fixed_array: {
            const AbiArray* x = std::get_if<AbiArray>(&v.v);
            if (!x || x->items.size() != t.size) return mismatch;
            return seq_size({t.components.data(), true}, x->items, arg);
        }
        case AbiKind::tuple: {
            const AbiTuple* x = std::get_if<AbiTuple>(&v.v);
            if (!x || x->items.size() != t.components.size()) return mismatch;
            return seq_size({t.components.data(), false}, x->items, arg);
        }
    }
    return mismatch;
}

void put_u256(const u256& x, uint8_t* p) noexcept {
    store_be(x, std::span<uint8_t, 32>(p, 32));
}

void put_size(uint64_t n, uint8_t* p) noexcept {
    std::memset(p, 0, 24);
    for (int i = 0; i < 8; ++i) p[31 - i] = static_cast<uint8_t>(n >> (8 * i));
}

void put_bytes(BytesView b, uint8_t* p) noexcept {
    put_size(b.size(), p);
    if (!b.empty()) std::memcpy(p + 32, b.data(), b.size());
    std::memset(p + 32 + b.size(), 0, pad32(b.size()) - b.size());
}

uint8_t* write(const AbiType& t, const AbiValue& v, uint8_t* p) noexcept;

// Heads at p, tails after them; offsets count from p.
uint8_t* write_seq(SeqTypes types, std::span<const AbiValue> items, uint8_t* p) noexcept {
    const uint64_t head = head_size(types, items.size());
    uint8_t* slot = p;
    uint8_t* tail = p + head;
    for (std::size_t i = 0; i < items.size(); ++i) {
        const AbiType& t = types.at(i);
        if (t.dynamic) {
            put_size(static_cast<uint64_t>(tail - p), slot);
            tail = write(t, items[i], tail);
            slot += 32;
        } else {
            slot = write(t, items[i], slot);
        }
    }
    return tail;
}

// Values were checked by size_of; here the variant accesses cannot fail.
uint8_t* write(const AbiType& t, const AbiValue& v, uint8_t* p) noexcept {
    switch (t.kind) {
        case AbiKind::uint:
            put_u256(*std::get_if<u256>(&v.v), p);
            return p + 32;
        case AbiKind::sint:
            put_u256(to_twos_complement(*std::get_if<i256>(&v.v)), p);
            return p + 32;
        case AbiKind::address:
            std::memset(p, 0, 12);
            std::memcpy(p + 12, std::get_if<Address>(&v.v)->data(), 20);
            return p + 32;
        case AbiKind::boolean:
            std::memset(p, 0, 31);
            p[31] = *std::get_if<bool>(&v.v) ? 1 : 0;
            return p + 32;
        case AbiKind::fixed_bytes: {
            const BytesN& b = *std::get_if<BytesN>(&v.v);
            std::memcpy(p, b.bytes.data(), b.size);
            std::memset(p + b.size, 0, 32 - b.size);
            return p + 32;
        }
        case AbiKind::bytes: {
            const Bytes& b = *std::get_if<Bytes>(&v.v);
            put_bytes(b, p);
            return p + 32 + pad32(b.size());
        }
        case AbiKind::string: {
            const std::string& s = *std::get_if<std::string>(&v.v);
            put_bytes(BytesView(reinterpret_cast<const uint8_t*>(s.data()), s.size()), p);
            return p + 32 + pad32(s.size());
        }
        case AbiKind::array: {
            const auto& items = std::get_if<AbiArray>(&v.v)->items;
            put_size(items.size(), p);
            return write_seq({t.components.data(), true}, items, p + 32);
        }
        case AbiKind::fixed_array:
            return write_seq({t.components.data(), true}, std::get_if<AbiArray>(&v.v)->items, p);
        case AbiKind::tuple:
            return write_seq({t.components.data(), false}, std::get_if<AbiTuple>(&v.v)->items, p);
    }
    return p;
}

// ---- decoding ---------------------------------------------------------------------

class Decoder {
public:
    Decoder(BytesView data, std::size_t error_base) : d_(data), base_(error_base) {}

    // The sequence whose head starts at absolute position `at`.
    Result<std::vector<AbiValue>, AbiFailure> seq(SeqTypes types, std::size_t n, std::size_t at,
                                                  unsigned depth) const {
        if (depth > kMaxDepth) return fail(AbiError::too_deep, at);
        // n is bounded by the data (see dynamic()) or by the type (kMaxStaticSize), so
        // the product cannot overflow.
        const uint64_t head = head_size(types, n);
        if (head > d_.size() - at) return fail(AbiError::truncated, at);
        std::vector<AbiValue> out;
        out.reserve(n);
        std::size_t slot = at;
        for (std::size_t i = 0; i < n; ++i) {
            const AbiType& t = types.at(i);
            Result<AbiValue, AbiFailure> v =
                t.dynamic ? pointed(t, at, head, slot, depth) : static_value(t, slot, depth);
            if (!v) return unexpected(v.error());
            out.push_back(std::move(*v));
            slot += t.head_size;
        }
        return out;
    }

    // A value word (uintN, intN, address, bool, bytesN) at absolute position `at`.
    Result<AbiValue, AbiFailure> word(const AbiType& t, std::size_t at) const {
        if (d_.size() - at < 32) return fail(AbiError::truncated, at);
        const uint8_t* w = d_.data() + at;
        const std::span<const uint8_t, 32> word(w, 32);
        const auto zeros = [&](std::size_t from, std::size_t to) {
            return std::all_of(w + from, w + to, [](uint8_t b) { return b == 0; });
        };
        switch (t.kind) {
            case AbiKind::uint:
                if (!zeros(0, 32 - t.size / 8)) return fail(AbiError::dirty_bits, at);
                return AbiValue(load_be(word));
            case AbiKind::sint: {
                // The bytes above the value must repeat its sign bit.
                const std::size_t top = 32 - t.size / 8;
                const uint8_t fill = (w[top] & 0x80) ? 0xff : 0x00;
                if (!std::all_of(w, w + top, [&](uint8_t b) { return b == fill; }))
                    return fail(AbiError::dirty_bits, at);
                return AbiValue(from_twos_complement(load_be(word)));
            }
            case AbiKind::address:
                if (!zeros(0, 12)) return fail(AbiError::dirty_bits, at);
                return AbiValue(Address::from_span(std::span<const uint8_t, 20>(w + 12, 20)));
            case AbiKind::boolean:
                if (!zeros(0, 31) || w[31] > 1) return fail(AbiError::dirty_bits, at);
                return AbiValue(w[31] == 1);
            case AbiKind::fixed_bytes: {
                if (!zeros(t.size, 32)) return fail(AbiError::dirty_bits, at);
                BytesN b;
                std::copy_n(w, 32, b.bytes.begin());
                b.size = static_cast<uint8_t>(t.size);
                return AbiValue(b);
            }
            default:
                break;
        }
        assert(false && "word() called for a non-value type");
        return fail(AbiError::value_mismatch, at);
    }

private:
    BytesView d_;
    std::size_t base_;

    unexpected<AbiFailure> fail(AbiError e, std::size_t at) const {
        return unexpected(AbiFailure{e, base_ + at});
    }

    // Reads a 32-byte unsigned word as a size; anything at or above 2^64 is "too big"
    // and reported as UINT64_MAX so that every caller's bound check rejects it.
    uint64_t read_size(std::size_t at) const {
        const uint8_t* w = d_.data() + at;
        if (!std::all_of(w, w + 24, [](uint8_t b) { return b == 0; })) return UINT64_MAX;
        uint64_t n = 0;
        for (int i = 24; i < 32; ++i) n = n << 8 | w[i];
        return n;
    }

    // Static values inline in a head: words, static tuples, static T[k].
    Result<AbiValue, AbiFailure> static_value(const AbiType& t, std::size_t at,
                                              unsigned depth) const {
        if (t.kind == AbiKind::tuple) {
            auto items = seq({t.components.data(), false}, t.components.size(), at, depth + 1);
            if (!items) return unexpected(items.error());
            return AbiValue(AbiTuple{std::move(*items)});
        }
        if (t.kind == AbiKind::fixed_array) {
            auto items = seq({t.components.data(), true}, t.size, at, depth + 1);
            if (!items) return unexpected(items.error());
            return AbiValue(AbiArray{std::move(*items)});
        }
        return word(t, at);
    }

    // A dynamic value behind the offset word at `slot`, in the sequence whose head
    // (of `head` bytes) starts at `seq_at`.
    Result<AbiValue, AbiFailure> pointed(const AbiType& t, std::size_t seq_at, uint64_t head,
                                         std::size_t slot, unsigned depth) const {
        const uint64_t off = read_size(slot);
        if (off > d_.size() - seq_at) return fail(AbiError::offset_out_of_range, slot);
        if (off < head) return fail(AbiError::offset_into_head, slot);
        return dynamic(t, seq_at + off, depth);
    }

    Result<AbiValue, AbiFailure> dynamic(const AbiType& t, std::size_t at, unsigned depth) const {
        if (d_.size() - at < 32 && t.kind != AbiKind::tuple && t.kind != AbiKind::fixed_array)
            return fail(AbiError::truncated, at);
        switch (t.kind) {
            case AbiKind::bytes:
            case AbiKind::string: {
                const uint64_t len = read_size(at);
                if (len > d_.size() - at - 32) return fail(AbiError::length_out_of_range, at);
                const auto* p = d_.data() + at + 32;
                if (t.kind == AbiKind::bytes) return AbiValue(Bytes(p, p + len));
                return AbiValue(std::string(reinterpret_cast<const char*>(p), len));
            }
            case AbiKind::array: {
                const uint64_t len = read_size(at);
                // Every element takes at least one word of head, so the data bounds the
                // count before anything is allocated.
                const uint64_t per = std::max<uint64_t>(t.components[0].head_size, 32);
                if (len > (d_.size() - at - 32) / per)
                    return fail(AbiError::length_out_of_range, at);
                auto items = seq({t.components.data(), true}, len, at + 32, depth + 1);
                if (!items) return unexpected(items.error());
                return AbiValue(AbiArray{std::move(*items)});
            }
            case AbiKind::fixed_array:
            case AbiKind::tuple:
                return static_value(t, at, depth);
            default:
                break;
        }
        assert(false && "dynamic() called for a static type");
        return fail(AbiError::value_mismatch, at);
    }
};

bool is_value_type(const AbiType& t) noexcept {
    return t.kind != AbiKind::bytes && t.kind != AbiKind::string && t.kind != AbiKind::array &&
           t.kind != AbiKind::fixed_array && t.kind != AbiKind::tuple;
}

constexpr Selector kErrorSelector{0x08, 0xc3, 0x79, 0xa0};  // Error(string)
constexpr Selector kPanicSelector{0x4e, 0x48, 0x7b, 0x71};  // Panic(uint256)

}  // namespace

Result<void, AbiFailure> encode_params(const AbiType& params, std::span<const AbiValue> args,
                                       Bytes& out) {
    assert(params.kind == AbiKind::tuple);
    if (args.size() != params.components.size())
        return unexpected(AbiFailure{AbiError::arg_count, args.size()});
    uint64_t total = 0;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const AbiType& t = params.components[i];
        auto n = size_of(t, args[i], i);
        if (!n) return unexpected(n.error());
        total += t.dynamic ? 32 + *n : *n;
    }
    const std::size_t at = out.size();
    out.resize(at + total);
    [[maybe_unused]] const uint8_t* end =
        write_seq({params.components.data(), false}, args, out.data() + at);
    assert(end == out.data() + out.size());
    return {};
}

Result<Bytes, AbiFailure> encode_params(const AbiType& params, std::span<const AbiValue> args) {
    Bytes out;
    if (auto ok = encode_params(params, args, out); !ok) return unexpected(ok.error());
    return out;
}

Result<Bytes, AbiFailure> encode_call(const Function& fn, std::span<const AbiValue> args) {
    Bytes out(fn.selector.begin(), fn.selector.end());
    if (auto ok = encode_params(fn.inputs, args, out); !ok) return unexpected(ok.error());
    return out;
}

Result<std::vector<AbiValue>, AbiFailure> decode_params(const AbiType& params, BytesView data) {
    assert(params.kind == AbiKind::tuple);
    return Decoder(data, 0).seq({params.components.data(), false}, params.components.size(), 0, 0);
}

Result<std::vector<AbiValue>, AbiFailure> decode_call(const Function& fn, BytesView calldata) {
    if (calldata.size() < 4) return unexpected(AbiFailure{AbiError::truncated, 0});
    if (!std::equal(fn.selector.begin(), fn.selector.end(), calldata.begin()))
        return unexpected(AbiFailure{AbiError::bad_selector, 0});
    const AbiType& params = fn.inputs;
    return Decoder(calldata.subspan(4), 4)
        .seq({params.components.data(), false}, params.components.size(), 0, 0);
}

Result<std::vector<AbiValue>, AbiFailure> decode_log(const Event& event,
                                                     std::span<const Hash32> topics,
                                                     BytesView data) {
    const auto& params = event.inputs.components;
    const std::size_t first = event.anonymous ? 0 : 1;
    const std::size_t n_indexed = params.size() - event.data_inputs.components.size();
    if (topics.size() != first + n_indexed)
        return unexpected(AbiFailure{AbiError::topic_count, topics.size()});
    if (!event.anonymous && topics[0] != event.topic0)
        return unexpected(AbiFailure{AbiError::topic_mismatch, 0});

    const auto& data_types = event.data_inputs.components;
    auto from_data = Decoder(data, 0).seq({data_types.data(), false}, data_types.size(), 0, 0);
    if (!from_data) return unexpected(from_data.error());

    std::vector<AbiValue> out;
    out.reserve(params.size());
    std::size_t topic = first, next_data = 0;
    for (std::size_t i = 0; i < params.size(); ++i) {
        if (!event.indexed[i]) {
            out.push_back(std::move((*from_data)[next_data++]));
            continue;
        }
        const Hash32& h = topics[topic];
        if (is_value_type(params[i])) {
            auto v = Decoder(h.bytes, 0).word(params[i], 0);
            if (!v) return unexpected(AbiFailure{v.error().error, topic});
            out.push_back(std::move(*v));
        } else {
            BytesN hash;
            hash.bytes = h.bytes;
            hash.size = 32;
            out.push_back(AbiValue(hash));
        }
        ++topic;
    }
    return out;
}

Result<Revert, AbiFailure> decode_revert(BytesView data, std::span<const Function> errors) {
    Revert r;
    if (data.empty()) return r;
    if (data.size() < 4) return unexpected(AbiFailure{AbiError::truncated, 0});
    std::copy_n(data.begin(), 4, r.selector.begin());
    const BytesView args = data.subspan(4);
    const auto decode_one = [&](const AbiType& type) -> Result<AbiValue, AbiFailure> {
        const AbiType params = make_tuple({type});
        auto v = Decoder(args, 4).seq({params.components.data(), false}, 1, 0, 0);
        if (!v) return unexpected(v.error());
        return std::move((*v)[0]);
    };
    if (r.selector == kErrorSelector) {
        auto v = decode_one(make_string());
        if (!v) return unexpected(v.error());
        r.kind = RevertKind::error_string;
        r.message = std::move(*std::get_if<std::string>(&v->v));
        return r;
    }
    if (r.selector == kPanicSelector) {
        auto v = decode_one(make_uint(256));
        if (!v) return unexpected(v.error());
        r.kind = RevertKind::panic;
        r.panic_code = *std::get_if<u256>(&v->v);
        return r;
    }
    for (const Function& e : errors) {
        if (e.selector != r.selector) continue;
        auto v = Decoder(args, 4).seq({e.inputs.components.data(), false},
                                      e.inputs.components.size(), 0, 0);
        if (!v) return unexpected(v.error());
        r.kind = RevertKind::custom;
        r.error = &e;
        r.args = std::move(*v);
        return r;
    }
    r.kind = RevertKind::unknown;
    return r;
}

std::string_view panic_meaning(const u256& code) noexcept {
    if (code > 0xff) return "unknown panic code";
    switch (static_cast<unsigned>(code)) {
        case 0x00:
            return "generic compiler panic";
        case 0x01:
            return "assertion failed";
        case 0x11:
            return "arithmetic overflow or underflow";
        case 0x12:
            return "division or modulo by zero";
        case 0x21:
            return "conversion to an invalid enum value";
        case 0x22:
            return "access to an incorrectly encoded storage byte array";
        case 0x31:
            return "pop() on an empty array";
        case 0x32:
            return "array index out of bounds";
        case 0x41:
            return "out of memory (too much allocated or array too large)";
        case 0x51:
            return "call to a zero-initialized internal function";
        default:
            return "unknown panic code";
    }
}

}  // namespace vigil::abi
