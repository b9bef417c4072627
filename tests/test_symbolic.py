"""sympy derivations (sandbox.theory.symbolic) checked symbolically, then lambdified against the numeric code."""

import math

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.spatial.distance import jensenshannon
from scipy.special import entr, rel_entr
from torch.testing import assert_close

from sandbox.fdivs import F_FUNCTIONS
from sandbox.objectives import OBJECTIVES
from sandbox.theory import divergences
from sandbox.theory import symbolic as S

MINIMAX = OBJECTIVES["minimax"]
unit = st.floats(0.01, 0.99)


def distributions(seed: int, n: int = 7):
    """Two random distributions on n points with full support, from an explicit seed."""
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(n))


def binary_entropy_ref(x):
    """Independent reference (scipy): H(x) = entr(x) + entr(1 - x)."""
    return entr(x) + entr(1 - x)


# ------------------------------------------------------------------ the helpers can fail
def test_zero_and_sign_checkers_reject_false_claims():
    assert S.simplifies_to_zero(sp.log(S.r * (1 - S.r)) - sp.log(S.r) - sp.log(1 - S.r), S.r)
    assert not S.simplifies_to_zero(sp.log(1 - S.r) - sp.log(S.r), S.r)
    assert S.positive_on_unit_interval(S.r * (1 - S.r), S.r) is True
    assert S.positive_on_unit_interval(S.r - 1, S.r) is False


# ------------------------------------------------------------------ C1
def test_c1_sympy_optimal_discriminator():
    opt = S.optimal_discriminator()
    assert sp.simplify(opt.d_star - S.p / (S.p + S.q)) == 0
    assert sp.simplify(opt.slope.subs(S.D, opt.d_star)) == 0
    assert sp.simplify(opt.curvature_at_star + (S.p + S.q) ** 3 / (S.p * S.q)) == 0
    assert opt.curvature_at_star.is_negative is True  # a maximum at D*
    assert S.positive_on_unit_interval(-opt.curvature, S.D) is True  # strictly concave: the only maximum


@given(p=st.floats(0.01, 10.0), q=st.floats(0.01, 10.0))
def test_c1_sympy_d_star_is_stationary_for_the_library_d_loss(p, q):
    """At logit(D*) the minimax D loss p d_real(t) + q d_fake(t) has zero slope and positive curvature."""
    d_star = float(sp.lambdify((S.p, S.q), S.optimal_discriminator().d_star)(p, q))
    logit = torch.tensor(math.log(d_star / (1 - d_star)), dtype=torch.float64, requires_grad=True)
    loss = p * MINIMAX.d_real(logit) + q * MINIMAX.d_fake(logit)
    (slope,) = torch.autograd.grad(loss, logit, create_graph=True)
    (curvature,) = torch.autograd.grad(slope, logit)
    assert_close(slope.detach(), torch.tensor(0.0, dtype=torch.float64), atol=1e-12, rtol=0)
    # d^2/dt^2 of the loss at t* is (p + q) D*(1 - D*), the chain rule applied to -(sympy curvature).
    assert_close(curvature, torch.tensor((p + q) * d_star * (1 - d_star), dtype=torch.float64))


@given(seed=st.integers(0, 2**32 - 1))
def test_c1_sympy_d_star_matches_divergences_optimal_discriminator(seed):
    p, q = distributions(seed)
    d_star = sp.lambdify((S.p, S.q), S.optimal_discriminator().d_star, "numpy")(p, q)
    assert_allclose(divergences.optimal_discriminator(p, q), d_star, rtol=1e-12, atol=0)
    assert_allclose(divergences.optimal_logit(p, q), np.log(d_star / (1 - d_star)), rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ C2
def test_c2_sympy_value_gap_is_zero():
    gap = S.value_at_optimum_gap()
    assert S.simplifies_to_zero(gap.gap)
    assert not S.simplifies_to_zero(gap.gap + (S.p + S.q) * sp.log(sp.Rational(3, 2)))  # log 3 instead of log 2 fails


@given(seed=st.integers(0, 2**32 - 1))
def test_c2_sympy_value_matches_library_objective_and_scipy_jsd(seed):
    p, q = distributions(seed)
    value = sp.lambdify((S.p, S.q), S.value_at_optimum_gap().value_at_optimum, "numpy")(p, q).sum()
    logit = torch.as_tensor(np.log(p / q))  # logit of D* = p/(p+q)
    via_objective = -(torch.as_tensor(p) * MINIMAX.d_real(logit) + torch.as_tensor(q) * MINIMAX.d_fake(logit)).sum()
    assert_allclose(value, via_objective.item(), rtol=1e-12, atol=1e-12)
    assert_allclose(value, divergences.gan_value(p, q, divergences.optimal_discriminator(p, q)), rtol=1e-12, atol=1e-12)
    assert_allclose(value, 2 * divergences.jsd(p, q) - math.log(4), rtol=1e-12, atol=1e-12)
    assert_allclose(value, 2 * jensenshannon(p, q) ** 2 - math.log(4), rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ C3
def test_c3_sympy_consistency_identity():
    con = S.consistency_identity()
    assert S.simplifies_to_zero(con.gap, S.a, S.g)
    assert sp.simplify(con.kl_slope.subs(S.g, S.a)) == 0
    assert S.positive_on_unit_interval(con.kl_curvature, S.a, S.g) is True  # convex in g: g = a is the global min
    assert sp.simplify(con.kl_at_minimum) == 0


@given(a=unit, g=unit)
def test_c3_sympy_identity_matches_library_objective_and_scipy(a, g):
    con = S.consistency_identity()
    log_likelihood = float(sp.lambdify((S.a, S.g), con.log_likelihood)(a, g))
    logit = torch.tensor(math.log(g / (1 - g)), dtype=torch.float64)
    via_objective = -(a * MINIMAX.d_real(logit) + (1 - a) * MINIMAX.d_fake(logit)).item()
    kl = rel_entr(a, g) + rel_entr(1 - a, 1 - g)
    assert log_likelihood == pytest.approx(via_objective, rel=1e-12, abs=1e-12)
    assert log_likelihood == pytest.approx(-binary_entropy_ref(a) - kl, rel=1e-12, abs=1e-12)
    assert float(sp.lambdify((S.a, S.g), con.kl)(a, g)) == pytest.approx(kl, rel=1e-9, abs=1e-12)
    assert divergences.kl([a, 1 - a], [g, 1 - g]) == pytest.approx(kl, rel=1e-9, abs=1e-12)
    assert divergences.entropy([a, 1 - a]) == pytest.approx(binary_entropy_ref(a), rel=1e-12)
    assert kl >= 0


# ------------------------------------------------------------------ C6
def test_c6_sympy_saturating_limit_is_zero():
    grads = S.generator_gradients()
    assert grads.saturating_limit == 0
    assert grads.nonsaturating_limit == -1
    assert sp.simplify(grads.d_saturating + S.sigmoid(S.t)) == 0
    assert sp.simplify(grads.d_nonsaturating + S.sigmoid(-S.t)) == 0


def test_c6_sympy_gradients_share_sign_and_fixed_points():
    grads = S.generator_gradients()
    assert sp.simplify(grads.ratio - sp.exp(S.t)) == 0
    assert grads.ratio.is_positive is True
    # Where D confidently accepts the gradients swap roles: the non-saturating one vanishes instead.
    assert sp.limit(grads.d_saturating, S.t, sp.oo) == -1 and sp.limit(grads.d_nonsaturating, S.t, sp.oo) == 0


@given(t=st.floats(-30.0, 30.0))
def test_c6_sympy_gradients_match_autograd_of_objectives(t):
    grads = S.generator_gradients()
    logit = torch.tensor(t, dtype=torch.float64, requires_grad=True)
    for name, derivative in (("minimax", grads.d_saturating), ("nonsaturating", grads.d_nonsaturating)):
        (auto,) = torch.autograd.grad(OBJECTIVES[name].g_fake(logit), logit)
        expected = float(sp.lambdify(S.t, derivative)(t))
        # torch's softplus is exactly linear above t = 20 (its threshold), a relative slope error below e^-20.
        assert_close(auto, torch.tensor(expected, dtype=torch.float64), rtol=1e-8, atol=1e-300)
    assert float(sp.lambdify(S.t, grads.ratio)(t)) == pytest.approx(math.exp(t), rel=1e-12)


# ------------------------------------------------------------------ f-GAN conjugates
# A closed interval inside dom f* = (-oo, upper) where float64 keeps every form accurate.
T_RANGE = {
    "kl": (-10.0, 5.0),
    "reverse_kl": (-20.0, -0.01),
    "pearson": (-20.0, 20.0),
    "squared_hellinger": (-20.0, 0.99),
    "jensen_shannon": (-20.0, math.log(2) - 0.01),
    "gan": (-20.0, -0.01),
}


def test_f_function_tables_cover_every_registered_f():
    assert set(S.f_functions()) == set(F_FUNCTIONS) == set(S.table_conjugates()) == set(T_RANGE)


@pytest.mark.parametrize("name", sorted(F_FUNCTIONS))
def test_f_is_convex_and_vanishes_at_one(name):
    f = S.f_functions()[name]
    # Nowozin et al.'s GAN f is the exception: f(1) = -log 4, so D_f = 2 JSD - log 4, the GAN value at D* (C2).
    assert sp.simplify(f.subs(S.u, 1) - (-sp.log(4) if name == "gan" else 0)) == 0
    assert sp.factor(sp.simplify(sp.diff(f, S.u, 2))).is_positive is True


@pytest.mark.parametrize("name", sorted(F_FUNCTIONS))
def test_conjugate_matches_table_and_numeric(name):
    table = S.table_conjugates()[name]
    assert T_RANGE[name][1] < float(table.upper)
    t_dom = S.on_conjugate_domain(table.upper)
    derived = S.conjugate(S.f_functions()[name], S.u, t_dom)
    assert S.simplifies_to_zero(derived - table.conj.subs(S.t, t_dom))
    derived_t = _derived_conjugate(name)  # the same derivation over a plain real t
    t = np.linspace(*T_RANGE[name], 201)
    expected = F_FUNCTIONS[name].conj(torch.as_tensor(t)).numpy()
    assert_allclose(sp.lambdify(S.t, derived_t, "numpy")(t), expected, rtol=1e-10, atol=1e-12)
    assert_allclose(sp.lambdify(S.t, table.conj, "numpy")(t), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(F_FUNCTIONS))
@given(frac=st.floats(0.0, 1.0))
def test_conjugate_matches_library_conj_at_random_t(name, frac):
    lo, hi = T_RANGE[name]
    t = lo + frac * (hi - lo)
    derived = float(sp.lambdify(S.t, _derived_conjugate(name))(t))
    expected = F_FUNCTIONS[name].conj(torch.tensor(t, dtype=torch.float64)).item()
    assert derived == pytest.approx(expected, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("name", sorted(F_FUNCTIONS))
@given(v=st.floats(-5.0, 5.0))
def test_conj_act_is_conjugate_of_activation(name, v):
    ffun = F_FUNCTIONS[name]
    act = ffun.act(torch.tensor(v, dtype=torch.float64))
    assert act.item() < float(S.table_conjugates()[name].upper)  # the activation lands in dom f*
    conj_act = ffun.conj_act(torch.tensor(v, dtype=torch.float64)).item()
    assert conj_act == pytest.approx(ffun.conj(act).item(), rel=1e-9, abs=1e-12)
    assert conj_act == pytest.approx(float(sp.lambdify(S.t, _derived_conjugate(name))(act.item())), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", sorted(F_FUNCTIONS))
@given(u=st.floats(0.01, 50.0))
def test_f_and_f_prime_match_sympy(name, u):
    f = S.f_functions()[name]
    ffun, x = F_FUNCTIONS[name], torch.tensor(u, dtype=torch.float64)
    assert ffun.f(x).item() == pytest.approx(float(sp.lambdify(S.u, f)(u)), rel=1e-10, abs=1e-12)
    assert ffun.f_prime(x).item() == pytest.approx(float(sp.lambdify(S.u, sp.diff(f, S.u))(u)), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("name", sorted(F_FUNCTIONS))
@given(seed=st.integers(0, 2**32 - 1))
def test_f_divergence_sum_matches_divergences(name, seed):
    p, q = distributions(seed)
    terms = q * sp.lambdify(S.u, S.f_functions()[name], "numpy")(p / q)
    assert_allclose(terms.sum(), divergences.f_divergence(p, q, name), rtol=1e-10, atol=1e-12)


def test_conjugate_rejects_f_without_a_unique_stationary_point():
    with pytest.raises(ValueError, match=r"exactly one root of f'\(u\) = t"):
        S.conjugate(2 * S.u - 2, S.u, S.t)  # linear: f'(u) = 2 = t has no root for generic t


def _derived_conjugate(name):
    """The sympy-derived f*(t) over a plain real t (S.conjugate caches it, so hypothesis examples stay cheap)."""
    return S.conjugate(S.f_functions()[name], S.u, S.t)


# ------------------------------------------------------------------ C20
def test_c20_sympy_lambda_bound_decomposition():
    dec = S.lambda_divergence_decomposition()
    assert S.simplifies_to_zero(dec.gap, S.lam)  # integrand = m (CE(r, lam) - H(r))
    assert sp.simplify(dec.cross_entropy_sum) == 0  # sum_x m CE(r, lam) = H(lam)
    assert sp.simplify(dec.mixture * dec.posterior - S.lam * S.p) == 0
    assert S.positive_on_unit_interval(-dec.entropy_curvature, S.r) is True  # H concave: lower bound 0
    assert dec.entropy_limits == (0, 0)  # with concavity H >= 0: upper bound H(lam)


def test_c20_sympy_half_is_jsd_and_bound_is_log2():
    dec = S.lambda_divergence_decomposition()
    assert S.simplifies_to_zero(dec.jsd_gap)
    assert sp.simplify(dec.entropy_at_half) == 0


@given(seed=st.integers(0, 2**32 - 1), lam=unit)
def test_c20_sympy_decomposition_numeric_bounds(seed, lam):
    p, q = distributions(seed)
    dec = S.lambda_divergence_decomposition()
    integrand = sp.lambdify((S.p, S.q, S.lam), dec.integrand, "numpy")(p, q, lam)
    m = lam * p + (1 - lam) * q
    d_lam = integrand.sum()
    assert_allclose(d_lam, divergences.lambda_divergence(p, q, lam), rtol=1e-12, atol=1e-12)
    assert_allclose(d_lam, binary_entropy_ref(lam) - (m * binary_entropy_ref(lam * p / m)).sum(), rtol=1e-9, atol=1e-12)
    assert 0 <= d_lam <= divergences.entropy([lam, 1 - lam])


@given(seed=st.integers(0, 2**32 - 1))
def test_c20_sympy_half_matches_scipy_jsd(seed):
    p, q = distributions(seed)
    integrand = sp.lambdify((S.p, S.q), S.lambda_divergence_decomposition().integrand.subs(S.lam, 0.5), "numpy")
    assert_allclose(integrand(p, q).sum(), divergences.jsd(p, q), rtol=1e-12, atol=1e-12)
    assert_allclose(integrand(p, q).sum(), jensenshannon(p, q) ** 2, rtol=1e-9, atol=1e-12)
