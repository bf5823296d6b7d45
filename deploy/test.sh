#!/usr/bin/env bash
# Installs what is missing, builds everything (tests included) and runs the whole test suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/deploy/install-deps.sh"
build_dir="${LUNA_TEST_BUILD_DIR:-$root/build-test}"
"$root/deploy/build.sh" "$build_dir" RelWithDebInfo -DLUNA_BUILD_TESTS=ON
cd "$build_dir"
ctest --output-on-failure -j "${LUNA_TEST_JOBS:-2}" --timeout 300 "$@"
