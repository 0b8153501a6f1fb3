#!/usr/bin/env python3
"""check_lifetimes.py TARGET exact|sampled|off: runs lifetimes_target and checks
rallo's sizes, lifetimes, temporaries and threads against what the target did.
exact (every allocation tracked): every figure exact, lifetimes and ages in the
log2 bucket the target's own clock readings allow. sampled (RALLO_SAMPLE=64k):
the estimates within five standard errors of the truth. exact and sampled set
RALLO_LIFETIMES=1; off leaves it unset: every allocation tracked, the site
counts still exact, and no sizes, lifetimes, temporaries or threads reported."""
import json
import math
import os
import subprocess
import sys
import tempfile


def bucket(x):
    return 0 if x <= 0 else int(x).bit_length() - 1


def site_of(report, function):
    found = [s for s in report["sites"] if s["frames"] and s["frames"][0]["function"] == function]
    if len(found) != 1:
        sys.exit(f"FAIL: {len(found)} sites allocate in {function}")
    return found[0]


def at(histogram, k):
    return histogram[k] if k < len(histogram) else 0


def expect(what, got, want):
    if got != want:
        sys.exit(f"FAIL: {what}: rallo says {got}, the target did {want}")


def near(what, got, want, weight):
    # A sampled count is a sum of weights; its standard error is about
    # sqrt(truth * weight) for blocks much smaller than the interval.
    sigma = math.sqrt(max(want, 1) * weight)
    if abs(got - want) > 5 * sigma:
        sys.exit(f"FAIL: {what}: estimate {got}, truth {want} (5 sigma = {5 * sigma:.0f})")


def check_exact(report, truth):
    temp = site_of(report, "temp_site")
    expect("temp_site temporaries", temp["temporary"]["count"], truth["temps"])
    expect("temp_site temporary bytes", temp["temporary"]["bytes"], truth["temps"] * 24)
    expect("temp_site size_log2", temp["size_log2"], [0] * bucket(24) + [truth["temps"]])
    expect("temp_site lifetimes counted", sum(temp["lifetime_log2_ns"]), truth["temps"])
    first, second = site_of(report, "first_of_pair"), site_of(report, "second_of_pair")
    expect("first_of_pair temporaries", first["temporary"]["count"], 0)
    expect("second_of_pair temporaries", second["temporary"]["count"], truth["pairs"])
    expect("second_of_pair bytes", second["temporary"]["bytes"], truth["pairs"] * 40)

    mix = site_of(report, "size_mix")
    want = [0] * 41
    for size in truth["sizes"]:
        want[bucket(size)] += 1
    while want and want[-1] == 0:
        want.pop()
    expect("size_mix size_log2", mix["size_log2"], want)
    expect("size_mix live bytes", mix["live_bytes"], sum(truth["sizes"]))

    waited = site_of(report, "waited_alloc")
    lo, hi = bucket(truth["waited_lo"]), bucket(truth["waited_hi"])
    in_range = sum(at(waited["lifetime_log2_ns"], k) for k in range(lo, hi + 1))
    expect(f"waited_alloc lifetimes in buckets {lo}..{hi}", in_range, 8)
    expect("waited_alloc temporaries (the last block, freed first thing after)", waited["temporary"]["count"], 1)

    aged = site_of(report, "aged_alloc")
    lo, hi = bucket(truth["age_lo"]), bucket(truth["age_hi"])
    in_range = sum(at(aged["live_age_log2_ns"], k) for k in range(lo, hi + 1))
    expect(f"aged_alloc live ages in buckets {lo}..{hi}", in_range, 5)
    expect("aged_alloc lifetimes (none freed)", sum(aged["lifetime_log2_ns"]), 0)

    threads = {t["name"]: t for t in report["threads"]}
    alpha_allocs, alpha_kept = truth["alpha"]
    beta_allocs, beta_kept, beta_freed_by_main = truth["beta"]
    for name in ("lt-alpha", "lt-beta"):
        if name not in threads:
            sys.exit(f"FAIL: no thread {name} in {sorted(threads)}")
    alpha, beta = threads["lt-alpha"], threads["lt-beta"]
    expect("lt-alpha exited", alpha["exited"], True)
    expect("lt-beta exited", beta["exited"], False)
    expect("lt-alpha allocations", alpha["alloc_count"], alpha_allocs)
    expect("lt-alpha bytes", alpha["alloc_bytes"], alpha_allocs * 64)
    expect("lt-alpha live", (alpha["live_count"], alpha["live_bytes"]), (alpha_kept, alpha_kept * 64))
    expect("lt-beta allocations", beta["alloc_count"], beta_allocs)
    live = beta_kept - beta_freed_by_main
    expect("lt-beta live (some freed by main)", (beta["live_count"], beta["live_bytes"]), (live, live * 128))
    a_site, b_site = site_of(report, "alpha_alloc"), site_of(report, "beta_alloc")
    expect("alpha_alloc threads", [(t["name"], t["alloc_count"], t["live_count"]) for t in a_site["threads"]],
           [("lt-alpha", alpha_allocs, alpha_kept)])
    expect("beta_alloc threads", [(t["name"], t["alloc_count"], t["live_count"]) for t in b_site["threads"]],
           [("lt-beta", beta_allocs, live)])
    expect("alpha_alloc temporaries", a_site["temporary"]["count"], alpha_allocs - alpha_kept)
    expect("beta_alloc temporaries", b_site["temporary"]["count"], beta_allocs - beta_kept)
    main_thread = [t for t in report["threads"] if t["name"] not in ("lt-alpha", "lt-beta")]
    if not main_thread:
        sys.exit("FAIL: the main thread is missing")
    # The process's figures add up from its sites.
    expect("temporary total", report["temporary"]["count"], sum(s["temporary"]["count"] for s in report["sites"]))
    total_sizes = [sum(at(s["size_log2"], k) for s in report["sites"]) for k in range(41)]
    while total_sizes and total_sizes[-1] == 0:
        total_sizes.pop()
    expect("size_log2 total", report["size_log2"], total_sizes)
    expect("allocations by size = allocations", sum(report["size_log2"]), report["totals"]["alloc_count"])


def check_sampled(report, truth):
    weight = 65536 / 1000  # mean weight of a 1000-byte block sampled every 64 KiB
    temp = site_of(report, "temp_site")
    near("temp_site temporaries", temp["temporary"]["count"], truth["temps"], weight)
    near("temp_site allocations by size", at(temp["size_log2"], bucket(1000)), truth["temps"], weight)
    near("temp_site lifetimes counted", sum(temp["lifetime_log2_ns"]), truth["temps"], weight)
    first, second = site_of(report, "first_of_pair"), site_of(report, "second_of_pair")
    near("second_of_pair temporaries", second["temporary"]["count"], truth["pairs"], weight)
    # Never temporary: a sampled first block always has the second allocated after it.
    expect("first_of_pair temporaries", first["temporary"]["count"], 0)
    near("first_of_pair allocations", first["alloc_count"], truth["pairs"], weight)


def check_off(report, truth):
    for key in ("temporary", "size_log2", "threads"):
        if key in report:
            sys.exit(f"FAIL: '{key}' in the report without RALLO_LIFETIMES")
    for site in report["sites"]:
        for key in ("temporary", "size_log2", "lifetime_log2_ns", "live_age_log2_ns", "threads"):
            if key in site:
                sys.exit(f"FAIL: site '{key}' in the report without RALLO_LIFETIMES")
    mix = site_of(report, "size_mix")
    expect("size_mix allocations", mix["alloc_count"], len(truth["sizes"]))
    expect("size_mix live bytes", mix["live_bytes"], sum(truth["sizes"]))
    alpha_allocs, alpha_kept = truth["alpha"]
    a_site = site_of(report, "alpha_alloc")
    expect("alpha_alloc allocations", a_site["alloc_count"], alpha_allocs)
    expect("alpha_alloc live", a_site["live_count"], alpha_kept)


def main():
    target, mode = sys.argv[1], sys.argv[2]
    env = dict(os.environ, RALLO_ENABLE="0", RALLO_SAMPLE="64k" if mode == "sampled" else "0")
    env.pop("RALLO_LIFETIMES", None)
    if mode != "off":
        env["RALLO_LIFETIMES"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "report.json")
        run = subprocess.run([target, mode, out], env=env, capture_output=True, text=True, timeout=120)
        if run.returncode != 0:
            sys.exit(f"FAIL: target exited {run.returncode}: {run.stderr}")
        truth = json.loads(run.stdout)
        with open(out) as f:
            report = json.load(f)
    {"exact": check_exact, "sampled": check_sampled, "off": check_off}[mode](report, truth)
    print(f"lifetimes {mode}: ok")


if __name__ == "__main__":
    main()
