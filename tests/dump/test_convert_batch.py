#!/usr/bin/env python3
"""test_convert_batch.py - exit dumps of many processes are named by one
converting helper per dump directory and user (report/cli/convert_batch.c).

  batch    while this test holds the directory's lock (flock on the directory,
           as a converting helper does), 4 dump_target processes, each exec'd with its own address
           layout, dump at exit: their helpers leave a request each and exit,
           and nothing is converted. Once the lock is let go, one `rallo
           _convert` names all 4: each json holds the 1000 blocks of 1000 bytes
           at hold_known_blocks, by name, although the program was loaded at a
           different address in each (the waiting helpers exit once it is done) (the profiles are moved onto one layout
           for naming and back: each json keeps its own process's mapping).
  readable in a directory others can read (0755), where another user could
           hold that lock, no lock is used: each helper converts its own dump,
           and the dump is named.

Usage: test_convert_batch.py CHECK LIBRALLO DUMP_TARGET RALLO_CLI"""
import fcntl
import json
import re
import os
import shutil
import subprocess
import sys
import tempfile
import time

CHECK, LIB, TARGET, CLI = sys.argv[1:5]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def exit_dumps(dump_dir, n):
    """Runs n targets one after another, each dumping at exit; their pids."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RALLO_") and k != "LD_PRELOAD"}
    env.update({"LD_PRELOAD": LIB, "RALLO_ENABLE": "1", "RALLO_DUMP_ON_EXIT": "1",
                "RALLO_DUMP_DIR": dump_dir, "RALLO_DUMP_FORMATS": "json,pprof"})
    pids = []
    for _ in range(n):
        # stderr to a file: a helper keeps the program's stderr (for its
        # messages) while it waits for its dump to be converted.
        with tempfile.TemporaryFile(mode="w+") as err:
            p = subprocess.Popen([TARGET, "run", "0"], env=env, stdout=subprocess.DEVNULL, stderr=err, text=True)
            p.wait(timeout=60)
            err.seek(0)
            check(p.returncode == 0, "target ran (code %d, %r)" % (p.returncode, err.read()[-300:]))
        pids.append(p.pid)
    return pids


def wait_for(paths, seconds):
    end = time.time() + seconds
    while time.time() < end and not all(os.path.exists(p) for p in paths):
        time.sleep(0.05)
    return all(os.path.exists(p) for p in paths)


def known_blocks_named(path):
    """(whether the dump holds 1000 x 1000 bytes at hold_known_blocks, the
    start of the target's own mapping)."""
    with open(path) as f:
        data = json.load(f)
    held = any(s["live_count"] == 1000 and s["live_bytes"] == 1000 * 1000 and
               any(fr.get("function") == "hold_known_blocks" for fr in s["frames"]) for s in data["sites"])
    target = os.path.realpath(TARGET)
    starts = [m["start"] for m in data["mappings"] if m.get("path") and os.path.realpath(m["path"]) == target]
    return held, starts[0] if starts else None


def check_batch(base):
    dump_dir = os.path.join(base, "dumps")
    os.mkdir(dump_dir, 0o700)
    lock = os.open(dump_dir, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(lock, fcntl.LOCK_EX)
    pids = exit_dumps(dump_dir, 4)
    jsons = ["%s/rallo.%d.final.json" % (dump_dir, pid) for pid in pids]
    raws = ["%s/rallo.%d.final.pb.gz" % (dump_dir, pid) for pid in pids]
    requests = ["%s/.rallo-convert.rallo.%d.final.pb.gz.req" % (dump_dir, pid) for pid in pids]
    check(wait_for(requests, 30), "each helper left a request: %s" % sorted(os.listdir(dump_dir)))
    time.sleep(1)  # a helper that converted anyway would have written by now
    check(not any(os.path.exists(p) for p in jsons), "nothing converted while the lock is held")
    check(all(os.path.exists(p) for p in raws), "the raw profiles are there")
    fcntl.flock(lock, fcntl.LOCK_UN)
    os.close(lock)
    # The helper the next dump would start: it finds the others' requests too.
    p = subprocess.run([CLI, "_convert", "--formats", "json,pprof", raws[0]], capture_output=True, text=True,
                       timeout=120)
    check(p.returncode == 0 and p.stderr == "", "one rallo _convert (code %d, %r)" % (p.returncode, p.stderr))
    check(wait_for(jsons, 30), "all 4 dumps converted by it")
    starts = set()
    for path in jsons:
        held, start = known_blocks_named(path) if os.path.exists(path) else (False, None)
        check(held, "%s holds 1000 x 1000 bytes at hold_known_blocks, by name" % os.path.basename(path))
        starts.add(start)
    check(None not in starts and len(starts) == 4,
          "each json keeps its own process's load address of the target: %s" % sorted(map(str, starts)))
    left = [n for n in os.listdir(dump_dir) if not re.fullmatch(r"rallo\.\d+\.final\.(json|pb\.gz)", n)]
    check(left == [], "nothing but the dumps left: %s" % left)


def check_readable(base):
    dump_dir = os.path.join(base, "readable")
    os.mkdir(dump_dir)
    os.chmod(dump_dir, 0o755)
    # Were the lock used here, this would hold every helper back.
    lock = os.open(dump_dir, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(lock, fcntl.LOCK_EX)
    pids = exit_dumps(dump_dir, 2)
    jsons = ["%s/rallo.%d.final.json" % (dump_dir, pid) for pid in pids]
    check(wait_for(jsons, 60), "both dumps converted, each by its own helper")
    os.close(lock)
    for path in jsons:
        held = known_blocks_named(path)[0] if os.path.exists(path) else False
        check(held, "%s named" % os.path.basename(path))
    check(sorted(os.listdir(dump_dir)) == sorted(["rallo.%d.final.%s" % (pid, ext) for pid in pids
                                                  for ext in ("json", "pb.gz")]),
          "nothing but the dumps there: %s" % sorted(os.listdir(dump_dir)))


def main():
    base = tempfile.mkdtemp(prefix="rallo-convert-batch-")
    try:
        {"batch": check_batch, "readable": check_readable}[CHECK](base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
