#include "tests/support/fault_proxy.hpp"

#include "chain/asio.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include <cassert>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace vigil::test {
namespace {

using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using Counts = std::map<std::string, std::size_t, std::less<>>;

constexpr std::size_t kReadChunk = 16 * 1024;
// A request head larger than this is not an HTTP request we frame (anvil's clients send
// a few hundred bytes); the connection then becomes opaque rather than buffering forever.
constexpr std::size_t kMaxHead = 64 * 1024;

// What a writer does once a chunk is on the wire.
enum class Then { keep_open, shutdown_send, close_both };

struct Chunk {
    Clock::time_point due;
    std::string bytes;
    std::vector<std::string> methods;  // JSON-RPC calls in `bytes`, counted once written
    Then then = Then::keep_open;
};

// State shared by all connections; touched only on the proxy's thread.
struct ProxyState {
    tcp::endpoint upstream;
    bool refuse = false;
    bool stall = false;
    Clock::duration delay{};
    std::deque<HttpFault> faults;
    Counts forwarded;
    Counts received;
    std::size_t accepted = 0;
    bool recording = false;
    std::vector<FaultProxy::ForwardedCall> recorded;
};

std::size_t count_of(const Counts& counts, std::string_view method) {
    const auto it = counts.find(method);
    return it == counts.end() ? 0 : it->second;
}

char ascii_lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

enum class Verdict { need_more, http, opaque };

// An HTTP request starts with an upper-case method token and a space ("POST ", "GET ");
// the longest method we can meet is 7 letters.
Verdict classify(std::string_view first_bytes) {
    for (std::size_t i = 0; i < first_bytes.size() && i < 8; ++i) {
        const char c = first_bytes[i];
        if (c == ' ') return i > 0 ? Verdict::http : Verdict::opaque;
        if (c < 'A' || c > 'Z') return Verdict::opaque;
    }
    return first_bytes.size() >= 8 ? Verdict::opaque : Verdict::need_more;
}

// Body length of a request whose head (request line + headers, without the blank line)
// is `head`; nullopt when the connection can no longer be framed here: an Upgrade
// (websocket) hands it to another protocol, and a Transfer-Encoding or an unreadable
// Content-Length would need a full HTTP parser.
std::optional<std::size_t> body_length(std::string_view head) {
    std::size_t length = 0;
    std::size_t line_start = head.find("\r\n");
    while (line_start != std::string_view::npos) {
        line_start += 2;
        const std::size_t line_end = head.find("\r\n", line_start);
        const std::string_view line = head.substr(line_start, line_end - line_start);
        line_start = line_end;
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        const std::string_view name = trim(line.substr(0, colon));
        const std::string_view value = trim(line.substr(colon + 1));
        if (iequals(name, "upgrade") || iequals(name, "transfer-encoding")) return std::nullopt;
        if (iequals(name, "content-length")) {
            if (value.empty() || value.size() > 12) return std::nullopt;
            length = 0;
            for (const char c : value) {
                if (c < '0' || c > '9') return std::nullopt;
                length = length * 10 + static_cast<std::size_t>(c - '0');
            }
        }
    }
    return length;
}

// The "method" of each call in a JSON-RPC request or batch; nothing for other bodies.
std::vector<std::string> rpc_methods(std::string_view body) {
    std::vector<std::string> methods;
    const auto json = nlohmann::json::parse(body, nullptr, false);
    const auto add = [&](const nlohmann::json& call) {
        if (!call.is_object()) return;
        const auto method = call.find("method");
        if (method != call.end() && method->is_string())
            methods.push_back(method->get<std::string>());
    };
    if (json.is_array()) {
        for (const auto& call : json) add(call);
    } else {
        add(json);
    }
    return methods;
}

// Records each JSON-RPC call of `request` (a whole framed HTTP request) at `at`.
void record_calls(ProxyState& state, std::string_view request, Clock::time_point at) {
    const std::size_t head_end = request.find("\r\n\r\n");
    if (head_end == std::string_view::npos) return;
    const auto json = nlohmann::json::parse(request.substr(head_end + 4), nullptr, false);
    const auto add = [&](const nlohmann::json& call) {
        const auto method = call.find("method");  // end() when not an object
        if (method == call.end() || !method->is_string()) return;
        const auto params = call.find("params");
        state.recorded.push_back(
            {method->get<std::string>(), params == call.end() ? "" : params->dump(), at});
    };
    if (json.is_array()) {
        for (const auto& call : json) add(call);
    } else {
        add(json);
    }
}

std::string http_response(std::string_view status, std::string_view extra_headers,
                          std::string_view content_type, std::string_view body,
                          std::size_t declared_length) {
    std::string out = "HTTP/1.1 ";
    out += status;
    out += "\r\nContent-Type: ";
    out += content_type;
    out += "\r\nContent-Length: " + std::to_string(declared_length) + "\r\n";
    out += extra_headers;
    out += "\r\n";
    out += body;
    return out;
}

std::string full_response(std::string_view status, std::string_view extra_headers,
                          std::string_view content_type, std::string_view body) {
    return http_response(status, extra_headers, content_type, body, body.size());
}

// One client connection and its upstream connection. Asio coroutines start lazily, when
// the caller's shared_ptr may already be gone, so each one takes a Ref parameter: the
// frame's copy keeps the session alive until the coroutine ends.
class Session : public std::enable_shared_from_this<Session> {
public:
    using Ref = std::shared_ptr<Session>;

    Session(ProxyState& state, tcp::socket client)
        : state_(state),
          client_(std::move(client)),
          upstream_(client_.get_executor()),
          to_client_{client_, net::steady_timer(client_.get_executor()), {}},
          to_upstream_{upstream_, net::steady_timer(client_.get_executor()), {}} {}

    // Connects to the upstream, then pumps both directions until both sides end or one fails.
    Task<void> run(Ref /*keep_alive*/) {
        boost::system::error_code ec;
        co_await upstream_.async_connect(state_.upstream,
                                         net::redirect_error(net::use_awaitable, ec));
        if (ec || closed_) {
            close();
            co_return;
        }
        const auto ex = client_.get_executor();
        net::co_spawn(ex, read_client(shared_from_this()), net::detached);
        net::co_spawn(ex, read_upstream(shared_from_this()), net::detached);
        net::co_spawn(ex, write_loop(to_client_, shared_from_this()), net::detached);
        net::co_spawn(ex, write_loop(to_upstream_, shared_from_this()), net::detached);
    }

    void close() {
        if (closed_) return;
        closed_ = true;
        boost::system::error_code ignored;
        for (Sink* sink : {&to_client_, &to_upstream_}) {
            sink->timer.cancel();
            sink->queue.clear();
            sink->socket.shutdown(tcp::socket::shutdown_both, ignored);
            sink->socket.close(ignored);
        }
    }

    // Makes the writers look at the queue again (the stall was lifted).
    void wake() {
        to_client_.timer.cancel();
        to_upstream_.timer.cancel();
    }

private:
    struct Sink {
        tcp::socket& socket;
        net::steady_timer timer;  // the writer waits on it for a chunk, its due time, or a wake
        std::deque<Chunk> queue;
    };
    enum class Mode { undecided, http, opaque };

    void push(Sink& sink, std::string bytes, Then then = Then::keep_open,
              std::vector<std::string> methods = {}) {
        sink.queue.push_back(
            Chunk{Clock::now() + state_.delay, std::move(bytes), std::move(methods), then});
        sink.timer.cancel();
    }

    Task<void> write_loop(Sink& sink, Ref /*keep_alive*/) {
        while (!closed_) {
            const bool held = sink.queue.empty() || state_.stall;
            if (held || sink.queue.front().due > Clock::now()) {
                sink.timer.expires_at(held ? Clock::time_point::max() : sink.queue.front().due);
                boost::system::error_code ignored;  // expiry and cancellation both mean: look again
                co_await sink.timer.async_wait(net::redirect_error(net::use_awaitable, ignored));
                continue;
            }
            Chunk chunk = std::move(sink.queue.front());
            sink.queue.pop_front();
            if (!chunk.bytes.empty()) {
                boost::system::error_code ec;
                co_await net::async_write(sink.socket, net::buffer(chunk.bytes),
                                          net::redirect_error(net::use_awaitable, ec));
                if (ec || closed_) {
                    close();
                    co_return;
                }
            }
            for (const auto& method : chunk.methods) ++state_.forwarded[method];
            if (state_.recording && !chunk.methods.empty())
                record_calls(state_, chunk.bytes, Clock::now());
            if (chunk.then == Then::close_both) {
                close();
            } else if (chunk.then == Then::shutdown_send) {
                // The sender finished; pass its FIN on and close once both directions have.
                boost::system::error_code ignored;
                sink.socket.shutdown(tcp::socket::shutdown_send, ignored);
                if (++directions_done_ == 2) close();
                co_return;
            }
        }
    }

    Task<void> read_upstream(Ref /*keep_alive*/) {
        std::string buffer(kReadChunk, '\0');
        for (;;) {
            boost::system::error_code ec;
            const std::size_t n = co_await upstream_.async_read_some(
                net::buffer(buffer), net::redirect_error(net::use_awaitable, ec));
            if (closed_) co_return;
            if (ec == net::error::eof) {
                push(to_client_, {}, Then::shutdown_send);
                co_return;
            }
            if (ec) {
                close();
                co_return;
            }
            push(to_client_, buffer.substr(0, n));
        }
    }

    Task<void> read_client(Ref /*keep_alive*/) {
        std::string buffer(kReadChunk, '\0');
        for (;;) {
            boost::system::error_code ec;
            const std::size_t n = co_await client_.async_read_some(
                net::buffer(buffer), net::redirect_error(net::use_awaitable, ec));
            if (closed_) co_return;
            if (ec == net::error::eof && !discard_client_) {
                // A request cut short by the client's FIN goes on as it is.
                push(to_upstream_, std::move(inbox_), Then::shutdown_send);
                co_return;
            }
            if (ec) {
                close();
                co_return;
            }
            if (discard_client_) continue;
            if (mode_ == Mode::opaque) {
                push(to_upstream_, buffer.substr(0, n));
                continue;
            }
            inbox_.append(buffer, 0, n);
            take_requests();
        }
    }

    // Frames the complete requests in inbox_ and forwards or answers each one.
    void take_requests() {
        while (!discard_client_ && mode_ != Mode::opaque) {
            if (mode_ == Mode::undecided) {
                const Verdict verdict = classify(inbox_);
                if (verdict == Verdict::need_more) return;
                mode_ = verdict == Verdict::http ? Mode::http : Mode::opaque;
                continue;
            }
            const std::size_t head_end = inbox_.find("\r\n\r\n");
            if (head_end == std::string::npos) {
                if (inbox_.size() > kMaxHead) mode_ = Mode::opaque;
                return;
            }
            const auto length = body_length(std::string_view(inbox_).substr(0, head_end));
            if (!length) {
                mode_ = Mode::opaque;
                continue;
            }
            const std::size_t total = head_end + 4 + *length;
            if (inbox_.size() < total) return;
            std::string request = inbox_.substr(0, total);
            inbox_.erase(0, total);
            on_request(std::move(request), head_end + 4);
        }
        // Bytes that will not be framed any more go on as they are.
        if (mode_ == Mode::opaque && !inbox_.empty() && !discard_client_)
            push(to_upstream_, std::move(inbox_));
        inbox_.clear();
    }

    void on_request(std::string request, std::size_t body_offset) {
        auto methods = rpc_methods(std::string_view(request).substr(body_offset));
        for (const auto& method : methods) ++state_.received[method];
        if (state_.faults.empty()) {
            push(to_upstream_, std::move(request), Then::keep_open, std::move(methods));
            return;
        }
        const HttpFault fault = state_.faults.front();
        state_.faults.pop_front();
        answer(fault);
    }

    void answer(HttpFault fault) {
        switch (fault) {
            case HttpFault::status_429:
                push(
                    to_client_,
                    full_response("429 Too Many Requests", "Retry-After: 1\r\n", "application/json",
                                  R"({"jsonrpc":"2.0","id":null,"error":{"code":-32005,)"
                                  R"("message":"rate limited by fault proxy"}})"));
                return;
            case HttpFault::status_500:
                push(to_client_, full_response("500 Internal Server Error", "", "text/plain",
                                               "internal error"));
                return;
            case HttpFault::status_503:
                push(to_client_, full_response("503 Service Unavailable", "", "text/plain",
                                               "service unavailable"));
                return;
            case HttpFault::garbage_body:
                push(to_client_,
                     full_response("200 OK", "", "application/json", "<html>not json</html>"));
                return;
            case HttpFault::half_body: {
                const std::string_view sent = R"({"jsonrpc":"2.0","id":1,"result":"0x)";
                push(to_client_,
                     http_response("200 OK", "", "application/json", sent, 2 * sent.size()),
                     Then::close_both);
                discard_client_ = true;
                return;
            }
            case HttpFault::hang:
                // The connection stays open; what the client sends next is read and dropped,
                // so that its close is still noticed.
                discard_client_ = true;
                return;
            case HttpFault::close_without_response:
                // Through the queue, so that a reply still held (delay) is not overtaken.
                push(to_client_, {}, Then::close_both);
                discard_client_ = true;
                return;
        }
    }

    ProxyState& state_;
    tcp::socket client_;
    tcp::socket upstream_;
    Sink to_client_;
    Sink to_upstream_;
    Mode mode_ = Mode::undecided;
    std::string inbox_;            // client bytes not yet framed into a request
    bool discard_client_ = false;  // a fault ended the exchange: client bytes are dropped
    int directions_done_ = 0;      // directions whose FIN has been passed on
    bool closed_ = false;
};

}  // namespace

struct FaultProxy::Impl {
    explicit Impl(unsigned short upstream_port) : work(ioc.get_executor()) {
        state.upstream = tcp::endpoint(net::ip::address_v4::loopback(), upstream_port);
        listen(0);
        thread = std::thread([this] { ioc.run(); });
    }

    ~Impl() {
        run_here([this] {
            stop_listening();
            for_each_session([](Session& s) { s.close(); });
        });
        // Coroutine frames still suspended are destroyed with ioc; none touches `this`.
        work.reset();
        ioc.stop();
        thread.join();
    }

    // Runs fn on the proxy's thread and returns its result (or rethrows its exception).
    template <class F>
    auto run_here(F fn) -> decltype(fn()) {
        std::packaged_task<decltype(fn())()> task(std::move(fn));
        auto result = task.get_future();
        net::post(ioc, std::move(task));
        return result.get();
    }

    // Binds 127.0.0.1:port (0 picks a free one) and starts accepting on it; throws
    // std::system_error and stays not listening if the port cannot be bound.
    void listen(unsigned short port) {
        // A fresh acceptor per listen: a loop still holding the previous, closed one ends
        // on its own instead of accepting alongside the new loop.
        auto fresh = std::make_shared<tcp::acceptor>(ioc);
        const tcp::endpoint endpoint(net::ip::address_v4::loopback(), port);
        fresh->open(endpoint.protocol());
        fresh->set_option(tcp::acceptor::reuse_address(true));
        fresh->bind(endpoint);
        fresh->listen();
        this->port = fresh->local_endpoint().port();
        acceptor = fresh;
        net::co_spawn(ioc, accept_loop(std::move(fresh)), net::detached);
    }

    void stop_listening() {
        if (!acceptor) return;
        boost::system::error_code ignored;
        acceptor->close(ignored);
        acceptor.reset();
    }

    Task<void> accept_loop(std::shared_ptr<tcp::acceptor> listener) {
        for (;;) {
            tcp::socket socket(ioc);
            boost::system::error_code ec;
            co_await listener->async_accept(socket, net::redirect_error(net::use_awaitable, ec));
            // Closed by set_listening(false) or the destructor; any other accept error
            // also stops listening rather than retrying in a tight loop.
            if (ec) co_return;
            ++state.accepted;
            if (state.refuse) continue;  // `socket` closes as it goes out of scope
            std::erase_if(sessions, [](const auto& s) { return s.expired(); });
            auto session = std::make_shared<Session>(state, std::move(socket));
            sessions.push_back(session);
            net::co_spawn(ioc, session->run(session), net::detached);
        }
    }

    template <class F>
    void for_each_session(F fn) {
        for (const auto& weak : sessions)
            if (auto session = weak.lock()) fn(*session);
    }

    net::io_context ioc;
    net::executor_work_guard<net::io_context::executor_type> work;
    ProxyState state;
    std::shared_ptr<tcp::acceptor> acceptor;  // null while not listening
    std::vector<std::weak_ptr<Session>> sessions;
    unsigned short port = 0;
    std::thread thread;  // last: it starts once everything above exists
};

FaultProxy::FaultProxy(unsigned short upstream_port)
    : impl_(std::make_unique<Impl>(upstream_port)), port_(impl_->port) {}

FaultProxy::~FaultProxy() = default;

void FaultProxy::cut() {
    impl_->run_here([this] { impl_->for_each_session([](Session& s) { s.close(); }); });
}

void FaultProxy::set_refuse(bool on) {
    impl_->run_here([this, on] { impl_->state.refuse = on; });
}

void FaultProxy::set_listening(bool on) {
    impl_->run_here([this, on] {
        if (!on) {
            impl_->stop_listening();
        } else if (!impl_->acceptor) {
            impl_->listen(port_);
        }
    });
}

void FaultProxy::set_stall(bool on) {
    impl_->run_here([this, on] {
        impl_->state.stall = on;
        if (!on) impl_->for_each_session([](Session& s) { s.wake(); });
    });
}

void FaultProxy::set_delay(std::chrono::milliseconds delay) {
    impl_->run_here([this, delay] { impl_->state.delay = delay; });
}

void FaultProxy::inject(HttpFault fault, int count) {
    assert(count > 0);
    impl_->run_here([this, fault, count] {
        impl_->state.faults.insert(impl_->state.faults.end(), count, fault);
    });
}

std::size_t FaultProxy::pending_faults() {
    return impl_->run_here([this] { return impl_->state.faults.size(); });
}

std::size_t FaultProxy::forwarded(std::string_view method) {
    return impl_->run_here([this, method] { return count_of(impl_->state.forwarded, method); });
}

std::size_t FaultProxy::received(std::string_view method) {
    return impl_->run_here([this, method] { return count_of(impl_->state.received, method); });
}

void FaultProxy::set_recording(bool on) {
    impl_->run_here([this, on] { impl_->state.recording = on; });
}

std::vector<FaultProxy::ForwardedCall> FaultProxy::take_recorded() {
    return impl_->run_here([this] { return std::exchange(impl_->state.recorded, {}); });
}

std::size_t FaultProxy::connections_accepted() {
    return impl_->run_here([this] { return impl_->state.accepted; });
}

}  // namespace vigil::test
