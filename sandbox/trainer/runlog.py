"""The trainer's records: on-device loss meters, metrics.jsonl, sample plots, summary.json.

Losses and gradient norms are summed on the training device, so a step never waits for the GPU; the meter
also keeps, per quantity, the first step at which it was non-finite. Reading the meter is the one host sync,
done every `log_every` (metrics) or `nan_check_every` (the NaN stop) steps.
"""

import copy
import math
import os
from pathlib import Path
from typing import Dict, Optional, Tuple

os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from sandbox.records import append_jsonl, read_jsonl, rewrite_jsonl, write_json  # noqa: E402,F401
from sandbox.trainer.config import z_size  # noqa: E402

KEYS = ("d_loss", "g_loss", "d_grad_norm", "g_grad_norm")


def meter(device, keys=KEYS) -> dict:
    """Running sums (fp32, on device), Python counts, and first non-finite step (-1 = none) per key."""
    return {
        "sum": {k: torch.zeros((), device=device) for k in keys},
        "count": {k: 0 for k in keys},
        "first_bad": {k: torch.full((), -1, dtype=torch.int64, device=device) for k in keys},
        "step": torch.zeros((), dtype=torch.int64, device=device),
    }


def meter_add(m: dict, key: str, value: Tensor) -> None:
    """sum[key] += value, and remember the current step if value is the first non-finite one; no host sync."""
    value = value.detach().float()
    m["sum"][key] += value
    m["count"][key] += 1
    bad = m["first_bad"][key]
    bad.copy_(torch.where((bad < 0) & ~torch.isfinite(value), m["step"], bad))


def meter_set_step(m: dict, step: int) -> None:
    """The step that meter_add attributes values to (a device fill, no sync)."""
    m["step"].fill_(step)


def meter_read(m: dict, reset: bool = True) -> Dict[str, float]:
    """The mean of each key since the last reset (nan if nothing was added); one host sync."""
    keys = list(m["sum"])
    sums = torch.stack([m["sum"][k] for k in keys]).tolist()
    out = {k: (s / m["count"][k] if m["count"][k] else math.nan) for k, s in zip(keys, sums)}
    if reset:
        for k in keys:
            m["sum"][k].zero_()
            m["count"][k] = 0
    return out


def first_nonfinite(m: dict) -> Optional[Tuple[str, int]]:
    """(keys, step): the earliest step with a non-finite value and every key non-finite at it, or None; one sync."""
    keys = list(m["first_bad"])
    steps = dict(zip(keys, torch.stack([m["first_bad"][k] for k in keys]).tolist()))
    bad = [s for s in steps.values() if s >= 0]
    if not bad:
        return None
    return ", ".join(k for k in keys if steps[k] == min(bad)), min(bad)


def truncate_jsonl(path: Path, step: int) -> None:
    """Keep only the rows with row['step'] <= step (all of them go for step 0), rewriting the file atomically."""
    path = Path(path)
    if path.exists():
        rewrite_jsonl(path, [row for row in read_jsonl(path) if row["step"] <= step])


# ---------------------------------------------------------------------------------------------- 2-D samples
def mode_stats(samples: Tensor, centres: Tensor, std: float) -> dict:
    """High-quality fraction (within 3 std of the nearest centre) and modes covered (Srivastava et al. 2017, VEEGAN).

    A mode counts as covered when it holds at least a quarter of its uniform share of the high-quality
    samples, n_hq / (4 K): our threshold, stricter than VEEGAN's, so that a few stray points do not count.
    """
    x, c = samples.detach().double().cpu(), centres.double().cpu()
    dist = torch.cdist(x, c)  # (n, K)
    nearest, k = dist.min(dim=1)
    hq = nearest <= 3.0 * std
    counts = torch.bincount(k[hq], minlength=c.shape[0])
    share = hq.sum().item() / (4.0 * c.shape[0])
    return {
        "high_quality": hq.double().mean().item(),
        "modes": int((counts >= max(share, 1.0)).sum()),
        "of_modes": int(c.shape[0]),
    }


def save_samples(path: Path, kind: str, samples: Tensor, centres: Optional[Tensor] = None, title: str = "") -> None:
    """A PNG of generated samples: a scatter with the mode centres for 2-D data, an image grid for images."""
    import matplotlib.pyplot as plt

    from sandbox import plots

    if kind == "points":
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        plots.scatter_2d(ax, samples, centres, title=title)
        lim = 1.25 * float(centres.abs().max()) if centres is not None else None
        if lim:
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
    else:
        fig, ax = plt.subplots(figsize=(6, 6))
        plots.sample_grid(ax, samples, nrow=8, title=title)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)


def summary_line(s: dict) -> str:
    """The summary as a few console lines."""
    final = ", ".join(f"{k} {v:.4g}" for k, v in sorted(s["final"].items()) if isinstance(v, float))
    lines = [
        f"G {s['params_G']:,} params, D {s['params_D']:,} params on {s['device']} ({s['dtype']})",
        f"{s['steps_this_run']} G steps in {s['wall_s']:.1f} s, {s['plots_ckpt_s']:.1f} s of it plots and "
        f"checkpoints ({s['g_steps_per_s']:.1f} G steps/s, {s['images_per_s']:.0f} real images/s without them); "
        f"step {s['step']}/{s['steps']}",
        f"final: {final}",
    ]
    if s.get("modes"):
        m = s["modes"]
        lines.append(f"modes covered {m['modes']}/{m['of_modes']}, high-quality samples {m['high_quality']:.1%}")
    if s.get("stopped_by"):
        lines.append(f"stopped by {s['stopped_by']}: checkpoint saved, resume with --resume {s['out']}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------- samples
def ema_generator(run) -> nn.Module:
    """A copy of G holding the EMA weights (buffers such as BatchNorm statistics copied from G)."""
    G = copy.deepcopy(run.G)
    with torch.no_grad():
        for p, a in zip(G.parameters(), run.state["ema"].value):
            p.copy_(a)
    return G


@torch.no_grad()
def generate(run, n: int, use_ema: bool = False) -> Tensor:
    """n samples from G (or its EMA) in eval mode on a fixed z (CPU seed cfg.seed + 3): the same z every plot."""
    G = ema_generator(run) if use_ema else run.G
    z = torch.randn((n, z_size(run.cfg)), generator=torch.Generator().manual_seed(run.cfg.seed + 3))
    was_training = G.training
    G.eval()
    try:
        return G(z.to(run.device, getattr(torch, run.cfg.dtype))).float()
    finally:
        G.train(was_training)


def plot_samples(run, out: Path) -> Optional[dict]:
    """samples_STEP.png (and samples_ema_STEP.png); for 2-D data returns the mode statistics of G (or its EMA)."""
    if run.source.kind == "dirac":
        return None
    t, stats = run.state["step"], None
    for use_ema in [False, True] if run.state["ema"] is not None else [False]:
        x = generate(run, 2000 if run.source.kind == "points" else 64, use_ema)
        tag = "ema_" if use_ema else ""
        if run.source.kind == "points":
            stats = mode_stats(x, run.source.centres, run.source.std)
            title = f"step {t}{' EMA' if use_ema else ''}: {stats['modes']}/{stats['of_modes']} modes"
        else:
            title = f"step {t}{' EMA' if use_ema else ''}"
        save_samples(out / f"samples_{tag}{t:06d}.png", run.source.kind, x, run.source.centres, title)
    return stats
