"""Evaluation metrics (C13, C15, C17): Frechet distance against closed forms and scipy, streamed statistics,
KID, the classifier score identity, precision/recall orientation, mode coverage, the birthday-paradox support
estimate, nearest neighbours and calibrated two-sample tests."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.distance import cdist, pdist

from sandbox.evaluation import metrics, support
from sandbox.evaluation.metrics import (
    classifier_score,
    classifier_score_entropy_form,
    feature_stats,
    frechet_distance,
    frechet_reference,
    frechet_to_reference,
    kid,
    precision_recall,
    report,
)
from sandbox.evaluation.support import (
    birthday_support_estimate,
    duplicate_probability,
    mixture_modes,
    nearest_neighbours,
    stacked_mnist_modes,
    top_duplicate_pairs,
)
from sandbox.evaluation.twosample import c2st, median_bandwidth, mmd_permutation_test
from sandbox.theory.divergences import mmd2


@pytest.fixture(autouse=True)
def one_thread():
    """Every problem here is tiny: on a busy 2-core machine, hand-offs between the BLAS and LAPACK thread pools
    cost milliseconds per call (ten times the work), so these tests run single-threaded and restore the setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _rng(seed):
    return np.random.default_rng(seed)


def _wishart(rng, d, n=None):
    """A random full-rank covariance W W^T / n."""
    w = rng.standard_normal((d, n or 2 * d))
    return w @ w.T / w.shape[1]


def _scipy_frechet(mu1, s1, mu2, s2):
    """The widespread sqrtm(S1 S2) formula: an independent reference."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean).real)


# ------------------------------------------------------------------------------------------- Frechet
@given(seed=st.integers(0, 2**31 - 1), d=st.integers(1, 8))
def test_c15_frechet_closed_form_for_diagonal_gaussians(seed, d):
    rng = _rng(seed)
    m1, m2 = rng.normal(size=d) * 3, rng.normal(size=d) * 3
    sd1, sd2 = rng.uniform(0.0, 3.0, size=d), rng.uniform(0.0, 3.0, size=d)
    expected = np.sum((m1 - m2) ** 2) + np.sum((sd1 - sd2) ** 2)
    got = frechet_distance(m1, np.diag(sd1**2), m2, np.diag(sd2**2))
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_c15_frechet_one_dimensional():
    assert frechet_distance([1.0], [[4.0]], [-2.0], [[9.0]]) == pytest.approx(9.0 + 1.0, rel=1e-12)


@given(seed=st.integers(0, 2**31 - 1), d=st.integers(1, 12))
def test_c15_frechet_equal_inputs_give_zero(seed, d):
    rng = _rng(seed)
    mu, s = rng.normal(size=d), _wishart(rng, d)
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-9 * np.trace(s))


@given(seed=st.integers(0, 2**31 - 1), d=st.integers(1, 12))
def test_c15_frechet_is_symmetric(seed, d):
    rng = _rng(seed)
    mu1, mu2, s1, s2 = rng.normal(size=d), rng.normal(size=d), _wishart(rng, d), _wishart(rng, d)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(frechet_distance(mu2, s2, mu1, s1), rel=1e-10)


@given(seed=st.integers(0, 2**31 - 1), d=st.integers(1, 10))
def test_c15_frechet_closed_form_for_commuting_covariances(seed, d):
    rng = _rng(seed)
    q = np.linalg.qr(rng.standard_normal((d, d)))[0]
    a, b = rng.uniform(0.0, 4.0, size=d), rng.uniform(0.0, 4.0, size=d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = frechet_distance(mu1, (q * a) @ q.T, mu2, (q * b) @ q.T)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_frechet_matches_scipy_sqrtm_for_non_commuting_covariances(seed):
    rng = _rng(seed)
    d = 24
    mu1, mu2, s1, s2 = rng.normal(size=d), rng.normal(size=d), _wishart(rng, d), _wishart(rng, d)
    assert np.linalg.norm(s1 @ s2 - s2 @ s1) > 1.0  # genuinely non-commuting
    got = frechet_distance(torch.from_numpy(mu1), torch.from_numpy(s1), torch.from_numpy(mu2), torch.from_numpy(s2))
    assert got == pytest.approx(_scipy_frechet(mu1, s1, mu2, s2), rel=1e-8)


@pytest.mark.parametrize("rank1,rank2", [(3, 5), (1, 1), (0, 4), (7, 7)])
def test_frechet_rank_deficient_covariances_are_finite_and_exact(rank1, rank2):
    # S1 = A A^T, S2 = B B^T: tr((S1^1/2 S2 S1^1/2)^1/2) is the nuclear norm of A^T B, an SVD-based reference
    rng = _rng(rank1 * 10 + rank2)
    d = 16
    a, b = rng.standard_normal((d, rank1)), rng.standard_normal((d, rank2))
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = a @ a.T, b @ b.T
    nuclear = np.linalg.svd(a.T @ b, compute_uv=False).sum() if rank1 and rank2 else 0.0
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * nuclear
    for method in ("cholesky", "eigh"):
        got = frechet_distance(mu1, s1, mu2, s2, method=method)
        assert isinstance(got, float) and math.isfinite(got)
        assert got == pytest.approx(expected, rel=1e-6)


@given(seed=st.integers(0, 2**31 - 1), d=st.integers(1, 12), rank=st.integers(0, 12))
def test_frechet_cholesky_and_eigh_factors_agree(seed, d, rank):
    rng = _rng(seed)
    a = rng.standard_normal((d, min(rank, d)))
    s1, s2 = a @ a.T + 1e-3 * np.eye(d), _wishart(rng, d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    assert frechet_distance(mu1, s1, mu2, s2, method="cholesky") == pytest.approx(
        frechet_distance(mu1, s1, mu2, s2, method="eigh"), rel=1e-9, abs=1e-9
    )
    with pytest.raises(ValueError, match="unknown method 'svd'; valid names: cholesky, eigh"):
        frechet_distance(mu1, s1, mu2, s2, method="svd")


def test_frechet_of_a_singular_pair_has_no_nan():
    # both covariances zero: the distance is the squared mean gap, not NaN
    assert frechet_distance([0.0, 0.0], np.zeros((2, 2)), [3.0, 4.0], np.zeros((2, 2))) == pytest.approx(25.0)


def test_frechet_reference_cache_gives_the_same_value():
    rng = _rng(7)
    d = 10
    mu1, s1 = rng.normal(size=d), _wishart(rng, d)
    ref = frechet_reference(mu1, s1)
    for _ in range(3):
        mu2, s2 = rng.normal(size=d), _wishart(rng, d)
        assert frechet_to_reference(ref, mu2, s2) == pytest.approx(frechet_distance(mu1, s1, mu2, s2), rel=1e-12)


def test_frechet_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"sigma must have shape \(3, 3\)"):
        frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="mu2 has 2 features but the reference has 3"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="non-finite"):
        frechet_distance(np.zeros(2), np.eye(2), np.array([0.0, np.nan]), np.eye(2))


# -------------------------------------------------------------------------------------- feature stats
def test_feature_stats_survive_a_huge_offset():
    x = 1e6 + _rng(0).standard_normal((3000, 6)) * np.arange(1, 7)
    stats = feature_stats(torch.from_numpy(b) for b in np.array_split(x, 7))
    assert stats.n == 3000
    np.testing.assert_allclose(stats.mu.numpy(), x.mean(0), rtol=1e-14)
    np.testing.assert_allclose(stats.sigma.numpy(), np.cov(x, rowvar=False), rtol=1e-8, atol=1e-8)


def test_feature_stats_stream_equals_whole_and_accepts_numpy():
    x = _rng(1).standard_normal((500, 4))
    whole, streamed = feature_stats(torch.from_numpy(x)), feature_stats(iter([x[:123], x[123:]]))
    torch.testing.assert_close(streamed.mu, whole.mu, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(streamed.sigma, whole.sigma, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(feature_stats(x).sigma.numpy(), np.cov(x, rowvar=False), rtol=1e-12)


def test_feature_stats_reject_bad_input():
    with pytest.raises(ValueError, match="at least 2 samples"):
        feature_stats(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="has 2 features, earlier batches had 3"):
        feature_stats([torch.zeros(4, 3), torch.zeros(4, 2)])
    with pytest.raises(ValueError, match="must have 2 axes"):
        feature_stats(torch.zeros(4))


# ------------------------------------------------------------------------------------------------ KID
def test_kid_matches_a_hand_computed_example():
    # d = 1, k(a, b) = (ab + 1)^3: off-diagonal means 1 (real) and 27 (fake), cross mean 37/4
    real, fake = torch.tensor([[0.0], [1.0]]), torch.tensor([[1.0], [2.0]])
    assert kid(real, fake, n_subsets=3, subset_size=2) == (pytest.approx(9.5), pytest.approx(0.0, abs=1e-12))


def test_kid_is_near_zero_for_equal_laws_and_grows_with_the_shift():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(600, 8, generator=g, dtype=torch.float64)
    shifted = [torch.randn(600, 8, generator=g, dtype=torch.float64) + s for s in (0.0, 0.5, 1.0)]
    vals = [kid(real, y, n_subsets=20, subset_size=200, generator=torch.Generator().manual_seed(1)) for y in shifted]
    assert vals[0].mean == pytest.approx(0.0, abs=0.02)
    assert vals[0].mean < vals[1].mean < vals[2].mean
    assert kid(real, shifted[1], 20, 200, torch.Generator().manual_seed(1)) == vals[1]  # same seed, same numbers


def test_kid_rejects_oversized_subsets():
    with pytest.raises(ValueError, match=r"subset_size must lie in \[2, 5\]"):
        kid(torch.zeros(5, 2), torch.zeros(9, 2), subset_size=6)


# ----------------------------------------------------------------------------------- classifier score
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 40),
    k=st.integers(2, 12),
    temperature=st.floats(0.05, 20.0),
    sparse=st.booleans(),
)
def test_c15_inception_score_identity(seed, n, k, temperature, sparse):
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(torch.randn(n, k, generator=g, dtype=torch.float64) / temperature, dim=1)
    if sparse:  # exact zeros exercise 0 log 0 = 0
        probs = torch.where(probs < 0.5 * probs.max(1, keepdim=True).values, 0.0, probs)
        probs = probs / probs.sum(1, keepdim=True)
    score = classifier_score(probs).mean
    assert score == pytest.approx(classifier_score_entropy_form(probs), rel=1e-9)
    assert 1.0 - 1e-9 <= score <= k + 1e-9


def test_c15_classifier_score_known_values():
    k = 10
    one_hot = torch.eye(k).repeat(3, 1)
    assert classifier_score(one_hot).mean == pytest.approx(k, rel=1e-12)  # confident and diverse
    assert classifier_score(torch.full((5, k), 0.1)).mean == pytest.approx(1.0)  # uninformative
    assert classifier_score(one_hot[[0] * 6]).mean == pytest.approx(1.0)  # confident, collapsed
    halves = torch.cat([torch.eye(2), torch.eye(2)[[0, 0]]])  # splits score 2 and 1
    assert classifier_score(halves, n_splits=2) == (pytest.approx(1.5), pytest.approx(0.5))


def test_classifier_score_rejects_non_probabilities():
    with pytest.raises(ValueError, match="rows summing to 1"):
        classifier_score(torch.ones(3, 4))
    with pytest.raises(ValueError, match=r"n_splits must lie in \[1, 3\]"):
        classifier_score(torch.full((3, 2), 0.5), n_splits=4)


# ----------------------------------------------------------------------------------- precision/recall
def _clusters(n_per, which, g):
    """Ten tight clusters on a circle of radius 10 in the plane; samples from the listed ones."""
    angles = torch.arange(10, dtype=torch.float64) * 2 * math.pi / 10
    centres = 10.0 * torch.stack([angles.cos(), angles.sin()], 1)
    return torch.cat([centres[c] + 0.3 * torch.randn(n_per, 2, generator=g, dtype=torch.float64) for c in which])


def test_precision_recall_of_a_collapsed_generator():
    g = torch.Generator().manual_seed(0)
    real = _clusters(100, range(10), g)
    full = precision_recall(real, _clusters(100, range(10), g), k=3)
    fake = _clusters(1000, [3], g)  # realistic samples of one cluster in ten
    collapsed = precision_recall(real, fake, k=3)
    assert (full.precision, full.recall) == (pytest.approx(0.95, abs=0.05), pytest.approx(0.95, abs=0.05))
    assert collapsed.precision == pytest.approx(1.0, abs=0.05)
    assert collapsed.recall == pytest.approx(0.1, abs=0.02)
    swapped = precision_recall(fake, real, k=3)  # the argument order is (real, fake): swapping swaps the two
    assert (swapped.precision, swapped.recall) == (collapsed.recall, collapsed.precision)


def test_precision_recall_extremes():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(200, 4, generator=g, dtype=torch.float64)
    assert precision_recall(x, x.clone()) == (1.0, 1.0)
    assert precision_recall(x, x + 100.0) == (0.0, 0.0)
    with pytest.raises(ValueError, match=r"k must lie in \[1, 199\]"):
        precision_recall(x, x, k=200)


# --------------------------------------------------------------------------------- nearest neighbours
@pytest.mark.parametrize("chunk", [support.CHUNK_ELEMENTS, 37])
def test_nearest_neighbours_match_scipy(chunk, monkeypatch):
    monkeypatch.setattr(support, "CHUNK_ELEMENTS", chunk)
    rng = _rng(2)
    ref, q = rng.normal(size=(50, 3)), rng.normal(size=(20, 3))
    q[4] = ref[17]  # an exact copy must come back at distance exactly 0
    nn = nearest_neighbours(q, ref, k=3)
    dist = cdist(q, ref)
    np.testing.assert_array_equal(nn.indices.numpy(), np.argsort(dist, axis=1, kind="stable")[:, :3])
    np.testing.assert_allclose(nn.distances.numpy(), np.sort(dist, axis=1)[:, :3], rtol=1e-12)
    assert (int(nn.indices[4, 0]), float(nn.distances[4, 0])) == (17, 0.0)


@pytest.mark.parametrize("chunk", [support.CHUNK_ELEMENTS, 41])
def test_top_duplicate_pairs_match_scipy(chunk, monkeypatch):
    monkeypatch.setattr(support, "CHUNK_ELEMENTS", chunk)
    x = _rng(3).normal(size=(40, 5))
    x[31] = x[6] + 1e-9
    top = top_duplicate_pairs(x, k=6)
    dist = pdist(x)
    i, j = np.triu_indices(40, k=1)
    order = np.argsort(dist, kind="stable")[:6]
    np.testing.assert_array_equal(top.pairs.numpy(), np.stack([i[order], j[order]], 1))
    np.testing.assert_allclose(top.distances.numpy(), dist[order], rtol=1e-9)
    assert top.pairs[0].tolist() == [6, 31]


# ---------------------------------------------------------------------------------------------- modes
def test_stacked_mnist_modes():
    all_modes = torch.arange(1000).repeat(3)
    assert stacked_mnist_modes(all_modes) == (1000, pytest.approx(0.0, abs=1e-12))
    assert stacked_mnist_modes(torch.full((50,), 7)) == (1, pytest.approx(math.log(1000)))
    assert stacked_mnist_modes(torch.tensor([3, 3, 999, 999])) == (2, pytest.approx(math.log(500)))
    digits = torch.tensor([[1, 2, 3], [0, 0, 9], [1, 2, 3]])
    assert stacked_mnist_modes(digits) == stacked_mnist_modes(torch.tensor([123, 9, 123]))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1000\)"):
        stacked_mnist_modes(torch.tensor([1000]))


def test_stacked_kl_breakdown_by_hand():
    every_code = torch.tensor([[a, b, c] for a in range(10) for b in range(10) for c in range(10)])
    none = support.stacked_kl_breakdown(every_code)
    assert none.kl == pytest.approx(0.0, abs=1e-12) and none.total_correlation == pytest.approx(0.0, abs=1e-12)
    assert none.marginal_kl == pytest.approx((0.0, 0.0, 0.0), abs=1e-12)
    # the same uniform digit in all three channels: no channel is skewed, all of the KL is dependence
    same = support.stacked_kl_breakdown(torch.arange(10)[:, None].repeat(1, 3))
    assert same.marginal_kl == pytest.approx((0.0, 0.0, 0.0), abs=1e-12)
    assert same.total_correlation == pytest.approx(2 * math.log(10), rel=1e-12)
    # independent channels with skewed digits (an exact product histogram): all of the KL is marginal
    weights = ([1, 3, 0, 0, 0, 0, 0, 0, 0, 0], [2, 1, 1, 0, 0, 0, 0, 0, 0, 0], [1] * 10)
    rows = [
        [a, b, c]
        for a in range(10)
        for b in range(10)
        for c in range(10)
        for _ in range(weights[0][a] * weights[1][b] * weights[2][c])
    ]
    product = support.stacked_kl_breakdown(torch.tensor(rows))
    q0 = np.array(weights[0]) / 4.0
    q1 = np.array(weights[1]) / 4.0
    kl0 = float(np.sum(q0[q0 > 0] * np.log(10 * q0[q0 > 0])))
    kl1 = float(np.sum(q1[q1 > 0] * np.log(10 * q1[q1 > 0])))
    assert product.marginal_kl == pytest.approx((kl0, kl1, 0.0), rel=1e-12, abs=1e-12)
    assert product.total_correlation == pytest.approx(0.0, abs=1e-12)
    assert product.kl == pytest.approx(kl0 + kl1, rel=1e-12)
    with pytest.raises(ValueError, match=r"must lie in \[0, 9\]"):
        support.stacked_kl_breakdown(torch.tensor([[0, 10, 1]]))
    with pytest.raises(ValueError, match=r"\(n, 3\) integer"):
        support.stacked_kl_breakdown(torch.tensor([123, 9]))


@given(st.lists(st.tuples(*[st.integers(0, 9)] * 3), min_size=1, max_size=200))
def test_stacked_kl_is_the_channel_kls_plus_a_nonnegative_total_correlation(triples):
    digits = torch.tensor(triples)
    parts = support.stacked_kl_breakdown(digits)
    # both parts computed directly from the joint histogram: the channel marginals as its sums, and TC as
    # KL(q || q_1 q_2 q_3), not as the difference the function takes
    q = torch.bincount(100 * digits[:, 0] + 10 * digits[:, 1] + digits[:, 2], minlength=1000).double()
    q = (q / len(triples)).reshape(10, 10, 10)
    m = [q.sum(dim=tuple(k for k in range(3) if k != c)) for c in range(3)]
    by_sums = tuple(float(torch.xlogy(m_c, 10 * m_c).sum()) for m_c in m)
    assert parts.marginal_kl == pytest.approx(by_sums, rel=1e-9, abs=1e-12)
    product = m[0][:, None, None] * m[1][None, :, None] * m[2][None, None, :]
    direct = float(torch.where(q > 0, q * (q / product).log(), torch.zeros_like(q)).sum())
    assert parts.total_correlation == pytest.approx(direct, rel=1e-9, abs=1e-12)
    assert min(parts.marginal_kl) >= -1e-12


def test_mixture_modes_on_a_ring():
    angles = torch.arange(8, dtype=torch.float64) * 2 * math.pi / 8
    centres = 2.0 * torch.stack([angles.cos(), angles.sin()], 1)
    g = torch.Generator().manual_seed(0)
    std = 0.02
    good = torch.cat(
        [centres[m] + std * torch.randn(n, 2, generator=g, dtype=torch.float64) for m, n in [(0, 50), (3, 30), (5, 20)]]
    )
    junk = torch.zeros(25, 2, dtype=torch.float64)  # the ring's centre: far from every mode
    out = mixture_modes(torch.cat([good, junk]), centres, std=std, n_sigma=4)
    assert out.modes == 3
    assert out.hq_percent == pytest.approx(100.0 * 100 / 125)
    assert out.counts.tolist() == [50, 0, 0, 30, 0, 20, 0, 0]
    assert mixture_modes(torch.cat([good, junk]), centres, std=std, n_sigma=4, min_count=25).modes == 2


# ------------------------------------------------------------------------------------ birthday paradox
def _sizes_around(n_items):
    s0 = math.sqrt(n_items)
    return np.unique(np.geomspace(max(2.0, s0 / 4), 4 * s0, 10).astype(int))


@pytest.mark.parametrize("n_items", [10**2, 10**3, 10**4, 10**5])
def test_c13_birthday_support_estimate_within_factor_2(n_items):
    curve = duplicate_probability(
        lambda n, g: torch.randint(n_items, (n,), generator=g),
        _sizes_around(n_items),
        trials=100,
        generator=torch.Generator().manual_seed(n_items),
    )
    estimate = birthday_support_estimate(curve.sizes, curve.probs)
    assert n_items / 2 <= estimate <= 2 * n_items


def test_c13_duplicate_curve_matches_the_exact_probability_with_a_threshold():
    # continuous samples: 60 points in R^3 plus jitter far below the threshold, far above it between points
    points = torch.randn(60, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    assert float(torch.pdist(points).min()) > 1e-2

    def sample(n, g):
        idx = torch.randint(60, (n,), generator=g)
        return points[idx] + 1e-7 * torch.randn(n, 3, generator=g, dtype=torch.float64)

    sizes = [3, 6, 10, 15]
    curve = duplicate_probability(sample, sizes, trials=200, threshold=1e-4, generator=torch.Generator().manual_seed(0))
    exact = [1.0 - np.prod(1.0 - np.arange(s) / 60) for s in sizes]
    np.testing.assert_allclose(curve.probs, exact, atol=0.08)
    assert birthday_support_estimate(curve.sizes, curve.probs) == pytest.approx(60, rel=0.5)


def test_birthday_half_rule_and_degenerate_curves():
    assert birthday_support_estimate([10, 20, 40], [0.1, 0.6, 1.0], method="half") == 400.0
    with pytest.raises(ValueError, match="no duplicates at any size"):
        birthday_support_estimate([10, 20], [0.0, 0.0])
    with pytest.raises(ValueError, match="duplicates at every size"):
        birthday_support_estimate([10, 20], [1.0, 1.0])
    with pytest.raises(ValueError, match="unknown method 'mean'; valid names: fit, half"):
        birthday_support_estimate([10, 20], [0.2, 0.5], method="mean")


# ---------------------------------------------------------------------------------- two-sample tests
def test_mmd_statistic_and_bandwidth_match_hand_computation():
    # x = {0, 1}, y = {0, 2}, h = 1: MMD_u^2 = e^-1/2 + e^-2 - (1 + e^-2 + 2 e^-1/2) / 2 = (e^-2 - 1) / 2
    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[0.0], [2.0]])
    assert mmd_permutation_test(x, y, n_permutations=5, bandwidth=1.0).statistic == pytest.approx(
        (math.exp(-2) - 1) / 2, rel=1e-12
    )
    assert median_bandwidth(torch.tensor([[0.0], [1.0], [3.0]], dtype=torch.float64)) == pytest.approx(2.0)


def test_mmd_permutation_statistic_agrees_with_divergences_mmd2():
    # the test's membership-vector form (all permutations in one matmul) against the plain kernel-matrix estimator
    g = torch.Generator().manual_seed(8)
    x, y = torch.randn(25, 3, generator=g, dtype=torch.float64), torch.randn(31, 3, generator=g, dtype=torch.float64)
    h = median_bandwidth(torch.cat([x, y]))
    assert mmd_permutation_test(x, y, n_permutations=3).statistic == pytest.approx(
        float(mmd2(x, y, kernel="gaussian", bandwidth=h)), rel=1e-12
    )


def _null_rejection_rate(test, n, draws, seed):
    g = torch.Generator().manual_seed(seed)
    rejections = 0
    for _ in range(draws):
        x, y = torch.randn(2, n, 2, generator=g, dtype=torch.float64)
        rejections += test(x, y, generator=g).p_value <= 0.05
    return rejections / draws


@pytest.mark.parametrize("test,n", [(mmd_permutation_test, 20), (c2st, 100)], ids=["mmd", "c2st"])
def test_c17_two_sample_tests_are_calibrated(test, n):
    # 1000 null draws: the rate's standard error is 0.007, so [alpha/2, 2 alpha] is more than 3 errors wide
    assert 0.025 <= _null_rejection_rate(test, n, draws=1000, seed=17) <= 0.1


@pytest.mark.parametrize("test,n", [(mmd_permutation_test, 20), (c2st, 100)], ids=["mmd", "c2st"])
def test_c17_two_sample_tests_gain_power_with_separation(test, n):
    g = torch.Generator().manual_seed(3)
    power = []
    for shift in (0.0, 0.5, 1.0, 2.0):
        hits = 0
        for _ in range(100):
            x, y = torch.randn(2, n, 2, generator=g, dtype=torch.float64)
            hits += test(x, y + torch.tensor([shift, 0.0], dtype=torch.float64), generator=g).p_value <= 0.05
        power.append(hits / 100)
    assert power[0] == pytest.approx(0.05, abs=0.07)
    assert all(b >= a - 0.05 for a, b in zip(power, power[1:])), power
    assert power[-1] >= 0.95


def test_c2st_mlp_detects_a_ring_against_a_gaussian_and_is_reproducible():
    g = torch.Generator().manual_seed(4)
    angle = 2 * math.pi * torch.rand(200, generator=g, dtype=torch.float64)
    ring = torch.stack([angle.cos(), angle.sin()], 1) * 2.0
    blob = torch.randn(200, 2, generator=g, dtype=torch.float64)  # same mean: a linear classifier is blind
    mlp = c2st(ring, blob, generator=torch.Generator().manual_seed(0), hidden=16)
    assert mlp.statistic >= 0.8 and mlp.p_value < 1e-6
    assert c2st(ring, blob, generator=torch.Generator().manual_seed(0), hidden=16) == mlp
    with pytest.raises(ValueError, match="equal sample sizes, got 200 and 100"):
        c2st(ring, blob[:100])


# ---------------------------------------------------------------------------------- registry, report
def test_report_records_what_was_measured():
    value = kid(torch.zeros(4, 2), torch.ones(4, 2), n_subsets=2, subset_size=3)
    rec = report("kid", value, features="mnist_classifier/penultimate", n=4, split="test", seed=0)
    assert rec == {
        "metric": "kid",
        "value": {"mean": value.mean, "std": value.std},
        "features": "mnist_classifier/penultimate",
        "n": 4,
        "split": "test",
        "seed": 0,
    }
    with pytest.raises(ValueError, match="unknown metric 'fid'; valid names: birthday_support, c2st"):
        report("fid", 1.0, features="x", n=1, split="test", seed=0)
    with pytest.raises(ValueError, match="n must be a non-negative int"):
        report("kid", 1.0, features="x", n=-1, split="test", seed=0)
    with pytest.raises(ValueError, match="features must name the feature extractor"):
        report("kid", 1.0, features="", n=1, split="test", seed=0)


def test_every_metric_has_a_one_line_docstring_with_a_source():
    for name, fn in metrics.METRICS.items():
        doc = fn.__doc__ or ""
        assert len(doc.strip().splitlines()) == 1, name
        assert any(ch.isdigit() for ch in doc), f"{name}: the docstring should cite a paper and year"


@pytest.mark.gpu
def test_metrics_on_cuda_match_cpu():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, 8, generator=g, dtype=torch.float64), torch.randn(300, 8, generator=g, dtype=torch.float64)
    sx, sy = feature_stats(x), feature_stats(y + 0.5)
    cx, cy = feature_stats(x.cuda()), feature_stats((y + 0.5).cuda())
    assert cx.mu.device.type == "cuda"
    assert frechet_distance(cx.mu, cx.sigma, cy.mu, cy.sigma) == pytest.approx(
        frechet_distance(sx.mu, sx.sigma, sy.mu, sy.sigma), rel=1e-9
    )
    torch.testing.assert_close(
        nearest_neighbours(x.cuda(), y.cuda(), k=2).indices.cpu(), nearest_neighbours(x, y, k=2).indices
    )
    assert precision_recall(x.cuda(), y.cuda()) == pytest.approx(precision_recall(x, y))
    assert kid(x.cuda(), y.cuda(), 5, 100) == pytest.approx(kid(x, y, 5, 100), rel=1e-9)
