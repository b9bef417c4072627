"""The Dirac-GAN players: G(z) = theta, D(x) = psi x, one parameter each (Mescheder, Geiger, Nowozin 2018, Sec. 2.2).

D is large on real data, so the paper's fields appear under psi -> -psi (the convention fixed in sandbox.games).
"""

from typing import Optional

import torch
from torch import Tensor, nn

from sandbox.nets.base import NetFamily, NetSpec


class DiracG(nn.Module):
    """G(z) = theta for every z: the Dirac-GAN generator (Mescheder, Geiger, Nowozin 2018, Sec. 2.2)."""

    def __init__(self, theta0: float, dtype=torch.float32):
        super().__init__()
        self.theta = nn.Parameter(torch.full((1,), float(theta0), dtype=dtype))

    def forward(self, z: Tensor) -> Tensor:
        return self.theta.expand(z.shape[0])  # (B,): one point on the line per latent


class DiracD(nn.Module):
    """D(x) = psi x: the Dirac-GAN critic on the line, large on real data (psi -> -psi from the paper)."""

    def __init__(self, psi0: float, dtype=torch.float32):
        super().__init__()
        self.psi = nn.Parameter(torch.full((1,), float(psi0), dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        return self.psi * x  # (B,) logits


def build(spec: NetSpec, generator: Optional[torch.Generator] = None):
    """(DiracG(theta0), DiracD(psi0)); nothing random, so the generator is not drawn from (Mescheder et al. 2018).

    Built in float64 so that a cast to the run's dtype rounds theta0 and psi0 once, as building in it would.
    """
    return DiracG(spec.theta0, torch.float64), DiracD(spec.psi0, torch.float64)


FAMILY = NetFamily("dirac", build, ("dirac",), 1, "Mescheder, Geiger, Nowozin 2018, Dirac-GAN, Sec. 2.2")
