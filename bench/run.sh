#!/usr/bin/env bash
# End-to-end benchmark: the fake upstream, authsvc, usagesvc, fallbacksvc and the gateway on loopback;
# the same requests straight to the fake upstream (baseline) and through the gateway, in the same run.
#
#   bench/run.sh [--quick] [--out FILE.json] [--no-build] [--instructions]
#
# --quick      3 s phases instead of 10 s (for development; the figures are noisier)
# --instructions  instead of timing: run the gateway under callgrind and count the instructions it
#              executes per request for each payload (all its threads; independent of machine noise)
# --serve SECONDS  start everything as for a run, print the ports, the keys and the request bodies'
#              paths, keep serving for SECONDS (then stop everything): for profiling by hand
# --soak SECONDS  instead of the phases: a steady mixed load through the gateway for SECONDS (200 B,
#              60 KB and streams, open loop at BENCH_SOAK_RATE req/s, default 300), every process's RSS
#              sampled every 10 s; reports growth after the first minute and checks the usage ledger
# --out FILE   where the JSON goes (default bench/results/latest.json; bench/results/ is git-ignored)
# --no-build   use build-bench/ as it is
#
# Environment: BENCH_RATE (open-loop rate, default 1000 req/s), BENCH_CONNECTIONS (wrk connections,
# default 64), BENCH_WRK_THREADS (default 2), BENCH_GATEWAY_THREADS (GATEWAY_THREADS, default 2),
# BENCH_FAKE_THREADS (fake upstream threads, default 2), BENCH_SSE_INTERVAL_MS (pace of the streams in
# the latency phase, default 1), BENCH_PAIRED_ROUNDS (rounds of the paired phases, default 5),
# LUNA_BUILD_JOBS (default 2).
# See bench/README.md for what each figure means.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
quick=0
build=1
instructions=0
serve_s=0
soak_s=0
out="$root/bench/results/latest.json"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --no-build) build=0 ;;
    --instructions) instructions=1 ;;
    --serve)
      [[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || { echo "bench/run.sh: --serve needs a number of seconds" >&2; exit 2; }
      serve_s="$2"
      shift ;;
    --soak)
      [[ $# -ge 2 && $2 =~ ^[0-9]+$ && $2 -ge 120 ]] || { echo "bench/run.sh: --soak needs seconds (at least 120)" >&2; exit 2; }
      soak_s="$2"
      shift ;;
    --out)
      [[ $# -ge 2 ]] || { echo "bench/run.sh: --out needs a file" >&2; exit 2; }
      out="$2"
      shift ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

if [[ $quick -eq 1 ]]; then
  tp_s=3; lat_s=3; warm_s=1; paired_s=1; paired_tp_s=1
else
  tp_s=10; lat_s=10; warm_s=2; paired_s=2; paired_tp_s=3
fi
rate="${BENCH_RATE:-1000}"
low_rate="${BENCH_LOW_RATE:-200}"
sse_rate="${BENCH_SSE_RATE:-100}"
conns="${BENCH_CONNECTIONS:-64}"
wrk_threads="${BENCH_WRK_THREADS:-2}"
gw_threads="${BENCH_GATEWAY_THREADS:-2}"
fake_threads="${BENCH_FAKE_THREADS:-2}"
sse_events=100
sse_interval_ms="${BENCH_SSE_INTERVAL_MS:-1}"
paired_rounds="${BENCH_PAIRED_ROUNDS:-5}"
[[ $paired_rounds =~ ^[0-9]+$ ]] || { echo "bench/run.sh: BENCH_PAIRED_ROUNDS must be a number" >&2; exit 2; }

log() { echo "bench: $*" >&2; }

# --- 1. tools and build ----------------------------------------------------------------------------
if [[ $build -eq 1 ]]; then
  "$root/deploy/install-deps.sh" --with-bench
fi
for tool in wrk jq curl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "bench/run.sh: $tool is missing (apt-get install $tool)" >&2; exit 1; }
done
bdir="${BENCH_BUILD_DIR:-$root/build-bench}"
if [[ $build -eq 1 ]]; then
  log "building Release into build-bench/ (this takes a while the first time)"
  CCACHE_NOHASHDIR=1 LUNA_BUILD_JOBS="${LUNA_BUILD_JOBS:-2}" \
    "$root/deploy/build.sh" "$bdir" Release -DLUNA_BUILD_BENCH=ON -DLUNA_BUILD_TESTS=OFF
fi
fake_bin="$bdir/bench/fakes/fake_upstream"
[[ -x "$fake_bin" ]] || fake_bin="$bdir/tests/fakes/fake_upstream"
loadgen="$bdir/bench/loadgen"
relay_bin="$bdir/bench/relay"
for b in "$fake_bin" "$bdir/authsvc/authsvc" "$bdir/usagesvc/usagesvc" "$bdir/fallbacksvc/fallbacksvc" \
         "$bdir/gateway/gateway" "$loadgen" "$relay_bin"; do
  [[ -x "$b" ]] || { echo "bench/run.sh: $b was not built" >&2; exit 1; }
done

# --- 2. processes ------------------------------------------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/luna-bench.XXXXXX")"
declare -A pid=()
names=()          # start order
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  local n p i
  # Stop in reverse start order, by PID, each bounded: SIGTERM, up to 10 s, then SIGKILL.
  for ((i = ${#names[@]} - 1; i >= 0; i--)); do
    n="${names[$i]}"
    p="${pid[$n]:-}"
    [[ -n "$p" ]] || continue
    if kill -0 "$p" 2>/dev/null; then
      kill -TERM "$p" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$p" 2>/dev/null; then
        log "$n (pid $p) did not stop in 10 s: SIGKILL"
        kill -KILL "$p" 2>/dev/null || true
      fi
    fi
    wait "$p" 2>/dev/null || true
  done
  if [[ $status -ne 0 ]]; then
    log "failed (exit $status); logs kept in $work"
  else
    rm -rf "$work"
  fi
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() {  # file name -> prints the port
  local f="$1" n="$2"
  for _ in $(seq $((instructions ? 1200 : 300))); do
    if [[ -s "$f" ]]; then cat "$f"; return 0; fi
    kill -0 "${pid[$n]}" 2>/dev/null || { log "$n exited:"; tail -20 "$work/$n.log" >&2; return 1; }
    sleep 0.05
  done
  log "$n did not write $f in time"; tail -20 "$work/$n.log" >&2
  return 1
}

start() {  # name env... -- binary args...   (env(1) execs the binary: $! is its PID)
  local n="$1"; shift
  env "$@" >"$work/$n.log" 2>&1 &
  pid[$n]=$!
  names+=("$n")
}

admin_key="sk-admin-bench-$$-$RANDOM$RANDOM"
start fake "$fake_bin" --listen 127.0.0.1:0 --port-file "$work/fake.port" --threads "$fake_threads" --no-record
fake_port=$(wait_port "$work/fake.port" fake)
up="http://127.0.0.1:$fake_port"

# A byte relay in front of the fake (bench/relay): the same two loopback hops and system calls as
# through the gateway, with no work of its own. What it adds is this machine's floor for any proxy.
start relay "$relay_bin" --upstream-port "$fake_port" --port-file "$work/relay.port"
relay_port=$(wait_port "$work/relay.port" relay)

start authsvc KEYS_FILE="$work/keys.json" AUTHSVC_LISTEN=127.0.0.1:0 AUTHSVC_METRICS_LISTEN=off ADMIN_KEY="$admin_key" LOG_LEVEL=warn \
  "$bdir/authsvc/authsvc" --port-file "$work/authsvc.port"
auth_port=$(wait_port "$work/authsvc.port" authsvc)

start usagesvc USAGE_DATA_DIR="$work/usage-data" USAGESVC_LISTEN=127.0.0.1:0 USAGESVC_METRICS_LISTEN=off \
  AUTHSVC_ADDR="127.0.0.1:$auth_port" \
  LOG_LEVEL=warn "$bdir/usagesvc/usagesvc" --port-file "$work/usagesvc.port"
usage_port=$(wait_port "$work/usagesvc.port" usagesvc)

# Three tiers on the default upstream: requests for bench-sonnet start at tier 1; route choice is live.
cat >"$work/fallback.json" <<'EOF'
{"enabled": true, "health_poll_interval_seconds": 30, "min_remaining_fraction": 0.1,
 "tiers": [
   {"name": "primary",   "model": "bench-sonnet", "type": "upstream"},
   {"name": "secondary", "model": "bench-haiku",  "type": "upstream"},
   {"name": "tertiary",  "model": "bench-opus",   "type": "upstream"}]}
EOF
start fallbacksvc FALLBACK_CONFIG="$work/fallback.json" FALLBACK_STATE_FILE="$work/fallback-state.json" \
  FALLBACKSVC_LISTEN=127.0.0.1:0 FALLBACKSVC_METRICS_LISTEN=off UPSTREAM_URL="$up" AUTHSVC_ADDR="127.0.0.1:$auth_port" \
  LOG_LEVEL=warn \
  "$bdir/fallbacksvc/fallbacksvc" --port-file "$work/fallbacksvc.port"
fb_port=$(wait_port "$work/fallbacksvc.port" fallbacksvc)

gw_wrap=()
if [[ $instructions -eq 1 ]]; then
  command -v callgrind_control >/dev/null || { echo "bench/run.sh: --instructions needs valgrind" >&2; exit 1; }
  gw_wrap=(valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/callgrind.out")
fi
start gateway GATEWAY_LISTEN=127.0.0.1:0 GATEWAY_THREADS="$gw_threads" UPSTREAM_URL="$up" \
  AUTHSVC_ADDR="127.0.0.1:$auth_port" USAGESVC_ADDR="127.0.0.1:$usage_port" FALLBACKSVC_ADDR="127.0.0.1:$fb_port" \
  USAGE_SPOOL_FILE="$work/usage-spool.log" ACCESS_LOG=false LOG_LEVEL=warn SHUTDOWN_GRACE_SECONDS=5 \
  "${gw_wrap[@]}" "$bdir/gateway/gateway" --port-file "$work/gateway.port"
gw_port=$(wait_port "$work/gateway.port" gateway)
gw="http://127.0.0.1:$gw_port"

# Ready: key table synced (200) and fallbacksvc's route table received.
ready=0
for _ in $(seq $((instructions ? 1200 : 200))); do
  h=$(curl -s --max-time 2 "$gw/health" || true)
  if [[ -n "$h" ]] && jq -e '.status == "ok" and .services.fallbacksvc.watch == "synced"' <<<"$h" >/dev/null 2>&1; then
    ready=1; break
  fi
  sleep 0.1
done
[[ $ready -eq 1 ]] || { log "gateway never became ready: $h"; tail -20 "$work/gateway.log" >&2; exit 1; }

client_key=$(curl -sf --max-time 5 -X POST "$gw/admin/keys" -H "x-api-key: $admin_key" \
  -H 'content-type: application/json' -d '{"name":"bench"}' | jq -r .api_key)
[[ "$client_key" == sk-* ]] || { log "could not create a client key"; exit 1; }

# The same behaviour for the model the gateway sends (bench-sonnet, tier 1) and for the one straight
# requests use (bench-direct, same length): the fake's per-model statistics then separate gateway
# traffic from straight traffic without a reset.
text=$(printf 'Token%.0s ' $(seq $((sse_events * 2))))
per_request_input=1200
set_behaviour() {  # interval between SSE events in ms
  local behaviour
  behaviour=$(jq -cn --arg t "$text" --argjson e "$sse_events" --argjson in "$per_request_input" --argjson iv "$1" \
    '{events: $e, text: $t, interval_ms: $iv,
      usage: {input_tokens: $in, output_tokens: 345, cache_read_input_tokens: 5000, cache_creation_input_tokens: 67}}')
  for m in bench-sonnet bench-haiku bench-opus bench-direct; do
    curl -sf --max-time 5 -X POST "$up/_control/models/$m" -H 'content-type: application/json' -d "$behaviour" >/dev/null
  done
}
set_behaviour 0

# Request bodies (same size straight and through: the model names have the same length).
declare -A bytes=([200B]=200 [10KB]=10240 [60KB]=61440 [sse]=200)
for p in 200B 10KB 60KB sse; do
  s=(); [[ $p == sse ]] && s=(--stream)
  "$loadgen" body --model bench-direct --bytes "${bytes[$p]}" "${s[@]}" >"$work/straight-$p.json"
  "$loadgen" body --model bench-sonnet --bytes "${bytes[$p]}" "${s[@]}" >"$work/gateway-$p.json"
done

# Smoke test: one request each way must answer 200, and through the gateway from tier "primary".
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$up/v1/messages" -H 'content-type: application/json' \
  --data-binary @"$work/straight-60KB.json")
[[ $code == 200 ]] || { log "straight smoke request answered $code"; exit 1; }
hdrs=$(curl -s -D - -o /dev/null --max-time 5 "$gw/v1/messages" -H "x-api-key: $client_key" \
  -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json' --data-binary @"$work/gateway-60KB.json")
grep -q '^HTTP/1.1 200' <<<"$hdrs" || { log "gateway smoke request failed: $hdrs"; exit 1; }
tier=$(grep -i '^x-luna-tier:' <<<"$hdrs" | tr -d '\r' | awk '{print $2}')
log "ready: fake :$fake_port, relay :$relay_port, authsvc :$auth_port, usagesvc :$usage_port, fallbacksvc :$fb_port, gateway :$gw_port (tier ${tier:-none})"

# --- 3a. serve for profiling by hand (--serve) ---------------------------------------------------------
if [[ $serve_s -gt 0 ]]; then
  jq -n --arg gw "$gw" --arg up "$up" --arg relay "http://127.0.0.1:$relay_port" --arg key "$client_key" \
    --arg admin "$admin_key" --arg work "$work" \
    --argjson pids "$(for n in "${names[@]}"; do echo "$n ${pid[$n]}"; done | jq -Rn '[inputs | split(" ") | {key: .[0], value: (.[1]|tonumber)}] | from_entries')" \
    '{gateway: $gw, straight: $up, relay: $relay, client_key: $key, admin_key: $admin, bodies: "\($work)/{gateway,straight}-{200B,10KB,60KB,sse}.json", pids: $pids}'
  log "serving for $serve_s s (Ctrl-C, or SIGTERM to this script, stops everything earlier)"
  # Waited on in the background: bash runs the INT/TERM trap only once a foreground command ends, so a
  # SIGTERM sent to this script (not to its process group) would wait out the whole sleep.
  sleep "$serve_s" &
  sleeper=$!
  trap 'kill "$sleeper" 2>/dev/null; exit 130' INT TERM
  wait "$sleeper" || true
  exit 0
fi

# --- 3a. instruction counts (--instructions) --------------------------------------------------------
if [[ $instructions -eq 1 ]]; then
  n_req="${BENCH_INSTR_REQUESTS:-300}"
  dumps() { local f; shopt -s nullglob; f=("$work"/callgrind.out.*); shopt -u nullglob; echo "${#f[@]}"; }
  mkdir -p "$(dirname "$out")"
  rows=()
  for p in 200B 10KB 60KB sse; do
    args=(--header "anthropic-version: 2023-06-01" --header "x-api-key: $client_key")
    prate=50
    [[ $p == sse ]] && { args+=(--sse --expect-events $((sse_events + 5))); prate=10; }
    # Warm the connection pools and tables first; count only the steady state.
    "$loadgen" --port "$gw_port" --path /v1/messages --body "$work/gateway-$p.json" --rate 50 --duration 1 \
      --warmup 0 --connections 4 --max-connections 64 "${args[@]}" >/dev/null
    callgrind_control -z "${pid[gateway]}" >/dev/null
    callgrind_control -i on "${pid[gateway]}" >/dev/null
    json=$("$loadgen" --port "$gw_port" --path /v1/messages --body "$work/gateway-$p.json" --rate "$prate" \
      --duration $((n_req / 50)) --warmup 0 --connections 4 --max-connections 64 "${args[@]}")
    sleep 0.5  # let the usage writer and sender finish this phase's events
    callgrind_control -i off "${pid[gateway]}" >/dev/null
    before=$(dumps)
    callgrind_control --dump="$p" "${pid[gateway]}" >/dev/null
    for _ in $(seq 100); do [[ $(dumps) -gt $before ]] && break; sleep 0.1; done
    dump=$(ls -t "$work"/callgrind.out.* | head -1)
    sleep 0.5
    cp "$dump" "$(dirname "$out")/callgrind.out.gateway-$p"
    total=$(awk '/^totals:/ {t = $2} END {print t + 0}' "$dump")  # (the header's summary: is 0 in dumps)
    sent=$(jq '.sent - .errors - .io_errors - .unfinished' <<<"$json")
    callgrind_annotate --inclusive=no --threshold=90 "$dump" 2>/dev/null | head -60 >"$(dirname "$out")/callgrind-gateway-$p.txt" || true
    callgrind_annotate --inclusive=yes --threshold=95 "$dump" 2>/dev/null | head -80 >>"$(dirname "$out")/callgrind-gateway-$p.txt" || true
    rows+=("$(jq -cn --arg p "$p" --argjson t "${total:-0}" --argjson n "$sent" --argjson b "${bytes[$p]}" \
      '{payload: $p, requests: $n, instructions: $t, per_request: (if $n > 0 then ($t / $n | round) else null end),
        per_request_byte: (if $n > 0 then ($t / $n / $b * 100 | round / 100) else null end)}')")
    log "$(printf '%-5s %6d requests, %12s instructions per request (gateway, all threads)' "$p" "$sent" \
      "$(jq .per_request <<<"${rows[-1]}")")"
  done
  printf '%s\n' "${rows[@]}" | jq -s --arg commit "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    --arg date "$(date -u +%FT%TZ)" '{date: $date, commit: $commit, kind: "instructions", payloads: .}' >"$out"
  log "JSON written to $out; annotated profiles beside it (callgrind-gateway-<payload>.txt; raw: callgrind.out.gateway-<payload>, for callgrind_annotate or kcachegrind)"
  exit 0
fi

# --- 3. measurement ----------------------------------------------------------------------------------
procs=(gateway authsvc usagesvc fallbacksvc fake relay)
clk_tck=$(getconf CLK_TCK)
cpu_ticks() {  # utime + stime of a process (all its threads), in clock ticks
  local line rest
  read -r line <"/proc/$1/stat" || { echo 0; return; }
  rest="${line##*) }"
  # shellcheck disable=SC2086
  set -- $rest
  echo $(( ${12} + ${13} ))
}
declare -A cpu0=()
cpu_begin() { local n; for n in "${procs[@]}"; do cpu0[$n]=$(cpu_ticks "${pid[$n]}"); done; }
cpu_end() {  # requests -> JSON {proc: µs per request}
  local reqs="$1" n d args=()
  for n in "${procs[@]}"; do
    d=$(( $(cpu_ticks "${pid[$n]}") - ${cpu0[$n]} ))
    args+=("$n" "$d")
  done
  printf '%s\n' "${args[@]}" | jq -Rn --argjson reqs "$reqs" --argjson tck "$clk_tck" '
    [inputs] as $a | [range(0; $a|length; 2) as $i | {key: $a[$i],
      value: (if $reqs > 0 then (($a[$i+1]|tonumber) * 1e6 / $tck / $reqs * 10 | round / 10) else null end)}]
    | from_entries'
}

# Usage accounting around each gateway phase: the ledger's totals and the fake's counts for the models the
# gateway sends (every model but bench-direct), once the gateway's spool is empty.
usage_snapshot() {
  local pending=-1 ledger stats
  sleep 0.3  # let cancelled requests (cut by the load generator at the end of a phase) be recorded
  for _ in $(seq 300); do
    pending=$(curl -s --max-time 2 "$gw/health" | jq '.services.usagesvc.events_pending' 2>/dev/null || echo -1)
    [[ "$pending" == 0 ]] && break
    sleep 0.1
  done
  ledger=$(curl -sf --max-time 10 "$gw/admin/usage" -H "x-api-key: $admin_key")
  stats=$(curl -sf --max-time 10 "$up/_control/stats")
  jq -cn --argjson l "$ledger" --argjson s "$stats" --argjson pending "$pending" '
    ($s.by_model | to_entries | map(select(.key != "bench-direct")) | map(.value)) as $m
    | {events_pending: $pending,
       fake_upstream: {requests: ($m | map(.requests) | add // 0),
         input_tokens: ($m | map(.input_tokens) | add // 0),
         output_tokens: ($m | map(.output_tokens) | add // 0),
         cache_read_tokens: ($m | map(.cache_read_input_tokens) | add // 0),
         cache_write_tokens: ($m | map(.cache_creation_input_tokens) | add // 0)},
       ledger: {requests: $l.total_requests, input_tokens: $l.total_input_tokens,
         output_tokens: $l.total_output_tokens, cache_read_tokens: $l.total_cache_read_tokens,
         cache_write_tokens: $l.total_cache_write_tokens},
       ledger_errors: $l.total_errors,
       straight_requests_at_fake: ($s.by_model["bench-direct"].requests // 0)}'
}
usage_delta() {  # before after -> {fake_upstream, ledger, equal}
  jq -cn --argjson a "$1" --argjson b "$2" '
    def sub($x; $y): $x | with_entries(.value -= $y[.key]);
    {fake_upstream: sub($b.fake_upstream; $a.fake_upstream), ledger: sub($b.ledger; $a.ledger),
     ledger_errors: ($b.ledger_errors - $a.ledger_errors), events_pending: $b.events_pending}
    | .equal = (.events_pending == 0 and (.fake_upstream == .ledger))'
}

results="$work/results.jsonl"
: >"$results"
hdr_straight="anthropic-version: 2023-06-01|x-api-key: sk-straight"
hdr_gateway="anthropic-version: 2023-06-01|x-api-key: $client_key"

# --- 3b. soak (--soak) ------------------------------------------------------------------------------------
# Three open-loop generators at once through the gateway (half the rate 200 B, a third 60 KB, the rest
# streams of 105 events paced 1 ms apart) for soak_s seconds; every process's RSS every 10 s. "No growth"
# is judged from the end of the first minute (pools, arenas and tables warmed up) to the end.
if [[ $soak_s -gt 0 ]]; then
  soak_rate="${BENCH_SOAK_RATE:-300}"
  set_behaviour "$sse_interval_ms"
  u0=$(usage_snapshot)
  cpu_begin
  lg_pids=()
  for spec in "200B $((soak_rate / 2))" "60KB $((soak_rate / 3))" "sse $((soak_rate - soak_rate / 2 - soak_rate / 3))"; do
    read -r p r <<<"$spec"
    args=(--header "anthropic-version: 2023-06-01" --header "x-api-key: $client_key")
    [[ $p == sse ]] && args+=(--sse --expect-events $((sse_events + 5)))
    "$loadgen" --port "$gw_port" --path /v1/messages --body "$work/gateway-$p.json" --rate "$r" --duration "$soak_s" \
      --warmup 0 --connections 16 --max-connections 512 "${args[@]}" >"$work/soak-$p.json" &
    lg_pids+=($!)
  done
  samples="$work/soak-rss.jsonl"
  : >"$samples"
  t0=$(date +%s)
  while :; do
    now=$(( $(date +%s) - t0 ))
    line="{\"t\": $now"
    for n in "${procs[@]}"; do
      line+=", \"$n\": $(awk '/^VmRSS:/ {print $2}' "/proc/${pid[$n]}/status" 2>/dev/null || echo 0)"
    done
    # The gateway's RSS in its two parts: anonymous memory (its heap, stacks and buffers: what a leak
    # would grow) and file pages (its code and libraries as they are paged in, and the usage ring).
    line+=", \"gateway_anon\": $(awk '/^RssAnon:/ {print $2}' "/proc/${pid[gateway]}/status" 2>/dev/null || echo 0)"
    line+=", \"gateway_file\": $(awk '/^RssFile:/ {print $2}' "/proc/${pid[gateway]}/status" 2>/dev/null || echo 0)"
    echo "$line}" >>"$samples"
    running=0
    for lp in "${lg_pids[@]}"; do kill -0 "$lp" 2>/dev/null && running=1; done
    [[ $running -eq 1 ]] || break
    (( now % 60 < 10 )) && log "soak: ${now}s, gateway RSS $(awk '/^VmRSS:/ {print $2}' "/proc/${pid[gateway]}/status") kB"
    sleep 10
  done
  for lp in "${lg_pids[@]}"; do wait "$lp" || true; done
  sent=$(jq -s 'map(.sent) | add' "$work"/soak-*.json)
  cpu=$(cpu_end "$sent")
  usage=$(usage_delta "$u0" "$(usage_snapshot)")
  mkdir -p "$(dirname "$out")"
  jq -n --slurpfile rss "$samples" --argjson cpu "$cpu" --argjson usage "$usage" --argjson secs "$soak_s" \
    --argjson rate "$soak_rate" --arg commit "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    --slurpfile g200 "$work/soak-200B.json" --slurpfile g60 "$work/soak-60KB.json" --slurpfile gsse "$work/soak-sse.json" '
    ($rss | map(select(.t >= 60)) | first) as $warm | ($rss | last) as $fin
    | ($rss | map(select(.t >= ($fin.t / 2))) | first) as $half
    | {kind: "soak", commit: $commit, seconds: $secs, rate: $rate,
       requests: {"200B": $g200[0].sent, "60KB": $g60[0].sent, "sse": $gsse[0].sent},
       errors: ([$g200[0], $g60[0], $gsse[0]] | map(.errors + .io_errors + .unfinished) | add),
       latency_p99_us: {"200B": $g200[0].latency_us.p99, "60KB": $g60[0].latency_us.p99, "sse": $gsse[0].latency_us.p99},
       rss_kb_after_first_minute: ($warm | del(.t)), rss_kb_at_end: ($fin | del(.t)),
       rss_kb_peak: ($rss | map(del(.t)) | reduce .[] as $s ({}; reduce ($s | keys[]) as $k (.; .[$k] = ([.[$k] // 0, $s[$k]] | max)))),
       growth_kb_after_first_minute: ($fin | del(.t) | with_entries(.value -= $warm[.key])),
       growth_kb_second_half: ($fin | del(.t) | with_entries(.value -= $half[.key])),
       cpu_us_per_request: $cpu, usage: $usage, rss_samples: $rss}' >"$out"
  jq -r '"soak: \(.seconds) s at \(.rate) req/s: \(.requests | to_entries | map("\(.key) \(.value)") | join(", ")) requests, \(.errors) errors",
    "  p99 latency (µs): \(.latency_p99_us | to_entries | map("\(.key) \(.value)") | join(", "))",
    "  RSS kB after the first minute → at the end (peak); growth in the second half:",
    (.rss_kb_after_first_minute | keys[] as $k | "    \($k): \(.[$k]) → \($fin[$k]) (\($peak[$k])); \($grow[$k])" as $l
      | $l | sub("gateway_anon"; "gateway (anonymous)") | sub("gateway_file"; "gateway (file pages)")),
    "  usage ledger equals the upstream'"'"'s counts: \(.usage.equal)"' \
    --argjson fin "$(jq '.rss_kb_at_end' "$out")" --argjson peak "$(jq '.rss_kb_peak' "$out")" \
    --argjson grow "$(jq '.growth_kb_second_half' "$out")" "$out" || true
  log "soak figures written to $out"
  exit 0
fi

# What a target is sent: the gateway its own key and bodies; the fake and the relay in front of it
# the straight ones. Sets hdrs and body.
request_for() {  # payload target
  [[ $2 == gateway ]] && hdrs="$hdr_gateway" || hdrs="$hdr_straight"
  [[ $2 == gateway ]] && body="$work/gateway-$1.json" || body="$work/straight-$1.json"
}

run_wrk() {  # payload target port [seconds round]: the throughput phase, or a round of the paired one
  local p="$1" t="$2" port="$3" secs="${4:-$tp_s}" round="${5:-0}" hdrs body line reqs cpu kind=throughput
  (( round > 0 )) && kind=throughput_paired
  request_for "$p" "$t"
  local u0="" usage=null
  [[ $t == gateway ]] && u0=$(usage_snapshot)
  local perf_pid=""
  if [[ -n "${BENCH_PERF:-}" && $t == gateway ]] && command -v perf >/dev/null; then
    perf record -F 999 -g -p "${pid[gateway]}" -o "$work/perf-$p.data" >"$work/perf-$p.log" 2>&1 &
    perf_pid=$!
    sleep 0.5
  fi
  cpu_begin
  line=$(BENCH_BODY_FILE="$body" BENCH_HEADERS="$hdrs" \
    timeout $((secs + 30)) wrk -t"$wrk_threads" -c"$conns" -d"${secs}s" --timeout 10s \
      -s "$root/bench/e2e/post.lua" "http://127.0.0.1:$port/v1/messages" 2>&1 | tee "$work/wrk-$t-$p.txt" |
    sed -n 's/^WRKJSON //p')
  [[ -n "$line" ]] || { log "wrk failed:"; cat "$work/wrk-$t-$p.txt" >&2; exit 1; }
  reqs=$(jq .requests <<<"$line")
  cpu=$(cpu_end "$reqs")
  if [[ -n "$perf_pid" ]]; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    mkdir -p "$(dirname "$out")"
    {
      echo "### by binary (self time)"
      perf report -i "$work/perf-$p.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$'
      echo "### by function (self time; in a VM without a PMU, kernel time shows up as pvm_irq_enable and the like)"
      perf report -i "$work/perf-$p.data" --no-children --sort symbol --percent-limit 0.5 --stdio -g none 2>/dev/null |
        grep -v '^#' | grep -v '^$'
      echo "### by function, including callees (children), gateway and Beast/Asio frames"
      perf report -i "$work/perf-$p.data" --children --sort symbol --percent-limit 2 --stdio -g none 2>/dev/null |
        grep -v '^#' | grep -v '^$'
    } >"$(dirname "$out")/perf-gateway-$p.txt" || true
    log "perf profile of the gateway: $(dirname "$out")/perf-gateway-$p.txt"
  fi
  [[ $t == gateway ]] && usage=$(usage_delta "$u0" "$(usage_snapshot)")
  # The gateway's RSS after each of its saturation phases: with hundreds of thousands of requests
  # between two samples, memory kept per request would show here.
  local rss=null
  [[ $t == gateway ]] && rss=$(awk '/^VmRSS:/ {print $2}' "/proc/${pid[gateway]}/status")
  jq -c --arg p "$p" --arg t "$t" --arg k "$kind" --argjson n "$round" --argjson cpu "$cpu" --argjson usage "$usage" \
    --argjson rss "${rss:-null}" \
    '{payload: $p, target: $t, kind: $k, wrk: ., cpu_us_per_request: $cpu, usage: $usage, gateway_rss_kb_after: $rss}
     + (if $n > 0 then {round: $n} else {} end)' <<<"$line" >>"$results"
  local label=$kind
  (( round > 0 )) && label="$kind $round"
  log "$(printf '%-5s %-8s %s %8.0f req/s' "$p" "$t" "$label" "$(jq .rps <<<"$line")")"
}

# The gateway's own time per request (luna_gateway_own_seconds: from the request read to the answer's
# end, minus the upstream's time to its first byte), from its histogram's buckets before and after a
# phase: what the gateway adds inside its process, apart from the kernel and the scheduler, which the
# paired difference of the load generator's latencies also holds. Non-streaming requests only.
own_snapshot() {
  curl -s --max-time 5 "$gw/metrics" | grep '^luna_gateway_own_seconds_bucket{route="/v1/messages"' |
    sed -E 's/.*le="([^"]+)"\} ([0-9]+)$/\1 \2/' | jq -Rn '[inputs | split(" ") | {le: .[0], n: (.[1] | tonumber)}]'
}
own_delta() {  # before after -> {n, p50_le_us, p90_le_us, p99_le_us}: the bucket bound each percentile is under
  jq -n --argjson a "$1" --argjson b "$2" '
    [range(0; $b | length) as $i | {le: $b[$i].le, n: ($b[$i].n - (($a[$i].n) // 0))}] as $d
    | ($d[-1].n) as $total
    | def at($q): (first($d[] | select($total > 0 and .n >= $q * $total)) | .le) as $le
        | if $le == null or $le == "+Inf" then null else ($le | tonumber * 1e6 | round) end;
      {n: $total, p50_le_us: at(0.5), p90_le_us: at(0.9), p99_le_us: at(0.99)}'
}

# Before a payload's latency phases (and the paired rounds): wait, up to 30 s, until usagesvc is idle
# (under 5% of a core over half a second). A saturation phase records hundreds of thousands of events
# in seconds, and the snapshot usagesvc then writes (tens of MB, fsynced) would otherwise land in the
# next phase, measured at 1,000 req/s. The seconds waited are in the JSON (settled_s).
settled_s=0
settle() {
  local t0=$SECONDS a b
  for _ in $(seq 60); do
    a=$(cpu_ticks "${pid[usagesvc]}")
    sleep 0.5
    b=$(cpu_ticks "${pid[usagesvc]}")
    (( (b - a) * 200 < 5 * clk_tck )) && break
  done
  settled_s=$((SECONDS - t0))
  (( settled_s > 1 )) && log "waited ${settled_s} s for usagesvc to be idle"
  return 0
}

run_loadgen() {  # payload target port kind rate [seconds [round]]
  local p="$1" t="$2" port="$3" kind="$4" r="$5" secs="${6:-$lat_s}" round="${7:-0}" hdrs body args=() json reqs cpu
  request_for "$p" "$t"
  IFS='|' read -r -a hs <<<"$hdrs"
  for h in "${hs[@]}"; do args+=(--header "$h"); done
  [[ $p == sse ]] && args+=(--sse --expect-events $((sse_events + 5)))
  local u0="" usage=null own0="" own=null
  [[ $t == gateway ]] && u0=$(usage_snapshot)
  [[ $t == gateway && $p != sse ]] && own0=$(own_snapshot)
  cpu_begin
  json=$(timeout $((secs + warm_s + 60)) "$loadgen" --port "$port" --path /v1/messages --body "$body" \
    --rate "$r" --duration "$secs" --warmup "$warm_s" --connections 16 --max-connections 512 "${args[@]}")
  reqs=$(jq .sent <<<"$json")
  cpu=$(cpu_end "$reqs")
  [[ -n "$own0" ]] && own=$(own_delta "$own0" "$(own_snapshot)")
  [[ $t == gateway ]] && usage=$(usage_delta "$u0" "$(usage_snapshot)")
  jq -c --arg p "$p" --arg t "$t" --argjson cpu "$cpu" --argjson usage "$usage" --argjson own "$own" \
    --arg kind "$kind" --argjson round "$round" --argjson settled "$settled_s" '{payload: $p, target: $t, kind: $kind,
                         round: $round, settled_s: $settled, loadgen: ., cpu_us_per_request: $cpu, usage: $usage,
                         gateway_own_us: $own}' \
    <<<"$json" >>"$results"
  log "$(printf '%-5s %-8s latency at %s req/s: p50 %s µs, p99 %s µs, errors %s' "$p" "$t" "$r" \
    "$(jq .latency_us.p50 <<<"$json")" "$(jq .latency_us.p99 <<<"$json")" \
    "$(jq '.errors + .io_errors + .unfinished' <<<"$json")")"
}

log "measuring: throughput ${tp_s}s at $conns connections; latency ${lat_s}s (+${warm_s}s warm-up) at $rate and $low_rate req/s, streams at $sse_rate/s"
for p in 200B 10KB 60KB sse; do
  # Latency first (straight then through, back to back: a paired difference), then throughput.
  settle
  if [[ $p == sse ]]; then
    # Paced like a model writing (an event every BENCH_SSE_INTERVAL_MS): a burst of 100 events keeps
    # both cores busy, and time to first byte would then measure the scheduler, not the gateway.
    set_behaviour "$sse_interval_ms"
    run_loadgen "$p" straight "$fake_port" latency "$sse_rate"
    run_loadgen "$p" gateway "$gw_port" latency "$sse_rate"
    run_loadgen "$p" relay "$relay_port" latency "$sse_rate"
    set_behaviour 0  # the throughput phase relays bursts: the cost per event
  else
    run_loadgen "$p" straight "$fake_port" latency "$rate"
    run_loadgen "$p" gateway "$gw_port" latency "$rate"
    run_loadgen "$p" relay "$relay_port" latency "$rate"
    run_loadgen "$p" straight "$fake_port" latency_low "$low_rate"
    run_loadgen "$p" gateway "$gw_port" latency_low "$low_rate"
    run_loadgen "$p" relay "$relay_port" latency_low "$low_rate"
  fi
  run_wrk "$p" straight "$fake_port"
  run_wrk "$p" gateway "$gw_port"
  run_wrk "$p" relay "$relay_port"
done

# --- paired rounds: the 60 KB added latency, alternating short runs ------------------------------------
# One run of each target after the other lets the machine's load drift between them (another tenant of
# the VM, a snapshot of usagesvc): on a shared VM the single-run difference moved by as much as it
# measures, the relay's (no work at all) from 71 to 111 µs. Here straight, gateway and relay take turns
# in short runs, and the median of the per-round differences is the figure drift hardly moves.
log "paired rounds: 60KB at $rate req/s, $paired_rounds rounds of ${paired_s}s per target"
settle
for ((round = 1; round <= paired_rounds; round++)); do
  run_loadgen 60KB straight "$fake_port" paired "$rate" "$paired_s" "$round"
  run_loadgen 60KB gateway "$gw_port" paired "$rate" "$paired_s" "$round"
  run_loadgen 60KB relay "$relay_port" paired "$rate" "$paired_s" "$round"
done

# --- paired throughput rounds: 200 B and 60 KB --------------------------------------------------------
# The throughput phase above runs each target once for tp_s, one after the other: the machine's speed
# drifts between them (the relay's ratio moved 0.04 between two full runs). Here straight, gateway and
# relay take turns in short saturation runs, and the median of the per-round ratios is the figure.
for p in 200B 60KB; do
  (( paired_rounds > 0 )) || break
  log "paired throughput: $p, $paired_rounds rounds of ${paired_tp_s}s per target"
  settle
  for ((round = 1; round <= paired_rounds; round++)); do
    run_wrk "$p" straight "$fake_port" "$paired_tp_s" "$round"
    run_wrk "$p" gateway "$gw_port" "$paired_tp_s" "$round"
    run_wrk "$p" relay "$relay_port" "$paired_tp_s" "$round"
  done
done

# --- 1,000 streams open at once: the gateway's memory -------------------------------------------------
# 250 streams/s for 4 s, each 105 events 60 ms apart (6.3 s): about 1,000 open together. The gateway's
# RSS is sampled while they run; every stream must end whole.
open_streams_phase() {
  local interval=60 json rss0 peak=0 rss n=0 lg_pid
  set_behaviour "$interval"
  rss0=$(awk '/^VmRSS:/ {print $2}' "/proc/${pid[gateway]}/status")
  "$loadgen" --port "$gw_port" --path /v1/messages --body "$work/gateway-sse.json" --rate 250 --duration 4 \
    --warmup 0 --connections 16 --max-connections 1500 --drain 20 --header "anthropic-version: 2023-06-01" \
    --header "x-api-key: $client_key" --sse --expect-events $((sse_events + 5)) >"$work/streams1000.json" &
  lg_pid=$!
  local max_open=0 open
  while kill -0 "$lg_pid" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/${pid[gateway]}/status")
    open=$(curl -s --max-time 2 "$gw/metrics" | awk '/^luna_gateway_open_connections / {print $2}')
    (( rss > peak )) && peak=$rss
    [[ -n "$open" ]] && (( ${open%.*} > max_open )) && max_open=${open%.*}
    sleep 0.25
  done
  wait "$lg_pid" || true
  set_behaviour 0
  json=$(cat "$work/streams1000.json")
  jq -c --argjson rss0 "$rss0" --argjson peak "$peak" --argjson open "$max_open" \
    '{kind: "open_streams", streams: .sent, whole: .ok, errors: (.errors + .io_errors), unfinished: .unfinished,
      event_count_mismatch: .event_count_mismatch, max_open_client_connections: $open,
      gateway_rss_before_kb: $rss0, gateway_rss_peak_kb: $peak,
      per_stream_kb: (if $open > 0 then (($peak - $rss0) / $open * 10 | round / 10) else null end)}' <<<"$json"
}
open_streams=$(open_streams_phase)
log "open streams: $(jq -c . <<<"$open_streams")"

# --- usage check: the ledger against the fake upstream's counts, over the whole run and per phase --------
final=$(usage_snapshot)
usage_check=$(jq -c --argjson f "$final" --argjson conns "$conns" --argjson per "$per_request_input" '
  map(select(.target == "gateway")) as $g
  | ($f | .equal = (.events_pending == 0 and .fake_upstream == .ledger)) as $total
  | ($g | map({key: "\(.payload) \(.kind)\(if (.round // 0) > 0 then " \(.round)" else "" end)", value: (.usage + {
        cut: (if (.kind | startswith("throughput")) then $conns else (.loadgen.unfinished + .loadgen.io_errors) end),
        short_by_requests: ((.usage.fake_upstream.input_tokens - .usage.ledger.input_tokens) / $per),
        extra_requests: (.usage.ledger.requests - .usage.fake_upstream.requests)})})
      | from_entries) as $phases
  | {total: $total, equal: $total.equal, phases: $phases,
     latency_phases_equal: ($phases | to_entries | map(select(.key | contains("latency"))) | all(.value.equal)),
     cut_by_load_generator: ($phases | map(.cut) | add),
     # A request the load generator cut is either answered whole at the fake (counted there) and
     # partial in the ledger, or cut before the fake finished it (a stream: not counted there) and
     # partial in the ledger with the input tokens read so far. So the ledger may hold up to `cut`
     # more requests, and its input may differ by no more than one request each way per cut request.
     consistent: ($phases | all(.equal or (.extra_requests >= 0 and .extra_requests <= .cut
                                              and .short_by_requests >= -.extra_requests
                                              and .short_by_requests <= .cut - .extra_requests)))}' <(jq -s . "$results"))

# --- peak memory --------------------------------------------------------------------------------------
rss_args=()
for n in "${procs[@]}"; do
  hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/${pid[$n]}/status" 2>/dev/null || echo 0)
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/${pid[$n]}/status" 2>/dev/null || echo 0)
  rss_args+=("$n" "${hwm:-0}" "${rss:-0}")
done
memory=$(printf '%s\n' "${rss_args[@]}" | jq -Rn '[inputs] as $a
  | [range(0; $a|length; 3) as $i | {key: $a[$i], value: {peak_rss_kb: ($a[$i+1]|tonumber), rss_kb: ($a[$i+2]|tonumber)}}]
  | from_entries')

# --- 4. report -----------------------------------------------------------------------------------------
machine=$(jq -cn --arg cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" --argjson cores "$(nproc)" \
  --arg kernel "$(uname -r)" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
  '{cpu: $cpu, cores: $cores, kernel: $kernel, loadavg_at_end: $load}')
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain -- gateway authsvc usagesvc fallbacksvc common 2>/dev/null | head -1)
mkdir -p "$(dirname "$out")"
jq -s --argjson usage "$usage_check" --argjson memory "$memory" --argjson machine "$machine" \
  --arg commit "$commit${dirty:+-dirty}" --arg date "$(date -u +%FT%TZ)" --argjson quick "$quick" \
  --argjson streams "$open_streams" --argjson rate "$rate" --argjson low "$low_rate" --argjson sser "$sse_rate" --argjson conns "$conns" --argjson tp "$tp_s" --argjson lat "$lat_s" \
  --argjson prounds "$paired_rounds" --argjson ps "$paired_s" --argjson pts "$paired_tp_s" \
  --argjson gwt "$gw_threads" --argjson ft "$fake_threads" --argjson ev "$sse_events" --argjson siv "$sse_interval_ms" '
  def r1: if . == null then null else (. * 10 | round / 10) end;
  def d($a; $b): if $a == null or $b == null then null else (($a - $b) * 10 | round / 10) end;
  def le($x; $lim): if $x == null then false else $x <= $lim end;
  def find($p; $t; $k): map(select(.payload == $p and .target == $t and .kind == $k))[0];
  def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
                            else ((.[length / 2 - 1] + .[length / 2]) / 2) end;
  # The runs of a paired phase ($k) of payload $p, one {round, straight, gateway, relay} per round.
  def rounds($p; $k): map(select(.payload == $p and .kind == $k)) | group_by(.round)
    | map(. as $r | {round: $r[0].round} + ([$r[] | {key: .target, value: .}] | from_entries));
  # Per round the differences target - straight; their medians.
  def paired($p): rounds($p; "paired")
    | if length == 0 then null else
      [.[] | .round as $n | .straight.loadgen.latency_us as $s | .gateway.loadgen.latency_us as $g
         | .relay.loadgen.latency_us as $l | [.straight, .gateway, .relay] as $r
         | {round: $n, straight_p50: $s.p50, gateway_p50: $g.p50, relay_p50: $l.p50,
            added_p50: d($g.p50; $s.p50), added_p99: d($g.p99; $s.p99),
            relay_added_p50: d($l.p50; $s.p50), relay_added_p99: d($l.p99; $s.p99),
            errors: ([$r[] | select(. != null) | .loadgen | .errors + .io_errors + .unfinished] | add)}] as $per
      | {rounds: $per,
         median: {added_p50: ([$per[].added_p50] | median | r1), added_p99: ([$per[].added_p99] | median | r1),
                  relay_added_p50: ([$per[].relay_added_p50] | median | r1),
                  relay_added_p99: ([$per[].relay_added_p99] | median | r1)}} end;
  # Per round the ratios target / straight (requests per second); their medians.
  def paired_throughput($p): rounds($p; "throughput_paired")
    | if length == 0 then null else
      [.[] | .round as $n | .straight.wrk.rps as $s | .gateway.wrk.rps as $g | .relay.wrk.rps as $l
         | {round: $n, straight_rps: ($s|r1), gateway_rps: ($g|r1), relay_rps: ($l|r1),
            ratio: (if $s > 0 then ($g / $s * 1000 | round / 1000) else null end),
            relay_ratio: (if $s > 0 and $l != null then ($l / $s * 1000 | round / 1000) else null end)}] as $per
      | {rounds: $per, median: {ratio: ([$per[].ratio] | median), relay_ratio: ([$per[].relay_ratio] | median)}} end;
  def added($x; $base): {p50: d($x.loadgen.latency_us.p50; $base.loadgen.latency_us.p50),
                         p99: d($x.loadgen.latency_us.p99; $base.loadgen.latency_us.p99),
                         p999: d($x.loadgen.latency_us.p999; $base.loadgen.latency_us.p999)};
  # The issue thresholds that compare target $t (gateway, or the relay: the floor) with straight.
  def thresholds($t): {
    added_latency_60KB_p50_le_100us: le(d(find("60KB"; $t; "latency").loadgen.latency_us.p50; find("60KB"; "straight"; "latency").loadgen.latency_us.p50); 100),
    added_latency_60KB_p99_le_1ms: le(d(find("60KB"; $t; "latency").loadgen.latency_us.p99; find("60KB"; "straight"; "latency").loadgen.latency_us.p99); 1000),
    throughput_200B_ge_50pct: (find("200B"; $t; "throughput").wrk.rps >= 0.5 * find("200B"; "straight"; "throughput").wrk.rps),
    throughput_60KB_ge_50pct: (find("60KB"; $t; "throughput").wrk.rps >= 0.5 * find("60KB"; "straight"; "throughput").wrk.rps),
    added_ttfb_sse_p50_le_200us: le(d(find("sse"; $t; "latency").loadgen.ttfb_us.p50; find("sse"; "straight"; "latency").loadgen.ttfb_us.p50); 200)};
  . as $all
  | {date: $date, commit: $commit, quick: ($quick == 1), machine: $machine,
     settings: {open_loop_rate: $rate, open_loop_low_rate: $low, sse_rate: $sser, wrk_connections: $conns, throughput_seconds: $tp, latency_seconds: $lat,
                paired_rounds: $prounds, paired_seconds: $ps, paired_throughput_seconds: $pts,
                gateway_threads: $gwt, fake_upstream_threads: $ft, sse_events: $ev, sse_interval_ms_latency: $siv,
                payload_bytes: {"200B": 200, "10KB": 10240, "60KB": 61440, "sse": 200}},
     payloads: ([ "200B", "10KB", "60KB", "sse" ] | map(. as $p
       | ($all | find($p; "straight"; "throughput")) as $ts | ($all | find($p; "gateway"; "throughput")) as $tg
       | ($all | find($p; "straight"; "latency")) as $ls | ($all | find($p; "gateway"; "latency")) as $lg
       | ($all | find($p; "straight"; "latency_low")) as $ks | ($all | find($p; "gateway"; "latency_low")) as $kg
       | ($all | find($p; "relay"; "throughput")) as $tr | ($all | find($p; "relay"; "latency")) as $lr
       | ($all | find($p; "relay"; "latency_low")) as $kr
       | {key: $p, value: {
           throughput: {straight_rps: ($ts.wrk.rps|r1), gateway_rps: ($tg.wrk.rps|r1),
                        ratio: (if $ts.wrk.rps > 0 then ($tg.wrk.rps / $ts.wrk.rps * 1000 | round / 1000) else null end),
                        relay_rps: ($tr.wrk.rps|r1),
                        relay_ratio: (if $ts.wrk.rps > 0 and $tr != null then ($tr.wrk.rps / $ts.wrk.rps * 1000 | round / 1000) else null end),
                        straight: $ts.wrk, gateway: $tg.wrk, relay: $tr.wrk,
                        paired: ($all | paired_throughput($p))},
           latency: {straight: $ls.loadgen, gateway: $lg.loadgen, relay: $lr.loadgen,
                     added_us: added($lg; $ls), relay_added_us: added($lr; $ls),
                     gateway_own_us: $lg.gateway_own_us,
                     paired: ($all | paired($p)),
                     added_ttfb_us: (if $p == "sse" then {p50: d($lg.loadgen.ttfb_us.p50; $ls.loadgen.ttfb_us.p50),
                                p99: d($lg.loadgen.ttfb_us.p99; $ls.loadgen.ttfb_us.p99),
                                first_event_p50: d($lg.loadgen.first_event_us.p50; $ls.loadgen.first_event_us.p50),
                                relay_p50: d($lr.loadgen.ttfb_us.p50; $ls.loadgen.ttfb_us.p50),
                                relay_p99: d($lr.loadgen.ttfb_us.p99; $ls.loadgen.ttfb_us.p99)}
                                else null end)},
           latency_low: (if $ks == null then null else {straight: $ks.loadgen, gateway: $kg.loadgen, relay: $kr.loadgen,
                     added_us: added($kg; $ks), relay_added_us: added($kr; $ks),
                     gateway_own_us: $kg.gateway_own_us} end),
           cpu_us_per_request: {throughput: {straight: $ts.cpu_us_per_request, gateway: $tg.cpu_us_per_request,
                                             relay: $tr.cpu_us_per_request},
                                latency: {straight: $ls.cpu_us_per_request, gateway: $lg.cpu_us_per_request,
                                          relay: $lr.cpu_us_per_request}}}}) | from_entries),
     memory: ($memory + {gateway_rss_kb_after_throughput: [$all[] | select(.kind == "throughput" and .target == "gateway")
                  | {payload, requests: .wrk.requests, rss_kb: .gateway_rss_kb_after}]}),
     open_streams: $streams, usage_check: $usage,
     targets: ($all | thresholds("gateway") + {
       added_latency_60KB_paired_median_p50_le_100us: le($all | paired("60KB") | .median.added_p50; 100),
       added_latency_60KB_paired_median_p99_le_1ms: le($all | paired("60KB") | .median.added_p99; 1000),
       throughput_200B_paired_median_ge_50pct: ($all | paired_throughput("200B") | if . == null then null else .median.ratio >= 0.5 end),
       throughput_60KB_paired_median_ge_50pct: ($all | paired_throughput("60KB") | if . == null then null else .median.ratio >= 0.5 end),
       gateway_rss_1000_streams_le_100MB: ($streams.gateway_rss_peak_kb <= 102400 and $streams.max_open_client_connections >= 900 and $streams.errors == 0),
       usage_ledger_matches_upstream: $usage.consistent,
       # The same thresholds for the byte relay: whether any proxy could meet them on this machine.
       floor: thresholds("relay")}),
     raw: $all}' "$results" >"$out"

"$root/bench/e2e/report.sh" "$out"
log "JSON written to $out"
