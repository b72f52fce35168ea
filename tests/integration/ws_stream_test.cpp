// WsTransport and BlockStream against a real anvil on loopback, with the fault proxy in
// front of it for cuts and stalls, and wss:// against a TLS server in the test. The
// chain's io_context runs on its own thread, as in the agent, while the test thread
// mines, sends transactions and injects faults.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <nlohmann/json.hpp>

#include "chain/block_stream.hpp"
#include "chain/json_rpc.hpp"
#include "chain/rpc_provider.hpp"
#include "chain/ws_transport.hpp"
#include "tests/support/anvil.hpp"
#include "tests/support/fault_proxy.hpp"

namespace vigil::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// Bounds every wait; reached only when a test fails.
constexpr auto kPatience = 20s;

/// The chain's io_context on its own thread for the test's duration.
class ChainThread {
public:
    ChainThread() : work_(net::make_work_guard(ioc)), thread_([this] { ioc.run(); }) {}
    ~ChainThread() {
        work_.reset();
        ioc.stop();
        thread_.join();
    }
    /// Runs f on the chain's thread and waits for it.
    template <class F>
    void run(F f) {
        std::promise<void> done;
        net::post(ioc, [&] {
            f();
            done.set_value();
        });
        done.get_future().wait();
    }
    /// Runs the coroutine on the chain's thread and returns its result.
    template <class T>
    T await(std::function<Task<T>()> make, std::chrono::milliseconds limit = 30s) {
        std::promise<T> out;
        net::co_spawn(
            ioc, [&]() -> Task<void> { out.set_value(co_await make()); }, net::detached);
        auto f = out.get_future();
        if (f.wait_for(limit) != std::future_status::ready)
            throw std::runtime_error("coroutine hung");
        return f.get();
    }

    net::io_context ioc;

private:
    net::executor_work_guard<net::io_context::executor_type> work_;
    std::thread thread_;
};

/// What callbacks saw, shared between the chain's thread and the test's.
template <class T>
class Inbox {
public:
    void push(T item) {
        std::lock_guard lock(mutex_);
        items_.push_back(std::move(item));
        cv_.notify_all();
    }
    /// Waits until pred(items) holds; false after `limit`.
    bool wait(const std::function<bool(const std::vector<T>&)>& pred,
              std::chrono::milliseconds limit = kPatience) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, limit, [&] { return pred(items_); });
    }
    std::vector<T> items() {
        std::lock_guard lock(mutex_);
        return items_;
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<T> items_;
};

using Connected = Result<void, rpc::Failure>;
using Reply = Result<std::string, rpc::Failure>;

std::string call_text(const std::string& method, const std::string& params, uint64_t id) {
    return rpc::make_request(id, rpc::Call{method, params});
}

// ---------------------------------------------------------------------------------------
// WsTransport

TEST(ws_transport, answers_many_requests_in_flight_by_id) {
    Anvil anvil;
    anvil.cast({"rpc", "anvil_mine", "0x14"});  // blocks 1..20
    ChainThread chain;
    rpc::WsTransport ws(chain.ioc.get_executor(), anvil.ws_url());
    ASSERT_TRUE(chain.await<Connected>([&] { return ws.connect(); }).has_value());
    EXPECT_EQ(ws.endpoint(), anvil.ws_url());

    // 20 requests written back to back, answered in whatever order anvil likes.
    auto numbers = chain.await<std::vector<uint64_t>>([&]() -> Task<std::vector<uint64_t>> {
        std::vector<uint64_t> out(20, 0);
        int done = 0;
        net::steady_timer all_done(chain.ioc.get_executor());
        for (uint64_t i = 0; i < 20; ++i) {
            net::co_spawn(
                chain.ioc,
                [&, i]() -> Task<void> {
                    auto body = co_await ws.roundtrip(
                        call_text("eth_getBlockByNumber",
                                  "[\"" + to_quantity(u256(i + 1)) + "\",false]", 100 + i));
                    if (body) {
                        auto header =
                            rpc::read_response(*body, 100 + i).and_then([](std::string_view r) {
                                return rpc::decode<BlockHeader>(r);
                            });
                        if (header) out[i] = header->number;
                    }
                    if (++done == 20) all_done.cancel();
                },
                net::detached);
        }
        all_done.expires_after(10s);
        boost::system::error_code ec;
        co_await all_done.async_wait(net::redirect_error(net::use_awaitable, ec));
        co_return out;
    });
    for (uint64_t i = 0; i < 20; ++i) EXPECT_EQ(numbers[i], i + 1) << "request " << i;
    chain.run([&] { ws.close(); });
}

TEST(ws_transport, routes_notifications_to_their_subscription) {
    Anvil anvil;
    ChainThread chain;
    rpc::WsTransport ws(chain.ioc.get_executor(), anvil.ws_url());
    ASSERT_TRUE(chain.await<Connected>([&] { return ws.connect(); }).has_value());
    Inbox<uint64_t> heads;
    auto sub = chain.await<Reply>([&] {
        return ws.subscribe(R"(["newHeads"])", [&](std::string_view result) {
            auto h = rpc::decode<BlockHeader>(result);
            heads.push(h ? h->number : 0);
        });
    });
    ASSERT_TRUE(sub.has_value()) << sub.error().to_string();
    EXPECT_FALSE(sub->empty());
    auto mined =
        chain.await<Reply>([&] { return ws.roundtrip(call_text("anvil_mine", R"(["0x5"])", 1)); });
    ASSERT_TRUE(mined.has_value());
    ASSERT_TRUE(heads.wait([](const auto& v) { return v.size() >= 5; }));
    EXPECT_EQ(heads.items(), (std::vector<uint64_t>{1, 2, 3, 4, 5}));

    // A refused subscription is the node's error, not a transport failure.
    auto refused = chain.await<Reply>(
        [&] { return ws.subscribe(R"(["noSuchTopic"])", [](std::string_view) {}); });
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().kind, rpc::Errc::rpc_error);
    chain.run([&] { ws.close(); });
}

TEST(ws_transport, a_cut_fails_requests_in_flight_and_is_reported) {
    Anvil anvil;
    FaultProxy proxy(anvil.port());
    ChainThread chain;
    rpc::WsTransport ws(chain.ioc.get_executor(), proxy.ws_url());
    Inbox<rpc::Failure> closed;
    chain.run([&] { ws.set_closed_handler([&](const rpc::Failure& f) { closed.push(f); }); });
    ASSERT_TRUE(chain.await<Connected>([&] { return ws.connect(); }).has_value());

    proxy.set_stall(true);  // the request is written but its answer is held
    std::promise<Reply> answer;
    net::co_spawn(
        chain.ioc,
        [&]() -> Task<void> {
            answer.set_value(co_await ws.roundtrip(call_text("eth_chainId", "[]", 7)));
        },
        net::detached);
    std::this_thread::sleep_for(200ms);
    proxy.cut();
    auto f = answer.get_future();
    ASSERT_EQ(f.wait_for(kPatience), std::future_status::ready);
    auto r = f.get();
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, rpc::Errc::connection_closed) << r.error().to_string();
    EXPECT_FALSE(r.error().not_sent());
    ASSERT_TRUE(closed.wait([](const auto& v) { return !v.empty(); }));
    EXPECT_EQ(closed.items().size(), 1u);

    // Not connected now: a request is refused before it is sent.
    auto later =
        chain.await<Reply>([&] { return ws.roundtrip(call_text("eth_chainId", "[]", 8)); });
    ASSERT_FALSE(later.has_value());
    EXPECT_TRUE(later.error().not_sent());
    // And it reconnects.
    proxy.set_stall(false);
    ASSERT_TRUE(chain.await<Connected>([&] { return ws.connect(); }).has_value());
    auto again =
        chain.await<Reply>([&] { return ws.roundtrip(call_text("eth_chainId", "[]", 9)); });
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(*rpc::read_response(*again, 9), "\"0x7a69\"");
    chain.run([&] { ws.close(); });
}

TEST(ws_transport, a_stalled_peer_trips_the_dead_peer_timeout) {
    Anvil anvil;
    FaultProxy proxy(anvil.port());
    ChainThread chain;
    rpc::WsOptions options;
    options.dead_peer_timeout = 600ms;
    rpc::WsTransport ws(chain.ioc.get_executor(), proxy.ws_url(), options);
    Inbox<rpc::Failure> closed;
    chain.run([&] { ws.set_closed_handler([&](const rpc::Failure& f) { closed.push(f); }); });
    ASSERT_TRUE(chain.await<Connected>([&] { return ws.connect(); }).has_value());

    // Quiet but alive: pings are answered, the connection stays up.
    std::this_thread::sleep_for(1500ms);
    EXPECT_TRUE(closed.items().empty());

    const auto stalled_at = Clock::now();
    proxy.set_stall(true);
    ASSERT_TRUE(closed.wait([](const auto& v) { return !v.empty(); }, 5s));
    const auto took = Clock::now() - stalled_at;
    EXPECT_EQ(closed.items()[0].kind, rpc::Errc::timeout) << closed.items()[0].to_string();
    // At most two idle periods of 300 ms (ping, then give up), plus scheduling slack.
    EXPECT_LT(took, 2s);
}

TEST(ws_transport, a_request_without_answer_times_out) {
    Anvil anvil;
    FaultProxy proxy(anvil.port());
    ChainThread chain;
    rpc::WsOptions options;
    options.request_timeout = 300ms;
    rpc::WsTransport ws(chain.ioc.get_executor(), proxy.ws_url(), options);
    ASSERT_TRUE(chain.await<Connected>([&] { return ws.connect(); }).has_value());
    proxy.set_stall(true);
    auto r = chain.await<Reply>([&] { return ws.roundtrip(call_text("eth_chainId", "[]", 1)); });
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, rpc::Errc::timeout);
    EXPECT_EQ(r.error().detail, "no answer within 300 ms");
    chain.run([&] { ws.close(); });
}

TEST(ws_transport, connect_failures_name_the_step) {
    ChainThread chain;
    rpc::WsTransport bad(chain.ioc.get_executor(), "http://127.0.0.1:1");
    auto r = chain.await<Connected>([&] { return bad.connect(); });
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, rpc::Errc::connect_failed);
    EXPECT_EQ(r.error().detail, "bad URL: scheme must be ws:// or wss://");

    rpc::WsTransport refused(chain.ioc.get_executor(),
                             "ws://127.0.0.1:" + std::to_string(free_port()));
    r = chain.await<Connected>([&] { return refused.connect(); });
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, rpc::Errc::connect_failed);
    EXPECT_TRUE(r.error().not_sent());
    EXPECT_TRUE(r.error().detail.starts_with("tcp connect: ")) << r.error().detail;

    rpc::WsTransport masked(chain.ioc.get_executor(),
                            "wss://user:secret@node.example:8546/v2/KEY?x=1");
    EXPECT_EQ(masked.endpoint(), "wss://node.example:8546/***");
}

// ---------------------------------------------------------------------------------------
// wss://: a TLS websocket server in the test, with a self-signed certificate made here.

namespace beast = boost::beast;
namespace ssl = net::ssl;

/// A self-signed P-256 certificate for `dns_name`, PEM encoded, and its key.
struct SelfSigned {
    std::string cert_pem, key_pem;
};

SelfSigned make_self_signed(const std::string& dns_name) {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(dns_name.c_str()), -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
    X509_EXTENSION* san =
        X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, ("DNS:" + dns_name).c_str());
    X509_add_ext(x, san, -1);
    X509_EXTENSION_free(san);
    X509_sign(x, key, EVP_sha256());
    const auto pem = [](auto write) {
        BIO* bio = BIO_new(BIO_s_mem());
        write(bio);
        char* data = nullptr;
        const long n = BIO_get_mem_data(bio, &data);
        std::string out(data, static_cast<std::size_t>(n));
        BIO_free(bio);
        return out;
    };
    SelfSigned out{pem([&](BIO* b) { PEM_write_bio_X509(b, x); }), pem([&](BIO* b) {
                       PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
                   })};
    X509_free(x);
    EVP_PKEY_free(key);
    return out;
}

/// Accepts one connection on `acceptor` as a TLS websocket, answers one JSON-RPC request
/// with result "0x1", and returns the SNI name the client sent (or what went wrong).
Task<std::string> serve_one(net::ip::tcp::acceptor& acceptor, ssl::context& tls) {
    beast::error_code ec;
    auto socket = co_await acceptor.async_accept(net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return "accept: " + ec.message();
    beast::websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(std::move(socket), tls);
    co_await ws.next_layer().async_handshake(ssl::stream_base::server,
                                             net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return "tls: " + ec.message();
    const char* sni =
        SSL_get_servername(ws.next_layer().native_handle(), TLSEXT_NAMETYPE_host_name);
    co_await ws.async_accept(net::redirect_error(net::use_awaitable, ec));
    beast::flat_buffer buffer;
    if (!ec) co_await ws.async_read(buffer, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return "websocket: " + ec.message();
    const auto request = rpc::read_message(beast::buffers_to_string(buffer.cdata()));
    const std::string answer = R"({"jsonrpc":"2.0","id":)" +
                               std::to_string(request->id.value_or(0)) + R"(,"result":"0x1"})";
    co_await ws.async_write(net::buffer(answer), net::redirect_error(net::use_awaitable, ec));
    co_return sni ? std::string(sni) : std::string("<no SNI>");
}

/// One TLS websocket endpoint on a free loopback port serving a certificate for
/// `cert_name`; the test's client reaches it as wss://localhost:PORT. The server's
/// coroutine has ended when this is destroyed.
class TlsServer {
public:
    TlsServer(ChainThread& chain, const std::string& cert_name)
        : chain_(chain),
          cert_(make_self_signed(cert_name)),
          acceptor_(chain.ioc, net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)),
          ca_file_(testing::TempDir() + "vigil_ws_ca_" +
                   std::to_string(acceptor_.local_endpoint().port()) + ".pem") {
        tls_.use_certificate_chain(net::buffer(cert_.cert_pem));
        tls_.use_private_key(net::buffer(cert_.key_pem), ssl::context::pem);
        std::ofstream(ca_file_) << cert_.cert_pem;
        net::co_spawn(
            chain.ioc,
            [this]() -> Task<void> { served_.set_value(co_await serve_one(acceptor_, tls_)); },
            net::detached);
    }
    ~TlsServer() {
        chain_.run([this] { acceptor_.close(); });
        outcome();
        std::remove(ca_file_.c_str());
    }
    /// The certificate as a PEM file, for WsOptions::ca_file.
    const std::string& ca_file() const { return ca_file_; }
    std::string url() const {
        return "wss://localhost:" + std::to_string(acceptor_.local_endpoint().port());
    }
    /// What serve_one returned: the client's SNI name, or where the exchange failed.
    std::string outcome() {
        if (!outcome_) {
            outcome_ = result_.wait_for(kPatience) == std::future_status::ready ? result_.get()
                                                                                : "server hung";
        }
        return *outcome_;
    }

private:
    ChainThread& chain_;
    SelfSigned cert_;
    ssl::context tls_{ssl::context::tls_server};
    net::ip::tcp::acceptor acceptor_;
    std::promise<std::string> served_;
    std::future<std::string> result_ = served_.get_future();
    std::optional<std::string> outcome_;
    const std::string ca_file_;
};

TEST(ws_transport, wss_verifies_the_certificate_by_default) {
    ChainThread chain;
    TlsServer server(chain, "localhost");
    rpc::WsTransport ws(chain.ioc.get_executor(), server.url());
    auto r = chain.await<Connected>([&] { return ws.connect(); });
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, rpc::Errc::connect_failed);
    EXPECT_TRUE(r.error().detail.starts_with("tls handshake: ")) << r.error().detail;
    EXPECT_NE(r.error().detail.find("certificate verify failed"), std::string::npos)
        << r.error().detail;
    EXPECT_TRUE(server.outcome().starts_with("tls: "));
}

TEST(ws_transport, wss_with_a_trusted_ca_connects_and_sends_sni) {
    ChainThread chain;
    TlsServer server(chain, "localhost");
    rpc::WsOptions options;
    options.ca_file = server.ca_file();
    rpc::WsTransport ws(chain.ioc.get_executor(), server.url(), options);
    auto r = chain.await<Connected>([&] { return ws.connect(); });
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    auto answer =
        chain.await<Reply>([&] { return ws.roundtrip(call_text("eth_chainId", "[]", 3)); });
    ASSERT_TRUE(answer.has_value()) << answer.error().to_string();
    EXPECT_EQ(*rpc::read_response(*answer, 3), "\"0x1\"");
    EXPECT_EQ(server.outcome(), "localhost");
    chain.run([&] { ws.close(); });
}

TEST(ws_transport, wss_rejects_a_trusted_certificate_for_another_name) {
    ChainThread chain;
    TlsServer server(chain, "node.example");
    rpc::WsOptions options;
    options.ca_file = server.ca_file();
    rpc::WsTransport ws(chain.ioc.get_executor(), server.url(), options);
    auto r = chain.await<Connected>([&] { return ws.connect(); });
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, rpc::Errc::connect_failed);
    EXPECT_NE(r.error().detail.find("certificate verify failed"), std::string::npos)
        << r.error().detail;
    EXPECT_TRUE(server.outcome().starts_with("tls: "));
}

// ---------------------------------------------------------------------------------------
// BlockStream

/// The LogEmitter fixture (tests/contracts/log_emitter.easm) and the nonce of the dev
/// account that calls it: transactions sent without waiting need explicit nonces, or
/// cast reads the same one twice.
struct Emitter {
    Address address;
    uint64_t next_nonce = 0;
};

Emitter deploy_log_emitter(const Anvil& anvil) {
    std::ifstream file(std::string(VIGIL_CONTRACTS_DIR) + "/log_emitter.bin");
    std::string code;
    file >> code;
    // --create takes every argument after it, so the URL goes first.
    const auto receipt =
        nlohmann::json::parse(cast({"send", "--rpc-url", anvil.http_url(), "--private-key",
                                    Anvil::kDevKey0, "--json", "--create", code}));
    return {*parse_address(receipt.at("contractAddress").get<std::string>()),
            std::stoull(anvil.cast({"nonce", Anvil::kDevAddress0}))};
}

/// Calls the emitter with one byte of calldata, which becomes its log's data; returns
/// the tx hash at once (the tx is mined in a later block).
std::string emit_async(const Anvil& anvil, Emitter& emitter, uint8_t tag) {
    return anvil.cast({"send", "--async", "--nonce", std::to_string(emitter.next_nonce++),
                       "--private-key", Anvil::kDevKey0, to_hex(emitter.address),
                       to_hex(Bytes{tag})});
}

uint64_t block_of_tx(const Anvil& anvil, const std::string& tx_hash) {
    return std::stoull(anvil.cast({"receipt", tx_hash, "blockNumber"}));
}

/// One stream under test, with what it delivered. Members are destroyed bottom-up: the
/// stream first (on the chain's thread), then the io_context, then the provider that
/// coroutines in it may still reference.
struct StreamRig {
    explicit StreamRig(const std::string& http_url) {
        RpcProviderConfig config;
        config.endpoints = {http_url};
        config.policy.backoff_base = 50ms;
        config.policy.demote_base = 100ms;
        provider = std::make_unique<RpcProvider>(chain.ioc.get_executor(), config);
    }
    ~StreamRig() {
        chain.run([&] { stream.reset(); });
    }
    void start(BlockStreamOptions options) {
        chain.run([&] {
            stream = std::make_unique<BlockStream>(
                chain.ioc.get_executor(), *provider, std::move(options),
                [this](const BlockEvent& e) { events.push(e); },
                [this](const StreamNotice& n) { notices.push(n); });
            stream->start();
        });
    }
    void stop() {
        chain.run([&] { stream.reset(); });
    }
    bool wait_for_block(uint64_t number, std::chrono::milliseconds limit = kPatience) {
        return events.wait(
            [&](const auto& v) {
                return !v.empty() && v.back().kind == BlockEvent::Kind::added &&
                       v.back().header.number >= number;
            },
            limit);
    }
    std::size_t count(StreamNotice::Kind kind) {
        const auto all = notices.items();
        return static_cast<std::size_t>(std::count_if(
            all.begin(), all.end(), [&](const StreamNotice& n) { return n.kind == kind; }));
    }

    ChainThread chain;
    std::unique_ptr<RpcProvider> provider;
    Inbox<BlockEvent> events;
    Inbox<StreamNotice> notices;
    std::unique_ptr<BlockStream> stream;
};

/// Test defaults: short retries and timeouts, so that faults heal within a test.
BlockStreamOptions fast_options(std::string ws_url) {
    BlockStreamOptions o;
    o.ws_urls = {std::move(ws_url)};
    o.ws.connect_timeout = 1500ms;
    o.ws.request_timeout = 3s;
    o.ws.dead_peer_timeout = 1s;
    o.head_timeout = 10s;
    o.poll_interval = 50ms;
    o.retry_min = 50ms;
    o.retry_max = 400ms;
    return o;
}

/// Replays events onto a chain (added must extend the tip by parent hash, removed must
/// be the tip) and returns the chain they spell; violations fail the test.
std::vector<BlockHeader> replay(const std::vector<BlockEvent>& events) {
    std::vector<BlockHeader> chain;
    for (const BlockEvent& e : events) {
        for (const Log& log : e.logs) {
            EXPECT_EQ(log.block_hash, e.header.hash);
            EXPECT_EQ(log.removed, e.kind == BlockEvent::Kind::removed);
        }
        if (e.kind == BlockEvent::Kind::added) {
            if (!chain.empty()) {
                EXPECT_EQ(e.header.number, chain.back().number + 1) << "gap or duplicate";
                EXPECT_EQ(e.header.parent_hash, chain.back().hash) << "block " << e.header.number;
            }
            chain.push_back(e.header);
        } else {
            EXPECT_FALSE(chain.empty());
            if (chain.empty()) break;
            EXPECT_EQ(e.header, chain.back()) << "removed a block that is not the tip";
            chain.pop_back();
        }
    }
    return chain;
}

/// The data byte of every log in added events, in delivery order.
std::vector<uint8_t> added_log_tags(const std::vector<BlockEvent>& events) {
    std::vector<uint8_t> tags;
    for (const BlockEvent& e : events) {
        if (e.kind != BlockEvent::Kind::added) continue;
        for (const Log& log : e.logs) tags.push_back(log.data.empty() ? 0 : log.data[0]);
    }
    return tags;
}

TEST(block_stream, websocket_delivers_200_blocks_in_order_without_duplicates) {
    Anvil anvil({"--block-time", "0.1"});
    StreamRig rig(anvil.http_url());
    rig.start(fast_options(anvil.ws_url()));
    ASSERT_TRUE(rig.events.wait([](const auto& v) { return v.size() >= 200; }, 60s));
    rig.stop();
    const auto events = rig.events.items();
    const auto chain = replay(events);
    EXPECT_EQ(chain.size(), events.size()) << "no reorg expected on a single anvil";
    EXPECT_EQ(rig.count(StreamNotice::Kind::connected), 1u);
    EXPECT_EQ(rig.count(StreamNotice::Kind::disconnected), 0u);
    // The hashes are the node's.
    const auto& b = chain[chain.size() / 2];
    EXPECT_EQ(anvil.cast({"block", std::to_string(b.number), "--field", "hash"}), to_hex(b.hash));
}

TEST(block_stream, a_cut_websocket_resumes_without_gap_and_outage_logs_arrive_once) {
    Anvil anvil({"--block-time", "0.1"});
    FaultProxy proxy(anvil.port());
    Emitter emitter = deploy_log_emitter(anvil);
    StreamRig rig(anvil.http_url());  // backfill goes straight to anvil
    BlockStreamOptions options = fast_options(proxy.ws_url());
    options.tracker.filters = {LogFilter{{emitter.address}, {}}};
    rig.start(options);
    ASSERT_TRUE(rig.events.wait([](const auto& v) { return v.size() >= 10; }));

    for (uint8_t tag = 1; tag <= 3; ++tag) emit_async(anvil, emitter, tag);
    // The outage: live connections cut, new ones refused for a while, blocks and logs
    // keep coming.
    proxy.set_refuse(true);
    proxy.cut();
    ASSERT_TRUE(rig.notices.wait([](const auto& v) {
        return std::any_of(v.begin(), v.end(), [](const StreamNotice& n) {
            return n.kind == StreamNotice::Kind::disconnected;
        });
    }));
    for (uint8_t tag = 0x10; tag < 0x1a; ++tag) emit_async(anvil, emitter, tag);
    std::this_thread::sleep_for(1s);
    proxy.set_refuse(false);
    ASSERT_TRUE(rig.notices.wait([](const auto& v) {
        return std::count_if(v.begin(), v.end(), [](const StreamNotice& n) {
                   return n.kind == StreamNotice::Kind::connected;
               }) >= 2;
    }));
    std::string last_tx;
    for (uint8_t tag = 0x20; tag < 0x23; ++tag) {
        last_tx = emit_async(anvil, emitter, tag);
    }
    std::this_thread::sleep_for(300ms);
    const uint64_t last_block = block_of_tx(anvil, last_tx);
    ASSERT_TRUE(rig.wait_for_block(last_block + 3));
    rig.stop();

    const auto events = rig.events.items();
    const auto chain = replay(events);
    EXPECT_EQ(chain.size(), events.size());
    std::multiset<uint8_t> tags;
    for (uint8_t t : added_log_tags(events)) tags.insert(t);
    std::multiset<uint8_t> want;
    for (uint8_t t = 1; t <= 3; ++t) want.insert(t);
    for (uint8_t t = 0x10; t < 0x1a; ++t) want.insert(t);
    for (uint8_t t = 0x20; t < 0x23; ++t) want.insert(t);
    EXPECT_EQ(tags, want);
}

TEST(block_stream, a_stalled_websocket_trips_the_dead_peer_timeout_and_resumes_without_gap) {
    Anvil anvil({"--block-time", "0.1"});
    FaultProxy proxy(anvil.port());
    StreamRig rig(anvil.http_url());
    rig.start(fast_options(proxy.ws_url()));
    ASSERT_TRUE(rig.events.wait([](const auto& v) { return v.size() >= 10; }));

    proxy.set_stall(true);
    ASSERT_TRUE(rig.notices.wait(
        [](const auto& v) {
            return std::any_of(v.begin(), v.end(), [](const StreamNotice& n) {
                return n.kind == StreamNotice::Kind::disconnected;
            });
        },
        5s));
    const auto first_down = [&] {
        for (const auto& n : rig.notices.items()) {
            if (n.kind == StreamNotice::Kind::disconnected) return n.detail;
        }
        return std::string();
    }();
    EXPECT_TRUE(first_down.starts_with("timeout")) << first_down;
    std::this_thread::sleep_for(1s);
    proxy.set_stall(false);
    ASSERT_TRUE(rig.notices.wait([](const auto& v) {
        return std::count_if(v.begin(), v.end(), [](const StreamNotice& n) {
                   return n.kind == StreamNotice::Kind::connected;
               }) >= 2;
    }));
    const uint64_t resumed_at = rig.events.items().back().header.number;
    ASSERT_TRUE(rig.wait_for_block(resumed_at + 10));
    rig.stop();
    const auto events = rig.events.items();
    EXPECT_EQ(replay(events).size(), events.size());
}

TEST(block_stream, a_silent_subscription_is_replaced) {
    Anvil anvil;  // no blocks unless mined: the subscription stays silent
    StreamRig rig(anvil.http_url());
    BlockStreamOptions options = fast_options(anvil.ws_url());
    options.head_timeout = 400ms;
    rig.start(options);
    ASSERT_TRUE(rig.notices.wait([](const auto& v) {
        return std::count_if(v.begin(), v.end(), [](const StreamNotice& n) {
                   return n.kind == StreamNotice::Kind::connected;
               }) >= 2;
    }));
    const auto notices = rig.notices.items();
    const auto down = std::find_if(notices.begin(), notices.end(), [](const StreamNotice& n) {
        return n.kind == StreamNotice::Kind::disconnected;
    });
    ASSERT_NE(down, notices.end());
    EXPECT_EQ(down->detail, "no newHeads for 400 ms");
    // The new subscription works.
    anvil.cast({"rpc", "anvil_mine", "0x2"});
    ASSERT_TRUE(rig.wait_for_block(2));
    rig.stop();
    const auto events = rig.events.items();
    EXPECT_EQ(replay(events).size(), events.size());
    EXPECT_EQ(events.front().header.number, 0u);
}

/// The notices of `kind`, in order.
std::vector<StreamNotice> notices_of(StreamRig& rig, StreamNotice::Kind kind) {
    std::vector<StreamNotice> out;
    for (const StreamNotice& n : rig.notices.items())
        if (n.kind == kind) out.push_back(n);
    return out;
}

bool has_notices(StreamRig& rig, StreamNotice::Kind kind, std::size_t n) {
    return rig.notices.wait([&](const auto& v) {
        return static_cast<std::size_t>(std::count_if(
                   v.begin(), v.end(), [&](const StreamNotice& x) { return x.kind == kind; })) >= n;
    });
}

TEST(block_stream, every_ws_url_is_used_for_failover) {
    Anvil anvil({"--block-time", "0.2"});
    FaultProxy first(anvil.port());
    FaultProxy second(anvil.port());
    first.set_listening(false);
    StreamRig rig(anvil.http_url());
    BlockStreamOptions options = fast_options(first.ws_url());
    options.ws_urls.push_back(second.ws_url());
    rig.start(options);
    ASSERT_TRUE(has_notices(rig, StreamNotice::Kind::connected, 1));
    EXPECT_EQ(notices_of(rig, StreamNotice::Kind::connected)[0].detail, second.ws_url());

    // The second dies, the first is back: the stream moves on to it.
    first.set_listening(true);
    second.set_listening(false);
    second.cut();
    ASSERT_TRUE(has_notices(rig, StreamNotice::Kind::connected, 2));
    EXPECT_EQ(notices_of(rig, StreamNotice::Kind::connected)[1].detail, first.ws_url());
    const uint64_t now = std::stoull(anvil.cast({"block-number"}));
    ASSERT_TRUE(rig.wait_for_block(now + 3));
    rig.stop();
    const auto events = rig.events.items();
    EXPECT_EQ(replay(events).size(), events.size());
}

TEST(block_stream, a_websocket_on_another_chain_is_refused_and_never_used) {
    Anvil anvil({"--block-time", "0.2"});
    FaultProxy lying(anvil.port());
    FaultProxy honest(anvil.port());
    lying.lie_chain_id(1);
    StreamRig rig(anvil.http_url());
    BlockStreamOptions options = fast_options(lying.ws_url());
    options.ws_urls.push_back(honest.ws_url());
    options.chain_id = 31337;
    rig.start(options);
    ASSERT_TRUE(has_notices(rig, StreamNotice::Kind::connected, 1));
    const auto refused = notices_of(rig, StreamNotice::Kind::wrong_chain);
    ASSERT_EQ(refused.size(), 1u);
    EXPECT_EQ(refused[0].detail,
              "wrong_chain from " + lying.ws_url() + ": eth_chainId answered 1, expected 31337");
    EXPECT_EQ(notices_of(rig, StreamNotice::Kind::connected)[0].detail, honest.ws_url());

    // A reconnect skips the refused endpoint.
    honest.cut();
    ASSERT_TRUE(has_notices(rig, StreamNotice::Kind::connected, 2));
    EXPECT_EQ(notices_of(rig, StreamNotice::Kind::connected)[1].detail, honest.ws_url());
    EXPECT_EQ(lying.connections_accepted(), 1u);
    EXPECT_EQ(notices_of(rig, StreamNotice::Kind::wrong_chain).size(), 1u);
    const uint64_t now = std::stoull(anvil.cast({"block-number"}));
    ASSERT_TRUE(rig.wait_for_block(now + 3));
    rig.stop();
}

TEST(block_stream, a_websocket_is_checked_again_at_each_reconnect) {
    Anvil anvil({"--block-time", "0.2"});
    FaultProxy proxy(anvil.port());
    StreamRig rig(anvil.http_url());
    BlockStreamOptions options = fast_options(proxy.ws_url());
    options.chain_id = 31337;
    rig.start(options);
    ASSERT_TRUE(has_notices(rig, StreamNotice::Kind::connected, 1));
    EXPECT_EQ(proxy.lies_told("eth_chainId"), 0u);

    // The same URL reaches another chain's node after a reconnect: refused. With no
    // websocket left, blocks still come, by polling over HTTP.
    proxy.lie_chain_id(1);
    proxy.cut();
    ASSERT_TRUE(has_notices(rig, StreamNotice::Kind::wrong_chain, 1));
    const uint64_t now = std::stoull(anvil.cast({"block-number"}));
    ASSERT_TRUE(rig.wait_for_block(now + 5));
    rig.stop();
    EXPECT_EQ(notices_of(rig, StreamNotice::Kind::connected).size(), 1u);
    EXPECT_EQ(proxy.lies_told("eth_chainId"), 1u);
    const auto events = rig.events.items();
    EXPECT_EQ(replay(events).size(), events.size());
}

TEST(block_stream, anvil_reorg_reports_removed_blocks_and_logs_then_the_new_branch) {
    Anvil anvil;                                  // automine: each transaction is a block
    Emitter emitter = deploy_log_emitter(anvil);  // block 1
    StreamRig rig(anvil.http_url());
    BlockStreamOptions options = fast_options(anvil.ws_url());
    options.tracker.filters = {LogFilter{{emitter.address}, {}}};
    options.start_block = 1;
    rig.start(options);
    for (uint8_t tag = 1; tag <= 5; ++tag) {  // blocks 2..6
        anvil.cast({"send", "--private-key", Anvil::kDevKey0, to_hex(emitter.address),
                    to_hex(Bytes{tag})});
    }
    ASSERT_TRUE(rig.wait_for_block(6));
    const std::size_t before = rig.events.items().size();

    // Depth 3: blocks 4..6 replaced by three new ones, with a tx in the first and last.
    const std::string tx = R"({"from":")" + std::string(Anvil::kDevAddress0) + R"(","to":")" +
                           to_hex(emitter.address) + R"(","data":)";
    anvil.cast({"rpc", "anvil_reorg", "3", "[[" + tx + R"("0xaa"},0],[)" + tx + R"("0xbb"},2]])"});
    ASSERT_TRUE(rig.events.wait([&](const auto& v) { return v.size() >= before + 6; }));
    std::this_thread::sleep_for(300ms);  // nothing more may come
    rig.stop();

    const auto all = rig.events.items();
    ASSERT_EQ(all.size(), before + 6);
    const std::vector<BlockEvent> reorg(all.begin() + static_cast<std::ptrdiff_t>(before),
                                        all.end());
    using K = BlockEvent::Kind;
    const std::vector<std::pair<K, uint64_t>> want = {{K::removed, 6}, {K::removed, 5},
                                                      {K::removed, 4}, {K::added, 4},
                                                      {K::added, 5},   {K::added, 6}};
    const std::vector<std::vector<uint8_t>> want_tags = {{5}, {4}, {3}, {0xaa}, {}, {0xbb}};
    for (std::size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(reorg[i].kind, want[i].first) << i;
        EXPECT_EQ(reorg[i].header.number, want[i].second) << i;
        std::vector<uint8_t> tags;
        for (const Log& log : reorg[i].logs) {
            tags.push_back(log.data.at(0));
            EXPECT_EQ(log.removed, reorg[i].kind == K::removed);
        }
        EXPECT_EQ(tags, want_tags[i]) << i;
    }
    EXPECT_NE(reorg[2].header.hash, reorg[3].header.hash);
    EXPECT_EQ(reorg[3].header.parent_hash, reorg[2].header.parent_hash);  // same ancestor, block 3
    const auto chain = replay(all);
    ASSERT_EQ(chain.size(), 6u);
    EXPECT_EQ(to_hex(chain.back().hash), anvil.cast({"block", "6", "--field", "hash"}));
}

TEST(block_stream, polling_gives_the_same_stream_as_the_websocket) {
    Anvil anvil({"--block-time", "0.1"});
    anvil.cast({"rpc", "anvil_mine", "0xa"});
    Emitter emitter = deploy_log_emitter(anvil);
    StreamRig by_ws(anvil.http_url()), by_poll(anvil.http_url());
    BlockStreamOptions options = fast_options(anvil.ws_url());
    options.tracker.filters = {LogFilter{{emitter.address}, {}}};
    options.start_block = 3;  // in the past: both backfill, then follow
    by_ws.start(options);
    options.ws_urls.clear();
    by_poll.start(options);
    for (uint8_t tag = 1; tag <= 6; ++tag) emit_async(anvil, emitter, tag);
    const auto enough = [](const auto& v) { return v.size() >= 60; };
    ASSERT_TRUE(by_ws.events.wait(enough));
    ASSERT_TRUE(by_poll.events.wait(enough));
    by_ws.stop();
    by_poll.stop();

    const auto a = by_ws.events.items(), b = by_poll.events.items();
    EXPECT_EQ(a.front().header.number, 3u);
    for (std::size_t i = 0; i < 60; ++i) {
        EXPECT_EQ(a[i].kind, b[i].kind) << i;
        EXPECT_EQ(a[i].header, b[i].header) << i;
        EXPECT_EQ(a[i].logs, b[i].logs) << i;
    }
    EXPECT_EQ(replay(a).size(), a.size());
    EXPECT_EQ(by_poll.count(StreamNotice::Kind::connected), 0u);
    std::multiset<uint8_t> tags;
    for (uint8_t t : added_log_tags(a)) tags.insert(t);
    EXPECT_EQ(tags, (std::multiset<uint8_t>{1, 2, 3, 4, 5, 6})) << "all six logs within 60 blocks";
}

}  // namespace
}  // namespace vigil::test
