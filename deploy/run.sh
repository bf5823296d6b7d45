#!/usr/bin/env bash
# Installs what is missing, builds, and runs the product on this machine: authsvc, usagesvc,
# fallbacksvc, then the gateway on :8180. State lives under one directory (LUNA_STATE_DIR, default
# ./.state). Ctrl-C stops them all.
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
export AUTHSVC_METRICS_LISTEN="${AUTHSVC_METRICS_LISTEN:-127.0.0.1:8191}"
export USAGESVC_LISTEN="${USAGESVC_LISTEN:-127.0.0.1:8182}"
export USAGESVC_ADDR="${USAGESVC_ADDR:-${USAGESVC_LISTEN/0.0.0.0/127.0.0.1}}"
export USAGESVC_METRICS_LISTEN="${USAGESVC_METRICS_LISTEN:-127.0.0.1:8192}"
export USAGE_DATA_DIR="${USAGE_DATA_DIR:-$state/usage}"
export USAGE_SPOOL_FILE="${USAGE_SPOOL_FILE:-$state/usage-spool.log}"
export FALLBACKSVC_LISTEN="${FALLBACKSVC_LISTEN:-127.0.0.1:8183}"
export FALLBACKSVC_ADDR="${FALLBACKSVC_ADDR:-${FALLBACKSVC_LISTEN/0.0.0.0/127.0.0.1}}"
export FALLBACKSVC_METRICS_LISTEN="${FALLBACKSVC_METRICS_LISTEN:-127.0.0.1:8193}"
# The old proxy's fallback.json works as it is; without one, fallback is off until one is created
# and reloaded (SIGHUP or POST /admin/fallback/reload).
export FALLBACK_CONFIG="${FALLBACK_CONFIG:-$state/fallback.json}"
export FALLBACK_STATE_FILE="${FALLBACK_STATE_FILE:-$state/fallback-state.json}"
export GATEWAY_LISTEN="${GATEWAY_LISTEN:-0.0.0.0:8180}"
export UPSTREAM_URL="${UPSTREAM_URL:-http://127.0.0.1:8080}"

pids=()
# wait_healthy NAME PID PROBE...: waits until the probe passes (or the process dies).
wait_healthy() {
  local name="$1" pid="$2"
  shift 2
  for _ in $(seq 1 100); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then echo "run: $name failed to start" >&2; exit 1; fi
    sleep 0.1
  done
  echo "run: $name did not become healthy" >&2
  exit 1
}
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
wait_healthy authsvc "$!" "$build_dir/authsvc/authsvc" --probe "$AUTHSVC_ADDR"

"$build_dir/usagesvc/usagesvc" &
pids+=($!)
wait_healthy usagesvc "$!" "$build_dir/usagesvc/usagesvc" --probe "$USAGESVC_ADDR"

"$build_dir/fallbacksvc/fallbacksvc" &
pids+=($!)
wait_healthy fallbacksvc "$!" "$build_dir/fallbacksvc/fallbacksvc" --probe "$FALLBACKSVC_ADDR"

"$build_dir/gateway/gateway" &
pids+=($!)
echo "run: gateway on $GATEWAY_LISTEN -> $UPSTREAM_URL; authsvc on $AUTHSVC_LISTEN;" \
  "usagesvc on $USAGESVC_LISTEN; fallbacksvc on $FALLBACKSVC_LISTEN ($FALLBACK_CONFIG);" \
  "services' /metrics on $AUTHSVC_METRICS_LISTEN, $USAGESVC_METRICS_LISTEN, $FALLBACKSVC_METRICS_LISTEN;" \
  "state in $state (Ctrl-C stops)" >&2
# Return when any of them exits (or on Ctrl-C through the trap).
wait -n "${pids[@]}" || true
