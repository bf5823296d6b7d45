#!/usr/bin/env bash
# Installs the npm packages a test folder pins (its package.json and package-lock.json) with `npm ci`
# into INSTALL_DIR/node_modules — only when that tree was not made from the same lock already, and
# one install at a time per folder. Used by tests/sdk/run.sh and tests/dashboard/run.sh.
#
# Usage: tests/support/npm_ci.sh SRC_DIR INSTALL_DIR LABEL TIMEOUT_SECONDS
set -euo pipefail

src="$1"
install_dir="$2"
label="$3"
limit="$4"

mkdir -p "$install_dir"
install_dir="$(cd "$install_dir" && pwd)"
if [[ "$install_dir" != "$src" ]]; then
  cp "$src/package.json" "$src/package-lock.json" "$install_dir/"
fi

lock_hash="$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)"
stamp="$install_dir/node_modules/.luna-lock.sha256"
(
  flock -w "$limit" 9 || { echo "$label: FAIL: could not lock $install_dir/.npm-install.lock" >&2; exit 1; }
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$lock_hash" ]]; then
    exit 0
  fi
  echo "$label: npm ci in $install_dir (node $(node --version), npm $(npm --version))"
  started=$SECONDS
  (cd "$install_dir" && timeout "$limit" npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  echo "$lock_hash" >"$stamp"
  echo "$label: npm ci took $((SECONDS - started)) s"
) 9>"$install_dir/.npm-install.lock"
