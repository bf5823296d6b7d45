#!/usr/bin/env bash
# Installs the Debian 12 packages the project needs to build, test and run — only those missing.
# Safe to run again: it does nothing when everything is there.
set -euo pipefail

# libmimalloc-dev: the services' malloc (see common/runtime.h).
PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates ccache
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  nlohmann-json3-dev libspdlog-dev libgtest-dev libgmock-dev libbenchmark-dev
  libssl-dev libboost1.81-dev libmimalloc-dev
)
# tests/fuzz: libFuzzer comes with clang (deploy/fuzz.sh, the fuzz_short test).
PACKAGES+=(clang-14 libclang-rt-14-dev)
# tests/integration/grpc_security_test makes its CA and certificates with the openssl command.
PACKAGES+=(openssl)
# tests/deploy: Debian's docker-compose (1.29, Python; 16 small packages without recommends, no
# Docker engine) resolves docker-compose.yml; python3-yaml reads it.
PACKAGES+=(python3-yaml docker-compose)
# tests/sdk runs the official npm SDKs: Node.js and npm, from Debian unless some node and npm are
# already there (a Node.js package that bundles npm conflicts with Debian's npm).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi
# tests/dashboard drives Debian's Chromium (headless) with playwright-core; playwright's own browser
# downloads are never used.
PACKAGES+=(chromium)
if [[ "${1:-}" == "--with-bench" ]]; then
  PACKAGES+=(wrk)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
