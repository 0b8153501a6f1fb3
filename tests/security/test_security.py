#!/usr/bin/env python3
"""test_security.py - rallo in a hostile setting.
  http_limits   RALLO_HTTP=:PORT binds loopback only; a 1 MiB header, 200
                headers and 100 concurrent slow connections are refused or
                dropped, the host program unharmed; 1000 GET /debug/pprof/heap
                while the program allocates: no crash, and RSS after the
                second 500 requests has not grown beyond 8 MiB over RSS after
                the first 500 (rallo's memory does not grow without bound);
                2000 random requests (bounded, seeded) against the live
                endpoint, then a normal GET still works.
  setuid        a set-uid copy of sec_target (owner nobody, run as root, so
                AT_SECURE=1): RALLO_ENABLE, RALLO_HTTP, RALLO_DUMP_ON_EXIT and
                RALLO_DUMP_DIR are all ignored (no port opened, no file written).
  magic         a tracked block's header copied over another's does not
                validate there (the census does not see the block); the magic
                of the same block at the same address (ASLR off) differs across
                two processes (a per-process getrandom secret).
(Already covered elsewhere, not repeated: dump files 0600 and planted
symlinks in tests/dump; go tool pprof -raw on a curl-fetched profile and POST
enable/disable in tests/cli cli.http; RALLO_ENABLE/RALLO_SAMPLE under set-uid
in tests/tracking tracking.env.)
Usage: test_security.py CHECK SEC_TARGET WORKDIR"""
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

CHECK, TARGET, WORK = sys.argv[1:4]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import http_probe  # noqa: E402 (tests/common)
from checks import check, finish  # noqa: E402
from http_probe import free_port  # noqa: E402


def clean_env(**extra):
    return http_probe.clean_env(keep_preload=True, **extra)


def request(port, data, timeout=10):
    """Sends raw bytes, returns the status line (or '' if the server closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        reply = b""
        while b"\r\n" not in reply:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
        return reply.split(b"\r\n", 1)[0].decode("latin-1")
    except (ConnectionResetError, BrokenPipeError, socket.timeout):
        return ""
    finally:
        s.close()


def get_heap(port):
    """The whole reply to GET /debug/pprof/heap, head and body."""
    return http_probe.exchange(http_probe.tcp(port), http_probe.request(b"/debug/pprof/heap"), timeout=30).raw


def non_loopback_address():
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("10.255.255.255", 1))
        address = s.getsockname()[0]
        s.close()
        return None if address.startswith("127.") else address
    except OSError:
        return None


def check_http_limits():
    port = free_port()
    proc = subprocess.Popen([TARGET, "serve"], env=clean_env(RALLO_ENABLE="1", RALLO_HTTP=":%d" % port),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        check(proc.stdout.readline().strip() == "ready", "the program is up")
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        check(request(port, b"GET /debug/pprof/heap HTTP/1.0\r\n\r\n").split(" ")[1:2] == ["200"], "GET heap: 200")
        other = non_loopback_address()
        if other:
            try:
                socket.create_connection((other, port), timeout=2).close()
                check(False, ":PORT is not reachable on %s" % other)
            except OSError:
                check(True, ":PORT is not reachable on %s (loopback only)" % other)
        status = request(port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
        check(not status.endswith(" 200 OK"), "1 MiB header refused (%r)" % status)
        headers = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
        status = request(port, b"GET /debug/pprof/heap HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n")
        check(not status.endswith(" 200 OK") or len(headers) < 32 * 1024,
              "200 headers: %r (within the 32 KiB request memory: served is fine)" % status)
        # 100 slow connections: each sends half a request line and stalls.
        slow = []
        for _ in range(100):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
                s.sendall(b"GET /debug/pp")
                slow.append(s)
            except OSError:
                pass
        time.sleep(0.5)
        accepted = 0
        for s in slow:
            try:
                s.settimeout(0.05)
                if s.recv(1) == b"":
                    continue  # closed by the server: refused
            except socket.timeout:
                accepted += 1  # still open, waiting
            except OSError:
                pass
        check(accepted <= 16, "100 slow connections: at most 16 held open (%d)" % accepted)
        for s in slow:
            s.close()
        time.sleep(0.5)
        check(request(port, b"GET /debug/pprof/heap HTTP/1.0\r\n\r\n").split(" ")[1:2] == ["200"],
              "after the slow connections close: GET heap served again")
        # 1000 GETs in two halves, RSS after each half.
        rss = []
        for half in range(2):
            for _ in range(500):
                body = get_heap(port)
                if not body.startswith(b"HTTP/1.1 200"):
                    check(False, "GET heap in the loop")
                    break
            proc.stdin.write("r\n")
            proc.stdin.flush()
            rss.append(int(proc.stdout.readline().split()[1]))
        check(rss[1] - rss[0] < 8 * 1024, "1000 GETs: RSS %d kB after 500, %d kB after 1000" % (rss[0], rss[1]))
        # Random requests, bounded and seeded.
        rng = random.Random(7)
        methods = [b"GET", b"POST", b"HEAD", b"PUT", b"\x00", b"G" * 300, b""]
        paths = [b"/", b"/debug/pprof/heap", b"/debug/rallo/enable", b"/%00", b"/" + b"a" * 5000, b"*", b""]
        for _ in range(2000):
            parts = [rng.choice(methods), b" ", rng.choice(paths), b" ",
                     rng.choice([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/9", b""]), b"\r\n"]
            for _ in range(rng.randrange(4)):
                parts.append(bytes(rng.randrange(256) for _ in range(rng.randrange(40))) + b"\r\n")
            if rng.random() < 0.8:
                parts.append(b"\r\n")
            request(port, b"".join(parts), timeout=0.3)
        check(request(port, b"GET /debug/pprof/heap HTTP/1.0\r\n\r\n").split(" ")[1:2] == ["200"],
              "after 2000 random requests: GET heap still 200")
        check(proc.poll() is None, "the program still runs")
    finally:
        proc.stdin.close()
        out = proc.stdout.read()
        code = proc.wait(timeout=60)
    check(code == 0 and out.startswith("alive"), "the program exited normally (%d, %r)" % (code, out.strip()))


def check_setuid():
    if os.geteuid() != 0:
        print("skipped: needs root to make a set-uid-nobody copy")
        return
    d = tempfile.mkdtemp(dir="/tmp", prefix="rallo-sec-")
    os.chmod(d, 0o755)
    copy = os.path.join(d, "sec_target")
    shutil.copy(TARGET, copy)
    os.chown(copy, 65534, 65534)
    os.chmod(copy, 0o4755)
    dumps = os.path.join(d, "dumps")
    os.mkdir(dumps)
    os.chmod(dumps, 0o700)
    os.chown(dumps, 65534, 65534)  # the set-uid copy's (euid nobody): one it would dump into
    port = free_port()
    env = clean_env(RALLO_ENABLE="1", RALLO_HTTP="127.0.0.1:%d" % port, RALLO_DUMP_ON_EXIT="1",
                    RALLO_DUMP_DIR=dumps, RALLO_DUMP_FORMATS="json")
    code = subprocess.run([copy, "env"], env=env, capture_output=True, text=True, timeout=60)
    if "enabled=" not in code.stdout:
        print("skipped: the set-uid copy could not run here (%r)" % code.stderr[-300:])
        return
    with open("/proc/self/mounts") as f:
        pass
    check(code.stdout.strip() == "enabled=0", "set-uid: RALLO_ENABLE ignored (%r)" % code.stdout.strip())
    check(os.listdir(dumps) == [], "set-uid: RALLO_DUMP_ON_EXIT/RALLO_DUMP_DIR ignored (no file)")
    # The same copy without set-uid, run as nobody, does all of it: the test can tell.
    os.chmod(copy, 0o755)

    def become_nobody():
        os.setgid(65534)
        os.setuid(65534)

    plain = subprocess.run([copy, "env"], env=env, capture_output=True, text=True, timeout=60,
                           preexec_fn=become_nobody)
    check(plain.stdout.strip() == "enabled=1" and len(os.listdir(dumps)) == 1,
          "control: without set-uid the same variables take effect")
    shutil.rmtree(d)


def check_magic():
    forge = subprocess.run([TARGET, "forge"], env=clean_env(), capture_output=True, text=True, timeout=60)
    words = forge.stdout.split()
    check(forge.returncode == 0 and len(words) == 8, "forge ran: %r" % forge.stdout)
    if len(words) == 8:
        before, after, live, bad = int(words[1]), int(words[3]), int(words[5]), int(words[7])
        check(after == before - 1, "a header copied to another block does not validate there (census %d -> %d)"
              % (before, after))
        check(live == 0 and bad == 0, "restored and freed: live %d, bad headers %d" % (live, bad))
    seen = set()
    for _ in range(2):
        run = subprocess.run(["setarch", "-R", TARGET, "magic"], env=clean_env(), capture_output=True, text=True,
                             timeout=60)
        seen.add(tuple(run.stdout.split()))
    addresses = {s[0] for s in seen if len(s) == 2}
    magics = {s[1] for s in seen if len(s) == 2}
    if len(addresses) == 1:
        check(len(magics) == 2, "same block, same address, two processes: magic differs (%s)" % sorted(magics))
    else:
        print("skipped: ASLR could not be turned off (addresses %s)" % sorted(addresses))


os.makedirs(WORK, exist_ok=True)
globals()["check_" + CHECK]()
finish()
