"""discriminator_size: small discriminators are fooled by small supports, and let GANs drop modes.

Claim C12 (Arora et al. 2017; Arora, Risteski, Zhang 2018; Metz et al. 2017 / Lin et al. 2018): a discriminator
with m parameters is fooled by a generator whose support has about m log m / eps^2 points, so weak (small)
discriminators allow mode collapse, and a larger D covers more modes.
Claim C13 (Arora, Risteski, Zhang 2018): if batches of s samples hold a duplicate with probability >= 1/2,
the support is about s^2 (`sandbox.evaluation.support`, fitted over every batch size by `evaluate.birthday_test`).
Three parts, each a set of grid points (`--shard i/n` spreads them):
- toy: a generator uniform on k samples of N(0, I_2) (the construction of Arora et al. 2017, Thm. 4.1) against
  an MLP critic D (2 hidden ReLU layers of h units, m parameters) trained with the minimax D loss through
  `games.network_game`; the distinguishing advantage E_real sigmoid(D) - E_fake sigmoid(D) on fresh draws,
  over the (k, m) grid, beside the curve k = m log m.
- mixtures: the trainer's MLP GAN on the ring and the grid (`mixtures_2d` settings, z_dim 2) with D's hidden
  width d_width x 128 against G's 128, several seeds; modes covered and high-quality samples (mean +- std).
- Stacked MNIST: the trainer's DCGAN (`sandbox.nets`) with D at 1/4, 1/2 and 1 times G's width, several seeds;
  modes (of 1000) and reverse KL(q || uniform) by the MNIST classifier (`evaluate.stacked_modes`), and the
  birthday-paradox support (`evaluate.birthday_test`).
Published: Metz et al. 2017, Table 2 (reported again by Lin et al. 2018, PacGAN, Table 2) trains much smaller
DCGAN-like nets (D of 1/4 and 1/2 G's size) for 500k steps; its values were not transcribed here (see PUBLISHED).
Scales: smoke (seconds, the test suite: tiny grids, a few steps, no birthday test; no check can hold), quick
(minutes on 2 CPU cores: 1000 D steps per toy point, 600 G steps per 2-D run with 5 seeds, 200 G steps of a
quarter-width DCGAN with 3 seeds: far too short for the 2-D or Stacked MNIST orderings), full (the paper-sized GPU run:
5000 D steps, 10 seeds x 20k steps, and the PacGAN/Metz protocol of 500k G steps at full width).
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
from sandbox.reporting import study
from sandbox.trainer import runlog as tl
from sandbox.trainer.config import make_config, z_size
from sandbox.trainer.loop import make_run, run_steps

CLAIM = (
    "Small discriminators are fooled by small supports (k ~ m log m) and let GANs drop modes: the toy "
    "advantage falls with k and rises with m; wider D covers more 2-D and Stacked MNIST modes."
)
NEEDS_DATA = "mnist"  # the Stacked MNIST part; tests/test_studies.py skips the study where MNIST is absent
CLAIMS = ["C12", "C13"]
# The Stacked MNIST full run follows the Metz et al. 2017 protocol as configured in Lin et al.'s code
# (fjxmlzn/PacGAN, unrolled_GAN_experiment/D=0.25G/config.py): 500k iterations of batch 128, Adam lr_D 2e-4,
# lr_G 1e-4, betas (0.5, 0.99), z_dim 256, 25,600 samples scored. Our nets are the sandbox DCGAN, not theirs.
FULL_SMNIST = dict(g_width=1.0, steps=500_000, batch=128, lr_g=1e-4, lr_d=2e-4, betas=(0.5, 0.99), z_dim=256)
QUICK_SMNIST = dict(g_width=0.25, steps=200, batch=64, lr_g=1e-4, lr_d=2e-4, betas=(0.5, 0.99), z_dim=256)
SCALES = {
    "smoke": dict(
        toy=dict(k=[4, 1024], h=[2, 8], steps=60, batch=128, n_eval=4000),
        mix=dict(data=["ring"], d_width=[1 / 16, 1.0], seeds=1, steps=20, n_eval=500),
        smnist=dict(
            QUICK_SMNIST, g_width=0.125, steps=2, batch=16, ratios=[0.25, 1.0], seeds=1, n_eval=100, birthday=None
        ),
    ),
    "quick": dict(
        toy=dict(k=[4, 16, 64, 256, 1024, 4096, 16384], h=[2, 4, 8, 16, 32], steps=1000, batch=256, n_eval=20000),
        mix=dict(data=["ring", "grid"], d_width=[1 / 16, 1 / 4, 1.0], seeds=5, steps=600, n_eval=2000),
        smnist=dict(
            QUICK_SMNIST,
            ratios=[0.25, 0.5, 1.0],
            seeds=3,
            n_eval=5000,
            birthday=dict(sizes=[8, 16, 32, 64, 128], trials=10),
        ),
    ),
    "full": dict(
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
        smnist=dict(
            FULL_SMNIST,
            ratios=[0.25, 0.5, 1.0],
            seeds=3,
            n_eval=25600,
            birthday=dict(sizes=[16, 32, 64, 128, 256, 512], trials=50),
        ),
    ),
}
# Smoke runs a handful of steps: nothing has trained, so no check can hold there.
SMOKE_MUST_PASS = False
TOY_LR, TOY_BETAS = 1e-3, (0.5, 0.999)  # Adam for the toy critics: fast, and beta1 0.5 as in DCGAN
MIX_Z_DIM = 2  # as in studies/mixtures_2d (PacGAN's 2-D latent size; see its docstring)
FOOLED_ADVANTAGE = 0.05  # "fooled": the advantage is within 5 points of 0 (eps = 0.05)
PUBLISHED = {
    "source": "Metz et al. 2017, Table 2, as reported by Lin et al. 2018 (PacGAN), Table 2",
    "setting": "DCGAN-like G and D from Metz et al. App.; D at 1/4 and 1/2 of G's size; 500k steps; 25.6k samples",
    # Not transcribed: the table could not be read from a text source in this session (the PacGAN repository
    # holds it only as an image, stacked_MNIST_experiments/results/Table2.png). Fill in from the paper; never guess.
    "modes": {"0.25": None, "0.5": None, "1.0": None},
    "reverse_kl": {"0.25": None, "0.5": None, "1.0": None},
}


# --------------------------------------------------------------------------------------------- grid points
def points(scale: str) -> list:
    """One key per toy (k, h), per 2-D (data, d_width, seed) run and per Stacked MNIST (ratio, seed) run."""
    s = SCALES[scale]
    toy = [f"toy:k={k},h={h}" for h in s["toy"]["h"] for k in s["toy"]["k"]]
    mix = [
        f"mix:data={d},d_width={w:g},seed={i}"
        for d in s["mix"]["data"]
        for w in s["mix"]["d_width"]
        for i in range(s["mix"]["seeds"])
    ]
    smnist = [f"smnist:ratio={r:g},seed={i}" for r in s["smnist"]["ratios"] for i in range(s["smnist"]["seeds"])]
    return toy + mix + smnist


def _parse(point: str):
    part, rest = point.split(":")
    return part, {k: float(v) if k not in ("data",) else v for k, v in (kv.split("=") for kv in rest.split(","))}


def _threads(n: int):
    """Set torch's intra-op threads, returning the previous count (tiny MLPs run fastest on one)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    return before


def run_point(point: str, scale: str, seed: int, device=None) -> dict:
    """JSON-able numbers for one grid point (the part is the key's prefix)."""
    part, p = _parse(point)
    clock = time.process_time()
    if part == "smnist":
        out = _smnist_point(p, SCALES[scale]["smnist"], seed, device)
    else:
        before = _threads(1)
        try:
            out = (_toy_point if part == "toy" else _mix_point)(p, SCALES[scale][part], seed)
        finally:
            torch.set_num_threads(before)
    out["cpu_s"] = time.process_time() - clock
    return out


def _toy_point(p: dict, cfg: dict, seed: int) -> dict:
    """Advantage of an h-unit MLP critic trained to tell N(0, I_2) from the uniform law on k of its samples."""
    k, h, batch = int(p["k"]), int(p["h"]), cfg["batch"]
    g = torch.Generator().manual_seed(10_000 * seed + 7 * k + h)
    atoms = torch.randn(k, 2, generator=g)  # (k, 2): the generator's whole support
    D = mlp_discriminator(in_dim=2, hidden=h, depth=2, generator=torch.Generator().manual_seed(seed + h))
    game = network_game(
        nn.Identity(),
        D,
        lambda: torch.randn(batch, 2, generator=g),
        lambda: atoms[torch.randint(0, k, (batch,), generator=g)],
        objective=get_objective("minimax"),
    )
    step = optimiser_step(torch.optim.Adam(D.parameters(), lr=TOY_LR, betas=TOY_BETAS))
    for _ in range(cfg["steps"]):
        step(game.y, grads_y(game))
    with torch.no_grad():  # fresh draws of both laws: an unbiased estimate of the trained D's advantage
        n = cfg["n_eval"]
        d_real = torch.sigmoid(D(torch.randn(n, 2, generator=g))).double()
        d_fake = torch.sigmoid(D(atoms[torch.randint(0, k, (n,), generator=g)])).double()
    m = param_count(D)
    return {
        "k": k,
        "h": h,
        "m": m,
        "m_log_m": m * math.log(m),
        "advantage": float(d_real.mean() - d_fake.mean()),
        "accuracy_gain": float(((d_real > 0.5).double().mean() + (d_fake < 0.5).double().mean()) / 2 - 0.5),
    }


def _mix_point(p: dict, cfg: dict, seed: int) -> dict:
    """One 2-D MLP GAN through the trainer with D's hidden width d_width x 128; its final mode statistics."""
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


def _smnist_point(p: dict, cfg: dict, seed: int, device) -> dict:
    """A Stacked MNIST DCGAN with D at `ratio` x G's width: modes of 1000, reverse KL, birthday support."""
    device = study.pick_device("auto" if device is None else str(device))
    root = sdata.data_root()
    keys = ("g_width", "steps", "batch", "lr_g", "lr_d", "betas", "z_dim")
    run = make_run(
        make_config(
            dict(
                {k: cfg[k] for k in keys},
                data="stacked_mnist",
                net="dcgan",
                d_width=cfg["g_width"] * p["ratio"],
                seed=1000 * seed + int(p["seed"]),
                device=str(device),
                data_dir=str(root),
                progress=False,
            )
        )
    )
    run_steps(run, cfg["steps"])
    images = tl.generate(run, cfg["n_eval"])  # (n, 3, 28, 28) on a fixed z
    modes = ev.stacked_modes(images, device)
    out = {
        "ratio": p["ratio"],
        "modes": modes.modes,
        "reverse_kl": modes.kl,
        "params_G": param_count(run.G),
        "params_D": param_count(run.D),
        "n_eval": cfg["n_eval"],
        "support": None,
        "support_note": "not run",
    }
    if cfg["birthday"]:
        G, z_dim, dtype = run.G.eval(), z_size(run.cfg), images.dtype

        def sample(n: int, generator: torch.Generator) -> torch.Tensor:
            z = torch.randn((n, z_dim), generator=generator, device=generator.device)
            return G(z.to(device, dtype)).float()

        b = ev.birthday_test(
            sample, cfg["birthday"]["sizes"], cfg["birthday"]["trials"], seed=seed, data_dir=root, device=device
        )
        out.update(
            support=b.support,
            support_note=b.note,
            duplicate_probs=b.curve.probs,
            birthday_sizes=b.curve.sizes,
            threshold=b.threshold,
        )
    return out


# ------------------------------------------------------------------------------------------- the study
def _mean_std(values) -> dict:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    return {
        "mean": float(v.mean()) if v.size else math.nan,
        "std": float(v.std()) if v.size else math.nan,
        "values": [float(x) if x is not None else math.nan for x in values],
    }


def _support_summary(values, birthday) -> dict:
    """Median and log10 spread of per-seed birthday supports; inf (no duplicate at any size) becomes the bound
    max(s)^2 and nan (a duplicate at every size) the bound min(s)^2, flagged as bounds."""
    if not birthday:
        return {"median": math.nan, "log10_std": math.nan, "values": [math.nan] * len(values), "bounds": []}
    lo, hi = min(birthday["sizes"]) ** 2, max(birthday["sizes"]) ** 2
    values = [math.nan if x is None else float(x) for x in values]  # shard JSON holds 'inf'/'nan' as strings
    v = np.array([hi if x == math.inf else lo if math.isnan(x) else x for x in values], dtype=float)
    bounds = [">=" if x == math.inf else "<=" if math.isnan(x) else "" for x in values]
    return {"median": float(np.median(v)), "log10_std": float(np.log10(v).std()), "values": v, "bounds": bounds}


def summarise(results: dict, scale: str) -> dict:
    """Toy advantage matrix over (h, k); per-width mode statistics; per-ratio Stacked MNIST statistics."""
    s = SCALES[scale]
    toy = {"k": s["toy"]["k"], "h": s["toy"]["h"], "m": [], "m_log_m": [], "advantage": [], "accuracy_gain": []}
    for h in s["toy"]["h"]:
        row = [results[f"toy:k={k},h={h}"] for k in s["toy"]["k"]]
        toy["m"].append(row[0]["m"])
        toy["m_log_m"].append(row[0]["m_log_m"])
        toy["advantage"].append([r["advantage"] for r in row])
        toy["accuracy_gain"].append([r["accuracy_gain"] for r in row])
    mix = {}
    for d in s["mix"]["data"]:
        for w in s["mix"]["d_width"]:
            runs = [results[f"mix:data={d},d_width={w:g},seed={i}"] for i in range(s["mix"]["seeds"])]
            mix[f"{d}/{w:g}"] = {
                "d_width": w,
                "hidden_D": round(128 * w),
                "params_D": runs[0]["params_D"],
                "of_modes": runs[0]["of_modes"],
                "modes": _mean_std([r["modes"] for r in runs]),
                "high_quality": _mean_std([r["high_quality"] for r in runs]),
            }
    smnist = {}
    for r in s["smnist"]["ratios"]:
        runs = [results[f"smnist:ratio={r:g},seed={i}"] for i in range(s["smnist"]["seeds"])]
        smnist[f"{r:g}"] = {
            "ratio": r,
            "params_D": runs[0]["params_D"],
            "params_G": runs[0]["params_G"],
            "modes": _mean_std([x["modes"] for x in runs]),
            "reverse_kl": _mean_std([x["reverse_kl"] for x in runs]),
            "support": _support_summary([x["support"] for x in runs], s["smnist"]["birthday"]),
            "support_notes": [x["support_note"] for x in runs],
        }
    return {"toy": toy, "mix": mix, "smnist": smnist}


def make_checks(summary: dict, scale: str) -> dict:
    """Each check a bool computed from the summary; the full-scale Stacked MNIST thresholds only at full scale."""
    toy, mix, sm = summary["toy"], summary["mix"], summary["smnist"]
    adv = np.asarray(toy["advantage"])  # (len(h), len(k))
    k = np.asarray(toy["k"], dtype=float)
    beyond = k[None, :] >= np.asarray(toy["m_log_m"])[:, None]  # points past the k = m log m curve
    checks = {
        # at every critic size, the smallest support is told apart by a margin the largest is not
        "c12_toy_advantage_falls_with_support_k": bool((adv[:, 0] - adv[:, -1] >= FOOLED_ADVANTAGE).all()),
        # at the smallest support, the largest critic beats the smallest by a clear margin
        "c12_toy_advantage_rises_with_critic_size_m": bool(adv[-1, 0] - adv[0, 0] >= 2 * FOOLED_ADVANTAGE),
        # every generator past k = m log m fools its critic to within eps = FOOLED_ADVANTAGE
        "c12_toy_fooled_beyond_m_log_m": bool(beyond.any() and (np.abs(adv[beyond]) < FOOLED_ADVANTAGE).all()),
    }
    for d in sorted({key.split("/")[0] for key in mix}):
        rows = sorted((v for key, v in mix.items() if key.startswith(d + "/")), key=lambda v: v["d_width"])
        checks[f"c12_{d}_widest_d_covers_more_modes_than_narrowest"] = bool(
            rows[-1]["modes"]["mean"] > rows[0]["modes"]["mean"]
        )
    ratios = sorted(sm, key=float)
    small, big = sm[ratios[0]], sm[ratios[-1]]
    checks["c12_smnist_d1x_covers_more_modes_than_d_quarter"] = bool(big["modes"]["mean"] > small["modes"]["mean"])
    # birthday supports compared as bounded values (no duplicate at any size = at least max(s)^2); a tie of two
    # bounds (e.g. duplicates at every size for both) says nothing, so at least one seed needs a fitted value
    fitted = any(b == "" for v in (small, big) for b in v["support"]["bounds"])
    checks["c13_smnist_d1x_support_not_below_d_quarter"] = bool(
        fitted and big["support"]["median"] >= small["support"]["median"]
    )
    if scale == "full":  # the expected full-scale result (issue): D at 1x >= 900 modes with rKL <= 0.5
        checks["c12_smnist_d1x_covers_900_modes_rkl_below_half"] = bool(
            big["modes"]["mean"] >= 900 and big["reverse_kl"]["mean"] <= 0.5
        )
        checks["c12_smnist_d_quarter_clearly_fewer_modes"] = bool(small["modes"]["mean"] <= 0.8 * big["modes"]["mean"])
    return checks


def headline(summary: dict, scale: str) -> list:
    """Rows for the claims ledger: Stacked MNIST modes and reverse KL at each D size, and the widest 2-D D."""
    cfg = SCALES[scale]["smnist"]
    diff = (
        f"{scale} scale: sandbox DCGAN at g_width {cfg['g_width']}, {cfg['steps']} G steps of batch "
        f"{cfg['batch']}, {cfg['seeds']} seeds, {cfg['n_eval']} samples scored (published: Metz et al. nets, "
        f"500k steps, 25.6k samples)"
    )
    rows = []
    for r, v in summary["smnist"].items():
        for q, label in (("modes", "modes covered of 1000"), ("reverse_kl", "reverse KL(q || uniform), nats")):
            rows.append(
                {
                    "claim": "C12",
                    "quantity": f"Stacked MNIST {label}, D at {r}x G width",
                    "ours": v[q]["mean"],
                    "ours_spread": v[q]["std"],
                    "published": PUBLISHED[q].get(r),
                    "source": PUBLISHED["source"],
                    "setting_difference": diff,
                }
            )
        rows.append(
            {
                "claim": "C13",
                "quantity": f"Stacked MNIST birthday support (median over seeds), D at {r}x G width",
                "ours": v["support"]["median"],
                "ours_spread": None,
                "published": None,
                "source": "Arora, Risteski, Zhang 2018 (method)",
                "setting_difference": diff,
            }
        )
    return rows


def run(scale: str = "quick", seed: int = 0, device=None, results=None) -> study.Result:
    """Every grid point (or a merged sharded run), then the summary, the checks and the ledger rows."""
    wall = time.perf_counter()
    results = study.run_grid(points(scale), lambda p: run_point(p, scale, seed, device), results)
    summary = summarise(results, scale)
    cfg = dict(
        SCALES[scale],
        seed=seed,
        toy_lr=TOY_LR,
        toy_betas=TOY_BETAS,
        toy_data="N(0, I_2)",
        toy_critic="mlp_discriminator depth 2, minimax D loss",
        mix_z_dim=MIX_Z_DIM,
        fooled_advantage=FOOLED_ADVANTAGE,
        published=PUBLISHED,
    )
    data = dict(
        summary,
        points=results,
        published=PUBLISHED,
        headline=headline(summary, scale),
        wall_s=time.perf_counter() - wall,
        cpu_s_total=sum(r["cpu_s"] for r in results.values()),
        scale_note=(
            f"{scale} scale, {study.pick_device('auto' if device is None else str(device)).type.upper()}"
            + (" — not the paper's full run" if scale != "full" else "")
        ),
    )
    return study.Result(config=cfg, data=data, checks=make_checks(summary, scale))


def _errorbar(ax, x, stats: dict, label: str, color: str, scale: float = 1.0):
    """Mean +- std over seeds with each seed as a dot."""
    ax.errorbar(
        x,
        [s["mean"] * scale for s in stats],
        yerr=[s["std"] * scale for s in stats],
        fmt="o-",
        color=color,
        capsize=4,
        label=label,
    )
    for xi, s in zip(x, stats):
        v = np.asarray(s["values"], dtype=float) * scale
        ax.plot(np.full(v.shape, xi), v, ".", color=color, alpha=0.4, ms=5)


def _ratio_axis(ax, x, ratios):
    """A log2 axis of D/G width ratios with a margin, so the end points are not on the frame."""
    ax.set_xscale("log", base=2)
    ax.set_xlim(min(x) / 1.5, max(x) * 1.5)
    ax.set_xticks(x)
    ax.set_xticklabels([f"{r}x" for r in ratios])
    ax.set_xlabel("D width / G width")


def plot(result: study.Result):
    """Toy advantage over (k, m) with k = m log m; 2-D modes against D width; Stacked MNIST against D size."""
    d = result.data
    toy, mix, sm = d["toy"], d["mix"], d["smnist"]
    fig, axes = plt.subplots(2, 4, figsize=(21, 10))
    # --- toy heatmap
    ax = axes[0, 0]
    adv = np.asarray(toy["advantage"], dtype=float)
    k, m = np.asarray(toy["k"], dtype=float), np.asarray(toy["m"], dtype=float)
    im = ax.pcolormesh(
        np.arange(len(k) + 1) - 0.5,
        np.arange(len(m) + 1) - 0.5,
        adv,
        cmap="viridis",
        vmin=0,
        vmax=max(0.05, float(adv.max())),
        shading="flat",
    )
    fig.colorbar(im, ax=ax, label=r"advantage $E_{real}\,\sigma(D) - E_{fake}\,\sigma(D)$")
    for i in range(len(m)):
        for j in range(len(k)):
            ax.text(
                j,
                i,
                f"{adv[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if adv[i, j] < 0.6 * adv.max() else "black",
            )
    # k = m log m in the heatmap's log-k index coordinates (k grows by a fixed factor per column)
    mm = np.exp(np.linspace(np.log(m.min()), np.log(m.max()), 100))
    kk = mm * np.log(mm)
    col = np.interp(np.log(kk), np.log(k), np.arange(len(k)), left=-0.5, right=len(k) - 0.5)
    row = np.interp(np.log(mm), np.log(m), np.arange(len(m)))
    ax.plot(col, row, "r-", lw=2.5, label="k = m log m (Arora et al. 2017)")
    ax.set_xticks(range(len(k)))
    ax.set_xticklabels([f"{int(x)}" for x in k], rotation=45)
    ax.set_yticks(range(len(m)))
    ax.set_yticklabels([f"{int(x)} (h={h})" for x, h in zip(m, toy["h"])])
    ax.set_xlabel("generator support k (atoms drawn from N(0, I_2))")
    ax.set_ylabel("critic parameters m (hidden units h)")
    ax.set_title("C12 toy: trained MLP critic's advantage")
    ax.legend(fontsize=8, loc="lower left")
    # --- toy curves
    ax = axes[0, 1]
    for i, (mi, row_adv) in enumerate(zip(m, adv)):
        ax.semilogx(k, row_adv, "o-", color=f"C{i}", label=f"m = {int(mi)}")
        ax.axvline(mi * np.log(mi), color=f"C{i}", ls=":", lw=1)
    ax.axhline(result.config["fooled_advantage"], color="grey", ls="--", label="fooled: advantage < eps = 0.05")
    ax.set_xlabel("generator support k (dotted: k = m log m for each m)")
    ax.set_ylabel("advantage on fresh draws")
    ax.set_title("C12 toy: advantage falls with k, rises with m")
    ax.legend(fontsize=8)
    # --- 2-D mixtures
    for j, name in enumerate(sorted({key.split("/")[0] for key in mix}, key=["ring", "grid"].index)):
        ax = axes[0, 2 + j]
        rows = sorted((v for key, v in mix.items() if key.startswith(name + "/")), key=lambda v: v["d_width"])
        w = [r["d_width"] for r in rows]
        _errorbar(ax, w, [r["modes"] for r in rows], "modes covered", "C0")
        ax.set_xscale("log", base=2)
        ax.set_ylim(0, rows[0]["of_modes"] + 0.5)
        ax.set_xlabel("D width multiplier (G: 128 hidden units; D: 128 x width)")
        ax.set_ylabel(f"modes covered of {rows[0]['of_modes']}", color="C0")
        twin = ax.twinx()
        _errorbar(twin, w, [r["high_quality"] for r in rows], "high-quality samples (%)", "C3", 100.0)
        twin.set_ylim(0, 105)
        twin.set_ylabel("high-quality samples (%)", color="C3")
        seeds = len(rows[0]["modes"]["values"])
        ax.set_title(f"C12 {name}: mean ± std over {seeds} seeds")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = twin.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="lower right")
    if len(mix) and len({key.split("/")[0] for key in mix}) == 1:
        axes[0, 3].set_axis_off()
    # --- Stacked MNIST
    ratios = sorted(sm, key=float)
    x = [float(r) for r in ratios]
    for ax, q, label in (
        (axes[1, 0], "modes", "modes covered of 1000"),
        (axes[1, 1], "reverse_kl", "reverse KL(q || uniform), nats"),
    ):
        _errorbar(ax, x, [sm[r][q] for r in ratios], "ours (mean ± std, dots: seeds)", "C0")
        pub = [(xi, PUBLISHED[q].get(r)) for xi, r in zip(x, ratios) if PUBLISHED[q].get(r) is not None]
        if pub:
            ax.plot(*zip(*pub), "k*", ms=14, label="published (Metz et al. 2017 via Lin et al. 2018)")
        else:
            ax.text(
                0.5,
                0.95,
                "published Table 2 values not transcribed (see JSON)",
                transform=ax.transAxes,
                ha="center",
                va="top",
                fontsize=8,
                color="grey",
            )
        _ratio_axis(ax, x, ratios)
        ax.set_ylabel(label)
        ax.set_title(f"C12 Stacked MNIST: {label}")
        ax.legend(fontsize=8, loc="lower left")
    ax = axes[1, 2]
    for r, xi in zip(ratios, x):
        v, b = np.asarray(sm[r]["support"]["values"], dtype=float), sm[r]["support"]["bounds"]
        for vi, bi in zip(v, b):
            if np.isfinite(vi):
                ax.plot(xi, vi, {"": "o", ">=": "^", "<=": "v"}[bi], color="C2", ms=8, alpha=0.7)
    ax.plot(x, [sm[r]["support"]["median"] for r in ratios], "k-", label="median over seeds")
    ax.plot([], [], "^", color="C2", label="no duplicate: support >= max(s)^2")
    ax.plot([], [], "v", color="C2", label="duplicates at every s: support <= min(s)^2")
    ax.plot([], [], "o", color="C2", label="fitted support (1 - exp(-s(s-1)/2N))")
    _ratio_axis(ax, x, ratios)
    if any(np.isfinite(sm[r]["support"]["median"]) for r in ratios):
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "birthday test not run at this scale", transform=ax.transAxes, ha="center", color="grey")
    ax.set_ylabel("birthday-paradox support estimate N")
    ax.set_title("C13 Stacked MNIST: support by the birthday test")
    ax.legend(fontsize=8)
    ax = axes[1, 3]
    ax.set_axis_off()
    lines = ["Stacked MNIST: ours vs published", ""]
    for r in ratios:
        v = sm[r]
        lines.append(
            f"D {r}x: modes {v['modes']['mean']:.1f} ± {v['modes']['std']:.1f}, "
            f"rKL {v['reverse_kl']['mean']:.2f} ± {v['reverse_kl']['std']:.2f}"
        )
        lines.append(f"    published: modes {PUBLISHED['modes'].get(r)}, rKL {PUBLISHED['reverse_kl'].get(r)}")
    cfg = result.config["smnist"]
    lines += [
        "",
        f"ours: sandbox DCGAN, G width {cfg['g_width']}, {cfg['steps']} G steps,",
        f"  batch {cfg['batch']}, {cfg['seeds']} seeds, {cfg['n_eval']} samples scored",
        "published: Metz et al. nets (D at 1/4, 1/2 of G),",
        "  500k steps, 25.6k samples scored",
        "source: Metz et al. 2017, Table 2, as reported",
        "  by Lin et al. 2018 (PacGAN), Table 2",
        "None = not transcribed in this run (see JSON)",
    ]
    ax.text(0.0, 1.0, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=8.5, transform=ax.transAxes)
    fig.suptitle(f"discriminator_size (C12, C13) — {d['scale_note']}", fontsize=14)
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
