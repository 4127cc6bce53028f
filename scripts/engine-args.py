#!/usr/bin/env python3
"""List the command-line option strings an engine release defines, read
statically (no import) from its Python sources: every string literal that
starts with "-" passed to an `add_argument(...)` call, plus the flags that
vLLM generates from dataclass fields (`f"--{key.replace('_', '-')}"` over a
dataclass, e.g. FrontendArgs).

Usage: engine-args.py ROOT FILE[:DATACLASS] ...
ROOT is an unpacked wheel/sdist; each FILE is relative to it. A
`FILE:Class` entry also adds `--field-name` for every annotated field of
dataclass `Class` in FILE. Prints one flag per line, sorted, deduplicated.
Used to write tests/fixtures/engine-args/*.txt (see their headers).
"""
import ast
import sys


def flags_of(tree):
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name == "add_argument":
                for a in node.args:
                    if isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value.startswith("-"):
                        out.add(a.value)
    return out


def dataclass_fields(tree, cls):
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for st in node.body:
                if isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name):
                    n = st.target.id
                    if not n.startswith("_"):
                        out.add("--" + n.replace("_", "-"))
    return out


def main():
    root = sys.argv[1]
    flags = set()
    for spec in sys.argv[2:]:
        path, _, cls = spec.partition(":")
        tree = ast.parse(open(f"{root}/{path}", encoding="utf-8").read())
        flags |= dataclass_fields(tree, cls) if cls else flags_of(tree)
    for f in sorted(flags):
        print(f)


if __name__ == "__main__":
    main()
