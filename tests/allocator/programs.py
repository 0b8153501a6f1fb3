# programs.py - the python3 workload of the real-programs test: dicts, lists,
# strings, sets, a class with many instances; prints only deterministic figures.
import hashlib

words = ["w%d" % ((i * 7919) % 10007) for i in range(60000)]
counts = {}
for w in words:
    counts[w] = counts.get(w, 0) + 1
print("distinct", len(counts), "max", max(counts.values()))

text = " ".join(words)
print("text", len(text), hashlib.sha256(text.encode()).hexdigest()[:16])
parts = text.split(" ")
print("parts", len(parts), sorted(parts)[:3], sorted(parts)[-1])

grid = [[(x * y) % 97 for x in range(300)] for y in range(300)]
print("grid", sum(map(sum, grid)))

class Node:
    __slots__ = ("key", "children")
    def __init__(self, key):
        self.key = key
        self.children = []

root = Node("root")
frontier = [root]
for i in range(30000):
    node = Node("n%d" % i)
    frontier[i % len(frontier)].children.append(node)
    frontier.append(node)
    if len(frontier) > 500:
        frontier = frontier[250:]

def depth(root):
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        stack.extend((c, d + 1) for c in node.children)
    return deepest

print("tree", depth(root), len(root.children))
s = set(range(0, 100000, 3)) ^ set(range(0, 100000, 5))
print("sets", len(s), sum(s) % 1000003)
big = bytearray(b"x" * (20 * 1024 * 1024))
big[-1] = 0x79
print("bytes", len(big), big[-2:], "".join(reversed("allocation"))[:5])
