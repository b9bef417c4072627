"""saturation_at_scale: when D confidently rejects, the saturating G loss starves and -log D keeps its gradient.

Claim C6 (Goodfellow et al. 2014, Sec. 3; Ilin and Zhan lectures), at image scale: the saturating generator loss
log(1 - D(G(z))) has a vanishing gradient when D confidently rejects (D(G(z)) -> 0); the non-saturating
-log D(G(z)) does not. In logit space (t = logit D(G(z))) the per-sample gradients are -D and -(1 - D)
(studies/saturation.py), so through the same nets the norm ratio ||grad_theta -log D|| / ||grad_theta log(1 - D)||
is predicted to be about (1 - D)/D at the batch's mean D(G(z)). That is exact only when every sample has the same D
and the per-sample Jacobians add coherently; how close the measured ratio comes is this study's evidence.
How: the DCGAN trajectory of `studies._mnist_runs.dcgan_trajectory` (the trainer's dcgan preset, the -log D loss;
shared with dcgan_mnist and vanishing_gradients, trained here when no other study left it). (1) Across training:
at every mark, the run's own G and D, both losses' ||grad_theta|| on one fixed latent batch (the registered
`minimax` and `nonsaturating` G terms), and the mean D(G(z)). (2) Early in training (G at 0, 0.1 and 0.5 epochs):
G frozen, the run's D trained further against it (its own Adam state goes on: `sandbox.trainer.probes.probe_fixed_g`)
until it rejects confidently, the same measurements at log-spaced D iterations. Every check has a control that must
fail it: the null prediction that both losses pull equally, the probes where D is unsure, the D before its extra
training, and the other loss.
Scales: smoke (seconds, the test suite; nothing trains), quick (minutes: 2 epochs, 200 D iterations, 1 seed),
trained (25 epochs of a width-1/4 DCGAN at batch 64, 500 D iterations, 3 seeds: `estimate_minutes`), paper
(Radford et al.'s width 1 and batch 128, 1000 D iterations: a GPU).
"""

import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from sandbox.evaluation import probe
from sandbox.reporting import kit, study
from sandbox.trainer import probes
from sandbox.trainer.config import z_size
from studies import _mnist_runs as mr

CLAIM = (
    "Through the same DCGAN nets on MNIST, ||grad_theta|| of -log D(G(z)) over that of log(1 - D(G(z))) follows the "
    "logit-space factor (1 - D)/D across training: once D confidently rejects fakes the saturating gradient is "
    "orders of magnitude smaller, while the -log D gradient does not vanish."
)
CLAIMS = ["C6"]
LEVELS = {"C6": "X"}
NEEDS_DATA = "mnist"  # reads $SANDBOX_DATA/mnist (the trainer's data), never downloads
# Smoke affords 30 D steps at DCGAN's lr 2e-4, too few for D to reject confidently (quick reaches < 1e-3 in 200)
SMOKE_MUST_PASS = False
SCALES = {  # early: epochs (marks of the trajectory) at which G is frozen and the run's D trained d_iters more
    "smoke": dict(trajectory="smoke", early=(0, 0.001), d_iters=30, eval_n=64),
    "quick": dict(trajectory="quick", early=(0, 0.1, 0.5), d_iters=200, eval_n=128),
    "trained": dict(trajectory="trained", early=(0, 0.1, 0.5), d_iters=500, eval_n=256),
    "paper": dict(trajectory="paper", early=(0, 0.1, 0.5), d_iters=1000, eval_n=1024),
}
# D iterations per CPU-second, the probes across training included. trained: calibrated on the records of 2026-12-07
# (a point's cpu_s less its trajectory's: 32.3, 31.4 and 33.7 for 3 x 500 iterations; the first figure was 20)
D_SPEED = {"trained": 32.4, "paper": 1.0}
AGREE = 2.0  # the measured norm ratio within a factor 2 of (1 - D)/D at every probe (quick: within 5%, measured)
REJECTS = 1e-2  # D "confidently rejects" when mean D(G(z)) < 0.01: (1 - D)/D > 99
MUCH_SMALLER = 10.0  # ... and then the -log D gradient must be at least 10x the saturating one
UNSURE = 0.1  # the control probes: mean D(G(z)) >= 0.1, where (1 - D)/D < 9
MAX_NS_ORDERS = 1.0  # as D learns to reject, the -log D norm falls by less than one order of magnitude


# The shared DCGAN trajectory: records hold its spec as settings; --list counts its CPU-minutes once over studies.
settings, shared_minutes = mr.trajectory_hooks(SCALES)


def points(scale: str) -> list:
    """One grid point per training seed."""
    return [dict(seed=i) for i in range(mr.DCGAN_TRAJECTORIES[SCALES[scale]["trajectory"]]["seeds"])]


def estimate_minutes(scale: str) -> float:
    """CPU-minutes alone on one thread: the shared trajectories plus the early D runs."""
    s = SCALES[scale]
    seeds = mr.DCGAN_TRAJECTORIES[s["trajectory"]]["seeds"]
    return (
        mr.trajectory_minutes(s["trajectory"])
        + seeds * len(s["early"]) * s["d_iters"] / D_SPEED.get(scale, D_SPEED["trained"]) / 60
    )


def _series(logs: list) -> dict:
    """Lists of both norms, mean and median D(G(z)) and accuracy from probe_point results."""
    return dict(
        saturating=[p["grad_norm"]["minimax"] for p in logs],
        nonsaturating=[p["grad_norm"]["nonsaturating"] for p in logs],
        d_fake=[p["d_fake"] for p in logs],
        median_d_fake=[p["median_d_fake"] for p in logs],
        accuracy=[p["accuracy"] for p in logs],
    )


def run_point(point: dict, scale: str, seed: int, device=None, workdir=None) -> dict:
    """One seed: both losses' norms at every mark of the trajectory, then the early frozen-G runs of its D."""
    clock, s = time.process_time(), SCALES[scale]
    spec = mr.DCGAN_TRAJECTORIES[s["trajectory"]]
    traj = mr.dcgan_trajectory(spec, mr.run_seed(seed, point["seed"]), torch.device(device or "cpu"), workdir)
    out = dict(seed=traj.run.cfg.seed, stopped_at=traj.stopped_at, trajectory_cpu_s=traj.cpu_s)
    if traj.stopped_at is not None:
        return dict(out, cpu_s=time.process_time() - clock)
    run, probe_seed = traj.run, 30_000 + traj.run.cfg.seed  # probe draws: never the run's own streams
    g = torch.Generator(run.device).manual_seed(probe_seed)
    real = run.source.sample(s["eval_n"], g)
    z = torch.randn((s["eval_n"], z_size(run.cfg)), generator=g, device=run.device)
    steps = [r["step"] for r in traj.rows]
    across = [probe.probe_point(*mr.players_at(traj, k), real, z) for k in steps]  # copies: BN stats stay put
    out["across"] = dict(step=steps, epochs=[r["epochs"] for r in traj.rows], **_series(across))
    out["early"] = {}
    for e in s["early"]:
        step = mr.epoch_steps(e, spec["batch"])
        G, D = mr.players_at(traj, step)
        # D goes on as the run would, its Adam moments included: a fresh Adam makes lr-sized first steps in every
        # weight, which at quick scale knocked mean D(G(z)) about between 0.01 and 0.5
        opt_d = mr.snapshot_at(traj, step)["opt_d"]
        log = probes.probe_fixed_g(
            run, G, s["d_iters"], probe.log_iterations(s["d_iters"], 4), probe_seed, s["eval_n"], D=D, opt_state=opt_d
        )
        out["early"][f"{e:g}"] = dict(
            iteration=log["iteration"],
            saturating=log["grad_norm"]["minimax"],
            nonsaturating=log["grad_norm"]["nonsaturating"],
            d_fake=log["d_fake"],
            median_d_fake=log["median_d_fake"],
            accuracy=log["accuracy"],
        )
    return dict(out, cpu_s=time.process_time() - clock)


# ------------------------------------------------------------------------------------------------- summary
def probes_of(runs: list) -> dict:
    """Every probe of every seed (across training and early runs): mean D(G(z)), measured and predicted ratio."""
    parts = [r["across"] for r in runs] + [e for r in runs for e in r["early"].values()]
    d = np.concatenate([p["d_fake"] for p in parts])
    measured = np.concatenate([np.asarray(p["nonsaturating"]) / np.asarray(p["saturating"]) for p in parts])
    return dict(d_fake=d, measured=measured, predicted=(1 - d) / d)


def make_checks(runs: list) -> tuple:
    """The checks over every probe of every seed, each with the same test on a control that must fail it."""
    p = probes_of(runs)
    agree = lambda predicted: bool(np.all(np.abs(np.log(p["measured"] / predicted)) <= np.log(AGREE)))  # noqa: E731
    rejecting, unsure = p["d_fake"] < REJECTS, p["d_fake"] >= UNSURE
    smaller = lambda pick: bool(pick.any() and p["measured"][pick].min() >= MUCH_SMALLER)  # noqa: E731
    early = [e for r in runs for e in r["early"].values()]
    rejects = lambda i: all(e["d_fake"][i] < REJECTS for e in early)  # noqa: E731
    keeps = lambda q: all(probe.orders_of_decay(e[q]) <= MAX_NS_ORDERS for e in early)  # noqa: E731
    names = (
        "norm_ratio_within_2x_of_1_minus_d_over_d_at_every_probe",
        "saturating_grad_10x_smaller_whenever_d_rejects",
        "run_d_trained_on_frozen_early_g_rejects_confidently",
        "nonsaturating_grad_falls_under_1_order_as_d_learns_to_reject",
    )
    checks = dict(zip(names, (agree(p["predicted"]), smaller(rejecting), rejects(-1), keeps("nonsaturating"))))
    controls = dict(
        zip(
            names,
            (
                dict(control="the null prediction 'both losses pull equally' (ratio 1)", control_passes=agree(1.0)),
                dict(
                    control=f"the same test on the probes where D is unsure (D(G(z)) >= {UNSURE:g})",
                    control_passes=smaller(unsure),
                ),
                dict(control="the same D before its extra training (iteration 0)", control_passes=rejects(0)),
                dict(control="the same test on the saturating loss's norm", control_passes=keeps("saturating")),
            ),
        )
    )
    return checks, controls


def headline(runs: list, scale: str) -> list:
    """How close the measured ratio comes to (1 - D)/D, and the ratio at the most confident D, over seeds."""
    s, t = SCALES[scale], mr.DCGAN_TRAJECTORIES[SCALES[scale]["trajectory"]]
    diff = (
        f"{scale} scale: DCGAN widths {t['width']:g} (paper 1), batch {t['batch']}, {max(t['marks']):g} epochs, "
        f"{t['seeds']} seed(s); the run's D trained {s['d_iters']} more steps against G frozen at "
        f"{', '.join(f'{e:g}' for e in s['early'])} epochs"
    )
    per_seed = [probes_of([r]) for r in runs]
    worst = [float(np.max(np.abs(np.log10(q["measured"] / q["predicted"])))) for q in per_seed]
    top = [float(q["measured"][np.argmin(q["d_fake"])]) for q in per_seed]
    low = [float(np.min(q["d_fake"])) for q in per_seed]
    src = "Goodfellow et al. 2014, Sec. 3 (qualitative: log(1 - D) saturates early in learning)"
    return [
        kit.Headline(
            "C6", "largest |log10(measured ratio / (1 - D)/D)| over every probe", *kit.mean_std(worst), None, src, diff
        )._asdict(),
        kit.Headline("C6", "lowest mean D(G(z)) probed", *kit.mean_std(low), None, src, diff)._asdict(),
        kit.Headline("C6", "||grad|| ratio -log D / log(1 - D) there", *kit.mean_std(top), None, src, diff)._asdict(),
    ]


def run(scale: str = "quick", seed: int = 0, device=None, results=None) -> study.Result:
    """Every seed's probes, the checks with their controls, and the ledger rows."""
    results = study.run_grid(points(scale), lambda k: run_point(kit.parse_point(k), scale, seed, device), results)
    runs = [results[kit.point_key(p)] for p in points(scale)]
    t = mr.DCGAN_TRAJECTORIES[SCALES[scale]["trajectory"]]
    cfg = dict(
        SCALES[scale],
        seed=seed,
        trajectory_spec=t,
        steps_per_epoch=mr.MNIST_TRAIN / t["batch"],
        objective_for_g_training="nonsaturating",
        thresholds=dict(
            agree=AGREE, rejects=REJECTS, much_smaller=MUCH_SMALLER, unsure=UNSURE, max_ns_orders=MAX_NS_ORDERS
        ),
        estimate_minutes=estimate_minutes(scale),
    )
    if any(r["stopped_at"] is not None for r in runs):
        checks = {"every_seed_trains_to_the_end": False}
        controls = {"every_seed_trains_to_the_end": {"no_control": "a seed stopped on a non-finite loss"}}
        return study.Result(config=cfg, data=dict(runs=results, headline=[]), checks=checks, controls=controls)
    checks, controls = make_checks(runs)
    p = probes_of(runs)
    data = dict(
        runs=results,
        probes=int(len(p["d_fake"])),
        probes_with_confident_d=int((p["d_fake"] < REJECTS).sum()),
        measured_over_predicted_range=[
            float((p["measured"] / p["predicted"]).min()),
            float((p["measured"] / p["predicted"]).max()),
        ],
        headline=headline(runs, scale),
        cpu_s_total=sum(r["cpu_s"] for r in runs),
    )
    return study.Result(config=cfg, data=data, checks=checks, controls=controls)


# --------------------------------------------------------------------------------------------------- figure
def _across_panel(ax, runs: list) -> None:
    """Both norms along the trajectory (the run's own G and D), mean D(G(z)) on a twin axis."""
    twin = ax.twinx()
    for j, r in enumerate(runs):
        a = r["across"]
        e = np.maximum(np.asarray(a["epochs"], float), 0.05)
        ax.loglog(e, a["saturating"], "o-", ms=3, color="C3", alpha=0.7, label="log(1 - D)" if j == 0 else None)
        ax.loglog(e, a["nonsaturating"], "s-", ms=3, color="C0", alpha=0.7, label="-log D" if j == 0 else None)
        twin.semilogx(e, a["d_fake"], ":", color="k", alpha=0.6, label="mean D(G(z))" if j == 0 else None)
    twin.set_ylabel("mean D(G(z))")
    ax.set(
        xlabel="epochs (step 0 drawn at 0.05)",
        ylabel=r"$\|\nabla_\theta L_G\|$",
        title="(a) across training: the run's own G and D",
    )
    twin.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="lower left")


def _ratio_panel(ax, runs: list) -> None:
    """Measured norm ratio against (1 - D)/D at every probe, the factor-2 band and the null prediction."""
    for j, r in enumerate(runs):
        a = probes_of([dict(r, early={})])
        ax.loglog(
            a["predicted"], a["measured"], "o", ms=4, color="C2", alpha=0.7, label="across training" if j == 0 else None
        )
        e = probes_of([dict(r, across=dict(d_fake=[], nonsaturating=[], saturating=[]))])
        ax.loglog(
            e["predicted"],
            e["measured"],
            "s",
            ms=4,
            color="C1",
            alpha=0.7,
            label="G frozen early, D trained on" if j == 0 else None,
        )
    p = probes_of(runs)
    grid = np.logspace(np.log10(p["predicted"].min()) - 0.2, np.log10(p["predicted"].max()) + 0.2, 50)
    ax.loglog(grid, grid, "k-", lw=1, label="(1 - D)/D at the mean D")
    ax.fill_between(grid, grid / AGREE, grid * AGREE, color="grey", alpha=0.2, label=f"within {AGREE:g}x (check)")
    ax.axhline(1.0, color="r", ls=":", label="null: both losses pull equally")
    ax.set(
        xlabel="predicted (1 - D)/D",
        ylabel=r"measured $\|\nabla\|$ of -log D / of log(1 - D)",
        title="(b) measured ratio against the prediction",
    )
    ax.legend(fontsize=8)


def _early_panel(ax, runs: list) -> None:
    """Both norms against the extra D iterations, one colour per frozen early G."""
    for j, r in enumerate(runs):
        for i, (e, log) in enumerate(r["early"].items()):
            it = np.maximum(np.asarray(log["iteration"], float), 0.5)
            ax.loglog(
                it, log["saturating"], color=f"C{i}", lw=2, label=f"G at {e} epochs: log(1 - D)" if j == 0 else None
            )
            ax.loglog(it, log["nonsaturating"], color=f"C{i}", lw=1, ls="--")
    ax.plot([], [], "k--", lw=1, label="dashed: -log D")
    ax.set(
        xlabel="D iterations against the frozen G (0 drawn at 0.5)",
        ylabel=r"$\|\nabla_\theta L_G\|$",
        title="(c) early G frozen: the saturating norm falls as D rejects",
    )
    ax.legend(fontsize=8, loc="lower left")


def plot(result: study.Result):
    """Norms along training, measured vs predicted ratio, and the early frozen-G runs."""
    runs = [r for r in result.data["runs"].values() if r.get("stopped_at") is None]
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.4))
    if runs:
        _across_panel(axes[0], runs)
        _ratio_panel(axes[1], runs)
        _early_panel(axes[2], runs)
    cfg = result.config
    fig.suptitle(
        f"C6 saturation at image scale, DCGAN on MNIST: {cfg['trajectory']} trajectory, seeds as repeated marks",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def main(argv=None) -> dict:
    return study.main_of(__name__, argv, default_scale="quick")


if __name__ == "__main__":
    main()
