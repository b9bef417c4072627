"""Checkpoints: atomic writes, weights-only loads, RNG states, and the resume config check.

A checkpoint is a dict of tensors and plain Python values (the config as a dict, RNG states as uint8
tensors), so `torch.load(weights_only=True)` reads it; nothing here ever falls back to unsafe unpickling, so
a file whose unpickling would run code is rejected before it can. Writes go to a temp file in the same
folder, are flushed and fsynced, then `os.replace`d over the old file: a crash mid-write leaves the previous
checkpoint intact. Which keys a checkpoint holds is the trainer's business (`sandbox.trainer.loop`); this module
only requires `REQUIRED`.
"""

import os
import pickle
import random
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from sandbox.trainer.config import RESUME_EXEMPT, Config, config_dict

FORMAT = 1
REQUIRED = ("format", "step", "config")
FILENAME = "checkpoint.pt"


def checkpoint_path(path) -> Path:
    """`path` itself if it names a file, else path/checkpoint.pt (an output folder)."""
    path = Path(path)
    return path / FILENAME if path.is_dir() else path


def save_checkpoint(state: dict, path) -> Path:
    """Write `state` to path atomically: temp file in the same folder, flush + fsync, os.replace, fsync the folder."""
    path = Path(path)
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise ValueError(f"checkpoint state lacks {', '.join(missing)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    try:  # make the rename itself durable; not every file system lets a folder be opened
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def load_checkpoint(path) -> dict:
    """torch.load(path, weights_only=True) on CPU; a damaged or unsafe file raises a ValueError naming it."""
    path = checkpoint_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        # torch warns about odd bytes (a pickle protocol it did not write) before it fails on them: a refused file
        # gets the one error below, not a warning that reads as if loading went on; a loaded file keeps its warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            state = torch.load(path, map_location="cpu", weights_only=True)
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    except pickle.UnpicklingError as err:
        # The weights-only unpickler stops at the first opcode or global it does not allow; garbage bytes, a
        # plain pickle and a malicious one can all end here, and none of their code has run.
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        detail = next((line for line in lines if "GLOBAL" in line or "Unsupported" in line), lines[0] if lines else "")
        if "GLOBAL" in detail or "global" in detail.split(" was ")[0]:
            raise ValueError(
                f"{path}: refusing to load: it holds objects that only unsafe unpickling could build; "
                f"nothing in it was run ({detail})"
            ) from None
        raise ValueError(
            f"{path}: corrupted or truncated checkpoint, or one that needs unsafe unpickling; refused, "
            f"nothing in it was run ({detail})"
        ) from None
    except (
        RuntimeError,
        EOFError,
        OSError,
        ValueError,
        zipfile.BadZipFile,
        KeyError,
        AttributeError,
        IndexError,
        TypeError,
        UnicodeDecodeError,
    ) as err:
        raise ValueError(
            f"{path}: corrupted or truncated checkpoint ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''})"
        ) from None
    if not isinstance(state, dict) or any(k not in state for k in REQUIRED):
        raise ValueError(
            f"{path}: corrupted or truncated checkpoint (not a sandbox checkpoint: needs keys {', '.join(REQUIRED)})"
        )
    if state["format"] != FORMAT:
        raise ValueError(f"{path}: checkpoint format {state['format']!r}, this code reads format {FORMAT}")
    return state


# ------------------------------------------------------------------------------------------------- RNG states
def rng_state(generators: Dict[str, torch.Generator]) -> dict:
    """Every RNG the trainer may touch, as tensors: torch CPU and CUDA, the named generators, numpy, random."""
    np_state = np.random.get_state()
    return {
        "torch_cpu": torch.get_rng_state(),
        "torch_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generators": {name: g.get_state() for name, g in generators.items()},
        # Nothing in the loop draws from numpy or `random`; they are saved so a hook that does stays exact.
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {
            "version": random.getstate()[0],
            "internal": torch.tensor(random.getstate()[1], dtype=torch.int64),
            "gauss_next": random.getstate()[2],
        },
    }


def set_rng_state(state: dict, generators: Dict[str, torch.Generator]) -> None:
    """Restore what rng_state saved; the named generators must be the same ones, on any device."""
    torch.set_rng_state(state["torch_cpu"])
    if state["torch_cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["torch_cuda"])
    if sorted(state["generators"]) != sorted(generators):
        raise ValueError(f"checkpoint holds generators {sorted(state['generators'])}, the run has {sorted(generators)}")
    for name, g in generators.items():
        g.set_state(state["generators"][name])
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["internal"].tolist()), p["gauss_next"]))


# ----------------------------------------------------------------------------------------- a run's state
def checkpoint_state(run) -> dict:
    """What a resumed run needs to continue bit for bit: step, config, G, D, both optimisers, EMA, the rule's
    state (optimistic's previous steps), the game clock (lazy penalty), every RNG state, config changes."""
    s = run.state
    return {
        "format": FORMAT,
        "step": s["step"],
        "config": config_dict(run.cfg),
        "G": run.G.state_dict(),
        "D": run.D.state_dict(),
        "opt_g": run.opt_g.state_dict(),
        "opt_d": run.opt_d.state_dict(),
        "ema": None if s["ema"] is None else {"value": list(s["ema"].value), "count": s["ema"].count},
        "rule_state": s["rule_state"],
        "clock": dict(s["clock"]),
        "rng": rng_state(run.gens),
        "config_changes": list(s["config_changes"]),
        "elapsed_s": float(s["elapsed_s"]),
        "best": s.get("best"),  # {"step", "eval"} of the best evaluation so far (best.pt), or None
        "amp": s["amp"],  # the precision amp resolved to: 'auto' differs between machines (check_resume_config)
    }


def _to(x, device):
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, (list, tuple)):
        return type(x)(_to(v, device) for v in x)
    if isinstance(x, dict):
        return {k: _to(v, device) for k, v in x.items()}
    return x


def _load_optimiser(opt, saved: dict) -> None:
    """opt.load_state_dict(saved), keeping the hyperparameters opt was built with (a changed lr takes effect)."""
    current = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    opt.load_state_dict(saved)
    for group, hyper in zip(opt.param_groups, current):
        group.update(hyper)


def restore(run, state: dict) -> None:
    """Load a checkpoint_state into a freshly built run (same nets, same generators) in place."""
    s, device = run.state, run.device
    try:
        run.G.load_state_dict(state["G"])
        run.D.load_state_dict(state["D"])
    except (RuntimeError, KeyError) as err:
        raise ValueError(f"the checkpoint's networks do not fit this config's: {str(err).splitlines()[0]}") from None
    if state["config"].get("optimiser") == run.cfg.optimiser:  # else a changed optimiser starts fresh
        _load_optimiser(run.opt_g, state["opt_g"])
        _load_optimiser(run.opt_d, state["opt_d"])
    if state["ema"] is not None and s["ema"] is not None:
        with torch.no_grad():
            for a, v in zip(s["ema"].value, state["ema"]["value"]):
                a.copy_(v)
        s["ema"] = s["ema"]._replace(count=state["ema"]["count"])
    s["rule_state"].clear()
    s["rule_state"].update(_to(state["rule_state"], device))
    s["clock"].clear()
    s["clock"].update(state["clock"])  # the same dict object the game reads: the lazy penalty stays in phase
    set_rng_state(state["rng"], run.gens)
    s["step"], s["elapsed_s"] = state["step"], state["elapsed_s"]
    s["config_changes"] = list(state["config_changes"])
    s["best"] = state.get("best")  # absent from checkpoints written before --eval-every existed


# ------------------------------------------------------------------------------------------- config on resume
def config_diff(old: dict, new: dict, exempt: Sequence[str] = RESUME_EXEMPT) -> List[Tuple[str, object, object]]:
    """(key, old, new) for every non-exempt key whose value differs. A key missing from the old config reads as
    the field's default (a field added after that checkpoint was written; new fields default to the old
    behaviour), any other missing key as '<absent>'."""
    absent = "<absent>"
    defaults = config_dict(Config())
    keys = sorted((set(old) | set(new)) - set(exempt))
    was = {k: old.get(k, defaults.get(k, absent)) for k in keys}
    return [(k, was[k], new.get(k, absent)) for k in keys if was[k] != new.get(k, absent)]


PRECISION = {True: "bf16 autocast", False: "fp32"}


def check_resume_config(old: dict, new: dict, path, allow: bool = False, amp: Optional[tuple] = None) -> list:
    """The differing keys (see config_diff); a ValueError listing them as `key: old -> new` unless `allow`.

    Exempt keys (sandbox.trainer.config.RESUME_EXEMPT) cannot change the numbers: data_dir, out, log_every,
    sample_every, ckpt_every, nan_check_every, progress, steps (a run may be extended), resume,
    allow_config_change, overwrite, eval_every, eval_n, tensorboard and the debug_nan_at_step test aid.
    `amp`: (the checkpoint's resolved bf16 autocast or None, this run's). Where the checkpoint recorded it, the
    precisions are compared instead of the amp words: 'auto' resolves per machine (bf16 on a CPU with native bf16,
    fp32 on an AVX2 one), so the same word can change the numbers and 'auto' -> 'on' need not.
    """
    diff = config_diff(old, new)
    if amp is not None and amp[0] is not None:
        diff = [d for d in diff if d[0] != "amp"]
        if amp[0] != amp[1]:
            diff = sorted(diff + [("amp (resolved)", PRECISION[amp[0]], PRECISION[amp[1]])])
    if diff and not allow:
        lines = "\n  ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in diff)
        hint = (
            f"the checkpoint was trained in {PRECISION[amp[0]]}: pass --amp "
            f"{'on' if amp[0] else 'off'} to continue it exactly, or "
            if any(k == "amp (resolved)" for k, _, _ in diff)
            else ""
        )
        raise ValueError(
            f"resuming {path} with a changed config:\n  {lines}\n"
            f"{hint}pass --allow-config-change to accept (the change is recorded in the checkpoint)"
        )
    return diff


def all_finite(tensors) -> Optional[int]:
    """None if every tensor is finite, else the index of the first that is not (one host sync)."""
    tensors = [t for t in tensors if t.is_floating_point()]
    if not tensors:
        return None
    flags = torch.stack([torch.isfinite(t).all() for t in tensors]).cpu()
    bad = (~flags).nonzero()
    return int(bad[0]) if len(bad) else None
