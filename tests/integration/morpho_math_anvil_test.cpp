// Differential test of strategies/morpho/math.hpp against the real Morpho Blue bytecode
// (compiled from @morpho-org/morpho-blue 1.0.0) on anvil, over the fixture's 60 borrowers
// in two markets (one with a 10% fee), through rounds of random elapsed time and price
// moves:
//  (a) market totals after Morpho.accrueInterest == accrue_interest with the IRM's rate;
//  (b) is_healthy == "a simulated liquidate (eth_call from the keeper) does not revert with
//      'position is healthy'", for every borrower every round;
//  (c) the (seizedAssets, repaidAssets) a simulated liquidate returns == liquidate() here,
//      for the best_liquidation plan, a random seized amount and a random share amount,
//      and reverts where ours reports a revert; then one plan per round is executed for
//      real and the position and market after it (interest, bad debt) must match;
//  (d) MarketParams::id() is the id Morpho stores the params under.
// Every comparison is exact, to the wei.
#include <gtest/gtest.h>

#include <ostream>
#include <random>

#include "chain/json_rpc.hpp"
#include "tests/support/anvil.hpp"
#include "tests/support/morpho_fixture.hpp"

using namespace vigil;
using namespace vigil::morpho;

namespace vigil::morpho {
// gtest prints these in failures (found by argument-dependent lookup).
void PrintTo(const Market& m, std::ostream* os) {
    *os << "{supply " << m.total_supply_assets << " assets / " << m.total_supply_shares
        << " shares, borrow " << m.total_borrow_assets << " / " << m.total_borrow_shares
        << ", lastUpdate " << m.last_update << ", fee " << m.fee << "}";
}
void PrintTo(const Position& p, std::ostream* os) {
    *os << "{supplyShares " << p.supply_shares << ", borrowShares " << p.borrow_shares
        << ", collateral " << p.collateral << "}";
}
}  // namespace vigil::morpho
using test::MorphoFixture;

namespace {

const std::string kMp(test::kMarketParamsType);

vigil::abi::AbiValue word(const Hash32& h) {
    vigil::abi::BytesN b;
    b.bytes = h.bytes;
    b.size = 32;
    return b;
}

u256 word_at(const Bytes& data, std::size_t index) {
    return load_be(std::span<const uint8_t, 32>(data.data() + 32 * index, 32));
}

// The revert of a failed eth_call as text: the Error(string) message, "panic 0x11", ...
std::string revert_of(const rpc::Failure& f) {
    if (f.kind != rpc::Errc::rpc_error) return "no revert: " + f.to_string();
    const auto data = rpc::revert_data(f.rpc);
    if (!data) return "no revert data: " + f.to_string();
    const auto revert = vigil::abi::decode_revert(*data);
    if (!revert) return "undecodable revert";
    if (revert->kind == vigil::abi::RevertKind::error_string) return revert->message;
    if (revert->kind == vigil::abi::RevertKind::panic)
        return "panic " + to_quantity(revert->panic_code);
    return vigil::abi::to_string(*revert);
}

// What Morpho's revert for a MathError looks like in revert_of's words.
std::string expected_revert(MathError e) {
    switch (e) {
        case MathError::overflow:
        case MathError::underflow:
            return "panic 0x11";
        case MathError::division_by_zero:
            return "panic 0x12";
        default:
            return std::string(to_string(e));
    }
}

struct Book {
    test::Anvil anvil;
    MorphoFixture fixture{anvil.http_url()};
    test::DevChain& chain = fixture.chain();
    const test::MorphoDeployment& d = fixture.deployment();
    keys::LocalSigner keeper = test::signer_from_hex(test::Anvil::kDevKey1);

    Market market(std::size_t m, BlockId block) {
        return test::read_market(chain, d.morpho, d.markets[m].id, block);
    }
    Position position(std::size_t b, BlockId block) {
        const auto& borrower = d.borrowers[b];
        return test::read_position(chain, d.morpho, d.markets[borrower.market].id, borrower.address,
                                   block);
    }
    // IIrm.borrowRateView(marketParams, market): the rate _accrueInterest would use.
    u256 rate(std::size_t m, const Market& s) {
        const Bytes out = chain.call_ok(
            d.irm,
            test::calldata(
                "borrowRateView(" + kMp + ",(uint128,uint128,uint128,uint128,uint128,uint128))",
                {test::to_abi(d.markets[m].params),
                 vigil::abi::AbiTuple{{s.total_supply_assets, s.total_supply_shares,
                                       s.total_borrow_assets, s.total_borrow_shares, s.last_update,
                                       s.fee}}}));
        return word_at(out, 0);
    }
    Bytes liquidate_call(std::size_t b, const u256& seized, const u256& shares) {
        const auto& borrower = d.borrowers[b];
        return test::calldata("liquidate(" + kMp + ",address,uint256,uint256,bytes)",
                              {test::to_abi(d.markets[borrower.market].params), borrower.address,
                               seized, shares, Bytes{}});
    }
    void next_timestamp(uint64_t t) {
        chain.rpc("evm_setNextBlockTimestamp", "[" + std::to_string(t) + "]");
    }
};

}  // namespace

TEST(morpho_fixture, book_is_on_chain_as_described) {
    Book book;
    const auto& d = book.d;
    ASSERT_GE(d.borrowers.size(), 50u);
    std::size_t per_market[2] = {0, 0}, near_limit = 0;
    for (std::size_t b = 0; b < d.borrowers.size(); ++b) {
        const auto& borrower = d.borrowers[b];
        const std::size_t m = borrower.market;
        ++per_market[m];
        const Position pos = book.position(b, BlockTag::latest);
        const Market market = book.market(m, BlockTag::latest);
        EXPECT_EQ(pos.collateral, borrower.collateral);
        // Borrowing by assets rounds shares up: the debt is the amount or one wei more.
        const u256 owed = *borrowed_assets(pos, market);
        EXPECT_GE(owed, borrower.borrowed);
        EXPECT_LE(owed, borrower.borrowed + 1);
        const u256 limit =
            *max_borrow(pos.collateral, d.markets[m].price, d.markets[m].params.lltv);
        EXPECT_TRUE(*is_healthy(pos, market, d.markets[m].price, d.markets[m].params.lltv));
        if (owed * 100 >= limit * 97) ++near_limit;
    }
    EXPECT_GE(per_market[0], 20u);
    EXPECT_GE(per_market[1], 20u);
    EXPECT_GE(near_limit, 5u);
    // The keeper holds loan tokens; the oracle takes a new price.
    const Bytes balance =
        book.chain.call_ok(d.loan_token, test::calldata("balanceOf(address)", {d.keeper}));
    EXPECT_EQ(word_at(balance, 0), test::MorphoFixtureOptions{}.keeper_loan_balance);
    book.fixture.set_price(1, 1234 * kOraclePriceScale);
    EXPECT_EQ(test::read_price(book.chain, d.markets[1].params.oracle), 1234 * kOraclePriceScale);
}

TEST(morpho_math_anvil, market_id_is_the_key_morpho_stores_params_under) {
    Book book;
    for (const auto& m : book.d.markets) {
        const Bytes out = book.chain.call_ok(
            book.d.morpho, test::calldata("idToMarketParams(bytes32)", {word(m.params.id())}));
        ASSERT_EQ(out.size(), 5 * 32);
        MarketParams stored;
        const auto address_at = [&](std::size_t i) {
            Address a;
            std::copy(out.begin() + 32 * i + 12, out.begin() + 32 * (i + 1), a.bytes.begin());
            return a;
        };
        stored = {address_at(0), address_at(1), address_at(2), address_at(3), word_at(out, 4)};
        EXPECT_EQ(stored, m.params);  // zeros if the id were not Morpho's
        // And the CreateMarket event carries the same id as its first topic.
    }
    const auto logs = book.chain.run(book.chain.provider().get_logs(
        LogFilter{{book.d.morpho}, {{keccak256("CreateMarket(bytes32," + kMp + ")")}}}, 0,
        book.chain.block_number()));
    ASSERT_TRUE(logs.has_value());
    ASSERT_EQ(logs->size(), book.d.markets.size());
    for (std::size_t i = 0; i < logs->size(); ++i)
        EXPECT_EQ((*logs)[i].topics.at(1), book.d.markets[i].params.id());
}

TEST(morpho_math_anvil, accrual_health_and_liquidation_match_the_contract) {
    Book book;
    auto& chain = book.chain;
    const auto& d = book.d;
    const uint64_t seed = 20261122;
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    const auto below = [&](const u256& n) {  // uniform enough in [0, n) for a test
        u256 r = 0;
        for (int i = 0; i < 4; ++i) r = (r << 64) | rng();
        return n.is_zero() ? u256(0) : u256(r % n);
    };

    // Market 1 takes a 10% fee, so accrual mints fee shares there.
    chain.transact(book.fixture.owner(), d.morpho,
                   test::calldata("setFee(" + kMp + ",uint256)",
                                  {test::to_abi(d.markets[1].params), kWad / 10}),
                   300'000);
    // The keeper may pay for liquidations (the eth_calls simulate them from its account).
    chain.transact(
        book.keeper, d.loan_token,
        test::calldata("approve(address,uint256)", {d.morpho, std::numeric_limits<u256>::max()}),
        100'000);

    const uint64_t elapsed_choices[] = {1, 12, 600, 3'600, 86'400, 30 * 86'400, 365 * 86'400};
    std::size_t accruals = 0, healthy = 0, unhealthy = 0, sims = 0, sim_reverts = 0, executed = 0,
                bad_debts = 0;
    for (int round = 0; round < 10; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        // A price move on one market: -15% .. +3% (the last round crashes market 0 by 45%).
        const std::size_t moved = rng() % 2;
        const u256 price_now = test::read_price(chain, d.markets[moved].params.oracle);
        const u256 factor_bps = round == 9 ? 5'500 : 8'500 + rng() % 1'800;
        book.fixture.set_price(round == 9 ? 0 : moved, price_now * factor_bps / 10'000);

        // (a) accrueInterest on both markets in one block at a chosen timestamp.
        const BlockHeader head = chain.block(BlockTag::latest);
        const uint64_t elapsed = elapsed_choices[rng() % std::size(elapsed_choices)] + rng() % 7;
        std::vector<Market> before;
        std::vector<u256> rates;
        for (std::size_t m = 0; m < d.markets.size(); ++m) {
            before.push_back(book.market(m, head.number));
            rates.push_back(book.rate(m, before.back()));
        }
        chain.set_automine(false);
        std::vector<Hash32> txs;
        for (std::size_t m = 0; m < d.markets.size(); ++m)
            txs.push_back(chain.send(
                book.fixture.owner(), d.morpho,
                test::calldata("accrueInterest(" + kMp + ")", {test::to_abi(d.markets[m].params)}),
                300'000));
        book.next_timestamp(head.timestamp + elapsed);
        const auto receipts = chain.settle(txs);
        chain.set_automine(true);
        const uint64_t block = receipts[0].block_number;
        ASSERT_EQ(receipts[1].block_number, block);
        const uint64_t timestamp = chain.block(block).timestamp;
        ASSERT_EQ(timestamp, head.timestamp + elapsed);
        std::vector<Market> markets;
        std::vector<u256> prices;
        for (std::size_t m = 0; m < d.markets.size(); ++m) {
            Market local = before[m];
            ASSERT_TRUE(accrue_interest(local, rates[m], timestamp).has_value());
            markets.push_back(book.market(m, block));
            EXPECT_EQ(markets[m], local)
                << "market " << m << " after " << elapsed << " s at rate " << rates[m];
            prices.push_back(test::read_price(chain, d.markets[m].params.oracle, block));
            ++accruals;
        }

        // (b) and (c), simulated at that block: its timestamp is the markets' lastUpdate,
        // so the liquidate being simulated accrues nothing further.
        std::optional<std::size_t> to_execute;
        for (std::size_t b = 0; b < d.borrowers.size(); ++b) {
            const std::size_t m = d.borrowers[b].market;
            const u256& lltv = d.markets[m].params.lltv;
            const Position pos = book.position(b, block);
            if (pos.borrow_shares.is_zero()) continue;  // liquidated in an earlier round
            SCOPED_TRACE("borrower " + std::to_string(b));
            const auto local_healthy = is_healthy(pos, markets[m], prices[m], lltv);
            ASSERT_TRUE(local_healthy.has_value());
            const auto sim = chain.call(d.keeper, d.morpho, book.liquidate_call(b, 1, 0), block);
            if (*local_healthy) {
                ++healthy;
                ASSERT_FALSE(sim.has_value()) << "Morpho liquidates a position we call healthy";
                EXPECT_EQ(revert_of(sim.error()), "position is healthy");
                continue;
            }
            ++unhealthy;
            ASSERT_TRUE(sim.has_value())
                << "Morpho refuses to liquidate a position we call unhealthy: "
                << revert_of(sim.error());

            const auto plan = best_liquidation(markets[m], pos, lltv, prices[m]);
            ASSERT_TRUE(plan.has_value() && plan->has_value());
            const std::pair<u256, u256> args[] = {
                {1, 0},
                {(*plan)->seized_assets, (*plan)->repaid_shares},
                {1 + below(pos.collateral + pos.collateral / 4), 0},  // may exceed collateral
                {0, 1 + below(pos.borrow_shares + pos.borrow_shares / 4)},
            };
            for (const auto& [seized, shares] : args) {
                SCOPED_TRACE("liquidate(seized " + to_string(seized) + ", shares " +
                             to_string(shares) + ")");
                Market lm = markets[m];
                Position lp = pos;
                const auto local = liquidate(lm, lp, lltv, prices[m], seized, shares);
                const auto onchain =
                    chain.call(d.keeper, d.morpho, book.liquidate_call(b, seized, shares), block);
                ++sims;
                if (!local) {
                    ++sim_reverts;
                    ASSERT_FALSE(onchain.has_value()) << "we predict " << to_string(local.error());
                    EXPECT_EQ(revert_of(onchain.error()), expected_revert(local.error()));
                    continue;
                }
                ASSERT_TRUE(onchain.has_value()) << revert_of(onchain.error());
                ASSERT_EQ(onchain->size(), 64u);
                EXPECT_EQ(word_at(*onchain, 0), local->seized_assets);
                EXPECT_EQ(word_at(*onchain, 1), local->repaid_assets);
            }
            if (!to_execute || (*plan)->expected.bad_debt_shares > 0) to_execute = b;
        }

        // (c) for real: one liquidation per round, mined a few seconds later (so Morpho
        // accrues interest first); position and market after it must match ours.
        if (to_execute) {
            const std::size_t b = *to_execute;
            const std::size_t m = d.borrowers[b].market;
            const u256& lltv = d.markets[m].params.lltv;
            Market lm = markets[m];
            Position lp = book.position(b, block);
            const uint64_t at = timestamp + 1 + rng() % 30;
            ASSERT_TRUE(accrue_interest(lm, book.rate(m, lm), at).has_value());
            const auto plan = best_liquidation(lm, lp, lltv, prices[m]);
            ASSERT_TRUE(plan.has_value() && plan->has_value());
            const auto local =
                liquidate(lm, lp, lltv, prices[m], (*plan)->seized_assets, (*plan)->repaid_shares);
            ASSERT_TRUE(local.has_value());
            book.next_timestamp(at);
            const Receipt r = chain.transact(
                book.keeper, d.morpho,
                book.liquidate_call(b, (*plan)->seized_assets, (*plan)->repaid_shares), 500'000);
            EXPECT_EQ(book.market(m, r.block_number), lm);
            EXPECT_EQ(book.position(b, r.block_number), lp);
            // The Liquidate event's amounts (data: repaidAssets, repaidShares, seizedAssets,
            // badDebtAssets, badDebtShares).
            const Hash32 topic = keccak256(
                "Liquidate(bytes32,address,address,uint256,uint256,uint256,uint256,uint256)");
            bool seen = false;
            for (const Log& log : r.logs) {
                if (log.topics.empty() || log.topics[0] != topic) continue;
                seen = true;
                ASSERT_EQ(log.data.size(), 5 * 32u);
                EXPECT_EQ(word_at(log.data, 0), local->repaid_assets);
                EXPECT_EQ(word_at(log.data, 1), local->repaid_shares);
                EXPECT_EQ(word_at(log.data, 2), local->seized_assets);
                EXPECT_EQ(word_at(log.data, 3), local->bad_debt_assets);
                EXPECT_EQ(word_at(log.data, 4), local->bad_debt_shares);
            }
            EXPECT_TRUE(seen);
            ++executed;
            if (local->bad_debt_shares > 0) ++bad_debts;
        }
    }
    std::cout << "[ morpho ] " << accruals << " accruals, " << healthy << " healthy and "
              << unhealthy << " unhealthy checks, " << sims << " simulated liquidations ("
              << sim_reverts << " reverting), " << executed << " executed (" << bad_debts
              << " with bad debt)\n";
    // The run must have exercised each path, or it proves little.
    EXPECT_GE(healthy, 100u);
    EXPECT_GE(unhealthy, 20u);
    EXPECT_GE(sim_reverts, 5u);
    EXPECT_GE(executed, 5u);
    EXPECT_GE(bad_debts, 1u);
}
