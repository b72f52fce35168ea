// JSON-RPC request text and strict response reading: real-shaped bodies (as geth and
// anvil send them), one exact error per malformed field, batch matching by id.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "chain/json_rpc.hpp"
#include "tests/support/vectors.hpp"

using namespace vigil;
using namespace vigil::rpc;
using vigil::test::hex;

namespace {

const std::string kHashA = "0x" + std::string(64, 'a');
const std::string kHashB = "0x" + std::string(64, 'b');
const std::string kTopic0 = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";

// One log as geth and anvil write it (member order as geth's).
std::string log_json(int index) {
    const std::string i = std::to_string(index);
    return R"({"address":"0x5fbdb2315678afecb367f032d93f642f64180aa3","topics":[")" + kTopic0 +
           R"(","0x000000000000000000000000f39fd6e51aad88f6f4ce6ab8827279cfffb92266"],)"
           R"("data":"0x00000000000000000000000000000000000000000000000000000000000003e8",)"
           R"("blockNumber":"0x1b4","blockHash":")" +
           kHashA +
           R"(","blockTimestamp":"0x6553f100",)"
           R"("transactionHash":")" +
           kHashB + R"(","transactionIndex":"0x0","logIndex":"0x)" + i + R"(","removed":false})";
}

std::string response(std::string_view result, int id = 1) {
    return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"result":)" +
           std::string(result) + "}";
}

// The detail of a decode failure, or "ok".
template <class T>
std::string decode_error(std::string_view json) {
    auto r = decode<T>(json);
    if (r) return "ok";
    EXPECT_EQ(r.error().kind, Errc::malformed_response);
    return r.error().detail;
}

// `json` with the first occurrence of `from` replaced by `to`.
std::string mutate(std::string json, std::string_view from, std::string_view to) {
    const auto at = json.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return json.replace(at, from.size(), to);
}

}  // namespace

TEST(json_rpc_request, writes_requests_and_batches) {
    EXPECT_EQ(make_request(7, eth::block_number()),
              R"({"jsonrpc":"2.0","id":7,"method":"eth_blockNumber","params":[]})");
    const Call calls[] = {eth::chain_id(), eth::get_block(uint64_t{436})};
    EXPECT_EQ(
        make_batch(10, calls),
        R"([{"jsonrpc":"2.0","id":10,"method":"eth_chainId","params":[]},)"
        R"({"jsonrpc":"2.0","id":11,"method":"eth_getBlockByNumber","params":["0x1b4",false]}])");
    // Whatever we write is valid JSON.
    EXPECT_TRUE(nlohmann::json::accept(make_batch(10, calls)));
}

TEST(json_rpc_request, writes_eth_params) {
    const Hash32 hash = *parse_hash32(kHashA);
    EXPECT_EQ(eth::get_block(hash), (Call{"eth_getBlockByHash", "[\"" + kHashA + "\",false]"}));
    EXPECT_EQ(eth::get_block(BlockTag::finalized).params, R"(["finalized",false])");

    LogFilter filter;
    filter.addresses = {*parse_address("0x5fbdb2315678afecb367f032d93f642f64180aa3")};
    filter.topics = {{*parse_hash32(kTopic0)}, {}, {hash, hash}};
    EXPECT_EQ(
        eth::get_logs(filter, 0, 4096).params,
        R"([{"fromBlock":"0x0","toBlock":"0x1000","address":["0x5fbdb2315678afecb367f032d93f642f64180aa3"],)"
        R"("topics":[[")" +
            kTopic0 + R"("],null,[")" + kHashA + R"(",")" + kHashA + R"("]]}])");
    EXPECT_EQ(eth::get_block_logs(LogFilter{}, hash).params,
              "[{\"blockHash\":\"" + kHashA + "\"}]");

    CallRequest req;
    req.to = filter.addresses[0];
    req.data = hex("0x70a08231");
    req.value = u256(255);
    req.gas = 100000;
    StateOverride o;
    o.address = req.to;
    o.balance = u256(1);
    o.nonce = 2;
    o.code = hex("0x6000");
    o.state_diff = {{hash, *parse_hash32(kHashB)}};
    const StateOverride overrides[] = {o};
    EXPECT_EQ(
        eth::call(req, hash, overrides).params,
        R"([{"to":"0x5fbdb2315678afecb367f032d93f642f64180aa3","data":"0x70a08231","value":"0xff",)"
        R"("gas":"0x186a0"},{"blockHash":")" +
            kHashA +
            R"("},{"0x5fbdb2315678afecb367f032d93f642f64180aa3":)"
            R"({"balance":"0x1","nonce":"0x2","code":"0x6000","stateDiff":{")" +
            kHashA + R"(":")" + kHashB + R"("}}}])");
    EXPECT_EQ(eth::call(req, BlockTag::latest)
                  .params.substr(eth::call(req, BlockTag::latest).params.size() - 10),
              R"(,"latest"])");

    const double percentiles[] = {10, 50.5, 99.9};
    EXPECT_EQ(eth::fee_history(4, BlockTag::pending, percentiles).params,
              R"(["0x4","pending",[10,50.5,99.9]])");
    EXPECT_EQ(eth::send_raw_transaction(hex("0x02f8")).params, R"(["0x02f8"])");
    EXPECT_EQ(eth::send_private_transaction(hex("0x02f8")).method, "eth_sendPrivateTransaction");
    EXPECT_EQ(eth::send_private_transaction(hex("0x02f8")).params, R"([{"tx":"0x02f8"}])");
}

TEST(json_rpc_response, reads_result_and_error_objects) {
    EXPECT_EQ(*read_response(R"({"jsonrpc":"2.0","id":3,"result":"0x1b4"})", 3), "\"0x1b4\"");
    // Member order is free; whitespace is allowed.
    EXPECT_EQ(*read_response(" {\"result\" : [ ] ,\n\"id\":3 , \"jsonrpc\":\"2.0\"} ", 3), "[ ]");
    // null is a result (e.g. an unknown receipt), not a missing one.
    EXPECT_EQ(*read_response(R"({"jsonrpc":"2.0","id":3,"result":null})", 3), "null");

    auto revert = read_response(
        R"({"jsonrpc":"2.0","id":3,"error":{"code":3,"message":"execution reverted: no \u00e9","data":"0x08c379a0"}})",
        3);
    ASSERT_FALSE(revert);
    EXPECT_EQ(revert.error().kind, Errc::rpc_error);
    EXPECT_EQ(revert.error().rpc.code, 3);
    EXPECT_EQ(revert.error().rpc.message, "execution reverted: no \xc3\xa9");
    EXPECT_EQ(revert.error().rpc.data, "\"0x08c379a0\"");
    EXPECT_EQ(revert_data(revert.error().rpc), hex("0x08c379a0"));

    // A node that could not read our request answers with id null.
    auto parse_error = read_response(
        R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}})", 3);
    ASSERT_FALSE(parse_error);
    EXPECT_EQ(parse_error.error().rpc.code, -32700);
    EXPECT_EQ(revert_data(parse_error.error().rpc), std::nullopt);
}

TEST(json_rpc_response, names_each_envelope_rule) {
    auto detail = [](std::string_view body) {
        auto r = read_response(body, 3);
        EXPECT_FALSE(r);
        if (r) return std::string("ok");
        EXPECT_EQ(r.error().kind, Errc::malformed_response) << body;
        return r.error().detail;
    };
    EXPECT_EQ(detail(R"({"jsonrpc":"2.0","id":4,"result":"0x1"})"), "response.id: expected 3");
    EXPECT_EQ(detail(R"({"jsonrpc":"2.0","id":3})"), "response.result: missing");
    EXPECT_EQ(detail(R"({"id":3,"result":"0x1"})"), "response.jsonrpc: missing");
    EXPECT_EQ(detail(R"({"jsonrpc":"1.0","id":3,"result":"0x1"})"),
              "response.jsonrpc: not \"2.0\"");
    EXPECT_EQ(detail(R"({"jsonrpc":"2.0","id":"3","result":"0x1"})"),
              "response.id: not an integer");
    EXPECT_EQ(detail(R"({"jsonrpc":"2.0","id":-3,"result":"0x1"})"), "response.id: not an integer");
    EXPECT_EQ(detail(R"({"jsonrpc":"2.0","id":3,"id":3,"result":"0x1"})"),
              "response.id: duplicate key");
    EXPECT_EQ(detail(R"({"jsonrpc":"2.0","id":3,"result":"0x1","error":{"code":1,"message":""}})"),
              "response: result and error both present");
    EXPECT_EQ(detail(R"({"jsonrpc":"2.0","id":3,"error":{"code":"x","message":"m"}})"),
              "response.error.code: not an integer");
    EXPECT_EQ(detail(R"({"jsonrpc":"2.0","id":3,"error":{"code":1.5,"message":"m"}})"),
              "response.error.code: not an integer");
    EXPECT_EQ(detail(R"({"jsonrpc":"2.0","id":3,"error":{"code":1}})"),
              "response.error.message: missing");
    EXPECT_EQ(detail(R"({"jsonrpc":"2.0","id":3,"error":{"code":1,"message":7}})"),
              "response.error.message: not a string");
    EXPECT_EQ(detail(R"([{"jsonrpc":"2.0","id":3,"result":"0x1"}])"), "response: not an object");
    // Invalid JSON is reported as such before the shape is judged.
    EXPECT_EQ(detail("[1] x"), "invalid JSON at offset 4: trailing characters");
    EXPECT_EQ(detail(R"(<html>502 Bad Gateway</html>)"),
              "invalid JSON at offset 0: expected a value");
    EXPECT_EQ(detail(""), "invalid JSON at offset 0: expected a value");
}

TEST(json_rpc_response, rejects_invalid_json_with_offset) {
    auto detail = [](std::string_view body) { return read_message(body).error().detail; };
    EXPECT_EQ(detail(R"({"jsonrpc":"2.0","id":3,"result":[1,2,]})"),
              "invalid JSON at offset 38: expected a value");
    EXPECT_EQ(detail(R"({"jsonrpc":"2.0","id":3,"result":1} x)"),
              "invalid JSON at offset 36: trailing characters");
    EXPECT_EQ(detail(R"({"jsonrpc":"2.0","id":3,"result":1)"),
              "invalid JSON at offset 34: expected ',' or '}'");
    EXPECT_EQ(detail("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":\"a\tb\"}"),
              "invalid JSON at offset 35: control character in string");
    EXPECT_EQ(detail("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":\"\xc3\x28\"}"),
              "invalid JSON at offset 34: invalid UTF-8");
    EXPECT_EQ(detail("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":\"\xed\xa0\x80\"}"),  // surrogate
              "invalid JSON at offset 34: invalid UTF-8");
    EXPECT_EQ(detail("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":\"\xc0\xaf\"}"),  // overlong
              "invalid JSON at offset 34: invalid UTF-8");
    EXPECT_EQ(detail(R"({"jsonrpc":"2.0","id":3,"result":"\ud800x"})"),
              "invalid JSON at offset 40: lone surrogate");
    EXPECT_EQ(detail(R"({"jsonrpc":"2.0","id":3,"result":"\x"})"),
              "invalid JSON at offset 35: bad escape");
    EXPECT_EQ(detail(R"({"jsonrpc":"2.0","id":3,"result":01})"),
              "invalid JSON at offset 34: expected ',' or '}'");
    EXPECT_EQ(detail(R"({"jsonrpc":"2.0","id":3,"result":1.})"),
              "invalid JSON at offset 35: expected a digit");
    EXPECT_EQ(detail(R"({"jsonrpc":"2.0","id":3,"result":tru})"),
              "invalid JSON at offset 33: expected a value");
    EXPECT_EQ(detail(R"({"jsonrpc":"2.0","id":3,"result":"abc)"),
              "invalid JSON at offset 37: unterminated string");
    EXPECT_EQ(detail(R"({"jsonrpc" "2.0"})"), "invalid JSON at offset 11: expected ':'");
    EXPECT_EQ(detail(R"({,})"), "invalid JSON at offset 1: expected a key");

    const std::string deep =
        std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']');
    EXPECT_EQ(
        detail(R"({"jsonrpc":"2.0","id":3,"result":)" + deep + "}"),
        "invalid JSON at offset " + std::to_string(33 + kMaxJsonDepth - 1) + ": nesting too deep");
    const std::string ok_depth =
        std::string(kMaxJsonDepth - 1, '[') + std::string(kMaxJsonDepth - 1, ']');
    EXPECT_TRUE(read_message(R"({"jsonrpc":"2.0","id":3,"result":)" + ok_depth + "}"));
    // Escapes in keys are decoded before the key is matched.
    EXPECT_EQ(*read_response(R"({"jsonrpc":"2.0","\u0069d":3,"result":"\ud83d\ude00"})", 3),
              R"("\ud83d\ude00")");
}

TEST(json_rpc_response, reads_notifications) {
    auto env = read_message(
        R"({"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"0x9c","result":{}}})");
    ASSERT_TRUE(env);
    EXPECT_EQ(env->id, std::nullopt);
    EXPECT_EQ(env->method, "eth_subscription");
    EXPECT_EQ(env->params, R"({"subscription":"0x9c","result":{}})");
}

TEST(json_rpc_batch, matches_ids_in_any_order) {
    const std::string body =
        R"([{"jsonrpc":"2.0","id":12,"result":"0x3"},)"
        R"({"jsonrpc":"2.0","id":10,"result":"0x1"},)"
        R"({"jsonrpc":"2.0","id":11,"error":{"code":-32000,"message":"header not found"}}])";
    auto items = read_batch(body, 10, 3);
    ASSERT_TRUE(items);
    ASSERT_EQ(items->size(), 3u);
    EXPECT_EQ((*items)[0].value(), "\"0x1\"");
    EXPECT_EQ((*items)[1].error().rpc.message, "header not found");
    EXPECT_EQ((*items)[2].value(), "\"0x3\"");
}

TEST(json_rpc_batch, reports_missing_unknown_and_repeated_ids) {
    auto items =
        read_batch(R"([{"jsonrpc":"2.0","id":11,"result":"0x2"},)"
                   R"({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid"}}])",
                   10, 3);
    ASSERT_TRUE(items);
    EXPECT_EQ((*items)[0].error().detail, "id 10: missing from batch response");
    EXPECT_EQ((*items)[0].error().kind, Errc::malformed_response);
    EXPECT_EQ((*items)[1].value(), "\"0x2\"");
    EXPECT_EQ((*items)[2].error().detail, "id 12: missing from batch response");

    EXPECT_EQ(read_batch(R"([{"jsonrpc":"2.0","id":13,"result":"0x2"}])", 10, 3).error().detail,
              "response[0].id: not requested");
    EXPECT_EQ(
        read_batch(
            R"([{"jsonrpc":"2.0","id":10,"result":"0x2"},{"jsonrpc":"2.0","id":10,"result":"0x2"}])",
            10, 3)
            .error()
            .detail,
        "response[1].id: duplicate");
    EXPECT_EQ(read_batch(R"([{"jsonrpc":"2.0","id":10}])", 10, 1)->at(0).error().detail,
              "response[0].result: missing");
    EXPECT_EQ(read_batch(R"("0x1")", 10, 1).error().detail, "response: not an array");
    EXPECT_EQ(read_batch(R"({"jsonrpc":"2.0","id":10,"result":"0x1"})", 10, 1).error().detail,
              "response: not an array");
    // A node that refuses batches answers with one error object.
    auto refused = read_batch(
        R"({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"batch too large"}})", 10,
        3);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().kind, Errc::rpc_error);
    EXPECT_EQ(refused.error().rpc.message, "batch too large");
}

TEST(json_rpc_decode, quantities_and_data) {
    EXPECT_EQ(*decode<uint64_t>(R"("0x0")"), 0u);
    EXPECT_EQ(*decode<uint64_t>(R"("0xffffffffffffffff")"), UINT64_MAX);
    EXPECT_EQ(decode_error<uint64_t>(R"("0x10000000000000000")"), "result: quantity out of range");
    EXPECT_EQ(decode_error<uint64_t>(R"("0x01")"), "result: not a quantity");
    EXPECT_EQ(decode_error<uint64_t>(R"("0x")"), "result: not a quantity");
    EXPECT_EQ(decode_error<uint64_t>(R"("0X1")"), "result: not a quantity");
    EXPECT_EQ(decode_error<uint64_t>(R"("12")"), "result: not a quantity");
    EXPECT_EQ(decode_error<uint64_t>(R"(12)"), "result: not a quantity");
    EXPECT_EQ(decode_error<uint64_t>(R"("0x1g")"), "result: not a quantity");
    EXPECT_EQ(decode_error<uint64_t>(R"("\u0030x1")"), "result: not a quantity");
    EXPECT_EQ(decode_error<uint64_t>(R"("0x1" "0x2")"),
              "invalid JSON at offset 6: trailing characters");
    EXPECT_EQ(parse_quantity("0xAbC"), 0xabcu);

    EXPECT_EQ(*decode<u256>("\"0x" + std::string(64, 'f') + "\""), ~u256(0));
    EXPECT_EQ(decode_error<u256>("\"0x1" + std::string(64, '0') + "\""), "result: not a quantity");

    EXPECT_EQ(*decode<Bytes>(R"("0x")"), Bytes{});
    EXPECT_EQ(*decode<Bytes>(R"("0x00ff")"), (Bytes{0x00, 0xff}));
    EXPECT_EQ(decode_error<Bytes>(R"("0x0")"), "result: not hex data");
    EXPECT_EQ(decode_error<Bytes>(R"("00ff")"), "result: not hex data");
    EXPECT_EQ(decode_error<Bytes>(R"("0xzz")"), "result: not hex data");
    EXPECT_EQ(decode_error<Bytes>(R"(null)"), "result: not hex data");

    EXPECT_EQ(to_hex(*decode<Hash32>("\"" + kHashA + "\"")), kHashA);
    EXPECT_EQ(decode_error<Hash32>("\"" + kHashA.substr(0, 64) + "\""), "result: not a hash");
}

TEST(json_rpc_decode, logs_round_trip_from_a_real_shaped_response) {
    const std::string body = response("[" + log_json(0) + "," + log_json(1) + "]");
    auto result = read_response(body, 1);
    ASSERT_TRUE(result);
    auto logs = decode<std::vector<Log>>(*result);
    ASSERT_TRUE(logs) << logs.error().detail;
    ASSERT_EQ(logs->size(), 2u);
    const Log& log = (*logs)[1];
    EXPECT_EQ(to_checksum(log.address), "0x5FbDB2315678afecb367f032d93F642f64180aa3");
    ASSERT_EQ(log.topics.size(), 2u);
    EXPECT_EQ(to_hex(log.topics[0]), kTopic0);
    EXPECT_EQ(log.data, hex("0x00000000000000000000000000000000000000000000000000000000000003e8"));
    EXPECT_EQ(log.block_number, 436u);
    EXPECT_EQ(to_hex(log.block_hash), kHashA);
    EXPECT_EQ(to_hex(log.tx_hash), kHashB);
    EXPECT_EQ(log.tx_index, 0u);
    EXPECT_EQ(log.log_index, 1u);
    EXPECT_FALSE(log.removed);
    EXPECT_TRUE(
        decode<Log>(mutate(log_json(0), R"("removed":false)", R"("removed":true)"))->removed);
    EXPECT_EQ(*decode<std::vector<Log>>("[]"), std::vector<Log>{});
}

TEST(json_rpc_decode, names_each_malformed_log_field) {
    const std::string logs =
        "[" + log_json(0) + "," + log_json(1) + "," + log_json(2) + "," + log_json(3) + "]";
    // Each case breaks one field of the fourth log (the first occurrence after its start).
    const std::size_t fourth = logs.rfind(R"({"address")");
    struct Case {
        std::string_view from, to, detail;
    };
    const Case cases[] = {
        {R"("logIndex":"0x3")", R"("logIndex":"0x03")", "result[3].logIndex: not a quantity"},
        {R"("logIndex":"0x3")", R"("logIndex":3)", "result[3].logIndex: not a quantity"},
        {R"(,"logIndex":"0x3")", "", "result[3].logIndex: missing"},
        {R"("blockNumber":"0x1b4")", R"("blockNumber":null)",
         "result[3].blockNumber: not a quantity"},
        {R"("transactionIndex":"0x0")", R"("transactionIndex":"0x")",
         "result[3].transactionIndex: not a quantity"},
        {R"("address":"0x5f)", R"("address":"0x5F)", "result[3].address: not an address"},
        {R"("address":"0x5fbdb2315678afecb367f032d93f642f64180aa3")",
         R"("address":"0x5fbdb2315678afecb367f032d93f642f64180a")",
         "result[3].address: not an address"},
        {R"("topics":[")", R"("topics":["0x1",")", "result[3].topics[0]: not a hash"},
        {R"(],"data")", R"(,null],"data")", "result[3].topics[2]: not a hash"},
        {R"("topics":[")", R"("topics":{"a":1},"x":[")", "result[3].topics: not an array"},
        {R"("data":"0x00)", R"("data":"0x0)", "result[3].data: not hex data"},
        {R"("blockHash":"0xaa)", R"("blockHash":"0xgg)", "result[3].blockHash: not a hash"},
        {R"("transactionHash":"0xbb)", R"("transactionHash":"bbbb)",
         "result[3].transactionHash: not a hash"},
        {R"("removed":false)", R"("removed":"false")", "result[3].removed: not a bool"},
        {R"("removed":false)", R"("removed":false,"logIndex":"0x3")",
         "result[3].logIndex: duplicate key"},
    };
    for (const Case& c : cases) {
        std::string json = logs;
        const auto at = json.find(c.from, fourth);
        ASSERT_NE(at, std::string::npos) << c.from;
        json.replace(at, c.from.size(), c.to);
        EXPECT_EQ(decode_error<std::vector<Log>>(json), c.detail) << c.from;
    }
    EXPECT_EQ(decode_error<std::vector<Log>>(R"([1])"), "result[0]: not an object");
    EXPECT_EQ(decode_error<std::vector<Log>>(R"({})"), "result: not an array");
    // Unknown members of any shape are skipped.
    EXPECT_EQ(decode_error<Log>(
                  mutate(log_json(0), R"("removed")", R"("x":{"y":[1,{"z":null}]},"removed")")),
              "ok");
}

TEST(json_rpc_decode, block_headers) {
    // An anvil block (eth_getBlockByNumber "latest" false), trimmed of nothing.
    const std::string block =
        R"({"hash":")" + kHashA + R"(","parentHash":")" + kHashB +
        R"(","sha3Uncles":"0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347",)"
        R"("miner":"0x0000000000000000000000000000000000000000","stateRoot":")" +
        kHashA + R"(","transactionsRoot":")" + kHashA + R"(","receiptsRoot":")" + kHashA +
        R"(","logsBloom":"0x)" + std::string(512, '0') +
        R"(","difficulty":"0x0","number":"0x1b4","gasLimit":"0x1c9c380","gasUsed":"0x5208",)"
        R"("timestamp":"0x6553f100","totalDifficulty":"0x0","extraData":"0x","mixHash":")" +
        kHashA +
        R"(","nonce":"0x0000000000000000","baseFeePerGas":"0x3b9aca00","size":"0x261",)"
        R"("uncles":[],"transactions":[")" +
        kHashB + R"("]})";
    auto h = decode<std::optional<BlockHeader>>(block);
    ASSERT_TRUE(h) << h.error().detail;
    ASSERT_TRUE(h->has_value());
    EXPECT_EQ((*h)->number, 436u);
    EXPECT_EQ(to_hex((*h)->hash), kHashA);
    EXPECT_EQ(to_hex((*h)->parent_hash), kHashB);
    EXPECT_EQ((*h)->timestamp, 0x6553f100u);
    EXPECT_EQ((*h)->gas_limit, 30000000u);
    EXPECT_EQ((*h)->gas_used, 21000u);
    EXPECT_EQ((*h)->base_fee_per_gas, u256(1000000000));

    EXPECT_EQ(*decode<std::optional<BlockHeader>>("null"), std::nullopt);
    EXPECT_EQ(decode<BlockHeader>(mutate(block, R"("baseFeePerGas":"0x3b9aca00",)", ""))
                  ->base_fee_per_gas,
              std::nullopt);
    EXPECT_EQ(decode_error<BlockHeader>(mutate(block, R"("number":"0x1b4",)", "")),
              "result.number: missing");
    EXPECT_EQ(decode_error<BlockHeader>(mutate(block, R"("parentHash")", R"("parentHash":0,"x")")),
              "result.parentHash: not a hash");
    EXPECT_EQ(decode_error<BlockHeader>(
                  mutate(block, R"("baseFeePerGas":"0x3b9aca00")", R"("baseFeePerGas":"0x")")),
              "result.baseFeePerGas: not a quantity");
    EXPECT_EQ(decode_error<BlockHeader>("null"), "result: not an object");
    EXPECT_EQ(decode<BlockHeader>(block, "params.result").has_value(), true);
    EXPECT_EQ(decode<BlockHeader>(mutate(block, R"("gasUsed":"0x5208")", R"("gasUsed":"")"),
                                  "params.result")
                  .error()
                  .detail,
              "params.result.gasUsed: not a quantity");
}

TEST(json_rpc_decode, receipts) {
    const std::string receipt =
        R"({"transactionHash":")" + kHashB + R"(","transactionIndex":"0x0","blockHash":")" +
        kHashA +
        R"(","blockNumber":"0x1b4","from":"0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266","to":null,)"
        R"("cumulativeGasUsed":"0x5208","gasUsed":"0x5208",)"
        R"("contractAddress":"0x5fbdb2315678afecb367f032d93f642f64180aa3","logs":[)" +
        log_json(0) +
        R"(],"status":"0x1","logsBloom":"0x00","type":"0x2","effectiveGasPrice":"0x3b9aca01"})";
    auto r = decode<std::optional<Receipt>>(receipt);
    ASSERT_TRUE(r) << r.error().detail;
    ASSERT_TRUE(r->has_value());
    const Receipt& rc = **r;
    EXPECT_EQ(to_hex(rc.tx_hash), kHashB);
    EXPECT_EQ(rc.block_number, 436u);
    EXPECT_TRUE(rc.status);
    EXPECT_EQ(rc.gas_used, 21000u);
    EXPECT_EQ(rc.effective_gas_price, u256(1000000001));
    ASSERT_TRUE(rc.contract_address.has_value());
    ASSERT_EQ(rc.logs.size(), 1u);
    EXPECT_EQ(rc.logs[0].log_index, 0u);

    EXPECT_EQ(*decode<std::optional<Receipt>>("null"), std::nullopt);
    auto no_contract = decode<std::optional<Receipt>>(mutate(
        receipt, R"("0x5fbdb2315678afecb367f032d93f642f64180aa3","logs")", R"(null,"logs")"));
    ASSERT_TRUE(no_contract);
    EXPECT_EQ((*no_contract)->contract_address, std::nullopt);
    EXPECT_FALSE(
        decode<std::optional<Receipt>>(mutate(receipt, R"("status":"0x1")", R"("status":"0x0")"))
            .value()
            ->status);
    EXPECT_EQ(decode_error<std::optional<Receipt>>(
                  mutate(receipt, R"("status":"0x1")", R"("status":"0x2")")),
              "result.status: not 0x0 or 0x1");
    EXPECT_EQ(decode_error<std::optional<Receipt>>(mutate(receipt, R"("status":"0x1",)", "")),
              "result.status: missing");
    EXPECT_EQ(decode_error<std::optional<Receipt>>(
                  mutate(receipt, R"("logIndex":"0x0")", R"("logIndex":"x")")),
              "result.logs[0].logIndex: not a quantity");
    EXPECT_EQ(decode_error<std::optional<Receipt>>(
                  mutate(receipt, R"("contractAddress":"0x)", R"("contractAddress":"0y)")),
              "result.contractAddress: not an address");
}

TEST(json_rpc_decode, fee_history) {
    const std::string body =
        R"({"oldestBlock":"0x1b1","baseFeePerGas":["0x3b9aca00","0x342770c0","0x2da282a8"],)"
        R"("gasUsedRatio":[0.5,0,1e-2],"baseFeePerBlobGas":["0x1","0x1","0x1"],)"
        R"("reward":[["0x0","0x3b9aca00"],["0x1","0x2"]]})";
    auto fh = decode<FeeHistory>(body);
    ASSERT_TRUE(fh) << fh.error().detail;
    EXPECT_EQ(fh->oldest_block, 0x1b1u);
    EXPECT_EQ(fh->base_fee_per_gas.size(), 3u);
    EXPECT_EQ(fh->base_fee_per_gas[1], u256(0x342770c0));
    EXPECT_EQ(fh->gas_used_ratio, (std::vector<double>{0.5, 0, 0.01}));
    ASSERT_EQ(fh->reward.size(), 2u);
    EXPECT_EQ(fh->reward[0][1], u256(1000000000));
    EXPECT_EQ(
        decode<FeeHistory>(mutate(body, R"(,"reward":[["0x0","0x3b9aca00"],["0x1","0x2"]])", ""))
            ->reward.size(),
        0u);
    EXPECT_EQ(decode_error<FeeHistory>(mutate(body, "0.5", R"("0.5")")),
              "result.gasUsedRatio[0]: not a number");
    EXPECT_EQ(decode_error<FeeHistory>(mutate(body, R"(["0x1","0x2"])", R"(["0x1",2])")),
              "result.reward[1][1]: not a quantity");
    EXPECT_EQ(decode_error<FeeHistory>(mutate(body, "1e-2", "1e999")),
              "result.gasUsedRatio[2]: not a number");
}
