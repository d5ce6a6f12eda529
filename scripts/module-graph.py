#!/usr/bin/env python3
"""Prints each crate's modules and the sibling modules each one imports, and fails on an import circle.

A module is a file under `<crate>/src/` (a folder `x/` with its `mod.rs` is one module `x`, so its inner files
may use each other). An import is a `crate::x` path anywhere in the file (use lines and qualified paths), test
modules (`#[cfg(test)] mod tests { ... }` to the end of the file) excluded. Usage: scripts/module-graph.py [--quiet]
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRATES = ["compaction", "log-store", "storage", "query", "benches", "."]


def modules(src):
    mods = {}
    for entry in sorted(os.listdir(src)):
        path = os.path.join(src, entry)
        if entry in ("lib.rs", "main.rs", "bin"):
            continue
        if entry.endswith(".rs"):
            mods[entry[:-3]] = [path]
        elif os.path.isdir(path):
            files = []
            for dirpath, _, names in os.walk(path):
                files += [os.path.join(dirpath, n) for n in names if n.endswith(".rs")]
            mods[entry] = sorted(files)
    return mods


def source(f):
    text = open(f, encoding="utf-8").read()
    cut = re.search(r"#\[cfg\(test\)\]\s*mod tests", text)
    if cut:
        text = text[: cut.start()]
    return re.sub(r"//[^\n]*", "", text)


def imports(files, names, prefix="crate"):
    found = set()
    for f in files:
        text = source(f)
        for m in re.finditer(r"\b" + prefix + r"::(\w+)", text):
            found.add(m.group(1))
        # `use crate::{a, b::c}` groups.
        for m in re.finditer(r"\b" + prefix + r"::\{([^}]*)\}", text):
            for part in m.group(1).split(","):
                head = part.strip().split("::")[0].strip()
                if head:
                    found.add(head)
    return sorted(n for n in found if n in names)


def cycles(graph):
    # Tarjan's strongly connected components; any component of more than one module is a circle.
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def main():
    quiet = "--quiet" in sys.argv
    failed = False
    for crate in CRATES:
        src = os.path.join(ROOT, crate, "src")
        if not os.path.isdir(src):
            continue
        mods = modules(src)
        graph = {m: [d for d in imports(files, mods) if d != m] for m, files in mods.items()}
        name = "dyntable (root)" if crate == "." else crate
        if not quiet:
            print(f"## {name}")
            for m in sorted(graph):
                print(f"- {m}: {', '.join(graph[m]) or '(nothing)'}")
        for c in cycles(graph):
            failed = True
            print(f"import circle in {name}: {' <-> '.join(c)}", file=sys.stderr)
        # Inside a folder module: its files, importing each other by `super::x` or `crate::folder::x`.
        for folder, files in mods.items():
            if len(files) < 2:
                continue
            subs = {os.path.splitext(os.path.basename(f))[0]: [f] for f in files}
            subs.pop("mod", None)
            inner = {}
            for m, fs in subs.items():
                deps = set(imports(fs, subs, "super")) | set(imports(fs, subs, "crate::" + folder))
                inner[m] = sorted(d for d in deps if d != m)
            if not quiet:
                for m in sorted(inner):
                    print(f"  - {folder}/{m}: {', '.join(inner[m]) or '(nothing)'}")
            for c in cycles(inner):
                failed = True
                print(f"import circle in {name}/{folder}: {' <-> '.join(c)}", file=sys.stderr)
    if failed:
        sys.exit(1)
    if quiet:
        print("module graph: no import circle in any crate")


if __name__ == "__main__":
    main()
