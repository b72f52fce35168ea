#pragma once
// How a JSON-RPC call can fail. One type for every transport, so that retry and failover
// policy is decided in one place (the Provider) from `kind` alone.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vigil::rpc {

enum class Errc {
    rpc_error,           ///< the node answered with a JSON-RPC error object (see `rpc`)
    http_status,         ///< a non-2xx HTTP status other than 429
    rate_limited,        ///< HTTP 429 or a rate-limit error object; `retry_after` if given
    timeout,             ///< connect or request deadline passed: the outcome is unknown
    connect_failed,      ///< no connection could be made: the request was never sent
    connection_closed,   ///< the peer closed mid-request: the outcome is unknown
    malformed_response,  ///< the body is not a JSON-RPC response we can read
    unavailable,         ///< every endpoint is down, backing off or refused
    wrong_chain,         ///< the endpoint answered eth_chainId with another chain's id: refused
    wrong_receipt,       ///< a receipt for another transaction than the one asked for
};
std::string_view to_string(Errc e) noexcept;

/// A JSON-RPC error object: {"code": -32000, "message": "...", "data": ...}.
struct RpcError {
    int64_t code = 0;
    std::string message;
    std::string data;  ///< the raw JSON text of "data" (revert bytes are a hex string there)
};

struct Failure {
    Errc kind;
    std::string endpoint;  ///< which endpoint failed (URL without credentials)
    RpcError rpc;          ///< set when kind == rpc_error (or a rate-limit error object)
    int http_status = 0;
    std::optional<std::chrono::milliseconds> retry_after;
    std::string detail;  ///< human detail: curl's message, the parse error, ...

    /// True when the request certainly did not reach the node (safe to resend a write
    /// elsewhere). Timeouts and mid-request closes are not: the write may have landed.
    bool not_sent() const noexcept {
        return kind == Errc::connect_failed || kind == Errc::unavailable;
    }
    /// "rpc_error -32000 'nonce too low' from http://127.0.0.1:8545"
    std::string to_string() const;
};

}  // namespace vigil::rpc
