"""sandbox.theory.gaussian1d: densities, quadrature through the library's divergences, closed forms, and the
location/scale game (claims C1, C2, C5).

Independent references: scipy.stats densities and scipy.integrate.quad; the game's optimal critics are checked
against `divergences.optimal_logit` and the f-GAN table's f' (Nowozin et al. 2016).
"""

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.stats
import torch
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from torch.testing import assert_close

from sandbox import penalties as P
from sandbox.dynamics import grads_x
from sandbox.objectives import OBJECTIVES, get_objective
from sandbox.theory import divergences as dv
from sandbox.theory import gaussian1d as g1

LOG4 = math.log(4.0)
G = g1.grid()
BIMODAL = g1.Mixture([0.5, 0.5], [-2.5, 2.5], [0.5, 0.5])


def pdf(mu, s):
    return g1.normal_pdf(G.x, mu, s)


# ------------------------------------------------------------------------------------ densities and grid
def test_densities_match_scipy():
    x = np.linspace(-6, 6, 101)
    assert_allclose(g1.normal_pdf(x, 0.5, 1.7).numpy(), scipy.stats.norm(0.5, 1.7).pdf(x), rtol=1e-13)
    expected = 0.3 * scipy.stats.norm(-1, 0.5).pdf(x) + 0.7 * scipy.stats.norm(2, 1.5).pdf(x)
    assert_allclose(g1.mixture_pdf(x, [0.3, 0.7], [-1, 2], [0.5, 1.5]).numpy(), expected, rtol=1e-13)


def test_grid_quadrature_integrates_densities_to_one():
    assert float(G.w.sum()) == pytest.approx(40.0, rel=1e-14)
    assert float((g1.mixture_pdf(G.x, *BIMODAL) * G.w).sum()) == pytest.approx(1.0, abs=1e-13)
    p = g1.discretise(torch.stack([pdf(0.0, 1.0), pdf(3.0, 0.2)]), G)
    assert_close(p.sum(-1), torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-14)


def test_mixture_sample_is_seeded_and_has_the_mixture_moments():
    a = g1.mixture_sample(200_000, BIMODAL, torch.Generator().manual_seed(3))
    b = g1.mixture_sample(200_000, BIMODAL, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    # mean 0, variance 0.25 + 6.25; standard errors about 0.006 and 0.02
    assert float(a.mean()) == pytest.approx(0.0, abs=0.03)
    assert float(a.var()) == pytest.approx(6.5, abs=0.1)


def test_bad_inputs_raise_named_errors():
    with pytest.raises(ValueError, match=r"sigma must be positive, got -1"):
        g1.normal_pdf(0.0, 0.0, -1.0)
    with pytest.raises(ValueError, match=r"mixture weights must be non-negative and sum to 1"):
        g1.mixture_pdf(0.0, [0.5, 0.6], [0, 1], [1, 1])
    with pytest.raises(ValueError, match=r"equal, non-zero numbers of weights, means and stds; got 2, 1, 2"):
        g1.mixture_pdf(0.0, [0.5, 0.5], [0], [1, 1])
    with pytest.raises(ValueError, match=r"grid needs n >= 2 and hi > lo"):
        g1.grid(1.0, -1.0, 10)
    with pytest.raises(ValueError, match=r"unknown divergence 'tv'; valid names: forward_kl, jsd, reverse_kl, w1"):
        g1.quadrature_divergence("tv", pdf(0, 1), pdf(1, 1), G)
    with pytest.raises(ValueError, match=r"s2 must be positive"):
        g1.kl_normal(0.0, 1.0, 0.0, 0.0)


# ------------------------------------------------------------------------------------ closed forms
@given(m1=st.floats(-4, 4), m2=st.floats(-4, 4), s1=st.floats(0.7, 2.5), s2=st.floats(0.7, 2.5))
def test_kl_normal_equals_quadrature_through_library_kl(m1, m2, s1, s2):
    quad = g1.quadrature_divergence("forward_kl", pdf(m1, s1), pdf(m2, s2), G)
    assert float(quad) == pytest.approx(float(g1.kl_normal(m1, s1, m2, s2)), abs=1e-7)


@given(m1=st.floats(-4, 4), m2=st.floats(-4, 4), s1=st.floats(0.2, 3), s2=st.floats(0.2, 3))
def test_w1_normal_equals_quadrature_through_library_w1(m1, m2, s1, s2):
    quad = g1.quadrature_divergence("w1", pdf(m1, s1), pdf(m2, s2), G)
    assert float(quad) == pytest.approx(float(g1.w1_normal(m1, s1, m2, s2)), abs=2e-4)


@pytest.mark.parametrize("m1,s1,m2,s2", [(0, 1, 1, 2), (2, 0.5, -1, 3), (0, 1, 0, 1.5), (1, 1, -1, 1), (0, 2, 0, 2)])
def test_w1_normal_is_the_quantile_coupling_and_an_integral(m1, s1, m2, s2):
    closed = float(g1.w1_normal(m1, s1, m2, s2))
    d, s = m1 - m2, s1 - s2
    by_quad = scipy.integrate.quad(lambda z: abs(d + s * z) * scipy.stats.norm.pdf(z), -np.inf, np.inf)[0]
    assert closed == pytest.approx(by_quad, rel=1e-9, abs=1e-12)
    z = scipy.stats.norm.ppf((np.arange(20_000) + 0.5) / 20_000)  # quantiles: the 1-D optimal coupling
    assert dv.w1(m1 + s1 * z, m2 + s2 * z) == pytest.approx(closed, abs=1e-4)


def test_jsd_on_the_grid_matches_an_independent_integral():
    p, q = scipy.stats.norm(0, 1).pdf, scipy.stats.norm(1.5, 0.7).pdf
    m = lambda x: 0.5 * (p(x) + q(x))
    integrand = lambda x: 0.5 * (p(x) * np.log(p(x) / m(x)) + q(x) * np.log(q(x) / m(x)))
    expected = scipy.integrate.quad(integrand, -12, 12, limit=200)[0]
    assert float(g1.quadrature_divergence("jsd", pdf(0, 1), pdf(1.5, 0.7), G)) == pytest.approx(expected, abs=1e-9)


def test_landscape_against_closed_forms_for_a_gaussian_target():
    target, mus, sigmas = g1.Mixture([1.0], [0.5], [1.2]), torch.linspace(-3, 3, 7), torch.linspace(0.8, 2.5, 5)
    s, m = torch.meshgrid(sigmas.double(), mus.double(), indexing="ij")
    assert_close(g1.landscape("forward_kl", target, mus, sigmas), g1.kl_normal(0.5, 1.2, m, s), rtol=0, atol=2e-6)
    assert_close(g1.landscape("reverse_kl", target, mus, sigmas), g1.kl_normal(m, s, 0.5, 1.2), rtol=0, atol=2e-6)
    assert_close(g1.landscape("w1", target, mus, sigmas), g1.w1_normal(m, s, 0.5, 1.2), rtol=0, atol=1e-4)
    jsd = g1.landscape("jsd", target, mus, sigmas)
    assert jsd.shape == (5, 7) and bool((jsd >= 0).all() and (jsd <= math.log(2)).all())


def test_c5_landscape_minimisers_on_the_bimodal_target():
    """Forward KL averages the modes (moment matching: mu 0, sigma sqrt(6.5)); reverse KL sits on one mode."""
    mus, sigmas = torch.linspace(-3, 3, 25), torch.linspace(0.25, 3.0, 12)
    for name, (mu, sigma) in {"forward_kl": (0.0, 2.5), "reverse_kl": (2.5, 0.5)}.items():
        L = g1.landscape(name, BIMODAL, mus, sigmas)
        i, j = divmod(int(L.argmin()), len(mus))
        assert (abs(float(mus[j])), float(sigmas[i])) == pytest.approx((mu, sigma), abs=1e-6), name


# ------------------------------------------------------------------------------------ the game
def _best(objective, mu, sigma, target, **options):
    obj = get_objective(objective)
    game = g1.location_scale_game(mu, np.log(sigma), torch.zeros(len(mu), 3), target, obj, **options)
    losses = g1.location_scale_losses(*game.x, *game.y, target, obj, **options)
    grad_norm = g1.best_response(losses.d, game.y[0], iters=40)
    return game, losses, grad_norm


MU, SIGMA = [0.0, -1.0, 2.0], [1.0, 0.5, 1.3]
MU_T, SIGMA_T = torch.tensor(MU, dtype=torch.float64), torch.tensor(SIGMA, dtype=torch.float64)
GAUSS = g1.Mixture([1.0], [1.0], [0.7])


def test_c1_best_response_logit_is_the_optimal_logit():
    """Minimax D at its optimum for fixed G: t(x) = log p_data(x) - log p_g(x), a quadratic (Goodfellow et al. 2014)."""
    game, _, grad_norm = _best("minimax", MU, SIGMA, GAUSS, nodes=160)
    assert_close(grad_norm, torch.zeros_like(grad_norm), rtol=0, atol=1e-9)  # D at its optimum
    x = torch.linspace(-2.0, 3.5, 23, dtype=torch.float64).expand(3, -1)
    p, q = g1.normal_pdf(x, 1.0, 0.7), g1.normal_pdf(x, MU_T[:, None], SIGMA_T[:, None])
    assert_close(g1.critic_logit(game.y[0].detach(), x), dv.optimal_logit(p, q), rtol=0, atol=1e-5)
    assert_close(game.y[0].detach(), g1.optimal_quadratic_logit(1.0, 0.7, MU_T, SIGMA_T), rtol=0, atol=1e-5)


@pytest.mark.parametrize("objective", ["kl", "reverse_kl", "jensen_shannon", "gan"])
def test_fgan_best_response_is_f_prime_of_the_ratio(objective):
    """The f-GAN critic's optimum is T*(x) = g_f(v*(x)) = f'(p(x)/q(x)) (Nowozin et al. 2016, eq. 5)."""
    game, _, grad_norm = _best(objective, MU, SIGMA, GAUSS, nodes=160)
    assert_close(grad_norm, torch.zeros_like(grad_norm), rtol=0, atol=1e-8)  # D at its optimum
    ffun = OBJECTIVES[objective].ffun
    x = torch.linspace(-1.0, 2.5, 15, dtype=torch.float64).expand(3, -1)
    ratio = g1.normal_pdf(x, 1.0, 0.7) / g1.normal_pdf(x, MU_T[:, None], SIGMA_T[:, None])
    assert_close(ffun.act(g1.critic_logit(game.y[0].detach(), x)), ffun.f_prime(ratio), rtol=1e-5, atol=1e-5)


def test_c2_value_at_the_optimal_d_is_2jsd_minus_log4_on_the_grid():
    """On the grid the quadratic D reaches the discrete D* exactly, so -D loss = V(G, D*) = 2 JSD - log 4."""
    target = g1.Mixture([1.0], [0.5], [0.8])
    _, losses, grad_norm = _best("minimax", MU, SIGMA, target, quadrature="grid")
    assert_close(grad_norm, torch.zeros_like(grad_norm), rtol=0, atol=1e-9)  # D at its optimum
    p, q = g1.discretise(g1.mixture_pdf(G.x, *target), G), g1.discretise(pdf(MU_T[:, None], SIGMA_T[:, None]), G)
    expected = 2.0 * dv.jsd(p, q) - LOG4
    assert_close(-losses.d().detach(), expected, rtol=0, atol=1e-9)


def test_hermite_and_grid_quadrature_give_the_same_generator_gradient():
    psi = torch.tensor([[-0.3, 0.8, 0.1], [0.05, -0.4, 0.3]], dtype=torch.float64)
    grads = []
    for quadrature in ("hermite", "grid"):
        game = g1.location_scale_game(
            [0.3, -1.0], np.log([0.9, 1.4]), psi, BIMODAL, get_objective("nonsaturating"), quadrature=quadrature
        )
        grads.append(torch.cat(grads_x(game)))
    assert_close(grads[0], grads[1], rtol=0, atol=1e-6)


def test_games_are_independent_across_the_batch():
    psi = torch.tensor([[-0.3, 0.8, 0.1], [0.05, -0.4, 0.3]], dtype=torch.float64)
    mm, pen = get_objective("minimax"), P.r1(10.0)
    both = g1.location_scale_game([0.3, -1.0], [0.1, -0.2], psi, BIMODAL, mm, penalty=pen)
    one = g1.location_scale_game([-1.0], [-0.2], psi[1:], BIMODAL, mm, penalty=pen)
    assert_close(torch.autograd.grad(both.loss_y(), both.y)[0][1], torch.autograd.grad(one.loss_y(), one.y)[0][0])
    assert_close(torch.cat([g[1:] for g in grads_x(both)]), torch.cat(grads_x(one)))


def test_penalties_are_exact_expectations_for_quadratic_critics():
    """r1: gamma/2 E_p (2 a x + b)^2 in closed moments; wgan_gp on a linear critic: lam (|b| - 1)^2 whatever the mix."""
    a, b, c = 0.2, -0.7, 0.4
    psi = torch.tensor([[a, b, c]], dtype=torch.float64)
    target = g1.Mixture([1.0], [1.0], [0.7])
    base = g1.location_scale_losses(
        torch.zeros(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64), psi, target, get_objective("minimax")
    ).d()
    r1 = g1.location_scale_losses(
        torch.zeros(1, dtype=torch.float64),
        torch.zeros(1, dtype=torch.float64),
        psi,
        target,
        get_objective("minimax"),
        penalty=P.r1(3.0),
    ).d()
    ex, ex2 = 1.0, 1.0 + 0.49
    assert float((r1 - base).detach()) == pytest.approx(1.5 * (4 * a * a * ex2 + 4 * a * b * ex + b * b), rel=1e-12)
    linear = torch.tensor([[0.0, b, c]], dtype=torch.float64)
    mu, log_sigma = torch.tensor([0.3], dtype=torch.float64), torch.tensor([0.2], dtype=torch.float64)
    gp = g1.location_scale_losses(mu, log_sigma, linear, target, get_objective("wasserstein"), penalty=P.wgan_gp()).d()
    # -E_p t + E_q t = -b (E_p x - E_q x); lam = 10 by default
    assert float(gp.detach()) == pytest.approx(-b * (1.0 - 0.3) + 10.0 * (abs(b) - 1.0) ** 2, rel=1e-12)


def test_clipped_slope_critic_attains_w1():
    """Slopes clipped to [-1, 1] are the 1-Lipschitz class: the best critic psi_k = -sign(dL/dpsi_k) nears W1."""
    mu = torch.tensor([0.0, 1.0], dtype=torch.float64)
    log_sigma = torch.log(torch.tensor([2.4, 0.6], dtype=torch.float64))
    psi = torch.zeros(2, 96, dtype=torch.float64, requires_grad=True)
    w = get_objective("wasserstein")
    losses = g1.location_scale_losses(mu, log_sigma, psi, BIMODAL, w, critic="slopes", quadrature="grid")
    (grad,) = torch.autograd.grad(losses.d().sum(), psi)  # the D loss is linear in psi
    with torch.no_grad():
        psi.copy_(-torch.sign(grad))
    w1 = g1.quadrature_divergence("w1", g1.mixture_pdf(G.x, *BIMODAL), pdf(mu[:, None], log_sigma.exp()[:, None]), G)
    # a sup over a subset of the 1-Lipschitz functions: at most W1, short of it only in cells where F_q - F_p turns
    assert bool((-losses.d().detach() <= w1 + 1e-12).all())
    assert_close(-losses.d().detach(), w1, rtol=0, atol=1e-2)


def test_game_errors_name_the_problem():
    psi = torch.zeros(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"critic 'slopes' has 96 features; psi has 3"):
        g1.location_scale_game([0.0, 1.0], [0.0, 0.0], psi, BIMODAL, critic="slopes")
    with pytest.raises(ValueError, match=r"need mu, log_sigma of shape \(B,\) and psi of shape \(B, K\)"):
        g1.location_scale_game([0.0], [0.0], psi, BIMODAL)
    with pytest.raises(ValueError, match=r"unknown quadrature 'simpson'; valid names: grid, hermite"):
        g1.location_scale_game([0.0, 1.0], [0.0, 0.0], psi, BIMODAL, quadrature="simpson")
    with pytest.raises(ValueError, match=r"supported penalties: on real or fake nodes \(r1, r2\) and \(hermite only\)"):
        g1.location_scale_game([0.0, 1.0], [0.0, 0.0], psi, BIMODAL, penalty=P.wgan_gp(), quadrature="grid")
    with pytest.raises(ValueError, match=r"got 'dragan' with hermite quadrature"):
        g1.location_scale_game([0.0, 1.0], [0.0, 0.0], psi, BIMODAL, penalty=P.dragan())
    with pytest.raises(ValueError, match=r"pairwise objective 'rpgan' needs paired samples"):
        g1.location_scale_game([0.0, 1.0], [0.0, 0.0], psi, BIMODAL, get_objective("rpgan"))
    with pytest.raises(ValueError, match=r"unknown critic 'mlp'; valid names: quadratic, slopes"):
        g1.location_scale_game([0.0, 1.0], [0.0, 0.0], psi, BIMODAL, critic="mlp")
