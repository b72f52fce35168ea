#pragma once
// The Provider over several JSON-RPC endpoints of one chain: failover by health, retries
// for reads, at-most-once writes, and eth_getLogs range splitting.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "chain/asio.hpp"
#include "chain/http_transport.hpp"
#include "chain/json_rpc.hpp"
#include "chain/provider.hpp"
#include "chain/transport.hpp"

namespace vigil {

/// How transactions are submitted: eth_sendRawTransaction (the public mempool), or
/// eth_sendPrivateTransaction (a private relay such as a chain's `private_rpc`).
enum class SendMethod { raw_transaction, private_transaction };

/// Which chain every endpoint must serve. An endpoint is asked eth_chainId before its
/// first request, and again before its first request after each demotion (a failure or
/// a slow answer: its connection may be new then, and so may the node behind the URL, as
/// when a failover comes back to it). An endpoint that answers another id is refused for
/// good: `on_refused` is told (a Failure of kind wrong_chain naming the masked URL and
/// both ids) and no request is sent to it again. A check that fails otherwise (no
/// answer, an error object) counts as a failure of that endpoint. Not checked: a new
/// connection libcurl opens on its own (an idle one expired, a second one for
/// concurrent requests) to an endpoint that has not failed.
struct ChainCheck {
    /// nullopt: endpoints are not checked.
    std::optional<uint64_t> chain_id;
    /// Called on the provider's executor, once per refused endpoint.
    std::function<void(const rpc::Failure&)> on_refused;
};

/// How RpcProvider retries, fails over and splits. The defaults suit public and paid
/// endpoints; tests shorten the durations.
struct RpcPolicy {
    /// eth_getLogs ranges are cut into pieces of at most this many blocks; 0 for no limit.
    /// 2,000 is what most hosted providers accept; a node that refuses a piece anyway
    /// (see is_range_refusal) gets halves of it.
    uint64_t max_log_range = 2'000;
    /// Tries of one read in total, over all endpoints (1: no retry). Reads are every
    /// method but send_raw_transaction.
    unsigned read_attempts = 4;
    /// The wait before retrying on an endpoint already tried by this call is
    /// backoff_base × 2^(retry − 1), at most backoff_max, with jitter: a uniform draw
    /// from its upper half. Moving on to an untried healthy endpoint does not wait.
    std::chrono::milliseconds backoff_base{100};
    std::chrono::milliseconds backoff_max{5'000};
    /// A rate-limited endpoint is not asked again before its Retry-After (HTTP 429) or,
    /// without one, the backoff. A read that would have to wait longer than this returns
    /// the rate_limited failure instead.
    std::chrono::milliseconds max_retry_after{30'000};
    /// An endpoint that fails (transport errors, HTTP errors, malformed or rate-limited
    /// answers; not JSON-RPC errors, which are answers) is demoted for
    /// demote_base × 2^(consecutive failures − 1), at most demote_max: requests go to the
    /// next endpoint in order meanwhile. After that it is preferred again, and one success
    /// clears its record.
    std::chrono::milliseconds demote_base{1'000};
    std::chrono::milliseconds demote_max{60'000};
    /// A light call (not eth_getLogs, not a batch) answered slower than this demotes its
    /// endpoint like a failure; the answer is still used.
    std::chrono::milliseconds slow_response{2'000};
    /// What send_raw_transaction(s) call.
    SendMethod send_method = SendMethod::raw_transaction;
    /// Which endpoints may be used at all.
    ChainCheck check;
};

struct RpcProviderConfig {
    /// HTTP(S) URLs in order of preference: the first healthy one serves every request.
    std::vector<std::string> endpoints;
    /// Per endpoint. Provider defaults: 3 s to connect, 15 s per request.
    rpc::HttpOptions http = default_http();
    RpcPolicy policy;

    static rpc::HttpOptions default_http() {
        rpc::HttpOptions o;
        o.connect_timeout = std::chrono::seconds(3);
        o.request_timeout = std::chrono::seconds(15);
        return o;
    }
};

/// One endpoint's health as the provider sees it, for metrics and tests.
struct EndpointHealth {
    std::string endpoint;               ///< masked URL
    unsigned consecutive_failures = 0;  ///< 0: healthy
    bool demoted = false;               ///< skipped in favour of healthy endpoints now
    uint64_t requests = 0;              ///< attempts sent to it
    uint64_t failures = 0;              ///< attempts that demoted it
    bool refused = false;               ///< serves another chain: never used (ChainCheck)
};

/// Provider over one chain's endpoints. Policy, in short:
///  - Each request goes to the first endpoint in order that is not demoted (see
///    RpcPolicy::demote_base); when all are demoted, to the one whose demotion ends first.
///  - Reads are retried on transport failures, HTTP errors, malformed bodies and rate
///    limits, up to RpcPolicy::read_attempts, moving to the next endpoint at once and
///    backing off (with jitter) before asking one again. JSON-RPC error objects are
///    answers and are returned, except rate-limit errors (see is_rate_limit).
///  - send_raw_transaction goes to another endpoint only when the first certainly did
///    not receive it (Failure::not_sent); a timeout, a closed connection or any answer
///    ("already known", "nonce too low") is returned as is. The caller knows the tx hash
///    and can look it up.
///  - call_batch is one JSON-RPC batch; it is retried as a whole, per-call errors are
///    per call.
///  - With RpcPolicy::check.chain_id set, no request goes to an endpoint before it answered
///    that chain id (see ChainCheck); refused endpoints are skipped, and with every
///    endpoint refused each call fails with `unavailable`.
/// All methods must be called on the executor given at construction (one thread); any
/// number of calls may be in flight at once.
class RpcProvider final : public Provider {
public:
    /// HTTP transports for config.endpoints (which must not be empty).
    RpcProvider(net::any_io_executor executor, const RpcProviderConfig& config);
    /// Over given transports (e.g. websockets), in order of preference; must not be empty.
    RpcProvider(net::any_io_executor executor,
                std::vector<std::unique_ptr<rpc::Transport>> transports, RpcPolicy policy = {});
    ~RpcProvider() override;

    Task<RpcResult<uint64_t>> chain_id() override;
    Task<RpcResult<uint64_t>> block_number() override;
    Task<RpcResult<std::optional<BlockHeader>>> get_block(BlockId block) override;
    /// Pieces of at most max_log_range blocks, fetched in order; a piece the node refuses
    /// as too large (is_range_refusal) is halved, and the halved size is kept for the rest
    /// of the range. A one-block piece that is still refused fails the call. from_block >
    /// to_block gives no logs without a request.
    Task<RpcResult<std::vector<Log>>> get_logs(const LogFilter& filter, uint64_t from_block,
                                               uint64_t to_block) override;
    Task<RpcResult<std::vector<Log>>> get_block_logs(const LogFilter& filter,
                                                     const Hash32& block_hash) override;
    /// One JSON-RPC batch: eth_getLogs{blockHash} per filter, then the eth_calls. Retried
    /// as a whole, like call_batch.
    Task<RpcResult<BlockData>> read_block(std::span<const LogFilter> filters,
                                          const Hash32& block_hash,
                                          std::span<const CallRequest> calls) override;
    Task<RpcResult<Bytes>> call(const CallRequest& request, BlockId block,
                                std::span<const StateOverride> overrides = {}) override;
    /// One JSON-RPC batch. Nodes cap batch sizes (geth: 1,000 calls); for many calls to
    /// contracts use chain/multicall.hpp, which packs them into few eth_calls.
    Task<std::vector<RpcResult<Bytes>>> call_batch(std::span<const CallRequest> requests,
                                                   BlockId block) override;
    Task<RpcResult<uint64_t>> estimate_gas(const CallRequest& request, BlockId block) override;
    /// One JSON-RPC batch, like call_batch.
    Task<std::vector<RpcResult<uint64_t>>> estimate_gas_batch(std::span<const CallRequest> requests,
                                                              BlockId block) override;
    Task<RpcResult<FeeHistory>> fee_history(uint64_t block_count, BlockId newest,
                                            std::span<const double> percentiles) override;
    Task<RpcResult<u256>> max_priority_fee() override;
    Task<RpcResult<uint64_t>> get_transaction_count(const Address& account, BlockId block) override;
    Task<RpcResult<Hash32>> send_raw_transaction(BytesView raw) override;
    /// One batch, sent like send_raw_transaction: another endpoint only if this one
    /// certainly did not receive it. A failure of the whole batch is each item's failure.
    Task<std::vector<RpcResult<Hash32>>> send_raw_transactions(
        std::span<const Bytes> raws) override;
    /// A receipt whose transactionHash is not `tx_hash` is a failure of kind wrong_receipt
    /// (retried like a malformed answer: the endpoint is demoted and another one asked).
    Task<RpcResult<std::optional<Receipt>>> get_transaction_receipt(const Hash32& tx_hash) override;
    Task<RpcResult<Bytes>> get_code(const Address& account, BlockId block) override;

    std::vector<EndpointHealth> health() const;

private:
    struct Endpoint;
    enum class Weight { light, heavy };  // heavy: no latency demotion (logs, batches)

    template <class T>
    Task<RpcResult<T>> request(rpc::Call call, Weight weight = Weight::light);
    template <class T, class Parse>
    Task<RpcResult<T>> read(std::string body, Weight weight, Parse parse);
    /// `calls` as one batch read: one result per call, or the batch's failure for each.
    template <class T>
    Task<std::vector<RpcResult<T>>> read_batch(std::vector<rpc::Call> calls);
    /// At most once per endpoint, and on to the next only after a not_sent failure.
    template <class T, class Parse>
    Task<RpcResult<T>> write(std::string body, Parse parse);
    rpc::Call send_call(BytesView raw) const;
    enum class Tried { allow, skip };  // whether endpoints this call tried may be picked
    /// nullptr when every endpoint is refused (or, with Tried::skip, tried).
    Endpoint* pick(uint64_t tried, Tried mode);
    /// Whether `e` may be used now: checks its chain id first if it is due (ChainCheck).
    /// A check in flight for `e` is waited for, not repeated.
    Task<Result<void, rpc::Failure>> check_chain(Endpoint& e);
    void demote(Endpoint& e);
    void answered(Endpoint& e, std::chrono::steady_clock::duration latency, Weight weight);
    void failed(Endpoint& e, const rpc::Failure& f);
    std::chrono::milliseconds backoff(unsigned retry);
    Task<void> sleep(std::chrono::steady_clock::duration d);

    net::any_io_executor executor_;
    RpcPolicy policy_;
    std::vector<Endpoint> endpoints_;
    uint64_t next_id_ = 1;
    std::minstd_rand rng_;
};

/// Asks `transport` for eth_chainId (request id `id`) and compares the answer with
/// `expected`. Failures: wrong_chain (another id; `detail` names both), the transport's
/// failure, malformed_response for an answer that is not a chain id or is an error object
/// (rate_limited for a rate-limit error object).
Task<Result<void, rpc::Failure>> check_chain_id(rpc::Transport& transport, uint64_t expected,
                                                uint64_t id);

/// True when a JSON-RPC error says the node refused an eth_getLogs range as too wide or
/// its result as too large ("query returned more than 10000 results", "block range is
/// too large", "exceed maximum block range", ...; codes vary: -32005, -32602, -32000).
/// One table in rpc_provider.cpp lists the phrasings, matched case-insensitively.
bool is_range_refusal(const rpc::Failure& failure);
/// True when a JSON-RPC error object is a rate limit in disguise ("rate limit",
/// "too many requests", "request rate exceeded", ...).
bool is_rate_limit(const rpc::Failure& failure);

}  // namespace vigil
