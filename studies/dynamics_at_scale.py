"""dynamics_at_scale: simultaneous, alternating, extragradient and optimistic updates of an MNIST DCGAN, with and
without an exponential moving average of G.

Claims C8 (Mescheder, Geiger, Nowozin 2018) and C9 (Daskalakis et al. 2018; Gidel et al. 2019; the Risteski
lecture) at image scale. On the Dirac-GAN and the bilinear game, simultaneous gradient steps spiral out,
alternating steps cycle, the average of the iterates converges, and extragradient and optimistic steps
converge (studies dirac_gan, bilinear_cycling). Here the same update rules of `sandbox.dynamics` (the
trainer's `rule` field) train a DCGAN on MNIST (preset `dcgan`: NS-GAN, Adam 2e-4, betas (0.5, 0.999), batch
128), and an EMA of G's weights (the trainer's ema_half_life) stands in for the iterate average.
Rules as the trainer runs them: simultaneous (both players step from the same point), alternating (D first,
one D step per G step), extragradient (a look-ahead step, then the real step from the start with the look-ahead
gradients; both half-steps update Adam's moments, Extra-Adam of Gidel et al. 2019, Alg. 4: two gradient
evaluations per player per G step, the others one), optimistic (z + 2 d_t - d_{t-1} with d_t Adam's step,
Daskalakis et al. 2018). Comparisons are at equal G steps.
EMA: half-life EMA_KIMG = 10 thousand images (Karras et al. 2020's ema_kimg = 10), i.e. 78 G steps at batch 128.
Measured: FID (MNIST-classifier features, `sandbox.evaluation.mnist`; not Inception FID) of the raw G and of its EMA,
each on the same fixed z, at a few G steps; oscillation is the population std of the raw FID over the last half
of the eval steps.
Scales: smoke (seconds, the test suite: width 1/8, batch 16, 8 G steps), quick (minutes on 2 CPU cores: widths
1/4, the preset's batch 128, 400 G steps, FID on 2000 samples at 7 steps, one seed), full (GPU: width 1 (the
paper's nets), 20k G steps (43 epochs), FID on 10000 samples every 1000 steps, 3 seeds). A grid over
(rule, seed): `--shard i/n` spreads it.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch

from sandbox.evaluation import mnist as ev
from sandbox.reporting import study
from sandbox.trainer.presets import preset
from studies import _mnist_runs as mr

CLAIM = (
    "On an MNIST DCGAN, extragradient and optimistic updates reach an FID at least as low as simultaneous "
    "updates, alternating beats simultaneous, and an EMA of G's weights lowers the FID of every rule."
)
NEEDS_DATA = "mnist"  # tests/test_studies.py skips the study where MNIST is absent
CLAIMS = ["C8", "C9"]
RULES = ("simultaneous", "alternating", "extragradient", "optimistic")
GRADS_PER_STEP = {"simultaneous": 1, "alternating": 1, "extragradient": 2, "optimistic": 1}  # per player
EMA_KIMG = 10.0
SCALES = {
    "smoke": dict(width=0.125, batch=16, steps=8, evals=[0, 4, 8], n_fid=200, seeds=1),
    "quick": dict(width=0.25, batch=None, steps=400, evals=[0, 50, 100, 150, 200, 300, 400], n_fid=2000, seeds=1),
    "full": dict(
        width=1.0,
        batch=None,
        steps=20_000,
        evals=[0, 250, 500] + list(range(1000, 20_001, 1000)),
        n_fid=10_000,
        seeds=3,
    ),
}
# smoke's 8 G steps of width-1/8 nets leave every rule at the untrained FID: smoke checks the pipeline only
SMOKE_MUST_PASS = False
HALF = 0.5  # the last half of the eval steps: where oscillation is measured


def points(scale: str) -> list:
    """One grid point per (rule, seed)."""
    return [f"rule={rule},seed={k}" for rule in RULES for k in range(SCALES[scale]["seeds"])]


def _parse(point: str) -> tuple:
    kv = dict(item.split("=") for item in point.split(","))
    return kv["rule"], int(kv["seed"])


def config(rule: str, scale: str, seed: int, device):
    """Preset dcgan with the rule, an EMA of half-life EMA_KIMG thousand images, and the scale's sizes."""
    s = SCALES[scale]
    batch = s["batch"] or preset("dcgan")["batch"]
    return mr.mnist_config(
        preset("dcgan"),
        dict(
            rule=rule,
            ema_half_life=1000.0 * EMA_KIMG / batch,
            batch=batch,
            g_width=s["width"],
            d_width=s["width"],
            steps=s["steps"],
            seed=seed,
        ),
        device=device,
    )


def run_point(point: str, scale: str, seed: int, device) -> dict:
    """Train with one rule; FID of the raw G and of its EMA at the eval steps."""
    rule, k = _parse(point)
    cfg = config(rule, scale, seed + k, device)
    rec, _ = mr.train_curve(cfg, SCALES[scale]["evals"], SCALES[scale]["n_fid"], ema=True)
    rec.update(rule=rule, seed=seed + k, ema_half_life=cfg.ema_half_life)
    return rec


def _setting(scale: str) -> str:
    s = SCALES[scale]
    return (
        f"{scale} scale: DCGAN nets at width {s['width']}, {s['steps']} G steps, FID on {s['n_fid']} samples, "
        f"{s['seeds']} seed(s); the convergence results are for the Dirac-GAN and bilinear games, and "
        f"Gidel et al. 2019 / Daskalakis et al. 2018 trained WGAN(-GP) on CIFAR-10"
    )


def run(scale: str = "quick", seed: int = 0, device=None, results=None) -> study.Result:
    """Every (rule, seed) run; final raw and EMA FID per rule, oscillation, and the checks."""
    device = torch.device(device or "cpu")
    results = study.run_grid(points(scale), lambda p: run_point(p, scale, seed, device), results)
    batch = SCALES[scale]["batch"] or preset("dcgan")["batch"]
    cfg = dict(
        SCALES[scale],
        seed=seed,
        rules=list(RULES),
        ema_kimg=EMA_KIMG,
        ema_half_life=1000.0 * EMA_KIMG / batch,
        half=HALF,
        grads_per_step=GRADS_PER_STEP,
        preset=preset("dcgan"),
    )
    summary = {}
    for rule in RULES:
        runs = [results[p] for p in points(scale) if _parse(p)[0] == rule]
        summary[rule] = {
            "fid_start": mr.mean_std([r["fid"][0] for r in runs]),
            "fid_final": mr.mean_std([r["fid"][-1] for r in runs]),
            "fid_ema_final": mr.mean_std([r["fid_ema"][-1] for r in runs]),
            "fid_oscillation": mr.mean_std([float(np.nanstd(mr.last_fraction(r["fid"], HALF))) for r in runs]),
            "stopped_at": [r["stopped_at"] for r in runs],
            "train_seconds": float(sum(r["seconds"]["train"] for r in runs)),
        }
    final = {rule: summary[rule]["fid_final"][0] for rule in RULES}
    checks = {
        "c8_alternating_beats_simultaneous": bool(final["alternating"] < final["simultaneous"]),
        "c9_extragradient_matches_or_beats_simultaneous": bool(final["extragradient"] <= final["simultaneous"]),
        "c9_optimistic_matches_or_beats_simultaneous": bool(final["optimistic"] <= final["simultaneous"]),
        "c9_ema_lowers_fid_for_every_rule": bool(all(summary[r]["fid_ema_final"][0] < final[r] for r in RULES)),
    }
    setting = _setting(scale)
    headline = [
        {
            "claim": "C9" if rule != "alternating" else "C8",
            "quantity": f"final {ev.FID_NAME}, {rule}, {which}",
            "ours": summary[rule][key][0],
            "ours_spread": summary[rule][key][1],
            "published": None,
            "source": "no published value on these features",
            "setting_difference": setting,
        }
        for rule in RULES
        for which, key in (("raw G", "fid_final"), ("EMA of G", "fid_ema_final"))
    ]
    data = {
        "runs": results,
        "summary": summary,
        "fid_name": ev.FID_NAME,
        "headline": headline,
        "scale_note": mr.scale_note(scale, device),
        "oscillation_note": f"population std of the raw FID over the last {HALF:.0%} of the eval steps",
    }
    return study.Result(config=cfg, data=data, checks=checks)


COLOURS = {
    "simultaneous": "tab:red",
    "alternating": "tab:blue",
    "extragradient": "tab:green",
    "optimistic": "tab:purple",
}


def plot(result: study.Result):
    """Raw and EMA FID against G steps per rule (shared axis), and the final values side by side."""
    data = result.data
    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    for ax, key, what in ((axes[0], "fid", "raw G"), (axes[1], "fid_ema", f"EMA of G (half-life {EMA_KIMG:g} kimg)")):
        for rule in RULES:
            for i, r in enumerate(r for r in data["runs"].values() if r["rule"] == rule):
                ax.plot(r["steps"], r[key], "o-", color=COLOURS[rule], ms=3, label=rule if i == 0 else None)
        mr.fid_axis(ax, data["fid_name"])
        ax.set_xlabel("G steps")
        ax.set_title(f"FID of the {what}")
        ax.legend(fontsize=8)
    axes[1].set_ylim(axes[0].get_ylim())
    ax = axes[2]
    x = np.arange(len(RULES))
    s = data["summary"]
    for offset, key, label, hatch in ((-0.2, "fid_final", "raw G", None), (0.2, "fid_ema_final", "EMA of G", "//")):
        vals = [s[r][key] for r in RULES]
        err = None if any(v[1] is None for v in vals) else [v[1] for v in vals]
        ax.bar(
            x + offset,
            [v[0] for v in vals],
            0.4,
            yerr=err,
            color=[COLOURS[r] for r in RULES],
            hatch=hatch,
            edgecolor="k",
            label=label,
        )
    ax.set_xticks(x, [f"{r}\n({GRADS_PER_STEP[r]} grad/step)" for r in RULES], fontsize=8)
    ax.set_ylabel(f"final {data['fid_name']}")
    ax.set_title("Final FID per rule: raw G (plain) and EMA (hatched)")
    ax.legend(fontsize=8)
    fig.suptitle(f"C8/C9 update rules and averaging on an MNIST DCGAN ({data['scale_note']})", fontsize=12)
    fig.tight_layout()
    return fig


def main(argv=None) -> dict:
    return study.main(
        "dynamics_at_scale",
        __doc__,
        CLAIM,
        CLAIMS,
        run,
        plot,
        argv,
        default_scale="quick",
        points=points,
        run_point=run_point,
    )


if __name__ == "__main__":
    main()
