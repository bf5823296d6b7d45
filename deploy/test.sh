#!/usr/bin/env bash
# Installs what is missing, builds everything (tests included) and runs the whole test suite, in
# three parts (each on by default; CI runs all three):
#  1. the suite from a RelWithDebInfo build (build-test/);
#  2. fuzz_short within it: each libFuzzer target for 15 s, built with clang into build-test/fuzz
#     (LUNA_TEST_FUZZ=0 leaves it out);
#  3. the whole suite again from an AddressSanitizer + UndefinedBehaviorSanitizer build
#     (LUNA_SANITIZE=ON, build-test-asan/), failing on any sanitizer report of a test or of a service a
#     test started (LUNA_TEST_SANITIZERS=0 leaves it out).
# Arguments go to both ctest runs (e.g. -L unit, -R Legacy).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/deploy/install-deps.sh"
build_dir="${LUNA_TEST_BUILD_DIR:-$root/build-test}"
"$root/deploy/build.sh" "$build_dir" RelWithDebInfo -DLUNA_BUILD_TESTS=ON \
  -DLUNA_FUZZ_SHORT="$([[ "${LUNA_TEST_FUZZ:-1}" == "1" ]] && echo ON || echo OFF)"
(cd "$build_dir" && ctest --output-on-failure -j "${LUNA_TEST_JOBS:-2}" --timeout 300 "$@")
echo "test: build and suite passed after $((SECONDS / 60)) min $((SECONDS % 60)) s"

if [[ "${LUNA_TEST_SANITIZERS:-1}" != "1" ]]; then
  echo "test: sanitizer pass left out (LUNA_TEST_SANITIZERS=0)"
  exit 0
fi
asan_dir="${LUNA_TEST_ASAN_BUILD_DIR:-$root/build-test-asan}"
"$root/deploy/build.sh" "$asan_dir" RelWithDebInfo -DLUNA_BUILD_TESTS=ON -DLUNA_SANITIZE=ON
# shellcheck source=deploy/sanitizer-env.sh
source "$root/deploy/sanitizer-env.sh" "$asan_dir/sanitizer-reports"
status=0
(cd "$asan_dir" && ctest --output-on-failure -j "${LUNA_TEST_JOBS:-2}" --timeout 600 "$@") || status=$?
luna_sanitizer_reports || status=1
echo "test: sanitizer pass $([[ $status -eq 0 ]] && echo passed || echo FAILED); $((SECONDS / 60)) min $((SECONDS % 60)) s in all"
exit "$status"
