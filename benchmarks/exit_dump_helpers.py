#!/usr/bin/env python3
"""exit_dump_helpers.py - what exit dumps cost a machine that starts a process
per connection: N short-lived processes, each exec'd afresh (its own ASLR
layout, as a PostgreSQL backend under `pgbench -C` is not, but a CGI program
or a shell pipeline is), run one after another with RALLO_DUMP_ON_EXIT=1, and
every helper process they leave (`rallo _convert`) is reaped here (this script
is their subreaper), so the CPU time of all of them is counted.

Two ways the helpers work, on the same build:
  batched  one converting helper per dump directory and user names every dump
           with one symbolizer (the default);
  alone    every helper converts its own dump with a symbolizer of its own (as
           before batching): made by a dump directory others may read (0755),
           where helpers take no lock.

Prints, per way: wall time per process (median), CPU seconds per process of
the processes and of the helpers, and checks that every dump was named
(its json names at least one frame: not module+0xOFFSET).

usage: exit_dump_helpers.py [--processes N] [--rounds R] LIBRALLO.so PROGRAM [ARGS...]
  e.g. exit_dump_helpers.py build/librallo.so python3 -c 'import json, decimal'
"""
import argparse
import ctypes
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

PR_SET_CHILD_SUBREAPER = 36


def reap_all(timeout=60.0):
    """Reaps every descendant left (the helpers); their CPU seconds."""
    cpu = 0.0
    end = time.time() + timeout
    while time.time() < end:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return cpu
        if pid == 0:
            time.sleep(0.01)
            continue
        cpu += usage.ru_utime + usage.ru_stime
    return cpu


def run_way(lib, program, processes, alone):
    workdir = tempfile.mkdtemp(prefix="rallo-exit-helpers-")
    os.chmod(workdir, 0o700)
    if alone:
        os.chmod(workdir, 0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RALLO_") and k != "LD_PRELOAD"}
    env.update({"LD_PRELOAD": lib, "RALLO_ENABLE": "1", "RALLO_DUMP_ON_EXIT": "1",
                "RALLO_DUMP_DIR": workdir, "RALLO_DUMP_FORMATS": "json,pprof"})
    walls, own_cpu = [], 0.0
    for _ in range(processes):
        start = time.perf_counter()
        p = subprocess.Popen(program, env=env, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        walls.append((time.perf_counter() - start) * 1e3)
        own_cpu += usage.ru_utime + usage.ru_stime
    helper_cpu = reap_all()
    named = 0
    dumps = [n for n in os.listdir(workdir) if n.endswith(".final.json")]
    for name in dumps:
        with open(os.path.join(workdir, name)) as f:
            sites = json.load(f)["sites"]
        named += any("+0x" not in (fr.get("function") or "+0x") for s in sites for fr in s["frames"])
    shutil.rmtree(workdir)
    return statistics.median(walls), own_cpu / processes, helper_cpu / processes, len(dumps), named


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("lib")
    parser.add_argument("program", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise SystemExit("cannot become a subreaper")
    lib = os.path.abspath(args.lib)
    results = {False: [], True: []}
    for _ in range(args.rounds):  # A B A B
        for alone in (True, False):
            results[alone].append(run_way(lib, args.program, args.processes, alone))
    print("%d processes a round, %d rounds: %s" % (args.processes, args.rounds, " ".join(args.program)))
    print("| helpers | wall per process, ms (median of rounds) | process CPU ms | helpers' CPU ms "
          "per process | dumps named / written |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for alone in (True, False):
        rows = results[alone]
        print("| %s | %.1f | %.1f | %.1f (rounds: %s) | %d / %d |" % (
            "alone (before)" if alone else "batched",
            statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows) * 1e3,
            statistics.median(r[2] for r in rows) * 1e3, ", ".join("%.1f" % (r[2] * 1e3) for r in rows),
            sum(r[4] for r in rows), sum(r[3] for r in rows)))


if __name__ == "__main__":
    main()
