"""dirac_gan: which Dirac-GAN training methods converge (vector fields, trajectories and eigenvalues).

Claim C8 (Mescheder, Geiger, Nowozin 2018, "Which training methods for GANs do actually converge?"): on the
Dirac-GAN the unregularised GAN and NS-GAN have Jacobian eigenvalues +-i f'(0) at the equilibrium and do not
converge (simultaneous updates spiral out, alternating updates cycle); WGAN with n_d = 5 and WGAN-GP do not
always converge; R1/R2 (and instance noise, consensus) converge, with eigenvalues -gamma/2 +- sqrt(gamma^2/4 -
f'(0)^2).

Data at 0, G = theta, D(x) = psi x. sandbox's D is large on real data, so the paper's field appears under
psi -> -psi. Two modes run every method under simultaneous, alternating-1 and alternating-5 updates, step 0.2 for
both players, 500 iterations:
- `reference`: the published figures' algorithm, the GAN_stability notebook (notebooks/DiracGAN.ipynb with
  diracgan/{gans,simulate}.py), stated in sandbox's convention: its start (theta, psi) = (1, 1) with D large on
  fake is (1, -1) here; its alternating scheme steps G first; its `WGAN_GP(reg=0.7, target=1)` field
  v_psi = theta - 0.7 (|psi| - 1) sign psi is the penalty lam (|psi| - 1)^2 with lam = 0.35; `GAN_GradPenalty(g)`
  is R1 with gamma = g (gamma/2 psi^2). Two departures remain, each named in METHODS with its reason.
- `project`: sandbox's own convention: D first (as WGAN's Algorithm 1 and the trainer), start (1, 1), the mirror
  image of the notebook's, so the same distance from the equilibrium.
The equilibrium is (0, 0) for every variant (WGAN's clipping adds no stationary point; WGAN-GP's penalty is
stationary with theta = 0 only at its kink psi = 0), so distances are to (0, 0).
Every check names a control that fails it (the same test applied to another method), or why it needs none.
Consensus under alternating-5 diverges from the start in both modes (recorded, with its final distance): the
start lies outside its basin, so its local convergence is checked from (0.5, 0.5).
Scales: smoke (seconds, the test suite), quick and paper (the committed figure: 500 iterations; under a minute
on 2 CPU cores). A run counts as converged below distance 1e-2 (1/140 of the start distance sqrt 2); smoke runs
300 iterations and allows 2e-2.
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
from sandbox.reporting.kit import Headline
from sandbox.theory import symbolic_games as sg

CLAIM = (
    "Dirac-GAN: unregularised GAN/NS-GAN (eigenvalues +-i/2) do not converge, WGAN (n_d = 5, clip) and "
    "WGAN-GP do not always converge; R1/R2, instance noise and consensus converge, with eigenvalues "
    "-gamma/2 +- sqrt(gamma^2/4 - f'(0)^2)."
)
CLAIMS = ["C8"]
SCALES = {  # steps: iterations per scheme; converged_below: the distance to (0, 0) that counts as converged
    "smoke": dict(steps=300, record_every=2, field_grid=11, gamma_markers=11, converged_below=2e-2),
    "quick": dict(steps=500, record_every=2, field_grid=15, gamma_markers=21, converged_below=1e-2),
    "paper": dict(steps=500, record_every=2, field_grid=17, gamma_markers=21, converged_below=1e-2),
}
LR = 0.2  # the notebook's h for both players
NEAR_START = (0.1, 0.1)  # inside the linear region: shows the local behaviour
HALF_START = (0.5, 0.5)  # consensus under alternating-5: local convergence, from inside its basin
NOT_CONVERGED = 0.1  # a run whose distance stays above this over its last 20% has not converged
TAIL = 0.2  # the fraction of the run over which (non-)convergence is judged


class Mode(NamedTuple):
    label: str
    start: tuple  # (theta, psi) in sandbox's convention (D large on real)
    d_first: bool  # the alternating order
    reason: str


MODES = {
    "reference": Mode(
        "GAN_stability notebook",
        (1.0, -1.0),
        False,
        "the published figures' algorithm: the notebook starts at (theta, psi) = (1, 1) with D large on fake, "
        "(1, -1) here, and its trajectory_altgd steps G first",
    ),
    "project": Mode(
        "sandbox's convention",
        (1.0, 1.0),
        True,
        "D first, as WGAN's Algorithm 1 and the trainer; the start is the mirror image of the notebook's, the same "
        "distance sqrt 2 from the equilibrium",
    ),
}


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
    notebook: str = ""  # the notebook's class and arguments ("" = not in the notebook: ours)
    departure: str = ""  # how the reference mode differs from the notebook for this method, and why


METHODS = {
    "gan": Method("GAN (minimax)", "minimax", notebook="GAN()"),
    "nsgan": Method("NS-GAN", "nonsaturating", notebook="NSGAN()"),
    "wgan": Method("WGAN, clip 1", "wasserstein", clip=1.0, notebook="WGAN(1.)"),
    "wgan_gp": Method(
        "WGAN-GP, lam 0.35",
        "wasserstein",
        "wgan_gp",
        0.35,
        regulariser=None,
        notebook="WGAN_GP(0.7, 1.): v_psi = theta - 0.7 (|psi| - 1) sign psi = -d/dpsi of 0.35 (|psi| - 1)^2",
    ),
    "instance_noise": Method(
        "instance noise, sigma 0.7",
        "minimax",
        noise=0.7,
        regulariser="instance_noise",
        sigma=0.7,
        notebook="GAN_InstNoise(0.7)",
        departure="the exact Gauss-Hermite expectation over the noise; the notebook averages 1000 fresh, unseeded "
        "normal draws per step, which no run can reproduce",
    ),
    "r1_0.3": Method(
        "R1, gamma 0.3", "minimax", "r1", 0.3, regulariser="r1", gamma=0.3, notebook="GAN_GradPenalty(0.3)"
    ),
    "r1_1.0": Method(
        "R1, gamma 1 (critical)", "minimax", "r1", 1.0, regulariser="r1", gamma=1.0, notebook="GAN_GradPenalty(1.)"
    ),
    "nsgan_r1_0.3": Method(
        "NS-GAN + R1, gamma 0.3",
        "nonsaturating",
        "r1",
        0.3,
        regulariser="r1",
        gamma=0.3,
        notebook="NSGAN_GradPenalty(0.3)",
    ),
    "consensus": Method(
        "consensus, gamma 1",
        "minimax",
        consensus=1.0,
        regulariser="consensus",
        gamma=1.0,
        notebook="GAN_Consensus(1.)",
        departure="the exact gradient of 1/2 ||v||^2 (Mescheder, Nowozin, Geiger 2017, eq. 13); the notebook's term "
        "halves its second chain-rule part (theta f'^2 + 1/2 psi (psi^2 + theta^2) f' f'' instead of theta f'^2 + "
        "psi (psi^2 + theta^2) f' f'')",
    ),
    "r2_0.3": Method("R2, gamma 0.3", "minimax", "r2", 0.3, regulariser="r2", gamma=0.3),
    "r2_1.0": Method("R2, gamma 1", "minimax", "r2", 1.0, regulariser="r2", gamma=1.0),
}
SCHEMES = {
    "simultaneous": ("simultaneous", 1),
    "alternating-1": ("alternating", 1),
    "alternating-5": ("alternating", 5),
}
LAYOUT = [
    "gan",
    "nsgan",
    "wgan",
    "wgan_gp",
    "instance_noise",
    "r1_0.3",
    "r1_1.0",
    "nsgan_r1_0.3",
    "consensus",
    "r2_0.3",
]
CONVERGING_PENALTIES = ("r1_0.3", "r1_1.0", "nsgan_r1_0.3", "r2_0.3", "r2_1.0")


def game_of(m: Method, theta, psi):
    """The Dirac-GAN of one method, vectorised over the given starting points."""
    penalty = make_penalty(m.penalty, m.weight) if m.penalty else no_penalty()
    return dirac_gan(theta, psi, get_objective(m.objective), penalty, instance_noise=m.noise)


def run_one(m: Method, scheme: str, start, steps: int, record_every: int, d_first: bool = True):
    """One trajectory of `m` under `scheme` (consensus enters each rule's gradients), D clipped for WGAN."""
    name, n_d = SCHEMES[scheme]
    options = dict(n_d=n_d, d_first=d_first) if name == "alternating" else {}
    rule = make_rule(name, **options, consensus=m.consensus)
    step_d = clipped_gd(LR, m.clip) if m.clip else gd(LR)
    return simulate(game_of(m, [start[0]], [start[1]]), rule, gd(LR), step_d, steps, record_every)


def reference_final(key: str, scheme: str, steps: int = 500) -> tuple:
    """The reference mode's final (theta, psi) in sandbox's convention: the notebook's algorithm on the library."""
    mode = MODES["reference"]
    tr = run_one(METHODS[key], scheme, mode.start, steps, steps, d_first=mode.d_first)
    return tuple(float(v) for v in tr.final[0])


def vector_field(m: Method, grid: np.ndarray) -> np.ndarray:
    """v(theta, psi) on grid x grid, all points in one batch of games: shape (2, n, n) (consensus: its own field)."""
    theta, psi = np.meshgrid(grid, grid)
    game = game_of(m, theta.ravel(), psi.ravel())
    v = -flat(sum(consensus_grads(game, m.consensus), [])) if m.consensus else field(game)
    return v.T.reshape(2, len(grid), len(grid)).numpy()


def closed_form_eigenvalues(m: Method, gamma: Optional[float] = None) -> np.ndarray:
    """sympy's eigenvalues of the Jacobian at (0, 0) with the method's gamma/sigma, sorted by (imag, real)."""
    evs = sg.dirac_eigenvalues(m.objective, m.regulariser)
    g = m.gamma if gamma is None else gamma
    values = [complex(sp.N(ev.subs({sg.gamma: g, sg.sigma: m.sigma}))) for ev in evs]
    return np.array(sorted(values, key=lambda z: (z.imag, z.real)))


def autograd_eigenvalues(m: Method, gamma: Optional[float] = None) -> np.ndarray:
    """Eigenvalues of the autograd Jacobian of the library's game at (0, 0), sorted by (imag, real)."""
    if gamma is not None:
        m = m._replace(weight=gamma)
    jac = jacobian(game_of(m, [0.0], [0.0]), consensus=m.consensus)
    return np.array(sorted(eigenvalues(jac)[0].tolist(), key=lambda z: (z.imag, z.real)))


def _significant(values, digits: int) -> list:
    return [float(f"{x:.{digits}g}") for x in np.asarray(values).ravel()]


def _cplx(values) -> dict:
    values = np.asarray(values, dtype=complex)
    return dict(re=values.real, im=values.imag)


def run_mode(mode: Mode, cfg: dict, keep_paths: bool) -> dict:
    """Every method under every scheme from the mode's start; distances, tails, and (optionally) the paths."""
    out = {}
    for key, m in METHODS.items():
        out[key] = {}
        for scheme in SCHEMES:
            tr = run_one(m, scheme, mode.start, cfg["steps"], cfg["record_every"], mode.d_first)
            r = radius(tr.z[:, 0].double(), [0.0, 0.0])
            tail = slice(-max(2, int(TAIL * len(r))), None)
            final = tr.final[0]
            out[key][scheme] = dict(
                final=final,
                final_notebook_convention=[float(final[0]), -float(final[1])],  # psi -> -psi: D large on fake
                final_distance=float(radius(tr.final, [0.0, 0.0])[0]),
                tail_min_distance=float(r[tail].min()),
                tail_max_distance=float(r[tail].max()),
                tail_max_abs_theta=float(tr.z[tail, 0, 0].abs().max()),
                distance=_significant(r.numpy(), 4),
                **({"path": np.round(tr.z[:, 0].double().numpy(), 4)} if keep_paths else {}),
            )
    return out


def eigen_data(cfg: dict) -> dict:
    """sympy's closed form against autograd at the equilibrium, per method, and the R1 sweep over gamma."""
    eig = {}
    for key, m in METHODS.items():
        if m.regulariser is None:
            continue  # WGAN-GP: |psi| is not differentiable at psi = 0
        sym, auto = closed_form_eigenvalues(m), autograd_eigenvalues(m)
        eig[key] = dict(sympy=_cplx(sym), autograd=_cplx(auto), max_abs_difference=float(np.abs(sym - auto).max()))
    gammas = np.linspace(0.0, 2.0, cfg["gamma_markers"])
    fp0 = sg.dirac_fprime0("minimax")
    formula = sg.paper_eigenvalues(fp0)  # (-gamma/2 + root, -gamma/2 - root), labelled by construction
    plus, minus = (sp.lambdify(sg.gamma, e, "numpy") for e in formula)
    line_gamma = np.linspace(0.0, 2.0, 201).astype(complex)
    r1 = METHODS["r1_1.0"]
    sweep_sym = np.array([closed_form_eigenvalues(r1, float(g)) for g in gammas])
    sweep_formula = np.array(
        [sorted([plus(complex(g)), minus(complex(g))], key=lambda z: (z.imag, z.real)) for g in gammas]
    )
    sweep_auto = np.array([autograd_eigenvalues(r1, float(g)) for g in gammas])
    return dict(
        at_equilibrium=eig,
        fprime0_gan=float(fp0),
        gan_nsgan_sympy=[str(e) for o in ("minimax", "nonsaturating") for e in sg.dirac_eigenvalues(o, "none")],
        gamma_sweep=dict(
            gamma=gammas,
            sympy=_cplx(sweep_sym),
            formula=_cplx(sweep_formula),
            autograd=_cplx(sweep_auto),
            line_gamma=line_gamma.real,
            line_plus=_cplx(plus(line_gamma)),  # -gamma/2 + sqrt(gamma^2/4 - f'(0)^2)
            line_minus=_cplx(minus(line_gamma)),  # -gamma/2 - sqrt(...)
        ),
    )


# ------------------------------------------------------------------------------------------------- checks
def _verdicts(runs: dict, converged: float, start_distance: float) -> dict:
    """Per method: which of the convergence verdicts the checks read hold, from the recorded distances."""

    def d(key, scheme, what="final_distance"):
        return runs[key][scheme][what]

    out = {}
    for key in runs:
        out[key] = dict(
            converges=all(d(key, s) < converged for s in SCHEMES),
            converges_sim_alt1=all(d(key, s) < converged for s in ("simultaneous", "alternating-1")),
            spirals_out_simultaneous=d(key, "simultaneous") > start_distance,
            stuck_simultaneous=d(key, "simultaneous", "tail_min_distance") > NOT_CONVERGED,
            cycles_alternating=all(
                d(key, s, "tail_min_distance") > NOT_CONVERGED and d(key, s, "tail_max_distance") < 10 * start_distance
                for s in ("alternating-1", "alternating-5")
            ),
            stuck_alternating_5=d(key, "alternating-5", "tail_min_distance") > NOT_CONVERGED
            and d(key, "alternating-5", "tail_max_abs_theta") > NOT_CONVERGED,
            not_always_converging=any(d(key, s, "tail_min_distance") > NOT_CONVERGED for s in SCHEMES),
        )
    return out


# (check, verdict, subject methods (all must hold), control method (must fail it), why the control fails)
DYNAMICS_CHECKS = [
    ("gan_simultaneous_spirals_out_from_start", "spirals_out_simultaneous", ["gan"], "r1_1.0", "R1 contracts"),
    ("nsgan_simultaneous_does_not_converge", "stuck_simultaneous", ["nsgan"], "nsgan_r1_0.3", "R1 converges"),
    ("gan_nsgan_alternating_cycle", "cycles_alternating", ["gan", "nsgan"], "r1_0.3", "R1 converges"),
    ("wgan_alternating_5_does_not_converge", "stuck_alternating_5", ["wgan"], "r1_0.3", "R1 converges"),
    ("wgan_gp_does_not_always_converge", "not_always_converging", ["wgan_gp"], "r2_1.0", "R2 converges"),
    ("r1_r2_converge_every_scheme", "converges", list(CONVERGING_PENALTIES), "gan", "no regulariser"),
    ("instance_noise_converges_every_scheme", "converges", ["instance_noise"], "gan", "sigma = 0 is the GAN"),
    ("consensus_converges_simultaneous_and_alternating_1", "converges_sim_alt1", ["consensus"], "gan", "gamma 0"),
]


def dynamics_checks(mode: str, verdicts: dict) -> tuple:
    """{mode: check: bool} and the controls: each check's verdict on a control method that must fail it."""
    checks, controls = {}, {}
    for name, verdict, subjects, control, why in DYNAMICS_CHECKS:
        checks[f"{mode}:{name}"] = bool(all(verdicts[k][verdict] for k in subjects))
        controls[f"{mode}:{name}"] = dict(
            control=f"{METHODS[control].label} under the same test ({why})",
            control_passes=bool(verdicts[control][verdict]),
        )
    return checks, controls


def run(scale: str = "paper", seed: int = 0, device=None) -> study.Result:
    """Both modes, every method under every scheme, their fields, the eigenvalues, and the checks with controls."""
    cfg = dict(
        SCALES[scale],
        seed=seed,
        lr=LR,
        modes={k: m._asdict() for k, m in MODES.items()},
        near_start=NEAR_START,
        half_start=HALF_START,
        not_converged_above=NOT_CONVERGED,
        tail_fraction=TAIL,
        methods={k: m._asdict() for k, m in METHODS.items()},
        schemes=list(SCHEMES),
    )
    clock = time.perf_counter()
    converged, start_distance = cfg["converged_below"], float(np.hypot(1.0, 1.0))
    grid = np.linspace(-2.0, 2.0, cfg["field_grid"])
    runs = {name: run_mode(mode, cfg, keep_paths=name == "reference") for name, mode in MODES.items()}
    steps = cfg["steps"]
    near = {
        k: float(radius(run_one(METHODS[k], "simultaneous", NEAR_START, steps, steps).final, [0, 0])[0])
        for k in ("gan", "nsgan", "r1_1.0")
    }
    consensus_alt5 = {
        name: float(radius(run_one(METHODS[k], "alternating-5", HALF_START, steps, steps, m.d_first).final, [0, 0])[0])
        for name, m in MODES.items()
        for k in ("consensus",)
    }
    gan_alt5_half = float(radius(run_one(METHODS["gan"], "alternating-5", HALF_START, steps, steps).final, [0, 0])[0])
    eig = eigen_data(cfg)
    data = dict(
        runs=runs,
        field_grid=grid,
        fields={k: np.round(vector_field(m, grid), 6) for k, m in METHODS.items()},
        start_distance=start_distance,
        near_equilibrium_final_distance=near,
        near_start_distance=float(np.hypot(*NEAR_START)),
        consensus_alternating_5_from_half_final_distance=consensus_alt5,
        consensus_alternating_5_from_start_diverges={
            m: runs[m]["consensus"]["alternating-5"]["final_distance"] > start_distance for m in MODES
        },
        eigenvalues=eig,
        notebook_reference_final_states={
            k: {s: runs["reference"][k][s]["final_notebook_convention"] for s in SCHEMES}
            for k in ("gan", "nsgan", "wgan", "wgan_gp")
        },
    )
    checks, controls = {}, {}
    for name in MODES:
        c, ctl = dynamics_checks(name, _verdicts(runs[name], converged, start_distance))
        checks.update(c)
        controls.update(ctl)
        checks[f"{name}:consensus_alternating_5_converges_from_half"] = consensus_alt5[name] < converged
        controls[f"{name}:consensus_alternating_5_converges_from_half"] = dict(
            control="GAN (minimax) under alternating-5 from (0.5, 0.5): it cycles",
            control_passes=bool(gan_alt5_half < converged),
        )
    sweep, at_eq = eig["gamma_sweep"], eig["at_equilibrium"]
    auto = np.asarray(sweep["autograd"]["re"]) + 1j * np.asarray(sweep["autograd"]["im"])
    sym = np.asarray(sweep["sympy"]["re"]) + 1j * np.asarray(sweep["sympy"]["im"])
    formula = np.asarray(sweep["formula"]["re"]) + 1j * np.asarray(sweep["formula"]["im"])
    gan_auto = [autograd_eigenvalues(METHODS[k]) for k in ("gan", "nsgan")]
    checks.update(
        {
            "gan_nsgan_eigenvalues_are_plus_minus_i_over_2": bool(
                eig["fprime0_gan"] == 0.5
                and set(eig["gan_nsgan_sympy"]) == {"I/2", "-I/2"}
                and max(np.abs(e - np.array([-0.5j, 0.5j])).max() for e in gan_auto) < 1e-12
            ),
            # eig of a 2x2 Jacobian in float64: 1e-9 is far above rounding and far below any real mismatch.
            "sympy_eigenvalues_equal_autograd_at_equilibrium": bool(
                max(e["max_abs_difference"] for e in at_eq.values()) < 1e-9
            ),
            # The sweep crosses the double root gamma = 1: eig of a defective matrix is only ~1e-8 accurate there.
            "r1_sweep_sympy_equals_autograd": bool(np.abs(sym - auto).max() < 1e-7),
            "r1_sweep_sympy_equals_formula": bool(np.abs(sym - formula).max() < 1e-12),
            "gan_nsgan_simultaneous_spiral_out_near_equilibrium": bool(
                min(near["gan"], near["nsgan"]) > data["near_start_distance"]
            ),
        }
    )
    identity = "an identity (sympy's closed form against autograd or the formula) checked to a tolerance"
    controls.update(
        {
            "gan_nsgan_eigenvalues_are_plus_minus_i_over_2": dict(
                control="R1, gamma 0.3: eigenvalues -0.15 +- 0.477i",
                control_passes=bool(
                    np.abs(autograd_eigenvalues(METHODS["r1_0.3"]) - np.array([-0.5j, 0.5j])).max() < 1e-12
                ),
            ),
            "sympy_eigenvalues_equal_autograd_at_equilibrium": dict(no_control=identity),
            "r1_sweep_sympy_equals_autograd": dict(no_control=identity),
            "r1_sweep_sympy_equals_formula": dict(no_control=identity),
            "gan_nsgan_simultaneous_spiral_out_near_equilibrium": dict(
                control="R1, gamma 1 from (0.1, 0.1): it contracts",
                control_passes=bool(near["r1_1.0"] > data["near_start_distance"]),
            ),
        }
    )
    data["seconds"] = time.perf_counter() - clock
    gan_eig = at_eq["gan"]["autograd"]
    data["headline"] = [
        Headline(
            "C8",
            "GAN Jacobian eigenvalues at the equilibrium (imaginary parts)",
            f"{min(gan_eig['im']):+.6f}i, {max(gan_eig['im']):+.6f}i",
            published="+-i f'(0) = +-0.5i",
            source="Mescheder et al. 2018, Thm. 3.1 (with f'(0) = 1/2)",
        )._asdict(),
        Headline(
            "C8",
            "reference mode, final distance to (0, 0) after 500 steps: GAN simultaneous / NS-GAN alternating-1 / "
            "R1 0.3 simultaneous",
            " / ".join(
                f"{runs['reference'][k][s]['final_distance']:.3g}"
                for k, s in (("gan", "simultaneous"), ("nsgan", "alternating-1"), ("r1_0.3", "simultaneous"))
            ),
            published="spirals out / cycles / converges (figures, no numbers)",
            source="Mescheder et al. 2018, Figs. 2-4 (GAN_stability notebook)",
            setting_difference="none: the notebook's algorithm, in sandbox's sign convention",
        )._asdict(),
    ]
    return study.Result(config=cfg, data=data, checks=checks, controls=controls)


# --------------------------------------------------------------------------------------------------- figure
def _phase_panel(ax, key: str, scheme: str, data: dict) -> None:
    """The field's direction (grey arrows), the reference-mode trajectory (red) and the equilibrium (star)."""
    grid, (vt, vp) = np.asarray(data["field_grid"]), np.asarray(data["fields"][key])
    speed = np.hypot(vt, vp) + 1e-12
    ax.quiver(grid, grid, vt / speed, vp / speed, color="0.6", angles="xy", scale=28, width=0.004)
    run_ = data["runs"]["reference"][key][scheme]
    path = np.asarray(run_["path"])
    ax.plot(path[:, 0], path[:, 1], color="C3", lw=0.9)
    ax.plot(*path[0], "o", color="C3", ms=3)
    ax.plot(0, 0, "*", color="k", ms=9, zorder=5)
    if METHODS[key].clip:
        for c in (-METHODS[key].clip, METHODS[key].clip):
            ax.axhline(c, color="C0", lw=0.8, ls="--")
    ax.set(xlim=(-2, 2), ylim=(-2, 2), xticks=[-2, 0, 2], yticks=[-2, 0, 2])
    ax.tick_params(labelsize=7)
    ax.set_title(f"{METHODS[key].label}\n{scheme}: d = {run_['final_distance']:.2g}", fontsize=8)


def _distance_panel(ax, scheme: str, data: dict, cfg: dict) -> None:
    """Distance to (0, 0) per iteration: the reference mode solid, the project mode dotted, one colour per method."""
    every = cfg["record_every"]
    for i, key in enumerate(METHODS):
        for mode, style in (("reference", "-"), ("project", ":")):
            d = np.asarray(data["runs"][mode][key][scheme]["distance"])
            ax.semilogy(np.arange(len(d)) * every, np.maximum(d, 1e-14), ls=style, color=f"C{i % 10}", lw=1)
    ax.axhline(cfg["converged_below"], color="k", lw=0.6, ls="--")
    ax.set_ylim(1e-14, 1e2)
    ax.set_title(f"distance to (0, 0), {scheme}", fontsize=8)
    ax.set_xlabel("iteration", fontsize=8)
    ax.tick_params(labelsize=7)


def _eigen_panel(ax, part: str, data: dict, legend: bool) -> None:
    """Re or Im of the R1 Jacobian's eigenvalues over gamma: the two closed-form branches and autograd."""
    sweep = data["eigenvalues"]["gamma_sweep"]
    for name, label, color in (("line_plus", "+", "C0"), ("line_minus", "-", "C1")):
        ax.plot(
            sweep["line_gamma"],
            sweep[name][part],
            color=color,
            lw=1.2,
            label=f"-gamma/2 {label} sqrt(gamma^2/4 - f'(0)^2)",
        )
    auto = np.asarray(sweep["autograd"][part])
    for b in range(auto.shape[1]):
        ax.plot(sweep["gamma"], auto[:, b], "o", mfc="none", color="k", ms=4, label="autograd" if b == 0 else None)
    ax.set_xlabel("gamma (R1, GAN objective)", fontsize=8)
    ax.set_title(f"{'Re' if part == 're' else 'Im'} of Jacobian eigenvalues", fontsize=9)
    ax.tick_params(labelsize=7)
    if legend:
        ax.legend(fontsize=6, loc="lower left")


def plot(result: study.Result):
    """Phase portraits of the reference mode, distances of both modes, and the R1 eigenvalue sweep."""
    data, cfg = result.data, result.config
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
    for j, scheme in enumerate(SCHEMES):
        _distance_panel(fig.add_subplot(gs[5, j]), scheme, data, cfg)
    _eigen_panel(fig.add_subplot(gs[5, 3]), "re", data, legend=True)
    _eigen_panel(fig.add_subplot(gs[5, 4]), "im", data, legend=False)
    ax_leg = fig.add_subplot(gs[5, 5])
    ax_leg.axis("off")
    handles = [plt.Line2D([], [], color=f"C{i % 10}") for i in range(len(METHODS))]
    handles += [plt.Line2D([], [], color="k", ls=s) for s in ("-", ":", "--")]
    labels = [m.label for m in METHODS.values()] + [
        "reference mode",
        "project mode",
        f"converged: {cfg['converged_below']:g}",
    ]
    ax_leg.legend(handles, labels, loc="center", fontsize=7, title="distance panels", title_fontsize=8)
    fig.suptitle(
        "Dirac-GAN (Mescheder et al. 2018) as the GAN_stability notebook runs it, in sandbox's convention (D large "
        f"on real, so its start (1, 1) is (1, -1) here; G first): field, trajectory, equilibrium; step {LR}, "
        f"{cfg['steps']} iterations",
        fontsize=11,
        y=0.975,
    )
    return fig


def main(argv=None) -> dict:
    # 2-parameter float64 games: the CPU is the right device whatever --device says
    return study.main_of(__name__, argv, cpu_only=True)


if __name__ == "__main__":
    main()
