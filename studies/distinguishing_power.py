"""distinguishing_power: for invertible generators, a critic slightly larger than G gives an IPM that tracks W1.

Claim C19 (Bai, Ma, Risteski 2019, "Approximability of discriminators implies diversity in GANs"): when the
generators are invertible, a discriminator class only slightly larger than the generator class yields an IPM
W_F(p, q) = sup_{D in F} E_p D - E_q D that is bounded above and below by (functions of) W1(p, q), so a small
IPM certifies a small W1 (no hidden mode dropping).
Toy version. p = T_star # N(0, I_2) with T_star(z) = W2 leaky_relu(W1 z + b1, 0.2) + b2 (2 x 2 weights, 12
parameters, invertible). The family q: the same architecture with T_star's parameters perturbed in four ways,
each at several magnitudes s: a shift of b2 (a pure translation: W1 = |shift| exactly), a scaling of W2
(spread), a squeeze of one row of W1 by exp(-1.5 s) (mass collapses onto a curve: the invertible cousin of mode
dropping) and a fixed random direction in parameter space; plus q = p itself.
References for W1 (population, from `n_pop` samples of each, same-noise where it helps):
* W1_LP: the exact W1 between `n_lp`-point samples by the transport LP (`divergences.w1_primal_lp`). It is biased
  upwards by sampling noise; `lp_floor` = W1_LP(p_n, p'_n) measures that bias at q = p.
* a population sandwich: max-sliced W1 (max over directions of the 1-D `divergences.w1`, each attained by a
  1-Lipschitz ridge function, so <= W1) <= W1 <= E|T_q(z) - T_star(z)| (the same-noise coupling).
Neural IPM: a critic `nets.mlp_discriminator` trained by the `wasserstein` objective with the WGAN-GP penalty
(`penalties.wgan_gp`, lam 10) through `games.network_game` and `dynamics.optimiser_step` (Adam, betas (0, 0.9)),
read as E_p D - E_q D on fresh held-out samples. "Slightly larger than G": 2 hidden layers of 8 ReLU units (105
parameters, G has 12); Bai et al.'s construction for invertible G has depth l + O(1) and width comparable to G.
A much smaller critic (one ReLU unit, 5 parameters) is trained the same way for contrast.
Checks (thresholds justified next to THRESHOLDS): Spearman rho(IPM, W1_LP) >= RHO_MIN over the family; the
IPM increases with s inside each kind; IPM / W1_LP within [RATIO_LO, RATIO_HI] where W1_LP is well above the
floor; the IPM inside the population sandwich up to the GP slack; the IPM near 0 at q = p; the small critic's
ratio spread at least SPREAD_FACTOR times wider.
Controls, each a case that must fail its check: the same critic untrained (its IPM read before the first step) for
the four tracking checks; the smallest shift for the q = p check (the critic must see W1 = s there); the
translations alone for the small-critic check (a single ReLU ridge, linear on the support, is an optimal W1
critic for a translation, so there the small critic must track as well as the large one).
Scales: smoke (seconds, the test suite), quick (< 1 min on 2 CPU cores), paper (the committed figure; at most
2 minutes on 2 CPU cores). The magnitudes, critic steps and sample sizes change with the scale.
"""

import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from sandbox.dynamics import grads_y, optimiser_step
from sandbox.games import network_game
from sandbox.nets import mlp_discriminator, param_count
from sandbox.objectives import get_objective
from sandbox.penalties import wgan_gp
from sandbox.reporting import study
from sandbox.reporting.kit import Headline
from sandbox.theory import divergences as dv

CLAIM = (
    "For invertible 2-layer leaky-ReLU generators, the WGAN-GP IPM of a critic slightly larger than G is "
    "monotone in and roughly proportional to W1 across a family of perturbed generators."
)
CLAIMS = ["C19"]
KINDS = ("shift", "scale", "squeeze", "random")
SCALES = {
    "smoke": dict(
        magnitudes=[0.5, 1.5],
        kinds=["shift"],
        steps=150,
        batch=128,
        n_lp=40,
        n_pop=4000,
        directions=90,
        small_critic=False,
    ),
    "quick": dict(
        magnitudes=[0.5, 1.0, 1.5],
        kinds=list(KINDS),
        steps=400,
        batch=256,
        n_lp=100,
        n_pop=10000,
        directions=180,
        small_critic=True,
    ),
    "paper": dict(
        magnitudes=[0.25, 0.5, 1.0, 1.5],
        kinds=list(KINDS),
        steps=600,
        batch=256,
        n_lp=150,
        n_pop=20000,
        directions=180,
        small_critic=True,
    ),
}
LEAK, LAM, LR, BETAS = 0.2, 10.0, 1e-2, (0.0, 0.9)  # Gulrajani et al.'s lam and betas; lr 100x theirs (speed)
CRITIC = dict(hidden=8, depth=2)  # "slightly larger than G"
SMALL = dict(hidden=1, depth=1)  # one ReLU ridge unit
# THRESHOLDS (fixed before the full run, not tuned to it):
# RHO_MIN: with >= 13 generators a rank correlation of 0.9 leaves room for one or two swaps between near-equal
#   W1's (the LP reference's sampling noise is about lp_floor / 3 between repeats); Bai et al. promise tracking up
#   to constants, so ranks, not values, are the primary test.
# RATIO_HI: a 1-Lipschitz critic cannot exceed W1 (Kantorovich-Rubinstein); GP enforces Lipschitz only softly,
#   overshooting by at most about W1 / (2 lam) <= 8% for W1 <= 1.5, plus a few % estimation noise: 1.15.
# RATIO_LO: W1_LP sits above the population W1 by up to lp_floor (sampling bias), and the critic's finite size and
#   steps lose a little more; only generators with W1_LP >= 2 lp_floor are judged, so the bias costs at most half
#   of W1_LP: 0.5. A ratio below that would mean the IPM misses most of W1.
# SANDWICH_SLACK: the IPM against the population sandwich [max-sliced W1, coupling bound]: 10% (GP bias + noise).
# SPREAD_FACTOR: "tracks worse" = the small critic's sd of log(IPM / W1_LP) over the judged generators is at least
#   twice the large critic's. Set with the committed paper run's 0.57 against 0.12 in view (a tightening of the
#   earlier bare ">"), so that equal spreads, which its control (the translations, where both critics reach the same
#   IPM) gives up to noise, fail it.
RHO_MIN, RATIO_LO, RATIO_HI, SANDWICH_SLACK, SPREAD_FACTOR = 0.9, 0.5, 1.15, 0.10, 2.0


def star_params() -> dict:
    """T_star's parameters: invertible 2 x 2 weights (nonzero determinants), leaky slope LEAK keeps it invertible."""
    return dict(
        W1=torch.tensor([[1.0, 0.5], [-0.3, 1.2]]),
        b1=torch.tensor([0.3, -0.2]),
        W2=torch.tensor([[1.0, -0.4], [0.2, 0.8]]),
        b2=torch.tensor([0.0, 0.0]),
    )


def generator(params: dict) -> nn.Module:
    """G(z) = W2 leaky_relu(W1 z + b1) + b2 as an nn.Sequential (Bai et al. 2019, Sec. 4: invertible nets)."""
    first, second = nn.Linear(2, 2), nn.Linear(2, 2)
    with torch.no_grad():
        first.weight.copy_(params["W1"]), first.bias.copy_(params["b1"])
        second.weight.copy_(params["W2"]), second.bias.copy_(params["b2"])
    G = nn.Sequential(first, nn.LeakyReLU(LEAK), second)
    return G.requires_grad_(False)


def perturbed(kind: str, s: float) -> dict:
    """T_star's parameters perturbed by `kind` at magnitude s (s = 0 gives T_star)."""
    theta = star_params()
    if kind == "shift":
        theta["b2"] = theta["b2"] + s * torch.tensor([0.8, 0.6])  # unit direction: W1 = s exactly
    elif kind == "scale":
        theta["W2"] = theta["W2"] * (1.0 + 0.6 * s)
    elif kind == "squeeze":
        theta["W1"] = theta["W1"] * torch.tensor([[1.0], [float(np.exp(-1.5 * s))]])
    elif kind == "random":
        gen = torch.Generator().manual_seed(1234)  # one fixed direction for every s
        delta = {k: torch.randn(v.shape, generator=gen) for k, v in theta.items()}
        norm = torch.sqrt(sum((d**2).sum() for d in delta.values()))
        theta = {k: v + s * delta[k] / norm for k, v in theta.items()}  # |delta theta| = s
    elif kind != "none":
        raise ValueError(f"unknown perturbation {kind!r}; valid: {', '.join(KINDS + ('none',))}")
    return theta


def references(G_star, G_q, cfg: dict, gen: torch.Generator) -> dict:
    """W1_LP on n_lp points; max-sliced and sliced W1 on n_pop points; the same-noise coupling upper bound."""
    n = cfg["n_lp"]
    x, y = G_star(torch.randn(n, 2, generator=gen)), G_q(torch.randn(n, 2, generator=gen))
    mass = np.concatenate([np.full(n, 1.0 / n), np.zeros(n)])
    w1_lp = float(dv.w1_primal_lp(mass, mass[::-1].copy(), dv.distance_matrix(torch.cat([x, y]).double()))[0])
    z = torch.randn(cfg["n_pop"], 2, generator=gen)
    xp, yq = G_star(z), G_q(torch.randn(cfg["n_pop"], 2, generator=gen))
    coupling = float((G_q(z) - xp).norm(dim=1).mean())  # pi = law of (T_star(z), T_q(z))
    angles = np.pi * np.arange(cfg["directions"]) / cfg["directions"]
    units = torch.tensor(np.stack([np.cos(angles), np.sin(angles)], 1), dtype=xp.dtype)
    sliced = np.array([float(dv.w1(xp @ u, yq @ u)) for u in units])
    return dict(w1_lp=w1_lp, max_sliced=float(sliced.max()), sliced=float(sliced.mean()), coupling=coupling)


def critic_ipm(G_star, G_q, size: dict, cfg: dict, seed: int) -> tuple:
    """sup_D E_p D - E_q D over a GP critic of `size` (Gulrajani et al. 2017, Alg. 1); (held-out IPM, curve, the
    untrained critic's IPM)."""
    gen = torch.Generator().manual_seed(seed)
    D = mlp_discriminator(in_dim=2, generator=torch.Generator().manual_seed(seed + 1), **size)
    batch = cfg["batch"]
    real = lambda: G_star(torch.randn(batch, 2, generator=gen))
    game = network_game(
        G_q,
        D,
        real,
        lambda: torch.randn(batch, 2, generator=gen),
        objective=get_objective("wasserstein"),
        penalty=wgan_gp(LAM),
        generator=gen,
    )
    opt = torch.optim.Adam(game.y, lr=LR, betas=BETAS)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg["steps"])
    step = optimiser_step(opt)
    held = torch.Generator().manual_seed(seed + 2)
    with torch.no_grad():
        xp, yq = G_star(torch.randn(cfg["n_pop"], 2, generator=held)), G_q(torch.randn(cfg["n_pop"], 2, generator=held))
    read = lambda: float(D(xp).mean() - D(yq).mean())
    with torch.no_grad():
        untrained = read()  # the control: the same critic before its first step
    curve, every = [], max(1, cfg["steps"] // 20)
    for k in range(1, cfg["steps"] + 1):
        step(game.y, grads_y(game))
        schedule.step()
        if k % every == 0:
            with torch.no_grad():
                curve.append((k, read()))
    with torch.no_grad():
        return read(), curve, untrained


def _spearman(a, b) -> float:
    return float(spearmanr(a, b).statistic)


def family(cfg: dict, seed: int) -> list:
    """q = p and every (kind, magnitude) perturbation: the W1 references and the critics' IPMs, one row each."""
    gen = torch.Generator().manual_seed(seed)
    G_star = generator(star_params())
    rows = []
    for kind, s in [("none", 0.0)] + [(k, float(s)) for k in cfg["kinds"] for s in cfg["magnitudes"]]:
        G_q = generator(perturbed(kind, s))
        row = dict(kind=kind, s=s, **references(G_star, G_q, cfg, gen))
        # one critic init and batch stream for every q: differences between q's are then not init luck
        row["ipm"], row["curve"], row["ipm_untrained"] = critic_ipm(G_star, G_q, CRITIC, cfg, seed + 10)
        if cfg["small_critic"]:
            row["ipm_small"], _, _ = critic_ipm(G_star, G_q, SMALL, cfg, seed + 10)
        rows.append(row)
    return rows


def verdicts(rows: list, ipm_key: str, kinds) -> dict:
    """The four tracking verdicts for the IPMs under `ipm_key` (the trained critic's, or the untrained control's)."""
    pert, floor = rows[1:], rows[0]["w1_lp"]
    w1, ipm = np.array([r["w1_lp"] for r in pert]), np.array([r[ipm_key] for r in pert])
    judged, ratio = w1 >= 2.0 * floor, ipm / w1
    lo, hi = np.array([r["max_sliced"] for r in pert]), np.array([r["coupling"] for r in pert])
    by_kind = [np.array([r[ipm_key] for r in pert if r["kind"] == k]) for k in kinds]
    return dict(
        rho=_spearman([r[ipm_key] for r in rows], [r["w1_lp"] for r in rows]),
        monotone=all(np.all(np.diff(v) > 0) for v in by_kind),
        in_band=bool(judged.any() and np.all((ratio[judged] >= RATIO_LO) & (ratio[judged] <= RATIO_HI))),
        sandwich_ok=(ipm >= (1 - SANDWICH_SLACK) * lo) & (ipm <= (1 + SANDWICH_SLACK) * hi),
        judged=judged,
        ratio=ratio,
    )


def log_ratio_sd(rows: list, ipm_key: str, floor: float) -> float:
    """sd over the judged rows (W1_LP >= 2 floor) of log(IPM / W1_LP), IPMs clipped at 1e-6 W1."""
    r = [x for x in rows if x["w1_lp"] >= 2.0 * floor]
    return float(np.std(np.log(np.clip([x[ipm_key] / x["w1_lp"] for x in r], 1e-6, None)))) if r else 0.0


def make_checks(d: dict, cfg: dict) -> tuple:
    """The checks and, for each, the control evaluated by the same test."""
    rows, floor = d["family"], d["lp_floor"]
    trained, untrained = verdicts(rows, "ipm", cfg["kinds"]), verdicts(rows, "ipm_untrained", cfg["kinds"])
    smallest = min((r for r in rows if r["kind"] == "shift"), key=lambda r: r["s"])
    checks = {
        "ipm_rank_correlates_with_w1_lp": trained["rho"] >= RHO_MIN,
        "ipm_increases_with_perturbation_in_every_kind": trained["monotone"],
        "ipm_over_w1_lp_within_band": trained["in_band"],
        "ipm_inside_population_w1_sandwich": bool(trained["sandwich_ok"].all()),
        # at q = p the population IPM is 0; held-out noise on n_pop points is ~1/sqrt(n_pop), far below lp_floor / 2,
        # so a larger value would mean the critic reads a difference that is not there
        "ipm_near_zero_at_q_equal_p": bool(abs(rows[0]["ipm"]) <= 0.5 * floor),
    }
    raw = f"the same 2x{CRITIC['hidden']} critic untrained (its IPM before the first step)"
    controls = {
        "ipm_rank_correlates_with_w1_lp": dict(
            control=f"{raw}: rho {untrained['rho']:.3f}", control_passes=bool(untrained["rho"] >= RHO_MIN)
        ),
        "ipm_increases_with_perturbation_in_every_kind": dict(control=raw, control_passes=untrained["monotone"]),
        "ipm_over_w1_lp_within_band": dict(control=raw, control_passes=untrained["in_band"]),
        "ipm_inside_population_w1_sandwich": dict(control=raw, control_passes=bool(untrained["sandwich_ok"].all())),
        "ipm_near_zero_at_q_equal_p": dict(
            control=f"the same test at the smallest shift (s = {smallest['s']:g}, W1 = s exactly; IPM "
            f"{smallest['ipm']:.3f})",
            control_passes=bool(abs(smallest["ipm"]) <= 0.5 * floor),
        ),
    }
    if cfg["small_critic"]:
        shifts = [r for r in rows if r["kind"] == "shift"]
        big, small = log_ratio_sd(shifts, "ipm", floor), log_ratio_sd(shifts, "ipm_small", floor)
        checks["small_critic_tracks_w1_worse"] = d["log_ratio_sd_small"] >= SPREAD_FACTOR * d["log_ratio_sd"]
        controls["small_critic_tracks_w1_worse"] = dict(
            control=f"the same comparison on the translations alone, where one ReLU ridge is an optimal critic "
            f"(sd {small:.3f} against {big:.3f})",
            control_passes=bool(small >= SPREAD_FACTOR * big),
        )
    return {k: bool(v) for k, v in checks.items()}, controls


def headline(d: dict, cfg: dict) -> list:
    """Spearman's rho over the family and the ratio at the largest W1 (Kantorovich-Rubinstein's 1)."""
    pert = d["family"][1:]
    j = int(np.argmax([r["w1_lp"] for r in pert]))
    return [
        Headline(
            "C19",
            "Spearman rho(GP-critic IPM, W1 by LP) over the generator family",
            d["rho"],
            source="Bai, Ma, Risteski 2019, Thm 4.2 (IPM bounded by functions of W1; no number for this toy)",
            setting_difference=f"{len(d['family'])} invertible 2-D leaky-ReLU generators; critic "
            f"2x{CRITIC['hidden']} ReLU, WGAN-GP lam {LAM:g}, {cfg['steps']} Adam steps",
        )._asdict(),
        Headline(
            "C19",
            f"IPM / W1_LP at the largest W1 ({pert[j]['kind']}, s = {pert[j]['s']:g})",
            float(d["ratio"][j]),
            published=1.0,
            source="Kantorovich-Rubinstein: a 1-Lipschitz critic class rich enough gives exactly W1",
            setting_difference=f"W1_LP on {cfg['n_lp']} points per side (floor {d['lp_floor']:.3f})",
        )._asdict(),
    ]


def run(scale: str = "paper", seed: int = 0, device=None) -> study.Result:
    """References and critic IPMs for q = p and every (kind, magnitude) perturbation (CPU: the nets are tiny)."""
    cfg = dict(
        SCALES[scale],
        seed=seed,
        leak=LEAK,
        lam=LAM,
        lr=LR,
        betas=BETAS,
        critic=CRITIC,
        small=SMALL,
        rho_min=RHO_MIN,
        ratio_lo=RATIO_LO,
        ratio_hi=RATIO_HI,
        sandwich_slack=SANDWICH_SLACK,
        spread_factor=SPREAD_FACTOR,
    )
    clock = time.perf_counter()
    rows = family(cfg, seed)
    v = verdicts(rows, "ipm", cfg["kinds"])
    data = dict(
        family=rows,
        lp_floor=rows[0]["w1_lp"],
        ratio=v["ratio"],
        judged=v["judged"],
        rho=v["rho"],
        rho_coupling=_spearman([r["ipm"] for r in rows], [r["coupling"] for r in rows]),
        rho_untrained=_spearman([r["ipm_untrained"] for r in rows], [r["w1_lp"] for r in rows]),
        sandwich_ok=v["sandwich_ok"],
        params=dict(
            G=sum(p.numel() for p in generator(star_params()).parameters()),
            critic=param_count(mlp_discriminator(**CRITIC)),
            small=param_count(mlp_discriminator(**SMALL)),
        ),
    )
    if cfg["small_critic"]:
        pert, w1 = rows[1:], np.array([r["w1_lp"] for r in rows[1:]])
        small = np.array([r["ipm_small"] for r in pert])
        data["rho_small"] = _spearman([r["ipm_small"] for r in rows], [r["w1_lp"] for r in rows])
        data["ratio_small"] = small / w1
        # tracking = a constant ratio: compare the spread of log(IPM / W1_LP) over the judged generators
        data["log_ratio_sd"] = float(np.std(np.log(v["ratio"][v["judged"]])))
        data["log_ratio_sd_small"] = log_ratio_sd(pert, "ipm_small", data["lp_floor"])
    checks, controls = make_checks(data, cfg)
    data["headline"] = headline(data, cfg)
    data["seconds"] = time.perf_counter() - clock
    return study.Result(config=cfg, data=data, checks=checks, controls=controls)


def _ipm_panel(ax, d: dict, cfg: dict) -> None:
    """IPM against W1_LP per kind, with the population sandwich, the ratio band, the 1-unit and untrained critics."""
    fam = d["family"]
    top = 1.1 * max(max(r["w1_lp"] for r in fam), max(r["coupling"] for r in fam))
    ax.plot([0, top], [0, top], "k-", lw=1, label="IPM = W1")
    ax.fill_between(
        [0, top],
        [0, RATIO_LO * top],
        [0, RATIO_HI * top],
        color="0.85",
        label=f"ratio band [{RATIO_LO:g}, {RATIO_HI:g}]",
    )
    ax.axvline(2 * d["lp_floor"], color="0.5", ls=":", lw=1, label="2 x LP floor (judged right of it)")
    for c, kind in enumerate(("none",) + tuple(cfg["kinds"])):
        rs = [r for r in fam if r["kind"] == kind]
        w1 = [r["w1_lp"] for r in rs]
        ax.plot(w1, [r["ipm"] for r in rs], "o-", color=f"C{c}", label=f"{kind}: GP critic 2x{CRITIC['hidden']}")
        ax.vlines(w1, [r["max_sliced"] for r in rs], [r["coupling"] for r in rs], color=f"C{c}", lw=4, alpha=0.25)
        ax.plot(w1, [r["ipm_untrained"] for r in rs], "+", color=f"C{c}", ms=7)
        if "ipm_small" in rs[0]:
            ax.plot(w1, [r["ipm_small"] for r in rs], "x--", color=f"C{c}", ms=6, lw=0.8)
    ax.plot([], [], "kx--", lw=0.8, label="1-unit critic (same colours)")
    ax.plot([], [], "k+", ms=7, ls="none", label="untrained 2x8 critic (control)")
    ax.plot([], [], color="k", lw=4, alpha=0.25, label="population W1 sandwich")
    ax.set_xlabel(f"W1 by transport LP ({cfg['n_lp']} points per side)")
    ax.set_ylabel(r"neural IPM $E_p D - E_q D$ (held out)")
    ax.set_title(f"C19: IPM vs W1 (Spearman {d['rho']:.3f}; untrained {d['rho_untrained']:.3f})")
    ax.legend(fontsize=7, loc="upper left")


def _ratio_panel(ax, d: dict) -> None:
    """IPM / W1_LP per generator for both critics, the judged ones dark, with the band."""
    pert = d["family"][1:]
    x = np.arange(len(pert))
    ax.bar(x - 0.2, d["ratio"], 0.4, color=["C0" if j else "0.7" for j in d["judged"]], label="GP critic 2x8")
    if "ratio_small" in d:
        ax.bar(x + 0.2, d["ratio_small"], 0.4, color="C3", alpha=0.6, label="1-unit critic")
    ax.axhspan(RATIO_LO, RATIO_HI, color="C2", alpha=0.1, label="band (judged bars: dark)")
    ax.axhline(1.0, color="k", lw=1)
    ax.set_xticks(x, [f"{r['kind']} {r['s']:g}" for r in pert], fontsize=7, rotation=60, ha="right")
    ax.set_ylabel("IPM / W1_LP")
    sd = f", sd log ratio {d['log_ratio_sd']:.2f} vs {d['log_ratio_sd_small']:.2f}" if "log_ratio_sd" in d else ""
    ax.set_title(f"ratio per generator{sd}", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")


def _curves_panel(ax, d: dict, cfg: dict) -> None:
    """The held-out IPM over the GP critic's training, per generator."""
    for c, kind in enumerate(("none",) + tuple(cfg["kinds"])):
        for r in d["family"]:
            if r["kind"] == kind:
                k, v = zip(*r["curve"])
                ax.plot(k, v, color=f"C{c}", lw=1, alpha=0.4 + 0.6 * r["s"] / max(cfg["magnitudes"]))
    ax.set(
        xlabel="critic step",
        ylabel="held-out IPM estimate",
        title="GP critic training (colour = kind, darker = larger s)",
    )


def plot(result: study.Result):
    """IPM against W1_LP per kind (with the population sandwich); IPM / W1 per generator; critic training curves."""
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    _ipm_panel(axes[0], result.data, result.config)
    _ratio_panel(axes[1], result.data)
    _curves_panel(axes[2], result.data, result.config)
    fig.tight_layout()
    return fig


def main(argv=None) -> dict:
    return study.main_of(__name__, argv, default_scale="paper", cpu_only=True)


if __name__ == "__main__":
    main()
