#pragma once
// A loopback TCP proxy for chain I/O tests: forwards bytes to one upstream port (anvil)
// unchanged, and on command cuts, refuses, stalls or delays connections, answers the
// next HTTP requests itself with a fault, or rewrites JSON-RPC answers (a node that lies).
#include <chrono>
#include <cstddef>
#include <cstdint>
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
/// A connection is HTTP when its first bytes are a request line; on a connection that
/// never was HTTP, bytes are forwarded as opaque for good. On an HTTP connection every
/// request is framed (head + Content-Length body) so that it can be counted and, while an
/// injection is pending, answered locally; every upstream response is framed too (head +
/// Content-Length body, each one forwarded once complete) so that a lie can rewrite it.
/// Requests must not be pipelined while a fault is injected: a local answer is not
/// ordered against an upstream reply still in flight. A chunked request body, or an
/// upstream response that is chunked, compressed or without Content-Length, switches
/// that connection to opaque forwarding (no longer counted, injected or lied about).
/// A request with an `Upgrade` header (a websocket handshake) makes the connection a
/// websocket once the upstream answers 101: from then on frames pass unchanged, except
/// single-frame text answers that a lie rewrites (both directions are parsed; a
/// fragmented or compressed message passes as it is).
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

    /// Lies: rewritten JSON-RPC answers from the upstream. An answer is matched to its call
    /// by id: over HTTP within its request (each element of a batch on its own), over a
    /// websocket among the calls sent on that connection. A lie is told in the next
    /// `times` answers it can change (kAlways: until stop_lying()); each setter replaces
    /// the same lie set earlier. Answers that are errors or null are never changed.
    static constexpr std::size_t kAlways = SIZE_MAX;
    /// eth_getTransactionCount answers for the "pending" block are `by` higher (an evicted
    /// transaction from the same key, a node with a stale pool). times > 0.
    void inflate_pending_count(uint64_t by, std::size_t times = 1);
    /// eth_chainId answers `chain_id` (an endpoint of another chain). times > 0.
    void lie_chain_id(uint64_t chain_id, std::size_t times = kAlways);
    /// eth_getTransactionReceipt answers that hold a receipt name another transaction: its
    /// transactionHash has its last byte flipped, the rest is the receipt asked for.
    /// times > 0.
    void lie_receipt(std::size_t times = 1);
    /// Ends every lie; answers pass unchanged again.
    void stop_lying();
    /// Answers of `method` a lie rewrote, over HTTP and websockets.
    std::size_t lies_told(std::string_view method);

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
