#!/usr/bin/env bash
# Runs the real-client conformance tests (tests/sdk): installs the pinned SDKs with `npm ci` from
# package-lock.json (skipped when the installed tree was made from the same lock), then runs
# `node --test` on tests/sdk/test/*.test.mjs.
#
# Usage: tests/sdk/run.sh [INSTALL_DIR] [extra node --test arguments...]
#   INSTALL_DIR  where node_modules goes (default: tests/sdk itself; CTest passes a folder in the
#                build directory so that build trees do not share one install)
# Environment: LUNA_GATEWAY_BIN, LUNA_AUTHSVC_BIN, LUNA_FAKE_UPSTREAM_BIN (set by CTest).
# A missing node or npm is a failure, never a skip: deploy/install-deps.sh installs them.
set -euo pipefail

src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
install_dir="${1:-$src}"
if [[ $# -gt 0 ]]; then shift; fi

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "sdk tests: FAIL: '$tool' is not installed (deploy/install-deps.sh installs nodejs and npm)" >&2
    exit 1
  fi
done
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [[ "$node_major" -lt 18 ]]; then
  echo "sdk tests: FAIL: Node.js >= 18 is needed, found $(node --version)" >&2
  exit 1
fi

# One install at a time per folder; a fresh `npm ci` only when the lock changed.
bash "$src/../support/npm_ci.sh" "$src" "$install_dir" "sdk tests" 200
install_dir="$(cd "$install_dir" && pwd)"

export LUNA_SDK_NODE_MODULES="$install_dir/node_modules"
cd "$src"
# Each test file starts its own gateway, authsvc and fake upstream and kills them by PID; it also
# has a hard deadline of its own (lib/cluster.mjs). `timeout` bounds the whole run on top of that.
exec timeout --kill-after=10 200 node --test --test-reporter=spec \
  --test-timeout=120000 "$@" test/*.test.mjs
