#include "chain/rpc_provider.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cctype>
#include <tuple>

#include "chain/backoff.hpp"

// GCC 12 inlines Asio's coroutine frame allocator (awaitable_frame_base::operator new /
// delete, a recycling allocator) into the coroutines below and then reports the pair as
// mismatched: a false positive (GCC PR 109224), seen at -O1/-O2.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace vigil {

using Clock = std::chrono::steady_clock;
using rpc::Errc;
using rpc::Failure;

namespace {

// How nodes and hosted providers say an eth_getLogs range or result is too large
// (geth/Infura, Alchemy, QuickNode, Ankr, Erigon, Besu, Nethermind, BSC and others).
// Matched as lower-case substrings of the error message and data.
constexpr std::array<std::string_view, 13> kRangeRefusals = {
    "query returned more than",     // geth, Infura: "query returned more than 10000 results"
    "block range is too large",     // Ankr, BSC
    "block range too large",        //
    "exceed maximum block range",   // Alchemy, Base, ...: "exceed maximum block range: 50000"
    "exceeds maximum block range",  //
    "range too large",              // "eth_getLogs: range too large"
    "range limit",             // Besu, Erigon: "requested range exceeds maximum RPC range limit"
    "is limited to",           // QuickNode: "eth_getLogs is limited to a 10000 range"
    "too many results",        //
    "too many logs",           //
    "response size exceeded",  // Alchemy: "Log response size exceeded ..."
    "max results",             // Nethermind: "... exceeds max results ..."
    "limit exceeded",          // Infura -32005, Cloudflare: "limit exceeded"
};

// How JSON-RPC error objects say "slow down" (Infura -32005 "project ID request rate
// exceeded", Alchemy 429-as-error, public RPCs).
constexpr std::array<std::string_view, 4> kRateLimits = {
    "rate limit",
    "ratelimit",
    "too many requests",
    "request rate",
};

bool mentions_any(const rpc::Failure& f, std::span<const std::string_view> phrases) {
    if (f.kind != Errc::rpc_error) return false;
    std::string text = f.rpc.message + ' ' + f.rpc.data;
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return std::any_of(phrases.begin(), phrases.end(),
                       [&](std::string_view p) { return text.find(p) != std::string::npos; });
}

}  // namespace

bool is_range_refusal(const rpc::Failure& failure) {
    return mentions_any(failure, kRangeRefusals);
}
bool is_rate_limit(const rpc::Failure& failure) {
    return mentions_any(failure, kRateLimits);
}

struct RpcProvider::Endpoint {
    enum class Chain { due, checking, checked, refused };  // its chain id check (ChainCheck)

    std::unique_ptr<rpc::Transport> transport;
    net::steady_timer check_done;  // while checking: calls wait on it until it is cancelled
    Chain chain = Chain::due;
    unsigned consecutive_failures = 0;
    Clock::time_point demoted_until{};  // preference: others first until then
    Clock::time_point not_before{};     // rate limit: never asked before then
    uint64_t requests = 0;
    uint64_t failures = 0;
};

RpcProvider::RpcProvider(net::any_io_executor executor, const RpcProviderConfig& config)
    : RpcProvider(
          executor,
          [&] {
              std::vector<std::unique_ptr<rpc::Transport>> transports;
              for (const auto& url : config.endpoints)
                  transports.push_back(
                      std::make_unique<rpc::HttpTransport>(executor, url, config.http));
              return transports;
          }(),
          config.policy) {}

RpcProvider::RpcProvider(net::any_io_executor executor,
                         std::vector<std::unique_ptr<rpc::Transport>> transports, RpcPolicy policy)
    : executor_(std::move(executor)), policy_(std::move(policy)), rng_(std::random_device{}()) {
    assert(!transports.empty() && transports.size() <= 64);
    endpoints_.reserve(transports.size());
    for (auto& t : transports)
        endpoints_.push_back(Endpoint{std::move(t), net::steady_timer(executor_)});
}

RpcProvider::~RpcProvider() = default;

std::vector<EndpointHealth> RpcProvider::health() const {
    const auto now = Clock::now();
    std::vector<EndpointHealth> out;
    for (const Endpoint& e : endpoints_)
        out.push_back({e.transport->endpoint(), e.consecutive_failures,
                       now < e.demoted_until || now < e.not_before, e.requests, e.failures,
                       e.chain == Endpoint::Chain::refused});
    return out;
}

// The endpoint for the next attempt; bit i of `tried` is set when this call already
// tried endpoint i. Healthy endpoints come first, then demoted ones (the demotion that
// ends first first), then rate-limited ones (the limit that ends first first); within
// each, endpoints this call has not tried come first, then the configured order.
RpcProvider::Endpoint* RpcProvider::pick(uint64_t tried, Tried mode) {
    const auto now = Clock::now();
    Endpoint* best = nullptr;
    auto rank = [&](const Endpoint& e) {
        const std::size_t i = static_cast<std::size_t>(&e - endpoints_.data());
        const int cls = now < e.not_before ? 2 : now < e.demoted_until ? 1 : 0;
        const Clock::time_point until = cls == 2   ? e.not_before
                                        : cls == 1 ? e.demoted_until
                                                   : Clock::time_point{};
        return std::tuple(cls, tried >> i & 1, until, i);
    };
    for (std::size_t i = 0; i < endpoints_.size(); ++i) {
        if (mode == Tried::skip && (tried >> i & 1)) continue;
        if (endpoints_[i].chain == Endpoint::Chain::refused) continue;
        if (!best || rank(endpoints_[i]) < rank(*best)) best = &endpoints_[i];
    }
    return best;
}

std::chrono::milliseconds RpcProvider::backoff(unsigned retry) {
    assert(retry >= 1);
    return backoff_delay(retry, policy_.backoff_base, policy_.backoff_max, rng_);
}

void RpcProvider::demote(Endpoint& e) {
    // Its next request may open a new connection, maybe to another node: check it again.
    if (e.chain == Endpoint::Chain::checked) e.chain = Endpoint::Chain::due;
    ++e.failures;
    ++e.consecutive_failures;
    const auto demotion =
        std::min<int64_t>(policy_.demote_max.count(),
                          policy_.demote_base.count() << std::min(e.consecutive_failures - 1, 30u));
    e.demoted_until = Clock::now() + std::chrono::milliseconds(demotion);
}

void RpcProvider::answered(Endpoint& e, Clock::duration latency, Weight weight) {
    if (weight == Weight::light && latency > policy_.slow_response) {
        demote(e);
        return;
    }
    e.consecutive_failures = 0;
    e.demoted_until = {};
}

void RpcProvider::failed(Endpoint& e, const Failure& f) {
    demote(e);
    if (f.kind == Errc::rate_limited)
        e.not_before =
            Clock::now() + (f.retry_after ? *f.retry_after : backoff(e.consecutive_failures));
}

namespace {
Failure all_refused() {
    return Failure{Errc::unavailable,
                   {},
                   {},
                   0,
                   std::nullopt,
                   "every endpoint is refused: each serves another chain"};
}

/// The answer to make_batch(first_id, n calls), each item decoded as T or its own error.
template <class T>
RpcResult<std::vector<RpcResult<T>>> decode_batch(std::string_view body, uint64_t first_id,
                                                  std::size_t n) {
    auto answers = rpc::read_batch(body, first_id, n);
    if (!answers) return unexpected(std::move(answers.error()));
    std::vector<RpcResult<T>> out;
    out.reserve(n);
    for (auto& item : *answers)
        out.push_back(item ? rpc::decode<T>(*item) : RpcResult<T>(unexpected(item.error())));
    return out;
}
}  // namespace

Task<Result<void, Failure>> check_chain_id(rpc::Transport& transport, uint64_t expected,
                                           uint64_t id) {
    auto raw = co_await transport.roundtrip(rpc::make_request(id, rpc::eth::chain_id()));
    if (!raw) co_return unexpected(std::move(raw.error()));
    auto answer = rpc::read_response(*raw, id).and_then(
        [](std::string_view r) { return rpc::decode<uint64_t>(r); });
    if (!answer) {
        Failure f = std::move(answer.error());
        // An endpoint that cannot say which chain it serves is not usable yet; an error
        // object here must not reach a caller as the answer to its own request.
        if (f.kind == Errc::rpc_error) {
            f.detail = "eth_chainId answered " + f.to_string();
            f.kind = is_rate_limit(f) ? Errc::rate_limited : Errc::malformed_response;
        }
        f.endpoint = transport.endpoint();
        co_return unexpected(std::move(f));
    }
    if (*answer == expected) co_return Result<void, Failure>{};
    co_return unexpected(Failure{Errc::wrong_chain,
                                 transport.endpoint(),
                                 {},
                                 0,
                                 std::nullopt,
                                 "eth_chainId answered " + std::to_string(*answer) + ", expected " +
                                     std::to_string(expected)});
}

Task<Result<void, Failure>> RpcProvider::check_chain(Endpoint& e) {
    using Chain = Endpoint::Chain;
    while (e.chain == Chain::checking) {
        boost::system::error_code ec;  // cancelled when that check ends
        co_await e.check_done.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
    if (!policy_.check.chain_id || e.chain == Chain::checked) co_return Result<void, Failure>{};
    if (e.chain == Chain::refused)  // refused while this call waited
        co_return unexpected(Failure{Errc::wrong_chain,
                                     e.transport->endpoint(),
                                     {},
                                     0,
                                     std::nullopt,
                                     "refused: it serves another chain"});
    e.chain = Chain::checking;
    e.check_done.expires_at(Clock::time_point::max());
    ++e.requests;
    auto checked = co_await check_chain_id(*e.transport, *policy_.check.chain_id, next_id_++);
    e.check_done.cancel();
    if (checked) {
        e.chain = Chain::checked;
    } else if (checked.error().kind == Errc::wrong_chain) {
        e.chain = Chain::refused;
        if (policy_.check.on_refused) policy_.check.on_refused(checked.error());
    } else {
        e.chain = Chain::due;
    }
    co_return checked;
}

Task<void> RpcProvider::sleep(Clock::duration d) {
    net::steady_timer timer(executor_, d);
    boost::system::error_code ec;
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
}

template <class T, class Parse>
Task<RpcResult<T>> RpcProvider::read(std::string body, Weight weight, Parse parse) {
    uint64_t tried = 0;
    std::optional<Failure> last;
    for (unsigned attempt = 1;; ++attempt) {
        Endpoint* e = pick(tried, Tried::allow);
        if (!e) co_return unexpected(last ? std::move(*last) : all_refused());
        const std::size_t index = static_cast<std::size_t>(e - endpoints_.data());
        // Failing over to an endpoint this call has not tried needs no wait; asking one
        // again waits for the backoff, and a rate-limited one is not asked before its time.
        auto wait =
            (tried >> index & 1) ? Clock::duration(backoff(attempt - 1)) : Clock::duration::zero();
        const auto limited_for = e->not_before - Clock::now();
        if (limited_for > policy_.max_retry_after) {
            if (last) co_return unexpected(std::move(*last));
            Failure f{Errc::rate_limited,
                      e->transport->endpoint(),
                      {},
                      0,
                      std::chrono::duration_cast<std::chrono::milliseconds>(limited_for),
                      "rate limited earlier"};
            co_return unexpected(std::move(f));
        }
        wait = std::max(wait, limited_for);
        if (wait > Clock::duration::zero()) co_await sleep(wait);

        tried |= uint64_t{1} << index;
        if (auto usable = co_await check_chain(*e); !usable) {
            if (usable.error().kind == Errc::wrong_chain) {
                --attempt;  // not an attempt: the endpoint is out of the picture now
                continue;
            }
            failed(*e, usable.error());
            if (attempt >= policy_.read_attempts) co_return unexpected(std::move(usable.error()));
            last = std::move(usable.error());
            continue;
        }
        ++e->requests;
        const auto start = Clock::now();
        auto raw = co_await e->transport->roundtrip(body);
        RpcResult<T> result =
            raw ? parse(std::string_view(*raw)) : RpcResult<T>(unexpected(std::move(raw.error())));
        if (result) {
            answered(*e, Clock::now() - start, weight);
            co_return result;
        }
        Failure f = std::move(result.error());
        f.endpoint = e->transport->endpoint();
        if (f.kind == Errc::rpc_error && is_rate_limit(f)) f.kind = Errc::rate_limited;
        if (f.kind == Errc::rpc_error) {
            answered(*e, Clock::now() - start, weight);  // the node works; it refused the request
            co_return unexpected(std::move(f));
        }
        failed(*e, f);
        if (attempt >= policy_.read_attempts) co_return unexpected(std::move(f));
        last = std::move(f);
    }
}

template <class T>
Task<RpcResult<T>> RpcProvider::request(rpc::Call call, Weight weight) {
    const uint64_t id = next_id_++;
    co_return co_await read<T>(rpc::make_request(id, call), weight,
                               [id](std::string_view body) -> RpcResult<T> {
                                   auto result = rpc::read_response(body, id);
                                   if (!result) return unexpected(std::move(result.error()));
                                   return rpc::decode<T>(*result);
                               });
}

Task<RpcResult<uint64_t>> RpcProvider::chain_id() {
    return request<uint64_t>(rpc::eth::chain_id());
}

Task<RpcResult<uint64_t>> RpcProvider::block_number() {
    return request<uint64_t>(rpc::eth::block_number());
}

Task<RpcResult<std::optional<BlockHeader>>> RpcProvider::get_block(BlockId block) {
    return request<std::optional<BlockHeader>>(rpc::eth::get_block(block));
}

Task<RpcResult<std::vector<Log>>> RpcProvider::get_logs(const LogFilter& filter,
                                                        uint64_t from_block, uint64_t to_block) {
    std::vector<Log> logs;
    if (from_block > to_block) co_return logs;
    // Blocks per piece minus one, so that a range of 2^64 blocks does not overflow.
    uint64_t span = policy_.max_log_range > 0 ? policy_.max_log_range - 1 : to_block - from_block;
    for (uint64_t from = from_block;;) {
        const uint64_t to = to_block - from > span ? from + span : to_block;
        auto piece =
            co_await request<std::vector<Log>>(rpc::eth::get_logs(filter, from, to), Weight::heavy);
        if (!piece) {
            if (to > from && is_range_refusal(piece.error())) {
                span = (to - from - 1) / 2;  // half the blocks of the refused piece
                continue;
            }
            co_return unexpected(std::move(piece.error()));
        }
        if (logs.empty())
            logs = std::move(*piece);
        else
            logs.insert(logs.end(), std::make_move_iterator(piece->begin()),
                        std::make_move_iterator(piece->end()));
        if (to == to_block) co_return logs;
        from = to + 1;
    }
}

Task<RpcResult<std::vector<Log>>> RpcProvider::get_block_logs(const LogFilter& filter,
                                                              const Hash32& block_hash) {
    return request<std::vector<Log>>(rpc::eth::get_block_logs(filter, block_hash), Weight::heavy);
}

Task<RpcResult<Bytes>> RpcProvider::call(const CallRequest& request_, BlockId block,
                                         std::span<const StateOverride> overrides) {
    return request<Bytes>(rpc::eth::call(request_, block, overrides));
}

template <class T>
Task<std::vector<RpcResult<T>>> RpcProvider::read_batch(std::vector<rpc::Call> calls) {
    using Items = std::vector<RpcResult<T>>;
    if (calls.empty()) co_return Items{};
    const uint64_t first_id = next_id_;
    next_id_ += calls.size();
    auto items = co_await read<Items>(rpc::make_batch(first_id, calls), Weight::heavy,
                                      [first_id, n = calls.size()](std::string_view body) {
                                          return decode_batch<T>(body, first_id, n);
                                      });
    if (items) co_return std::move(*items);
    // The batch failed as a whole: each call reports that failure.
    co_return Items(calls.size(), RpcResult<T>(unexpected(items.error())));
}

Task<RpcResult<BlockData>> RpcProvider::read_block(std::span<const LogFilter> filters,
                                                   const Hash32& block_hash,
                                                   std::span<const CallRequest> requests) {
    std::vector<rpc::Call> calls;
    calls.reserve(filters.size() + requests.size());
    for (const LogFilter& f : filters) calls.push_back(rpc::eth::get_block_logs(f, block_hash));
    for (const CallRequest& r : requests) calls.push_back(rpc::eth::call(r, block_hash));
    if (calls.empty()) co_return BlockData{};
    const uint64_t first_id = next_id_;
    next_id_ += calls.size();
    const std::size_t n_logs = filters.size();
    co_return co_await read<BlockData>(
        rpc::make_batch(first_id, calls), Weight::heavy,
        [first_id, n_logs, n = calls.size()](std::string_view body) -> RpcResult<BlockData> {
            auto answers = rpc::read_batch(body, first_id, n);
            if (!answers) return unexpected(std::move(answers.error()));
            BlockData data;
            for (std::size_t i = 0; i < n_logs; ++i) {
                auto& item = (*answers)[i];
                auto logs = item ? rpc::decode<std::vector<Log>>(*item)
                                 : RpcResult<std::vector<Log>>(unexpected(item.error()));
                if (!logs) return unexpected(std::move(logs.error()));
                merge_block_logs(data.logs, std::move(*logs));
            }
            data.calls.reserve(n - n_logs);
            for (std::size_t i = n_logs; i < n; ++i) {
                auto& item = (*answers)[i];
                data.calls.push_back(item ? rpc::decode<Bytes>(*item)
                                          : RpcResult<Bytes>(unexpected(item.error())));
            }
            return data;
        });
}

Task<std::vector<RpcResult<Bytes>>> RpcProvider::call_batch(std::span<const CallRequest> requests,
                                                            BlockId block) {
    std::vector<rpc::Call> calls;
    calls.reserve(requests.size());
    for (const CallRequest& r : requests) calls.push_back(rpc::eth::call(r, block));
    return read_batch<Bytes>(std::move(calls));
}

Task<std::vector<RpcResult<uint64_t>>> RpcProvider::estimate_gas_batch(
    std::span<const CallRequest> requests, BlockId block) {
    std::vector<rpc::Call> calls;
    calls.reserve(requests.size());
    for (const CallRequest& r : requests) calls.push_back(rpc::eth::estimate_gas(r, block));
    return read_batch<uint64_t>(std::move(calls));
}

Task<RpcResult<uint64_t>> RpcProvider::estimate_gas(const CallRequest& request_, BlockId block) {
    return request<uint64_t>(rpc::eth::estimate_gas(request_, block));
}

Task<RpcResult<FeeHistory>> RpcProvider::fee_history(uint64_t block_count, BlockId newest,
                                                     std::span<const double> percentiles) {
    return request<FeeHistory>(rpc::eth::fee_history(block_count, newest, percentiles));
}

Task<RpcResult<u256>> RpcProvider::max_priority_fee() {
    return request<u256>(rpc::eth::max_priority_fee());
}

Task<RpcResult<uint64_t>> RpcProvider::get_transaction_count(const Address& account,
                                                             BlockId block) {
    return request<uint64_t>(rpc::eth::get_transaction_count(account, block));
}

Task<RpcResult<std::optional<Receipt>>> RpcProvider::get_transaction_receipt(
    const Hash32& tx_hash) {
    using Answer = RpcResult<std::optional<Receipt>>;
    const uint64_t id = next_id_++;
    return read<std::optional<Receipt>>(
        rpc::make_request(id, rpc::eth::get_transaction_receipt(tx_hash)), Weight::light,
        [id, tx_hash](std::string_view body) -> Answer {
            auto receipt = rpc::read_response(body, id).and_then(
                [](std::string_view r) { return rpc::decode<std::optional<Receipt>>(r); });
            if (receipt && *receipt && (*receipt)->tx_hash != tx_hash)
                return unexpected(Failure{Errc::wrong_receipt,
                                          {},
                                          {},
                                          0,
                                          std::nullopt,
                                          "a receipt for " + to_hex((*receipt)->tx_hash) +
                                              ", asked for " + to_hex(tx_hash)});
            return receipt;
        });
}

Task<RpcResult<Bytes>> RpcProvider::get_code(const Address& account, BlockId block) {
    return request<Bytes>(rpc::eth::get_code(account, block));
}

rpc::Call RpcProvider::send_call(BytesView raw) const {
    return policy_.send_method == SendMethod::private_transaction
               ? rpc::eth::send_private_transaction(raw)
               : rpc::eth::send_raw_transaction(raw);
}

template <class T, class Parse>
Task<RpcResult<T>> RpcProvider::write(std::string body, Parse parse) {
    uint64_t tried = 0;
    std::optional<Failure> last;
    // Each endpoint at most once, and the next one only if the last never got the bytes.
    while (Endpoint* e = pick(tried, Tried::skip)) {
        tried |= uint64_t{1} << static_cast<std::size_t>(e - endpoints_.data());
        if (auto usable = co_await check_chain(*e); !usable) {
            // Nothing was sent: the next endpoint may have it.
            if (usable.error().kind != Errc::wrong_chain) failed(*e, usable.error());
            last = Failure{Errc::unavailable,
                           e->transport->endpoint(),
                           {},
                           0,
                           std::nullopt,
                           "not sent: " + usable.error().to_string()};
            continue;
        }
        ++e->requests;
        const auto start = Clock::now();
        auto answer = co_await e->transport->roundtrip(body);
        RpcResult<T> result = answer ? parse(std::string_view(*answer))
                                     : RpcResult<T>(unexpected(std::move(answer.error())));
        if (result) {
            answered(*e, Clock::now() - start, Weight::light);
            co_return result;
        }
        Failure f = std::move(result.error());
        f.endpoint = e->transport->endpoint();
        if (f.kind == Errc::rpc_error) {  // an answer ("nonce too low"): the node works
            answered(*e, Clock::now() - start, Weight::light);
            co_return unexpected(std::move(f));
        }
        failed(*e, f);
        if (!f.not_sent()) co_return unexpected(std::move(f));
        last = std::move(f);
    }
    co_return unexpected(last ? std::move(*last) : all_refused());
}

Task<RpcResult<Hash32>> RpcProvider::send_raw_transaction(BytesView raw) {
    const uint64_t id = next_id_++;
    return write<Hash32>(rpc::make_request(id, send_call(raw)),
                         [id](std::string_view text) -> RpcResult<Hash32> {
                             return rpc::read_response(text, id).and_then(
                                 [](std::string_view r) { return rpc::decode<Hash32>(r); });
                         });
}

Task<std::vector<RpcResult<Hash32>>> RpcProvider::send_raw_transactions(
    std::span<const Bytes> raws) {
    using Items = std::vector<RpcResult<Hash32>>;
    if (raws.empty()) co_return Items{};
    std::vector<rpc::Call> calls;
    calls.reserve(raws.size());
    for (const Bytes& raw : raws) calls.push_back(send_call(raw));
    const uint64_t first_id = next_id_;
    next_id_ += calls.size();
    auto items = co_await write<Items>(rpc::make_batch(first_id, calls),
                                       [first_id, n = calls.size()](std::string_view body) {
                                           return decode_batch<Hash32>(body, first_id, n);
                                       });
    if (items) co_return std::move(*items);
    co_return Items(raws.size(), RpcResult<Hash32>(unexpected(items.error())));
}

}  // namespace vigil
