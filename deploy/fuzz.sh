#!/usr/bin/env bash
# Fuzzes the conversion layer and the SSE parser with libFuzzer (clang from Debian) for a bounded
# time: deploy/fuzz.sh [SECONDS, default 60]. Seeds come from tests/golden; findings are written to
# build-fuzz/ and the script exits non-zero on the first crash or broken invariant.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-60}"
"$root/deploy/install-deps.sh"
missing=()
for p in clang-14 libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

out="$root/build-fuzz"
mkdir -p "$out/corpus" "$out/seeds"
sources=("$root"/gateway/convert/*.cpp "$root/tests/unit/convert/stream_support.cpp" "$root/tests/fuzz/convert_fuzz.cpp")
clang++-14 -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$root" "${sources[@]}" -labsl_statusor -labsl_status -labsl_strings -labsl_cord -labsl_raw_logging_internal \
  -o "$out/convert_fuzz"

# Seeds: every golden stream, fed to the matching stream converter (mode byte 5: OpenAI -> Anthropic,
# 6: Anthropic -> OpenAI), plus a few request bodies for the request converters (1, 2).
i=0
for f in "$root"/tests/golden/o2a/*.input.sse; do { printf '\x05'; cat "$f"; } > "$out/seeds/o2a_$((i++))"; done
for f in "$root"/tests/golden/a2o/*.input.sse; do { printf '\x06'; cat "$f"; } > "$out/seeds/a2o_$((i++))"; done
printf '\x01{"model":"m","max_tokens":9,"system":[{"type":"text","text":"S","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"}]}' > "$out/seeds/a2o_req"
printf '\x02{"model":"m","messages":[{"role":"system","content":"S"},{"role":"user","content":"q"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}' > "$out/seeds/o2a_req"

cd "$out"
./convert_fuzz -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 corpus seeds
