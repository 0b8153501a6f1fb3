#!/usr/bin/env bash
# demo.sh - installs what is missing, builds rallo, and profiles the bundled demo
# program: prints its top sites and where the HTML flame graph is.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh" build
# The tests are not built here: their tools (cmocka, Chromium, Go, valgrind) are the test command's.
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release -DRALLO_BUILD_TESTS=OFF >/dev/null
cmake --build "$root/build" -j"$(nproc)" >/dev/null
out="$root/out/demo"
mkdir -p "$out"
if [ -x "$root/build/rallo" ]; then
  exec "$root/build/rallo" run -o "$out" -- "$root/build/rallo-demo"
fi
# Before the rallo command exists: the demo with rallo preloaded and tracking on.
RALLO_ENABLE=1 RALLO_DUMP_ON_EXIT=1 RALLO_DUMP_DIR="$out" RALLO_DUMP_FORMATS=html,text \
  LD_PRELOAD="$root/build/librallo.so" "$root/build/rallo-demo"
