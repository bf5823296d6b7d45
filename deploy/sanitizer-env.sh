# Sourced (bash): the sanitizer settings for running a LUNA_SANITIZE=ON build's tests, e.g.
#   source deploy/sanitizer-env.sh build-asan/sanitizer-reports && (cd build-asan && ctest -j2)
#   luna_sanitizer_reports   # prints every report written meanwhile; non-zero if there is one
# Every process of ours — test binaries and the services they start, which inherit the environment —
# stops at its first finding (UBSan included), checks for leaks at exit, and writes its report to
# <dir>/asan.<binary>.<pid> (UBSan: see below). A service's report thus survives the test's temporary
# directory and a test that never looks at the service's exit status: luna_sanitizer_reports fails
# the run on it.
luna_sanitizer_dir="$(mkdir -p "$1" && cd "$1" && pwd)"
rm -f "$luna_sanitizer_dir"/asan.* "$luna_sanitizer_dir"/ubsan.* "$luna_sanitizer_dir"/child.*
luna_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:print_stacktrace=1:strict_init_order=1:detect_stack_use_after_return=0:log_exe_name=1:log_path=$luna_sanitizer_dir/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$luna_sanitizer_dir/ubsan"
# GCC's UBSan ignores log_path when ASan is linked too: its reports go to stderr. A test binary's own
# then fail its test; a service's land in its log, which tests/support/process.cpp copies here.
export LUNA_SANITIZER_REPORT_DIR="$luna_sanitizer_dir"
export LSAN_OPTIONS="suppressions=$luna_root/tests/sanitizers/lsan.supp:print_suppressions=0"

luna_sanitizer_reports() {
  local found=0 f
  for f in "$luna_sanitizer_dir"/asan.* "$luna_sanitizer_dir"/ubsan.* "$luna_sanitizer_dir"/child.*; do
    [[ -e "$f" ]] || continue
    found=1
    echo "==== sanitizer report $f" >&2
    cat "$f" >&2
  done
  if [[ $found -eq 1 ]]; then
    echo "sanitizers: FAILED: the reports above ($luna_sanitizer_dir)" >&2
    return 1
  fi
  echo "sanitizers: no report"
}
