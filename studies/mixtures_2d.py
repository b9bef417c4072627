"""mixtures_2d: a ring of 8 and a 5x5 grid of Gaussians, MLP players trained by the trainer under four update rules.

Claim context (no claim is checked here; this is the 2-D testbed of issue 3): on multimodal 2-D data a GAN's
generator tends to drop or hop between modes (C12, C14; Metz et al. 2017), and the update rule (simultaneous,
alternating, extragradient, optimistic; C9, Daskalakis et al. 2018, Gidel et al. 2019) changes how the two
players interact on the same objective. The checks only ask whether the standard alternating NS-GAN learns
each mixture at this budget, and whether every run stays finite.
The defaults, each with its source (the trainer's own `sandbox.trainer.config` fields):
- ring: 8 Gaussians of std 0.02 on a circle of radius 2 (Metz et al. 2017, App. A); grid: 25 Gaussians of
  std 0.05 centred on {-4,-2,0,2,4}^2 (Lin et al. 2018, PacGAN; Srivastava et al. 2017, VEEGAN).
- players: MLPs with 2 hidden layers of 128 ReLU units for G and D (Metz et al. 2017, App. A).
- latent: z ~ N(0, I_2), the latent size of PacGAN's 2-D experiments (Lin et al. 2018), NOT the trainer's mlp
  default of 256 (Metz et al. 2017): measured on the ring with the alternating rule, z_dim = 256 covered 1/8
  modes with 6% high-quality samples after 8000 G steps, z_dim = 2 covered 7/8 with 71% after 5000.
- loss and optimiser: non-saturating GAN loss, Adam lr 2e-4, betas (0.5, 0.999), batch 128 (Radford et al.
  2016, DCGAN; the trainer's defaults); one D step per G step.
Quality is scored by `trainlog.mode_stats` (Srivastava et al. 2017): a sample is high-quality within 3 std
of its nearest centre; a mode is covered when it holds at least a quarter of its uniform share of them.
Checks (alternating rule, mean over seeds; thresholds set from measured runs, justified in the comments at
RING_MODES): the ring is learned (>= 6 of 8 modes, >= 25% high-quality samples), and the grid's generator
puts more mass near its modes than a uniform smear over [-5, 5]^2 would (while covering >= 13 of 25 modes).
Scales: smoke (seconds, the test suite: 60 G steps, no check can hold), quick (about a minute: 1500 steps, 1 seed),
full (the committed figure: 3000 G steps, 2 seeds, 2 worker processes on 2 CPU cores, about 2 minutes).
"""

import math
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import matplotlib.pyplot as plt
import numpy as np
import torch

from sandbox.data import MIXTURES
from sandbox.reporting import study
from sandbox.trainer import runlog as tl
from sandbox.trainer.config import make_config
from sandbox.trainer.loop import make_run, run_steps

CLAIM = (
    "MLP GANs trained by the trainer on a ring of 8 and a 5x5 grid of Gaussians: modes covered and "
    "high-quality samples under the simultaneous, alternating, extragradient and optimistic rules."
)
CLAIMS = []  # a testbed, not a claim check (see the docstring); discriminator_size uses it for C12
RULES = ("simultaneous", "alternating", "extragradient", "optimistic")
DATASETS = ("ring", "grid")
Z_DIM = 2
SCALES = {
    "smoke": dict(steps=60, seeds=1, checkpoints=2, n_eval=500, n_plot=300, workers=1),
    "quick": dict(steps=1500, seeds=1, checkpoints=5, n_eval=2000, n_plot=1000, workers=1),
    "full": dict(steps=3000, seeds=2, checkpoints=6, n_eval=2000, n_plot=1000, workers=2),
}
# Smoke runs 60 G steps, far too few for any GAN to reach the modes: the checks are for quick and full.
SMOKE_MUST_PASS = False
# Thresholds, from measured runs (seed 0, alternating, 3000 G steps: ring 7/8 modes, 44% high-quality; grid
# 17/25 modes, 3%), set where they separate a GAN that learned the data from the failures seen: a collapsed G
# (z_dim 256: 1/8 ring modes, 6% high-quality after 8000 steps) or an untrained one (< 2% high-quality).
RING_MODES, RING_HQ = 6, 0.25
GRID_MODES = 13  # more than half of the 25 modes
# A uniform smear over [-5, 5]^2 puts 25 pi (3 std)^2 / 100 = 1.8% of its mass within 3 std of a grid mode and
# "covers" every mode; the grid check asks for more mass near the modes than that, a baseline from geometry.
GRID_HQ = 25 * math.pi * (3 * MIXTURES["grid"].std) ** 2 / 100.0


def points(scale: str) -> list:
    """One key per (data, rule, seed) run."""
    return [f"data={d},rule={r},seed={s}" for d in DATASETS for r in RULES for s in range(SCALES[scale]["seeds"])]


def _parse(point: str) -> dict:
    return dict(kv.split("=") for kv in point.split(","))


def run_point(point: str, scale: str, seed: int, device=None) -> dict:
    """Train one MLP GAN through the trainer (make_run + run_steps) and score its samples along the way."""
    p, cfg_s = _parse(point), SCALES[scale]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 2-D MLPs: one thread is fastest (see Config.threads)
    try:
        cfg = make_config(
            dict(
                data=p["data"],
                rule=p["rule"],
                steps=cfg_s["steps"],
                seed=1000 * seed + int(p["seed"]),
                z_dim=Z_DIM,
                device="cpu",
                progress=False,
            )
        )
        run = make_run(cfg)
        clock, curve = time.process_time(), []
        every = cfg.steps // cfg_s["checkpoints"]
        while run.state["step"] < cfg.steps:
            run_steps(run, min(every, cfg.steps - run.state["step"]))
            s = tl.mode_stats(tl.generate(run, cfg_s["n_eval"]), run.source.centres, run.source.std)
            curve.append((run.state["step"], s["modes"], s["high_quality"]))
        x = tl.generate(run, cfg_s["n_plot"])
        finite = bool(torch.isfinite(x).all())
        return {
            "step": [c[0] for c in curve],
            "modes": [c[1] for c in curve],
            "high_quality": [c[2] for c in curve],
            "final_modes": curve[-1][1],
            "final_high_quality": curve[-1][2],
            "of_modes": int(run.source.centres.shape[0]),
            "finite": finite,
            "cpu_s": time.process_time() - clock,
            "samples": np.round(x.double().numpy(), 3) if int(p["seed"]) == 0 else None,
        }
    finally:
        torch.set_num_threads(threads)


def _compute_all(keys, scale, seed, device, workers):
    """{key: run_point(key)}, spread over `workers` spawned processes (one CPU core each) when workers > 1."""
    if workers <= 1:
        return None
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = {k: pool.submit(run_point, k, scale, seed, "cpu") for k in keys}
        return {k: f.result() for k, f in futures.items()}


def run(scale: str = "full", seed: int = 0, device=None, results=None) -> study.Result:
    """Train every (data, rule, seed) point, then summarise modes covered and high-quality fraction per rule."""
    cfg = dict(
        SCALES[scale],
        seed=seed,
        z_dim=Z_DIM,
        rules=RULES,
        datasets=DATASETS,
        net="mlp (2 x 128 ReLU)",
        objective="nonsaturating",
        optimiser="adam 2e-4 (0.5, 0.999)",
        batch=128,
        ring=dict(modes=8, radius=2.0, std=MIXTURES["ring"].std),
        grid=dict(modes=25, spacing=2.0, std=MIXTURES["grid"].std),
        thresholds=dict(ring_modes=RING_MODES, ring_hq=RING_HQ, grid_modes=GRID_MODES, grid_hq=GRID_HQ),
    )
    keys = points(scale)
    wall = time.perf_counter()
    if results is None:
        results = _compute_all(keys, scale, seed, device, SCALES[scale]["workers"])
    results = study.run_grid(keys, lambda k: run_point(k, scale, seed, device), results)
    summary = {}
    for d in DATASETS:
        for r in RULES:
            runs = [results[k] for k in keys if _parse(k)["data"] == d and _parse(k)["rule"] == r]
            modes = np.array([x["final_modes"] for x in runs], dtype=float)
            hq = np.array([x["final_high_quality"] for x in runs], dtype=float)
            summary[f"{d}/{r}"] = dict(
                modes_mean=modes.mean(), modes_std=modes.std(), modes=modes, hq_mean=hq.mean(), hq_std=hq.std(), hq=hq
            )
    centres = {d: MIXTURES[d].centres() for d in DATASETS}
    data = dict(
        runs=results,
        summary=summary,
        centres=centres,
        wall_s=time.perf_counter() - wall,
        cpu_s_total=sum(x["cpu_s"] for x in results.values()),
    )
    ring, grid = summary["ring/alternating"], summary["grid/alternating"]
    checks = {
        "ring_alternating_covers_most_modes_with_good_samples": bool(
            ring["modes_mean"] >= RING_MODES and ring["hq_mean"] >= RING_HQ
        ),
        "grid_alternating_covers_half_the_modes_beating_a_uniform_smear": bool(
            grid["modes_mean"] >= GRID_MODES and grid["hq_mean"] > GRID_HQ
        ),
        "every_run_stays_finite": all(x["finite"] for x in results.values()),
    }
    return study.Result(config=cfg, data=data, checks=checks)


def plot(result: study.Result):
    """Top rows: seed-0 samples per (data, rule) with the centres; bottom: modes and high-quality % per rule."""
    d, cfg = result.data, result.config
    fig, axes = plt.subplots(3, 4, figsize=(16, 12.5), gridspec_kw=dict(height_ratios=[1, 1, 0.8]))
    for i, data in enumerate(DATASETS):
        c = np.asarray(d["centres"][data])
        lim = 1.3 * np.abs(c).max()
        for j, rule in enumerate(RULES):
            ax = axes[i, j]
            r = d["runs"][f"data={data},rule={rule},seed=0"]
            x = np.asarray(r["samples"], dtype=float)
            ax.scatter(x[:, 0], x[:, 1], s=3, alpha=0.4, lw=0, label="G samples (seed 0)")
            ax.scatter(c[:, 0], c[:, 1], s=40, c="red", marker="x", label="mode centres")
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            s = d["summary"][f"{data}/{rule}"]
            ax.set_title(
                f"{data}, {rule}: {r['final_modes']}/{r['of_modes']} modes, {100 * r['final_high_quality']:.0f}% HQ",
                fontsize=10,
            )
            ax.set_xlabel("$x_1$")
            ax.set_ylabel("$x_2$")
            if i == 0 and j == 0:
                ax.legend(fontsize=8, loc="upper left")
    seeds = cfg["seeds"]
    for i, data in enumerate(DATASETS):
        for k, (key, label, top) in enumerate(
            (("modes", "modes covered", 8 if data == "ring" else 25), ("hq", "high-quality samples (%)", 100))
        ):
            ax = axes[2, 2 * i + k]
            scale = 100 if key == "hq" else 1
            thr = {"ring": (RING_MODES, 100 * RING_HQ), "grid": (GRID_MODES, 100 * GRID_HQ)}[data][k]
            for j, rule in enumerate(RULES):
                s = d["summary"][f"{data}/{rule}"]
                vals = np.asarray(s[key], dtype=float) * scale
                ax.bar(j, s[f"{key}_mean"] * scale, yerr=s[f"{key}_std"] * scale, color=f"C{j}", alpha=0.7, capsize=4)
                ax.plot(np.full(len(vals), j), vals, "k.", ms=6)
            ax.axhline(thr, color="grey", ls=":", label=f"check threshold (alternating) {thr:.3g}")
            ax.set_xticks(range(len(RULES)))
            ax.set_xticklabels(RULES, rotation=15, fontsize=9)
            if key == "hq":  # the grid's fractions are a few percent: a 0-100 axis would hide them
                top = min(
                    100,
                    max(
                        5.0,
                        1.4 * max(max(np.asarray(d["summary"][f"{data}/{r}"]["hq"], dtype=float)) * 100 for r in RULES),
                        2 * thr,
                    ),
                )
            ax.set_ylim(0, top * 1.08)
            ax.set_ylabel(label)
            ax.set_title(f"{data}: {label}\nmean ± std over {seeds} seed(s), dots: seeds", fontsize=10)
            ax.legend(fontsize=8, loc="upper right")
    fig.suptitle(
        f"2-D mixtures, MLP GAN through the trainer (NS loss, Adam 2e-4, z_dim {cfg['z_dim']}): "
        f"{cfg['steps']} G steps per rule, {cfg['seeds']} seed(s), CPU",
        fontsize=13,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))  # room for the suptitle
    return fig


def main(argv=None) -> dict:
    return study.main(
        "mixtures_2d",
        __doc__,
        CLAIM,
        CLAIMS,
        run,
        plot,
        argv,
        cpu_only=True,
        threads=1,
        points=points,
        run_point=run_point,
    )


if __name__ == "__main__":
    main()
