#!/usr/bin/env python3
"""check_cu_ranges.py - no invented lines: rallo's symbolizer on every address
of a -O2 -g C++ program's .text, against two outside tools:
    check_cu_ranges.py SYM_ADDRESSES FIXTURE
- nm -S: bytes that no function symbol covers (padding between functions) are
  no code of any compilation unit (its ranges leave them out); rallo must give
  them no file:line. The line table's row before them runs on over them, so
  libdwfl's lookup, and addr2line, answer basic_string.h:795 for the padding
  after main, the way rallo labelled crt's _start in cc1plus;
- addr2line: where a function covers the address and addr2line names a line,
  rallo names the same line for nearly every address."""
import re
import subprocess
import sys

SYM, FIXTURE = sys.argv[1:3]


def output(args, stdin=None):
    return subprocess.run(args, input=stdin, capture_output=True, text=True, check=True, timeout=120).stdout


sections = output(["readelf", "-SW", FIXTURE])
text = re.search(r"\]\s+\.text\s+PROGBITS\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", sections)
start, size = int(text.group(1), 16), int(text.group(2), 16)
covered = bytearray(size)
for line in output(["nm", "-S", "--defined-only", FIXTURE]).splitlines():
    fields = line.split()
    if len(fields) == 4 and fields[2] in "tTwW":
        begin, length = int(fields[0], 16), int(fields[1], 16)
        for a in range(max(begin, start), min(begin + length, start + size)):
            covered[a - start] = 1
addresses = "".join("%x\n" % a for a in range(start, start + size))
theirs = [re.sub(r" \(discriminator \d+\)$", "", l) for l in output(["addr2line", "-e", FIXTURE], addresses).splitlines()]
ours = [l.split(" ", 1)[1] for l in output([SYM, FIXTURE], addresses).splitlines()]
if len(theirs) != size or len(ours) != size:
    print("FAIL: %d addresses, addr2line answered %d, rallo %d" % (size, len(theirs), len(ours)))
    sys.exit(1)
invented, agree, differ, gaps = [], 0, [], 0
for offset, (a, b) in enumerate(zip(theirs, ours)):
    known = not (a.startswith("??:") or a.endswith(":?") or a.endswith(":0"))
    if not covered[offset]:
        gaps += 1
        if not b.startswith("??:"):
            invented.append("%x (in no function): rallo %s, addr2line %s" % (start + offset, b, a))
    elif known and b.split(":")[-1] == a.split(":")[-1]:
        agree += 1
    elif known:
        differ.append("%x: rallo %s, addr2line %s" % (start + offset, b, a))
print("%d addresses of .text: %d in no function, %d lines invented by rallo there; elsewhere %d agree with "
      "addr2line, %d differ" % (size, gaps, len(invented), agree, len(differ)))
for line in invented[:10] + differ[:10]:
    print("  " + line)
failed = False
if gaps == 0:
    print("FAIL: the fixture has no bytes outside every function: the check proves nothing")
    failed = True
if invented:
    print("FAIL: rallo named a line for bytes that belong to no function")
    failed = True
if agree < 0.95 * (agree + len(differ)) or agree == 0:
    print("FAIL: rallo and addr2line agree on fewer than 95% of the lines")
    failed = True
sys.exit(1 if failed else 0)
