"""r1_convergence: the zero-centred gradient penalty R1 on real data, swept over gamma, on MNIST (C11 at image scale).

Claim C11 (Mescheder, Geiger, Nowozin 2018, "Which training methods for GANs do actually converge?", Sec. 4-5):
zero-centred gradient penalties (R1 = gamma/2 E||grad_x D(x)||^2 on real data) make GAN training converge
locally: D's input gradient on real data goes to 0, D stops oscillating, and training is stable across gamma.
Setting: preset `r1` (GAN_stability's configs/default.yaml: the non-saturating loss, RMSProp lr 1e-4 for G and D,
batch 64, one D step per G step, no BatchNorm in D) with gamma in GAMMAS = {0, 0.1, 1, 10} in our gamma/2
convention, i.e. GAN_stability's reg_param = gamma/2 = {0, 0.05, 0.5, 5} (the preset's own gamma 20 is their
reg_param 10); gamma = 0 runs with penalty 'none'. Named deviations: the DCGAN nets at width WIDTH (Mescheder et al.
trained ResNets on CelebA/LSUN/ImageNet; MNIST's DCGAN at width 1 is a GPU's job), ema_half_life=0 (the study
measures the raw G; the preset's EMA feeds nothing back into training).
Measured per run (`studies._mnist_dynamics`): every `probe_every` G steps, on 512 fixed real training images and
512 fixed latents drawn from generators of the probe's own, D's mean per-sample ||grad_x D|| on the real images
(`penalties.grad_norm`, what R1 penalises) and D's mean real logit; FID (MNIST-classifier features, not Inception
FID) of G on the run's fixed z every `fid_every` steps, and on `n_final` samples at the end. The oscillation measure
is the population std of D's mean real logit over the probes of the last half of training.
Checks, each with a control that must fail it: the final gradient norm falls strictly with gamma and is 10x lower at
gamma = 10 than at 0 (control: the untrained D, the same for every gamma of a seed); the oscillation is larger at
gamma = 0 than at gamma >= 1 for every seed (control: the untrained D); the final FIDs of gamma >= 0.1 overlap within
their seed ranges (control: the same test with the untrained generators as a fourth group); every gamma > 0 trains
(control: the untrained G); every gamma's FID curve has plateaued (control: the first half of the same curves).
Scales: smoke (seconds, the test suite; nothing trains), quick (minutes: 1 seed, 800 G steps), trained (3 seeds,
50,000 G steps, `estimate_minutes`), paper (width 1, 50k G steps: a GPU). The trained scale stopped first at 5,000 G
steps, then 10,000, where D's gradient norm had settled but the mean FID still fell 16-32% from the third to the last
quarter. A pre-registered pilot (2026-12-07, seed 0, gammas 0 and 0.1, this code to 30,000 steps) left 12.8% and 13.3%;
fits of its curves put every curve inside the plateau check's 10% by 50,000 (exponential and power-law tails: 1.3-9.6%)
but not surely by 40,000 (3.4-11.9%). So 50,000 steps, set before any run at that length; the checks are unchanged.
"""

import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from sandbox.evaluation import mnist as ev
from sandbox.reporting import figures, kit, study
from sandbox.trainer.presets import preset
from studies import _curves
from studies import _mnist_dynamics as md
from studies import _mnist_runs as mr

CLAIM = (
    "With R1 (gamma/2 E||grad_x D||^2 on real data) a DCGAN on MNIST trained to a plateau has D's real-data gradient "
    "norm falling with gamma (10x below the unregularised run at gamma = 10), D's real logits oscillating less than "
    "without the penalty, and FIDs that agree across gamma = 0.1, 1, 10."
)
CLAIMS = ["C11"]
LEVELS = {"C11": "X"}
NEEDS_DATA = "mnist"  # tests/test_studies.py skips the study where MNIST is absent
SMOKE_MUST_PASS = False  # smoke trains 8 steps of width-1/8 nets: no check can hold there
GAMMAS = [0.0, 0.1, 1.0, 10.0]  # gamma/2 convention: GAN_stability's reg_param = gamma / 2
WIDTH = 0.125  # G 32-16, D 16-32 channels: an eighth of the DCGAN nets, for the CPU budget (see STEP_S)
PRESET = "r1"  # GAN_stability's settings: the configs train with it, the records hold it
SCALES = {
    "smoke": dict(
        width=0.125,
        batch=16,
        gammas=[0.0, 10.0],
        seeds=1,
        steps=8,
        probe_every=2,
        fid_every=4,
        n_fid=200,
        n_final=200,
        n_probe=32,
    ),
    "quick": dict(
        width=WIDTH,
        batch=None,
        gammas=GAMMAS,
        seeds=1,
        steps=800,
        probe_every=25,
        fid_every=100,
        n_fid=2000,
        n_final=5000,
        n_probe=512,
    ),
    "trained": dict(
        width=WIDTH,
        batch=None,
        gammas=GAMMAS,
        seeds=3,
        steps=50_000,
        probe_every=50,
        fid_every=250,
        n_fid=2000,
        n_final=10000,
        n_probe=512,
    ),
    "paper": dict(
        width=1.0,
        batch=None,
        gammas=GAMMAS,
        seeds=3,
        steps=50_000,
        probe_every=500,
        fid_every=2500,
        n_fid=10000,
        n_final=10000,
        n_probe=512,
    ),
}
# CPU-seconds per G step on one thread, measured here under load (2 shared cores; ~1.5x less on a quiet core), batch
# 64, 300 steps: R1's double backward costs 1.3-1.6x a plain step. Width 1: 6x width 1/4's, an estimate (a GPU's job).
# Machines differ: on the AMX Xeon of 2026-12-07 a 30,000-step point (probes and FIDs included) took 10.8 CPU-min at
# gamma 0 and 14.8 at gamma 0.1, against 23 and 35 by these figures. Width 1/8, the trained scale's, is calibrated on
# its committed records (2026-12-07: mean cpu_s over the seeds of 50,000 G steps, less the FID_S / PROBE_S
# evaluations; R1 the mean over gamma 0.1, 1 and 10): 2.4-2.6x below the first figures (0.064 and 0.040).
STEP_S = {0.125: {"r1": 0.0250, "none": 0.0167}, 0.25: {"r1": 0.122, "none": 0.091}, 1.0: {"r1": 0.73, "none": 0.55}}
PAPER_GAMMA = 10.0  # the largest gamma (GAN_stability's reg_param 5)
NORM_RATIO = 0.1  # "goes to 0": at gamma = 10 an order of magnitude below gamma = 0
FID_DROP = 0.5  # "trains": the final FID at most half the untrained generator's
TAIL, HALF = 0.25, 0.5  # gradient norms: the probes of the last quarter; oscillation: of the last half


def settings(scale: str) -> dict:
    """What each point record holds as its settings: the scale's SCALES entry and the r1 preset, so a record made
    under another preset is stale, not reused."""
    return dict(SCALES[scale], preset=preset(PRESET))


def points(scale: str) -> list:
    """One run per (gamma, seed); the seeds are paired across gammas (the same initial G and D)."""
    s = SCALES[scale]
    return [dict(gamma=g, seed=i) for g in s["gammas"] for i in range(s["seeds"])]


def estimate_minutes(scale: str) -> float:
    """The CPU-minutes of the whole grid on one thread: training at STEP_S plus the probes and FIDs."""
    s, w = SCALES[scale], SCALES[scale]["width"]
    train = sum(s["steps"] * STEP_S[w]["r1" if g > 0 else "none"] for g in s["gammas"])
    probes = md.PROBE_S[w] * len(md.marks(s["steps"], s["probe_every"], s["fid_every"]))
    fids = md.fid_cost(w, s["n_fid"]) * len(md.marks(s["steps"], s["fid_every"])) + md.fid_cost(w, s["n_final"])
    return s["seeds"] * (train + len(s["gammas"]) * (probes + fids)) / 60


def config(gamma: float, s: dict, run_seed: int, device):
    """Preset r1 with penalty weight gamma (penalty 'none' at 0), no EMA, the scale's width and steps."""
    layer = dict(
        penalty="r1" if gamma > 0 else "none",
        penalty_weight=gamma if gamma > 0 else preset(PRESET)["penalty_weight"],
        ema_half_life=0.0,
        g_width=s["width"],
        d_width=s["width"],
        steps=s["steps"],
        seed=run_seed,
    )
    return mr.mnist_config(preset(PRESET), layer, dict(batch=s["batch"]) if s["batch"] else {}, device=device)


def run_point(point: dict, scale: str, seed: int, device=None, workdir=None) -> dict:
    """One gamma and seed: probes of D and FID over training (resumable from workdir), then the final FID."""
    clock, s = time.process_time(), SCALES[scale]
    device = torch.device(device or "cpu")
    cfg = config(point["gamma"], s, 1000 * seed + int(point["seed"]), device)
    probe = md.prober(s["n_probe"])

    def evaluate(run) -> dict:
        row = probe(run)
        step = run.state["step"]
        return dict(row, fid=mr.fid_now(run, s["n_fid"]) if step % s["fid_every"] == 0 or step == s["steps"] else None)

    marks = md.marks(s["steps"], s["probe_every"], s["fid_every"])
    rows, run, stopped = _curves.resumable_curve(cfg, marks, evaluate, workdir)
    final = mr.fid_now(run, s["n_final"]) if stopped is None else math.nan
    return dict(
        gamma=point["gamma"],
        seed=cfg.seed,
        curve=rows,
        stopped_at=stopped,
        fid_final=final,
        cpu_s=time.process_time() - clock,
    )


# ------------------------------------------------------------------------------------------------- summary
def _series(rows: list, key: str, after: float = -1.0) -> tuple:
    """(steps, values) of a curve's rows holding `key`, at steps > after (as a fraction of the last step)."""
    last = rows[-1]["step"] if rows else 0
    kept = [(r["step"], r[key]) for r in rows if r.get(key) is not None and r["step"] > after * last]
    return [k for k, _ in kept], [v for _, v in kept]


def _per_run(r: dict) -> dict:
    rows = r["curve"]
    fid_steps, fid = _series(rows, "fid")
    return dict(
        grad_norm=float(np.mean(_series(rows, "grad_norm_real", 1 - TAIL)[1])) if rows else math.nan,
        oscillation=float(np.std(_series(rows, "real_logit", 1 - HALF)[1])) if rows else math.nan,
        fid_final=r["fid_final"],
        grad_norm_start=rows[0]["grad_norm_real"] if rows else math.nan,
        # the untrained D scored at every probe of the last half: its logits never move
        oscillation_start=float(np.std([rows[0]["real_logit"]] * len(_series(rows, "real_logit", 1 - HALF)[1])))
        if rows
        else math.nan,
        fid_start=fid[0] if fid else math.nan,
        fid_steps=fid_steps,
        fid=fid,
        probe_steps=_series(rows, "grad_norm_real")[0],
        grad_norm_curve=_series(rows, "grad_norm_real")[1],
        real_logit_curve=_series(rows, "real_logit")[1],
        stopped_at=r["stopped_at"],
    )


def summarise(results: dict, scale: str) -> dict:
    """Per gamma: each seed's final gradient norm, oscillation and FID, their untrained values, the curves."""
    s, out = SCALES[scale], {}
    for g in s["gammas"]:
        runs = [_per_run(results[kit.point_key(dict(gamma=g, seed=i))]) for i in range(s["seeds"])]
        per = {k: [r[k] for r in runs] for k in runs[0]}
        steps, mean_fid = md.mean_curve(per["fid_steps"], per["fid"])
        out[f"{g:g}"] = dict(per, gamma=g, mean_fid_steps=steps, mean_fid=mean_fid, plateau=md.plateau(steps, mean_fid))
    return out


def _falls(values: list) -> bool:
    return all(a > b for a, b in zip(values, values[1:]))


def _overlap(groups: list) -> bool:
    """Whether every pair of the groups' [min, max] ranges intersects."""
    ranges = [kit.spread(g) for g in groups]
    return all(max(a[0], b[0]) <= min(a[1], b[1]) for i, a in enumerate(ranges) for b in ranges[i + 1 :])


def make_checks(st: dict, gammas: list) -> tuple:
    """The checks and their controls, every one computed from the summary."""
    mean = lambda g, k: kit.mean_std(st[f"{g:g}"][k])[0]  # noqa: E731
    zero, high = st["0"], [st[f"{g:g}"] for g in gammas if g >= 1]
    positive = [st[f"{g:g}"] for g in gammas if g > 0]
    osc = lambda key: all(  # noqa: E731
        zero[key][i] > v[key][i] for v in high for i in range(len(zero[key]))
    )
    trains = lambda key: all(  # noqa: E731
        np.all(np.asarray(v[key]) <= FID_DROP * np.asarray(v["fid_start"])) and not any(v["stopped_at"])
        for v in positive
    )
    plateaued, plateau_control = md.plateau_verdict(st.values())
    checks = {
        "c11_grad_norm_on_real_falls_with_gamma": _falls([mean(g, "grad_norm") for g in gammas]),
        "c11_grad_norm_tenfold_lower_at_gamma_10": bool(
            mean(PAPER_GAMMA, "grad_norm") <= NORM_RATIO * mean(0.0, "grad_norm")
        ),
        "c11_unregularised_d_oscillates_more": osc("oscillation"),
        "c11_fid_overlaps_across_gamma": _overlap([v["fid_final"] for v in positive]),
        "c11_every_gamma_trains": trains("fid_final"),
        "c11_fid_plateaued_at_every_gamma": plateaued,
    }
    untrained = "the untrained networks (step 0), the same for every gamma of a seed"
    controls = {
        "c11_grad_norm_on_real_falls_with_gamma": dict(
            control=untrained, control_passes=_falls([mean(g, "grad_norm_start") for g in gammas])
        ),
        "c11_grad_norm_tenfold_lower_at_gamma_10": dict(
            control=untrained,
            control_passes=bool(mean(PAPER_GAMMA, "grad_norm_start") <= NORM_RATIO * mean(0.0, "grad_norm_start")),
        ),
        "c11_unregularised_d_oscillates_more": dict(
            control=untrained + ", scored at every probe", control_passes=osc("oscillation_start")
        ),
        "c11_fid_overlaps_across_gamma": dict(
            control="the same overlap test with the untrained generators (step 0) as a fourth group",
            control_passes=_overlap([v["fid_final"] for v in positive] + [zero["fid_start"]]),
        ),
        "c11_every_gamma_trains": dict(control="the untrained generators (step 0)", control_passes=trains("fid_start")),
        "c11_fid_plateaued_at_every_gamma": plateau_control,
    }
    return checks, controls


def headline(st: dict, scale: str) -> list:
    """Final gradient norms, oscillation and FID per gamma; no published image-scale values exist for these."""
    s = SCALES[scale]
    diff = (
        f"DCGAN nets at width {s['width']} without D BatchNorm on MNIST, {s['steps']:,} G steps, {s['seeds']} seeds; "
        "the paper trained ResNets on CelebA, LSUN and ImageNet with reg_param 10 (gamma 20 here)"
    )
    src = "Mescheder et al. 2018, Sec. 4: grad_x D -> 0 at the equilibrium R1 makes locally stable (no MNIST value)"
    rows = []
    for g in s["gammas"]:
        v = st[f"{g:g}"]
        for key, what in (
            ("grad_norm", "mean ||grad_x D|| on real data, last quarter"),
            ("oscillation", "std of D's mean real logit, last half"),
            ("fid_final", f"final {ev.FID_NAME} ({s['n_final']} samples)"),
        ):
            rows.append(
                kit.Headline(
                    "C11",
                    f"{what}, gamma = {g:g}",
                    *kit.mean_std(v[key]),
                    None,
                    src if key != "fid_final" else "no published value on these features",
                    diff,
                )._asdict()
            )
    return rows


def run(scale: str = "quick", seed: int = 0, device=None, results=None) -> study.Result:
    """Summarise every run's record, then the checks with their controls and the ledger rows."""
    results = study.run_grid(points(scale), lambda k: run_point(kit.parse_point(k), scale, seed, device), results)
    s = SCALES[scale]
    st = summarise(results, scale)
    checks, controls = make_checks(st, s["gammas"])
    cfg = dict(
        s,
        seed=seed,
        preset=dict(preset(PRESET), ema_half_life=0.0),
        reg_param=[g / 2 for g in s["gammas"]],
        norm_ratio=NORM_RATIO,
        fid_drop=FID_DROP,
        tail=TAIL,
        half=HALF,
        plateau_tol=md.PLATEAU_TOL,
        estimate_minutes=estimate_minutes(scale),
    )
    data = dict(
        summary=st,
        headline=headline(st, scale),
        fid_name=ev.FID_NAME,
        cpu_s_total=sum(r["cpu_s"] for r in results.values()),
    )
    return study.Result(config=cfg, data=data, checks=checks, controls=controls)


# --------------------------------------------------------------------------------------------------- figure
def _curves_panel(ax, st: dict, steps_key: str, key: str, ylabel: str, title: str, axis: str) -> None:
    """One quantity against G steps: each seed a faint line, coloured by gamma; axis 'fid', 'log' or 'linear'."""
    colours = plt.cm.viridis(np.linspace(0.0, 0.85, len(st)))
    for colour, (g, v) in zip(colours, st.items()):
        for j, (x, y) in enumerate(zip(v[steps_key], v[key])):
            ax.plot(x, y, "-", color=colour, lw=1.0, alpha=0.7, label=f"gamma = {g}" if j == 0 else None)
    figures.steps_axis(ax)
    if axis == "fid":
        figures.fid_axis(ax, ylabel)
    elif axis == "log":
        ax.set_yscale("log")
    ax.set(ylabel=ylabel, title=title)
    ax.legend(fontsize=7)


def _per_gamma(ax, st: dict, key: str, ylabel: str, title: str, log: bool) -> None:
    """A final quantity per gamma: every seed a dot, the mean a line (no error bars on a log axis)."""
    x = np.arange(len(st))
    if log:
        for i, v in enumerate(st.values()):
            ax.plot(np.full(len(v[key]), i), v[key], "o", color="C0", alpha=0.5)
        ax.plot(x, [np.mean(v[key]) for v in st.values()], "-", color="C0", label="mean over seeds (dots: seeds)")
        ax.set_yscale("log")
    else:
        figures.seed_errorbars(ax, x, [v[key] for v in st.values()], label="mean +- std over seeds (dots: seeds)")
    ax.set_xticks(x, [f"gamma = {g}" for g in st])
    ax.set(ylabel=ylabel, title=title)
    ax.legend(fontsize=7)


def plot(result: study.Result):
    """FID, ||grad_x D|| on real data and D's real logit over training; final norm, oscillation and FID per gamma."""
    st = result.data["summary"]
    fig, axes = plt.subplots(2, 3, figsize=(18, 10))
    _curves_panel(axes[0, 0], st, "fid_steps", "fid", result.data["fid_name"], "C11: FID over training", "fid")
    _curves_panel(
        axes[0, 1],
        st,
        "probe_steps",
        "grad_norm_curve",
        "mean ||grad_x D(x)||, x real",
        "C11: D's input-gradient norm on real data (what R1 penalises)",
        "log",
    )
    _curves_panel(
        axes[0, 2],
        st,
        "probe_steps",
        "real_logit_curve",
        "mean D logit on 512 fixed real images",
        "C11: D's real logit (oscillation: its std over the last half)",
        "linear",
    )
    _per_gamma(
        axes[1, 0],
        st,
        "grad_norm",
        "mean ||grad_x D|| on real, last quarter",
        "C11: final gradient norm against gamma",
        True,
    )
    _per_gamma(
        axes[1, 1],
        st,
        "oscillation",
        "std of D's real logit, last half",
        "C11: oscillation of D's logits against gamma",
        False,
    )
    _per_gamma(axes[1, 2], st, "fid_final", f"final {result.data['fid_name']}", "C11: final FID against gamma", False)
    fig.suptitle(f"r1_convergence ({result.config['steps']:,} G steps): {CLAIM}", fontsize=9)
    fig.tight_layout()
    return fig


def main(argv=None) -> dict:
    return study.main_of(__name__, argv, default_scale="quick")


if __name__ == "__main__":
    main()
