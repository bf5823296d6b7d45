#!/usr/bin/env bash
# Installs what is missing, builds everything (tests included) and runs the whole test suite; then
# builds it again with AddressSanitizer + UndefinedBehaviorSanitizer (LUNA_SANITIZE=ON, in its own
# build directory) and runs the whole suite once more, failing on any sanitizer report of a test or of
# a service a test started. LUNA_TEST_SANITIZERS=0 skips the second pass. Arguments go to both ctest runs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/deploy/install-deps.sh"
build_dir="${LUNA_TEST_BUILD_DIR:-$root/build-test}"
"$root/deploy/build.sh" "$build_dir" RelWithDebInfo -DLUNA_BUILD_TESTS=ON
(cd "$build_dir" && ctest --output-on-failure -j "${LUNA_TEST_JOBS:-2}" --timeout 300 "$@")

if [[ "${LUNA_TEST_SANITIZERS:-1}" == "0" ]]; then
  echo "test: sanitizer pass skipped (LUNA_TEST_SANITIZERS=0)"
  exit 0
fi
asan_dir="${LUNA_TEST_ASAN_BUILD_DIR:-$root/build-test-asan}"
"$root/deploy/build.sh" "$asan_dir" RelWithDebInfo -DLUNA_BUILD_TESTS=ON -DLUNA_SANITIZE=ON
# shellcheck source=deploy/sanitizer-env.sh
source "$root/deploy/sanitizer-env.sh" "$asan_dir/sanitizer-reports"
status=0
(cd "$asan_dir" && ctest --output-on-failure -j "${LUNA_TEST_JOBS:-2}" --timeout 600 "$@") || status=$?
luna_sanitizer_reports || status=1
exit "$status"
