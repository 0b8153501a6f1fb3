"""checks.py - what every python test script shares: check() prints one line
per check and records the failures; finish() prints how many failed and exits
1 when any did. A script beside tests/common/ imports it with
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
    from checks import check, failures, finish"""
import sys

failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)


def finish():
    print("%d failure(s)" % len(failures))
    sys.exit(1 if failures else 0)
