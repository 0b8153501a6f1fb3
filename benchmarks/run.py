#!/usr/bin/env python3
"""run.py - runs every benchmark workload under every allocator and profiler
configuration, interleaved (A B C ... then C B A ...) so drift on a shared
machine cancels, several runs each, and writes benchmarks/RESULTS.md (medians,
ratios to bare mimalloc, CPU, peak RSS, totals checks), benchmarks/results.svg
(the ratio chart) and benchmarks/results.json (every raw run).

Usage: python3 benchmarks/run.py [--quick] [--build DIR] [--runs N] [--slow-runs N]
       [--workloads a,b] [--configs a,b] [--no-callgrind]
The workloads come from DIR/benchmarks (cmake --build DIR), librallo from DIR.
Only the standard library is used."""
import argparse
import datetime
import glob
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from run_results import HERE, ROOT, read, summarize, write_markdown, write_svg

LIBDIR = "/usr/lib/x86_64-linux-gnu"
MIMALLOC = LIBDIR + "/libmimalloc.so.2"
JEMALLOC = LIBDIR + "/libjemalloc.so.2"
TCMALLOC = LIBDIR + "/libtcmalloc.so.4"
RUN_TIMEOUT = 900
TIME = "/usr/bin/time"  # GNU time (Debian package `time`)

# ---------------------------------------------------------------- workloads

WORKLOADS = [
    # name, binary (None: python3 script), extra args after the scale
    ("mixed", "bench_mixed", ["1"]),
    ("mixed-2t", "bench_mixed", ["2"]),
    # 20M small allocations with little work between them: a profiler's cost per allocation in full.
    ("small", "bench_small", []),
    ("json", "bench_json", []),
    ("kv", "bench_kv", []),
    ("prodcons", "bench_prodcons", []),
    ("cxx", "bench_cxx", []),
    ("python", None, []),
]


def workload_argv(build, workload, scale):
    name, binary, extra = workload
    if binary is None:
        return [sys.executable, os.path.join(HERE, "workloads", "bench_py.py"), "%g" % scale]
    return [os.path.join(build, "benchmarks", binary), "%g" % scale] + extra


# ---------------------------------------------------------------- configurations
# kind: how the program is started; size: "full" or "small" (slow tools);
# group: "fast" configs get --runs runs, "slow" ones --slow-runs.

def configurations(librallo, quick):
    je_base = "prof:true,prof_accum:true,prof_final:true"
    je_every_allocation = {"LD_PRELOAD": JEMALLOC, "MALLOC_CONF": je_base + ",lg_prof_sample:0,prof_prefix:@tmp/je"}
    return [
        dict(name="glibc", env={}, kind="plain", size="full", group="fast"),
        dict(name="mimalloc", env={"LD_PRELOAD": MIMALLOC}, kind="plain", size="full", group="fast"),
        dict(name="rallo-off", env={"LD_PRELOAD": librallo}, kind="plain", size="full", group="fast"),
        dict(name="rallo-on", env={"LD_PRELOAD": librallo, "RALLO_ENABLE": "1"}, kind="plain", size="full",
             group="fast"),
        # rallo-on unwinds by RALLO_UNWIND's default, auto; this is fp, its opt-in (issue 13).
        dict(name="rallo-on-fp", env={"LD_PRELOAD": librallo, "RALLO_ENABLE": "1", "RALLO_UNWIND": "fp"},
             kind="plain", size="full", group="fast"),
        dict(name="rallo-sample512k", env={"LD_PRELOAD": librallo, "RALLO_ENABLE": "1", "RALLO_SAMPLE": "512k"},
             kind="plain", size="full", group="fast"),
        dict(name="rallo-on+dump1s", env={"LD_PRELOAD": librallo, "RALLO_ENABLE": "1", "RALLO_DUMP_INTERVAL": "1",
                                          "RALLO_DUMP_DIR": "@tmp"}, kind="plain", size="full", group="fast",
             needs="rallo_dump"),
        # heaptrack at full size where time allows: it is the tool rallo is held against.
        dict(name="heaptrack", env={}, kind="heaptrack", size="small" if quick else "full", group="slow"),
        dict(name="mimalloc@small", env={"LD_PRELOAD": MIMALLOC}, kind="plain", size="small", group="slow",
             baseline_of="small"),
        dict(name="rallo-on@small", env={"LD_PRELOAD": librallo, "RALLO_ENABLE": "1"}, kind="plain", size="small",
             group="slow"),
        dict(name="jemalloc-prof-all", env=je_every_allocation, kind="plain", size="small", group="slow",
             totals="jemalloc"),
        # The same at full size, on `small` only and once (~50 s): the workload and
        # size issue 3's 111x was measured at, where start-up no longer flatters
        # the small size's ratio.
        dict(name="jemalloc-prof-all@full", env=je_every_allocation, kind="plain", size="full", group="slow",
             totals="jemalloc", only=("small",), max_runs=1),
        dict(name="jemalloc-prof-512k", env={"LD_PRELOAD": JEMALLOC, "MALLOC_CONF": je_base + ",prof_prefix:@tmp/je"},
             kind="plain", size="small", group="slow", totals="jemalloc-sampled"),
        dict(name="gperftools-heap", env={"LD_PRELOAD": TCMALLOC, "HEAPPROFILE": "@tmp/gperf"}, kind="plain",
             size="small", group="slow", totals="gperftools"),
        dict(name="massif", env={}, kind="massif", size="small", group="slow"),
        dict(name="dhat", env={}, kind="dhat", size="small", group="slow"),
    ]


# ---------------------------------------------------------------- running one program

def clean_env(extra, tmp):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("RALLO_") and k not in ("LD_PRELOAD", "MALLOC_CONF", "HEAPPROFILE")}
    for key, value in extra.items():
        env[key] = value.replace("@tmp", tmp)
    return env


def with_vars(extra, tmp, argv):
    """argv started through env(1) with the configuration's variables, so they
    reach the program (and what it starts) but not /usr/bin/time: a preloaded
    profiler would otherwise profile time itself too."""
    if not extra:
        return argv
    return ["/usr/bin/env"] + ["%s=%s" % (k, v.replace("@tmp", tmp)) for k, v in extra.items()] + argv


def run_timed(argv, env, stdout_path, stderr_path):
    """Runs argv under GNU time; returns (wall s, cpu s, peak RSS KiB, exit
    status). Peak RSS comes from time's wait4 on its own small fork, so it is
    the program's (with every descendant it waited for), not this Python
    process's, whose high-water mark a fork or vfork child would inherit. CPU
    is user+sys of everything under time, from our own wait4."""
    rss_path = stdout_path + ".rss"
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        start = time.perf_counter()
        child = os.posix_spawn(TIME, [TIME, "-q", "-f", "%M %x", "-o", rss_path] + argv, env, setsid=True,
                               file_actions=[(os.POSIX_SPAWN_DUP2, out.fileno(), 1),
                                             (os.POSIX_SPAWN_DUP2, err.fileno(), 2)])
        deadline = start + RUN_TIMEOUT
        while True:
            pid, status, usage = os.wait4(child, os.WNOHANG)
            if pid != 0:
                break
            if time.perf_counter() > deadline:
                os.killpg(child, signal.SIGKILL)
            time.sleep(0.001)
        wall = time.perf_counter() - start
    fields = read(rss_path).split()
    rss = int(fields[-2]) if len(fields) >= 2 and fields[-2].isdigit() else 0
    code = int(fields[-1]) if fields and fields[-1].lstrip("-").isdigit() else os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, rss, code


BENCH_LINE = re.compile(r"^BENCH (.*)$", re.M)


def parse_bench(text):
    match = BENCH_LINE.search(text)
    if not match:
        return None
    fields = dict(item.split("=", 1) for item in match.group(1).split())
    return fields


def tool_totals(config, tmp, stdout, stderr):
    """What the profiler says was allocated: (calls, bytes or None, note)."""
    kind = config.get("totals") or config["kind"]
    if kind == "heaptrack":
        m = re.search(r"calls to allocation functions: (\d+)", stdout)
        return (int(m.group(1)), None, "") if m else None
    if kind == "dhat":
        m = re.search(r"Total:\s+([\d,]+) bytes in ([\d,]+) blocks", stderr)
        return (int(m.group(2).replace(",", "")), int(m.group(1).replace(",", "")), "") if m else None
    if kind == "gperftools":
        files = sorted(glob.glob(os.path.join(tmp, "gperf.*.heap")))
        if not files:
            return None
        m = re.match(r"heap profile:\s*\d+:\s*\d+ \[\s*(\d+):\s*(\d+)\]", read(files[-1]))
        return (int(m.group(1)), int(m.group(2)), "") if m else None
    if kind in ("jemalloc", "jemalloc-sampled"):
        files = sorted(glob.glob(os.path.join(tmp, "je.*.f.heap")))
        if not files:
            return None
        m = re.search(r"^\s*t\*: \d+: \d+ \[(\d+): (\d+)\]", read(files[-1]), re.M)
        if not m:
            return None
        # jemalloc counts size-class bytes, not requested ones: only calls compare.
        return (int(m.group(1)), None, "sampled, unscaled" if kind == "jemalloc-sampled" else "")
    return None


def run_one(config, argv, tmp_root, seq):
    tmp = tempfile.mkdtemp(prefix="run%d-" % seq, dir=tmp_root)
    env = clean_env({}, tmp)
    argv = with_vars(config["env"], tmp, argv)
    out, err = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
    kind = config["kind"]
    if kind == "heaptrack":
        wall, cpu, rss, rc = run_timed(["heaptrack", "-o", os.path.join(tmp, "ht")] + argv, env, out, err)
        recorded = glob.glob(os.path.join(tmp, "ht.*"))
        stdout_record = read(out)
        if rc == 0 and recorded:
            pout, perr = os.path.join(tmp, "print.out"), os.path.join(tmp, "print.err")
            w2, c2, r2, rc = run_timed(["heaptrack_print", recorded[0]], env, pout, perr)
            wall, cpu, rss = wall + w2, cpu + c2, max(rss, r2)
            totals_text = read(pout)
        else:
            totals_text = ""
        result = dict(wall=wall, cpu=cpu, rss=rss, rc=rc, bench=parse_bench(stdout_record))
        result["tool"] = tool_totals(config, tmp, totals_text, "")
    else:
        if kind == "massif":
            argv = ["valgrind", "--tool=massif", "--massif-out-file=" + os.path.join(tmp, "massif.out")] + argv
        elif kind == "dhat":
            argv = ["valgrind", "--tool=dhat", "--dhat-out-file=" + os.path.join(tmp, "dhat.json")] + argv
        wall, cpu, rss, rc = run_timed(argv, env, out, err)
        result = dict(wall=wall, cpu=cpu, rss=rss, rc=rc, bench=parse_bench(read(out)))
        result["tool"] = tool_totals(config, tmp, read(out), read(err))
    said = [line for line in read(err).splitlines() if line.startswith("rallo: ")]
    if said and config["name"].startswith("rallo"):
        # rallo speaks on stderr only when something is off (no arena, no
        # report library): the run did not measure what its name says.
        result["error"] = said[0][:160]
    elif rc != 0 or result["bench"] is None or result["bench"].get("ok") != "1":
        last = read(err).strip().splitlines()[-1:]
        result["error"] = "exit %d%s" % (rc, ": " + last[0][:120] if last else "")
    shutil.rmtree(tmp, ignore_errors=True)
    return result


# ---------------------------------------------------------------- callgrind micro

def callgrind_ir(argv, env):
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] + argv, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=RUN_TIMEOUT)
    if "rallo:" in proc.stderr:
        raise RuntimeError("rallo said: " + proc.stderr[proc.stderr.index("rallo:"):][:200])
    m = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or not m:
        raise RuntimeError("callgrind failed: " + proc.stderr[-300:])
    return int(m.group(1))


def callgrind_pairs(build, librallo, quick, tmp_root):
    binary = os.path.join(build, "benchmarks", "bench_pairs")
    small, large = (20000, 100000) if quick else (100000, 500000)
    configs = [
        ("glibc", {}),
        ("mimalloc", {"LD_PRELOAD": MIMALLOC}),
        ("rallo-off", {"LD_PRELOAD": librallo}),
        ("rallo-on", {"LD_PRELOAD": librallo, "RALLO_ENABLE": "1"}),
        ("rallo-sample512k", {"LD_PRELOAD": librallo, "RALLO_ENABLE": "1", "RALLO_SAMPLE": "512k"}),
    ]
    # valgrind caps the address space: the default 1 TiB arena cannot be
    # reserved under it and tracking would silently stay off.
    configs = [(name, dict(extra, RALLO_ARENA_SIZE="4g") if "RALLO_ENABLE" in extra else extra)
               for name, extra in configs]
    env0 = clean_env({}, tmp_root)
    harness = (callgrind_ir([binary, str(large), "none"], env0) -
               callgrind_ir([binary, str(small), "none"], env0)) / (large - small)
    rows = []
    for name, extra in configs:
        env = clean_env(extra, tmp_root)
        try:
            per = (callgrind_ir([binary, str(large)], env) - callgrind_ir([binary, str(small)], env)) / (large - small)
            rows.append((name, per - harness))
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            rows.append((name, None))
            print("callgrind %s: %s" % (name, error), file=sys.stderr)
    return dict(harness=harness, rows=rows, small=small, large=large)


# ---------------------------------------------------------------- facts about the setup

def sh(argv):
    try:
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=60).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def exported(lib, symbol):
    return re.search(r"\bT %s$" % re.escape(symbol), sh(["nm", "-D", "--defined-only", lib]), re.M) is not None


def jemalloc_has_prof():
    """Asks Debian's jemalloc itself: mallctl("config.prof")."""
    code = ("import ctypes;l=ctypes.CDLL(None);v=ctypes.c_bool();n=ctypes.c_size_t(1);"
            "r=l.mallctl(b'config.prof',ctypes.byref(v),ctypes.byref(n),None,ctypes.c_size_t(0));"
            "print(r==0 and v.value)")
    env = clean_env({"LD_PRELOAD": JEMALLOC}, "/tmp")
    return sh_env([sys.executable, "-c", code], env) == "True"


def sh_env(argv, env):
    try:
        return subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              timeout=60).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine_facts():
    cpu = ""
    for line in read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = read("/proc/meminfo").splitlines()[0].split()[1] if read("/proc/meminfo") else "?"
    commit = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = sh(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"])
    pkg = lambda name: sh(["dpkg-query", "-W", "-f", "${Version}", name])
    return dict(cpu=cpu, cores=os.cpu_count(), mem_gib="%.1f" % (int(mem) / 1048576) if mem != "?" else "?",
                kernel=platform.release(), os=sh(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"]),
                commit=commit + (" (working tree has uncommitted changes)" if dirty else ""),
                date=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
                load=read("/proc/loadavg").split()[:3],
                versions=dict(mimalloc=pkg("libmimalloc2.0"), jemalloc=pkg("libjemalloc2"),
                              gperftools=pkg("libtcmalloc-minimal4") or pkg("libgoogle-perftools4"),
                              heaptrack=pkg("heaptrack"), valgrind=pkg("valgrind"), python3=platform.python_version(),
                              gcc=sh(["gcc", "-dumpfullversion"])))


# ---------------------------------------------------------------- the run

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer runs (under 2 minutes)")
    parser.add_argument("--build", default=os.path.join(ROOT, "build"), help="the cmake build directory")
    parser.add_argument("--runs", type=int, help="runs per fast configuration (default 5, quick 3)")
    parser.add_argument("--slow-runs", type=int, help="runs per slow tool (default 3, quick 1)")
    parser.add_argument("--workloads", help="comma list (default: all)")
    parser.add_argument("--configs", help="comma list (default: all)")
    parser.add_argument("--lib", help="the librallo.so to test (default: DIR/librallo.so)")
    parser.add_argument("--no-callgrind", action="store_true")
    parser.add_argument("--out", default=HERE, help="where RESULTS.md, results.svg, results.json go")
    args = parser.parse_args()

    build = os.path.abspath(args.build)
    librallo = os.path.abspath(args.lib) if args.lib else os.path.join(build, "librallo.so")
    for needed in [librallo, MIMALLOC] + [os.path.join(build, "benchmarks", w[1]) for w in WORKLOADS if w[1]]:
        if not os.path.exists(needed):
            sys.exit("run.py: %s is missing: build first (cmake --build %s)" % (needed, build))
    full_scale, small_scale = (0.25, 0.02) if args.quick else (1.0, 0.05)
    runs = args.runs or (3 if args.quick else 5)
    slow_runs = args.slow_runs or (1 if args.quick else 3)
    scales = dict(full=full_scale, small=small_scale)

    facts = machine_facts()
    facts["librallo"] = librallo
    facts["rallo_totals_exported"] = exported(librallo, "rallo_get_totals")
    facts["rallo_dump_exported"] = exported(librallo, "rallo_dump")
    facts["jemalloc_prof"] = jemalloc_has_prof()

    workloads = [w for w in WORKLOADS if not args.workloads or w[0] in args.workloads.split(",")]
    configs = [c for c in configurations(librallo, args.quick)
               if not args.configs or c["name"] in args.configs.split(",")]
    for c in configs:
        c["available"] = (c.get("needs") != "rallo_dump" or facts["rallo_dump_exported"]) and \
            (not c["name"].startswith("jemalloc") or facts["jemalloc_prof"])
    # Ratios need the mimalloc baseline at every size a config runs at.
    base_names = {"full": "mimalloc", "small": "mimalloc@small"}

    tmp_root = tempfile.mkdtemp(prefix="rallo-bench-")
    results = {}  # (workload, config) -> [run]
    started = time.time()
    seq = 0
    plan = [("fast", runs), ("slow", slow_runs)]
    for group, count in plan:
        group_configs = [c for c in configs if c["group"] == group and c["available"]]
        for round_index in range(count):
            order = group_configs if round_index % 2 == 0 else list(reversed(group_configs))
            for workload in workloads:
                for config in order:
                    if workload[0] not in config.get("only", (workload[0],)) or \
                            round_index >= config.get("max_runs", count):
                        continue
                    seq += 1
                    argv = workload_argv(build, workload, scales[config["size"]])
                    result = run_one(config, argv, tmp_root, seq)
                    results.setdefault((workload[0], config["name"]), []).append(result)
                    print("[%4.0fs] %-9s %-19s run %d: %.3fs cpu %.3fs rss %d KiB%s" % (
                        time.time() - started, workload[0], config["name"], round_index + 1, result["wall"],
                        result["cpu"], result["rss"], "  " + result["error"] if "error" in result else ""),
                        flush=True)
    callgrind = None
    if not args.no_callgrind:
        print("callgrind: malloc+free pairs ...", flush=True)
        callgrind = callgrind_pairs(build, librallo, args.quick, tmp_root)
    shutil.rmtree(tmp_root, ignore_errors=True)
    facts["elapsed_s"] = time.time() - started
    facts["load_end"] = read("/proc/loadavg").split()[:3]

    summary = summarize(workloads, configs, results, scales, base_names)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(dict(facts=facts, scales=scales, runs=runs, slow_runs=slow_runs, quick=args.quick,
                       summary=summary, callgrind=callgrind,
                       raw={"%s|%s" % k: v for k, v in results.items()}), f, indent=1)
    write_svg(os.path.join(args.out, "results.svg"), workloads, configs, summary)
    write_markdown(os.path.join(args.out, "RESULTS.md"), facts, workloads, configs, summary, callgrind, scales,
                   runs, slow_runs, args.quick)
    print("wrote %s/RESULTS.md, results.svg, results.json in %.0fs" % (args.out, facts["elapsed_s"]))


if __name__ == "__main__":
    main()
