#pragma once
// Unicode data behind cast's string display; an implementation detail of abi_text.
namespace vigil::abi::detail {
/// True when Rust's Debug formatting (and so cast) prints `cp` (>= U+0080) as \u{..}
/// instead of the character itself.
bool debug_escapes(char32_t cp) noexcept;
}  // namespace vigil::abi::detail
