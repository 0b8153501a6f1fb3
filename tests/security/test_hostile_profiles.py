#!/usr/bin/env python3
"""test_hostile_profiles.py - `rallo report` on profiles and dump directories
made to hurt it. Each profile is built here, profile.proto encoded by hand, so
every value in it (and so every figure the report must show) is known.
  fifo_mapping    a mapping names a FIFO; another names a real ELF file whose
                  .gnu_debuglink names a FIFO; the profile path itself is a
                  FIFO: the report finishes, says "not a regular file (a
                  FIFO)", and symbolizes nothing from them.
  fifo_dump_dir   a dump directory holding a FIFO named like a dump, beside a
                  real dump: the timeline is written from the real one, the
                  FIFO skipped with a line; a FIFO at the timeline's own name
                  is refused, not waited on.
  colliding_ids   400,000 location ids chosen to land in one slot of the old
                  id hash (multiples of 2^36 times the inverse of its
                  multiplier), and 200,000 unsymbolized addresses chosen to
                  land in one slot of the symbolizer's old address cache (the
                  inverse of its invertible mix): each read within a bound
                  sequential ids and addresses meet easily, with the totals
                  the samples add up to.
  many_modules    40,000 mappings naming distinct missing files: at most six
                  lines about them (five named, one summary with the count).
  overflow        sample values whose sum passes 2^63-1: refused with one line
                  naming the limit, never a wrapped total; values that just fit
                  are reported exactly.
  gzip_bomb       1.5 GiB of zeros gzipped (~1.5 MiB): refused at the
                  documented 256 MiB cap with one line, and the peak resident
                  memory of `rallo report` (wait4's ru_maxrss) stays under
                  64 MiB.
Usage: test_hostile_profiles.py CHECK RALLO_BINARY WORKDIR"""
import gzip
import os
import shutil
import subprocess
import sys
import threading
import time
import zlib

CHECK, RALLO, WORK = sys.argv[1:4]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from checks import check, finish  # noqa: E402 (tests/common)
# ---- profile.proto, by hand ----

def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_varint(number, value):
    return varint(number << 3) + varint(value)


def field_bytes(number, data):
    return varint(number << 3 | 2) + varint(len(data)) + data


def packed(number, values):
    return field_bytes(number, b"".join(varint(v) for v in values))


class Profile:
    """A heap profile with rallo's four sample types."""

    def __init__(self):
        self.strings = [""]
        self.index = {"": 0}
        self.parts = []
        for name, unit in (("alloc_objects", "count"), ("alloc_space", "bytes"),
                           ("inuse_objects", "count"), ("inuse_space", "bytes")):
            self.parts.append(field_bytes(1, field_varint(1, self.s(name)) + field_varint(2, self.s(unit))))

    def s(self, text):
        if text not in self.index:
            self.index[text] = len(self.strings)
            self.strings.append(text)
        return self.index[text]

    def sample(self, location_ids, values):
        self.parts.append(field_bytes(2, packed(1, location_ids) + packed(2, values)))

    def mapping(self, mid, start, limit, offset, path):
        self.parts.append(field_bytes(3, field_varint(1, mid) + field_varint(2, start) + field_varint(3, limit)
                                      + field_varint(4, offset) + field_varint(5, self.s(path))))

    def location(self, lid, address, mapping_id=0, function_id=0):
        body = field_varint(1, lid) + field_varint(3, address)
        if mapping_id:
            body += field_varint(2, mapping_id)
        if function_id:
            body += field_bytes(4, field_varint(1, function_id) + field_varint(2, 7))
        self.parts.append(field_bytes(4, body))

    def comment(self, text):
        self.parts.append(field_varint(13, self.s(text)))

    def function(self, fid, name):
        self.parts.append(field_bytes(5, field_varint(1, fid) + field_varint(2, self.s(name))))

    def encode(self):
        return b"".join(self.parts) + b"".join(field_bytes(6, t.encode()) for t in self.strings)

    def write(self, path):
        with open(path, "wb") as f:
            f.write(gzip.compress(self.encode(), 1))


def rallo(args, timeout):
    """Runs rallo; (returncode, stdout, stderr, seconds). A hang is a failure, not a stuck test."""
    start = time.monotonic()
    try:
        r = subprocess.run([RALLO] + args, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return None, e.stdout or b"", e.stderr or b"", timeout
    return r.returncode, r.stdout, r.stderr, time.monotonic() - start


def fresh_dir(name):
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


# ---- the checks ----

def text_segment(elf_path):
    """(file offset, size) of .text, from readelf -S."""
    out = subprocess.run(["readelf", "-SW", elf_path], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        fields = line.replace("[ ", "[").split()
        if len(fields) > 5 and fields[1] == ".text":
            return int(fields[4], 16), int(fields[5], 16)
    raise SystemExit("no .text in " + elf_path)


def fifo_mapping():
    d = fresh_dir("fifo_mapping")
    fifo = os.path.join(d, "libfifo.so")
    os.mkfifo(fifo)
    # A real ELF with no DWARF whose debug link names a FIFO: libdwfl's
    # standard search would open it with a blocking open().
    module = os.path.join(d, "prog")
    debug = os.path.join(d, "prog.debug")
    shutil.copy(RALLO, module)
    subprocess.run(["strip", "--strip-debug", module], check=True)
    shutil.copy(RALLO, debug)
    subprocess.run(["objcopy", "--add-gnu-debuglink=" + debug, module], check=True)
    os.unlink(debug)
    os.mkfifo(debug)
    text_offset, _ = text_segment(module)
    p = Profile()
    p.mapping(1, 0x10000000, 0x10100000, 0, fifo)
    p.mapping(2, 0x20000000, 0x20000000 + os.path.getsize(module), 0, module)
    p.location(1, 0x10000100, 1)
    p.location(2, 0x20000000 + text_offset + 0x40, 2)
    p.sample([1], [1, 100, 1, 100])
    p.sample([2], [2, 200, 2, 200])
    profile = os.path.join(d, "p.pb.gz")
    p.write(profile)
    code, out, err, secs = rallo(["report", profile, "-f", "json"], 30)
    text = err.decode(errors="replace")
    check(code == 0, "report of a profile naming FIFOs finishes (exit %r, %.1f s)" % (code, secs))
    check("libfifo.so stay unsymbolized: not a regular file (a FIFO)" in text,
          "the FIFO mapping is named as not a regular file: " + text.strip().replace("\n", " | "))
    check(b'"alloc_bytes":300' in out, "totals read 300 bytes")
    # The profile itself a FIFO: refused at once (a writer never comes).
    code, _, err, secs = rallo(["report", fifo], 10)
    check(code == 1 and b"not a regular file (a FIFO)" in err,
          "a FIFO given as the profile is refused (exit %r, %.1f s): %s" % (code, secs, err.decode().strip()))


def fifo_dump_dir():
    d = fresh_dir("fifo_dump_dir")
    p = Profile()
    p.comment("rallo.pid=4242")
    p.function(1, "grow_table")
    p.location(1, 0x1000, 0, 1)
    p.sample([1], [3, 4096, 2, 1024])
    p.write(os.path.join(d, "rallo.4242.1.pb.gz"))
    os.mkfifo(os.path.join(d, "rallo.4242.2.pb.gz"))
    out_html = os.path.join(d, "out.html")
    code, _, err, secs = rallo(["report", d, "-o", out_html], 30)
    text = err.decode(errors="replace")
    check(code == 0, "timeline of a directory holding a FIFO finishes (exit %r, %.1f s): %s"
          % (code, secs, text.strip().replace("\n", " | ")))
    check("rallo.4242.2.pb.gz: not a regular file" in text, "the FIFO is skipped with a line")
    page = open(out_html, encoding="utf-8", errors="replace").read() if os.path.exists(out_html) else ""
    check("grow_table" in page and '"seq":"1"' in page, "the real dump is in the timeline")
    # The timeline's own default name planted as a FIFO: an error, not a hang.
    os.mkfifo(os.path.join(d, "rallo.4242.timeline.html"))
    code, _, err, secs = rallo(["report", d], 30)
    check(code == 1 and b"FIFO" in err, "a FIFO at the timeline's name is refused (exit %r, %.1f s): %s"
          % (code, secs, err.decode().strip().replace("\n", " | ")))


def colliding_ids():
    d = fresh_dir("colliding_ids")
    count = 400000
    multiplier = 0x9E3779B97F4A7C15  # the old id index's hash
    inverse = pow(multiplier, -1, 1 << 64)
    p = Profile()
    p.function(1, "hot")
    # id * multiplier = j << 36: bits 17..35, the old slot, are 0 for every id.
    ids = [(inverse * (j << 36)) % (1 << 64) for j in range(1, count + 1)]
    total = 0
    for n, lid in enumerate(ids):
        p.location(lid, 0x1000 + 16 * n, 0, 1)
    for n in range(0, count, 4):
        p.sample(ids[n:n + 4], [1, n + 1, 1, n + 1])
        total += n + 1
    profile = os.path.join(d, "p.pb.gz")
    p.write(profile)
    # Sequential ids meet this bound in about a second; the old index took
    # 57 s of CPU (2m46 on a loaded machine) on these.
    code, out, err, secs = rallo(["report", profile, "-f", "json"], 30)
    check(code == 0, "400,000 colliding location ids read in %.1f s (bound 30 s; exit %r)" % (secs, code))
    check(('"alloc_bytes":%d' % total).encode() in out, "totals add up to %d" % total)

    def unmix(h):  # the inverse of the symbolizer's old address hash (murmur3's fmix64)
        mask = (1 << 64) - 1
        h ^= h >> 33
        h = (h * pow(0xC4CEB9FE1A85EC53, -1, 1 << 64)) & mask
        h ^= h >> 33
        h = (h * pow(0xFF51AFD7ED558CCD, -1, 1 << 64)) & mask
        return h ^ (h >> 33)
    count = 200000
    p = Profile()
    for n in range(1, count + 1):
        p.location(n, unmix(n << 24 | 5))  # the low 24 bits of the hash: one slot up to 16M slots
    for n in range(1, count + 1, 4):
        p.sample(list(range(n, min(n + 4, count + 1))), [1, 1, 1, 1])
    profile = os.path.join(d, "addresses.pb.gz")
    p.write(profile)
    code, out, err, secs = rallo(["report", profile, "-f", "json"], 30)
    check(code == 0, "200,000 colliding addresses symbolized in %.1f s (bound 30 s; exit %r)" % (secs, code))
    check(b'"alloc_count":50000' in out, "totals count 50,000 samples")


def many_modules():
    d = fresh_dir("many_modules")
    count = 40000
    p = Profile()
    for n in range(1, count + 1):
        start = 0x10000000 + n * 0x10000
        p.mapping(n, start, start + 0x1000, 0, "/nonexistent/rallo-test/lib%d.so" % n)
        p.location(n, start + 0x10, n)
        p.sample([n], [1, 8, 1, 8])
    profile = os.path.join(d, "p.pb.gz")
    p.write(profile)
    code, _, err, secs = rallo(["report", profile, "-f", "text"], 60)
    lines = [line for line in err.decode(errors="replace").splitlines()
             if "/nonexistent/" in line or "modules could not be used" in line]
    check(code == 0, "40,000 missing modules: report finishes (exit %r, %.1f s)" % (code, secs))
    check(len(lines) <= 6, "at most six lines about them, not one each (%d)" % len(lines))
    check(any("40000 modules could not be used" in line for line in lines),
          "one summary line counts them: " + (lines[-1] if lines else "(none)"))


def overflow():
    d = fresh_dir("overflow")
    limit = (1 << 63) - 1
    p = Profile()
    p.function(1, "big")
    p.location(1, 0x1000, 0, 1)
    p.location(2, 0x2000, 0, 1)
    p.sample([1], [1, limit, 1, 1])
    p.sample([2], [1, 1, 1, 1])
    profile = os.path.join(d, "wraps.pb.gz")
    p.write(profile)
    code, out, err, _ = rallo(["report", profile, "-f", "json"], 30)
    check(code == 1 and b"2^63-1" in err and err.count(b"\n") == 1,
          "sums past 2^63-1 refused with one line (exit %r): %s" % (code, err.decode().strip()))
    check(b'"alloc_bytes":0' not in out and b'"alloc_bytes":9223372036854775808' not in out,
          "no wrapped or overflowed total written")
    p = Profile()
    p.function(1, "big")
    p.location(1, 0x1000, 0, 1)
    p.location(2, 0x2000, 0, 1)
    p.sample([1], [1, limit - 1, 1, 1])
    p.sample([2], [1, 1, 1, 1])
    profile = os.path.join(d, "fits.pb.gz")
    p.write(profile)
    code, out, err, _ = rallo(["report", profile, "-f", "json"], 30)
    check(code == 0 and ('"alloc_bytes":%d' % limit).encode() in out,
          "a sum of exactly 2^63-1 is reported exactly (exit %r)" % code)


def gzip_bomb():
    d = fresh_dir("gzip_bomb")
    bomb = os.path.join(d, "bomb.pb.gz")
    block = bytes(1 << 20)
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + 15)
    with open(bomb, "wb") as f:
        for _ in range(1536):
            f.write(z.compress(block))
        f.write(z.flush())
    start = time.monotonic()
    err_path = os.path.join(d, "stderr")
    with open(err_path, "wb") as err_file:
        proc = subprocess.Popen([RALLO, "report", bomb, "-f", "text"], stdout=subprocess.DEVNULL, stderr=err_file)
    timer = threading.Timer(60, proc.kill)
    timer.start()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: ru_maxrss is its peak
    timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak_kib = usage.ru_maxrss
    err = open(err_path, "rb").read()
    text = err.decode(errors="replace").strip()
    check(proc.returncode == 1 and "past the 256 MiB cap" in text and text.count("\n") == 0,
          "a 1.5 GiB gzip bomb is refused at the 256 MiB cap with one line (%.1f s): %s"
          % (time.monotonic() - start, text))
    check(peak_kib < 64 * 1024, "peak resident memory %.1f MiB, under 64 MiB" % (peak_kib / 1024))


CHECKS = {"fifo_mapping": fifo_mapping, "fifo_dump_dir": fifo_dump_dir, "colliding_ids": colliding_ids,
          "many_modules": many_modules, "overflow": overflow, "gzip_bomb": gzip_bomb}
os.makedirs(WORK, exist_ok=True)
CHECKS[CHECK]()
finish()
