#pragma once
// JSON-RPC over one websocket (ws:// or wss://): request/response matched by id, many in
// flight at once, alongside eth_subscription notifications routed by subscription id.
// Beast stays in ws_transport.cpp; this header only needs Asio.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "chain/asio.hpp"
#include "chain/result.hpp"
#include "chain/rpc_error.hpp"
#include "chain/transport.hpp"

namespace vigil::rpc {

struct WsOptions {
    /// Resolve, TCP connect, TLS handshake and websocket upgrade together.
    std::chrono::milliseconds connect_timeout{10'000};
    /// From the write of a request to its response.
    std::chrono::milliseconds request_timeout{30'000};
    /// With nothing received for half of this, a ping is sent; with nothing received for
    /// all of it (not even the pong), the peer is dead and the connection is closed. A
    /// stalled TCP connection is otherwise invisible: no error, no data.
    std::chrono::milliseconds dead_peer_timeout{20'000};
    /// wss:// only: check the server's certificate chain against the system store (and
    /// `ca_file`) and its name against the URL's host. Off only for a node you reach
    /// over a network you trust; prefer adding its CA with `ca_file`.
    bool verify_certificates = true;
    /// wss:// only: an extra PEM file of trusted CAs (a private node's own CA).
    std::string ca_file;
    /// A larger incoming message is a protocol error that closes the connection.
    std::size_t max_message_bytes = 64 * 1024 * 1024;
};

/// Receives the raw JSON text of a notification's `params.result` (a block header for
/// newHeads, a log for logs). Called on the transport's executor from the read loop,
/// before the next message is read: it must not block, and it may not call `close()`.
using NotificationHandler = std::function<void(std::string_view result)>;

/// One websocket connection to one endpoint, reconnectable: `connect()` again after it
/// closed. Reconnecting, resubscribing and filling what was missed in between belong to
/// the owner (BlockStream): a new connection starts with no subscriptions.
///
/// Request ids: `roundtrip` bodies carry the caller's integer ids, which must be unique
/// among the requests in flight on this transport and below kFirstInternalId; the
/// transport's own requests (eth_subscribe) count down from 2^53 - 1 so that nodes that
/// read ids as doubles echo them intact.
///
/// All members must be called on the executor given at construction, which must run on
/// one thread (the chain's io_context): there are no locks.
class WsTransport final : public Transport {
public:
    static constexpr uint64_t kFirstInternalId = (uint64_t{1} << 53) - (uint64_t{1} << 32);

    /// `url` is ws://host[:port][/path] or wss://...; it is checked by `connect()`.
    WsTransport(net::any_io_executor executor, std::string url, WsOptions options = {});
    /// Closes the connection; outstanding requests fail with connection_closed, and the
    /// closed handler is not called.
    ~WsTransport() override;
    WsTransport(const WsTransport&) = delete;
    WsTransport& operator=(const WsTransport&) = delete;

    /// Opens the connection within connect_timeout. Failures are connect_failed (bad URL,
    /// resolve, refused, TLS verification, upgrade refused; `detail` names the step) or
    /// timeout. Only while not connected.
    Task<Result<void, Failure>> connect();

    /// Sends one request or batch and returns the response text (for a batch, the array
    /// as the node sent it). Not connected: connect_failed (never sent). Connection lost
    /// or dead peer before the answer: connection_closed or timeout (outcome unknown).
    /// No answer within request_timeout: timeout.
    Task<Result<std::string, Failure>> roundtrip(std::string body) override;

    /// eth_subscribe with `params` (the JSON text of the params array, e.g.
    /// `["newHeads"]`); returns the subscription id. `handler` receives every
    /// notification of the subscription, from the first one after the node's answer,
    /// until the connection closes. Failures as for roundtrip; a node refusing the
    /// subscription is rpc_error.
    Task<Result<std::string, Failure>> subscribe(std::string params, NotificationHandler handler);

    /// Called (posted to the executor) once for each connection that ends other than by
    /// `close()` or destruction: the peer closed it, the dead-peer timeout fired, a read
    /// or write failed. Every request in flight has failed by then.
    void set_closed_handler(std::function<void(const Failure&)> handler);

    /// Closes the connection now; requests in flight fail with connection_closed.
    void close();
    bool connected() const noexcept;

    /// When the frame being dispatched finished arriving (read completion in the read
    /// loop): lets a notification handler measure our own latency.
    std::chrono::steady_clock::time_point frame_received_at() const noexcept;

    /// The URL without credentials: user info dropped, a path or query (where providers
    /// put API keys) shown as "/***".
    const std::string& endpoint() const noexcept override { return endpoint_; }

private:
    class Session;

    /// Sends `body`, whose JSON-RPC ids are `ids`, and waits for its answer (see Session).
    Task<Result<std::string, Failure>> exchange(std::string body, std::vector<uint64_t> ids,
                                                NotificationHandler subscriber);

    net::any_io_executor executor_;
    std::string url_;
    std::string endpoint_;
    WsOptions options_;
    std::shared_ptr<Session> session_;
    std::function<void(const Failure&)> on_closed_;
    uint64_t next_internal_id_ = (uint64_t{1} << 53) - 1;
};

}  // namespace vigil::rpc
