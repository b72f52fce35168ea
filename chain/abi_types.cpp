#include "chain/abi_types.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>

#include "chain/keccak.hpp"

namespace vigil::abi {

std::string_view to_string(AbiError e) noexcept {
    switch (e) {
        case AbiError::expected_identifier:
            return "expected_identifier";
        case AbiError::expected_paren:
            return "expected_paren";
        case AbiError::unclosed_paren:
            return "unclosed_paren";
        case AbiError::unclosed_bracket:
            return "unclosed_bracket";
        case AbiError::unknown_type:
            return "unknown_type";
        case AbiError::bad_type_size:
            return "bad_type_size";
        case AbiError::bad_array_size:
            return "bad_array_size";
        case AbiError::empty_tuple:
            return "empty_tuple";
        case AbiError::type_too_large:
            return "type_too_large";
        case AbiError::too_many_indexed:
            return "too_many_indexed";
        case AbiError::trailing_text:
            return "trailing_text";
        case AbiError::too_deep:
            return "too_deep";
        case AbiError::arg_count:
            return "arg_count";
        case AbiError::bad_number:
            return "bad_number";
        case AbiError::number_overflow:
            return "number_overflow";
        case AbiError::bad_fraction:
            return "bad_fraction";
        case AbiError::bad_unit:
            return "bad_unit";
        case AbiError::bad_bool:
            return "bad_bool";
        case AbiError::bad_hex:
            return "bad_hex";
        case AbiError::wrong_length:
            return "wrong_length";
        case AbiError::bad_checksum:
            return "bad_checksum";
        case AbiError::unterminated_string:
            return "unterminated_string";
        case AbiError::expected_list:
            return "expected_list";
        case AbiError::unclosed_list:
            return "unclosed_list";
        case AbiError::expected_value:
            return "expected_value";
        case AbiError::array_length:
            return "array_length";
        case AbiError::value_mismatch:
            return "value_mismatch";
        case AbiError::truncated:
            return "truncated";
        case AbiError::offset_out_of_range:
            return "offset_out_of_range";
        case AbiError::offset_into_head:
            return "offset_into_head";
        case AbiError::length_out_of_range:
            return "length_out_of_range";
        case AbiError::dirty_bits:
            return "dirty_bits";
        case AbiError::topic_count:
            return "topic_count";
        case AbiError::topic_mismatch:
            return "topic_mismatch";
        case AbiError::bad_selector:
            return "bad_selector";
    }
    return "unknown";
}

std::string AbiFailure::to_string() const {
    return std::string(abi::to_string(error)) + " at offset " + std::to_string(offset);
}

namespace {
AbiType leaf(AbiKind kind, uint32_t size, bool dynamic) {
    AbiType t;
    t.kind = kind;
    t.size = size;
    t.dynamic = dynamic;
    t.head_size = 32;
    return t;
}

bool valid_int_bits(unsigned bits) {
    return bits >= 8 && bits <= 256 && bits % 8 == 0;
}
}  // namespace

AbiType make_uint(unsigned bits) {
    assert(valid_int_bits(bits));
    return leaf(AbiKind::uint, bits, false);
}
AbiType make_int(unsigned bits) {
    assert(valid_int_bits(bits));
    return leaf(AbiKind::sint, bits, false);
}
AbiType make_address() {
    return leaf(AbiKind::address, 160, false);
}
AbiType make_bool() {
    return leaf(AbiKind::boolean, 8, false);
}
AbiType make_fixed_bytes(unsigned n) {
    assert(n >= 1 && n <= 32);
    return leaf(AbiKind::fixed_bytes, n, false);
}
AbiType make_bytes() {
    return leaf(AbiKind::bytes, 0, true);
}
AbiType make_string() {
    return leaf(AbiKind::string, 0, true);
}

AbiType make_array(AbiType element) {
    assert(element.head_size > 0 && "zero-size elements would let a length word claim any count");
    AbiType t = leaf(AbiKind::array, 0, true);
    t.components.push_back(std::move(element));
    return t;
}

AbiType make_fixed_array(AbiType element, uint32_t n) {
    assert(n >= 1 && element.head_size > 0);
    AbiType t;
    t.kind = AbiKind::fixed_array;
    t.size = n;
    t.dynamic = element.dynamic;
    // A dynamic T[k] sits behind one offset word; a static one is k heads inline.
    t.head_size = element.dynamic ? 32 : element.head_size * n;
    assert(t.head_size <= kMaxStaticSize);
    t.components.push_back(std::move(element));
    return t;
}

AbiType make_tuple(std::vector<AbiType> members) {
    AbiType t;
    t.kind = AbiKind::tuple;
    uint64_t static_size = 0;
    for (const auto& m : members) {
        assert(m.head_size > 0);
        t.dynamic = t.dynamic || m.dynamic;
        static_size += m.head_size;
    }
    t.head_size = t.dynamic ? 32 : static_size;
    t.components = std::move(members);
    return t;
}

void append_canonical(std::string& out, const AbiType& type) {
    switch (type.kind) {
        // Two appends, not `"uint" + std::to_string(...)`: GCC 12 reports a bogus
        // -Wrestrict on operator+(const char*, std::string&&).
        case AbiKind::uint:
            out += "uint";
            out += std::to_string(type.size);
            return;
        case AbiKind::sint:
            out += "int";
            out += std::to_string(type.size);
            return;
        case AbiKind::address:
            out += "address";
            return;
        case AbiKind::boolean:
            out += "bool";
            return;
        case AbiKind::fixed_bytes:
            out += "bytes";
            out += std::to_string(type.size);
            return;
        case AbiKind::bytes:
            out += "bytes";
            return;
        case AbiKind::string:
            out += "string";
            return;
        case AbiKind::array:
            append_canonical(out, type.components[0]);
            out += "[]";
            return;
        case AbiKind::fixed_array:
            append_canonical(out, type.components[0]);
            out += '[';
            out += std::to_string(type.size);
            out += ']';
            return;
        case AbiKind::tuple:
            out += '(';
            for (std::size_t i = 0; i < type.components.size(); ++i) {
                if (i > 0) out += ',';
                append_canonical(out, type.components[i]);
            }
            out += ')';
            return;
    }
}

std::string to_string(const AbiType& type) {
    std::string out;
    append_canonical(out, type);
    return out;
}

std::string Function::signature() const {
    return name + to_string(inputs);
}
std::string Event::signature() const {
    return name + to_string(inputs);
}

namespace {

struct Param {
    AbiType type;
    std::string name;
    bool indexed = false;
};

enum class ParamMode { plain, event };

// Recursive descent over the human-readable ABI. Positions in errors are character
// offsets into the original text.
class SignatureParser {
public:
    explicit SignatureParser(std::string_view text) : s_(text) {}

    Result<AbiType, AbiFailure> whole_type() {
        skip_ws();
        auto t = type(0);
        if (!t) return t;
        if (auto end = expect_end(); !end) return unexpected(end.error());
        return t;
    }

    Result<Function, AbiFailure> function(std::string_view keyword) {
        Function f;
        skip_ws();
        skip_prefix(keyword);
        auto name = identifier();
        if (!name) return unexpected(name.error());
        f.name = std::string(*name);
        skip_ws();
        auto in = param_list(ParamMode::plain);
        if (!in) return unexpected(in.error());
        split(std::move(*in), f.inputs, f.input_names, nullptr);
        skip_ws();
        if (keyword == "function") {
            skip_modifiers();
            if (peek() == ':') {
                ++pos_;
                skip_ws();
            }
            if (skip_word("returns")) skip_ws();
            if (peek() == '(') {
                auto out = param_list(ParamMode::plain);
                if (!out) return unexpected(out.error());
                split(std::move(*out), f.outputs, f.output_names, nullptr);
                f.has_outputs = true;
                skip_ws();
            }
            skip_modifiers();
        }
        if (auto end = expect_end(); !end) return unexpected(end.error());
        const Hash32 h = keccak256(f.signature());
        std::copy_n(h.bytes.begin(), 4, f.selector.begin());
        return f;
    }

    Result<Event, AbiFailure> event() {
        Event e;
        skip_ws();
        skip_prefix("event");
        auto name = identifier();
        if (!name) return unexpected(name.error());
        e.name = std::string(*name);
        skip_ws();
        const std::size_t list_at = pos_;
        auto in = param_list(ParamMode::event);
        if (!in) return unexpected(in.error());
        split(std::move(*in), e.inputs, e.names, &e.indexed);
        skip_ws();
        if (skip_word("anonymous")) {
            e.anonymous = true;
            skip_ws();
        }
        if (auto end = expect_end(); !end) return unexpected(end.error());
        const auto n_indexed = std::count(e.indexed.begin(), e.indexed.end(), true);
        if (n_indexed > (e.anonymous ? 4 : 3))
            return unexpected(AbiFailure{AbiError::too_many_indexed, list_at});
        std::vector<AbiType> data;
        for (std::size_t i = 0; i < e.indexed.size(); ++i)
            if (!e.indexed[i]) data.push_back(e.inputs.components[i]);
        e.data_inputs = make_tuple(std::move(data));
        e.topic0 = keccak256(e.signature());
        return e;
    }

private:
    std::string_view s_;
    std::size_t pos_ = 0;

    char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
    AbiFailure fail(AbiError e) const { return AbiFailure{e, pos_}; }

    void skip_ws() {
        while (pos_ < s_.size() &&
               (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
            ++pos_;
    }

    static bool ident_start(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
    }
    static bool ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9'); }

    std::string_view peek_identifier() const {
        std::size_t end = pos_;
        if (end < s_.size() && ident_start(s_[end]))
            while (end < s_.size() && ident_char(s_[end])) ++end;
        return s_.substr(pos_, end - pos_);
    }

    Result<std::string_view, AbiFailure> identifier() {
        const auto id = peek_identifier();
        if (id.empty()) return unexpected(fail(AbiError::expected_identifier));
        pos_ += id.size();
        return id;
    }

    // Consumes a leading `function`/`error`/`event` only when a name follows it, so a
    // function that happens to be called `event` still parses.
    void skip_prefix(std::string_view word) {
        if (peek_identifier() != word) return;
        std::size_t after = pos_ + word.size();
        const std::size_t ws_at = after;
        while (after < s_.size() && (s_[after] == ' ' || s_[after] == '\t')) ++after;
        if (after > ws_at && after < s_.size() && ident_start(s_[after])) pos_ = after;
    }

    // Consumes `word` when it is the next whole identifier.
    bool skip_word(std::string_view word) {
        if (peek_identifier() != word) return false;
        pos_ += word.size();
        return true;
    }

    void skip_modifiers() {
        static constexpr std::string_view kWords[] = {
            "external", "public",  "internal",   "private", "view",
            "pure",     "payable", "nonpayable", "virtual", "override"};
        for (;;) {
            const auto id = peek_identifier();
            if (std::find(std::begin(kWords), std::end(kWords), id) == std::end(kWords)) return;
            pos_ += id.size();
            skip_ws();
        }
    }

    Result<void, AbiFailure> expect_end() {
        skip_ws();
        if (pos_ != s_.size()) return unexpected(fail(AbiError::trailing_text));
        return {};
    }

    static void split(std::vector<Param> params, AbiType& tuple, std::vector<std::string>& names,
                      std::vector<bool>* indexed) {
        std::vector<AbiType> types;
        types.reserve(params.size());
        for (auto& p : params) {
            types.push_back(std::move(p.type));
            names.push_back(std::move(p.name));
            if (indexed) indexed->push_back(p.indexed);
        }
        tuple = make_tuple(std::move(types));
    }

    // '(' [param {',' param}] [','] ')': the top-level lists of signatures, which, like
    // alloy's parser behind cast, may be empty and may end in a comma.
    Result<std::vector<Param>, AbiFailure> param_list(ParamMode mode) {
        if (peek() != '(') return unexpected(fail(AbiError::expected_paren));
        ++pos_;
        std::vector<Param> params;
        skip_ws();
        while (peek() != ')') {
            auto p = param(mode, 0);
            if (!p) return unexpected(p.error());
            params.push_back(std::move(*p));
            skip_ws();
            if (peek() == ',') {
                ++pos_;
                skip_ws();
            } else if (peek() != ')') {
                return unexpected(fail(AbiError::unclosed_paren));
            }
        }
        ++pos_;
        return params;
    }

    // type [memory|storage|calldata] [indexed] [name]
    Result<Param, AbiFailure> param(ParamMode mode, unsigned depth) {
        Param p;
        auto t = type(depth);
        if (!t) return unexpected(t.error());
        p.type = std::move(*t);
        skip_ws();
        auto word = peek_identifier();
        if (word == "memory" || word == "storage" || word == "calldata") {
            pos_ += word.size();
            skip_ws();
            word = peek_identifier();
        }
        if (mode == ParamMode::event && word == "indexed") {
            p.indexed = true;
            pos_ += word.size();
            skip_ws();
            word = peek_identifier();
        }
        p.name = std::string(word);
        pos_ += word.size();
        return p;
    }

    Result<AbiType, AbiFailure> type(unsigned depth) {
        if (depth >= kMaxDepth) return unexpected(fail(AbiError::too_deep));
        const std::size_t start = pos_;
        Result<AbiType, AbiFailure> base = unexpected(fail(AbiError::expected_identifier));
        if (peek() == '(' ||
            (peek_identifier() == "tuple" && pos_ + 5 < s_.size() && s_[pos_ + 5] == '(')) {
            if (peek() != '(') pos_ += 5;
            base = tuple(depth);
        } else {
            base = elementary();
        }
        if (!base) return base;
        AbiType t = std::move(*base);
        unsigned levels = 0;
        while (peek() == '[') {
            if (depth + ++levels >= kMaxDepth) return unexpected(fail(AbiError::too_deep));
            ++pos_;
            const std::size_t digits_at = pos_;
            while (peek() >= '0' && peek() <= '9') ++pos_;
            if (pos_ == digits_at) {
                t = make_array(std::move(t));
            } else {
                uint64_t n = 0;
                const auto digits = s_.substr(digits_at, pos_ - digits_at);
                const auto [p, ec] =
                    std::from_chars(digits.data(), digits.data() + digits.size(), n);
                if (ec != std::errc{} || n == 0 || n > (uint64_t{1} << 32) - 1)
                    return unexpected(AbiFailure{AbiError::bad_array_size, digits_at});
                if (!t.dynamic && t.head_size * n > kMaxStaticSize)
                    return unexpected(AbiFailure{AbiError::type_too_large, start});
                t = make_fixed_array(std::move(t), static_cast<uint32_t>(n));
            }
            if (peek() != ']') return unexpected(fail(AbiError::unclosed_bracket));
            ++pos_;
        }
        return t;
    }

    // Components may carry names (`(address user, uint256 amount)`), as in ethers'
    // human-readable ABI; the names are not part of the type.
    Result<AbiType, AbiFailure> tuple(unsigned depth) {
        const std::size_t open = pos_;
        ++pos_;  // '('
        std::vector<AbiType> members;
        uint64_t static_size = 0;
        for (;;) {
            skip_ws();
            if (members.empty() && peek() == ')')
                return unexpected(AbiFailure{AbiError::empty_tuple, open});
            auto p = param(ParamMode::plain, depth + 1);
            if (!p) return unexpected(p.error());
            static_size += p->type.head_size;
            if (static_size > kMaxStaticSize)
                return unexpected(AbiFailure{AbiError::type_too_large, open});
            members.push_back(std::move(p->type));
            skip_ws();
            if (peek() == ')') break;
            if (peek() != ',') return unexpected(fail(AbiError::unclosed_paren));
            ++pos_;
        }
        ++pos_;
        return make_tuple(std::move(members));
    }

    Result<AbiType, AbiFailure> elementary() {
        const std::size_t at = pos_;
        const auto id = peek_identifier();
        if (id.empty()) return unexpected(fail(AbiError::expected_identifier));
        pos_ += id.size();
        if (id == "address") return make_address();
        if (id == "bool") return make_bool();
        if (id == "string") return make_string();
        if (id == "bytes") return make_bytes();
        if (id == "uint") return make_uint(256);
        if (id == "int") return make_int(256);
        std::string_view digits;
        AbiKind kind;
        if (id.starts_with("uint")) {
            kind = AbiKind::uint;
            digits = id.substr(4);
        } else if (id.starts_with("int")) {
            kind = AbiKind::sint;
            digits = id.substr(3);
        } else if (id.starts_with("bytes")) {
            kind = AbiKind::fixed_bytes;
            digits = id.substr(5);
        } else {
            return unexpected(AbiFailure{AbiError::unknown_type, at});
        }
        unsigned n = 0;
        const auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
        if (ec != std::errc{} || p != digits.data() + digits.size() || digits.empty())
            return unexpected(AbiFailure{AbiError::unknown_type, at});
        // Leading zeros would give `uint08` a second spelling, and a second selector.
        if (digits[0] == '0') return unexpected(AbiFailure{AbiError::bad_type_size, at});
        if (kind == AbiKind::fixed_bytes) {
            if (n < 1 || n > 32) return unexpected(AbiFailure{AbiError::bad_type_size, at});
            return make_fixed_bytes(n);
        }
        if (!valid_int_bits(n)) return unexpected(AbiFailure{AbiError::bad_type_size, at});
        return kind == AbiKind::uint ? make_uint(n) : make_int(n);
    }
};

}  // namespace

Result<AbiType, AbiFailure> parse_type(std::string_view text) {
    return SignatureParser(text).whole_type();
}

Result<Function, AbiFailure> parse_function(std::string_view text) {
    return SignatureParser(text).function("function");
}

Result<Function, AbiFailure> parse_error(std::string_view text) {
    return SignatureParser(text).function("error");
}

Result<Event, AbiFailure> parse_event(std::string_view text) {
    return SignatureParser(text).event();
}

}  // namespace vigil::abi
