#!/usr/bin/env python3
"""check_free_sites.py TARGET on|lifetimes|off: runs free_sites_target with every
allocation tracked and checks who frees (RALLO_FREE_SITES) against what the
target did: per allocation site, each freeing function's count, bytes and
cross-thread frees exact. on: RALLO_FREE_SITES=1; lifetimes: with
RALLO_LIFETIMES=1 as well; off: neither, and no free_sites in the report."""
import json
import os
import subprocess
import sys
import tempfile


def expect(what, got, want):
    if got != want:
        sys.exit(f"FAIL: {what}: rallo says {got}, the target did {want}")


def site_of(report, function):
    found = [s for s in report["sites"] if s["frames"] and s["frames"][0]["function"] == function]
    if len(found) != 1:
        sys.exit(f"FAIL: {len(found)} sites allocate in {function}")
    return found[0]


def freers(site):
    """The free sites by the function that called free (the leaf frame)."""
    by_function = {}
    for free_site in site["free_sites"]:
        if not free_site["frames"]:
            sys.exit(f"FAIL: a free site without frames: {free_site}")
        function = free_site["frames"][0]["function"]
        if function in by_function:
            sys.exit(f"FAIL: two free sites leaf at {function}")
        by_function[function] = (free_site["count"], free_site["bytes"], free_site["cross_thread"])
    return by_function


def check_text(text, truth):
    """The text report's who-frees section names the thread's freer with its figures."""
    n, size = truth["by_thread"], truth["small_size"]
    lines = text.splitlines()
    if "who frees, for the top 2 sites by freed bytes:" not in lines:
        sys.exit("FAIL: no who-frees section in the text report")
    want = f"      freed {n} times ({n * size} B (4.7 KiB); {n} by another thread) at"
    if want not in lines or not lines[lines.index(want) + 1].strip().startswith("thread_freer "):
        sys.exit(f"FAIL: the text report lacks '{want}' followed by thread_freer")


def check_on(report, truth, text):
    small = site_of(report, "small_alloc")
    size = truth["small_size"]
    expect("small_alloc free sites", freers(small), {
        "first_freer": (truth["by_first"], truth["by_first"] * size, 0),
        "second_freer": (truth["by_second"], truth["by_second"] * size, 0),
        "thread_freer": (truth["by_thread"], truth["by_thread"] * size, truth["by_thread"]),
    })
    # Most bytes first; the frames go on to each freer's caller.
    expect("small_alloc free sites order", [f["bytes"] for f in small["free_sites"]],
           sorted((f["bytes"] for f in small["free_sites"]), reverse=True))
    for free_site in small["free_sites"]:
        functions = [frame["function"] for frame in free_site["frames"]]
        if len(functions) < 2 or functions[1] not in ("main", "freeing_thread"):
            sys.exit(f"FAIL: free stack {functions} does not go on to main or freeing_thread")
    large = site_of(report, "large_alloc")
    n = truth["large_by_first"]
    expect("large_alloc free sites", freers(large), {"first_freer": (n, n * truth["large_size"], 0)})
    # Every free of a tracked block is in some pair (or in the other bucket).
    frees = sum(s["free_count"] for s in report["sites"])
    paired = sum(f["count"] for s in report["sites"] for f in s["free_sites"])
    expect("frees in pairs", paired + report["free_sites_other"]["count"], frees)
    expect("frees without room", report["free_sites_other"], {"count": 0, "bytes": 0})
    check_text(text, truth)


def check_off(report, truth, text):
    if "free_sites_other" in report or any("free_sites" in s for s in report["sites"]):
        sys.exit("FAIL: free sites in the report without RALLO_FREE_SITES")
    if "who frees" in text:
        sys.exit("FAIL: a who-frees section in the text report without RALLO_FREE_SITES")
    expect("small_alloc frees", site_of(report, "small_alloc")["free_count"],
           truth["by_first"] + truth["by_second"] + truth["by_thread"])


def main():
    target, mode = sys.argv[1], sys.argv[2]
    env = dict(os.environ, RALLO_ENABLE="0", RALLO_SAMPLE="0")
    for name in ("RALLO_FREE_SITES", "RALLO_LIFETIMES"):
        env.pop(name, None)
    if mode != "off":
        env["RALLO_FREE_SITES"] = "1"
    if mode == "lifetimes":
        env["RALLO_LIFETIMES"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        out, out_text = os.path.join(tmp, "report.json"), os.path.join(tmp, "report.txt")
        run = subprocess.run([target, out, out_text], env=env, capture_output=True, text=True, timeout=120)
        if run.returncode != 0:
            sys.exit(f"FAIL: target exited {run.returncode}: {run.stderr}")
        truth = json.loads(run.stdout)
        with open(out) as f:
            report = json.load(f)
        with open(out_text) as f:
            text = f.read()
    (check_off if mode == "off" else check_on)(report, truth, text)
    print(f"free sites {mode}: ok")


if __name__ == "__main__":
    main()
