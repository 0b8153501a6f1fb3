#!/usr/bin/env python3
"""auto_vs_fp.py - what RALLO_UNWIND=auto (the default) costs against fp on
programs built with frame pointers (the benchmark workloads are), tracking
every allocation: callgrind instructions per bench_pairs iteration (a malloc
and a free; (N=300000 - N=100000) / 200000, so start-up cancels), and CPU
time of each workload in interleaved A/B rounds (fp auto, then auto fp, ...),
median and ratio.

Usage: python3 benchmarks/auto_vs_fp.py [--build DIR] [--lib LIBRALLO] [--rounds N]
       [--workloads small,mixed,json,kv] [--no-callgrind]
Only the standard library is used."""
import argparse
import os
import re
import shutil
import statistics
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODES = ("fp", "auto")


def env_for(lib, mode):
    env = dict(os.environ, LD_PRELOAD=lib, RALLO_ENABLE="1", RALLO_UNWIND=mode, RALLO_ARENA_SIZE="4g")
    return env


def cpu_seconds(argv, env):
    pid = os.fork()
    if pid == 0:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.execve(argv[0], argv, env)
    _, status, usage = os.wait4(pid, 0)
    if status != 0:
        raise SystemExit(f"{argv} failed: {status}")
    return usage.ru_utime + usage.ru_stime


def callgrind_instructions(binary, n, env):
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", binary, str(n)]
                         + (["1"] if binary.endswith("bench_mixed") else []),
                         env=env, capture_output=True, text=True).stderr
    match = re.search(r"Collected : (\d+)", out)
    if not match:
        raise SystemExit("callgrind: " + out[-500:])
    return int(match.group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--lib", default=None)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--workloads", default="small,mixed,json,kv")
    parser.add_argument("--no-callgrind", action="store_true")
    args = parser.parse_args()
    lib = os.path.realpath(args.lib or os.path.join(args.build, "librallo.so"))
    bench = os.path.join(args.build, "benchmarks")

    if not args.no_callgrind and shutil.which("valgrind"):
        print("callgrind, bench_pairs, instructions per iteration (malloc + free, tracked):")
        per = {}
        for mode in MODES:
            env = env_for(lib, mode)
            big = callgrind_instructions(os.path.join(bench, "bench_pairs"), 300000, env)
            small = callgrind_instructions(os.path.join(bench, "bench_pairs"), 100000, env)
            per[mode] = (big - small) / 200000
            print(f"  {mode}: {per[mode]:.1f}", flush=True)
        print(f"  auto / fp: {per['auto'] / per['fp']:.4f}\n")
        print("callgrind, each workload at scale 0.02, instructions (start-up included):")
        for workload in args.workloads.split(","):
            binary = os.path.join(bench, "bench_" + workload)
            counts = {mode: callgrind_instructions(binary, 0.02, env_for(lib, mode)) for mode in MODES}
            print(f"  {workload}: fp {counts['fp']:,}, auto {counts['auto']:,}, "
                  f"auto / fp {counts['auto'] / counts['fp']:.4f}", flush=True)
        print()

    print(f"CPU seconds (user+sys), median of {args.rounds} interleaved rounds:")
    print("| workload | fp | auto | auto / fp | auto / fp per round, min-max |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for workload in args.workloads.split(","):
        argv = [os.path.join(bench, "bench_" + workload), "1"] + (["1"] if workload == "mixed" else [])
        times = {mode: [] for mode in MODES}
        for round_ in range(args.rounds):
            order = MODES if round_ % 2 == 0 else tuple(reversed(MODES))
            for mode in order:
                times[mode].append(cpu_seconds(argv, env_for(lib, mode)))
        fp, auto = statistics.median(times["fp"]), statistics.median(times["auto"])
        ratios = [a / f for a, f in zip(times["auto"], times["fp"])]
        print(f"| {workload} | {fp:.3f} | {auto:.3f} | {auto / fp:.3f} | {min(ratios):.2f}-{max(ratios):.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
