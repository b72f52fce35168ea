// From Intent accepted to eth_sendRawTransaction on the wire: the pipeline's own time.
//
// A wave of N intents goes through TxPipeline::submit (allow-list, limits, fees from the
// cached quote, nonce, sign, journal with an fsync'd SQLite transaction, send): the first
// intent alone, then the rest as one journal transaction and one JSON-RPC batch. The
// clock starts when submit is called and stops when the first send's first bytes arrive
// at the JSON-RPC server: a loopback stub in this binary, which answers at once so that
// no node time is counted. Manual time: each iteration's time is exactly that interval;
// last_on_wire_us is the mean time to the last send's arrival (the whole wave).
//  - intent_to_wire/N/0: simulation off (the intent's gas_cap is the gas limit).
//  - .../tmpfs:1: the journal in /dev/shm, where fsync is free: our own time without the
//    disk's. tmpfs:0 is the real thing, on the temp dir's disk.
//  - intent_to_wire/N/1: simulation on: one eth_call batch and one eth_estimateGas batch
//    first, two loopback round trips to the stub, included in the time.
// Baseline in the same binary: bare_sign_and_send signs one tx and sends it with
// RpcProvider::send_raw_transaction, no checks, no journal: the floor of any keeper.
// The journal's fsync dominates and depends on the disk (see agent_bench's fdatasync_4k).
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "agent/pipeline.hpp"
#include "chain/rpc_provider.hpp"
#include "keys/local_signer.hpp"
#include "tests/support/task.hpp"

using namespace vigil;
using namespace vigil::agent;
using Clock = std::chrono::steady_clock;

namespace {

/// JSON-RPC over HTTP/1.1 keep-alive on 127.0.0.1, a thread per connection, answering
/// every method the pipeline calls with fixed values. Records when the first bytes of the
/// first and of the last request carrying eth_sendRawTransaction arrived.
class StubNode {
public:
    StubNode() {
        listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(listener_, 4) != 0)
            throw std::runtime_error("stub node: cannot listen");
        socklen_t len = sizeof addr;
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    ~StubNode() {
        stop_ = true;
        ::shutdown(listener_, SHUT_RDWR);
        ::close(listener_);
        thread_.join();
        // The accept thread is gone: nothing adds connections now.
        for (const int fd : connections_) ::shutdown(fd, SHUT_RDWR);
        for (std::thread& t : connection_threads_) t.join();
        for (const int fd : connections_) ::close(fd);
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    /// Sends since the last call: the first one's and the last one's arrival.
    std::pair<Clock::time_point, Clock::time_point> take_send_arrivals() {
        std::lock_guard lock(mutex_);
        const auto arrivals = std::pair(first_send_.value(), last_send_);  // throws if none
        first_send_.reset();
        return arrivals;
    }

private:
    static nlohmann::json answer(const nlohmann::json& call) {
        const std::string method = call.at("method");
        nlohmann::json result;
        if (method == "eth_chainId")
            result = "0x7a69";
        else if (method == "eth_getTransactionCount")
            result = "0x0";
        else if (method == "eth_call")
            result = "0x";
        else if (method == "eth_estimateGas")
            result = "0x30d40";
        else if (method == "eth_feeHistory")
            result = {{"oldestBlock", "0x1"},
                      {"baseFeePerGas", {"0x3b9aca00", "0x3b9aca00"}},
                      {"gasUsedRatio", {0.5}},
                      {"reward", {{"0x3b9aca00"}}}};
        else if (method == "eth_sendRawTransaction")
            result = "0x" + std::string(64, '1');
        return {{"jsonrpc", "2.0"}, {"id", call.at("id")}, {"result", result}};
    }

    void serve() {
        while (!stop_) {
            const int fd = ::accept(listener_, nullptr, nullptr);
            if (fd < 0) return;
            int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            std::lock_guard lock(mutex_);
            connections_.push_back(fd);
            connection_threads_.emplace_back([this, fd] { serve_connection(fd); });
        }
    }

    void serve_connection(int fd) {
        std::string buffer;
        char chunk[65536];
        Clock::time_point first_byte;
        for (;;) {
            const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
            if (n <= 0) break;
            const auto arrived = Clock::now();
            if (buffer.empty()) first_byte = arrived;
            buffer.append(chunk, static_cast<std::size_t>(n));
            // Serve every complete request in the buffer.
            for (;;) {
                const auto head_end = buffer.find("\r\n\r\n");
                if (head_end == std::string::npos) break;
                std::string head = buffer.substr(0, head_end);
                for (char& c : head) c = static_cast<char>(std::tolower(c));
                const auto cl = head.find("content-length:");
                const std::size_t length =
                    cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 15));
                if (buffer.size() < head_end + 4 + length) break;
                const std::string body = buffer.substr(head_end + 4, length);
                buffer.erase(0, head_end + 4 + length);
                if (body.find("eth_sendRawTransaction") != std::string::npos) {
                    std::lock_guard lock(mutex_);
                    if (!first_send_ || first_byte < *first_send_) first_send_ = first_byte;
                    last_send_ = std::max(last_send_, first_byte);
                }
                const auto request = nlohmann::json::parse(body);
                nlohmann::json reply;
                if (request.is_array()) {
                    reply = nlohmann::json::array();
                    for (const auto& call : request) reply.push_back(answer(call));
                } else {
                    reply = answer(request);
                }
                const std::string text = reply.dump();
                const std::string response =
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(text.size()) + "\r\n\r\n" + text;
                ::send(fd, response.data(), response.size(), MSG_NOSIGNAL);
                first_byte = Clock::now();
            }
        }
    }

    int listener_ = -1;
    unsigned short port_ = 0;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    std::vector<int> connections_;
    std::vector<std::thread> connection_threads_;
    std::optional<Clock::time_point> first_send_;
    Clock::time_point last_send_;
};

std::unique_ptr<keys::LocalSigner> bench_signer() {
    std::array<uint8_t, 32> key{};
    key[31] = 7;  // a fixed test key
    auto signer = keys::make_local_signer(keys::SecretKey(std::span<const uint8_t, 32>(key)));
    if (!signer) throw std::runtime_error("bench key rejected");
    return std::make_unique<keys::LocalSigner>(std::move(*signer));
}

Address filled(uint8_t b) {
    Address a;
    a.bytes.fill(b);
    return a;
}

/// Args: wave size, simulate (0/1), journal on tmpfs (0: on the temp dir's disk; 1: in
/// /dev/shm, where fsync costs nothing: our own time without the disk's).
void intent_to_wire(benchmark::State& state) {
    const auto wave_size = static_cast<std::size_t>(state.range(0));
    const bool simulate = state.range(1) != 0;
    const bool tmpfs = state.range(2) != 0;
    StubNode node;
    net::io_context ioc;
    RpcProvider provider(ioc.get_executor(), RpcProviderConfig{{node.url()}, {}, {}});
    const auto dir =
        (tmpfs ? std::filesystem::path("/dev/shm") : std::filesystem::temp_directory_path()) /
        ("vigil-pipeline-bench-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    auto journal = Journal::open(dir);
    if (!journal) {
        state.SkipWithError(journal.error().detail.c_str());
        return;
    }
    SignerMap signers;
    signers.emplace("keeper", bench_signer());
    const Address target = filled(0x22);
    Allowlist allow;
    const abi::Selector selector{0x6a, 0x62, 0x78, 0x42};
    allow.add("keeper", target, selector);
    PipelineConfig config;
    config.chain_id = 31337;
    config.max_inflight_txs = UINT32_MAX;
    config.max_gas_spend_per_hour_wei = ~u256(0);
    std::ostringstream log_text;
    Logger log(log_text, LogFormat::text, LogLevel::error);
    TxPipeline pipeline(config, provider, nullptr, *journal, signers, std::move(allow), log, {});
    BlockHeader head;
    head.number = 100;
    head.base_fee_per_gas = u256(1'000'000'000);
    if (auto started = test::run(ioc, pipeline.start(head)); !started) {
        state.SkipWithError(started.error().c_str());
        return;
    }
    Bytes calldata(4 + 32 * 4, 0);
    std::copy(selector.begin(), selector.end(), calldata.begin());
    uint64_t serial = 0;
    double last_on_wire_us = 0;  // summed over iterations
    for (auto _ : state) {
        std::vector<Intent> wave(wave_size);
        for (Intent& intent : wave) {
            intent.idempotency_key = "bench/" + std::to_string(serial++);
            intent.strategy = "bench";
            intent.signer = "keeper";
            intent.target = target;
            intent.calldata = calldata;
            intent.gas_cap = 500'000;
        }
        const auto start = Clock::now();
        test::run(ioc, pipeline.submit(std::move(wave), head,
                                       SubmitOptions{simulate ? config::Simulation::always
                                                              : config::Simulation::never}));
        const auto [first, last] = node.take_send_arrivals();
        state.SetIterationTime(std::chrono::duration<double>(first - start).count());
        last_on_wire_us += std::chrono::duration<double, std::micro>(last - start).count();
    }
    state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(wave_size));
    state.counters["last_on_wire_us"] =
        benchmark::Counter(last_on_wire_us, benchmark::Counter::kAvgIterations);
    std::filesystem::remove_all(dir);
}
BENCHMARK(intent_to_wire)
    ->ArgsProduct({{1, 25}, {0, 1}, {0, 1}})
    ->ArgNames({"wave", "simulate", "tmpfs"})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

/// Baseline: sign + send one transaction, nothing else.
void bare_sign_and_send(benchmark::State& state) {
    StubNode node;
    net::io_context ioc;
    RpcProvider provider(ioc.get_executor(), RpcProviderConfig{{node.url()}, {}, {}});
    const auto signer = bench_signer();
    TxEnvelope tx;
    tx.chain_id = 31337;
    tx.max_fee_per_gas = 3'000'000'000u;
    tx.max_priority_fee_per_gas = 1'000'000'000u;
    tx.gas_limit = 500'000;
    tx.to = filled(0x22);
    tx.data = Bytes(4 + 32 * 4, 0);
    for (auto _ : state) {
        const auto start = Clock::now();
        auto raw = signer->sign(tx);
        ++tx.nonce;
        test::run(ioc, [&]() -> Task<bool> {
            auto sent = co_await provider.send_raw_transaction(*raw);
            co_return sent.has_value();
        }());
        state.SetIterationTime(
            std::chrono::duration<double>(node.take_send_arrivals().first - start).count());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bare_sign_and_send)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
