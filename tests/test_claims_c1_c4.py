"""Property tests for claims C1-C4 (Goodfellow et al. 2014; Chintala and Risteski lectures; Arjovsky et al. 2017).

The GAN value goes through the trainer's own minimax terms (sandbox.objectives) inside divergences.gan_value;
scipy (linprog, wasserstein_distance) is the independent reference for the transport side.
"""

import math

import numpy as np
import pytest
import scipy.optimize
import scipy.stats
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from torch.testing import assert_close

from sandbox.objectives import OBJECTIVES
from sandbox.theory import divergences as dv

LOG2, LOG4 = math.log(2.0), math.log(4.0)


@st.composite
def pq(draw, min_n=1, max_n=8, zeros=True):
    """Two distributions on n points; entries are 0 or at least 1e-3 before normalising, so ratios stay finite."""
    n = draw(st.integers(min_n, max_n))
    entry = st.one_of(st.just(0.0), st.floats(1e-3, 1.0)) if zeros else st.floats(1e-3, 1.0)

    def dist():
        w = np.array(draw(st.lists(entry, min_size=n, max_size=n)))
        if w.sum() == 0:
            w[draw(st.integers(0, n - 1))] = 1.0
        return w / w.sum()

    return dist(), dist()


def _bernoulli_rows(d):
    return np.stack([d, 1.0 - d], axis=-1)


# ---------------------------------------------------------------- C1: D* = p / (p + q)


@given(dists=pq(), seed=st.integers(0, 10_000), eps=st.floats(1e-3, 0.5))
def test_c1_no_perturbation_of_dstar_raises_value(dists, seed, eps):
    """V(D*) >= V(D* + eps h) for random directions h; the gap is sum (p + q) KL(Bern D* || Bern d) exactly."""
    p, q = dists
    d_star = dv.optimal_discriminator(p, q)
    h = np.random.default_rng(seed).normal(size=len(p))
    d = np.clip(d_star + eps * h, 1e-6, 1.0 - 1e-6)  # stay inside (0, 1)
    v_star, v = dv.gan_value(p, q, d_star), dv.gan_value(p, q, d)
    assert v_star >= v
    gap = float(np.sum((p + q) * dv.kl(_bernoulli_rows(d_star), _bernoulli_rows(d))))
    assert v_star - v == pytest.approx(gap, rel=1e-8, abs=1e-12)
    if np.any((p + q) * np.abs(d - d_star) > 1e-3):
        assert v_star > v


@given(pq(zeros=False))
def test_c1_value_is_stationary_and_concave_at_dstar(dists):
    """dV/dd = 0 at D*, and d2V/dd2 = -(p/d^2 + q/(1-d)^2) = -(p + q)^3 / (p q) there (autograd)."""
    p, q = (torch.tensor(x) for x in dists)
    d = dv.optimal_discriminator(p, q).clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(dv.gan_value(p, q, d), d, create_graph=True)
    assert_close(grad, torch.zeros_like(grad), atol=1e-10, rtol=0)
    hess_diag = torch.stack([torch.autograd.grad(grad[i], d, retain_graph=True)[0][i] for i in range(len(d))])
    assert_close(hess_diag, -((p + q) ** 3) / (p * q), rtol=1e-9, atol=1e-9)


def test_c1_optimal_discriminator_by_hand():
    assert_allclose(dv.optimal_discriminator([0.6, 0.4, 0.0, 0.0], [0.2, 0.0, 1.0, 0.0]), [0.75, 1.0, 0.0, 0.5])
    assert_allclose(
        dv.optimal_logit([0.6, 0.4, 0.0, 0.0], [0.2, 0.0, 1.0, 0.0]), [math.log(3.0), math.inf, -math.inf, 0.0]
    )


def test_c1_dstar_is_pointwise_on_densities():
    """D* is a ratio of densities at points, so values that do not sum to 1 are accepted (and negatives are not)."""
    p, q = scipy.stats.norm(0, 1).pdf([0.0, 1.0]), scipy.stats.norm(1, 1).pdf([0.0, 1.0])
    assert_allclose(dv.optimal_discriminator(p, q), [1 / (1 + math.exp(-0.5)), 1 / (1 + math.exp(0.5))], rtol=1e-14)
    with pytest.raises(ValueError, match=r"^p has a negative entry \(-0\.1 at index 0\)$"):
        dv.optimal_discriminator([-0.1, 1.0], [0.5, 0.5])


# ---------------------------------------------------------------- C2: V(G, D*) = 2 JSD - log 4


@given(pq())
def test_c2_value_at_optimum_is_2jsd_minus_log4(dists):
    p, q = dists
    value = dv.gan_value(p, q, dv.optimal_discriminator(p, q))
    assert value == pytest.approx(2.0 * dv.jsd(p, q) - LOG4, rel=1e-12, abs=1e-14)
    assert value == pytest.approx(dv.f_divergence(p, q, "gan"), rel=1e-12, abs=1e-14)


@given(pq())
def test_c2_minimum_minus_log4_iff_p_equals_q(dists):
    p, q = dists
    assert dv.gan_value(p, p, dv.optimal_discriminator(p, p)) == pytest.approx(-LOG4, rel=1e-14)
    assume(dv.tv(p, q) > 1e-6)
    assert dv.gan_value(p, q, dv.optimal_discriminator(p, q)) > -LOG4


def test_c2_value_handles_d_exactly_0_and_1():
    """Zero weight times log 0 is 0: D* is exactly 1 or 0 off the shared support, and V stays finite there."""
    p, q = [0.5, 0.5, 0.0], [0.0, 0.5, 0.5]
    assert dv.gan_value(p, q, dv.optimal_discriminator(p, q)) == pytest.approx(2 * (LOG2 / 2) - LOG4, rel=1e-14)
    assert dv.gan_value(p, q, [0.0, 0.5, 0.5]) == -math.inf  # D says 0 where real data lives: log 0


# ---------------------------------------------------------------- C3: the consistency identity


def _pointwise_value(a: float, g: float) -> float:
    """a log g + (1 - a) log(1 - g) through the minimax objective's own terms at t = logit g."""
    obj = OBJECTIVES["minimax"]
    t = torch.logit(torch.tensor(g, dtype=torch.float64))
    return float(-(a * obj.d_real(t) + (1.0 - a) * obj.d_fake(t)))


@given(a=st.floats(0.0, 1.0), g=st.floats(1e-9, 1.0 - 1e-9))
def test_c3_consistency_identity(a, g):
    """a log g + (1-a) log(1-g) = -H(a) - KL(a, g) <= -H(a) (Chintala lecture)."""
    value = _pointwise_value(a, g)
    neg_h = -dv.entropy([a, 1.0 - a])
    assert value == pytest.approx(neg_h - dv.kl([a, 1.0 - a], [g, 1.0 - g]), rel=1e-10, abs=1e-12)
    assert value <= neg_h or value == pytest.approx(neg_h, rel=1e-12, abs=1e-15)  # equality only at g = a


@given(a=st.floats(1e-6, 1.0 - 1e-6))
def test_c3_bound_is_attained_at_g_equals_a(a):
    assert _pointwise_value(a, a) == pytest.approx(-dv.entropy([a, 1.0 - a]), rel=1e-12, abs=1e-15)


# ---------------------------------------------------------------- C4: IPMs, Kantorovich-Rubinstein, parallel lines


@given(dists=pq(min_n=2), seed=st.integers(0, 10_000), dim=st.sampled_from([1, 2]))
def test_c4_dual_lp_equals_primal_lp(dists, seed, dim):
    p, q = dists
    points = np.random.default_rng(seed).normal(size=(len(p), dim))
    cost = dv.distance_matrix(points)
    primal, plan = dv.w1_primal_lp(p, q, cost)
    dual, f = dv.w1_dual_lp(p, q, cost)
    assert dual == pytest.approx(primal, rel=1e-7, abs=1e-9)
    assert_allclose(plan.sum(1), p, atol=1e-9)
    assert_allclose(plan.sum(0), q, atol=1e-9)
    assert plan.min() >= -1e-12
    assert float(np.sum(plan * cost)) == pytest.approx(primal, rel=1e-9, abs=1e-12)
    assert float(np.dot(f, p - q)) == pytest.approx(dual, rel=1e-9, abs=1e-12)
    # the witness is 1-Lipschitz in the cost metric: f_i - f_j <= C_ij (HiGHS feasibility tolerance 1e-7)
    assert (f[:, None] - f[None, :] <= cost + 1e-7).all()


@given(dists=pq(min_n=2), seed=st.integers(0, 10_000))
def test_c4_on_the_line_both_lps_equal_the_closed_form(dists, seed):
    p, q = dists
    x = np.random.default_rng(seed).normal(size=len(p))
    closed = dv.w1(x, x, p, q)
    assert closed == pytest.approx(scipy.stats.wasserstein_distance(x, x, p, q), rel=1e-12, abs=1e-15)
    cost = dv.distance_matrix(x)
    assert dv.w1_primal_lp(p, q, cost)[0] == pytest.approx(closed, rel=1e-7, abs=1e-9)
    assert dv.w1_dual_lp(p, q, cost)[0] == pytest.approx(closed, rel=1e-7, abs=1e-9)


@given(
    u=st.lists(st.integers(-5, 5), min_size=1, max_size=10),
    v=st.lists(st.integers(-5, 5), min_size=1, max_size=10),
    seed=st.integers(0, 10_000),
    weighted=st.booleans(),
)
def test_c4_w1_matches_scipy_with_ties_and_unequal_sizes(u, v, seed, weighted):
    rng = np.random.default_rng(seed)
    u, v = np.array(u, dtype=float) * 0.5, np.array(v, dtype=float) * 0.5
    u_w = rng.uniform(0.1, 2.0, len(u)) if weighted else None
    v_w = rng.uniform(0.1, 2.0, len(v)) if weighted else None
    assert dv.w1(u, v, u_w, v_w) == pytest.approx(
        scipy.stats.wasserstein_distance(u, v, u_w, v_w), rel=1e-12, abs=1e-14
    )


@given(pq())
def test_c4_tv_witness_attains_bounded_ipm(dists):
    """sup_{|f| <= 1} sum f (p - q) = sum |p - q| = 2 TV, attained by sign(p - q); scipy's LP is the reference sup."""
    p, q = dists
    value, witness = dv.ipm_bounded(p, q)
    assert value == pytest.approx(2.0 * dv.tv(p, q), rel=1e-14, abs=1e-15)
    assert float(np.dot(witness, p - q)) == pytest.approx(value, rel=1e-14, abs=1e-15)
    assert np.abs(witness).max() <= 1.0
    best = scipy.optimize.linprog(-(p - q), bounds=[(-1.0, 1.0)] * len(p), method="highs")
    assert value == pytest.approx(-best.fun, rel=1e-9, abs=1e-12)


def _parallel_lines(theta: float, k: int = 5):
    """Arjovsky et al. 2017, Example 1, discretised: P0 uniform on (0, z_k), P_theta on (theta, z_k), z_k in [0, 1]."""
    z = np.linspace(0.0, 1.0, k)
    points = np.concatenate([np.stack([np.zeros(k), z], 1), np.stack([np.full(k, theta), z], 1)])
    p = np.concatenate([np.full(k, 1.0 / k), np.zeros(k)])
    return points, p, p[::-1].copy()


@pytest.mark.parametrize("theta", [-2.0, -0.5, 0.1, 1.0, 3.0])
def test_c4_parallel_lines_jsd_stuck_at_log2_while_w1_equals_theta(theta):
    points, p, q = _parallel_lines(theta)
    cost = dv.distance_matrix(points)
    assert dv.jsd(p, q) == pytest.approx(LOG2, rel=1e-14)
    assert dv.tv(p, q) == pytest.approx(1.0, rel=1e-14)
    assert dv.kl(p, q) == math.inf
    assert dv.w1_primal_lp(p, q, cost)[0] == pytest.approx(abs(theta), rel=1e-7)
    assert dv.w1_dual_lp(p, q, cost)[0] == pytest.approx(abs(theta), rel=1e-7)


def test_c4_w1_grows_with_theta_while_jsd_does_not_move():
    thetas = [0.1, 0.5, 1.0, 2.0, 4.0]
    w1s, jsds = [], []
    for theta in thetas:
        points, p, q = _parallel_lines(theta)
        w1s.append(dv.w1_primal_lp(p, q, dv.distance_matrix(points))[0])
        jsds.append(dv.jsd(p, q))
    assert_allclose(w1s, thetas, rtol=1e-7)
    assert_allclose(jsds, [LOG2] * len(thetas), rtol=1e-14)
    # at theta = 0 the lines coincide: p = q on the same points and everything is 0
    assert dv.jsd(p[:5], p[:5]) == 0.0 and dv.w1(np.zeros(1), np.zeros(1)) == 0.0


@pytest.mark.parametrize("theta", [-3.0, -0.25, 0.0, 0.5, 7.0])
def test_c4_point_masses(theta):
    assert dv.w1(np.zeros(1), np.array([theta])) == pytest.approx(abs(theta), rel=1e-15)
    expected_jsd = 0.0 if theta == 0 else LOG2  # two Diracs: one point mass each, disjoint unless theta = 0
    support = [0.0, theta] if theta != 0 else [0.0]
    p = [1.0] + [0.0] * (len(support) - 1)
    q = [0.0] * (len(support) - 1) + [1.0]
    assert dv.jsd(p, q) == pytest.approx(expected_jsd, abs=1e-15)
    assert dv.w1(np.array(support), np.array(support), p, q) == pytest.approx(abs(theta), rel=1e-15)


def test_c2_value_at_optimal_logit_stays_exact_where_dstar_rounds_to_one():
    """At t* = log p - log q the value is 2 JSD - log 4 even where sigmoid(t*) rounds to exactly 1 (q/p < 1e-16)."""
    p = np.array([0.5, 0.5 - 1e-30, 1e-30])
    q = np.array([0.5, 0.5, 1e-200])
    p, q = p / p.sum(), q / q.sum()
    value = dv.gan_value_at_logit(p, q, dv.optimal_logit(p, q))
    assert value == pytest.approx(2 * dv.jsd(p, q) - math.log(4), rel=1e-12)
    assert dv.gan_value(p, q, dv.optimal_discriminator(p, q)) == -math.inf  # the rounding it avoids
