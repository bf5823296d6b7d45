#!/usr/bin/env bash
# Configures and builds the project with Ninja (and ccache when present) into BUILD_DIR.
# Usage: deploy/build.sh <build-dir> <build-type> [extra cmake args...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="$1"
build_type="$2"
shift 2
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" "$@" >/dev/null
jobs="${LUNA_BUILD_JOBS:-$(nproc)}"
cmake --build "$build_dir" -j "$jobs"
