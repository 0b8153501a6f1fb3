#!/usr/bin/env python3
"""test_signals.py - the signals rallo takes, against the program's own.
  replaced_sigaction  RALLO_TOGGLE_SIGNAL=USR1 and a program that installs
  replaced_signal     its own USR1 handler in main() (with sigaction(), with
                      signal()), then raises USR1 three times: its handler
                      runs 3 times, tracking is not toggled, nothing crashes,
                      and rallo says so in exactly one line naming SIGUSR1
                      and suggesting a real-time signal.
                      Beside it, the control: RALLO_TOGGLE_SIGNAL=RTMIN+5 and
                      a program that leaves it alone: three raises toggle
                      tracking off->on (odd count), and rallo says nothing.
  refused             RALLO_DUMP_SIGNAL=PIPE on `yes | head -1`: yes dies of
                      SIGPIPE (141 in the shell), one line on its stderr;
                      RALLO_TOGGLE_SIGNAL=TERM: kill -TERM still ends the
                      program, one line.
Usage: test_signals.py CHECK SIG_TARGET LIBRALLO"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

CHECK, TARGET, LIBRALLO = sys.argv[1:4]
SCRATCH = tempfile.mkdtemp(prefix="rallo-signals-")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from checks import check, finish  # noqa: E402 (tests/common)
def env(**extra):
    e = {k: v for k, v in os.environ.items() if not k.startswith("RALLO_")}
    # Where a rallo that took SIGPIPE as its dump signal would dump (the bug).
    e["RALLO_DUMP_DIR"] = SCRATCH
    e.update(extra)
    return e


def rallo_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("rallo:")]


def replaced(how):
    r = subprocess.run([TARGET, how, str(int(signal.SIGUSR1))], capture_output=True, text=True, timeout=30,
                       env=env(RALLO_TOGGLE_SIGNAL="USR1"))
    check(r.returncode == 0, "the program exits 0 (%d)" % r.returncode)
    check("handled=3 enabled_before=0 enabled_after=0" in r.stdout,
          "its own handler ran 3 times and tracking was not toggled: " + r.stdout.strip())
    lines = rallo_lines(r.stderr)
    check(len(lines) == 1 and "SIGUSR1" in lines[0] and "RALLO_TOGGLE_SIGNAL=RTMIN" in lines[0],
          "exactly one line naming SIGUSR1 and a real-time signal: %r" % lines)
    realtime()


def realtime():
    rtmin5 = signal.SIGRTMIN + 5
    r = subprocess.run([TARGET, "none", str(int(rtmin5))], capture_output=True, text=True, timeout=30,
                       env=env(RALLO_TOGGLE_SIGNAL="RTMIN+5"))
    check(r.returncode == 0 and "handled=0 enabled_before=0 enabled_after=1" in r.stdout,
          "three RTMIN+5 toggle tracking off -> on: %r" % r.stdout.strip())
    check(rallo_lines(r.stderr) == [], "nothing said: %r" % rallo_lines(r.stderr))


def refused():
    # yes with its reader gone after one line, as `yes | head -1` does.
    yes = subprocess.Popen(["yes"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env(LD_PRELOAD=LIBRALLO, RALLO_DUMP_SIGNAL="PIPE"))
    yes.stdout.readline()
    yes.stdout.close()
    _, err = yes.communicate(timeout=30)
    check(yes.returncode == -signal.SIGPIPE, "yes dies of SIGPIPE (exit status %d)" % yes.returncode)
    lines = rallo_lines(err.decode(errors="replace"))
    check(len(lines) == 1 and "RALLO_DUMP_SIGNAL=PIPE" in lines[0], "one line refusing PIPE: %r" % lines)
    bash = subprocess.run(["bash", "-c", 'LD_PRELOAD="$LIB" RALLO_DUMP_SIGNAL=PIPE yes 2>/dev/null | head -1 '
                           '>/dev/null; echo ${PIPESTATUS[0]}'], capture_output=True, text=True, timeout=30,
                          env=env(LIB=LIBRALLO))
    check(bash.stdout.strip() == "141", "`yes | head -1` gives 141 in bash: %r" % bash.stdout.strip())
    # TERM taken as the toggle: refused, so kill -TERM still ends the program.
    sleeper = subprocess.Popen(["sleep", "30"], stderr=subprocess.PIPE,
                               env=env(LD_PRELOAD=LIBRALLO, RALLO_TOGGLE_SIGNAL="TERM"))
    time.sleep(0.5)
    sleeper.send_signal(signal.SIGTERM)
    _, err = sleeper.communicate(timeout=30)
    check(sleeper.returncode == -signal.SIGTERM, "kill -TERM ends it (status %d)" % sleeper.returncode)
    lines = rallo_lines(err.decode(errors="replace"))
    check(len(lines) == 1 and "RALLO_TOGGLE_SIGNAL=TERM" in lines[0], "one line refusing TERM: %r" % lines)


CHECKS = {"replaced_sigaction": lambda: replaced("sigaction"), "replaced_signal": lambda: replaced("signal"),
          "refused": refused}
CHECKS[CHECK]()
shutil.rmtree(SCRATCH, ignore_errors=True)
finish()
