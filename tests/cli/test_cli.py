#!/usr/bin/env python3
"""test_cli.py - the `rallo` command end to end, one check per ctest test:
    test_cli.py CHECK RALLO CLI_TARGET STRIP_PPROF WORKDIR
CHECK is one of the functions named check_* below. Ground truth is what
cli_target.c allocates (exact sizes and counts), what the test writes itself
(sort's input), and outside tools (go tool pprof, curl, the shell's exit codes)."""
import glob
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

CHECK, RALLO, TARGET, STRIP, WORK = sys.argv[1:6]

import cli_harness  # noqa: E402 (beside this script)
from cli_harness import check, finish, fresh_dir, run  # noqa: E402
from http_probe import free_port  # noqa: E402 (tests/common, on the path cli_harness set)

cli_harness.WORK = WORK


def report_json(path):
    result = run([RALLO, "report", path, "-f", "json"])
    if result.returncode != 0:
        check(False, "rallo report %s -f json: %s" % (path, result.stderr.strip()))
        return None
    return json.loads(result.stdout)


def leaf(site):
    return site["frames"][0]["function"] if site["frames"] else None


def sites_through(profile, function):
    """Sites whose stack has `function` in it (the allocator's own frames may sit above it)."""
    return [s for s in profile["sites"] if any(f.get("function") == function for f in s["frames"])]


def exact(profile, function, count, size, what):
    found = sites_through(profile, function)
    live = (sum(s["live_count"] for s in found), sum(s["live_bytes"] for s in found))
    check(live == (count, count * size), "%s: %s holds %d x %d B (found %s)" % (what, function, count, size, live))


def pids_in(directory):
    return sorted({int(os.path.basename(p).split(".")[1]) for p in glob.glob(os.path.join(directory, "rallo.*.final.pb.gz"))})


# ---- rallo run ----
def check_run_exit():
    out = fresh_dir("run_exit")
    result = run([RALLO, "run", "-o", out, "--", TARGET, "sites", "3"])
    check(result.returncode == 3, "exit 3 passed through (got %d)" % result.returncode)
    pids = pids_in(out)
    check(len(pids) == 1, "one process dumped (%s)" % pids)
    final = os.path.join(out, "rallo.%d.final.pb.gz" % pids[0])
    check(os.path.exists(final.replace(".pb.gz", ".html")), "the html flame graph is there")
    check(final.replace(".pb.gz", ".html") in result.stderr, "the summary names the html")
    profile = report_json(final)
    exact(profile, "keep_A", 100, 48, "final dump")
    exact(profile, "keep_B", 25, 1000, "final dump")
    top = [line for line in result.stderr.splitlines() if line.startswith("  ")]
    check(top and "keep_B" in top[0], "the summary's top site is keep_B: %s" % (top[:1],))
    check("allocated" in result.stderr and "peak live" in result.stderr, "summary has totals")


def check_run_signals():
    out = fresh_dir("run_signals")
    result = run([RALLO, "run", "-o", out, "--", TARGET, "segv"])
    check(result.returncode == 128 + signal.SIGSEGV, "death by SIGSEGV -> %d (got %d)" % (128 + signal.SIGSEGV, result.returncode))
    check("Segmentation fault" in result.stderr, "the message says Segmentation fault")
    check("left no final dump" in result.stderr, "and that no final dump was left")
    result = run([RALLO, "run", "-o", out, "--", "/bin/sh", "-c", "kill -KILL $$"])
    check(result.returncode == 128 + 9, "death by SIGKILL -> 137 (got %d)" % result.returncode)
    check("Killed" in result.stderr, "the message says Killed")
    result = run([RALLO, "run", "-o", out, "--", "/nonexistent/program"])
    check(result.returncode == 127, "a program that is not there -> 127 (got %d)" % result.returncode)
    check("/nonexistent/program" in result.stderr, "the error names it")
    # The shell agrees on the code of a signal death.
    shell = run(["/bin/sh", "-c", TARGET + " segv; echo $?"])
    check(shell.stdout.strip() == str(128 + signal.SIGSEGV), "sh says %s for the same death" % shell.stdout.strip())


def check_run_real_programs():
    out = fresh_dir("run_python")
    script = "data = [str(i) * 10 for i in range(20000)]\nprint(len(''.join(data)))\n"
    result = run([RALLO, "run", "-o", out, "--", "/usr/bin/python3", "-c", script])
    check(result.returncode == 0 and result.stdout.strip() == str(sum(len(str(i)) * 10 for i in range(20000))),
          "python3 ran its script under rallo (%d, %r)" % (result.returncode, result.stdout.strip()))
    pids = pids_in(out)
    check(len(pids) == 1, "python3: one final dump")
    profile = report_json(os.path.join(out, "rallo.%d.final.pb.gz" % pids[0])) if pids else None
    check(profile and profile["totals"]["alloc_bytes"] > 20000 * 40, "python3 allocated at least its strings")
    names = {f.get("function") for s in profile["sites"] for f in s["frames"]} if profile else set()
    check(any(n and n.startswith("Py") for n in names) or "main" in names, "python3's frames are named")

    out = fresh_dir("run_sort")
    lines = ["%08d line %d\n" % ((i * 7919) % 100003, i) for i in range(50000)]
    source = os.path.join(out, "input.txt")
    with open(source, "w") as f:
        f.writelines(lines)
    sorted_path = os.path.join(out, "sorted.txt")
    result = run([RALLO, "run", "-o", out, "--", "sort", "-o", sorted_path, source])
    check(result.returncode == 0, "sort exited 0")
    with open(sorted_path) as f:
        check(f.read() == "".join(sorted(lines)), "sort's output is sorted")
    pids = pids_in(out)
    profile = report_json(os.path.join(out, "rallo.%d.final.pb.gz" % pids[0])) if pids else None
    size = os.path.getsize(source)
    check(profile and profile["totals"]["alloc_bytes"] >= size, "sort allocated at least its input (%d B)" % size)

    # bash, not dash: dash leaves by _exit(), which runs no exit dump. Every
    # stage reads to the end (head would kill sort with SIGPIPE: no exit dump).
    pipeline = "sort %s | uniq | wc -l" % source
    out = fresh_dir("run_pipeline")
    result = run([RALLO, "run", "-o", out, "--", "/bin/bash", "-c", pipeline])
    check(result.returncode == 0 and result.stdout.strip() == "50000", "the pipeline ran (%r)" % result.stdout.strip())
    pids = pids_in(out)
    check(len(pids) == 4, "bash, sort, uniq and wc each dumped (%d pids)" % len(pids))
    programs = set()
    for pid in pids:
        p = report_json(os.path.join(out, "rallo.%d.final.pb.gz" % pid))
        programs.add(os.path.basename((p or {}).get("program") or "?"))
    check({"bash", "sort", "uniq", "wc"} == programs, "the dumps are of %s" % sorted(programs))

    out = fresh_dir("run_nofollow")
    result = run([RALLO, "run", "--no-follow", "-o", out, "--", "/bin/bash", "-c", pipeline])
    check(result.returncode == 0 and result.stdout.strip() == "50000", "the pipeline ran with --no-follow")
    pids = pids_in(out)
    check(len(pids) == 1, "--no-follow: only bash dumped (%s)" % pids)
    p = report_json(os.path.join(out, "rallo.%d.final.pb.gz" % pids[0])) if pids else {}
    check(os.path.basename(p.get("program") or "?") == "bash", "and it is bash's")

    result = run([RALLO, "run", "--no-follow", "-o", out, "--", TARGET, "env"])
    check(result.stdout.strip() == "LD_PRELOAD=unset RALLO_ENABLE=unset RALLO_DUMP_DIR=unset",
          "--no-follow: the child's environment has no rallo: %r" % result.stdout.strip())
    result = run([RALLO, "run", "-o", out, "--", TARGET, "env"])
    check("librallo.so" in result.stdout and "RALLO_ENABLE=1" in result.stdout,
          "without it the child is preloaded: %r" % result.stdout.strip())
    # Another library the user preloads survives --no-follow.
    env = dict(os.environ, LD_PRELOAD="/lib/x86_64-linux-gnu/libm.so.6")
    result = run([RALLO, "run", "--no-follow", "-o", out, "--", TARGET, "env"], env=env)
    check("LD_PRELOAD=/lib/x86_64-linux-gnu/libm.so.6 " in result.stdout,
          "--no-follow keeps the user's own preload: %r" % result.stdout.strip())


# ---- rallo report ----
def check_report_roundtrip():
    out = fresh_dir("roundtrip")
    result = run([RALLO, "run", "--formats", "json,pprof", "-o", out, "--", TARGET, "sites", "0"])
    check(result.returncode == 0, "ran")
    pid = pids_in(out)[0]
    with open(os.path.join(out, "rallo.%d.final.json" % pid)) as f:
        in_process = json.load(f)
    offline = report_json(os.path.join(out, "rallo.%d.final.pb.gz" % pid))
    check(offline == in_process, "pprof -> json equals the json written in-process")
    if offline != in_process:
        for key in in_process:
            if in_process[key] != offline.get(key):
                print("  differs: %s" % key)

    stripped = os.path.join(out, "stripped.pb.gz")
    result = run([STRIP, os.path.join(out, "rallo.%d.final.pb.gz" % pid), stripped])
    check(result.returncode == 0, "strip_pprof: %s" % (result.stdout.strip() or result.stderr.strip()))
    with gzip.open(stripped) as f:
        raw = f.read()
    check(b"keep_A" not in raw, "the stripped profile holds no function names")
    result = run([RALLO, "report", stripped, "-f", "json"])
    check(result.returncode == 0, "rallo report reads the address-only profile")
    profile = json.loads(result.stdout)
    exact(profile, "keep_A", 100, 48, "symbolized again")
    exact(profile, "keep_B", 25, 1000, "symbolized again")
    check(os.path.basename(TARGET) not in result.stderr, "no complaint about cli_target's frames: %r" % result.stderr)
    # The names come with files and lines from cli_target's DWARF.
    site = sites_through(profile, "keep_A")
    frame = [f for f in site[0]["frames"] if f["function"] == "keep_A"][0] if site else {}
    check(frame.get("file", "").endswith("cli_target.c") and frame.get("line", 0) > 0, "keep_A has file:line %s" % frame)


def check_report_errors():
    out = fresh_dir("errors")
    for sub in ("run", "report", "diff"):
        result = run([RALLO, sub, "--help"])
        check(result.returncode == 0 and result.stdout.startswith("usage: rallo " + sub), "rallo %s --help" % sub)
    result = run([RALLO, "--help"])
    check(result.returncode == 0 and "run" in result.stdout and "diff" in result.stdout, "rallo --help")
    missing = os.path.join(out, "missing.pb.gz")
    result = run([RALLO, "report", missing])
    check(result.returncode == 1 and missing in result.stderr, "a missing file is named: %r" % result.stderr.strip())
    garbage = os.path.join(out, "garbage.pb.gz")
    with open(garbage, "wb") as f:
        f.write(b"\x1f\x8b not really gzip")
    result = run([RALLO, "report", garbage])
    check(result.returncode == 1 and garbage in result.stderr and "not a readable pprof" in result.stderr,
          "a garbage file is named and refused: %r" % result.stderr.strip())
    result = run([RALLO, "diff", garbage, missing])
    check(result.returncode == 1 and garbage in result.stderr, "diff names the bad file")
    result = run([RALLO, "report", out])
    check(result.returncode == 1 and out in result.stderr, "an empty dump directory is named")
    result = run([RALLO, "run", "--unwind", "sideways", "--", "true"])
    check(result.returncode == 2 and "sideways" in result.stderr, "a bad option value is named")


# ---- rallo diff ----
def check_diff():
    out = fresh_dir("diff")
    env = dict(os.environ, LD_PRELOAD=RALLO_LIB, RALLO_ENABLE="1", RALLO_SAMPLE="0")
    result = run([TARGET, "leak", out], env=env)
    check(result.returncode == 0, "leak ran: %s" % result.stderr.strip())
    base, new = os.path.join(out, "base.pb.gz"), os.path.join(out, "new.pb.gz")
    result = run([RALLO, "diff", base, new])
    check(result.returncode == 0, "rallo diff text")
    grew = result.stdout.split("what grew (live bytes):\n")[1].splitlines()
    check(grew and "+37000 B" in grew[0] and "+37 blocks" in grew[0] and "leak_here" in grew[0],
          "leak_here tops the growth list with +37000 B: %r" % grew[:1])
    data = json.loads(run([RALLO, "diff", base, new, "-f", "json"]).stdout)
    top = data["sites"][0]
    check(top["live_bytes_growth"] == 37000 and top["live_count_growth"] == 37 and "leak_here" in top["stack"],
          "json: top growth is leak_here's 37000 B")
    check(all(s["live_bytes_growth"] == 0 for s in data["sites"] if "keep_A" in s["stack"]), "keep_A did not change")
    folded = run([RALLO, "diff", base, new, "-f", "folded"]).stdout.splitlines()
    check(any(l.endswith(" 37000") and "leak_here" in l for l in folded), "folded growth has leak_here 37000")
    page = os.path.join(out, "diff.html")
    result = run([RALLO, "diff", base, new, "-o", page])
    check(result.returncode == 0 and open(page).read().startswith("<!DOCTYPE html>"), "html diff written by extension")


# ---- rallo report DIR ----
def check_timeline():
    out = fresh_dir("timeline")
    result = run([RALLO, "run", "-o", out, "--", TARGET, "phases", out])
    check(result.returncode == 0, "phases ran")
    # Another process's lone dump: the one with most dumps is chosen.
    shutil.copy(glob.glob(os.path.join(out, "rallo.*.1.pb.gz"))[0], os.path.join(out, "rallo.1.final.pb.gz"))
    page = os.path.join(out, "timeline.html")
    result = run([RALLO, "report", out, "-o", page])
    check(result.returncode == 0, "rallo report DIR: %s" % result.stderr.strip())
    check("2 processes dumped here" in result.stderr, "says which process it chose")
    html = open(page).read()
    check(html.count('id="rallo-timeline"') == 1 and "http://" not in html.replace("http://www.w3.org/2000/svg", ""),
          "one page, no network addresses")
    data = json.loads(html.split('id="rallo-timeline">')[1].split("</script>")[0])
    check([p["seq"] for p in data["points"]] == ["1", "2", "3", "final"], "points in order: %s" % [p["seq"] for p in data["points"]])
    names = data["tree"]["strings"]
    check(len(names) == len(set(names)), "strings written once")
    check([s["label"].split(" ")[0] for s in data["series"][:3]] == ["stage_three", "stage_two", "stage_one"] or
          all(any(st in s["label"] for s in data["series"]) for st in ("stage_one", "stage_two", "stage_three")),
          "the stages are series: %s" % [s["label"] for s in data["series"]][:4])
    result = run(["node", os.path.join(os.path.dirname(__file__), "browser_cli.mjs"), page,
                  os.path.join(WORK, "diff", "diff.html")], timeout=180)
    print(result.stdout + result.stderr)
    check(result.returncode == 0, "the pages in headless Chromium")


# ---- RALLO_TOGGLE_SIGNAL ----
def check_toggle():
    out = fresh_dir("toggle")
    env = dict(os.environ, LD_PRELOAD=RALLO_LIB, RALLO_TOGGLE_SIGNAL="USR1", RALLO_DUMP_ON_EXIT="1",
               RALLO_DUMP_DIR=out, RALLO_DUMP_FORMATS="json")
    env.pop("RALLO_ENABLE", None)
    result = run([TARGET, "toggle"], env=env)
    check(result.returncode == 0 and result.stdout.strip() == "on=1 off=0",
          "USR1 turned tracking on, then off: %r %r" % (result.stdout.strip(), result.stderr.strip()))
    dumps = glob.glob(os.path.join(out, "rallo.*.final.json"))
    profile = json.load(open(dumps[0])) if dumps else {"sites": []}
    exact(profile, "toggled_on", 20, 128, "between the signals")
    check(not sites_through(profile, "untracked_before") and not sites_through(profile, "untracked_after"),
          "nothing tracked outside them")
    env["RALLO_TOGGLE_SIGNAL"] = "NOSUCH"
    result = run([TARGET, "sites", "0"], env=env)
    lines = [l for l in result.stderr.splitlines() if "RALLO_TOGGLE_SIGNAL" in l]
    check(result.returncode == 0 and len(lines) == 1, "a bad signal name: one stderr line (%r)" % lines)
    # The same signal for dumps and for the toggle: the dump keeps it (the
    # process survives its own USR1s: a handler is there) and the toggle is
    # refused in one line, so tracking stays off.
    clash = fresh_dir("toggle-clash")
    env.update(RALLO_TOGGLE_SIGNAL="SIGUSR1", RALLO_DUMP_SIGNAL="USR1", RALLO_DUMP_DIR=clash)
    result = run([TARGET, "toggle"], env=env)
    lines = [l for l in result.stderr.splitlines() if "RALLO_TOGGLE_SIGNAL" in l]
    check(result.returncode == 0 and result.stdout.strip() == "on=0 off=0" and len(lines) == 1 and
          "RALLO_DUMP_SIGNAL" in lines[0], "toggle and dump on one signal: %r %r" % (result.stdout.strip(), lines))
    # A RALLO_DUMP_DIR that does not exist yet is made, 0700, and the dump lands in it.
    missing = os.path.join(fresh_dir("dump-dir"), "made")
    env = dict(os.environ, LD_PRELOAD=RALLO_LIB, RALLO_ENABLE="1", RALLO_DUMP_ON_EXIT="1", RALLO_DUMP_DIR=missing,
               RALLO_DUMP_FORMATS="json")
    result = run([TARGET, "sites", "0"], env=env)
    made = os.path.isdir(missing) and (os.stat(missing).st_mode & 0o777) == 0o700
    check(result.returncode == 0 and made and glob.glob(os.path.join(missing, "rallo.*.final.json")) and
          "rallo:" not in result.stderr, "a missing dump directory made 0700 with the dump in it: %r %r" %
          (os.listdir(missing) if os.path.isdir(missing) else None, result.stderr.strip()))


# ---- RALLO_HTTP ----
def http(url, method="GET"):
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.headers.get("Content-Type", ""), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def churn_allocations(base, directory, name):
    path = os.path.join(directory, name)
    run(["curl", "-sS", "-o", path, base + "/debug/pprof/heap"])
    profile = report_json(path)
    return sum(s["alloc_count"] for s in profile["sites"] if leaf(s) == "main" or
               (s["frames"] and any(f.get("function") == "main" for f in s["frames"][:3]) and
                s["alloc_bytes"] == 100 * s["alloc_count"]))


def check_http():
    out = fresh_dir("http")
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    env = dict(os.environ, LD_PRELOAD=RALLO_LIB, RALLO_ENABLE="1", RALLO_HTTP="127.0.0.1:%d" % port)
    proc = subprocess.Popen([TARGET, "serve"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        check(proc.stdout.readline().strip() == "ready", "the program is up")
        heap = os.path.join(out, "heap.pb.gz")
        result = run(["curl", "-sS", "-f", "-o", heap, base + "/debug/pprof/heap"])
        check(result.returncode == 0, "curl /debug/pprof/heap")
        gohome = tempfile.mkdtemp(dir=out)
        goenv = dict(os.environ, HOME=gohome, GOCACHE=os.path.join(gohome, "cache"), GOFLAGS="-mod=mod")
        raw = run(["go", "tool", "pprof", "-raw", heap], env=goenv)
        check(raw.returncode == 0 and "inuse_space/bytes[dflt]" in raw.stdout, "go tool pprof reads heap; inuse_space default")
        profile = report_json(heap)
        exact(profile, "served_site", 50, 4096, "served heap profile")
        allocs = os.path.join(out, "allocs.pb.gz")
        run(["curl", "-sS", "-f", "-o", allocs, base + "/debug/pprof/allocs"])
        raw = run(["go", "tool", "pprof", "-raw", allocs], env=goenv)
        check(raw.returncode == 0 and "alloc_space/bytes[dflt]" in raw.stdout, "allocs: alloc_space is the default")
        status, kind, body = http(base + "/")
        check(status == 200 and kind.startswith("text/html") and body.startswith(b"<!DOCTYPE html>"), "/ is the html page")
        # Tracking off, then on, seen in the count of main's 100-byte churn.
        check(http(base + "/debug/rallo/disable", "POST")[0] == 200, "POST disable")
        before = churn_allocations(base, out, "a.pb.gz")
        for _ in range(10):
            proc.stdin.write("x\n")
        proc.stdin.flush()
        time.sleep(0.5)
        after_off = churn_allocations(base, out, "b.pb.gz")
        check(after_off == before, "disabled: 10 churn allocations not counted (%d -> %d)" % (before, after_off))
        check(http(base + "/debug/rallo/enable", "POST")[0] == 200, "POST enable")
        for _ in range(10):
            proc.stdin.write("x\n")
        proc.stdin.flush()
        time.sleep(0.5)
        after_on = churn_allocations(base, out, "c.pb.gz")
        check(after_on == before + 10, "enabled: exactly 10 more counted (%d -> %d)" % (before, after_on))
        check(http(base + "/nope")[0] == 404, "a bad path is 404")
        check(http(base + "/debug/pprof/heapx")[0] == 404, "a near miss is 404")
        check(http(base + "/debug/rallo/enable")[0] == 405, "GET on a POST path is 405")
        check(http(base + "/debug/pprof/heap", "POST")[0] == 405, "POST on a GET path is 405")
        check(proc.poll() is None, "the program still runs")
    finally:
        proc.stdin.close()
        code = proc.wait(timeout=30)
    check(code == 0, "the program exited normally (%d)" % code)


RALLO_LIB = os.path.join(os.path.dirname(os.path.realpath(RALLO)), "librallo.so")
os.makedirs(WORK, exist_ok=True)
globals()["check_" + CHECK]()
finish()
