#pragma once
// Real Morpho Blue on a dev chain (anvil): the contract compiled at build time from the npm
// package @morpho-org/morpho-blue 1.0.0 (tests/contracts/morpho/compile.js), its mocks as
// tokens, oracles and IRM, two markets and N borrowers. Used by integration tests and by
// tests/devnet/main.cpp (vigil_devnet, for scripts/demo.sh).
//
// Transactions are signed by vigil's own LocalSigner and sent over RpcProvider: with
// automine off, a whole phase is sent without waiting for receipts and then mined, so 60
// borrowers take a few blocks rather than a process and a block per transaction.
// Keys are anvil's public development keys and keys derived from a fixed text: test only.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chain/abi.hpp"
#include "chain/asio.hpp"
#include "chain/rpc_provider.hpp"
#include "keys/local_signer.hpp"
#include "strategies/morpho/math.hpp"

namespace vigil::test {

/// Creation code of a contract compiled by tests/contracts/morpho/compile.js: "Morpho",
/// "ERC20Mock", "OracleMock" or "IrmMock". Throws when the build has not produced it.
Bytes morpho_artifact_bytecode(std::string_view contract);

/// A signer for a 0x-prefixed hex private key (test keys only).
keys::LocalSigner signer_from_hex(std::string_view key_hex);

/// Synchronous access to a dev chain for fixtures: typed calls through RpcProvider on a
/// private io_context, raw JSON-RPC for anvil_* / evm_* methods, and signed transactions
/// with nonces counted locally. Failures throw std::runtime_error (test edge).
class DevChain {
public:
    explicit DevChain(const std::string& rpc_url);
    ~DevChain();

    uint64_t chain_id() const noexcept { return chain_id_; }
    RpcProvider& provider() noexcept { return *provider_; }

    /// Runs `task` to completion on this chain's io_context.
    template <class T>
    T run(Task<T> task);

    /// A raw JSON-RPC call; returns the JSON text of its result.
    std::string rpc(const std::string& method, const std::string& params_json);
    /// Whether the node mines each transaction as it arrives (anvil_getAutomine at
    /// construction, then what set_automine set). Off under interval mining too.
    bool automine() const noexcept { return automine_; }
    void set_automine(bool on);
    /// evm_mine: one block with as many pending transactions as fit.
    void mine();
    uint64_t block_number();
    BlockHeader block(BlockId id);
    /// anvil_setBalance.
    void set_eth_balance(const Address& account, const u256& wei);

    /// eth_call; the Failure (with revert data) when it fails.
    RpcResult<Bytes> call(const std::optional<Address>& from, const Address& to, Bytes data,
                          BlockId block = BlockTag::latest);
    /// eth_call that must succeed; throws with the decoded revert reason otherwise.
    Bytes call_ok(const Address& to, Bytes data, BlockId block = BlockTag::latest);

    /// Signs and sends (EIP-1559, fixed gas limit); nonces are counted here from the
    /// chain's count at first use of each signer. Returns the tx hash without waiting.
    Hash32 send(const keys::Signer& signer, std::optional<Address> to, Bytes data,
                uint64_t gas_limit = 1'000'000);
    /// Mines until every tx in `hashes` has a receipt (automine off), or waits for them
    /// (automine on); throws when one reverted. Returns the receipts in order.
    std::vector<Receipt> settle(const std::vector<Hash32>& hashes);
    /// send + settle for one transaction.
    Receipt transact(const keys::Signer& signer, std::optional<Address> to, Bytes data,
                     uint64_t gas_limit = 1'000'000);

private:
    net::io_context ioc_;
    std::unique_ptr<RpcProvider> provider_;
    std::unique_ptr<rpc::Transport> raw_;
    uint64_t chain_id_ = 0;
    uint64_t next_id_ = 1;
    bool automine_ = true;
    std::vector<std::pair<Address, uint64_t>> nonces_;
};

/// Calldata of `signature` (e.g. "borrow((address,address,address,address,uint256),uint256,
/// uint256,address,address)") with `args`; throws on a bad signature or arguments.
Bytes calldata(std::string_view signature, const std::vector<abi::AbiValue>& args);
/// The ABI tuple value of market params, as Morpho's functions take them.
abi::AbiValue to_abi(const morpho::MarketParams& params);
/// Morpho's signature text for a MarketParams argument.
inline constexpr std::string_view kMarketParamsType = "(address,address,address,address,uint256)";

/// What was deployed: addresses, markets and borrowers, as JSON for other processes.
struct MorphoDeployment {
    struct MarketInfo {
        morpho::MarketParams params;
        Hash32 id;   ///< params.id(), as Morpho computes it
        u256 price;  ///< the oracle's price at setup (1e36 scale)
    };
    struct Borrower {
        Address address;
        std::size_t market = 0;  ///< index into `markets`
        u256 collateral;         ///< collateral supplied
        u256 borrowed;           ///< loan assets borrowed
    };
    uint64_t chain_id = 0;
    Address morpho;
    Address loan_token;
    Address collateral_token;
    Address irm;
    Address owner;   ///< Morpho's owner, deployer of everything, the oracles' price setter
    Address keeper;  ///< funded with loan tokens (no allowance given)
    uint64_t deploy_block = 0;  ///< the block of Morpho's creation (a strategy's start_block)
    std::vector<MarketInfo> markets;
    std::vector<Borrower> borrowers;

    nlohmann::json to_json() const;
    static MorphoDeployment from_json(const nlohmann::json& j);
};

struct MorphoFixtureOptions {
    /// Borrowers over both markets (even indices in market 0, odd in market 1). A tenth of
    /// them borrow 97-99.9% of their limit, the rest 30-95%.
    std::size_t borrowers = 60;
    /// Varies collateral and borrow sizes; the same seed gives the same book.
    uint64_t seed = 1;
    /// Receives keeper_loan_balance loan tokens. Default: anvil's dev account 1.
    std::optional<Address> keeper;
    u256 keeper_loan_balance = u256(1'000'000) * morpho::kWad;
};

/// Deploys Morpho Blue and its book on the chain at `rpc_url`, as anvil's dev account 0
/// (Morpho's owner):
///  - Morpho, a loan and a collateral ERC20Mock (18 decimals each), one OracleMock per
///    market, an IrmMock (rate = utilization / year);
///  - market 0: lltv 0.86, price 2,000; market 1: lltv 0.77, price 1,800 (oracle scale
///    1e36: loan units per collateral unit);
///  - loan liquidity supplied by the owner (twice what is borrowed), collateral supplied on
///    behalf of each borrower, and each borrower's borrow signed by its own key
///    (keccak256("vigil devnet borrower <i>")), funded with 1 ETH by anvil_setBalance.
/// Leaves the node's mining mode as it found it (automine or interval).
class MorphoFixture {
public:
    MorphoFixture(const std::string& rpc_url, MorphoFixtureOptions options = {});

    const MorphoDeployment& deployment() const noexcept { return deployment_; }
    DevChain& chain() noexcept { return chain_; }
    const keys::LocalSigner& owner() const noexcept { return owner_; }
    /// The borrower's key (to act as that borrower in tests).
    keys::LocalSigner borrower_signer(std::size_t index) const;

    /// OracleMock.setPrice of market `market` (1e36 scale), mined before it returns.
    void set_price(std::size_t market, const u256& price);

private:
    DevChain chain_;
    keys::LocalSigner owner_;
    MorphoDeployment deployment_;
};

/// Sets the price of `market` of a deployment by the owner's key (anvil dev account 0).
void set_oracle_price(DevChain& chain, const MorphoDeployment& deployment, std::size_t market,
                      const u256& price);
/// The key of borrower `index` of any deployment made by MorphoFixture.
keys::LocalSigner devnet_borrower_signer(std::size_t index);

// ---------------------------------------------------------------------------------------
// Reads of Morpho's state (eth_call at `block`)

morpho::Market read_market(DevChain& chain, const Address& morpho, const Hash32& id,
                           BlockId block = BlockTag::latest);
morpho::Position read_position(DevChain& chain, const Address& morpho, const Hash32& id,
                               const Address& account, BlockId block = BlockTag::latest);
/// OracleMock/IOracle.price().
u256 read_price(DevChain& chain, const Address& oracle, BlockId block = BlockTag::latest);
/// Morpho's own answer on whether borrower `index` of `deployment` is healthy at `block`: a
/// liquidate of one wei of collateral simulated from the keeper reverts with "position is
/// healthy" exactly when it is (a liquidatable one fails later, at the transfer, for want of
/// an allowance, or succeeds).
bool is_healthy_on_chain(DevChain& chain, const MorphoDeployment& deployment, std::size_t index,
                         BlockId block = BlockTag::latest);

// ---------------------------------------------------------------------------------------

template <class T>
T DevChain::run(Task<T> task) {
    struct State {
        std::optional<T> value;
        std::exception_ptr error;
    };
    auto state = std::make_shared<State>();
    net::co_spawn(ioc_, std::move(task), [state, this](std::exception_ptr e, T v) {
        state->error = e;
        if (!e) state->value.emplace(std::move(v));
        ioc_.stop();
    });
    ioc_.restart();
    ioc_.run_for(std::chrono::seconds(60));
    if (state->error) std::rethrow_exception(state->error);
    if (!state->value) throw std::runtime_error("dev chain request still running after 60 s");
    return std::move(*state->value);
}

}  // namespace vigil::test
