// `vigil abi encode SIG ARGS...` and `vigil abi decode [--input] SIG HEX`: the same text
// in and out as `cast abi-encode` / `cast abi-decode`, so operators can check one
// against the other. As in cast, decode reads the signature's output types, or its
// input types with --input (the data then holds the arguments, without a selector).
// Differences from cast (all stricter) are listed in chain/abi_text.hpp.
#include <ostream>
#include <string>

#include "agent/cli.hpp"
#include "chain/abi_text.hpp"

namespace vigil::cli {
namespace {

constexpr std::string_view kAbiUsage =
    "usage: vigil abi encode SIG [ARGS...] | vigil abi decode [--input] SIG HEX";

int usage_error(std::ostream& err, std::string_view command, const std::string& message) {
    err << "vigil abi " << command << ": " << message << "\n";
    return kUsage;
}

int encode(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
    if (args.empty()) return usage_error(err, "encode", "missing SIG");
    auto fn = abi::parse_function(args[0]);
    if (!fn) return usage_error(err, "encode", "signature: " + fn.error().to_string());
    const auto texts = args.subspan(1);
    const auto& params = fn->inputs.components;
    if (texts.size() != params.size())
        return usage_error(err, "encode",
                           "arg_count: " + fn->signature() + " takes " +
                               std::to_string(params.size()) + " arguments, got " +
                               std::to_string(texts.size()));
    std::vector<abi::AbiValue> values;
    values.reserve(params.size());
    for (std::size_t i = 0; i < params.size(); ++i) {
        auto v = abi::parse_value(params[i], texts[i]);
        if (!v)
            return usage_error(err, "encode",
                               "argument " + std::to_string(i + 1) + ": " + v.error().to_string());
        values.push_back(std::move(*v));
    }
    auto encoded = abi::encode_params(fn->inputs, values);
    if (!encoded) return usage_error(err, "encode", encoded.error().to_string());
    out << to_hex(*encoded) << "\n";
    return kOk;
}

int decode(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
    const bool input = !args.empty() && args[0] == "--input";
    if (input) args = args.subspan(1);
    if (args.size() != 2)
        return usage_error(
            err, "decode",
            "arg_count: expected SIG and HEX, got " + std::to_string(args.size()) + " arguments");
    auto fn = abi::parse_function(args[0]);
    if (!fn) return usage_error(err, "decode", "signature: " + fn.error().to_string());
    if (!input && fn->outputs.components.empty())
        return usage_error(err, "decode",
                           "signature has no output types to decode: write them as f(...)(types), "
                           "or pass --input to decode its input types");
    auto data = parse_hex(args[1], HexPrefix::optional);
    if (!data) return usage_error(err, "decode", "data: " + data.error().to_string());
    auto values = abi::decode_params(input ? fn->inputs : fn->outputs, *data);
    if (!values) return usage_error(err, "decode", "data: " + values.error().to_string());
    std::string text;
    for (const auto& v : *values) {
        abi::append_value(text, v);
        text += '\n';
    }
    out << text;
    return kOk;
}

}  // namespace

int abi_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
    if (args.empty()) {
        err << kAbiUsage << "\n";
        return kUsage;
    }
    if (args[0] == "encode") return encode(args.subspan(1), out, err);
    if (args[0] == "decode") return decode(args.subspan(1), out, err);
    err << "vigil abi: unknown subcommand '" << args[0] << "'; " << kAbiUsage << "\n";
    return kUsage;
}

}  // namespace vigil::cli
