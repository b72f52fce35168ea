#pragma once
// The one result type of vigil. GCC 12 has no std::expected; tl::expected shares its
// interface. Use only members both have (has_value, *, value, error, value_or,
// and_then, transform, or_else) so that switching is a change to this file alone.
#include <tl/expected.hpp>

namespace vigil {
template <class T, class E>
using Result = tl::expected<T, E>;
using tl::unexpected;
}  // namespace vigil
