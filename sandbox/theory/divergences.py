"""Divergences, IPMs and the GAN value on discrete distributions, in nats (claims C1-C4, C16, C20).

Every function takes numpy arrays (or lists) or torch tensors; the last axis is the support and leading axes are
a batch where that is natural. numpy input is computed in float64 and comes back as a Python float (a float64
array when a batch is left); torch input comes back as a tensor on its own device, differentiable where the
quantity is. Conventions: 0 log 0 = 0, p log(p/0) = inf, and a zero weight times an infinite term is 0.
"""

import functools
import math

import numpy as np
import scipy.optimize
import scipy.sparse
import torch
from torch import Tensor

from sandbox.fdivs import F_FUNCTIONS
from sandbox.objectives import OBJECTIVES
from sandbox.registry import lookup

SUM_TOL = 1e-6  # sums of probability vectors must be 1 within this, relative to the sum


# ---------------------------------------------------------------- conversion and validation


def _tensors(*xs):
    """Inputs (None passes through) as tensors of one float dtype and device; True when no tensor was given."""
    given = [x for x in xs if isinstance(x, Tensor)]
    floats = [x.dtype for x in given if x.is_floating_point()]
    dtype = functools.reduce(torch.promote_types, floats) if floats else torch.float64
    device = given[0].device if given else None
    convert = lambda x: torch.as_tensor(
        x if isinstance(x, Tensor) else np.asarray(x, dtype=np.float64), dtype=dtype, device=device
    )
    return [None if x is None else convert(x) for x in xs], not given


def _out(x, numpy_out: bool):
    """A tensor back in the caller's type: float / float64 array for numpy callers, the tensor itself otherwise."""
    if not numpy_out:
        return x
    a = x.detach().cpu().numpy()
    return float(a) if a.ndim == 0 else a


def _index(flat: int, shape) -> str:
    idx = np.unravel_index(flat, shape)
    return str(int(idx[0])) if len(shape) == 1 else str(tuple(int(i) for i in idx))


def _check_entries(x: Tensor, name: str) -> None:
    """No NaN and no negative entry, the rules for any weight vector."""
    if x.ndim == 0:
        raise ValueError(f"{name} must have at least one axis (the support), got a scalar")
    if x.shape[-1] == 0:
        raise ValueError(f"{name} is empty")
    xd = x.detach()
    if torch.isnan(xd).any():
        raise ValueError(f"{name} contains NaN")
    negative = (xd < 0).flatten().nonzero()
    if len(negative):
        flat = int(negative[0])
        raise ValueError(
            f"{name} has a negative entry ({float(xd.flatten()[flat]):g} at index {_index(flat, x.shape)})"
        )


def _check_sum(x: Tensor, name: str, tol: float) -> None:
    s = x.detach().to(torch.float64).sum(-1)
    bad = (s - 1.0).abs() > tol * s.clamp(min=1.0)
    if bad.any():
        flat = int(bad.flatten().nonzero()[0])
        where = f" (batch index {_index(flat, s.shape)})" if s.ndim else ""
        raise ValueError(f"{name} sums to {float(s.flatten()[flat]):.10g}{where}, not 1 (tolerance {tol:g})")


def _check_lengths(a: Tensor, b: Tensor, name_a: str, name_b: str) -> None:
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"length mismatch: {name_a} has {a.shape[-1]} entries, {name_b} has {b.shape[-1]}")
    try:
        torch.broadcast_shapes(a.shape, b.shape)
    except RuntimeError:
        raise ValueError(
            f"shape mismatch: {name_a} has shape {tuple(a.shape)}, {name_b} has shape "
            f"{tuple(b.shape)} (leading axes must broadcast)"
        ) from None


def _check_distributions(p: Tensor, q: Tensor = None, tol: float = SUM_TOL, sums_to_one: bool = True) -> None:
    """Raise ValueError naming the problem: NaN, a negative entry, a length mismatch, or a sum != 1 within tol."""
    _check_entries(p, "p")
    if q is not None:
        _check_entries(q, "q")
        _check_lengths(p, q, "p", "q")
    if sums_to_one:
        for x, name in ((p, "p"), (q, "q")):
            if x is not None:
                _check_sum(x, name, tol)


def _pair(p, q, sums_to_one: bool = True):
    (p, q), numpy_out = _tensors(p, q)
    _check_distributions(p, q, sums_to_one=sums_to_one)
    return p, q, numpy_out


def _masked(mask: Tensor, weight: Tensor, c: float) -> Tensor:
    """sum-ready c * weight where mask, 0 elsewhere; an infinite c never meets a zero weight (no nan, no nan grad)."""
    if math.isinf(c):
        return torch.where(mask, torch.full_like(weight, c), torch.zeros_like(weight))
    return torch.where(mask, weight, torch.zeros_like(weight)) * c


def _kl_terms(p: Tensor, q: Tensor) -> Tensor:
    """p log(p/q) element-wise with 0 log(0/q) = 0 and p log(p/0) = inf; safe values keep gradients finite."""
    pos = p > 0
    p_safe = torch.where(pos, p, torch.ones_like(p))
    q_safe = torch.where(pos, q, torch.ones_like(q))
    return torch.where(pos, p_safe * (torch.log(p_safe) - torch.log(q_safe)), torch.zeros_like(p))


# ---------------------------------------------------------------- divergences


def entropy(p):
    """H(p) = -sum p log p with 0 log 0 = 0 (Shannon 1948; Cover & Thomas, eq. 2.1), nats."""
    (p,), numpy_out = _tensors(p)
    _check_distributions(p)
    return _out(-_kl_terms(p, torch.ones_like(p)).sum(-1), numpy_out)


def kl(p, q):
    """KL(p || q) = sum p log(p/q); inf where q = 0 < p (Kullback & Leibler 1951; Cover & Thomas, eq. 2.26)."""
    p, q, numpy_out = _pair(p, q)
    return _out(_kl_terms(p, q).sum(-1), numpy_out)


def _lambda_div(p: Tensor, q: Tensor, lam: float) -> Tensor:
    m = lam * p + (1.0 - lam) * q  # m > 0 wherever p > 0 or q > 0, so both KLs are finite
    return lam * _kl_terms(p, m).sum(-1) + (1.0 - lam) * _kl_terms(q, m).sum(-1)


def jsd(p, q):
    """JSD(p, q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q)/2; in [0, log 2] (Lin 1991; Goodfellow et al. 2014)."""
    p, q, numpy_out = _pair(p, q)
    return _out(_lambda_div(p, q, 0.5), numpy_out)


def lambda_divergence(p, q, lam: float):
    """lam KL(p||m) + (1 - lam) KL(q||m), m = lam p + (1 - lam) q; in [0, H(lam)]; 1/2 gives JSD (Chintala lecture)."""
    lam = float(lam)
    if not 0.0 < lam < 1.0:
        raise ValueError(f"lam must lie strictly between 0 and 1, got {lam:g}")
    p, q, numpy_out = _pair(p, q)
    return _out(_lambda_div(p, q, lam), numpy_out)


def tv(p, q):
    """TV(p, q) = 1/2 sum |p - q| (total variation; Risteski lecture)."""
    p, q, numpy_out = _pair(p, q)
    return _out(0.5 * (p - q).abs().sum(-1), numpy_out)


def hellinger(p, q):
    """Hellinger distance sqrt(1/2 sum (sqrt p - sqrt q)^2) in [0, 1]; 'squared_hellinger' D_f = 2 hellinger^2."""
    p, q, numpy_out = _pair(p, q)
    return _out(torch.sqrt(0.5 * ((p.sqrt() - q.sqrt()) ** 2).sum(-1)), numpy_out)


def chi2(p, q):
    """Pearson chi^2(p || q) = sum (p - q)^2 / q; inf where q = 0 < p (Pearson 1900; Nowozin et al. 2016, Table 1)."""
    p, q, numpy_out = _pair(p, q)
    pos = q > 0
    q_safe = torch.where(pos, q, torch.ones_like(q))
    terms = torch.where(pos, (p - q) ** 2 / q_safe, torch.zeros_like(q)) + _masked(~pos & (p > 0), p, math.inf)
    return _out(terms.sum(-1), numpy_out)


def f_divergence(p, q, name: str):
    """D_f(p || q) = sum q f(p/q), p slope_inf where q = 0, q f(0) where p = 0 (Csiszar 1967; Nowozin et al. 2016)."""
    ffun = lookup(F_FUNCTIONS, name, "f-divergence")
    p, q, numpy_out = _pair(p, q)
    both = (p > 0) & (q > 0)
    ratio = torch.where(both, p / torch.where(both, q, torch.ones_like(q)), torch.ones_like(p))
    terms = (
        torch.where(both, q * ffun.f(ratio), torch.zeros_like(q))
        + _masked((p > 0) & (q == 0), p, ffun.slope_inf)
        + _masked((p == 0) & (q > 0), q, ffun.f_at_0)
    )
    return _out(terms.sum(-1), numpy_out)


# ---------------------------------------------------------------- GAN value and optimal discriminator (C1, C2, C16)


def optimal_discriminator(p_data, p_g):
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)), 1/2 where both vanish (Goodfellow et al. 2014, Prop. 1).

    Point-wise, so p_data and p_g may be densities at sample points: no sum-to-one check here.
    """
    p, q, numpy_out = _pair(p_data, p_g, sums_to_one=False)
    total = p + q
    # where both densities vanish D* is unconstrained; 1/2 is the logit-0 choice and keeps optimal_logit consistent
    d = torch.where(total > 0, p / torch.where(total > 0, total, torch.ones_like(total)), torch.full_like(p, 0.5))
    return _out(d, numpy_out)


def optimal_logit(p_data, p_g):
    """logit D*(x) = log p_data(x) - log p_g(x); +-inf on one-sided support, 0 off both (Goodfellow et al. 2014)."""
    p, q, numpy_out = _pair(p_data, p_g, sums_to_one=False)
    both_zero = (p == 0) & (q == 0)
    return _out(torch.where(both_zero, torch.zeros_like(p), torch.log(p) - torch.log(q)), numpy_out)


def gan_value(p_data, p_g, d):
    """V(G, D) = sum p log d + sum q log(1 - d) via the minimax terms at t = logit d (Goodfellow et al. 2014, eq. 1)."""
    (p, q, d), numpy_out = _tensors(p_data, p_g, d)
    _check_distributions(p, q)
    _check_lengths(p, d, "p", "d")
    if torch.isnan(d.detach()).any():
        raise ValueError("d contains NaN")
    outside = ((d.detach() < 0) | (d.detach() > 1)).flatten().nonzero()
    if len(outside):
        flat = int(outside[0])
        raise ValueError(
            f"d must be a probability; entry {float(d.detach().flatten()[flat]):g} at index "
            f"{_index(flat, d.shape)} lies outside [0, 1]"
        )
    return _out(_value_at_logits(p, q, torch.logit(d)), numpy_out)


def gan_value_at_logit(p_data, p_g, t):
    """V(G, D) for D = sigmoid(t) from D's logits: -sum p d_real(t) - sum q d_fake(t) (Goodfellow et al. 2014, eq. 1).

    Exact where the probability form rounds: at t = optimal_logit(p, q) = log p - log q it stays finite even where
    D* would round to exactly 0 or 1.
    """
    (p, q, t), numpy_out = _tensors(p_data, p_g, t)
    _check_distributions(p, q)
    _check_lengths(p, t, "p", "t")
    if torch.isnan(t.detach()).any():
        raise ValueError("t contains NaN")
    return _out(_value_at_logits(p, q, t), numpy_out)


def _value_at_logits(p, q, t):
    """The minimax value through the objective terms; a zero weight never meets the infinite logit it allows."""
    obj = OBJECTIVES["minimax"]
    zero = torch.zeros_like(t)
    t_real = torch.where(p > 0, t, zero)  # t = -inf is only allowed where p = 0
    t_fake = torch.where(q > 0, t, zero)  # t = +inf only where q = 0
    return -(p * obj.d_real(t_real)).sum(-1) - (q * obj.d_fake(t_fake)).sum(-1)


def log_mixture(log_p, log_q, w: float):
    """log(w p + (1 - w) q) = logsumexp(log w + log p, log(1 - w) + log q) >= log p + log w (Isachenko lecture)."""
    w = float(w)
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"mixture weight w must lie in [0, 1], got {w:g}")
    (log_p, log_q), numpy_out = _tensors(log_p, log_q)
    for x, name in ((log_p, "log_p"), (log_q, "log_q")):
        if torch.isnan(x.detach()).any():
            raise ValueError(f"{name} contains NaN")
    log_p, log_q = torch.broadcast_tensors(log_p, log_q)
    log_w = math.log(w) if w > 0 else -math.inf
    log_1mw = math.log1p(-w) if w < 1 else -math.inf
    return _out(torch.logsumexp(torch.stack([log_p + log_w, log_q + log_1mw]), dim=0), numpy_out)


# ---------------------------------------------------------------- Wasserstein-1 and IPMs (C4)


def _weights(values: Tensor, weights, name: str) -> Tensor:
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"{name}_values must be a non-empty 1-D array, got shape {tuple(values.shape)}")
    if torch.isnan(values.detach()).any():
        raise ValueError(f"{name}_values contains NaN")
    if weights is None:
        return torch.full_like(values, 1.0 / len(values))
    _check_entries(weights, f"{name}_weights")
    _check_lengths(values, weights, f"{name}_values", f"{name}_weights")
    total = weights.sum()
    if not total > 0:
        raise ValueError(f"{name}_weights sum to 0; they need positive mass")
    return weights / total  # scipy.stats.wasserstein_distance also normalises the weights


def w1(u_values, v_values, u_weights=None, v_weights=None):
    """W1(u, v) = integral |CDF_u(x) - CDF_v(x)| dx for weighted 1-D samples (Villani 2009, Rmk. 2.19)."""
    (u, v, u_w, v_w), numpy_out = _tensors(u_values, v_values, u_weights, v_weights)
    u_w, v_w = _weights(u, u_w, "u"), _weights(v, v_w, "v")
    x, order = torch.sort(torch.cat([u, v]))
    # pooled CDFs: mass of u (and of v) at or left of each sorted point; ties cost nothing since their gap is 0
    cdf_u = torch.cumsum(torch.cat([u_w, torch.zeros_like(v_w)])[order], 0)
    cdf_v = torch.cumsum(torch.cat([torch.zeros_like(u_w), v_w])[order], 0)
    return _out(((cdf_u - cdf_v)[:-1].abs() * torch.diff(x)).sum(), numpy_out)


def distance_matrix(points):
    """C_ij = ||x_i - x_j||_2 for points of shape (n,) or (n, d); a metric cost for the transport LPs."""
    (x,), numpy_out = _tensors(points)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"points must have shape (n,) or (n, d), got {tuple(x.shape)}")
    return _out(torch.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)), numpy_out)


def _lp_inputs(p, q, cost):
    (p, q, c), numpy_out = _tensors(p, q, cost)
    _check_distributions(p, q)
    n = p.shape[-1]
    if p.ndim != 1 or q.ndim != 1:
        raise ValueError(f"the transport LPs take 1-D p and q, got shapes {tuple(p.shape)} and {tuple(q.shape)}")
    if c.shape != (n, n):
        raise ValueError(f"cost must have shape ({n}, {n}) to match p, got {tuple(c.shape)}")
    c = c.detach().cpu().numpy().astype(np.float64)
    scale = max(float(np.abs(c).max()), 1.0) * 1e-9
    if not np.isfinite(c).all() or (c < 0).any():
        raise ValueError("cost must be finite and non-negative")
    if np.abs(c - c.T).max() > scale or np.abs(np.diag(c)).max() > scale:
        raise ValueError("cost must be a metric: symmetric with a zero diagonal")
    # KR duality needs the triangle inequality; without it the dual LP solves OT for the shortest-path metric instead
    if (c[:, None, :] > c[:, :, None] + c[None, :, :] + scale).any():
        raise ValueError("cost violates the triangle inequality, so it is not a metric")
    to_np = lambda x: x.detach().cpu().numpy().astype(np.float64)
    back = lambda a: _out(torch.as_tensor(a, dtype=p.dtype, device=p.device), numpy_out)
    return to_np(p), to_np(q), c, back


def _solve(**lp) -> scipy.optimize.OptimizeResult:
    res = scipy.optimize.linprog(method="highs", **lp)
    if res.status != 0:
        raise RuntimeError(f"linprog (HiGHS) failed: {res.message}")
    return res


def w1_primal_lp(p, q, cost):
    """(min <pi, C> s.t. pi 1 = p, pi^T 1 = q, pi >= 0; the plan pi): optimal transport (Kantorovich 1942)."""
    p, q, c, back = _lp_inputs(p, q, cost)
    n = len(p)
    cols = np.arange(n * n)  # pi_ij sits at column i * n + j
    rows = np.concatenate([cols // n, n + cols % n])
    a_eq = scipy.sparse.csr_matrix((np.ones(2 * n * n), (rows, np.concatenate([cols, cols]))), shape=(2 * n, n * n))
    res = _solve(c=c.ravel(), A_eq=a_eq, b_eq=np.concatenate([p, q]), bounds=(0, None))
    return back(res.fun), back(res.x.reshape(n, n))


def w1_dual_lp(p, q, cost):
    """(max sum f (p - q) s.t. f_i - f_j <= C_ij; witness f): Kantorovich-Rubinstein (Arjovsky et al. 2017, eq. 3)."""
    p, q, c, back = _lp_inputs(p, q, cost)
    n = len(p)
    i, j = np.nonzero(~np.eye(n, dtype=bool))
    rows = np.arange(len(i))
    a_ub = scipy.sparse.csr_matrix(
        (np.concatenate([np.ones(len(i)), -np.ones(len(i))]), (np.concatenate([rows, rows]), np.concatenate([i, j]))),
        shape=(len(i), n),
    )
    # the value ignores a constant shift of f (sum p - q = 0), so pin f_0 = 0 for a unique-up-to-ties witness
    bounds = [(0.0, 0.0)] + [(None, None)] * (n - 1)
    res = _solve(c=-(p - q), A_ub=a_ub, b_ub=c[i, j], bounds=bounds)
    return back(-res.fun), back(res.x)


def ipm_bounded(p, q):
    """(sup_{|f| <= 1} sum f (p - q) = sum |p - q| = 2 TV, the witness sign(p - q)) (Risteski lecture; Muller 1997)."""
    p, q, numpy_out = _pair(p, q)
    witness = torch.sign(p - q)
    return _out((witness * (p - q)).sum(-1), numpy_out), _out(witness, numpy_out)


# ---------------------------------------------------------------- MMD


def _sq_dists(a: Tensor, b: Tensor) -> Tensor:
    return ((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T).clamp(min=0.0)


KERNELS = {
    "gaussian": lambda a, b, bandwidth, degree, c: torch.exp(-_sq_dists(a, b) / (2.0 * bandwidth**2)),
    "polynomial": lambda a, b, bandwidth, degree, c: (a @ b.T / a.shape[1] + c) ** degree,
}


def _samples(x: Tensor, name: str) -> Tensor:
    x = x[:, None] if x.ndim == 1 else x
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"{name} must have shape (n,) or (n, d) with n >= 2, got {tuple(x.shape)}")
    if torch.isnan(x.detach()).any():
        raise ValueError(f"{name} contains NaN")
    return x


def mmd2(x, y, kernel: str = "gaussian", bandwidth: float = 1.0, degree: int = 2, c: float = 1.0):
    """MMD^2_u = mean_{i!=j} k(x_i,x_j) + mean_{i!=j} k(y_i,y_j) - 2 mean k(x_i,y_j) (Gretton et al. 2012, eq. 3)."""
    k = lookup(KERNELS, kernel, "kernel")
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be positive, got {bandwidth}")
    if int(degree) != degree or degree < 1:
        raise ValueError(f"degree must be a positive integer, got {degree}")
    (x, y), numpy_out = _tensors(x, y)
    x, y = _samples(x, "x"), _samples(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"dimension mismatch: x has {x.shape[1]} features, y has {y.shape[1]}")
    n, m = x.shape[0], y.shape[0]
    kxx, kyy, kxy = (k(a, b, bandwidth, int(degree), c) for a, b in ((x, x), (y, y), (x, y)))
    # dropping the diagonal (i = j) is what makes the estimate unbiased, and lets it go negative
    xx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    yy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return _out(xx + yy - 2.0 * kxy.mean(), numpy_out)
