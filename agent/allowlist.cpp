#include "agent/allowlist.hpp"

#include <algorithm>

#include "chain/strings.hpp"

namespace vigil::agent {
namespace {

bool is_hex_digit(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// "0x12345678": a selector given directly (a function whose signature is unknown).
std::optional<Selector> parse_selector(std::string_view text) {
    if (text.size() != 10 || text.substr(0, 2) != "0x") return std::nullopt;
    if (!std::all_of(text.begin() + 2, text.end(), is_hex_digit)) return std::nullopt;
    const auto bytes = parse_hex(text);
    if (!bytes || bytes->size() != 4) return std::nullopt;
    Selector s{};
    std::copy(bytes->begin(), bytes->end(), s.begin());
    return s;
}

Refusal refuse(RefusalKind kind, std::string_view signer, const Address& target,
               std::optional<Selector> selector = std::nullopt) {
    return Refusal{kind, std::string(signer), target, selector};
}

}  // namespace

std::string_view to_string(AllowlistErrc e) noexcept {
    switch (e) {
        case AllowlistErrc::bad_address:
            return "bad_address";
        case AllowlistErrc::bad_function:
            return "bad_function";
    }
    return "unknown";
}

std::string AllowlistError::to_string() const {
    return concat({"allow-list entry for signer '", signer, "': ", agent::to_string(kind), ": '",
                   text, "' (", detail, ")"});
}

std::string_view to_string(RefusalKind k) noexcept {
    switch (k) {
        case RefusalKind::unknown_signer:
            return "unknown_signer";
        case RefusalKind::target_not_allowed:
            return "target_not_allowed";
        case RefusalKind::selector_not_allowed:
            return "selector_not_allowed";
        case RefusalKind::short_calldata:
            return "short_calldata";
        case RefusalKind::value_transfer_not_allowed:
            return "value_transfer_not_allowed";
        case RefusalKind::targets_signer:
            return "targets_signer";
        case RefusalKind::not_a_cancellation:
            return "not_a_cancellation";
    }
    return "unknown";
}

std::string Refusal::to_string() const {
    const std::string selector_text =
        selector ? to_hex(BytesView(selector->data(), selector->size())) : "none";
    return concat({"refused: signer '", signer, "' target ", to_checksum(target), " selector ",
                   selector_text, ": ", agent::to_string(kind)});
}

Result<void, AllowlistError> Allowlist::add(std::string_view signer, std::string_view target,
                                            std::string_view function) {
    const auto address = parse_address(target);
    if (!address) {
        return unexpected(AllowlistError{AllowlistErrc::bad_address, std::string(signer),
                                         std::string(target), address.error().to_string()});
    }
    if (function == kValueTransfer) {
        allow_value_transfer(signer, *address);
        return {};
    }
    if (function.substr(0, 2) == "0x") {
        const auto selector = parse_selector(function);
        if (!selector) {
            return unexpected(AllowlistError{AllowlistErrc::bad_function, std::string(signer),
                                             std::string(function),
                                             "a selector is 0x and 8 hex digits"});
        }
        add(signer, *address, *selector);
        return {};
    }
    const auto parsed = abi::parse_function(function);
    if (!parsed) {
        return unexpected(AllowlistError{AllowlistErrc::bad_function, std::string(signer),
                                         std::string(function), parsed.error().to_string()});
    }
    add(signer, *address, parsed->selector);
    return {};
}

void Allowlist::add(std::string_view signer, const Address& target, const Selector& selector) {
    auto& rules = signers_[std::string(signer)];
    rules.calls.emplace(target, selector);
    rules.targets.insert(target);
}

void Allowlist::allow_value_transfer(std::string_view signer, const Address& target) {
    auto& rules = signers_[std::string(signer)];
    rules.value_transfers.insert(target);
    rules.targets.insert(target);
}

Result<void, Refusal> Allowlist::check(std::string_view signer, const Address& signer_address,
                                       const Address& target, BytesView calldata) const {
    std::optional<Selector> selector;
    if (calldata.size() >= 4) {
        selector.emplace();
        std::copy(calldata.begin(), calldata.begin() + 4, selector->begin());
    }
    if (target == signer_address) {
        return unexpected(refuse(RefusalKind::targets_signer, signer, target, selector));
    }
    const auto it = signers_.find(signer);
    if (it == signers_.end()) {
        return unexpected(refuse(RefusalKind::unknown_signer, signer, target, selector));
    }
    const Rules& rules = it->second;
    if (!rules.targets.contains(target)) {
        return unexpected(refuse(RefusalKind::target_not_allowed, signer, target, selector));
    }
    if (calldata.empty()) {
        if (rules.value_transfers.contains(target)) return {};
        return unexpected(refuse(RefusalKind::value_transfer_not_allowed, signer, target));
    }
    if (!selector) return unexpected(refuse(RefusalKind::short_calldata, signer, target));
    if (!rules.calls.contains({target, *selector})) {
        return unexpected(refuse(RefusalKind::selector_not_allowed, signer, target, selector));
    }
    return {};
}

Result<void, Refusal> check_cancellation(std::string_view signer, const Address& signer_address,
                                         const Address& to, const u256& value, BytesView data) {
    if (to == signer_address && value == 0 && data.empty()) return {};
    std::optional<Selector> selector;
    if (data.size() >= 4) {
        selector.emplace();
        std::copy(data.begin(), data.begin() + 4, selector->begin());
    }
    return unexpected(refuse(RefusalKind::not_a_cancellation, signer, to, selector));
}

}  // namespace vigil::agent
