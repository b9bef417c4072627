"""discriminator_size: weak (small) discriminators let GANs drop modes, on Stacked MNIST (C12 at image scale).

Claim C12 (Arora et al. 2017; Arora, Risteski, Zhang 2018; Metz et al. 2017 / Lin et al. 2018): a discriminator
with m parameters is fooled by a generator of support about m log m / eps^2, so weak (small) discriminators allow
mode collapse, and a larger D covers more modes. The toy-level evidence is the study `critic_capacity`.
Here: the Metz et al. 2017 Stacked MNIST nets (`sandbox.nets.metz`, as configured in PacGAN's code) with D at 1/4
and 1/2 of G's filters and the paper's optimiser, over seeds; modes of 1000 and reverse KL(q || uniform) of 25,600
samples by the project's classifier every few thousand steps (modes-vs-steps curves, to show whether coverage has
plateaued), and at the end each generator's birthday-paradox support (C13: the study `birthday_support` reads
these records). Samples are scored with batch-statistics BatchNorm in batches of 128, as the reference code
samples. Published: Lin et al. 2018 (PacGAN), Table 3, Metz et al.'s DCGAN (0 unrolling steps), 500k iterations,
50 runs (../shared/REFERENCES.md); our steps and seeds are far fewer at `trained` scale, and the difference is
written next to every number. Controls: the ordering tests applied to the untrained generators (step 0).
Scales: smoke (seconds, the test suite; nothing trains), quick (minutes), trained (a stated CPU budget:
`estimate_minutes`, ~1.9 CPU-minutes per 1000 steps of one run), paper (the published protocol: a GPU or a cluster).
"""

import math
import time

import matplotlib.pyplot as plt
import torch

from sandbox.evaluation import mnist as ev
from sandbox.nets import param_count
from sandbox.reporting import figures, kit, study
from studies import _curves
from studies import _mnist_runs as mr

CLAIM = (
    "Weak (small) discriminators let GANs drop modes: on Stacked MNIST the Metz et al. GAN with D at 1/2 of G's "
    "filters covers more of the 1000 modes, with lower reverse KL, than with D at 1/4."
)
CLAIMS = ["C12"]
LEVELS = {"C12": "X"}
NEEDS_DATA = "mnist"  # tests/test_studies.py skips the study where MNIST is absent
SMOKE_MUST_PASS = False  # smoke trains a handful of steps: no check can hold there
# Metz et al. 2017 as configured in Lin et al.'s code (fjxmlzn/PacGAN, unrolled_GAN_experiment/D=0.25G/config.py):
# Adam lr_D 2e-4, lr_G 1e-4, betas (0.5, 0.99), batch 128, z 256, the non-saturating G loss, one D then one G step.
METZ = dict(
    data="stacked_mnist",
    net="metz",
    objective="nonsaturating",
    penalty="none",
    optimiser="adam",
    lr_d=2e-4,
    lr_g=1e-4,
    betas=(0.5, 0.99),
    batch=128,
    z_dim=256,
    n_critic=1,
    rule="alternating",
    ema_half_life=0.0,
)
SCALES = {
    "smoke": dict(d_width=[0.25, 0.5], seeds=1, steps=4, every=2, n_eval=256, birthday=None),
    "quick": dict(d_width=[0.25, 0.5], seeds=2, steps=2000, every=500, n_eval=5120, birthday=None),
    "trained": dict(
        d_width=[0.25, 0.5],
        seeds=5,
        steps=20000,
        every=2000,
        n_eval=25600,
        birthday=dict(sizes=[16, 32, 64, 128, 256, 512], trials=50),
    ),
    "paper": dict(
        d_width=[0.25, 0.5],
        seeds=50,
        steps=500_000,
        every=25_000,
        n_eval=25600,
        birthday=dict(sizes=[16, 32, 64, 128, 256, 512], trials=50),
    ),
}
# CPU-minutes per 1000 steps of one run on one thread, its evaluations included, calibrated on the committed
# records (the CPU their results carry: 35.6-41.0 CPU-min a 20,000-step point, 382 for the 10). Machines differ:
# on the AMD EPYC of 2026-12-07, beside a 1-thread grid worker (run_config + make_run, 500 steps of run_steps in
# process CPU time; then _curves.stacked_modes_row and the birthday test at this file's trained settings), 70.5
# CPU-s per 1000 training steps at d_width 0.25 and 72.8 at 0.5, 15.7 s per scoring of 25,600 samples (11 marks a
# run) and 37.7 s for the birthday test: 27.4 CPU-min a point, 1.37 per 1000 steps. The first figure was 1.5.
MINUTES_PER_1000_STEPS = 1.91
ALPHA = 0.05  # one-sided rank tests over seeds
PUBLISHED = {  # Lin et al. 2018 (PacGAN), Table 3: DCGAN with 0 unrolling steps, 50 runs, mean +- standard error
    "source": "Lin et al. 2018 (PacGAN), Table 3, Metz et al. 2017's DCGAN (0 unrolling steps)",
    "setting": "Metz et al. nets and optimiser, 500k iterations of batch 128, 50 runs, 25,600 samples scored",
    "modes": {"0.25": (30.6, 20.73), "0.5": (628.0, 140.9)},
    "reverse_kl": {"0.25": (5.99, 0.42), "0.5": (2.58, 0.75)},
}


def points(scale: str) -> list:
    """One run per (D size, seed)."""
    s = SCALES[scale]
    return [dict(d_width=w, seed=i) for w in s["d_width"] for i in range(s["seeds"])]


def settings(scale: str) -> dict:
    """What each point record holds as its settings: the scale's SCALES entry and the nets and optimiser (METZ), so
    a record made with other nets or optimiser settings is stale, not reused."""
    return dict(SCALES[scale], net=METZ)


def estimate_minutes(scale: str) -> float:
    """The CPU-minutes the scale's grid takes on one core."""
    s = SCALES[scale]
    return len(s["d_width"]) * s["seeds"] * s["steps"] / 1000 * MINUTES_PER_1000_STEPS


def run_point(point: dict, scale: str, seed: int, device=None, workdir=None) -> dict:
    """One Stacked MNIST run: its modes-vs-steps curve (resumable from workdir) and its birthday support."""
    clock = time.process_time()
    return dict(stacked_point(point, SCALES[scale], seed, device, workdir), cpu_s=time.process_time() - clock)


def run_config(d_width: float, steps: int, run_seed: int, device):
    """The trainer config of one run: METZ at d_width, in fp32 on every machine (the trainer's amp 'auto' is bf16
    for the Metz nets on CPUs with AMX, and a record must not depend on the machine that made it)."""
    return mr.mnist_config(METZ, dict(d_width=d_width, steps=steps, seed=run_seed), device=device)


def stacked_point(p: dict, cfg: dict, seed: int, device, workdir) -> dict:
    """A Metz et al. Stacked MNIST GAN with D at d_width of G's filters; modes and reverse KL every `every`
    steps (resumable from workdir), then the final generator's birthday-paradox support."""
    device = torch.device("cpu" if device is None else device)
    run_seed = 1000 * seed + int(p["seed"])
    config = run_config(p["d_width"], cfg["steps"], run_seed, device)
    marks = [0] + list(range(cfg["every"], cfg["steps"] + 1, cfg["every"]))
    eval_seed = 10_000 + run_seed  # the scoring latents: one fixed set per run, never the run's own streams
    rows, run, stopped = _curves.resumable_curve(
        config, marks, lambda r: _curves.stacked_modes_row(r, cfg["n_eval"], eval_seed), workdir
    )
    out = dict(
        d_width=p["d_width"],
        params_G=param_count(run.G),
        params_D=param_count(run.D),
        curve=rows,
        stopped_at=stopped,
        support=None,
        support_note="not run at this scale",
    )
    if cfg["birthday"] and stopped is None:
        b = ev.birthday_test(
            lambda n, g: _curves.stacked_samples(run, n, int(torch.randint(0, 2**31, (1,), generator=g))),
            cfg["birthday"]["sizes"],
            cfg["birthday"]["trials"],
            seed=run_seed,
            device=device,
        )
        out.update(
            support=b.support,
            support_note=b.note,
            duplicate_probs=b.curve.probs,
            birthday_sizes=b.curve.sizes,
            threshold=b.threshold,
        )
    return out


# ------------------------------------------------------------------------------------------------- summary
def summarise(results: dict, scale: str) -> dict:
    """Per D size: final modes and reverse KL per seed, the untrained (step 0) values, and the curves."""
    s, out = SCALES[scale], {}
    for w in s["d_width"]:
        runs = [results[kit.point_key(dict(d_width=w, seed=i))] for i in range(s["seeds"])]
        final = [r["curve"][-1] if r["curve"] else {} for r in runs]
        out[f"{w:g}"] = dict(
            d_width=w,
            params_D=runs[0]["params_D"],
            params_G=runs[0]["params_G"],
            modes=[f.get("modes", 0) for f in final],
            reverse_kl=[f.get("reverse_kl", math.nan) for f in final],
            untrained_modes=[r["curve"][0]["modes"] if r["curve"] else 0 for r in runs],
            untrained_reverse_kl=[r["curve"][0]["reverse_kl"] if r["curve"] else math.nan for r in runs],
            steps=[[row["step"] for row in r["curve"]] for r in runs],
            modes_curve=[[row["modes"] for row in r["curve"]] for r in runs],
            kl_curve=[[row["reverse_kl"] for row in r["curve"]] for r in runs],
            stopped_at=[r["stopped_at"] for r in runs],
            support=[r["support"] for r in runs],
        )
    return out


def make_checks(st: dict) -> tuple:
    """One-sided rank tests over seeds (D = 1/2 above D = 1/4 in modes, below in reverse KL): the checks, their
    controls and the tests' p-values."""
    quarter, half = st["0.25"], st["0.5"]
    tests = {
        "c12_stacked_half_d_covers_more_modes_than_quarter": ("modes", lambda a, b: kit.rank_test_greater(b, a)),
        "c12_stacked_reverse_kl_lower_at_half_d": ("reverse_kl", lambda a, b: kit.rank_test_greater(a, b)),
    }
    checks, controls, p_values = {}, {}, {}
    for name, (q, test) in tests.items():
        p_values[name] = float(test(quarter[q], half[q]).p)
        checks[name] = bool(p_values[name] < ALPHA)
        controls[name] = dict(
            control="the same one-sided rank test on the untrained generators (step 0)",
            control_passes=bool(test(quarter[f"untrained_{q}"], half[f"untrained_{q}"]).p < ALPHA),
        )
    return checks, controls, p_values


def headline(st: dict, scale: str) -> list:
    """Our modes and reverse KL per D size beside Table 3, with the setting difference."""
    cfg = SCALES[scale]
    diff = (
        f"{cfg['steps']:,} iterations and {cfg['seeds']} seeds here (published: 500,000 and 50); G's step draws "
        f"fresh latents (the reference code reuses the D step's); mean +- std over seeds (published: +- s.e.)"
    )
    rows = []
    for w, v in st.items():
        for q, label in (("modes", "modes covered of 1000"), ("reverse_kl", "reverse KL(q || uniform), nats")):
            mean, std = kit.mean_std(v[q])
            pub = PUBLISHED[q].get(w)
            rows.append(
                kit.Headline(
                    "C12",
                    f"Stacked MNIST {label}, D = {w} G (Metz et al. nets)",
                    mean,
                    std,
                    None if pub is None else f"{pub[0]} +- {pub[1]}",
                    PUBLISHED["source"],
                    diff,
                )._asdict()
            )
    return rows


def run(scale: str = "quick", seed: int = 0, device=None, results=None) -> study.Result:
    """Summarise every run's record, then the checks with their controls and the ledger rows."""
    results = study.run_grid(points(scale), lambda k: run_point(kit.parse_point(k), scale, seed, device), results)
    st = summarise(results, scale)
    checks, controls, p_values = make_checks(st)
    cfg = dict(SCALES[scale], seed=seed, metz=METZ, alpha=ALPHA, estimate_minutes=estimate_minutes(scale))
    data = dict(
        stacked=st,
        rank_test_p=p_values,
        published=PUBLISHED,
        headline=headline(st, scale),
        cpu_s_total=sum(r["cpu_s"] for r in results.values()),
    )
    return study.Result(config=cfg, data=data, checks=checks, controls=controls)


# --------------------------------------------------------------------------------------------------- figure
def _stacked_curves(ax, st: dict, q: str, label: str) -> None:
    """Modes (or reverse KL) against steps, one line per seed, coloured by D size, Table 3 as stars."""
    for i, (w, v) in enumerate(st.items()):
        for j, (steps, values) in enumerate(zip(v["steps"], v[f"{'modes' if q == 'modes' else 'kl'}_curve"])):
            ax.plot(steps, values, "-", color=f"C{i}", alpha=0.6, label=f"D = {w} G" if j == 0 else None)
        pub = PUBLISHED[q].get(w)
        if pub and v["steps"] and v["steps"][0]:
            figures.published_marker(ax, max(v["steps"][0]), pub[0], source="Table 3 (500k steps)", color=f"C{i}")
    ax.set(xlabel="generator steps", ylabel=label, title=f"C12 Stacked MNIST: {label} over training")
    ax.legend(fontsize=7)


def _final_panel(ax, st: dict) -> None:
    """Final modes per seed against D size, beside Table 3 (mean +- standard error over 50 runs)."""
    x = [float(w) for w in st]
    figures.seed_errorbars(ax, x, [v["modes"] for v in st.values()], label="ours, final (mean +- std, dots: seeds)")
    for i, (w, xi) in enumerate(zip(st, x)):
        pub = PUBLISHED["modes"].get(w)
        if pub:
            ax.errorbar(
                [xi],
                [pub[0]],
                yerr=[pub[1]],
                fmt="k*",
                ms=12,
                label="Table 3, 500k steps (+- s.e.)" if i == 0 else None,
            )
    ax.set(
        xticks=x,
        xlabel="D filters / G filters",
        ylabel="modes covered of 1000",
        ylim=(0, 1000),
        title="C12 Stacked MNIST: final modes beside Table 3",
    )
    ax.legend(fontsize=7)


def plot(result: study.Result):
    """Modes and reverse KL over training per run (Table 3 as stars), and the final modes against D size."""
    st = result.data["stacked"]
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.2))
    _stacked_curves(axes[0], st, "modes", "modes covered of 1000")
    _stacked_curves(axes[1], st, "reverse_kl", "reverse KL(q || uniform), nats")
    _final_panel(axes[2], st)
    cfg, p = result.config, result.data.get("rank_test_p", {})
    tests = ", ".join(f"{'modes' if 'modes' in k else 'reverse KL'} p = {v:.3g}" for k, v in p.items())
    fig.suptitle(
        f"C12 discriminator size on Stacked MNIST: {cfg['steps']:,} G steps x {cfg['seeds']} seeds per D size "
        f"(Table 3: 500,000 x 50 runs); one-sided rank tests over seeds, {tests}",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def main(argv=None) -> dict:
    return study.main_of(__name__, argv, default_scale="quick")


if __name__ == "__main__":
    main()
