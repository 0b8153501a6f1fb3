#!/usr/bin/env bash
# deps.sh - installs what rallo needs on a fresh Debian 12 machine (as root).
#   deps.sh build : only what building librallo, librallo-report and the rallo
#                   command needs (the README's first command, scripts/demo.sh)
#   deps.sh [test]: that, and the tests' real consumers (go tool pprof, Chromium,
#                   valgrind, real servers) and the benchmarks' comparison tools
# Safe to run again: it only installs what is missing.
set -euo pipefail
mode=${1:-test}
case "$mode" in
  build | test) ;;
  *) echo "deps.sh: unknown mode '$mode' (build or test)" >&2; exit 2 ;;
esac
build_packages=(
  build-essential cmake pkg-config
  libmimalloc-dev libdw-dev libelf-dev zlib1g-dev
  libprotobuf-c-dev protobuf-c-compiler libmicrohttpd-dev
)
packages=(
  libcmocka-dev libunwind-dev
  python3 perl git coreutils procps curl
  golang-go chromium valgrind clang llvm libclang-rt-14-dev
  heaptrack libjemalloc2 libjemalloc-dev google-perftools libgoogle-perftools-dev time
  nginx-light apache2-utils postgresql
)
[ "$mode" = build ] && packages=()
missing=()
for package in "${build_packages[@]}" "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
# Node.js: the machine's own (nodesource, npm built in) when present, else Debian's.
[ "$mode" = build ] || command -v node >/dev/null 2>&1 || missing+=(nodejs)
[ "$mode" = build ] || command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "deps.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ "$mode" = build ] && exit 0
# The browser and pprof-format tests need their npm packages (package-lock.json pins them).
root=$(cd "$(dirname "$0")/.." && pwd)
for dir in "$root"/tests/*/; do
  if [ -f "$dir/package-lock.json" ] && [ ! -d "$dir/node_modules" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
done
