"""The symbolic games (sandbox.theory.symbolic_games) vs the torch games and dynamics: C8 (Dirac-GAN), C9 (bilinear).

Three-way links: sympy objective terms = the registered torch terms; sympy field and Jacobian = autograd on
`sandbox.games.dirac_gan`; numpy iteration of the lambdified sympy field = `sandbox.dynamics.simulate`.
"""

import math

import numpy as np
import pytest
import sympy as sp
import torch
from torch.testing import assert_close

from sandbox import games
from sandbox.dynamics import (
    consensus_grads,
    eigenvalues,
    field,
    flat,
    gd,
    jacobian,
    log_growth_rate,
    make_rule,
    radius,
    simulate,
)
from sandbox.games import bilinear, clipped_gd
from sandbox.objectives import OBJECTIVES, get_objective
from sandbox.penalties import make_penalty
from sandbox.theory import symbolic_games as sg

ALL_OBJECTIVES = sorted(OBJECTIVES)
ELEMENTWISE = [o for o in ALL_OBJECTIVES if not OBJECTIVES[o].pairwise]
# Objectives whose G term is minus D's fake term to first order (g'(0) = -f'(0)): the paper's formula applies.
ZERO_SUM_AT_FIRST_ORDER = [o for o in ALL_OBJECTIVES if o != "least_squares"]


def dirac_gan(theta, psi, objective, penalty=None, gamma=None, **options):
    """games.dirac_gan with the objective and penalty resolved from their names (the tests' config boundary)."""
    pen = make_penalty(penalty or "none", *(() if gamma is None else (gamma,)))
    return games.dirac_gan(theta, psi, get_objective(objective), pen, **options)


def numeric(matrix: sp.Matrix, **values) -> torch.Tensor:
    subs = {getattr(sg, k): v for k, v in values.items()}
    return torch.tensor(np.array(matrix.subs(subs).evalf(), dtype=np.float64))


def test_sympy_objectives_cover_every_registered_objective():
    assert sorted(sg.SYMPY_OBJECTIVES) == ALL_OBJECTIVES
    assert all(sg.SYMPY_OBJECTIVES[o].pairwise == OBJECTIVES[o].pairwise for o in ALL_OBJECTIVES)


TERMS = ("d_real", "d_fake", "g_fake", "pair_d", "pair_g")


@pytest.mark.parametrize("objective", ALL_OBJECTIVES)
def test_sympy_terms_equal_the_registered_torch_terms_at_many_points(objective):
    """The sympy objectives are the registered ones built over sympy's operations; the two backends agree to 1e-12
    at 64 logits, so a slip in either backend's operations (softplus, expm1, log 2, ...) fails here."""
    t = sp.Symbol("t", real=True)
    logits = torch.empty(64, dtype=torch.float64).uniform_(-6.0, 6.0, generator=torch.Generator().manual_seed(8))
    sym, num = sg.SYMPY_OBJECTIVES[objective], OBJECTIVES[objective]
    compared = 0
    for name in TERMS:
        sym_term, torch_term = getattr(sym, name), getattr(num, name)
        assert (sym_term is None) == (torch_term is None), (objective, name)
        if sym_term is None:
            continue
        as_numpy = sp.lambdify(t, sym_term(t), "numpy")
        expected = torch.as_tensor(np.broadcast_to(as_numpy(logits.numpy()), logits.shape).astype(np.float64))
        assert_close(torch_term(logits), expected, rtol=1e-12, atol=1e-12, msg=f"{objective}.{name}")
        compared += 1
    assert compared == (2 if num.pairwise else 3)


def test_sympy_operations_are_the_functions_they_name():
    """The sympy backend's operations, checked against closed forms typed here (not through the objectives)."""
    t = sp.Symbol("t", real=True)
    assert sp.simplify(sg.SYMPY_OPS.softplus(t) - sp.log(1 + sp.exp(t))) == 0
    assert sp.simplify(sg.SYMPY_OPS.expm1(t) - (sp.exp(t) - 1)) == 0
    assert sg.SYMPY_OPS.log2 == sp.log(2) and sg.SYMPY_OPS.relu(sp.Integer(-3)) == 0 and sg.SYMPY_OPS.relu(2) == 2
    # The minimax terms are -log sigmoid(t) and -log(1 - sigmoid(t)): typed independently of the library.
    sig = 1 / (1 + sp.exp(-t))
    mm = sg.SYMPY_OBJECTIVES["minimax"]
    for term, closed in ((mm.d_real, -sp.log(sig)), (mm.d_fake, -sp.log(1 - sig)), (mm.g_fake, sp.log(1 - sig))):
        assert abs(float((term(t) - closed).subs(t, sp.Rational(7, 10)))) < 1e-14


JACOBIAN_CASES = [(o, "none", None) for o in ALL_OBJECTIVES] + [
    (o, pen, g) for o in ALL_OBJECTIVES for pen in ("r1", "r2", "r1_r2") for g in (0.3, 1.0)
]


@pytest.mark.parametrize("objective,penalty,gamma", JACOBIAN_CASES)
def test_c8_autograd_jacobian_equals_sympy(objective, penalty, gamma):
    game = dirac_gan([0.0], [0.0], objective, penalty, gamma)
    assert_close(field(game)[0], torch.zeros(2, dtype=torch.float64), rtol=0, atol=1e-15)  # (0, 0) is stationary
    expected = numeric(sg.dirac_jacobian(objective, penalty), gamma=gamma or 0.0)
    assert_close(jacobian(game)[0], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("objective", ELEMENTWISE)
def test_c8_autograd_jacobian_equals_sympy_with_instance_noise_and_consensus(objective):
    noisy = dirac_gan([0.0], [0.0], objective, instance_noise=0.7)  # Gauss-Hermite: exact on the Taylor terms
    assert_close(
        jacobian(noisy)[0], numeric(sg.dirac_jacobian(objective, "instance_noise"), sigma=0.7), rtol=1e-12, atol=1e-12
    )
    plain = dirac_gan([0.0], [0.0], objective)
    assert_close(
        jacobian(plain, consensus=1.0)[0],
        numeric(sg.dirac_jacobian(objective, "consensus"), gamma=1.0),
        rtol=1e-12,
        atol=1e-12,
    )


@pytest.mark.parametrize("objective", ALL_OBJECTIVES)
@pytest.mark.parametrize("regulariser", ["none", "r1", "consensus"])
def test_c8_sympy_field_equals_autograd_field_away_from_the_equilibrium(objective, regulariser):
    points = torch.tensor([[0.8, -1.3], [-1.7, 0.4], [0.25, 1.9]], dtype=torch.float64)
    game = dirac_gan(points[:, 0], points[:, 1], objective, "r1" if regulariser == "r1" else None, 0.6)
    if regulariser == "consensus":
        gx, gy = consensus_grads(game, 0.6)
        autograd = -flat(gx + gy)
    else:
        autograd = field(game)
    v = sg.lambdify_field(objective, regulariser, gamma=0.6)
    closed = np.stack(np.broadcast_arrays(*v(points[:, 0].numpy(), points[:, 1].numpy())), axis=1)
    assert_close(autograd, torch.as_tensor(closed.astype(np.float64)), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("objective", ZERO_SUM_AT_FIRST_ORDER)
def test_c8_eigenvalues_match_paper_formula(objective):
    fp0 = sg.dirac_fprime0(objective)
    assert sp.simplify(sg.dirac_gprime0(objective) + fp0) == 0
    assert set(sg.dirac_eigenvalues(objective, "none")) == {sp.I * fp0, -sp.I * fp0}  # +- i f'(0)
    paper = set(sp.simplify(e) for e in sg.paper_eigenvalues(fp0, sg.gamma))
    for pen in ("r1", "r2"):  # (R1 + R2 at gamma each is R1 at 2 gamma: tests/test_rpgan.py)
        derived = sg.dirac_eigenvalues(objective, pen)
        assert len(derived) == 2
        for ev in derived:  # each derived eigenvalue is one of the paper's two
            assert any(sp.simplify(ev - p) == 0 for p in paper), (objective, pen, ev)
        # Autograd's eigenvalues equal the formula (gammas away from the double root gamma = 2 f'(0), where a
        # defective matrix's eigenvalues are only sqrt(eps)-accurate).
        for g in (0.3, 1.7):
            ev_torch = eigenvalues(jacobian(dirac_gan([0.0], [0.0], objective, pen, g)))[0].tolist()
            ev_paper = [complex(sp.N(p.subs(sg.gamma, g))) for p in paper]
            order = lambda zs: torch.tensor(sorted(zs, key=lambda z: (z.imag, z.real)), dtype=torch.complex128)
            assert_close(order(ev_torch), order(ev_paper), rtol=1e-10, atol=1e-10)
    # Consensus (Mescheder et al. 2017): J - gamma J^T J = J - gamma f'(0)^2 I, so -gamma f'(0)^2 +- i f'(0).
    assert set(sg.dirac_eigenvalues(objective, "consensus")) == {
        -sg.gamma * fp0**2 + sp.I * fp0,
        -sg.gamma * fp0**2 - sp.I * fp0,
    }


def test_c8_gan_values_of_fprime0_and_the_instance_noise_eigenvalues():
    assert [sg.dirac_fprime0(o) for o in ("minimax", "nonsaturating", "wasserstein")] == [sp.Rational(1, 2)] * 2 + [1]
    # Instance noise on GAN: J = [[0, 1/2], [-1/2, -sigma^2/2]], 2 f''(0) sigma^2 with f''(0) = -1/4 (paper Sec. 3.3).
    derived = sg.dirac_eigenvalues("minimax", "instance_noise")
    s = sg.sigma
    for ev in derived:
        assert any(
            sp.simplify(ev - p) == 0
            for p in (
                -(s**2) / 4 + sp.sqrt(s**4 / 16 - sp.Rational(1, 4)),
                -(s**2) / 4 - sp.sqrt(s**4 / 16 - sp.Rational(1, 4)),
            )
        )


def test_c8_least_squares_jacobian_is_degenerate():
    """LSGAN with 0-1 coding: D's fake term has zero slope at logit 0, so the paper's formula does not apply."""
    assert (sg.dirac_fprime0("least_squares"), sg.dirac_gprime0("least_squares")) == (0, -1)
    assert sg.dirac_jacobian("least_squares", "none") == sp.Matrix([[0, 1], [0, 0]])
    assert sorted(sg.dirac_eigenvalues("least_squares", "r1"), key=str) == sorted([0, -sg.gamma], key=str)


# ---------------------------------------------------------------------------------------------- trajectories
def closed_form_run(objective, penalty, gamma, rule, n_d, steps, lr=0.2, z0=(1.0, 1.0)):
    """Iterate the lambdified sympy field in numpy: simultaneous, or n_d D (psi) steps then one G (theta) step."""
    v = sg.lambdify_field(objective, penalty or "none", **({"gamma": gamma} if penalty else {}))
    theta, psi = z0
    out = []
    for _ in range(steps):
        if rule == "simultaneous":
            v_theta, v_psi = v(theta, psi)
            theta, psi = theta + lr * v_theta, psi + lr * v_psi
        else:
            for _ in range(n_d):
                psi = psi + lr * v(theta, psi)[1]
            theta = theta + lr * v(theta, psi)[0]
        out.append((theta, psi))
    return np.array(out, dtype=np.float64)


@pytest.mark.parametrize(
    "objective,penalty,gamma",
    [("minimax", None, None), ("nonsaturating", None, None), ("wasserstein", None, None), ("minimax", "r1", 0.3)],
)
@pytest.mark.parametrize("rule,n_d", [("simultaneous", 1), ("alternating", 1), ("alternating", 5)])
def test_c8_dynamics_trajectory_equals_closed_form_field(objective, penalty, gamma, rule, n_d):
    steps, chunk = 500, 50
    reference = closed_form_run(objective, penalty, gamma, rule, n_d, steps)
    game = dirac_gan([1.0], [1.0], objective, penalty, gamma)
    update = make_rule(rule, n_d=n_d) if rule == "alternating" else make_rule(rule)
    # Both rules are stateless, so consecutive chunks continue one run and give float64 checkpoints.
    checkpoints = torch.stack([simulate(game, update, gd(0.2), gd(0.2), chunk).final[0] for _ in range(steps // chunk)])
    assert_close(checkpoints, torch.as_tensor(reference[chunk - 1 :: chunk]), rtol=1e-12, atol=1e-12)


def test_c8_wgan_clipping_is_a_projection():
    free = simulate(dirac_gan([1.0], [1.0], "wasserstein"), make_rule("alternating", n_d=5), gd(0.2), gd(0.2), 500)
    clipped = simulate(
        dirac_gan([1.0], [1.0], "wasserstein"), make_rule("alternating", n_d=5), gd(0.2), clipped_gd(0.2, 1.0), 500
    )
    psi_free, psi_clip = free.z[:, 0, 1].abs(), clipped.z[:, 0, 1].abs()
    assert float(psi_free.max()) > 1.5  # unclipped, the critic leaves the box ...
    assert float(psi_clip.max()) == pytest.approx(1.0, abs=0)  # ... clipped, it reaches the wall and stays in it
    assert float(radius(clipped.final, [0.0, 0.0])[0]) > 0.5  # and clipping alone does not make WGAN converge


def test_c8_instance_noise_game_converges_from_one_one():
    tr = simulate(
        dirac_gan([1.0], [1.0], "minimax", instance_noise=0.7), make_rule("simultaneous"), gd(0.2), gd(0.2), 1000
    )
    assert_close(tr.final[0], torch.zeros(2, dtype=torch.float64), rtol=0, atol=1e-6)
    assert float(radius(tr.z[250].double(), [0.0, 0.0])[0]) > 1e-3  # it takes time: a contraction, not a jump


# ------------------------------------------------------------------------------------------------- bilinear
def test_c9_spectral_radius_closed_forms():
    h = sg.eta
    assert sp.simplify(sg.bilinear_spectral_radius("simultaneous") - sp.sqrt(1 + h**2)) == 0
    assert sp.simplify(sg.bilinear_spectral_radius("extragradient") - sp.sqrt(1 - h**2 + h**4)) == 0
    alternating = sg.bilinear_spectral_radius("alternating")
    assert [alternating.subs(h, x) for x in (sp.Rational(1, 10), 1, sp.Rational(19, 10))] == [1, 1, 1]
    assert float(alternating.subs(h, 3)) > 1  # past eta = 2 the eigenvalues turn real
    assert float(sg.bilinear_spectral_radius("optimistic", 0.1)) < 1


@pytest.mark.parametrize("rule", sg.BILINEAR_RULES)
@pytest.mark.parametrize("eta", [0.1, 0.3])
def test_c9_sympy_update_matrices_reproduce_the_dynamics(rule, eta):
    steps = 200
    M = numeric(sg.bilinear_update_matrix(rule, eta)).numpy()
    z0 = np.array([0.5, 0.5])  # (1, 1) - (1/2, 1/2)
    if rule == "optimistic":  # its first step is plain GD (d_{-1} = d_0)
        z1 = numeric(sg.bilinear_update_matrix("simultaneous", eta)).numpy() @ z0
        expected = (np.linalg.matrix_power(M, steps - 1) @ np.concatenate([z1, z0]))[:2]
    else:
        expected = np.linalg.matrix_power(M, steps) @ z0
    tr = simulate(bilinear([1.0], [1.0]), make_rule(rule), gd(eta), gd(eta), steps)
    assert_close(tr.final[0] - 0.5, torch.as_tensor(expected), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize(
    "rule,tol", [("simultaneous", 1e-9), ("extragradient", 1e-9), ("optimistic", 1e-6), ("alternating", 1e-6)]
)
def test_c9_sympy_spectral_radius_equals_the_measured_rate(rule, tol):
    """Scaled rotations (simultaneous, EG) change the radius by exactly the rate each step; the others on average."""
    eta, steps = 0.1, 2000
    tr = simulate(bilinear([1.0], [1.0]), make_rule(rule), gd(eta), gd(eta), steps, record_every=10)
    if rule in ("simultaneous", "extragradient"):
        measured = (float(radius(tr.final, [0.5, 0.5])[0]) / math.hypot(0.5, 0.5)) ** (1.0 / steps)  # float64
    else:
        r = radius(tr.z[:, 0].double(), [0.5, 0.5])
        measured = math.exp(log_growth_rate(r[20:], tr.steps[20:]))  # skip the transient
    assert measured == pytest.approx(float(sg.bilinear_spectral_radius(rule, eta)), abs=tol)


def test_c9_symbolic_invariant_is_conserved_by_alternating_gda():
    eta = 0.25
    q_sym = sg.alternating_invariant(eta)
    assert sp.expand(sg.alternating_invariant().subs(sg.eta, sp.Rational(1, 4)) - q_sym) == 0
    assert sp.expand(sg.alternating_invariant() - (sg.u**2 + sg.w**2 + sg.eta * sg.u * sg.w)) == 0
    q = sp.lambdify((sg.u, sg.w), q_sym, "numpy")
    starts = torch.tensor([[1.0, 1.0], [-2.0, 0.7], [0.3, 4.0]], dtype=torch.float64)
    game = bilinear(starts[:, 0], starts[:, 1])
    q0 = q(starts[:, 0].numpy() - 0.5, starts[:, 1].numpy() - 0.5)
    for _ in range(10):  # 10 x 1000 = 10^4 steps, checked as it goes
        z = simulate(game, make_rule("alternating"), gd(eta), gd(eta), 1000).final.numpy()
        np.testing.assert_allclose(q(z[:, 0] - 0.5, z[:, 1] - 0.5), q0, rtol=0, atol=1e-9)
    # Not conserved by simultaneous GDA, which multiplies it by about (1 + eta^2) per step.
    z = simulate(bilinear(starts[:, 0], starts[:, 1]), make_rule("simultaneous"), gd(eta), gd(eta), 100).final.numpy()
    assert float(np.min(q(z[:, 0] - 0.5, z[:, 1] - 0.5) / q0)) > 10.0


def test_bad_names_are_reported():
    with pytest.raises(ValueError, match=r"unknown objective 'gann'; valid names: gan, hinge"):
        sg.dirac_jacobian("gann")
    with pytest.raises(
        ValueError, match=r"unknown regulariser .r3.; valid names: consensus, instance_noise, none, r1, r1_r2, r2"
    ):
        sg.dirac_field("minimax", "r3")
    with pytest.raises(ValueError, match=r"unknown update rule 'gda'; valid names: alternating, extragradient"):
        sg.bilinear_update_matrix("gda", 0.1)
    with pytest.raises(ValueError, match="bind the symbols \\['gamma'\\]"):
        sg.lambdify_field("minimax", "r1")
    with pytest.raises(ValueError, match=r"unknown field parameters \['lam'\]; valid names: gamma"):
        sg.lambdify_field("minimax", "r1", lam=0.3)
    with pytest.raises(ValueError, match="instance_noise has no closed-form field"):
        sg.lambdify_field("minimax", "instance_noise")
