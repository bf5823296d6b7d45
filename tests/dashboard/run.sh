#!/usr/bin/env bash
# Runs the dashboard's browser test (tests/dashboard/dashboard.test.mjs) in Debian's headless
# Chromium: installs the pinned playwright-core with `npm ci` from package-lock.json (skipped when the
# installed tree was made from the same lock; playwright's own browser downloads are never used),
# then runs the test against a gateway that the caller (dashboard_browser_test.cpp) started.
#
# Usage: tests/dashboard/run.sh INSTALL_DIR
# Environment: LUNA_DASH_* (set by the caller), LUNA_CHROMIUM (default /usr/bin/chromium).
set -euo pipefail

src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
install_dir="$1"
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "dashboard test: FAIL: '$tool' is not installed (deploy/install-deps.sh installs nodejs and npm)" >&2
    exit 1
  fi
done

PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 bash "$src/../support/npm_ci.sh" "$src" "$install_dir" "dashboard test" 100
install_dir="$(cd "$install_dir" && pwd)"

export LUNA_DASH_NODE_MODULES="$install_dir/node_modules"
exec timeout --kill-after=5 90 node --test --test-reporter=spec --test-timeout=80000 "$src/dashboard.test.mjs"
