#!/usr/bin/env python3
"""test_scrape.py - RALLO_HTTP scraped the way Grafana Alloy and Parca scrape
a Go service (net/http/pprof), against scrape_probe, which allocates exactly
N blocks of 4096 bytes at probe_site when told:
  - /debug/pprof/allocs fetched, 1000 blocks allocated, fetched again:
    `go tool pprof -base FIRST SECOND` gives probe_site exactly 1000 objects
    and 4,096,000 bytes of alloc_space (every allocation is tracked);
  - ?seconds=2 while the probe allocates 700 blocks in the window: the
    response alone holds exactly 700 and 2,867,200 at probe_site, and a
    plain GET is answered meanwhile (within 1 s, not after the window);
  - every profile response is Content-Type application/octet-stream, gzip,
    read by go tool pprof; /debug/pprof/ is an index linking heap and
    allocs; ?debug=1 is the text report, ?gc=1 accepted;
  - ?symbolize=0, and RALLO_HTTP_SYMBOLIZE=0 as the default: no location
    has a name, every mapping has a GNU build ID (go tool pprof -raw);
    ?symbolize=1 there names probe_site again;
  - seconds=0, -1, abc, 61, 1k, debug=x and symbolize=2 get 400, and the
    probe goes on.
Usage: test_scrape.py PROBE WORKDIR"""
import os
import re
import shutil
import subprocess
import sys
import threading
import time

PROBE, WORK = sys.argv[1:3]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import http_probe  # noqa: E402 (tests/common)
from checks import check, finish  # noqa: E402
from http_probe import free_port  # noqa: E402


def get(port, path, timeout=30):
    """(status, headers dict, body, seconds)."""
    reply = http_probe.exchange(http_probe.tcp(port), http_probe.request(path.encode()), timeout)
    return (0, {}, b"", reply.seconds) if reply.cut else (reply.status, reply.headers, reply.body, reply.seconds)


gohome = os.path.join(WORK, "gohome")
goenv = dict(os.environ, HOME=gohome, GOCACHE=os.path.join(gohome, "cache"), GOFLAGS="-mod=mod")


def pprof(*args):
    return subprocess.run(["go", "tool", "pprof"] + list(args), capture_output=True, text=True, env=goenv,
                          timeout=120)


def probe_values(*files):
    """probe_site's (alloc_objects, alloc_space) from go tool pprof -raw
    (with -base when two files are given): the sum over samples whose stack
    holds probe_site."""
    args = ["-raw"] + (["-base", files[0], files[1]] if len(files) == 2 else [files[0]])
    raw = pprof(*args)
    if raw.returncode != 0:
        return None
    # -raw: a "Samples:" header naming the types, then per sample a values
    # line ("   N   M ...: id id id") and the location ids; "Locations" maps
    # ids to functions.
    text = raw.stdout
    types = re.search(r"Samples:\n(.*)\n", text).group(1).split()
    locations = {}
    for line in text.split("Locations", 1)[1].splitlines():
        m = re.match(r"\s*(\d+):\s+0x[0-9a-f]+\s+M=\d+\s+(\S+)", line)
        if m:
            locations[m.group(1)] = m.group(2)
    objects = space = 0
    samples = text.split("Samples:", 1)[1].split("Locations", 1)[0]
    for line in samples.splitlines()[2:]:
        m = re.match(r"\s*(-?\d+(?:\s+-?\d+)*)\s*:\s*(.*)", line)
        if not m:
            continue
        values = [int(v) for v in m.group(1).split()]
        ids = m.group(2).split()
        if any(locations.get(i) == "probe_site" for i in ids):
            named = dict(zip([t.split("/")[0] for t in types], values))
            objects += named.get("alloc_objects", 0)
            space += named.get("alloc_space", 0)
    return objects, space


def unsymbolized(body, label):
    path = os.path.join(WORK, "unsymbolized.pb.gz")
    with open(path, "wb") as f:
        f.write(body)
    raw = pprof("-raw", "-symbolize=none", path)  # as served: pprof would name local binaries itself
    locations = raw.stdout.split("Locations", 1)[-1].split("Mappings", 1)[0].strip().splitlines()
    mappings = raw.stdout.split("Mappings", 1)[-1].strip().splitlines()
    named = [line for line in locations if not re.match(r"\s*\d+:\s+0x[0-9a-f]+\s+M=\d+\s*$", line)]
    no_id = [line for line in mappings if not re.search(r"\s[0-9a-f]{40}(\s|$)", line)]
    check(raw.returncode == 0 and len(locations) > 0 and not named,
          "%s: %d locations, none named (%s)" % (label, len(locations), named[:2]))
    check(len(mappings) > 0 and not no_id, "%s: a build ID in every mapping (%s)" % (label, no_id[:2]))


def main():
    if shutil.which("go") is None:
        check(False, "go is installed (scripts/deps.sh)")
        return
    os.makedirs(WORK, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RALLO_")}
    env.update(RALLO_ENABLE="1", RALLO_HTTP=":%d" % port)
    probe = subprocess.Popen([PROBE], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def allocate(n):
        probe.stdin.write("a %d\n" % n)
        probe.stdin.flush()
        return probe.stdout.readline().strip() == "done %d" % n

    try:
        check(probe.stdout.readline().strip() == "ready", "the probe is up")
        end = time.time() + 10
        while time.time() < end and get(port, "/debug/pprof/")[0] != 200:
            time.sleep(0.1)
        files = []
        for name in ["first", "second"]:
            status, headers, body, _ = get(port, "/debug/pprof/allocs")
            check(status == 200 and headers.get("content-type") == "application/octet-stream" and body[:2] == b"\x1f\x8b",
                  "allocs: 200, application/octet-stream, gzip (%d %s)" % (status, headers.get("content-type")))
            path = os.path.join(WORK, name + ".pb.gz")
            with open(path, "wb") as f:
                f.write(body)
            files.append(path)
            if name == "first":
                check(allocate(1000), "the probe allocated 1000 blocks")
        got = probe_values(*files)
        check(got == (1000, 4096000), "go tool pprof -base: probe_site (objects, bytes) %s, want (1000, 4096000)" % (got,))
        # ?seconds=2 (Alloy's delta mode), other clients served meanwhile.
        result = {}

        def delta():
            result["reply"] = get(port, "/debug/pprof/allocs?seconds=2")

        thread = threading.Thread(target=delta)
        thread.start()
        time.sleep(0.5)
        status, _, _, took = get(port, "/debug/pprof/heap")
        check(status == 200 and took < 1.0, "a GET during ?seconds=2 is answered at once (%d in %.2f s)" % (status, took))
        check(allocate(700), "the probe allocated 700 blocks in the window")
        thread.join(timeout=30)
        status, headers, body, took = result.get("reply", (0, {}, b"", 0))
        check(status == 200 and headers.get("content-type") == "application/octet-stream" and took >= 2.0,
              "?seconds=2: %d, %s, after %.2f s" % (status, headers.get("content-type"), took))
        path = os.path.join(WORK, "delta.pb.gz")
        with open(path, "wb") as f:
            f.write(body)
        got = probe_values(path)
        check(got == (700, 2867200), "?seconds=2 alone: probe_site %s, want (700, 2867200)" % (got,))
        status, headers, body, _ = get(port, "/debug/pprof/heap?gc=1")
        path = os.path.join(WORK, "heap.pb.gz")
        with open(path, "wb") as f:
            f.write(body)
        check(status == 200 and headers.get("content-type") == "application/octet-stream" and pprof("-raw", path).returncode == 0,
              "heap?gc=1: 200, octet-stream, read by go tool pprof")
        status, headers, body, _ = get(port, "/debug/pprof/")
        check(status == 200 and headers.get("content-type", "").startswith("text/html") and b'href="heap' in body
              and b'href="allocs' in body, "/debug/pprof/: an index linking heap and allocs")
        status, headers, body, _ = get(port, "/debug/pprof/allocs?debug=1")
        check(status == 200 and headers.get("content-type", "").startswith("text/plain") and b"probe_site" in body,
              "allocs?debug=1: text naming probe_site")
        status, _, body, _ = get(port, "/debug/pprof/allocs?symbolize=0")
        unsymbolized(body, "allocs?symbolize=0")
        for bad in ["seconds=0", "seconds=-1", "seconds=abc", "seconds=61", "seconds=1k", "debug=x", "symbolize=2"]:
            status, _, _, _ = get(port, "/debug/pprof/allocs?" + bad)
            check(status == 400, "?%s: 400 (%d)" % (bad, status))
        check(allocate(1) and probe.poll() is None, "the probe goes on")
    finally:
        probe.stdin.close()
        code = probe.wait(timeout=30)
    check(code == 0, "the probe exited normally (%d)" % code)
    # RALLO_HTTP_SYMBOLIZE=0: unsymbolized unless asked.
    env["RALLO_HTTP_SYMBOLIZE"] = "0"
    probe = subprocess.Popen([PROBE], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        check(probe.stdout.readline().strip() == "ready" and allocate(10), "a probe with RALLO_HTTP_SYMBOLIZE=0")
        end = time.time() + 10
        while time.time() < end and get(port, "/debug/pprof/")[0] != 200:
            time.sleep(0.1)
        unsymbolized(get(port, "/debug/pprof/allocs")[2], "RALLO_HTTP_SYMBOLIZE=0")
        path = os.path.join(WORK, "symbolized.pb.gz")
        with open(path, "wb") as f:
            f.write(get(port, "/debug/pprof/allocs?symbolize=1")[2])
        got = probe_values(path)
        check(got is not None and got[0] == 10, "?symbolize=1 there: probe_site named (%s)" % (got,))
    finally:
        probe.stdin.close()
        probe.wait(timeout=30)


main()
finish()
