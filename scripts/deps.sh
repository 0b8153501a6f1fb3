#!/usr/bin/env bash
# deps.sh - installs what rallo needs on a fresh Debian 12 machine (as root):
# the build, the tests' real consumers (go tool pprof, Chromium, valgrind) and
# the comparison tools of the benchmarks. Safe to run again: it only installs
# what is missing.
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  libmimalloc-dev libcmocka-dev libdw-dev libelf-dev zlib1g-dev
  libprotobuf-c-dev protobuf-c-compiler libmicrohttpd-dev libunwind-dev
  python3 perl git coreutils procps curl
  golang-go chromium valgrind clang llvm libclang-rt-14-dev
  heaptrack libjemalloc2 libjemalloc-dev google-perftools libgoogle-perftools-dev time
  nginx-light postgresql
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
# Node.js: the machine's own (nodesource, npm built in) when present, else Debian's.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "deps.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The browser and pprof-format tests need their npm packages (package-lock.json pins them).
root=$(cd "$(dirname "$0")/.." && pwd)
for dir in "$root"/tests/*/; do
  if [ -f "$dir/package-lock.json" ] && [ ! -d "$dir/node_modules" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
done
