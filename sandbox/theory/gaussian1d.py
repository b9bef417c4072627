"""1-D Gaussian location/scale games with exact landscapes (claims C1, C2, C5, C6).

Continuous divergences are computed by quadrature *through the library's discrete divergences*: on a fixed
fine grid a density becomes p_i = pdf(x_i) w_i / sum_j pdf(x_j) w_j and `sandbox.theory.divergences` does the rest.
For smooth, fast-decaying densities the trapezoid rule is exact to rounding once the spacing is below half the
smallest standard deviation (its error falls like exp(-2 pi^2 sigma^2 / dx^2)), so truncation sets the
accuracy: on the default grid [-20, 20] (spacing 0.025) KL agrees with its closed form to 1e-7 nats for means
in [-4, 4] and standard deviations in [0.7, 2.5] (3e-5 at standard deviation 3, whose tails reach the grid's
ends), and W1 to 2e-4 for standard deviations in [0.2, 3] (its discrete CDF costs O(dx^2 / sigma)). Narrower
densities work too, but where one density underflows (below about e^-745) while the other has mass, KL is inf,
as the library's convention p log(p/0) = inf says.
The game (Risteski and Chintala lectures; Goodfellow et al. 2014; Arjovsky et al. 2017): G(z) = mu + sigma z
with parameters (mu, log sigma) per game; D's logit is linear in features, t(x) = psi . phi(x). `quadratic`,
phi = (x^2, x, 1), holds the optimal logit between two Gaussians exactly; `slopes`, phi_k(x) = clamp(x - kappa_k,
0, h), is piecewise linear with slope psi_k on the k-th cell, so clipping psi to [-1, 1] is exactly the
1-Lipschitz class (Kantorovich-Rubinstein) on the knot range. Expectations are exact sums (Gauss-Hermite nodes
or the grid), so every registered objective, penalty and update rule applies unchanged.
"""

import math
from typing import Callable, NamedTuple, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from sandbox.dynamics import Game
from sandbox.games import gauss_hermite
from sandbox.objectives import Objective, minimax
from sandbox.penalties import Penalty, no_penalty
from sandbox.registry import lookup
from sandbox.theory import divergences as dv

LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


class Mixture(NamedTuple):
    weights: Sequence[float]  # w_k >= 0, summing to 1
    means: Sequence[float]  # m_k
    stds: Sequence[float]  # s_k > 0


class Grid(NamedTuple):
    x: Tensor  # (n,) points
    w: Tensor  # (n,) trapezoid weights, summing to hi - lo


def _f64(x) -> Tensor:
    return x if isinstance(x, Tensor) and x.dtype == torch.float64 else torch.as_tensor(x, dtype=torch.float64)


def _positive(x: Tensor, name: str) -> None:
    if not (x.detach() > 0).all():
        raise ValueError(f"{name} must be positive, got {x.detach().min().item():g}")


def normal_logpdf(x, mu=0.0, sigma=1.0) -> Tensor:
    """log N(x; mu, sigma^2) = -(x - mu)^2 / (2 sigma^2) - log sigma - log sqrt(2 pi), broadcasting (Gauss)."""
    x, mu, sigma = _f64(x), _f64(mu), _f64(sigma)
    _positive(sigma, "sigma")
    return -0.5 * ((x - mu) / sigma) ** 2 - torch.log(sigma) - LOG_SQRT_2PI


def normal_pdf(x, mu=0.0, sigma=1.0) -> Tensor:
    """N(x; mu, sigma^2) = exp(-(x - mu)^2 / (2 sigma^2)) / (sigma sqrt(2 pi)), broadcasting, float64."""
    return torch.exp(normal_logpdf(x, mu, sigma))


def _check_mixture(weights, means, stds) -> tuple:
    w, m, s = _f64(weights).reshape(-1), _f64(means).reshape(-1), _f64(stds).reshape(-1)
    if not len(w) == len(m) == len(s) > 0:
        raise ValueError(
            f"mixture needs equal, non-zero numbers of weights, means and stds; got {len(w)}, {len(m)}, {len(s)}"
        )
    if (w < 0).any() or abs(float(w.sum()) - 1.0) > 1e-9:
        raise ValueError(f"mixture weights must be non-negative and sum to 1, got {w.tolist()}")
    _positive(s, "mixture stds")
    return w, m, s


def mixture_pdf(x, weights, means, stds) -> Tensor:
    """sum_k w_k N(x; m_k, s_k^2), evaluated element-wise on x of any shape (float64)."""
    x = _f64(x)
    w, m, s = (a.to(x.device) for a in _check_mixture(weights, means, stds))
    return (w * normal_pdf(x[..., None], m, s)).sum(-1)


def mixture_sample(n: int, target: Mixture, generator: torch.Generator) -> Tensor:
    """n draws from sum_k w_k N(m_k, s_k^2): a component index k ~ w, then m_k + s_k z (float64, shape (n,))."""
    w, m, s = _check_mixture(*target)
    k = torch.multinomial(w, n, replacement=True, generator=generator)
    return m[k] + s[k] * torch.randn(n, generator=generator, dtype=torch.float64)


def grid(lo: float = -20.0, hi: float = 20.0, n: int = 1601) -> Grid:
    """n equally spaced points on [lo, hi] and their trapezoid weights (h/2 at the ends, h inside)."""
    if n < 2 or not hi > lo:
        raise ValueError(f"grid needs n >= 2 and hi > lo, got lo={lo}, hi={hi}, n={n}")
    x = torch.linspace(lo, hi, n, dtype=torch.float64)
    w = torch.full_like(x, (hi - lo) / (n - 1))
    w[0] = w[-1] = 0.5 * w[1]
    return Grid(x, w)


def discretise(pdf_values: Tensor, g: Grid) -> Tensor:
    """p_i = pdf(x_i) w_i / sum_j pdf(x_j) w_j over the last axis: a density as a distribution on the grid."""
    mass = pdf_values * g.w
    return mass / mass.sum(-1, keepdim=True)


def _w1_on_grid(p: Tensor, q: Tensor, x: Tensor) -> Tensor:
    p, q = torch.broadcast_tensors(p, q)
    flat_p, flat_q = p.reshape(-1, p.shape[-1]), q.reshape(-1, q.shape[-1])
    # dv.w1 takes one pair of 1-D distributions; a landscape loops over its points
    out = torch.stack([dv.w1(x, x, a, b) for a, b in zip(flat_p, flat_q)])
    return out.reshape(p.shape[:-1])


# divergence(p = target/data, q = model): forward KL is maximum likelihood (Risteski lecture, C5)
DIVERGENCES = {
    "forward_kl": lambda p, q, x: dv.kl(p, q),
    "reverse_kl": lambda p, q, x: dv.kl(q, p),
    "jsd": lambda p, q, x: dv.jsd(p, q),
    "w1": _w1_on_grid,
}


def quadrature_divergence(name: str, p_pdf: Tensor, q_pdf: Tensor, g: Grid) -> Tensor:
    """DIVERGENCES[name](p, q) of two densities on the grid, each discretised (p the data, q the model)."""
    fn = lookup(DIVERGENCES, name, "divergence")
    return fn(discretise(_f64(p_pdf), g), discretise(_f64(q_pdf), g), g.x)


def kl_normal(mu1, s1, mu2, s2):
    """KL(N(mu1, s1^2) || N(mu2, s2^2)) = log(s2/s1) + (s1^2 + (mu1 - mu2)^2) / (2 s2^2) - 1/2 (nats)."""
    mu1, s1, mu2, s2 = (_f64(v) for v in (mu1, s1, mu2, s2))
    _positive(s1, "s1"), _positive(s2, "s2")
    return torch.log(s2 / s1) + (s1**2 + (mu1 - mu2) ** 2) / (2.0 * s2**2) - 0.5


def w1_normal(mu1, s1, mu2, s2):
    """W1(N(mu1, s1^2), N(mu2, s2^2)) = E|d + s Z| = |s| sqrt(2/pi) exp(-d^2/(2 s^2)) + d (1 - 2 Phi(-d/|s|)).

    d = mu1 - mu2, s = s1 - s2: the 1-D quantile coupling x2 = mu2 + s2 (x1 - mu1)/s1 is optimal (Villani 2009).
    """
    mu1, s1, mu2, s2 = (_f64(v) for v in (mu1, s1, mu2, s2))
    _positive(s1, "s1"), _positive(s2, "s2")
    d, s = torch.broadcast_tensors(mu1 - mu2, (s1 - s2).abs())
    safe = torch.where(s > 0, s, torch.ones_like(s))
    # 1 - 2 Phi(-u) = erf(u / sqrt 2); s = 0 is a pure shift, W1 = |d|
    folded = safe * math.sqrt(2.0 / math.pi) * torch.exp(-0.5 * (d / safe) ** 2) + d * torch.erf(
        d / (safe * math.sqrt(2))
    )
    return torch.where(s > 0, folded, d.abs())


def landscape(divergence: str, target: Mixture, mus, sigmas, g: Optional[Grid] = None) -> Tensor:
    """D(target, N(mu, sigma^2)) on the (sigma, mu) grid, shape (len(sigmas), len(mus)), by quadrature."""
    g = grid() if g is None else g
    mus, sigmas = _f64(mus).reshape(-1), _f64(sigmas).reshape(-1)
    p = mixture_pdf(g.x, *target)
    # one row of sigmas at a time bounds memory at len(mus) x n
    rows = [quadrature_divergence(divergence, p, normal_pdf(g.x, mus[:, None], s), g) for s in sigmas]
    return torch.stack(rows)


def optimal_quadratic_logit(mu1, s1, mu2, s2) -> Tensor:
    """psi* = (a, b, c) with a x^2 + b x + c = log N(x; mu1, s1^2) - log N(x; mu2, s2^2), the logit of D* (C1)."""
    mu1, s1, mu2, s2 = torch.broadcast_tensors(*(_f64(v) for v in (mu1, s1, mu2, s2)))
    _positive(s1, "s1"), _positive(s2, "s2")
    a = 0.5 / s2**2 - 0.5 / s1**2
    b = mu1 / s1**2 - mu2 / s2**2
    c = 0.5 * mu2**2 / s2**2 - 0.5 * mu1**2 / s1**2 + torch.log(s2 / s1)
    return torch.stack([a, b, c], dim=-1)


# ---------------------------------------------------------------------------------------- the game
def quadratic_features(x: Tensor) -> Tensor:
    """phi(x) = (x^2, x, 1): t = a x^2 + b x + c holds log N(x; m1, s1^2) - log N(x; m2, s2^2) exactly."""
    return torch.stack([x * x, x, torch.ones_like(x)], dim=-1)


def slope_features(lo: float = -12.0, hi: float = 12.0, cells: int = 96) -> Callable[[Tensor], Tensor]:
    """phi_k(x) = clamp(x - kappa_k, 0, h): t = psi . phi has slope psi_k on [kappa_k, kappa_k + h], flat outside."""
    knots = torch.linspace(lo, hi, cells + 1, dtype=torch.float64)[:-1]
    h = (hi - lo) / cells
    return lambda x: (x[..., None] - knots.to(x)).clamp(0.0, h)


CRITICS = {  # name -> (feature map, number of features K)
    "quadratic": (quadratic_features, 3),
    "slopes": (slope_features(), 96),
}


def critic_logit(psi: Tensor, x: Tensor, critic: str = "quadratic") -> Tensor:
    """t(x) = psi . phi(x) per game: psi (B, K), x (B, N) -> (B, N) logits, phi = CRITICS[critic]."""
    phi, _ = lookup(CRITICS, critic, "critic")
    return (phi(x) * psi[:, None, :]).sum(-1)


def quadrature_nodes(target: Mixture, nodes: int = 80, device="cpu") -> tuple:
    """(x_real, w_real, z, w_z): Gauss-Hermite rules for E_target h = sum_k w_k E h(m_k + s_k xi) and E h(z)."""
    w, m, s = _check_mixture(*target)
    xi, xi_w = (torch.as_tensor(a, dtype=torch.float64) for a in gauss_hermite(nodes))
    real, real_w = (m[:, None] + s[:, None] * xi).reshape(-1), (w[:, None] * xi_w).reshape(-1)
    return tuple(a.to(device) for a in (real, real_w, xi, xi_w))


def _leaf(v, device, flat: bool = False) -> Tensor:
    v = torch.as_tensor(v, dtype=torch.float64, device=device)
    return (v.reshape(-1) if flat else v).detach().clone().requires_grad_(True)


class Losses(NamedTuple):
    g: Callable[[], Tensor]  # (B,) G's loss per game: E_fake g_fake(t)
    d: Callable[[], Tensor]  # (B,) D's loss per game: E_real d_real(t) + E_fake d_fake(t) (+ penalty)


def location_scale_losses(
    mu: Tensor,
    log_sigma: Tensor,
    psi: Tensor,
    target: Mixture,
    objective: Objective = minimax(),
    critic: str = "quadratic",
    penalty: Penalty = no_penalty(),
    quadrature: str = "hermite",
    nodes: int = 80,
    g: Optional[Grid] = None,
    gp_mixes: int = 5,
) -> Losses:
    """Per-game losses of G = mu + e^{log sigma} z against D = psi . phi(x); mu, log_sigma (B,), psi (B, K).

    quadrature='hermite': Gauss-Hermite nodes, fake nodes mu + sigma z (G's gradient flows through the samples);
    exact for the quadratic critic, but it makes both distributions atoms that a rich critic can tell apart.
    quadrature='grid': both densities discretised on the grid `g` (G's gradient flows through the fake weights),
    which a critic smoother than the grid spacing cannot exploit; use it with the slope critics.
    r1/r2 weight the node terms; wgan_gp (hermite only) takes x_hat = e x_r + (1 - e) x_f over all (real, fake)
    node pairs and `gp_mixes` Gauss-Legendre nodes e in [0, 1], an exact expectation rather than a sample.
    """
    obj = objective
    if obj.pairwise:
        raise ValueError(
            f"the quadrature games weight real and fake nodes separately; the pairwise objective "
            f"{obj.name!r} needs paired samples (use the Dirac or network games)"
        )
    if psi.ndim != 2 or mu.ndim != 1 or not psi.shape[0] == mu.shape[0] == log_sigma.shape[0]:
        raise ValueError(
            f"need mu, log_sigma of shape (B,) and psi of shape (B, K); got {tuple(mu.shape)}, "
            f"{tuple(log_sigma.shape)}, {tuple(psi.shape)}"
        )
    if psi.shape[1] != lookup(CRITICS, critic, "critic")[1]:
        raise ValueError(f"critic {critic!r} has {CRITICS[critic][1]} features; psi has {psi.shape[1]}")
    if quadrature not in ("hermite", "grid"):
        raise ValueError(f"unknown quadrature {quadrature!r}; valid names: grid, hermite")
    where = penalty.where if penalty.weight else "none"
    if where not in ("none", "real", "fake", "interpolates") or (where == "interpolates" and quadrature == "grid"):
        raise ValueError(
            f"supported penalties: on real or fake nodes (r1, r2) and (hermite only) on interpolates (wgan_gp); "
            f"got {penalty.name!r} with {quadrature} quadrature"
        )
    B, pen = mu.shape[0], (penalty if where != "none" else None)
    if quadrature == "hermite":
        real, real_w, z, z_w = quadrature_nodes(target, nodes, mu.device)
        fake = lambda: (mu[:, None] + torch.exp(log_sigma)[:, None] * z, z_w)
    else:
        g = grid() if g is None else g
        x, g = g.x.to(mu.device), Grid(g.x.to(mu.device), g.w.to(mu.device))
        real, real_w = x, discretise(mixture_pdf(x, *target), g)
        fake = lambda: (x.expand(B, -1), discretise(normal_pdf(x, mu[:, None], torch.exp(log_sigma)[:, None]), g))
    real = real.expand(B, -1)
    phi = lookup(CRITICS, critic, "critic")[0]
    phi_real = phi(real[:1])[0]  # (N_r, K): real nodes (and, on the grid, fake nodes) are fixed, so phi is too

    def D(x: Tensor) -> Tensor:
        return critic_logit(psi, x, critic)

    def logits(x_fake: Tensor) -> tuple:
        real_t = psi @ phi_real.T
        return real_t, (real_t if quadrature == "grid" else D(x_fake))

    def D_flat(x: Tensor) -> Tensor:  # the penalties see a flat batch of scalar samples
        return D(x.reshape(B, -1)).reshape(-1)

    def penalty_terms(x_fake: Tensor, fake_w: Tensor) -> Tensor:
        if where == "real":
            return (pen(D_flat, real.reshape(-1), None).reshape(B, -1) * real_w).sum(1)
        if where == "fake":
            return (pen(D_flat, None, x_fake.reshape(-1)).reshape(B, -1) * fake_w).sum(1)
        e, e_w = np.polynomial.legendre.leggauss(gp_mixes)  # on [-1, 1]; mapped to [0, 1] below
        e, e_w = (torch.as_tensor(a / 2.0, dtype=torch.float64, device=mu.device) for a in (e + 1.0, e_w))
        x_hat = e * real[:, :, None, None] + (1.0 - e) * x_fake[:, None, :, None]  # (B, N_r, N, mixes)
        weight = real_w[:, None, None] * fake_w[None, :, None] * e_w
        # real = fake = x_hat makes the library's mix e x + (1 - e) x the identity, so its own draw cannot matter
        flat = x_hat.reshape(-1)
        return (pen(D_flat, flat, flat).reshape(B, *weight.shape) * weight).sum((1, 2, 3))

    def d_losses() -> Tensor:
        x_fake, fake_w = fake()
        real_t, fake_t = logits(x_fake)
        loss = (obj.d_real(real_t) * real_w).sum(1) + (obj.d_fake(fake_t) * fake_w).sum(1)
        return loss if pen is None else loss + penalty_terms(x_fake.detach(), fake_w.detach())

    def g_losses() -> Tensor:
        x_fake, fake_w = fake()
        return (obj.g_fake(logits(x_fake)[1]) * fake_w).sum(1)

    return Losses(g_losses, d_losses)


def location_scale_game(
    mu, log_sigma, psi, target: Mixture, objective: Objective = minimax(), device="cpu", **options
) -> Game:
    """The Game of B independent location/scale GANs: x = [mu, log sigma], y = [psi], per-game losses summed.

    options: critic, penalty, quadrature, nodes, g, gp_mixes (see `location_scale_losses`).
    """
    mu, log_sigma, psi = _leaf(mu, device, True), _leaf(log_sigma, device, True), _leaf(psi, device)
    losses = location_scale_losses(mu, log_sigma, psi, target, objective, **options)
    return Game([mu, log_sigma], [psi], lambda: losses.g().sum(), lambda: losses.d().sum())


def best_response(d_losses: Callable[[], Tensor], psi: Tensor, iters: int = 50, ridge: float = 1e-10) -> Tensor:
    """D's optimum for fixed G: Newton on each game's convex D loss, halving the step until the loss falls."""
    eye = torch.eye(psi.shape[1], dtype=psi.dtype, device=psi.device)
    for _ in range(iters):
        loss = d_losses()
        (grad,) = torch.autograd.grad(loss.sum(), psi, create_graph=True)
        rows = [torch.autograd.grad(grad[:, k].sum(), psi, retain_graph=True)[0] for k in range(psi.shape[1])]
        hess = torch.stack(rows, dim=1).detach()  # (B, K, K): the summed loss is separable over games
        scale = hess.diagonal(dim1=1, dim2=2).abs().amax(1).clamp(min=1.0)[:, None, None]
        step = torch.linalg.solve(hess + ridge * scale * eye, grad.detach().unsqueeze(-1)).squeeze(-1)
        start, loss, alpha = psi.detach().clone(), loss.detach(), torch.ones_like(loss)
        for _ in range(40):  # halve each game's step until its loss does not rise
            with torch.no_grad():
                psi.copy_(start - alpha[:, None] * step)
            worse = ~(d_losses().detach() <= loss)
            if not worse.any():
                break
            alpha = torch.where(worse, 0.5 * alpha, alpha)
        with torch.no_grad():
            psi.copy_(torch.where(worse[:, None], start, psi))
    (grad,) = torch.autograd.grad(d_losses().sum(), psi)
    return grad.norm(dim=1)
