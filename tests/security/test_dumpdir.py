#!/usr/bin/env python3
"""test_dumpdir.py - dumps and the dump directory against another local user
and against what killed or buggy processes leave behind. Run as root: the
attacker, and the workers of a root master, are the user nobody.
  fifo         nobody plants FIFOs at the exit dump's names in a 1777 directory
               and reads one with a timeout, keeping the other open unread (its buffer shrunk to 4 KiB): the
               host exits at once, nobody reads 0 bytes, the dumps are new 0600
               regular files. With FIFOs (open, unread) at 40 periodic dump
               names, fork() in the host stays fast and the host finishes.
  dir_checks   a dump directory that is a symbolic link, belongs to nobody, or
               is writable by group or others without the sticky bit is refused
               with one line and nothing is written there; a 1777 directory of
               ours, a missing one (made 0700), %p in the name and `rallo run
               -o` work.
  litter       temporaries of a dead process (ours, regular) are removed by the
               next dump into the directory; a live process's, another user's,
               a link and a name of another shape are left alone.
  flood        RALLO_DUMP_INTERVAL=0.0000001 dumps at most every 0.1 s and says
               so in one line.
  messages     an exit dump that fails in every format is one line; control
               characters from the environment are escaped in messages.
  user_dirs    a root master whose forked worker becomes nobody, both dumping at
               exit: RALLO_DUMP_DIR=.../rallo-%u gives each its own 0700 dir and
               both dumps appear; with one shared dir, the refused one says in
               one line what to do (%u).
Usage: test_dumpdir.py CHECK LIBRALLO DUMPDIR_TARGET RALLO_CLI"""
import fcntl
import glob
import json
import os
import pwd
import select
import shutil
import stat
import subprocess
import sys
import tempfile
import time

CHECK, LIB, TARGET, CLI = sys.argv[1:5]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from checks import check, finish  # noqa: E402 (tests/common)
NOBODY = pwd.getpwnam("nobody")
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
def host_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RALLO_") and k != "LD_PRELOAD"}
    env.update({"LD_PRELOAD": LIB, "RALLO_ENABLE": "1"})
    env.update(extra)
    return env


def rallo_lines(err):
    return [line for line in err.split("\n") if line.startswith("rallo: ")]


def start_host(args, env):
    """Starts the target; returns (process, pid it printed)."""
    p = subprocess.Popen([TARGET] + args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    check(line.startswith("pid="), "host started: %r" % line)
    return p, int(line.split("=")[1])


def finish_host(p, timeout):
    """Lets the host go on and waits at most timeout s; (rc or None if hung, out, err)."""
    try:
        out, err = p.communicate("go\n", timeout=timeout)
        return p.returncode, out, err
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return None, out, err


def run_host(args, env, timeout=60):
    p, pid = start_host(args, env)
    rc, out, err = finish_host(p, timeout)
    return pid, rc, out, err


def json_dump_ok(path):
    """A complete JSON dump holding the target's 1000 x 1000-byte blocks."""
    try:
        with open(path) as f:
            data = json.load(f)
        return data["totals"]["live_bytes"] >= 1000 * 1000 and data["totals"]["alloc_count"] >= 1000
    except (OSError, ValueError, KeyError):
        return False


def private_regular(path, uid=0):
    st = os.lstat(path)
    return stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == uid


def as_nobody(job):
    """Runs job() in a forked child that is nobody; returns what it writes back (bytes)."""
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(r)
        try:
            os.setgid(NOBODY.pw_gid)
            os.setuid(NOBODY.pw_uid)
            os.write(w, job())
        finally:
            os._exit(0)
    os.close(w)
    return r, child


def read_all(fd):
    data = b""
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            return data
        data += chunk


def make_dir(path, mode, uid=0):
    os.mkdir(path)
    os.chmod(path, mode)
    os.chown(path, uid, uid if uid == 0 else NOBODY.pw_gid)
    return path


def plant_fifos(names, read_name, seconds):
    """As nobody: makes FIFOs at names, opens each for reading (so a writer
    would not fail), reads read_name's for `seconds`, never the others'.
    Writes b"planted\\n" on a pipe first, then how many bytes it read."""
    ready_r, ready_w = os.pipe()

    def job():
        fds = {}
        for name in names:
            os.mkfifo(name, 0o666)
            fds[name] = os.open(name, os.O_RDONLY | os.O_NONBLOCK)
            fcntl.fcntl(fds[name], F_SETPIPE_SZ, 4096)  # the smallest pipe: a writer blocks after 4 KiB
        os.write(ready_w, b"planted\n")
        got = 0
        end = time.time() + seconds
        while read_name is not None and time.time() < end:
            select.select([fds[read_name]], [], [], 0.1)
            try:
                got += len(os.read(fds[read_name], 65536))
            except BlockingIOError:
                pass
            time.sleep(0.01)
        return str(got).encode()

    result_r, child = as_nobody(job)
    os.close(ready_w)
    ready = select.select([ready_r], [], [], 30)[0] and os.read(ready_r, 64) == b"planted\n"
    os.close(ready_r)
    return ready, result_r, child


def check_fifo():
    pub = make_dir(os.path.join(BASE, "pub"), 0o1777)  # like /tmp: ours (root's), sticky

    # The exit dump: the host must neither hang nor hand the profile to nobody.
    env = host_env(RALLO_DUMP_DIR=pub, RALLO_DUMP_ON_EXIT="1", RALLO_DUMP_FORMATS="html,json")
    p, pid = start_host(["wait"], env)
    names = ["%s/rallo.%d.final.%s" % (pub, pid, ext) for ext in ("json", "html")]
    ready, result, child = plant_fifos(names, names[0], 6)
    check(ready, "nobody planted FIFOs at the exit dump's names")
    started = time.time()
    rc, out, err = finish_host(p, 20)
    took = time.time() - started
    got = read_all(result)
    os.waitpid(child, 0)
    check(rc == 0, "the host exited by itself, code %r, in %.1f s (not hung in exit())" % (rc, took))
    check(got == b"0", "nobody read %s bytes of the profile through the FIFO" % got.decode())
    for name in names:
        check(os.path.exists(name) and private_regular(name),
              "%s is a new 0600 regular file of root's" % os.path.basename(name))
    check(json_dump_ok(names[0]), "the JSON dump is complete")
    lines = rallo_lines(err)
    check(len(lines) == 1 and "replaced the FIFO" in lines[0], "one line says the FIFO was replaced: %r" % lines)

    # Periodic dumps: a FIFO at each of the next 40 names, open and never read.
    env = host_env(RALLO_DUMP_DIR=pub, RALLO_DUMP_INTERVAL="0.1", RALLO_DUMP_FORMATS="html")
    p, pid = start_host(["forks", "3"], env)
    names = ["%s/rallo.%d.%d.html" % (pub, pid, seq) for seq in range(1, 41)]
    ready, result, child = plant_fifos(names, None, 0)
    check(ready, "nobody planted 40 FIFOs at the periodic dumps' names")
    rc, out, err = finish_host(p, 30)
    read_all(result)
    os.waitpid(child, 0)
    check(rc == 0, "the forking host finished (code %r): no periodic dump blocked fork()" % rc)
    words = dict(w.split("=") for w in out.split())
    check(int(words.get("forks", 0)) >= 20 and float(words.get("max_ms", 1e9)) < 5000,
          "forks during dumps: %s (at least 20, none blocked: slowest under 5 s)" % out.strip())
    regular = [n for n in names if os.path.exists(n) and private_regular(n)]
    check(len(regular) >= 5, "%d periodic dumps replaced their FIFO with a 0600 regular file" % len(regular))
    check(os.path.getsize(regular[0]) > 4096 if regular else False,
          "a dump is larger than the FIFO's 4 KiB buffer, so writing into it unread would block")


def exit_dump(dump_dir, extra_env=None, args=("wait",)):
    env = host_env(RALLO_DUMP_DIR=dump_dir, RALLO_DUMP_ON_EXIT="1", RALLO_DUMP_FORMATS="json")
    env.update(extra_env or {})
    return run_host(list(args), env)


def entries(path):
    return sorted(os.listdir(path))


def check_dir_checks():
    real = make_dir(os.path.join(BASE, "real"), 0o700)
    link = os.path.join(BASE, "link")
    os.symlink(real, link)
    refused = [
        (link, real, "symbolic link"),
        (make_dir(os.path.join(BASE, "nobodys"), 0o700, NOBODY.pw_uid), None, "belongs to uid %d" % NOBODY.pw_uid),
        (make_dir(os.path.join(BASE, "open"), 0o777), None, "others can write"),
        (make_dir(os.path.join(BASE, "group"), 0o770), None, "others can write"),
        (make_dir(os.path.join(BASE, "other"), 0o703), None, "others can write"),
    ]
    for dump_dir, really, reason in refused:
        pid, rc, out, err = exit_dump(dump_dir)
        lines = rallo_lines(err)
        check(rc == 0, "%s: the host goes on (code %r)" % (os.path.basename(dump_dir), rc))
        check(len(lines) == 1 and reason in lines[0] and "RALLO_DUMP_DIR=" in lines[0],
              "%s refused in one line saying why and what to do: %r" % (os.path.basename(dump_dir), lines))
        check(entries(really or dump_dir) == [], "nothing written in %s: %s"
              % (os.path.basename(really or dump_dir), entries(really or dump_dir)))

    sticky = make_dir(os.path.join(BASE, "sticky"), 0o1777)
    missing = os.path.join(BASE, "missing")
    for dump_dir in (sticky, missing):
        pid, rc, out, err = exit_dump(dump_dir)
        dump = "%s/rallo.%d.final.json" % (dump_dir, pid)
        check(rc == 0 and rallo_lines(err) == [] and json_dump_ok(dump) and private_regular(dump),
              "%s: dumped, no message (%r)" % (os.path.basename(dump_dir), rallo_lines(err)))
    check(stat.S_IMODE(os.stat(missing).st_mode) == 0o700, "the missing directory was made 0700")

    pid, rc, out, err = exit_dump(os.path.join(BASE, "per-%p"))
    dump = "%s/per-%d/rallo.%d.final.json" % (BASE, pid, pid)
    check(json_dump_ok(dump) and not os.path.exists(os.path.join(BASE, "per-%p")),
          "RALLO_DUMP_DIR=.../per-%%p dumps into per-<pid>: %s" % entries(BASE))

    run_out = os.path.join(BASE, "run-out")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RALLO_") and k != "LD_PRELOAD"}
    run = subprocess.run([CLI, "run", "-o", run_out, "--formats", "json", "--", TARGET, "wait"], env=env,
                         input="go\n", capture_output=True, text=True, timeout=120)
    pid = int(run.stdout.split("pid=")[1].split()[0]) if "pid=" in run.stdout else 0
    check(run.returncode == 0 and json_dump_ok("%s/rallo.%d.final.json" % (run_out, pid)),
          "rallo run -o: the dump is in its 0700 directory (code %d, %s)" % (run.returncode,
                                                                               os.listdir(run_out)))


def check_litter():
    litter = make_dir(os.path.join(BASE, "litter"), 0o700)
    victim = os.path.join(BASE, "victim")
    with open(victim, "w") as f:
        f.write("precious\n")
    dead = subprocess.Popen(["true"])
    dead.wait()
    gone, alive = dead.pid, os.getpid()

    def plant(name, uid=0):
        path = os.path.join(litter, name)
        with open(path, "wb") as f:
            f.write(b"x" * 10000)
        os.chown(path, uid, uid)
        return path

    removed = [plant(".rallo.%d.3.json.tmp-%d-0badf00d" % (gone, gone)),
               plant(".out.json.tmp-%d-12345678" % gone)]
    kept = [plant(".rallo.%d.1.json.tmp-%d-abcdef01" % (alive, alive)),
            plant(".rallo.%d.4.json.tmp-%d-cafe0001" % (gone, gone), NOBODY.pw_uid),
            plant("notes.tmp-%d-12345678" % gone),
            plant(".rallo.%d.6.json.tmp-%d-xyz" % (gone, gone))]
    link = os.path.join(litter, ".rallo.%d.5.json.tmp-%d-cafe0002" % (gone, gone))
    os.symlink(victim, link)
    kept.append(link)

    pid, rc, out, err = exit_dump(litter)
    check(rc == 0 and json_dump_ok("%s/rallo.%d.final.json" % (litter, pid)), "the next dump went through")
    for path in removed:
        check(not os.path.lexists(path), "removed: %s (its process %d is gone)" % (os.path.basename(path), gone))
    for path in kept:
        check(os.path.lexists(path), "left alone: %s" % os.path.basename(path))
    check(open(victim).read() == "precious\n", "the link's target untouched")
    left = [n for n in entries(litter) if ".tmp-" in n and os.path.join(litter, n) not in kept]
    check(left == [], "no temporary of the host's own left: %s" % left)


def check_flood():
    flood = make_dir(os.path.join(BASE, "flood"), 0o700)
    env = host_env(RALLO_DUMP_DIR=flood, RALLO_DUMP_INTERVAL="0.0000001", RALLO_DUMP_FORMATS="json")
    started = time.time()  # before the process starts: its whole life counts
    p, pid = start_host(["wait"], env)
    time.sleep(1.0)
    rc, out, err = finish_host(p, 30)
    seconds = time.time() - started
    dumps = glob.glob("%s/rallo.%d.*.json" % (flood, pid))
    check(rc == 0, "the host finished (code %r)" % rc)
    check(2 <= len(dumps) <= seconds / 0.1 + 2,
          "%d dumps in %.2f s: at most one every 0.1 s (and some)" % (len(dumps), seconds))
    lines = rallo_lines(err)
    check(len(lines) == 1 and "RALLO_DUMP_INTERVAL" in lines[0] and "0.1 s" in lines[0],
          "one line says the floor: %r" % lines)


def check_messages():
    # Every format fails (a directory at each name): one line for the exit dump.
    where = make_dir(os.path.join(BASE, "occupied"), 0o700)
    env = host_env(RALLO_DUMP_DIR=where, RALLO_DUMP_ON_EXIT="1", RALLO_DUMP_FORMATS="html,pprof,folded,text,json")
    p, pid = start_host(["wait"], env)
    for ext in ("html", "pb.gz", "folded", "txt", "json"):
        os.mkdir("%s/rallo.%d.final.%s" % (where, pid, ext))
    rc, out, err = finish_host(p, 60)
    lines = rallo_lines(err)
    # The program writes the set's raw profile itself (the helper it would
    # start makes the other formats): the set fails there, in one line.
    check(rc == 0 and len(lines) == 1 and ("rallo.%d.final" % pid) in lines[0],
          "five failed formats of the exit dump: one line (%r)" % lines)
    check(all(os.path.isdir("%s/rallo.%d.final.%s" % (where, pid, ext))
              for ext in ("html", "pb.gz", "folded", "txt", "json")), "the directories there are untouched")

    # A missing parent: one line, not five.
    pid, rc, out, err = exit_dump(os.path.join(BASE, "no-parent", "no-dir"),
                                  {"RALLO_DUMP_FORMATS": "html,pprof,folded,text,json"})
    check(rc == 0 and len(rallo_lines(err)) == 1, "a directory that cannot be made: one line (%r)" % rallo_lines(err))

    # Control characters from the environment never reach the terminal raw.
    hostile = os.path.join(BASE, "esc\x1b]0;owned\x07\x1b[2J\nrallo: forged\r\x7f\u009b", "deeper")
    pid, rc, out, err = exit_dump(hostile, {"RALLO_DUMP_FORMATS": "json,\x1b[31mred"})
    lines = rallo_lines(err)
    raw = [c for c in err if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) <= 0x9f]
    check(rc == 0 and raw == [], "no raw control character on stderr: %r" % raw)
    check(len(lines) == 2 and not any("forged" in line and line.startswith("rallo: forged") for line in lines),
          "two lines (the format, the directory), none forged by a newline: %r" % lines)
    check(any("\\x1b]0;owned\\x07\\x1b[2J\\x0arallo: forged\\x0d\\x7f\\xc2\\x9b" in line for line in lines),
          "the directory's control characters are written as \\xNN: %r" % lines)
    check(any("\\x1b[31mred" in line for line in lines), "the format's too: %r" % lines)


def check_user_dirs():
    var_tmp = make_dir(os.path.join(BASE, "vartmp"), 0o1777)  # like /var/tmp
    env = host_env(RALLO_DUMP_DIR=os.path.join(var_tmp, "rallo-%u"), RALLO_DUMP_ON_EXIT="1",
                   RALLO_DUMP_FORMATS="json")
    run = subprocess.run([TARGET, "worker"], env=env, capture_output=True, text=True, timeout=60)
    words = dict(w.split("=") for w in run.stdout.split())
    parent, child = int(words.get("parent", 0)), int(words.get("child", 0))
    check(run.returncode == 0 and words.get("status") == "0", "master and worker exited 0: %r" % run.stdout)
    for user, pid, uid in (("root", parent, 0), ("nobody", child, NOBODY.pw_uid)):
        d = os.path.join(var_tmp, "rallo-" + user)
        dump = "%s/rallo.%d.final.json" % (d, pid)
        ok = os.path.isdir(d) and os.stat(d).st_uid == uid and stat.S_IMODE(os.stat(d).st_mode) == 0o700
        check(ok and json_dump_ok(dump) and private_regular(dump, uid),
              "%s's dump is in rallo-%s, a 0700 directory of its own" % (user, user))
    check(rallo_lines(run.stderr) == [], "no message: %r" % rallo_lines(run.stderr))

    shared = os.path.join(var_tmp, "shared")
    env["RALLO_DUMP_DIR"] = shared
    run = subprocess.run([TARGET, "worker"], env=env, capture_output=True, text=True, timeout=60)
    words = dict(w.split("=") for w in run.stdout.split())
    dumps = [pid for pid in (words.get("parent"), words.get("child"))
             if os.path.exists("%s/rallo.%s.final.json" % (shared, pid))]
    lines = rallo_lines(run.stderr)
    check(len(dumps) == 1, "one shared directory: the dump of the process that owns it is there (%s)" % dumps)
    check(len(lines) == 1 and "RALLO_DUMP_DIR=" in lines[0] and "%u" in lines[0],
          "the other says once what to do: %r" % lines)


if os.geteuid() != 0:
    print("FAIL this test plays another user (nobody): run it as root")
    sys.exit(1)
BASE = tempfile.mkdtemp(prefix="rallo-dumpdir-%s-" % CHECK)
os.chmod(BASE, 0o755)
try:
    globals()["check_" + CHECK]()
finally:
    shutil.rmtree(BASE, ignore_errors=True)
finish()
