"""dirac_gan: which Dirac-GAN training methods converge (vector fields, trajectories and eigenvalues).

Claim C8 (Mescheder, Geiger, Nowozin 2018, "Which training methods for GANs do actually converge?"): on the
Dirac-GAN the unregularised GAN and NS-GAN have Jacobian eigenvalues +-i f'(0) at the equilibrium and do not
converge (simultaneous updates spiral out, alternating updates cycle); WGAN with n_d = 5 and WGAN-GP do not
always converge; R1/R2 (and instance noise, consensus) converge, with eigenvalues -gamma/2 +- sqrt(gamma^2/4 -
f'(0)^2).
Here D is large on real data, D(x) = psi x, data at 0, G = theta, so the paper's field appears under
psi -> -psi. Every variant runs under simultaneous, alternating-1 and alternating-5 updates (n_d D steps, then
one G step), step 0.2 for both players, from (theta, psi) = (1, 1). The equilibrium is (0, 0) for every
variant: WGAN's clipping adds no stationary point, and WGAN-GP's penalty lam (|psi| - 1)^2 (the 1-D gradient
norm) is stationary with theta = 0 only at its kink psi = 0, so distances are to (0, 0) and |theta| (G's
distance to the data) is reported beside them.
Scales: smoke (seconds, the test suite), quick (< 1 min on 2 CPU cores), full (the committed figure; at most
2 minutes on 2 CPU cores). Full runs 500 iterations per scheme and calls a run converged below distance 1e-2
(1/140 of the start distance sqrt 2). Smoke runs 300 (alternating-5: 100, the same number of gradient
evaluations as 300 alternating-1 iterations) on a coarser field grid, and converged means below 2e-2: the
slowest converging run (instance noise, simultaneous) contracts by about 0.98 per step, so 300 steps from
sqrt 2 end near 1.3e-2.
"""

import time
from typing import NamedTuple, Optional

import matplotlib.pyplot as plt
import numpy as np
import sympy as sp

from sandbox.dynamics import consensus_grads, eigenvalues, field, flat, gd, jacobian, make_rule, radius, simulate
from sandbox.games import clipped_gd, dirac_gan
from sandbox.objectives import get_objective
from sandbox.penalties import make_penalty, no_penalty
from sandbox.reporting import study
from sandbox.theory import symbolic_games as sg

CLAIM = (
    "Dirac-GAN: unregularised GAN/NS-GAN (eigenvalues +-i/2) do not converge, WGAN (n_d = 5, clip) and "
    "WGAN-GP do not always converge; R1/R2, instance noise and consensus converge, with eigenvalues "
    "-gamma/2 +- sqrt(gamma^2/4 - f'(0)^2)."
)
CLAIMS = ["C8"]
SCALES = {  # steps: iterations per scheme; converged_below: the distance to (0, 0) that counts as converged
    "smoke": dict(
        steps=dict(simultaneous=300, **{"alternating-1": 300, "alternating-5": 100}),
        record_every=2,
        field_grid=11,
        gamma_markers=11,
        converged_below=2e-2,
    ),
    "quick": dict(
        steps=dict(simultaneous=400, **{"alternating-1": 400, "alternating-5": 400}),
        record_every=2,
        field_grid=15,
        gamma_markers=21,
        converged_below=1e-2,
    ),
    "full": dict(
        steps=dict(simultaneous=500, **{"alternating-1": 500, "alternating-5": 500}),
        record_every=2,
        field_grid=17,
        gamma_markers=21,
        converged_below=1e-2,
    ),
}
LR = 0.2
START = (1.0, 1.0)
NEAR_START = (0.1, 0.1)  # inside the nonlinear region's reach: shows the local (linear) behaviour
NOT_CONVERGED = 0.1  # a run whose distance stays above this over its last 20% has not converged
TAIL = 0.2  # the fraction of the run over which (non-)convergence is judged


class Method(NamedTuple):
    label: str
    objective: str
    penalty: Optional[str] = None
    weight: Optional[float] = None
    noise: float = 0.0
    consensus: float = 0.0
    clip: Optional[float] = None
    regulariser: Optional[str] = "none"  # the symbolic_games regulariser (None: no closed-form Jacobian)
    gamma: float = 0.0  # the symbol values for the closed form
    sigma: float = 0.0


METHODS = {
    "gan": Method("GAN (minimax)", "minimax"),
    "nsgan": Method("NS-GAN", "nonsaturating"),
    "wgan": Method("WGAN, clip 1", "wasserstein", clip=1.0),
    "wgan_gp": Method("WGAN-GP, lam 0.7", "wasserstein", "wgan_gp", 0.7, regulariser=None),
    "r1_0.3": Method("R1, gamma 0.3", "minimax", "r1", 0.3, regulariser="r1", gamma=0.3),
    "r1_1.0": Method("R1, gamma 1", "minimax", "r1", 1.0, regulariser="r1", gamma=1.0),
    "r2_0.3": Method("R2, gamma 0.3", "minimax", "r2", 0.3, regulariser="r2", gamma=0.3),
    "r2_1.0": Method("R2, gamma 1", "minimax", "r2", 1.0, regulariser="r2", gamma=1.0),
    "instance_noise": Method(
        "instance noise, sigma 0.7", "minimax", noise=0.7, regulariser="instance_noise", sigma=0.7
    ),
    "consensus": Method("consensus, gamma 1", "minimax", consensus=1.0, regulariser="consensus", gamma=1.0),
}
SCHEMES = {
    "simultaneous": ("simultaneous", {}),
    "alternating-1": ("alternating", {"n_d": 1}),
    "alternating-5": ("alternating", {"n_d": 5}),
}
LAYOUT = ["gan", "nsgan", "wgan", "wgan_gp", "instance_noise", "r1_0.3", "r1_1.0", "r2_0.3", "r2_1.0", "consensus"]
CONVERGING = ("r1_0.3", "r1_1.0", "r2_0.3", "r2_1.0", "instance_noise", "consensus")


def game_of(m: Method, theta, psi):
    """The Dirac-GAN of one method, vectorised over the given starting points."""
    penalty = make_penalty(m.penalty, m.weight) if m.penalty else no_penalty()
    return dirac_gan(theta, psi, get_objective(m.objective), penalty, instance_noise=m.noise)


def run_one(m: Method, scheme: str, start, steps: int, record_every: int):
    """One trajectory of `m` under `scheme` (consensus enters each rule's gradients), D clipped for WGAN."""
    name, options = SCHEMES[scheme]
    rule = make_rule(name, **options, consensus=m.consensus)
    step_d = clipped_gd(LR, m.clip) if m.clip else gd(LR)
    return simulate(game_of(m, [start[0]], [start[1]]), rule, gd(LR), step_d, steps, record_every)


def vector_field(m: Method, grid: np.ndarray) -> np.ndarray:
    """v(theta, psi) on grid x grid, all points in one batch of games: shape (2, n, n) (consensus: its own field)."""
    theta, psi = np.meshgrid(grid, grid)
    game = game_of(m, theta.ravel(), psi.ravel())
    if m.consensus:
        gx, gy = consensus_grads(game, m.consensus)
        v = -flat(gx + gy)
    else:
        v = field(game)
    return v.T.reshape(2, len(grid), len(grid)).numpy()


def closed_form_eigenvalues(m: Method) -> np.ndarray:
    """sympy's eigenvalues of the Jacobian at (0, 0) with the method's gamma/sigma, sorted by (imag, real)."""
    evs = sg.dirac_eigenvalues(m.objective, m.regulariser)
    values = [complex(sp.N(ev.subs({sg.gamma: m.gamma, sg.sigma: m.sigma}))) for ev in evs]
    return np.array(sorted(values, key=lambda z: (z.imag, z.real)))


def autograd_eigenvalues(m: Method, gamma: Optional[float] = None) -> np.ndarray:
    """Eigenvalues of the autograd Jacobian of the library's game at (0, 0), sorted by (imag, real)."""
    if gamma is not None:
        m = m._replace(weight=gamma)
    jac = jacobian(game_of(m, [0.0], [0.0]), consensus=m.consensus)
    return np.array(sorted(eigenvalues(jac)[0].tolist(), key=lambda z: (z.imag, z.real)))


def _significant(values: np.ndarray, digits: int) -> list:
    """Values rounded to `digits` significant digits: the plotted curves, kept small in the JSON."""
    return [float(f"{x:.{digits}g}") for x in np.asarray(values).ravel()]


def _cplx(values) -> dict:
    """A complex array as JSON-friendly real and imaginary parts."""
    values = np.asarray(values, dtype=complex)
    return dict(re=values.real, im=values.imag)


def run(scale: str = "full", seed: int = 0, device=None) -> study.Result:
    """Every method under every scheme, their fields, and the eigenvalue checks; device: the games run on CPU."""
    cfg = dict(
        SCALES[scale],
        seed=seed,
        lr=LR,
        start=START,
        near_start=NEAR_START,
        not_converged_above=NOT_CONVERGED,
        tail_fraction=TAIL,
        methods={k: m._asdict() for k, m in METHODS.items()},
        schemes=list(SCHEMES),
    )
    clock = time.perf_counter()
    every, converged = cfg["record_every"], cfg["converged_below"]
    start_distance = float(np.hypot(*START))

    runs, fields = {}, {}
    grid = np.linspace(-2.0, 2.0, cfg["field_grid"])
    for key, m in METHODS.items():
        fields[key] = np.round(vector_field(m, grid), 6)
        runs[key] = {}
        for scheme in SCHEMES:
            tr = run_one(m, scheme, START, cfg["steps"][scheme], every)
            r = radius(tr.z[:, 0].double(), [0.0, 0.0])
            tail = slice(-max(2, int(TAIL * len(r))), None)
            runs[key][scheme] = dict(
                final=tr.final[0],
                final_distance=float(radius(tr.final, [0.0, 0.0])[0]),
                final_abs_theta=abs(float(tr.final[0, 0])),
                tail_min_distance=float(r[tail].min()),
                tail_max_distance=float(r[tail].max()),
                tail_max_abs_theta=float(tr.z[tail, 0, 0].abs().max()),
                path=np.round(tr.z[:, 0].double().numpy(), 4),
                distance=_significant(r.numpy(), 4),
            )
    steps = cfg["steps"]["simultaneous"]
    near = {
        key: float(radius(run_one(METHODS[key], "simultaneous", NEAR_START, steps, steps).final, [0, 0])[0])
        for key in ("gan", "nsgan")
    }
    steps = cfg["steps"]["alternating-5"]
    consensus_near = float(
        radius(run_one(METHODS["consensus"], "alternating-5", (0.5, 0.5), steps, steps).final, [0, 0])[0]
    )

    # Eigenvalues at the equilibrium: sympy's closed form against autograd on the library's game.
    eig = {}
    for key, m in METHODS.items():
        if m.regulariser is None:
            continue  # WGAN-GP: |psi| is not differentiable at psi = 0
        sym, auto = closed_form_eigenvalues(m), autograd_eigenvalues(m)
        eig[key] = dict(sympy=_cplx(sym), autograd=_cplx(auto), max_abs_difference=float(np.abs(sym - auto).max()))
    gammas = np.linspace(0.0, 2.0, cfg["gamma_markers"])
    lines_gamma = np.linspace(0.0, 2.0, 201)
    branches = sp.lambdify(sg.gamma, list(sg.dirac_eigenvalues("minimax", "r1")), "numpy")
    lines = np.array(branches(lines_gamma.astype(complex)))  # (2, 201) complex
    paper = sp.lambdify(sg.gamma, list(sg.paper_eigenvalues(sg.dirac_fprime0("minimax"))), "numpy")
    sweep_sym = np.array([sorted(branches(complex(g)), key=lambda z: (z.imag, z.real)) for g in gammas])
    sweep_paper = np.array([sorted(paper(complex(g)), key=lambda z: (z.imag, z.real)) for g in gammas])
    sweep_auto = np.array([autograd_eigenvalues(METHODS["r1_1.0"], float(g)) for g in gammas])
    fp0 = sg.dirac_fprime0("minimax")
    gan_sym = set(sg.dirac_eigenvalues("minimax", "none")) | set(sg.dirac_eigenvalues("nonsaturating", "none"))

    def dist(key, scheme, what="final_distance"):
        return runs[key][scheme][what]

    not_converged = [f"{k}/{s}" for k in CONVERGING for s in SCHEMES if dist(k, s) >= converged]
    wgan_gp_stuck = [s for s in SCHEMES if dist("wgan_gp", s, "tail_min_distance") > NOT_CONVERGED]
    data = dict(
        runs=runs,
        field_grid=grid,
        fields=fields,
        start_distance=start_distance,
        near_equilibrium_final_distance=near,
        near_start_distance=float(np.hypot(*NEAR_START)),
        consensus_alternating_5_from_half_final_distance=consensus_near,
        eigenvalues_at_equilibrium=eig,
        fprime0_gan=float(fp0),
        gamma_sweep=dict(
            gamma=gammas,
            sympy=_cplx(sweep_sym),
            paper=_cplx(sweep_paper),
            autograd=_cplx(sweep_auto),
            line_gamma=lines_gamma,
            line_sympy=_cplx(lines),
        ),
        converging_methods_not_converged=not_converged,
        wgan_gp_schemes_not_converged=wgan_gp_stuck,
        seconds=time.perf_counter() - clock,
    )
    checks = {
        "gan_nsgan_eigenvalues_are_plus_minus_i_fprime0_equal_i_over_2": bool(
            fp0 == sp.Rational(1, 2)
            and gan_sym == {sp.I / 2, -sp.I / 2}
            and all(
                np.abs(autograd_eigenvalues(METHODS[k]) - np.array([-0.5j, 0.5j])).max() < 1e-12
                for k in ("gan", "nsgan")
            )
        ),
        # eig of a 2x2 Jacobian in float64: 1e-9 is far above rounding (1e-16) and far below any real mismatch.
        "sympy_eigenvalues_equal_autograd_at_equilibrium": bool(
            max(e["max_abs_difference"] for e in eig.values()) < 1e-9
        ),
        # The sweep crosses the double root gamma = 2 f'(0) = 1: eig of a defective matrix is sqrt(eps) ~ 1e-8 accurate.
        "r1_sweep_sympy_equals_autograd": bool(np.abs(sweep_sym - sweep_auto).max() < 1e-7),
        "r1_sweep_sympy_equals_paper_formula": bool(np.abs(sweep_sym - sweep_paper).max() < 1e-12),
        "gan_nsgan_simultaneous_spiral_out_near_equilibrium": bool(min(near.values()) > data["near_start_distance"]),
        "gan_simultaneous_spirals_out_from_start": bool(dist("gan", "simultaneous") > start_distance),
        "nsgan_simultaneous_does_not_converge": bool(
            dist("nsgan", "simultaneous", "tail_min_distance") > NOT_CONVERGED
        ),
        "gan_nsgan_alternating_cycle": bool(
            all(
                dist(k, s, "tail_min_distance") > NOT_CONVERGED
                and dist(k, s, "tail_max_distance") < 10 * start_distance
                for k in ("gan", "nsgan")
                for s in ("alternating-1", "alternating-5")
            )
        ),
        "wgan_alternating_5_does_not_converge": bool(
            dist("wgan", "alternating-5", "tail_min_distance") > NOT_CONVERGED
            and dist("wgan", "alternating-5", "tail_max_abs_theta") > NOT_CONVERGED
        ),
        "wgan_gp_does_not_always_converge": bool(len(wgan_gp_stuck) >= 1),
        "r1_r2_converge_every_scheme": bool(all(dist(k, s) < converged for k in CONVERGING[:4] for s in SCHEMES)),
        "instance_noise_converges_every_scheme": bool(all(dist("instance_noise", s) < converged for s in SCHEMES)),
        "consensus_converges_simultaneous_and_alternating_1": bool(
            all(dist("consensus", s) < converged for s in ("simultaneous", "alternating-1"))
        ),
        "consensus_alternating_5_converges_from_near_equilibrium": bool(consensus_near < converged),
    }
    gan_eig = data["eigenvalues_at_equilibrium"]["gan"]["autograd"]
    data["headline"] = [
        dict(
            claim="C8",
            quantity="GAN Jacobian eigenvalues at the equilibrium (imaginary parts)",
            ours=f"{min(gan_eig['im']):+.6f}i, {max(gan_eig['im']):+.6f}i",
            ours_spread=None,
            published="+-i f'(0) = +-0.5i",
            source="Mescheder et al. 2018, Thm. 3.1 (with f'(0) = 1/2)",
            setting_difference="",
        ),
    ]
    return study.Result(config=cfg, data=data, checks=checks)


SCHEME_STYLE = {"simultaneous": "-", "alternating-1": "--", "alternating-5": ":"}


def _phase_panel(ax, key, scheme, data):
    grid, (vt, vp) = np.asarray(data["field_grid"]), np.asarray(data["fields"][key])
    speed = np.hypot(vt, vp) + 1e-12  # unit arrows: the field's direction
    ax.quiver(grid, grid, vt / speed, vp / speed, color="0.6", angles="xy", scale=28, width=0.004)
    run_ = data["runs"][key][scheme]
    path = np.asarray(run_["path"])
    ax.plot(path[:, 0], path[:, 1], color="C3", lw=0.9)
    ax.plot(*path[0], "o", color="C3", ms=3)
    ax.plot(0, 0, "*", color="k", ms=9, zorder=5)
    if METHODS[key].clip:
        for c in (-METHODS[key].clip, METHODS[key].clip):
            ax.axhline(c, color="C0", lw=0.8, ls="--")
    ax.set_xlim(-2, 2)
    ax.set_ylim(-2, 2)
    ax.set_xticks([-2, 0, 2])
    ax.set_yticks([-2, 0, 2])
    ax.tick_params(labelsize=7)
    ax.set_title(f"{METHODS[key].label}\n{scheme}: d = {run_['final_distance']:.2g}", fontsize=8)


def plot(result: study.Result):
    """Rows of phase portraits (field in grey, trajectory in red, equilibrium starred), distances and eigenvalues."""
    data = result.data
    keys = list(METHODS)
    fig = plt.figure(figsize=(15, 17.5))
    gs = fig.add_gridspec(6, 6, hspace=0.62, wspace=0.32, top=0.93, bottom=0.04)
    for i, key in enumerate(LAYOUT):
        row, block = i % 5, i // 5
        for j, scheme in enumerate(SCHEMES):
            ax = fig.add_subplot(gs[row, 3 * block + j])
            _phase_panel(ax, key, scheme, data)
            if j == 0:
                ax.set_ylabel("psi (D)", fontsize=8)
            if row == 4:
                ax.set_xlabel("theta (G)", fontsize=8)
    every = result.config["record_every"]
    for j, scheme in enumerate(SCHEMES):
        ax = fig.add_subplot(gs[5, j])
        for i, key in enumerate(keys):
            d = np.asarray(data["runs"][key][scheme]["distance"])
            ax.semilogy(np.arange(len(d)) * every, np.maximum(d, 1e-14), color=f"C{i}", lw=1)
        ax.axhline(result.config["converged_below"], color="k", lw=0.6, ls=":")
        ax.set_ylim(1e-14, 1e2)
        ax.set_title(f"distance to (0, 0), {scheme}", fontsize=8)
        ax.set_xlabel("iteration", fontsize=8)
        ax.tick_params(labelsize=7)
    ax_leg = fig.add_subplot(gs[5, 5])
    ax_leg.axis("off")
    ax_leg.legend(
        [plt.Line2D([], [], color=f"C{i}") for i in range(len(keys))] + [plt.Line2D([], [], color="k", ls=":")],
        [METHODS[k].label for k in keys] + [f"converged: {result.config['converged_below']:g}"],
        loc="center",
        fontsize=8,
        title="distance panels",
        title_fontsize=8,
    )
    sweep = data["gamma_sweep"]
    for col, (part, name) in enumerate((("re", "Re"), ("im", "Im"))):
        ax = fig.add_subplot(gs[5, 3 + col])
        lines, auto = np.asarray(sweep["line_sympy"][part]), np.asarray(sweep["autograd"][part])
        for b in range(2):
            ax.plot(sweep["line_gamma"], lines[b], color=f"C{b}", lw=1.2, label=f"sympy branch {'+-'[b]}")
        for b in range(2):
            ax.plot(sweep["gamma"], auto[:, b], "o", mfc="none", color="k", ms=4, label="autograd" if b == 0 else None)
        ax.set_xlabel("gamma (R1, GAN objective)", fontsize=8)
        ax.set_title(f"{name} of Jacobian eigenvalues", fontsize=9)
        ax.tick_params(labelsize=7)
        if part == "re":  # one legend: the Im panel has no free corner
            ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(
        "Dirac-GAN (Mescheder et al. 2018), D large on real: field (grey), trajectory from (1, 1) (red), "
        f"equilibrium (star); step 0.2, {result.config['steps']['simultaneous']} iterations",
        fontsize=12,
        y=0.975,
    )
    return fig


def main(argv=None) -> dict:
    # 2-parameter float64 games: the CPU is the right device whatever --device says
    return study.main("dirac_gan", __doc__, CLAIM, CLAIMS, run, plot, argv, cpu_only=True)


if __name__ == "__main__":
    main()
