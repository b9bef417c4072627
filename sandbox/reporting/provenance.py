"""Where a figure comes from: the scale ladder, the code version, and the guards on the committed figures/ folder.

The ladder, smallest first: smoke (seconds, the test suite), quick (minutes on 2 CPU cores), trained (the
smallest run that reaches the trained regime, sized to a stated CPU budget), paper (the paper's protocol, for a
GPU or a cluster). Studies written before the ladder call their committed scale "full": an alias of "paper",
on the command line and in old records.
"""

import json
import subprocess
from pathlib import Path
from typing import Optional

SCALES = ("smoke", "quick", "trained", "paper")
ALIASES = {"full": "paper"}
REPO = Path(__file__).resolve().parents[2]
FIGURES = REPO / "figures"
CODE_PATHS = ("sandbox", "studies", "benchmarks")  # what makes a figure; figures/, tests/ and docs do not


def canonical(scale: str) -> str:
    """The ladder's name of a scale ('full' -> 'paper'); an unknown name is a ValueError listing the valid ones."""
    scale = ALIASES.get(scale, scale)
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; valid names: {', '.join(SCALES)} (and 'full' for 'paper')")
    return scale


def study_scale(module, scale: str) -> Optional[str]:
    """The name the study's own SCALES dict gives a ladder scale ('full' in older studies), None if it has none."""
    own = getattr(module, "SCALES", None)
    if not isinstance(own, dict):
        return scale  # a study without a SCALES dict takes the ladder's names as they are
    for name in (scale, *[old for old, new in ALIASES.items() if new == scale]):
        if name in own:
            return name
    return None


def point_settings(module, own: str):
    """What a grid point's record holds as its scale's settings: the study's settings(own) where it defines one
    (a study whose points read something beyond its SCALES entry, e.g. a shared trajectory's spec), else the
    SCALES entry; a record at other settings is stale."""
    hook = getattr(module, "settings", None)
    return hook(own) if callable(hook) else getattr(module, "SCALES", {}).get(own)


def dirty_code(repo: Path = REPO) -> list:
    """Uncommitted changes (untracked files included) under the code paths, as `git status --porcelain` lines."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=normal", "--", *CODE_PATHS],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return [line for line in out.splitlines() if line.strip()]


def code_version(repo: Path = REPO) -> str:
    """The git commit of the code that made a figure, with '+dirty' for uncommitted changes to the code paths."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("+dirty" if dirty_code(repo) else "")


def committed(path) -> bool:
    """Whether path is the committed figures/ folder or inside it."""
    path, figures = Path(path).resolve(), Path(FIGURES).resolve()
    return path == figures or figures in path.parents


def scale_of(path: Path) -> Optional[str]:
    """The ladder scale of the record at path ('full' read as 'paper'); None if there is none."""
    try:
        old = json.loads(Path(path).read_text()).get("scale")
    except (OSError, ValueError, AttributeError):
        return None
    old = ALIASES.get(old, old)
    return old if old in SCALES else None


def guards(name: str, out: Path, records: Optional[Path], scale: str, force: bool) -> list:
    """Refuse (SystemExit) what would spoil a committed figure; returns what --force overrode, for the record."""
    forced = []
    target = Path(out) / f"{name}.json"
    old = scale_of(target)
    if old is not None and SCALES.index(old) > SCALES.index(scale):
        if not force:
            raise SystemExit(
                f"{target} holds a {old}-scale result; a {scale} run would overwrite it. "
                f"Write elsewhere with --out DIR, or pass --force."
            )
        forced.append(f"over a {old}-scale record")
    if any(committed(p) for p in (out, records) if p is not None):
        dirty = dirty_code()
        if dirty and not force:
            shown = "; ".join(line.strip() for line in dirty[:5]) + (" ..." if len(dirty) > 5 else "")
            raise SystemExit(
                f"refusing to write {name} into the committed figures/ folder: the code has uncommitted changes "
                f"({shown}). Commit first (the record names the commit), write elsewhere with --out DIR, "
                f"or pass --force (recorded in the JSON as forced, with the dirty code version)."
            )
        if dirty:
            forced.append("uncommitted code")
    return forced
