"""Shared by the trained-scale MNIST dynamics studies (wgan_family C10, r1_convergence C11, dynamics_at_scale C8/C9):
their marks, FID of any generator module on the run's fixed latents, a probe of D on fixed real images and fixed
latents, a uniform average of G's iterates kept in the update rule's checkpointed state, and the plateau and
rank-correlation statistics with their controls. Not a study (the leading underscore keeps it out of `all_studies`).

Everything numeric is the library's: runs train through `studies._curves.resumable_curve` (the trainer's `make_run`
+ `run_steps` and checkpoints), samples are `sandbox.trainer.runlog.generate` on the run's fixed z (CPU seed
cfg.seed + 3), BatchNorm statistics of averaged weights are `runlog.ema_copy`'s (recomputed on CPU seed
cfg.seed + 4, as for the EMA), FID is `studies._mnist_runs.fid_now` (`sandbox.evaluation.mnist`, MNIST-classifier
features), D's loss is the run's objective, input-gradient norms are `sandbox.penalties.grad_norm`, the average is
`sandbox.dynamics.average_update`, rank correlations are `sandbox.reporting.kit.spearman`.
"""

import copy
import dataclasses
import math
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from sandbox.dynamics import Average, average_update
from sandbox.penalties import grad_norm
from sandbox.reporting import kit
from sandbox.trainer import runlog as tl
from sandbox.trainer.config import z_size
from sandbox.trainer.loop import Run
from sandbox.trainer.parts import objective_of
from studies import _mnist_runs as mr

PLATEAU_TOL = 0.10  # "plateaued": FID over the last quarter of the steps within 10% of its third quarter's
PROBE_SEED = 20_000  # + the run seed: the CPU generators of the probes (real images, latents, interpolation draws)
UNIFORM = "uniform_g"  # the rule-state key of the uniform average of G's iterates
PROBE_KEYS = ("d_objective", "real_logit", "fake_logit", "grad_norm_real", "grad_norm_interp")
# CPU-seconds on one thread, measured here under load (2 shared cores; about 1.5x less on a quiet core): a FID of n
# samples (G's forward pass and the classifier's) and one critic_probe of 512 images, per width (1: estimated)
FID_S = {0.125: {2000: 0.62, 10000: 3.4}, 0.25: {2000: 0.93, 10000: 5.4}, 1.0: {2000: 2.0, 10000: 10.0}}
PROBE_S = {0.125: 0.19, 0.25: 0.43, 1.0: 2.5}


def marks(steps: int, *every: int) -> list:
    """0, the multiples of each `every` up to steps, and steps: the G steps at which a curve is evaluated."""
    return sorted({0, int(steps)}.union(*(range(e, int(steps) + 1, e) for e in every)))


def fid_cost(width: float, n: int) -> float:
    """CPU-seconds of one FID of n samples at a width (FID_S, linear in n between its measured sizes)."""
    table = FID_S[width]
    return float(
        np.interp(n, sorted(table), [table[k] for k in sorted(table)], left=table[min(table)] * n / min(table))
    )


def fid_of(run: Run, G: nn.Module, n: int) -> float:
    """FID (MNIST-classifier features) of n samples of the module G in eval mode on the run's fixed z."""
    return mr.fid_now(run._replace(G=G), n)


def fid_independent(run: Run, n: int) -> float:
    """FID of G on n latents independent of the run's fixed z (CPU seed PROBE_SEED + cfg.seed + 3 instead of
    cfg.seed + 3): a second measurement of the same generator, which tracks its FID by construction."""
    return mr.fid_now(run._replace(cfg=dataclasses.replace(run.cfg, seed=PROBE_SEED + run.cfg.seed)), n)


def with_bn_recomputed(run: Run, weights: Sequence[Tensor]) -> nn.Module:
    """A copy of G holding `weights`, its BatchNorm statistics recomputed as the run's EMA's are (runlog.ema_copy)."""
    cfg = run.cfg
    return tl.ema_copy(run.G, weights, z_size(cfg), cfg.batch, tl.BN_BATCHES, cfg.seed + 4)


# ------------------------------------------------------------------------------------------------ D's probe
def probe_inputs(run: Run, n: int) -> tuple:
    """(real, z): n real training images and n latents drawn once from the probe's own CPU generators (never the
    run's streams), so that every mark scores D on the same inputs."""
    g = torch.Generator().manual_seed(PROBE_SEED + run.cfg.seed)
    real = run.source.sample(n, torch.Generator(run.device).manual_seed(PROBE_SEED + run.cfg.seed))
    z = torch.randn((n, z_size(run.cfg)), generator=g)
    return real, z.to(run.device, real.dtype)


def critic_probe(run: Run, real: Tensor, z: Tensor) -> dict:
    """D's objective loss without the penalty, its mean real and fake logits, and the mean per-sample ||grad_x D||
    on the real images and on interpolates e x + (1 - e) G(z), e ~ U[0, 1] (WGAN-GP's points), in batches of
    cfg.batch with D and G in training mode as in D's step (copies: no running statistic of the run moves)."""
    D, G = copy.deepcopy(run.D).train(), copy.deepcopy(run.G).train()
    obj, b = objective_of(run.cfg), run.cfg.batch
    g = torch.Generator().manual_seed(PROBE_SEED + 2 + run.cfg.seed)
    rows = []
    for i in range(0, real.shape[0] - b + 1, b):
        x = real[i : i + b]
        with torch.no_grad():
            fake = G(z[i : i + b])
            t_real, t_fake = D(x), D(fake)
        eps = torch.rand((b, 1, 1, 1), generator=g).to(x.device, x.dtype)
        x_hat = eps * x + (1 - eps) * fake
        values = (obj.d_loss(t_real, t_fake), t_real.mean(), t_fake.mean(), grad_norm(D, x), grad_norm(D, x_hat))
        rows.append(torch.stack([v.detach().float().mean() for v in values]))
    return dict(zip(PROBE_KEYS, torch.stack(rows).mean(0).tolist()))


def prober(n: int) -> Callable[[Run], dict]:
    """run -> critic_probe(run, real, z) on n probe inputs drawn once, at the first call (probe_inputs)."""
    held: dict = {}

    def probe(run: Run) -> dict:
        if "inputs" not in held:
            held["inputs"] = probe_inputs(run, n)
        return critic_probe(run, *held["inputs"])

    return probe


# -------------------------------------------------------------------------------------- uniform average
def with_uniform_average(run: Run, start: int = 0) -> Run:
    """The run with its rule wrapped so that every G step after `start` folds G's parameters into a uniform average
    (dynamics.average_update: z_bar += (z - z_bar) / t) kept in the rule's own state, which the trainer checkpoints
    and restores with the run: a resumed run continues the same average bit for bit. A resumed run whose average
    began at another step (a run extended to a longer budget moves `start`, half of it) is refused: continuing it
    would not be the average a fresh run of that budget keeps."""
    rule = run.rule
    _, count = uniform_weights(run)
    if count != max(0, run.state["step"] - start):
        began = run.state["step"] - count if count else "not yet"
        raise ValueError(
            f"this run is at step {run.state['step']} with a uniform average of {count} iterates (begun: {began}), "
            f"but the average should start after step {start}: a run extended to a longer budget cannot continue "
            "its average; remove its work folder to train it from the start"
        )

    def averaged(game, step_x, step_y, state: dict) -> None:
        rule(game, step_x, step_y, state)
        if run.state["step"] >= start:  # run_steps counts the step after the rule: this is step state["step"] + 1
            held = state.get(UNIFORM)
            avg = Average("uniform", 0.0, held["value"], held["count"]) if held else None
            avg = average_update(avg or Average("uniform", 0.0, [p.detach().clone() for p in game.x], 0), game.x)
            state[UNIFORM] = {"value": avg.value, "count": avg.count}

    return run._replace(rule=averaged)


def uniform_weights(run: Run):
    """The uniform average's weights and count, or (None, 0) before it has started."""
    held = run.state["rule_state"].get(UNIFORM)
    return (held["value"], held["count"]) if held else (None, 0)


# ------------------------------------------------------------------------------------------- statistics
def window_change(steps: Sequence[int], values: Sequence[float], lo: float, hi: float) -> float:
    """(mean of the values at steps in (lo T, mid T]) / (mean at steps in (mid T, hi T]) - 1, mid = (lo + hi) / 2,
    T the last step: how much a curve fell from one window to the next (nan when a window is empty)."""
    s, v = np.asarray(steps, dtype=np.float64), np.asarray(values, dtype=np.float64)
    t, mid = s[-1], (lo + hi) / 2
    first, second = v[(s > lo * t) & (s <= mid * t)], v[(s > mid * t) & (s <= hi * t)]
    if first.size == 0 or second.size == 0 or not np.isfinite(first).all() or not np.isfinite(second).all():
        return math.nan
    return float(first.mean() / second.mean() - 1.0)


def plateau(steps: Sequence[int], values: Sequence[float]) -> dict:
    """late: the change from the third to the fourth quarter of the steps (plateaued when |late| <= PLATEAU_TOL);
    early: the same from the first to the second quarter, the control that a training curve must fail. Not checks:
    late_at_half, the late change of the curve cut at half its length (a curve settling has it above late), and
    `plateau_forecast` of the whole curve and of its first half (the backtest: read at 2x, beside late)."""
    late, early = window_change(steps, values, 0.5, 1.0), window_change(steps, values, 0.0, 0.5)
    s, v = np.asarray(steps, dtype=np.float64), np.asarray(values, dtype=np.float64)
    half = s <= s[-1] / 2
    return dict(
        late=late,
        early=early,
        plateaued=bool(abs(late) <= PLATEAU_TOL),
        early_flat=bool(abs(early) <= PLATEAU_TOL),
        late_at_half=window_change(s[half], v[half], 0.5, 1.0),  # nan when a window is empty
        forecast=plateau_forecast(s, v),
        backtest=plateau_forecast(s[half], v[half]),  # None with too few points
    )


FORECAST_SPANS = (1.0, 1.5, 2.0, 3.0, 4.0)  # run lengths, in multiples of the fitted curve's, at which fits are read
CURVE_FORMS = {  # x = step / the curve's last step; a is the floor the curve would settle at
    "exponential": lambda x, a, b, k: a + b * np.exp(-k * x),
    "power": lambda x, a, b, p: a + b * x ** (-p),
}


def plateau_forecast(steps: Sequence[int], values: Sequence[float]) -> Optional[dict]:
    """Least-squares fits a + b exp(-k t/T) and a + b (t/T)^-p (floor a >= 0) of the curve after its first quarter,
    and the late change (window_change 0.5-1) each predicts for runs FORECAST_SPANS times as long, at the same mark
    spacing; for sizing a longer run, never a check (None with fewer than 5 finite points or a failed fit)."""
    from scipy.optimize import curve_fit  # imported here: the trained-scale studies alone need it

    s, v = np.asarray(steps, dtype=np.float64), np.asarray(values, dtype=np.float64)
    t = s[-1] if s.size else 0.0
    keep = (s > t / 4) & np.isfinite(v)
    if keep.sum() < 5 or t <= 0:
        return None
    x, scale = s[keep] / t, float(np.abs(v[keep]).max()) or 1.0
    y, spacing = v[keep] / scale, float(np.median(np.diff(s[keep])))
    out = dict(spans=list(FORECAST_SPANS))
    for name, form in CURVE_FORMS.items():
        start = (max(float(y.min()) * 0.9, 0.0), float(y[0] - y[-1]), 1.0)  # inside the floor's bound
        try:
            with np.errstate(all="ignore"):
                par, _ = curve_fit(form, x, y, p0=start, bounds=((0.0, -np.inf, 1e-3), (np.inf, np.inf, 50.0)))
        except (RuntimeError, ValueError):
            return None
        late = []
        for m in FORECAST_SPANS:
            marks = np.arange(spacing, m * t + spacing / 2, spacing)
            late.append(window_change(marks, form(marks / t, *par), 0.5, 1.0))
        rms = float(np.sqrt(np.mean((form(x, *par) - y) ** 2))) * scale
        out[name] = dict(floor=float(par[0]) * scale, late=late, rms=rms)
    return out


def plateau_verdict(summaries) -> tuple:
    """(every curve's `plateau` plateaued, its control: the same test on the first half of each curve, early_flat)."""
    plateaus = [v["plateau"] for v in summaries]
    control = "the same test on the first half of the curves (first quarter against the second)"
    return all(p["plateaued"] for p in plateaus), dict(
        control=control, control_passes=all(p["early_flat"] for p in plateaus)
    )


def rho(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho of the finite pairs (kit.spearman), nan with fewer than three or a constant series."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3 or np.ptp(a[keep]) == 0 or np.ptp(b[keep]) == 0:
        return math.nan
    return kit.spearman(a[keep], b[keep]).statistic


def shuffled(values: Sequence[float], seed: int) -> list:
    """The values in a fixed random order (numpy's default_rng(seed)): a series that cannot track anything."""
    return [values[i] for i in np.random.default_rng(seed).permutation(len(values))]


def mean_curve(steps: Sequence[Sequence[int]], values: Sequence[Sequence[float]]) -> tuple:
    """(steps, mean over seeds) of curves sampled at the same steps; a curve cut short (a run stopped by a non-finite
    loss) counts as nan from there on, so the mean is nan where any seed is missing."""
    longest = max(steps, key=len) if steps else []
    padded = [list(v) + [math.nan] * (len(longest) - len(v)) for v in values]
    return list(longest), (np.mean(np.asarray(padded, dtype=np.float64), axis=0).tolist() if padded else [])
