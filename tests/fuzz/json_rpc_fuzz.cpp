// libFuzzer target for JSON-RPC response reading (chain/json_rpc.hpp): messages,
// single and batch responses, and every typed decoder, on untrusted bodies. Beyond "no
// crash, no sanitizer report", nlohmann::json is the oracle for the JSON grammar: a
// body we read must be JSON it accepts, and a body it accepts we may reject only for
// what it does not check (our nesting limit) or for JSON-RPC rules, never as invalid
// JSON.
//   CC=clang CXX=clang++ cmake -S . -B build-http-fuzz -DVIGIL_FUZZ=ON -DVIGIL_BUILD_BENCH=OFF
//   cmake --build build-http-fuzz --target json_rpc_fuzz
//   build-http-fuzz/tests/fuzz/json_rpc_fuzz -max_total_time=60
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "chain/json_rpc.hpp"

using namespace vigil;

namespace {

void require(bool ok) {
    if (!ok) std::abort();
}

bool syntax_error(const rpc::Failure& f) {
    return f.detail.starts_with("invalid JSON");
}

// The JSON grammar agrees with nlohmann's, up to our depth limit.
void check_grammar(std::string_view text, const Result<rpc::Envelope, rpc::Failure>& message) {
    // nlohmann reads a NUL byte as the end of input; JSON allows one nowhere (not even
    // raw inside a string), so such text is ours to reject on its own. (Not necessarily
    // as invalid JSON: a JSON-RPC rule broken earlier in the text stops reading first.)
    if (text.find('\0') != std::string_view::npos) {
        require(!message);
        return;
    }
    const bool valid = nlohmann::json::accept(text);
    if (message) require(valid);
    if (!message && syntax_error(message.error()) &&
        message.error().detail.find("nesting too deep") == std::string::npos)
        require(!valid);
}

template <class T>
void decode_all(std::string_view json) {
    auto value = rpc::decode<T>(json);
    if (!value)
        require(value.error().kind == rpc::Errc::malformed_response &&
                !value.error().detail.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    const auto message = rpc::read_message(text);
    check_grammar(text, message);
    if (message && !message->result.empty()) require(nlohmann::json::accept(message->result));

    auto single = rpc::read_response(text, 1);
    if (single) require(message.has_value() && nlohmann::json::accept(*single));

    auto batch = rpc::read_batch(text, 1, 4);
    if (batch) {
        require(batch->size() == 4);
        for (const auto& item : *batch)
            if (item) require(nlohmann::json::accept(*item));
    }

    // Decoders see the body itself as a result value.
    decode_all<uint64_t>(text);
    decode_all<u256>(text);
    decode_all<Bytes>(text);
    decode_all<Hash32>(text);
    decode_all<BlockHeader>(text);
    decode_all<std::optional<BlockHeader>>(text);
    decode_all<Log>(text);
    decode_all<std::vector<Log>>(text);
    decode_all<std::optional<Receipt>>(text);
    decode_all<FeeHistory>(text);
    if (message && message->error) (void)rpc::revert_data(*message->error);
    return 0;
}
