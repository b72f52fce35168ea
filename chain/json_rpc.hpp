#pragma once
// JSON-RPC 2.0 text for Ethereum: request bodies (single and batch) and strict reading of
// response bodies into the typed values of chain/rpc_types.hpp.
//
// Reading is a focused pull parser over the body text, not a DOM: a response is scanned
// once to find its members (the "result" value is kept as a view into the body), then the
// result is decoded straight into typed values. Hex strings are never copied into
// intermediate strings. bench/chain_io_bench.cpp measures it against nlohmann::json::parse.
//
// Validation is strict: the text must be RFC 8259 JSON (UTF-8, no trailing commas, no
// trailing text, nesting at most kMaxJsonDepth), quantities are "0x" + hex without
// leading zeros, hashes and addresses have their exact length, and every required field
// is present exactly once. Unknown members are skipped (nodes add fields over time).
// Every violation is a Failure{malformed_response} whose `detail` names the field in
// stable words, e.g. "result[3].logIndex: not a quantity" or "result.hash: missing".
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "chain/bytes.hpp"
#include "chain/result.hpp"
#include "chain/rpc_error.hpp"
#include "chain/rpc_types.hpp"
#include "chain/u256.hpp"

namespace vigil::rpc {

/// Deeper JSON is rejected ("nesting too deep"): bounds the parser's recursion on
/// hostile input. Ethereum responses nest less than 10 levels.
inline constexpr int kMaxJsonDepth = 64;

// ---------------------------------------------------------------------------------------
// Requests

/// One JSON-RPC call before it gets an id: the method name and the JSON text of its
/// params array.
struct Call {
    std::string method;
    std::string params;  ///< e.g. `["0x1b4",false]`
    bool operator==(const Call&) const = default;
};

/// `{"jsonrpc":"2.0","id":ID,"method":...,"params":...}`. `call.method` must be a plain
/// method name (no quote or backslash): it is written without escaping.
std::string make_request(uint64_t id, const Call& call);
/// A JSON array of requests in which calls[i] gets id `first_id + i` (read the answer with
/// read_batch and the same ids). `calls` must not be empty: JSON-RPC forbids `[]`.
std::string make_batch(uint64_t first_id, std::span<const Call> calls);

/// Builders for the eth_* calls the Provider makes. Blocks given by hash are sent as
/// EIP-1898 objects (`{"blockHash":...}`) where the method takes a block parameter.
namespace eth {
Call chain_id();
Call block_number();
/// eth_getBlockByHash or eth_getBlockByNumber, transaction hashes only (not bodies).
Call get_block(const BlockId& block);
/// eth_getLogs over [from_block, to_block]; an empty `topics[i]` is sent as null.
Call get_logs(const LogFilter& filter, uint64_t from_block, uint64_t to_block);
/// eth_getLogs with `blockHash` (EIP-234).
Call get_block_logs(const LogFilter& filter, const Hash32& block_hash);
/// eth_call with an optional third parameter of state overrides (geth's format:
/// address → {balance, nonce, code, stateDiff}); the parameter is omitted when empty.
Call call(const CallRequest& request, const BlockId& block,
          std::span<const StateOverride> overrides = {});
Call estimate_gas(const CallRequest& request, const BlockId& block);
/// `percentiles` are written in the shortest form that reads back exactly.
Call fee_history(uint64_t block_count, const BlockId& newest, std::span<const double> percentiles);
Call max_priority_fee();
Call get_transaction_count(const Address& account, const BlockId& block);
Call send_raw_transaction(BytesView raw);
/// eth_sendPrivateTransaction `[{"tx": raw}]`: Flashbots Protect and similar private
/// submission endpoints; the result is the tx hash, as for eth_sendRawTransaction.
Call send_private_transaction(BytesView raw);
Call get_transaction_receipt(const Hash32& tx_hash);
Call get_code(const Address& account, const BlockId& block);
}  // namespace eth

// ---------------------------------------------------------------------------------------
// Responses

/// The members of one JSON-RPC message, as views into the text it was read from (which
/// must outlive it). A response has `id` and exactly one of `result` / `error`; a
/// notification (eth_subscription) has `method` and `params` and no id.
struct Envelope {
    std::optional<uint64_t> id;     ///< nullopt when "id" is null or absent
    std::string_view result;        ///< raw JSON text of "result"; empty when absent
    std::optional<RpcError> error;  ///< the "error" object, when present
    std::string_view method;        ///< "method" of a notification (unescaped names only)
    std::string_view params;        ///< raw JSON text of a notification's "params"
};

/// Reads one message object. Checks: valid JSON, an object, "jsonrpc" is "2.0", "id" is
/// null or a non-negative integer, "result" and "error" not both present, and a present
/// "error" is {code: integer, message: string, data?: any}. Does not check that a
/// response has a result: read_response does.
[[nodiscard]] Result<Envelope, Failure> read_message(std::string_view text);

/// Reads the response to the request with `id`; returns the raw JSON text of "result"
/// (a view into `body`). An error object becomes Failure{rpc_error} with `rpc` set, also
/// when the node could not read our id (id null). Another id, or neither result nor
/// error, is malformed_response.
[[nodiscard]] Result<std::string_view, Failure> read_response(std::string_view body, uint64_t id);

/// Reads the response to make_batch(first_id, calls) with `count` calls: element i
/// answers id first_id + i, whatever the order of the array. Per element: the raw result
/// text, an rpc_error, or malformed_response "id N: missing from batch response".
/// Fails as a whole when the body is not a JSON array of messages, when an element
/// carries an id that was not requested or is repeated, and with the node's error when
/// it answered the whole batch with one error object (e.g. batches disabled).
[[nodiscard]] Result<std::vector<Result<std::string_view, Failure>>, Failure> read_batch(
    std::string_view body, uint64_t first_id, std::size_t count);

/// Decodes the JSON text of a result into T. `path` names the value in error details
/// ("result" gives "result.logs[2].topics[0]: not a hash"). Instantiated for:
/// uint64_t and u256 (quantities), Bytes (hex data), Hash32, BlockHeader,
/// std::optional<BlockHeader> and std::optional<Receipt> (null → nullopt), Log,
/// std::vector<Log>, FeeHistory.
///
/// Blocks: number, hash, parentHash, timestamp, gasLimit and gasUsed are required,
/// baseFeePerGas is optional (absent before London). Logs: all fields but `removed`
/// (absent → false) are required, so logs of a pending block (null blockNumber) are
/// rejected. Receipts: status is required (receipts before Byzantium carry a state root
/// instead) and so is effectiveGasPrice; contractAddress may be null.
template <class T>
[[nodiscard]] Result<T, Failure> decode(std::string_view json, std::string_view path = "result");

extern template Result<uint64_t, Failure> decode<uint64_t>(std::string_view, std::string_view);
extern template Result<u256, Failure> decode<u256>(std::string_view, std::string_view);
extern template Result<Bytes, Failure> decode<Bytes>(std::string_view, std::string_view);
extern template Result<Hash32, Failure> decode<Hash32>(std::string_view, std::string_view);
extern template Result<BlockHeader, Failure> decode<BlockHeader>(std::string_view,
                                                                 std::string_view);
extern template Result<std::optional<BlockHeader>, Failure> decode<std::optional<BlockHeader>>(
    std::string_view, std::string_view);
extern template Result<Log, Failure> decode<Log>(std::string_view, std::string_view);
extern template Result<std::vector<Log>, Failure> decode<std::vector<Log>>(std::string_view,
                                                                           std::string_view);
extern template Result<std::optional<Receipt>, Failure> decode<std::optional<Receipt>>(
    std::string_view, std::string_view);
extern template Result<FeeHistory, Failure> decode<FeeHistory>(std::string_view, std::string_view);

/// A JSON-RPC quantity: "0x" and 1 to 16 hex digits without leading zeros ("0x0" is
/// zero). Nothing else is accepted.
[[nodiscard]] std::optional<uint64_t> parse_quantity(std::string_view text) noexcept;

/// The revert bytes of an eth_call error: `rpc.data` holding a JSON string of hex data
/// (geth, anvil, reth, erigon). nullopt when data is absent or has another shape.
[[nodiscard]] std::optional<Bytes> revert_data(const RpcError& error);

}  // namespace vigil::rpc
