#include "tests/support/fault_proxy.hpp"

#include "chain/asio.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <cassert>
#include <charconv>
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
// A websocket frame larger than this is not parsed (anvil's answers are far smaller): the
// connection becomes opaque rather than buffering it.
constexpr std::size_t kMaxFrame = 64 * 1024 * 1024;

// What a writer does once a chunk is on the wire.
enum class Then { keep_open, shutdown_send, close_both };

struct Chunk {
    Clock::time_point due;
    std::string bytes;
    std::vector<std::string> methods;  // JSON-RPC calls in `bytes`, counted once written
    Then then = Then::keep_open;
};

// One JSON-RPC call a lie may answer, kept by the JSON text of its id until answered.
struct Call {
    std::string method;
    nlohmann::json params;
};
using CallsById = std::map<std::string, Call, std::less<>>;

// One lie: told in the next `times` answers it can change, with `value` (an id, a count).
struct Lie {
    std::size_t times = 0;
    uint64_t value = 0;

    // Whether to tell it now; uses one of its times.
    bool spend() {
        if (times == 0) return false;
        if (times != FaultProxy::kAlways) --times;
        return true;
    }
};

std::string quantity(uint64_t n) {
    std::array<char, 16> digits{};
    const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), n, 16).ptr;
    return "0x" + std::string(digits.data(), end);
}

std::optional<uint64_t> parse_quantity(const nlohmann::json& value) {
    if (!value.is_string()) return std::nullopt;
    const auto& text = value.get_ref<const std::string&>();
    if (text.size() < 3 || text[0] != '0' || text[1] != 'x') return std::nullopt;
    uint64_t n = 0;
    const auto [end, ec] = std::from_chars(text.data() + 2, text.data() + text.size(), n, 16);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return n;
}

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
    Lie pending_count;  // value: added to the count
    Lie chain_id;       // value: the id answered
    Lie receipt;
    Counts lies_told;

    // `body` (an answer or a batch of answers) with the lies told in the answers to
    // `calls`; nullopt when none was. Every answered call leaves `calls`.
    std::optional<std::string> rewrite(std::string_view body, CallsById& calls) {
        if (calls.empty()) return std::nullopt;
        auto json = nlohmann::json::parse(body, nullptr, false);
        bool told = false;
        const auto answer = [&](nlohmann::json& item) {
            if (!item.is_object() || !item.contains("id")) return;
            const auto call = calls.find(item["id"].dump());
            if (call == calls.end()) return;
            const Call asked = std::move(call->second);
            calls.erase(call);
            const auto result = item.find("result");
            if (result != item.end() && lie_in(asked, *result)) {
                ++lies_told[asked.method];
                told = true;
            }
        };
        if (json.is_array()) {
            for (auto& item : json) answer(item);
        } else {
            answer(json);
        }
        return told ? std::optional(json.dump()) : std::nullopt;
    }

    // Tells the lie about `call`, if one is on, in its `result`; true if it did.
    bool lie_in(const Call& call, nlohmann::json& result) {
        if (call.method == "eth_chainId") {
            if (!result.is_string() || !chain_id.spend()) return false;
            result = quantity(chain_id.value);
            return true;
        }
        if (call.method == "eth_getTransactionCount") {
            const auto count = parse_quantity(result);
            const bool of_pending =
                call.params.is_array() && call.params.size() == 2 && call.params[1] == "pending";
            if (!count || !of_pending || !pending_count.spend()) return false;
            result = quantity(*count + pending_count.value);
            return true;
        }
        if (call.method == "eth_getTransactionReceipt") {
            if (!result.is_object()) return false;
            const auto hash = result.find("transactionHash");
            if (hash == result.end() || !hash->is_string() ||
                hash->get_ref<const std::string&>().size() < 3 || !receipt.spend())
                return false;
            std::string other = hash->get<std::string>();
            other.back() = other.back() == '0' ? '1' : '0';
            *hash = other;
            return true;
        }
        return false;
    }
};

std::size_t count_of(const Counts& counts, std::string_view method) {
    const auto it = counts.find(method);
    return it == counts.end() ? 0 : it->second;
}

bool is_liable(std::string_view method) {
    return method == "eth_chainId" || method == "eth_getTransactionCount" ||
           method == "eth_getTransactionReceipt";
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

// The value of header `name` in `head` (start line + headers, without the blank line).
std::optional<std::string_view> header(std::string_view head, std::string_view name) {
    std::size_t line_start = head.find("\r\n");
    while (line_start != std::string_view::npos) {
        line_start += 2;
        const std::size_t line_end = head.find("\r\n", line_start);
        const std::string_view line = head.substr(line_start, line_end - line_start);
        line_start = line_end;
        const std::size_t colon = line.find(':');
        if (colon != std::string_view::npos && iequals(trim(line.substr(0, colon)), name))
            return trim(line.substr(colon + 1));
    }
    return std::nullopt;
}

// Body length of a message whose head is `head`, from its Content-Length (none: 0);
// nullopt when it cannot be framed here: a Transfer-Encoding or an unreadable
// Content-Length would need a full HTTP parser.
std::optional<std::size_t> body_length(std::string_view head) {
    if (header(head, "transfer-encoding")) return std::nullopt;
    const auto value = header(head, "content-length");
    if (!value) return 0;
    if (value->empty() || value->size() > 12) return std::nullopt;
    std::size_t length = 0;
    for (const char c : *value) {
        if (c < '0' || c > '9') return std::nullopt;
        length = length * 10 + static_cast<std::size_t>(c - '0');
    }
    return length;
}

// The status code of a response head ("HTTP/1.1 200 OK"); 0 when unreadable.
int status_code(std::string_view head) {
    if (head.size() < 12 || head.substr(0, 5) != "HTTP/") return 0;
    int code = 0;
    const auto digits = head.substr(9, 3);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), code);
    return ec == std::errc() && end == digits.data() + digits.size() ? code : 0;
}

// Body length of a final (not 1xx) response; nullopt when it cannot be framed here.
std::optional<std::size_t> response_length(std::string_view head) {
    const int status = status_code(head);
    if (status == 204 || status == 304) return 0;
    // Without Content-Length the body runs to the close; a compressed body cannot be read.
    if (status == 0 || !header(head, "content-length") || header(head, "content-encoding"))
        return std::nullopt;
    return body_length(head);
}

// `head` (without the blank line) and `body`, with Content-Length set to the body's size.
std::string with_body(std::string_view head, std::string_view body) {
    std::string out;
    std::size_t line_start = 0;
    while (line_start != std::string_view::npos) {
        const std::size_t line_end = head.find("\r\n", line_start);
        const std::string_view line = head.substr(line_start, line_end - line_start);
        const std::size_t colon = line.find(':');
        if (colon != std::string_view::npos &&
            iequals(trim(line.substr(0, colon)), "content-length"))
            out += "Content-Length: " + std::to_string(body.size());
        else
            out += line;
        out += "\r\n";
        line_start = line_end == std::string_view::npos ? line_end : line_end + 2;
    }
    out += "\r\n";
    out += body;
    return out;
}

// The calls in a JSON-RPC request or batch, in order; nothing for other bodies.
std::vector<std::pair<std::string, Call>> rpc_calls(std::string_view body) {
    std::vector<std::pair<std::string, Call>> calls;
    const auto json = nlohmann::json::parse(body, nullptr, false);
    const auto add = [&](const nlohmann::json& call) {
        if (!call.is_object()) return;
        const auto method = call.find("method");
        if (method == call.end() || !method->is_string()) return;
        const auto id = call.find("id");
        const auto params = call.find("params");
        calls.emplace_back(
            id == call.end() ? std::string() : id->dump(),
            Call{method->get<std::string>(), params == call.end() ? nlohmann::json() : *params});
    };
    if (json.is_array()) {
        for (const auto& call : json) add(call);
    } else {
        add(json);
    }
    return calls;
}

// Adds the calls a lie may answer (with an id) to `calls`.
void keep_liable(const std::vector<std::pair<std::string, Call>>& sent, CallsById& calls) {
    for (const auto& [id, call] : sent)
        if (!id.empty() && is_liable(call.method)) calls.insert_or_assign(id, call);
}

// One websocket frame (RFC 6455 §5.2) at the start of a buffer.
struct Frame {
    bool fin = false;
    bool reserved = false;  // RSV1-3: an extension (permessage-deflate) changed the payload
    uint8_t opcode = 0;
    bool masked = false;
    std::array<uint8_t, 4> mask{};
    std::size_t header_size = 0;
    std::size_t payload_size = 0;

    std::size_t size() const { return header_size + payload_size; }
    bool plain_text() const { return fin && !reserved && opcode == 1; }
    // The payload of the frame at the start of `bytes`, unmasked.
    std::string payload(std::string_view bytes) const {
        std::string out(bytes.substr(header_size, payload_size));
        if (masked)
            for (std::size_t i = 0; i < out.size(); ++i)
                out[i] = static_cast<char>(static_cast<uint8_t>(out[i]) ^ mask[i % 4]);
        return out;
    }
};

enum class FrameRead { complete, need_more, too_large };

FrameRead read_frame(std::string_view bytes, Frame& f) {
    if (bytes.size() < 2) return FrameRead::need_more;
    const auto byte = [&](std::size_t i) { return static_cast<uint8_t>(bytes[i]); };
    f.fin = (byte(0) & 0x80) != 0;
    f.reserved = (byte(0) & 0x70) != 0;
    f.opcode = byte(0) & 0x0f;
    f.masked = (byte(1) & 0x80) != 0;
    uint64_t length = byte(1) & 0x7f;
    std::size_t at = 2;
    const std::size_t extra = length == 126 ? 2 : length == 127 ? 8 : 0;
    if (bytes.size() < at + extra + (f.masked ? 4 : 0)) return FrameRead::need_more;
    if (extra > 0) {
        length = 0;
        for (std::size_t i = 0; i < extra; ++i) length = length << 8 | byte(at + i);
        at += extra;
    }
    if (length > kMaxFrame) return FrameRead::too_large;
    if (f.masked) {
        for (std::size_t i = 0; i < 4; ++i) f.mask[i] = byte(at + i);
        at += 4;
    }
    f.header_size = at;
    f.payload_size = static_cast<std::size_t>(length);
    return bytes.size() < f.size() ? FrameRead::need_more : FrameRead::complete;
}

// An unmasked, final text frame (what a server sends) holding `payload`.
std::string text_frame(std::string_view payload) {
    std::string out(1, '\x81');
    if (payload.size() < 126) {
        out += static_cast<char>(payload.size());
    } else if (payload.size() <= 0xffff) {
        out += static_cast<char>(126);
        for (int shift = 8; shift >= 0; shift -= 8)
            out += static_cast<char>(payload.size() >> shift & 0xff);
    } else {
        out += static_cast<char>(127);
        for (int shift = 56; shift >= 0; shift -= 8)
            out += static_cast<char>(static_cast<uint64_t>(payload.size()) >> shift & 0xff);
    }
    out += payload;
    return out;
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
    // What the client's bytes are; the upstream's follow: HTTP responses (framed while the
    // client is http), then websocket frames once it answered an upgrade with 101.
    enum class Mode { undecided, http, websocket, opaque };

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
                // A response cut short by the upstream's FIN goes on as it is.
                push(to_client_, std::move(from_upstream_), Then::shutdown_send);
                co_return;
            }
            if (ec) {
                close();
                co_return;
            }
            if (mode_ == Mode::undecided || mode_ == Mode::opaque) {
                push(to_client_, buffer.substr(0, n));
                continue;
            }
            from_upstream_.append(buffer, 0, n);
            if (upstream_websocket_)
                take_upstream_frames();
            else
                take_responses();
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
            if (mode_ == Mode::websocket)
                take_client_frames();
            else
                take_requests();
        }
    }

    // Frames the complete requests in inbox_ and forwards or answers each one.
    void take_requests() {
        while (!discard_client_ && mode_ != Mode::opaque) {
            if (mode_ == Mode::undecided) {
                const Verdict verdict = classify(inbox_);
                if (verdict == Verdict::need_more) return;
                if (verdict == Verdict::opaque) return go_opaque();
                mode_ = Mode::http;
                continue;
            }
            const std::size_t head_end = inbox_.find("\r\n\r\n");
            if (head_end == std::string::npos) {
                if (inbox_.size() > kMaxHead) go_opaque();
                return;
            }
            const std::string_view head = std::string_view(inbox_).substr(0, head_end);
            const auto length = body_length(head);
            if (!length) return go_opaque();
            const std::size_t total = head_end + 4 + *length;
            if (inbox_.size() < total) return;
            if (header(head, "upgrade")) {
                // A websocket handshake: what follows it is frames, never faulted.
                push(to_upstream_, inbox_.substr(0, total));
                inbox_.erase(0, total);
                exchanges_.emplace_back();
                mode_ = Mode::websocket;
                take_client_frames();
                return;
            }
            std::string request = inbox_.substr(0, total);
            inbox_.erase(0, total);
            on_request(std::move(request), head_end + 4);
        }
        if (discard_client_) inbox_.clear();
    }

    // From now on bytes pass as they are, both ways; what was held goes on first.
    void go_opaque() {
        mode_ = Mode::opaque;
        if (!inbox_.empty() && !discard_client_) push(to_upstream_, std::move(inbox_));
        inbox_.clear();
        if (!from_upstream_.empty()) push(to_client_, std::move(from_upstream_));
        from_upstream_.clear();
    }

    void on_request(std::string request, std::size_t body_offset) {
        const auto calls = rpc_calls(std::string_view(request).substr(body_offset));
        std::vector<std::string> methods;
        for (const auto& [id, call] : calls) methods.push_back(call.method);
        for (const auto& method : methods) ++state_.received[method];
        if (state_.faults.empty()) {
            keep_liable(calls, exchanges_.emplace_back());
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

    // Frames the complete responses in from_upstream_ and forwards each one, with the
    // lies told in the answers to its request's calls.
    void take_responses() {
        while (mode_ != Mode::opaque && !upstream_websocket_) {
            const std::size_t head_end = from_upstream_.find("\r\n\r\n");
            if (head_end == std::string::npos) {
                if (from_upstream_.size() > kMaxHead) go_opaque();
                return;
            }
            const std::string_view head = std::string_view(from_upstream_).substr(0, head_end);
            const int status = status_code(head);
            if (status >= 100 && status < 200) {
                // 101 ends the handshake; any other 1xx comes before the real answer.
                if (status == 101) {
                    upstream_websocket_ = true;
                    if (!exchanges_.empty()) exchanges_.pop_front();
                }
                push(to_client_, from_upstream_.substr(0, head_end + 4));
                from_upstream_.erase(0, head_end + 4);
                continue;
            }
            const auto length = response_length(head);
            if (!length) return go_opaque();
            const std::size_t total = head_end + 4 + *length;
            if (from_upstream_.size() < total) return;
            std::string response = from_upstream_.substr(0, total);
            from_upstream_.erase(0, total);
            if (!exchanges_.empty()) {
                const auto lied = state_.rewrite(std::string_view(response).substr(head_end + 4),
                                                 exchanges_.front());
                if (lied)
                    response = with_body(std::string_view(response).substr(0, head_end), *lied);
                exchanges_.pop_front();
            }
            push(to_client_, std::move(response));
        }
        if (upstream_websocket_) take_upstream_frames();
    }

    // Forwards the client's complete websocket frames in inbox_, keeping the calls a lie
    // may answer.
    void take_client_frames() {
        for (;;) {
            Frame frame;
            const FrameRead read = read_frame(inbox_, frame);
            if (read == FrameRead::too_large) return go_opaque();
            if (read == FrameRead::need_more) return;
            if (frame.plain_text()) keep_liable(rpc_calls(frame.payload(inbox_)), ws_calls_);
            push(to_upstream_, inbox_.substr(0, frame.size()));
            inbox_.erase(0, frame.size());
        }
    }

    // Forwards the upstream's complete websocket frames, with the lies told in answers.
    void take_upstream_frames() {
        for (;;) {
            Frame frame;
            const FrameRead read = read_frame(from_upstream_, frame);
            if (read == FrameRead::too_large) return go_opaque();
            if (read == FrameRead::need_more) return;
            std::optional<std::string> lied;
            if (frame.plain_text() && !frame.masked)
                lied = state_.rewrite(frame.payload(from_upstream_), ws_calls_);
            push(to_client_, lied ? text_frame(*lied) : from_upstream_.substr(0, frame.size()));
            from_upstream_.erase(0, frame.size());
        }
    }

    ProxyState& state_;
    tcp::socket client_;
    tcp::socket upstream_;
    Sink to_client_;
    Sink to_upstream_;
    Mode mode_ = Mode::undecided;
    std::string inbox_;                // client bytes not yet framed into a request or frame
    std::string from_upstream_;        // upstream bytes not yet framed into a response or frame
    bool upstream_websocket_ = false;  // the upstream accepted an upgrade: it sends frames
    std::deque<CallsById> exchanges_;  // per request forwarded, its calls a lie may answer
    CallsById ws_calls_;               // calls sent on the websocket, until answered
    bool discard_client_ = false;      // a fault ended the exchange: client bytes are dropped
    int directions_done_ = 0;          // directions whose FIN has been passed on
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

void FaultProxy::inflate_pending_count(uint64_t by, std::size_t times) {
    assert(times > 0);
    impl_->run_here([this, by, times] { impl_->state.pending_count = Lie{times, by}; });
}

void FaultProxy::lie_chain_id(uint64_t chain_id, std::size_t times) {
    assert(times > 0);
    impl_->run_here([this, chain_id, times] { impl_->state.chain_id = Lie{times, chain_id}; });
}

void FaultProxy::lie_receipt(std::size_t times) {
    assert(times > 0);
    impl_->run_here([this, times] { impl_->state.receipt = Lie{times, 0}; });
}

void FaultProxy::stop_lying() {
    impl_->run_here([this] {
        auto& state = impl_->state;
        state.pending_count = state.chain_id = state.receipt = Lie{};
    });
}

std::size_t FaultProxy::lies_told(std::string_view method) {
    return impl_->run_here([this, method] { return count_of(impl_->state.lies_told, method); });
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
