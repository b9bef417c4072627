"""dynamics_at_scale: simultaneous, alternating, extragradient and optimistic updates of an MNIST DCGAN, each with
its raw generator and two averages of it (an EMA and a uniform average of the iterates).

Claims C8 (Mescheder, Geiger, Nowozin 2018) and C9 (Daskalakis et al. 2018; Gidel et al. 2019; Yazici et al. 2019;
the Risteski lecture) at image scale. On the Dirac-GAN and the bilinear game (studies dirac_gan, bilinear_cycling)
simultaneous gradient steps spiral out, alternating steps cycle, extragradient and optimistic steps converge, and
the average of the iterates converges where the iterates cycle. Here the same update rules of `sandbox.dynamics`
(the trainer's `rule`) train the DCGAN of preset `dcgan` (the non-saturating loss, Adam 2e-4, betas (0.5, 0.999)):
simultaneous (both players step from the same point), alternating (D first, one D step per G step), extragradient
(a look-ahead step, then the real step from the start with the look-ahead gradients; both half-steps update Adam's
moments, Extra-Adam of Gidel et al. 2019, Alg. 4: two gradient evaluations per player per G step, the others one)
and optimistic (z + 2 d_t - d_{t-1}, d_t Adam's step; Daskalakis et al. 2018). Comparisons are at equal G steps, and
the seeds are paired across rules (the same initial G and D, the same data and noise streams).
Averages of G's weights, neither fed back into training: an EMA with beta = 0.999 per G step (a half-life of 692.8
steps: GAN_stability's beta, as the project's DCGAN trajectory uses), and the uniform average of the iterates from
step UNIFORM_FROM (a fraction of the run: `dynamics.average_update`, kept in the rule's checkpointed state, so a
resumed run continues it bit for bit). The uniform average skips the first half of the run, a burn-in as
Polyak-Ruppert tail averaging and SWA use: the bilinear toy averages from step 1, where every iterate is already on
its orbit about the equilibrium, whereas a network's early iterates are far from where training settles. Every
generator is scored with its BatchNorm statistics recomputed the same way (`runlog.ema_copy`: 16 batches of N(0, I)
latents on CPU seed cfg.seed + 4), so that raw and averaged G differ in their weights only; G with its own running
statistics is reported beside. Named deviations: batch 64 (the preset's 128 halved for the CPU, as dcgan.torch's
default and the other MNIST studies' batch), the DCGAN nets at width WIDTH. Measured: FID (MNIST-classifier features,
not Inception FID) of each generator on the run's fixed z every `fid_every` G steps and on `n_final` samples at the
end. Checks, each with a control that must fail it: the EMA and the uniform average each beat the raw G for every rule
in the mean over seeds (control: the untrained G, where both averages equal it); the toy's predictions at scale, seed
by seed: alternating, extragradient and optimistic each beat simultaneous (control: the untrained G, the same for
every rule of a seed); every rule's FID has plateaued (control: the first half of the same curves). The order of the
rules is reported with its spread beside the toys'. Scales: smoke (seconds, the test suite; nothing trains), quick
(minutes: 1 seed, 800 G steps), trained (3 seeds, 15,000 G steps: `estimate_minutes`), paper (width 1, batch 128, 20k
G steps: a GPU). The trained scale first stopped at 5,000 G steps, where FID still fell 12-17% from the third to the
last quarter; a pre-registered pilot (2026-12-07, the alternating rule, seeds 0 and 1, this code at 15,000 steps and
FID every 500) found the raw FID's change over the last half down to 8.6% and 5.6% (the plateau check allows 10%), the
EMA 2.1 and 0.2 FID below the raw G at the end, and the uniform average of steps 7,500-15,000 still 1.6 and 4.1 above
it. So 15,000 is the trained scale, and the uniform average's lag is not a matter of run length alone.
A second pilot (2026-12-07, all 12 points of this run_point at 30,000 G steps, on another machine than the records',
with the rule, set down before it ran, that the trained scale stays 15,000 since its plateau check passes): raw mean
FID 121.0 +- 7.7 (simultaneous), 121.3 +- 5.7 (alternating), 102.0 +- 7.0 (extragradient), 105.2 +- 8.3
(optimistic), late changes 3.4-7.0% (the plateau check allows 10%); the EMA beats the raw G for every rule, the
uniform average (steps 15,000-30,000) for alternating and extragradient only, and alternating beats simultaneous in
1 seed of 3.
"""

import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from sandbox.evaluation import mnist as ev
from sandbox.reporting import figures, kit, study
from sandbox.trainer import runlog as tl
from sandbox.trainer.presets import R1_EMA_HALF_LIFE, preset
from studies import _curves
from studies import _mnist_dynamics as md
from studies import _mnist_runs as mr

CLAIM = (
    "On an MNIST DCGAN trained to a plateau, an EMA and a uniform average of G's iterates each reach a lower FID "
    "than the raw G under every update rule, and alternating, extragradient and optimistic updates each beat "
    "simultaneous updates, as on the Dirac-GAN and bilinear games."
)
CLAIMS = ["C8", "C9"]
LEVELS = {"C8": "X", "C9": "X"}
NEEDS_DATA = "mnist"  # tests/test_studies.py skips the study where MNIST is absent
SMOKE_MUST_PASS = False  # smoke trains 8 steps of width-1/8 nets: no check can hold there
RULES = ("simultaneous", "alternating", "extragradient", "optimistic")
GRADS_PER_STEP = {"simultaneous": 1, "alternating": 1, "extragradient": 2, "optimistic": 1}  # per player
GENERATORS = ("raw", "ema", "uniform")  # every one scored with recomputed BatchNorm statistics
WIDTH = 0.125  # G 32-16, D 16-32 channels: an eighth of the DCGAN nets, for the CPU budget (see STEP_S)
UNIFORM_FROM = 0.5  # the uniform average starts after this fraction of the G steps (a burn-in)
# the toys' order of the rules, best first, in tiers (studies bilinear_cycling and dirac_gan, a fixed step size):
# extragradient and optimistic contract to the equilibrium, alternating cycles about it, simultaneous spirals out
TOY_TIERS = (("extragradient", "optimistic"), ("alternating",), ("simultaneous",))
PRESET = "dcgan"  # Radford et al.'s settings: the configs train with it, the records hold it
SCALES = {
    "smoke": dict(width=0.125, batch=16, seeds=1, steps=8, fid_every=4, n_fid=200, n_final=200),
    "quick": dict(width=WIDTH, batch=64, seeds=1, steps=800, fid_every=100, n_fid=2000, n_final=5000),
    "trained": dict(width=WIDTH, batch=64, seeds=3, steps=15_000, fid_every=500, n_fid=2000, n_final=10000),
    "paper": dict(width=1.0, batch=128, seeds=3, steps=20_000, fid_every=1000, n_fid=10000, n_final=10000),
}
# CPU-seconds per G step on one thread, measured here under load (2 shared cores; ~1.5x less on a quiet core), batch
# 64, 300 steps: extragradient evaluates both players' gradients twice per G step. Width 1: 6x width 1/4's, an estimate.
# Machines differ: on the AMX Xeon of 2026-12-07 a 15,000-step alternating point took 5.8 CPU-min with its FIDs,
# against 14.9 by these figures. Width 1/8, the trained scale's, is calibrated on its committed records (2026-12-07:
# each rule's mean cpu_s over 3 seeds of 15,000 G steps, less the FID_S evaluations): 2.6-3.1x below the first
# figures (0.0555 and 0.094 for extragradient), which were taken under heavier load and before the matmul layers.
STEP_S = {
    0.125: {"simultaneous": 0.0181, "alternating": 0.0179, "extragradient": 0.0361, "optimistic": 0.0179},
    0.25: {"simultaneous": 0.089, "alternating": 0.091, "extragradient": 0.177, "optimistic": 0.088},
    1.0: {"simultaneous": 0.53, "alternating": 0.55, "extragradient": 1.06, "optimistic": 0.53},
}


def settings(scale: str) -> dict:
    """What each point record holds as its settings: the scale's SCALES entry and the dcgan preset, so a record
    made under another preset is stale, not reused."""
    return dict(SCALES[scale], preset=preset(PRESET))


def points(scale: str) -> list:
    """One run per (rule, seed); the seeds are paired across rules."""
    return [dict(rule=r, seed=i) for r in RULES for i in range(SCALES[scale]["seeds"])]


def estimate_minutes(scale: str) -> float:
    """The CPU-minutes of the whole grid on one thread: training at STEP_S plus every FID (with batch 128 at paper
    scale, twice batch 64's cost)."""
    s, w = SCALES[scale], SCALES[scale]["width"]
    train = sum(s["steps"] * STEP_S[w][r] for r in RULES) * s["batch"] / 64
    curve = len(md.marks(s["steps"], s["fid_every"])) * (3 - UNIFORM_FROM) * md.fid_cost(w, s["n_fid"])
    return s["seeds"] * (train + len(RULES) * (curve + 4 * md.fid_cost(w, s["n_final"]))) / 60


def config(rule: str, s: dict, run_seed: int, device):
    """Preset dcgan with the rule, an EMA of beta 0.999, and the scale's width, batch and steps."""
    layer = dict(
        rule=rule,
        ema_half_life=R1_EMA_HALF_LIFE,
        batch=s["batch"],
        g_width=s["width"],
        d_width=s["width"],
        steps=s["steps"],
        seed=run_seed,
    )
    return mr.mnist_config(preset(PRESET), layer, device=device)


def generators(run) -> dict:
    """The raw G, its EMA and its uniform average, each with recomputed BatchNorm statistics. Before the uniform
    average starts it is None, except at step 0, where the average of the one iterate so far is G itself."""
    uniform, _ = md.uniform_weights(run)
    if uniform is None and run.state["step"] == 0:
        uniform = list(run.G.parameters())
    return {
        "raw": md.with_bn_recomputed(run, list(run.G.parameters())),
        "ema": tl.ema_generator(run),
        "uniform": None if uniform is None else md.with_bn_recomputed(run, uniform),
    }


def run_point(point: dict, scale: str, seed: int, device=None, workdir=None) -> dict:
    """One rule and seed: FID of the raw, EMA and uniform-average G over training (resumable), then at the end."""
    clock, s = time.process_time(), SCALES[scale]
    device = torch.device(device or "cpu")
    cfg = config(point["rule"], s, 1000 * seed + int(point["seed"]), device)
    start = int(UNIFORM_FROM * s["steps"])

    def evaluate(run) -> dict:
        row = {f"fid_{k}": None if G is None else md.fid_of(run, G, s["n_fid"]) for k, G in generators(run).items()}
        return dict(row, uniform_count=md.uniform_weights(run)[1])

    rows, run, stopped = _curves.resumable_curve(
        cfg,
        md.marks(s["steps"], s["fid_every"]),
        evaluate,
        workdir,
        prepare=lambda r: md.with_uniform_average(r, start),
    )
    final = {k: math.nan for k in GENERATORS + ("running",)}
    if stopped is None:
        final = {k: (math.nan if G is None else md.fid_of(run, G, s["n_final"])) for k, G in generators(run).items()}
        final["running"] = mr.fid_now(run, s["n_final"])
    return dict(
        rule=point["rule"],
        seed=cfg.seed,
        curve=rows,
        stopped_at=stopped,
        final=final,
        uniform_from=start,
        cpu_s=time.process_time() - clock,
    )


# ------------------------------------------------------------------------------------------------- summary
def summarise(results: dict, scale: str) -> dict:
    """Per rule: each seed's final FID of every generator, its untrained FID, the curves and their plateau."""
    s, out = SCALES[scale], {}
    for rule in RULES:
        runs = [results[kit.point_key(dict(rule=rule, seed=i))] for i in range(s["seeds"])]
        steps = [[r["step"] for r in run["curve"]] for run in runs]
        curves = {g: [[r[f"fid_{g}"] for r in run["curve"]] for run in runs] for g in GENERATORS}
        mean_steps, mean_raw = md.mean_curve(steps, curves["raw"])
        out[rule] = dict(
            final={g: [run["final"][g] for run in runs] for g in GENERATORS + ("running",)},
            start={g: [c[0] if c else math.nan for c in curves[g]] for g in GENERATORS},
            steps=steps,
            curves=curves,
            mean_steps=mean_steps,
            mean_raw=mean_raw,
            plateau=md.plateau(mean_steps, mean_raw),
            stopped_at=[run["stopped_at"] for run in runs],
        )
    return out


def order(st: dict, generator: str = "raw") -> list:
    """The rules by mean final FID of a generator, best first, each with its mean, std and seed range."""
    rows = [(r, *kit.mean_std(v["final"][generator]), *kit.spread(v["final"][generator])) for r, v in st.items()]
    return [dict(rule=r, mean=m, std=sd, min=lo, max=hi) for r, m, sd, lo, hi in sorted(rows, key=lambda t: t[1])]


def matches_toy(st: dict) -> bool:
    """Whether every rule of a better toy tier has a lower mean final FID (raw G) than every rule of a worse one."""
    mean = {r: kit.mean_std(v["final"]["raw"])[0] for r, v in st.items()}
    return all(
        mean[a] < mean[b]
        for i, tier in enumerate(TOY_TIERS)
        for worse in TOY_TIERS[i + 1 :]
        for a in tier
        for b in worse
    )


def make_checks(st: dict) -> tuple:
    """The checks and their controls, every one computed from the summary."""
    mean = lambda v: kit.mean_std(v)[0]  # noqa: E731
    averaged = lambda g, key: all(mean(v[key][g]) < mean(v[key]["raw"]) for v in st.values())  # noqa: E731
    beats = lambda rule, key: all(  # noqa: E731  (seed by seed, paired)
        a < b for a, b in zip(st[rule][key]["raw"], st["simultaneous"][key]["raw"])
    )
    plateaued, plateau_control = md.plateau_verdict(st.values())
    checks = {
        "c9_ema_beats_raw_for_every_rule": averaged("ema", "final"),
        "c9_uniform_average_beats_raw_for_every_rule": averaged("uniform", "final"),
        "c8_alternating_beats_simultaneous_every_seed": beats("alternating", "final"),
        "c9_extragradient_beats_simultaneous_every_seed": beats("extragradient", "final"),
        "c9_optimistic_beats_simultaneous_every_seed": beats("optimistic", "final"),
        "c9_fid_plateaued_for_every_rule": plateaued,
    }
    untrained = dict(control="the untrained generators (step 0), where every average equals G")
    same = dict(control="the untrained generators (step 0), the same for every rule of a seed")
    controls = {
        "c9_ema_beats_raw_for_every_rule": dict(untrained, control_passes=averaged("ema", "start")),
        "c9_uniform_average_beats_raw_for_every_rule": dict(untrained, control_passes=averaged("uniform", "start")),
        "c8_alternating_beats_simultaneous_every_seed": dict(same, control_passes=beats("alternating", "start")),
        "c9_extragradient_beats_simultaneous_every_seed": dict(same, control_passes=beats("extragradient", "start")),
        "c9_optimistic_beats_simultaneous_every_seed": dict(same, control_passes=beats("optimistic", "start")),
        "c9_fid_plateaued_for_every_rule": plateau_control,
    }
    return checks, controls


def headline(st: dict, scale: str) -> list:
    """Final FID of every rule and generator (no published values on these features), and the order of the rules."""
    s = SCALES[scale]
    diff = (
        f"DCGAN nets at width {s['width']}, batch {s['batch']}, {s['steps']:,} G steps on MNIST, {s['seeds']} seeds; "
        "the convergence results are for the Dirac-GAN and bilinear games, and Gidel et al. 2019 / Daskalakis et al. "
        "2018 / Yazici et al. 2019 trained WGAN(-GP) and DCGANs on CIFAR-10 and other image sets"
    )
    rows = [
        kit.Headline(
            "C9" if rule != "alternating" else "C8",
            f"final {ev.FID_NAME}, {rule}, {g} G",
            *kit.mean_std(v["final"][g]),
            None,
            "no published value on these features",
            diff,
        )._asdict()
        for rule, v in st.items()
        for g in GENERATORS
    ]
    text = ", ".join(f"{o['rule']} {o['mean']:.1f} +- {o['std'] or 0:.1f}" for o in order(st))
    rows.append(
        kit.Headline(
            "C9",
            "order of the rules by mean final FID of the raw G (best first)",
            text,
            None,
            " before ".join(" = ".join(t) for t in TOY_TIERS),
            "studies bilinear_cycling and dirac_gan: contract, cycle, spiral out (distance to the equilibrium)",
            diff,
        )._asdict()
    )
    return rows


def run(scale: str = "quick", seed: int = 0, device=None, results=None) -> study.Result:
    """Summarise every run's record, then the checks with their controls, the order of the rules and the ledger rows."""
    results = study.run_grid(points(scale), lambda k: run_point(kit.parse_point(k), scale, seed, device), results)
    st = summarise(results, scale)
    checks, controls = make_checks(st)
    cfg = dict(
        SCALES[scale],
        seed=seed,
        rules=list(RULES),
        grads_per_step=GRADS_PER_STEP,
        preset=preset(PRESET),
        ema_half_life=R1_EMA_HALF_LIFE,
        uniform_from=UNIFORM_FROM,
        bn_batches=tl.BN_BATCHES,
        plateau_tol=md.PLATEAU_TOL,
        estimate_minutes=estimate_minutes(scale),
    )
    data = dict(
        summary=st,
        order={g: order(st, g) for g in GENERATORS},
        toy_tiers=[list(t) for t in TOY_TIERS],
        order_matches_toy=matches_toy(st),
        headline=headline(st, scale),
        fid_name=ev.FID_NAME,
        cpu_s_total=sum(r["cpu_s"] for r in results.values()),
    )
    return study.Result(config=cfg, data=data, checks=checks, controls=controls)


# --------------------------------------------------------------------------------------------------- figure
COLOURS = {
    "simultaneous": "tab:red",
    "alternating": "tab:blue",
    "extragradient": "tab:green",
    "optimistic": "tab:purple",
}
TITLES = {"raw": "raw G", "ema": "EMA of G (beta 0.999)", "uniform": "uniform average of G's iterates (second half)"}


def _curve_panel(ax, st: dict, g: str, name: str) -> None:
    """FID of one generator against G steps, each seed a line, coloured by rule."""
    for rule, v in st.items():
        for j, (x, y) in enumerate(zip(v["steps"], v["curves"][g])):
            pts = [(a, b) for a, b in zip(x, y) if b is not None]
            if pts:
                ax.plot(*zip(*pts), "o-", ms=2, lw=1.0, alpha=0.7, color=COLOURS[rule], label=rule if j == 0 else None)
    figures.steps_axis(ax)
    figures.fid_axis(ax, name)
    ax.set_title(f"C8/C9: FID of the {TITLES[g]}")
    ax.legend(fontsize=7)


def _final_panel(ax, st: dict, name: str) -> None:
    """Final FID per rule for each generator: every seed a dot, the mean +- std (linear axis)."""
    x = np.arange(len(RULES))
    for k, g in enumerate(GENERATORS):
        figures.seed_errorbars(ax, x + 0.2 * (k - 1), [st[r]["final"][g] for r in RULES], label=TITLES[g], fmt="o")
    ax.set_xticks(x, [f"{r}\n({GRADS_PER_STEP[r]} grad/step)" for r in RULES], fontsize=8)
    ax.set(ylabel=f"final {name}", title="C8/C9: final FID per rule and generator (mean +- std, dots: seeds)")
    ax.legend(fontsize=7)


def plot(result: study.Result):
    """FID of the raw, EMA and uniform-average G against G steps per rule, and the final values side by side."""
    st, name = result.data["summary"], result.data["fid_name"]
    fig, axes = plt.subplots(2, 2, figsize=(14, 10))
    for ax, g in zip(axes.flat, GENERATORS):
        _curve_panel(ax, st, g, name)
    _final_panel(axes[1, 1], st, name)
    fig.suptitle(f"dynamics_at_scale ({result.config['steps']:,} G steps): {CLAIM}", fontsize=9)
    fig.tight_layout()
    return fig


def main(argv=None) -> dict:
    return study.main_of(__name__, argv, default_scale="quick")


if __name__ == "__main__":
    main()
