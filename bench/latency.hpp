#pragma once
// Helpers of the benchmarks that time single events with steady_clock and report their
// distribution as counters (ws_bench, reaction_bench).
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

namespace vigil::bench {

inline double micros(std::chrono::steady_clock::duration d) {
    return std::chrono::duration<double, std::micro>(d).count();
}

/// The sample at fraction `p` (0..1) of the sorted samples, nearest rank below; `v` must
/// not be empty.
inline double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

}  // namespace vigil::bench
