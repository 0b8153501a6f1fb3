#!/usr/bin/env python3
"""dump_cost.py - what a dump costs the process that dumps, for one or more
builds of librallo (e.g. this tree's and another's, before/after):

  - exit: wall time of a short-lived process that allocates at 50 call sites and
    exits (benchmarks/dump_cost exit), with RALLO_DUMP_ON_EXIT=1 (formats
    html,pprof) and without (tracking on either way); median and p90 over
    --runs runs, interleaved. The process's time is until it is reaped: a helper
    it leaves behind is not counted (it is not the process's time), but the
    helper's files are checked to appear.
  - memory: Private_Dirty added by 2 s of periodic dumps every 0.2 s
    (benchmarks/dump_cost memory), and which of libdw, debuginfod, curl or TLS
    got mapped into the process.

usage: dump_cost.py [--runs N] LIBRALLO.so [LIBRALLO.so ...]
       (dump_cost, which is not linked against librallo, is taken from the first
       build tree beside one of the libraries that has it)
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def run_once(bench, lib, dump, workdir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RALLO_")}
    env.update({"LD_PRELOAD": lib, "RALLO_ENABLE": "1", "RALLO_DUMP_DIR": workdir,
                "RALLO_DUMP_FORMATS": "html,pprof"})
    if dump:
        env["RALLO_DUMP_ON_EXIT"] = "1"
    start = time.perf_counter()
    subprocess.run([bench, "exit"], env=env, check=True)
    return (time.perf_counter() - start) * 1e3


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("libs", nargs="+")
    args = parser.parse_args()
    libs = [os.path.abspath(lib) for lib in args.libs]
    benches = [os.path.join(os.path.dirname(lib), "benchmarks", "dump_cost") for lib in libs]
    bench = next(b for b in benches if os.path.exists(b))
    times = {(lib, dump): [] for lib in libs for dump in (False, True)}
    workdir = tempfile.mkdtemp(prefix="rallo-dump-cost-")
    try:
        for _ in range(args.runs):
            for lib in libs:
                for dump in (False, True):
                    times[(lib, dump)].append(run_once(bench, lib, dump, workdir))
        time.sleep(2)
        htmls = len([n for n in os.listdir(workdir) if n.endswith(".final.html")])
        print(f"exit of a short-lived process (50 sites), {args.runs} runs each, ms (median / p90):")
        for lib in libs:
            base = times[(lib, False)]
            with_dump = times[(lib, True)]
            q = lambda xs: (statistics.median(xs), sorted(xs)[int(len(xs) * 0.9)])
            b, d = q(base), q(with_dump)
            print(f"  {lib}\n    no exit dump {b[0]:7.1f} / {b[1]:7.1f}   exit dump {d[0]:7.1f} / {d[1]:7.1f}"
                  f"   -> the dump adds {d[0] - b[0]:.1f} ms (median)")
        print(f"  ({htmls} final.html files written in all)")
        print("private memory added by 2 s of periodic dumps (html,pprof every 0.2 s):")
        for lib in libs:
            env = {k: v for k, v in os.environ.items() if not k.startswith("RALLO_")}
            env.update({"LD_PRELOAD": lib, "RALLO_ENABLE": "1", "RALLO_DUMP_DIR": workdir})
            out = subprocess.run([bench, "memory", workdir], env=env, check=True, capture_output=True,
                                 text=True).stdout.strip()
            print(f"  {lib}\n    {out}")
    finally:
        time.sleep(1)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
