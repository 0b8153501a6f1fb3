#!/usr/bin/env python3
"""check_workload.py WORKLOAD LIBRALLO: one benchmark workload, at a small scale,
under bare mimalloc, rallo off and rallo tracking every allocation.

What must hold (no timing): the workload's self-check passes and its checksum
is the same under all three; with every allocation tracked, rallo counts
exactly the allocation calls and bytes the workload counted of itself, and
serves none of them untracked."""
import ctypes.util
import os
import subprocess
import sys

SCALE = "0.05"


def run(workload, preload, env_extra):
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("RALLO_"):
            del env[key]
    env.update(env_extra)
    env["LD_PRELOAD"] = preload
    done = subprocess.run([workload, SCALE], env=env, capture_output=True, text=True, timeout=240)
    if done.returncode != 0:
        sys.exit(f"{os.path.basename(workload)} under {preload} {env_extra}: exit {done.returncode}\n{done.stderr}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    if len(lines) != 1:
        sys.exit(f"expected one BENCH line, got: {done.stdout!r}")
    return dict(field.split("=", 1) for field in lines[0].split()[1:])


def main():
    workload, librallo = sys.argv[1], sys.argv[2]
    mimalloc = "libmimalloc.so.2"
    bare = run(workload, mimalloc, {})
    off = run(workload, librallo, {})
    on = run(workload, librallo, {"RALLO_ENABLE": "1", "RALLO_SAMPLE": "0"})
    for name, result in (("bare mimalloc", bare), ("rallo off", off), ("rallo on", on)):
        if result["ok"] != "1":
            sys.exit(f"{name}: self-check failed: {result}")
        if result["checksum"] != bare["checksum"]:
            sys.exit(f"{name}: checksum {result['checksum']} != bare mimalloc's {bare['checksum']}")
    if on.get("rallo_allocs") == "process":
        print("workload counts the whole process (python3): checksums only")
        return
    if int(on["rallo_untracked"]) != 0:
        sys.exit(f"rallo on: {on['rallo_untracked']} allocations served untracked")
    if (on["rallo_allocs"], on["rallo_bytes"]) != (on["allocs"], on["bytes"]):
        sys.exit(f"rallo counted {on['rallo_allocs']} calls / {on['rallo_bytes']} bytes, "
                 f"the workload {on['allocs']} / {on['bytes']}")
    print(f"ok: checksum {bare['checksum']}, {on['allocs']} allocations of {on['bytes']} bytes counted exactly")


if __name__ == "__main__":
    main()
