#!/usr/bin/env python3
"""The size rules of docs/ARCHITECTURE.md, checked in `make test` (ctest -R Layout):
no library source file over 800 lines; no function over 80 lines in the integer engine
(ssm_core/qengine.cpp, ssm_core/qsteps.hpp, quant/intops.*, quant/requantize.*, quant/arith.*).

Functions are found by braces: a line that opens a block at namespace level (depth 0 inside the
file's namespaces) starts a function body; its length runs to the matching close. Good enough for
this code's style (.clang-format); it counts lambdas inside a function as part of it."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
LAYERS = ["quant", "ssm_core", "workloads", "hw_models", "reports", "sim"]
ENGINE = ["ssm_core/qengine.cpp", "ssm_core/qsteps.hpp", "quant/intops.cpp", "quant/intops.hpp",
          "quant/requantize.cpp", "quant/requantize.hpp", "quant/arith.cpp", "quant/arith.hpp"]
MAX_FILE, MAX_FUNCTION = 800, 80


def strip(line):
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])*'", "''", line)
    return line.split("//")[0]


def functions(path):
    """(name line, first line, length) of every top-level block that is not a namespace, class,
    struct, enum or extern block."""
    depth, out, start, head = 0, [], None, ""
    scopes = []  # True where the open brace is a namespace-like scope (does not count as depth)
    for no, raw in enumerate(path.read_text().splitlines(), 1):
        line = strip(raw)
        for ch in line:
            if ch == "{":
                is_scope = depth == 0 and re.search(r"\b(namespace|class|struct|enum|union|extern)\b[^;()]*$", head)
                scopes.append(bool(is_scope))
                if is_scope:
                    continue
                if depth == 0:
                    start = (no, head.strip()[-70:])
                depth += 1
            elif ch == "}":
                if scopes and scopes.pop():
                    continue
                depth -= 1
                if depth == 0 and start:
                    out.append((start[1], start[0], no - start[0] + 1))
                    start = None
            if ch in "{};":
                head = ""
            else:
                head += ch
        head += " "
    return out


def main():
    bad = []
    for layer in LAYERS:
        for f in sorted((ROOT / layer).glob("*.[ch]pp")):
            n = len(f.read_text().splitlines())
            if n > MAX_FILE:
                bad.append(f"{f.relative_to(ROOT)}: {n} lines (at most {MAX_FILE}); split it by job")
    for rel in ENGINE:
        f = ROOT / rel
        if not f.exists():
            continue
        for name, line, length in functions(f):
            if length > MAX_FUNCTION:
                bad.append(f"{rel}:{line}: a function of {length} lines (at most {MAX_FUNCTION}): {name}")
    for b in bad:
        print(b)
    print(f"{0 if bad else 1} passed, {1 if bad else 0} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
