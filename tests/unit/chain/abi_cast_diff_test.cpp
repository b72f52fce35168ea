// Differential tests against the pinned foundry cast: random ABI type trees and values
// encoded by vigil and by `cast abi-encode`, byte for byte; cast's encodings decoded
// back by vigil; `cast abi-decode` output against vigil's formatting; keccak-256 and
// EIP-55 against `cast keccak` / `cast to-check-sum-address`.
//
// cast has no batch mode and starts in a few milliseconds, so the invocations are
// written into two bash scripts run side by side (two cores), each printing a marker
// line after every call. The seed is fixed and printed; VIGIL_ABI_SEED overrides it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <future>
#include <iostream>
#include <random>

#include "chain/abi.hpp"
#include "chain/keccak.hpp"
#include "tests/support/process.hpp"

using namespace vigil;
using namespace vigil::abi;

namespace {

constexpr std::size_t kEncodeCases = 1200;
constexpr std::size_t kFormatCases =
    200;  // of the encode cases, also compared through cast abi-decode
constexpr std::size_t kHashCases = 150;

uint64_t seed() {
    if (const char* s = std::getenv("VIGIL_ABI_SEED")) return std::strtoull(s, nullptr, 0);
    return 0x5eed'ab1c'0ffeeULL;
}

// ---- batched cast ------------------------------------------------------------------

// Strings here are built with separate appends: GCC 12 at -O2 reports a bogus
// -Wrestrict for `"literal" + std::string&&`.
std::string shell_quote(std::string_view s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'')
            out += "'\\''";
        else
            out += c;
    }
    return out + "'";
}

constexpr std::string_view kMarker = "@@vigil-end@@ ";

// Runs every invocation (arguments after `cast`) and returns each one's output (stdout
// and stderr) without its trailing newline, prefixed "CAST FAILED: " when cast exited
// non-zero. Each call is followed by a marker line carrying its exit status, so no
// subshell is needed per call.
std::vector<std::string> run_cast_batch(const std::vector<std::vector<std::string>>& calls) {
    const std::string cast = test::tool_path("cast");
    constexpr std::size_t kWorkers = 2;
    std::vector<std::string> scripts(kWorkers);
    for (std::size_t i = 0; i < calls.size(); ++i) {
        std::string& script = scripts[i % kWorkers];
        script += shell_quote(cast);
        for (const auto& a : calls[i]) {
            script += ' ';
            script += shell_quote(a);
        }
        script += " 2>&1; echo; echo \"";
        script += kMarker;
        script += "$?\"\n";
    }
    std::vector<std::future<test::RunResult>> runs;
    for (const auto& script : scripts)
        runs.push_back(std::async(std::launch::async, [&script] {
            return test::run({"/bin/bash", "-s"}, script);
        }));
    std::vector<std::vector<std::string>> per_worker;
    for (auto& r : runs) {
        const test::RunResult res = r.get();
        if (res.exit_code != 0) throw std::runtime_error("cast batch script failed: " + res.err);
        std::vector<std::string> outs;
        std::string current;
        std::size_t at = 0;
        for (std::size_t nl; (nl = res.out.find('\n', at)) != std::string::npos; at = nl + 1) {
            const std::string_view line(res.out.data() + at, nl - at);
            if (!line.starts_with(kMarker)) {
                current.append(line);
                current += '\n';
                continue;
            }
            // cast's own trailing newline plus the one echoed before the marker.
            while (!current.empty() && current.back() == '\n') current.pop_back();
            outs.push_back(line.substr(kMarker.size()) == "0" ? current
                                                              : "CAST FAILED: " + current);
            current.clear();
        }
        per_worker.push_back(std::move(outs));
    }
    std::vector<std::string> out;
    for (std::size_t i = 0; i < calls.size(); ++i) {
        const auto& w = per_worker[i % kWorkers];
        out.push_back(i / kWorkers < w.size() ? w[i / kWorkers] : "MISSING OUTPUT");
    }
    return out;
}

// ---- random types and values -------------------------------------------------------

class Generator {
public:
    explicit Generator(uint64_t seed) : rng_(seed) {}

    std::size_t below(std::size_t n) {
        return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
    }
    bool chance(unsigned percent) { return below(100) < percent; }

    // A random type as signature text (aliases and `tuple(` sometimes) and parsed.
    std::string type_text(unsigned depth) {
        const std::size_t pick = below(depth >= 3 ? 8 : 12);
        switch (pick) {
            case 0:
                return chance(10) ? "uint" : "uint" + std::to_string(8 * (1 + below(32)));
            case 1:
                return chance(10) ? "int" : "int" + std::to_string(8 * (1 + below(32)));
            case 2:
                return "address";
            case 3:
                return "bool";
            case 4:
                return "bytes" + std::to_string(1 + below(32));
            case 5:
                return "bytes";
            case 6:
                return "string";
            case 7:
                return "uint256";
            case 8:
                return type_text(depth + 1) + "[]";
            case 9:
                return type_text(depth + 1) + "[" + std::to_string(1 + below(3)) + "]";
            default: {
                std::string t = chance(15) ? "tuple(" : "(";
                const std::size_t n = 1 + below(3);
                for (std::size_t i = 0; i < n; ++i) {
                    if (i > 0) t += ',';
                    t += type_text(depth + 1);
                }
                return t + ")";
            }
        }
    }

    // A random value of `t` and its text in cast's syntax. `in_list` is true inside
    // [..] or (..), where unquoted strings end at ',' and brackets.
    std::pair<AbiValue, std::string> value(const AbiType& t, bool in_list) {
        switch (t.kind) {
            case AbiKind::uint: {
                const u256 v = uint_value(t.size);
                return {v, chance(30) ? to_quantity(v) : v.str()};
            }
            case AbiKind::sint: {
                const i256 v = int_value(t.size);
                const u256 mag = static_cast<u256>(v < 0 ? i256(-v) : v);
                return {v, (v < 0 ? "-" : "") + (chance(25) ? to_quantity(mag) : mag.str())};
            }
            case AbiKind::address: {
                Address a;
                for (auto& b : a.bytes) b = byte();
                if (chance(10)) a = Address{};
                std::string text = chance(50) ? to_checksum(a) : to_hex(a.bytes);
                if (chance(10)) text = text.substr(2);
                return {a, text};
            }
            case AbiKind::boolean: {
                const bool b = chance(50);
                return {b, b ? "true" : "false"};
            }
            case AbiKind::fixed_bytes: {
                BytesN b;
                b.size = static_cast<uint8_t>(t.size);
                for (unsigned i = 0; i < t.size; ++i) b.bytes[i] = byte();
                return {b, to_hex(b.view())};
            }
            case AbiKind::bytes: {
                Bytes b(below(4) == 0 ? 0 : below(80));
                for (auto& x : b) x = byte();
                return {b, to_hex(b)};
            }
            case AbiKind::string:
                return string_value(in_list);
            case AbiKind::array:
            case AbiKind::fixed_array: {
                const std::size_t n = t.kind == AbiKind::fixed_array ? t.size : below(4);
                AbiArray a;
                std::string text = "[";
                for (std::size_t i = 0; i < n; ++i) {
                    auto [v, s] = value(t.components[0], true);
                    a.items.push_back(std::move(v));
                    text += (i ? (chance(30) ? ", " : ",") : "") + s;
                }
                return {AbiValue(std::move(a)), text + "]"};
            }
            case AbiKind::tuple: {
                AbiTuple tup;
                std::string text = "(";
                for (std::size_t i = 0; i < t.components.size(); ++i) {
                    auto [v, s] = value(t.components[i], true);
                    tup.items.push_back(std::move(v));
                    text += (i ? (chance(30) ? ", " : ",") : "") + s;
                }
                return {AbiValue(std::move(tup)), text + ")"};
            }
        }
        return {};
    }

    Bytes bytes(std::size_t n) {
        Bytes b(n);
        for (auto& x : b) x = byte();
        return b;
    }

private:
    std::mt19937_64 rng_;

    uint8_t byte() { return static_cast<uint8_t>(below(256)); }

    u256 random_bits(unsigned bits) {
        u256 v = 0;
        for (unsigned i = 0; i < 4; ++i) v = v << 64 | u256(rng_());
        // Random magnitude too, so small and mid-sized numbers (and the [1e4] hint
        // boundary) show up, not only full-width ones.
        const unsigned keep = 1 + static_cast<unsigned>(below(bits));
        return keep >= 256 ? v : v & ((u256(1) << keep) - 1);
    }

    u256 uint_value(unsigned bits) {
        const u256 max = bits == 256 ? ~u256(0) : (u256(1) << bits) - 1;
        switch (below(8)) {
            case 0:
                return 0;
            case 1:
                return max;
            case 2:
                return max - 1;
            case 3:
                return u256(1) << (bits - 1);
            case 4:
                return bits >= 16 ? u256(9999 + below(2)) : max;  // around the [1e4] hint
            default:
                return random_bits(bits);
        }
    }

    i256 int_value(unsigned bits) {
        const i256 half = i256(1) << (bits - 1);
        switch (below(8)) {
            case 0:
                return 0;
            case 1:
                return -1;
            case 2:
                return half - 1;
            case 3:
                return -half;
            case 4:
                return bits >= 16 ? -static_cast<i256>(10000 + below(2)) : -half;
            default: {
                const i256 m = static_cast<i256>(random_bits(bits - 1));
                return chance(50) ? i256(-m) : m;
            }
        }
    }

    std::pair<AbiValue, std::string> string_value(bool in_list) {
        // Plain words, text that needs quotes, Unicode that cast prints as is or
        // escapes (combining marks, zero-width space, controls), and empty strings.
        static const std::vector<std::string> kPool = {
            "hello",
            "Aave",
            "x",
            "under_score",
            "a.b-c",
            "MiXeD123",
            "with space",
            "comma,inside",
            "[brackets]",
            "(parens)",
            "it's",
            "say \"hi\"",
            "tab\there",
            "line\nbreak",
            "back\\slash",
            "caf\xc3\xa9",
            "\xe6\x97\xa5\xe6\x9c\xac",
            "\xf0\x9f\x98\x80",
            "e\xcc\x81",
            "zero\xe2\x80\x8bwidth",
            "bell\x07",
            "del\x7f",
            "nbsp\xc2\xa0in",
            "\xef\xbb\xbf"
            "bom",
            "",
            "  leading",
            "0x1234",
            "true",
            "-5",
        };
        std::string s = kPool[below(kPool.size())];
        if (chance(20)) s += std::to_string(below(1000));
        const bool plain = !s.empty() && s.find_first_of(" \t\n,[]()'\"\\") == std::string::npos &&
                           static_cast<uint8_t>(s[0]) < 0x80 &&
                           static_cast<uint8_t>(s.back()) < 0x80;
        if (plain && chance(50)) return {s, s};
        if (!in_list && chance(30) && !s.empty() && s.back() != ' ' && s.front() != '"' &&
            s.front() != '\'' && s.find_first_of("\t\n\xc2\xe2") == std::string::npos)
            return {s, s};  // top-level text is taken whole
        const char quote = s.find('"') == std::string::npos ? '"' : '\'';
        return {s, quote + s + quote};
    }
};

struct Case {
    std::string signature;  // f(types)
    std::string outputs;    // f()(types), for cast abi-decode
    Function fn;
    std::vector<AbiValue> values;
    std::vector<std::string> texts;
};

std::vector<Case> make_cases(Generator& g, std::size_t n) {
    std::vector<Case> cases;
    while (cases.size() < n) {
        Case c;
        const std::size_t params = 1 + g.below(4);
        std::string types;
        for (std::size_t i = 0; i < params; ++i) {
            if (i > 0) types += ',';
            types += g.type_text(0);
        }
        c.signature = "f(" + types + ")";
        c.outputs = "f()(" + types + ")";
        auto fn = parse_function(c.signature);
        if (!fn) throw std::runtime_error(c.signature + ": " + fn.error().to_string());
        c.fn = *fn;
        for (const auto& t : c.fn.inputs.components) {
            auto [v, text] = g.value(t, false);
            c.values.push_back(std::move(v));
            c.texts.push_back(std::move(text));
        }
        cases.push_back(std::move(c));
    }
    return cases;
}

std::string describe(const Case& c) {
    std::string s = "cast abi-encode " + shell_quote(c.signature);
    for (const auto& t : c.texts) {
        s += ' ';
        s += shell_quote(t);
    }
    return s;
}

}  // namespace

TEST(abi_cast_diff, random_encodings_match_cast_byte_for_byte) {
    const uint64_t s = seed();
    std::cout << "abi_cast_diff seed: " << s << " (set VIGIL_ABI_SEED to reproduce another)\n";
    Generator g(s);
    const auto cases = make_cases(g, kEncodeCases);

    std::vector<std::vector<std::string>> calls;
    for (const auto& c : cases) {
        std::vector<std::string> call = {"abi-encode", c.signature};
        call.insert(call.end(), c.texts.begin(), c.texts.end());
        calls.push_back(std::move(call));
    }
    const auto cast_out = run_cast_batch(calls);

    std::size_t compared = 0, failures = 0;
    for (std::size_t i = 0; i < cases.size() && failures < 10; ++i) {
        const Case& c = cases[i];
        // vigil reads the same text cast read...
        std::vector<AbiValue> parsed;
        for (std::size_t k = 0; k < c.texts.size(); ++k) {
            auto v = parse_value(c.fn.inputs.components[k], c.texts[k]);
            ASSERT_TRUE(v.has_value())
                << describe(c) << "\nargument " << k << ": " << v.error().to_string();
            parsed.push_back(std::move(*v));
        }
        EXPECT_EQ(parsed, c.values) << describe(c);
        auto ours = encode_params(c.fn.inputs, parsed);
        ASSERT_TRUE(ours.has_value()) << describe(c) << "\n" << ours.error().to_string();
        const bool same = to_hex(*ours) == cast_out[i];
        EXPECT_TRUE(same) << describe(c) << "\nvigil: " << to_hex(*ours)
                          << "\ncast:  " << cast_out[i];
        // ... and decodes cast's bytes back to the generated values.
        auto cast_bytes = parse_hex(cast_out[i]);
        ASSERT_TRUE(cast_bytes.has_value()) << describe(c) << "\ncast: " << cast_out[i];
        auto decoded = decode_params(c.fn.inputs, *cast_bytes);
        ASSERT_TRUE(decoded.has_value()) << describe(c) << "\n" << decoded.error().to_string();
        EXPECT_EQ(*decoded, c.values) << describe(c);
        failures += same ? 0 : 1;
        ++compared;
    }
    EXPECT_EQ(compared, kEncodeCases);
}

TEST(abi_cast_diff, decoded_values_print_like_cast_abi_decode) {
    Generator g(seed() ^ 0xdec0de);
    const auto cases = make_cases(g, kFormatCases);
    std::vector<std::vector<std::string>> calls;
    std::vector<std::string> ours;
    for (const auto& c : cases) {
        auto encoded = encode_params(c.fn.inputs, c.values);
        ASSERT_TRUE(encoded.has_value()) << describe(c);
        calls.push_back({"abi-decode", c.outputs, to_hex(*encoded)});
        auto decoded = decode_params(c.fn.inputs, *encoded);
        ASSERT_TRUE(decoded.has_value()) << describe(c);
        std::string text;
        for (const auto& v : *decoded) {
            if (!text.empty()) text += '\n';
            append_value(text, v);
        }
        ours.push_back(std::move(text));
    }
    const auto cast_out = run_cast_batch(calls);
    for (std::size_t i = 0; i < cases.size(); ++i)
        EXPECT_EQ(ours[i], cast_out[i])
            << "cast abi-decode " << shell_quote(calls[i][1]) << " " << calls[i][2];
}

TEST(abi_cast_diff, keccak_and_eip55_match_cast) {
    Generator g(seed() ^ 0x6ecca6);
    std::vector<std::vector<std::string>> calls;
    std::vector<std::string> ours;
    for (std::size_t i = 0; i < kHashCases; ++i) {
        // Lengths around the 136-byte rate block boundaries come up often.
        const std::size_t n = i % 3 == 0   ? 134 + g.below(5)
                              : i % 3 == 1 ? 271 + g.below(3)
                                           : g.below(600);
        const Bytes data = g.bytes(n);
        calls.push_back({"keccak", to_hex(data)});
        ours.push_back(to_hex(keccak256(data)));
    }
    for (std::size_t i = 0; i < kHashCases; ++i) {
        Address a;
        const Bytes b = g.bytes(20);
        std::copy(b.begin(), b.end(), a.bytes.begin());
        calls.push_back({"to-check-sum-address", to_hex(a.bytes)});
        ours.push_back(to_checksum(a));
    }
    const auto cast_out = run_cast_batch(calls);
    for (std::size_t i = 0; i < calls.size(); ++i)
        EXPECT_EQ(ours[i], cast_out[i]) << "cast " << calls[i][0] << " " << calls[i][1];
}
