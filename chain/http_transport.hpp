#pragma once
// JSON-RPC over HTTP(S) with libcurl's multi-socket interface, driven by the chain's
// io_context: curl tells us which sockets to watch and when its next deadline is, Asio
// waits for exactly that and hands the events back. No thread, no curl_easy_perform.
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "chain/asio.hpp"
#include "chain/transport.hpp"

namespace vigil::rpc {

struct HttpOptions {
    /// TCP connect and TLS handshake together. Passing it means the request was never
    /// sent: Errc::connect_failed, safe to send elsewhere.
    std::chrono::milliseconds connect_timeout{5'000};
    /// The whole exchange, connect included. Passing it after the request went out is
    /// Errc::timeout: the node may have acted on it.
    std::chrono::milliseconds request_timeout{30'000};
    /// A larger (decompressed) body is abandoned as malformed_response rather than held
    /// in memory: an eth_getLogs answer of a million logs is about 700 MB.
    std::size_t max_response_bytes = 256 * 1024 * 1024;
    /// https only: an extra PEM file of trusted CAs (a private node's own CA). The
    /// system store is always used and verification is never turned off.
    std::string ca_file;
    /// Extra request headers, e.g. "Authorization: Bearer ...". Never logged.
    std::vector<std::string> headers;
};

/// One HTTP(S) endpoint. Requests are POSTs of JSON (gzip and deflate answers accepted);
/// idle connections are kept alive and reused, and concurrent requests open more
/// connections as needed. Redirects are not followed: an RPC URL that redirects is a
/// misconfiguration, reported as http_status.
///
/// A request body is written at most once: libcurl's own resend of a request whose
/// reused connection turned out dead is disabled (the body cannot be rewound), so that a
/// write such as eth_sendRawTransaction reaches the node at most once per roundtrip.
/// Deciding to send again is the Provider's job.
///
/// Errors: connect_failed (no connection, or TLS failed: not sent), timeout,
/// connection_closed (the peer closed or reset mid-exchange, or sent a truncated body:
/// outcome unknown), rate_limited (HTTP 429, with `retry_after` from a Retry-After header
/// in seconds or as an HTTP date), http_status (any other non-2xx; `detail` holds the
/// start of the body), malformed_response (body too large or badly compressed).
///
/// All members must be called on the executor given at construction, which must run on
/// one thread. Destroying the transport fails requests still in flight with
/// connection_closed.
class HttpTransport final : public Transport {
public:
    /// `url` is http:// or https://; anything else fails each request with
    /// connect_failed. curl_global_init is done once, on first construction.
    HttpTransport(net::any_io_executor executor, std::string url, HttpOptions options = {});
    ~HttpTransport() override;
    HttpTransport(const HttpTransport&) = delete;
    HttpTransport& operator=(const HttpTransport&) = delete;

    Task<Result<std::string, Failure>> roundtrip(std::string body) override;
    const std::string& endpoint() const noexcept override;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

/// The URL as it may appear in logs and errors: scheme, host and port; credentials
/// become "***@" and any path or query "/***" (providers put API keys there).
/// "http://127.0.0.1:8545" stays as is; an unparsable URL gives "<invalid url>".
std::string mask_url(std::string_view url);

}  // namespace vigil::rpc
