"""wgan_family: WGAN (weight clipping, Algorithm 1 with the official Diters schedule), WGAN-GP, NS-GAN + R1 and NS-GAN
without a penalty on MNIST at matched G steps: FID over training, the critic's Wasserstein estimate as a quality
meter, the clipped weights.

Claim C10 (Arjovsky, Chintala, Bottou 2017; Gulrajani et al. 2017): WGAN Algorithm 1 (weight clipping c = 0.01,
RMSProp lr 5e-5, m = 64, n_critic = 5, and the official code's Diters schedule: 100 critic steps for the first 25 G
steps and every 500th; preset `wgan`) trains, and its critic's estimate of the Wasserstein distance tracks sample
quality (Arjovsky et al. 2017, Sec. 4.2, Fig. 3), where the standard GAN's discriminator loss does not (their Fig. 4,
the contrast the paper draws). Clipping has pathologies that the gradient penalty removes (WGAN-GP: lambda = 10,
n_critic = 5, Adam 1e-4, betas (0, 0.9), no BatchNorm in the critic; preset `wgan-gp`): the clipped critic's weights
pile up at +-c (Gulrajani et al. 2017, Fig. 1b) and WGAN-GP reaches a lower FID. The third arm is NS-GAN + R1
(preset `r1`: GAN_stability's reg_param 10, gamma 20 in our gamma/2 convention), whose D loss is the NS-GAN loss;
the fourth is the GAN of Arjovsky et al.'s Fig. 4 itself, NS-GAN with no penalty (preset `dcgan`: Radford et al.'s
Adam 2e-4, beta1 0.5, batch 128, BatchNorm in D). The R1 arm alone did not make the paper's contrast at 6,000 G
steps: its penalty keeps D from saturating, so its D loss followed FID (rho -0.86 to -0.97); at 40,000 it no longer
does (-0.32 to -0.80).
Named deviations: the DCGAN nets at width WIDTH (the papers' DCGANs at width 1 are a GPU's job); ema_half_life=0
(the study measures the raw G; the r1 preset's EMA feeds nothing back into training).
Measured per run (`studies._mnist_dynamics`), at every mark on 512 fixed real training images and 512 fixed
latents from generators of the probe's own: D's objective loss without the penalty (for WGAN -loss is the critic's
Wasserstein estimate E D(x) - E D(G(z)); for the NS arms it is the NS-GAN D loss), ||grad_x D|| on real data and on
WGAN-GP's interpolates, and the share of critic weights at +-c; FID (MNIST-classifier features, not Inception FID)
of G on the run's fixed z every `fid_every` G steps and on `n_final` samples at the end.
Checks, each with a control that must fail it: WGAN trains (control: the untrained G); the Wasserstein estimate
tracks FID, Spearman rho >= 0.8 in the paper's direction for every seed (control: the same estimates in a shuffled
order); the NS-GAN D loss does not, its |rho| below WGAN's for every seed, once for each NS arm (control: the
arm's own FID on independent latents in place of its D loss); WGAN-GP's final FID is below WGAN's in the mean over
seeds at matched G steps (control: the untrained generators, the same for every arm of a seed); clipped weights
pile at +-c at least EDGE_MARGIN beyond the projected initialisation for every seed (control: the projected
initialisation itself); every arm's FID curve has plateaued (control: the first half of the same curves).
Scales: smoke (seconds, the test suite; nothing trains), quick (minutes: 1 seed, 500 G steps), trained (3 seeds,
40,000 G steps: the CPU budget, `estimate_minutes`; at 6,000 FID still fell in every arm, and an 18,000-step pilot
(seed 0) left the curves' late change at 11% (WGAN), 16% (WGAN-GP) and 10.4% (R1); exponential and
power-law-with-floor fits of those curves gave the lengths at which they come inside the plateau check's 10%, and the
pilot's curves ended steeper than both fits, so the longer fit's length, chosen before any run at it), paper
(width 1, 200k G steps as in the WGAN-GP authors' MNIST script: a GPU).
"""

import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from sandbox.evaluation import mnist as ev
from sandbox.reporting import figures, kit, study
from sandbox.trainer.parts import wgan_critic_steps
from sandbox.trainer.presets import preset
from studies import _curves
from studies import _mnist_dynamics as md
from studies import _mnist_runs as mr

CLAIM = (
    "On MNIST at matched G steps, WGAN with weight clipping (Algorithm 1 and its Diters schedule) trains and its "
    "critic's Wasserstein estimate tracks FID (the NS-GAN D loss does not); its clipped weights pile up at +-c, and "
    "WGAN-GP reaches a lower FID."
)
CLAIMS = ["C10"]
LEVELS = {"C10": "X"}
NEEDS_DATA = "mnist"  # tests/test_studies.py skips the study where MNIST is absent
SMOKE_MUST_PASS = False  # smoke trains 8 G steps of width-1/8 nets: no check can hold there
ARMS = ("wgan", "wgan-gp", "r1", "dcgan")
NS_ARMS = ("r1", "dcgan")  # the arms whose D loss is the NS-GAN loss: rho of that loss, FID on independent z
LABELS = {
    "wgan": "WGAN (clip 0.01, RMSProp 5e-5, Diters)",
    "wgan-gp": "WGAN-GP (lambda 10, Adam 1e-4)",
    "r1": "NS-GAN + R1 (gamma 20, RMSProp 1e-4)",
    "dcgan": "NS-GAN, no penalty (DCGAN: Adam 2e-4, BN in D)",
}
WIDTH = 0.125  # G 32-16, D 16-32 channels: an eighth of the DCGAN nets, for the CPU budget (see STEP_S)
SCALES = {
    "smoke": dict(width=0.125, batch=16, seeds=1, steps=8, every=2, fid_every=4, n_fid=200, n_final=200, n_probe=32),
    "quick": dict(
        width=WIDTH, batch=None, seeds=1, steps=500, every=50, fid_every=50, n_fid=2000, n_final=5000, n_probe=512
    ),
    "trained": dict(
        width=WIDTH,
        batch=None,
        seeds=3,
        steps=40_000,
        every=100,
        fid_every=250,
        n_fid=2000,
        n_final=10000,
        n_probe=512,
    ),
    # paper: the presets at width 1 for the 200k G steps of the WGAN-GP authors' MNIST script (ITERS = 200000)
    "paper": dict(
        width=1.0,
        batch=None,
        seeds=3,
        steps=200_000,
        every=2000,
        fid_every=10_000,
        n_fid=10000,
        n_final=10000,
        n_probe=512,
    ),
}
# CPU-seconds on one thread, measured here under load (2 shared cores; ~1.5x less on a quiet core), batch 64, 300 G
# steps each: a G step with its D step(s) (WGAN: n_critic = 5; WGAN-GP: 5 penalised; R1: 1 penalised), and one WGAN
# critic step alone (the Diters schedule's extra 95 per burst). Width 1: 6x width 1/4's, an estimate (a GPU's job).
# DCGAN (batch 128, one unpenalised D step): measured at width 1/8 beside R1 in one process, 1.43x R1's step; its
# widths 1/4 and 1 are R1's times 1.43, estimates. Width 1/8, the trained scale's, is calibrated on its committed
# records (2026-12-07: each arm's mean cpu_s over 3 seeds of 40,000 G steps, less the FID_S / PROBE_S evaluations;
# WGAN's step and critic step scaled by one factor, 0.454): 2.0-2.3x below the first measurements, which were taken
# under heavier load and before the DCGAN's matmul layers (benchmarks.narrow: 1.30x at width 1/8).
STEP_S = {
    0.125: {"wgan": 0.0681, "wgan-gp": 0.1104, "r1": 0.0293, "dcgan": 0.0411},
    0.25: {"wgan": 0.266, "wgan-gp": 0.463, "r1": 0.122, "dcgan": 0.174},
    1.0: {"wgan": 1.6, "wgan-gp": 2.8, "r1": 0.73, "dcgan": 1.04},
}
CRITIC_S = {0.125: 0.0118, 0.25: 0.047, 1.0: 0.28}
FID_DROP = 0.5  # "trains": the final FID at most half the untrained generator's
RHO_MIN = 0.8  # "tracks": Spearman rho >= 0.8 over training (issue 14), estimate and FID falling together
AT_EDGE = 0.99  # a weight is at the clip boundary when |w| >= 0.99 c
EDGE_MARGIN = 0.05  # "piles up": the share at +-c at least 5 points above the projected initialisation's
BINS = 41


def settings(scale: str) -> dict:
    """What each point record holds as its settings: the scale's SCALES entry and the four arms' presets, so a
    record made under another preset is stale, not reused."""
    return dict(SCALES[scale], presets={a: preset(a) for a in ARMS})


def points(scale: str) -> list:
    """One run per (arm, seed); the seeds are paired across arms (the same initial G)."""
    return [dict(arm=a, seed=i) for a in ARMS for i in range(SCALES[scale]["seeds"])]


def estimate_minutes(scale: str) -> float:
    """The CPU-minutes of the whole grid on one thread: training (the Diters bursts included) plus the evaluations."""
    s, w = SCALES[scale], SCALES[scale]["width"]
    bursts = sum(wgan_critic_steps(t, 5) - 5 for t in range(s["steps"]))  # the schedule's extra critic steps
    train = sum(STEP_S[w].values()) * s["steps"] + CRITIC_S[w] * bursts
    probes = md.PROBE_S[w] * len(md.marks(s["steps"], s["every"], s["fid_every"]))
    n_fids = len(md.marks(s["steps"], s["fid_every"])) * (len(ARMS) + len(NS_ARMS))  # + NS arms' FID on new z
    fids = md.fid_cost(w, s["n_fid"]) * n_fids + md.fid_cost(w, s["n_final"]) * len(ARMS)
    return s["seeds"] * (train + len(ARMS) * probes + fids) / 60


def config(arm: str, s: dict, run_seed: int, device):
    """The arm's preset with no EMA and the scale's width and steps (and batch, at smoke)."""
    layer = dict(g_width=s["width"], d_width=s["width"], steps=s["steps"], seed=run_seed, ema_half_life=0.0)
    return mr.mnist_config(preset(arm), layer, dict(batch=s["batch"]) if s["batch"] else {}, device=device)


def critic_weights(D: torch.nn.Module) -> np.ndarray:
    """Every conv and linear weight of D (parameters with 2 or more axes) as one flat float64 array."""
    return torch.cat([p.detach().double().flatten().cpu() for p in D.parameters() if p.dim() >= 2]).numpy()


def edge_fraction(w: np.ndarray, bound: float) -> float:
    """The share of weights with |w| >= AT_EDGE * bound: at the boundary of [-bound, bound] once projected."""
    return float((np.abs(w) >= AT_EDGE * bound).mean())


def histogram(w: np.ndarray, bound: float) -> list:
    """Counts of the weights projected onto [-bound, bound] in BINS equal bins (the outer bins hold +-bound)."""
    return np.histogram(np.clip(w, -bound, bound), bins=BINS, range=(-bound, bound))[0].tolist()


def run_point(point: dict, scale: str, seed: int, device=None, workdir=None) -> dict:
    """One arm and seed: the probes and FID over training (resumable from workdir), the final FID and histograms."""
    clock, s = time.process_time(), SCALES[scale]
    device = torch.device(device or "cpu")
    cfg = config(point["arm"], s, 1000 * seed + int(point["seed"]), device)
    probe = md.prober(s["n_probe"])

    def evaluate(run) -> dict:
        row, step = probe(run), run.state["step"]
        w = critic_weights(run.D)
        row["edge"] = edge_fraction(w, cfg.clip) if cfg.clip else None
        row["weights_init"] = histogram(w, cfg.clip) if cfg.clip and step == 0 else None
        if step % s["fid_every"] == 0 or step == s["steps"]:
            row["fid"] = mr.fid_now(run, s["n_fid"])
            row["fid_alt"] = md.fid_independent(run, s["n_fid"]) if cfg.objective == "nonsaturating" else None
        return row

    marks = md.marks(s["steps"], s["every"], s["fid_every"])
    rows, run, stopped = _curves.resumable_curve(cfg, marks, evaluate, workdir)
    w = critic_weights(run.D)
    bound = cfg.clip or float(np.abs(w).max())
    return dict(
        arm=point["arm"],
        seed=cfg.seed,
        curve=rows,
        stopped_at=stopped,
        fid_final=mr.fid_now(run, s["n_final"]) if stopped is None else math.nan,
        clip=cfg.clip,
        weight_bound=bound,
        weights_final=histogram(w, bound),
        edge_final=edge_fraction(w, bound),
        cpu_s=time.process_time() - clock,
    )


# ------------------------------------------------------------------------------------------------- summary
def _at_fid_marks(rows: list, key: str, sign: float = 1.0) -> list:
    """sign * row[key] at the rows that hold a FID, after step 0 (an untrained critic estimates nothing yet)."""
    return [sign * r[key] for r in rows if r.get("fid") is not None and r["step"] > 0]


def _per_run(r: dict, arm: str, k: int) -> dict:
    rows = r["curve"]
    fid = _at_fid_marks(rows, "fid")
    estimate = _at_fid_marks(rows, "d_objective", -1.0)  # -D loss: WGAN's W estimate; the NS loss, negated
    loss = _at_fid_marks(rows, "d_objective")
    return dict(
        fid_start=rows[0]["fid"] if rows else math.nan,
        fid_final=r["fid_final"],
        rho=md.rho(loss if arm in NS_ARMS else estimate, fid),
        rho_shuffled=md.rho(md.shuffled(estimate, 1000 + k), fid),
        rho_train_window=md.rho([-v for v in _at_fid_marks(rows, "d_loss")], fid),
        rho_alt=md.rho(_at_fid_marks(rows, "fid_alt"), fid) if arm in NS_ARMS else None,
        edge_init=rows[0]["edge"] if rows and r["clip"] else None,
        edge_final=r["edge_final"],
        fid_steps=[row["step"] for row in rows if row.get("fid") is not None],
        fid=[row["fid"] for row in rows if row.get("fid") is not None],
        probe_steps=[row["step"] for row in rows],
        estimate=[-row["d_objective"] for row in rows],
        grad_norm_interp=[row["grad_norm_interp"] for row in rows],
        edge=[row["edge"] for row in rows],
        stopped_at=r["stopped_at"],
    )


def summarise(results: dict, scale: str) -> dict:
    """Per arm: each seed's final FID, rank correlations and weight shares, their controls, and the curves."""
    s, out = SCALES[scale], {}
    for arm in ARMS:
        recs = [results[kit.point_key(dict(arm=arm, seed=i))] for i in range(s["seeds"])]
        runs = [_per_run(r, arm, i) for i, r in enumerate(recs)]
        per = {k: [r[k] for r in runs] for k in runs[0]}
        steps, mean_fid = md.mean_curve(per["fid_steps"], per["fid"])
        out[arm] = dict(
            per,
            mean_fid_steps=steps,
            mean_fid=mean_fid,
            plateau=md.plateau(steps, mean_fid),
            weights_init=recs[0]["curve"][0]["weights_init"] if recs[0]["curve"] else None,
            weights_final=recs[0]["weights_final"],
            weight_bound=recs[0]["weight_bound"],
        )
    return out


def _trains(fid: list, start: list, stopped: list) -> bool:
    """Every seed's FID at most FID_DROP of its untrained G's, and no run stopped by a non-finite loss."""
    return all(f <= FID_DROP * s for f, s in zip(fid, start)) and not any(stopped)


def _tracks(rhos: list) -> bool:
    """Every seed's rho at least RHO_MIN: the estimate falls with FID, the paper's direction (nan fails)."""
    return all(r >= RHO_MIN for r in rhos)


def _below(rhos: list, reference: list) -> bool:
    """Every |rho| below RHO_MIN and below every |rho| of the reference seeds (nan fails)."""
    return all(abs(r) < min([RHO_MIN] + [abs(x) for x in reference]) for r in rhos)


def _piles(edge: list, init: list) -> bool:
    """Every seed's share of weights at +-c at least EDGE_MARGIN above its projected initialisation's."""
    return all(e >= i + EDGE_MARGIN for e, i in zip(edge, init))


def make_checks(st: dict) -> tuple:
    """The checks and their controls, every one computed from the summary."""
    w, gp, ns, plain = st["wgan"], st["wgan-gp"], st["r1"], st["dcgan"]
    mean = lambda v: kit.mean_std(v)[0]  # noqa: E731
    plateaued, plateau_control = md.plateau_verdict(st.values())
    checks = {
        "c10_wgan_trains": _trains(w["fid_final"], w["fid_start"], w["stopped_at"]),
        "c10_wgan_estimate_tracks_fid": _tracks(w["rho"]),
        "c10_ns_gan_d_loss_does_not_track_fid": _below(ns["rho"], w["rho"]),
        "c10_unpenalised_ns_gan_d_loss_does_not_track_fid": _below(plain["rho"], w["rho"]),
        "c10_gp_final_fid_below_wgan": bool(mean(gp["fid_final"]) < mean(w["fid_final"])),
        "c10_clipped_weights_pile_at_pm_c": _piles(w["edge_final"], w["edge_init"]),
        "c10_fid_plateaued_in_every_arm": plateaued,
    }
    controls = {
        "c10_wgan_trains": dict(
            control="the untrained generators (step 0)",
            control_passes=_trains(w["fid_start"], w["fid_start"], w["stopped_at"]),
        ),
        "c10_wgan_estimate_tracks_fid": dict(
            control="each seed's Wasserstein estimates in a fixed shuffled order",
            control_passes=_tracks(w["rho_shuffled"]),
        ),
        "c10_ns_gan_d_loss_does_not_track_fid": dict(
            control="the NS-GAN's own FID on independent latents in place of its D loss",
            control_passes=_below(ns["rho_alt"], w["rho"]),
        ),
        "c10_unpenalised_ns_gan_d_loss_does_not_track_fid": dict(
            control="the unpenalised NS-GAN's own FID on independent latents in place of its D loss",
            control_passes=_below(plain["rho_alt"], w["rho"]),
        ),
        "c10_gp_final_fid_below_wgan": dict(
            control="the untrained generators (step 0), the same for every arm of a seed",
            control_passes=bool(mean(gp["fid_start"]) < mean(w["fid_start"])),
        ),
        "c10_clipped_weights_pile_at_pm_c": dict(
            control="the projected initialisation (the critic at step 0, clipped) in place of the trained critic",
            control_passes=_piles(w["edge_init"], w["edge_init"]),
        ),
        "c10_fid_plateaued_in_every_arm": plateau_control,
    }
    return checks, controls


def headline(st: dict, scale: str) -> list:
    """Rank correlations, weight shares and final FIDs beside what the papers show (curves, no numbers)."""
    s = SCALES[scale]
    diff = (
        f"DCGAN nets at width {s['width']} on MNIST, {s['steps']:,} G steps, {s['seeds']} seeds, FID on MNIST-"
        "classifier features; the papers trained DCGAN/MLP/ResNet nets on LSUN and CIFAR-10 (Gulrajani Fig. 1b: toys)"
    )
    w, ns, plain = st["wgan"], st["r1"], st["dcgan"]
    rows = [
        (
            "Spearman rho(critic's W estimate, FID) over training, WGAN",
            w["rho"],
            "Arjovsky et al. 2017, Fig. 3: the estimate falls with sample quality (curves, no correlation reported)",
        ),
        (
            "Spearman rho(NS-GAN D loss, FID) over training, NS-GAN + R1",
            ns["rho"],
            "Arjovsky et al. 2017, Fig. 4: the GAN's JS estimate does not track quality (curves, no number)",
        ),
        (
            "Spearman rho(NS-GAN D loss, FID) over training, NS-GAN without a penalty (DCGAN preset)",
            plain["rho"],
            "Arjovsky et al. 2017, Fig. 4 (a DCGAN without a penalty): the JS estimate does not track quality",
        ),
        (
            f"share of clipped critic weights at +-c (|w| >= {AT_EDGE} c), end of training",
            w["edge_final"],
            "Gulrajani et al. 2017, Fig. 1b: most clipped weights at +-c (a histogram, no number)",
        ),
        ("the same share of the projected initialisation (the control)", w["edge_init"], "N(0, 0.02) init, c = 0.01"),
    ] + [
        (
            f"final {ev.FID_NAME} ({s['n_final']} samples), {LABELS[a]}",
            st[a]["fid_final"],
            "no published value on these features",
        )
        for a in ARMS
    ]
    return [kit.Headline("C10", q, *kit.mean_std(v), None, src, diff)._asdict() for q, v, src in rows]


def run(scale: str = "quick", seed: int = 0, device=None, results=None) -> study.Result:
    """Summarise every run's record, then the checks with their controls and the ledger rows."""
    results = study.run_grid(points(scale), lambda k: run_point(kit.parse_point(k), scale, seed, device), results)
    st = summarise(results, scale)
    checks, controls = make_checks(st)
    cfg = dict(
        SCALES[scale],
        seed=seed,
        arms=list(ARMS),
        presets={a: dict(preset(a), ema_half_life=0.0) for a in ARMS},
        fid_drop=FID_DROP,
        rho_min=RHO_MIN,
        at_edge=AT_EDGE,
        edge_margin=EDGE_MARGIN,
        plateau_tol=md.PLATEAU_TOL,
        estimate_minutes=estimate_minutes(scale),
    )
    data = dict(
        summary=st,
        labels=LABELS,
        headline=headline(st, scale),
        fid_name=ev.FID_NAME,
        cpu_s_total=sum(r["cpu_s"] for r in results.values()),
    )
    return study.Result(config=cfg, data=data, checks=checks, controls=controls)


# --------------------------------------------------------------------------------------------------- figure
COLOURS = {"wgan": "tab:red", "wgan-gp": "tab:blue", "r1": "tab:green", "dcgan": "tab:purple"}


def _lines(ax, st: dict, arms, steps_key: str, key: str) -> None:
    """Each seed of each arm a line against G steps."""
    for arm in arms:
        for j, (x, y) in enumerate(zip(st[arm][steps_key], st[arm][key])):
            ax.plot(x, y, "-", color=COLOURS[arm], lw=1.0, alpha=0.7, label=LABELS[arm] if j == 0 else None)
    figures.steps_axis(ax)
    ax.legend(fontsize=7)


def _scatter(ax, v: dict, key: str, label: str, title: str) -> None:
    """A per-mark quantity against FID, one colour per seed, with each seed's Spearman rho."""
    for j, (steps, fid, est) in enumerate(zip(v["fid_steps"], v["fid"], v[key])):
        pairs = [(f, e) for st_, f, e in zip(steps, fid, est) if st_ > 0]
        if pairs:
            ax.plot(*zip(*pairs), "o-", ms=3, lw=0.6, color=f"C{j}", label=f"seed {j}: rho = {v['rho'][j]:.2f}")
    ax.set(xlabel="FID (MNIST-classifier features), marks after step 0", ylabel=label, title=title)
    ax.legend(fontsize=7)


def _weights(ax, v: dict) -> None:
    """The clipped critic's weight histogram at the end against the projected initialisation (step outlines)."""
    c = v["weight_bound"]
    edges = np.linspace(-c, c, BINS + 1)
    if v["weights_init"] is not None:
        ax.stairs(v["weights_init"], edges, color="0.5", label=f"projected init: {np.mean(v['edge_init']):.0%} at +-c")
    ax.stairs(v["weights_final"], edges, color=COLOURS["wgan"], label=f"trained: {np.mean(v['edge_final']):.0%} at +-c")
    ax.set_yscale("log")
    ax.set(
        xlabel="critic weight (conv and linear), clipped to [-c, c]",
        ylabel="count (seed 0)",
        title="C10: WGAN critic weights pile at +-c",
    )
    ax.legend(fontsize=7)


def plot(result: study.Result):
    """FID per arm; WGAN's estimate over training and against FID; the NS losses over training and against FID; GP
    norms; weights."""
    st, name = result.data["summary"], result.data["fid_name"]
    fig, axes = plt.subplots(2, 4, figsize=(24, 10))
    _lines(axes[0, 0], st, ARMS, "fid_steps", "fid")
    figures.fid_axis(axes[0, 0], name)
    axes[0, 0].set_title("C10: FID at matched G steps")
    _lines(axes[0, 1], st, ["wgan"], "probe_steps", "estimate")
    axes[0, 1].set(ylabel="E D(x) - E D(G(z)) on fixed probes", title="C10: WGAN critic's Wasserstein estimate")
    _scatter(axes[0, 2], st["wgan"], "estimate", "critic's W estimate", "C10: WGAN estimate against FID")
    ns = {a: dict(st[a], loss=[[-e for e in seed] for seed in st[a]["estimate"]]) for a in NS_ARMS}
    _lines(axes[0, 3], ns, NS_ARMS, "probe_steps", "loss")
    axes[0, 3].set(ylabel="NS-GAN D loss on fixed probes (no penalty term)", title="C10: NS-GAN D losses over training")
    _scatter(axes[1, 0], ns["r1"], "loss", "NS-GAN D loss (no penalty term)", "C10: NS-GAN + R1 D loss against FID")
    _scatter(axes[1, 3], ns["dcgan"], "loss", "NS-GAN D loss", "C10: unpenalised NS-GAN D loss against FID")
    _lines(axes[1, 1], st, ARMS, "probe_steps", "grad_norm_interp")
    axes[1, 1].set_yscale("log")
    axes[1, 1].axhline(1.0, color="k", lw=0.8, ls=":")
    axes[1, 1].set(
        ylabel="mean ||grad D(x_hat)||, x_hat on real-fake lines", title="C10: gradient norm on interpolates"
    )
    _weights(axes[1, 2], st["wgan"])
    fig.suptitle(f"wgan_family ({result.config['steps']:,} G steps): {CLAIM}", fontsize=9)
    fig.tight_layout()
    return fig


def main(argv=None) -> dict:
    return study.main_of(__name__, argv, default_scale="quick")


if __name__ == "__main__":
    main()
