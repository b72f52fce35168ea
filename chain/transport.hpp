#pragma once
// A Transport carries JSON-RPC text to one endpoint and brings the answer back. It knows
// framing (HTTP, websocket) and deadlines, not methods: the Provider builds requests and
// reads results, so that failover, retries and typed parsing exist once.
#include <string>
#include <string_view>

#include "chain/asio.hpp"
#include "chain/result.hpp"
#include "chain/rpc_error.hpp"

namespace vigil::rpc {

class Transport {
public:
    virtual ~Transport() = default;
    /// Sends one JSON-RPC request or batch (`body` is the JSON text of an object or an
    /// array) and returns the response text. HTTP status, deadlines and closed
    /// connections become a Failure; a JSON-RPC error object inside a 200 body does not
    /// (the caller reads it).
    virtual Task<Result<std::string, Failure>> roundtrip(std::string body) = 0;
    /// The endpoint URL with any credentials (user:pass@, API keys in the path) masked.
    virtual const std::string& endpoint() const noexcept = 0;
};

}  // namespace vigil::rpc
