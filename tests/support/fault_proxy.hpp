#pragma once
// A loopback TCP proxy for chain I/O tests: forwards bytes to one upstream port (anvil)
// unchanged, and on command cuts, refuses, stalls or delays connections, or answers the
// next HTTP requests itself with a fault.
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::test {

/// What the proxy answers, instead of the upstream, to one injected HTTP request. The
/// request itself is read in full first and never reaches the upstream.
enum class HttpFault {
    status_429,              ///< 429 with `Retry-After: 1` and a JSON-RPC error body
    status_500,              ///< 500 with a short text body
    status_503,              ///< 503 with a short text body
    garbage_body,            ///< 200, `Content-Type: application/json`, a body that is not JSON
    half_body,               ///< 200 whose Content-Length is twice the bytes sent, then close
    hang,                    ///< no answer; the connection stays open until the client leaves
    close_without_response,  ///< both sides closed at once, nothing written
};

/// Listens on 127.0.0.1 on a free port and forwards every accepted connection to
/// 127.0.0.1:upstream_port, both directions byte for byte (keep-alive HTTP, JSON-RPC
/// batches and websockets pass unchanged). Runs its own thread and io_context.
///
/// A connection is HTTP when its first bytes are a request line; from a request with an
/// `Upgrade` header on (a websocket handshake), or on a connection that never was HTTP,
/// bytes are forwarded as opaque for good. On an
/// HTTP connection every request is framed (head + Content-Length body) so that it can
/// be counted and, while an injection is pending, answered locally. Requests must not
/// be pipelined while a fault is injected: a local answer is not ordered against an
/// upstream reply still in flight. A chunked request body switches that connection to
/// opaque forwarding (no longer counted or injected).
///
/// Every method may be called from any thread at any time; each one returns once the
/// proxy's thread has applied it (so a `cut()` has closed the sockets when it returns).
/// Controls must not be called from inside the proxy's own thread.
class FaultProxy {
public:
    /// Starts listening and the proxy thread. Upstream connections are opened at accept,
    /// one per client connection; if that connect fails, the client is closed.
    /// Throws std::system_error if no loopback port can be bound.
    explicit FaultProxy(unsigned short upstream_port);
    /// Closes every connection and the listener, then joins the thread.
    ~FaultProxy();
    FaultProxy(const FaultProxy&) = delete;
    FaultProxy& operator=(const FaultProxy&) = delete;

    unsigned short port() const noexcept { return port_; }
    std::string http_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::string ws_url() const { return "ws://127.0.0.1:" + std::to_string(port_); }

    /// Closes both sides of every live connection at once; bytes still queued (delay,
    /// stall) are dropped. New connections are accepted as before.
    void cut();
    /// While on, each new connection is accepted and closed at once, before any upstream
    /// connect: the peer sees a connection reset or EOF, typically after it sent a
    /// request (the outcome of a write is then unknown to it). Live ones are untouched.
    void set_refuse(bool on);
    /// Off closes the listening socket, so connects fail with ECONNREFUSED (a killed
    /// endpoint; combine with cut() to drop live connections too). On listens again on
    /// the same port; throws std::system_error if another process took it meanwhile.
    void set_listening(bool on);
    /// While on, bytes are still read from both sides but held, not forwarded (a hung
    /// peer, a dead websocket whose TCP connection stays open). Turning it off releases
    /// what was held, in order, so a stream survives a short stall intact.
    void set_stall(bool on);
    /// Each chunk read from now on is forwarded `delay` after it was read, in each
    /// direction; order is kept, so a chunk never overtakes an earlier, longer-delayed one.
    /// Zero (the default) forwards at once.
    void set_delay(std::chrono::milliseconds delay);
    /// The next `count` HTTP requests, on any connection, are answered with `fault`;
    /// queued after faults injected earlier and not yet used. count > 0.
    void inject(HttpFault fault, int count = 1);
    /// Number of injected faults not yet used.
    std::size_t pending_faults();

    /// JSON-RPC calls of `method` written to the upstream over HTTP, each element of a
    /// batch counted on its own. Counted once the upstream socket accepted the bytes;
    /// websocket traffic is not counted.
    std::size_t forwarded(std::string_view method);
    /// JSON-RPC calls of `method` seen in HTTP requests, forwarded or answered by a fault.
    std::size_t received(std::string_view method);
    /// Connections accepted since construction, refused ones included.
    std::size_t connections_accepted();

    /// One JSON-RPC call written to the upstream over HTTP (a batch element on its own).
    struct ForwardedCall {
        std::string method;
        std::string params;  ///< the call's "params" as JSON text; empty when absent
        std::chrono::steady_clock::time_point at;  ///< when the upstream socket accepted it
    };
    /// While on, every call counted by `forwarded()` is also recorded, with its params and
    /// the steady-clock time it was written to the upstream (what the node sees, after any
    /// `set_delay`). Off by default; turning it off keeps what was recorded.
    void set_recording(bool on);
    /// The calls recorded so far, in the order they were written; clears the record.
    std::vector<ForwardedCall> take_recorded();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    unsigned short port_ = 0;
};

}  // namespace vigil::test
