#include "chain/rlp.hpp"

#include <array>
#include <cassert>
#include <climits>
#include <cstring>

namespace vigil {

std::string_view to_string(RlpError e) noexcept {
    switch (e) {
        case RlpError::input_too_short:
            return "input_too_short";
        case RlpError::trailing_bytes:
            return "trailing_bytes";
        case RlpError::non_canonical_size:
            return "non_canonical_size";
        case RlpError::non_optimal_size:
            return "non_optimal_size";
        case RlpError::leading_zero_size:
            return "leading_zero_size";
        case RlpError::leading_zero:
            return "leading_zero";
        case RlpError::overflow:
            return "overflow";
        case RlpError::item_overruns_list:
            return "item_overruns_list";
        case RlpError::unexpected_list:
            return "unexpected_list";
        case RlpError::unexpected_string:
            return "unexpected_string";
        case RlpError::wrong_size:
            return "wrong_size";
        case RlpError::too_deep:
            return "too_deep";
    }
    return "unknown";
}

namespace rlp {
namespace {

// A size field is at most 8 bytes; with a 64-bit size_t every such value fits, and sizes
// are only ever compared with the bytes left (never added to a position), so a huge size
// is input_too_short rather than an overflow.
static_assert(sizeof(std::size_t) * CHAR_BIT >= 64, "RLP sizes need a 64-bit size_t");

constexpr uint8_t kStringOffset = 0x80;
constexpr uint8_t kListOffset = 0xc0;
constexpr std::size_t kShortLimit = 56;  // payloads below this take a one-byte header

// Writes the header for `payload_size` at `p` (room for kMaxHeaderSize); returns its size.
std::size_t write_header(uint8_t* p, uint8_t offset, std::size_t payload_size) noexcept {
    if (payload_size < kShortLimit) {
        p[0] = static_cast<uint8_t>(offset + payload_size);
        return 1;
    }
    const std::size_t n = header_size(payload_size) - 1;
    p[0] = static_cast<uint8_t>(offset + kShortLimit - 1 + n);
    for (std::size_t i = 0; i < n; ++i) p[n - i] = static_cast<uint8_t>(payload_size >> (8 * i));
    return n + 1;
}

void append_header(Bytes& out, uint8_t offset, std::size_t payload_size) {
    std::array<uint8_t, kMaxHeaderSize> h;
    const std::size_t n = write_header(h.data(), offset, payload_size);
    out.insert(out.end(), h.begin(), h.begin() + static_cast<std::ptrdiff_t>(n));
}

// The minimal big-endian bytes of an integer: a view into `word`.
BytesView trimmed(const uint8_t* word, std::size_t width) noexcept {
    std::size_t skip = 0;
    while (skip < width && word[skip] == 0) ++skip;
    return BytesView(word + skip, width - skip);
}

struct U64Word {
    std::array<uint8_t, 8> bytes;
    explicit U64Word(uint64_t v) noexcept {
        for (std::size_t i = 0; i < 8; ++i) bytes[7 - i] = static_cast<uint8_t>(v >> (8 * i));
    }
    BytesView view() const noexcept { return trimmed(bytes.data(), bytes.size()); }
};

struct U256Word {
    std::array<uint8_t, 32> bytes;
    explicit U256Word(const u256& v) noexcept { store_be(v, bytes); }
    BytesView view() const noexcept { return trimmed(bytes.data(), bytes.size()); }
};

// Reads one header from `in` without consuming it: the item and the header's size.
// `truncated` is the error to give when the item runs past `in`.
struct Parsed {
    Item item;
    std::size_t consumed;
};
Result<Parsed, RlpError> parse(BytesView in, RlpError truncated) noexcept {
    if (in.empty()) return unexpected(RlpError::input_too_short);
    const uint8_t b = in[0];
    if (b < kStringOffset) return Parsed{Item{false, in.first(1)}, 1};

    const bool is_list = b >= kListOffset;
    const uint8_t short_base = is_list ? kListOffset : kStringOffset;
    const uint8_t long_base = static_cast<uint8_t>(short_base + kShortLimit - 1);
    std::size_t header = 1;
    std::size_t size = 0;
    if (b <= long_base) {
        size = b - short_base;
    } else {
        const std::size_t size_bytes = b - long_base;  // 1..8
        if (in.size() - 1 < size_bytes) return unexpected(truncated);
        if (in[1] == 0) return unexpected(RlpError::leading_zero_size);
        for (std::size_t i = 0; i < size_bytes; ++i) size = size << 8 | in[1 + i];
        if (size < kShortLimit) return unexpected(RlpError::non_optimal_size);
        header += size_bytes;
    }
    if (in.size() - header < size) return unexpected(truncated);
    const BytesView payload = in.subspan(header, size);
    if (!is_list && size == 1 && payload[0] < kStringOffset)
        return unexpected(RlpError::non_canonical_size);
    return Parsed{Item{is_list, payload}, header + size};
}

// Checks every item inside `list`, which sits at nesting depth `depth`.
Result<void, RlpError> check_items(const Item& list, std::size_t depth) noexcept {
    auto items = as_list(list);
    if (!items) return unexpected(items.error());
    while (!items->empty()) {
        auto item = items->next();
        if (!item) return unexpected(item.error());
        if (!item->is_list) continue;
        if (depth == kMaxDepth) return unexpected(RlpError::too_deep);
        if (auto ok = check_items(*item, depth + 1); !ok) return ok;
    }
    return {};
}

// Integer payload rules shared by every width.
Result<BytesView, RlpError> integer_bytes(const Item& item, std::size_t width) noexcept {
    if (item.is_list) return unexpected(RlpError::unexpected_list);
    if (!item.payload.empty() && item.payload[0] == 0) return unexpected(RlpError::leading_zero);
    if (item.payload.size() > width) return unexpected(RlpError::overflow);
    return item.payload;
}

template <std::size_t N>
Result<FixedBytes<N>, RlpError> as_fixed(const Item& item) noexcept {
    if (item.is_list) return unexpected(RlpError::unexpected_list);
    if (item.payload.size() != N) return unexpected(RlpError::wrong_size);
    return FixedBytes<N>::from_span(item.payload.first<N>());
}

}  // namespace

std::size_t uint_size(uint64_t v) noexcept {
    return string_size(U64Word(v).view());
}
std::size_t uint_size(const u256& v) noexcept {
    return string_size(U256Word(v).view());
}

void append_list_header(Bytes& out, std::size_t payload_size) {
    append_header(out, kListOffset, payload_size);
}

void append_string(Bytes& out, BytesView s) {
    if (s.size() == 1 && s[0] < kStringOffset) {
        out.push_back(s[0]);
        return;
    }
    append_header(out, kStringOffset, s.size());
    out.insert(out.end(), s.begin(), s.end());
}

void append_uint(Bytes& out, uint64_t v) {
    append_string(out, U64Word(v).view());
}
void append_uint(Bytes& out, const u256& v) {
    append_string(out, U256Word(v).view());
}

Result<Item, RlpError> Reader::next() noexcept {
    auto parsed = parse(rest_, in_list_ ? RlpError::item_overruns_list : RlpError::input_too_short);
    if (!parsed) return unexpected(parsed.error());
    rest_ = rest_.subspan(parsed->consumed);
    return parsed->item;
}

Result<std::size_t, RlpError> Reader::count() const noexcept {
    Reader copy = *this;
    std::size_t n = 0;
    for (; !copy.empty(); ++n)
        if (auto item = copy.next(); !item) return unexpected(item.error());
    return n;
}

Result<Item, RlpError> decode_one(BytesView in) noexcept {
    Reader reader(in);
    auto item = reader.next();
    if (!item) return item;
    if (!reader.empty()) return unexpected(RlpError::trailing_bytes);
    if (item->is_list)
        if (auto ok = check_items(*item, 1); !ok) return unexpected(ok.error());
    return item;
}

Result<Reader, RlpError> as_list(const Item& item) noexcept {
    if (!item.is_list) return unexpected(RlpError::unexpected_string);
    return Reader(item.payload, true);
}

Result<BytesView, RlpError> as_bytes(const Item& item) noexcept {
    if (item.is_list) return unexpected(RlpError::unexpected_list);
    return item.payload;
}

Result<uint64_t, RlpError> as_u64(const Item& item) noexcept {
    return integer_bytes(item, 8).transform([](BytesView b) {
        uint64_t v = 0;
        for (uint8_t byte : b) v = v << 8 | byte;
        return v;
    });
}

Result<u256, RlpError> as_u256(const Item& item) noexcept {
    return integer_bytes(item, 32).transform([](BytesView b) {
        std::array<uint8_t, 32> word{};
        std::copy(b.begin(), b.end(), word.end() - static_cast<std::ptrdiff_t>(b.size()));
        return load_be(word);
    });
}

Result<Address, RlpError> as_address(const Item& item) noexcept {
    return as_fixed<20>(item);
}
Result<Hash32, RlpError> as_hash32(const Item& item) noexcept {
    return as_fixed<32>(item);
}

void append_item(Bytes& out, const Item& item) {
    if (!item.is_list) {
        append_string(out, item.payload);
        return;
    }
    // The payload's size is known only after its items are encoded: leave room for the
    // longest header, encode the items, then write the header and close the gap.
    const std::size_t start = out.size();
    out.resize(start + kMaxHeaderSize);
    auto items = as_list(item);
    while (!items->empty()) {
        auto child = items->next();
        assert(child.has_value() && "append_item needs an item checked by decode_one");
        append_item(out, *child);
    }
    const std::size_t payload_size = out.size() - start - kMaxHeaderSize;
    std::array<uint8_t, kMaxHeaderSize> h;
    const std::size_t n = write_header(h.data(), kListOffset, payload_size);
    uint8_t* base = out.data() + start;
    std::memmove(base + n, base + kMaxHeaderSize, payload_size);
    std::memcpy(base, h.data(), n);
    out.resize(start + n + payload_size);
}

}  // namespace rlp
}  // namespace vigil
