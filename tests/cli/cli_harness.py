"""cli_harness.py - what the tests/cli scripts share: a check that records
failures, a bounded subprocess run, and a fresh working directory under the
script's WORK (set `cli_harness.WORK` before calling fresh_dir)."""
import os
import shutil
import subprocess

WORK = None
failures = []


def check(condition, what):
    print(("ok:   " if condition else "FAIL: ") + what)
    if not condition:
        failures.append(what)


def run(args, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run(args, **kw)


def fresh_dir(name):
    path = os.path.join(WORK, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path
