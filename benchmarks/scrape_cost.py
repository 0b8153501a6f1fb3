#!/usr/bin/env python3
"""scrape_cost.py - what a scrape of RALLO_HTTP costs the host (issue 17 point
7, issue 18 point 3): benchmarks/scrape_bench holds SITES call sites (50,000)
and allocates in a loop on one thread, timing each malloc/free pair; this
script scrapes /debug/pprof/allocs every INTERVAL seconds, as Parca or Alloy
would, and measures:
  - the CPU time of rallo's threads (every thread but the program's two) per
    scrape, and as a share of one CPU at that interval;
  - the host's private memory (Private_Dirty + Private_Clean, smaps_rollup)
    before the first scrape, after each, and what stays;
  - the allocating thread's slowest pair and pairs over 1 and 10 ms, against
    a run of the same length without scrapes (the machine's own noise).
Three runs, interleaved: no scrapes, ?symbolize=0, symbolized (the default).

usage: scrape_cost.py [--sites N] [--interval S] [--scrapes K] [--rounds R] [--lib-dir DIR] BUILD_DIR
"""
import argparse
import os
import socket
import statistics
import subprocess
import time
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def private_kib(pid):
    total = 0
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith(("Private_Dirty:", "Private_Clean:")):
                total += int(line.split()[1])
    return total


def rallo_cpu_s(pid):
    """CPU seconds of every thread but main and the allocator."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = f.read().strip()
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(tid) == pid or name == "allocator":
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def run(bench, sites, mode, interval, scrapes, lib_dir):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RALLO_")}
    if lib_dir:  # another build's librallo.so and librallo-http.so (the bench's RUNPATH gives way)
        env["LD_LIBRARY_PATH"] = os.path.abspath(lib_dir)
    env["RALLO_HTTP"] = "127.0.0.1:%d" % port
    p = subprocess.Popen([bench, str(sites)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().startswith("ready")
    time.sleep(1)
    before_kib, before_cpu = private_kib(p.pid), rallo_cpu_s(p.pid)
    after_kib, answer_s, sizes = [], [], []
    for i in range(scrapes):
        time.sleep(interval)
        if mode is None:
            continue
        url = "http://127.0.0.1:%d/debug/pprof/allocs%s" % (port, "?symbolize=0" if mode == 0 else "")
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=120) as r:
            sizes.append(len(r.read()))
        answer_s.append(time.perf_counter() - start)
        time.sleep(1.5)  # what the scrape freed is given back by now (0.5 s after the answer)
        after_kib.append(private_kib(p.pid))
    cpu = rallo_cpu_s(p.pid) - before_cpu
    out, _ = p.communicate("", timeout=60)
    fields = out.split()
    stats = {"pairs": int(fields[1]), "slowest": float(fields[3]), "over_1ms": int(fields[6]),
             "over_10ms": int(fields[8])}
    n = max(1, scrapes if mode is not None else 1)
    return {"cpu_per_scrape_ms": cpu / n * 1e3, "before_kib": before_kib, "after_kib": after_kib,
            "answer_s": answer_s, "size": sizes[-1] if sizes else 0, **stats}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=50000)
    parser.add_argument("--interval", type=float, default=10)
    parser.add_argument("--scrapes", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--lib-dir", help="run against the librallo in this directory (e.g. another build)")
    parser.add_argument("build")
    args = parser.parse_args()
    bench = os.path.join(args.build, "benchmarks", "scrape_bench")
    modes = [None, 0, 1]
    results = {m: [] for m in modes}
    for _ in range(args.rounds):
        for mode in modes:
            results[mode].append(run(bench, args.sites, mode, args.interval, args.scrapes, args.lib_dir))
    print("%d sites, a scrape of /debug/pprof/allocs every %.0f s, %d scrapes, %d round(s)" %
          (args.sites, args.interval, args.scrapes, args.rounds))
    print("| scrapes | rallo CPU per scrape | share of one CPU | answer s (median) | private KiB before -> "
          "after each scrape | allocating thread: pairs, slowest, > 1 ms, > 10 ms |")
    print("| --- | ---: | ---: | ---: | --- | --- |")
    names = {None: "none", 0: "?symbolize=0", 1: "symbolized"}
    for mode in modes:
        for r in results[mode]:
            per = r["cpu_per_scrape_ms"] if mode is not None else 0
            print("| %s | %.0f ms | %.2f%% | %s | %d -> %s | %d, %.1f ms, %d, %d |" % (
                names[mode], per, per / (args.interval * 1e3) * 100,
                "%.2f" % statistics.median(r["answer_s"]) if r["answer_s"] else "-",
                r["before_kib"], " ".join(str(k) for k in r["after_kib"]) or "-",
                r["pairs"], r["slowest"], r["over_1ms"], r["over_10ms"]))


if __name__ == "__main__":
    main()
