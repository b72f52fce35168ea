#include "tests/support/morpho_fixture.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

#include "chain/http_transport.hpp"
#include "chain/json_rpc.hpp"
#include "chain/keccak.hpp"
#include "tests/support/anvil.hpp"

namespace vigil::test {

namespace {

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error(what);
}

template <class T>
T must(RpcResult<T> r, const std::string& what) {
    if (!r) fail(what + ": " + r.error().to_string());
    return std::move(*r);
}

abi::Function function(std::string_view signature) {
    auto fn = abi::parse_function(signature);
    if (!fn) fail("bad function signature: " + std::string(signature));
    return std::move(*fn);
}

abi::AbiValue word(const Hash32& h) {
    abi::BytesN b;
    b.bytes = h.bytes;
    b.size = 32;
    return b;
}

u256 as_u256(const abi::AbiValue& v) {
    return std::get<u256>(v.v);
}

std::vector<abi::AbiValue> call_decode(DevChain& chain, const Address& to,
                                       std::string_view signature,
                                       const std::vector<abi::AbiValue>& args, BlockId block) {
    const abi::Function fn = function(signature);
    auto data = abi::encode_call(fn, args);
    if (!data) fail("cannot encode " + std::string(signature));
    const Bytes out = chain.call_ok(to, std::move(*data), block);
    auto values = abi::decode_params(fn.outputs, out);
    if (!values) fail("cannot decode the result of " + std::string(signature));
    return std::move(*values);
}

std::string revert_text(const rpc::Failure& f) {
    if (f.kind == rpc::Errc::rpc_error) {
        if (auto data = rpc::revert_data(f.rpc)) {
            if (auto reason = abi::decode_revert(*data)) return abi::to_string(*reason);
        }
    }
    return f.to_string();
}

const u256 kGwei{1'000'000'000U};

}  // namespace

Bytes morpho_artifact_bytecode(std::string_view contract) {
    const std::string path =
        std::string(VIGIL_MORPHO_ARTIFACTS_DIR) + "/" + std::string(contract) + ".json";
    std::ifstream in(path);
    if (!in) fail(path + " not found: build the vigil_morpho_contracts target");
    const auto j = nlohmann::json::parse(in);
    auto code = parse_hex(j.at("bytecode").get<std::string>());
    if (!code || code->empty()) fail(path + ": no bytecode");
    return std::move(*code);
}

keys::LocalSigner signer_from_hex(std::string_view key_hex) {
    const auto key = parse_hex(key_hex);
    if (!key || key->size() != 32) fail("not a 32-byte hex key");
    auto signer =
        keys::make_local_signer(keys::SecretKey(std::span<const uint8_t, 32>(key->data(), 32)));
    if (!signer) fail("invalid private key");
    return std::move(*signer);
}

Bytes calldata(std::string_view signature, const std::vector<abi::AbiValue>& args) {
    auto data = abi::encode_call(function(signature), args);
    if (!data) fail("cannot encode a call to " + std::string(signature));
    return std::move(*data);
}

abi::AbiValue to_abi(const morpho::MarketParams& p) {
    return abi::AbiTuple{{p.loan_token, p.collateral_token, p.oracle, p.irm, p.lltv}};
}

// ---------------------------------------------------------------------------------------
// DevChain

DevChain::DevChain(const std::string& rpc_url) {
    RpcProviderConfig config;
    config.endpoints = {rpc_url};
    provider_ = std::make_unique<RpcProvider>(ioc_.get_executor(), config);
    raw_ = std::make_unique<rpc::HttpTransport>(ioc_.get_executor(), rpc_url);
    chain_id_ = must(run(provider_->chain_id()), "eth_chainId");
    automine_ = rpc("anvil_getAutomine", "[]") == "true";
}

DevChain::~DevChain() = default;

std::string DevChain::rpc(const std::string& method, const std::string& params_json) {
    const uint64_t id = next_id_++;
    const auto body = run(raw_->roundtrip(rpc::make_request(id, rpc::Call{method, params_json})));
    if (!body) fail(method + ": " + body.error().to_string());
    const auto result = rpc::read_response(*body, id);
    if (!result) fail(method + ": " + result.error().to_string());
    return std::string(*result);
}

void DevChain::set_automine(bool on) {
    rpc("evm_setAutomine", on ? "[true]" : "[false]");
    automine_ = on;
}

void DevChain::mine() {
    rpc("evm_mine", "[]");
}

uint64_t DevChain::block_number() {
    return must(run(provider_->block_number()), "eth_blockNumber");
}

BlockHeader DevChain::block(BlockId id) {
    auto b = must(run(provider_->get_block(id)), "eth_getBlockByNumber");
    if (!b) fail("no such block");
    return *b;
}

void DevChain::set_eth_balance(const Address& account, const u256& wei) {
    rpc("anvil_setBalance", "[\"" + to_checksum(account) + "\",\"" + to_quantity(wei) + "\"]");
}

RpcResult<Bytes> DevChain::call(const std::optional<Address>& from, const Address& to, Bytes data,
                                BlockId block) {
    CallRequest request;
    request.from = from;
    request.to = to;
    request.data = std::move(data);
    return run(provider_->call(request, block));
}

Bytes DevChain::call_ok(const Address& to, Bytes data, BlockId block) {
    auto r = call(std::nullopt, to, std::move(data), block);
    if (!r) fail("eth_call to " + to_checksum(to) + " failed: " + revert_text(r.error()));
    return std::move(*r);
}

Hash32 DevChain::send(const keys::Signer& signer, std::optional<Address> to, Bytes data,
                      uint64_t gas_limit) {
    const Address from = signer.address();
    auto it = std::find_if(nonces_.begin(), nonces_.end(),
                           [&](const auto& e) { return e.first == from; });
    if (it == nonces_.end()) {
        // Pending count: transactions this process sent before (automine off) count too.
        const uint64_t n = must(run(provider_->get_transaction_count(from, BlockTag::pending)),
                                "eth_getTransactionCount");
        nonces_.emplace_back(from, n);
        it = std::prev(nonces_.end());
    }
    TxEnvelope tx;
    tx.type = TxType::eip1559;
    tx.chain_id = chain_id_;
    tx.nonce = it->second;
    tx.max_fee_per_gas = 100 * kGwei;
    tx.max_priority_fee_per_gas = kGwei;
    tx.gas_limit = gas_limit;
    tx.to = to;
    tx.data = std::move(data);
    const auto raw = signer.sign(tx);
    if (!raw) fail("signing failed");
    const Hash32 hash = must(run(provider_->send_raw_transaction(*raw)), "eth_sendRawTransaction");
    ++it->second;
    return hash;
}

std::vector<Receipt> DevChain::settle(const std::vector<Hash32>& hashes) {
    std::vector<std::optional<Receipt>> receipts(hashes.size());
    for (int round = 0; round < 200; ++round) {
        if (!automine_) mine();
        bool all = true;
        for (std::size_t i = 0; i < hashes.size(); ++i) {
            if (receipts[i]) continue;
            receipts[i] = must(run(provider_->get_transaction_receipt(hashes[i])),
                               "eth_getTransactionReceipt");
            all = all && receipts[i].has_value();
        }
        if (all) break;
        if (automine_) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::vector<Receipt> out;
    for (std::size_t i = 0; i < hashes.size(); ++i) {
        if (!receipts[i]) fail("transaction " + to_hex(hashes[i]) + " was never mined");
        if (!receipts[i]->status) fail("transaction " + to_hex(hashes[i]) + " reverted");
        out.push_back(std::move(*receipts[i]));
    }
    return out;
}

Receipt DevChain::transact(const keys::Signer& signer, std::optional<Address> to, Bytes data,
                           uint64_t gas_limit) {
    return settle({send(signer, to, std::move(data), gas_limit)}).front();
}

// ---------------------------------------------------------------------------------------
// Deployment JSON

nlohmann::json MorphoDeployment::to_json() const {
    nlohmann::json j;
    j["chain_id"] = chain_id;
    j["morpho"] = to_checksum(morpho);
    j["loan_token"] = to_checksum(loan_token);
    j["collateral_token"] = to_checksum(collateral_token);
    j["irm"] = to_checksum(irm);
    j["owner"] = to_checksum(owner);
    j["keeper"] = to_checksum(keeper);
    j["deploy_block"] = deploy_block;
    j["markets"] = nlohmann::json::array();
    for (const MarketInfo& m : markets) {
        j["markets"].push_back({{"id", to_hex(m.id)},
                                {"loan_token", to_checksum(m.params.loan_token)},
                                {"collateral_token", to_checksum(m.params.collateral_token)},
                                {"oracle", to_checksum(m.params.oracle)},
                                {"irm", to_checksum(m.params.irm)},
                                {"lltv", to_string(m.params.lltv)},
                                {"price", to_string(m.price)}});
    }
    j["borrowers"] = nlohmann::json::array();
    for (const Borrower& b : borrowers) {
        j["borrowers"].push_back({{"address", to_checksum(b.address)},
                                  {"market", b.market},
                                  {"collateral", to_string(b.collateral)},
                                  {"borrowed", to_string(b.borrowed)}});
    }
    return j;
}

MorphoDeployment MorphoDeployment::from_json(const nlohmann::json& j) {
    const auto address = [](const nlohmann::json& v) {
        auto a = parse_address(v.get<std::string>());
        if (!a) fail("deployment: not an address: " + v.dump());
        return *a;
    };
    const auto number = [](const nlohmann::json& v) {
        auto n = parse_u256(v.get<std::string>());
        if (!n) fail("deployment: not a number: " + v.dump());
        return *n;
    };
    MorphoDeployment d;
    d.chain_id = j.at("chain_id").get<uint64_t>();
    d.morpho = address(j.at("morpho"));
    d.loan_token = address(j.at("loan_token"));
    d.collateral_token = address(j.at("collateral_token"));
    d.irm = address(j.at("irm"));
    d.owner = address(j.at("owner"));
    d.keeper = address(j.at("keeper"));
    d.deploy_block = j.at("deploy_block").get<uint64_t>();
    for (const auto& m : j.at("markets")) {
        MarketInfo info;
        info.params = {address(m.at("loan_token")), address(m.at("collateral_token")),
                       address(m.at("oracle")), address(m.at("irm")), number(m.at("lltv"))};
        info.id = info.params.id();
        info.price = number(m.at("price"));
        d.markets.push_back(info);
    }
    for (const auto& b : j.at("borrowers")) {
        d.borrowers.push_back({address(b.at("address")), b.at("market").get<std::size_t>(),
                               number(b.at("collateral")), number(b.at("borrowed"))});
    }
    return d;
}

// ---------------------------------------------------------------------------------------
// MorphoFixture

keys::LocalSigner devnet_borrower_signer(std::size_t index) {
    const Hash32 key = keccak256("vigil devnet borrower " + std::to_string(index));
    auto signer = keys::make_local_signer(keys::SecretKey(key.view()));
    if (!signer) fail("borrower key out of range");
    return std::move(*signer);
}

keys::LocalSigner MorphoFixture::borrower_signer(std::size_t index) const {
    return devnet_borrower_signer(index);
}

MorphoFixture::MorphoFixture(const std::string& rpc_url, MorphoFixtureOptions options)
    : chain_(rpc_url), owner_(signer_from_hex(Anvil::kDevKey0)) {
    using morpho::kWad;
    MorphoDeployment& d = deployment_;
    d.chain_id = chain_.chain_id();
    d.owner = owner_.address();
    d.keeper = options.keeper ? *options.keeper : *parse_address(Anvil::kDevAddress1);
    const u256 max_u256 = std::numeric_limits<u256>::max();

    // With automine on, each phase is sent with it off and mined at once. A node that
    // mines on an interval (anvil --block-time) is left in that mode: settle() mines each
    // phase with evm_mine all the same.
    const bool automine = chain_.automine();
    if (automine) chain_.set_automine(false);
    try {
        // Phase 1: contracts.
        const auto create = [&](std::string_view name, Bytes args = {}) {
            Bytes code = morpho_artifact_bytecode(name);
            code.insert(code.end(), args.begin(), args.end());
            return chain_.send(owner_, std::nullopt, std::move(code), 6'000'000);
        };
        std::vector<Hash32> deploys;
        deploys.push_back(create(
            "Morpho", *abi::encode_params(abi::make_tuple({abi::make_address()}), {{d.owner}})));
        deploys.push_back(create("ERC20Mock"));
        deploys.push_back(create("ERC20Mock"));
        deploys.push_back(create("OracleMock"));
        deploys.push_back(create("OracleMock"));
        deploys.push_back(create("IrmMock"));
        const auto created = chain_.settle(deploys);
        const auto at = [&](std::size_t i) { return created[i].contract_address.value(); };
        d.morpho = at(0);
        d.loan_token = at(1);
        d.collateral_token = at(2);
        d.irm = at(5);
        d.deploy_block = created[0].block_number;

        const std::pair<u256, u256> shapes[] = {
            {u256(860'000'000'000'000'000ULL), 2000 * morpho::kOraclePriceScale},
            {u256(770'000'000'000'000'000ULL), 1800 * morpho::kOraclePriceScale}};
        for (std::size_t m = 0; m < 2; ++m) {
            MorphoDeployment::MarketInfo info;
            info.params = {d.loan_token, d.collateral_token, at(3 + m), d.irm, shapes[m].first};
            info.id = info.params.id();
            info.price = shapes[m].second;
            d.markets.push_back(info);
        }

        // The book: sizes from a fixed generator (mt19937_64 is the same everywhere; the
        // reductions are plain modulo so that no library distribution enters).
        std::mt19937_64 rng(options.seed);
        std::vector<u256> supply(d.markets.size(), kWad);
        u256 total_collateral = 0;
        for (std::size_t i = 0; i < options.borrowers; ++i) {
            MorphoDeployment::Borrower b;
            b.address = devnet_borrower_signer(i).address();
            b.market = i % d.markets.size();
            const auto& market = d.markets[b.market];
            b.collateral =
                u256(1 + rng() % 100) * kWad + u256(rng() % 1'000'000'000'000'000'000ULL);
            const uint64_t bps_e2 = (i % 10 == 3) ? 9'700 + rng() % 290     // 97% - 99.9%
                                                  : 3'000 + rng() % 6'500;  // 30% - 95%
            b.borrowed = *morpho::max_borrow(b.collateral, market.price, market.params.lltv) *
                         bps_e2 / 10'000;
            supply[b.market] += 2 * b.borrowed;
            total_collateral += b.collateral;
            d.borrowers.push_back(b);
        }

        // Phase 2: Morpho's configuration, liquidity, collateral, the keeper's tokens; all
        // from the owner, in nonce order.
        const std::string mp = std::string(kMarketParamsType);
        std::vector<Hash32> setup;
        const auto owner_call = [&](const Address& to, std::string_view sig,
                                    const std::vector<abi::AbiValue>& args,
                                    uint64_t gas = 300'000) {
            setup.push_back(chain_.send(owner_, to, calldata(sig, args), gas));
        };
        owner_call(d.morpho, "enableIrm(address)", {d.irm});
        u256 loan_total = d.keeper == d.owner ? options.keeper_loan_balance : u256(0);
        for (std::size_t m = 0; m < d.markets.size(); ++m) {
            const auto& info = d.markets[m];
            owner_call(d.morpho, "enableLltv(uint256)", {info.params.lltv});
            owner_call(d.morpho, "createMarket(" + mp + ")", {to_abi(info.params)});
            owner_call(info.params.oracle, "setPrice(uint256)", {info.price});
            loan_total += supply[m];
        }
        owner_call(d.loan_token, "setBalance(address,uint256)", {d.owner, loan_total});
        owner_call(d.loan_token, "approve(address,uint256)", {d.morpho, max_u256});
        for (std::size_t m = 0; m < d.markets.size(); ++m) {
            owner_call(d.morpho, "supply(" + mp + ",uint256,uint256,address,bytes)",
                       {to_abi(d.markets[m].params), supply[m], u256(0), d.owner, Bytes{}});
        }
        if (d.keeper != d.owner)
            owner_call(d.loan_token, "setBalance(address,uint256)",
                       {d.keeper, options.keeper_loan_balance});
        owner_call(d.collateral_token, "setBalance(address,uint256)", {d.owner, total_collateral});
        owner_call(d.collateral_token, "approve(address,uint256)", {d.morpho, max_u256});
        for (const auto& b : d.borrowers) {
            owner_call(d.morpho, "supplyCollateral(" + mp + ",uint256,address,bytes)",
                       {to_abi(d.markets[b.market].params), b.collateral, b.address, Bytes{}},
                       200'000);
            chain_.set_eth_balance(b.address, kWad);
        }
        chain_.settle(setup);

        // Phase 3: each borrower borrows with its own key.
        std::vector<Hash32> borrows;
        for (std::size_t i = 0; i < d.borrowers.size(); ++i) {
            const auto& b = d.borrowers[i];
            borrows.push_back(
                chain_.send(devnet_borrower_signer(i), d.morpho,
                            calldata("borrow(" + mp + ",uint256,uint256,address,address)",
                                     {to_abi(d.markets[b.market].params), b.borrowed, u256(0),
                                      b.address, b.address}),
                            400'000));
        }
        chain_.settle(borrows);
    } catch (...) {
        if (automine) chain_.set_automine(true);
        throw;
    }
    if (automine) chain_.set_automine(true);
}

void MorphoFixture::set_price(std::size_t market, const u256& price) {
    set_oracle_price(chain_, deployment_, market, price);
}

void set_oracle_price(DevChain& chain, const MorphoDeployment& deployment, std::size_t market,
                      const u256& price) {
    if (market >= deployment.markets.size()) fail("no market " + std::to_string(market));
    const auto owner = signer_from_hex(Anvil::kDevKey0);
    chain.transact(owner, deployment.markets[market].params.oracle,
                   calldata("setPrice(uint256)", {price}), 100'000);
}

// ---------------------------------------------------------------------------------------
// Reads

morpho::Market read_market(DevChain& chain, const Address& morpho, const Hash32& id,
                           BlockId block) {
    const auto v = call_decode(chain, morpho,
                               "market(bytes32)(uint128,uint128,uint128,uint128,uint128,uint128)",
                               {word(id)}, block);
    return {as_u256(v[0]), as_u256(v[1]), as_u256(v[2]),
            as_u256(v[3]), as_u256(v[4]), as_u256(v[5])};
}

morpho::Position read_position(DevChain& chain, const Address& morpho, const Hash32& id,
                               const Address& account, BlockId block) {
    const auto v = call_decode(chain, morpho, "position(bytes32,address)(uint256,uint128,uint128)",
                               {word(id), account}, block);
    return {as_u256(v[0]), as_u256(v[1]), as_u256(v[2])};
}

u256 read_price(DevChain& chain, const Address& oracle, BlockId block) {
    return as_u256(call_decode(chain, oracle, "price()(uint256)", {}, block).at(0));
}

bool is_healthy_on_chain(DevChain& chain, const MorphoDeployment& deployment, std::size_t index,
                         BlockId block) {
    const auto& borrower = deployment.borrowers.at(index);
    const auto sim = chain.call(
        deployment.keeper, deployment.morpho,
        calldata("liquidate(" + std::string(kMarketParamsType) + ",address,uint256,uint256,bytes)",
                 {to_abi(deployment.markets.at(borrower.market).params), borrower.address, u256(1),
                  u256(0), Bytes{}}),
        block);
    if (sim) return false;
    const auto data = rpc::revert_data(sim.error().rpc);
    if (!data) return false;
    const auto revert = abi::decode_revert(*data);
    return revert && revert->kind == abi::RevertKind::error_string &&
           revert->message == "position is healthy";
}

}  // namespace vigil::test
