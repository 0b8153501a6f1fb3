#!/usr/bin/env python3
"""sampling_accuracy.py - how far a sampled total strays from the truth, as a
function of the number of samples it rests on.
    sampling_accuracy.py LIBRALLO PROGRAM [RUNS]
PROGRAM is sampling_accuracy.c built -O1 -fno-omit-frame-pointer: known_site
allocates 500,000 x 128 B (61.0 MiB) and keeps 250,000 (30.5 MiB). For each
RALLO_SAMPLE it runs the program RUNS times under LD_PRELOAD with an exit dump
in json, and reports for known_site's allocated and live bytes the mean error
and the spread (standard deviation, and the worst run) of the relative error,
beside 1/sqrt(expected samples). Prints a markdown table."""
import glob
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

LIB, PROGRAM = sys.argv[1:3]
RUNS = int(sys.argv[3]) if len(sys.argv) > 3 else 30
COUNT, SIZE = 500000, 128
TRUE_ALLOC, TRUE_LIVE = COUNT * SIZE, COUNT // 2 * SIZE


def one_run(sample, directory):
    for old in glob.glob(os.path.join(directory, "*")):
        os.unlink(old)
    env = dict(os.environ, LD_PRELOAD=LIB, RALLO_ENABLE="1", RALLO_SAMPLE=str(sample), RALLO_DUMP_ON_EXIT="1",
               RALLO_DUMP_DIR=directory, RALLO_DUMP_FORMATS="json")
    subprocess.run([PROGRAM, str(COUNT), str(SIZE)], env=env, check=True, timeout=120)
    with open(glob.glob(os.path.join(directory, "rallo.*.final.json"))[0]) as f:
        profile = json.load(f)
    alloc = live = 0
    for site in profile["sites"]:
        if any(frame["function"] == "known_site" for frame in site["frames"]):
            alloc += site["alloc_bytes"]
            live += site["live_bytes"]
    return alloc / TRUE_ALLOC - 1, live / TRUE_LIVE - 1


def stats(errors):
    mean = sum(errors) / len(errors)
    sd = math.sqrt(sum((e - mean) ** 2 for e in errors) / (len(errors) - 1))
    return mean, sd, max(abs(e) for e in errors)


def main():
    directory = tempfile.mkdtemp(prefix="rallo-accuracy-")
    print("| RALLO_SAMPLE | samples (allocated / live) | 1/sqrt(samples) | allocated: mean, sd, worst | "
          "live: mean, sd, worst |")
    print("| --- | --- | --- | --- | --- |")
    for sample in (6553600, 655360, 65536, 6553):
        runs = [one_run(sample, directory) for _ in range(RUNS)]
        n_alloc, n_live = TRUE_ALLOC / sample, TRUE_LIVE / sample
        a, l = stats([r[0] for r in runs]), stats([r[1] for r in runs])
        print("| %d | %.0f / %.0f | %.1f%% / %.1f%% | %+.1f%%, %.1f%%, %.1f%% | %+.1f%%, %.1f%%, %.1f%% |" % (
            sample, n_alloc, n_live, 100 / math.sqrt(n_alloc), 100 / math.sqrt(n_live),
            100 * a[0], 100 * a[1], 100 * a[2], 100 * l[0], 100 * l[1], 100 * l[2]))
        sys.stdout.flush()
    shutil.rmtree(directory)


main()
