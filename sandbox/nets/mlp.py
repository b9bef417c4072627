"""MLP players for 2-D mixtures: 2 hidden layers of 128 ReLU units each, z ~ N(0, I_256) (Metz et al. 2017, App. A)."""

from typing import Optional

import torch
from torch import Tensor, nn

from sandbox.nets.base import NetFamily, NetSpec, seeded, units


class MLP(nn.Module):
    """x -> [Linear, ReLU] * depth -> Linear; `squeeze` drops the last axis so a D returns shape (B,)."""

    def __init__(self, in_dim: int, hidden: int, depth: int, out_dim: int, squeeze: bool = False):
        super().__init__()
        if depth < 1 or hidden < 1:
            raise ValueError(f"MLP needs depth >= 1 and hidden >= 1, got depth={depth}, hidden={hidden}")
        dims = [in_dim] + [hidden] * depth
        layers = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(hidden, out_dim))
        self.squeeze = squeeze

    def forward(self, x: Tensor) -> Tensor:
        out = self.net(x)
        return out.squeeze(-1) if self.squeeze else out


def mlp_generator(
    z_dim: int = 256, hidden: int = 128, depth: int = 2, out_dim: int = 2, generator: Optional[torch.Generator] = None
) -> nn.Module:
    """G(z) = MLP(z): 2 hidden layers of 128 ReLU units, z ~ N(0, I_256) (Metz et al. 2017, App. A, 2-D mixtures).

    PacGAN's 2-D experiments (Lin et al. 2018) use z_dim=2 with wider layers; pass those to reproduce them.
    """
    with seeded(generator):
        return MLP(z_dim, hidden, depth, out_dim)


def mlp_discriminator(
    in_dim: int = 2, hidden: int = 128, depth: int = 2, generator: Optional[torch.Generator] = None
) -> nn.Module:
    """D(x) = one logit per sample from an MLP with 2 hidden layers of 128 ReLU units (Metz et al. 2017, App. A)."""
    with seeded(generator):
        return MLP(in_dim, hidden, depth, 1, squeeze=True)


def build(spec: NetSpec, generator: Optional[torch.Generator] = None):
    """(G, D) with 128 * g_width and 128 * d_width hidden units, G first from the generator (Metz et al. 2017)."""
    G = mlp_generator(spec.z_dim, units(128, spec.g_width), generator=generator)
    return G, mlp_discriminator(hidden=units(128, spec.d_width), generator=generator)


FAMILY = NetFamily("mlp", build, ("points",), 256, "Metz et al. 2017, App. A, 2-D mixtures")
