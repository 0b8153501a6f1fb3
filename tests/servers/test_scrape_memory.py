#!/usr/bin/env python3
"""test_scrape_memory.py - what a scrape leaves in the host (issue 18 point
3): scrape_probe serves RALLO_HTTP; its private memory (Private_Dirty +
Private_Clean of its anonymous and file mappings, smaps_rollup) is read
before and after scrapes.
  - ?symbolize=0: the profile names no frame ("probe_site" is nowhere in
    its gunzipped bytes) and, 2 s after the answer, the host holds at most 2 MiB more than before:
    no symbolizer was built;
  - symbolized: the profile names probe_site; the symbolizer (libdw's
    reading of libc's DWARF, over 10 MiB) is still there right after, for the
    next scrape; 7 s after the last symbolized scrape the host holds at most
    2 MiB more than before it.
Usage: test_scrape_memory.py PROBE"""
import gzip
import os
import subprocess
import sys
import time
import urllib.request

PROBE = sys.argv[1]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from checks import check, finish  # noqa: E402 (tests/common)
from http_probe import free_port  # noqa: E402

LIMIT_KIB = 2048


def private_kib(pid):
    total = 0
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith(("Private_Dirty:", "Private_Clean:")):
                total += int(line.split()[1])
    return total


def scrape(port, query):
    url = "http://127.0.0.1:%d/debug/pprof/allocs%s" % (port, query)
    with urllib.request.urlopen(url, timeout=120) as r:
        return gzip.decompress(r.read())


def main():
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RALLO_") and k != "LD_PRELOAD"}
    env.update({"RALLO_ENABLE": "1", "RALLO_HTTP": "127.0.0.1:%d" % port})
    probe = subprocess.Popen([PROBE], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        check(probe.stdout.readline().strip() == "ready", "the probe is up")
        probe.stdin.write("a 100\n")
        probe.stdin.flush()
        check(probe.stdout.readline().startswith("done"), "the probe allocated at probe_site")
        scrape(port, "?symbolize=0")  # the server's own start-up memory is not a scrape's
        time.sleep(2)
        base = private_kib(probe.pid)
        body = scrape(port, "?symbolize=0")
        check(b"probe_site" not in body, "?symbolize=0 names no frame")
        time.sleep(2)
        grown = private_kib(probe.pid) - base
        check(grown <= LIMIT_KIB, "?symbolize=0 leaves %d KiB (at most %d)" % (grown, LIMIT_KIB))

        base = private_kib(probe.pid)
        body = scrape(port, "")
        check(b"probe_site" in body, "a symbolized scrape names probe_site")
        scrape(port, "")
        kept = private_kib(probe.pid) - base
        check(kept > LIMIT_KIB, "right after, the symbolizer is kept for the next scrape (%d KiB)" % kept)
        time.sleep(7)
        grown = private_kib(probe.pid) - base
        check(grown <= LIMIT_KIB, "7 s later the host holds %d KiB more (at most %d)" % (grown, LIMIT_KIB))
    finally:
        probe.stdin.close()
        probe.wait(timeout=30)
    finish()


if __name__ == "__main__":
    main()
