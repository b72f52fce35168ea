#pragma once
// Which calls each signer may make: (contract address, 4-byte selector) pairs from the
// config and from the strategies' declared targets. The pipeline checks every intent here
// before signing; a refusal is a security event and its to_string() is the log line.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "chain/abi_types.hpp"
#include "chain/bytes.hpp"
#include "chain/result.hpp"
#include "chain/u256.hpp"

namespace vigil::agent {

using abi::Selector;

/// Entry text for "plain value transfers to this target are allowed" (empty calldata).
inline constexpr std::string_view kValueTransfer = "receive";

enum class AllowlistErrc {
    bad_address,   ///< the target is not a 0x-prefixed 20-byte address
    bad_function,  ///< neither "0x" + 8 hex digits, a function signature, nor "receive"
};
std::string_view to_string(AllowlistErrc e) noexcept;

/// A config entry that could not be read.
struct AllowlistError {
    AllowlistErrc kind;
    std::string signer;
    std::string text;    ///< the offending target or function text
    std::string detail;  ///< the parser's words: "bad_digit at offset 5"
    bool operator==(const AllowlistError&) const = default;
    /// "allow-list entry for signer 'keeper': bad_function: 'foo(' (unexpected_end ...)".
    std::string to_string() const;
};

enum class RefusalKind {
    unknown_signer,              ///< no entries at all for this signer
    target_not_allowed,          ///< no entry for this target under this signer
    selector_not_allowed,        ///< the target is listed, this selector is not
    short_calldata,              ///< 1 to 3 bytes of calldata: no selector to check
    value_transfer_not_allowed,  ///< empty calldata and no "receive" entry for the target
    targets_signer,              ///< a strategy's call to the signer's own address
    not_a_cancellation,          ///< check_cancellation: not a zero-value empty self-send
};
std::string_view to_string(RefusalKind k) noexcept;

struct Refusal {
    RefusalKind kind;
    std::string signer;
    Address target;
    std::optional<Selector> selector;  ///< absent when the calldata had fewer than 4 bytes
    bool operator==(const Refusal&) const = default;
    /// "refused: signer 'keeper' target 0xAbC… selector 0x12345678: selector_not_allowed".
    std::string to_string() const;
};

/// Per signer (by configured name) the calls it may make. Built once at startup; check()
/// is then read-only and cheap (two ordered lookups).
class Allowlist {
public:
    /// Adds a config entry: `target` "0x…" (EIP-55 checked when mixed case) and
    /// `function` "0x12345678", a signature such as
    /// "liquidate((address,address,address,address,uint256),address,uint256,uint256,bytes)"
    /// (parameter names and `function ` allowed, as abi::parse_function reads them), or
    /// "receive" for value transfers with empty calldata. On error nothing is added.
    [[nodiscard]] Result<void, AllowlistError> add(std::string_view signer, std::string_view target,
                                                   std::string_view function);
    /// Adds a strategy's declared target (already parsed).
    void add(std::string_view signer, const Address& target, const Selector& selector);
    /// Allows empty-calldata transfers from `signer` to `target`.
    void allow_value_transfer(std::string_view signer, const Address& target);

    /// Whether `signer` (whose address is `signer_address`) may send `calldata` to
    /// `target`. The signer's own address is refused whatever the entries say: the
    /// pipeline's cancellations go through check_cancellation instead, so a strategy
    /// cannot pass one off. Calldata of 1 to 3 bytes is always refused; empty calldata
    /// needs a "receive" entry. The value is not restricted here (limits are elsewhere).
    [[nodiscard]] Result<void, Refusal> check(std::string_view signer,
                                              const Address& signer_address, const Address& target,
                                              BytesView calldata) const;

private:
    struct Rules {
        std::set<std::pair<Address, Selector>> calls;
        std::set<Address> value_transfers;
        std::set<Address> targets;  ///< every target with any entry, for the refusal kind
    };
    std::map<std::string, Rules, std::less<>> signers_;
};

/// The pipeline's cancellation: a zero-value transaction from the signer to itself with
/// empty data, replacing a stuck nonce. Allowed for every signer without an entry; anything
/// else is refused with RefusalKind::not_a_cancellation.
[[nodiscard]] Result<void, Refusal> check_cancellation(std::string_view signer,
                                                       const Address& signer_address,
                                                       const Address& to, const u256& value,
                                                       BytesView data);

}  // namespace vigil::agent
