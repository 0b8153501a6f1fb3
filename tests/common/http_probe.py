"""http_probe.py - what the python tests that talk to a RALLO_HTTP endpoint
share: a free loopback port, an environment without rallo's variables, and
one raw HTTP exchange over TCP or over a process's abstract unix socket
(@rallo/<pid>), read until the server closes the connection."""
import collections
import os
import socket
import time

# status: the reply's code, 0 when nothing (or no status line) came back;
# headers: names lower-cased; seconds: from connecting to the end; cut: the
# connection failed before the server closed it (what came first is kept);
# raw: the bytes as they came.
Reply = collections.namedtuple("Reply", "status headers body seconds cut raw")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def clean_env(keep_preload=False, **extra):
    """os.environ without RALLO_* (and LD_PRELOAD unless keep_preload), plus extra."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("RALLO_") and (keep_preload or k != "LD_PRELOAD")}
    env.update(extra)
    return env


def tcp(port, host="127.0.0.1"):
    return lambda timeout: socket.create_connection((host, port), timeout=timeout)


def abstract(pid):
    def connect(timeout):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect("\0rallo/%d" % pid)
        return s
    return connect


def request(path, headers=b"Host: 127.0.0.1\r\n", method=b"GET"):
    """The bytes of one HTTP/1.1 request for path that asks the server to close."""
    return method + b" " + path + b" HTTP/1.1\r\n" + headers + b"Connection: close\r\n\r\n"


def exchange(connect, data, timeout=10):
    """Sends raw bytes through connect(timeout) and reads the reply to the end: a Reply."""
    start = time.time()
    try:
        s = connect(timeout)
    except OSError:
        return Reply(0, {}, b"", time.time() - start, True, b"")
    raw = b""
    cut = False
    try:
        s.sendall(data)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            raw += chunk
    except OSError:
        cut = True
    finally:
        s.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    parts = head.split(b"\r\n", 1)[0].split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return Reply(status, headers, body, time.time() - start, cut, raw)
