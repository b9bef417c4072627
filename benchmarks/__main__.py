"""Run every benchmark in turn: python3 -m benchmarks (each is also runnable as python3 -m benchmarks.NAME)."""

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    """Import and run each benchmarks.NAME.main() with its default arguments."""
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_"))
    for name in names:
        print(f"== benchmarks.{name}", flush=True)
        importlib.import_module(f"benchmarks.{name}").main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
