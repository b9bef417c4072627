"""Evaluation metrics as pure functions of features and class probabilities: Frechet distance, KID, the
classifier (Inception-style) score, improved precision/recall, and the METRICS registry with `report`.

Nothing here downloads weights: a domain classifier supplies the features (n, d) and probabilities (n, K);
these functions only do the maths, in float64 on the inputs' device. Torch tensors or numpy arrays are
accepted. The Frechet distance never takes a non-symmetric matrix square root: with S1 = A A^T it sums the
square roots of the clipped eigenvalues of the symmetric PSD matrix A^T S2 A, so it is real and finite for
rank-deficient covariances too. Randomness (KID subsets) comes from an explicit torch.Generator; a missing one
means a fresh generator seeded with 0. Support, mode and birthday-paradox metrics live in
`sandbox.evaluation.support`, two-sample tests in `sandbox.evaluation.twosample`; all are in `METRICS`.
"""

import math
from typing import NamedTuple, Optional

import torch
from torch import Tensor

from sandbox.evaluation import support, twosample
from sandbox.evaluation.support import as_features, default_generator
from sandbox.records import jsonable
from sandbox.registry import lookup
from sandbox.theory.divergences import mmd2


class FeatureStats(NamedTuple):
    mu: Tensor  # (d,) float64
    sigma: Tensor  # (d, d) float64, unbiased (divides by n - 1, as numpy.cov)
    n: int


class FrechetReference(NamedTuple):
    mu: Tensor  # (d,)
    factor: Tensor  # (d, r) with S = A A^T: a (non-symmetric) square root of S, see `sigma_factor`
    trace: float  # tr S


class SubsetEstimate(NamedTuple):
    mean: float
    std: float  # population std (ddof=0) over subsets/splits, as the reference implementations report


class PrecisionRecall(NamedTuple):
    precision: float  # fraction of fake samples inside the real k-NN manifold
    recall: float  # fraction of real samples inside the fake k-NN manifold


# ---------------------------------------------------------------------------------------------- Frechet
def _vector(x, name: str) -> Tensor:
    return as_features(x, name, dim=1)


def _covariance(x, name: str, d: int) -> Tensor:
    s = as_features(x, name)
    if s.shape != (d, d):
        raise ValueError(f"{name} must have shape ({d}, {d}) to match its mean, got {tuple(s.shape)}")
    return 0.5 * (s + s.T)  # symmetrise away rounding so eigh sees the matrix we mean


def sigma_factor(sigma: Tensor, method: str = "cholesky") -> Tensor:
    """A with S = A A^T: Cholesky, or V diag(sqrt(max(l, 0))) of S = V diag(l) V^T (Golub & Van Loan 2013)."""
    # Any such A serves: A = S^1/2 Q with Q orthogonal (on the range of S), so A^T S2 A and S^1/2 S2 S^1/2 are
    # orthogonally similar and share their eigenvalues. Cholesky costs a fraction of an eigendecomposition;
    # a covariance that is not numerically positive definite falls back to eigh.
    if method not in ("cholesky", "eigh"):
        raise ValueError(f"unknown method {method!r}; valid names: cholesky, eigh")
    if method == "cholesky":
        lower, info = torch.linalg.cholesky_ex(sigma)
        if int(info) == 0:
            return lower
    lam, v = torch.linalg.eigh(sigma)
    keep = lam > 0  # rounding leaves tiny negative eigenvalues on rank-deficient covariances; they are zeros
    return v[:, keep] * lam[keep].sqrt()


def frechet_reference(mu, sigma, method: str = "cholesky") -> FrechetReference:
    """(mu, A with S = A A^T, tr S) of a fixed reference set, for `frechet_to_reference` (Heusel et al. 2017)."""
    mu = _vector(mu, "mu")
    sigma = _covariance(sigma, "sigma", mu.shape[0]).to(mu.device)
    return FrechetReference(mu, sigma_factor(sigma, method), float(torch.trace(sigma)))


def frechet_to_reference(ref: FrechetReference, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + tr S1 + tr S2 - 2 tr((A^T S2 A)^1/2) with the cached S1 = A A^T (Dowson & Landau 1982)."""
    mu2 = _vector(mu2, "mu2").to(ref.mu.device)
    if mu2.shape != ref.mu.shape:
        raise ValueError(f"mu2 has {mu2.shape[0]} features but the reference has {ref.mu.shape[0]}")
    sigma2 = _covariance(sigma2, "sigma2", mu2.shape[0]).to(ref.mu.device)
    m = ref.factor.T @ (sigma2 @ ref.factor)
    # m is symmetric PSD in exact arithmetic, so its eigenvalues are real and >= 0: eigvalsh on the symmetrised
    # matrix gives them without the complex detour of sqrtm(S1 S2); clipping removes rounding negatives
    lam = torch.linalg.eigvalsh(0.5 * (m + m.T)).clamp_min(0.0) if m.numel() else m.new_zeros(0)
    value = (
        float((ref.mu - mu2).square().sum()) + ref.trace + float(torch.trace(sigma2)) - 2.0 * float(lam.sqrt().sum())
    )
    return max(value, 0.0)  # a squared distance; only rounding can make it negative


def frechet_distance(mu1, sigma1, mu2, sigma2, method: str = "cholesky") -> float:
    """W2^2: ||mu1 - mu2||^2 + tr S1 + tr S2 - 2 tr((S1^1/2 S2 S1^1/2)^1/2) (Dowson & Landau 1982; Heusel 2017)."""
    return frechet_to_reference(frechet_reference(mu1, sigma1, method), mu2, sigma2)


def feature_stats(features) -> FeatureStats:
    """Streamed mean and covariance from shifted sums of x - c, c = the first batch mean (Chan, Golub, LeVeque 1983)."""
    batches = [features] if isinstance(features, Tensor) or hasattr(features, "__array__") else features
    n, shift, s1, s2 = 0, None, None, None
    for b in batches:
        x = as_features(b, "features batch")
        if shift is None:
            # subtracting a central value first keeps sums of squares small: the naive E[xx^T] - mu mu^T
            # loses every digit when |mean| >> std (features offset by 1e6 lose about 12 of 16 digits)
            shift = x.mean(0)
            s1, s2 = torch.zeros_like(shift), torch.zeros(x.shape[1], x.shape[1], dtype=x.dtype, device=x.device)
        if x.shape[1] != shift.shape[0]:
            raise ValueError(f"features batch has {x.shape[1]} features, earlier batches had {shift.shape[0]}")
        xc = x.to(shift.device) - shift
        n += x.shape[0]
        s1 += xc.sum(0)
        s2 += xc.T @ xc
    if n < 2:
        raise ValueError(f"feature_stats needs at least 2 samples, got {n}")
    sigma = (s2 - torch.outer(s1, s1) / n) / (n - 1)
    return FeatureStats(shift + s1 / n, 0.5 * (sigma + sigma.T), n)


# -------------------------------------------------------------------------------------------------- KID
def kid(
    feats_real, feats_fake, n_subsets: int = 100, subset_size: int = 1000, generator: Optional[torch.Generator] = None
) -> SubsetEstimate:
    """Mean/std over random subsets of the unbiased MMD^2 with k(a, b) = (a.b/d + 1)^3 (Binkowski et al. 2018)."""
    x, y = as_features(feats_real, "feats_real"), as_features(feats_fake, "feats_fake")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feats_real have {x.shape[1]} features but feats_fake have {y.shape[1]}")
    if not 2 <= subset_size <= min(x.shape[0], y.shape[0]):
        raise ValueError(
            f"subset_size must lie in [2, {min(x.shape[0], y.shape[0])}] (the smaller set), "
            f"got {subset_size}; pass a smaller subset_size"
        )
    if n_subsets < 1:
        raise ValueError(f"n_subsets must be >= 1, got {n_subsets}")
    g = default_generator(generator)
    y = y.to(x.device)
    vals = []
    for _ in range(n_subsets):
        i = torch.randperm(x.shape[0], generator=g, device=g.device)[:subset_size].to(x.device)
        j = torch.randperm(y.shape[0], generator=g, device=g.device)[:subset_size].to(x.device)
        vals.append(mmd2(x[i], y[j], kernel="polynomial", degree=3, c=1.0))  # (a.b/d + 1)^3
    vals = torch.stack(vals)
    return SubsetEstimate(float(vals.mean()), float(vals.std(correction=0)))


# ------------------------------------------------------------------------------------- classifier score
def _probs(probs) -> Tensor:
    p = as_features(probs, "probs")
    if bool((p < 0).any()) or not torch.allclose(p.sum(1), torch.ones_like(p[:, 0]), atol=1e-4):
        raise ValueError("probs must be non-negative with rows summing to 1 (class probabilities p(y|x))")
    return p / p.sum(1, keepdim=True)


def _score(p: Tensor) -> float:
    p_y = p.mean(0)
    kl = (torch.xlogy(p, p) - torch.xlogy(p, p_y.expand_as(p))).sum(1)  # 0 log 0 = 0
    return math.exp(float(kl.mean()))


def classifier_score(probs, n_splits: int = 1) -> SubsetEstimate:
    """exp(E_x KL(p(y|x) || p(y))), Inception-score style; mean/std over n_splits splits (Salimans et al. 2016)."""
    p = _probs(probs)
    if not 1 <= n_splits <= p.shape[0]:
        raise ValueError(f"n_splits must lie in [1, {p.shape[0]}] (the number of samples), got {n_splits}")
    scores = torch.tensor([_score(c) for c in torch.tensor_split(p, n_splits)], dtype=torch.float64)
    return SubsetEstimate(float(scores.mean()), float(scores.std(correction=0)))


def classifier_score_entropy_form(probs) -> float:
    """exp(H(p(y)) - E_x H(p(y|x))), equal to the classifier score (Salimans et al. 2016; claim C15)."""
    p = _probs(probs)
    p_y = p.mean(0)
    h_marginal, h_conditional = -torch.xlogy(p_y, p_y).sum(), -torch.xlogy(p, p).sum(1).mean()
    return math.exp(float(h_marginal - h_conditional))


# ------------------------------------------------------------------------------------ precision, recall
def _knn_radii(f: Tensor, k: int) -> Tensor:
    """Distance from each row to its k-th nearest other row (the row itself is neighbour 0)."""
    return support.nearest_neighbours(f, f, k=k + 1).distances[:, k]


def _inside(points: Tensor, centres: Tensor, radii: Tensor) -> Tensor:
    """For each point: is ||p - c_j|| <= r_j for some centre j (the union of k-NN balls)?"""
    rows = support._chunk_rows(centres.shape[0])
    hits = [
        (support.sq_dists(points[s : s + rows], centres) <= radii.square()[None, :]).any(1)
        for s in range(0, points.shape[0], rows)
    ]
    return torch.cat(hits)


def precision_recall(real_feats, fake_feats, k: int = 3) -> PrecisionRecall:
    """Precision = P_fake(in real k-NN balls), recall = P_real(in fake k-NN balls) (Kynkaanniemi et al. 2019)."""
    r, f = as_features(real_feats, "real_feats"), as_features(fake_feats, "fake_feats")
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"real_feats have {r.shape[1]} features but fake_feats have {f.shape[1]}")
    if not 1 <= k < min(r.shape[0], f.shape[0]):
        raise ValueError(f"k must lie in [1, {min(r.shape[0], f.shape[0]) - 1}] (fewer than each set), got {k}")
    f = f.to(r.device)
    precision = _inside(f, r, _knn_radii(r, k)).double().mean()
    recall = _inside(r, f, _knn_radii(f, k)).double().mean()
    return PrecisionRecall(float(precision), float(recall))


# ------------------------------------------------------------------------------------ registry, report
METRICS = {
    "frechet": frechet_distance,
    "frechet_to_reference": frechet_to_reference,
    "feature_stats": feature_stats,
    "kid": kid,
    "classifier_score": classifier_score,
    "classifier_score_entropy_form": classifier_score_entropy_form,
    "precision_recall": precision_recall,
    "nearest_neighbours": support.nearest_neighbours,
    "top_duplicate_pairs": support.top_duplicate_pairs,
    "stacked_mnist_modes": support.stacked_mnist_modes,
    "mixture_modes": support.mixture_modes,
    "duplicate_probability": support.duplicate_probability,
    "birthday_support": support.birthday_support_estimate,
    "mmd_test": twosample.mmd_permutation_test,
    "c2st": twosample.c2st,
}


def report(name: str, value, features: str, n: int, split: str, seed: int) -> dict:
    """{"metric", "value", "features", "n", "split", "seed"}: a reported number and what it measured, JSON-ready."""
    lookup(METRICS, name, "metric")
    if not isinstance(features, str) or not features:
        raise ValueError(f"features must name the feature extractor (a non-empty string), got {features!r}")
    if not isinstance(split, str) or not split:
        raise ValueError(f"split must name the data split (a non-empty string), got {split!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int (the number of samples measured), got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    if hasattr(value, "_asdict"):
        value = value._asdict()  # NamedTuple results keep their field names
    return jsonable({"metric": name, "value": value, "features": features, "n": n, "split": split, "seed": seed})
