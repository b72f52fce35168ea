#include "tests/support/vectors.hpp"

#include <fstream>
#include <stdexcept>

namespace vigil::test {
nlohmann::json load_vector(const std::string& relative_path) {
    const std::string path = std::string(VIGIL_VECTORS_DIR) + "/" + relative_path;
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open test vector " + path);
    return nlohmann::json::parse(in);
}

Bytes hex(std::string_view text) {
    auto r = parse_hex(text, HexPrefix::optional);
    if (!r) throw std::runtime_error("bad hex in test fixture: " + r.error().to_string());
    return *r;
}
}  // namespace vigil::test
