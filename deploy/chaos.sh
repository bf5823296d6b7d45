#!/usr/bin/env bash
# The chaos run, longer than CI's chaos_short: builds the product and the luna_chaos driver, then drives
# a mixed load through the real gateway while SIGKILLing and restarting every process in turn, and
# checks the ledger, the clients' errors and the state files (tests/chaos/chaos_run.cpp).
# Usage: deploy/chaos.sh [SECONDS of load, default 300] [luna_chaos options: --seed S --clients N]
# Prints a table; writes the figures as JSON to <build>/chaos.json. Exit status 0 only if it passed.
# Environment: LUNA_CHAOS_BUILD_DIR (default build-test, the test command's build directory).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds=300
if [[ $# -gt 0 && "$1" =~ ^[0-9]+$ ]]; then
  seconds="$1"
  shift
fi
build_dir="${LUNA_CHAOS_BUILD_DIR:-$root/build-test}"
"$root/deploy/install-deps.sh"
"$root/deploy/build.sh" "$build_dir" RelWithDebInfo -DLUNA_BUILD_TESTS=ON
exec "$build_dir/tests/chaos/luna_chaos" --seconds "$seconds" --json "$build_dir/chaos.json" "$@"
