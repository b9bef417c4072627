"""Run folders: the folder you name is the folder written, one run per folder, nothing left half-written.

A run folder holds what one run wrote (`outputs`): checkpoint.pt, best.pt, metrics.jsonl, summary.json,
config.json, samples_STEP.png, eval_*.json, tensorboard/ and members/ (an ensemble's). The rules, enforced at
the start of every run:
- a new run into a folder that holds a run is refused (naming it, offering --resume or --overwrite); with
  --overwrite the old outputs are deleted first, so two runs' files never mix;
- `--resume DIR` writes DIR, wherever the run was made or moved: the `out` stored in a checkpoint is never
  used for writing. Resuming from any other file (best.pt, a copied .pt) branches into a new --out;
- temp files left by an interrupted atomic write (`.NAME.*.tmp`, e.g. kill -9 during a save) are deleted;
- one process at a time: an flock on DIR/.lock, which the OS releases when the process dies, even by kill -9.
"""

import contextlib
import fnmatch
import os
import shutil
import time
from pathlib import Path
from typing import Iterator, List, NamedTuple, Optional

from sandbox.trainer.checkpoint import FILENAME

try:
    import fcntl
except ImportError:  # not POSIX: no folder lock
    fcntl = None

BEST = "best.pt"
FILES = (FILENAME, BEST, "metrics.jsonl", "summary.json", "config.json")
PATTERNS = ("samples_*.png", "samples.png", "eval_*.json")
FOLDERS = ("tensorboard", "members")  # members/: an ensemble's per-seed weights
LOCK = ".lock"


class Target(NamedTuple):
    folder: Path  # where this run writes
    resume_in_place: bool  # continuing the run already in `folder` (else a new run, or a branch from a file)


def _is_output(name: str) -> bool:
    return name in FILES or any(fnmatch.fnmatch(name, p) for p in PATTERNS)


def outputs(folder) -> List[Path]:
    """The files (and tensorboard/ folder) a run wrote in `folder`, sorted; [] for a missing or foreign folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if (p.is_file() and _is_output(p.name)) or (p.is_dir() and p.name in FOLDERS)]
    return sorted(found)


def temp_files(folder) -> List[Path]:
    """Leftovers of interrupted atomic writes of run outputs: `.NAME.XXXXXXXX.tmp` (tempfile.mkstemp's names)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(".*.tmp") if _is_output(p.name[1:-4].rsplit(".", 1)[0]))


def new_name(data: str, root: Path = Path("runs")) -> Path:
    """runs/DATA-YYYYmmdd-HHMMSS, with -2, -3, ... added if that folder exists: a fresh folder for every run."""
    base = root / f"{data}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


def target(out: str, resume: str, data: str) -> Target:
    """The folder a run writes: `resume`'s folder when resuming a run folder (or its checkpoint.pt), else `out`.

    Resuming another file (best.pt, a copied checkpoint) starts a branch, which needs a new `out`. An `out` that
    names a different folder from the resumed one is a ValueError: --resume DIR continues in DIR.
    """
    if not resume:
        return Target(Path(out) if out else new_name(data), False)
    path = Path(resume)
    if path.is_dir() or path.name == FILENAME:
        folder = path if path.is_dir() else path.parent
        if out and Path(out).resolve() != folder.resolve():
            raise ValueError(
                f"--resume {resume} continues the run in {folder}, but --out names {out}: a resumed run writes "
                f"only its own folder. To continue a copy, copy the folder and resume the copy; to branch, "
                f"resume a file other than {FILENAME} (e.g. {folder / BEST}) with a new --out"
            )
        return Target(folder, True)
    if not out:
        raise ValueError(
            f"--resume {resume}: this file is not a run folder's {FILENAME}, so continuing from it starts a "
            f"branch; name its new folder with --out DIR (or resume the run folder itself)"
        )
    return Target(Path(out), False)


def refuse_if_taken(folder: Path, overwrite: bool) -> List[Path]:
    """The outputs of an earlier run in `folder` (to delete under overwrite); a ValueError if any and not overwrite."""
    found = outputs(folder)
    if found and not overwrite:
        names = ", ".join(p.name for p in found[:6]) + (", ..." if len(found) > 6 else "")
        how = (
            f"continue it with --resume {folder}, or "
            if (folder / FILENAME).is_file()
            else "it has no checkpoint to resume; "
        )
        raise ValueError(
            f"{folder} already holds a run ({names}): {how}start over with --overwrite (deletes those files "
            f"first), or choose another --out"
        )
    return found


def remove(paths: List[Path]) -> None:
    """Delete files and folders (tensorboard/)."""
    for p in paths:
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)


def sample_step(path: Path) -> Optional[int]:
    """STEP of samples_STEP.png or samples_ema_STEP.png, else None."""
    stem = path.stem.rsplit("_", 1)[-1]
    return int(stem) if path.name.startswith("samples_") and stem.isdigit() else None


def samples_after(folder: Path, step: int) -> List[Path]:
    """Sample plots of steps after `step`: written by a run that went on past its last checkpoint, then died."""
    return [p for p in Path(folder).glob("samples_*.png") if (sample_step(p) or 0) > step]


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """An exclusive flock on folder/.lock (holding our pid) inside the block; a ValueError if another run has it."""
    folder.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise ValueError(f"{folder} is in use by another run (process {pid}); wait for it or choose another --out")
        except OSError:  # a file system without flock (some network mounts): run unlocked
            pass
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock
