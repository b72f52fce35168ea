#include "chain/ws_transport.hpp"

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cassert>
#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <nlohmann/json.hpp>

#include "chain/json_rpc.hpp"

namespace vigil::rpc {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

struct WsUrl {
    bool tls = false;
    std::string host;  ///< without IPv6 brackets
    std::string port;
    bool default_port = true;
    std::string target;    ///< path and query, at least "/"
    std::string userinfo;  ///< "user:pass" for Basic auth, empty when absent
};

Result<WsUrl, std::string> parse_ws_url(std::string_view url) {
    WsUrl out;
    if (url.starts_with("wss://")) {
        out.tls = true;
        url.remove_prefix(6);
    } else if (url.starts_with("ws://")) {
        url.remove_prefix(5);
    } else {
        return unexpected(std::string("scheme must be ws:// or wss://"));
    }
    const std::size_t path_at = url.find_first_of("/?");
    std::string_view authority = url.substr(0, path_at);
    out.target = path_at == std::string_view::npos ? "/" : std::string(url.substr(path_at));
    if (out.target.front() == '?') out.target.insert(0, "/");
    if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
        out.userinfo = authority.substr(0, at);
        authority.remove_prefix(at + 1);
    }
    std::string_view port;
    if (authority.starts_with('[')) {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos) return unexpected(std::string("unclosed '[' in host"));
        out.host = authority.substr(1, close - 1);
        std::string_view rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return unexpected(std::string("junk after ']' in host"));
            port = rest.substr(1);
        }
    } else if (const std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
        out.host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    } else {
        out.host = authority;
    }
    if (out.host.empty()) return unexpected(std::string("no host"));
    if (port.empty()) {
        out.port = out.tls ? "443" : "80";
    } else {
        const bool digits = port.size() <= 5 && std::all_of(port.begin(), port.end(), [](char c) {
                                return c >= '0' && c <= '9';
                            });
        if (!digits || std::stoul(std::string(port)) > 65535) {
            return unexpected("bad port '" + std::string(port) + "'");
        }
        out.port = port;
        out.default_port = false;
    }
    return out;
}

std::string bracketed(const std::string& host) {
    return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

std::string mask_url(std::string_view url) {
    auto parsed = parse_ws_url(url);
    if (!parsed) return "<bad URL>";  // never echo text that may hold a key
    std::string out = parsed->tls ? "wss://" : "ws://";
    out += bracketed(parsed->host);
    if (!parsed->default_port) out += ":" + parsed->port;
    if (parsed->target != "/") out += "/***";
    return out;
}

std::string basic_auth(const std::string& userinfo) {
    std::string encoded(4 * ((userinfo.size() + 2) / 3), '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                  reinterpret_cast<const unsigned char*>(userinfo.data()),
                                  static_cast<int>(userinfo.size()));
    encoded.resize(static_cast<std::size_t>(n));
    return "Basic " + encoded;
}

Failure failure(Errc kind, const std::string& endpoint, std::string detail) {
    return Failure{kind, endpoint, {}, 0, std::nullopt, std::move(detail)};
}

/// The ids a request body carries: one for an object, one per element for a batch.
/// Bodies come from our own Provider (make_request / make_batch): a body without
/// integer ids is a bug of the caller.
std::vector<uint64_t> request_ids(std::string_view body) {
    std::vector<uint64_t> ids;
    const std::size_t first = body.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && body[first] == '[') {
        // Batches are rare on a websocket; the DOM parser is simpler than a second scanner.
        const auto batch = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
        if (batch.is_array()) {
            for (const auto& call : batch) {
                const auto id = call.find("id");
                if (id != call.end() && id->is_number_unsigned())
                    ids.push_back(id->get<uint64_t>());
            }
        }
    } else if (auto env = read_message(body); env && env->id) {
        ids.push_back(*env->id);
    }
    assert(!ids.empty() && "request bodies must carry integer ids");
    return ids;
}

/// A JSON string without escapes (subscription ids are hex or alphanumeric), unquoted.
std::optional<std::string> plain_json_string(std::string_view json) {
    if (json.size() < 2 || json.front() != '"' || json.back() != '"') return std::nullopt;
    json = json.substr(1, json.size() - 2);
    if (json.find_first_of("\"\\") != std::string_view::npos) return std::nullopt;
    return std::string(json);
}

}  // namespace

/// One websocket connection: the stream, the requests waiting on it, its subscriptions,
/// the write queue and the read loop. Shared by the coroutines that use it, so a late
/// completion after the transport moved on (or was destroyed) touches only this.
class WsTransport::Session : public std::enable_shared_from_this<Session> {
public:
    using PlainWs = websocket::stream<beast::tcp_stream>;
    using TlsWs = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

    /// A request in flight. `timer` is its deadline and its wake-up: the read loop (or a
    /// failing connection) fills `outcome` and cancels it.
    struct Pending {
        explicit Pending(const net::any_io_executor& ex) : timer(ex) {}
        net::steady_timer timer;
        std::vector<uint64_t> ids;
        /// The response text; for eth_subscribe, the subscription id instead.
        std::optional<Result<std::string, Failure>> outcome;
        /// Set for eth_subscribe: registered by the read loop as the answer is read, so
        /// that no notification after it can arrive before its handler.
        NotificationHandler subscriber;
    };

    Session(net::any_io_executor ex, std::string endpoint, std::shared_ptr<ssl::context> tls)
        : executor_(ex),
          endpoint_(std::move(endpoint)),
          tls_context_(std::move(tls)),
          resolver_(ex),
          deadline_(ex) {
        if (tls_context_) {
            tls_.emplace(ex, *tls_context_);
        } else {
            plain_.emplace(ex);
        }
    }

    beast::tcp_stream& lowest_layer() {
        return tls_ ? beast::get_lowest_layer(*tls_) : beast::get_lowest_layer(*plain_);
    }

    /// Calls f with the websocket stream, whichever kind it is; f returns the same
    /// awaitable type for both.
    template <class F>
    auto with_ws(F&& f) {
        if (tls_) return f(*tls_);
        return f(*plain_);
    }

    const std::string& endpoint() const noexcept { return endpoint_; }
    bool closed() const noexcept { return closed_; }
    Clock::time_point frame_received_at() const noexcept { return frame_received_at_; }
    void set_closed_handler(std::function<void(const Failure&)> h) { on_closed_ = std::move(h); }

    Task<Result<void, Failure>> open(WsUrl url, WsOptions options) {
        auto self = shared_from_this();
        const auto deadline = Clock::now() + options.connect_timeout;
        const auto remaining = [&] {
            return std::max(Clock::duration::zero(), deadline - Clock::now());
        };
        beast::error_code ec;

        // The resolver has no deadline of its own.
        deadline_.expires_at(deadline);
        deadline_.async_wait([self](beast::error_code wait_ec) {
            if (!wait_ec) self->resolver_.cancel();
        });
        auto endpoints = co_await resolver_.async_resolve(
            url.host, url.port, net::redirect_error(net::use_awaitable, ec));
        deadline_.cancel();
        if (ec) co_return unexpected(connect_error("resolve " + url.host, ec, deadline));

        beast::tcp_stream& tcp = lowest_layer();
        tcp.expires_after(remaining());
        co_await tcp.async_connect(endpoints, net::redirect_error(net::use_awaitable, ec));
        if (ec) co_return unexpected(connect_error("tcp connect", ec, deadline));

        if (tls_) {
            // SNI: servers behind one address pick the certificate by name.
            if (!SSL_set_tlsext_host_name(tls_->next_layer().native_handle(), url.host.c_str())) {
                co_return unexpected(
                    failure(Errc::connect_failed, endpoint_, "tls: cannot set SNI"));
            }
            if (options.verify_certificates) {
                tls_->next_layer().set_verify_callback(ssl::host_name_verification(url.host));
            }
            tcp.expires_after(remaining());
            co_await tls_->next_layer().async_handshake(
                ssl::stream_base::client, net::redirect_error(net::use_awaitable, ec));
            if (ec) co_return unexpected(connect_error("tls handshake", ec, deadline));
        }

        // From here the websocket stream keeps the time: the tcp_stream timer must be off.
        tcp.expires_never();
        websocket::stream_base::timeout timeouts{};
        timeouts.handshake_timeout = remaining();
        // Beast pings after one idle period and gives up after a second one.
        timeouts.idle_timeout = options.dead_peer_timeout / 2;
        timeouts.keep_alive_pings = true;
        const std::string host = bracketed(url.host) + (url.default_port ? "" : ":" + url.port);
        const std::string auth = url.userinfo.empty() ? "" : basic_auth(url.userinfo);
        co_await with_ws([&](auto& ws) {
            ws.set_option(timeouts);
            ws.read_message_max(options.max_message_bytes);
            ws.set_option(websocket::stream_base::decorator([auth](websocket::request_type& req) {
                req.set(beast::http::field::user_agent, "vigil");
                if (!auth.empty()) req.set(beast::http::field::authorization, auth);
            }));
            return ws.async_handshake(host, url.target,
                                      net::redirect_error(net::use_awaitable, ec));
        });
        if (ec) co_return unexpected(connect_error("websocket upgrade", ec, deadline));
        co_return Result<void, Failure>{};
    }

    void start_reading() { net::co_spawn(executor_, read_loop(shared_from_this()), net::detached); }

    std::shared_ptr<Pending> expect(std::vector<uint64_t> ids, NotificationHandler subscriber) {
        auto pending = std::make_shared<Pending>(executor_);
        pending->ids = std::move(ids);
        pending->subscriber = std::move(subscriber);
        for (uint64_t id : pending->ids) {
            const bool fresh = pending_.emplace(id, pending).second;
            assert(fresh && "JSON-RPC ids must be unique among requests in flight");
            (void)fresh;
        }
        return pending;
    }

    void forget(const Pending& pending) {
        for (uint64_t id : pending.ids) pending_.erase(id);
    }

    void send(std::string text) {
        outbox_.push_back(std::move(text));
        if (writing_) return;
        writing_ = true;
        net::co_spawn(executor_, write_loop(shared_from_this()), net::detached);
    }

    /// Ends the connection: every request in flight fails with `why`, subscriptions are
    /// dropped, the socket is closed (which ends the read and write loops), and the
    /// owner is told unless it asked for the close itself.
    void fail(const Failure& why, bool report) {
        if (closed_) return;
        closed_ = true;
        auto pending = std::move(pending_);
        pending_.clear();
        for (auto& [id, p] : pending) {
            if (p->outcome) continue;  // a batch: one entry per id
            p->outcome = unexpected(why);
            p->timer.cancel();
        }
        subscriptions_.clear();
        outbox_.clear();
        beast::error_code ignored;
        lowest_layer().socket().shutdown(tcp::socket::shutdown_both, ignored);
        lowest_layer().close();
        deadline_.cancel();
        if (report && on_closed_)
            net::post(executor_, [handler = on_closed_, why] { handler(why); });
    }

private:
    Failure connect_error(const std::string& step, const beast::error_code& ec,
                          Clock::time_point deadline) {
        const bool late = ec == beast::error::timeout || ec == net::error::operation_aborted ||
                          Clock::now() >= deadline;
        return failure(late ? Errc::timeout : Errc::connect_failed, endpoint_,
                       step + ": " + (late ? std::string("deadline passed") : ec.message()));
    }

    Task<void> read_loop([[maybe_unused]] std::shared_ptr<Session> self) {
        beast::flat_buffer buffer;
        for (;;) {
            beast::error_code ec;
            co_await with_ws([&](auto& ws) {
                return ws.async_read(buffer, net::redirect_error(net::use_awaitable, ec));
            });
            if (closed_) co_return;
            if (ec) {
                // beast::error::timeout: the idle ping went unanswered (dead peer).
                const Errc kind =
                    ec == beast::error::timeout ? Errc::timeout : Errc::connection_closed;
                fail(failure(kind, endpoint_, "websocket read: " + ec.message()), true);
                co_return;
            }
            frame_received_at_ = Clock::now();
            const auto data = buffer.cdata();
            dispatch(std::string_view(static_cast<const char*>(data.data()), data.size()));
            buffer.clear();
            if (closed_) co_return;
        }
    }

    Task<void> write_loop([[maybe_unused]] std::shared_ptr<Session> self) {
        while (!outbox_.empty() && !closed_) {
            beast::error_code ec;
            co_await with_ws([&](auto& ws) {
                ws.text(true);
                return ws.async_write(net::buffer(outbox_.front()),
                                      net::redirect_error(net::use_awaitable, ec));
            });
            if (closed_) break;
            if (ec) {
                fail(
                    failure(Errc::connection_closed, endpoint_, "websocket write: " + ec.message()),
                    true);
                break;
            }
            outbox_.pop_front();
        }
        writing_ = false;
    }

    void dispatch(std::string_view text) {
        const std::size_t first = text.find_first_not_of(" \t\r\n");
        if (first != std::string_view::npos && text[first] == '[') return dispatch_batch(text);
        auto env = read_message(text);
        if (!env) {
            // Unreadable framing from the node: nothing in flight can be matched any
            // more, so waiting for deadlines would only hide it.
            fail(failure(Errc::malformed_response, endpoint_, env.error().detail), true);
            return;
        }
        if (env->method == "eth_subscription") return notify(env->params);
        // An answer with a null id (the node could not read a request) names no request:
        // that request ends at its deadline.
        if (env->id) complete(*env->id, text);
    }

    void dispatch_batch(std::string_view text) {
        const auto batch = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (batch.is_array()) {
            for (const auto& answer : batch) {
                const auto id = answer.find("id");
                if (id != answer.end() && id->is_number_unsigned()) {
                    return complete(id->get<uint64_t>(), text);
                }
            }
        }
        fail(failure(Errc::malformed_response, endpoint_, "batch answer without a request id"),
             true);
    }

    void complete(uint64_t id, std::string_view text) {
        const auto it = pending_.find(id);
        if (it == pending_.end()) return;  // it timed out before the answer came
        const std::shared_ptr<Pending> p = it->second;
        forget(*p);
        if (p->subscriber) {
            auto result = read_response(text, id);
            if (!result) {
                p->outcome = unexpected(std::move(result.error()));
            } else if (auto sub = plain_json_string(*result)) {
                subscriptions_[*sub] = std::move(p->subscriber);
                p->outcome = std::move(*sub);
            } else {
                p->outcome = unexpected(
                    failure(Errc::malformed_response, endpoint_, "result: not a subscription id"));
            }
        } else {
            p->outcome = std::string(text);
        }
        p->timer.cancel();
    }

    void notify(std::string_view params) {
        // {"subscription": "0x..", "result": {...}}
        const auto parsed = nlohmann::json::parse(params, nullptr, /*allow_exceptions=*/false);
        if (!parsed.is_object()) return;
        const auto sub = parsed.find("subscription");
        const auto result = parsed.find("result");
        if (sub == parsed.end() || !sub->is_string() || result == parsed.end()) return;
        // Unknown ids are notifications racing an unsubscribe or from an old session.
        const auto it = subscriptions_.find(sub->get_ref<const std::string&>());
        if (it == subscriptions_.end()) return;
        it->second(result->dump());
    }

    net::any_io_executor executor_;
    std::string endpoint_;
    std::shared_ptr<ssl::context> tls_context_;
    std::optional<PlainWs> plain_;
    std::optional<TlsWs> tls_;
    tcp::resolver resolver_;
    net::steady_timer deadline_;

    std::unordered_map<uint64_t, std::shared_ptr<Pending>> pending_;
    std::unordered_map<std::string, NotificationHandler> subscriptions_;
    std::deque<std::string> outbox_;
    bool writing_ = false;
    bool closed_ = false;
    Clock::time_point frame_received_at_{};
    std::function<void(const Failure&)> on_closed_;
};

WsTransport::WsTransport(net::any_io_executor executor, std::string url, WsOptions options)
    : executor_(std::move(executor)),
      url_(std::move(url)),
      endpoint_(mask_url(url_)),
      options_(std::move(options)) {}

WsTransport::~WsTransport() {
    if (session_) {
        session_->set_closed_handler(nullptr);
        session_->fail(failure(Errc::connection_closed, endpoint_, "transport destroyed"), false);
    }
}

bool WsTransport::connected() const noexcept {
    return session_ && !session_->closed();
}

Clock::time_point WsTransport::frame_received_at() const noexcept {
    return session_ ? session_->frame_received_at() : Clock::time_point{};
}

void WsTransport::set_closed_handler(std::function<void(const Failure&)> handler) {
    on_closed_ = std::move(handler);
    if (session_) session_->set_closed_handler(on_closed_);
}

void WsTransport::close() {
    if (session_)
        session_->fail(failure(Errc::connection_closed, endpoint_, "closed by owner"), false);
}

Task<Result<void, Failure>> WsTransport::connect() {
    assert(!connected());
    auto url = parse_ws_url(url_);
    if (!url)
        co_return unexpected(failure(Errc::connect_failed, endpoint_, "bad URL: " + url.error()));

    std::shared_ptr<ssl::context> tls;
    if (url->tls) {
        tls = std::make_shared<ssl::context>(ssl::context::tls_client);
        tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1);
        beast::error_code ec;
        tls->set_default_verify_paths(ec);
        if (!ec && !options_.ca_file.empty()) tls->load_verify_file(options_.ca_file, ec);
        if (ec)
            co_return unexpected(
                failure(Errc::connect_failed, endpoint_, "tls trust store: " + ec.message()));
        tls->set_verify_mode(options_.verify_certificates ? ssl::verify_peer : ssl::verify_none);
    }

    auto session = std::make_shared<Session>(executor_, endpoint_, std::move(tls));
    auto opened = co_await session->open(std::move(*url), options_);
    if (!opened) co_return opened;
    session->set_closed_handler(on_closed_);
    session_ = std::move(session);
    session_->start_reading();
    co_return opened;
}

Task<Result<std::string, Failure>> WsTransport::roundtrip(std::string body) {
    auto ids = request_ids(body);
    assert(std::all_of(ids.begin(), ids.end(), [](uint64_t id) { return id < kFirstInternalId; }) &&
           "ids from kFirstInternalId up are the transport's own");
    NotificationHandler none;
    co_return co_await exchange(std::move(body), std::move(ids), std::move(none));
}

Task<Result<std::string, Failure>> WsTransport::subscribe(std::string params,
                                                          NotificationHandler handler) {
    assert(handler);
    const uint64_t id = next_internal_id_--;
    std::string body = make_request(id, Call{"eth_subscribe", std::move(params)});
    // Not `{id}` in the call below: g++ 12 rejects an initializer_list temporary inside
    // a co_await expression ("array used as initializer").
    std::vector<uint64_t> ids(1, id);
    co_return co_await exchange(std::move(body), std::move(ids), std::move(handler));
}

Task<Result<std::string, Failure>> WsTransport::exchange(std::string body,
                                                         std::vector<uint64_t> ids,
                                                         NotificationHandler subscriber) {
    // Only locals after the first suspension: the session outlives the transport if
    // the owner drops it meanwhile.
    std::shared_ptr<Session> session = session_;
    if (!session || session->closed()) {
        co_return unexpected(failure(Errc::connect_failed, endpoint_, "not connected"));
    }
    const auto timeout = options_.request_timeout;
    auto pending = session->expect(std::move(ids), std::move(subscriber));
    session->send(std::move(body));
    if (!pending->outcome) {
        pending->timer.expires_after(timeout);
        beast::error_code ec;
        co_await pending->timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
    if (pending->outcome) co_return std::move(*pending->outcome);
    session->forget(*pending);
    co_return unexpected(failure(Errc::timeout, session->endpoint(),
                                 "no answer within " + std::to_string(timeout.count()) + " ms"));
}

}  // namespace vigil::rpc
