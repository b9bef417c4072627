"""Shared by the MNIST dynamics studies (wgan_family, r1_convergence, dynamics_at_scale): one trainer run with
FID (MNIST-classifier features) at a few G steps, the window-mean training losses between them, and optional
cheap probes of D every few steps. Not a study (the leading underscore keeps it out of `all_studies`).

Everything numeric is the library's: the run is `sandbox.trainer.loop.make_run` + `run_steps`, samples are
`sandbox.trainer.runlog.generate` (G in eval mode on one fixed z per run, so FID differences between steps are not
sampling noise in z), FID is `sandbox.evaluation.mnist.fid` against the MNIST test split's reference statistics, and
losses are the trainer's own meter (`sandbox.trainer.runlog.meter_read`).
"""

import math
import time
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from sandbox.data import data_root
from sandbox.evaluation import mnist as ev
from sandbox.penalties import grad_norm
from sandbox.reporting import study
from sandbox.reporting.figures import fid_axis  # noqa: F401 (moved to the kit; the studies import it here)
from sandbox.trainer import runlog as tl
from sandbox.trainer.config import Config, make_config
from sandbox.trainer.loop import Run, make_run, run_steps


def mnist_config(*layers: dict, device="cpu") -> Config:
    """make_config(data=mnist from data_root(), device, no progress bar) updated by the layers (later wins)."""
    base = dict(data="mnist", data_dir=str(data_root()), device=str(torch.device(device)), progress=False)
    return make_config(base, *layers)


def fid_now(run: Run, n: int, use_ema: bool = False) -> float:
    """FID (MNIST-classifier features) of n samples of G (or its EMA) on the run's fixed z, against the test split."""
    x = tl.generate(run, n, use_ema).clamp(-1.0, 1.0)  # tanh output: the clamp only removes float rounding
    if not bool(torch.isfinite(x).all()):
        return math.nan
    ref = ev.reference_stats("test", run.cfg.data_dir, run.device)
    return ev.fid(ref, ev.digit_features(x, run.device))


def real_probe(run: Run, n: int, generator: torch.Generator) -> dict:
    """On n fresh real images: mean ||grad_x D|| (per sample, penalties.grad_norm) and the mean real logit of D."""
    x = run.source.sample(n, generator)
    norms = grad_norm(run.D, x)
    with torch.no_grad():
        logits = run.D(x)
    return {"grad_norm_real": float(norms.detach().mean()), "real_logit": float(logits.mean())}


def train_curve(
    cfg: Config,
    eval_steps: Sequence[int],
    n_fid: int,
    ema: bool = False,
    probe: Optional[Callable[[Run], dict]] = None,
    probe_every: int = 0,
    at_start: Optional[Callable[[Run], dict]] = None,
):
    """Train cfg for max(eval_steps) G steps; FID (and EMA FID) at each eval step, probe(run) every probe_every.

    Returns (record, run). record: steps, fid, fid_ema (or None), d_loss/g_loss/d_grad_norm/g_grad_norm as
    means over the window since the previous eval step (nan at step 0), probe_steps and probe values, seconds
    (training and evaluation apart), stopped_at (the step a non-finite loss stopped the run, or None), and
    start = at_start(run) on the untrained run.
    """
    eval_steps = sorted(set(int(s) for s in eval_steps))
    probe_steps = list(range(0, eval_steps[-1] + 1, probe_every)) if probe and probe_every else []
    marks = sorted(set(eval_steps) | set(probe_steps))
    run = make_run(cfg)
    rec = {
        "steps": [],
        "fid": [],
        "fid_ema": [] if ema else None,
        "probe_steps": [],
        "probe": {},
        "stopped_at": None,
        "start": at_start(run) if at_start else None,
        **{k: [] for k in tl.KEYS},
    }
    t_train = t_eval = 0.0
    done = 0
    for mark in marks:
        t0 = time.perf_counter()
        if rec["stopped_at"] is None:
            run_steps(run, mark - done)
        done = mark
        bad = tl.first_nonfinite(run.meter) if rec["stopped_at"] is None else None
        if bad is not None:
            rec["stopped_at"] = int(bad[1])  # later marks record nan: the run is over
        t1 = time.perf_counter()
        t_train += t1 - t0
        alive = rec["stopped_at"] is None
        if mark in probe_steps:
            rec["probe_steps"].append(mark)
            values = probe(run) if alive else {}
            for k, v in values.items():
                rec["probe"].setdefault(k, []).append(v)
            for k in rec["probe"]:
                if k not in values:
                    rec["probe"][k].append(math.nan)
        if mark in eval_steps:
            rec["steps"].append(mark)
            rec["fid"].append(fid_now(run, n_fid) if alive else math.nan)
            if ema:
                rec["fid_ema"].append(fid_now(run, n_fid, use_ema=True) if alive else math.nan)
            window = tl.meter_read(run.meter)  # means since the previous eval step, then reset
            for k in tl.KEYS:
                rec[k].append(window[k] if alive else math.nan)
        t_eval += time.perf_counter() - t1
    rec["seconds"] = {"train": t_train, "eval": t_eval}
    return rec, run


def last_fraction(values: Sequence[float], fraction: float) -> np.ndarray:
    """The last `fraction` of a series (at least two values), as a float array."""
    a = np.asarray(values, dtype=np.float64)
    k = max(2, int(math.ceil(fraction * len(a))))
    return a[-k:]


def mean_std(values) -> tuple:
    """(mean, population std or None for a single value) of a list of numbers."""
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), (float(a.std()) if a.size > 1 else None)


def scale_note(scale: str, device) -> str:
    """The figure-title note on what was run: e.g. 'quick scale, cpu (1 threads): not the paper's full run'."""
    where = study.describe_device(torch.device(device))
    return f"{scale} scale, {where}" + ("" if scale == "full" else ": not the paper's full run")
