"""discriminator_size: small discriminators are fooled by small supports, and let GANs drop modes.

Claim C12 (Arora et al. 2017; Arora, Risteski, Zhang 2018; Metz et al. 2017 / Lin et al. 2018): a discriminator
with m parameters is fooled by a generator whose support has about m log m / eps^2 points, so weak (small)
discriminators allow mode collapse, and a larger D covers more modes. Three parts, each a set of grid points:
- toy: a generator uniform on k samples of N(0, I_2) (Arora et al. 2017, Thm. 4.1) against an MLP critic with 2
  hidden ReLU layers of h units (m parameters) trained with the minimax D loss (`games.network_game`); the
  advantage E_real sigmoid(D) - E_fake sigmoid(D) on fresh draws over the (k, m) grid, beside k = m log m.
  Control: the same critics untrained.
- mixtures: the trainer's MLP GAN on the ring and the grid (z_dim 2) with D's hidden width d_width x 128 against
  G's 128, over seeds: modes covered and high-quality share, with the share of a uniform smear over the plotted
  square as the control level a trained generator must clearly beat.
- Stacked MNIST: the Metz et al. 2017 nets (`sandbox.nets.metz`, as configured in PacGAN's code) with D at 1/4
  and 1/2 of G's filters, the paper's optimiser, over seeds; modes of 1000 and reverse KL(q || uniform) of 25,600
  samples by the project's classifier, every few thousand steps (modes-vs-steps curves), and at the end each
  generator's birthday-paradox support (C13; its study `birthday_support` reads these records).
Published: Lin et al. 2018 (PacGAN), Table 3, Metz et al.'s DCGAN (0 unrolling steps), 500k iterations, 50 runs
(../shared/REFERENCES.md). Our step count and seeds are far fewer at `trained` scale; the difference is written
next to every number.
Scales: smoke (seconds, the test suite; nothing trains), quick (minutes), trained (a stated CPU budget:
`estimate_minutes`), paper (the published protocol: a GPU or a cluster).
"""

import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from sandbox import data as sdata
from sandbox.dynamics import grads_y, optimiser_step
from sandbox.evaluation import mnist as ev
from sandbox.games import network_game
from sandbox.nets import mlp_discriminator, param_count
from sandbox.objectives import get_objective
from sandbox.reporting import figures, kit, study
from sandbox.trainer import runlog as tl
from sandbox.trainer.config import make_config
from sandbox.trainer.loop import make_run, run_steps
from studies import _curves

CLAIM = (
    "Small discriminators are fooled by small supports (k ~ m log m) and let GANs drop modes: the toy advantage "
    "falls with k and rises with m; a wider D covers more 2-D and Stacked MNIST modes."
)
CLAIMS = ["C12"]
NEEDS_DATA = "mnist"  # the Stacked MNIST part; tests/test_studies.py skips the study where MNIST is absent
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
    "smoke": dict(
        toy=dict(k=[4, 1024], h=[2, 8], steps=60, batch=128, n_eval=4000),
        mix=dict(data=["ring"], d_width=[1 / 16, 1.0], seeds=1, steps=20, n_eval=500),
        stacked=dict(d_width=[0.25, 0.5], seeds=1, steps=4, every=2, n_eval=256, birthday=None),
    ),
    "quick": dict(
        toy=dict(k=[4, 16, 64, 256, 1024, 4096, 16384], h=[2, 4, 8, 16, 32], steps=1000, batch=256, n_eval=20000),
        mix=dict(data=["ring", "grid"], d_width=[1 / 16, 1 / 4, 1.0], seeds=3, steps=2000, n_eval=2000),
        stacked=dict(d_width=[0.25, 0.5], seeds=2, steps=2000, every=500, n_eval=5120, birthday=None),
    ),
    "trained": dict(
        toy=dict(k=[4, 16, 64, 256, 1024, 4096, 16384], h=[2, 4, 8, 16, 32], steps=2000, batch=256, n_eval=20000),
        mix=dict(data=["ring", "grid"], d_width=[1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0], seeds=5, steps=10000, n_eval=5000),
        stacked=dict(
            d_width=[0.25, 0.5],
            seeds=5,
            steps=20000,
            every=2000,
            n_eval=25600,
            birthday=dict(sizes=[16, 32, 64, 128, 256, 512], trials=50),
        ),
    ),
    "paper": dict(
        toy=dict(
            k=[4, 16, 64, 256, 1024, 4096, 16384, 65536], h=[2, 4, 8, 16, 32, 64], steps=5000, batch=512, n_eval=50000
        ),
        mix=dict(
            data=["ring", "grid"],
            d_width=[1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0, 2.0],
            seeds=10,
            steps=20000,
            n_eval=5000,
        ),
        stacked=dict(
            d_width=[0.25, 0.5],
            seeds=50,
            steps=500_000,
            every=25_000,
            n_eval=25600,
            birthday=dict(sizes=[16, 32, 64, 128, 256, 512], trials=50),
        ),
    ),
}
# CPU-minutes per point on one core, measured on this machine (Metz G + D: ~12 it/s at batch 128, 1 thread)
MINUTES = {"toy": 0.05, "mix": 0.02 / 1000, "stacked": 1.5 / 1000}  # toy per point; mix, stacked per 1000 steps
TOY_LR, TOY_BETAS = 1e-3, (0.5, 0.999)  # Adam for the toy critics: fast, and beta1 0.5 as in DCGAN
MIX_Z_DIM = 2  # as in studies/mixtures_2d (PacGAN's 2-D latent size)
FOOLED = 0.05  # "fooled": the advantage is within eps = 0.05 of 0
SMEAR_MARGIN = 3.0  # "clearly above" the uniform smear: at least 3x its high-quality share
ALPHA = 0.05  # one-sided rank tests over seeds
PUBLISHED = {  # Lin et al. 2018 (PacGAN), Table 3: DCGAN with 0 unrolling steps, 50 runs, mean +- standard error
    "source": "Lin et al. 2018 (PacGAN), Table 3, Metz et al. 2017's DCGAN (0 unrolling steps)",
    "setting": "Metz et al. nets and optimiser, 500k iterations of batch 128, 50 runs, 25,600 samples scored",
    "modes": {"0.25": (30.6, 20.73), "0.5": (628.0, 140.9)},
    "reverse_kl": {"0.25": (5.99, 0.42), "0.5": (2.58, 0.75)},
}


def points(scale: str) -> list:
    """Toy (k, h) points and their untrained controls, 2-D (data, d_width, seed) runs, Stacked MNIST runs."""
    s = SCALES[scale]
    toy = [dict(part="toy", k=k, h=h, trained=t) for h in s["toy"]["h"] for k in s["toy"]["k"] for t in (True, False)]
    mix = [
        dict(part="mix", data=d, d_width=w, seed=i)
        for d in s["mix"]["data"]
        for w in s["mix"]["d_width"]
        for i in range(s["mix"]["seeds"])
    ]
    stacked = [
        dict(part="stacked", d_width=w, seed=i) for w in s["stacked"]["d_width"] for i in range(s["stacked"]["seeds"])
    ]
    return toy + mix + stacked


def estimate_minutes(scale: str) -> float:
    """The CPU-minutes the scale's grid takes on one core (MINUTES), summed over its points."""
    s = SCALES[scale]
    n_toy = 2 * len(s["toy"]["k"]) * len(s["toy"]["h"]) * s["toy"]["steps"] / 1000
    n_mix = len(s["mix"]["data"]) * len(s["mix"]["d_width"]) * s["mix"]["seeds"] * s["mix"]["steps"]
    n_stacked = len(s["stacked"]["d_width"]) * s["stacked"]["seeds"] * s["stacked"]["steps"]
    return n_toy * MINUTES["toy"] + n_mix * MINUTES["mix"] + n_stacked * MINUTES["stacked"]


def run_point(point: dict, scale: str, seed: int, device=None, workdir=None) -> dict:
    """JSON-able numbers for one grid point (its part says which)."""
    clock = time.process_time()
    cfg = SCALES[scale][point["part"]]
    if point["part"] == "toy":
        out = toy_point(point, cfg, seed)
    elif point["part"] == "mix":
        out = mix_point(point, cfg, seed)
    else:
        out = stacked_point(point, cfg, seed, device, workdir)
    return dict(out, cpu_s=time.process_time() - clock)


def toy_point(p: dict, cfg: dict, seed: int) -> dict:
    """Advantage of an h-unit MLP critic (trained, or untrained: the control) against the uniform law on k atoms."""
    k, h, batch = int(p["k"]), int(p["h"]), cfg["batch"]
    g = torch.Generator().manual_seed(10_000 * seed + 7 * k + h)
    atoms = torch.randn(k, 2, generator=g)  # (k, 2): the generator's whole support
    D = mlp_discriminator(in_dim=2, hidden=h, depth=2, generator=torch.Generator().manual_seed(seed + h))
    real, fake = lambda: torch.randn(batch, 2, generator=g), lambda: atoms[torch.randint(0, k, (batch,), generator=g)]
    game = network_game(nn.Identity(), D, real, fake, objective=get_objective("minimax"))
    step = optimiser_step(torch.optim.Adam(D.parameters(), lr=TOY_LR, betas=TOY_BETAS))
    for _ in range(cfg["steps"] if p["trained"] else 0):
        step(game.y, grads_y(game))
    with torch.no_grad():  # fresh draws of both laws: an unbiased estimate of the critic's advantage
        n = cfg["n_eval"]
        d_real = torch.sigmoid(D(torch.randn(n, 2, generator=g))).double()
        d_fake = torch.sigmoid(D(atoms[torch.randint(0, k, (n,), generator=g)])).double()
    m = param_count(D)
    return dict(k=k, h=h, m=m, m_log_m=m * math.log(m), advantage=float(d_real.mean() - d_fake.mean()))


def mix_point(p: dict, cfg: dict, seed: int) -> dict:
    """One 2-D MLP GAN through the trainer with D's hidden width d_width x 128: its final mode statistics."""
    run = make_run(
        make_config(
            dict(
                data=p["data"],
                d_width=p["d_width"],
                steps=cfg["steps"],
                z_dim=MIX_Z_DIM,
                seed=1000 * seed + int(p["seed"]),
                device="cpu",
                progress=False,
            )
        )
    )
    run_steps(run, cfg["steps"])
    stats = tl.mode_stats(tl.generate(run, cfg["n_eval"]), run.source.centres, run.source.std)
    return dict(stats, params_D=param_count(run.D), params_G=param_count(run.G))


def uniform_smear(data: str, n: int = 200_000) -> dict:
    """The mode statistics of samples uniform on the plotted square [-1.25 r, 1.25 r]^2 (r: the farthest centre)."""
    mix = sdata.MIXTURES[data]
    centres = mix.centres()
    lim = 1.25 * float(centres.abs().max())
    x = (torch.rand(n, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1) * lim
    return tl.mode_stats(x, centres, mix.std)


def stacked_point(p: dict, cfg: dict, seed: int, device, workdir) -> dict:
    """A Metz et al. Stacked MNIST GAN with D at d_width of G's filters; modes and reverse KL every `every`
    steps (resumable from workdir), then the final generator's birthday-paradox support."""
    device = torch.device("cpu" if device is None else device)
    run_seed = 1000 * seed + int(p["seed"])
    config = make_config(
        dict(
            METZ,
            d_width=p["d_width"],
            steps=cfg["steps"],
            seed=run_seed,
            device=str(device),
            data_dir=str(sdata.data_root()),
            progress=False,
        )
    )
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
    """Toy advantage matrices (trained and untrained) over (h, k); 2-D statistics per width; Stacked MNIST per D."""
    s = SCALES[scale]

    def grid_of(trained: bool) -> list:
        return [
            [results[kit.point_key(dict(part="toy", k=k, h=h, trained=trained))]["advantage"] for k in s["toy"]["k"]]
            for h in s["toy"]["h"]
        ]

    first = [results[kit.point_key(dict(part="toy", k=s["toy"]["k"][0], h=h, trained=True))] for h in s["toy"]["h"]]
    toy = dict(
        k=s["toy"]["k"],
        h=s["toy"]["h"],
        m=[r["m"] for r in first],
        m_log_m=[r["m_log_m"] for r in first],
        advantage=grid_of(True),
        untrained_advantage=grid_of(False),
    )
    mix = {}
    for d in s["mix"]["data"]:
        smear = uniform_smear(d)
        for w in s["mix"]["d_width"]:
            runs = [
                results[kit.point_key(dict(part="mix", data=d, d_width=w, seed=i))] for i in range(s["mix"]["seeds"])
            ]
            mix[f"{d}/{w:g}"] = dict(
                data=d,
                d_width=w,
                hidden_D=round(128 * w),
                params_D=runs[0]["params_D"],
                of_modes=runs[0]["of_modes"],
                modes=[r["modes"] for r in runs],
                high_quality=[r["high_quality"] for r in runs],
                smear=smear,
            )
    stacked = {}
    for w in s["stacked"]["d_width"]:
        runs = [results[kit.point_key(dict(part="stacked", d_width=w, seed=i))] for i in range(s["stacked"]["seeds"])]
        final = [r["curve"][-1] if r["curve"] else {} for r in runs]
        stacked[f"{w:g}"] = dict(
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
    return dict(toy=toy, mix=mix, stacked=stacked)


def toy_tests(adv, toy) -> dict:
    """The three toy verdicts on an advantage matrix (h rows, k columns)."""
    adv, k = np.asarray(adv), np.asarray(toy["k"], dtype=float)
    beyond = k[None, :] >= np.asarray(toy["m_log_m"])[:, None]
    return dict(
        falls_with_k=bool((adv[:, 0] - adv[:, -1] >= FOOLED).all()),  # every critic tells the smallest support apart
        rises_with_m=bool(adv[-1, 0] - adv[0, 0] >= 2 * FOOLED),  # the largest critic beats the smallest there
        fooled_beyond=bool(beyond.any() and (np.abs(adv[beyond]) < FOOLED).all()),
        fooled_below=bool((~beyond).any() and (np.abs(adv[~beyond]) < FOOLED).all()),
    )


def wider_covers_more(rows: list) -> bool:
    """The widest D covers more modes than the narrowest (means), with a high-quality share clearly above smear."""
    narrow, wide = rows[0], rows[-1]
    return bool(
        np.mean(wide["modes"]) > np.mean(narrow["modes"])
        and np.mean(wide["high_quality"]) >= SMEAR_MARGIN * wide["smear"]["high_quality"]
    )


def make_checks(summary: dict) -> tuple:
    """The checks and their controls, every one computed from the summary."""
    toy, mix, st = summary["toy"], summary["mix"], summary["stacked"]
    trained, untrained = toy_tests(toy["advantage"], toy), toy_tests(toy["untrained_advantage"], toy)
    checks, controls = {}, {}
    for name, verdict in (
        ("c12_toy_advantage_falls_with_support_k", "falls_with_k"),
        ("c12_toy_advantage_rises_with_critic_size_m", "rises_with_m"),
    ):
        checks[name] = trained[verdict]
        controls[name] = dict(control="the same critics untrained (0 steps)", control_passes=untrained[verdict])
    checks["c12_toy_fooled_beyond_m_log_m"] = trained["fooled_beyond"]
    controls["c12_toy_fooled_beyond_m_log_m"] = dict(
        control="the same test on the trained points below k = m log m", control_passes=trained["fooled_below"]
    )
    for d in sorted({v["data"] for v in mix.values()}):
        rows = sorted((v for v in mix.values() if v["data"] == d), key=lambda v: v["d_width"])
        smear = dict(rows[-1], modes=[rows[-1]["smear"]["modes"]], high_quality=[rows[-1]["smear"]["high_quality"]])
        checks[f"c12_{d}_widest_d_covers_more_modes_beating_a_uniform_smear"] = wider_covers_more(rows)
        controls[f"c12_{d}_widest_d_covers_more_modes_beating_a_uniform_smear"] = dict(
            control=f"a uniform smear over the plotted square in place of the widest D's samples "
            f"({rows[-1]['smear']['high_quality']:.2%} high-quality)",
            control_passes=wider_covers_more([rows[0], smear]),
        )
    quarter, half = st["0.25"], st["0.5"]
    tests = {
        "c12_stacked_half_d_covers_more_modes_than_quarter": ("modes", lambda a, b: kit.rank_test_greater(b, a)),
        "c12_stacked_reverse_kl_lower_at_half_d": ("reverse_kl", lambda a, b: kit.rank_test_greater(a, b)),
    }
    for name, (q, test) in tests.items():
        checks[name] = bool(test(quarter[q], half[q]).p < ALPHA)
        controls[name] = dict(
            control="the same one-sided rank test on the untrained generators (step 0)",
            control_passes=bool(test(quarter[f"untrained_{q}"], half[f"untrained_{q}"]).p < ALPHA),
        )
    return checks, controls


def headline(summary: dict, scale: str) -> list:
    """Our Stacked MNIST modes and reverse KL per D size beside Table 3, with the setting difference."""
    cfg = SCALES[scale]["stacked"]
    diff = (
        f"{cfg['steps']:,} iterations and {cfg['seeds']} seeds here (published: 500,000 and 50); G's step draws "
        f"fresh latents (the reference code reuses the D step's); mean +- std over seeds (published: +- s.e.)"
    )
    rows = []
    for w, v in summary["stacked"].items():
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
    """Summarise every grid point's record, then the checks with their controls and the ledger rows."""
    results = study.run_grid(points(scale), lambda k: run_point(kit.parse_point(k), scale, seed, device), results)
    summary = summarise(results, scale)
    checks, controls = make_checks(summary)
    cfg = dict(
        SCALES[scale],
        seed=seed,
        metz=METZ,
        toy_lr=TOY_LR,
        toy_betas=TOY_BETAS,
        mix_z_dim=MIX_Z_DIM,
        fooled_advantage=FOOLED,
        smear_margin=SMEAR_MARGIN,
        alpha=ALPHA,
        estimate_minutes=estimate_minutes(scale),
    )
    data = dict(
        summary,
        published=PUBLISHED,
        headline=headline(summary, scale),
        cpu_s_total=sum(r["cpu_s"] for r in results.values()),
    )
    return study.Result(config=cfg, data=data, checks=checks, controls=controls)


# --------------------------------------------------------------------------------------------------- figure
def _toy_panel(ax, toy: dict) -> None:
    """Advantage against support k per critic size m (dotted: k = m log m), untrained critics in grey."""
    k, m = np.asarray(toy["k"]), np.asarray(toy["m"])
    for i, (mi, trained, raw) in enumerate(zip(m, toy["advantage"], toy["untrained_advantage"])):
        ax.semilogx(k, trained, "o-", color=f"C{i}", label=f"m = {int(mi)}")
        ax.semilogx(k, raw, ".", color="0.6", ms=4)
        ax.axvline(mi * np.log(mi), color=f"C{i}", ls=":", lw=1)
    ax.axhline(FOOLED, color="grey", ls="--", label=f"fooled: advantage < {FOOLED}")
    ax.plot([], [], ".", color="0.6", label="untrained critics (control)")
    ax.set(
        xlabel="generator support k (dotted: k = m log m)",
        ylabel="advantage on fresh draws",
        title="C12 toy: advantage falls with k, rises with m",
    )
    ax.legend(fontsize=7)


def _mix_panel(ax, mix: dict, data: str) -> None:
    """Modes (left axis) and high-quality share (right axis) against D width, with the uniform smear's share."""
    rows = sorted((v for v in mix.values() if v["data"] == data), key=lambda v: v["d_width"])
    w = [r["d_width"] for r in rows]
    figures.seed_errorbars(ax, w, [r["modes"] for r in rows], label="modes covered", color="C0")
    ax.set_xscale("log", base=2)
    ax.set(
        ylim=(0, rows[0]["of_modes"] + 0.5),
        xlabel="D width (G 128 units; D 128 x width)",
        ylabel=f"modes covered of {rows[0]['of_modes']}",
    )
    twin = ax.twinx()
    figures.seed_errorbars(
        twin, w, [r["high_quality"] for r in rows], label="high-quality share (%)", color="C3", scale=100.0
    )
    twin.axhline(100 * rows[0]["smear"]["high_quality"], color="C3", ls=":", label="uniform smear (control)")
    twin.set(ylim=(0, 105), ylabel="high-quality samples (%)")
    figures.twin_legend(ax, twin, fontsize=7, loc="center right")
    ax.set_title(f"C12 {data}: mean +- std over {len(rows[0]['modes'])} seeds")


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


def plot(result: study.Result):
    """Toy advantages, 2-D width sweeps, Stacked MNIST modes and reverse KL over training beside Table 3."""
    d = result.data
    fig, axes = plt.subplots(2, 3, figsize=(18, 10.5))
    _toy_panel(axes[0, 0], d["toy"])
    for j, data in enumerate(sorted({v["data"] for v in d["mix"].values()}, key=["ring", "grid"].index)):
        _mix_panel(axes[0, 1 + j], d["mix"], data)
    _stacked_curves(axes[1, 0], d["stacked"], "modes", "modes covered of 1000")
    _stacked_curves(axes[1, 1], d["stacked"], "reverse_kl", "reverse KL(q || uniform), nats")
    ax = axes[1, 2]
    x = [float(w) for w in d["stacked"]]
    figures.seed_errorbars(ax, x, [v["modes"] for v in d["stacked"].values()], label="ours, final (seeds)")
    for w, xi in zip(d["stacked"], x):
        pub = PUBLISHED["modes"].get(w)
        if pub:
            ax.errorbar(
                [xi], [pub[0]], yerr=[pub[1]], fmt="k*", ms=12, label="Table 3 (+- s.e.)" if xi == x[0] else None
            )
    ax.set(
        xticks=x,
        xlabel="D filters / G filters",
        ylabel="modes covered of 1000",
        ylim=(0, 1000),
        title="C12 Stacked MNIST: final modes beside Table 3",
    )
    ax.legend(fontsize=7)
    fig.suptitle(f"discriminator size ({result.config.get('scale_name', '')}): {CLAIM}", fontsize=10)
    fig.tight_layout()
    return fig


def main(argv=None) -> dict:
    return study.main(
        "discriminator_size",
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
