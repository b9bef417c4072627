"""critic_capacity: small critics are fooled by small supports, and let 2-D GANs drop modes (C12 at toy level).

Claim C12 (Arora et al. 2017; Arora, Risteski, Zhang 2018; Metz et al. 2017 / Lin et al. 2018): a discriminator
with m parameters is fooled by a generator whose support has about m log m / eps^2 points, so weak (small)
discriminators allow mode collapse, and a larger D covers more modes. The image-scale evidence (Stacked MNIST on
the Metz et al. nets) is the study `discriminator_size`. Two parts, each a set of grid points:
- toy: a generator uniform on k samples of N(0, I_2) (Arora et al. 2017, Thm. 4.1) against an MLP critic with 2
  hidden ReLU layers of h units (m parameters) trained with the minimax D loss (`games.network_game`); the
  advantage E_real sigmoid(D) - E_fake sigmoid(D) on fresh draws over the (k, m) grid, beside k = m log m.
  Control: the same critics untrained.
- mixtures: the trainer's MLP GAN on the ring and the grid (z_dim 2) with D's hidden width d_width x 128 against
  G's 128, over seeds: modes covered and high-quality share, with the share of a uniform smear over the plotted
  square as the control level a trained generator must clearly beat.
Scales: smoke (seconds, the test suite; nothing trains), quick (minutes), trained (a stated CPU budget:
`estimate_minutes`), paper (the paper-sized grids).
"""

import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from sandbox import data as sdata
from sandbox.dynamics import grads_y, optimiser_step
from sandbox.games import network_game
from sandbox.nets import mlp_discriminator, param_count
from sandbox.objectives import get_objective
from sandbox.reporting import figures, kit, study
from sandbox.trainer import runlog as tl
from sandbox.trainer.config import make_config
from sandbox.trainer.loop import make_run, run_steps

CLAIM = (
    "Small critics are fooled by small supports (k ~ m log m) and let GANs drop modes: the toy advantage falls "
    "with k and rises with m; a wider D covers more 2-D modes."
)
CLAIMS = ["C12"]
LEVELS = {"C12": "T"}
SMOKE_MUST_PASS = False  # smoke trains a handful of steps: no check can hold there
SCALES = {
    "smoke": dict(
        toy=dict(k=[4, 1024], h=[2, 8], steps=60, batch=128, n_eval=4000),
        mix=dict(data=["ring"], d_width=[1 / 16, 1.0], seeds=1, steps=20, n_eval=500),
    ),
    "quick": dict(
        toy=dict(k=[4, 16, 64, 256, 1024, 4096, 16384], h=[2, 4, 8, 16, 32], steps=1000, batch=256, n_eval=20000),
        mix=dict(data=["ring", "grid"], d_width=[1 / 16, 1 / 4, 1.0], seeds=3, steps=2000, n_eval=2000),
    ),
    "trained": dict(
        toy=dict(k=[4, 16, 64, 256, 1024, 4096, 16384], h=[2, 4, 8, 16, 32], steps=2000, batch=256, n_eval=20000),
        mix=dict(data=["ring", "grid"], d_width=[1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0], seeds=5, steps=10000, n_eval=5000),
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
    ),
}
# CPU-minutes on one core: a toy point per 1000 D steps, a 2-D run per 1000 G steps; calibrated on the committed
# trained records (2026-12-07: 70 toy points of 2,000 steps took 1.2 CPU-min, 50 2-D runs of 10,000 steps 27.0;
# first figures 0.05 and 0.02)
MINUTES = {"toy": 0.0086, "mix": 0.054}
TOY_LR, TOY_BETAS = 1e-3, (0.5, 0.999)  # Adam for the toy critics: fast, and beta1 0.5 as in DCGAN
MIX_Z_DIM = 2  # as in studies/mixtures_2d (PacGAN's 2-D latent size)
FOOLED = 0.05  # "fooled": the advantage is within eps = 0.05 of 0
SMEAR_MARGIN = 3.0  # "clearly above" the uniform smear: at least 3x its high-quality share


def settings(scale: str) -> dict:
    """What each point record holds as its settings: the scale's SCALES entry and the constants its points read (the
    toy critics' Adam, the 2-D runs' latent size), so a record made with other constants is stale, not reused."""
    return dict(SCALES[scale], constants=dict(toy_lr=TOY_LR, toy_betas=TOY_BETAS, mix_z_dim=MIX_Z_DIM))


def points(scale: str) -> list:
    """Toy (k, h) points trained and untrained (the control), and 2-D (data, d_width, seed) runs."""
    s = SCALES[scale]
    toy = [dict(part="toy", k=k, h=h, trained=t) for h in s["toy"]["h"] for k in s["toy"]["k"] for t in (True, False)]
    mix = [
        dict(part="mix", data=d, d_width=w, seed=i)
        for d in s["mix"]["data"]
        for w in s["mix"]["d_width"]
        for i in range(s["mix"]["seeds"])
    ]
    return toy + mix


def estimate_minutes(scale: str) -> float:
    """The CPU-minutes the scale's grid takes on one core (MINUTES), summed over its points."""
    s = SCALES[scale]
    n_toy = 2 * len(s["toy"]["k"]) * len(s["toy"]["h"]) * s["toy"]["steps"] / 1000
    n_mix = len(s["mix"]["data"]) * len(s["mix"]["d_width"]) * s["mix"]["seeds"] * s["mix"]["steps"] / 1000
    return n_toy * MINUTES["toy"] + n_mix * MINUTES["mix"]


def run_point(point: dict, scale: str, seed: int, device=None) -> dict:
    """JSON-able numbers for one grid point (its part says which)."""
    clock = time.process_time()
    cfg = SCALES[scale][point["part"]]
    out = toy_point(point, cfg, seed) if point["part"] == "toy" else mix_point(point, cfg, seed)
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


# ------------------------------------------------------------------------------------------------- summary
def summarise(results: dict, scale: str) -> dict:
    """Toy advantage matrices (trained and untrained) over (h, k); 2-D statistics per D width."""
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
    return dict(toy=toy, mix=mix)


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
    toy, mix = summary["toy"], summary["mix"]
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
        name = f"c12_{d}_widest_d_covers_more_modes_beating_a_uniform_smear"
        checks[name] = wider_covers_more(rows)
        controls[name] = dict(
            control=f"a uniform smear over the plotted square in place of the widest D's samples "
            f"({rows[-1]['smear']['high_quality']:.2%} high-quality)",
            control_passes=wider_covers_more([rows[0], smear]),
        )
    return checks, controls


def run(scale: str = "quick", seed: int = 0, device=None, results=None) -> study.Result:
    """Summarise every grid point's record, then the checks with their controls."""
    results = study.run_grid(points(scale), lambda k: run_point(kit.parse_point(k), scale, seed, device), results)
    summary = summarise(results, scale)
    checks, controls = make_checks(summary)
    cfg = dict(
        SCALES[scale],
        seed=seed,
        toy_lr=TOY_LR,
        toy_betas=TOY_BETAS,
        mix_z_dim=MIX_Z_DIM,
        fooled_advantage=FOOLED,
        smear_margin=SMEAR_MARGIN,
        estimate_minutes=estimate_minutes(scale),
    )
    data = dict(summary, cpu_s_total=sum(r["cpu_s"] for r in results.values()))
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


def plot(result: study.Result):
    """Toy advantages against support and critic size; 2-D width sweeps against the uniform smear."""
    d = result.data
    datas = sorted({v["data"] for v in d["mix"].values()}, key=["ring", "grid"].index)
    fig, axes = plt.subplots(1, 1 + len(datas), figsize=(6 * (1 + len(datas)), 5))
    _toy_panel(axes[0], d["toy"])
    for ax, data in zip(axes[1:], datas):
        _mix_panel(ax, d["mix"], data)
    fig.suptitle(f"critic capacity: {CLAIM}", fontsize=10)
    fig.tight_layout()
    return fig


def main(argv=None) -> dict:
    return study.main_of(__name__, argv, default_scale="quick")


if __name__ == "__main__":
    main()
