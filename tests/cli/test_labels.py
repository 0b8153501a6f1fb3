#!/usr/bin/env python3
"""test_labels.py - what rallo names sites by, and the report's --top, --depth
and --metric, one check per ctest test:
    test_labels.py CHECK RALLO TARGET WORKDIR
TARGET is labels_target (-O2 -g): its marker comments (SITE_A, SITE_B, SITE_C,
CALL_A) are the ground truth of every file:line, its header comment that of
every count and size."""
import json
import os
import re
import shutil
import sys

CHECK, RALLO, TARGET, WORK = sys.argv[1:5]

import cli_harness  # noqa: E402 (beside this script)
from cli_harness import check, finish, fresh_dir, run  # noqa: E402

cli_harness.WORK = WORK
SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "labels_target.c")
FILE = os.path.basename(SOURCE)


def marker_lines():
    lines = {}
    with open(SOURCE) as f:
        for number, text in enumerate(f, 1):
            for marker in re.findall(r"/\* (SITE_[A-C]|CALL_A) \*/", text):
                lines[marker] = number
    return lines


LINE = marker_lines()
A, B, C, CALL_A = ("%s:%d" % (FILE, LINE[m]) for m in ("SITE_A", "SITE_B", "SITE_C", "CALL_A"))


def final_profile(name, *args):
    out = fresh_dir(name)
    result = run([RALLO, "run", "--formats", "pprof", "-o", out, "--", TARGET] + list(args))
    check(result.returncode == 0, "%s ran: %s" % (name, result.stderr.strip()[-300:]))
    finals = [p for p in os.listdir(out) if p.endswith(".final.pb.gz")]
    return result, os.path.join(out, finals[0]) if finals else None


# ---- labels: the run summary and the text report ----
def check_labels():
    result, profile = final_profile("labels")
    summary = result.stderr
    inlined = "cache_insert (%s) < main (%s)" % (A, CALL_A)
    check(inlined in summary, "the summary names the inlined site with the caller it is inlined into: %r" % inlined)
    check(("two_mallocs (%s)" % C) in summary, "the summary names SITE_C by its own line %s" % C)
    text = run([RALLO, "report", profile]).stdout
    check(re.search(r"cache_insert \(\S*%s\) \[inlined\]\n\s+main \(\S*%s\)" % (re.escape(A), re.escape(CALL_A)), text)
          is not None, "the text report: cache_insert at %s inlined into main at %s" % (A, CALL_A))
    for line in (B, C):
        check(re.search(r"two_mallocs \(\S*%s\)" % re.escape(line), text) is not None, "the text report has %s" % line)


# ---- --top, --depth, --metric ----
def site_blocks(text, title):
    """The sites of one ranking: (header line, [frame lines])."""
    part = text.split(title + "\n", 1)[1].split("\n\n")[0]
    sites = []
    for line in part.splitlines():
        if re.match(r"\s+\d+\. ", line):
            sites.append((line, []))
        elif sites:
            sites[-1][1].append(line.strip())
    return sites


def which(frames):
    leaf = frames[0] if frames else ""
    for name, line in (("A", A), ("B", B), ("C", C)):
        if leaf.endswith(line + ")") or (line + ")") in leaf:
            return name
    return "?"


def check_report_options():
    result, profile = final_profile("options")
    # Known: A 10 x 64 B live; B 3 x 1000 B, all freed; C 1 x 2000 B live; the
    # process peaked with all of them live (5640 B of ours).
    expect = {"live": ["C", "A"], "allocated": ["B", "C", "A"], "counts": ["A", "B", "C"], "peak": ["B", "C", "A"]}
    title = {"live": "live bytes", "allocated": "allocated bytes", "counts": "allocations", "peak": "bytes live at the peak"}
    for metric, order in expect.items():
        r = run([RALLO, "report", profile, "--metric", metric, "--top", str(len(order)), "--depth", "1"])
        check(r.returncode == 0, "--metric %s runs: %s" % (metric, r.stderr.strip()))
        heading = "top %d sites by %s:" % (len(order), title[metric])
        check(heading in r.stdout and r.stdout.count("\ntop ") == 1, "--metric %s: one ranking, %r" % (metric, heading))
        if heading not in r.stdout:
            continue
        sites = site_blocks(r.stdout, heading)
        check([which(f) for _, f in sites] == order, "--metric %s ranks %s (got %s)" % (metric, order, [which(f) for _, f in sites]))
        check(all(len(f) == 2 and f[1] == "..." for _, f in sites), "--depth 1: one frame then '...': %s" % [f for _, f in sites])
    r = run([RALLO, "report", profile, "--metric", "counts", "--top", "3"])
    first = site_blocks(r.stdout, "top 3 sites by allocations:")[0]
    check(first[0].split(". ", 1)[1].startswith("10 allocations") and which(first[1]) == "A",
          "counts: SITE_A made 10 allocations: %r" % first[0])
    check(first[1][:2] == ["cache_insert (%s) [inlined]" % os.path.join(os.path.dirname(SOURCE), A),
                           "main (%s)" % os.path.join(os.path.dirname(SOURCE), CALL_A)] or
          (first[1][0].endswith(A + ") [inlined]") and first[1][1].startswith("main (") and first[1][1].endswith(CALL_A + ")")),
          "the default depth shows the inlined caller: %s" % first[1][:2])
    r = run([RALLO, "report", profile, "--depth", "7", "--top", "1"])
    sites = site_blocks(r.stdout, "top 1 sites by live bytes:")
    check(len(sites) == 1 and 1 < len(sites[0][1]) <= 8 and (len(sites[0][1]) < 8 or sites[0][1][7] == "..."),
          "--depth 7 --top 1: one site, at most 7 frames: %s" % sites)
    # folded: the value is the metric, SITE_B and SITE_C are two lines of two_mallocs.
    want = {"live": {"cache_insert": [640], "two_mallocs": [0, 2000]}, "allocated": {"cache_insert": [640], "two_mallocs": [2000, 3000]},
            "counts": {"cache_insert": [10], "two_mallocs": [1, 3]}, "peak": {"cache_insert": [640], "two_mallocs": [2000, 3000]}}
    for metric, values in want.items():
        folded = run([RALLO, "report", profile, "-f", "folded", "--metric", metric]).stdout.splitlines()
        got = {}
        for line in folded:
            stack, value = line.rsplit(" ", 1)
            leaf = stack.split(";")[-1]
            if leaf in values:
                got.setdefault(leaf, []).append(int(value))
        got = {k: sorted(v + [0] * (len(values[k]) - len(v))) for k, v in got.items()}
        check(got == values, "folded --metric %s: %s (got %s)" % (metric, values, got))
    for bad in (["--top", "0"], ["--depth", "-1"], ["--metric", "bogus"], ["--top", "x"], ["-f", "json", "--metric", "live"]):
        r = run([RALLO, "report", profile] + bad)
        check(r.returncode == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) >= 1, "%s is refused with exit 2" % bad)


# ---- rallo diff and the timeline legend ----
def check_diff_sites():
    out = fresh_dir("diff_sites")
    result = run([RALLO, "run", "--formats", "pprof", "-o", out, "--", TARGET, "steps", out])
    check(result.returncode == 0, "steps ran: %s" % result.stderr.strip()[-300:])
    one = [p for p in os.listdir(out) if p.endswith(".1.pb.gz")]
    two = [p for p in os.listdir(out) if p.endswith(".2.pb.gz")]
    if not one or not two:
        check(False, "the two dumps exist")
        return
    base, new = os.path.join(out, one[0]), os.path.join(out, two[0])
    text = run([RALLO, "diff", base, new]).stdout
    grew = text.split("what grew (live bytes):\n")[1].split("\n\n")[0].splitlines()
    check(len(grew) == 1 and "+4000 B" in grew[0] and "+4 blocks" in grew[0] and ("two_mallocs (%s)" % B) in grew[0],
          "diff: SITE_B alone grew by 4 x 1000 B: %s" % grew)
    data = json.loads(run([RALLO, "diff", base, new, "-f", "json"]).stdout)
    mine = {}
    for site in data["sites"]:
        frames = site.get("frames", [])
        if frames and frames[0].get("function") == "two_mallocs":
            mine[(os.path.basename(frames[0].get("file") or ""), frames[0].get("line"))] = site["live_bytes_growth"]
    check(mine == {(FILE, LINE["SITE_B"]): 4000, (FILE, LINE["SITE_C"]): 0},
          "diff json: two rows for two_mallocs, by file and line: %s" % mine)
    inlined = [s for s in data["sites"] if s.get("frames") and s["frames"][0].get("function") == "cache_insert"]
    check(len(inlined) == 1 and inlined[0]["frames"][1].get("function") == "main" and
          inlined[0]["frames"][1].get("line") == LINE["CALL_A"], "diff json: cache_insert's frames go on to main at CALL_A")

    # The timeline of the same dumps: each legend label names the line whose values it shows.
    page = os.path.join(out, "timeline.html")
    result = run([RALLO, "report", out, "-o", page])
    check(result.returncode == 0, "rallo report DIR: %s" % result.stderr.strip())
    html = open(page).read()
    data = json.loads(html.split('id="rallo-timeline">')[1].split("</script>")[0])
    last = data["points"][-1]["values"]
    live = {last[i]: last[i + 1] for i in range(0, len(last), 8)}
    truth = {B: 5000, C: 3000, A: 640}
    seen = {}
    for series in data["series"]:
        for line, value in truth.items():
            if re.search(r"\(%s\)" % re.escape(line), series["label"].split(" < ")[0]):
                seen[line] = live.get(series["site"])
    check(seen == truth, "timeline legend: each label's line holds what that line allocated: %s (want %s)" % (seen, truth))
    check(any(s["label"].startswith("cache_insert (%s) < main (%s)" % (A, CALL_A)) for s in data["series"]),
          "timeline legend names the inlined caller: %s" % [s["label"] for s in data["series"]])


# ---- a module without symbols ----
def check_missing_symbols():
    out = fresh_dir("missing_symbols")
    stripped = os.path.join(out, "labels_target_stripped")
    shutil.copy(TARGET, stripped)
    check(run(["strip", "--strip-all", stripped]).returncode == 0, "strip --strip-all a copy")
    result = run([RALLO, "run", "--formats", "pprof", "-o", out, "--", stripped])
    check(result.returncode == 0, "the stripped copy ran")
    finals = [p for p in os.listdir(out) if p.endswith(".final.pb.gz")]
    profile = os.path.join(out, finals[0])
    result = run([RALLO, "report", profile, "-f", "json"])
    check(result.returncode == 0, "rallo report on it")
    named = [l for l in result.stderr.splitlines() if stripped in l]
    check(len(named) == 1 and "no name" in named[0], "the stripped module is named once, with its unnamed frames: %s" % named)
    check("no debug information" in result.stderr, "and says it has no debug information: %r" % result.stderr)
    unnamed = 0
    for site in json.loads(result.stdout)["sites"]:
        unnamed += sum(1 for f in site["frames"] if f["function"].startswith("labels_target_stripped+0x"))
    count = re.search(r"(\d+) with no name", named[0]) if named else None
    check(unnamed > 0 and count is not None, "its frames read labels_target_stripped+0x... (%d of them)" % unnamed)


globals()["check_" + CHECK]()
finish()
