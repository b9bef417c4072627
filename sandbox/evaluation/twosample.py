"""Two-sample tests (claim C17): the MMD permutation test and the classifier two-sample test (C2ST).

A GAN discriminator is a learned two-sample statistic; these are its calibrated counterparts. Both return
(statistic, p_value). Samples are (n, d) torch tensors (any device) or numpy arrays, used in float64.
Randomness comes from an explicit torch.Generator; a missing one means a fresh generator seeded with 0.
"""

import math
from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F
from scipy.stats import binom
from torch import Tensor

from sandbox.evaluation.support import as_features, default_generator, sq_dists


class TwoSampleResult(NamedTuple):
    statistic: float  # MMD^2_u, or the held-out accuracy of the C2ST
    p_value: float


def _pair(x, y) -> tuple:
    x, y = as_features(x, "x"), as_features(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x has {x.shape[1]} features but y has {y.shape[1]}")
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise ValueError(f"each sample needs at least 2 points, got {x.shape[0]} and {y.shape[0]}")
    return x, y.to(x.device)


def median_bandwidth(z: Tensor) -> float:
    """h = median_{i<j} ||z_i - z_j||, the median heuristic (Gretton et al. 2012)."""
    i, j = torch.triu_indices(z.shape[0], z.shape[0], offset=1, device=z.device)
    h = float(sq_dists(z, z)[i, j].sqrt().median())
    if h <= 0:
        raise ValueError("the median pairwise distance is 0 (most points coincide); pass a bandwidth")
    return h


def _mmd2_from_kernel(k: Tensor, a: Tensor) -> Tensor:
    """Unbiased MMD^2 for each 0/1 membership row a of shape (P, N) (1 = first sample), from the pooled kernel k."""
    b = 1.0 - a
    n, m = a.sum(1), b.sum(1)
    diag = torch.diagonal(k)
    ka = a @ k
    xx = (ka * a).sum(1) - a @ diag  # sum over i != j in x
    yy = ((b @ k) * b).sum(1) - b @ diag
    xy = (ka * b).sum(1)
    return xx / (n * (n - 1)) + yy / (m * (m - 1)) - 2.0 * xy / (n * m)


def mmd_permutation_test(
    x, y, n_permutations: int = 200, bandwidth: Optional[float] = None, generator: Optional[torch.Generator] = None
) -> TwoSampleResult:
    """Unbiased MMD^2, k = exp(-||a-b||^2/2h^2); p = (1 + #{perm >= observed})/(1 + n_perm) (Gretton et al. 2012)."""
    x, y = _pair(x, y)
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    z = torch.cat([x, y])
    # the bandwidth comes from the pooled sample, so it is the same under every relabelling (valid permutation test)
    h = median_bandwidth(z) if bandwidth is None else float(bandwidth)
    if not h > 0:
        raise ValueError(f"bandwidth must be positive, got {bandwidth}")
    k = torch.exp(-sq_dists(z, z) / (2.0 * h * h))
    g = default_generator(generator)
    n_total, n = z.shape[0], x.shape[0]
    perms = torch.stack([torch.randperm(n_total, generator=g, device=g.device) for _ in range(n_permutations)])
    a = torch.zeros(n_permutations + 1, n_total, dtype=torch.float64)
    a[0, :n] = 1.0
    a[1:].scatter_(1, perms[:, :n].cpu(), 1.0)
    stats = _mmd2_from_kernel(k, a.to(z.device))
    p = (1 + int((stats[1:] >= stats[0]).sum())) / (1 + n_permutations)
    return TwoSampleResult(float(stats[0]), p)


def _init_params(d: int, hidden: int, g: torch.Generator, device) -> list:
    """Logistic regression (hidden = 0) or one ReLU hidden layer, He-style initialised from g."""
    if hidden == 0:
        return [
            torch.zeros(d, 1, dtype=torch.float64, device=device),
            torch.zeros(1, dtype=torch.float64, device=device),
        ]
    w1 = torch.randn(d, hidden, generator=g, dtype=torch.float64, device=g.device) * math.sqrt(2.0 / d)
    w2 = torch.randn(hidden, 1, generator=g, dtype=torch.float64, device=g.device) * math.sqrt(1.0 / hidden)
    zeros = lambda n: torch.zeros(n, dtype=torch.float64, device=device)  # noqa: E731
    return [w1.to(device), zeros(hidden), w2.to(device), zeros(1)]


def _logits(params: list, z: Tensor) -> Tensor:
    if len(params) == 2:
        return (z @ params[0] + params[1])[:, 0]
    w1, b1, w2, b2 = params
    return (torch.relu(z @ w1 + b1) @ w2 + b2)[:, 0]


def _newton_logistic(params: list, z: Tensor, label: Tensor, steps: int, weight_decay: float) -> None:
    """L2-regularised logistic regression by Newton's method (convex, so it converges in a few steps), in place."""
    za = torch.cat([z, torch.ones_like(z[:, :1])], dim=1)
    za_t = za.T.contiguous()
    theta = torch.zeros(za.shape[1], dtype=z.dtype, device=z.device)
    ridge = torch.full_like(theta, weight_decay * z.shape[0])
    ridge[-1] = 0.0  # the bias is not penalised, as in the gradient-based branch
    for _ in range(steps):
        p = torch.sigmoid(za @ theta)
        grad = za_t @ (p - label) + ridge * theta
        # contiguous operands: the strided (d, n) @ (n, d) product ran 100x slower on a busy 2-core machine
        weighted = (za * (p * (1 - p))[:, None]).T.contiguous()
        hess = weighted @ za + torch.diag(ridge) + 1e-10 * torch.eye(za.shape[1], dtype=z.dtype, device=z.device)
        step = torch.linalg.solve(hess, grad)
        theta = theta - step
        if float(step.abs().max()) < 1e-10:
            break
    params[0].copy_(theta[:-1, None])
    params[1].copy_(theta[-1:])


def _lbfgs(params: list, z: Tensor, label: Tensor, steps: int, weight_decay: float) -> None:
    """Fit the MLP by full-batch L-BFGS on BCE + weight_decay/2 ||W||^2, in place."""
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.LBFGS(params, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(_logits(params, z), label)
        loss = loss + 0.5 * weight_decay * sum(p.square().sum() for p in params[::2])
        loss.backward()
        return loss

    opt.step(closure)


def c2st(
    x, y, generator: Optional[torch.Generator] = None, hidden: int = 0, steps: int = 100, weight_decay: float = 1e-3
) -> TwoSampleResult:
    """Held-out accuracy of an x-vs-y classifier; p = P(Binomial(n_test, 1/2) >= correct) (Lopez-Paz & Oquab 2017)."""
    x, y = _pair(x, y)
    if x.shape[0] != y.shape[0]:
        # with unequal classes a constant classifier beats 1/2 and the binomial null no longer holds
        raise ValueError(f"c2st needs equal sample sizes, got {x.shape[0]} and {y.shape[0]}; subsample the larger")
    if hidden < 0 or steps < 1 or weight_decay < 0:
        raise ValueError(f"need hidden >= 0, steps >= 1 and weight_decay >= 0, got {hidden}, {steps}, {weight_decay}")
    g = default_generator(generator)
    n = x.shape[0]
    px = torch.randperm(n, generator=g, device=g.device).to(x.device)
    py = torch.randperm(n, generator=g, device=g.device).to(x.device)
    half = n // 2
    # stratified halves: the test half holds as many x as y, so always guessing one class scores exactly 1/2
    z_train = torch.cat([x[px[:half]], y[py[:half]]])
    z_test = torch.cat([x[px[half:]], y[py[half:]]])
    l_train = torch.cat([torch.ones(half), torch.zeros(half)]).to(z_train)
    l_test = torch.cat([torch.ones(n - half), torch.zeros(n - half)]).to(z_test)
    centre, scale = z_train.mean(0), z_train.std(0).clamp_min(1e-12)
    z_train, z_test = (z_train - centre) / scale, (z_test - centre) / scale
    params = _init_params(x.shape[1], hidden, g, x.device)
    if hidden == 0:
        _newton_logistic(params, z_train, l_train, steps, weight_decay)
    else:
        _lbfgs(params, z_train, l_train, steps, weight_decay)
    with torch.no_grad():
        correct = int(((_logits(params, z_test) > 0).to(l_test.dtype) == l_test).sum())
    n_test = z_test.shape[0]
    return TwoSampleResult(correct / n_test, float(binom.sf(correct - 1, n_test, 0.5)))
