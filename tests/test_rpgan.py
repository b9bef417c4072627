"""C22: the relativistic pairing GAN (RpGAN) and its Dirac game, without and with R1/R2 (Huang et al. 2024, App. B).

S: sympy derives the Dirac-RpGAN Jacobian at the equilibrium from the registered objective (built over sympy's
operations), and its eigenvalues; P: autograd on `sandbox.games.dirac_gan` with the same objective and penalty
objects agrees to 1e-10, and property tests pin what pairing means.
"""

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.testing import assert_close

from sandbox.dynamics import eigenvalues, field, gd, jacobian, make_rule, radius, simulate
from sandbox.games import dirac_gan, network_game
from sandbox.objectives import get_objective
from sandbox.penalties import make_penalty, no_penalty, r1, r1_r2, r2
from sandbox.theory import symbolic_games as sg

RPGAN = get_objective("rpgan")
GAMMAS = (0.3, 0.6, 1.7, 4.0)  # both sides of the double root gamma = 2 f'(0) = 1, which is only sqrt(eps)-exact


def ordered(zs) -> torch.Tensor:
    return torch.tensor(sorted(zs, key=lambda z: (z.imag, z.real)), dtype=torch.complex128)


def autograd_eigenvalues(penalty) -> torch.Tensor:
    return ordered(eigenvalues(jacobian(dirac_gan([0.0], [0.0], RPGAN, penalty)))[0].tolist())


def closed_form(expressions, gamma: float) -> torch.Tensor:
    return ordered([complex(sp.N(e.subs(sg.gamma, gamma), 30)) for e in expressions])


def test_c22_dirac_rpgan_fprime0_and_jacobian_from_sympy():
    fp0 = sg.dirac_fprime0("rpgan")
    assert fp0 == sp.Rational(1, 2)  # f(t) = -log(1 + e^-t): f'(0) = sigmoid(0) = 1/2
    assert sg.dirac_gprime0("rpgan") == -fp0
    assert sg.dirac_jacobian("rpgan", "none") == sp.Matrix([[0, fp0], [-fp0, 0]])
    assert sg.dirac_jacobian("rpgan", "r1") == sp.Matrix([[0, fp0], [-fp0, -sg.gamma]])
    assert sg.dirac_jacobian("rpgan", "r2") == sp.Matrix([[0, fp0], [-fp0, -sg.gamma]])
    assert sg.dirac_jacobian("rpgan", "r1_r2") == sp.Matrix([[0, fp0], [-fp0, -2 * sg.gamma]])


def test_c22_unregularised_dirac_rpgan_eigenvalues_are_plus_minus_i_fprime0():
    fp0 = sg.dirac_fprime0("rpgan")
    assert set(sg.dirac_eigenvalues("rpgan", "none")) == {sp.I * fp0, -sp.I * fp0}
    assert_close(autograd_eigenvalues(no_penalty()), ordered([-0.5j, 0.5j]), rtol=0, atol=1e-10)


@pytest.mark.parametrize("name,ctor", [("r1", r1), ("r2", r2)])
def test_c22_r1_or_r2_eigenvalues_are_minus_gamma_half_plus_minus_root(name, ctor):
    """-gamma/2 +- sqrt(gamma^2/4 - f'(0)^2): derived by sympy, equal to autograd to 1e-10 at every gamma."""
    fp0 = sg.dirac_fprime0("rpgan")
    derived = sg.dirac_eigenvalues("rpgan", name)
    formula = sg.paper_eigenvalues(fp0, sg.gamma)
    assert len(derived) == 2 and all(any(sp.simplify(d - f) == 0 for f in formula) for d in derived)
    for gamma in GAMMAS:
        expected = closed_form(formula, gamma)
        assert_close(autograd_eigenvalues(ctor(gamma)), expected, rtol=0, atol=1e-10)
        assert float(expected.real.max()) < 0  # every eigenvalue in the open left half-plane: local convergence


def test_c22_r1_plus_r2_is_r1_at_twice_gamma():
    fp0 = sg.dirac_fprime0("rpgan")
    formula = sg.paper_eigenvalues(fp0, 2 * sg.gamma)  # -gamma +- sqrt(gamma^2 - f'(0)^2)
    derived = sg.dirac_eigenvalues("rpgan", "r1_r2")
    assert all(any(sp.simplify(d - f) == 0 for f in formula) for d in derived)
    for gamma in GAMMAS:
        assert_close(autograd_eigenvalues(r1_r2(gamma)), closed_form(formula, gamma), rtol=0, atol=1e-10)


def test_c22_the_appendix_formula_with_fprime0_unsquared_is_not_what_the_jacobian_gives():
    """Control: the printed -gamma/2 +- sqrt(gamma^2/4 - f'(0)) misses the autograd eigenvalues by far at gamma 0.3."""
    fp0 = sg.dirac_fprime0("rpgan")
    gamma = 0.3
    printed = [-sg.gamma / 2 + s * sp.sqrt(sg.gamma**2 / 4 - fp0) for s in (1, -1)]
    gap = (closed_form(printed, gamma) - autograd_eigenvalues(r1(gamma))).abs().max()
    assert float(gap) > 0.1


@given(theta=st.floats(-3, 3), psi=st.floats(-3, 3))
def test_c22_dirac_rpgan_fields_equal_the_classic_gan_fields(theta, psi):
    """With data at 0 the real logit is psi * 0 = 0, so RpGAN's losses are the classic GAN's up to D's constant
    log 2: the non-saturating form gives NS-GAN's field, the zero-sum form (eq. 2, App. B) the minimax GAN's."""
    for rp, classic in (("rpgan", "nonsaturating"), ("rpgan_minimax", "minimax")):
        a = field(dirac_gan([theta], [psi], get_objective(rp)))
        b = field(dirac_gan([theta], [psi], get_objective(classic)))
        assert_close(a, b, rtol=1e-12, atol=1e-15)


def test_c22_zero_sum_dirac_rpgan_has_the_same_eigenvalues():
    fp0 = sg.dirac_fprime0("rpgan_minimax")
    assert fp0 == sp.Rational(1, 2) and sg.dirac_gprime0("rpgan_minimax") == -fp0
    assert set(sg.dirac_eigenvalues("rpgan_minimax", "none")) == {sp.I * fp0, -sp.I * fp0}


def test_c22_with_r1_r2_the_iterates_converge_at_the_eigenvalue_rate():
    """Simultaneous GD with step h multiplies the distance by |1 + h lambda| per step near the equilibrium."""
    h, gamma, steps = 0.1, 0.6, 400
    tr = simulate(dirac_gan([0.01], [0.01], RPGAN, r1_r2(gamma)), make_rule("simultaneous"), gd(h), gd(h), steps)
    lam = autograd_eigenvalues(r1_r2(gamma))
    rate = float((1 + h * lam).abs().max())
    r = radius(tr.z[:, 0].double(), [0.0, 0.0])
    measured = float((r[-1] / r[steps // 2]) ** (1.0 / (steps - steps // 2)))
    assert measured == pytest.approx(rate, rel=1e-3)
    assert rate < 1


def test_c22_network_game_pairs_each_fake_with_a_fresh_real_in_both_steps():
    """G's RpGAN loss needs the real logits: network_game draws a real batch in G's step and pairs it row by row."""
    g = torch.Generator().manual_seed(0)
    real_batches = [torch.randn(6, 1, generator=g, dtype=torch.float64) for _ in range(2)]
    z_batches = [torch.randn(6, 1, generator=g, dtype=torch.float64) for _ in range(2)]
    reals, zs = iter(real_batches), iter(z_batches)
    G = torch.nn.Linear(1, 1).double()
    D = torch.nn.Sequential(torch.nn.Linear(1, 1), torch.nn.Flatten(0)).double()
    game = network_game(G, D, lambda: next(reals), lambda: next(zs), RPGAN, make_penalty("none"))
    d_loss, g_loss = game.loss_y(), game.loss_x()
    with torch.no_grad():
        t_r0, t_f0 = D(real_batches[0]), D(G(z_batches[0]))
        t_r1, t_f1 = D(real_batches[1]), D(G(z_batches[1]))
    assert_close(d_loss, -torch.log(torch.sigmoid(t_r0 - t_f0)).mean())
    assert_close(g_loss, -torch.log(torch.sigmoid(t_f1 - t_r1)).mean())
    (grad_g,) = torch.autograd.grad(g_loss, G.weight)
    assert float(grad_g.abs()) > 0 and np.isfinite(float(grad_g))
