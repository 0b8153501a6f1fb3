#!/usr/bin/env python3
"""test_http.py - the RALLO_HTTP endpoint attacked, and inherited by children.
  host      DNS rebinding: a Host that is not a loopback name or the bound
            address gets 403 (several forms); localhost, 127.0.0.1, with and
            without a port, get 200; an HTTP/1.0 request with no Host, 200.
  origin    a POST to /debug/rallo/disable with a foreign Origin (and "null")
            gets 403; with the server's own origin, 200.
  token     RALLO_HTTP=0.0.0.0:PORT without RALLO_HTTP_TOKEN: exactly one
            stderr line naming RALLO_HTTP_TOKEN, nothing listens; with a
            token: no Authorization, a wrong token of the same length and a
            prefix of it get 401, the right one 200, on every request.
  slow      eight connections that trickle one header line a second: a
            well-behaved scrape started while they run is answered (200, a
            gzip profile) within 2 s, and each trickler is cut off within
            the request deadline (closed within 8 s though still sending).
  children  `sh -c` running three programs that inherit RALLO_HTTP and
            LD_PRELOAD: nothing on stderr (no "Address already in use");
            a wrapper that execs hands the port on (the exec'd program's
            pid answers /debug/rallo/process); a forked child whose parent
            exits takes the port, and a child whose parent lives answers on
            its own socket @rallo/<pid>.
Usage: test_http.py CHECK SEC_TARGET LIBRALLO"""
import os
import socket
import subprocess
import sys
import threading
import time

CHECK, TARGET, LIBRALLO = sys.argv[1:4]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import http_probe  # noqa: E402 (tests/common)
from checks import check, finish  # noqa: E402
from http_probe import abstract, clean_env, free_port, tcp  # noqa: E402


def exchange(connect, data, timeout=10):
    """Sends raw bytes, returns (status code or 0, body)."""
    reply = http_probe.exchange(connect, data, timeout)
    return reply.status, reply.body


def get(connect, path, headers=b"Host: 127.0.0.1\r\n", method=b"GET"):
    return exchange(connect, http_probe.request(path, headers, method))


def wait_port(port, seconds=10):
    end = time.time() + seconds
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def serving_pid(port):
    status, body = get(tcp(port), b"/debug/rallo/process")
    fields = body.split()
    return int(fields[1]) if status == 200 and len(fields) > 1 and fields[0] == b"pid" else None


def start_target(port, **extra):
    env = clean_env(RALLO_ENABLE="1", RALLO_HTTP=":%d" % port)
    env.update(extra)
    proc = subprocess.Popen([TARGET, "serve"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    check(proc.stdout.readline().strip() == "ready", "the program is up")
    check(wait_port(port), "the port answers")
    return proc


def stop_target(proc):
    proc.stdin.close()
    proc.stdout.read()
    err = proc.stderr.read()
    code = proc.wait(timeout=60)
    check(code == 0, "the program exited normally (%d)" % code)
    return err


def check_host():
    port = free_port()
    proc = start_target(port)
    try:
        for host in [b"evil.example", b"evil.example:%d" % port, b"127.0.0.1.evil.example",
                     b"localhost.evil.example:%d" % port, b"10.0.0.1:%d" % port, b"[::2]:%d" % port,
                     b"localhost:%d:1" % port, b"localhost:x"]:
            status, _ = get(tcp(port), b"/debug/pprof/heap", b"Host: " + host + b"\r\n")
            check(status == 403, "Host: %s -> 403 (%d)" % (host.decode(), status))
        for host in [b"localhost", b"localhost:%d" % port, b"LOCALHOST.", b"127.0.0.1", b"127.0.0.1:%d" % port,
                     b"[::1]:%d" % port]:
            status, _ = get(tcp(port), b"/debug/pprof/heap", b"Host: " + host + b"\r\n")
            check(status == 200, "Host: %s -> 200 (%d)" % (host.decode(), status))
        status, _ = exchange(tcp(port), b"GET /debug/pprof/heap HTTP/1.0\r\n\r\n")
        check(status == 200, "HTTP/1.0 without Host -> 200 (%d)" % status)
    finally:
        stop_target(proc)


def check_origin():
    port = free_port()
    proc = start_target(port)
    try:
        for origin in [b"http://evil.example", b"https://evil.example:%d" % port, b"null",
                       b"http://127.0.0.1.evil.example:%d" % port, b"file://"]:
            status, _ = get(tcp(port), b"/debug/rallo/disable",
                            b"Host: 127.0.0.1:%d\r\nOrigin: %s\r\n" % (port, origin), b"POST")
            check(status == 403, "POST with Origin %s -> 403 (%d)" % (origin.decode(), status))
        status, _ = get(tcp(port), b"/debug/rallo/disable",
                        b"Host: 127.0.0.1:%d\r\nOrigin: http://127.0.0.1:%d\r\n" % (port, port), b"POST")
        check(status == 200, "POST with the server's own origin -> 200 (%d)" % status)
        status, _ = get(tcp(port), b"/debug/rallo/enable", b"Host: localhost\r\n", b"POST")
        check(status == 200, "POST without Origin (curl) -> 200 (%d)" % status)
    finally:
        stop_target(proc)


def check_token():
    port = free_port()
    proc = subprocess.Popen([TARGET, "serve"], env=clean_env(RALLO_ENABLE="1", RALLO_HTTP="0.0.0.0:%d" % port),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    check(proc.stdout.readline().strip() == "ready", "the program is up")
    check(not wait_port(port, 1), "0.0.0.0 without a token: nothing listens on %d" % port)
    lines = [line for line in stop_target(proc).splitlines() if line.strip()]
    check(len(lines) == 1 and "RALLO_HTTP_TOKEN" in lines[0], "0.0.0.0 without a token: one line %r" % lines)
    token = "s3cret-token-0123456789"
    proc = start_target(port, RALLO_HTTP="0.0.0.0:%d" % port, RALLO_HTTP_TOKEN=token)
    try:
        wrong = token[:-1] + ("x" if token[-1] != "x" else "y")
        for header, want in [(b"", 401), (b"Authorization: Bearer " + wrong.encode() + b"\r\n", 401),
                             (b"Authorization: Bearer " + token[:-3].encode() + b"\r\n", 401),
                             (b"Authorization: Basic " + token.encode() + b"\r\n", 401),
                             (b"Authorization: Bearer " + token.encode() + b"\r\n", 200),
                             (b"Authorization: Bearer " + token.encode() + b"\r\n", 200)]:
            status, _ = get(tcp(port), b"/debug/pprof/heap", b"Host: 127.0.0.1\r\n" + header)
            check(status == want, "0.0.0.0 with a token, %r -> %d (%d)" % (header.split(b":")[0], want, status))
        status, _ = get(tcp(port), b"/debug/rallo/disable", b"Host: 127.0.0.1\r\n", b"POST")
        check(status == 401, "POST without the token -> 401 (%d)" % status)
    finally:
        stop_target(proc)


def check_slow():
    port = free_port()
    proc = start_target(port)
    stop = threading.Event()
    closed_after = []

    def trickle():
        start = time.time()
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.sendall(b"GET /debug/pprof/heap HTTP/1.1\r\n")
            s.settimeout(1.0)
            for i in range(20):
                if stop.is_set():
                    break
                s.sendall(b"X-Slow-%d: v\r\n" % i)
                try:
                    if s.recv(1) == b"":
                        closed_after.append(time.time() - start)
                        break
                except socket.timeout:
                    pass
            s.close()
        except OSError:
            closed_after.append(time.time() - start)

    try:
        # A first scrape builds the symbolizer: what is timed below is the
        # endpoint's availability, not that one-time cost.
        check(get(tcp(port), b"/debug/pprof/heap")[0] == 200, "a first scrape (warm-up)")
        threads = [threading.Thread(target=trickle) for _ in range(8)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        start = time.time()
        status, body = get(tcp(port), b"/debug/pprof/heap")
        took = time.time() - start
        check(status == 200 and body[:2] == b"\x1f\x8b" and took < 2.0,
              "a scrape among 8 trickling clients: %d in %.2f s (limit 2 s)" % (status, took))
        for t in threads:
            t.join(timeout=25)
        check(len(closed_after) == 8 and max(closed_after) < 8.0,
              "every trickler cut off within 8 s: %s" % ["%.1f" % t for t in sorted(closed_after)])
    finally:
        stop.set()
        stop_target(proc)


def check_children():
    port = free_port()
    env = clean_env(LD_PRELOAD=LIBRALLO, RALLO_ENABLE="1", RALLO_HTTP=":%d" % port)
    run = subprocess.run(["sh", "-c", "/bin/true; /bin/echo x >/dev/null; %s env >/dev/null; sleep 0.3" % TARGET],
                         env=env, capture_output=True, text=True, timeout=60)
    check(run.returncode == 0 and run.stderr == "", "children of a server are quiet: stderr %r" % run.stderr)
    # A wrapper that execs: the exec'd program serves (close-on-exec).
    proc = subprocess.Popen(["sh", "-c", "sleep 0.3; exec %s serve" % TARGET], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        check(proc.stdout.readline().strip() == "ready", "the exec'd program is up")
        pid = None
        end = time.time() + 5
        while pid != proc.pid and time.time() < end:
            pid = serving_pid(port)
            time.sleep(0.1)
        check(pid == proc.pid, "after exec the program serves the port (pid %s, want %d)" % (pid, proc.pid))
    finally:
        err = stop_target(proc)
    check(err == "", "the exec'd program said nothing: %r" % err)
    # fork: the child whose parent exits takes the port; one whose parent lives
    # answers on its own socket.
    script = ("import os, sys, time\n"
              "pid = os.fork()\n"
              "if pid:\n"
              "    print(pid, flush=True)\n"
              "    time.sleep(float(sys.argv[1]))\n"
              "    os._exit(0)\n"
              "time.sleep(4)\n")
    for parent_lives in [False, True]:
        # A parent that lives long enough for three requests, the last a heap
        # profile it symbolizes itself (over a second on a loaded machine).
        proc = subprocess.Popen([sys.executable, "-c", script, "8" if parent_lives else "0.5"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            child = int(proc.stdout.readline())
            if parent_lives:
                time.sleep(0.5)
                status, body = get(abstract(child), b"/debug/rallo/process")
                check(status == 200 and body.startswith(b"pid %d ppid %d " % (child, proc.pid)),
                      "the forked child answers on @rallo/%d: %d %r" % (child, status, body))
                check(serving_pid(port) == proc.pid, "while its parent lives, the parent serves the port")
                status, body = get(abstract(proc.pid), b"/debug/pprof/heap")
                check(status == 200 and body[:2] == b"\x1f\x8b", "the parent answers on @rallo/%d too" % proc.pid)
            else:
                proc.wait(timeout=10)
                pid = None
                end = time.time() + 2.5
                while pid != child and time.time() < end:
                    pid = serving_pid(port)
                    time.sleep(0.1)
                check(pid == child, "the parent gone, its forked child serves the port (%s, want %d)" % (pid, child))
        finally:
            proc.wait(timeout=20)
            err = proc.stderr.read()
            try:
                os.kill(child, 9)
            except OSError:
                pass
        check(err == "", "fork: nothing on stderr (%r)" % err)


{"host": check_host, "origin": check_origin, "token": check_token, "slow": check_slow,
 "children": check_children}[CHECK]()
finish()
