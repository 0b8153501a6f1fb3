#!/usr/bin/env python3
"""sampling_accuracy.py - how far a sampled total strays from the truth, as a
function of the number of samples it rests on.
    sampling_accuracy.py LIBRALLO PROGRAM [RUNS [RALLO_SAMPLE,...]]
PROGRAM is sampling_accuracy.c built -O1 -fno-omit-frame-pointer: known_site
allocates COUNT blocks of SIZE bytes and keeps every other one (500,000 x 128 B,
61.0 MiB, for the four small intervals; 2,500,000 x 1 KiB, 2.4 GiB, for
512 KiB, so that its mean over the runs can be told to within 1%). For each
RALLO_SAMPLE it runs the program RUNS times under LD_PRELOAD with an exit dump
in json, and reports for known_site's allocated and live bytes the mean error
with its standard error (sd / sqrt(RUNS)), and the spread (standard deviation,
and the worst run) of the relative error beside the sd the estimator's own
variance predicts, sqrt((1 - p) / (n p)) for n blocks each sampled with
p = 1 - exp(-SIZE / RALLO_SAMPLE) (about 1/sqrt(expected samples)). Prints a
markdown table; a comma list of RALLO_SAMPLE values runs only those rows."""
import glob
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

LIB, PROGRAM = sys.argv[1:3]
RUNS = int(sys.argv[3]) if len(sys.argv) > 3 else 30
ONLY = {int(x) for x in sys.argv[4].split(",")} if len(sys.argv) > 4 else None
ROWS = ((6553600, 500000, 128), (655360, 500000, 128), (65536, 500000, 128), (6553, 500000, 128),
        (524288, 2500000, 1024))


def final_json(directory):
    """The exit dump's json, written a moment after the exit by rallo's helper."""
    deadline = time.time() + 600
    while time.time() < deadline:
        found = glob.glob(os.path.join(directory, "rallo.*.final.json"))
        if found:
            time.sleep(0.2)  # written under a temporary name and renamed: complete once seen
            return found[0]
        time.sleep(0.1)
    raise RuntimeError("no final json dump in " + directory)


def one_run(sample, count, size, directory):
    for old in glob.glob(os.path.join(directory, "*")):
        os.unlink(old)
    env = dict(os.environ, LD_PRELOAD=LIB, RALLO_ENABLE="1", RALLO_SAMPLE=str(sample), RALLO_DUMP_ON_EXIT="1",
               RALLO_DUMP_DIR=directory, RALLO_DUMP_FORMATS="json")
    subprocess.run([PROGRAM, str(count), str(size)], env=env, check=True, timeout=300)
    with open(final_json(directory)) as f:
        profile = json.load(f)
    alloc = live = 0
    for site in profile["sites"]:
        if any(frame["function"] == "known_site" for frame in site["frames"]):
            alloc += site["alloc_bytes"]
            live += site["live_bytes"]
    return alloc / (count * size) - 1, live / (count // 2 * size) - 1


def stats(errors):
    mean = sum(errors) / len(errors)
    sd = math.sqrt(sum((e - mean) ** 2 for e in errors) / (len(errors) - 1))
    return mean, sd, max(abs(e) for e in errors)


def expected_sd(sample, blocks, size):
    p = -math.expm1(-size / sample)
    return math.sqrt((1 - p) / (blocks * p))


def cell(errors, predicted):
    mean, sd, worst = stats(errors)
    return "%+.2f%% +- %.2f%%, %.1f%% (%.1f%%), %.1f%%" % (100 * mean, 100 * sd / math.sqrt(len(errors)), 100 * sd,
                                                        100 * predicted, 100 * worst)


def main():
    directory = tempfile.mkdtemp(prefix="rallo-accuracy-")
    print("| RALLO_SAMPLE | blocks x bytes | samples (allocated / live) | allocated: mean +- se, sd (predicted), worst | "
          "live: mean +- se, sd (predicted), worst |")
    print("| --- | --- | --- | --- | --- |")
    for sample, count, size in ROWS:
        if ONLY is not None and sample not in ONLY:
            continue
        runs = [one_run(sample, count, size, directory) for _ in range(RUNS)]
        print("| %d | %d x %d | %.0f / %.0f | %s | %s |" % (
            sample, count, size, count * size / sample, count // 2 * size / sample,
            cell([r[0] for r in runs], expected_sd(sample, count, size)),
            cell([r[1] for r in runs], expected_sd(sample, count // 2, size))))
        sys.stdout.flush()
    shutil.rmtree(directory)


main()
