# A fixed, deterministic workload for the valgrind cross-check (run with
# PYTHONHASHSEED=0, -I -S, stdout to a file).
d = {}
for i in range(20000):
    d[str(i)] = [i] * (i % 7)
s = sorted(d, key=lambda k: -len(d[k]))
print(len(s), sum(len(v) for v in d.values()))
