"""rpgan_stacked_mnist: RpGAN + R1 + R2 against the classic GAN and R1 alone on Stacked MNIST (C22, image level).

Claim C22 (Huang, Gokaslan, Kuleshov, Tompkin 2024, R3GAN, Sec. 2 and Table 1): with R1 + R2 the relativistic
pairing GAN covers all 1000 Stacked MNIST modes (reverse KL 0.0781) where the classic GAN with R1 + R2 drops
modes (693, 0.9270); with R1 alone both losses "Fail" (diverge early; the G loss explodes). The toy-level
evidence (Dirac-RpGAN, 2-D mixtures) is the study `rpgan_convergence`.
Setting. Losses: `rpgan` (the official code's D softplus(-(t_r - t_f)), G softplus(-(t_f - t_r)), pairs i-th
with i-th) and `nonsaturating` (the classic GAN as trained in practice, Goodfellow et al. 2014, Sec. 3), each with
`r1_r2` or `r1` at gamma = 1 (gamma/2 E||grad_x D||^2, the norm over channels and pixels as in R3GAN's code;
gamma 1 is where R3GAN's Stacked MNIST schedule starts, Table 3 config E: 1 -> 0.1; Table 1's gamma is not
stated). Nets: Metz et al. 2017's Stacked MNIST nets (`sandbox.nets.metz`) with BatchNorm in G and none in D: R1
and R2 penalise each sample's own input gradient, which BatchNorm in D would couple across the batch (the gradient
of one sample's logit would depend on the others); R3GAN's nets have no normalisation layers at all, and neither
had this study's first grids (below: why G has it now). D at
`d_width` 4 (32, 64, 128 filters, 95k parameters, a third of G's 288k; ours, not one of the Metz paper's two
sizes): this study compares losses, not D sizes, and a D starved of capacity limits every loss alike (the study
`discriminator_size`). The first trained grid used d_width 1 (8, 16, 32 filters, 6.5k parameters, chosen for
CPU): at 16,000 steps both R1 + R2 losses levelled off together, RpGAN 774 +- 38 modes and GAN 733 +- 6 (reverse
KL 1.03 and 1.12; commit 67a6987). A pilot at d_width 4 (seed 0 of each R1 + R2 loss, 5,120 samples scored, the
same code) then separated the losses at matched steps: RpGAN 632 modes at 3,000 steps and 682 at 4,000, GAN
298 and 455, where d_width 1 had given RpGAN 307-506 and 322-595, GAN 254-300 and 344-495 over three seeds; the
RpGAN pilot, continued, stood at 684, 726, 747 and 728 modes at 5,000-8,000 steps (levelled off: trained is 8,000
steps). The wider D costs 3.2x the CPU per step (2.8 against 8.9 steps per CPU-second with R1 + R2).
Optimiser: the Metz et al. settings as in PacGAN's code (Adam lr_D 2e-4, lr_G 1e-4, betas (0.5, 0.99), batch 128, z
256, one D step then one G step on fresh latents, no EMA). R3GAN states no Stacked MNIST optimiser; its code's
presets (Adam betas (0, 0.9 -> 0.99), lr 2e-4 -> 5e-5 for both nets, on a cosine over 20 Mimg or more; the trainer's
`r3gan` preset spans Table 3's 10 Mimg) move less than 3% of the way over our 1 Mimg, and a pilot at their starting
values (seed 0, this grid's marks, 8,000 steps) ended where the Metz optimiser did: RpGAN + R1 + R2 936 modes,
reverse KL 0.68 (Metz: 928, 0.67); RpGAN + R1 930, 0.68, largest fake-side norm 0.41 (Metz: 909, 0.81, 0.38). It was
faster early (460 and 437 modes at 1,000 steps against 162 and 133), so the grid keeps the Metz optimiser its
records were made with. Nor are R3GAN's nets what its "Fail" needs: a pilot on normalisation-free ResNets built as
its code builds them (`sandbox.nets.r3gan` at width 1/4, G 48k and D 46k parameters, z 64, that optimiser, seed 0,
gamma 1, batch 128, marks every 250 steps on 5,120 samples; 2.2-2.8 CPU-s a step, stopped by its pre-set time)
ran RpGAN + R1 2,250 steps and RpGAN + R1 + R2 1,750 without a non-finite loss, their largest fake-side norms 0.41
and 0.34; both covered more modes early than the Metz nets (R1 504 and R1 + R2 641 at 1,000 steps, against
437 and 460 under the same optimiser), then swung widely (R1: 686 at 1,250, 229 at 2,250; R1 + R2: 641 at 1,000,
222 at 1,750), R2 making no visible difference yet. Nor is the step count what keeps RpGAN + R1 + R2 from 990: a
pilot (2026-12-06, pre-registered) ran seed 0 past the grid's 8,000 steps, every 2,000 steps scored on 25,600
samples; its first 2,000 steps on one thread, the rest on two (so not bit-identical to the record after that), it
covered 628, 850, 904, 883 and 914 modes at 2,000-10,000 steps (reverse KL 1.91, 0.86, 0.73, 0.90, 0.77): +1.1%
over the last 4,000 steps, flat at about 900 (the pre-set rule: <= 2% is flattened), far below 990.
What is missing is digit quality, not whole modes (2026-12-06, `ev.stacked_quality` on that run's 25,600 samples
at 10,000 steps): 0.71 of its 0.77 nats of reverse KL are each channel's own digit skew (0, 1 and 6 are 0.8-3% of
every channel, 2 and 3 16-21%) and 0.06 dependence between channels; the classifier is unsure (top p < 0.9) of 64%
of its channel digits, against 1.1% of real ones: broken strokes, read as 2, 3, 7 or 8. Two pre-registered pilots
on seed 0 (the trained scale's settings, 5,120 samples at marks, 25,600 at the last) then asked what G lacks.
BatchNorm in G (D still without it; R1 and R2 only need D's per-sample gradients uncoupled) covered 730, 702, 746,
782, 806 and 848 modes at 2,000-7,000 steps (the record, no BN: 423, 632, 682, 684, 726, 747) and **990 at 8,000
(reverse KL 0.387; the record: 928, 0.672)**, still unsure of 55% of its digits: by the pre-set rule (>= 990 at the
last mark) the lever, on one seed and at the threshold (seed 1 with it, stopped for time: 544, 709 and 739 at
1,000-3,000 against its record's 184, 480 and 507); GAN + R1 + R2 with it, stopped at 2,000 steps to free the
core, covered 157 (the record: 193). G at twice the width (filters 128, 64, 32, 16; no BN) covered 648, 748, 711,
787 and 742 at 2,000-6,000: ahead of the record, but not by the pre-set 100 modes at every mark (+29 at 4,000, +16
at 6,000). So NET now has BatchNorm in G, and `settings` holds NET (records of other nets are stale; the no-BN
grid's are at commit 40bdc3b). The trained grid with it (2026-12-06/07, on a Xeon with AVX-512 and AMX, 25-38
CPU-minutes a point; floats differ across CPUs: seed 0's RpGAN + R1 + R2 covered 990 modes at 8,000 steps in the
AVX2 pilot, 994 here): RpGAN + R1 + R2 994, 997 and 993 modes (reverse KL 0.45, 0.38, 0.36), GAN + R1 + R2 811, 786
and 691 (1.03, 1.05, 1.31); RpGAN + R1 992, 993 and 986 (0.43, 0.36, 0.40), GAN + R1 16, 11 and 150 (6.14, 6.77,
2.95): mode collapse, not divergence. No run diverged (largest fake-side norm 0.68 against the limit 100).
Measured at each mark (early marks dense: R3GAN reports R1-only failing early): the trainer's window-mean
losses, modes of 1000 and reverse KL(q || uniform) (the project's MNIST classifier, `_curves.stacked_modes_row`)
of n_eval samples at the last mark and n_curve before it (at 5,120 samples the KL is biased up by about
(modes - 1) / 2n = 0.1 nats at full coverage: the curves show the trend, the final numbers are scored on 25,600),
and D's mean per-sample ||grad_x D|| (`sandbox.penalties.grad_norm`, the quantity R1/R2 penalise) on a fixed
batch of `probe` real images and on G's samples of a fixed batch of latents, both from generators of their own
(the run's streams are never touched). Runs resume from their work folder.
Divergence, fixed before any run was looked at: a run diverged at the first of (a) a non-finite loss (the
curve stops there: `stopped_at`) and (b) a mark at which the fake-side mean ||grad_x D|| exceeds FAKE_NORM_LIMIT
= 100: images are in [-1, 1] over 2352 pixels, so a norm of 100 turns an L2 change of 0.1 (invisible: one 8-bit
grey level per pixel is 0.008) into a logit change of 10, a D driven by imperceptible perturbations; the
R1 + R2 penalty of such a D would be gamma/2 * 10^4. A relative rule, 1000x the step-0 norm, was not used:
at the Metz initialisation (weights N(0, 0.02)) the step-0 norm is about 1e-4 to 1e-3, so 1000x it is a
healthy trained level (measured afterwards, in the timing run: 4.4e-4 on both sides at step 0, and 0.2 (R1 + R2)
and 0.5 (R1) after 300 steps). A run that stopped has modes 0 and reverse KL nan as its final values.
Checks, each with a control: RpGAN + R1 + R2 covers >= 990 modes in the mean over seeds (control: the same
runs at step 0); its reverse KL is below GAN + R1 + R2's for every pair of seeds (complete separation; for 3
seeds each the exact one-sided Mann-Whitney p is 1/20; control: step 0, where both losses share each seed's
init); every R1-only run diverges (control: the R1 + R2 runs); no R1 + R2 run diverges while every R1-only run
does (control: the two swapped). Published: R3GAN Table 1 (their small ResNets without normalisation, their
unknown step count).
Scales: smoke (seconds, the test suite; nothing trains), quick (4 runs of 1000 steps, ~20 CPU-minutes), trained
(3 seeds x 8,000 steps at d_width 4, `estimate_minutes`: ~380 CPU-minutes on one core, less where runs stop; to be
extended from the same checkpoints if the mode curves have not levelled off), paper (more steps and seeds: a GPU
or a cluster). The final mark is scored on 25,600 samples, the marks before it on 5,120: more samples find more
low-mass modes, so the figure draws the last mark apart (at d_width 1 it had read as a late rise).
"""

import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from sandbox.nets import param_count
from sandbox.nets.base import units
from sandbox.nets.metz import D_FILTERS
from sandbox.penalties import grad_norm
from sandbox.reporting import figures, kit, study
from sandbox.trainer.config import z_size
from studies import _curves
from studies import _mnist_dynamics as md
from studies import _mnist_runs as mr

CLAIM = (
    "On Stacked MNIST, RpGAN + R1 + R2 covers all 1000 modes with lower reverse KL than GAN + R1 + R2, and R1 "
    "alone diverges for both losses while R1 + R2 trains stably."
)
CLAIMS = ["C22"]
LEVELS = {"C22": "X"}
NEEDS_DATA = "mnist"  # tests/test_studies.py skips the study where MNIST is absent
SMOKE_MUST_PASS = False  # smoke trains a handful of steps: no check can hold there
GAMMA = 1.0
NET = dict(  # Metz et al. 2017 nets (PacGAN's code), BatchNorm in G only, their optimiser; see the docstring
    data="stacked_mnist",
    net="metz",
    batchnorm_g=True,
    batchnorm_d=False,
    optimiser="adam",
    lr_d=2e-4,
    lr_g=1e-4,
    betas=(0.5, 0.99),
    batch=128,
    z_dim=256,
    n_critic=1,
    rule="alternating",
    ema_half_life=0.0,
    penalty_weight=GAMMA,
)
LOSSES = {  # key -> (objective, penalty, label as in R3GAN Table 1)
    "rpgan_r1_r2": ("rpgan", "r1_r2", "RpGAN + R1 + R2"),
    "gan_r1_r2": ("nonsaturating", "r1_r2", "GAN + R1 + R2"),
    "rpgan_r1": ("rpgan", "r1", "RpGAN + R1"),
    "gan_r1": ("nonsaturating", "r1", "GAN + R1"),
}
SCALES = {  # n_eval: samples scored at the last mark; n_curve: at the marks before it; probe: the gradient batches
    "smoke": dict(seeds=1, steps=4, every=2, early=(), n_eval=256, n_curve=256, probe=16, d_width=4.0),
    "quick": dict(seeds=1, steps=1000, every=500, early=(100, 250), n_eval=5120, n_curve=5120, probe=128, d_width=4.0),
    "trained": dict(
        seeds=3, steps=8000, every=1000, early=(100, 250, 500), n_eval=25600, n_curve=5120, probe=128, d_width=4.0
    ),
    "paper": dict(
        seeds=5,
        steps=100_000,
        every=5000,
        early=(100, 250, 500, 1000, 2500),
        n_eval=25600,
        n_curve=25600,
        probe=128,
        d_width=4.0,
    ),
}
# CPU-minutes on one core: per 1000 steps of training by D width and penalty, and per 1000 samples scored (25,600
# samples: 20 s; 5,120: 4.4 s); the probe (0.04 s) is left out. d_width 1: the 12 runs of 8,000 steps (process CPU
# time of each point record: 15.9-17.6 min with R1 + R2, 13.8-14.7 with R1, scoring subtracted). d_width 4: the
# trained grid's records run in one call (two niced 1-thread processes on the 2 cores), scoring subtracted: R1 + R2
# 5.26-5.60 per 1000 steps over 5 runs, R1 4.00-4.25 over 4 (the 4,000-step pilots had given 5.6 for R1 + R2).
# BatchNorm in G costs nothing measurable (2026-12-06, interleaved 1-thread rounds of 10 steps at d_width 4 with two
# grid workers beside them: BN / no BN 1.00, 1.01, 1.03, 1.02), but machines differ 2x: the machine that ran the
# first BN-in-G grid took 11.4 CPU-min per 1000 steps for the no-BN R1 + R2 step, 8.4-8.9 for the R1 runs. The
# estimate stays in the units of the machine that made it, as every study's does. d_width 4 is calibrated on the
# committed records (BatchNorm in G; 2026-12-07, mean cpu_s over 3 seeds, scoring subtracted): R1 + R2 4.41 (GAN)
# and 4.56 (RpGAN) per 1000 steps, R1 3.02 and 3.32, against 5.4 and 4.1 from the first grid.
MINUTES_PER_1000_STEPS = {1.0: {"r1_r2": 2.0, "r1": 1.65}, 4.0: {"r1_r2": 4.49, "r1": 3.17}}
MINUTES_PER_1000_SCORED = 0.8 / 60
FAKE_NORM_LIMIT = 100.0  # divergence: the fake-side mean ||grad_x D|| above this (see the docstring)
MODES_AT_LEAST = 990
PUBLISHED = {  # R3GAN Table 1, Stacked MNIST, small ResNets without normalisation (../shared/REFERENCES.md)
    "source": "Huang et al. 2024 (R3GAN), Table 1",
    "rpgan_r1_r2": dict(modes=1000, reverse_kl=0.0781),
    "gan_r1_r2": dict(modes=693, reverse_kl=0.9270),
    "rpgan_r1": "Fail",
    "gan_r1": "Fail",
}


def settings(scale: str) -> dict:
    """What each point record holds as its settings: the scale's SCALES entry and the nets and optimiser (NET), so
    a record made with other nets (the grid without BatchNorm in G, say) is stale, not reused."""
    return dict(SCALES[scale], net=NET)


def points(scale: str) -> list:
    """One run per (loss, seed)."""
    return [dict(loss=k, seed=i) for k in LOSSES for i in range(SCALES[scale]["seeds"])]


def marks(cfg: dict) -> list:
    """Step 0, the early marks, then every `every` steps to the end."""
    return sorted(
        {0, *[m for m in cfg["early"] if m < cfg["steps"]], *range(cfg["every"], cfg["steps"] + 1, cfg["every"])}
    )


def estimate_minutes(scale: str) -> float:
    """The CPU-minutes the scale's grid takes on one core (a diverged run stops early: this is the upper bound)."""
    s = SCALES[scale]
    scored = s["n_eval"] + (len(marks(s)) - 1) * s["n_curve"]
    per_run = {
        p: s["steps"] / 1000 * m + scored / 1000 * MINUTES_PER_1000_SCORED
        for p, m in MINUTES_PER_1000_STEPS[s["d_width"]].items()
    }
    return s["seeds"] * sum(per_run[penalty] for _, penalty, _ in LOSSES.values())


def run_point(point: dict, scale: str, seed: int, device=None, workdir=None) -> dict:
    """One Stacked MNIST run: its curve of losses, modes, reverse KL and D's gradient norms (resumable)."""
    clock = time.process_time()
    return dict(stacked_point(point, SCALES[scale], seed, device, workdir), cpu_s=time.process_time() - clock)


def probe_row(run, n: int, seed: int) -> dict:
    """D's mean per-sample ||grad_x D|| on n fixed real images and on G's samples of n fixed latents (own seeds)."""
    g = torch.Generator(device=run.device).manual_seed(seed)
    real = run.source.sample(n, g)
    z = torch.randn((n, z_size(run.cfg)), generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        fake = run.G(z.to(run.device, real.dtype))
    return {
        "grad_real": float(grad_norm(run.D, real).detach().mean()),
        "grad_fake": float(grad_norm(run.D, fake).detach().mean()),
    }


def run_config(loss: str, cfg: dict, run_seed: int, device):
    """The trainer config of one run: NET with the loss's objective and penalty, in fp32 on every machine (the
    trainer's amp 'auto' is bf16 for the Metz nets on CPUs with AMX; a record must not depend on that)."""
    objective, penalty, _ = LOSSES[loss]
    layer = dict(d_width=cfg["d_width"], objective=objective, penalty=penalty, steps=cfg["steps"], seed=run_seed)
    return mr.mnist_config(NET, layer, device=device)


def stacked_point(p: dict, cfg: dict, seed: int, device, workdir) -> dict:
    """One loss on the Metz nets (NET); modes, reverse KL and gradient norms at every mark."""
    device = torch.device("cpu" if device is None else device)
    run_seed = 1000 * seed + int(p["seed"])  # the loss is not in the seed: every loss starts from the same nets
    config = run_config(p["loss"], cfg, run_seed, device)
    eval_seed = 10_000 + run_seed  # scoring latents and probe batches: fixed per seed, never the run's streams

    def evaluate(run) -> dict:
        n = cfg["n_eval"] if run.state["step"] >= cfg["steps"] else cfg["n_curve"]
        row = dict(_curves.stacked_modes_row(run, n, eval_seed), n_scored=n)
        return dict(row, **probe_row(run, cfg["probe"], eval_seed + 1))

    rows, run, stopped = _curves.resumable_curve(config, marks(cfg), evaluate, workdir)
    return dict(
        loss=p["loss"],
        params_G=param_count(run.G),
        params_D=param_count(run.D),
        curve=rows,
        stopped_at=stopped,
        diverged_at=diverged_at(rows, stopped),
    )


def diverged_at(rows: list, stopped) -> int:
    """The first step of a non-finite loss or of a fake-side gradient norm above FAKE_NORM_LIMIT, or None."""
    over = [r["step"] for r in rows if not r["grad_fake"] <= FAKE_NORM_LIMIT]  # nan counts as over
    steps = ([over[0]] if over else []) + ([stopped] if stopped is not None else [])
    return min(steps) if steps else None


# ------------------------------------------------------------------------------------------------------ summary
def final_row(r: dict) -> dict:
    """The last mark's row of a run that reached it; a stopped run counts as modes 0, reverse KL nan."""
    if r["stopped_at"] is not None or not r["curve"]:
        return {"modes": 0, "reverse_kl": math.nan}
    return r["curve"][-1]


def summarise(results: dict, scale: str) -> dict:
    """Per loss: final and step-0 modes and reverse KL per seed, divergence steps, and the curves."""
    s, out = SCALES[scale], {}
    for key, (objective, penalty, label) in LOSSES.items():
        runs = [results[kit.point_key(dict(loss=key, seed=i))] for i in range(s["seeds"])]
        final = [final_row(r) for r in runs]

        def curve(q):
            return [[row[q] for row in r["curve"]] for r in runs]

        out[key] = dict(
            label=label,
            objective=objective,
            penalty=penalty,
            params_D=runs[0]["params_D"],
            params_G=runs[0]["params_G"],
            modes=[f["modes"] for f in final],
            reverse_kl=[f["reverse_kl"] for f in final],
            untrained_modes=[r["curve"][0]["modes"] if r["curve"] else 0 for r in runs],
            untrained_reverse_kl=[r["curve"][0]["reverse_kl"] if r["curve"] else math.nan for r in runs],
            stopped_at=[r["stopped_at"] for r in runs],
            diverged_at=[r["diverged_at"] for r in runs],
            max_grad_fake=[
                max((g for g in (row["grad_fake"] for row in r["curve"]) if math.isfinite(g)), default=math.nan)
                for r in runs
            ],
            steps=curve("step"),
            n_scored=curve("n_scored"),
            modes_late_change=[late_change(r["curve"], s["n_curve"]) for r in runs],
            modes_curve=curve("modes"),
            kl_curve=curve("reverse_kl"),
            grad_real_curve=curve("grad_real"),
            grad_fake_curve=curve("grad_fake"),
            g_loss_curve=curve("g_loss"),
            d_loss_curve=curve("d_loss"),
        )
    return out


def late_change(rows: list, n: int) -> float:
    """Relative change of the mean modes from the third to the last quarter of the marks scored on n samples (the
    final mark, scored on more, is left out): last / third - 1, from the plateau windows of `_mnist_dynamics`."""
    kept = [(r["step"], r["modes"]) for r in rows if r.get("n_scored") == n]
    if len(kept) < 2:
        return math.nan
    fall = md.window_change([t for t, _ in kept], [m for _, m in kept], 0.5, 1.0)  # third / last - 1
    return 1.0 / (1.0 + fall) - 1.0 if math.isfinite(fall) and fall > -1.0 else math.nan


def _separated(low, high) -> bool:
    """Every value of `low` below every value of `high` (nan anywhere: False)."""
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    return bool(np.isfinite(low).all() and np.isfinite(high).all() and low.max() < high.min())


def make_checks(st: dict) -> tuple:
    """The four checks of the docstring, each with its control computed from the same runs."""
    rp, gan = st["rpgan_r1_r2"], st["gan_r1_r2"]
    r1_only = [d for k in ("rpgan_r1", "gan_r1") for d in st[k]["diverged_at"]]
    r1_r2 = [d for k in ("rpgan_r1_r2", "gan_r1_r2") for d in st[k]["diverged_at"]]
    checks = {
        "c22_stacked_rpgan_r1_r2_covers_990_modes": bool(np.mean(rp["modes"]) >= MODES_AT_LEAST),
        "c22_stacked_rpgan_r1_r2_reverse_kl_below_gan_r1_r2": _separated(rp["reverse_kl"], gan["reverse_kl"]),
        "c22_stacked_r1_only_runs_diverge": all(d is not None for d in r1_only),
        # the paper's contrast: R1 + R2 stable where R1 alone fails. Stability alone passed on its own control
        # (the R1-only runs) at quick scale, where nothing diverged, so the check is the contrast.
        "c22_stacked_r1_r2_never_diverge_where_r1_only_does": all(d is None for d in r1_r2)
        and all(d is not None for d in r1_only),
    }
    controls = {
        "c22_stacked_rpgan_r1_r2_covers_990_modes": dict(
            control="the same runs' untrained generators (step 0)",
            control_passes=bool(np.mean(rp["untrained_modes"]) >= MODES_AT_LEAST),
        ),
        "c22_stacked_rpgan_r1_r2_reverse_kl_below_gan_r1_r2": dict(
            control="the same test at step 0, where both losses share each seed's initial nets",
            control_passes=_separated(rp["untrained_reverse_kl"], gan["untrained_reverse_kl"]),
        ),
        "c22_stacked_r1_only_runs_diverge": dict(
            control="the R1 + R2 runs of both losses under the same test",
            control_passes=all(d is not None for d in r1_r2),
        ),
        "c22_stacked_r1_r2_never_diverge_where_r1_only_does": dict(
            control="the same test with the R1-only and R1 + R2 runs swapped",
            control_passes=all(d is None for d in r1_only) and all(d is not None for d in r1_r2),
        ),
    }
    return checks, controls


def _net_words() -> str:
    """Where NET has BatchNorm, for the figure and the headline ("BatchNorm in G", say)."""
    norm = [side for side in ("G", "D") if NET[f"batchnorm_{side.lower()}"]]
    return f"BatchNorm in {' and '.join(norm)}" if norm else "no BatchNorm"


def _fate(v: dict) -> str:
    """'diverged in k of n runs (at steps ...); largest fake-side ||grad_x D|| X (limit L); final modes a, b, c': a
    run can fail Table 1's way (diverge) or by losing modes while stable, and the row shows which."""
    hit = [d for d in v["diverged_at"] if d is not None]
    top = max((x for x in v["max_grad_fake"] if math.isfinite(x)), default=math.nan)
    stopped = [s for s in v["stopped_at"] if s is not None]
    head = f"diverged in {len(hit)} of {len(v['diverged_at'])} runs" + (f" (at steps {hit})" if hit else "")
    tail = f"; non-finite loss at steps {stopped}" if stopped else ""
    modes = ", ".join(f"{m:g}" for m in v["modes"])
    return f"{head}{tail}; largest fake-side ||grad_x D|| {top:.3g} (limit {FAKE_NORM_LIMIT:g}); final modes {modes}"


def _filters(d_width: float) -> str:
    """The Metz D's filters at a width, as the net family builds them ("32/64/128" at 4)."""
    return "/".join(str(units(c, d_width)) for c in D_FILTERS)


def headline(st: dict, scale: str) -> list:
    """Modes and reverse KL of the R1 + R2 runs and the fate of the R1-only runs, beside R3GAN Table 1."""
    cfg = SCALES[scale]
    diff = (
        f"Metz et al. nets, {_net_words()} (D {_filters(cfg['d_width'])} filters), Metz optimiser, {cfg['steps']:,} "
        "steps of batch "
        f"128, {cfg['seeds']} seeds, {cfg['n_eval']:,} samples scored (mean +- std); R3GAN: small ResNets without "
        "normalisation, step count not stated"
    )
    rows = []
    for key in ("rpgan_r1_r2", "gan_r1_r2"):
        v = st[key]
        for q, label in (("modes", "modes covered of 1000"), ("reverse_kl", "reverse KL(q || uniform), nats")):
            mean, std = kit.mean_std(v[q])
            rows.append(
                kit.Headline(
                    "C22",
                    f"Stacked MNIST {label}, {v['label']}",
                    mean,
                    std,
                    PUBLISHED[key][q],
                    PUBLISHED["source"],
                    diff,
                )._asdict()
            )
    for key in ("rpgan_r1", "gan_r1"):
        rows.append(
            kit.Headline(
                "C22",
                f"Stacked MNIST {st[key]['label']}: fate",
                _fate(st[key]),
                None,
                "Fail",
                PUBLISHED["source"],
                diff,
            )._asdict()
        )
    return rows


def run(scale: str = "quick", seed: int = 0, device=None, results=None) -> study.Result:
    """Summarise every run's record, then the checks with their controls and the ledger rows."""
    results = study.run_grid(points(scale), lambda k: run_point(kit.parse_point(k), scale, seed, device), results)
    st = summarise(results, scale)
    checks, controls = make_checks(st)
    cfg = dict(
        SCALES[scale],
        seed=seed,
        net=NET,
        losses={k: dict(objective=o, penalty=p, label=lab) for k, (o, p, lab) in LOSSES.items()},
        marks=marks(SCALES[scale]),
        fake_norm_limit=FAKE_NORM_LIMIT,
        modes_at_least=MODES_AT_LEAST,
        estimate_minutes=estimate_minutes(scale),
    )
    data = dict(
        stacked=st,
        published=PUBLISHED,
        headline=headline(st, scale),
        cpu_s_total=sum(r["cpu_s"] for r in results.values()),
    )
    return study.Result(config=cfg, data=data, checks=checks, controls=controls)


# -------------------------------------------------------------------------------------------------------- figure
def _curves_panel(ax, st: dict, q: str, ylabel: str, log: bool = False, log_steps: bool = True, n=None) -> None:
    """One quantity against steps, one line per run, one colour per loss; a stopped run's last step as a dotted
    line. With n, the line joins the marks scored on n samples and any other mark (the final one, scored on more)
    is an open circle, so a change of sample size does not read as training progress."""
    for i, v in enumerate(st.values()):
        for j, (steps, values) in enumerate(zip(v["steps"], v[q])):
            y, steps = np.asarray(values, dtype=float), np.asarray(steps)
            y[~np.isfinite(y)] = np.nan  # a diverged run's inf leaves a gap
            same = np.ones(len(steps), bool) if n is None else np.asarray(v["n_scored"][j]) == n
            label = v["label"] if j == 0 else None
            ax.plot(steps[same], y[same], "o-", ms=2.5, color=f"C{i}", alpha=0.7, label=label)
            if (~same).any():
                ax.plot(steps[~same], y[~same], "o", ms=6, mfc="none", color=f"C{i}", alpha=0.9)
            if v["stopped_at"][j] is not None:
                ax.axvline(v["stopped_at"][j], color=f"C{i}", ls=":", lw=0.8)
    if log:
        ax.set_yscale("log")
    figures.steps_axis(ax, log=log_steps)
    ax.set(ylabel=ylabel)
    ax.legend(fontsize=7)


def _final_panel(ax, st: dict) -> None:
    """Final modes per loss (seeds as dots) beside Table 1; R1-only runs marked with their divergence count."""
    x = np.arange(len(st))
    figures.seed_errorbars(ax, x, [v["modes"] for v in st.values()], label="ours, final (mean +- std)", fmt="o")
    pubs = [PUBLISHED[k]["modes"] if isinstance(PUBLISHED[k], dict) else None for k in st]
    figures.published_marker(ax, list(x), pubs, source="R3GAN Table 1")
    for xi, (key, v) in zip(x, st.items()):
        if not isinstance(PUBLISHED[key], dict):
            n = sum(d is not None for d in v["diverged_at"])
            text = f"Table 1: {PUBLISHED[key]}\nours: {n}/{len(v['diverged_at'])} diverged"
            ax.annotate(text, (xi, 120), ha="center", fontsize=7)
    ax.set(xticks=x, xlim=(-0.6, len(st) - 0.4), ylim=(0, 1050), ylabel="modes covered of 1000")
    ax.set_title("final modes beside R3GAN Table 1")
    ax.set_xticklabels([v["label"] for v in st.values()], fontsize=7)
    ax.legend(fontsize=7)


def _finite_mean(values) -> float:
    """The mean of the finite values, nan when there are none (a short run has no third and last quarter)."""
    x = np.asarray(values, dtype=float)
    return float(x[np.isfinite(x)].mean()) if np.isfinite(x).any() else math.nan


def plot(result: study.Result):
    """Modes, reverse KL, D's gradient norms and G's loss over training; the final modes beside Table 1."""
    st = result.data["stacked"]
    fig, axes = plt.subplots(2, 3, figsize=(19, 10))
    n, n_eval = result.config["n_curve"], result.config["n_eval"]
    _curves_panel(axes[0, 0], st, "modes_curve", "modes covered of 1000", log_steps=False, n=n)
    late = ", ".join(f"{v['label']} {_finite_mean(v['modes_late_change']):+.0%}" for v in st.values())
    axes[0, 0].set_title(
        f"lines: {n:,} samples per mark; open circles: the last mark, {n_eval:,} samples\n"
        f"mean change, third to last quarter: {late}",
        fontsize=8,
    )
    _curves_panel(axes[0, 1], st, "kl_curve", "reverse KL(q || uniform), nats", log_steps=False, n=n)
    axes[0, 1].set_title(f"as left (KL on {n:,} samples is biased up by about (modes - 1) / 2n)", fontsize=8)
    _final_panel(axes[0, 2], st)
    _curves_panel(axes[1, 0], st, "grad_fake_curve", "mean ||grad_x D|| on fixed fakes", log=True)
    axes[1, 0].axhline(FAKE_NORM_LIMIT, color="k", ls="--", lw=0.8)
    axes[1, 0].set_title(f"fake side (dashed: divergence limit {FAKE_NORM_LIMIT:g})", fontsize=9)
    _curves_panel(axes[1, 1], st, "grad_real_curve", "mean ||grad_x D|| on fixed reals", log=True)
    _curves_panel(axes[1, 2], st, "g_loss_curve", "G loss (window mean)", log_steps=False)
    fig.suptitle(f"rpgan_stacked_mnist (C22): {CLAIM}\nMetz nets, {_net_words()}, gamma {GAMMA:g}", fontsize=10)
    fig.tight_layout()
    return fig


def main(argv=None) -> dict:
    return study.main_of(__name__, argv, default_scale="quick")


if __name__ == "__main__":
    main()
