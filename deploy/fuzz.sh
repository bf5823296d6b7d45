#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang-14 (AddressSanitizer + UndefinedBehaviorSanitizer)
# and runs each for a bounded time: deploy/fuzz.sh [SECONDS per target, default 60] [TARGET...]
# Targets: convert sse http_request http_server config legacy_import (default: all).
# Each starts from its seeds in tests/fuzz/corpus/<target> plus what earlier runs found
# (<build>/corpus/<target>); a crash or broken invariant is saved as <build>/artifacts/<target>-*
# and the script exits non-zero. Replay one with: <build>/tests/fuzz/<target>_fuzz <that file>.
# Environment: LUNA_FUZZ_BUILD_DIR (default build-fuzz); LUNA_FUZZ_NO_INSTALL=1 installs nothing and
# exits 77 (ctest's "skipped") when clang-14 or libFuzzer is missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds=60
if [[ $# -gt 0 && "$1" =~ ^[0-9]+$ ]]; then
  seconds="$1"
  shift
fi
all=(convert sse http_request http_server config legacy_import)
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=("${all[@]}")
for t in "${targets[@]}"; do
  [[ " ${all[*]} " == *" $t "* ]] || { echo "fuzz: unknown target $t (known: ${all[*]})" >&2; exit 2; }
done

have_libfuzzer() {
  command -v clang++-14 >/dev/null 2>&1 || return 1
  echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' |
    clang++-14 -x c++ - -fsanitize=fuzzer -o /dev/null >/dev/null 2>&1
}
if [[ "${LUNA_FUZZ_NO_INSTALL:-0}" == "1" ]]; then
  if ! have_libfuzzer; then
    echo "fuzz: SKIPPED: clang-14 with libFuzzer (packages clang-14 libclang-rt-14-dev) is not installed;" \
      "deploy/install-deps.sh installs them" >&2
    exit 77
  fi
else
  "$root/deploy/install-deps.sh"
  have_libfuzzer || { echo "fuzz: clang-14 cannot link libFuzzer" >&2; exit 1; }
fi

out="${LUNA_FUZZ_BUILD_DIR:-$root/build-fuzz}"
CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLUNA_BUILD_TESTS=OFF -DLUNA_SANITIZE=ON -DLUNA_FUZZ=ON >/dev/null
names=()
for t in "${targets[@]}"; do names+=("${t}_fuzz"); done
cmake --build "$out" -j "${LUNA_BUILD_JOBS:-$(nproc)}" --target "${names[@]}"

mkdir -p "$out/artifacts"
failed=()
for t in "${targets[@]}"; do
  mkdir -p "$out/corpus/$t"
  echo "fuzz: $t for ${seconds} s"
  # The server target's own threads allocate while an input runs, which libFuzzer's per-input leak
  # check takes for a leak: its leaks are left to the sanitizer test suite.
  extra=()
  [[ "$t" == http_server ]] && extra+=(-detect_leaks=0)
  if ! (cd "$out" && "./tests/fuzz/${t}_fuzz" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -max_len=8192 \
      -print_final_stats=1 -artifact_prefix="$out/artifacts/$t-" "${extra[@]}" \
      "corpus/$t" "$root/tests/fuzz/corpus/$t" >"$out/$t.log" 2>&1); then
    failed+=("$t")
    tail -n 60 "$out/$t.log" >&2
  fi
  grep -E "^stat::number_of_executed_units|^Done [0-9]+ runs" "$out/$t.log" | tail -n 1 | sed "s/^/fuzz: $t: /"
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $out/artifacts/, logs in $out/<target>.log)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} target(s), ${seconds} s each: no finding"
