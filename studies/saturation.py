"""saturation: the saturating generator loss log(1 - D) stalls when D rejects; the non-saturating -log D does not.

Claim C6 (Goodfellow et al. 2014, Sec. 3; Ilin and Zhan lectures): the saturating generator loss log(1 - D(G(z)))
has a vanishing gradient when D confidently rejects (D(G(z)) -> 0); the non-saturating -log D(G(z)) does not;
both have the same fixed point.
Three views, all through the registered objective terms (`minimax` is the saturating G loss, `nonsaturating`
the -log D one; their D losses are identical):
(a) logit space: with t = logit D(G(z)), d/dt log(1 - sigmoid t) = -D and d/dt (-log sigmoid t) = -(1 - D)
    (autograd on the objective terms), so the saturating gradient is D itself and vanishes as D -> 0.
(b) the exact game: data N(4, 0.5^2), G = N(theta, 0.5^2), D the exact optimum (a linear logit, held by
    `gaussian1d`'s quadratic critic; expectations on its fine grid, which matches an mpmath integral to 1e-12
    relative at theta = -4, where the saturating gradient is 3.1e-14); G's gradient in theta for each loss over
    theta in [-4, 6]. Both are exactly 0 at theta = 4, where D* = 1/2 (the shared fixed point).
(c, d) a real run: G(z) = theta + 0.5 z from theta = -4, an MLP D (2 x 64 ReLU, Adam) first trained alone until it
    rejects G's samples confidently, then alternating updates (one D step, one G step by plain gradient descent
    so that G moves by lr x its gradient) with each G loss from the same D and the same batches; and, for the
    fixed point, G started at the data with D trained there.
Controls: the untrained D (it does not reject), each G loss's check on the other loss, the same two runs started
at the data with D trained there (the fixed point: nothing to gain, the two gradients equal), and the gradients
one grid step (exact D) or the whole start distance (trained D) away from the fixed point.
Scales: smoke (seconds, the test suite), quick (< 1 min on 2 CPU cores), paper (the committed figure; at most
2 minutes on 2 CPU cores). The number of G steps and D pre-training steps change with the scale.
"""

import copy
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from sandbox.dynamics import gd, grads_x, grads_y, make_rule, optimiser_step
from sandbox.games import network_game
from sandbox.nets import mlp_discriminator
from sandbox.objectives import OBJECTIVES, get_objective
from sandbox.reporting import study
from sandbox.reporting.kit import Headline
from sandbox.theory import gaussian1d as g1

CLAIM = (
    "The saturating G loss log(1 - D(G(z))) has gradient D(G(z)) in logit space, so it vanishes when D "
    "rejects confidently; -log D(G(z)) keeps a gradient 1 - D; both losses share the fixed point p_g = p_data."
)
CLAIMS = ["C6"]
SCALES = {
    "smoke": dict(g_steps=400, pretrain=300, batch=128, early=20),
    "quick": dict(g_steps=600, pretrain=400, batch=256, early=50),
    "paper": dict(g_steps=1500, pretrain=600, batch=256, early=50),
}
DATA_MU, DATA_SIGMA, THETA0 = 4.0, 0.5, -4.0
HIDDEN, D_LR, D_BETAS, G_LR = 64, 1e-3, (0.5, 0.999), 0.05
LOSSES = {"saturating": "minimax", "nonsaturating": "nonsaturating"}
# The three thresholds predate the controls (set with the study, c2648fc). The committed paper run measured an early
# ratio of 6.6e4, mean D(G(z)) 1.3e-4 after pre-training, and gradients at the data 2e-4 of the early NS gradient.
EARLY_RATIO = 100.0  # NS / saturating gradient over the first `early` G steps must exceed this
REJECTS = 1e-2  # D "confidently rejects" when mean D(G(z)) is below this after pre-training
AT_DATA = 0.05  # at the data both gradients must be below this fraction of the early NS gradient
MARGIN = 0.5  # the NS G must end closer to the data than the saturating one by this fraction of the start distance


class Shift(nn.Module):
    """G(z) = theta + sigma z, a location generator with one parameter."""

    def __init__(self, theta: float, sigma: float):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([theta]))
        self.sigma = sigma

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.theta + self.sigma * z


def logit_space(d_values: np.ndarray) -> dict:
    """|d g_fake / dt| at t = logit D for both G losses, by autograd through the registered terms."""
    t = torch.logit(torch.as_tensor(d_values, dtype=torch.float64)).requires_grad_(True)
    out = {}
    for name, objective in LOSSES.items():
        (grad,) = torch.autograd.grad(OBJECTIVES[objective].g_fake(t).sum(), t)
        out[name] = grad.abs().numpy()
    return out


def exact_game_gradients(thetas: np.ndarray) -> dict:
    """dL_G/dtheta against the exact D* for G = N(theta, s^2) and data N(4, s^2), one game per theta."""
    thetas = torch.as_tensor(thetas, dtype=torch.float64)
    psi = g1.optimal_quadratic_logit(DATA_MU, DATA_SIGMA, thetas, DATA_SIGMA)
    target = g1.Mixture([1.0], [DATA_MU], [DATA_SIGMA])
    out = {}
    for name, objective in LOSSES.items():
        # the grid quadrature: Gauss-Hermite's nodes lose the 1e-14 tail overlap that sets the far saturating value
        game = g1.location_scale_game(
            thetas,
            torch.full_like(thetas, np.log(DATA_SIGMA)),
            psi,
            target,
            get_objective(objective),
            quadrature="grid",
        )
        out[name] = grads_x(game)[0].abs().numpy()
    return out


def _batches(cfg: dict, seed: int):
    gen = torch.Generator().manual_seed(seed)
    real = lambda: DATA_MU + DATA_SIGMA * torch.randn(cfg["batch"], 1, generator=gen)
    z = lambda: torch.randn(cfg["batch"], 1, generator=gen)
    return real, z


def pretrain(cfg: dict, seed: int, theta: float) -> nn.Module:
    """D trained alone (Adam) against G(z) = theta + 0.5 z for cfg['pretrain'] steps."""
    D = mlp_discriminator(in_dim=1, hidden=HIDDEN, depth=2, generator=torch.Generator().manual_seed(seed))
    real, z = _batches(cfg, seed + 1)
    game = network_game(Shift(theta, DATA_SIGMA), D, real, z, objective=get_objective("minimax"))
    step = optimiser_step(torch.optim.Adam(D.parameters(), lr=D_LR, betas=D_BETAS))
    for _ in range(cfg["pretrain"]):
        step(game.y, grads_y(game))
    return D


def _significant(x, digits: int = 5) -> float:
    """float(x) rounded to `digits` significant digits (keeps the per-step logs in the JSON small)."""
    return float(f"{float(x):.{digits}g}")


def train(cfg: dict, seed: int, D0: nn.Module, objective: str, theta: float, steps: int) -> dict:
    """Alternating updates (one Adam D step, then one G gradient step) from (theta, D0); logs per G step."""
    D, G = copy.deepcopy(D0), Shift(theta, DATA_SIGMA)
    real, z = _batches(cfg, seed + 2)  # the same batches for both G losses
    game = network_game(G, D, real, z, objective=get_objective(objective))
    step_y = optimiser_step(torch.optim.Adam(D.parameters(), lr=D_LR, betas=D_BETAS))
    log = {"grad_norm": [], "theta": [], "d_fake": []}  # floats rounded to 5 significant digits
    g_step = gd(G_LR)

    def step_x(params, grads):  # the G step, recording the gradient it is about to take
        log["grad_norm"].append(_significant(torch.sqrt(sum((g**2).sum() for g in grads))))
        g_step(params, grads)

    z_eval = torch.randn(1024, 1, generator=torch.Generator().manual_seed(seed + 3))
    rule, state = make_rule("alternating", n_d=1), {}
    for _ in range(steps):
        rule(game, step_x, step_y, state)
        with torch.no_grad():
            log["theta"].append(_significant(G.theta))
            log["d_fake"].append(_significant(torch.sigmoid(D(G(z_eval))).mean()))
    return log


def gradient_at(cfg: dict, D: nn.Module, objective: str, theta: float, seed: int) -> float:
    """|grad_theta| of one G loss at theta against D, averaged over 16 batches (less sampling noise)."""
    G = Shift(theta, DATA_SIGMA)
    real, z = _batches(cfg, seed)
    game = network_game(G, D, real, z, objective=get_objective(objective))
    return float(torch.stack([grads_x(game)[0] for _ in range(16)]).mean().abs())


def run_pair(cfg: dict, seed: int, D0: nn.Module, theta: float) -> dict:
    """Both G losses from (theta, D0) on the same batches: their logs, early mean gradients, ratio, final distances."""
    runs = {name: train(cfg, seed, D0, obj, theta, cfg["g_steps"]) for name, obj in LOSSES.items()}
    early = {k: float(np.mean(r["grad_norm"][: cfg["early"]])) for k, r in runs.items()}
    return dict(
        runs=runs,
        early_mean_grad=early,
        early_ratio=early["nonsaturating"] / early["saturating"],
        final_distance={k: abs(r["theta"][-1] - DATA_MU) for k, r in runs.items()},
    )


def mean_d_fake(D: nn.Module, seed: int) -> float:
    """Mean D(G(z)) over 4096 fixed draws of G(z) = THETA0 + 0.5 z."""
    with torch.no_grad():
        z = torch.randn(4096, 1, generator=torch.Generator().manual_seed(seed + 4))
        return float(torch.sigmoid(D(THETA0 + DATA_SIGMA * z)).mean())


def controls_data(cfg: dict, seed: int, D0: nn.Module, D_data: nn.Module, exact: dict, thetas, i4: int) -> dict:
    """The control measurements: untrained D, both losses started at the fixed point, gradients away from it."""
    untrained = mlp_discriminator(in_dim=1, hidden=HIDDEN, depth=2, generator=torch.Generator().manual_seed(seed))
    at_fixed_point = run_pair(cfg, seed, D_data, DATA_MU)
    return dict(
        d_fake_untrained=mean_d_fake(untrained, seed),
        fixed_point_runs={k: dict(grad_norm=r["grad_norm"]) for k, r in at_fixed_point["runs"].items()},
        fixed_point_early_mean_grad=at_fixed_point["early_mean_grad"],
        fixed_point_early_ratio=at_fixed_point["early_ratio"],
        fixed_point_final_distance=at_fixed_point["final_distance"],
        theta_one_step_off_data=float(thetas[i4 - 1]),
        exact_grad_one_step_off_data={k: float(v[i4 - 1]) for k, v in exact.items()},
        grad_at_start_pretrained_d={name: gradient_at(cfg, D0, obj, THETA0, seed + 11) for name, obj in LOSSES.items()},
    )


def verdicts(m: dict) -> dict:
    """Every check on one set of measurements: ours, or ours with a control's numbers put in their place."""
    start = DATA_MU - THETA0
    return {
        "d_rejects_confidently_after_pretraining": m["d_fake"] < REJECTS,
        "early_gradient_ratio_ns_over_saturating_above_100": m["early_ratio"] > EARLY_RATIO,
        # d/dt log(1 - sigmoid t) = -sigmoid t: at D = 1e-3 the gradient is 1e-3 (within 1%), NS's is 1 - 1e-3
        "saturating_logit_gradient_equals_d_at_1e-3": abs(m["logit_sat"] / 1e-3 - 1.0) < 0.01,
        "nonsaturating_logit_gradient_near_1_at_1e-3": abs(m["logit_ns"] - 0.999) < 1e-6,
        "ns_generator_ends_closer_to_the_data_by_half_the_start_distance": m["sat"] - m["ns"] > MARGIN * start,
        "ns_generator_reaches_the_data": m["ns"] < 0.1 * start,
        "saturating_generator_barely_moves": m["sat"] > 0.9 * start,
        "both_gradients_vanish_at_the_data_exact_d": max(m["exact"].values()) < 1e-12,
        "both_gradients_small_at_the_data_trained_d": max(m["trained"].values()) < AT_DATA * m["early_ns"],
    }


def make_checks(data: dict) -> tuple:
    """The checks, and each one's control: the same check with the control's measurements in place of ours."""
    ctl, logit, dist = data["control"], data["logit_grad_at_d_1e3"], data["final_distance"]
    ours = dict(
        d_fake=data["d_fake_after_pretrain"],
        early_ratio=data["early_ratio"],
        logit_sat=logit["saturating"],
        logit_ns=logit["nonsaturating"],
        sat=dist["saturating"],
        ns=dist["nonsaturating"],
        exact=data["exact_grad_at_data"],
        trained=data["grad_at_data_trained_d"],
        early_ns=data["early_mean_grad"]["nonsaturating"],
    )
    at_fixed_point = dict(
        sat=ctl["fixed_point_final_distance"]["saturating"], ns=ctl["fixed_point_final_distance"]["nonsaturating"]
    )
    controls = {  # name: (the control, the measurements it replaces)
        "d_rejects_confidently_after_pretraining": (
            "the same D untrained (no pre-training)",
            dict(d_fake=ctl["d_fake_untrained"]),
        ),
        "early_gradient_ratio_ns_over_saturating_above_100": (
            "both losses started at the data with D trained there (D ~ 1/2: equal gradients)",
            dict(early_ratio=ctl["fixed_point_early_ratio"]),
        ),
        "saturating_logit_gradient_equals_d_at_1e-3": (
            "the non-saturating term's logit gradient at D = 1e-3",
            dict(logit_sat=logit["nonsaturating"]),
        ),
        "nonsaturating_logit_gradient_near_1_at_1e-3": (
            "the saturating term's logit gradient at D = 1e-3",
            dict(logit_ns=logit["saturating"]),
        ),
        "ns_generator_ends_closer_to_the_data_by_half_the_start_distance": (
            "both losses started at the data with D trained there (no gap to close)",
            at_fixed_point,
        ),
        "ns_generator_reaches_the_data": ("the saturating G from the same D and batches", dict(ns=dist["saturating"])),
        "saturating_generator_barely_moves": (
            "the non-saturating G from the same D and batches",
            dict(sat=dist["nonsaturating"]),
        ),
        "both_gradients_vanish_at_the_data_exact_d": (
            f"the same exact gradients one grid step off the data (theta = {ctl['theta_one_step_off_data']:g})",
            dict(exact=ctl["exact_grad_one_step_off_data"]),
        ),
        "both_gradients_small_at_the_data_trained_d": (
            f"the same gradients at theta = {THETA0:g} against the D pre-trained there (away from the fixed point)",
            dict(trained=ctl["grad_at_start_pretrained_d"]),
        ),
    }
    checks = {k: bool(v) for k, v in verdicts(ours).items()}
    return checks, {
        name: dict(control=what, control_passes=bool(verdicts({**ours, **swap})[name]))
        for name, (what, swap) in controls.items()
    }


def run(scale: str = "paper", seed: int = 0, device=None) -> study.Result:
    """The three views of C6, the control runs, and the checks with their controls (CPU: scalar G, tiny D)."""
    cfg = dict(
        SCALES[scale],
        seed=seed,
        data=(DATA_MU, DATA_SIGMA),
        theta0=THETA0,
        hidden=HIDDEN,
        d_lr=D_LR,
        d_betas=D_BETAS,
        g_lr=G_LR,
        early_ratio=EARLY_RATIO,
        rejects_below=REJECTS,
        at_data_fraction=AT_DATA,
        margin_fraction=MARGIN,
    )
    clock = time.perf_counter()
    d_values = np.logspace(-6, np.log10(0.999), 200)
    thetas = np.linspace(-4.0, 6.0, 201)
    exact = exact_game_gradients(thetas)
    D0 = pretrain(cfg, seed, THETA0)
    pair = run_pair(cfg, seed, D0, THETA0)
    D_data = pretrain(cfg, seed + 10, DATA_MU)
    at_data = {name: gradient_at(cfg, D_data, obj, DATA_MU, seed + 11) for name, obj in LOSSES.items()}
    i4 = int(np.argmin(np.abs(thetas - DATA_MU)))
    data = dict(
        d_values=d_values,
        logit_grad=logit_space(d_values),
        thetas=thetas,
        exact_grad=exact,
        d_fake_after_pretrain=mean_d_fake(D0, seed),
        **pair,
        final_theta={k: r["theta"][-1] for k, r in pair["runs"].items()},
        grad_at_data_trained_d=at_data,
        exact_grad_at_data={k: float(v[i4]) for k, v in exact.items()},
        logit_grad_at_d_1e3={k: float(v[0]) for k, v in logit_space(np.array([1e-3])).items()},
        control=controls_data(cfg, seed, D0, D_data, exact, thetas, i4),
    )
    data["seconds"] = time.perf_counter() - clock
    checks, controls = make_checks(data)
    data["headline"] = [
        Headline(
            "C6",
            "early |grad theta| ratio, non-saturating / saturating",
            data["early_ratio"],
            setting_difference=f"1-D Gaussian data, MLP D pretrained to D(G(z)) = {data['d_fake_after_pretrain']:.2g}",
        )._asdict()
    ]
    return study.Result(config=cfg, data=data, checks=checks, controls=controls)


COLOURS = {"saturating": "C3", "nonsaturating": "C0"}
LABELS = {"saturating": "saturating log(1 - D)", "nonsaturating": "non-saturating -log D"}


def _logit_panel(ax, d: dict) -> None:
    """(a) |dL_G/dt| against D(G(z)) for both G losses."""
    for k in LOSSES:
        ax.loglog(d["d_values"], d["logit_grad"][k], color=COLOURS[k], lw=2, label=LABELS[k])
    ax.axvline(1e-3, color="grey", ls=":", lw=1)
    ax.set(xlabel="D(G(z)) = sigmoid(t)", ylabel="|dL_G / dt| (logit space)", title="(a) G-loss gradient vs D(G(z))")
    ax.legend(fontsize=8)


def _exact_panel(ax, d: dict) -> None:
    """(b) |dL_G/dtheta| against the exact D* over theta; both vanish at the data."""
    for k in LOSSES:
        ax.semilogy(d["thetas"], np.maximum(d["exact_grad"][k], 1e-300), color=COLOURS[k], lw=2, label=LABELS[k])
    ax.axvline(DATA_MU, color="k", ls="--", lw=1, label=f"data mean {DATA_MU:g} (fixed point)")
    ax.set(ylim=(1e-30, 1e3), xlabel=r"generator mean $\theta$", ylabel=r"|dL_G / d$\theta$| against the exact D*")
    ax.set_title("(b) exact D*: saturating gradient dies far from the data; both are 0 at it")
    ax.legend(fontsize=8, loc="lower left")


def _gradient_panel(ax, d: dict, cfg: dict) -> None:
    """(c) the real runs' G gradient norms, and the control runs started at the data (dotted)."""
    for k in LOSSES:
        g = d["runs"][k]["grad_norm"]
        ax.semilogy(np.arange(1, len(g) + 1), g, color=COLOURS[k], lw=1, label=LABELS[k])
        g = d["control"]["fixed_point_runs"][k]["grad_norm"]
        ax.semilogy(np.arange(1, len(g) + 1), g, color=COLOURS[k], lw=0.8, ls=":", alpha=0.8)
    ax.plot(
        [],
        [],
        "k:",
        lw=0.8,
        label=f"control: both started at the data (ratio {d['control']['fixed_point_early_ratio']:.2f})",
    )
    ax.axvspan(0, cfg["early"], color="grey", alpha=0.15, label=f"early window (ratio {d['early_ratio']:.0f}x)")
    ax.set(xlabel="G step", ylabel=r"$\|\nabla_\theta L_G\|$ (MLP D)", title="(c) real run: generator gradient norm")
    ax.legend(fontsize=8)


def _position_panel(ax, d: dict) -> None:
    """(d) theta (solid, left axis) and mean D(G(z)) (dotted, right axis) along the real runs."""
    for k in LOSSES:
        theta = d["runs"][k]["theta"]
        ax.plot(
            np.arange(1, len(theta) + 1),
            theta,
            color=COLOURS[k],
            lw=2,
            label=f"{LABELS[k]}: ends at {d['final_theta'][k]:.2f}",
        )
    ax.axhline(DATA_MU, color="k", ls="--", lw=1, label="data mean")
    twin = ax.twinx()
    for k in LOSSES:
        d_fake = d["runs"][k]["d_fake"]
        twin.semilogy(np.arange(1, len(d_fake) + 1), d_fake, color=COLOURS[k], lw=1, ls=":")
    twin.set_ylabel("mean D(G(z)) (dotted)")
    ax.set(xlabel="G step", ylabel=r"$\theta$ (solid)", title=f"(d) real run from $\\theta$ = {THETA0:g}: position")
    ax.legend(fontsize=8, loc="center right")


def plot(result: study.Result):
    """Logit-space gradients, exact-D gradients over theta, and the real runs' gradients and positions."""
    d = result.data
    fig, axes = plt.subplots(2, 2, figsize=(13, 9.5))
    _logit_panel(axes[0, 0], d)
    _exact_panel(axes[0, 1], d)
    _gradient_panel(axes[1, 0], d, result.config)
    _position_panel(axes[1, 1], d)
    fig.tight_layout()
    return fig


def main(argv=None) -> dict:
    # scalar G and a tiny D: a GPU would only add launch latency
    return study.main_of(__name__, argv, cpu_only=True)


if __name__ == "__main__":
    main()
