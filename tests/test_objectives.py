"""Objectives: registry, stable forms, C6 saturation limits, and the f-GAN Fenchel bound (Nowozin et al. 2016)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.testing import assert_close

from sandbox.fdivs import F_FUNCTIONS
from sandbox.objectives import OBJECTIVES, fgan, get_objective, least_squares
from sandbox.theory import divergences

REQUIRED = {
    "minimax",
    "nonsaturating",
    "wasserstein",
    "hinge",
    "least_squares",
    "kl",
    "reverse_kl",
    "pearson",
    "squared_hellinger",
    "jensen_shannon",
    "gan",
    "rpgan",
}
ELEMENTWISE = sorted(name for name, obj in OBJECTIVES.items() if not obj.pairwise)

# lim_{t -> -inf} d g_fake / dt, derived by hand for each objective (0 = the generator saturates).
G_SLOPE_AT_MINUS_INF = {
    "minimax": 0.0,  # -softplus(t)' = -sigmoid(t) -> 0
    "nonsaturating": -1.0,  # softplus(-t)' = -sigmoid(-t) -> -1
    "wasserstein": -1.0,
    "hinge": -1.0,
    "least_squares": -math.inf,  # (t - 1) -> -inf
    "kl": 0.0,  # -exp(t - 1)' -> 0
    "reverse_kl": -1.0,  # -(t - 1)' = -1
    "pearson": math.inf,  # -(t^2/4 + t)' = -(t/2 + 1) -> +inf
    "squared_hellinger": 0.0,  # -(e^t - 1)' -> 0
    "jensen_shannon": 0.0,  # -(softplus(t) - log 2)' -> 0
    "gan": 0.0,  # the saddle of f-GAN's GAN member is the minimax game
    "rpgan": -1.0,  # softplus(-(t - t_real))' = -sigmoid(t_real - t) -> -1: RpGAN's G does not saturate
    "rpgan_minimax": 0.0,  # -softplus(t - t_real)' = -sigmoid(t - t_real) -> 0: the zero-sum form saturates
}


def test_registry_has_every_required_objective():
    assert REQUIRED <= set(OBJECTIVES)
    assert set(G_SLOPE_AT_MINUS_INF) == set(OBJECTIVES)  # every registered objective has its C6 limit below


def test_unknown_objective_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown objective 'wgan'.*valid names: gan, hinge, .*wasserstein"):
        get_objective("wgan")


def test_unknown_fgan_generator_option_is_named():
    with pytest.raises(ValueError, match="unknown f-GAN generator loss 'foo'"):
        fgan("kl", generator="foo")


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_losses_are_batch_means_of_the_elementwise_terms(name):
    obj = OBJECTIVES[name]
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(17, generator=g), torch.randn(23, generator=g)
    assert_close(obj.d_loss(real, fake), obj.d_real(real).mean() + obj.d_fake(fake).mean())
    assert_close(obj.g_loss(None, fake), obj.g_fake(fake).mean())
    assert_close(obj.g_loss(torch.ones(23), fake), obj.g_fake(fake).mean())  # element-wise: real logits unused
    assert not obj.pairwise


def test_rpgan_losses_are_the_paired_formulas():
    """D minimises E softplus(-(t_r - t_f)) = E -log sigmoid(t_r - t_f); G minimises E -log sigmoid(t_f - t_r)."""
    obj = get_objective("rpgan")
    g = torch.Generator().manual_seed(2)
    real, fake = (
        3 * torch.randn(64, generator=g, dtype=torch.float64),
        3 * torch.randn(64, generator=g, dtype=torch.float64),
    )
    assert obj.pairwise and obj.d_real is None and obj.g_fake is None
    assert_close(obj.d_loss(real, fake), -torch.log(torch.sigmoid(real - fake)).mean())
    assert_close(obj.g_loss(real, fake), -torch.log(torch.sigmoid(fake - real)).mean())
    assert_close(obj.d_terms(real, fake), -torch.log(torch.sigmoid(real - fake)))


def test_rpgan_minimax_is_the_zero_sum_game_of_eq_2():
    """G's loss is minus D's on the same pairs (a zero-sum game); D's loss is rpgan's."""
    zs, ns = get_objective("rpgan_minimax"), get_objective("rpgan")
    g = torch.Generator().manual_seed(4)
    real, fake = torch.randn(32, generator=g, dtype=torch.float64), torch.randn(32, generator=g, dtype=torch.float64)
    assert_close(zs.g_terms(real, fake), -zs.d_terms(real, fake))
    assert_close(zs.d_terms(real, fake), ns.d_terms(real, fake))
    assert float((zs.g_terms(real, fake) + ns.g_terms(real, fake)).abs().max()) > 0.1  # not the non-saturating loss


def test_rpgan_pairs_the_ith_fake_with_the_ith_real():
    """Pairing is part of the loss: permuting the fakes changes it (an unpaired all-pairs mean would not change)."""
    obj = get_objective("rpgan")
    real = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)
    fake = torch.tensor([-3.0, 1.0, 0.0], dtype=torch.float64)
    paired = -torch.log(torch.sigmoid(real - fake)).mean()
    assert_close(obj.d_loss(real, fake), paired)
    assert float(abs(obj.d_loss(real, fake.flip(0)) - paired)) > 0.1
    # The losses are relativistic: shifting every logit by one constant changes nothing.
    assert_close(obj.d_loss(real + 7.0, fake + 7.0), paired)
    assert_close(obj.g_loss(real - 2.0, fake - 2.0), obj.g_loss(real, fake))


def test_rpgan_extreme_logits_stay_finite():
    obj = get_objective("rpgan")
    t = torch.tensor([-80.0, -30.0, 0.0, 30.0, 80.0], dtype=torch.float64)
    assert torch.isfinite(obj.d_terms(t, t.flip(0))).all() and torch.isfinite(obj.g_terms(t, t.flip(0))).all()


def test_minimax_generator_is_the_true_saturating_loss():
    """Anchor bug: a 'minimax' G loss that is really -log D. Here it must be log(1 - D(G(z)))."""
    t = torch.linspace(-6, 6, 101, dtype=torch.float64)
    assert_close(OBJECTIVES["minimax"].g_fake(t), torch.log(1 - torch.sigmoid(t)))
    assert_close(OBJECTIVES["nonsaturating"].g_fake(t), -torch.log(torch.sigmoid(t)))
    assert not torch.allclose(OBJECTIVES["minimax"].g_fake(t), OBJECTIVES["nonsaturating"].g_fake(t))


def test_gan_discriminator_terms_are_the_probability_forms():
    t = torch.linspace(-8, 8, 101, dtype=torch.float64)
    obj = OBJECTIVES["minimax"]
    assert_close(obj.d_real(t), -torch.log(torch.sigmoid(t)))
    assert_close(obj.d_fake(t), -torch.log(1 - torch.sigmoid(t)))


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_terms_stay_finite_at_extreme_logits(name):
    """The stable forms never take log(0): every term is finite at |t| = 80 (exp-based f-GAN terms excepted)."""
    obj = OBJECTIVES[name]
    t = torch.tensor([-80.0, -30.0, 0.0, 30.0, 80.0], dtype=torch.float64)
    for term in (obj.d_real, obj.d_fake, obj.g_fake):
        assert torch.isfinite(term(t)).all(), name


def test_fgan_gan_member_equals_minimax():
    t = torch.linspace(-10, 10, 41, dtype=torch.float64)
    for term in ("d_real", "d_fake", "g_fake"):
        assert_close(getattr(OBJECTIVES["gan"], term)(t), getattr(OBJECTIVES["minimax"], term)(t))


def test_fgan_activation_generator_is_the_named_alternative():
    v = torch.linspace(-3, 3, 13, dtype=torch.float64)
    alt = fgan("gan", generator="activation")
    assert_close(alt.g_fake(v), OBJECTIVES["nonsaturating"].g_fake(v))  # -log sigmoid: the -log D trick


def test_least_squares_codings():
    t = torch.tensor([0.0, 1.0, -1.0], dtype=torch.float64)
    obj = least_squares(a=-1.0, b=1.0, c=0.0)
    assert_close(obj.d_real(t), torch.tensor([0.5, 0.0, 2.0], dtype=torch.float64))
    assert_close(obj.d_fake(t), torch.tensor([0.5, 2.0, 0.0], dtype=torch.float64))
    assert_close(obj.g_fake(t), torch.tensor([0.0, 0.5, 0.5], dtype=torch.float64))


def _g_slope(name: str, t: float) -> float:
    x = torch.tensor(t, dtype=torch.float64, requires_grad=True)
    # G's loss in its fake logit, the paired real logit held at 0 (element-wise objectives ignore it)
    (g,) = torch.autograd.grad(OBJECTIVES[name].g_terms(torch.zeros((), dtype=torch.float64), x), x)
    return float(g)


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_c6_generator_gradient_as_fake_logit_goes_to_minus_inf(name):
    """C6: where D confidently rejects (t -> -inf) the saturating G gradient -> 0, the non-saturating -> 1 in size."""
    expected = G_SLOPE_AT_MINUS_INF[name]
    far, farther = _g_slope(name, -40.0), _g_slope(name, -80.0)
    if math.isinf(expected):
        assert math.copysign(1.0, farther) == math.copysign(1.0, expected)
        assert abs(farther) == pytest.approx(2 * abs(far), rel=0.1)  # linear growth in |t|
    else:
        assert farther == pytest.approx(expected, abs=1e-12)


def test_c6_saturating_and_nonsaturating_limits_and_shared_sign():
    """C6: |d/dt log(1 - sigmoid t)| -> 0 and |d/dt -log sigmoid t| -> 1; both point the same way for every t."""
    for t in (-10.0, -20.0, -30.0):
        assert abs(_g_slope("minimax", t)) == pytest.approx(1.0 / (1.0 + math.exp(-t)), rel=1e-9)  # sigmoid(t)
        assert abs(_g_slope("nonsaturating", t)) == pytest.approx(1.0, abs=1e-4)
    for t in np.linspace(-5, 5, 11):
        ratio = _g_slope("minimax", t) / _g_slope("nonsaturating", t)
        assert ratio == pytest.approx(math.exp(t), rel=1e-9)  # positive: the same stationary points


def _random_pq(seed: int, n: int):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(n))
    q = rng.dirichlet(np.ones(n))
    return torch.as_tensor(p), torch.as_tensor(q)


@pytest.mark.parametrize("name", sorted(F_FUNCTIONS))
@given(seed=st.integers(0, 10_000), n=st.integers(2, 8))
def test_fenchel_bound_holds_for_random_critics(name, seed, n):
    """E_p T - E_q f*(T) <= D_f(p, q) for any critic T = g_f(v), via the objective terms (Nowozin 2016, eq. 4)."""
    p, q = _random_pq(seed, n)
    v = torch.as_tensor(np.random.default_rng(seed + 1).normal(0.0, 2.0, n))
    obj = OBJECTIVES[name]
    lower = -(p * obj.d_real(v)).sum() - (q * obj.d_fake(v)).sum()  # E_p g_f(v) - E_q f*(g_f(v))
    bound = divergences.f_divergence(p, q, name)
    assert float(lower) <= float(bound) + 1e-9


@pytest.mark.parametrize("name", sorted(F_FUNCTIONS))
@given(seed=st.integers(0, 10_000), n=st.integers(2, 8))
def test_fenchel_bound_is_tight_at_the_optimal_critic(name, seed, n):
    """Equality at T* = f'(p/q) (Nowozin et al. 2016, Sec. 2.2)."""
    p, q = _random_pq(seed, n)
    ffun = F_FUNCTIONS[name]
    t_star = ffun.f_prime(p / q)
    value = (p * t_star).sum() - (q * ffun.conj(t_star)).sum()
    assert_close(value, torch.as_tensor(divergences.f_divergence(p, q, name), dtype=value.dtype), rtol=1e-9, atol=1e-9)
