"""SN-ResNet D (Miyato et al. 2018's CIFAR-10 ResNet D, on 28x28) paired with the DCGAN G: the `resnet_sn` family."""

import math
from typing import Optional

import torch
from torch import Tensor, nn

from sandbox.nets.base import NetFamily, NetSpec, seeded, units
from sandbox.nets.dcgan import dcgan_generator
from sandbox.penalties import spectral_norm_


class ResBlockDown(nn.Module):
    """relu-conv3-relu-conv3 [-avgpool] plus a shortcut, a 1x1 conv where the shape changes (Miyato et al. 2018)."""

    def __init__(self, c_in: int, c_out: int, down: bool, first: bool = False):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(c_in, c_out, 3, 1, 1), nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if (down or c_in != c_out) else None
        self.down, self.first = down, first
        # Xavier-uniform with gain sqrt(2) on the residual convs and 1 on the shortcut, as the SNGAN code does.
        for conv, gain in ((self.conv1, math.sqrt(2)), (self.conv2, math.sqrt(2)), (self.shortcut, 1.0)):
            if conv is not None:
                nn.init.xavier_uniform_(conv.weight, gain)
                nn.init.zeros_(conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        pool = (lambda t: nn.functional.avg_pool2d(t, 2)) if self.down else (lambda t: t)
        # The first block sees raw pixels, so it skips the leading ReLU (Miyato et al.'s "optimized" block).
        h = self.conv2(torch.relu(self.conv1(x if self.first else torch.relu(x))))
        if self.shortcut is None:
            return x + pool(h)
        skip = self.shortcut(pool(x)) if self.first else pool(self.shortcut(x))
        return skip + pool(h)


class ResNetDiscriminator(nn.Module):
    """ResBlock down 28->14, down 14->7, two plain blocks, ReLU, global sum pool, linear -> one logit."""

    def __init__(self, channels: int, width: float):
        super().__init__()
        c = units(128, width)
        self.blocks = nn.Sequential(
            ResBlockDown(channels, c, down=True, first=True),
            ResBlockDown(c, c, down=True),
            ResBlockDown(c, c, down=False),
            ResBlockDown(c, c, down=False),
        )
        self.head = nn.Linear(c, 1)
        nn.init.xavier_uniform_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(self.blocks(x)).sum(dim=(2, 3))  # (B, c): global sum pooling
        return self.head(h).squeeze(-1)


def resnet_discriminator(
    channels: int = 1, width: float = 1.0, n_power_iterations: int = 1, generator: Optional[torch.Generator] = None
) -> nn.Module:
    """SN-ResNet D: Miyato et al. 2018's CIFAR-10 ResNet D (128 channels) on 28x28, SN on every conv and linear."""
    with seeded(generator):
        return spectral_norm_(ResNetDiscriminator(channels, width), n_power_iterations)


def build(spec: NetSpec, generator: Optional[torch.Generator] = None):
    """(DCGAN G, SN-ResNet D), G first; D has no BatchNorm, so spec.batchnorm_d is not used (Miyato et al. 2018)."""
    G = dcgan_generator(spec.z_dim, spec.channels, spec.g_width, spec.batchnorm_g, generator)
    return G, resnet_discriminator(spec.channels, spec.d_width, generator=generator)


FAMILY = NetFamily(
    "resnet_sn", build, ("images",), 100, "Miyato et al. 2018 SN-ResNet D, the DCGAN G of Radford et al. 2016"
)
