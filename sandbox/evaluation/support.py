"""Support and memorisation: nearest neighbours, closest pairs, mode coverage and the birthday-paradox test.

Features are (n, d) torch tensors on any device, or numpy arrays; distances are Euclidean and computed in
float64 on the features' device, in row chunks so that n x n matrices never live in memory at once.
Randomness comes from an explicit torch.Generator; a missing one means a fresh generator seeded with 0.
"""

import math
from typing import Callable, NamedTuple, Optional, Sequence

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from torch import Tensor

CHUNK_ELEMENTS = 2**25  # about 256 MB of float64 per distance block


class Neighbours(NamedTuple):
    distances: Tensor  # (n_queries, k), ascending
    indices: Tensor  # (n_queries, k), rows of `reference`


class Pairs(NamedTuple):
    pairs: Tensor  # (k, 2) with i < j
    distances: Tensor  # (k,), ascending


class ModeCoverage(NamedTuple):
    modes: int  # modes with at least one sample
    kl: float  # KL(q || uniform) of the mode histogram q, nats


class KLBreakdown(NamedTuple):
    kl: float  # KL(q || uniform on 1000) of the joint mode histogram, nats
    marginal_kl: tuple  # KL(q_c || uniform on 10) of each channel's digit histogram, nats
    total_correlation: float  # KL(q || q_1 q_2 q_3) = kl - sum(marginal_kl), nats


class MixtureModes(NamedTuple):
    modes: int  # centres with at least `min_count` high-quality samples
    hq_percent: float  # 100 * fraction of samples within n_sigma * std of their nearest centre
    counts: Tensor  # (n_centres,) high-quality samples per centre


class DuplicateCurve(NamedTuple):
    sizes: np.ndarray  # batch sizes s
    probs: np.ndarray  # fraction of trials whose batch of s samples held a (near-)duplicate pair
    trials: int


def as_features(x, name: str, dim: int = 2) -> Tensor:
    """x as a float64 torch tensor of `dim` axes on its own device; ValueError on a wrong shape or non-finite."""
    t = torch.as_tensor(x)
    if t.dim() != dim:
        raise ValueError(f"{name} must have {dim} axes, got shape {tuple(t.shape)}")
    t = t.to(torch.float64)
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} holds non-finite values (nan or inf)")
    return t


def default_generator(generator: Optional[torch.Generator]) -> torch.Generator:
    """The caller's generator, or a fresh CPU generator seeded with 0 (same inputs, same numbers)."""
    return generator if generator is not None else torch.Generator().manual_seed(0)


def sq_dists(a: Tensor, b: Tensor) -> Tensor:
    """||a_i - b_j||^2 = ||a_i||^2 + ||b_j||^2 - 2 a_i.b_j, clipped at 0 (rounding can push it below)."""
    d2 = a.square().sum(1)[:, None] + b.square().sum(1)[None, :] - 2.0 * (a @ b.T)
    return d2.clamp_min_(0.0)


def _chunk_rows(n_cols: int) -> int:
    return max(1, CHUNK_ELEMENTS // max(1, n_cols))


def nearest_neighbours(queries, reference, k: int = 1) -> Neighbours:
    """The k nearest rows of `reference` to each query by ||q - r_j|| (memorisation check, Radford et al. 2016)."""
    q, r = as_features(queries, "queries"), as_features(reference, "reference")
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} features but reference has {r.shape[1]}")
    if not 1 <= k <= r.shape[0]:
        raise ValueError(f"k must lie in [1, {r.shape[0]}] (the reference size), got {k}")
    r = r.to(q.device)
    dist, idx = [], []
    for start in range(0, q.shape[0], _chunk_rows(r.shape[0])):
        qc = q[start : start + _chunk_rows(r.shape[0])]
        i = torch.topk(sq_dists(qc, r), k, dim=1, largest=False).indices
        # the matmul form loses digits for near-duplicates; recompute the k kept distances directly
        dist.append(torch.linalg.vector_norm(qc[:, None, :] - r[i], dim=2))
        idx.append(i)
    dist, idx = torch.cat(dist), torch.cat(idx)
    order = torch.argsort(dist, dim=1, stable=True)
    return Neighbours(torch.gather(dist, 1, order), torch.gather(idx, 1, order))


def top_duplicate_pairs(feats, k: int = 10) -> Pairs:
    """The k closest pairs (i < j) by ||f_i - f_j||, for a human to inspect (Arora, Risteski, Zhang 2018)."""
    f = as_features(feats, "feats")
    n = f.shape[0]
    if not 1 <= k <= n * (n - 1) // 2:
        raise ValueError(f"k must lie in [1, {n * (n - 1) // 2}] (the number of pairs of {n} rows), got {k}")
    best_d = f.new_empty(0)
    best_p = torch.empty(0, 2, dtype=torch.long, device=f.device)
    rows = _chunk_rows(n)
    for start in range(0, n, rows):
        d2 = sq_dists(f[start : start + rows], f)
        i = torch.arange(start, start + d2.shape[0], device=f.device)
        d2[i[:, None] >= torch.arange(n, device=f.device)[None, :]] = math.inf  # keep j > i only
        kk = min(k, d2.numel())
        val, flat = torch.topk(d2.flatten(), kk, largest=False)
        pairs = torch.stack([i[flat // n], flat % n], dim=1)
        keep = torch.isfinite(val)
        best_d, best_p = torch.cat([best_d, val[keep]]), torch.cat([best_p, pairs[keep]])
        order = torch.argsort(best_d, stable=True)[:k]
        best_d, best_p = best_d[order], best_p[order]
    exact = torch.linalg.vector_norm(f[best_p[:, 0]] - f[best_p[:, 1]], dim=1)
    order = torch.argsort(exact, stable=True)
    return Pairs(best_p[order], exact[order])


def stacked_mnist_modes(labels_pred, n_modes: int = 1000) -> ModeCoverage:
    """Modes hit and KL(q || uniform) = sum_m q_m log(q_m M) of the mode histogram q (Metz et al. 2017)."""
    y = torch.as_tensor(labels_pred)
    if y.dim() == 2 and y.shape[1] == 3 and n_modes == 1000:
        y = 100 * y[:, 0] + 10 * y[:, 1] + y[:, 2]  # three digit labels -> one of 1000 modes
    if y.dim() != 1 or y.numel() == 0 or y.dtype.is_floating_point:
        raise ValueError(
            f"labels_pred must be a non-empty integer vector of modes or (n, 3) digits, got "
            f"shape {tuple(y.shape)} and dtype {y.dtype}"
        )
    if int(y.min()) < 0 or int(y.max()) >= n_modes:
        raise ValueError(f"labels_pred must lie in [0, {n_modes}), got range [{int(y.min())}, {int(y.max())}]")
    q = torch.bincount(y.long().cpu(), minlength=n_modes).to(torch.float64) / y.numel()
    kl = torch.xlogy(q, q * n_modes).sum()
    return ModeCoverage(int((q > 0).sum()), float(kl))


def stacked_kl_breakdown(digits) -> KLBreakdown:
    """KL(q || U_1000) = sum_c KL(q_c || U_10) + TC(q), TC = KL(q || q_1 q_2 q_3), plug-in, nats (Watanabe 1960)."""
    d = torch.as_tensor(digits)
    if d.dim() != 2 or d.shape[1] != 3 or d.shape[0] == 0 or d.dtype.is_floating_point:
        raise ValueError(f"digits must be a non-empty (n, 3) integer tensor, got shape {tuple(d.shape)} and {d.dtype}")
    if int(d.min()) < 0 or int(d.max()) > 9:
        raise ValueError(f"digits must lie in [0, 9], got range [{int(d.min())}, {int(d.max())}]")
    d = d.long().cpu()
    kl = stacked_mnist_modes(d).kl
    # Each channel's skew (digits drawn too often or too rarely) is the marginal part; what is left is dependence
    # between channels (the same digit drawn in two channels, say), which a per-channel view cannot see.
    marginal = tuple(stacked_mnist_modes(d[:, c], n_modes=10).kl for c in range(3))
    return KLBreakdown(kl, marginal, kl - sum(marginal))


def mixture_modes(samples, centres, std: float, n_sigma: float = 3.0, min_count: int = 1) -> MixtureModes:
    """Modes with >= min_count samples within n_sigma std, % such samples, counts (Srivastava et al. 2017)."""
    x, c = as_features(samples, "samples"), as_features(centres, "centres")
    if x.shape[1] != c.shape[1]:
        raise ValueError(f"samples have {x.shape[1]} coordinates but centres have {c.shape[1]}")
    if not std > 0 or not n_sigma > 0:
        raise ValueError(f"std and n_sigma must be positive, got std={std}, n_sigma={n_sigma}")
    nn = nearest_neighbours(x, c.to(x.device), k=1)
    hq = nn.distances[:, 0] <= n_sigma * std
    counts = torch.bincount(nn.indices[hq, 0], minlength=c.shape[0])
    return MixtureModes(int((counts >= min_count).sum()), 100.0 * float(hq.double().mean()), counts)


def _has_duplicate(batch: Tensor, threshold: Optional[float]) -> Tensor:
    """(trials,) booleans: does each batch of shape (trials, s, ...) hold two equal or threshold-close rows?"""
    t, s = batch.shape[:2]
    flat = batch.reshape(t, s, -1)
    if threshold is None:
        # exact equality: give every distinct row an integer id, then sort ids per trial (O(s log s), no s^2)
        if flat.shape[2] == 1:
            ids = flat[:, :, 0]  # scalar samples are their own ids
        else:
            ids = torch.unique(flat.reshape(t * s, -1), dim=0, return_inverse=True)[1].reshape(t, s)
        ids = torch.sort(ids, dim=1).values
        return (ids[:, 1:] == ids[:, :-1]).any(dim=1)
    f = flat.to(torch.float64)
    out = torch.zeros(t, dtype=torch.bool, device=batch.device)
    for j in range(t):
        out[j] = top_duplicate_pairs(f[j], 1).distances[0] < threshold
    return out


def duplicate_probability(
    sample_fn: Callable[[int, torch.Generator], Tensor],
    sizes: Sequence[int],
    trials: int = 100,
    threshold: Optional[float] = None,
    generator: Optional[torch.Generator] = None,
) -> DuplicateCurve:
    """P(s samples hold a pair with ||x_i - x_j|| < threshold, or x_i == x_j) per s (Arora et al. 2018)."""
    sizes = np.asarray(sizes, dtype=np.int64)
    if sizes.ndim != 1 or sizes.size == 0 or int(sizes.min()) < 2:
        raise ValueError(f"sizes must be a non-empty list of batch sizes >= 2, got {sizes.tolist()}")
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    if threshold is not None and not threshold > 0:
        raise ValueError(f"threshold must be positive (or None for exact equality), got {threshold}")
    g = default_generator(generator)
    probs = []
    for s in sizes.tolist():
        # one call per size: sample_fn(n, generator) returns n samples, cut into `trials` batches of s
        x = torch.as_tensor(sample_fn(trials * s, g))
        if x.shape[0] != trials * s:
            raise ValueError(f"sample_fn({trials * s}, generator) returned {x.shape[0]} samples")
        probs.append(float(_has_duplicate(x.reshape(trials, s, *x.shape[1:]), threshold).double().mean()))
    return DuplicateCurve(sizes, np.asarray(probs), trials)


def birthday_support_estimate(sizes: Sequence[int], probs: Sequence[float], method: str = "fit") -> float:
    """N in P(dup | s) = 1 - exp(-s(s-1)/2N), by likelihood ("fit") or s^2 at P >= 1/2 ("half") (Arora et al. 2018)."""
    # "fit" is the default: it uses every point of the curve, so it needs no size to land near P = 1/2. The
    # paper's "half" rule N = s^2 reads one grid point; under the model P(s) = 1/2 at s(s-1) = 2 N log 2, so the
    # rule overestimates N by about 1/(2 log 2) = 1.44, times the grid's coarseness.
    s, p = np.asarray(sizes, dtype=np.float64), np.asarray(probs, dtype=np.float64)
    if s.shape != p.shape or s.ndim != 1 or s.size == 0:
        raise ValueError(f"sizes and probs must be equal-length non-empty vectors, got {s.shape} and {p.shape}")
    if (p < 0).any() or (p > 1).any() or (s < 2).any():
        raise ValueError("probs must lie in [0, 1] and sizes must be >= 2")
    if method == "half":
        hit = np.nonzero(p >= 0.5)[0]
        if hit.size == 0:
            raise ValueError(
                f"no size reached P(dup) >= 1/2 (max {p.max():.3f}); the support exceeds about "
                f"{int(s.max()) ** 2}; rerun with larger sizes"
            )
        return float(s[hit[0]] ** 2)
    if method != "fit":
        raise ValueError(f"unknown method {method!r}; valid names: fit, half")
    if (p == 0).all():
        raise ValueError(
            f"no duplicates at any size: the support exceeds about {int(s.max()) ** 2}; rerun with larger sizes"
        )
    if (p == 1).all():
        raise ValueError(
            f"duplicates at every size: the support is below about {int(s.min()) ** 2}; rerun with smaller sizes"
        )
    pairs = s * (s - 1) / 2.0

    def nll(log_n: float) -> float:
        # Cross-entropy of the observed curve under the model: the binomial likelihood with equal trials per
        # size. Unlike least squares on -log(1 - P), it uses the P = 0 and P = 1 points and never takes log 0.
        rate = pairs * math.exp(-log_n)
        return float(-(p * np.log(-np.expm1(-rate)) - (1.0 - p) * rate).sum())

    # the log-likelihood is concave in 1/N, hence unimodal in log N, so a bounded Brent search finds its maximum
    lo, hi = math.log(pairs.min()) - 10.0, math.log(pairs.max()) + 10.0
    return float(math.exp(minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-6}).x))
