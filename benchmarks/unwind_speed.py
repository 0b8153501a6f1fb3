#!/usr/bin/env python3
"""unwind_speed.py - CPU time of allocation-heavy workloads built without frame
pointers under bare mimalloc and under librallo with each RALLO_UNWIND mode,
tracking every allocation and sampling at 512 KiB. Runs are interleaved (each
round runs every configuration once) and the median of the rounds is shown,
as user+sys CPU seconds (the machine is shared: wall time is noisier).

Usage: unwind_speed.py LIBRALLO ROUNDS WORKLOAD[:ARGS]... [--before OLD_LIBRALLO]
(--before: fp and dwarf every alloc and dwarf sample 512k also run on OLD_LIBRALLO.)
"""
import os
import statistics
import sys

MIMALLOC = "/usr/lib/x86_64-linux-gnu/libmimalloc.so"


def run(argv, env):
    pid = os.fork()
    if pid == 0:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.execve(argv[0], argv, env)
    _, status, usage = os.wait4(pid, 0)
    if status != 0:
        raise SystemExit(f"{argv} failed: {status}")
    return usage.ru_utime + usage.ru_stime


def main():
    args = sys.argv[1:]
    before = None
    if "--before" in args:
        i = args.index("--before")
        before = args[i + 1]
        del args[i:i + 2]
    librallo, rounds, workloads = args[0], int(args[1]), args[2:]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("RALLO_", "LD_PRELOAD"))}
    configs = [
        ("mimalloc", {"LD_PRELOAD": MIMALLOC}),
        ("rallo off", {"LD_PRELOAD": librallo}),
        ("fp every alloc", {"LD_PRELOAD": librallo, "RALLO_ENABLE": "1", "RALLO_UNWIND": "fp"}),
        ("dwarf every alloc", {"LD_PRELOAD": librallo, "RALLO_ENABLE": "1", "RALLO_UNWIND": "dwarf"}),
        ("auto every alloc", {"LD_PRELOAD": librallo, "RALLO_ENABLE": "1", "RALLO_UNWIND": "auto"}),
        ("fp sample 512k", {"LD_PRELOAD": librallo, "RALLO_ENABLE": "1", "RALLO_UNWIND": "fp",
                            "RALLO_SAMPLE": "512k"}),
        ("dwarf sample 512k", {"LD_PRELOAD": librallo, "RALLO_ENABLE": "1", "RALLO_UNWIND": "dwarf",
                               "RALLO_SAMPLE": "512k"}),
    ]
    if before:
        # The same settings on another librallo (an A/B of a change), interleaved with the rest.
        for name in ("fp every alloc", "dwarf every alloc", "dwarf sample 512k"):
            extra = dict(next(e for n, e in configs if n == name), LD_PRELOAD=before)
            configs.append((name + ", before", extra))
    for workload in workloads:
        argv = workload.split(":")
        times = {name: [] for name, _ in configs}
        for _ in range(rounds):
            for name, extra in configs:
                times[name].append(run(argv, {**base, **extra}))
        bare = statistics.median(times["mimalloc"])
        print(f"{os.path.basename(argv[0])} {' '.join(argv[1:])}  (median CPU s of {rounds} interleaved rounds)")
        for name, _ in configs:
            t = statistics.median(times[name])
            print(f"  {name:28s} {t:7.3f} s  {t / bare:5.2f}x  (min {min(times[name]):.3f}, max {max(times[name]):.3f})")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
