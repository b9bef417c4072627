"""divergence_fits: one Gaussian fitted to a bimodal mixture by forward KL, reverse KL, JSD and W1, exactly and by GANs.

Claim C5 (Risteski and Chintala lectures): fitting by forward KL(p || q) (maximum likelihood) averages over modes;
reverse KL and the GAN/JSD objective seek modes.
Target p = 0.5 N(-2.5, 0.5^2) + 0.5 N(2.5, 0.5^2), model q = N(mu, sigma^2). Exact: each divergence by quadrature
through the library (`gaussian1d.landscape`, `quadrature_divergence` on one grid), as landscapes over (mu, sigma)
and by Adam descent from six starts (local minimisers; the lowest is the global one). Half-separation 2.5, not
2: with modes at +-2 (sigma 0.5) the JSD's global minimiser is still the mode-averaging Gaussian (JSD 0.201
against 0.216 on a mode); the sweep panel shows where each divergence switches as the modes separate.
GANs: `gaussian1d.location_scale_game` from the same starts, alternating updates (5 Adam D steps per Adam G step,
cosine decay on G; D's step 0.05 for the slope critic, 0.01 for the quadratic one), with the f-GAN objectives
kl, reverse_kl and jensen_shannon (Nowozin et al. 2016) and wasserstein (Arjovsky et al. 2017; Adam instead
of RMSProp, a named deviation):
* a rich critic ('slopes': piecewise linear, 96 cells on [-12, 12]) on the grid quadrature, weights clipped to
  [-1, 1] for WGAN (exactly the 1-Lipschitz class on the cells); each GAN's inner optimum is then its divergence
  (checked at the GAN ends: D's optimum by Newton for the f-GANs, the sign vertex for the clipped critic; within
  2e-3, and 1e-2 for W1, whose cells lose a little where F_q - F_p changes sign), so it descends that landscape;
* a quadratic critic (Gauss-Hermite quadrature): it holds the optimal logit only between two Gaussians. On this
  target every f-GAN's inner optimum is 0 exactly when q matches p's first two moments (the constant critic is
  then stationary; checked: the inner optimum there is 0 to 1e-9), so all three f-GANs end at the moment-matched
  Gaussian, whatever their f: the critic class, not the divergence, decides the fit. Reported, not a failure of
  the claim.
Controls: each divergence's shape checks on another divergence's minimiser (forward KL against reverse KL's, and
back); the descent and GAN checks on the starting points before any step (the untrained G); the inner-optimum
checks on the critic at its initialisation (psi = 0, no best response); the quadratic-critic checks on the
rich (slope) critic, whose f-GANs do not end at, and whose inner optimum is not 0 at, the moment-matched Gaussian.
Scales: smoke (seconds, the test suite), quick (< 1 min on 2 CPU cores), paper (the committed figure; about
10 minutes on a loaded 2-core machine). Grid sizes, descent and GAN steps and the number of separations change
with the scale.
"""

import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from sandbox.dynamics import make_rule, optimiser_step, projected, simulate
from sandbox.objectives import get_objective
from sandbox.penalties import clip_weights_
from sandbox.reporting import study
from sandbox.reporting.kit import Headline
from sandbox.theory import gaussian1d as g1

CLAIM = (
    "Fitting one Gaussian to a bimodal mixture: forward KL (maximum likelihood) averages the modes; reverse "
    "KL and JSD seek a mode; GANs whose critic class holds the optimal critic descend the same landscapes."
)
CLAIMS = ["C5"]
SCALES = {
    "smoke": dict(
        mus=21, sigmas=17, exact_steps=100, gan_steps=100, sweep_steps=80, separations=[1.5, 3.0], newton_iters=12
    ),
    "quick": dict(
        mus=61,
        sigmas=49,
        exact_steps=800,
        gan_steps=800,
        sweep_steps=400,
        separations=[1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0],
        newton_iters=30,
    ),
    "paper": dict(
        mus=81,
        sigmas=65,
        exact_steps=1500,
        gan_steps=1500,
        sweep_steps=500,
        newton_iters=30,
        separations=[1.0, 1.5, 1.75, 2.0, 2.25, 2.5, 3.0, 3.5, 4.0],
    ),
}
# smoke's 100 steps leave the slow starts (a narrow start under KL, the flat centre of reverse KL) short of their
# minimisers, so the GAN-against-exact checks cannot hold there; paper scale gives them 1500 steps
SMOKE_MUST_PASS = False
HALF_SEP, MODE_STD = 2.5, 0.5
TARGET = g1.Mixture([0.5, 0.5], [-HALF_SEP, HALF_SEP], [MODE_STD, MODE_STD])
# [-15, 15]: wide enough for sigma up to ~3 (tails below 1e-3 of the mass), narrow enough that a sigma 0.5
# model never underflows on it, which would make the forward KL infinite
GRID = g1.grid(-15.0, 15.0, 1201)
STARTS = [(-1.5, 1.0), (-0.4, 2.0), (0.3, 0.7), (1.2, 3.0), (2.0, 1.5), (3.0, 0.5)]
DIVERGENCES = ("forward_kl", "reverse_kl", "jsd", "w1")
GANS = {"forward_kl": "kl", "reverse_kl": "reverse_kl", "jsd": "jensen_shannon", "w1": "wasserstein"}
LABELS = {"forward_kl": "forward KL(p||q)", "reverse_kl": "reverse KL(q||p)", "jsd": "JSD", "w1": "W1"}
EXACT_LR, G_LR, BETAS, N_D = 0.05, 0.02, (0.5, 0.999), 5
# D's Adam step per critic: a quadratic coefficient moves the logit by lr x^2, so it needs the smaller step
# (at 0.05 the KL f-GAN's exp(v - 1) terms kept D from tracking G, which then crept instead of converging)
D_LR = {"slopes": 0.05, "quadratic": 0.01}
# The GAN tolerances were set with the study (c2648fc). The committed paper run measured: best ends within 0.03 of
# the global minimisers, every end within 0.15 of an exact local minimiser, inner-optimum gaps 4e-4 (f-GANs) and
# 7e-3 (W1, whose cells lose a little where F_q - F_p changes sign), quadratic f-GAN ends within 1.3e-3.
GAN_TOL = 0.1  # |mu| and sigma of the best GAN end against the exact global minimiser
LOCAL_TOL = 0.2  # a GAN end within this of an exact local minimiser of its divergence counts as converged there
INNER_TOL = {"forward_kl": 2e-3, "reverse_kl": 2e-3, "jsd": 2e-3, "w1": 1e-2}  # GAN inner optimum vs divergence
ZERO_TOL = 1e-9  # the quadratic critic's inner optimum at the moment match is 0 up to Newton's rounding
F_SCALE = {"forward_kl": 1.0, "reverse_kl": 1.0, "jsd": 2.0}  # the f-divergence of the jensen_shannon f is 2 JSD


def divergence_fn(name: str, target: g1.Mixture = TARGET):
    """(mu, sigma) tensors (B,) -> D(target, N(mu, sigma^2)) (B,) by quadrature on GRID, differentiable."""
    p = g1.mixture_pdf(GRID.x, *target)
    return lambda mu, sigma: g1.quadrature_divergence(name, p, g1.normal_pdf(GRID.x, mu[:, None], sigma[:, None]), GRID)


def descend(name: str, starts, steps: int, target: g1.Mixture = TARGET) -> dict:
    """Adam on (mu, log sigma) of the exact divergence from each start, cosine-decayed: local minimisers."""
    start = torch.as_tensor(starts, dtype=torch.float64)
    mu, log_sigma = start[:, 0].clone().requires_grad_(True), start[:, 1].log().requires_grad_(True)
    opt = torch.optim.Adam([mu, log_sigma], lr=EXACT_LR)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    f = divergence_fn(name, target)
    for _ in range(steps):
        opt.zero_grad()
        f(mu, log_sigma.exp()).sum().backward()
        opt.step()
        schedule.step()
    with torch.no_grad():
        value = f(mu, log_sigma.exp())
    return dict(mu=mu.detach().numpy(), sigma=log_sigma.detach().exp().numpy(), value=value.numpy())


def gan_fit(divergence: str, critic: str, steps: int) -> dict:
    """The matching GAN from every start; its path (thinned) and ends, with the exact divergence at the ends."""
    objective, quadrature = GANS[divergence], ("grid" if critic == "slopes" else "hermite")
    start = torch.as_tensor(STARTS, dtype=torch.float64)
    game = g1.location_scale_game(
        start[:, 0],
        start[:, 1].log(),
        torch.zeros(len(STARTS), g1.CRITICS[critic][1]),
        TARGET,
        get_objective(objective),
        critic=critic,
        quadrature=quadrature,
        g=GRID,
    )
    g_opt = torch.optim.Adam(game.x, lr=G_LR, betas=BETAS)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(g_opt, steps)
    g_step, step_y = optimiser_step(g_opt), optimiser_step(torch.optim.Adam(game.y, lr=D_LR[critic], betas=BETAS))
    if objective == "wasserstein":
        step_y = projected(step_y, lambda params: clip_weights_(params, 1.0))  # slopes in [-1, 1]: Lipschitz 1

    def step_x(params, grads):
        g_step(params, grads)
        schedule.step()

    tr = simulate(game, make_rule("alternating", n_d=N_D), step_x, step_y, steps, record_every=max(1, steps // 60))
    mu, sigma = tr.final[:, 0], tr.final[:, 1].exp()
    return dict(
        mu=mu.numpy(),
        sigma=sigma.numpy(),
        value=divergence_fn(divergence)(mu, sigma).numpy(),
        path_mu=np.round(tr.z[:, :, 0].double().numpy(), 4),
        path_sigma=np.round(tr.z[:, :, 1].double().exp().numpy(), 4),
    )


def inner_value(divergence: str, critic: str, mu, sigma, iters: int, optimise: bool = True) -> np.ndarray:
    """The GAN's value at D's optimum for fixed G = N(mu, sigma^2), in the divergence's units (f-GAN: / F_SCALE);
    optimise False: at the critic's initialisation psi = 0 instead (the control)."""
    mu, sigma = torch.as_tensor(mu, dtype=torch.float64), torch.as_tensor(sigma, dtype=torch.float64)
    psi = torch.zeros(len(mu), g1.CRITICS[critic][1], dtype=torch.float64, requires_grad=True)
    quadrature = "grid" if critic == "slopes" else "hermite"
    losses = g1.location_scale_losses(
        mu, sigma.log(), psi, TARGET, get_objective(GANS[divergence]), critic=critic, quadrature=quadrature, g=GRID
    )
    if optimise and divergence == "w1":  # linear in psi over the box [-1, 1]^K: the optimum is the vertex -sign(grad)
        (grad,) = torch.autograd.grad(losses.d().sum(), psi)
        with torch.no_grad():
            psi.copy_(-torch.sign(grad))
    elif optimise:
        g1.best_response(losses.d, psi, iters)
    value = -losses.d().detach().numpy()
    return value if divergence == "w1" else value / F_SCALE[divergence]


def sweep(separations, steps: int) -> dict:
    """Global minimiser (|mu|, sigma) of each divergence as the modes separate: the better of two starts."""
    out = {name: dict(abs_mu=[], sigma=[]) for name in DIVERGENCES}
    for m in separations:
        target = g1.Mixture([0.5, 0.5], [-m, m], [MODE_STD, MODE_STD])
        starts = [(0.05, math.sqrt(m * m + MODE_STD**2)), (m, MODE_STD)]
        for name in DIVERGENCES:
            fit = descend(name, starts, steps, target)
            i = int(np.argmin(fit["value"]))
            out[name]["abs_mu"].append(abs(float(fit["mu"][i])))
            out[name]["sigma"].append(float(fit["sigma"][i]))
    return out


def _significant(values: np.ndarray, digits: int) -> np.ndarray:
    """values rounded to `digits` significant digits (keeps the JSON small; the figure needs no more)."""
    return np.array([float(f"{v:.{digits}g}") for v in np.asarray(values).ravel()]).reshape(np.shape(values))


def _tidy(x: float) -> float:
    """x rounded to 2 decimals without a '-0.00'."""
    return round(x, 2) + 0.0


def _nearest(mu, sigma, minima) -> float:
    """Distance in (|mu|, sigma) from a point to the nearest of a set of minimisers (landscapes symmetric in mu)."""
    return float(min(math.hypot(abs(mu) - abs(a), sigma - b) for a, b in minima))


def exact_fits(cfg: dict, mus: np.ndarray, sigmas: np.ndarray) -> dict:
    """Per divergence: its landscape and argmin on the (mu, sigma) grid, the descents from STARTS, the global min."""
    out = dict(landscape={}, landscape_argmin={}, exact={}, global_min={})
    for name in DIVERGENCES:
        L = g1.landscape(name, TARGET, mus, sigmas, GRID).numpy()
        i, j = np.unravel_index(np.argmin(L), L.shape)
        out["landscape"][name] = _significant(L, 5)
        out["landscape_argmin"][name] = (float(mus[j]), float(sigmas[i]))
        fit = descend(name, STARTS, cfg["exact_steps"])
        out["exact"][name] = fit
        k = int(np.argmin(fit["value"]))
        out["global_min"][name] = dict(
            mu=float(fit["mu"][k]), sigma=float(fit["sigma"][k]), value=float(fit["value"][k])
        )
    return out


def gan_summary(data: dict, cfg: dict) -> dict:
    """Per GAN (slope critic): its best end, each end's distance to the nearest exact local minimiser, and its
    inner optimum at the ends against the divergence there (and, the control, the value at psi = 0)."""
    summary = {}
    for name in DIVERGENCES:
        gan, exact = data["gan"][name], data["exact"][name]
        best = int(np.argmin(gan["value"]))
        minima = [(float(a), float(b)) for a, b in zip(exact["mu"], exact["sigma"])]
        far = [_nearest(a, b, minima) for a, b in zip(gan["mu"], gan["sigma"])]
        inner = inner_value(name, "slopes", gan["mu"], gan["sigma"], cfg["newton_iters"])
        summary[name] = dict(
            best_mu=float(gan["mu"][best]),
            best_sigma=float(gan["sigma"][best]),
            best_value=float(gan["value"][best]),
            distance_to_nearest_exact_minimiser=far,
            converged_starts=int(sum(f < LOCAL_TOL for f in far)),
            inner_value_at_ends=inner,
            divergence_at_ends=gan["value"],
            inner_value_max_gap=float(np.abs(inner - gan["value"]).max()),
        )
    return summary


def moment_match(data: dict, cfg: dict, moment_sigma: float) -> dict:
    """The quadratic-critic f-GANs against the moment-matched Gaussian: end distances, inner optimum, divergence."""
    at_moments = torch.tensor([0.0], dtype=torch.float64), torch.tensor([moment_sigma], dtype=torch.float64)
    return dict(
        gan_quadratic_distance_to_moment_match={
            n: [_nearest(a, b, [(0.0, moment_sigma)]) for a, b in zip(f["mu"], f["sigma"])]
            for n, f in data["gan_quadratic"].items()
        },
        # why: with a quadratic critic the inner optimum vanishes at the moment-matched Gaussian, for every f
        quadratic_inner_value_at_moment_match={
            n: float(inner_value(n, "quadratic", [0.0], [moment_sigma], cfg["newton_iters"])[0])
            for n in data["gan_quadratic"]
        },
        divergence_at_moment_match={n: float(divergence_fn(n)(*at_moments)[0]) for n in data["gan_quadratic"]},
    )


def control_data(data: dict, cfg: dict, moment_sigma: float) -> dict:
    """The controls' numbers: the starts (untrained G), the critic at psi = 0, the slope critic at the moments."""
    start = torch.as_tensor(STARTS, dtype=torch.float64)
    out = dict(start_best={}, start_distance_to_nearest_exact_minimiser={}, inner_value_max_gap_at_psi_0={})
    for name in DIVERGENCES:
        values = divergence_fn(name)(start[:, 0], start[:, 1]).numpy()
        k = int(np.argmin(values))
        out["start_best"][name] = dict(mu=STARTS[k][0], sigma=STARTS[k][1], value=float(values[k]))
        exact = data["exact"][name]
        minima = [(float(a), float(b)) for a, b in zip(exact["mu"], exact["sigma"])]
        out["start_distance_to_nearest_exact_minimiser"][name] = [_nearest(a, b, minima) for a, b in STARTS]
        gan = data["gan"][name]
        at_psi_0 = inner_value(name, "slopes", gan["mu"], gan["sigma"], 0, optimise=False)
        out["inner_value_max_gap_at_psi_0"][name] = float(np.abs(at_psi_0 - gan["value"]).max())
    out["slope_gan_distance_to_moment_match"] = {
        n: [_nearest(a, b, [(0.0, moment_sigma)]) for a, b in zip(data["gan"][n]["mu"], data["gan"][n]["sigma"])]
        for n in data["gan_quadratic"]
    }
    out["slope_inner_value_at_moment_match"] = {
        n: float(inner_value(n, "slopes", [0.0], [moment_sigma], cfg["newton_iters"])[0]) for n in data["gan_quadratic"]
    }
    return out


def make_checks(data: dict, moment_sigma: float) -> tuple:
    """Every check and its control: the same test on another divergence's fit, the starts, or the other critic."""
    g, ctl, summary = data["global_min"], data["control"], data["gan_summary"]
    mus, sigmas = np.asarray(data["mus"]), np.asarray(data["sigmas"])
    dmu, dsig = mus[1] - mus[0], sigmas[1] - sigmas[0]
    averages = lambda m: abs(m["mu"]) < 0.3 and m["sigma"] > 1.5
    moments = lambda m: abs(m["sigma"] - moment_sigma) < 0.01
    seeks = lambda m: abs(m["mu"]) > 1.5 and m["sigma"] < 1.0
    agree = lambda fits: all(
        abs(abs(fits[n]["mu"]) - abs(data["landscape_argmin"][n][0])) <= 1.5 * dmu
        and abs(fits[n]["sigma"] - data["landscape_argmin"][n][1]) <= 1.5 * dsig
        for n in DIVERGENCES
    )
    at_moments = lambda far: all(max(v) < GAN_TOL for v in far.values())
    zero = lambda values: max(abs(v) for v in values.values()) < ZERO_TOL
    rev = "reverse KL's global minimiser (a mode)"
    tests = {  # name: (check on ours, check on the control, the control)
        "forward_kl_fit_averages_modes": (averages(g["forward_kl"]), averages(g["reverse_kl"]), rev),
        "forward_kl_fit_is_the_moment_matched_gaussian": (moments(g["forward_kl"]), moments(g["reverse_kl"]), rev),
        "reverse_kl_fit_seeks_a_mode": (seeks(g["reverse_kl"]), seeks(g["forward_kl"]), "forward KL's minimiser"),
        "jsd_fit_seeks_a_mode": (seeks(g["jsd"]), seeks(g["forward_kl"]), "forward KL's minimiser"),
        "descent_agrees_with_landscape_argmin": (
            agree(g),
            agree(ctl["start_best"]),
            "the best start before any descent step",
        ),
        "quadratic_critic_fgans_end_at_moment_matching": (
            at_moments(data["gan_quadratic_distance_to_moment_match"]),
            at_moments(ctl["slope_gan_distance_to_moment_match"]),
            "the same f-GANs with the slope critic (it holds the optimal logit)",
        ),
        "quadratic_critic_inner_optimum_is_0_at_moment_match": (
            zero(data["quadratic_inner_value_at_moment_match"]),
            zero(ctl["slope_inner_value_at_moment_match"]),
            "the slope critic's inner optimum at the moment-matched Gaussian",
        ),
    }
    for name in DIVERGENCES:
        s, gan = summary[name], GANS[name]
        best = dict(mu=s["best_mu"], sigma=s["best_sigma"])
        matches = lambda m: (
            abs(abs(m["mu"]) - abs(g[name]["mu"])) < GAN_TOL and abs(m["sigma"] - g[name]["sigma"]) < GAN_TOL
        )
        starts = "the GAN's starts before any step (the untrained G)"
        tests[f"{gan}_gan_best_end_matches_exact_minimiser"] = (
            matches(best),
            matches(ctl["start_best"][name]),
            f"{starts}, the best by {LABELS[name]}",
        )
        tests[f"{gan}_gan_ends_at_exact_local_minimisers"] = (
            s["converged_starts"] == len(STARTS),
            all(f < LOCAL_TOL for f in ctl["start_distance_to_nearest_exact_minimiser"][name]),
            starts,
        )
        tests[f"{gan}_gan_inner_optimum_is_the_divergence"] = (
            s["inner_value_max_gap"] < INNER_TOL[name],
            ctl["inner_value_max_gap_at_psi_0"][name] < INNER_TOL[name],
            "the critic at its initialisation (psi = 0, no best response) at the same ends",
        )
    checks = {name: bool(ours) for name, (ours, _, _) in tests.items()}
    controls = {name: dict(control=what, control_passes=bool(c)) for name, (_, c, what) in tests.items()}
    return checks, controls


def run(scale: str = "paper", seed: int = 0, device=None) -> study.Result:
    """Landscapes, exact fits, the separation sweep and the GAN fits (deterministic: quadrature throughout)."""
    cfg = dict(
        SCALES[scale],
        seed=seed,
        target=TARGET._asdict(),
        starts=STARTS,
        grid=(-15.0, 15.0, 1201),
        exact_lr=EXACT_LR,
        g_lr=G_LR,
        d_lr=D_LR,
        betas=BETAS,
        n_d=N_D,
        gan_tol=GAN_TOL,
        local_tol=LOCAL_TOL,
        gans=GANS,
    )
    clock = time.perf_counter()
    mus, sigmas = np.linspace(-4.0, 4.0, cfg["mus"]), np.linspace(0.25, 3.25, cfg["sigmas"])
    moment_sigma = math.sqrt(HALF_SEP**2 + MODE_STD**2)
    data = dict(mus=mus, sigmas=sigmas, **exact_fits(cfg, mus, sigmas))
    data["gan"] = {name: gan_fit(name, "slopes", cfg["gan_steps"]) for name in DIVERGENCES}
    data["gan_quadratic"] = {name: gan_fit(name, "quadratic", cfg["gan_steps"]) for name in DIVERGENCES if name != "w1"}
    data["sweep"] = dict(separations=cfg["separations"], **sweep(cfg["separations"], cfg["sweep_steps"]))
    data["moment_matched"] = (0.0, moment_sigma)
    data["gan_summary"] = gan_summary(data, cfg)
    data.update(moment_match(data, cfg, moment_sigma))
    data["control"] = control_data(data, cfg, moment_sigma)
    checks, controls = make_checks(data, moment_sigma)
    data["seconds"] = time.perf_counter() - clock
    g = data["global_min"]
    data["headline"] = [
        Headline(
            "C5",
            f"fitted sigma, forward KL / reverse KL (mixture modes at +-{HALF_SEP:g}, std {MODE_STD:g})",
            f"{g['forward_kl']['sigma']:.3f} / {g['reverse_kl']['sigma']:.3f}",
            setting_difference="exact landscapes; forward KL = the "
            "moment-matched Gaussian (averages), reverse KL sits on one mode",
        )._asdict(),
    ]
    return study.Result(config=cfg, data=data, checks=checks, controls=controls)


def _landscape_panel(fig, ax, d: dict, name: str) -> None:
    """One divergence's landscape over (mu, sigma) with the starts, GAN paths and ends, exact minimisers."""
    L = np.asarray(d["landscape"][name], dtype=float)
    lo = np.nanmin(L)
    levels = lo + (np.nanpercentile(L, 60) - lo) * np.linspace(0, 1, 16) ** 2  # dense near the minimum
    cs = ax.contourf(d["mus"], d["sigmas"], np.minimum(L, levels[-1]), levels=levels, cmap="viridis")
    fig.colorbar(cs, ax=ax, fraction=0.046, pad=0.02)
    gan, quad, exact = d["gan"][name], d["gan_quadratic"].get(name), d["exact"][name]
    for k in range(len(STARTS)):
        ax.plot(np.asarray(gan["path_mu"])[:, k], np.asarray(gan["path_sigma"])[:, k], "w-", lw=0.8, alpha=0.7)
    ax.plot(*np.array(STARTS).T, "wo", ms=5, mfc="none", label="starts")
    ax.plot(exact["mu"], exact["sigma"], "rx", ms=10, mew=2, label="exact local minimisers")
    label = "matching GAN ends (slope critic; white: paths)"
    ax.plot(gan["mu"], gan["sigma"], "o", color="orange", ms=7, mfc="none", mew=2, label=label)
    if quad is not None:
        ax.plot(quad["mu"], quad["sigma"], "c^", ms=7, mfc="none", label="f-GAN ends (quadratic D)")
    gm = d["global_min"][name]
    ax.plot([gm["mu"]], [gm["sigma"]], "r*", ms=16, mec="k", label="global minimiser")
    ax.set_title(f"{LABELS[name]}: global min at mu {_tidy(gm['mu']):+.2f}, sigma {gm['sigma']:.2f}")
    ax.set(xlabel=r"$\mu$", ylabel=r"$\sigma$")


def _density_panel(ax, d: dict, source: str, title: str) -> None:
    """The target density and the fitted Gaussians: the exact global minimisers or the best GAN ends."""
    x = np.linspace(-7, 7, 701)
    ax.fill_between(x, g1.mixture_pdf(torch.as_tensor(x), *TARGET).numpy(), color="grey", alpha=0.3, label="target p")
    for c, name in enumerate(DIVERGENCES):
        if source == "global_min":
            mu, sigma, label = d["global_min"][name]["mu"], d["global_min"][name]["sigma"], LABELS[name]
        else:
            mu, sigma = d["gan_summary"][name]["best_mu"], d["gan_summary"][name]["best_sigma"]
            label = f"{GANS[name]} GAN"
        q = g1.normal_pdf(torch.as_tensor(x), mu, sigma).numpy()
        ls = "-" if c % 2 == 0 else "--"
        ax.plot(x, q, color=f"C{c}", lw=2, ls=ls, label=f"{label}: N({_tidy(mu):+.2f}, {sigma:.2f}$^2$)")
    ax.set(title=f"fitted Gaussians: {title}", xlabel="x", ylabel="density")
    ax.legend(fontsize=8)


def _sweep_panel(ax, d: dict, key: str, ylabel: str) -> None:
    """Each divergence's global minimiser (|mu| or sigma) against the half-separation of the modes."""
    sw = d["sweep"]
    m = np.asarray(sw["separations"])
    for c, name in enumerate(DIVERGENCES):
        ax.plot(m, sw[name][key], "o-", color=f"C{c}", label=LABELS[name])
    if key == "abs_mu":
        ax.plot(m, m, "k:", lw=1, label="mode position m")
    else:
        ax.plot(m, np.sqrt(m**2 + MODE_STD**2), "k:", lw=1, label=r"moment match $\sqrt{m^2+s^2}$")
        ax.axhline(MODE_STD, color="grey", ls="--", lw=1, label="mode width s")
    ax.axvline(HALF_SEP, color="grey", lw=0.8)
    ax.set(xlabel=r"half-separation m: p = N(-m, 0.5$^2$)/2 + N(m, 0.5$^2$)/2", ylabel=f"global minimiser {ylabel}")
    ax.set_title(f"global minimiser {ylabel} as the modes separate")
    ax.legend(fontsize=8)


def plot(result: study.Result):
    """Landscapes with the exact and GAN ends; the fitted densities; the separation sweep."""
    d = result.data
    fig, axes = plt.subplots(2, 4, figsize=(21, 9.5))
    for ax, name in zip(axes[0], DIVERGENCES):
        _landscape_panel(fig, ax, d, name)
    fig.legend(
        *axes[0, 1].get_legend_handles_labels(),
        loc="upper center",
        ncol=5,
        fontsize=10,
        title="GANs: kl, reverse_kl, jensen_shannon, wasserstein (clipped) for the four panels",
        title_fontsize=10,
    )
    _density_panel(axes[1, 0], d, "global_min", "exact minimisers")
    _density_panel(axes[1, 1], d, "gan", "best GAN ends")
    _sweep_panel(axes[1, 2], d, "abs_mu", r"|$\mu^*$|")
    _sweep_panel(axes[1, 3], d, "sigma", r"$\sigma^*$")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


def main(argv=None) -> dict:
    # 1-D quadrature: a GPU would only add launch latency
    return study.main_of(__name__, argv, cpu_only=True)


if __name__ == "__main__":
    main()
