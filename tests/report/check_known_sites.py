#!/usr/bin/env python3
"""check_known_sites.py - runs known_sites with librallo preloaded and checks
its json, folded and text dumps against the counts the program is known to
make (the same numbers as known_sites.h). Usage:
    check_known_sites.py PROGRAM LIBRALLO OUTDIR"""
import json
import os
import re
import subprocess
import sys

A_BLOCKS, A_SIZE = 100, 48
B_STEPS = 10
C_BLOCKS, C_SIZE, C_FREED = 64, 200, 40
E_BLOCKS, E_SIZE = 1000, 10000
F_BLOCKS = 300

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from checks import check, finish  # noqa: E402 (tests/common)


def leaf_function(site):
    return site["frames"][0]["function"] if site["frames"] else None


def sites_at(profile, function):
    return [s for s in profile["sites"] if leaf_function(s) == function]


def counts(site):
    return (site["alloc_count"], site["alloc_bytes"], site["live_count"], site["live_bytes"])


def check_json(path):
    with open(path) as f:
        profile = json.load(f)
    for key in ("pid", "sample_interval", "totals", "sites"):
        check(key in profile, "json has " + key)
    check(profile["sample_interval"] == 0, "every allocation tracked")
    for site in profile["sites"]:
        for frame in site["frames"]:
            check(set(frame) >= {"addr", "function", "file", "line"}, "frame fields: %r" % frame)

    a = sites_at(profile, "alloc_A")
    check(len(a) == 1, "one site for alloc_A, got %d" % len(a))
    if a:
        check(counts(a[0]) == (A_BLOCKS, A_BLOCKS * A_SIZE, A_BLOCKS, A_BLOCKS * A_SIZE),
              "alloc_A counts %r" % (counts(a[0]),))
        frame = a[0]["frames"][0]
        check(frame["file"] and frame["file"].endswith("known_sites.c") and frame["line"] > 0,
              "alloc_A has file:line %r" % frame)
        check(any(f["function"] == "main" for f in a[0]["frames"][1:]), "alloc_A called from main")

    b = sorted(counts(s) for s in sites_at(profile, "realloc_B"))
    realloc_bytes = sum(16 * (i + 2) for i in range(B_STEPS))
    # malloc(16): freed by the first realloc; the realloc site: B_STEPS
    # allocations, B_STEPS - 1 of them freed by the next realloc.
    check(b == [(1, 16, 0, 0), (B_STEPS, realloc_bytes, 1, 16 * (B_STEPS + 1))], "realloc_B sites %r" % b)

    c = sites_at(profile, "thread_C")
    check(len(c) == 1, "one site for thread_C, got %d" % len(c))
    if c:
        check(counts(c[0]) == (C_BLOCKS, C_BLOCKS * C_SIZE, C_BLOCKS - C_FREED, (C_BLOCKS - C_FREED) * C_SIZE),
              "thread_C counts %r" % (counts(c[0]),))
        check(c[0]["free_count"] == C_FREED, "thread_C frees (made by free_D) %r" % c[0]["free_count"])
    check(not sites_at(profile, "free_D"), "free_D allocates nothing")

    e = sites_at(profile, "peak_E")
    f = sites_at(profile, "after_F")
    check(len(e) == 1 and len(f) == 1, "one site each for peak_E and after_F")
    true_peak = A_BLOCKS * A_SIZE + 16 * (B_STEPS + 1) + (C_BLOCKS - C_FREED) * C_SIZE + E_BLOCKS * E_SIZE
    if e and f:
        check(counts(e[0]) == (E_BLOCKS, E_BLOCKS * E_SIZE, 0, 0), "peak_E counts %r" % (counts(e[0]),))
        check(counts(f[0]) == (F_BLOCKS, F_BLOCKS * E_SIZE, F_BLOCKS, F_BLOCKS * E_SIZE),
              "after_F counts %r" % (counts(f[0]),))
        # Peak consumers: at the process's peak, peak_E held all its blocks and
        # after_F nothing yet; within 2% of the true peak.
        check(abs(e[0]["peak_live_bytes"] - E_BLOCKS * E_SIZE) <= 0.02 * true_peak,
              "peak_E at peak %d, want %d within 2%%" % (e[0]["peak_live_bytes"], E_BLOCKS * E_SIZE))
        check(f[0]["peak_live_bytes"] == 0, "after_F at peak %d, want 0" % f[0]["peak_live_bytes"])

    totals = profile["totals"]
    for key in ("alloc_count", "alloc_bytes", "free_count", "free_bytes", "live_count", "live_bytes"):
        check(totals[key] == sum(s[key] for s in profile["sites"]), "totals.%s is the sum of the sites" % key)
    check(abs(totals["peak_live_bytes"] - true_peak) <= 0.02 * true_peak,
          "peak %d within 2%% of %d" % (totals["peak_live_bytes"], true_peak))
    return profile


def check_folded(path):
    by_leaf = {}
    with open(path) as f:
        for line in f:
            stack, _, value = line.rstrip("\n").rpartition(" ")
            check(stack and value.isdigit(), "folded line parses: %r" % line)
            frames = stack.split(";")
            by_leaf.setdefault(frames[-1], []).append((frames, int(value)))
    def live(leaf):
        return sum(v for _, v in by_leaf.get(leaf, []))
    check(live("alloc_A") == A_BLOCKS * A_SIZE, "folded alloc_A %d" % live("alloc_A"))
    check(live("realloc_B") == 16 * (B_STEPS + 1), "folded realloc_B %d" % live("realloc_B"))
    check(live("thread_C") == (C_BLOCKS - C_FREED) * C_SIZE, "folded thread_C %d" % live("thread_C"))
    check(live("after_F") == F_BLOCKS * E_SIZE, "folded after_F %d" % live("after_F"))
    check("peak_E" not in by_leaf, "folded leaves out sites with nothing live")
    check(any(frames[-2:] == ["main", "alloc_A"] for frames, _ in by_leaf.get("alloc_A", [])),
          "folded stacks are root first (main;alloc_A)")


def check_text(path):
    with open(path) as f:
        text = f.read()
    lines = text.splitlines()
    check(lines and lines[0] == "rallo text report v1", "text header line %r" % lines[:1])
    # The top lists, each from its heading to the next, in whatever order the report leads with.
    parts = {m.group(1): m for m in re.finditer(r"^top \d+ sites (by [a-z ]+):", text, re.M)}
    def part(name):
        m = parts.get(name)
        if m is None:
            return ""
        following = [o.start() for o in parts.values() if o.start() > m.start()]
        return text[m.end():min(following) if following else len(text)]
    live_part, alloc_part = part("by live bytes"), part("by allocated bytes")
    check(live_part != "", "text has the live top list")
    first_live = re.search(r"^\s+1\. (\d+) B", live_part, re.M)
    check(first_live and int(first_live.group(1)) == F_BLOCKS * E_SIZE, "text: after_F is first by live bytes")
    check("after_F (" in live_part and "alloc_A (" in live_part, "text shows after_F and alloc_A with file:line")
    first_alloc = re.search(r"^\s+1\. (\d+) B", alloc_part, re.M)
    check(first_alloc and int(first_alloc.group(1)) == E_BLOCKS * E_SIZE, "text: peak_E is first by allocated bytes")
    check("peak_E (" in alloc_part, "text shows peak_E by allocated bytes")


def main():
    program, librallo, outdir = sys.argv[1:4]
    os.makedirs(outdir, exist_ok=True)
    for name in ("known.json", "known.folded", "known.txt"):
        if os.path.exists(os.path.join(outdir, name)):
            os.unlink(os.path.join(outdir, name))
    env = dict(os.environ, LD_PRELOAD=librallo, RALLO_ENABLE="1", RALLO_SAMPLE="0")
    run = subprocess.run([program, outdir], env=env, capture_output=True, text=True, timeout=120)
    check(run.returncode == 0, "known_sites exit code %d, stderr: %s" % (run.returncode, run.stderr))
    if run.returncode == 0:
        check_json(os.path.join(outdir, "known.json"))
        check_folded(os.path.join(outdir, "known.folded"))
        check_text(os.path.join(outdir, "known.txt"))
    finish()


if __name__ == "__main__":
    main()
