// MorphoLiquidator's policy against a fake chain (a Provider answering from memory): the
// mirror built from logs and undone on reorgs, checkpoints, the intents it returns (keys,
// calldata, in-flight rule, approve first, bad debt, oracle reverts, balance), and the
// health screen against math.hpp's exact check on random positions near the boundary.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "chain/abi.hpp"
#include "chain/keccak.hpp"
#include "strategies/morpho/liquidator.hpp"
#include "tests/support/stub_provider.hpp"
#include "tests/support/words.hpp"

using namespace vigil;
using namespace vigil::morpho;
namespace vabi = vigil::abi;

namespace {

Address address_of(std::string_view seed) {
    return Address::from_span(keccak256(seed).view().first<20>());
}
using test::topic;
using test::word;
using test::words;

vabi::Selector selector(std::string_view signature) {
    const Hash32 h = keccak256(signature);
    return {h.bytes[0], h.bytes[1], h.bytes[2], h.bytes[3]};
}
const std::string kMp = "(address,address,address,address,uint256)";

rpc::Failure revert(std::string_view message) {
    // Error(string) revert data, as anvil puts it in the error's data.
    Bytes data = {0x08, 0xc3, 0x79, 0xa0};
    const Bytes head = words({32, message.size()});
    data.insert(data.end(), head.begin(), head.end());
    Bytes text(message.begin(), message.end());
    text.resize((text.size() + 31) / 32 * 32);
    data.insert(data.end(), text.begin(), text.end());
    return rpc::Failure{rpc::Errc::rpc_error,
                        "fake",
                        rpc::RpcError{3, "execution reverted", "\"" + to_hex(data) + "\""},
                        0,
                        std::nullopt,
                        ""};
}

/// A Morpho deployment in memory: events become logs, market totals move as Morpho moves
/// them (no interest: the IRM's rate is 0 unless set), and eth_calls answer from it.
class FakeChain : public test::StubProvider {
public:
    Address morpho = address_of("morpho");
    Address keeper = address_of("keeper");
    MarketParams params{address_of("loan"), address_of("collateral"), address_of("oracle"),
                        address_of("irm"), u256(860'000'000'000'000'000ULL)};
    Hash32 id = params.id();

    std::map<Hash32, Market> markets;
    std::map<Address, std::optional<u256>> prices;  ///< nullopt: price() reverts
    u256 rate = 0;
    u256 balance = u256(1'000'000) * kWad;
    u256 allowance = std::numeric_limits<u256>::max();
    int batches = 0;

    std::vector<Log> all_logs;  ///< every log of every block, for get_logs
    std::vector<Log> pending;   ///< logs of the block being built
    uint64_t number = 100;

    FakeChain() { prices[params.oracle] = 2'000 * kOraclePriceScale; }

    Log& emit(const Hash32& event, std::vector<Hash32> topics, Bytes data) {
        Log log;
        log.address = morpho;
        log.topics = {event};
        log.topics.insert(log.topics.end(), topics.begin(), topics.end());
        log.data = std::move(data);
        log.block_number = number + 1;
        log.log_index = pending.size();
        pending.push_back(std::move(log));
        return pending.back();
    }
    void create_market(const MarketParams& p) {
        emit(keccak256("CreateMarket(bytes32," + kMp + ")"), {p.id()},
             words({word(p.loan_token), word(p.collateral_token), word(p.oracle), word(p.irm),
                    p.lltv}));
        Market m;
        m.last_update = timestamp(number + 1);
        markets[p.id()] = m;
        if (!prices.contains(p.oracle)) prices[p.oracle] = 2'000 * kOraclePriceScale;
    }
    void supply(const Hash32& market, const u256& assets) {
        emit(keccak256(std::string_view("Supply(bytes32,address,address,uint256,uint256)")),
             {market, topic(keeper), topic(keeper)}, words({assets, assets * kVirtualShares}));
        markets[market].total_supply_assets += assets;
        markets[market].total_supply_shares += assets * kVirtualShares;
    }
    void supply_collateral(const Hash32& market, const Address& who, const u256& assets) {
        emit(keccak256(std::string_view("SupplyCollateral(bytes32,address,address,uint256)")),
             {market, topic(who), topic(who)}, words({assets}));
    }
    void withdraw_collateral(const Hash32& market, const Address& who, const u256& assets) {
        emit(keccak256(
                 std::string_view("WithdrawCollateral(bytes32,address,address,address,uint256)")),
             {market, topic(who), topic(who)}, words({word(who), assets}));
    }
    // Borrows at Morpho's share price without interest: 1e6 shares per asset.
    void borrow(const Hash32& market, const Address& who, const u256& assets) {
        const u256 shares = assets * kVirtualShares;
        emit(keccak256(std::string_view("Borrow(bytes32,address,address,address,uint256,uint256)")),
             {market, topic(who), topic(who)}, words({word(who), assets, shares}));
        markets[market].total_borrow_assets += assets;
        markets[market].total_borrow_shares += shares;
    }
    void repay(const Hash32& market, const Address& who, const u256& assets) {
        const u256 shares = assets * kVirtualShares;
        emit(keccak256(std::string_view("Repay(bytes32,address,address,uint256,uint256)")),
             {market, topic(keeper), topic(who)}, words({assets, shares}));
        markets[market].total_borrow_assets -= assets;
        markets[market].total_borrow_shares -= shares;
    }
    void liquidated(const Hash32& market, const Address& who, const u256& repaid_assets,
                    const u256& repaid_shares, const u256& seized, const u256& bad_assets,
                    const u256& bad_shares) {
        emit(keccak256(std::string_view(
                 "Liquidate(bytes32,address,address,uint256,uint256,uint256,uint256,uint256)")),
             {market, topic(keeper), topic(who)},
             words({repaid_assets, repaid_shares, seized, bad_assets, bad_shares}));
        auto& m = markets[market];
        m.total_borrow_shares -= repaid_shares + bad_shares;
        m.total_borrow_assets -= repaid_assets + bad_assets;
        m.total_supply_assets -= bad_assets;
    }
    void set_fee(const Hash32& market, const u256& fee) {
        emit(keccak256(std::string_view("SetFee(bytes32,uint256)")), {market}, words({fee}));
        markets[market].fee = fee;
    }

    static uint64_t timestamp(uint64_t n) { return 1'700'000'000 + 12 * n; }
    BlockHeader header(uint64_t n) const {
        BlockHeader h;
        h.number = n;
        h.hash = keccak256("block " + std::to_string(n));
        h.timestamp = timestamp(n);
        return h;
    }
    /// Mines the pending logs into block number+1 and returns its added event.
    BlockEvent mine() {
        ++number;
        BlockEvent ev;
        ev.header = header(number);
        for (Log& l : pending) l.block_hash = ev.header.hash;
        ev.logs = pending;
        all_logs.insert(all_logs.end(), pending.begin(), pending.end());
        pending.clear();
        return ev;
    }

    Task<RpcResult<std::vector<Log>>> get_logs(const LogFilter& filter, uint64_t from,
                                               uint64_t to) override {
        std::vector<Log> out;
        for (const Log& l : all_logs) {
            if (l.block_number < from || l.block_number > to) continue;
            const auto& t0 = filter.topics.at(0);
            if (std::find(t0.begin(), t0.end(), l.topics[0]) == t0.end()) continue;
            if (filter.topics.size() > 1 &&
                std::find(filter.topics[1].begin(), filter.topics[1].end(), l.topics[1]) ==
                    filter.topics[1].end())
                continue;
            out.push_back(l);
        }
        co_return out;
    }
    Task<RpcResult<std::optional<BlockHeader>>> get_block(BlockId block) override {
        co_return std::optional<BlockHeader>(header(std::get<uint64_t>(block)));
    }
    Task<std::vector<RpcResult<Bytes>>> call_batch(std::span<const CallRequest> requests,
                                                   BlockId) override {
        ++batches;
        std::vector<RpcResult<Bytes>> out;
        for (const CallRequest& r : requests) out.push_back(answer(r));
        co_return out;
    }
    RpcResult<Bytes> answer(const CallRequest& r) {
        vabi::Selector s;
        std::copy(r.data.begin(), r.data.begin() + 4, s.begin());
        if (s == selector("market(bytes32)")) {
            Hash32 m;
            std::copy(r.data.begin() + 4, r.data.begin() + 36, m.bytes.begin());
            const Market& t = markets.at(m);
            return words({t.total_supply_assets, t.total_supply_shares, t.total_borrow_assets,
                          t.total_borrow_shares, t.last_update, t.fee});
        }
        if (s == selector("price()")) {
            const auto& p = prices.at(r.to);
            if (!p) return unexpected(revert("oracle down"));
            return words({*p});
        }
        if (s == selector("borrowRateView(" + kMp +
                          ",(uint128,uint128,uint128,uint128,uint128,uint128))")) {
            ++rate_calls;
            return words({rate});
        }
        if (s == selector("balanceOf(address)")) return words({balance});
        if (s == selector("allowance(address,address)")) return words({allowance});
        return unexpected(revert("unknown call"));
    }
    int rate_calls = 0;

    Task<RpcResult<uint64_t>> chain_id() override { co_return 31337; }
    Task<RpcResult<uint64_t>> block_number() override { co_return number; }
};

template <class T>
T run(Task<T> task) {
    net::io_context ioc;
    std::optional<T> out;
    net::co_spawn(ioc, std::move(task), [&](std::exception_ptr e, T v) {
        if (e) std::rethrow_exception(e);
        out.emplace(std::move(v));
    });
    ioc.run();
    return std::move(*out);
}

/// A liquidator on a FakeChain, its log lines kept.
struct Rig {
    FakeChain chain;
    std::vector<std::string> lines;
    LiquidatorOptions options;
    std::unique_ptr<MorphoLiquidator> liquidator;
    StrategyContext context{chain, 31337, "keeper", chain.keeper};

    explicit Rig(bool all_markets = true) {
        options.name = "morpho";
        options.morpho = chain.morpho;
        options.all_markets = all_markets;
        if (!all_markets) options.markets = {chain.id};
        options.start_block = 0;
        liquidator = make();
    }
    std::unique_ptr<MorphoLiquidator> make() {
        return std::make_unique<MorphoLiquidator>(
            options, [this](std::string_view event, std::string detail) {
                lines.push_back(std::string(event) + " " + detail);
            });
    }
    void start() {
        const auto r = run(liquidator->start(context, chain.number, std::nullopt));
        ASSERT_TRUE(r.has_value()) << r.error();
    }
    /// open_book mined, then start().
    void start_on_book();
    std::vector<Intent> block() { return run(liquidator->on_block(chain.mine())); }
    bool logged(std::string_view needle) const {
        return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) {
            return l.find(needle) != std::string::npos;
        });
    }
    std::string key(const Address& who, int n) const {
        return "morpho/" + to_hex(chain.id) + "/" + to_hex(BytesView(who.bytes)) + "/" +
               std::to_string(n);
    }
};

const Address kAlice = address_of("alice");
const Address kBob = address_of("bob");

// alice: 10 collateral, borrows 17,000 at price 2,000 and lltv 0.86 (limit 17,200);
// bob: 10 collateral, borrows 10,000. A price of 1,900 makes alice liquidatable only.
void open_book(FakeChain& c) {
    c.create_market(c.params);
    c.supply(c.id, u256(100'000) * kWad);
    c.supply_collateral(c.id, kAlice, 10 * kWad);
    c.borrow(c.id, kAlice, u256(17'000) * kWad);
    c.supply_collateral(c.id, kBob, 10 * kWad);
    c.borrow(c.id, kBob, u256(10'000) * kWad);
}

void Rig::start_on_book() {
    open_book(chain);
    chain.mine();
    start();
}

/// A second market of c.params' tokens with its own oracle, where bob borrows 17,100
/// against 10 collateral: liquidatable at 1,900. Returns its params.
MarketParams open_bobs_other_market(FakeChain& c) {
    MarketParams other = c.params;
    other.oracle = address_of("other oracle");
    c.create_market(other);
    c.supply(other.id(), u256(100'000) * kWad);
    c.supply_collateral(other.id(), kBob, 10 * kWad);
    c.borrow(other.id(), kBob, u256(17'100) * kWad);
    return other;
}

const vabi::Function& liquidate_fn() {
    static const vabi::Function fn =
        *vabi::parse_function("liquidate(" + kMp + ",address,uint256,uint256,bytes)");
    return fn;
}

}  // namespace

TEST(morpho_liquidator, log_filter_and_declared_calls) {
    Rig rig(false);
    const LogFilter f = rig.liquidator->log_filter();
    EXPECT_EQ(f.addresses, std::vector<Address>{rig.chain.morpho});
    ASSERT_EQ(f.topics.size(), 2u);
    EXPECT_EQ(f.topics[1], std::vector<Hash32>{rig.chain.id});
    for (std::string_view sig :
         {"Borrow(bytes32,address,address,address,uint256,uint256)",
          "Repay(bytes32,address,address,uint256,uint256)",
          "SupplyCollateral(bytes32,address,address,uint256)",
          "WithdrawCollateral(bytes32,address,address,address,uint256)",
          "Liquidate(bytes32,address,address,uint256,uint256,uint256,uint256,uint256)"})
        EXPECT_NE(std::find(f.topics[0].begin(), f.topics[0].end(), keccak256(sig)),
                  f.topics[0].end())
            << sig;
    open_book(rig.chain);
    rig.chain.mine();
    rig.start();
    const auto calls = rig.liquidator->declared_calls();
    EXPECT_EQ(calls.size(), 2u);
    EXPECT_NE(std::find(calls.begin(), calls.end(),
                        DeclaredCall{rig.chain.morpho, liquidate_fn().selector}),
              calls.end());
    EXPECT_NE(
        std::find(calls.begin(), calls.end(),
                  DeclaredCall{rig.chain.params.loan_token, selector("approve(address,uint256)")}),
        calls.end());
}

TEST(morpho_liquidator, backfill_mirrors_positions_and_only_listed_markets) {
    Rig rig(false);
    auto& c = rig.chain;
    open_book(c);
    MarketParams other = c.params;
    other.lltv = u256(770'000'000'000'000'000ULL);
    c.create_market(other);
    c.supply_collateral(other.id(), kAlice, kWad);
    c.mine();
    c.repay(c.id, kBob, u256(4'000) * kWad);
    c.withdraw_collateral(c.id, kBob, 2 * kWad);
    c.mine();
    rig.start();
    EXPECT_EQ(rig.liquidator->market_count(), 1u);
    EXPECT_EQ(rig.liquidator->last_block(), c.number);
    const auto alice = rig.liquidator->position(c.id, kAlice);
    ASSERT_TRUE(alice);
    EXPECT_EQ(alice->collateral, 10 * kWad);
    EXPECT_EQ(alice->borrow_shares, u256(17'000) * kWad * kVirtualShares);
    const auto bob = rig.liquidator->position(c.id, kBob);
    ASSERT_TRUE(bob);
    EXPECT_EQ(bob->collateral, 8 * kWad);
    EXPECT_EQ(bob->borrow_shares, u256(6'000) * kWad * kVirtualShares);
    EXPECT_FALSE(rig.liquidator->position(other.id(), kAlice));
    // start() read the head: the rows are there, healthy.
    const auto rows = rig.liquidator->positions();
    ASSERT_EQ(rows.size(), 2u);
    for (const auto& row : rows) {
        EXPECT_FALSE(row.liquidatable);
        EXPECT_GT(row.health, 1.0);
    }
}

TEST(morpho_liquidator, removed_block_undoes_its_logs) {
    Rig rig;
    auto& c = rig.chain;
    rig.start_on_book();
    const std::string before = rig.liquidator->save();
    // A block with every kind of position change, a new market, a fee and a liquidation.
    MarketParams other = c.params;
    other.lltv = u256(770'000'000'000'000'000ULL);
    c.create_market(other);
    c.supply_collateral(other.id(), kBob, kWad);
    c.borrow(c.id, address_of("carol"), u256(5) * kWad);
    c.supply_collateral(c.id, address_of("carol"), kWad);
    c.repay(c.id, kBob, u256(1'000) * kWad);
    c.withdraw_collateral(c.id, kBob, kWad);
    c.set_fee(c.id, kWad / 10);
    c.liquidated(c.id, kAlice, u256(100) * kWad, u256(100) * kWad * kVirtualShares, kWad / 10, 0,
                 0);
    BlockEvent added = c.mine();
    run(rig.liquidator->on_block(added));
    EXPECT_EQ(rig.liquidator->market_count(), 2u);
    EXPECT_EQ(rig.liquidator->position(c.id, kAlice)->collateral, 10 * kWad - kWad / 10);
    EXPECT_NE(rig.liquidator->save(), before);

    BlockEvent removed = added;
    removed.kind = BlockEvent::Kind::removed;
    for (auto& l : removed.logs) l.removed = true;
    run(rig.liquidator->on_block(removed));
    EXPECT_EQ(rig.liquidator->market_count(), 1u);
    EXPECT_EQ(rig.liquidator->last_block(), added.header.number - 1);
    // Same positions, counts and markets as before the block (empty positions aside).
    auto fresh = rig.make();
    ASSERT_TRUE(fresh->restore(before).has_value());
    EXPECT_TRUE(rig.liquidator->same_mirror(*fresh));
    EXPECT_EQ(rig.liquidator->position(c.id, kAlice)->collateral, 10 * kWad);
    EXPECT_EQ(rig.liquidator->position(c.id, kBob)->borrow_shares,
              u256(10'000) * kWad * kVirtualShares);
}

TEST(morpho_liquidator, save_restore_round_trip_and_rejections) {
    Rig rig;
    auto& c = rig.chain;
    open_book(c);
    c.mine();
    c.liquidated(c.id, kAlice, kWad, kWad * kVirtualShares, kWad / 1000, 0, 0);
    c.mine();
    rig.start();
    const std::string saved = rig.liquidator->save();
    auto copy = rig.make();
    const auto restored = copy->restore(saved);
    ASSERT_TRUE(restored.has_value()) << restored.error();
    EXPECT_TRUE(copy->same_mirror(*rig.liquidator));
    EXPECT_EQ(copy->save(), saved);
    EXPECT_EQ(copy->last_block(), c.number);

    // Resuming continues from the saved block: new logs only.
    c.borrow(c.id, kBob, kWad);
    c.mine();
    const auto r = run(copy->start(rig.context, c.number, c.number - 1));
    ASSERT_TRUE(r.has_value()) << r.error();
    EXPECT_EQ(copy->position(c.id, kBob)->borrow_shares, u256(10'001) * kWad * kVirtualShares);

    const auto rejected = [&](LiquidatorOptions o, std::string_view why) {
        MorphoLiquidator other(std::move(o), nullptr);
        const auto result = other.restore(saved);
        ASSERT_FALSE(result.has_value()) << why;
        EXPECT_NE(result.error().find(why), std::string::npos) << result.error();
        EXPECT_EQ(result.error().find('\n'), std::string::npos);  // one line
    };
    LiquidatorOptions o = rig.options;
    o.morpho = address_of("another morpho");
    rejected(o, "saved for morpho");
    o = rig.options;
    o.start_block = 5;
    rejected(o, "saved for start_block 0");
    o = rig.options;
    o.all_markets = false;
    o.markets = {c.id};
    rejected(o, "saved for markets all");

    const auto broken = [&](std::string text, std::string_view why) {
        auto other = rig.make();
        const auto result = other->restore(text);
        ASSERT_FALSE(result.has_value()) << why;
        EXPECT_NE(result.error().find(why), std::string::npos) << result.error();
        EXPECT_TRUE(other->same_mirror(*rig.make()));  // nothing half-restored
    };
    broken("", "not a vigil.morpho-blue.liquidate 1 checkpoint");
    broken(saved.substr(0, saved.size() - 4), "no end record");
    std::string bad = saved;
    bad.replace(bad.find("\nposition ") + 10, 2, "0y");
    broken(bad, "bad position");
}

TEST(morpho_liquidator, liquidates_an_unhealthy_position_with_the_best_plan) {
    Rig rig;
    auto& c = rig.chain;
    rig.start_on_book();
    EXPECT_TRUE(rig.block().empty());  // all healthy at 2,000
    c.prices[c.params.oracle] = 1'900 * kOraclePriceScale;
    const int batches = c.batches;
    const auto intents = rig.block();
    EXPECT_EQ(c.batches, batches + 1);  // one batched read for the block
    ASSERT_EQ(intents.size(), 1u);
    const Intent& in = intents[0];
    EXPECT_EQ(in.idempotency_key, rig.key(kAlice, 0));
    EXPECT_EQ(in.strategy, "morpho");
    EXPECT_EQ(in.signer, "keeper");
    EXPECT_EQ(in.target, c.morpho);
    EXPECT_EQ(in.value, 0);
    EXPECT_EQ(in.deadline_block, c.number + 5);

    // The calldata is liquidate(params, alice, seized, shares, "") with math.hpp's best plan.
    Market m = c.markets[c.id];
    ASSERT_TRUE(accrue_interest(m, 0, FakeChain::timestamp(c.number)).has_value());
    const Position pos{0, u256(17'000) * kWad * kVirtualShares, 10 * kWad};
    const auto plan =
        best_liquidation(m, pos, c.params.lltv, 1'900 * kOraclePriceScale, std::nullopt);
    ASSERT_TRUE(plan && *plan);
    const auto args = vabi::decode_call(liquidate_fn(), in.calldata);
    ASSERT_TRUE(args.has_value());
    const auto& tuple = std::get<vabi::AbiTuple>((*args)[0].v).items;
    EXPECT_EQ(std::get<Address>(tuple[0].v), c.params.loan_token);
    EXPECT_EQ(std::get<Address>(tuple[2].v), c.params.oracle);
    EXPECT_EQ(std::get<u256>(tuple[4].v), c.params.lltv);
    EXPECT_EQ(std::get<Address>((*args)[1].v), kAlice);
    EXPECT_EQ(std::get<u256>((*args)[2].v), (*plan)->seized_assets);
    EXPECT_EQ(std::get<u256>((*args)[3].v), (*plan)->repaid_shares);
    EXPECT_TRUE(std::get<Bytes>((*args)[4].v).empty());
    ASSERT_TRUE(in.expected_profit_wei);
    EXPECT_EQ(i256(*in.expected_profit_wei), (*plan)->profit);
    EXPECT_GT(*in.expected_profit_wei, 0);

    const auto rows = rig.liquidator->positions();
    ASSERT_EQ(rows.size(), 2u);
    for (const auto& row : rows) {
        EXPECT_EQ(row.liquidatable, row.account == kAlice);
        EXPECT_EQ(row.liquidatable, row.health < 1.0);
        if (row.liquidatable) {
            EXPECT_EQ(row.estimated_profit, (*plan)->profit.str());
        }
    }
}

TEST(morpho_liquidator, no_second_intent_while_in_flight_then_new_keys) {
    Rig rig;
    auto& c = rig.chain;
    rig.start_on_book();
    c.prices[c.params.oracle] = 1'900 * kOraclePriceScale;
    ASSERT_EQ(rig.block().size(), 1u);
    EXPECT_EQ(rig.liquidator->in_flight(), std::vector<std::string>{rig.key(kAlice, 0)});
    EXPECT_TRUE(rig.block().empty());
    EXPECT_TRUE(rig.block().empty());

    // A revert (someone else was faster, or the position moved): a new key, same count.
    rig.liquidator->on_outcome(
        Outcome{rig.key(kAlice, 0), OutcomeKind::reverted, std::nullopt, c.number, "healthy"});
    EXPECT_TRUE(rig.liquidator->in_flight().empty());
    auto intents = rig.block();
    ASSERT_EQ(intents.size(), 1u);
    EXPECT_EQ(intents[0].idempotency_key, rig.key(kAlice, 0) + "/retry1");

    // Included, and its Liquidate event (a partial one) arrives: the count moves to 1.
    rig.liquidator->on_outcome(
        Outcome{intents[0].idempotency_key, OutcomeKind::included, std::nullopt, c.number, ""});
    c.liquidated(c.id, kAlice, u256(1'000) * kWad, u256(1'000) * kWad * kVirtualShares, kWad / 2, 0,
                 0);
    intents = rig.block();
    ASSERT_EQ(intents.size(), 1u);
    EXPECT_EQ(intents[0].idempotency_key, rig.key(kAlice, 1));
}

TEST(morpho_liquidator, forgets_an_intent_without_outcome_after_the_timeout) {
    Rig rig;
    auto& c = rig.chain;
    rig.start_on_book();
    c.prices[c.params.oracle] = 1'900 * kOraclePriceScale;
    ASSERT_EQ(rig.block().size(), 1u);
    // No outcome ever comes (e.g. the journal skipped a key it had finished): after the
    // deadline and 20 blocks more, the key is retired and the position proposed again.
    for (int i = 0; i < 25; ++i) ASSERT_TRUE(rig.block().empty()) << "block " << i;
    const auto intents = rig.block();
    ASSERT_EQ(intents.size(), 1u);
    EXPECT_EQ(intents[0].idempotency_key, rig.key(kAlice, 0) + "/retry1");
    EXPECT_TRUE(rig.logged("morpho.intent_forgotten"));
    EXPECT_FALSE(run(rig.make()->start(rig.context, c.number, c.number - 1)).has_value());
}

std::string approve_key(const FakeChain& c, const Address& token) {
    return "morpho/approve/" + to_hex(BytesView(token.bytes)) + "/" + std::to_string(c.number);
}

void expect_approve(const Intent& in, const FakeChain& c, const Address& token) {
    EXPECT_EQ(in.idempotency_key, approve_key(c, token));
    EXPECT_EQ(in.target, token);
    EXPECT_FALSE(in.expected_profit_wei);
    EXPECT_FALSE(in.exact);  // simulated: off the hot path, and not Morpho math
    const auto approve = *vabi::parse_function("approve(address,uint256)");
    const auto args = vabi::decode_call(approve, in.calldata);
    ASSERT_TRUE(args.has_value());
    EXPECT_EQ(std::get<Address>((*args)[0].v), c.morpho);
    EXPECT_EQ(std::get<u256>((*args)[1].v), std::numeric_limits<u256>::max());
}

TEST(morpho_liquidator, approves_ahead_of_need_at_the_first_evaluation) {
    Rig rig;
    auto& c = rig.chain;
    c.allowance = 0;
    open_book(c);
    c.mine();
    rig.start();
    // Nothing is liquidatable: the allowance below the keeper's balance is approved anyway,
    // so that the block that makes positions liquidatable carries liquidations only.
    auto intents = rig.block();
    ASSERT_EQ(intents.size(), 1u);
    expect_approve(intents[0], c, c.params.loan_token);
    const std::string key = intents[0].idempotency_key;

    // While the approval is pending (allowance still 0): neither it again nor a liquidation.
    c.prices[c.params.oracle] = 1'900 * kOraclePriceScale;
    EXPECT_TRUE(rig.block().empty());
    EXPECT_TRUE(rig.logged("waits for the approval"));
    // Mined: the allowance read shows it, the liquidation follows.
    rig.liquidator->on_outcome(Outcome{key, OutcomeKind::included, std::nullopt, c.number, ""});
    c.allowance = std::numeric_limits<u256>::max();
    intents = rig.block();
    ASSERT_EQ(intents.size(), 1u);
    EXPECT_EQ(intents[0].idempotency_key, rig.key(kAlice, 0));
    EXPECT_TRUE(rig.block().empty());  // an allowance at the maximum is never approved again
}

TEST(morpho_liquidator, approves_the_loan_token_of_a_new_market_when_it_appears) {
    Rig rig;
    auto& c = rig.chain;
    rig.start_on_book();
    EXPECT_TRUE(rig.block().empty());  // approved already
    MarketParams other = c.params;
    other.loan_token = address_of("other loan");
    c.create_market(other);
    c.allowance = u256(5);  // the fake answers every token alike: now below the balance
    const auto intents = rig.block();
    ASSERT_EQ(intents.size(), 2u);
    expect_approve(intents[0], c, c.params.loan_token);
    expect_approve(intents[1], c, other.loan_token);
}

TEST(morpho_liquidator, skips_bad_debt_and_unprofitable_and_unaffordable) {
    Rig rig;
    auto& c = rig.chain;
    open_book(c);
    // dave: debt and no collateral left (a crafted book: Morpho would realise it as bad debt).
    const Address dave = address_of("dave");
    c.borrow(c.id, dave, u256(10) * kWad);
    c.mine();
    rig.options.min_profit_wei = u256(1'000'000) * kWad;  // more than alice can yield
    rig.liquidator = rig.make();
    rig.start();
    c.prices[c.params.oracle] = 1'900 * kOraclePriceScale;
    EXPECT_TRUE(rig.block().empty());
    EXPECT_TRUE(rig.logged("bad debt")) << testing::PrintToString(rig.lines);
    EXPECT_TRUE(rig.logged("below min_profit_wei"));
    const std::size_t lines = rig.lines.size();
    EXPECT_TRUE(rig.block().empty());
    EXPECT_EQ(rig.lines.size(), lines);  // the same reasons are not logged every block

    // A keeper without loan tokens pays for nothing.
    rig.options.min_profit_wei = 0;
    rig.liquidator = rig.make();
    rig.start();
    c.balance = 0;
    EXPECT_TRUE(rig.block().empty());
    EXPECT_TRUE(rig.logged("pays for no liquidation"));
    // A small balance: the plan is cut to fit it.
    c.balance = u256(1'000) * kWad;
    const auto intents = rig.block();
    ASSERT_EQ(intents.size(), 1u);
    const auto args = vabi::decode_call(liquidate_fn(), intents[0].calldata);
    ASSERT_TRUE(args.has_value());
    const u256 seized = std::get<u256>((*args)[2].v);
    EXPECT_GT(seized, 0);
    EXPECT_LT(seized, 10 * kWad);
}

TEST(morpho_liquidator, proposes_every_liquidation_of_a_block_most_profitable_first) {
    Rig rig;
    auto& c = rig.chain;
    c.create_market(c.params);
    c.supply(c.id, u256(100'000'000) * kWad);
    // 300 borrowers at 99% of their limit, the larger the later: more than the 256 planned
    // per block, a cap above what a block can include.
    std::vector<Address> who;
    for (int i = 0; i < 300; ++i) {
        who.push_back(address_of("borrower " + std::to_string(i)));
        c.supply_collateral(c.id, who.back(), u256(1 + i) * kWad);
        c.borrow(c.id, who.back(), u256(1 + i) * 1'703 * kWad);
    }
    c.mine();
    c.balance = u256(1'000'000'000) * kWad;
    rig.start();
    c.prices[c.params.oracle] = 1'900 * kOraclePriceScale;
    auto intents = rig.block();
    ASSERT_EQ(intents.size(), 256u) << testing::PrintToString(rig.lines);
    EXPECT_TRUE(rig.logged("44 liquidatable positions left for the next blocks"));
    for (std::size_t i = 0; i < intents.size(); ++i) {
        EXPECT_EQ(intents[i].idempotency_key, rig.key(who[299 - i], 0)) << i;
        EXPECT_TRUE(intents[i].exact);
    }
    std::set<std::string> keys;
    for (const auto& in : intents) keys.insert(in.idempotency_key);
    intents = rig.block();  // the 256 are in flight: the rest
    ASSERT_EQ(intents.size(), 44u);
    for (const auto& in : intents) keys.insert(in.idempotency_key);
    EXPECT_EQ(keys.size(), 300u);
    EXPECT_TRUE(rig.block().empty());
}

TEST(morpho_liquidator, oracle_revert_skips_that_market_only) {
    Rig rig;
    auto& c = rig.chain;
    open_book(c);
    const MarketParams other = open_bobs_other_market(c);
    c.mine();
    rig.start();
    c.prices[c.params.oracle] = std::nullopt;            // reverts
    c.prices[other.oracle] = 1'900 * kOraclePriceScale;  // bob liquidatable there
    std::vector<Intent> intents;
    EXPECT_NO_THROW(intents = rig.block());
    ASSERT_EQ(intents.size(), 1u);
    EXPECT_NE(intents[0].idempotency_key.find(to_hex(other.id())), std::string::npos);
    EXPECT_TRUE(rig.logged("oracle down")) << testing::PrintToString(rig.lines);
    EXPECT_TRUE(rig.logged("morpho.oracle_failed"));
}

TEST(morpho_liquidator, rate_is_read_again_when_the_logs_mispredict_the_market) {
    Rig rig;
    auto& c = rig.chain;
    rig.start_on_book();
    int calls = c.rate_calls;
    rig.block();
    EXPECT_EQ(c.rate_calls, calls + 1);  // predicted right: one rate call in the batch
    // Morpho's totals change without a log the mirror follows (as after a missed event).
    c.markets[c.id].total_supply_assets += kWad;
    calls = c.rate_calls;
    const int batches = c.batches;
    rig.block();
    EXPECT_EQ(c.rate_calls, calls + 2);
    EXPECT_EQ(c.batches, batches + 2);
    EXPECT_TRUE(rig.logged("morpho.market_mismatch"));
}

/// The next block with the reads the runner fetches with it: asked (`requests`, from
/// block_reads before the block) and answered at the block, as the node does.
BlockEvent mine_with_reads(FakeChain& c, std::vector<CallRequest> requests) {
    BlockEvent event = c.mine();
    std::vector<RpcResult<Bytes>> answers;
    for (const CallRequest& r : requests) answers.push_back(c.answer(r));
    event.reads = std::make_shared<const BlockReads>(std::move(requests), std::move(answers));
    return event;
}

std::vector<CallRequest> reads_asked_for_next_block(Rig& rig) {
    return rig.liquidator->block_reads(rig.chain.header(rig.chain.number + 1));
}

TEST(morpho_liquidator, a_block_that_brings_its_reads_costs_no_request) {
    Rig rig;
    auto& c = rig.chain;
    rig.start_on_book();
    rig.block();
    c.prices[c.params.oracle] = 1'900 * kOraclePriceScale;
    const BlockEvent event = mine_with_reads(c, reads_asked_for_next_block(rig));
    const int batches = c.batches;
    const auto intents = run(rig.liquidator->on_block(event));
    EXPECT_EQ(c.batches, batches);  // everything came with the block
    ASSERT_EQ(intents.size(), 1u);
    EXPECT_EQ(intents[0].idempotency_key, rig.key(kAlice, 0));
    EXPECT_TRUE(intents[0].exact);
}

TEST(morpho_liquidator, a_market_touched_in_the_block_needs_no_rate) {
    Rig rig;
    auto& c = rig.chain;
    rig.start_on_book();
    rig.block();
    // Asked before the block: the rate at the totals of the last read. The block then
    // supplies to the market, which accrues it to the block's timestamp (lastUpdate).
    auto reads = reads_asked_for_next_block(rig);
    c.emit(keccak256(std::string_view("AccrueInterest(bytes32,uint256,uint256,uint256)")), {c.id},
           words({0, 0, 0}));
    c.markets[c.id].last_update = FakeChain::timestamp(c.number + 1);
    c.supply(c.id, kWad);
    const int rate_calls = c.rate_calls;
    const BlockEvent event = mine_with_reads(c, reads);
    EXPECT_EQ(c.rate_calls, rate_calls + 1);  // the rate asked before the block, unneeded
    const int batches = c.batches;
    run(rig.liquidator->on_block(event));
    EXPECT_EQ(c.batches, batches);  // no rate for the new totals: nothing accrues
    EXPECT_FALSE(rig.logged("morpho.market_mismatch")) << testing::PrintToString(rig.lines);
    EXPECT_FALSE(rig.logged("morpho.irm_failed"));
}

TEST(morpho_liquidator, a_market_the_block_reads_missed_is_read_at_once) {
    Rig rig;
    auto& c = rig.chain;
    rig.start_on_book();
    rig.block();
    auto reads = reads_asked_for_next_block(rig);  // before the new market exists
    const MarketParams other = open_bobs_other_market(c);
    c.prices[other.oracle] = 1'900 * kOraclePriceScale;
    const BlockEvent event = mine_with_reads(c, reads);
    const int batches = c.batches;
    const auto intents = run(rig.liquidator->on_block(event));
    // One batch for the new market's state; created in this block, it accrues nothing and
    // needs no rate.
    EXPECT_EQ(c.batches, batches + 1);
    ASSERT_EQ(intents.size(), 1u);
    EXPECT_NE(intents[0].idempotency_key.find(to_hex(other.id())), std::string::npos);
}

TEST(morpho_liquidator, a_block_on_the_way_to_a_newer_one_moves_the_mirror_and_decides_nothing) {
    Rig rig;
    auto& c = rig.chain;
    rig.start_on_book();
    rig.block();
    c.prices[c.params.oracle] = 1'900 * kOraclePriceScale;
    c.supply_collateral(c.id, kBob, kWad);
    BlockEvent behind = c.mine();
    behind.catching_up = true;
    const int batches = c.batches;
    EXPECT_TRUE(run(rig.liquidator->on_block(behind)).empty());
    EXPECT_EQ(c.batches, batches);  // nothing read either
    const auto bob = rig.liquidator->position(c.id, kBob);
    ASSERT_TRUE(bob);
    EXPECT_EQ(bob->collateral, 11 * kWad);  // its log is in the mirror
    const auto intents = rig.block();       // the newest block: alice is liquidated
    ASSERT_EQ(intents.size(), 1u);
    EXPECT_EQ(intents[0].idempotency_key, rig.key(kAlice, 0));
}

TEST(morpho_liquidator, liquidations_are_exact_unless_the_mirror_is_in_doubt) {
    Rig rig;
    auto& c = rig.chain;
    rig.start_on_book();
    rig.block();
    // A reorg: the last block is removed and mined again.
    const BlockEvent last = c.mine();
    run(rig.liquidator->on_block(last));
    run(rig.liquidator->on_block(BlockEvent{BlockEvent::Kind::removed, last.header, last.logs}));
    --c.number;
    c.prices[c.params.oracle] = 1'900 * kOraclePriceScale;
    for (int i = 0; i < 4; ++i) {
        const auto intents = rig.block();
        ASSERT_EQ(intents.size(), 1u) << i;
        // The removed block and the 2 after it are in doubt: simulated; then exact again.
        EXPECT_EQ(intents[0].exact, i == 3) << i;
        rig.liquidator->on_outcome(Outcome{intents[0].idempotency_key, OutcomeKind::reverted,
                                           std::nullopt, c.number, "healthy"});
    }
}

// The screen must give math.hpp's answer for every position; positions near the boundary
// (and exactly on it) are where a wrong margin would show.
TEST(morpho_health_screen, agrees_with_the_exact_check_near_the_boundary) {
    std::mt19937_64 rng(20261122);
    const auto below = [&](const u256& n) {
        u256 r = 0;
        for (int i = 0; i < 4; ++i) r = (r << 64) | rng();
        return n.is_zero() ? u256(0) : u256(r % n);
    };
    std::size_t checked = 0, undecided = 0, unhealthy = 0, disabled = 0, reverts = 0;
    for (int market_round = 0; market_round < 400; ++market_round) {
        Market m;
        // Totals from dust to near 2^127, share prices from 1e6 per asset to far above.
        const unsigned bits = 1 + rng() % 126;
        m.total_borrow_assets = below(u256(1) << bits);
        m.total_borrow_shares =
            m.total_borrow_assets * kVirtualShares / (1 + rng() % 1000) + below(1'000'000);
        if (m.total_borrow_shares >= (u256(1) << 127)) m.total_borrow_shares >>= 2;
        const u256 lltv = rng() % 8 == 0 ? kWad : below(kWad) + 1;
        // Prices up to 2^230: above 2^128, collateral * price overflows for large collateral
        // (Morpho reverts; the screen must leave those to the exact check).
        u256 price = below(u256(1) << (20 + rng() % 210)) + 1;
        if (market_round % 50 == 0) price = u256(1) << 255;  // screen disabled
        const HealthScreen screen(m, price, lltv);
        disabled += !screen.enabled();
        for (int k = 0; k < 300; ++k) {
            const unsigned cbits = 1 + rng() % 127;
            const u256 collateral = below(u256(1) << cbits);
            // Shares whose debt sits at the collateral's limit, then nudged by a few units,
            // a few ulps of a double, or a random factor.
            const u256 limit = max_borrow(collateral, price, lltv).value_or(0);
            u256 shares = limit * (m.total_borrow_shares + kVirtualShares) /
                          (m.total_borrow_assets + kVirtualAssets);
            switch (rng() % 4) {
                case 0: {
                    const u256 d = below(8);
                    shares = rng() % 2 ? shares + d : (shares > d ? u256(shares - d) : u256(0));
                    break;
                }
                case 1:
                    shares += (shares >> (40 + rng() % 20)) * (rng() % 3);
                    if (rng() % 2) shares -= shares >> (30 + rng() % 30);
                    break;
                case 2:
                    shares = below(shares * 2 + 2);
                    break;
                default:
                    break;
            }
            if (shares > kMaxUint128) shares = kMaxUint128;
            const u128 s = low128(shares), c = low128(collateral);
            const auto exact = is_healthy(Position{0, shares, collateral}, m, price, lltv);
            const auto screened = screen.is_healthy(s, c);
            ASSERT_EQ(screened.has_value(), exact.has_value());
            if (exact) {
                ASSERT_EQ(*screened, *exact)
                    << "shares " << shares << " collateral " << collateral << " price " << price
                    << " lltv " << lltv << " totals " << m.total_borrow_assets << "/"
                    << m.total_borrow_shares;
                unhealthy += !*exact;
            } else {
                ++reverts;
            }
            const Verdict v = screen.screen(s, c);
            if (v == Verdict::undecided) ++undecided;
            if (v != Verdict::undecided) {
                ASSERT_TRUE(exact.has_value());
                ASSERT_EQ(v == Verdict::healthy, *exact);
            }
            ++checked;
        }
    }
    std::cout << "[ screen ] " << checked << " positions, " << unhealthy << " unhealthy, "
              << undecided << " undecided (exact check), " << reverts << " reverting, " << disabled
              << " markets with the screen disabled\n";
    EXPECT_GE(checked, 100'000u);
    EXPECT_GE(unhealthy, checked / 10);
    EXPECT_GE(undecided, 1'000u);           // the boundary was reached
    EXPECT_GE(reverts, 1'000u);             // and the overflow bound
    EXPECT_LE(undecided, checked * 3 / 4);  // and the screen settles the rest
}

TEST(morpho_position_book, finds_and_grows) {
    PositionBook book;
    std::vector<Address> accounts;
    for (int i = 0; i < 5'000; ++i) {
        Address a;  // crafted: only the last bytes differ
        a.bytes[19] = static_cast<uint8_t>(i);
        a.bytes[18] = static_cast<uint8_t>(i >> 8);
        accounts.push_back(a);
        EXPECT_EQ(book.find_or_add(a), static_cast<uint32_t>(i));
    }
    for (int i = 0; i < 5'000; ++i) EXPECT_EQ(book.find(accounts[i]), static_cast<uint32_t>(i));
    EXPECT_FALSE(book.find(address_of("nobody")));
    EXPECT_EQ(book.find_or_add(accounts[42]), 42u);
    EXPECT_EQ(book.size(), 5'000u);
}
