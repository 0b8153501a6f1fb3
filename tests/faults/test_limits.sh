#!/bin/sh
# test_limits.sh LIBRALLO TARGET [VALGRIND] - issue 14.7 and 14.6's booleans:
# - under ulimit -v 1000000 a program gets about as many 1 MiB blocks with
#   RALLO_ENABLE=1 as with rallo off, and tracking is on (a smaller arena);
# - under valgrind RALLO_ENABLE=1 tracks (the 1 TiB arena does not fit there);
# - every boolean variable takes 1/0, true/false, yes/no, on/off in any case.
lib=$1 target=$2 valgrind=$3
failed=0
fail() { echo "FAILED: $*"; failed=1; }
field() { sed -n "s/.* $1 \([-0-9]*\).*/\1/p"; }

# 1 MiB blocks under an address-space limit. rallo-on's arena (64 MiB at this
# limit) holds tracked 1 MiB blocks in 1.5 MiB pages (mimalloc rounds them),
# and the depot takes 4 MiB: at most 32 fewer blocks than rallo-off.
off=$( (ulimit -v 1000000; RALLO_ENABLE=0 LD_PRELOAD=$lib "$target" fill) 2>/dev/null)
on=$( (ulimit -v 1000000; RALLO_ENABLE=1 LD_PRELOAD=$lib "$target" fill) 2>/tmp/rallo-limits-$$)
said=$(cat /tmp/rallo-limits-$$); rm -f /tmp/rallo-limits-$$
echo "ulimit -v 1000000: off: $off; on: $on; stderr: $said"
off_blocks=$(echo "$off" | sed -n 's/^blocks \([0-9]*\).*/\1/p')
on_blocks=$(echo "$on" | sed -n 's/^blocks \([0-9]*\).*/\1/p')
[ -n "$off_blocks" ] && [ -n "$on_blocks" ] || fail "no count"
[ "$on_blocks" -ge $((off_blocks - 32)) ] 2>/dev/null || fail "rallo-on got $on_blocks blocks, rallo-off $off_blocks"
[ "$(echo "$on" | field enabled)" = 1 ] || fail "tracking not on under ulimit -v"
[ "$(echo "$on" | field tracked)" -gt 0 ] 2>/dev/null || fail "nothing tracked under ulimit -v"
[ "$(echo "$said" | grep -c 'rallo: tracked arena of 64 MiB')" = 1 ] || fail "not one line naming the arena taken"

# valgrind: its own malloc stays out of the program (nouserintercepts), rallo's runs.
if [ -n "$valgrind" ]; then
    out=$(RALLO_ENABLE=1 LD_PRELOAD=$lib "$valgrind" -q --soname-synonyms=somalloc=nouserintercepts "$target" small 2>/dev/null)
    echo "valgrind: $out"
    [ "$(echo "$out" | field enabled)" = 1 ] || fail "tracking not on under valgrind"
    [ "$(echo "$out" | field tracked)" = 100 ] || fail "under valgrind, not 100 allocations tracked"
fi

# Booleans: one parser. Good values are taken silently, bad ones with one line.
for value in 1 true TRUE True yes YES on On; do
    out=$(RALLO_ENABLE=$value LD_PRELOAD=$lib "$target" small 2>/tmp/rallo-bool-$$)
    [ "$(echo "$out" | field enabled)" = 1 ] || fail "RALLO_ENABLE=$value not taken as on"
    [ -s /tmp/rallo-bool-$$ ] && fail "RALLO_ENABLE=$value: $(cat /tmp/rallo-bool-$$)"
done
for value in 0 false FALSE no No off OFF ""; do
    out=$(RALLO_ENABLE=$value LD_PRELOAD=$lib "$target" small 2>/tmp/rallo-bool-$$)
    [ "$(echo "$out" | field enabled)" = 0 ] || fail "RALLO_ENABLE=$value not taken as off"
    [ -s /tmp/rallo-bool-$$ ] && fail "RALLO_ENABLE=$value: $(cat /tmp/rallo-bool-$$)"
done
for variable in RALLO_ENABLE RALLO_DUMP_ON_EXIT RALLO_FOLLOW; do
    env "$variable=maybe" LD_PRELOAD=$lib "$target" small >/dev/null 2>/tmp/rallo-bool-$$
    [ "$(grep -c "ignoring $variable: expected 1 or 0" /tmp/rallo-bool-$$)" = 1 ] ||
        fail "$variable=maybe: not one line: $(cat /tmp/rallo-bool-$$)"
    env "$variable=YES" LD_PRELOAD=$lib RALLO_DUMP_DIR=/tmp/rallo-bool-dir-$$ "$target" small >/dev/null 2>/tmp/rallo-bool-$$
    grep -q "ignoring" /tmp/rallo-bool-$$ && fail "$variable=YES refused: $(cat /tmp/rallo-bool-$$)"
done
rm -rf /tmp/rallo-bool-$$ /tmp/rallo-bool-dir-$$
exit $failed
