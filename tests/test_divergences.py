"""The divergence library: validation, closed forms, numpy/torch parity, f-divergence relations, MMD, C16 and C20.

C1-C4 live in test_claims_c1_c4.py. Every numeric side calls sandbox.theory.divergences; scipy is the
independent reference.
"""

import math

import numpy as np
import pytest
import scipy.spatial.distance
import scipy.special
import scipy.stats
import torch
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from torch.testing import assert_close

from sandbox.fdivs import F_FUNCTIONS
from sandbox.theory import divergences as dv

LOG2, LOG4 = math.log(2.0), math.log(4.0)
P3 = np.array([0.7, 0.2, 0.1])
Q3 = np.array([0.1, 0.2, 0.7])


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


# ---------------------------------------------------------------- validation


def test_negative_entry_is_named_with_its_index():
    with pytest.raises(ValueError, match=r"^p has a negative entry \(-0\.1 at index 2\)$"):
        dv.kl([0.5, 0.6, -0.1], [0.2, 0.3, 0.5])


def test_negative_entry_in_a_batch_gives_the_full_index():
    with pytest.raises(ValueError, match=r"^q has a negative entry \(-0\.5 at index \(1, 0\)\)$"):
        dv.tv(np.full((2, 2), 0.5), np.array([[0.5, 0.5], [-0.5, 1.5]]))


def test_nan_is_named():
    with pytest.raises(ValueError, match=r"^q contains NaN$"):
        dv.jsd([0.5, 0.5], [float("nan"), 0.5])


def test_length_mismatch_is_named():
    with pytest.raises(ValueError, match=r"^length mismatch: p has 3 entries, q has 4$"):
        dv.kl([0.2, 0.3, 0.5], [0.25] * 4)


def test_batch_shapes_that_do_not_broadcast_are_named():
    with pytest.raises(ValueError, match=r"shape mismatch: p has shape \(2, 2\), q has shape \(3, 2\)"):
        dv.tv(np.full((2, 2), 0.5), np.full((3, 2), 0.5))


def test_sum_not_one_is_named_with_the_tolerance():
    with pytest.raises(ValueError, match=r"^p sums to 0\.9, not 1 \(tolerance 1e-06\)$"):
        dv.kl([0.5, 0.4], [0.5, 0.5])


def test_sum_tolerance_is_one_in_a_million():
    assert dv.tv([0.5, 0.5 + 5e-7], [0.5, 0.5]) == pytest.approx(2.5e-7, rel=1e-9)
    with pytest.raises(ValueError, match=r"p sums to 1\.000002, not 1"):
        dv.tv([0.5, 0.5 + 2e-6], [0.5, 0.5])


CALLS_ON_DISTRIBUTIONS = {
    "entropy": lambda q: dv.entropy(q),
    "kl": lambda q: dv.kl(P3, q),
    "jsd": lambda q: dv.jsd(P3, q),
    "lambda_divergence": lambda q: dv.lambda_divergence(P3, q, 0.3),
    "tv": lambda q: dv.tv(P3, q),
    "hellinger": lambda q: dv.hellinger(P3, q),
    "chi2": lambda q: dv.chi2(P3, q),
    "f_divergence": lambda q: dv.f_divergence(P3, q, "pearson"),
    "ipm_bounded": lambda q: dv.ipm_bounded(P3, q),
    "gan_value": lambda q: dv.gan_value(P3, q, np.full(3, 0.5)),
    "w1_primal_lp": lambda q: dv.w1_primal_lp(P3, q, dv.distance_matrix(np.arange(3.0))),
    "w1_dual_lp": lambda q: dv.w1_dual_lp(P3, q, dv.distance_matrix(np.arange(3.0))),
}


@pytest.mark.parametrize("name", sorted(CALLS_ON_DISTRIBUTIONS))
def test_every_distribution_function_validates(name):
    with pytest.raises(ValueError, match=r"sums to 0\.9, not 1"):
        CALLS_ON_DISTRIBUTIONS[name](np.array([0.3, 0.3, 0.3]))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"lam must lie strictly between 0 and 1, got 1"):
        dv.lambda_divergence(P3, Q3, 1.0)
    with pytest.raises(ValueError, match=r"unknown f-divergence 'tv'; valid names: gan, jensen_shannon, kl, pearson"):
        dv.f_divergence(P3, Q3, "tv")
    with pytest.raises(ValueError, match=r"unknown kernel 'rbf'; valid names: gaussian, polynomial"):
        dv.mmd2(np.zeros(3), np.ones(3), kernel="rbf")
    with pytest.raises(ValueError, match=r"entry 1\.5 at index 1 lies outside \[0, 1\]"):
        dv.gan_value(P3, Q3, [0.5, 1.5, 0.5])
    with pytest.raises(ValueError, match=r"mixture weight w must lie in \[0, 1\], got -0\.1"):
        dv.log_mixture(0.0, 0.0, -0.1)
    with pytest.raises(ValueError, match=r"u_weights has a negative entry \(-1 at index 0\)"):
        dv.w1([0.0, 1.0], [0.0], u_weights=[-1.0, 2.0])
    with pytest.raises(ValueError, match=r"length mismatch: v_values has 1 entries, v_weights has 2"):
        dv.w1([0.0, 1.0], [0.0], v_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"x must have shape \(n,\) or \(n, d\) with n >= 2"):
        dv.mmd2(np.zeros(1), np.ones(3))


def test_transport_cost_must_be_a_metric():
    squared = dv.distance_matrix(np.arange(3.0)) ** 2  # |i - j|^2 breaks the triangle inequality: 4 > 1 + 1
    with pytest.raises(ValueError, match="cost violates the triangle inequality"):
        dv.w1_dual_lp(P3, Q3, squared)
    with pytest.raises(ValueError, match=r"cost must have shape \(3, 3\) to match p, got \(2, 2\)"):
        dv.w1_primal_lp(P3, Q3, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="symmetric with a zero diagonal"):
        dv.w1_primal_lp(P3, Q3, np.ones((3, 3)))


# ---------------------------------------------------------------- closed forms and conventions


def test_zero_log_zero_is_zero():
    assert dv.entropy([1.0, 0.0]) == 0.0
    assert dv.entropy([0.5, 0.5, 0.0]) == pytest.approx(LOG2, rel=1e-15)
    assert dv.kl([0.5, 0.5, 0.0], [0.25, 0.25, 0.5]) == pytest.approx(LOG2, rel=1e-15)
    assert dv.entropy(np.full(5, 0.2)) == pytest.approx(math.log(5), rel=1e-14)


def test_kl_is_infinite_where_q_vanishes_under_p():
    assert dv.kl([0.5, 0.5], [1.0, 0.0]) == math.inf
    assert dv.chi2([0.5, 0.5], [1.0, 0.0]) == math.inf
    assert dv.kl([1.0, 0.0], [0.5, 0.5]) == pytest.approx(LOG2, rel=1e-15)  # the other way round is finite


def test_kl_between_bernoullis_by_hand():
    # 0.3 log(0.3/0.6) + 0.7 log(0.7/0.4) = -0.20794415 + 0.39173105
    assert dv.kl([0.3, 0.7], [0.6, 0.4]) == pytest.approx(0.18378689738681217, rel=1e-13)
    # chi2: 0.25^2/0.25 + 0.25^2/0.75 = 1/3
    assert dv.chi2([0.5, 0.5], [0.25, 0.75]) == pytest.approx(1.0 / 3.0, rel=1e-14)
    # Hellinger: 1/2 ((1 - sqrt .5)^2 + .5) = 1 - sqrt(2)/2
    assert dv.hellinger([1.0, 0.0], [0.5, 0.5]) == pytest.approx(math.sqrt(1.0 - math.sqrt(2.0) / 2.0), rel=1e-14)


def test_disjoint_supports_saturate_jsd_tv_and_hellinger():
    assert dv.jsd([1.0, 0.0], [0.0, 1.0]) == LOG2  # exactly
    p, q = [0.3, 0.7, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5]
    assert dv.jsd(p, q) == pytest.approx(LOG2, rel=1e-15)
    assert dv.tv(p, q) == pytest.approx(1.0, rel=1e-15)
    assert dv.hellinger(p, q) == pytest.approx(1.0, rel=1e-15)
    assert dv.ipm_bounded(p, q)[0] == pytest.approx(2.0, rel=1e-15)


@given(pq())
def test_identical_distributions_are_at_distance_zero(dists):
    p, _ = dists
    for fn in (dv.kl, dv.jsd, dv.tv, dv.hellinger, dv.chi2):
        assert fn(p, p) == pytest.approx(0.0, abs=1e-15), fn.__name__


@given(pq())
def test_jsd_lies_in_zero_log2_and_matches_scipy(dists):
    p, q = dists
    value = dv.jsd(p, q)
    assert 0.0 <= value <= LOG2 * (1 + 1e-12)  # rounding slack only at disjoint supports
    # scipy's jensenshannon is the square root of JSD (natural log by default): an independent reference
    assert value == pytest.approx(scipy.spatial.distance.jensenshannon(p, q) ** 2, rel=1e-9, abs=1e-14)
    assert dv.kl(p, q) == pytest.approx(scipy.stats.entropy(p, q), rel=1e-12, abs=1e-15)
    assert dv.entropy(p) == pytest.approx(scipy.stats.entropy(p), rel=1e-12, abs=1e-15)


# ---------------------------------------------------------------- numpy and torch

PARITY = {
    "entropy": lambda p, q: dv.entropy(p),
    "kl": lambda p, q: dv.kl(p, q),
    "jsd": lambda p, q: dv.jsd(p, q),
    "lambda_divergence": lambda p, q: dv.lambda_divergence(p, q, 0.2),
    "tv": lambda p, q: dv.tv(p, q),
    "hellinger": lambda p, q: dv.hellinger(p, q),
    "chi2": lambda p, q: dv.chi2(p, q),
    "f_divergence": lambda p, q: dv.f_divergence(p, q, "jensen_shannon"),
    "gan_value": lambda p, q: dv.gan_value(p, q, dv.optimal_discriminator(p, q)),
    "w1": lambda p, q: dv.w1(p, q, q, p),
    "mmd2": lambda p, q: dv.mmd2(p, q, bandwidth=0.5),
    "w1_dual_lp": lambda p, q: dv.w1_dual_lp(p, q, dv.distance_matrix(p))[0],
}


@pytest.mark.parametrize("name", sorted(PARITY))
def test_numpy_gives_floats_and_torch_gives_tensors_with_the_same_numbers(name):
    p, q = np.array([0.5, 0.3, 0.2, 0.0]), np.array([0.1, 0.2, 0.3, 0.4])
    from_numpy = PARITY[name](p, q)
    from_torch = PARITY[name](torch.tensor(p), torch.tensor(q))
    assert type(from_numpy) is float
    assert isinstance(from_torch, torch.Tensor) and from_torch.dtype == torch.float64 and from_torch.ndim == 0
    assert from_torch.item() == pytest.approx(from_numpy, rel=1e-12)


def test_array_results_keep_the_callers_type():
    d = dv.optimal_discriminator(P3, Q3)
    assert isinstance(d, np.ndarray)
    assert_close(dv.optimal_discriminator(torch.tensor(P3), torch.tensor(Q3)), torch.tensor(d))
    plan = dv.w1_primal_lp(torch.tensor(P3), torch.tensor(Q3), torch.tensor(dv.distance_matrix(np.arange(3.0))))[1]
    assert isinstance(plan, torch.Tensor) and plan.shape == (3, 3)
    assert type(dv.log_mixture(-1.0, -2.0, 0.3)) is float
    assert_close(
        dv.log_mixture(torch.tensor([-1.0, 0.0]), torch.tensor(-2.0), 0.3),
        torch.tensor([dv.log_mixture(-1.0, -2.0, 0.3), dv.log_mixture(0.0, -2.0, 0.3)], dtype=torch.float32),
    )


def test_float32_tensors_stay_float32():
    p, q = torch.tensor([0.6, 0.4]), torch.tensor([0.5, 0.5])
    value = dv.kl(p, q)
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(dv.kl(p.double().numpy(), q.double().numpy()), rel=1e-6)


def test_leading_axes_are_a_batch():
    p = np.array([[0.7, 0.2, 0.1], [0.5, 0.5, 0.0]])
    values = dv.kl(p, Q3)  # q broadcasts over the batch
    assert isinstance(values, np.ndarray) and values.shape == (2,)
    assert_allclose(values, [dv.kl(p[0], Q3), dv.kl(p[1], Q3)], rtol=1e-15)


def test_kl_gradient_is_log_ratio_plus_one():
    p = torch.tensor(P3, requires_grad=True)
    dv.kl(p, torch.tensor(Q3)).backward()
    assert_close(p.grad, torch.log(torch.tensor(P3 / Q3)) + 1.0)


def test_gradients_stay_finite_on_partial_support():
    p = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64, requires_grad=True)
    (dv.jsd(p, q) + dv.f_divergence(p, q, "gan") + dv.chi2(p, q)).backward()
    assert torch.isfinite(p.grad).all() and torch.isfinite(q.grad).all()
    q.grad = None
    dv.kl(p, q).backward()
    assert_close(q.grad, torch.tensor([-2.0, -2.0, 0.0], dtype=torch.float64))  # d/dq sum p log(p/q) = -p/q


@pytest.mark.gpu
def test_cuda_inputs_stay_on_cuda():
    p, q = torch.tensor(P3, device="cuda"), torch.tensor(Q3, device="cuda")
    for fn in (dv.kl, dv.jsd, dv.tv, dv.hellinger, dv.chi2, dv.optimal_discriminator, dv.mmd2):
        value = fn(p, q)
        assert value.device.type == "cuda", fn.__name__
        assert_close(value.cpu(), fn(p.cpu(), q.cpu()), msg=fn.__name__)
    assert dv.w1_dual_lp(p, q, dv.distance_matrix(p))[1].device.type == "cuda"


# ---------------------------------------------------------------- f-divergences


@given(pq())
def test_f_divergence_relations(dists):
    p, q = dists
    jsd = dv.jsd(p, q)
    assert_allclose(dv.f_divergence(p, q, "kl"), dv.kl(p, q), rtol=1e-12, atol=1e-15)
    assert_allclose(dv.f_divergence(p, q, "reverse_kl"), dv.kl(q, p), rtol=1e-12, atol=1e-15)
    assert_allclose(dv.f_divergence(p, q, "pearson"), dv.chi2(p, q), rtol=1e-12, atol=1e-15)
    assert_allclose(dv.f_divergence(p, q, "squared_hellinger"), 2 * dv.hellinger(p, q) ** 2, rtol=1e-10, atol=1e-15)
    assert_allclose(dv.f_divergence(p, q, "jensen_shannon"), 2 * jsd, rtol=1e-10, atol=1e-15)
    assert_allclose(dv.f_divergence(p, q, "gan"), 2 * jsd - LOG4, rtol=1e-12, atol=1e-15)


def test_f_divergence_one_sided_support_uses_slope_inf_and_f_at_0():
    p, q = [0.5, 0.5, 0.0], [0.0, 0.5, 0.5]  # x0: q = 0 < p, x2: p = 0 < q, x1: ratio 1
    assert dv.f_divergence(p, q, "squared_hellinger") == pytest.approx(0.5 * 1.0 + 0.5 * 1.0, rel=1e-15)
    assert dv.f_divergence(p, q, "jensen_shannon") == pytest.approx(LOG2, rel=1e-15)
    assert dv.f_divergence(p, q, "kl") == math.inf and dv.f_divergence(p, q, "reverse_kl") == math.inf


@pytest.mark.parametrize("name", sorted(F_FUNCTIONS))
@given(dists=pq(zeros=False))
def test_f_divergence_is_minimal_at_p_equals_q(name, dists):
    """D_f(p, q) >= f(1) = D_f(p, p) by Jensen; f(1) = 0 for every registered f but 'gan', where it is -log 4."""
    p, q = dists
    f_at_1 = float(F_FUNCTIONS[name].f(torch.tensor(1.0, dtype=torch.float64)))
    assert f_at_1 == pytest.approx(-LOG4 if name == "gan" else 0.0, abs=1e-15)
    assert dv.f_divergence(p, p, name) == pytest.approx(f_at_1, abs=1e-14)
    gap = dv.f_divergence(p, q, name) - f_at_1
    assert gap >= 0 or gap == pytest.approx(0.0, abs=1e-14)


# ---------------------------------------------------------------- MMD


def _mmd_draws(shift, n=10, draws=300, dim=1, **kernel):
    g = torch.Generator().manual_seed(7)
    values = [
        dv.mmd2(
            torch.randn(n, dim, generator=g, dtype=torch.float64),
            torch.randn(n, dim, generator=g, dtype=torch.float64) + shift,
            **kernel,
        )
        for _ in range(draws)
    ]
    return torch.stack(values)


@pytest.mark.parametrize("shift", [0.0, 1.0, 2.0])
def test_mmd2_is_unbiased_for_the_gaussian_kernel(shift):
    # population MMD^2 for N(0, 1) vs N(mu, 1), k = exp(-r^2/2h^2), h = 1: 2 sqrt(h^2/(h^2+2)) (1 - exp(-mu^2/2(h^2+2)))
    population = 2.0 * math.sqrt(1.0 / 3.0) * (1.0 - math.exp(-(shift**2) / 6.0))
    values = _mmd_draws(shift)
    stderr = float(values.std()) / math.sqrt(len(values))
    # 4 standard errors: a biased (V-statistic) estimate sits 2 (1 - E k) / n = 0.085 above 0, about 20 stderr away
    assert float(values.mean()) == pytest.approx(population, abs=4 * stderr)
    if shift == 0.0:
        assert float(values.min()) < 0.0  # an unbiased estimate of 0 must go negative


def test_mmd2_is_unbiased_for_the_linear_kernel():
    # degree 1, c = 0: k(a, b) = a.b / d, so MMD^2 = ||mu||^2 / d; here mu = (1, 1), d = 2
    values = _mmd_draws(1.0, dim=2, kernel="polynomial", degree=1, c=0.0)
    stderr = float(values.std()) / math.sqrt(len(values))
    assert float(values.mean()) == pytest.approx(1.0, abs=4 * stderr)


def test_mmd2_is_positive_and_grows_with_the_shift():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(300, 2, generator=g, dtype=torch.float64)
    y = torch.randn(300, 2, generator=g, dtype=torch.float64)
    values = [float(dv.mmd2(x, y + torch.tensor([shift, 0.0], dtype=torch.float64))) for shift in (0.5, 1.0, 2.0, 3.0)]
    assert values[0] > 0 and all(a < b for a, b in zip(values, values[1:]))


@given(seed=st.integers(0, 10_000), n=st.integers(2, 12), m=st.integers(2, 12))
def test_mmd2_is_symmetric(seed, n, m):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, 3)), rng.normal(1.0, 1.0, size=(m, 3))
    for kernel in dv.KERNELS:
        assert dv.mmd2(x, y, kernel=kernel) == pytest.approx(dv.mmd2(y, x, kernel=kernel), rel=1e-12, abs=1e-15)


# ---------------------------------------------------------------- C16 and C20


@given(log_p=st.floats(-700.0, 50.0), log_q=st.one_of(st.just(-math.inf), st.floats(-700.0, 50.0)))
def test_c16_mixture_loglik_bound(log_p, log_q):
    """log(0.01 p + 0.99 q) >= log p - log 100 (Isachenko lecture); equality when q = 0."""
    value = dv.log_mixture(log_p, log_q, 0.01)
    assert value >= log_p - math.log(100.0)
    reference = scipy.special.logsumexp([log_p, log_q], b=[0.01, 0.99])
    assert value == pytest.approx(reference, rel=1e-13, abs=1e-13)
    if log_q == -math.inf:
        assert value == pytest.approx(log_p - math.log(100.0), rel=1e-14, abs=1e-14)


@given(x=st.lists(st.floats(-8.0, 8.0), min_size=1, max_size=20))
def test_c16_bound_on_gaussian_data_under_uniform_noise(x):
    """p = N(0, 1) and q = U[-5, 5] (log q = -inf outside): the noisy model keeps log-likelihood within log 100."""
    x = np.array(x)
    log_p = scipy.stats.norm.logpdf(x)
    log_q = scipy.stats.uniform(-5.0, 10.0).logpdf(x)
    value = dv.log_mixture(log_p, log_q, 0.01)
    assert isinstance(value, np.ndarray) and value.shape == x.shape
    assert (value >= log_p - math.log(100.0)).all()
    outside = np.abs(x) > 5.0
    assert_allclose(value[outside], log_p[outside] - math.log(100.0), rtol=1e-14)


@given(pq())
def test_c20_half_is_the_jsd(dists):
    p, q = dists
    assert dv.lambda_divergence(p, q, 0.5) == pytest.approx(dv.jsd(p, q), rel=1e-15, abs=1e-16)


@given(dists=pq(), lam=st.floats(1e-6, 1 - 1e-6))
def test_c20_lies_between_zero_and_binary_entropy(dists, lam):
    p, q = dists
    h_lam = dv.entropy([lam, 1.0 - lam])
    value = dv.lambda_divergence(p, q, lam)
    assert value >= 0.0 or value == pytest.approx(0.0, abs=1e-15)
    assert value <= h_lam or value == pytest.approx(h_lam, rel=1e-12)  # equality only on disjoint supports
    assert dv.lambda_divergence(p, p, lam) == pytest.approx(0.0, abs=1e-15)
    # disjoint supports: place p and q on separate copies of the points
    zeros = np.zeros_like(p)
    disjoint = dv.lambda_divergence(np.concatenate([p, zeros]), np.concatenate([zeros, q]), lam)
    assert disjoint == pytest.approx(h_lam, rel=1e-12)


def test_c20_binary_entropy_at_half_is_log2():
    assert dv.entropy([0.5, 0.5]) == pytest.approx(LOG2, rel=1e-15)
    assert dv.lambda_divergence([1.0, 0.0], [0.0, 1.0], 0.5) == pytest.approx(LOG2, rel=1e-15)
    assert dv.lambda_divergence([1.0, 0.0], [0.0, 1.0], 0.1) == pytest.approx(
        -(0.1 * math.log(0.1) + 0.9 * math.log(0.9)), rel=1e-14
    )
