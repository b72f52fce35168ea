// The fault proxy against a real anvil, with the pinned cast and raw loopback sockets as
// clients; where both ends must be observed, the test itself plays the upstream.
#include "tests/support/fault_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/anvil.hpp"

namespace vigil::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Long enough for any loopback exchange on a loaded machine; reached only when a test fails.
constexpr auto kPatience = 5s;
// How long "nothing arrives" is watched for.
constexpr auto kQuiet = 300ms;

std::chrono::milliseconds since(Clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

RunResult cast_at(const std::string& url, std::vector<std::string> args) {
    std::vector<std::string> argv = {tool_path("cast")};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--rpc-url");
    argv.push_back(url);
    return run(argv);
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
}

sockaddr_in loopback(unsigned short port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    return addr;
}

struct Received {
    std::string bytes;
    bool eof = false;  ///< the peer closed (FIN or reset)
};

// A blocking loopback TCP socket whose reads all end by a deadline.
class Conn {
public:
    explicit Conn(int fd) : fd_(fd) {}
    Conn(Conn&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;
    ~Conn() {
        if (fd_ >= 0) ::close(fd_);
    }

    /// Connects to 127.0.0.1:port; error() holds the errno of a failure.
    static Conn to(unsigned short port) {
        Conn conn(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        const sockaddr_in addr = loopback(port);
        if (::connect(conn.fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
            conn.errno_ = errno;
        return conn;
    }

    bool connected() const { return fd_ >= 0 && errno_ == 0; }
    int error() const { return errno_; }

    void send(std::string_view bytes) {
        while (!bytes.empty()) {
            const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            ASSERT_GT(n, 0) << std::strerror(errno);
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    /// Reads until `done` accepts what arrived, the peer closes, or `timeout` passes.
    Received read_until(const std::function<bool(const std::string&)>& done,
                        std::chrono::milliseconds timeout) {
        Received r;
        const auto deadline = Clock::now() + timeout;
        while (!done(r.bytes)) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0) break;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
            char buf[16384];
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) {
                r.eof = true;
                break;
            }
            r.bytes.append(buf, static_cast<std::size_t>(n));
        }
        return r;
    }

    Received read_for(std::chrono::milliseconds timeout) {
        return read_until([](const std::string&) { return false; }, timeout);
    }

    Received read_exactly(std::size_t size) {
        return read_until([size](const std::string& s) { return s.size() >= size; }, kPatience);
    }

private:
    int fd_ = -1;
    int errno_ = 0;
};

// A loopback listener the test reads and writes itself, standing in for the upstream.
class Upstream {
public:
    Upstream() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        sockaddr_in addr = loopback(0);
        socklen_t len = sizeof addr;
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(fd_, 16) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
            throw std::runtime_error(std::string("upstream listener: ") + std::strerror(errno));
        port_ = ntohs(addr.sin_port);
    }
    ~Upstream() { ::close(fd_); }

    unsigned short port() const { return port_; }

    /// The next connection the proxy opens, or an unconnected Conn after kPatience.
    Conn accept() {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kPatience).count())) <= 0)
            return Conn(-1);
        return Conn(::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC));
    }

private:
    int fd_;
    unsigned short port_ = 0;
};

nlohmann::json rpc_object(std::string_view method, int id) {
    return {
        {"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", nlohmann::json::array()}};
}

std::string rpc_call(std::string_view method, int id) {
    return rpc_object(method, id).dump();
}

std::string http_post(const std::string& body) {
    return "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           "Content-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
}

struct HttpResponse {
    int status = 0;
    std::string head;  ///< status line and headers
    std::string body;
    std::size_t content_length = 0;
    bool eof = false;
};

// Content-Length of a response head, or nullopt without one. Header names are
// case-insensitive: anvil sends "content-length", the proxy "Content-Length".
std::optional<std::size_t> content_length(std::string_view head) {
    std::string lower(head);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::size_t at = lower.find("\r\ncontent-length:");
    if (at == std::string::npos) return std::nullopt;
    return std::stoul(lower.substr(at + 17));
}

// Reads one response (head + Content-Length body), or what came before EOF or kPatience.
HttpResponse read_response(Conn& conn) {
    const auto complete = [](const std::string& s) {
        const std::size_t end = s.find("\r\n\r\n");
        if (end == std::string::npos) return false;
        const auto length = content_length(std::string_view(s).substr(0, end + 2));
        return length && s.size() >= end + 4 + *length;
    };
    const Received r = conn.read_until(complete, kPatience);
    HttpResponse response;
    response.eof = r.eof;
    const std::size_t end = r.bytes.find("\r\n\r\n");
    if (end == std::string::npos || r.bytes.size() < 12) return response;
    response.status = std::stoi(r.bytes.substr(9, 3));
    response.head = r.bytes.substr(0, end + 2);
    response.body = r.bytes.substr(end + 4);
    response.content_length = content_length(response.head).value_or(0);
    return response;
}

HttpResponse post(Conn& conn, const std::string& body) {
    conn.send(http_post(body));
    return read_response(conn);
}

// ---- pass-through ----

TEST(fault_proxy, forwards_http_and_counts_each_call) {
    Anvil anvil;
    FaultProxy proxy(anvil.port());
    const RunResult sent = cast_at(proxy.http_url(), {"send", "--private-key", Anvil::kDevKey0,
                                                      Anvil::kDevAddress1, "--value", "1"});
    ASSERT_EQ(sent.exit_code, 0) << sent.err;
    const RunResult number = cast_at(proxy.http_url(), {"block-number"});
    ASSERT_EQ(number.exit_code, 0) << number.err;
    EXPECT_EQ(trimmed(number.out), "1");
    EXPECT_EQ(trimmed(number.out), anvil.cast({"block-number"}));
    EXPECT_EQ(proxy.forwarded("eth_sendRawTransaction"), 1u);
    EXPECT_EQ(proxy.received("eth_sendRawTransaction"), 1u);
    EXPECT_GE(proxy.forwarded("eth_blockNumber"), 1u);
    EXPECT_EQ(proxy.forwarded("eth_blockNumber"), proxy.received("eth_blockNumber"));
}

TEST(fault_proxy, forwards_websocket_unchanged_and_uncounted) {
    Anvil anvil;
    FaultProxy proxy(anvil.port());
    const RunResult sent = cast_at(proxy.ws_url(), {"send", "--private-key", Anvil::kDevKey0,
                                                    Anvil::kDevAddress1, "--value", "1"});
    ASSERT_EQ(sent.exit_code, 0) << sent.err;
    EXPECT_NE(sent.out.find("status               1 (success)"), std::string::npos) << sent.out;
    // Each cast run comes through the proxy. How many connections a run opens is cast's
    // choice (usually one; two seen on a loaded machine), so each run is counted as at
    // least one new connection.
    const std::size_t after_send = proxy.connections_accepted();
    EXPECT_GE(after_send, 1u);
    const RunResult number = cast_at(proxy.ws_url(), {"block-number"});
    ASSERT_EQ(number.exit_code, 0) << number.err;
    EXPECT_EQ(trimmed(number.out), "1");
    EXPECT_GT(proxy.connections_accepted(), after_send);
    // Frames on an upgraded connection are opaque: nothing in them is framed as HTTP.
    EXPECT_EQ(proxy.received("eth_sendRawTransaction"), 0u);
    EXPECT_EQ(proxy.received("eth_blockNumber"), 0u);
}

TEST(fault_proxy, keeps_alive_and_counts_every_call_of_a_batch) {
    Anvil anvil;
    FaultProxy proxy(anvil.port());
    Conn conn = Conn::to(proxy.port());
    ASSERT_TRUE(conn.connected());
    const std::string batch =
        nlohmann::json::array({rpc_object("eth_blockNumber", 1), rpc_object("eth_chainId", 2),
                               rpc_object("eth_blockNumber", 3)})
            .dump();
    const HttpResponse first = post(conn, batch);
    ASSERT_EQ(first.status, 200) << first.head;
    const auto replies = nlohmann::json::parse(first.body, nullptr, false);
    ASSERT_TRUE(replies.is_array()) << first.body;
    EXPECT_EQ(replies.size(), 3u);
    // A request whose body arrives in a later read than its head is framed all the same.
    const std::string single = http_post(rpc_call("eth_chainId", 4));
    conn.send(single.substr(0, single.size() - 5));
    EXPECT_EQ(conn.read_for(100ms).bytes, "");
    conn.send(single.substr(single.size() - 5));
    const HttpResponse second = read_response(conn);
    ASSERT_EQ(second.status, 200) << second.head;
    EXPECT_EQ(nlohmann::json::parse(second.body)["result"], "0x7a69");
    EXPECT_EQ(proxy.connections_accepted(), 1u);
    EXPECT_EQ(proxy.forwarded("eth_blockNumber"), 2u);
    EXPECT_EQ(proxy.forwarded("eth_chainId"), 2u);
    EXPECT_EQ(proxy.received("eth_chainId"), 2u);
}

TEST(fault_proxy, records_each_forwarded_call_with_its_params_and_time) {
    Anvil anvil;
    FaultProxy proxy(anvil.port());
    Conn conn = Conn::to(proxy.port());
    ASSERT_EQ(post(conn, rpc_call("eth_chainId", 1)).status, 200);  // before recording
    proxy.set_recording(true);
    proxy.set_delay(100ms);
    auto balance = rpc_object("eth_getBalance", 2);
    balance["params"] = {"0x0000000000000000000000000000000000000001", "latest"};
    const auto sent = Clock::now();
    ASSERT_EQ(post(conn, nlohmann::json::array({balance, rpc_object("eth_blockNumber", 3)}).dump())
                  .status,
              200);
    proxy.set_delay(0ms);
    proxy.inject(HttpFault::status_500);  // answered by the proxy: never written upstream
    EXPECT_EQ(post(conn, rpc_call("eth_chainId", 4)).status, 500);
    const auto recorded = proxy.take_recorded();
    ASSERT_EQ(recorded.size(), 2u);
    EXPECT_EQ(recorded[0].method, "eth_getBalance");
    EXPECT_EQ(nlohmann::json::parse(recorded[0].params), balance["params"]);
    EXPECT_EQ(recorded[1].method, "eth_blockNumber");
    EXPECT_EQ(recorded[1].params, "[]");
    // Stamped when written upstream: after the delay on the way in.
    EXPECT_GE(recorded[0].at - sent, 100ms);
    EXPECT_EQ(recorded[0].at, recorded[1].at);
    EXPECT_TRUE(proxy.take_recorded().empty());
    proxy.set_recording(false);
    ASSERT_EQ(post(conn, rpc_call("eth_chainId", 5)).status, 200);
    EXPECT_TRUE(proxy.take_recorded().empty());
}

// ---- injected HTTP faults ----

TEST(fault_proxy, answers_429_with_retry_after_then_forwards_again) {
    Anvil anvil;
    FaultProxy proxy(anvil.port());
    Conn conn = Conn::to(proxy.port());
    proxy.inject(HttpFault::status_429);
    const HttpResponse limited = post(conn, rpc_call("eth_blockNumber", 1));
    EXPECT_EQ(limited.status, 429);
    EXPECT_NE(limited.head.find("Retry-After: 1\r\n"), std::string::npos) << limited.head;
    EXPECT_TRUE(nlohmann::json::parse(limited.body, nullptr, false).contains("error"))
        << limited.body;
    EXPECT_EQ(proxy.pending_faults(), 0u);
    // The same keep-alive connection carries the next request to anvil.
    EXPECT_EQ(post(conn, rpc_call("eth_blockNumber", 2)).status, 200);
    EXPECT_EQ(proxy.received("eth_blockNumber"), 2u);
    EXPECT_EQ(proxy.forwarded("eth_blockNumber"), 1u);
}

TEST(fault_proxy, shows_a_client_retrying_a_read_after_429) {
    Anvil anvil;
    FaultProxy proxy(anvil.port());
    proxy.inject(HttpFault::status_429);
    const RunResult number = cast_at(proxy.http_url(), {"block-number"});
    ASSERT_EQ(number.exit_code, 0) << number.err;
    EXPECT_EQ(trimmed(number.out), "0");
    EXPECT_EQ(proxy.received("eth_blockNumber"), proxy.forwarded("eth_blockNumber") + 1);
}

TEST(fault_proxy, answers_500_and_503) {
    Anvil anvil;
    FaultProxy proxy(anvil.port());
    Conn conn = Conn::to(proxy.port());
    proxy.inject(HttpFault::status_500);
    proxy.inject(HttpFault::status_503);
    EXPECT_EQ(post(conn, rpc_call("eth_chainId", 1)).status, 500);
    EXPECT_EQ(post(conn, rpc_call("eth_chainId", 2)).status, 503);
    EXPECT_EQ(proxy.forwarded("eth_chainId"), 0u);

    proxy.inject(HttpFault::status_500);
    const RunResult failed = cast_at(proxy.http_url(), {"block-number"});
    EXPECT_NE(failed.exit_code, 0);
    EXPECT_NE(failed.err.find("HTTP error 500"), std::string::npos) << failed.err;
}

TEST(fault_proxy, injects_only_the_next_n_requests) {
    Anvil anvil;
    FaultProxy proxy(anvil.port());
    Conn conn = Conn::to(proxy.port());
    proxy.inject(HttpFault::status_500, 2);
    EXPECT_EQ(post(conn, rpc_call("eth_chainId", 1)).status, 500);
    EXPECT_EQ(post(conn, rpc_call("eth_chainId", 2)).status, 500);
    EXPECT_EQ(post(conn, rpc_call("eth_chainId", 3)).status, 200);
    EXPECT_EQ(proxy.received("eth_chainId"), 3u);
    EXPECT_EQ(proxy.forwarded("eth_chainId"), 1u);
}

TEST(fault_proxy, answers_a_body_that_is_not_json) {
    Anvil anvil;
    FaultProxy proxy(anvil.port());
    Conn conn = Conn::to(proxy.port());
    proxy.inject(HttpFault::garbage_body);
    const HttpResponse garbage = post(conn, rpc_call("eth_chainId", 1));
    EXPECT_EQ(garbage.status, 200);
    EXPECT_FALSE(garbage.body.empty());
    EXPECT_TRUE(nlohmann::json::parse(garbage.body, nullptr, false).is_discarded());

    proxy.inject(HttpFault::garbage_body);
    const RunResult failed = cast_at(proxy.http_url(), {"block-number"});
    EXPECT_NE(failed.exit_code, 0);
    EXPECT_NE(failed.err.find("deserialization error"), std::string::npos) << failed.err;
}

TEST(fault_proxy, sends_half_a_body_then_closes) {
    Anvil anvil;
    FaultProxy proxy(anvil.port());
    Conn conn = Conn::to(proxy.port());
    proxy.inject(HttpFault::half_body);
    const HttpResponse half = post(conn, rpc_call("eth_chainId", 1));
    EXPECT_EQ(half.status, 200);
    EXPECT_TRUE(half.eof);
    EXPECT_GT(half.body.size(), 0u);
    EXPECT_LT(half.body.size(), half.content_length);

    proxy.inject(HttpFault::half_body);
    const RunResult failed = cast_at(proxy.http_url(), {"block-number"});
    EXPECT_NE(failed.exit_code, 0);
    EXPECT_NE(failed.err.find("end of file before message length reached"), std::string::npos)
        << failed.err;
}

TEST(fault_proxy, closes_without_a_response) {
    Anvil anvil;
    FaultProxy proxy(anvil.port());
    Conn conn = Conn::to(proxy.port());
    proxy.inject(HttpFault::close_without_response);
    conn.send(http_post(rpc_call("eth_sendRawTransaction", 1)));
    const Received r = conn.read_for(kPatience);
    EXPECT_TRUE(r.eof);
    EXPECT_EQ(r.bytes, "");
    EXPECT_EQ(proxy.received("eth_sendRawTransaction"), 1u);
    EXPECT_EQ(proxy.forwarded("eth_sendRawTransaction"), 0u);
}

TEST(fault_proxy, hangs_with_the_connection_open) {
    Anvil anvil;
    FaultProxy proxy(anvil.port());
    Conn conn = Conn::to(proxy.port());
    proxy.inject(HttpFault::hang);
    conn.send(http_post(rpc_call("eth_chainId", 1)));
    const Received r = conn.read_for(kQuiet);
    EXPECT_FALSE(r.eof);
    EXPECT_EQ(r.bytes, "");

    proxy.inject(HttpFault::hang);
    const auto start = Clock::now();
    const RunResult failed = cast_at(proxy.http_url(), {"block-number", "--rpc-timeout", "1"});
    EXPECT_NE(failed.exit_code, 0);
    EXPECT_NE(failed.err.find("timed out"), std::string::npos) << failed.err;
    EXPECT_GE(since(start), 1s);
    EXPECT_EQ(proxy.forwarded("eth_blockNumber"), 0u);
    EXPECT_EQ(proxy.forwarded("eth_chainId"), 0u);
}

// ---- connection faults ----

TEST(fault_proxy, cut_closes_both_sides_of_every_live_connection) {
    Upstream upstream;
    FaultProxy proxy(upstream.port());
    std::vector<Conn> clients;
    std::vector<Conn> servers;
    for (int i = 0; i < 2; ++i) {
        clients.push_back(Conn::to(proxy.port()));
        // Not HTTP: the bytes go through untouched, in both directions.
        clients.back().send("\x01hello");
        servers.push_back(upstream.accept());
        EXPECT_EQ(servers.back().read_exactly(6).bytes, "\x01hello");
        servers.back().send("world\xff");
        EXPECT_EQ(clients.back().read_exactly(6).bytes, "world\xff");
    }
    proxy.cut();
    for (auto* side : {&clients, &servers})
        for (Conn& conn : *side) EXPECT_TRUE(conn.read_for(kPatience).eof);

    Conn later = Conn::to(proxy.port());
    later.send("again");
    Conn server = upstream.accept();
    EXPECT_EQ(server.read_exactly(5).bytes, "again");
    EXPECT_EQ(proxy.connections_accepted(), 3u);
}

TEST(fault_proxy, refuse_closes_new_connections_until_turned_off) {
    Anvil anvil;
    FaultProxy proxy(anvil.port());
    proxy.set_refuse(true);
    Conn conn = Conn::to(proxy.port());
    ASSERT_TRUE(conn.connected());
    EXPECT_TRUE(conn.read_for(kPatience).eof);
    const RunResult failed = cast_at(proxy.http_url(), {"block-number"});
    EXPECT_NE(failed.exit_code, 0);

    proxy.set_refuse(false);
    const RunResult number = cast_at(proxy.http_url(), {"block-number"});
    EXPECT_EQ(number.exit_code, 0) << number.err;
    EXPECT_GE(proxy.connections_accepted(), 3u);
}

TEST(fault_proxy, not_listening_refuses_connects_until_resumed) {
    Anvil anvil;
    FaultProxy proxy(anvil.port());
    proxy.set_listening(false);
    const Conn refused = Conn::to(proxy.port());
    EXPECT_FALSE(refused.connected());
    EXPECT_EQ(refused.error(), ECONNREFUSED);
    const RunResult failed = cast_at(proxy.http_url(), {"block-number"});
    EXPECT_NE(failed.exit_code, 0);
    EXPECT_NE(failed.err.find("Connection refused"), std::string::npos) << failed.err;

    proxy.set_listening(true);
    const RunResult number = cast_at(proxy.http_url(), {"block-number"});
    EXPECT_EQ(number.exit_code, 0) << number.err;
    EXPECT_EQ(proxy.connections_accepted(), 1u);
}

TEST(fault_proxy, stall_holds_bytes_both_ways_until_lifted) {
    Upstream upstream;
    FaultProxy proxy(upstream.port());
    Conn client = Conn::to(proxy.port());
    Conn server = upstream.accept();
    ASSERT_TRUE(server.connected());

    proxy.set_stall(true);
    client.send("ping");
    EXPECT_EQ(server.read_for(kQuiet).bytes, "");
    proxy.set_stall(false);
    EXPECT_EQ(server.read_exactly(4).bytes, "ping");

    proxy.set_stall(true);
    server.send("pong");
    EXPECT_EQ(client.read_for(kQuiet).bytes, "");
    proxy.set_stall(false);
    EXPECT_EQ(client.read_exactly(4).bytes, "pong");
}

TEST(fault_proxy, delay_holds_each_chunk_and_keeps_order) {
    Upstream upstream;
    FaultProxy proxy(upstream.port());
    Conn client = Conn::to(proxy.port());
    Conn server = upstream.accept();
    ASSERT_TRUE(server.connected());

    // The second chunk is not delayed but must still wait behind the first.
    proxy.set_delay(300ms);
    auto start = Clock::now();
    client.send("first,");
    // Also gives the proxy time to read "first," under the long delay.
    EXPECT_EQ(server.read_for(100ms).bytes, "");
    proxy.set_delay(0ms);
    client.send("second");
    EXPECT_EQ(server.read_exactly(12).bytes, "first,second");
    EXPECT_GE(since(start), 300ms);

    proxy.set_delay(200ms);
    start = Clock::now();
    server.send("back");
    EXPECT_EQ(client.read_exactly(4).bytes, "back");
    EXPECT_GE(since(start), 200ms);
}

TEST(fault_proxy, delay_slows_a_json_rpc_round_trip) {
    Anvil anvil;
    FaultProxy proxy(anvil.port());
    proxy.set_delay(200ms);
    const auto start = Clock::now();
    const RunResult number = cast_at(proxy.http_url(), {"block-number"});
    EXPECT_EQ(number.exit_code, 0) << number.err;
    // Once on the way in, once on the way out.
    EXPECT_GE(since(start), 400ms);
}

// ---- lies ----

nlohmann::json rpc_object(std::string_view method, int id, nlohmann::json params) {
    nlohmann::json call = rpc_object(method, id);
    call["params"] = std::move(params);
    return call;
}

// The answers of a batch response, by id.
std::map<int, nlohmann::json> answers_by_id(const HttpResponse& response) {
    std::map<int, nlohmann::json> out;
    const auto answers = nlohmann::json::parse(response.body, nullptr, false);
    if (!answers.is_array()) return out;
    for (const auto& answer : answers)
        out[answer.value("id", -1)] = answer.value("result", nlohmann::json());
    return out;
}

TEST(fault_proxy, inflates_the_pending_count_the_next_n_times_inside_a_batch) {
    Anvil anvil;
    anvil.cast({"send", "--private-key", Anvil::kDevKey0, Anvil::kDevAddress1, "--value", "1"});
    FaultProxy proxy(anvil.port());
    proxy.inflate_pending_count(5, 2);
    Conn conn = Conn::to(proxy.port());
    const auto count_of = [](int id, const char* block) {
        return rpc_object("eth_getTransactionCount", id, {Anvil::kDevAddress0, block});
    };
    // Only the pending count changes; the batch's other answers pass as they are.
    const HttpResponse first =
        post(conn, nlohmann::json::array({count_of(1, "latest"), count_of(2, "pending"),
                                          rpc_object("eth_chainId", 3)})
                       .dump());
    ASSERT_EQ(first.status, 200) << first.head;
    EXPECT_EQ(first.content_length, first.body.size());
    const auto answers = answers_by_id(first);
    EXPECT_EQ(answers.at(1), "0x1");
    EXPECT_EQ(answers.at(2), "0x6");
    EXPECT_EQ(answers.at(3), "0x7a69");
    // The second time over cast (its own client), then the lie is spent.
    EXPECT_EQ(
        trimmed(
            cast_at(proxy.http_url(), {"nonce", Anvil::kDevAddress0, "--block", "pending"}).out),
        "6");
    EXPECT_EQ(
        trimmed(
            cast_at(proxy.http_url(), {"nonce", Anvil::kDevAddress0, "--block", "pending"}).out),
        "1");
    EXPECT_EQ(proxy.lies_told("eth_getTransactionCount"), 2u);
}

TEST(fault_proxy, answers_another_chain_id_over_http_and_websocket_until_it_stops) {
    Anvil anvil;
    FaultProxy proxy(anvil.port());
    proxy.lie_chain_id(1);
    EXPECT_EQ(trimmed(cast_at(proxy.http_url(), {"chain-id"}).out), "1");
    EXPECT_EQ(trimmed(cast_at(proxy.ws_url(), {"chain-id"}).out), "1");
    // Other answers on the websocket pass as they are.
    EXPECT_EQ(trimmed(cast_at(proxy.ws_url(), {"block-number"}).out), "0");
    EXPECT_EQ(proxy.lies_told("eth_chainId"), 2u);
    proxy.stop_lying();
    EXPECT_EQ(trimmed(cast_at(proxy.http_url(), {"chain-id"}).out), "31337");
    EXPECT_EQ(trimmed(cast_at(proxy.ws_url(), {"chain-id"}).out), "31337");
    EXPECT_EQ(proxy.lies_told("eth_chainId"), 2u);
}

TEST(fault_proxy, answers_a_receipt_for_another_transaction) {
    Anvil anvil;
    const std::string tx = anvil.cast(
        {"send", "--private-key", Anvil::kDevKey0, Anvil::kDevAddress1, "--value", "1", "--json"});
    const std::string hash = nlohmann::json::parse(tx).at("transactionHash");
    FaultProxy proxy(anvil.port());
    proxy.lie_receipt();
    Conn conn = Conn::to(proxy.port());
    const auto receipt_of = [&](int id, const std::string& of) {
        return rpc_object("eth_getTransactionReceipt", id, {of}).dump();
    };
    // A transaction that is not mined has no receipt to lie about.
    const std::string unknown = "0x" + std::string(64, '1');
    EXPECT_TRUE(nlohmann::json::parse(post(conn, receipt_of(1, unknown)).body)["result"].is_null());
    const HttpResponse lied = post(conn, receipt_of(2, hash));
    ASSERT_EQ(lied.status, 200) << lied.head;
    const auto receipt = nlohmann::json::parse(lied.body)["result"];
    ASSERT_TRUE(receipt.is_object()) << lied.body;
    EXPECT_NE(receipt["transactionHash"], hash);
    EXPECT_EQ(receipt["transactionHash"].get<std::string>().size(), hash.size());
    EXPECT_EQ(receipt["blockNumber"], "0x1");
    // Told once: the next answer is the true one.
    EXPECT_EQ(
        nlohmann::json::parse(post(conn, receipt_of(3, hash)).body)["result"]["transactionHash"],
        hash);
    EXPECT_EQ(proxy.lies_told("eth_getTransactionReceipt"), 1u);
}

}  // namespace
}  // namespace vigil::test
