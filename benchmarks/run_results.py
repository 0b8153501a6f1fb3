"""run_results.py - what benchmarks/run.py writes from its runs: the summary
(medians, ratios to each size's bare mimalloc with a bootstrap interval, the
totals check), RESULTS.md and the ratio chart results.svg. run.py measures;
this file only reads what it measured. Only the standard library is used."""
import math
import os
import random
import statistics

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def read(path):
    """A text file's contents; "" when it cannot be read."""
    try:
        with open(path, "r", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


# ---------------------------------------------------------------- summary

def summarize(workloads, configs, results, scales, base_names):
    summary = {}
    for workload in workloads:
        for config in configs:
            key = (workload[0], config["name"])
            runs = results.get(key)
            if not config["available"]:
                summary["%s|%s" % key] = dict(na=True)
                continue
            if not runs:
                continue
            good = [r for r in runs if "error" not in r]
            entry = dict(na=False, n=len(runs), failed=len(runs) - len(good),
                         errors=sorted({r["error"] for r in runs if "error" in r}),
                         scale=scales[config["size"]], size=config["size"])
            if good:
                entry.update(wall=statistics.median(r["wall"] for r in good),
                             cpu=statistics.median(r["cpu"] for r in good),
                             rss=statistics.median(r["rss"] for r in good),
                             walls=[r["wall"] for r in good])
                entry["bench"] = good[-1]["bench"]
                entry["tool"] = good[-1]["tool"]
            summary["%s|%s" % key] = entry
    for workload in workloads:
        for config in configs:
            entry = summary.get("%s|%s" % (workload[0], config["name"]))
            base = summary.get("%s|%s" % (workload[0], base_names[config["size"]]))
            if entry and not entry["na"] and "wall" in entry and base and "wall" in base:
                entry["ratio"] = entry["wall"] / base["wall"]
                entry["ratio_ci"] = ratio_interval(entry["walls"], base["walls"])
                entry["cpu_ratio"] = entry["cpu"] / base["cpu"] if base["cpu"] > 0 else None
                entry["rss_ratio"] = entry["rss"] / base["rss"] if base["rss"] > 0 else None
    return summary


def ratio_interval(walls, base_walls, resamples=2000):
    """A 95% bootstrap interval of median(walls) / median(base_walls): how far
    the machine's noise alone moves the ratio, so that a goal 2% away is not
    judged on a figure that moves by 10% from run to run. Fixed seed: the same
    runs give the same interval. None with fewer than 3 runs a side."""
    if len(walls) < 3 or len(base_walls) < 3:
        return None
    rng = random.Random(20261125)
    ratios = sorted(statistics.median(rng.choices(walls, k=len(walls))) /
                    statistics.median(rng.choices(base_walls, k=len(base_walls))) for _ in range(resamples))
    return [ratios[int(0.025 * resamples)], ratios[int(0.975 * resamples) - 1]]


def totals_verdict(config, entry):
    """Do this configuration's totals match the workload's own counts?"""
    bench = entry.get("bench") or {}
    own_calls = int(bench["allocs"]) if bench.get("allocs", "n/a") != "n/a" else None
    own_bytes = int(bench["bytes"]) if bench.get("bytes", "n/a") != "n/a" else None
    name = config["name"]
    if name.startswith("rallo"):
        if name.startswith("rallo-off"):
            return "-"
        if bench.get("rallo_allocs") == "process":
            return "process total: %s calls" % bench.get("rallo_process_allocs")
        if "rallo_allocs" not in bench:
            return "n/a (rallo_get_totals not exported)"
        calls, nbytes = int(bench["rallo_allocs"]), int(bench["rallo_bytes"])
        if own_calls is None:
            return "rallo: %d calls" % calls
        if "sample" in name:
            return "estimate: calls %+.1f%%, bytes %+.1f%%" % (100.0 * (calls - own_calls) / own_calls,
                                                               100.0 * (nbytes - own_bytes) / own_bytes)
        if calls == own_calls and nbytes == own_bytes:
            return "**equal** (%d calls, %d B)" % (calls, nbytes)
        return "DIFFERENT: %d calls (own %d), %d B (own %d)" % (calls, own_calls, nbytes, own_bytes)
    tool = entry.get("tool")
    if config["kind"] == "massif":
        return "n/a (massif keeps snapshots, not totals)"
    if config["kind"] == "plain" and "totals" not in config:
        return "-"
    if not tool:
        return "no totals found"
    calls, nbytes, note = tool
    if own_calls is None:
        return "%d calls%s" % (calls, " (%s)" % note if note else "")
    if note:
        return "%d calls (%s; own %d)" % (calls, note, own_calls)
    text = "calls own%+d" % (calls - own_calls)
    if nbytes is not None:
        text += ", bytes own%+d" % (nbytes - own_bytes)
    # The tool sees the whole process: a few allocations of libc and the
    # loader before main and around thread start come on top of the workload's.
    close = 0 <= calls - own_calls <= 64
    return ("match " if close else "MISMATCH ") + "(" + text + ")"


# ---------------------------------------------------------------- RESULTS.md

def fmt(value, pattern="%.2f"):
    return "-" if value is None else pattern % value


def write_markdown(path, facts, workloads, configs, summary, callgrind, scales, runs, slow_runs, quick):
    get = lambda w, c: summary.get("%s|%s" % (w, c)) or {}
    lines = []
    add = lines.append
    add("# rallo benchmarks")
    add("")
    add("Regenerate everything on this page (tables, `results.svg`, `results.json`) with one command from the")
    add("repository root, after building (`cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build`):")
    add("")
    add("    python3 benchmarks/run.py            # default: about 10-15 minutes on 2 cores")
    add("    python3 benchmarks/run.py --quick    # smaller sizes, fewer runs: under 2 minutes")
    add("")
    add("Options: `--build DIR` (default `build`), `--lib PATH` (another librallo.so), `--runs N`, `--slow-runs N`, `--workloads a,b`, `--configs a,b`,")
    add("`--no-callgrind`. Needs the Debian packages `libmimalloc2.0 libjemalloc2 libgoogle-perftools4 heaptrack valgrind time`.")
    add("")
    add("![ratios to bare mimalloc](results.svg)")
    add("")
    add("## This run")
    add("")
    add("- date: %s; commit: %s%s" % (facts["date"], facts["commit"], "; **--quick**" if quick else ""))
    add("- machine: %s, %s cores, %s GiB, %s, kernel %s" % (facts["cpu"], facts["cores"], facts["mem_gib"],
                                                          facts["os"], facts["kernel"]))
    add("- load average at start %s, at end %s: the machine is shared with other builds and tests, so wall "
        "times are noisy; every figure is the median of interleaved runs (configurations in order A B C ..., then "
        "reversed, so drift cancels)" % (" ".join(facts["load"]), " ".join(facts["load_end"])))
    add("- runs: %d per fast configuration, %d per slow tool; full size = scale %g, small size = scale %g "
        "(each workload's argument; the slow tools run small and are compared with mimalloc at that same size); "
        "whole run took %.0f s" % (runs, slow_runs, scales["full"], scales["small"], facts["elapsed_s"]))
    v = facts["versions"]
    add("- versions: mimalloc %s, jemalloc %s (built with profiling: %s), gperftools %s, heaptrack %s, valgrind %s, "
        "python %s, gcc %s" % (v["mimalloc"], v["jemalloc"], "yes" if facts["jemalloc_prof"] else
                               "**no, its profiler configs are n/a**", v["gperftools"], v["heaptrack"],
                               v["valgrind"], v["python3"], v["gcc"]))
    add("- librallo: `%s`" % os.path.relpath(facts["librallo"], ROOT))
    add("- librallo exports `rallo_get_totals`: %s; `rallo_dump`: %s%s" % (
        "yes" if facts["rallo_totals_exported"] else "**no** (totals check n/a)",
        "yes" if facts["rallo_dump_exported"] else "**no**",
        "" if facts["rallo_dump_exported"] else " (the periodic-dump config is n/a)"))
    add("")
    add("## Configurations")
    add("")
    add("| config | how it runs | size |")
    add("| --- | --- | --- |")
    for c in configs:
        how = {"heaptrack": "`heaptrack -o F PROG`, then `heaptrack_print F.zst` (timed together, as a user waits)",
               "massif": "`valgrind --tool=massif PROG` (recording only)",
               "dhat": "`valgrind --tool=dhat PROG`"}.get(c["kind"])
        if how is None:
            how = " ".join("`%s=%s`" % (k, os.path.basename(v) if k == "LD_PRELOAD" else v)
                           for k, v in c["env"].items()) or "no preload (glibc malloc)"
        add("| %s | %s | %s%s |" % (c["name"], how.replace("@tmp", "DIR"), c["size"],
                                     "" if c["available"] else " (n/a)"))
    add("")
    add("## Wall time, CPU, peak RSS (medians) and totals")
    add("")
    add("Ratio = median wall time / median wall time of bare mimalloc at the same size. CPU = user+sys of the "
        "process and everything it waited for (heaptrack's interpreter included). RSS = peak resident set "
        "(wait4 ru_maxrss). Totals: does the configuration's count of allocation calls (and bytes) agree with the "
        "workload's own count of its malloc/calloc/realloc calls over the measured work?")
    for workload in workloads:
        w = workload[0]
        add("")
        add("### %s" % w)
        add("")
        add("| config | size | wall s | ratio | CPU s | CPU ratio | peak RSS MiB | RSS ratio | totals |")
        add("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for c in configs:
            e = get(w, c["name"])
            if not e:
                continue
            if e.get("na"):
                add("| %s | | n/a | | | | | | |" % c["name"])
                continue
            if "wall" not in e:
                add("| %s | %g | failed: %s | | | | | | |" % (c["name"], e["scale"], "; ".join(e["errors"])))
                continue
            add("| %s | %g | %.3f | %s | %.3f | %s | %.1f | %s | %s |" % (
                c["name"], e["scale"], e["wall"], fmt(e.get("ratio")), e["cpu"], fmt(e.get("cpu_ratio")),
                e["rss"] / 1024.0, fmt(e.get("rss_ratio")), totals_verdict(c, e) +
                (" (%d of %d runs failed)" % (e["failed"], e["n"]) if e["failed"] else "")))
        bench = (get(w, "mimalloc").get("bench") or {})
        if bench.get("allocs", "n/a") != "n/a":
            add("")
            add("Own counts at full size: %s allocation calls, %s bytes." % (bench["allocs"], bench["bytes"]))
    add("")
    add("## Goals")
    add("")
    add("Time ratios carry [the 95% bootstrap interval of the ratio of medians]: the range this run's own "
        "spread allows. `noise` marks a goal inside that range, where this run cannot tell met from missed.")
    add("")
    add("| goal | " + " | ".join(w[0] for w in workloads) + " |")
    add("| --- |" + " --- |" * len(workloads))

    def goal_row(label, value_fn):
        cells = []
        for workload in workloads:
            value = value_fn(workload[0])
            cells.append(value if value else "-")
        add("| %s | %s |" % (label, " | ".join(cells)))

    def ratio_cell(config, key, limit):
        def cell(w):
            e = get(w, config)
            if e.get("na"):
                return "n/a"
            if key not in e or e[key] is None:
                return None
            text = "%.2f %s" % (e[key], "ok" if e[key] <= limit else "**missed**")
            if key == "ratio" and e.get("cpu_ratio"):
                text += " (CPU %.2f)" % e["cpu_ratio"]
            interval = e.get("ratio_ci") if key == "ratio" else None
            if interval:
                text += " [%.2f-%.2f%s]" % (interval[0], interval[1],
                                            ", noise" if interval[0] <= limit < interval[1] else "")
            return text
        return cell

    def versus(tool, tool_size_base, key, limit):
        def cell(w):
            t = get(w, tool)
            rallo_name = "rallo-on" if t.get("size") == "full" else "rallo-on@small"
            r = get(w, rallo_name)
            if t.get("na"):
                return "n/a"
            if key not in t or key not in r or not r[key]:
                return None
            x = t[key] / r[key]
            return "%.1fx %s" % (x, "ok" if x >= limit else "**missed**")
        return cell

    goal_row("rallo off / mimalloc, time <= 1.02", ratio_cell("rallo-off", "ratio", 1.02))
    goal_row("rallo off / mimalloc, RSS <= 1.01", ratio_cell("rallo-off", "rss_ratio", 1.01))
    goal_row("rallo on / mimalloc, time <= 1.5", ratio_cell("rallo-on", "ratio", 1.5))
    goal_row("rallo on / mimalloc, RSS <= 1.3", ratio_cell("rallo-on", "rss_ratio", 1.3))
    goal_row("rallo sample 512k / mimalloc, time <= 1.03", ratio_cell("rallo-sample512k", "ratio", 1.03))
    goal_row("heaptrack / rallo on, wall >= 6x", versus("heaptrack", None, "wall", 6))
    goal_row("heaptrack / rallo on, CPU >= 10x", versus("heaptrack", None, "cpu", 10))
    goal_row("jemalloc prof all / rallo on (small), wall >= 70x", versus("jemalloc-prof-all", None, "wall", 70))
    goal_row("jemalloc prof all / rallo on (full size, one run), wall >= 70x",
             versus("jemalloc-prof-all@full", None, "wall", 70))

    def equal_cell(w):
        e = get(w, "rallo-on")
        if not e or e.get("na") or "bench" not in e:
            return None
        verdict = totals_verdict(next(c for c in configs if c["name"] == "rallo-on"), e)
        return "ok" if verdict.startswith("**equal") else verdict.split(" (")[0]
    goal_row("rallo on totals == own counts", equal_cell)
    add("")
    add("Heaptrack runs at the size stated in its row above and is compared with rallo on at that same size; "
        "jemalloc's profiler runs small and is compared with rallo-on@small; on `small` it also runs once at full "
        "size (`jemalloc-prof-all@full`), compared with rallo-on.")
    if any(w[0] == "small" for w in workloads):
        add("")
        add("`small` (20M allocations of 16..128 bytes through ten-frame call chains at full size, little work "
            "between them) is the kind of workload issue 3's reference figures were measured on: heaptrack 9.8x "
            "bare mimalloc (wall; CPU 17x), massif 20x, DHAT 66x, jemalloc's profiler every allocation 111x, "
            "gperftools 259x.")
    add("")
    add("## Two threads, tracking on")
    add("")
    add("`mixed-2t` does the same total work as `mixed` split over two threads (each holding half of the ~200k "
        "live objects). Throughput ratio = wall(mixed) / wall(mixed-2t); goal >= 1.8 with tracking on. The "
        "mimalloc row is the ceiling this machine allowed during the run (2 cores, shared).")
    add("")
    add("CPU efficiency = CPU(mixed) / CPU(mixed-2t): the same work costs this much more CPU when split over "
        "two threads (1.00 = no cost from sharing); 2 x efficiency is the throughput two free cores would give, "
        "the figure to read when the machine has no second core to spare (load average above).")
    add("")
    add("| config | mixed wall s | mixed-2t wall s | throughput 2t / 1t (wall) | CPU efficiency | 2 x efficiency |")
    add("| --- | --- | --- | --- | --- | --- |")
    for name in ("mimalloc", "rallo-off", "rallo-on", "glibc"):
        one, two = get("mixed", name), get("mixed-2t", name)
        if "wall" in one and "wall" in two:
            efficiency = one["cpu"] / two["cpu"] if two["cpu"] > 0 else 0
            add("| %s | %.3f | %.3f | %.2f%s | %.2f | %.2f%s |" % (
                name, one["wall"], two["wall"], one["wall"] / two["wall"],
                (" (goal 1.8: %s)" % ("ok" if one["wall"] / two["wall"] >= 1.8 else "**missed**"))
                if name == "rallo-on" else "", efficiency, 2 * efficiency,
                (" (goal 1.8: %s)" % ("ok" if 2 * efficiency >= 1.8 else "**missed**")) if name == "rallo-on" else ""))
    add("")
    add("## Memory with every allocation tracked")
    add("")
    e_on, e_mi = get("mixed", "rallo-on"), get("mixed", "mimalloc")
    if "rss" in e_on and "rss" in e_mi:
        add("On `mixed` (~200k live objects at its peak): peak RSS %.1f MiB tracked vs %.1f MiB bare mimalloc = "
            "%.2fx (goal <= 1.3x). Each tracked block carries a 16-byte header; the stack depot is reserved "
            "address space filled as stacks arrive." % (e_on["rss"] / 1024, e_mi["rss"] / 1024,
                                                         e_on["rss"] / e_mi["rss"]))
    bench_on = e_on.get("bench") or {}
    if "rallo_sites" in bench_on:
        add("The depot after `mixed`: %s sites with %s frames in all, %.1f KiB of return addresses (8 bytes a "
            "frame; the depot's own hash table and per-site records come on top, and its reservation is address "
            "space, not RSS). Counted through `rallo_for_each_site`: the depot's own byte count "
            "(`_rallo_depot_stats`) is not public." % (bench_on["rallo_sites"], bench_on["rallo_frames"],
                                                       int(bench_on["rallo_frames"]) * 8 / 1024.0))
    else:
        add("The depot's size: not measured (no `rallo_for_each_site` in this librallo).")
    add("")
    add("## Callgrind: instructions per malloc+free pair")
    add("")
    if callgrind:
        add("`bench_pairs N`: N pairs of malloc (16..256 bytes, through an 8-frame call chain) and free, with a "
            "window of 16 live blocks. Instructions per pair = (Ir(N=%d) - Ir(N=%d)) / %d, minus the harness's own "
            "%.1f instructions per pair (the same loop with no allocator call). Repeatable: the machine's load does "
            "not change these." % (callgrind["large"], callgrind["small"], callgrind["large"] - callgrind["small"],
                                   callgrind["harness"]))
        add("")
        add("| config | instructions per malloc+free | vs mimalloc |")
        add("| --- | --- | --- |")
        mi = dict(callgrind["rows"]).get("mimalloc")
        for name, per in callgrind["rows"]:
            add("| %s | %s | %s |" % (name, fmt(per, "%.1f"), fmt(per / mi if per is not None and mi else None)))
    else:
        add("(skipped: --no-callgrind)")
    add("")
    notes = read(os.path.join(HERE, "notes.md"))
    if notes:
        add("## Where the cost goes (hand-written: `benchmarks/notes.md`, not regenerated)")
        add("")
        add(notes.strip())
        add("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


# ---------------------------------------------------------------- the chart

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac", "#1b9e77", "#d95f02", "#7570b3", "#e7298a"]


def write_svg(path, workloads, configs, summary):
    """Grouped bars of wall-time ratio to bare mimalloc (log scale), one group
    per workload, one bar per configuration."""
    shown = [c for c in configs if c["name"] not in ("mimalloc", "mimalloc@small")]
    width_group = 14 * len(shown) + 20
    left, top, height = 60, 30, 320
    width = left + width_group * len(workloads) + 220
    max_ratio = 1.0
    for key, e in summary.items():
        if e.get("ratio"):
            max_ratio = max(max_ratio, e["ratio"])
    top_decade = 10 ** math.ceil(math.log10(max_ratio * 1.05))
    lo = 0.5
    span = math.log10(top_decade) - math.log10(lo)
    y_of = lambda r: top + height - (math.log10(r) - math.log10(lo)) / span * height
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">'
           % (width, top + height + 60)]
    out.append('<text x="%d" y="18" font-size="13">Wall time / bare mimalloc at the same size (log scale; lower is '
               'better)</text>' % left)
    ticks = [t for t in (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if t <= top_decade]
    for t in ticks:
        y = y_of(t)
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>' % (
            left, y, left + width_group * len(workloads), y, "#333" if t == 1 else "#ddd"))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%g</text>' % (left - 4, y + 4, t))
    for wi, workload in enumerate(workloads):
        x0 = left + wi * width_group + 10
        for ci, c in enumerate(shown):
            e = summary.get("%s|%s" % (workload[0], c["name"])) or {}
            if e.get("ratio"):
                y = y_of(max(e["ratio"], lo))
                base = y_of(1.0)
                out.append('<rect x="%d" y="%.1f" width="12" height="%.1f" fill="%s"><title>%s %s: %.2fx</title>'
                           '</rect>' % (x0 + ci * 14, min(y, base), abs(base - y) or 1, PALETTE[ci % len(PALETTE)],
                                        workload[0], c["name"], e["ratio"]))
        out.append('<text x="%d" y="%d" text-anchor="middle">%s</text>' % (
            x0 + 7 * len(shown), top + height + 16, workload[0]))
    lx = left + width_group * len(workloads) + 16
    for ci, c in enumerate(shown):
        out.append('<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d">%s%s</text>' % (
            lx, top + ci * 16, PALETTE[ci % len(PALETTE)], lx + 14, top + ci * 16 + 9, c["name"],
            " (n/a)" if not c["available"] else ""))
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


