// MorphoLiquidator against the real Morpho Blue bytecode on anvil (tests/support's
// MorphoFixture: two markets, 60 borrowers), driven block by block as the runner drives it:
//  - after start() the mirror equals Morpho's position() for every borrower;
//  - after a price drop, the positions it calls liquidatable are exactly those whose
//    simulated liquidate (eth_call from the keeper) does not revert "position is healthy";
//  - its intents, sent by the keeper (anvil dev account 1), approve first and then liquidate
//    every one of those positions;
//  - a live Repay and Borrow are mirrored through on_block, and a removed block undoes them.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "chain/json_rpc.hpp"
#include "chain/keccak.hpp"
#include "strategies/morpho/liquidator.hpp"
#include "tests/support/anvil.hpp"
#include "tests/support/morpho_fixture.hpp"

using namespace vigil;
using namespace vigil::morpho;
namespace vabi = vigil::abi;

namespace {

const std::string kMp(test::kMarketParamsType);

std::string revert_of(const rpc::Failure& f) {
    if (f.kind != rpc::Errc::rpc_error) return "no revert: " + f.to_string();
    const auto data = rpc::revert_data(f.rpc);
    if (!data) return "no revert data: " + f.to_string();
    const auto revert = vabi::decode_revert(*data);
    if (!revert) return "undecodable revert";
    if (revert->kind == vabi::RevertKind::error_string) return revert->message;
    return vabi::to_string(*revert);
}

// The fixture's default 1M loan tokens pay for only part of a 10% crash's liquidations (the
// strategy then plans within the balance: unit-tested); here the keeper can pay for all.
test::MorphoFixtureOptions fixture_options() {
    test::MorphoFixtureOptions o;
    o.keeper_loan_balance = u256(100'000'000) * kWad;
    return o;
}

struct Rig {
    test::Anvil anvil;
    test::MorphoFixture fixture{anvil.http_url(), fixture_options()};
    test::DevChain& chain = fixture.chain();
    const test::MorphoDeployment& d = fixture.deployment();
    keys::LocalSigner keeper = test::signer_from_hex(test::Anvil::kDevKey1);
    std::vector<std::string> lines;
    MorphoLiquidator liquidator{
        LiquidatorOptions{"morpho", d.morpho, true, {}, d.deploy_block, 0, std::nullopt},
        [this](std::string_view event, std::string detail) {
            lines.push_back(std::string(event) + " " + detail);
        }};
    StrategyContext context{chain.provider(), chain.chain_id(), "keeper", d.keeper};
    uint64_t next_block = 0;
    std::vector<BlockEvent> fed;

    void start() {
        const uint64_t head = chain.block_number();
        const auto r = chain.run(liquidator.start(context, head, std::nullopt));
        ASSERT_TRUE(r.has_value()) << r.error();
        next_block = head + 1;
    }
    // Every block mined since the last call, as the runner would deliver them; the intents
    // of all of them.
    std::vector<Intent> feed() {
        std::vector<Intent> intents;
        const uint64_t head = chain.block_number();
        for (; next_block <= head; ++next_block) {
            BlockEvent ev;
            ev.header = chain.block(next_block);
            auto logs = chain.run(
                chain.provider().get_logs(liquidator.log_filter(), next_block, next_block));
            EXPECT_TRUE(logs.has_value());
            if (logs) ev.logs = std::move(*logs);
            auto out = chain.run(liquidator.on_block(ev));
            fed.push_back(ev);
            intents.insert(intents.end(), out.begin(), out.end());
        }
        return intents;
    }
    Hash32 market_id(std::size_t b) const { return d.markets[d.borrowers[b].market].id; }
    Position onchain(std::size_t b, BlockId block = BlockTag::latest) {
        return test::read_position(chain, d.morpho, market_id(b), d.borrowers[b].address, block);
    }
    void expect_mirror_matches(BlockId block = BlockTag::latest) {
        for (std::size_t b = 0; b < d.borrowers.size(); ++b) {
            const Position chain_pos = onchain(b, block);
            const auto mirror = liquidator.position(market_id(b), d.borrowers[b].address);
            ASSERT_TRUE(mirror.has_value()) << "borrower " << b;
            EXPECT_EQ(mirror->borrow_shares, chain_pos.borrow_shares) << "borrower " << b;
            EXPECT_EQ(mirror->collateral, chain_pos.collateral) << "borrower " << b;
        }
    }
    // Borrowers the liquidator's rows call liquidatable.
    std::set<Address> liquidatable_rows() {
        std::set<Address> out;
        for (const auto& row : liquidator.positions())
            if (row.liquidatable) out.insert(row.account);
        return out;
    }
    // Borrowers (with debt) whose simulated liquidate at `block` is not refused as healthy.
    std::set<Address> liquidatable_onchain(uint64_t block) {
        std::set<Address> out;
        for (std::size_t b = 0; b < d.borrowers.size(); ++b) {
            if (onchain(b, block).borrow_shares.is_zero()) continue;
            const auto& borrower = d.borrowers[b];
            const auto sim =
                chain.call(d.keeper, d.morpho,
                           test::calldata("liquidate(" + kMp + ",address,uint256,uint256,bytes)",
                                          {test::to_abi(d.markets[borrower.market].params),
                                           borrower.address, u256(1), u256(0), Bytes{}}),
                           block);
            if (sim || revert_of(sim.error()) != "position is healthy")
                out.insert(borrower.address);
        }
        return out;
    }
    std::set<Address> borrowers_of(const std::vector<Intent>& intents) {
        std::set<Address> out;
        for (const Intent& in : intents) {
            const auto args = vabi::decode_call(
                *vabi::parse_function("liquidate(" + kMp + ",address,uint256,uint256,bytes)"),
                in.calldata);
            EXPECT_TRUE(args.has_value()) << in.idempotency_key;
            if (args) out.insert(std::get<Address>((*args)[1].v));
        }
        return out;
    }
};

}  // namespace

TEST(morpho_liquidator_anvil, mirrors_detects_and_liquidates_on_real_morpho) {
    Rig rig;
    auto& chain = rig.chain;
    const auto& d = rig.d;
    rig.start();
    EXPECT_EQ(rig.liquidator.market_count(), 2u);
    rig.expect_mirror_matches();
    EXPECT_TRUE(rig.liquidatable_rows().empty());
    EXPECT_EQ(rig.liquidator.positions().size(), d.borrowers.size());

    // Prices drop 10% on both markets (one mined block each).
    for (std::size_t m = 0; m < 2; ++m) rig.fixture.set_price(m, d.markets[m].price * 90 / 100);
    auto intents = rig.feed();
    const uint64_t evaluated = chain.block_number();
    const auto expected = rig.liquidatable_onchain(evaluated);
    EXPECT_EQ(rig.liquidatable_rows(), expected);
    ASSERT_GE(expected.size(), 3u);
    ASSERT_LT(expected.size(), d.borrowers.size() / 2);

    // The keeper has no allowance yet: one approve intent on the loan token, nothing else.
    ASSERT_EQ(intents.size(), 1u);
    EXPECT_EQ(intents[0].target, d.loan_token);
    EXPECT_TRUE(intents[0].idempotency_key.starts_with("morpho/approve/"));
    chain.transact(rig.keeper, intents[0].target, intents[0].calldata, 100'000);
    rig.liquidator.on_outcome(
        Outcome{intents[0].idempotency_key, OutcomeKind::included, std::nullopt, 0, ""});

    // The block with the approval: one liquidation per liquidatable borrower.
    intents = rig.feed();
    const auto at_approval = rig.liquidatable_onchain(chain.block_number());
    EXPECT_EQ(at_approval, expected);
    EXPECT_EQ(rig.borrowers_of(intents), at_approval) << testing::PrintToString(rig.lines);
    ASSERT_EQ(intents.size(), at_approval.size());
    std::set<std::string> keys;
    for (const Intent& in : intents) {
        keys.insert(in.idempotency_key);
        EXPECT_EQ(in.target, d.morpho);
        ASSERT_TRUE(in.expected_profit_wei);
        EXPECT_GT(*in.expected_profit_wei, 0);
    }
    EXPECT_EQ(keys.size(), intents.size());

    // Sent by the keeper as they are: every one is mined with status 1 and liquidates.
    std::map<Address, Position> before;
    for (std::size_t b = 0; b < d.borrowers.size(); ++b)
        before[d.borrowers[b].address] = rig.onchain(b);
    std::vector<Hash32> txs;
    for (const Intent& in : intents) txs.push_back(chain.send(rig.keeper, in.target, in.calldata));
    const auto receipts = chain.settle(txs);
    const Hash32 liquidate_topic = keccak256(std::string_view(
        "Liquidate(bytes32,address,address,uint256,uint256,uint256,uint256,uint256)"));
    for (std::size_t i = 0; i < receipts.size(); ++i) {
        EXPECT_TRUE(receipts[i].status);
        const bool liquidated = std::any_of(
            receipts[i].logs.begin(), receipts[i].logs.end(),
            [&](const Log& l) { return !l.topics.empty() && l.topics[0] == liquidate_topic; });
        EXPECT_TRUE(liquidated) << intents[i].idempotency_key;
    }
    // The runner hears of the blocks, then of the outcomes (after confirmation). While a
    // liquidation is in flight its position is not proposed again, even in the blocks where
    // the others land.
    const auto later = rig.feed();
    EXPECT_TRUE(later.empty()) << later.size() << " intents, first " << later[0].idempotency_key;
    for (std::size_t i = 0; i < receipts.size(); ++i)
        rig.liquidator.on_outcome(Outcome{intents[i].idempotency_key, OutcomeKind::included,
                                          receipts[i].tx_hash, receipts[i].block_number, ""});
    rig.expect_mirror_matches();
    chain.mine();
    EXPECT_TRUE(rig.feed().empty());
    // Every one was liquidated (its debt repaid, or written off with its collateral gone:
    // at most a few shares of rounding dust stay) and none is liquidatable any more.
    EXPECT_TRUE(rig.liquidatable_rows().empty());
    EXPECT_TRUE(rig.liquidatable_onchain(chain.block_number()).empty());
    for (std::size_t b = 0; b < d.borrowers.size(); ++b) {
        const auto& who = d.borrowers[b].address;
        const Position now = rig.onchain(b);
        if (expected.contains(who)) {
            EXPECT_LT(now.borrow_shares, before[who].borrow_shares / 1'000'000) << "borrower " << b;
            EXPECT_LT(now.collateral, before[who].collateral) << "borrower " << b;
        } else {
            EXPECT_EQ(now, before[who]) << "borrower " << b;
        }
    }
}

TEST(morpho_liquidator_anvil, follows_live_logs_and_undoes_removed_blocks) {
    Rig rig;
    auto& chain = rig.chain;
    const auto& d = rig.d;
    rig.start();

    // Borrower 2 repays part of its debt, borrower 4 borrows more: each its own block.
    const std::size_t repayer = 2, borrower = 4;
    const auto repay_signer = rig.fixture.borrower_signer(repayer);
    const auto borrow_signer = rig.fixture.borrower_signer(borrower);
    const auto& repay_params = d.markets[d.borrowers[repayer].market].params;
    const auto& borrow_params = d.markets[d.borrowers[borrower].market].params;
    chain.transact(
        repay_signer, d.loan_token,
        test::calldata("approve(address,uint256)", {d.morpho, std::numeric_limits<u256>::max()}),
        100'000);
    rig.feed();
    const Position before_repay = rig.onchain(repayer);
    chain.transact(repay_signer, d.morpho,
                   test::calldata("repay(" + kMp + ",uint256,uint256,address,bytes)",
                                  {test::to_abi(repay_params), d.borrowers[repayer].borrowed / 3,
                                   u256(0), d.borrowers[repayer].address, Bytes{}}));
    rig.feed();
    chain.transact(
        borrow_signer, d.morpho,
        test::calldata("borrow(" + kMp + ",uint256,uint256,address,address)",
                       {test::to_abi(borrow_params), d.borrowers[borrower].borrowed / 100, u256(0),
                        d.borrowers[borrower].address, d.borrowers[borrower].address}));
    rig.feed();
    EXPECT_LT(rig.onchain(repayer).borrow_shares, before_repay.borrow_shares);
    rig.expect_mirror_matches();

    // The last two blocks are removed (newest first), as a reorg delivers them: the mirror
    // goes back to Morpho's state at the block before them.
    const uint64_t head = chain.block_number();
    for (std::size_t k = 0; k < 2; ++k) {
        BlockEvent removed = rig.fed[rig.fed.size() - 1 - k];
        ASSERT_EQ(removed.header.number, head - k);
        ASSERT_FALSE(removed.logs.empty());
        removed.kind = BlockEvent::Kind::removed;
        for (Log& l : removed.logs) l.removed = true;
        EXPECT_TRUE(chain.run(rig.liquidator.on_block(removed)).empty());
    }
    EXPECT_EQ(rig.liquidator.last_block(), head - 2);
    rig.expect_mirror_matches(head - 2);
    EXPECT_EQ(rig.liquidator.position(rig.market_id(repayer), d.borrowers[repayer].address)
                  ->borrow_shares,
              before_repay.borrow_shares);
    // And added again: back to the head.
    for (std::size_t k = 2; k > 0; --k)
        chain.run(rig.liquidator.on_block(rig.fed[rig.fed.size() - k]));
    rig.expect_mirror_matches();
}
