"""The README's public-API table, made from the one-line docstrings.

    python3 -m sandbox.reporting.apidoc [--check README.md | --write README.md]


Each public function's docstring starts with its formula and ends its first line with the source in
parentheses; the table splits the two. `--check` exits non-zero when the README's table is out of date.
"""

import argparse
import importlib
import inspect
import re
import sys
from pathlib import Path

# The modules whose functions make up the theory API, in reading order (the trainer's API is its --help).
MODULES = [
    "objectives",
    "fdivs",
    "penalties",
    "dynamics",
    "games",
    "theory.divergences",
    "theory.symbolic",
    "theory.symbolic_games",
    "theory.gaussian1d",
    "evaluation.metrics",
    "evaluation.support",
    "evaluation.twosample",
]
BEGIN, END = "<!-- api-table:begin -->", "<!-- api-table:end -->"


def split_source(line: str):
    """'formula (Source 2018, eq. 3).' -> ('formula', 'Source 2018, eq. 3'); no trailing parenthesis -> (line, '')."""
    line = line.strip().rstrip(".")
    m = re.search(r"\(([^()]*(?:\([^()]*\)[^()]*)*)\)$", line)
    if m and re.search(r"\d{4}|lecture|Alg|Table|et al", m.group(1)):
        return line[: m.start()].rstrip(" ;,"), m.group(1)
    return line, ""


def rows():
    """(module, function, formula, source) for every public function defined in the listed modules."""
    out = []
    for name in MODULES:
        try:
            module = importlib.import_module(f"sandbox.{name}")
        except ImportError:
            continue
        for fname, fn in inspect.getmembers(module, inspect.isfunction):
            if fname.startswith("_") or fn.__module__ != module.__name__:
                continue
            first = (inspect.getdoc(fn) or "").splitlines()[0] if inspect.getdoc(fn) else ""
            formula, source = split_source(first)
            out.append((name, fname, formula, source))
    return out


def table() -> str:
    """The markdown table between the README's api-table markers."""
    lines = ["| module | function | formula / what it does | source |", "|---|---|---|---|"]
    for module, fname, formula, source in rows():
        cell = formula.replace("|", "\\|")
        lines.append(f"| `sandbox.{module}` | `{fname}` | {cell} | {source.replace('|', chr(92) + '|') or '-'} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Print the table, write it into a README (--write) or check the README's copy (--check)."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--check", type=Path, help="compare with the table in this README; exit 1 if it differs")
    p.add_argument("--write", type=Path, help="replace the table in this README")
    args = p.parse_args(argv)
    new = f"{BEGIN}\n{table()}\n{END}"
    for path in filter(None, [args.check, args.write]):
        text = path.read_text()
        if BEGIN not in text or END not in text:
            print(f"{path} has no {BEGIN} ... {END} markers", file=sys.stderr)
            return 1
        old = text[text.index(BEGIN) : text.index(END) + len(END)]
        if args.write:
            path.write_text(text.replace(old, new))
        elif old != new:
            print(
                f"{path}: the public-API table is out of date; run python3 -m sandbox.reporting.apidoc --write {path}"
            )
            return 1
    if not (args.check or args.write):
        print(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
