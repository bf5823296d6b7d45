#!/usr/bin/env bash
# Installs what is missing, builds, and runs the product on this machine: authsvc, then the gateway
# on :8180. State lives under one directory (LUNA_STATE_DIR, default ./.state). Ctrl-C stops all.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/deploy/install-deps.sh"
build_dir="${LUNA_BUILD_DIR:-$root/build-release}"
"$root/deploy/build.sh" "$build_dir" Release -DLUNA_BUILD_TESTS=OFF

state="${LUNA_STATE_DIR:-$root/.state}"
mkdir -p "$state"
chmod 700 "$state"
export KEYS_FILE="${KEYS_FILE:-$state/keys.json}"
export AUTHSVC_LISTEN="${AUTHSVC_LISTEN:-127.0.0.1:8181}"
export AUTHSVC_ADDR="${AUTHSVC_ADDR:-${AUTHSVC_LISTEN/0.0.0.0/127.0.0.1}}"
export GATEWAY_LISTEN="${GATEWAY_LISTEN:-0.0.0.0:8180}"
export UPSTREAM_URL="${UPSTREAM_URL:-http://127.0.0.1:8080}"

pids=()
stop_all() {
  trap - INT TERM EXIT
  # Reverse start order: the gateway drains first, then the services it depends on.
  for ((i=${#pids[@]}-1; i>=0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
trap stop_all INT TERM EXIT

"$build_dir/authsvc/authsvc" &
pids+=($!)
for _ in $(seq 1 100); do
  if "$build_dir/authsvc/authsvc" --probe "$AUTHSVC_ADDR" >/dev/null 2>&1; then break; fi
  if ! kill -0 "${pids[0]}" 2>/dev/null; then echo "run: authsvc failed to start" >&2; exit 1; fi
  sleep 0.1
done

"$build_dir/gateway/gateway" &
pids+=($!)
echo "run: gateway on $GATEWAY_LISTEN -> $UPSTREAM_URL; authsvc on $AUTHSVC_LISTEN; state in $state (Ctrl-C stops)" >&2
# Return when any of them exits (or on Ctrl-C through the trap).
wait -n "${pids[@]}" || true
