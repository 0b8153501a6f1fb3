#!/bin/sh
# install.sh BUILD_DIR: `cmake --install` into a new prefix (not the one the
# build was configured with, so the package files must be relocatable), then a
# program built against it the two ways a user would, with pkg-config (rallo.pc)
# and with find_package(rallo) (tests/allocator/install/CMakeLists.txt). Each
# must bind malloc to the installed librallo and count a block with tracking on,
# and the installed report library must write a dump at exit.
set -eu
build=$1
here=$(cd "$(dirname "$0")/install" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(dirname "$(find "$prefix" -name 'librallo.so' | head -n 1)")
[ -f "$libdir/librallo-report.so" ] || { echo "FAIL: librallo-report.so not installed beside librallo"; exit 1; }

check() { # check NAME BINARY
  mkdir "$work/dump-$1"
  out=$(LD_LIBRARY_PATH=$libdir RALLO_ENABLE=1 RALLO_DUMP_ON_EXIT=1 RALLO_DUMP_DIR=$work/dump-$1 \
        RALLO_DUMP_FORMATS=json "$2")
  [ "$out" = "enabled=1 counted=1" ] || { echo "FAIL: $1: $out"; exit 1; }
  LD_LIBRARY_PATH=$libdir ldd "$2" | grep -q "librallo.so.* => $libdir/" ||
    { echo "FAIL: $1 does not load the installed librallo"; LD_LIBRARY_PATH=$libdir ldd "$2"; exit 1; }
  # The json is written by the installed `rallo` command, a helper the program
  # starts at exit (found in the prefix's bin/ from the library's place).
  for _ in $(seq 300); do ls "$work/dump-$1"/rallo.*.final.json >/dev/null 2>&1 && break; sleep 0.1; done
  ls "$work/dump-$1"/rallo.*.final.json >/dev/null 2>&1 || { echo "FAIL: $1: no dump at exit"; exit 1; }
  echo "ok: $1 ($out, dump written)"
}

# pkg-config, with nothing but the installed rallo.pc to go on.
PKG_CONFIG_PATH=$libdir/pkgconfig
export PKG_CONFIG_PATH
cc -o "$work/consumer-pc" "$here/consumer.c" $(pkg-config --cflags --libs rallo)
check pkg-config "$work/consumer-pc"

# CMake, find_package(rallo) from the prefix.
cmake -S "$here" -B "$work/consumer-build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/consumer-build" >/dev/null
check find_package "$work/consumer-build/consumer"
echo "install: both ways ok"
