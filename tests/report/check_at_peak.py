#!/usr/bin/env python3
"""check_at_peak.py - the per-site "at peak" figures add up to the peak.
    check_at_peak.py AT_PEAK LIBRALLO RALLO OUTDIR
at_peak.c never frees (mode keep): live memory peaks at exit, so the
breakdown must be exact: the sites' peak_live_bytes sum to the process peak,
and the stdio buffer allocated last holds its 4 KiB (or its size) at the
peak. Mode free_after peaks in the past: the breakdown plus the remainder the
text report prints must make the peak, and the page's remainder agrees."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys

PROGRAM, LIBRALLO, RALLO, OUT = sys.argv[1:5]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from checks import check, finish  # noqa: E402 (tests/common)


def dump(mode):
    directory = os.path.join(OUT, mode)
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    env = dict(os.environ, LD_PRELOAD=LIBRALLO, RALLO_ENABLE="1", RALLO_SAMPLE="0", RALLO_DUMP_ON_EXIT="1",
               RALLO_DUMP_DIR=directory, RALLO_DUMP_FORMATS="json,text,pprof")
    result = subprocess.run([PROGRAM, mode], env=env, capture_output=True, text=True, timeout=120)
    check(result.returncode == 0 and result.stdout == "done %s\n" % mode, "%s ran: %s" % (mode, result.stderr))
    path = glob.glob(os.path.join(directory, "rallo.*.final.json"))
    with open(path[0]) as f:
        profile = json.load(f)
    with open(path[0].replace(".json", ".txt")) as f:
        text = f.read()
    return profile, text


def through(profile, function):
    return [s for s in profile["sites"] if any(f["function"] == function for f in s["frames"])]


def main():
    profile, text = dump("keep")
    peak = profile["totals"]["peak_live_bytes"]
    attributed = sum(s["peak_live_bytes"] for s in profile["sites"])
    check(attributed == peak, "never freed: the sites at peak add up to the peak (%d of %d B)" % (attributed, peak))
    check(peak == profile["totals"]["live_bytes"], "and the peak is what is live at exit (%d B)" % peak)
    stdio = [s for s in profile["sites"] if any("doallocate" in (f["function"] or "") for f in s["frames"])]
    check(stdio and all(s["peak_live_bytes"] == s["live_bytes"] > 0 for s in stdio),
          "the stdio buffer allocated last holds its bytes at the peak: %s" %
          [(s["live_bytes"], s["peak_live_bytes"]) for s in stdio])
    for name in ("grow_a", "grow_b", "grow_c", "late_small"):
        sites = through(profile, name)
        held = sum(s["peak_live_bytes"] for s in sites)
        check(sites and held == sum(s["live_bytes"] for s in sites),
              "%s holds at the peak exactly what it holds at exit (%d B)" % (name, held))
    check(sum(s["live_bytes"] for s in through(profile, "late_small")) == 300 * 1024, "late_small: 300 x 1 KiB")
    check("of the peak is in no site" not in text, "the text report has no remainder line when it adds up")

    profile, text = dump("free_after")
    peak = profile["totals"]["peak_live_bytes"]
    attributed = sum(s["peak_live_bytes"] for s in profile["sites"])
    line = re.search(r"^\s+(\d+) B.* of the peak is in no site", text, re.M)
    remainder = int(line.group(1)) if line else 0
    check(attributed <= peak and attributed + remainder == peak,
          "peak in the past: sites %d B + remainder row %d B = peak %d B" % (attributed, remainder, peak))
    check(peak - attributed <= peak // 100 + (1 << 16), "the copy trails the peak by at most ~1%% (%d B)" %
          (peak - attributed))
    tail = through(profile, "tail_kept")
    check(tail and tail[0]["peak_live_bytes"] == 0 and tail[0]["live_bytes"] == 1 << 20,
          "tail_kept, allocated after the peak, held nothing at it")
    finish()


main()
