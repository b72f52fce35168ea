#include "chain/tx.hpp"

#include <cassert>
#include <limits>
#include <utility>

namespace vigil {

std::string_view to_string(TxErrc e) noexcept {
    switch (e) {
        case TxErrc::rlp:
            return "rlp";
        case TxErrc::unknown_type:
            return "unknown_type";
        case TxErrc::wrong_field_count:
            return "wrong_field_count";
        case TxErrc::unprotected_legacy:
            return "unprotected_legacy";
        case TxErrc::invalid_v:
            return "invalid_v";
        case TxErrc::invalid_chain_id:
            return "invalid_chain_id";
        case TxErrc::invalid_y_parity:
            return "invalid_y_parity";
        case TxErrc::invalid_r:
            return "invalid_r";
        case TxErrc::invalid_s:
            return "invalid_s";
        case TxErrc::high_s:
            return "high_s";
        case TxErrc::priority_fee_above_max_fee:
            return "priority_fee_above_max_fee";
    }
    return "unknown";
}

std::string TxError::to_string() const {
    std::string s(vigil::to_string(kind));
    if (kind == TxErrc::rlp) (s += ' ') += vigil::to_string(rlp);
    if (!field.empty()) (s += " in ") += field;
    return s;
}

namespace {

// secp256k1's group order n, and n / 2 (the largest low s).
const u256 kSecp256k1N{"0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"};
const u256 kHalfN = kSecp256k1N >> 1;

// EIP-155: v = chain_id * 2 + 35 + y_parity; 27 and 28 are the unprotected form.
constexpr unsigned kEip155VOffset = 35;
constexpr unsigned kUnprotectedV0 = 27;
constexpr unsigned kUnprotectedV1 = 28;

// The field lists below are written once and walked twice: by a Sizer, to reserve the
// exact output, then by a Writer. Nested lists (the access list) are sized by a Sizer
// walk of their body before their header is written.
struct Sizer {
    std::size_t size = 0;
    void integer(uint64_t v) { size += rlp::uint_size(v); }
    void integer(const u256& v) { size += rlp::uint_size(v); }
    void string(BytesView b) { size += rlp::string_size(b); }
    template <class Body>
    void list(Body&& body) {
        Sizer inner;
        body(inner);
        size += rlp::list_size(inner.size);
    }
};

struct Writer {
    Bytes& out;
    void integer(uint64_t v) { rlp::append_uint(out, v); }
    void integer(const u256& v) { rlp::append_uint(out, v); }
    void string(BytesView b) { rlp::append_string(out, b); }
    template <class Body>
    void list(Body&& body) {
        Sizer inner;
        body(inner);
        rlp::append_list_header(out, inner.size);
        body(*this);
    }
};

template <class Sink>
void put_access_list(Sink& sink, const AccessList& access_list) {
    sink.list([&](auto& entries) {
        for (const AccessListEntry& e : access_list)
            entries.list([&](auto& entry) {
                entry.string(e.address);
                entry.list([&](auto& keys) {
                    for (const Hash32& key : e.storage_keys) keys.string(key);
                });
            });
    });
}

// The fields before the signature, in each type's order.
template <class Sink>
void put_unsigned(Sink& sink, const TxEnvelope& tx) {
    const BytesView to = tx.to ? BytesView(*tx.to) : BytesView();
    switch (tx.type) {
        case TxType::legacy:
            sink.integer(tx.nonce);
            sink.integer(tx.gas_price);
            sink.integer(tx.gas_limit);
            sink.string(to);
            sink.integer(tx.value);
            sink.string(tx.data);
            return;
        case TxType::eip2930:
            sink.integer(tx.chain_id);
            sink.integer(tx.nonce);
            sink.integer(tx.gas_price);
            sink.integer(tx.gas_limit);
            sink.string(to);
            sink.integer(tx.value);
            sink.string(tx.data);
            put_access_list(sink, tx.access_list);
            return;
        case TxType::eip1559:
            sink.integer(tx.chain_id);
            sink.integer(tx.nonce);
            sink.integer(tx.max_priority_fee_per_gas);
            sink.integer(tx.max_fee_per_gas);
            sink.integer(tx.gas_limit);
            sink.string(to);
            sink.integer(tx.value);
            sink.string(tx.data);
            put_access_list(sink, tx.access_list);
            return;
    }
    assert(false && "TxEnvelope with an unknown TxType");
}

// Encodes `type` || rlp(list of `fields`), without the type byte for legacy.
template <class Fields>
Bytes encode_envelope(TxType type, const Fields& fields) {
    Sizer sizer;
    fields(sizer);
    const bool typed = type != TxType::legacy;
    Bytes out;
    out.reserve((typed ? 1 : 0) + rlp::list_size(sizer.size));
    if (typed) out.push_back(static_cast<uint8_t>(type));
    rlp::append_list_header(out, sizer.size);
    Writer writer{out};
    fields(writer);
    return out;
}

TxError rlp_error(RlpError e, std::string_view field) {
    return TxError{TxErrc::rlp, e, field};
}

// Reads a list's items in order into typed fields. Each read names its field, so that a
// failure says where it happened; a decoder chains reads with && and, on false, returns
// `error`.
class FieldReader {
public:
    explicit FieldReader(rlp::Reader items) noexcept : items_(items) {}

    bool done() const noexcept { return items_.empty(); }

    // `as` turns the item into a T: Result<T, RlpError> (wrapped here with `field`) or
    // Result<T, TxError> (a nested reader that names its own fields).
    template <class T, class As>
    bool read(T& out, std::string_view field, const As& as) {
        auto item = items_.next();
        if (!item) return fail(rlp_error(item.error(), field));
        auto value = as(*item);
        if (!value) return fail(tx_error(value.error(), field));
        out = std::move(*value);
        return true;
    }

    std::optional<TxError> error;

private:
    bool fail(const TxError& e) {
        error = e;
        return false;
    }
    static TxError tx_error(RlpError e, std::string_view field) { return rlp_error(e, field); }
    static TxError tx_error(const TxError& e, std::string_view) { return e; }

    rlp::Reader items_;
};

// The items of a list that must have exactly `expected` of them.
Result<rlp::Reader, TxError> exact_list(const rlp::Item& item, std::size_t expected,
                                        std::string_view field) {
    auto items = rlp::as_list(item);
    if (!items) return unexpected(rlp_error(items.error(), field));
    auto count = items->count();
    if (!count) return unexpected(rlp_error(count.error(), field));
    if (*count != expected) return unexpected(TxError{TxErrc::wrong_field_count, {}, field});
    return *items;
}

// Every item of a list, each read with `as`.
template <class T, class As>
Result<std::vector<T>, TxError> as_vector(const rlp::Item& item, std::string_view field,
                                          const As& as) {
    auto items = rlp::as_list(item);
    if (!items) return unexpected(rlp_error(items.error(), field));
    std::vector<T> out;
    for (FieldReader f(*items); !f.done();) {
        T value;
        if (!f.read(value, field, as)) return unexpected(*f.error);
        out.push_back(std::move(value));
    }
    return out;
}

Result<std::optional<Address>, RlpError> as_to(const rlp::Item& item) noexcept {
    // Empty means contract creation; anything else must be a whole address.
    if (!item.is_list && item.payload.empty()) return std::optional<Address>{};
    return rlp::as_address(item).transform([](const Address& a) { return std::optional(a); });
}

Result<Bytes, RlpError> as_data(const rlp::Item& item) {
    return rlp::as_bytes(item).transform([](BytesView b) { return Bytes(b.begin(), b.end()); });
}

Result<AccessListEntry, TxError> as_access_entry(const rlp::Item& item) {
    auto items = exact_list(item, 2, "access_list");
    if (!items) return unexpected(items.error());
    AccessListEntry entry;
    const auto as_keys = [](const rlp::Item& keys) {
        return as_vector<Hash32>(keys, "access_list.storage_keys", rlp::as_hash32);
    };
    FieldReader f(*items);
    if (!(f.read(entry.address, "access_list.address", rlp::as_address) &&
          f.read(entry.storage_keys, "access_list.storage_keys", as_keys)))
        return unexpected(*f.error);
    return entry;
}

Result<AccessList, TxError> as_access_list(const rlp::Item& item) {
    return as_vector<AccessListEntry>(item, "access_list", as_access_entry);
}

constexpr std::size_t kLegacyFields = 9;
constexpr std::size_t kEip2930Fields = 11;
constexpr std::size_t kEip1559Fields = 12;

Result<SignedTx, TxError> decode_legacy(const rlp::Item& top) {
    auto items = exact_list(top, kLegacyFields, "");
    if (!items) return unexpected(items.error());
    SignedTx out;
    TxEnvelope& tx = out.tx;
    tx.type = TxType::legacy;
    u256 v;
    FieldReader f(*items);
    if (!(f.read(tx.nonce, "nonce", rlp::as_u64) &&
          f.read(tx.gas_price, "gas_price", rlp::as_u256) &&
          f.read(tx.gas_limit, "gas_limit", rlp::as_u64) && f.read(tx.to, "to", as_to) &&
          f.read(tx.value, "value", rlp::as_u256) && f.read(tx.data, "data", as_data) &&
          f.read(v, "v", rlp::as_u256) && f.read(out.sig.r, "r", rlp::as_u256) &&
          f.read(out.sig.s, "s", rlp::as_u256)))
        return unexpected(*f.error);

    if (v == kUnprotectedV0 || v == kUnprotectedV1)
        return unexpected(TxError{TxErrc::unprotected_legacy, {}, "v"});
    if (v < kEip155VOffset) return unexpected(TxError{TxErrc::invalid_v, {}, "v"});
    const u256 offset = v - kEip155VOffset;
    const u256 chain_id = offset >> 1;
    if (chain_id == 0) return unexpected(TxError{TxErrc::invalid_chain_id, {}, "v"});
    if (chain_id > std::numeric_limits<uint64_t>::max())
        return unexpected(TxError{TxErrc::invalid_v, {}, "v"});
    tx.chain_id = static_cast<uint64_t>(chain_id);
    out.sig.y_parity = boost::multiprecision::bit_test(offset, 0) ? 1 : 0;
    return out;
}

Result<SignedTx, TxError> decode_typed(TxType type, const rlp::Item& top) {
    const bool eip1559 = type == TxType::eip1559;
    auto items = exact_list(top, eip1559 ? kEip1559Fields : kEip2930Fields, "");
    if (!items) return unexpected(items.error());
    SignedTx out;
    TxEnvelope& tx = out.tx;
    tx.type = type;
    uint64_t y_parity = 0;
    FieldReader f(*items);
    const auto read_fees = [&] {
        if (!eip1559) return f.read(tx.gas_price, "gas_price", rlp::as_u256);
        return f.read(tx.max_priority_fee_per_gas, "max_priority_fee_per_gas", rlp::as_u256) &&
               f.read(tx.max_fee_per_gas, "max_fee_per_gas", rlp::as_u256);
    };
    if (!(f.read(tx.chain_id, "chain_id", rlp::as_u64) && f.read(tx.nonce, "nonce", rlp::as_u64) &&
          read_fees() && f.read(tx.gas_limit, "gas_limit", rlp::as_u64) &&
          f.read(tx.to, "to", as_to) && f.read(tx.value, "value", rlp::as_u256) &&
          f.read(tx.data, "data", as_data) &&
          f.read(tx.access_list, "access_list", as_access_list) &&
          f.read(y_parity, "y_parity", rlp::as_u64) && f.read(out.sig.r, "r", rlp::as_u256) &&
          f.read(out.sig.s, "s", rlp::as_u256)))
        return unexpected(*f.error);
    if (y_parity > 1) return unexpected(TxError{TxErrc::invalid_y_parity, {}, "y_parity"});
    out.sig.y_parity = static_cast<uint8_t>(y_parity);
    return out;
}

}  // namespace

Bytes signing_payload(const TxEnvelope& tx) {
    return encode_envelope(tx.type, [&](auto& sink) {
        put_unsigned(sink, tx);
        if (tx.type == TxType::legacy) {
            sink.integer(tx.chain_id);
            sink.integer(uint64_t{0});
            sink.integer(uint64_t{0});
        }
    });
}

Hash32 signing_hash(const TxEnvelope& tx) {
    return keccak256(signing_payload(tx));
}

Bytes encode_signed(const TxEnvelope& tx, const Signature& sig) {
    assert(sig.y_parity <= 1 && "y_parity is the recovery id, 0 or 1");
    return encode_envelope(tx.type, [&](auto& sink) {
        put_unsigned(sink, tx);
        if (tx.type == TxType::legacy)
            sink.integer(u256(u256(tx.chain_id) * 2 + kEip155VOffset + sig.y_parity));
        else
            sink.integer(uint64_t{sig.y_parity});
        sink.integer(sig.r);
        sink.integer(sig.s);
    });
}

Result<void, TxError> check_signature(const Signature& sig) noexcept {
    if (sig.y_parity > 1) return unexpected(TxError{TxErrc::invalid_y_parity, {}, "y_parity"});
    if (sig.r == 0 || sig.r >= kSecp256k1N) return unexpected(TxError{TxErrc::invalid_r, {}, "r"});
    if (sig.s == 0 || sig.s >= kSecp256k1N) return unexpected(TxError{TxErrc::invalid_s, {}, "s"});
    if (sig.s > kHalfN) return unexpected(TxError{TxErrc::high_s, {}, "s"});
    return {};
}

Result<SignedTx, TxError> decode_signed(BytesView raw) {
    if (raw.empty()) return unexpected(rlp_error(RlpError::input_too_short, ""));
    // EIP-2718: a first byte up to 0x7f is a type; a legacy tx is an RLP list (0xc0 and up).
    // 0x80..0xbf would be an RLP string, which the legacy path reports as unexpected_string.
    const uint8_t first = raw[0];
    const bool legacy = first >= 0x80;
    if (!legacy && first != static_cast<uint8_t>(TxType::eip2930) &&
        first != static_cast<uint8_t>(TxType::eip1559))
        return unexpected(TxError{TxErrc::unknown_type, {}, ""});

    auto top = rlp::decode_one(legacy ? raw : raw.subspan(1));
    if (!top) return unexpected(rlp_error(top.error(), ""));
    auto decoded = legacy ? decode_legacy(*top) : decode_typed(TxType{first}, *top);
    if (!decoded) return decoded;

    if (auto ok = check_signature(decoded->sig); !ok) return unexpected(ok.error());
    const TxEnvelope& tx = decoded->tx;
    if (tx.type == TxType::eip1559 && tx.max_priority_fee_per_gas > tx.max_fee_per_gas)
        return unexpected(
            TxError{TxErrc::priority_fee_above_max_fee, {}, "max_priority_fee_per_gas"});
    return decoded;
}

}  // namespace vigil
