#pragma once
// Building message text.
#include <initializer_list>
#include <string>
#include <string_view>

namespace vigil {

/// The parts joined. Appended piece by piece rather than with `"literal" + std::string&&`,
/// on which GCC 12 at -O2/-O3 reports a false -Wrestrict (and -Werror stops the build).
inline std::string concat(std::initializer_list<std::string_view> parts) {
    std::size_t size = 0;
    for (const auto part : parts) size += part.size();
    std::string out;
    out.reserve(size);
    for (const auto part : parts) out += part;
    return out;
}

}  // namespace vigil
