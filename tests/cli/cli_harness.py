"""cli_harness.py - what the tests/cli scripts share: every test's check and
finish (tests/common/checks.py), a bounded subprocess run, and a fresh working
directory under the script's WORK (set `cli_harness.WORK` before calling
fresh_dir)."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from checks import check, failures, finish  # noqa: E402,F401 (tests/common, for the scripts)

WORK = None


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
