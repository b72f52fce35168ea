// libFuzzer target for the ABI: decoding untrusted data (fixed signatures and type
// strings taken from the input), signature parsing, argument text, logs and revert
// data. Beyond "no crash, no sanitizer report", it checks that whatever decodes
// re-encodes and decodes to the same values, and that a parsed signature's canonical
// form parses to the same type.
//   CC=clang CXX=clang++ cmake -S . -B build-abi-fuzz -DVIGIL_FUZZ=ON -DVIGIL_BUILD_BENCH=OFF
//   cmake --build build-abi-fuzz --target abi_fuzz && build-abi-fuzz/tests/fuzz/abi_fuzz
//   -max_total_time=60
#include <cstdlib>
#include <string_view>

#include "chain/abi.hpp"

using namespace vigil;
using namespace vigil::abi;

namespace {

void require(bool ok) {
    if (!ok) std::abort();
}

// decode -> format -> encode -> decode must reproduce the values.
void round_trip(const AbiType& params, BytesView data) {
    auto values = decode_params(params, data);
    if (!values) return;
    std::string text;
    for (const auto& v : *values) append_value(text, v);
    auto encoded = encode_params(params, *values);
    require(encoded.has_value());
    auto again = decode_params(params, *encoded);
    require(again.has_value() && *again == *values);
}

const std::vector<AbiType>& fixed_signatures() {
    static const std::vector<AbiType> sigs = [] {
        std::vector<AbiType> out;
        for (const char* s :
             {"f(address,address,address,uint256,bool)",
              "f(((address,address,address,address,uint256),address,uint256,uint256,bytes))",
              "f(uint8,int8,int128,bool,address,bytes3,bytes32)",
              "f(string[],bytes[2],uint256[][])", "f((uint16,string)[3][],int256[2])",
              "f(bytes,string)"})
            out.push_back(parse_function(s)->inputs);
        return out;
    }();
    return sigs;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const uint8_t mode = data[0];
    const BytesView rest(data + 1, size - 1);
    const std::string_view text(reinterpret_cast<const char*>(rest.data()), rest.size());
    switch (mode % 6) {
        case 0: {  // fixed signatures against arbitrary data
            const auto& sigs = fixed_signatures();
            round_trip(sigs[(mode / 6) % sigs.size()], rest);
            break;
        }
        case 1: {  // "TYPES\nDATA": a type string from the input, then data for it
            const auto nl = text.find('\n');
            if (nl == std::string_view::npos) break;
            auto t = parse_type(text.substr(0, nl));
            if (!t) break;
            round_trip(make_tuple({*t}), rest.subspan(nl + 1));
            break;
        }
        case 2: {  // signatures: the canonical form parses back to the same types
            auto f = parse_function(text);
            if (f) {
                auto again = parse_function(f->signature());
                require(again.has_value() && again->inputs == f->inputs &&
                        again->selector == f->selector);
            }
            auto e = parse_event(text);
            if (e) require(parse_event(e->signature()).has_value());
            (void)parse_error(text);
            break;
        }
        case 3: {  // "TYPE\nTEXT": argument text must encode and round-trip once parsed
            const auto nl = text.find('\n');
            if (nl == std::string_view::npos) break;
            auto t = parse_type(text.substr(0, nl));
            if (!t) break;
            auto v = parse_value(*t, text.substr(nl + 1));
            if (!v) break;
            const AbiType params = make_tuple({*t});
            auto encoded = encode_params(params, std::span(&*v, 1));
            require(encoded.has_value());
            auto back = decode_params(params, *encoded);
            require(back.has_value() && (*back)[0] == *v);
            (void)format_value(*v);
            break;
        }
        case 4: {  // revert data with a custom error known
            static const std::vector<Function> errors = {
                *parse_error("error InsufficientBalance(uint256 available, uint256 required)"),
                *parse_error("error Bad(string,bytes[],(address,int24))")};
            auto r = decode_revert(rest, errors);
            if (r) (void)to_string(*r);
            break;
        }
        case 5: {  // a log: topics from the first bytes, the rest is data
            static const Event e = *parse_event(
                "event Borrow(address indexed reserve, string indexed tag, address user, uint256 "
                "amount, "
                "uint8 mode, (bytes,int16)[] extra)");
            const std::size_t n_topics = (mode / 6) % 5;
            if (rest.size() < 32 * n_topics) break;
            std::vector<Hash32> topics(n_topics);
            for (std::size_t i = 0; i < n_topics; ++i)
                std::copy_n(rest.begin() + static_cast<std::ptrdiff_t>(32 * i), 32,
                            topics[i].bytes.begin());
            if (n_topics > 0 && (mode & 0x80)) topics[0] = e.topic0;
            auto v = decode_log(e, topics, rest.subspan(32 * n_topics));
            if (v)
                for (const auto& x : *v) (void)format_value(x);
            break;
        }
    }
    return 0;
}
