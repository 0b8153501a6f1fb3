#!/bin/sh
# needed.sh LIBRALLO - librallo.so depends on libmimalloc and libc and nothing
# else: every library it needed would be mapped (and partly faulted in) by
# every process that preloads it, tracking or not. Reporting's libraries live
# in librallo-report.so, loaded on demand; libm's two functions are rallo's own.
needed=$(readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
echo "NEEDED: $needed"
[ "$needed" = "libc.so.6 libmimalloc.so.2 " ] || { echo "expected exactly libc.so.6 libmimalloc.so.2" >&2; exit 1; }
