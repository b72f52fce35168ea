#!/usr/bin/env bash
# What CI runs: install, build (Release), run every test label; then a Debug build with
# AddressSanitizer + UndefinedBehaviorSanitizer running the unit tests. Layout is checked
# with clang-format (.clang-format) first. Non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${VIGIL_JOBS:-$(nproc)}

bash scripts/bootstrap.sh

echo "== clang-format check"
find agent bench chain config keys strategies tests \( -name '*.cpp' -o -name '*.hpp' \) -print0 |
    xargs -0 clang-format --dry-run -Werror

echo "== Release build"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$jobs"
echo "== Release: unit, integration and e2e tests"
ctest --test-dir build/release --output-on-failure -j"$jobs" -L 'unit|integration|e2e'

echo "== Debug + ASan/UBSan build"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DVIGIL_SANITIZE=ON -DVIGIL_BUILD_BENCH=OFF >/dev/null
# Unit test executables exist only for folders that have tests.
asan_targets=$(cd tests/unit && for d in */; do ls "$d"*_test.cpp >/dev/null 2>&1 && echo "unit_${d%/}"; done)
cmake --build build/asan -j"$jobs" --target $asan_targets
echo "== ASan/UBSan: unit tests"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build/asan --output-on-failure -j"$jobs" -L unit
