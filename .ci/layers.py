#!/usr/bin/env python3
"""Prints the module graph of a crate (which top-level module uses which, from `use crate::`
and `crate::` paths) in layers, lowest first, and fails if the graph has a cycle.

    python3 .ci/layers.py mfa-core/src
"""
import re
import sys
from pathlib import Path

src = Path(sys.argv[1] if len(sys.argv) > 1 else "mfa-core/src")
modules = {}
for path in sorted(src.rglob("*.rs")):
    rel = path.relative_to(src)
    if rel.parts[0] in ("lib.rs", "main.rs"):
        continue
    top = rel.parts[0].removesuffix(".rs")
    text = path.read_text()
    # Unit tests and doc comments may name anything.
    text = text.split("\n#[cfg(test)]\nmod tests")[0]
    text = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("//"))
    uses = set(re.findall(r"\bcrate::([a-z_]+)", text))
    for group in re.findall(r"\buse crate::\{([^;]*)\};", text, re.S):
        uses.update(re.findall(r"(?:^|[,{\s])([a-z_]+)::", group))
        uses.update(m for m in re.findall(r"(?:^|[,\s{])([a-z_]+)(?=[,}\s])", group) if (src / f"{m}.rs").exists() or (src / m).is_dir())
    modules.setdefault(top, set()).update(u for u in uses if u != top)

known = set(modules)
graph = {m: sorted(u for u in deps if u in known) for m, deps in modules.items()}

# Layers: a module's layer is one above the highest layer it uses.
layer = {}
def place(m, stack=()):
    if m in layer:
        return layer[m]
    if m in stack:
        cycle = list(stack[stack.index(m):]) + [m]
        print("cycle: " + " -> ".join(cycle))
        sys.exit(1)
    layer[m] = max((place(d, stack + (m,)) for d in graph[m]), default=-1) + 1
    return layer[m]

for m in sorted(graph):
    place(m)
for n in range(max(layer.values()) + 1):
    names = sorted(m for m in layer if layer[m] == n)
    print(f"layer {n}: " + ", ".join(f"{m} (uses {', '.join(graph[m]) or 'nothing'})" for m in names))
print(f"{src}: {len(graph)} modules, no cycle")
