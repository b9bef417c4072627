"""Games built from the shared objectives and penalties, for the update rules of `sandbox.dynamics`.

* Dirac-GAN (Mescheder, Geiger, Nowozin 2018, Sec. 2.2): data at 0, G = theta, D(x) = psi x. D is large on
  real data here, so the paper's field (D large on fake) appears under psi -> -psi. Any objective (element-wise,
  or pairwise: the Dirac-RpGAN of Huang et al. 2024, App. B) and any penalty; instance noise as an exact
  Gauss-Hermite expectation; WGAN clipping as a projection step; consensus through the rule's `consensus=`.
* Bilinear f(x, y) = (x - a)(y - b), x minimises and y maximises (Daskalakis et al. 2018; Gidel et al. 2019).
* `network_game`: a G network and a D network on sampled batches, the same objective/penalty code; the 2-D
  mixtures and the trainer use it.
All toy games are vectorised over a leading batch of B independent games. Games take `Objective` and `Penalty`
objects (`sandbox.objectives`, `sandbox.penalties`): names are resolved once, by whoever reads a config.
"""

from typing import Callable, Optional

import numpy as np
import torch
from torch import Tensor, nn

from sandbox.dynamics import Game, Step, gd, projected
from sandbox.objectives import Objective
from sandbox.penalties import Penalty, clip_weights_, no_penalty


def _leaf(values, dtype=torch.float64, device="cpu") -> Tensor:
    return torch.as_tensor(values, dtype=dtype, device=device).detach().clone().reshape(-1).requires_grad_(True)


def gauss_hermite(n: int = 20):
    """Nodes xi_k and weights w_k (summing to 1) with sum_k w_k h(xi_k) = E h(xi), xi ~ N(0, 1), exact for deg < 2n."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n)
    return nodes, weights / weights.sum()


def dirac_gan(
    theta,
    psi,
    objective: Objective,
    penalty: Penalty = no_penalty(),
    instance_noise: float = 0.0,
    quadrature: int = 20,
    dtype=torch.float64,
    device="cpu",
) -> Game:
    """Dirac-GAN: D loses d_real(0) + d_fake(psi theta) (+ penalty), G g_fake(psi theta) (Mescheder 2018, eq. 7).

    A pairwise objective pairs the real point 0 with the fake point theta: D loses pair_d(0 - psi theta), G
    pair_g(psi theta - 0), the Dirac-RpGAN L = f(psi theta) up to the sign convention (Huang et al. 2024, App. B).
    """
    obj = objective
    theta, psi = _leaf(theta, dtype, device), _leaf(psi, dtype, device)
    if theta.shape != psi.shape:
        raise ValueError(f"theta and psi need one value per game: got {tuple(theta.shape)} and {tuple(psi.shape)}")
    if instance_noise and penalty.weight:
        raise ValueError("instance noise and a gradient penalty are separate Dirac-GAN variants; choose one")
    if instance_noise and obj.pairwise:
        raise ValueError(
            f"instance noise is an expectation over independent real and fake noise, which the "
            f"pairwise objective {obj.name!r} would pair; not supported"
        )
    pen = penalty if penalty.weight else None

    def D(x: Tensor) -> Tensor:
        return psi.reshape((-1,) + (1,) * (x.dim() - 1)) * x  # one linear critic per game

    if instance_noise:
        # Exact expectation over x_real ~ N(0, s^2), x_fake ~ N(theta, s^2) by Gauss-Hermite quadrature.
        nodes, weights = gauss_hermite(quadrature)
        xi = torch.as_tensor(nodes, dtype=dtype, device=device) * instance_noise
        w = torch.as_tensor(weights, dtype=dtype, device=device)

        def loss_y():
            real, fake = D(xi.expand(len(psi), -1)), D(theta[:, None] + xi)
            return ((obj.d_real(real) + obj.d_fake(fake)) * w).sum()

        def loss_x():
            return (obj.g_fake(D(theta[:, None] + xi)) * w).sum()
    else:
        zeros = torch.zeros_like(theta)

        def loss_y():
            real, fake = D(zeros), D(theta)
            loss = obj.d_terms(real, fake)
            if pen is not None:
                loss = loss + pen(D, zeros, theta)
            return loss.sum()

        def loss_x():
            return obj.g_terms(D(zeros), D(theta)).sum()

    return Game([theta], [psi], loss_x, loss_y)


def clipped_gd(lr: float, clip: float) -> Step:
    """Gradient descent followed by clipping to [-clip, clip], WGAN's projection (Arjovsky et al. 2017, Alg. 1)."""
    return projected(gd(lr), lambda params: clip_weights_(params, clip))


def bilinear(x, y, a: float = 0.5, b: float = 0.5, dtype=torch.float64, device="cpu") -> Game:
    """f(x, y) = (x - a)(y - b): x minimises f, y maximises it; equilibrium (a, b) (Gidel et al. 2019, Sec. 3)."""
    x, y = _leaf(x, dtype, device), _leaf(y, dtype, device)

    def f() -> Tensor:
        return ((x - a) * (y - b)).sum()

    return Game([x], [y], f, lambda: -f())


def network_game(
    G: nn.Module,
    D: nn.Module,
    sample_real: Callable[[], Tensor],
    sample_z: Callable[[], Tensor],
    objective: Objective,
    penalty: Penalty = no_penalty(),
    penalty_every: int = 1,
    generator: Optional[torch.Generator] = None,
    clock: Optional[dict] = None,
) -> Game:
    """G and D networks on fresh batches: D minimises d_loss (+ penalty), G minimises g_loss, batch means.

    `penalty_every = k > 1` is lazy regularisation: the penalty is applied on every k-th D step with gain k
    (Karras et al. 2020, Sec. 4). `clock['d_steps']` counts D-loss evaluations, so a trainer can checkpoint it;
    `clock['penalty_gain']` (1 when absent) scales the penalty weight, for a trainer's schedule.
    A pairwise objective (RpGAN) scores G's fakes against a fresh real batch in G's step too, the i-th fake paired
    with the i-th real; element-wise objectives draw no real batch for G.
    """
    obj = objective
    clock = {"d_steps": 0} if clock is None else clock
    clock.setdefault("d_steps", 0)

    def loss_y() -> Tensor:
        real = sample_real()
        with torch.no_grad():
            fake = G(sample_z())
        loss = obj.d_loss(D(real), D(fake))
        if penalty.weight and clock["d_steps"] % penalty_every == 0:
            gain = penalty_every * clock.get("penalty_gain", 1.0)  # a trainer's schedule may scale the weight
            loss = loss + gain * penalty(D, real, fake, generator).mean()
        clock["d_steps"] += 1
        return loss

    def loss_x() -> Tensor:
        real_logits = None
        if obj.pairwise:
            with torch.no_grad():  # G's gradient flows through the fake logits only
                real_logits = D(sample_real())
        return obj.g_loss(real_logits, D(G(sample_z())))

    return Game(list(G.parameters()), list(D.parameters()), loss_x, loss_y)
