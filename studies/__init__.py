"""One script per figure. `python3 -m studies.NAME --scale smoke|quick|trained|paper` writes figures/NAME.{png,json}.

`python3 -m studies` runs every study at its default scale (the CPU figures), `python3 -m studies --scale trained
--list` prints the plan; see studies/__main__.py and sandbox.reporting.study for the runner's flags.
"""

import importlib
import pkgutil
from pathlib import Path


def all_studies() -> list:
    """The names of every study module in this package, sorted."""
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def load(name: str):
    """Import studies.NAME."""
    return importlib.import_module(f"studies.{name}")
