#pragma once
// The one retry delay of vigil's chain I/O (RPC retries, endpoint demotion, reconnects).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace vigil {

/// Exponential backoff with jitter for the `attempt`-th retry (1-based): the ceiling is
/// base × 2^(attempt − 1), at most `max`; the wait is a uniform draw from
/// [ceiling / 2, ceiling], so that clients which failed together do not retry together.
template <class Rng>
std::chrono::milliseconds backoff_delay(unsigned attempt, std::chrono::milliseconds base,
                                        std::chrono::milliseconds max, Rng& rng) {
    const unsigned doublings = std::min(attempt == 0 ? 0u : attempt - 1, 30u);
    const int64_t ceiling =
        std::min<int64_t>(std::max(max, base).count(), base.count() << doublings);
    std::uniform_int_distribution<int64_t> upper_half(ceiling / 2, ceiling);
    return std::chrono::milliseconds(upper_half(rng));
}

}  // namespace vigil
