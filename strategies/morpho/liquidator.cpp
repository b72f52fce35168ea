#include "strategies/morpho/liquidator.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "chain/abi.hpp"
#include "chain/json_rpc.hpp"
#include "chain/keccak.hpp"

namespace vigil::morpho {

using vigil::to_string;  // beside morpho::to_string(MathError)

namespace {

// An intent not mined this many blocks after the block it was decided at is given up (the
// pipeline cancels it): the position and the price will have moved.
constexpr uint64_t kDeadlineBlocks = 5;
// Safety valve: an intent with no outcome this long after it was proposed is forgotten and
// its key retired (e.g. the pipeline silently skipped a key its journal had finished before
// a restart from an older checkpoint); well past the deadline, when the pipeline has
// reported every intent it holds.
constexpr uint64_t kInFlightTimeoutBlocks = kDeadlineBlocks + 20;
constexpr uint64_t kLiquidateGasCap = 1'000'000;
// Liquidations planned and proposed per block, most profitable first (see plan_liquidations):
// more than a block holds (30M gas at ~150k a liquidation), so a wave is never cut below
// what can be included, and planning stays a few milliseconds (strategies_bench).
constexpr std::size_t kMaxLiquidationsPerBlock = 256;
constexpr uint64_t kApproveGasCap = 100'000;
// Blocks after an event that puts the mirror of positions in doubt (start, reorg, gap,
// unpredicted totals) during which liquidations are not `exact`.
constexpr uint64_t kDoubtBlocks = 2;

constexpr std::string_view kStateHeader = "vigil.morpho-blue.liquidate 1";
constexpr std::string_view kRetrySuffix = "/retry";

const std::string kMarketParamsType = "(address,address,address,address,uint256)";
const std::string kMarketType = "(uint128,uint128,uint128,uint128,uint128,uint128)";

// EventsLib of Morpho Blue 1.0.0.
const Hash32 kCreateMarket = keccak256("CreateMarket(bytes32," + kMarketParamsType + ")");
const Hash32 kSupply =
    keccak256(std::string_view("Supply(bytes32,address,address,uint256,uint256)"));
const Hash32 kWithdraw =
    keccak256(std::string_view("Withdraw(bytes32,address,address,address,uint256,uint256)"));
const Hash32 kBorrow =
    keccak256(std::string_view("Borrow(bytes32,address,address,address,uint256,uint256)"));
const Hash32 kRepay = keccak256(std::string_view("Repay(bytes32,address,address,uint256,uint256)"));
const Hash32 kSupplyCollateral =
    keccak256(std::string_view("SupplyCollateral(bytes32,address,address,uint256)"));
const Hash32 kWithdrawCollateral =
    keccak256(std::string_view("WithdrawCollateral(bytes32,address,address,address,uint256)"));
const Hash32 kLiquidate = keccak256(
    std::string_view("Liquidate(bytes32,address,address,uint256,uint256,uint256,uint256,uint256)"));
const Hash32 kAccrueInterest =
    keccak256(std::string_view("AccrueInterest(bytes32,uint256,uint256,uint256)"));
const Hash32 kSetFee = keccak256(std::string_view("SetFee(bytes32,uint256)"));

abi::Selector selector_of(const std::string& signature) {
    const Hash32 h = keccak256(signature);
    return {h.bytes[0], h.bytes[1], h.bytes[2], h.bytes[3]};
}
const abi::Selector kLiquidateSelector =
    selector_of("liquidate(" + kMarketParamsType + ",address,uint256,uint256,bytes)");
const abi::Selector kApproveSelector = selector_of("approve(address,uint256)");
const abi::Selector kMarketSelector = selector_of("market(bytes32)");
const abi::Selector kPriceSelector = selector_of("price()");
const abi::Selector kBorrowRateViewSelector =
    selector_of("borrowRateView(" + kMarketParamsType + "," + kMarketType + ")");
const abi::Selector kBalanceOfSelector = selector_of("balanceOf(address)");
const abi::Selector kAllowanceSelector = selector_of("allowance(address,address)");

// Static ABI words, appended in order (every argument here is static but liquidate's empty
// `bytes`, written by hand below).
struct Words {
    Bytes out;
    explicit Words(const abi::Selector& s) { out.assign(s.begin(), s.end()); }
    Words& word(const u256& v) {
        const std::size_t at = out.size();
        out.resize(at + 32);
        store_be(v, std::span<uint8_t, 32>(out.data() + at, 32));
        return *this;
    }
    Words& word(const Address& a) {
        out.insert(out.end(), 12, 0);
        out.insert(out.end(), a.bytes.begin(), a.bytes.end());
        return *this;
    }
    Words& word(const Hash32& h) {
        out.insert(out.end(), h.bytes.begin(), h.bytes.end());
        return *this;
    }
    Words& params(const MarketParams& p) {
        return word(p.loan_token).word(p.collateral_token).word(p.oracle).word(p.irm).word(p.lltv);
    }
};

Bytes liquidate_calldata(const MarketParams& params, const Address& borrower, const u256& seized,
                         const u256& repaid_shares) {
    // liquidate(MarketParams, address, uint256, uint256, bytes data = ""): nine head words
    // (the params tuple is static, inline), then the bytes' offset points at its length 0.
    return Words(kLiquidateSelector)
        .params(params)
        .word(borrower)
        .word(seized)
        .word(repaid_shares)
        .word(u256(9 * 32))
        .word(u256(0))
        .out;
}

// IIrm.borrowRateView(MarketParams, Market): the rate at these totals.
Bytes rate_call(const MarketParams& params, const Market& t) {
    return Words(kBorrowRateViewSelector)
        .params(params)
        .word(t.total_supply_assets)
        .word(t.total_supply_shares)
        .word(t.total_borrow_assets)
        .word(t.total_borrow_shares)
        .word(t.last_update)
        .word(t.fee)
        .out;
}

std::optional<u256> word_at(BytesView data, std::size_t index) {
    if (data.size() < 32 * (index + 1)) return std::nullopt;
    return load_be(std::span<const uint8_t, 32>(data.data() + 32 * index, 32));
}

Address topic_address(const Hash32& topic) {
    Address a;
    std::copy(topic.bytes.begin() + 12, topic.bytes.end(), a.bytes.begin());
    return a;
}

std::optional<Address> word_address(BytesView data, std::size_t index) {
    const auto w = word_at(data, index);
    if (!w || (*w >> 160) != 0) return std::nullopt;
    Address a;
    std::copy(data.begin() + 32 * index + 12, data.begin() + 32 * (index + 1), a.bytes.begin());
    return a;
}

std::string hex_of(const Address& a) {
    return to_hex(BytesView(a.bytes));
}

// `field += d` or, undoing, `field -= d`, modulo 2^bits: apply then undo is the identity.
void shift(u128& field, const u256& d, bool undo) {
    field = undo ? field - low128(d) : field + low128(d);
}
void shift(u256& field, const u256& d, bool undo) {
    field = undo ? u256(field - d) : u256(field + d);
}

std::string failure_text(const rpc::Failure& f) {
    if (f.kind == rpc::Errc::rpc_error) {
        if (const auto data = rpc::revert_data(f.rpc)) {
            if (const auto revert = abi::decode_revert(*data)) {
                if (revert->kind == abi::RevertKind::error_string)
                    return "reverted: " + revert->message;
                if (revert->kind == abi::RevertKind::panic)
                    return "reverted: panic " + to_quantity(revert->panic_code);
                return "reverted";
            }
        }
    }
    return f.to_string();
}

// Loan-token units are compared with gas wei 1:1 for now, which is right when the loan token
// is WETH (18 decimals) and wrong otherwise. The conversion (a loan token / native token
// price, e.g. from an oracle read in the same batch) goes here and nowhere else.
u256 loan_units_to_wei(const MarketParams& /*params*/, const u256& loan_units) {
    return loan_units;
}

double ratio(const u256& num, const u256& den) {
    if (den.is_zero()) return std::numeric_limits<double>::infinity();
    return num.convert_to<double>() / den.convert_to<double>();
}

std::string fixed(double v) {
    std::ostringstream s;
    s.precision(4);
    s << std::fixed << v;
    return s.str();
}

// Whitespace-separated fields of one line.
std::vector<std::string_view> fields(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && line[i] == ' ') ++i;
        const std::size_t start = i;
        while (i < line.size() && line[i] != ' ') ++i;
        if (i > start) out.push_back(line.substr(start, i - start));
    }
    return out;
}

std::string markets_text(const LiquidatorOptions& o) {
    if (o.all_markets) return "all";
    std::vector<Hash32> ids = o.markets;
    std::sort(ids.begin(), ids.end());
    std::string s;
    for (const auto& id : ids) {
        if (!s.empty()) s += ',';
        s += to_hex(id);
    }
    return s.empty() ? "none" : s;
}

}  // namespace

// ---------------------------------------------------------------------------------------

MorphoLiquidator::MorphoLiquidator(LiquidatorOptions options, LogSink log)
    : options_(std::move(options)), log_(std::move(log)) {}

void MorphoLiquidator::log(std::string_view event, std::string detail) const {
    if (log_) log_(event, std::move(detail));
}

LogFilter MorphoLiquidator::log_filter() const {
    LogFilter filter;
    filter.addresses = {options_.morpho};
    filter.topics.push_back({kCreateMarket, kSupply, kWithdraw, kBorrow, kRepay, kSupplyCollateral,
                             kWithdrawCollateral, kLiquidate, kAccrueInterest, kSetFee});
    // Every event used has the market id as topic 1: a market list filters at the node.
    if (!options_.all_markets) filter.topics.push_back(options_.markets);
    return filter;
}

std::vector<DeclaredCall> MorphoLiquidator::declared_calls() const {
    std::vector<DeclaredCall> calls{{options_.morpho, kLiquidateSelector}};
    for (const auto& m : markets_) {
        const DeclaredCall approve{m.params.loan_token, kApproveSelector};
        if (std::find(calls.begin(), calls.end(), approve) == calls.end()) calls.push_back(approve);
    }
    return calls;
}

bool MorphoLiquidator::wanted(const Hash32& id) const {
    return options_.all_markets || std::find(options_.markets.begin(), options_.markets.end(),
                                             id) != options_.markets.end();
}

MorphoLiquidator::MarketState* MorphoLiquidator::find_market(const Hash32& id) {
    const auto it = market_index_.find(id);
    return it == market_index_.end() ? nullptr : &markets_[it->second];
}

// ---------------------------------------------------------------------------------------
// The mirror: each event changes Morpho's state additively, so undoing applies it negated.
// Position fields wrap modulo 2^128 and market totals modulo 2^256, which makes apply then
// undo the identity even where Morpho's own arithmetic is not additive (Repay's and
// Liquidate's zeroFloorSub on totalBorrowAssets, SetFee, lastUpdate): those market totals
// are only a prediction, checked against Morpho.market(id) at every evaluated block.

void MorphoLiquidator::apply_log(const Log& log, bool undo, std::optional<uint64_t> timestamp) {
    if (log.address != options_.morpho || log.topics.size() < 2) return;
    const Hash32& event = log.topics[0];
    const Hash32& id = log.topics[1];
    const BytesView data(log.data);

    if (event == kCreateMarket) {
        if (!wanted(id)) return;
        if (undo) {
            const auto it = market_index_.find(id);
            if (it == market_index_.end()) return;
            markets_.erase(markets_.begin() + static_cast<std::ptrdiff_t>(it->second));
            market_index_.clear();
            for (std::size_t i = 0; i < markets_.size(); ++i) market_index_[markets_[i].id] = i;
            this->log("morpho.market_removed", "market " + to_hex(id) + " (reorg)");
            return;
        }
        if (market_index_.contains(id)) return;
        MarketParams params;
        const auto loan = word_address(data, 0), collateral = word_address(data, 1),
                   oracle = word_address(data, 2), irm = word_address(data, 3);
        const auto lltv = word_at(data, 4);
        if (!loan || !collateral || !oracle || !irm || !lltv) {
            this->log("morpho.bad_log", "CreateMarket " + to_hex(id) + ": malformed data");
            return;
        }
        params = {*loan, *collateral, *oracle, *irm, *lltv};
        if (params.id() != id) {
            this->log("morpho.bad_log",
                      "CreateMarket " + to_hex(id) + ": params hash to " + to_hex(params.id()));
            return;
        }
        MarketState m;
        m.id = id;
        m.params = params;
        // A live CreateMarket sets lastUpdate to its block's timestamp and zeroes the rest;
        // in a backfill the timestamp is unknown until the first read.
        m.known = timestamp.has_value();
        m.totals.last_update = timestamp.value_or(0);
        market_index_[id] = markets_.size();
        markets_.push_back(std::move(m));
        this->log("morpho.market", "market " + to_hex(id) + " loan " +
                                       to_checksum(params.loan_token) + " collateral " +
                                       to_checksum(params.collateral_token) + " lltv " +
                                       to_string(params.lltv));
        return;
    }

    MarketState* m = find_market(id);
    if (!m) return;
    Market& t = m->totals;
    const auto position_of = [&](const Hash32& topic) {
        return m->book.find_or_add(topic_address(topic));
    };
    const auto bad = [&](std::string_view what) {
        this->log("morpho.bad_log", std::string(what) + " in block " +
                                        std::to_string(log.block_number) + ": malformed");
    };

    if (event == kBorrow || event == kWithdraw) {
        // (id, caller, onBehalf indexed, receiver indexed), data (caller, assets, shares)
        const auto assets = word_at(data, 1), shares = word_at(data, 2);
        if (log.topics.size() != 4 || !assets || !shares) return bad("Borrow/Withdraw");
        if (event == kBorrow) {
            shift(m->book.borrow_shares(position_of(log.topics[2])), *shares, undo);
            shift(t.total_borrow_assets, *assets, undo);
            shift(t.total_borrow_shares, *shares, undo);
        } else {
            shift(t.total_supply_assets, *assets, !undo);
            shift(t.total_supply_shares, *shares, !undo);
        }
    } else if (event == kRepay || event == kSupply) {
        // (id, caller indexed, onBehalf indexed), data (assets, shares)
        const auto assets = word_at(data, 0), shares = word_at(data, 1);
        if (log.topics.size() != 4 || !assets || !shares) return bad("Repay/Supply");
        if (event == kRepay) {
            shift(m->book.borrow_shares(position_of(log.topics[3])), *shares, !undo);
            shift(t.total_borrow_shares, *shares, !undo);
            if (!undo && t.total_borrow_assets < *assets)
                t.total_borrow_assets = 0;  // zeroFloorSub
            else
                shift(t.total_borrow_assets, *assets, !undo);
        } else {
            shift(t.total_supply_assets, *assets, undo);
            shift(t.total_supply_shares, *shares, undo);
        }
    } else if (event == kSupplyCollateral) {
        // (id, caller indexed, onBehalf indexed), data (assets)
        const auto assets = word_at(data, 0);
        if (log.topics.size() != 4 || !assets) return bad("SupplyCollateral");
        shift(m->book.collateral(position_of(log.topics[3])), *assets, undo);
    } else if (event == kWithdrawCollateral) {
        // (id, caller, onBehalf indexed, receiver indexed), data (caller, assets)
        const auto assets = word_at(data, 1);
        if (log.topics.size() != 4 || !assets) return bad("WithdrawCollateral");
        shift(m->book.collateral(position_of(log.topics[2])), *assets, !undo);
    } else if (event == kLiquidate) {
        // (id, caller indexed, borrower indexed), data (repaidAssets, repaidShares,
        // seizedAssets, badDebtAssets, badDebtShares)
        const auto repaid_assets = word_at(data, 0), repaid_shares = word_at(data, 1),
                   seized = word_at(data, 2), bad_assets = word_at(data, 3),
                   bad_shares = word_at(data, 4);
        if (log.topics.size() != 4 || !bad_shares) return bad("Liquidate");
        const uint32_t p = position_of(log.topics[3]);
        shift(m->book.borrow_shares(p), *repaid_shares + *bad_shares, !undo);
        shift(m->book.collateral(p), *seized, !undo);
        m->book.liquidations(p) += undo ? uint32_t(-1) : 1;
        shift(t.total_borrow_shares, *repaid_shares + *bad_shares, !undo);
        shift(t.total_supply_assets, *bad_assets, !undo);
        if (!undo && t.total_borrow_assets < *repaid_assets)
            t.total_borrow_assets = 0;  // zeroFloorSub
        else
            shift(t.total_borrow_assets, *repaid_assets, !undo);
        shift(t.total_borrow_assets, *bad_assets, !undo);
    } else if (event == kAccrueInterest) {
        // (id), data (prevBorrowRate, interest, feeShares)
        const auto interest = word_at(data, 1), fee_shares = word_at(data, 2);
        if (!fee_shares) return bad("AccrueInterest");
        shift(t.total_borrow_assets, *interest, undo);
        shift(t.total_supply_assets, *interest, undo);
        shift(t.total_supply_shares, *fee_shares, undo);
        if (undo || !timestamp)
            m->known = false;  // the previous lastUpdate is not in the log
        else
            t.last_update = *timestamp;
    } else if (event == kSetFee) {
        const auto fee = word_at(data, 0);
        if (!fee) return bad("SetFee");
        if (undo)
            m->known = false;  // the previous fee is not in the log
        else
            t.fee = *fee;
    }
}

// ---------------------------------------------------------------------------------------
// Reads and evaluation

std::vector<Address> MorphoLiquidator::loan_tokens() const {
    std::vector<Address> tokens;
    for (const auto& m : markets_)
        if (std::find(tokens.begin(), tokens.end(), m.params.loan_token) == tokens.end())
            tokens.push_back(m.params.loan_token);
    return tokens;
}

std::vector<CallRequest> MorphoLiquidator::state_reads() const {
    std::vector<CallRequest> requests;
    const auto add = [&requests](const Address& to, Bytes data) {
        requests.push_back(
            CallRequest{std::nullopt, to, std::move(data), std::nullopt, std::nullopt});
    };
    for (const auto& m : markets_) {
        add(options_.morpho, Words(kMarketSelector).word(m.id).out);
        add(m.params.oracle, Words(kPriceSelector).out);
    }
    for (const Address& token : loan_tokens()) {
        add(token, Words(kBalanceOfSelector).word(keeper_).out);
        add(token, Words(kAllowanceSelector).word(keeper_).word(options_.morpho).out);
    }
    return requests;
}

CallRequest MorphoLiquidator::rate_request(const MarketParams& params, const Market& totals) {
    return CallRequest{std::nullopt, params.irm, rate_call(params, totals), std::nullopt,
                       std::nullopt};
}

std::vector<CallRequest> MorphoLiquidator::block_reads(const BlockHeader&) const {
    std::vector<CallRequest> requests = state_reads();
    // The rate at the totals of the last read: the block's own totals unless the block
    // touches the market, and then they accrue nothing at this block (see read_and_evaluate).
    for (const auto& m : markets_)
        if (!m.params.irm.is_zero() && m.known)
            requests.push_back(rate_request(m.params, m.totals));
    return requests;
}

Task<Result<void, std::string>> MorphoLiquidator::read_and_evaluate(const BlockHeader& header,
                                                                    const BlockReads* prefetched,
                                                                    std::vector<Intent>* intents) {
    // Layout of state_reads(): per market [market, price], then per token [balance, allowance].
    const std::vector<CallRequest> requests = state_reads();
    if (requests.empty()) co_return Result<void, std::string>();
    std::optional<BlockReads> own;  // without the block's batch: its reads in one of ours
    if (!prefetched) {
        std::vector<CallRequest> calls = block_reads(header);
        auto answers = co_await provider_->call_batch(calls, header.hash);
        if (answers.size() != calls.size())
            co_return unexpected("block " + std::to_string(header.number) + ": batch of " +
                                 std::to_string(calls.size()) + " calls answered " +
                                 std::to_string(answers.size()));
        prefetched = &own.emplace(std::move(calls), std::move(answers));
    }
    const std::vector<Address> tokens = loan_tokens();
    auto results = co_await calls_at_block(*provider_, requests, header.hash, prefetched);
    if (std::none_of(results.begin(), results.end(), [](const auto& r) {
            return r.has_value() || r.error().kind == rpc::Errc::rpc_error;
        }))
        co_return unexpected("block " + std::to_string(header.number) +
                             ": state reads failed: " + results.front().error().to_string());

    // Markets: the read totals replace the mirror's prediction (a difference means logs
    // were missed: logged, and the mirror is uncertain for a few blocks). Interest accrues
    // from the market's lastUpdate to this block at the IRM's rate for the totals read
    // here; a market touched in this block has lastUpdate = its timestamp and accrues
    // nothing, so its rate is not asked for.
    struct Read {
        std::optional<Market> market;
        std::optional<u256> price;
        std::optional<u256> rate;
    };
    std::vector<Read> reads(markets_.size());
    std::vector<std::size_t> rated;  ///< markets whose rate is asked for
    std::vector<CallRequest> rate_requests;
    for (std::size_t i = 0; i < markets_.size(); ++i) {
        MarketState& m = markets_[i];
        Read& read = reads[i];
        const auto& market_result = results[2 * i];
        if (!market_result) {
            log("morpho.read_failed", "market " + to_hex(m.id) + " at block " +
                                          std::to_string(header.number) + ": " +
                                          failure_text(market_result.error()));
            continue;
        }
        Market got;
        u256* fields_out[] = {&got.total_supply_assets, &got.total_supply_shares,
                              &got.total_borrow_assets, &got.total_borrow_shares,
                              &got.last_update,         &got.fee};
        bool ok = true;
        for (std::size_t w = 0; w < 6; ++w) {
            const auto v = word_at(*market_result, w);
            ok = ok && v && *v <= kMaxUint128;
            if (ok) *fields_out[w] = *v;
        }
        if (!ok) {
            log("morpho.read_failed", "market " + to_hex(m.id) + ": malformed market() answer");
            continue;
        }
        if (got.last_update.is_zero()) {
            log("morpho.read_failed", "market " + to_hex(m.id) + ": not created at block " +
                                          std::to_string(header.number));
            continue;
        }
        Market predicted = m.totals;
        if (m.params.irm.is_zero()) predicted.last_update = got.last_update;  // no event tells
        if (m.known && predicted != got) {
            log("morpho.market_mismatch", "market " + to_hex(m.id) + " at block " +
                                              std::to_string(header.number) +
                                              ": the logs predicted other totals");
            doubt(header.number);
        }
        m.totals = got;
        m.known = true;
        read.market = got;

        const auto& price_result = results[2 * i + 1];
        if (!price_result) {
            log("morpho.oracle_failed",
                "market " + to_hex(m.id) + " oracle " + to_checksum(m.params.oracle) +
                    " at block " + std::to_string(header.number) + ": " +
                    failure_text(price_result.error()) + "; market skipped");
        } else if (const auto price = word_at(*price_result, 0)) {
            read.price = *price;
        } else {
            log("morpho.oracle_failed", "market " + to_hex(m.id) + ": malformed price() answer");
        }

        if (m.params.irm.is_zero() || got.last_update == u256(header.timestamp)) {
            read.rate = u256(0);
        } else {
            rated.push_back(i);
            rate_requests.push_back(rate_request(m.params, got));
        }
    }
    if (!rate_requests.empty()) {
        const auto rates =
            co_await calls_at_block(*provider_, rate_requests, header.hash, prefetched);
        for (std::size_t k = 0; k < rated.size(); ++k) {
            const MarketState& m = markets_[rated[k]];
            if (!rates[k]) {
                log("morpho.irm_failed", "market " + to_hex(m.id) + " irm " +
                                             to_checksum(m.params.irm) + ": " +
                                             failure_text(rates[k].error()) + "; market skipped");
            } else if (const auto rate = word_at(*rates[k], 0)) {
                reads[rated[k]].rate = *rate;
            }
        }
    }

    for (std::size_t i = 0; i < markets_.size(); ++i) {
        MarketState& m = markets_[i];
        const Read& read = reads[i];
        m.evaluated.reset();
        if (!read.market || !read.price || !read.rate) continue;
        Market accrued = *read.market;
        if (const auto a = accrue_interest(accrued, *read.rate, header.timestamp); !a) {
            log("morpho.accrual_failed", "market " + to_hex(m.id) + " at block " +
                                             std::to_string(header.number) + ": " +
                                             std::string(to_string(a.error())));
            continue;
        }
        m.evaluated = MarketState::Evaluated{accrued, *read.price, header.number};
    }

    const std::size_t token_base = 2 * markets_.size();
    for (std::size_t k = 0; k < tokens.size(); ++k) {
        const Address& token = tokens[k];
        TokenState& ts = tokens_[token];
        ts.read = false;
        const auto& b = results[token_base + 2 * k];
        const auto& a = results[token_base + 2 * k + 1];
        const auto balance = b ? word_at(*b, 0) : std::nullopt;
        const auto allowance = a ? word_at(*a, 0) : std::nullopt;
        if (!balance || !allowance) {
            log("morpho.keeper_read_failed", "loan token " + to_checksum(token) + ": " +
                                                 (!b   ? failure_text(b.error())
                                                  : !a ? failure_text(a.error())
                                                       : std::string("malformed answer")));
            continue;
        }
        ts.balance = *balance;
        ts.allowance = *allowance;
        ts.read = true;
    }

    if (intents) plan_liquidations(header, *intents);
    co_return Result<void, std::string>();
}

void MorphoLiquidator::doubt(uint64_t block) {
    certain_from_ = std::max(certain_from_, block + kDoubtBlocks + 1);
}

std::string MorphoLiquidator::base_key(const MarketState& m, uint32_t position) const {
    return "morpho/" + to_hex(m.id) + "/" + hex_of(m.book.account(position)) + "/" +
           std::to_string(m.book.liquidations(position));
}

void MorphoLiquidator::plan_liquidations(const BlockHeader& header, std::vector<Intent>& intents) {
    // The safety valve first, so that a forgotten key is retried in this very block.
    for (auto it = in_flight_.begin(); it != in_flight_.end();) {
        if (header.number <= it->second.proposed_block + kInFlightTimeoutBlocks) {
            ++it;
            continue;
        }
        log("morpho.intent_forgotten", it->first + ": no outcome after " +
                                           std::to_string(kInFlightTimeoutBlocks) +
                                           " blocks; a later attempt uses a new key");
        Outcome forgotten{it->first, OutcomeKind::expired, std::nullopt, header.number, ""};
        ++it;
        on_outcome(forgotten);  // erases the entry and retires the key
    }

    // One line per position and reason; `detail` (amounts that move every block) is logged
    // with the reason but does not make a new line.
    const auto skip = [this](const std::string& base, std::string reason,
                             const std::string& detail = {}) {
        auto& last = skip_logged_[base];
        if (last == reason) return;
        log("morpho.skip", base + ": " + reason + (detail.empty() ? "" : ": " + detail));
        last = std::move(reason);
    };

    // Liquidatable positions, ordered by a floating-point estimate of their profit, so that
    // math.hpp's exact plan (tens of microseconds: a binary search of simulated liquidate
    // calls) is made only for the kMaxLiquidationsPerBlock best ones and those skipped on
    // the way: a crash can make thousands liquidatable in one block, more than a block
    // can include. The rest wait for the next blocks.
    struct Unhealthy {
        double estimate = 0;  ///< loan units, about
        uint32_t market = 0;
        uint32_t position = 0;
    };
    struct Candidate {
        std::size_t market = 0;
        uint32_t position = 0;
        std::string key, base;
        LiquidationPlan plan;
        double health = 0;
    };
    std::vector<Unhealthy> unhealthy_all;
    std::vector<Candidate> candidates;
    std::vector<uint32_t> unhealthy;
    for (std::size_t mi = 0; mi < markets_.size(); ++mi) {
        const MarketState& m = markets_[mi];
        if (!m.evaluated || m.evaluated->block != header.number) continue;
        const auto& ev = *m.evaluated;
        const HealthScreen screen(ev.accrued, ev.price, m.params.lltv);
        unhealthy.clear();
        const EvaluationStats stats = evaluate(m.book, screen, unhealthy);
        if (stats.failed > 0)
            log("morpho.health_failed", "market " + to_hex(m.id) + ": " +
                                            std::to_string(stats.failed) +
                                            " positions whose health check Morpho would revert");
        if (unhealthy.empty()) continue;
        // Profit of the largest liquidation, about: the incentive on the whole debt when the
        // collateral covers it, else on the whole collateral.
        const double share_price =
            (ev.accrued.total_borrow_assets + kVirtualAssets).convert_to<double>() /
            (ev.accrued.total_borrow_shares + kVirtualShares).convert_to<double>();
        const double unit_value = ev.price.convert_to<double>() / 1e36;
        const double incentive =
            liquidation_incentive_factor(m.params.lltv).value_or(kWad).convert_to<double>() / 1e18;
        for (const uint32_t p : unhealthy) {
            if (m.book.collateral(p) == 0) {
                skip(base_key(m, p),
                     "bad debt: " + to_string(to_u256(m.book.borrow_shares(p))) +
                         " borrow shares and no collateral to seize (Morpho realises it at the "
                         "next liquidation of this position)");
                continue;
            }
            const double debt = HealthScreen::to_double(m.book.borrow_shares(p)) * share_price;
            const double value = HealthScreen::to_double(m.book.collateral(p)) * unit_value;
            const double estimate =
                debt * incentive <= value ? debt * (incentive - 1) : value * (1 - 1 / incentive);
            unhealthy_all.push_back({estimate, static_cast<uint32_t>(mi), p});
        }
    }
    std::stable_sort(
        unhealthy_all.begin(), unhealthy_all.end(),
        [](const Unhealthy& a, const Unhealthy& b) { return a.estimate > b.estimate; });

    // What in-flight liquidations will still take from each token's balance and allowance.
    std::map<Address, u256> committed;
    for (const auto& [key, f] : in_flight_) committed[f.token] += f.repaid_assets;

    struct Chosen {
        std::size_t candidate;  ///< index into candidates (reserved: no reallocation)
        u256 profit_wei;
    };
    std::map<Address, std::vector<Chosen>> by_token;
    std::size_t deferred = 0;
    // Keys are built here, for the few planned: 7,000 keys a block cost milliseconds.
    candidates.reserve(std::min(unhealthy_all.size(), kMaxLiquidationsPerBlock));
    for (const Unhealthy& u : unhealthy_all) {
        if (candidates.size() == kMaxLiquidationsPerBlock) {
            ++deferred;
            continue;
        }
        const MarketState& m = markets_[u.market];
        std::string base = base_key(m, u.position);
        std::string key = base;
        if (const auto r = retries_.find(base); r != retries_.end())
            key += std::string(kRetrySuffix) + std::to_string(r->second);
        if (in_flight_.contains(key)) continue;
        Candidate c{u.market, u.position, std::move(key), std::move(base), {}, 0};
        const auto& ev = *m.evaluated;
        const Position pos = m.book.position(c.position);
        const auto plan =
            best_liquidation(ev.accrued, pos, m.params.lltv, ev.price, options_.max_repay_assets);
        if (!plan) {
            skip(c.base, "liquidate would revert: " + std::string(to_string(plan.error())));
            continue;
        }
        if (!*plan) {
            skip(c.base, "no liquidation fits max_repay_assets");
            continue;
        }
        c.plan = **plan;
        c.health = ratio(max_borrow(pos.collateral, ev.price, m.params.lltv).value_or(0),
                         borrowed_assets(pos, ev.accrued).value_or(0));
        const Address& token = m.params.loan_token;
        const TokenState& ts = tokens_[token];
        if (!ts.read) {
            skip(c.base, "keeper balance of " + to_checksum(token) + " unknown at this block");
            continue;
        }
        u256& used = committed[token];
        const u256 available = ts.balance > used ? u256(ts.balance - used) : u256(0);
        if (c.plan.expected.repaid_assets > available) {
            // Re-plan within what the keeper can pay.
            std::optional<u256> cap = available;
            if (options_.max_repay_assets && *options_.max_repay_assets < available)
                cap = options_.max_repay_assets;
            auto replanned = available.is_zero()
                                 ? MathResult<std::optional<LiquidationPlan>>()
                                 : best_liquidation(ev.accrued, pos, m.params.lltv, ev.price, cap);
            if (!replanned || !*replanned) {
                skip(c.base, "keeper balance " + to_string(available) + " of " +
                                 to_checksum(token) + " pays for no liquidation");
                continue;
            }
            c.plan = std::move(**replanned);
        }
        if (c.plan.profit <= 0) {
            skip(c.base, "unprofitable: repays " + to_string(c.plan.expected.repaid_assets) +
                             " for collateral worth " + to_string(c.plan.seized_value));
            continue;
        }
        const u256 profit_wei = loan_units_to_wei(m.params, u256(c.plan.profit));
        if (profit_wei < options_.min_profit_wei) {
            skip(c.base, "profit " + to_string(profit_wei) + " below min_profit_wei " +
                             to_string(options_.min_profit_wei));
            continue;
        }
        used += c.plan.expected.repaid_assets;
        candidates.push_back(std::move(c));
        by_token[token].push_back({candidates.size() - 1, profit_wei});
    }
    if (deferred > 0)
        log("morpho.deferred", std::to_string(deferred) +
                                   " liquidatable positions left for the next blocks (at most " +
                                   std::to_string(kMaxLiquidationsPerBlock) + " per block)");

    // The plan of a candidate, for the intent's reason and the log.
    const auto describe = [&](const Candidate& c) {
        return "health " + fixed(c.health) + " < 1 in market " + to_hex(markets_[c.market].id) +
               ": seize " + to_string(c.plan.expected.seized_assets) + " collateral worth " +
               to_string(c.plan.seized_value) + ", repay " +
               to_string(c.plan.expected.repaid_assets) + " (" +
               to_string(c.plan.expected.repaid_shares) + " shares), profit " +
               c.plan.profit.str() + " loan units" +
               (c.plan.expected.bad_debt_shares > 0 ? ", realises bad debt" : "");
    };
    for (auto& [token, chosen] : by_token) {
        TokenState& ts = tokens_[token];
        if (ts.allowance < committed[token]) {
            // No liquidation for this token until a read shows the allowance (the approval
            // below is proposed, or in flight).
            for (const Chosen& ch : chosen) {
                const Candidate& c = candidates[ch.candidate];
                skip(c.base, "waits for the approval of " + to_checksum(token), describe(c));
            }
            continue;
        }
        for (const Chosen& ch : chosen) {
            const Candidate& c = candidates[ch.candidate];
            const MarketState& m = markets_[c.market];
            const Address& borrower = m.book.account(c.position);
            Intent in;
            in.idempotency_key = c.key;
            in.strategy = options_.name;
            in.signer = signer_;
            in.target = options_.morpho;
            in.calldata =
                liquidate_calldata(m.params, borrower, c.plan.seized_assets, c.plan.repaid_shares);
            in.deadline_block = header.number + kDeadlineBlocks;
            in.expected_profit_wei = ch.profit_wei;
            in.gas_cap = kLiquidateGasCap;
            in.exact = header.number >= certain_from_;
            in.reason = describe(c);
            log("morpho.liquidation", c.key + ": " + in.reason);
            in_flight_[c.key] = InFlight{token, c.plan.expected.repaid_assets, header.number};
            skip_logged_.erase(c.base);
            intents.push_back(std::move(in));
        }
    }

    // Approvals ahead of need, after the liquidations (the pipeline sends the first intent
    // first): the allowance must cover whatever the keeper's balance can repay.
    for (const Address& token : loan_tokens()) {
        TokenState& ts = tokens_[token];
        const u256 needed = std::max(ts.balance, committed[token]);
        if (!ts.read || ts.approve_in_flight || ts.allowance >= needed) continue;
        Intent in;
        in.idempotency_key =
            "morpho/approve/" + hex_of(token) + "/" + std::to_string(header.number);
        in.strategy = options_.name;
        in.signer = signer_;
        in.target = token;
        in.calldata = Words(kApproveSelector)
                          .word(options_.morpho)
                          .word(std::numeric_limits<u256>::max())
                          .out;
        in.deadline_block = header.number + kDeadlineBlocks;
        in.gas_cap = kApproveGasCap;
        in.reason = "allowance " + to_string(ts.allowance) + " of " + to_checksum(token) +
                    " to Morpho is below the " + to_string(needed) +
                    " the keeper may repay with it";
        log("morpho.approve", in.idempotency_key + ": " + in.reason);
        ts.approve_in_flight = in.idempotency_key;
        in_flight_[in.idempotency_key] = InFlight{token, 0, header.number};
        intents.push_back(std::move(in));
    }
}

// ---------------------------------------------------------------------------------------
// Strategy

Task<Result<void, std::string>> MorphoLiquidator::start(const StrategyContext& context,
                                                        uint64_t head,
                                                        std::optional<uint64_t> resume) {
    provider_ = &context.provider;
    signer_ = context.signer;
    keeper_ = context.signer_address;
    if (resume && !applied_through_)
        co_return unexpected("resume after block " + std::to_string(*resume) +
                             " without a restored state");
    // A restored state, or an earlier attempt of this start() that got through its backfill,
    // continues where it stopped.
    const uint64_t from = applied_through_ ? *applied_through_ + 1 : options_.start_block;
    if (from <= head) {
        auto logs = co_await provider_->get_logs(log_filter(), from, head);
        if (!logs)
            co_return unexpected("backfill of Morpho logs in blocks " + std::to_string(from) +
                                 ".." + std::to_string(head) + ": " + logs.error().to_string());
        for (const Log& l : *logs) apply_log(l, false, std::nullopt);
        applied_through_ = head;
        std::size_t positions = 0;
        for (const auto& m : markets_) positions += m.book.size();
        log("morpho.backfill", std::to_string(logs->size()) + " logs in blocks " +
                                   std::to_string(from) + ".." + std::to_string(head) + ": " +
                                   std::to_string(markets_.size()) + " markets, " +
                                   std::to_string(positions) + " positions");
    }
    if (!options_.all_markets)
        for (const Hash32& id : options_.markets)
            if (!market_index_.contains(id))
                log("morpho.market_missing", "market " + to_hex(id) + " has no CreateMarket in " +
                                                 std::to_string(options_.start_block) + ".." +
                                                 std::to_string(head) +
                                                 ": not watched until one appears");
    auto header = co_await provider_->get_block(head);
    if (!header)
        co_return unexpected("block " + std::to_string(head) + ": " + header.error().to_string());
    if (!*header) co_return unexpected("block " + std::to_string(head) + ": unknown to the node");
    if (resume) doubt(head);  // the checkpoint's blocks may have been reorged meanwhile
    auto read = co_await read_and_evaluate(**header, nullptr, nullptr);
    if (!read) co_return unexpected(read.error());
    co_return Result<void, std::string>();
}

Task<std::vector<Intent>> MorphoLiquidator::on_block(const BlockEvent& event) {
    std::vector<Intent> intents;
    const uint64_t number = event.header.number;
    if (event.kind == BlockEvent::Kind::removed) {
        doubt(number);
        if (!applied_through_ || number != *applied_through_) {
            log("morpho.reorg", "removed block " + std::to_string(number) +
                                    " was not the last applied one; ignored");
            co_return intents;
        }
        for (auto it = event.logs.rbegin(); it != event.logs.rend(); ++it)
            apply_log(*it, true, event.header.timestamp);
        applied_through_ = number - 1;
        co_return intents;
    }
    if (applied_through_ && number <= *applied_through_) {
        // Already in the mirror (the backfill reached it): evaluate only.
    } else {
        if (applied_through_ && number > *applied_through_ + 1) {
            log("morpho.gap", "block " + std::to_string(number) + " follows " +
                                  std::to_string(*applied_through_) + ": logs in between missed");
            doubt(number);
        }
        for (const Log& l : event.logs) apply_log(l, false, event.header.timestamp);
        applied_through_ = number;
    }
    // Not started yet, or a newer block is on its way: the mirror is moved, nothing decided.
    if (!provider_ || event.catching_up) co_return intents;
    auto read = co_await read_and_evaluate(event.header, event.reads.get(), &intents);
    if (!read) log("morpho.read_failed", read.error() + "; no liquidations this block");
    co_return intents;
}

void MorphoLiquidator::on_outcome(const Outcome& outcome) {
    const std::string& key = outcome.idempotency_key;
    if (outcome.dry_run) {
        // Counted as sent for the rest of the dry run: an approval stays pending (the
        // liquidations it unblocks are logged as waiting for it), a liquidation is not
        // proposed again and the next ones get planned.
        log("morpho.dry_run", key + ": would be sent");
        return;
    }
    in_flight_.erase(key);
    for (auto& [token, ts] : tokens_)
        if (ts.approve_in_flight == key) ts.approve_in_flight.reset();
    const std::string kind(to_string(outcome.kind));
    if (key.starts_with("morpho/approve/")) {
        log("morpho.approve_outcome",
            key + ": " + kind + (outcome.detail.empty() ? "" : " (" + outcome.detail + ")"));
        return;
    }
    if (outcome.kind == OutcomeKind::included) {
        log("morpho.liquidated",
            key + ": included in block " + std::to_string(outcome.block_number));
        return;
    }
    // The key is spent (the journal has seen it): the next attempt for this position and
    // Liquidate count uses the next retry number. A revert is usually someone else's
    // liquidation landing first; its Liquidate event moves the count on anyway.
    std::string base = key;
    uint32_t attempt = 0;
    if (const auto at = key.rfind(kRetrySuffix); at != std::string::npos) {
        base = key.substr(0, at);
        attempt = static_cast<uint32_t>(
            std::strtoul(key.c_str() + at + kRetrySuffix.size(), nullptr, 10));
    }
    uint32_t& next = retries_[base];
    next = std::max(next, attempt + 1);
    log("morpho.liquidation_failed",
        key + ": " + kind + (outcome.detail.empty() ? "" : " (" + outcome.detail + ")") +
            (outcome.kind == OutcomeKind::reverted
                 ? "; already liquidated by someone else, or moved since"
                 : "") +
            "; will retry while it stays liquidatable");
}

// ---------------------------------------------------------------------------------------
// Views

std::optional<Position> MorphoLiquidator::position(const Hash32& market,
                                                   const Address& account) const {
    const auto it = market_index_.find(market);
    if (it == market_index_.end()) return std::nullopt;
    const auto& book = markets_[it->second].book;
    const auto p = book.find(account);
    if (!p) return std::nullopt;
    return book.position(*p);
}

std::vector<std::string> MorphoLiquidator::in_flight() const {
    std::vector<std::string> keys;
    for (const auto& [key, f] : in_flight_) keys.push_back(key);
    return keys;
}

std::vector<PositionRow> MorphoLiquidator::positions() const {
    std::vector<PositionRow> rows;
    for (const auto& m : markets_) {
        if (!m.evaluated) continue;
        const auto& ev = *m.evaluated;
        const HealthScreen screen(ev.accrued, ev.price, m.params.lltv);
        for (uint32_t i = 0; i < m.book.size(); ++i) {
            if (m.book.borrow_shares(i) == 0 && m.book.collateral(i) == 0) continue;
            const Position pos = m.book.position(i);
            PositionRow row;
            row.market = to_hex(m.id);
            row.account = m.book.account(i);
            row.collateral = to_string(pos.collateral);
            const u256 debt = borrowed_assets(pos, ev.accrued).value_or(0);
            row.debt = to_string(debt);
            row.health =
                ratio(max_borrow(pos.collateral, ev.price, m.params.lltv).value_or(0), debt);
            const auto healthy = screen.is_healthy(m.book.borrow_shares(i), m.book.collateral(i));
            row.liquidatable = healthy.has_value() && !*healthy;
            if (row.liquidatable) {
                const auto plan = best_liquidation(ev.accrued, pos, m.params.lltv, ev.price,
                                                   options_.max_repay_assets);
                row.estimated_profit = plan && *plan ? (*plan)->profit.str() : "0";
            }
            rows.push_back(std::move(row));
        }
    }
    return rows;
}

bool MorphoLiquidator::same_mirror(const MorphoLiquidator& other) const {
    if (applied_through_ != other.applied_through_ || markets_.size() != other.markets_.size() ||
        retries_ != other.retries_)
        return false;
    for (std::size_t i = 0; i < markets_.size(); ++i) {
        const auto& a = markets_[i];
        const auto& b = other.markets_[i];
        if (a.id != b.id || a.params != b.params || !a.book.same_positions(b.book)) return false;
        if (a.known && a.totals != b.totals) return false;
    }
    return true;
}

// ---------------------------------------------------------------------------------------
// Checkpoint text

std::string MorphoLiquidator::save() const {
    std::string out;
    out += kStateHeader;
    out += "\nmorpho " + hex_of(options_.morpho);
    out += "\nmarkets " + markets_text(options_);
    out += "\nstart_block " + std::to_string(options_.start_block);
    out += "\napplied_through " +
           (applied_through_ ? std::to_string(*applied_through_) : std::string("none"));
    for (const auto& m : markets_) {
        const auto& p = m.params;
        const auto& t = m.totals;
        out += "\nmarket " + to_hex(m.id) + " " + hex_of(p.loan_token) + " " +
               hex_of(p.collateral_token) + " " + hex_of(p.oracle) + " " + hex_of(p.irm) + " " +
               to_string(p.lltv) + " " + (m.known ? "1" : "0") + " " +
               to_string(t.total_supply_assets) + " " + to_string(t.total_supply_shares) + " " +
               to_string(t.total_borrow_assets) + " " + to_string(t.total_borrow_shares) + " " +
               to_string(t.last_update) + " " + to_string(t.fee);
        for (uint32_t i = 0; i < m.book.size(); ++i) {
            if (m.book.is_empty(i)) continue;
            out += "\nposition " + hex_of(m.book.account(i)) + " " +
                   to_string(to_u256(m.book.borrow_shares(i))) + " " +
                   to_string(to_u256(m.book.collateral(i))) + " " +
                   std::to_string(m.book.liquidations(i));
        }
    }
    for (const auto& [base, n] : retries_) out += "\nretry " + base + " " + std::to_string(n);
    out += "\nend\n";
    return out;
}

Result<void, std::string> MorphoLiquidator::restore(std::string_view saved) {
    std::vector<std::string_view> lines;
    for (std::size_t at = 0; at < saved.size();) {
        std::size_t nl = saved.find('\n', at);
        if (nl == std::string_view::npos) nl = saved.size();
        lines.push_back(saved.substr(at, nl - at));
        at = nl + 1;
    }
    const auto fail = [](std::size_t line, std::string why) {
        return unexpected("morpho state line " + std::to_string(line + 1) + ": " + why);
    };
    if (lines.empty() || lines[0] != kStateHeader)
        return unexpected(std::string("morpho state: not a ") + std::string(kStateHeader) +
                          " checkpoint");
    // The options it was made with must be ours.
    const std::pair<std::string_view, std::string> configured[] = {
        {"morpho", hex_of(options_.morpho)},
        {"markets", markets_text(options_)},
        {"start_block", std::to_string(options_.start_block)},
    };
    if (lines.size() < 5) return fail(lines.size() - 1, "truncated");
    for (std::size_t k = 0; k < 3; ++k) {
        const auto f = fields(lines[k + 1]);
        if (f.size() != 2 || f[0] != configured[k].first)
            return fail(k + 1, "expected " + std::string(configured[k].first));
        if (f[1] != configured[k].second)
            return fail(k + 1, "saved for " + std::string(configured[k].first) + " " +
                                   std::string(f[1]) + ", configured " + configured[k].second);
    }
    std::optional<uint64_t> applied;
    {
        const auto f = fields(lines[4]);
        if (f.size() != 2 || f[0] != "applied_through") return fail(4, "expected applied_through");
        if (f[1] != "none") {
            const auto n = parse_u256(f[1]);
            if (!n || *n > std::numeric_limits<uint64_t>::max()) return fail(4, "bad block number");
            applied = n->convert_to<uint64_t>();
        }
    }
    std::vector<MarketState> markets;
    std::map<std::string, uint32_t, std::less<>> retries;
    bool ended = false;
    for (std::size_t k = 5; k < lines.size() && !ended; ++k) {
        const auto f = fields(lines[k]);
        if (f.empty()) continue;
        const auto number = [&](std::size_t i, const u256& max) -> std::optional<u256> {
            const auto v = parse_u256(f[i]);
            if (!v || *v > max) return std::nullopt;
            return *v;
        };
        if (f[0] == "market" && f.size() == 14) {
            MarketState m;
            const auto id = parse_hash32(f[1]);
            const auto loan = parse_address(f[2]), coll = parse_address(f[3]),
                       oracle = parse_address(f[4]), irm = parse_address(f[5]);
            const auto lltv = number(6, std::numeric_limits<u256>::max());
            if (!id || !loan || !coll || !oracle || !irm || !lltv || (f[7] != "0" && f[7] != "1"))
                return fail(k, "bad market");
            m.id = *id;
            m.params = {*loan, *coll, *oracle, *irm, *lltv};
            if (m.params.id() != m.id) return fail(k, "market params do not hash to its id");
            if (!wanted(m.id)) return fail(k, "market " + to_hex(m.id) + " is not configured");
            m.known = f[7] == "1";
            u256* totals[] = {&m.totals.total_supply_assets, &m.totals.total_supply_shares,
                              &m.totals.total_borrow_assets, &m.totals.total_borrow_shares,
                              &m.totals.last_update,         &m.totals.fee};
            for (std::size_t w = 0; w < 6; ++w) {
                const auto v = number(8 + w, std::numeric_limits<u256>::max());
                if (!v) return fail(k, "bad market totals");
                *totals[w] = *v;
            }
            markets.push_back(std::move(m));
        } else if (f[0] == "position" && f.size() == 5) {
            if (markets.empty()) return fail(k, "position before any market");
            const auto account = parse_address(f[1]);
            const auto shares = number(2, kMaxUint128), coll = number(3, kMaxUint128);
            const auto count = number(4, u256(std::numeric_limits<uint32_t>::max()));
            if (!account || !shares || !coll || !count) return fail(k, "bad position");
            auto& book = markets.back().book;
            const std::size_t before = book.size();
            const uint32_t p = book.find_or_add(*account);
            if (book.size() == before) return fail(k, "position listed twice");
            book.borrow_shares(p) = low128(*shares);
            book.collateral(p) = low128(*coll);
            book.liquidations(p) = count->convert_to<uint32_t>();
        } else if (f[0] == "retry" && f.size() == 3) {
            const auto n = number(2, u256(std::numeric_limits<uint32_t>::max()));
            if (!n || !f[1].starts_with("morpho/")) return fail(k, "bad retry");
            retries[std::string(f[1])] = n->convert_to<uint32_t>();
        } else if (f[0] == "end" && f.size() == 1) {
            ended = true;
        } else {
            return fail(k, "unknown record '" + std::string(f[0]) + "'");
        }
    }
    if (!ended) return fail(lines.size() - 1, "truncated (no end record)");

    markets_ = std::move(markets);
    market_index_.clear();
    for (std::size_t i = 0; i < markets_.size(); ++i) market_index_[markets_[i].id] = i;
    applied_through_ = applied;
    retries_ = std::move(retries);
    in_flight_.clear();
    skip_logged_.clear();
    for (auto& [token, ts] : tokens_) ts.approve_in_flight.reset();
    return {};
}

}  // namespace vigil::morpho
