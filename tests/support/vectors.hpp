#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "chain/bytes.hpp"

namespace vigil::test {
/// Parses tests/vectors/<relative_path> (copied official vectors, see SOURCE.md there).
nlohmann::json load_vector(const std::string& relative_path);
/// Hex text to bytes for test fixtures; throws on malformed input ("0x" optional).
Bytes hex(std::string_view text);
}  // namespace vigil::test
