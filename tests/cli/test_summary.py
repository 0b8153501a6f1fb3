#!/usr/bin/env python3
"""test_summary.py - what `rallo run` says at the end, and what the dumps say
about themselves, one check per ctest test:
    test_summary.py CHECK RALLO SUMMARY_TARGET WORKDIR
CHECK is one of the functions named check_* below. Ground truth is what
summary_target.c allocates (exact sizes, which process, its argv), a static
program the test builds itself with cc -static, and Chromium showing the page."""
import glob
import json
import os
import re
import sys

CHECK, RALLO, TARGET, WORK = sys.argv[1:5]

import cli_harness  # noqa: E402 (beside this script)
from cli_harness import check, finish, fresh_dir, run  # noqa: E402

cli_harness.WORK = WORK
MiB = 1 << 20


def report(path, fmt, *extra):
    result = run([RALLO, "report", path, "-f", fmt] + list(extra))
    check(result.returncode == 0, "rallo report %s -f %s: %s" % (path, fmt, result.stderr.strip()[-300:]))
    return result


def table_rows(stderr):
    """The process table's rows: (pid, command), in the order printed."""
    rows = []
    for line in stderr.splitlines():
        m = re.match(r"^\s+(\d+)\s+\S+ \S+\s+\S+ \S+\s+\S+ \S+\s+(.*)$", line)
        if m:
            rows.append((int(m.group(1)), m.group(2)))
    return rows


def section(stderr, title):
    """The site lines under a summary heading ("rallo: <title>...")."""
    lines, inside = [], False
    for line in stderr.splitlines():
        if line.startswith("rallo: "):
            inside = line[len("rallo: "):].startswith(title)
            continue
        if inside and line.startswith("  "):
            lines.append(line)
    return lines


def browser(*pages):
    result = run(["node", os.path.join(os.path.dirname(os.path.abspath(__file__)), "browser_summary.mjs")] + list(pages),
                 timeout=180)
    check(result.returncode == 0, "the pages open in headless Chromium: %s" % result.stderr.strip()[-500:])
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


# ---- every process, one summary ----
def check_family():
    out = fresh_dir("family")
    result = run([RALLO, "run", "-o", out, "--", TARGET, "family"])
    print(result.stderr)
    check(result.returncode == 0, "the family ran (%d)" % result.returncode)
    check("3 processes profiled" in result.stderr, "the summary counts three processes")
    rows = table_rows(result.stderr)
    commands = [command for _, command in rows]
    expected = ["%s child 8 second" % TARGET, "%s child 4 first" % TARGET, "%s family" % TARGET]
    check(commands == expected, "three rows with their argv, biggest first: %s" % commands)
    pids = {command: pid for pid, command in rows}
    # Each dump carries its own argv and its parent.
    dumps = {}
    for path in glob.glob(os.path.join(out, "rallo.*.final.pb.gz")):
        profile = json.loads(report(path, "json").stdout)
        dumps[profile["pid"]] = profile
    for command in expected:
        profile = dumps.get(pids.get(command), {})
        check(profile.get("argv") == command.split(" "), "json argv of %s: %s" % (command, profile.get("argv")))
    parent = pids.get(expected[2])
    check(all(dumps.get(pids.get(c), {}).get("ppid") == parent for c in expected[:2]),
          "both children name the parent (pid %s) as ppid" % parent)
    # The biggest one's sites follow the table.
    check(re.search(r"^rallo: summary_target \(pid %d\) allocated" % pids.get(expected[0], -1), result.stderr, re.M),
          "then the biggest process's figures")
    at_peak = section(result.stderr, "at the peak")
    check(at_peak and "8.0 MiB" in at_peak[0] and "child_block" in at_peak[0],
          "its top site at the peak is child_block, 8 MiB: %s" % at_peak[:1])
    # The text header and the HTML title carry the command line too.
    second = os.path.join(out, "rallo.%d.final" % pids.get(expected[0], 0))
    text = report(second + ".pb.gz", "text").stdout
    check("command: %s child 8 second\n" % TARGET in text, "text header names the command line")
    with open(second + ".html") as f:
        title = re.search(r"<title>(.*?)</title>", f.read())
    check(title and "child 8 second" in title.group(1), "html title names it: %s" % (title and title.group(1)))

    # rallo report DIR lists them and takes --pid.
    first = pids.get(expected[1], 0)
    listed = run([RALLO, "report", out, "--pid", str(first), "-f", "json"])
    check(listed.returncode == 0, "rallo report DIR --pid %d -f json: %s" % (first, listed.stderr.strip()[-300:]))
    check([c for _, c in table_rows(listed.stderr)] == expected, "rallo report DIR lists the three, biggest first")
    chosen = json.loads(listed.stdout) if listed.returncode == 0 else {}
    live = sum(s["live_bytes"] for s in chosen.get("sites", [])
               if any(f["function"] == "child_block" for f in s["frames"]))
    check(chosen.get("pid") == first and live == 4 * MiB, "--pid chose child 4: pid %s, child_block %d B live" %
          (chosen.get("pid"), live))
    missing = run([RALLO, "report", out, "--pid", "1", "-f", "json"])
    check(missing.returncode == 1 and "no dumps of pid 1" in missing.stderr, "a pid with no dumps: exit 1, said")

    # A run in the same directory later summarises only its own processes.
    again = run([RALLO, "run", "-o", out, "--", TARGET, "child", "1", "alone"])
    check("processes profiled" not in again.stderr and "child 8" not in again.stderr,
          "a second run in the same directory leaves the first run's processes out")


# ---- the summary ranks what matters ----
def check_ranking():
    out = fresh_dir("ranking")
    result = run([RALLO, "run", "-o", out, "--", TARGET, "peak_then_small"])
    print(result.stderr)
    check(result.returncode == 0, "peak_then_small ran")
    at_peak = section(result.stderr, "at the peak")
    check(at_peak and "64.0 MiB" in at_peak[0] and "big_buffer" in at_peak[0],
          "the summary leads with big_buffer, 64 MiB at the peak: %s" % at_peak[:1])
    lines = [l for l in result.stderr.splitlines() if l.startswith("rallo: ")]
    headings = [l for l in lines if re.match(r"rallo: (at the peak|most allocated|still live|live at exit)", l)]
    check(headings and headings[0].startswith("rallo: at the peak"), "the peak comes first: %s" % headings)
    check(len(headings) > 1 and headings[1].startswith("rallo: most allocated"), "then who allocated most")
    check(any(l.startswith("rallo: live at exit") and "trifle" in l for l in lines),
          "1000 B live at exit is said in one line, not ranked first")
    final = glob.glob(os.path.join(out, "rallo.*.final.pb.gz"))[0]
    text = report(final, "text").stdout
    first_section = re.search(r"^top \d+ sites (.*)$", text, re.M)
    check(first_section and first_section.group(1).startswith("by bytes live at the peak"),
          "the text report leads with the peak: %s" % (first_section and first_section.group(0)))
    first_site = re.search(r"^\s+1\. (\d+) B", text.split("sites by bytes live at the peak", 1)[-1], re.M)
    check(first_site and int(first_site.group(1)) == 64 * MiB, "its first site holds 64 MiB at the peak")
    seen = browser(final.replace(".pb.gz", ".html"))
    page = seen[0] if seen else {}
    check(page.get("opening") == "peak_live_bytes" and page.get("metric") == "peak_live_bytes",
          "the page opens on the flame graph at peak: %s" % page.get("metric"))
    check(page.get("tab") == "peak", "and on the At peak table: %s" % page.get("tab"))
    check(not page.get("errors"), "no script errors: %s" % page.get("errors"))


# ---- the CLI checks its own flags ----
def check_flags():
    out = fresh_dir("flags")
    marker = os.path.join(out, "marker")
    bad = [["--sample", "abc"], ["--sample", "-5"], ["--sample", "2t"], ["--interval", "-1"], ["--interval", "x"],
           ["--depth", "0"], ["--depth", "129"], ["--depth", "7x"], ["--formats", "html,png"], ["--formats", ","],
           ["--unwind", "xyz"], ["-o", ""]]
    for flags in bad:
        result = run([RALLO, "run", "-o", out] + flags + ["--", TARGET, "touch", marker])
        lines = result.stderr.strip().splitlines()
        check(result.returncode == 2 and len(lines) == 1 and lines[0].startswith("rallo: run: ")
              and not os.path.exists(marker),
              "%s: exit 2, one line, program not run (%d, %r, marker %s)" %
              (" ".join(flags), result.returncode, result.stderr.strip(), os.path.exists(marker)))
    good = run([RALLO, "run", "--sample", "512k", "--interval", "0.5", "--depth", "128", "--formats", "text,json",
                "-o", out, "--", TARGET, "touch", marker])
    check(good.returncode == 0 and os.path.exists(marker) and "ignoring" not in good.stderr,
          "good flags run the program without a warning (%d, %r)" % (good.returncode, good.stderr[-300:]))


# ---- static programs ----
def check_static():
    out = fresh_dir("static")
    source = os.path.join(out, "static.c")
    with open(source, "w") as f:
        f.write('#include <stdlib.h>\n#include <stdio.h>\nint main(void) { void *p = malloc(1000); '
                'printf("static ran\\n"); free(p); return 0; }\n')
    program = os.path.join(out, "static_prog")
    built = run(["cc", "-static", "-O1", "-o", program, source])
    check(built.returncode == 0, "cc -static builds a static program: %s" % built.stderr.strip())
    result = run([RALLO, "run", "-o", out, "--", program])
    print(result.stderr)
    check(result.returncode == 0 and result.stdout == "static ran\n", "it ran and exited 0 (%d)" % result.returncode)
    check("statically linked" in result.stderr and "LD_PRELOAD" in result.stderr and "-lrallo" in result.stderr,
          "says it is static, that LD_PRELOAD cannot reach it, and how to link rallo in")
    check("did not exit normally" not in result.stderr and "left no final dump" not in result.stderr,
          "does not claim it failed to exit")
    check(len(result.stderr.strip().splitlines()) == 1, "in one line")
    # A dynamic program is not mistaken for one, nor a script run by a dynamic shell.
    script = os.path.join(out, "script.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    os.chmod(script, 0o755)
    for args in ([TARGET, "small", "1", "10"], [script]):
        result = run([RALLO, "run", "-o", out, "--"] + args)
        check("statically linked" not in result.stderr, "%s is not called static" % args[0])


# ---- a sampled profile says how many samples it holds ----
def check_samples():
    out = fresh_dir("samples")
    # 1000 x 1 KiB live and one sample per 1 TiB on average: almost surely
    # (p > 0.99999) no sample at all.
    result = run([RALLO, "run", "--sample", "1t", "--formats", "html,text,json", "-o", out, "--",
                  TARGET, "small", "1000", "1024"])
    check(result.returncode == 0, "ran sampled")
    check(re.search(r"at most \d+ samples", result.stderr) and "smaller --sample" in result.stderr,
          "the run's summary says how many samples and that a smaller --sample takes more")
    final = glob.glob(os.path.join(out, "rallo.*.final.pb.gz"))[0]
    text = open(final.replace(".pb.gz", ".txt")).read()
    line = re.search(r"^samples: .*$", text, re.M)
    check(line and "none" in line.group(0) and "RALLO_SAMPLE" in line.group(0), "text: %s" % (line and line.group(0)))
    profile = json.load(open(final.replace(".pb.gz", ".json")))
    check(profile.get("samples") == {"live": 0, "allocated": 0}, "json: no samples %s" % profile.get("samples"))
    raw = run(["go", "tool", "pprof", "-raw", final], env=dict(os.environ, GOFLAGS="-mod=mod"))
    check("rallo.samples live=0 allocated=0" in raw.stdout, "the pprof comment says so (go tool pprof -raw)")
    # Every allocation tracked: the count is exact, 1000 of ours among the rest.
    exact_dir = fresh_dir("samples_exact")
    run([RALLO, "run", "--formats", "json", "-o", exact_dir, "--", TARGET, "small", "1000", "1024"])
    exact = json.load(open(glob.glob(os.path.join(exact_dir, "rallo.*.final.json"))[0]))
    check(exact["samples"]["live"] == exact["totals"]["live_count"] and exact["totals"]["live_count"] >= 1000,
          "every allocation: samples are the live blocks (%s)" % exact["samples"])
    # Few samples (1 MiB of 1 KiB blocks, one per 64 KiB: about 16).
    few_dir = fresh_dir("samples_few")
    run([RALLO, "run", "--sample", "64k", "--formats", "html,json", "-o", few_dir, "--", TARGET, "small", "1024", "1024"])
    few = json.load(open(glob.glob(os.path.join(few_dir, "rallo.*.final.json"))[0]))
    live = few["samples"]["live"]
    check(0 < live < 100 and live <= few["totals"]["live_bytes"] // 65536 + 1,
          "sampled: at most live_bytes / interval samples (%d)" % live)
    seen = browser(final.replace(".pb.gz", ".html"), glob.glob(os.path.join(few_dir, "rallo.*.final.html"))[0])
    check(len(seen) == 2 and seen[0]["note"] and "no live samples" in seen[0]["note"] and "RALLO_SAMPLE" in seen[0]["note"],
          "the page of an empty sampled profile says why: %s" % (seen and seen[0].get("note")))
    check(len(seen) == 2 and seen[1]["note"] and ("at most %d live samples" % live) in seen[1]["note"],
          "the page of a thin one says how many: %s" % (len(seen) == 2 and seen[1].get("note")))


# ---- CPython's own allocator ----
def check_python():
    out = fresh_dir("python")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONMALLOC"}
    result = run([RALLO, "run", "-o", out, "--", "python3", "-c", "x = [str(i) for i in range(1000)]"], env=env)
    check(result.returncode == 0 and "PYTHONMALLOC=malloc" in result.stderr and "pymalloc" in result.stderr,
          "python3 with pymalloc: the summary says how to see its objects")
    env["PYTHONMALLOC"] = "malloc"
    result = run([RALLO, "run", "-o", out, "--", "python3", "-c", "x = [str(i) for i in range(1000)]"], env=env)
    check(result.returncode == 0 and "pymalloc" not in result.stderr, "with PYTHONMALLOC=malloc it says nothing")
    # Behind a shell, as a distribution's wrapper scripts run it.
    env.pop("PYTHONMALLOC")
    result = run([RALLO, "run", "-o", out, "--", "/bin/bash", "-c", "python3 -c 'print(1)'; true"], env=env)
    check("PYTHONMALLOC=malloc" in result.stderr, "python3 behind a shell is noticed too")


globals()["check_" + CHECK]()
finish()
