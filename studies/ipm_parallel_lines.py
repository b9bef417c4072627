"""ipm_parallel_lines: JSD, TV, KL and W1 as two parallel lines move apart, with clipped and GP critic estimates.

Claim C4 (Arjovsky, Chintala, Bottou 2017, Example 1; Risteski lecture): P_0 is uniform on the segment {0} x [0, 1]
and P_theta on {theta} x [0, 1]. For theta != 0 the supports are disjoint, so JSD = log 2, TV = 1 (the bounded
IPM sup_{|f| <= 1} E_P f - E_Q f = 2 TV = 2) and KL = inf, whatever theta is, while W1 = |theta| grows with the
distance (Kantorovich-Rubinstein: W1 = sup_{Lip(f) <= 1} E_P f - E_Q f).
Exact curves: the lines discretised into k points each, then `divergences.jsd`, `tv`, `kl`, `ipm_bounded` and W1
by both transport LPs (`w1_primal_lp` = `w1_dual_lp`, Euclidean cost from `distance_matrix`).
Critic estimates: an MLP critic on 2-D (`nets.mlp_discriminator`, 2 x 32 ReLU) is trained on fresh batches of
both lines by the `wasserstein` objective through `games.network_game`, then E_P D - E_Q D is read on a midpoint
quadrature of the lines (1000 points each). Two Lipschitz controls:
* WGAN-GP (Gulrajani et al. 2017): `penalties.wgan_gp(lam=10)`, Adam betas (0, 0.9) at lr 1e-3 with a cosine
  decay (the paper's lr is 1e-4: a named deviation, for speed). The same critic init serves every theta. The GP
  optimum over critics with a constant slope a in x_1 maximises a|theta| - lam (a - 1)^2, so its value is
  |theta| (1 + |theta| / (2 lam)): at most 5% above W1 for |theta| <= 1. The check asks for the estimate within
  gp_tol = 10% of |theta| at paper scale (that bias plus finite-step noise).
* Weight clipping (Arjovsky et al. 2017, Alg. 1): RMSProp lr 5e-5, every weight projected onto [-0.01, 0.01]
  after each step (`penalties.clip_weights_` through `dynamics.projected`). The clipped class is a subset of the
  K-Lipschitz functions for some K, so the theory promises K W1 for one K, not W1 itself: the checks ask for
  estimates increasing with |theta| and a scale K = estimate / |theta| that varies by less than CLIP_CV (20%,
  coefficient of variation over theta).
Controls: the exact checks on Q = (P_0 + P_theta)/2, which shares half its mass with P_0 (JSD < log 2, TV = 1/2,
KL = log 2, W1 = |theta|/2), and at the theta nearest 0 for the vanishing at 0; the critic checks on the same critics
before their first step (the init, after the first clip for the clipped critic). The two LP identities (bounded
IPM = 2 TV, dual = primal) need none: each is an optimum checked against a closed form or its dual to 1e-7.
Scales: smoke (seconds, the test suite), quick (< 1 min on 2 CPU cores), paper (the committed figure; at most
2 minutes on 2 CPU cores). The number of thetas, the discretisation k and the critic steps change with the scale.
"""

import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from sandbox.dynamics import grads_y, optimiser_step, projected
from sandbox.games import network_game
from sandbox.nets import mlp_discriminator
from sandbox.objectives import get_objective
from sandbox.penalties import clip_weights_, wgan_gp
from sandbox.reporting import figures, study
from sandbox.reporting.kit import Headline
from sandbox.theory import divergences as dv

CLAIM = (
    "On Arjovsky et al.'s parallel lines, JSD stays at log 2, TV at 1 and KL at infinity for every theta != 0 "
    "while W1 = |theta|; a WGAN-GP critic estimates |theta| and a clipped critic a fixed multiple of it."
)
CLAIMS = ["C4"]
SCALES = {
    "smoke": dict(exact_thetas=11, k=6, critic_thetas=[0.3, 1.0], steps=150, batch=128, curve_points=6, gp_tol=0.3),
    "quick": dict(
        exact_thetas=41,
        k=16,
        critic_thetas=[-1.0, -0.5, 0.2, 0.5, 1.0],
        steps=600,
        batch=128,
        curve_points=20,
        gp_tol=0.15,
    ),
    "paper": dict(
        exact_thetas=81,
        k=24,
        critic_thetas=[-1.0, -0.6, -0.2, 0.2, 0.4, 0.6, 0.8, 1.0],
        steps=1000,
        batch=128,
        curve_points=25,
        gp_tol=0.10,
    ),
}
# gp_tol: the GP check's relative tolerance. Paper: the theta^2/(2 lam) bias (<= 5%) plus finite-step noise; smoke's
# 150 steps leave the critic short of its optimum (measured: about 20% low at theta = 1), so its tolerance is wider
HIDDEN, LAM, CLIP = 32, 10.0, 0.01
GP_LR, GP_BETAS = 1e-3, (0.0, 0.9)  # Gulrajani et al.'s betas; 10x their lr (named deviation: speed)
CLIP_LR = 5e-5  # Arjovsky et al. 2017, Alg. 1 (RMSProp)
QUAD = 1000  # midpoints per line for E_P D - E_Q D
EXACT_TOL = 1e-7  # LP tolerance (HiGHS) and float rounding of the closed forms
# spread of the clipped critic's scale K across theta; set with the study (3c85af1): the committed paper run measured
# 0.116. The check also asks for a positive mean K: the clipping init's K changes sign with theta (CV -18)
CLIP_CV = 0.20


def lines(theta: float, k: int, mixed: bool = False):
    """(points (n, 2), p, q): P_0 on (0, z_i) and P_theta on (theta, z_i), z_i the k midpoints of [0, 1];
    mixed: q is (P_0 + P_theta)/2 instead (the control sharing half its mass with P_0)."""
    z = (np.arange(k) + 0.5) / k
    if theta == 0.0:  # one shared support: p = q
        u = np.full(k, 1.0 / k)
        return np.stack([np.zeros(k), z], 1), u, u.copy()
    points = np.concatenate([np.stack([np.zeros(k), z], 1), np.stack([np.full(k, theta), z], 1)])
    p = np.concatenate([np.full(k, 1.0 / k), np.zeros(k)])
    q = p[::-1].copy()
    return points, p, (p + q) / 2 if mixed else q


def exact_curves(thetas, k: int, mixed: bool = False) -> dict:
    """JSD, TV, KL(P||Q), the bounded IPM (2 TV) and W1 by the primal and dual LPs, for each theta."""
    out = {name: [] for name in ("jsd", "tv", "kl", "ipm_bounded", "w1_primal", "w1_dual")}
    for theta in thetas:
        points, p, q = lines(float(theta), k, mixed)
        cost = dv.distance_matrix(points)
        out["jsd"].append(dv.jsd(p, q))
        out["tv"].append(dv.tv(p, q))
        out["kl"].append(dv.kl(p, q))
        out["ipm_bounded"].append(dv.ipm_bounded(p, q)[0])
        out["w1_primal"].append(dv.w1_primal_lp(p, q, cost)[0])
        out["w1_dual"].append(dv.w1_dual_lp(p, q, cost)[0])
    return out


def _line(theta: float, z: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.full_like(z, theta), z], 1)


@torch.no_grad()
def estimate(D: nn.Module, theta: float) -> float:
    """E_P D - E_Q D on the midpoint quadrature of both lines (deterministic)."""
    z = (torch.arange(QUAD, dtype=torch.float32) + 0.5) / QUAD
    return float(D(_line(0.0, z)).mean() - D(_line(theta, z)).mean())


def train_critic(theta: float, kind: str, cfg: dict, seed: int):
    """A 'gp' or 'clip' critic trained by the wasserstein objective; returns (estimate, (step, estimate) curve)."""
    gen = torch.Generator().manual_seed(seed)
    D = mlp_discriminator(in_dim=2, hidden=HIDDEN, depth=2, generator=torch.Generator().manual_seed(seed + 1))
    batch = cfg["batch"]
    real = lambda: _line(0.0, torch.rand(batch, generator=gen))
    fake = lambda: _line(theta, torch.rand(batch, generator=gen))  # nn.Identity() 'generates' P_theta itself
    if kind == "gp":
        game = network_game(
            nn.Identity(), D, real, fake, objective=get_objective("wasserstein"), penalty=wgan_gp(LAM), generator=gen
        )
        opt = torch.optim.Adam(game.y, lr=GP_LR, betas=GP_BETAS)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg["steps"])
        step = optimiser_step(opt)
    else:
        game = network_game(nn.Identity(), D, real, fake, objective=get_objective("wasserstein"))
        clip_weights_(game.y, CLIP)  # start inside the box, as Alg. 1's first projection would put it
        schedule = None
        step = projected(optimiser_step(torch.optim.RMSprop(game.y, lr=CLIP_LR)), lambda ps: clip_weights_(ps, CLIP))
    every = max(1, cfg["steps"] // cfg["curve_points"])
    curve = [(0, estimate(D, theta))]
    for k in range(1, cfg["steps"] + 1):
        step(game.y, grads_y(game))
        if schedule is not None:
            schedule.step()
        if k % every == 0 or k == cfg["steps"]:
            curve.append((k, estimate(D, theta)))
    return curve[-1][1], curve


def critic_estimates(cfg: dict, seed: int) -> dict:
    """A GP and a clipped critic per critic theta: final estimates, curves, and the scale K of the clipped one."""
    ct = np.array(cfg["critic_thetas"])
    est, curves = {"gp": [], "clip": []}, {"gp": [], "clip": []}
    for theta in ct:
        for kind in ("gp", "clip"):
            # one critic init and batch stream for every theta: the clipped class's scale K depends on the
            # init it saturates from, so a fresh init per theta would mix several K's into one curve
            value, curve = train_critic(float(theta), kind, cfg, seed)
            est[kind].append(value)
            curves[kind].append(curve)
    gp, clip = np.array(est["gp"]), np.array(est["clip"])
    scale_k = clip / np.abs(ct)
    return dict(
        critic_thetas=ct,
        gp_estimate=gp,
        clip_estimate=clip,
        gp_theory=np.abs(ct) * (1.0 + np.abs(ct) / (2.0 * LAM)),
        gp_rel_error=(gp - np.abs(ct)) / np.abs(ct),
        clip_scale=scale_k,
        clip_scale_mean=float(scale_k.mean()),
        clip_scale_cv=float(scale_k.std() / scale_k.mean()),
        curves={
            kind: [dict(step=[c[0] for c in cv], estimate=[c[1] for c in cv]) for cv in curves[kind]] for kind in curves
        },
    )


def exact_verdicts(exact: dict, thetas: np.ndarray) -> dict:
    """The exact checks on one set of curves over theta (the parallel lines, or the mixed control)."""
    off = np.abs(thetas) > 1e-12
    close = lambda a, b: bool(np.allclose(a, b, rtol=0, atol=EXACT_TOL))
    w1p = np.array(exact["w1_primal"])
    return dict(
        jsd=close(np.array(exact["jsd"])[off], math.log(2)),
        tv=close(np.array(exact["tv"])[off], 1.0),
        ipm=close(exact["ipm_bounded"], 2 * np.array(exact["tv"])),
        kl=bool(np.isinf(np.array(exact["kl"])[off]).all()),
        w1=close(w1p, np.abs(thetas)),
        dual=close(exact["w1_dual"], w1p),
    )


def vanish_at(exact: dict, i: int) -> bool:
    """Every curve is 0 (to EXACT_TOL) at the i-th theta."""
    return bool(max(abs(exact[n][i]) for n in exact) < EXACT_TOL)


def critic_verdicts(ct: np.ndarray, gp: np.ndarray, clip: np.ndarray, gp_tol: float) -> dict:
    """The critic checks on one set of GP and clipped estimates over the critic thetas."""
    order = np.argsort(np.abs(ct))
    a, e = np.abs(ct)[order], clip[order]
    increasing = all(e[j] > e[i] for i in range(len(a)) for j in range(len(a)) if a[j] > a[i] + 1e-9)
    scale_k = clip / np.abs(ct)
    return dict(
        gp=bool((np.abs(gp - np.abs(ct)) <= gp_tol * np.abs(ct)).all()),
        increasing=bool(increasing and (clip > 0).all()),
        multiple=bool(scale_k.mean() > 0 and scale_k.std() / scale_k.mean() < CLIP_CV),
    )


# check: (verdict, its control, or why it needs none) for the exact checks; the critic checks' control is the
# untrained critics
MIXED = "Q = (P_0 + P_theta)/2, sharing half its mass with P_0"
EXACT_CHECKS = {
    "jsd_is_log2_for_every_theta_off_0": ("jsd", MIXED),
    "tv_is_1_for_every_theta_off_0": ("tv", MIXED),
    "kl_is_infinite_for_every_theta_off_0": ("kl", MIXED),
    "w1_primal_lp_is_abs_theta": ("w1", MIXED),
    "bounded_ipm_is_2tv": ("ipm", "an identity: the bounded-IPM LP's optimum against its closed form 2 TV, to 1e-7"),
    "w1_dual_lp_equals_primal": (
        "dual",
        "an identity (LP duality): the dual LP's optimum against the primal's, to 1e-7",
    ),
}
CRITIC_CHECKS = {
    "gp_critic_estimate_within_tol_of_abs_theta": "gp",
    "clip_critic_estimate_increases_with_abs_theta": "increasing",
    "clip_critic_estimate_is_a_fixed_multiple_of_w1": "multiple",
}


def make_checks(data: dict, cfg: dict) -> tuple:
    """Every check and its control (or the reason it needs none), computed from the data."""
    thetas, exact, ctl = np.asarray(data["thetas"]), data["exact"], data["control"]
    ours, mixed = exact_verdicts(exact, thetas), exact_verdicts(ctl["exact_mixed"], thetas)
    checks, controls = {}, {}
    for name, (verdict, control) in EXACT_CHECKS.items():
        checks[name] = ours[verdict]
        identity = control.startswith("an identity")
        controls[name] = dict(no_control=control) if identity else dict(control=control, control_passes=mixed[verdict])
    i0 = int(np.argmin(np.abs(thetas)))
    i1 = int(np.argmin(np.where(np.abs(thetas) > 1e-12, np.abs(thetas), np.inf)))
    checks["all_vanish_at_theta_0"] = vanish_at(exact, i0)
    controls["all_vanish_at_theta_0"] = dict(
        control=f"the same curves at the theta nearest 0, {thetas[i1]:g}", control_passes=vanish_at(exact, i1)
    )
    ct = np.asarray(data["critic_thetas"])
    trained = critic_verdicts(ct, np.asarray(data["gp_estimate"]), np.asarray(data["clip_estimate"]), cfg["gp_tol"])
    untrained = critic_verdicts(ct, np.asarray(ctl["gp_untrained"]), np.asarray(ctl["clip_untrained"]), cfg["gp_tol"])
    for name, verdict in CRITIC_CHECKS.items():
        checks[name] = trained[verdict]
        controls[name] = dict(
            control="the same critics before their first step (the clipped one after its first clip)",
            control_passes=untrained[verdict],
        )
    return checks, controls


def headline(data: dict, cfg: dict) -> list:
    """JSD off 0 and W1 at the largest theta beside Example 1, and the GP critic's estimate of W1."""
    thetas, exact, ct = np.asarray(data["thetas"]), data["exact"], np.asarray(data["critic_thetas"])
    off, i1 = np.abs(thetas) > 1e-12, int(np.argmax(np.abs(ct)))
    lines_ = f"lines discretised into {cfg['k']} points each"
    source = "Arjovsky, Chintala, Bottou 2017, Example 1"
    return [
        Headline(
            "C4",
            "JSD between the parallel lines at any theta != 0 (nats)",
            float(np.max(np.array(exact["jsd"])[off])),
            published=math.log(2.0),
            source=source,
            setting_difference=lines_,
        )._asdict(),
        Headline(
            "C4",
            f"W1 at theta = {thetas[-1]:g} by the transport LP",
            float(exact["w1_primal"][-1]),
            published=float(abs(thetas[-1])),
            source=f"{source} (W1 = |theta|)",
            setting_difference=lines_,
        )._asdict(),
        Headline(
            "C4",
            f"WGAN-GP critic estimate of W1 at theta = {ct[i1]:g}",
            float(data["gp_estimate"][i1]),
            published=float(abs(ct[i1])),
            source="Arjovsky et al. 2017, Example 1 (exact W1); critic as Gulrajani et al. 2017",
            setting_difference=f"2x{HIDDEN} MLP critic, {cfg['steps']} Adam steps at lr {GP_LR} (paper 1e-4), "
            f"lam {LAM:g}; GP optimum sits theta^2/(2 lam) above W1",
        )._asdict(),
    ]


def run(scale: str = "paper", seed: int = 0, device=None) -> study.Result:
    """Exact curves over theta, then a GP and a clipped critic per critic theta (CPU: the nets are tiny)."""
    cfg = dict(
        SCALES[scale],
        seed=seed,
        hidden=HIDDEN,
        lam=LAM,
        clip=CLIP,
        gp_lr=GP_LR,
        gp_betas=GP_BETAS,
        clip_lr=CLIP_LR,
        quadrature=QUAD,
        clip_cv=CLIP_CV,
        exact_tol=EXACT_TOL,
    )
    clock = time.perf_counter()
    thetas = np.linspace(-1.0, 1.0, cfg["exact_thetas"])
    data = dict(thetas=thetas, exact=exact_curves(thetas, cfg["k"]), **critic_estimates(cfg, seed))
    data["control"] = dict(
        exact_mixed=exact_curves(thetas, cfg["k"], mixed=True),
        gp_untrained=[c["estimate"][0] for c in data["curves"]["gp"]],  # step 0 of each critic's curve
        clip_untrained=[c["estimate"][0] for c in data["curves"]["clip"]],
    )
    data["headline"] = headline(data, cfg)
    checks, controls = make_checks(data, cfg)
    data["seconds"] = time.perf_counter() - clock
    return study.Result(config=cfg, data=data, checks=checks, controls=controls)


def _exact_panel(ax, d: dict) -> None:
    """JSD, TV, KL and W1 (both LPs) against theta, with the mixed control's JSD and TV faint."""
    ex, th = d["exact"], np.asarray(d["thetas"], dtype=float)
    off = np.abs(th) > 1e-12
    ax.plot(th[off], np.asarray(ex["jsd"])[off], "C0.", ms=5, label="JSD (log 2 off 0)")
    ax.plot(th[off], np.asarray(ex["tv"])[off], "C1.", ms=5, label="TV (1 off 0)")
    ax.plot(th, ex["w1_primal"], "C2-", lw=3, alpha=0.5, label="W1 primal LP")
    ax.plot(th, ex["w1_dual"], "k--", lw=1, label="W1 dual LP (KR)")
    mixed = d["control"]["exact_mixed"]
    ax.plot(th[off], np.asarray(mixed["jsd"])[off], "C0x", ms=3, alpha=0.5, label="control Q = (P_0 + P_theta)/2: JSD")
    ax.plot(th[off], np.asarray(mixed["tv"])[off], "C1x", ms=3, alpha=0.5, label="control: TV")
    ax.plot([0, 0, 0], [0, 0, 0], "C3o", ms=8, mfc="none", label="all are 0 at theta = 0")
    ax.plot(th[off], np.full(off.sum(), 1.32), "C4^", ms=4, label=r"KL = $\infty$ (drawn at the top)")
    ax.set_ylim(-0.05, 1.4)
    ax.axhline(math.log(2), color="C0", ls=":", lw=0.8)
    ax.set(xlabel=r"$\theta$ (distance between the lines)", ylabel="nats / distance")
    ax.set_title("C4 exact: JSD, TV, KL jump at 0; W1 = |theta|")
    ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0.0, 0.12))


def _critic_panel(ax, d: dict, cfg: dict) -> None:
    """GP estimates (left axis) and clipped estimates (right axis) against |theta|, with W1 and the GP optimum."""
    ct = np.asarray(d["critic_thetas"], dtype=float)
    a = np.linspace(0, 1.05 * np.abs(ct).max(), 50)
    ax.plot(a, a, "k-", lw=1, label="exact W1 = |theta|")
    ax.plot(a, a * (1 + a / (2 * cfg["lam"])), "k:", lw=1, label=r"GP optimum $|\theta|(1+|\theta|/2\lambda)$")
    ax.plot(np.abs(ct), d["gp_estimate"], "C3o", label=f"WGAN-GP critic (lam {cfg['lam']:g})")
    ax.plot(np.abs(ct), d["control"]["gp_untrained"], "C3x", label="GP critic untrained (control)")
    tol = cfg["gp_tol"]
    ax.fill_between(a, a * (1 - tol), a * (1 + tol), color="C3", alpha=0.1, label=f"+-{100 * tol:.0f}% tolerance")
    ax.set(xlabel=r"$|\theta|$", ylabel=r"$E_P D - E_Q D$ (GP critic)")
    twin = ax.twinx()
    twin.plot(np.abs(ct), d["clip_estimate"], "C0s", label=f"clipped critic (c = {cfg['clip']:g}), right axis")
    twin.plot(a, d["clip_scale_mean"] * a, "C0--", lw=1, label=f"K |theta|, K = {d['clip_scale_mean']:.2e}")
    twin.set_ylabel("clipped critic estimate", color="C0")
    twin.set_ylim(0, 1.15 * max(max(d["clip_estimate"]), d["clip_scale_mean"] * a[-1]))
    ax.set_ylim(0, 1.15 * a[-1] * (1 + a[-1] / (2 * cfg["lam"])))
    figures.twin_legend(ax, twin, fontsize=8, loc="upper left")
    ax.set_title(f"critic estimates (clip scale CV {d['clip_scale_cv']:.2f})")


def _training_panel(ax, d: dict) -> None:
    """Both critics' estimates while training at the largest |theta| (the clipped one divided by K)."""
    ct = np.asarray(d["critic_thetas"], dtype=float)
    i = int(np.argmax(np.abs(ct)))
    for kind, color, label in (("gp", "C3", "GP"), ("clip", "C0", "clipped / K")):
        cv = d["curves"][kind][i]
        y = np.asarray(cv["estimate"]) / (1.0 if kind == "gp" else d["clip_scale_mean"])
        ax.plot(cv["step"], y, "-o", color=color, ms=3, label=label)
    ax.axhline(abs(ct[i]), color="k", lw=1, label=f"W1 = {abs(ct[i]):g}")
    ax.set(xlabel="critic step", ylabel=r"$E_P D - E_Q D$", title=f"critic training at theta = {ct[i]:g}")
    ax.legend(fontsize=8)


def plot(result: study.Result):
    """Exact divergences against theta; critic estimates against |theta|; estimate curves while training."""
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    _exact_panel(axes[0], result.data)
    _critic_panel(axes[1], result.data, result.config)
    _training_panel(axes[2], result.data)
    fig.tight_layout()
    return fig


def main(argv=None) -> dict:
    # tiny 2-D critics: the CPU is the right device
    return study.main_of(__name__, argv, cpu_only=True)


if __name__ == "__main__":
    main()
