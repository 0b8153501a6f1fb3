#!/usr/bin/env python3
"""test_servers.py - RALLO_HTTP inside Debian's real servers, started the way
their packages start them (loopback only, bounded, everything killed at the end).
  nginx     nginx in daemon mode with 2 workers (the first process forks the
            master and exits), LD_PRELOAD=librallo, RALLO_HTTP=:PORT: nothing
            on stderr; under a steady load of GETs, ten scrapes of
            /debug/pprof/heap and /allocs over the port each answer 200 with a
            gzip profile within 2 s, served by the master (its pid from
            nginx.pid); go tool pprof reads one; `rallo list` shows the master
            serving and each worker (children of the master in /proc)
            waiting, and each worker answers a scrape on @rallo/<pid>; then
            the binary upgrade (USR2, then QUIT to the old master): the new
            master serves the port within 3 s, and nothing in error.log says
            "Address already in use".
  postgres  PostgreSQL 15 started through pg_ctl with the variables in its
            environment (pg_ctl starts the postmaster and exits): pg_ctl and
            the server log say nothing of "Address already in use"; the port
            is served by the postmaster (pid from postmaster.pid) within 3 s;
            under pgbench (4 clients), ten scrapes each answer 200 with a gzip
            profile within 2 s; every child of the postmaster alive before and
            after `rallo list` is in its output, and one pgbench backend
            answers a scrape on @rallo/<pid>.
Usage: test_servers.py CHECK LIBRALLO RALLO WORKDIR"""
import glob
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

CHECK, LIBRALLO, RALLO, WORK = sys.argv[1:5]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import http_probe  # noqa: E402 (tests/common)
from checks import check, finish  # noqa: E402
from http_probe import abstract, clean_env, free_port, tcp  # noqa: E402


def exchange(connect, request, timeout):
    """(status, body, seconds) of one request; status 0 when nothing came back."""
    reply = http_probe.exchange(connect, request, timeout)
    return (0, b"", reply.seconds) if reply.cut else (reply.status, reply.body, reply.seconds)


def get(connect, path, timeout=5):
    return exchange(connect, http_probe.request(path, b"Host: localhost\r\n"), timeout)


def serving_pid(port):
    status, body, _ = get(tcp(port), b"/debug/rallo/process", 2)
    fields = body.split()
    return int(fields[1]) if status == 200 and len(fields) > 1 else None


def wait_serving(port, pid, seconds):
    end = time.time() + seconds
    got = None
    while time.time() < end:
        got = serving_pid(port)
        if got == pid:
            return got
        time.sleep(0.1)
    return got


def children_of(pid):
    found = set()
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.add(int(stat.split("/")[2]))
        except (OSError, IndexError, ValueError):
            pass
    return found


def processes_with(text):
    """Pids whose command line contains text (this test's own servers)."""
    found = []
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(cmdline, "rb") as f:
                if text.encode() in f.read():
                    found.append(int(cmdline.split("/")[2]))
        except OSError:
            pass
    return [pid for pid in found if pid != os.getpid()]


def session_members(pids):
    """Pids in the sessions of these processes (nginx's master makes one at
    daemon start; its workers and an upgraded master stay in it)."""
    sessions = set()
    members = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            pid = int(stat.split("/")[2])
            if pid in pids:
                sessions.add(int(fields[3]))
            members.append((pid, int(fields[3])))
        except (OSError, IndexError, ValueError):
            pass
    return [pid for pid, session in members if session in sessions and pid != os.getpid()]


def read_pid(path, seconds=10):
    end = time.time() + seconds
    while time.time() < end:
        try:
            with open(path) as f:
                return int(f.readline())
        except (OSError, ValueError):
            time.sleep(0.05)
    return None


def rallo_list():
    run = subprocess.run([RALLO, "list"], capture_output=True, text=True, timeout=60)
    rows = {}
    for line in run.stdout.splitlines()[1:]:
        fields = line.split(None, 4)
        if len(fields) >= 4 and fields[0].isdigit():
            rows[int(fields[0])] = fields
    return run.returncode, rows


def scrape_under_load(port, label):
    took = []
    for i in range(10):
        path = b"/debug/pprof/heap" if i % 2 == 0 else b"/debug/pprof/allocs"
        status, body, seconds = get(tcp(port), path, timeout=10)
        took.append(seconds)
        if not (status == 200 and body[:2] == b"\x1f\x8b" and seconds < 2.0):
            check(False, "%s: scrape %d of %s: %d in %.2f s" % (label, i, path.decode(), status, seconds))
            return None
        time.sleep(0.2)
    check(True, "%s: 10 scrapes under load, each 200 gzip, slowest %.2f s" % (label, max(took)))
    return body


def go_reads(profile, label):
    if shutil.which("go") is None:
        check(False, "go is installed (scripts/deps.sh)")
        return
    path = os.path.join(WORK, "scraped.pb.gz")
    with open(path, "wb") as f:
        f.write(profile)
    gohome = os.path.join(WORK, "gohome")
    env = dict(os.environ, HOME=gohome, GOCACHE=os.path.join(gohome, "cache"), GOFLAGS="-mod=mod")
    raw = subprocess.run(["go", "tool", "pprof", "-raw", path], capture_output=True, text=True, env=env, timeout=120)
    check(raw.returncode == 0 and "alloc_space/bytes" in raw.stdout, "%s: go tool pprof reads a scrape" % label)


def check_nginx():
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    work = os.path.join(WORK, "nginx")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    web, port = free_port(), free_port()
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write("daemon on;\nmaster_process on;\nworker_processes 2;\n"
                "env LD_PRELOAD;\nenv RALLO_ENABLE;\nenv RALLO_HTTP;\n"  # kept for the binary upgrade's exec
                "pid %(w)s/nginx.pid;\nerror_log %(w)s/error.log;\nevents { worker_connections 256; }\n"
                "http { access_log off; client_body_temp_path %(w)s/body; proxy_temp_path %(w)s/proxy;\n"
                "  fastcgi_temp_path %(w)s/fastcgi; uwsgi_temp_path %(w)s/uwsgi; scgi_temp_path %(w)s/scgi;\n"
                "  server { listen 127.0.0.1:%(web)d; location / { return 200 \"hello %(pad)s\\n\"; } } }\n"
                % {"w": work, "web": web, "pad": "x" * 200})
    env = dict(os.environ, LD_PRELOAD=LIBRALLO, RALLO_ENABLE="1", RALLO_HTTP=":%d" % port)
    stop = threading.Event()
    served = [0, 0]

    def load():
        while not stop.is_set():
            status, _, _ = exchange(tcp(web), b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 5)
            served[0 if status == 200 else 1] += 1

    loaders = []
    try:
        start = subprocess.run([nginx, "-c", conf, "-p", work + "/"], env=env, capture_output=True, text=True,
                               timeout=30)
        check(start.returncode == 0 and start.stderr == "", "nginx starts as a daemon, quiet: %r" % start.stderr)
        master = read_pid(os.path.join(work, "nginx.pid"))
        check(master is not None, "nginx.pid names the master (%s)" % master)
        check(wait_serving(port, master, 3) == master, "the master serves RALLO_HTTP (%s)" % master)
        loaders = [threading.Thread(target=load) for _ in range(3)]
        for t in loaders:
            t.start()
        time.sleep(0.5)
        profile = scrape_under_load(port, "nginx")
        if profile is not None:
            go_reads(profile, "nginx")
        workers = children_of(master)
        code, rows = rallo_list()
        check(code == 0 and master in rows and rows[master][3] == "serving",
              "rallo list: the master %d serving (%s)" % (master, rows.get(master)))
        check(len(workers) == 2 and all(w in rows and rows[w][1] == str(master) and rows[w][3] == "waiting"
                                        for w in workers),
              "rallo list: both workers %s, parent %d, waiting" % (sorted(workers), master))
        for w in workers:
            status, body, seconds = get(abstract(w), b"/debug/pprof/heap")
            check(status == 200 and body[:2] == b"\x1f\x8b" and seconds < 2.0,
                  "worker %d answers on @rallo/%d: %d in %.2f s" % (w, w, status, seconds))
        # The binary upgrade: USR2 starts a new master (fork + exec), QUIT ends the old one.
        os.kill(master, signal.SIGUSR2)
        old_pid_file = os.path.join(work, "nginx.pid.oldbin")
        check(read_pid(old_pid_file) == master, "USR2: the old master moved to nginx.pid.oldbin")
        new_master = None
        end = time.time() + 10
        while time.time() < end and (new_master is None or new_master == master):
            new_master = read_pid(os.path.join(work, "nginx.pid"), 1)
            time.sleep(0.05)
        check(new_master is not None and new_master != master, "a new master %s" % new_master)
        os.kill(master, signal.SIGQUIT)
        got = wait_serving(port, new_master, 5)
        check(got == new_master, "after QUIT of the old master the new master serves (%s, want %s)" % (got, new_master))
        status, body, seconds = get(tcp(port), b"/debug/pprof/heap")
        check(status == 200 and seconds < 2.0, "a scrape of the new master: %d in %.2f s" % (status, seconds))
        stop.set()
        for t in loaders:
            t.join(timeout=10)
        check(served[0] > 100 and served[1] == 0, "the load: %d answered, %d failed" % tuple(served))
        with open(os.path.join(work, "error.log")) as f:
            log = f.read()
        check("Address already in use" not in log and "rallo:" not in log, "error.log says nothing of rallo")
    finally:
        stop.set()
        for t in loaders:
            t.join(timeout=10)
        for pid in session_members(set(processes_with(conf))):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def check_postgres():
    bindir = "/usr/lib/postgresql/15/bin"
    if not os.path.exists(os.path.join(bindir, "pg_ctl")):
        check(False, "PostgreSQL 15 is installed (scripts/deps.sh)")
        return
    work = os.path.join(WORK, "postgres")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    as_user = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(work, "postgres")
        os.chmod(WORK, 0o755)
    data = os.path.join(work, "data")
    pgport, port = free_port(), free_port()
    clean = clean_env()
    init = subprocess.run(as_user + [bindir + "/initdb", "-N", "-A", "trust", "-U", "postgres", "-D", data],
                          env=clean, capture_output=True, text=True, timeout=120, cwd=work)
    check(init.returncode == 0, "initdb (%s)" % init.stderr[-300:])
    rallo = ["env", "LD_PRELOAD=" + LIBRALLO, "RALLO_ENABLE=1", "RALLO_HTTP=:%d" % port]
    log = os.path.join(work, "log")
    options = "-k %s -p %d -c listen_addresses=''" % (work, pgport)
    pgbench = None
    try:
        start = subprocess.run(as_user + rallo + [bindir + "/pg_ctl", "-D", data, "-l", log, "-w", "-o", options,
                                                  "start"], env=clean, capture_output=True, text=True, timeout=60,
                               cwd=work)
        check(start.returncode == 0 and "Address already in use" not in start.stdout + start.stderr,
              "pg_ctl start, quiet (%r)" % start.stderr)
        postmaster = read_pid(os.path.join(data, "postmaster.pid"))
        check(wait_serving(port, postmaster, 3) == postmaster,
              "the postmaster %s serves RALLO_HTTP once pg_ctl has exited" % postmaster)
        bench = as_user + [bindir + "/pgbench", "-h", work, "-p", str(pgport), "-U", "postgres"]
        init = subprocess.run(bench + ["-i", "-q", "-s", "1", "postgres"], env=clean, capture_output=True, text=True,
                              timeout=120, cwd=work)
        check(init.returncode == 0, "pgbench -i (%s)" % init.stderr[-300:])
        pgbench = subprocess.Popen(bench + ["-c", "4", "-T", "20", "-S", "postgres"], env=clean, cwd=work,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        profile = scrape_under_load(port, "postgres")
        if profile is not None:
            go_reads(profile, "postgres")
        before = children_of(postmaster)
        code, rows = rallo_list()
        after = children_of(postmaster)
        stable = before & after
        missing = sorted(pid for pid in stable if pid not in rows or rows[pid][1] != str(postmaster))
        check(code == 0 and len(stable) >= 8 and not missing,
              "rallo list: all %d children of the postmaster (missing %s)" % (len(stable), missing))
        check(postmaster in rows and rows[postmaster][3] == "serving", "rallo list: the postmaster serving")
        backends = [pid for pid in stable if pid in rows and "postgres postgres" in rows[pid][4]]
        check(len(backends) >= 4, "pgbench's 4 backends listed (%s)" % backends)
        if backends:
            status, body, seconds = get(abstract(backends[0]), b"/debug/pprof/heap")
            check(status == 200 and body[:2] == b"\x1f\x8b" and seconds < 2.0,
                  "backend %d answers on @rallo/%d: %d in %.2f s" % (backends[0], backends[0], status, seconds))
        out, err = pgbench.communicate(timeout=60)
        check(pgbench.returncode == 0 and "number of failed transactions: 0" in out, "pgbench: no failure")
        with open(log) as f:
            text = f.read()
        check("Address already in use" not in text and "rallo:" not in text, "the server log says nothing of rallo")
    finally:
        if pgbench is not None and pgbench.poll() is None:
            pgbench.kill()
        subprocess.run(as_user + [bindir + "/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"], env=clean,
                       capture_output=True, timeout=60, cwd=work)
        for pid in processes_with(data):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


{"nginx": check_nginx, "postgres": check_postgres}[CHECK]()
finish()
