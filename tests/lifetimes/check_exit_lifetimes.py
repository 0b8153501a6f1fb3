#!/usr/bin/env python3
"""check_exit_lifetimes.py RALLO TARGET run|env|timeline: sizes, lifetimes, temporaries
and threads through the dumps the `rallo` command converts (issue 15), against
what lt_exit_target did, every allocation tracked (exact).

run: `rallo run --lifetimes --formats json,pprof -- TARGET`; env: TARGET with
RALLO_ENABLE=1 RALLO_LIFETIMES=1 RALLO_DUMP_ON_EXIT=1 (the helper converts the
exit dump on its own). Either way the exit dump's converted JSON must give the
target's figures exactly, `rallo report -f json` of its pprof the same ones,
and `rallo report` of the target's in-process pprof dump the figures of its
in-process JSON dump of the same moment (live ages: the same blocks, the
bucket may move on between the two snapshots). timeline: as run, with a dump
every 0.1 s while the target pauses between its steps; the timeline page of
those dumps gives each dump's temporaries, the last one's those of the exit
dump, and in headless Chromium one bar per interval adding up to them
(browser_timeline.mjs)."""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_lifetimes import at, bucket, expect, site_of  # noqa: E402

LIFETIME_KEYS = ("lifetime_log2_ns", "temporary", "size_log2", "threads")


def histogram(counts):
    while counts and counts[-1] == 0:
        counts.pop()
    return counts


def check_truth(report, truth):
    for key in ("threads", "temporary", "size_log2"):
        if key not in report:
            sys.exit(f"FAIL: no '{key}' in the report: the dump did not carry the lifetimes figures")
    n, size = truth["temps"]
    temp = site_of(report, "exit_temp_site")
    expect("exit_temp_site temporary", temp["temporary"], {"count": n, "bytes": n * size})
    expect("exit_temp_site size_log2", temp["size_log2"], [0] * bucket(size) + [n])
    expect("exit_temp_site lifetimes counted", sum(temp["lifetime_log2_ns"]), n)
    expect("exit_temp_site live", temp["live_count"], 0)

    n, size = truth["pairs"]
    first, second = site_of(report, "exit_first_of_pair"), site_of(report, "exit_second_of_pair")
    expect("exit_first_of_pair temporary", first["temporary"], {"count": 0, "bytes": 0})
    expect("exit_second_of_pair temporary", second["temporary"], {"count": n, "bytes": n * size})
    expect("exit_first_of_pair lifetimes counted", sum(first["lifetime_log2_ns"]), n)

    mix = site_of(report, "exit_size_mix")
    want = [0] * 41
    for s in truth["sizes"]:
        want[bucket(s)] += 1
    expect("exit_size_mix size_log2", mix["size_log2"], histogram(want))
    expect("exit_size_mix live", (mix["live_count"], mix["live_bytes"]), (len(truth["sizes"]), sum(truth["sizes"])))
    expect("exit_size_mix lifetimes (none freed)", sum(mix["lifetime_log2_ns"]), 0)

    n, size, lo, hi = truth["waited"]
    waited = site_of(report, "exit_waited_alloc")
    in_range = sum(at(waited["lifetime_log2_ns"], k) for k in range(bucket(lo), bucket(hi) + 1))
    expect(f"exit_waited_alloc lifetimes in buckets {bucket(lo)}..{bucket(hi)}", in_range, n)
    expect("exit_waited_alloc temporary (the last block, freed first thing after)",
           waited["temporary"], {"count": 1, "bytes": size})

    threads = {t["name"]: t for t in report["threads"]}
    for name in ("lt-main", "lt-alpha", "lt-beta"):
        if name not in threads:
            sys.exit(f"FAIL: no thread {name} in {sorted(threads)}")
    allocs, kept, size = truth["alpha"]
    alpha = threads["lt-alpha"]
    expect("lt-alpha", (alpha["exited"], alpha["alloc_count"], alpha["alloc_bytes"], alpha["live_count"],
                        alpha["live_bytes"]), (True, allocs, allocs * size, kept, kept * size))
    a_site = site_of(report, "exit_alpha_alloc")
    expect("exit_alpha_alloc threads", [(t["name"], t["tid"], t["alloc_count"], t["live_count"]) for t in a_site["threads"]],
           [("lt-alpha", alpha["tid"], allocs, kept)])
    expect("exit_alpha_alloc temporary", a_site["temporary"]["count"], allocs - kept)
    allocs, kept, freed_by_main, size = truth["beta"]
    beta, live = threads["lt-beta"], kept - freed_by_main
    expect("lt-beta (still running; some freed by lt-main)",
           (beta["exited"], beta["alloc_count"], beta["alloc_bytes"], beta["live_count"], beta["live_bytes"]),
           (False, allocs, allocs * size, live, live * size))
    b_site = site_of(report, "exit_beta_alloc")
    expect("exit_beta_alloc threads", [(t["name"], t["alloc_count"], t["live_count"]) for t in b_site["threads"]],
           [("lt-beta", allocs, live)])
    main_sites = [s for s in report["sites"] if s["frames"] and s["frames"][0]["function"] in
                  ("exit_temp_site", "exit_first_of_pair", "exit_second_of_pair", "exit_size_mix", "exit_waited_alloc")]
    for s in main_sites:
        expect(f"{s['frames'][0]['function']} threads", [t["name"] for t in s["threads"]], ["lt-main"])

    expect("temporary total", report["temporary"], {
        "count": sum(s["temporary"]["count"] for s in report["sites"]),
        "bytes": sum(s["temporary"]["bytes"] for s in report["sites"])})
    expect("size_log2 total", report["size_log2"],
           histogram([sum(at(s["size_log2"], k) for s in report["sites"]) for k in range(41)]))
    expect("allocations by size = allocations", sum(report["size_log2"]), report["totals"]["alloc_count"])
    expect("threads' allocations = allocations", sum(t["alloc_count"] for t in report["threads"]),
           report["totals"]["alloc_count"])


def site_key(site):
    return tuple((f.get("addr"), f.get("function"), f.get("file"), f.get("line")) for f in site["frames"])


def same_figures(what, got, want):
    """got (read back from pprof) has want's lifetimes figures, site by site."""
    for key in ("threads", "temporary", "size_log2"):
        expect(f"{what}: top-level {key}", got[key], want[key])
    got_sites = {site_key(s): s for s in got["sites"]}
    compared = 0
    for site in want["sites"]:
        if site["alloc_count"] == 0 and site["live_count"] == 0:
            continue  # not a pprof sample
        other = got_sites.get(site_key(site))
        if other is None:
            sys.exit(f"FAIL: {what}: site {site_key(site)[:2]} is missing")
        for key in LIFETIME_KEYS:
            expect(f"{what}: {site['frames'][0]['function']} {key}", other[key], site[key])
        expect(f"{what}: {site['frames'][0]['function']} live blocks aged",
               sum(other["live_age_log2_ns"]), sum(site["live_age_log2_ns"]))
        compared += 1
    expect(f"{what}: sites compared", compared, len(got["sites"]))


def report_json(rallo, path):
    out = subprocess.run([rallo, "report", path, "-f", "json"], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        sys.exit(f"FAIL: rallo report {path}: {out.stderr}")
    return json.loads(out.stdout)


def wait_for(pattern, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        found = glob.glob(pattern)
        if found:
            return found
        time.sleep(0.1)
    return []


def check_timeline(rallo, dumps, exit_dump, truth):
    page = os.path.join(dumps, "timeline.html")
    out = subprocess.run([rallo, "report", dumps, "-o", page], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        sys.exit(f"FAIL: rallo report {dumps}: {out.stderr}")
    with open(page) as f:
        data = json.loads(f.read().split('id="rallo-timeline">')[1].split("</script>")[0])
    points = data["points"]
    if len(points) < 4 or any("temporary" not in p or "temps" not in p for p in points):
        sys.exit(f"FAIL: timeline: {len(points)} points, not all with temporaries")
    counts = [p["temporary"]["count"] for p in points]
    expect("timeline: temporaries since tracking began never fall", counts, sorted(counts))
    expect("timeline: the last point's temporaries", points[-1]["temporary"], exit_dump["temporary"])
    if len(set(counts)) < 3:
        sys.exit(f"FAIL: timeline: the dumps between the steps do not show them: {counts}")
    node, browser = shutil.which("node"), "/usr/bin/chromium"
    here = os.path.dirname(os.path.abspath(__file__))
    if node and os.path.exists(browser) and os.path.isdir(os.path.join(here, "..", "html", "node_modules")):
        run = subprocess.run([node, os.path.join(here, "browser_timeline.mjs"), page,
                              str(exit_dump["temporary"]["count"]), str(truth["temps"][0]), "exit_temp_site"],
                             capture_output=True, text=True, timeout=120)
        print(run.stdout, end="")
        if run.returncode != 0:
            sys.exit(f"FAIL: browser_timeline.mjs: {run.stderr[-2000:]}")
    else:
        print("timeline page not opened: no node, /usr/bin/chromium or tests/html/node_modules")


def main():
    rallo, target, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RALLO_")}
    with tempfile.TemporaryDirectory() as tmp:
        dumps, inproc = os.path.join(tmp, "dumps"), os.path.join(tmp, "inproc")
        os.mkdir(inproc)
        if mode in ("run", "timeline"):
            every = ["--interval", "0.1"] if mode == "timeline" else []
            if mode == "timeline":
                env["LT_EXIT_PAUSE_MS"] = "500"
            command = [rallo, "run", "--lifetimes", *every, "--formats", "json,pprof", "-o", dumps, "--", target,
                       inproc]
        else:
            os.mkdir(dumps, 0o700)
            env.update(RALLO_ENABLE="1", RALLO_LIFETIMES="1", RALLO_DUMP_ON_EXIT="1", RALLO_DUMP_DIR=dumps,
                       RALLO_DUMP_FORMATS="json,pprof")
            command = [target, inproc]
        run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        if run.returncode != 0:
            sys.exit(f"FAIL: {command} exited {run.returncode}: {run.stderr}")
        truth = json.loads(run.stdout)
        # The helper may still be writing (env); its JSON comes after the raw pprof.
        converted = wait_for(os.path.join(dumps, "rallo.*.final.json"))
        if len(converted) != 1:
            sys.exit(f"FAIL: {len(converted)} converted exit dumps in {os.listdir(dumps)}")
        with open(converted[0]) as f:
            exit_dump = json.load(f)
        check_truth(exit_dump, truth)
        if mode == "timeline":
            check_timeline(rallo, dumps, exit_dump, truth)
        same_figures("rallo report of the exit dump", report_json(rallo, converted[0][:-len("json")] + "pb.gz"),
                     exit_dump)
        with open(os.path.join(inproc, "inproc.json")) as f:
            inproc_json = json.load(f)
        inproc_pprof = report_json(rallo, os.path.join(inproc, "inproc.pb.gz"))
        check_truth(inproc_pprof, truth)
        mix = site_of(inproc_pprof, "exit_size_mix")
        expect("exit_size_mix live blocks aged (in-process pprof)", sum(mix["live_age_log2_ns"]), len(truth["sizes"]))
        same_figures("rallo report of the in-process pprof dump", inproc_pprof, inproc_json)
        go = shutil.which("go")
        if go:  # Go's own reader takes the extra sample types and labels
            raw = subprocess.run([go, "tool", "pprof", "-raw", converted[0][:-len("json")] + "pb.gz"],
                                 capture_output=True, text=True, timeout=120)
            if raw.returncode != 0 or "temp_objects/count" not in raw.stdout or "size_log2.4:[" not in raw.stdout:
                sys.exit(f"FAIL: go tool pprof -raw: {raw.returncode} {raw.stderr[:500]}")
    print(f"lifetimes converted ({mode}): ok")


if __name__ == "__main__":
    main()
