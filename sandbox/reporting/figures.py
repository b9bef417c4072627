"""Plot helpers the studies share: seeds as error bars with their dots, step and FID axes, one legend for twin
axes, and the published value drawn beside ours. Each takes a matplotlib Axes and draws on it (Agg only: the
studies write files and never open windows).
"""

import os
from typing import Optional, Sequence

import numpy as np

from sandbox.reporting.kit import mean_std

os.environ.setdefault("MPLBACKEND", "Agg")


def seed_errorbars(
    ax,
    x: Sequence[float],
    seeds: Sequence[Sequence[float]],
    *,
    label: Optional[str] = None,
    color: Optional[str] = None,
    scale: float = 1.0,
    fmt: str = "o-",
    dots: bool = True,
):
    """Mean +- population std over seeds at each x (kit.mean_std), every seed a faint dot; returns the errorbar."""
    if len(x) != len(seeds):
        raise ValueError(f"seed_errorbars: {len(x)} x positions but {len(seeds)} lists of seed values")
    stats = [mean_std(np.asarray(v, dtype=np.float64) * scale) for v in seeds]
    bars = ax.errorbar(
        x,
        [m for m, _ in stats],
        yerr=[s or 0.0 for _, s in stats],  # one seed: no bar, the dot is the value
        fmt=fmt,
        color=color,
        capsize=4,
        label=label,
    )
    color = bars.lines[0].get_color()  # the cycle's next colour when none was given: the dots match the bar
    if dots:
        for xi, v in zip(x, seeds):
            v = np.asarray(v, dtype=np.float64) * scale
            ax.plot(np.full(v.shape, xi), v, ".", color=color, alpha=0.35, ms=5, zorder=bars.lines[0].zorder - 0.1)
    return bars


def fid_axis(ax, label: str = "FID") -> None:
    """A log-scale FID axis with plain tick numbers (no 1.03 x 10^3 labels on a narrow range)."""
    from matplotlib import ticker

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_ylabel(label)


def steps_axis(ax, label: str = "generator steps", log: bool = False) -> None:
    """An x axis of training steps: integer ticks written 500, 2k, 10k (log-scaled when the steps span decades)."""
    from matplotlib import ticker

    if log:
        ax.set_xscale("symlog", linthresh=1.0)  # symlog: step 0 (the untrained run) stays on the axis
        ax.set_xmargin(0.0)  # symlog's default margin reaches below step 0 and draws negative step ticks
    else:
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: _steps_text(v)))
    ax.set_xlabel(label)


def _steps_text(v: float) -> str:
    if abs(v) >= 1000 and v % 1000 == 0:
        return f"{v / 1000:g}k"
    return f"{v:g}"


def metric_vs_steps(ax, steps, values, *, label=None, color=None, fid: bool = False, ylabel: Optional[str] = None):
    """One metric against training steps (non-finite values, e.g. after a diverged run, left as gaps)."""
    v = np.asarray(values, dtype=np.float64)
    line = ax.plot(np.asarray(steps), np.where(np.isfinite(v), v, np.nan), "o-", ms=3, label=label, color=color)[0]
    steps_axis(ax)
    if fid:
        fid_axis(ax, ylabel or "FID")
    elif ylabel:
        ax.set_ylabel(ylabel)
    return line


def twin_legend(ax, twin, **kwargs):
    """One legend on `ax` holding the labelled artists of both ax and its twinx/twiny axis."""
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    return ax.legend(h1 + h2, l1 + l2, **kwargs)


def published_marker(ax, x, y, *, source: str, label: Optional[str] = None, color: str = "k", ms: float = 14):
    """Black stars at the paper's values beside ours, labelled with the source; a note when no value is quoted.

    x and y are scalars or equal-length sequences; a None in y (a setting the paper does not report) is skipped.
    """
    xs, ys = (list(v) if isinstance(v, (list, tuple, np.ndarray)) else [v] for v in (x, y))
    if len(xs) != len(ys):
        raise ValueError(f"published_marker: {len(xs)} x positions but {len(ys)} values")
    pairs = [(a, b) for a, b in zip(xs, ys) if b is not None]
    if not pairs:
        return ax.text(
            0.5,
            0.97,
            f"no published value ({source})",
            transform=ax.transAxes,
            ha="center",
            va="top",
            fontsize=8,
            color="0.3",
        )
    px, py = zip(*pairs)
    return ax.plot(px, py, "*", color=color, ms=ms, ls="none", label=label or f"published ({source})", zorder=5)[0]
