"""The trainer's records: on-device loss meters, metrics.jsonl, sample plots, summary.json.

Losses and gradient norms are summed on the training device, so a step never waits for the GPU; the meter
also keeps, per quantity, the first step at which it was non-finite. Reading the meter is the one host sync,
done every `log_every` (metrics) or `nan_check_every` (the NaN stop) steps.
"""

import copy
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Dict, Optional, Tuple

os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402
from torch import Tensor, nn  # noqa: E402
from torch.optim.swa_utils import update_bn  # noqa: E402

from sandbox.records import append_jsonl, read_json, read_jsonl, rewrite_jsonl, write_json  # noqa: E402,F401
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
    """Keep only the rows with row['step'] <= step (all of them go for step 0), rewriting the file atomically.

    A torn last line (a crash mid-write) is dropped with a warning on stderr that names the file.
    """
    path = Path(path)
    if path.exists():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rows = read_jsonl(path)
        for w in caught:
            print(f"warning: {w.message}", file=sys.stderr, flush=True)
        rewrite_jsonl(path, [row for row in rows if row["step"] <= step])


# ---------------------------------------------------------------------------------------------- 2-D samples
HQ_STD, MODE_SHARE = 3.0, 0.25  # mode_stats' thresholds, recorded beside every result


def mode_stats(samples: Tensor, centres: Tensor, std: float) -> dict:
    """High-quality fraction (within 3 std of the nearest centre) and modes covered (Srivastava et al. 2017, VEEGAN).

    A mode counts as covered when it holds at least a quarter of its uniform share of the high-quality
    samples, n_hq / (4 K): our threshold, stricter than VEEGAN's, so that a few stray points do not count.
    Both numbers are reported together, with the thresholds: 8/8 modes covered by 2% high-quality samples
    is a blurred ring, not a learned one.
    """
    x, c = samples.detach().double().cpu(), centres.double().cpu()
    dist = torch.cdist(x, c)  # (n, K)
    nearest, k = dist.min(dim=1)
    hq = nearest <= HQ_STD * std
    counts = torch.bincount(k[hq], minlength=c.shape[0])
    share = hq.sum().item() * MODE_SHARE / c.shape[0]
    return {
        "high_quality": hq.double().mean().item(),
        "modes": int((counts >= max(share, 1.0)).sum()),
        "of_modes": int(c.shape[0]),
        "hq_radius": HQ_STD * std,  # a sample is high-quality within this distance of its nearest centre
        "mode_min_share": MODE_SHARE,  # a mode is covered by this fraction of its uniform share of hq samples
    }


def modes_text(m: dict) -> str:
    """'7/8 modes, 63.5% high-quality (within 0.06 of a centre)': both numbers and the threshold."""
    return (
        f"{m['modes']}/{m['of_modes']} modes, {m['high_quality']:.1%} high-quality "
        f"(within {m.get('hq_radius', float('nan')):.3g} of a centre)"
    )


def save_samples(path: Path, kind: str, samples: Tensor, centres: Optional[Tensor] = None, title: str = "") -> None:
    """A PNG of generated samples: a scatter with the mode centres for 2-D data, an image grid for images."""
    import matplotlib.pyplot as plt

    fig = samples_figure(kind, samples, centres, title)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)


def samples_figure(kind: str, samples: Tensor, centres: Optional[Tensor] = None, title: str = ""):
    """The matplotlib figure of save_samples."""
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
    return fig


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
        lines.append(f"last sample plot: {modes_text(s['modes'])}")
    if s.get("best"):
        lines.append(f"best evaluation: step {s['best']['step']}, {eval_text(s['best']['eval'])} ({s['out']}/best.pt)")
    if s.get("stopped_by"):
        lines.append(f"stopped by {s['stopped_by']}: checkpoint saved, resume with --resume {s['out']}")
    return "\n".join(lines)


def eval_text(e: dict) -> str:
    """An evaluation row in words: FID (and Stacked MNIST modes), or 2-D modes and high-quality share."""
    if "fid" in e:
        modes = f", {e['stacked_modes']}/1000 modes, reverse KL {e['reverse_kl']:.3g}" if "stacked_modes" in e else ""
        return f"FID {e['fid']:.4g} (MNIST-classifier features, n {e['n']}, {e['generator']}){modes}"
    return f"{modes_text(e)} (n {e['n']}, {e['generator']})"


# ------------------------------------------------------------------------------------------------- samples
BN_BATCHES = 16  # batches of cfg.batch latents that recompute an EMA generator's BatchNorm statistics


@torch.no_grad()
def recompute_bn_(G: nn.Module, z_dim: int, batch: int, batches: int = BN_BATCHES, seed: int = 0) -> nn.Module:
    """G's BatchNorm running statistics recomputed in train mode from `batches` batches of N(0, I) latents drawn
    on the CPU from seed: the equal-weight mean of the batch statistics (momentum None), as for SWA
    (Izmailov et al. 2018, Sec. 3.2; torch.optim.swa_utils.update_bn). No-op without BatchNorm."""
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in G.modules()):
        return G
    p = next(G.parameters())
    g = torch.Generator().manual_seed(seed)
    latents = [torch.randn((batch, z_dim), generator=g).to(p.device, p.dtype) for _ in range(batches)]
    update_bn(latents, G)
    return G


def ema_copy(G: nn.Module, values, z_dim: int, batch: int, bn_batches: int = BN_BATCHES, seed: int = 0) -> nn.Module:
    """A copy of G holding the EMA weights `values`, its BatchNorm statistics recomputed for those weights.

    G's own running statistics belong to G's weights, not to their average; an EMA generator that reuses
    them normalises with the wrong moments (measurably worse FID), so they are recomputed (recompute_bn_).
    """
    E = copy.deepcopy(G)
    with torch.no_grad():
        for p, a in zip(E.parameters(), values):
            p.copy_(a)
    return recompute_bn_(E, z_dim, batch, bn_batches, seed)


def ema_generator(run, bn_batches: int = BN_BATCHES) -> nn.Module:
    """ema_copy of the run's G with its EMA weights; BN statistics from bn_batches batches at CPU seed cfg.seed + 4."""
    cfg = run.cfg
    return ema_copy(run.G, run.state["ema"].value, z_size(cfg), cfg.batch, bn_batches, cfg.seed + 4)


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


def plot_samples(run, out: Path, writer=None) -> Optional[dict]:
    """samples_STEP.png (and samples_ema_STEP.png); for 2-D data returns the mode statistics of G (or its EMA).

    With a TensorBoard `writer`, the same samples also go there (an image grid, or the 2-D scatter figure).
    """
    if run.source.kind == "dirac":
        return None
    t, stats = run.state["step"], None
    for use_ema in [False, True] if run.state["ema"] is not None else [False]:
        x = generate(run, 2000 if run.source.kind == "points" else 64, use_ema)
        tag = "ema_" if use_ema else ""
        if run.source.kind == "points":
            stats = mode_stats(x, run.source.centres, run.source.std)
            title = f"step {t}{' EMA' if use_ema else ''}: {stats['modes']}/{stats['of_modes']} modes, "
            title += f"{stats['high_quality']:.0%} high-quality"
        else:
            title = f"step {t}{' EMA' if use_ema else ''}"
        save_samples(out / f"samples_{tag}{t:06d}.png", run.source.kind, x, run.source.centres, title)
        if writer is not None:
            tb_samples(writer, f"samples{'_ema' if use_ema else ''}", x, run.source, t)
    return stats


# ---------------------------------------------------------------------------------------------- TensorBoard
def tb_writer_class():
    """torch's TensorBoard SummaryWriter; the tensorboard package is an optional extra, and without it an
    ImportError says how to install it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ImportError(
            "--tensorboard needs the tensorboard package: pip install -e '.[tb]' (or pip install tensorboard)"
        ) from None
    return SummaryWriter


def tb_writer(out: Path, purge_step: Optional[int] = None):
    """A TensorBoard SummaryWriter on out/tensorboard (events from purge_step on dropped, for a resumed run)."""
    return tb_writer_class()(str(Path(out) / "tensorboard"), purge_step=purge_step)


def tb_scalars(writer, row: dict) -> None:
    """Every number of a metrics row as a scalar at row['step'] (nested dicts as 'eval/fid')."""

    def flat(d: dict, prefix: str = ""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from flat(v, f"{prefix}{k}/")
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and k != "step":
                yield f"{prefix}{k}", v

    for key, value in flat(row):
        writer.add_scalar(key, value, row["step"])
    writer.flush()


def tb_samples(writer, tag: str, x: Tensor, source, step: int, nrow: int = 8) -> None:
    """Images as one nrow x nrow grid in [0, 1] (Stacked MNIST as RGB); 2-D points as the scatter figure."""
    if source.kind == "images":
        x = (x[: nrow * nrow].detach().float().cpu().clamp(-1, 1) + 1) / 2  # (n, C, 28, 28)
        n, c, h, w = x.shape
        rows = -(-n // nrow)
        x = torch.cat([x, x.new_zeros(rows * nrow - n, c, h, w)])
        grid = x.reshape(rows, nrow, c, h, w).permute(2, 0, 3, 1, 4).reshape(c, rows * h, nrow * w)
        writer.add_image(tag, grid, step, dataformats="CHW")
    else:
        writer.add_figure(tag, samples_figure(source.kind, x, source.centres, f"step {step}"), step)
    writer.flush()
