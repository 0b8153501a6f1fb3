"""bench_py.py - the real program nobody here wrote: python3 (its own object
allocator on top of malloc) running a fixed script of dicts, strings, lists,
a JSON round trip and sorting, with a fixed seed. Self-check: the round trip
gives back the same data and the sorted records are in order.
Usage: python3 bench_py.py [SCALE]"""
import json
import random
import sys

scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
rng = random.Random(20240601)
ok = True
checksum = 0
batches = max(1, round(5 * scale))
per_batch = int(6000 * min(1.0, scale * 5))
for batch in range(batches):
    records = []
    for i in range(per_batch):
        name = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 24)))
        records.append({"id": i, "name": name, "tags": [name[:k] for k in range(1, 4)],
                        "score": rng.random(), "blob": name * rng.randint(1, 8)})
    text = json.dumps(records)
    back = json.loads(text)
    ok = ok and back == records
    back.sort(key=lambda r: (r["name"], r["id"]))
    ok = ok and all((a["name"], a["id"]) <= (b["name"], b["id"]) for a, b in zip(back, back[1:]))
    index = {}
    for r in back:
        index.setdefault(r["name"][0], []).append(r["id"])
    checksum = (checksum * 31 + len(text) + sum(len(v) for v in index.values())) & 0xFFFFFFFFFFFFFFFF
# Under librallo: its process-wide totals (the script cannot count its own
# allocations; compare with the profilers' process-wide totals instead).
rallo = "rallo=n/a"
try:
    import ctypes

    class Totals(ctypes.Structure):
        _fields_ = [(name, ctypes.c_uint64) for name in (
            "alloc_count", "alloc_bytes", "free_count", "free_bytes", "live_count", "live_bytes",
            "peak_live_bytes", "untracked_count")]

    totals = Totals()
    ctypes.CDLL(None).rallo_get_totals(ctypes.byref(totals))
    rallo = "rallo_allocs=process rallo_process_allocs=%d" % totals.alloc_count
except (AttributeError, OSError, ImportError):
    pass
print("BENCH name=python ok=%d checksum=%016x allocs=n/a bytes=n/a frees=n/a %s" % (ok, checksum, rallo))
sys.exit(0 if ok else 1)
