#!/bin/sh
# needed.sh LIBRALLO [EXTRA...] - librallo.so depends on libmimalloc and libc
# (and the EXTRA libraries a sanitizer build adds) and nothing else: every
# library it needed would be mapped, and partly faulted in, by every process
# that preloads it, tracking or not. Reporting's libraries live in
# librallo-report.so, loaded on demand; libm's two functions are rallo's own.
library=$1
shift
needed=$(readelf -d "$library" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
expected=$(printf '%s\n' libc.so.6 libmimalloc.so.2 "$@" | sort | tr '\n' ' ')
echo "NEEDED: $needed"
[ "$needed" = "$expected" ] || { echo "expected exactly $expected" >&2; exit 1; }
