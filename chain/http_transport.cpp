#include "chain/http_transport.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <unordered_set>

// Asio comes in through chain/asio.hpp; this adds only the descriptor wrapper.
#include <boost/asio/posix/stream_descriptor.hpp>

namespace vigil::rpc {
namespace {

void global_init() {
    // libcurl's global state must be set up once before any handle exists.
    static const bool done = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
    (void)done;
}

// Printable start of a body for error details: control bytes become '.'.
std::string excerpt(std::string_view body) {
    std::string out(body.substr(0, 200));
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20) c = '.';
    return out;
}

Failure failure(Errc kind, const std::string& endpoint, std::string detail) {
    Failure f{kind, endpoint, {}, 0, std::nullopt, std::move(detail)};
    return f;
}

}  // namespace

std::string mask_url(std::string_view url) {
    CURLU* u = curl_url();
    const std::string text(url);
    std::string out = "<invalid url>";
    if (curl_url_set(u, CURLUPART_URL, text.c_str(), 0) == CURLUE_OK) {
        auto part = [&](CURLUPart which) -> std::string {
            char* value = nullptr;
            if (curl_url_get(u, which, &value, 0) != CURLUE_OK || !value) return {};
            std::string s(value);
            curl_free(value);
            return s;
        };
        const std::string path = part(CURLUPART_PATH);
        out = part(CURLUPART_SCHEME) + "://";
        if (!part(CURLUPART_USER).empty() || !part(CURLUPART_PASSWORD).empty()) out += "***@";
        out += part(CURLUPART_HOST);
        if (const std::string port = part(CURLUPART_PORT); !port.empty()) out += ":" + port;
        if ((!path.empty() && path != "/") || !part(CURLUPART_QUERY).empty()) out += "/***";
    }
    curl_url_cleanup(u);
    return out;
}

// One socket curl asked us to watch. `want` is curl's CURL_POLL_* wish; a read and a
// write wait may each be pending once. `removed` is set when curl stops watching it:
// waits still queued then complete without calling back into curl.
struct Watched {
    explicit Watched(const net::any_io_executor& ex) : descriptor(ex) {}
    net::posix::stream_descriptor descriptor;
    int want = 0;
    bool reading = false;
    bool writing = false;
    bool removed = false;
};

// One request in flight. Owned by the roundtrip coroutine; curl's callbacks see it
// through CURLOPT_PRIVATE / READDATA / WRITEDATA.
struct Transfer {
    explicit Transfer(const net::any_io_executor& ex)
        : done(ex, net::steady_timer::time_point::max()) {}
    CURL* easy = nullptr;
    std::string request;
    std::size_t sent = 0;
    std::string response;
    std::size_t max_response = 0;
    bool too_large = false;
    std::optional<CURLcode> code;  // set when curl finished it (or the transport closed)
    char error[CURL_ERROR_SIZE] = {};
    net::steady_timer done;  // cancelled to wake the coroutine
};

struct HttpTransport::Impl : std::enable_shared_from_this<Impl> {
    Impl(net::any_io_executor ex, std::string u, HttpOptions o)
        : executor(std::move(ex)),
          url(std::move(u)),
          masked(mask_url(url)),
          options(std::move(o)),
          timer(executor) {
        global_init();
        multi = curl_multi_init();
        curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &Impl::on_socket);
        curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
        curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &Impl::on_timer);
        curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
        headers = curl_slist_append(headers, "Content-Type: application/json");
        headers = curl_slist_append(headers, "Accept: application/json");
        // No "100-continue" round trip before large bodies (curl adds it above 1 MB).
        headers = curl_slist_append(headers, "Expect:");
        for (const auto& h : options.headers) headers = curl_slist_append(headers, h.c_str());
    }

    ~Impl() {
        closing = true;
        // Stop Asio watching curl's descriptors before curl closes them: a descriptor
        // object must never close (or outlive) a socket it does not own.
        for (auto& [fd, w] : watched) {
            w->removed = true;
            w->descriptor.release();
        }
        watched.clear();
        for (CURL* e : idle) curl_easy_cleanup(e);
        curl_multi_cleanup(multi);
        curl_slist_free_all(headers);
    }

    // Fails every request in flight; called when the HttpTransport goes away while the
    // coroutines awaiting them still hold this Impl.
    void close() {
        closing = true;
        timer.cancel();
        for (Transfer* t : active) {
            curl_multi_remove_handle(multi, t->easy);
            t->code = CURLE_ABORTED_BY_CALLBACK;
            t->done.cancel();
        }
    }

    CURL* acquire_easy() {
        if (!idle.empty()) {
            CURL* e = idle.back();
            idle.pop_back();
            return e;
        }
        CURL* e = curl_easy_init();
        curl_easy_setopt(e, CURLOPT_URL, url.c_str());
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                         static_cast<long>(options.connect_timeout.count()));
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(options.request_timeout.count()));
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
        if (!options.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, options.ca_file.c_str());
        // The body comes from a read callback with no seek callback: curl cannot rewind
        // it, so it cannot silently resend it on a fresh connection (see the header).
        curl_easy_setopt(e, CURLOPT_READFUNCTION, &Impl::on_read);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Impl::on_write);
        return e;
    }

    Task<Result<std::string, Failure>> perform(std::string body) {
        if (closing)
            co_return unexpected(failure(Errc::connection_closed, masked, "transport closed"));
        Transfer t(executor);
        t.easy = acquire_easy();
        t.request = std::move(body);
        t.max_response = options.max_response_bytes;
        curl_easy_setopt(t.easy, CURLOPT_PRIVATE, &t);
        curl_easy_setopt(t.easy, CURLOPT_READDATA, &t);
        curl_easy_setopt(t.easy, CURLOPT_WRITEDATA, &t);
        curl_easy_setopt(t.easy, CURLOPT_ERRORBUFFER, t.error);
        curl_easy_setopt(t.easy, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(t.request.size()));
        if (const CURLMcode mc = curl_multi_add_handle(multi, t.easy); mc != CURLM_OK) {
            idle.push_back(t.easy);
            co_return unexpected(failure(Errc::connect_failed, masked, curl_multi_strerror(mc)));
        }
        // Until curl finishes it, the transfer belongs to the multi handle. The guard
        // also covers this frame being destroyed mid-transfer (an io_context destroyed with
        // the request in flight): the handle leaves the multi before `t` goes away.
        struct InFlight {
            Impl& impl;
            Transfer& t;
            ~InFlight() {
                impl.active.erase(&t);
                if (!t.code) curl_multi_remove_handle(impl.multi, t.easy);
                curl_easy_setopt(t.easy, CURLOPT_ERRORBUFFER, nullptr);
                if (impl.closing || !t.code)
                    curl_easy_cleanup(t.easy);
                else
                    impl.idle.push_back(t.easy);
            }
        } guard{*this, t};
        active.insert(&t);
        // Start it now rather than from the zero timeout curl just asked for: on an idle
        // kept-alive connection the request is written before this coroutine yields, so a
        // caller that goes on computing has its request on the wire meanwhile.
        int running = 0;
        curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
        collect();
        // Completion cancels `done`; the loop also covers a completion before the wait.
        while (!t.code) {
            boost::system::error_code ec;
            co_await t.done.async_wait(net::redirect_error(net::use_awaitable, ec));
        }
        co_return outcome(t);
    }

    Result<std::string, Failure> outcome(Transfer& t) const {
        const CURLcode code = *t.code;
        if (code == CURLE_OK) {
            long status = 0;
            curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &status);
            if (status >= 200 && status < 300) return std::move(t.response);
            Failure f = failure(status == 429 ? Errc::rate_limited : Errc::http_status, masked,
                                excerpt(t.response));
            f.http_status = static_cast<int>(status);
            curl_off_t retry_after = 0;  // seconds; curl reads both header forms, 0 if absent
            if (status == 429 &&
                curl_easy_getinfo(t.easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
                retry_after > 0)
                f.retry_after = std::chrono::seconds(retry_after);
            return unexpected(std::move(f));
        }
        std::string detail = t.error[0] ? t.error : curl_easy_strerror(code);
        if (t.too_large) {
            return unexpected(
                failure(Errc::malformed_response, masked,
                        "response larger than " + std::to_string(t.max_response) + " bytes"));
        }
        return unexpected(failure(classify(t, code), masked, std::move(detail)));
    }

    // Which Errc a curl failure is. What matters is whether the request may have reached
    // the node: only the connect-phase failures say it certainly did not.
    static Errc classify(const Transfer& t, CURLcode code) {
        switch (code) {
            case CURLE_COULDNT_RESOLVE_PROXY:
            case CURLE_COULDNT_RESOLVE_HOST:
            case CURLE_COULDNT_CONNECT:
            case CURLE_SSL_CONNECT_ERROR:
            case CURLE_PEER_FAILED_VERIFICATION:
            case CURLE_SSL_CERTPROBLEM:
            case CURLE_SSL_CIPHER:
            case CURLE_SSL_CACERT_BADFILE:
            case CURLE_UNSUPPORTED_PROTOCOL:
            case CURLE_URL_MALFORMAT:
                return Errc::connect_failed;
            case CURLE_OPERATION_TIMEDOUT: {
                // The connect timeout and the request timeout share this code; no request
                // byte written means we timed out connecting (or in the TLS handshake).
                long request_size = 0;
                curl_easy_getinfo(t.easy, CURLINFO_REQUEST_SIZE, &request_size);
                return request_size == 0 ? Errc::connect_failed : Errc::timeout;
            }
            case CURLE_BAD_CONTENT_ENCODING:
                return Errc::malformed_response;
            case CURLE_ABORTED_BY_CALLBACK:  // the transport was closed
            default:
                // Closed, reset, truncated (CURLE_PARTIAL_FILE), empty reply, or a resend
                // curl could not make: the node may have acted on the request.
                return Errc::connection_closed;
        }
    }

    // --- curl callbacks -----------------------------------------------------------------

    static size_t on_read(char* buffer, size_t size, size_t count, void* userp) {
        auto* t = static_cast<Transfer*>(userp);
        const size_t n = std::min(size * count, t->request.size() - t->sent);
        std::memcpy(buffer, t->request.data() + t->sent, n);
        t->sent += n;
        return n;
    }

    static size_t on_write(char* data, size_t size, size_t count, void* userp) {
        auto* t = static_cast<Transfer*>(userp);
        const size_t n = size * count;
        if (t->response.size() + n > t->max_response) {
            t->too_large = true;
            return 0;  // makes curl abort with CURLE_WRITE_ERROR
        }
        t->response.append(data, n);
        return n;
    }

    static int on_socket(CURL*, curl_socket_t fd, int what, void* userp, void*) {
        auto* self = static_cast<Impl*>(userp);
        auto it = self->watched.find(fd);
        if (what == CURL_POLL_REMOVE) {
            // curl calls this before it closes the socket: deregister, never close.
            if (it != self->watched.end()) {
                it->second->removed = true;
                it->second->descriptor.release();
                self->watched.erase(it);
            }
            return 0;
        }
        if (self->closing) return 0;  // nothing is driven any more
        if (it == self->watched.end()) {
            auto w = std::make_shared<Watched>(self->executor);
            boost::system::error_code ec;
            w->descriptor.assign(fd, ec);
            if (ec) return -1;
            it = self->watched.emplace(fd, std::move(w)).first;
        }
        it->second->want = what;
        self->arm(fd, it->second);
        return 0;
    }

    static int on_timer(CURLM*, long timeout_ms, void* userp) {
        auto* self = static_cast<Impl*>(userp);
        if (timeout_ms < 0) {
            self->timer.cancel();
            return 0;
        }
        // curl must not be re-entered from its own callback: the action runs from Asio.
        self->timer.expires_after(std::chrono::milliseconds(timeout_ms));
        self->timer.async_wait([weak = self->weak_from_this()](boost::system::error_code ec) {
            auto me = weak.lock();
            if (ec || !me || me->closing) return;
            int running = 0;
            curl_multi_socket_action(me->multi, CURL_SOCKET_TIMEOUT, 0, &running);
            me->collect();
        });
        return 0;
    }

    // Starts the waits curl wants on `fd` that are not pending yet.
    void arm(curl_socket_t fd, const std::shared_ptr<Watched>& w) {
        if ((w->want & CURL_POLL_IN) && !w->reading) {
            w->reading = true;
            wait(fd, w, net::posix::stream_descriptor::wait_read, CURL_CSELECT_IN);
        }
        if ((w->want & CURL_POLL_OUT) && !w->writing) {
            w->writing = true;
            wait(fd, w, net::posix::stream_descriptor::wait_write, CURL_CSELECT_OUT);
        }
    }

    void wait(curl_socket_t fd, const std::shared_ptr<Watched>& w,
              net::posix::stream_descriptor::wait_type type, int select) {
        w->descriptor.async_wait(type, [weak = weak_from_this(), w, fd, type,
                                        select](boost::system::error_code ec) {
            (type == net::posix::stream_descriptor::wait_read ? w->reading : w->writing) = false;
            auto me = weak.lock();
            if (w->removed || !me || me->closing || ec == net::error::operation_aborted) return;
            const int wanted = select == CURL_CSELECT_IN ? CURL_POLL_IN : CURL_POLL_OUT;
            if (!(w->want & wanted)) return;  // curl changed its mind meanwhile
            int running = 0;
            curl_multi_socket_action(me->multi, fd, ec ? CURL_CSELECT_ERR : select, &running);
            me->collect();
            // curl may have removed the socket (and even reused its number) meanwhile.
            if (!w->removed) me->arm(fd, w);
        });
    }

    // Hands finished transfers back to their coroutines.
    void collect() {
        int left = 0;
        while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
            if (msg->msg != CURLMSG_DONE) continue;
            CURL* easy = msg->easy_handle;
            const CURLcode code = msg->data.result;
            Transfer* t = nullptr;
            curl_easy_getinfo(easy, CURLINFO_PRIVATE, &t);
            curl_multi_remove_handle(multi, easy);
            t->code = code;
            t->done.cancel();
        }
    }

    net::any_io_executor executor;
    std::string url;
    std::string masked;
    HttpOptions options;
    net::steady_timer timer;
    CURLM* multi = nullptr;
    curl_slist* headers = nullptr;
    std::unordered_map<curl_socket_t, std::shared_ptr<Watched>> watched;
    std::unordered_set<Transfer*> active;
    std::vector<CURL*> idle;  // easy handles between requests, options already set
    bool closing = false;
};

HttpTransport::HttpTransport(net::any_io_executor executor, std::string url, HttpOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(url), std::move(options))) {}

HttpTransport::~HttpTransport() {
    impl_->close();
}

Task<Result<std::string, Failure>> HttpTransport::roundtrip(std::string body) {
    // The coroutine holds the Impl: if the transport is destroyed meanwhile, the request
    // completes with connection_closed instead of touching freed curl state.
    std::shared_ptr<Impl> impl = impl_;
    co_return co_await impl->perform(std::move(body));
}

const std::string& HttpTransport::endpoint() const noexcept {
    return impl_->masked;
}

}  // namespace vigil::rpc
