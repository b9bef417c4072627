"""DCGAN players on 28x28 images (Radford, Metz, Chintala 2016): transposed-conv G, strided-conv D, N(0, 0.02) init.

D accepts channels_last input (it flattens with flatten, never view). width multiplies every hidden channel
count, so a D's parameter count grows roughly as width^2. On a CPU, G's projection and the layers that touch a
one-channel image (G's last, D's first) run as matrix products (`sandbox.nets.gemm`: the same maps, about 2-4x
faster there than torch's conv kernels per layer); every other layer, and every layer on CUDA, is torch's.
"""

from typing import Optional

import torch
from torch import Tensor, nn

from sandbox.nets import gemm
from sandbox.nets.base import NetFamily, NetSpec, seeded, units


@torch.no_grad()
def dcgan_init_(module: nn.Module, generator: Optional[torch.Generator] = None) -> nn.Module:
    """Conv/Linear weights ~ N(0, 0.02), BatchNorm scales ~ N(1, 0.02), biases 0 (Radford et al. 2016, Sec. 4)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02, generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02, generator=generator)
            nn.init.zeros_(m.bias)
    return module


class DCGANGenerator(nn.Module):
    """z (B, z_dim) -> 7x7 -> 14x14 -> 28x28 by transposed convs; BN + ReLU inside, tanh out (Radford et al. 2016)."""

    def __init__(self, z_dim: int, channels: int, width: float, batchnorm: bool):
        super().__init__()
        c1, c2 = units(256, width), units(128, width)
        norm = (lambda c: nn.BatchNorm2d(c)) if batchnorm else (lambda c: nn.Identity())
        # A 7x7 transposed conv on a 1x1 map is DCGAN's "project and reshape" fully connected first layer.
        # Biases are dropped where a BatchNorm follows: its shift makes them redundant.
        self.net = nn.Sequential(
            nn.ConvTranspose2d(z_dim, c1, 7, 1, 0, bias=not batchnorm),
            norm(c1),
            nn.ReLU(),  # (B, c1, 7, 7)
            nn.ConvTranspose2d(c1, c2, 4, 2, 1, bias=not batchnorm),
            norm(c2),
            nn.ReLU(),  # (B, c2, 14, 14)
            nn.ConvTranspose2d(c2, channels, 4, 2, 1),
            nn.Tanh(),  # (B, C, 28, 28)
        )
        self.z_dim = z_dim

    def forward(self, z: Tensor) -> Tensor:
        h = z.reshape(z.shape[0], self.z_dim, 1, 1)
        for layer in self.net:  # the projection and the one-channel output layer as matmuls on a CPU (gemm.narrow)
            h = gemm.apply(layer, h)
        return h


class DCGANDiscriminator(nn.Module):
    """x (B, C, 28, 28) -> 14x14 -> 7x7 by strided convs with LeakyReLU 0.2, BN after the first -> one logit."""

    def __init__(self, channels: int, width: float, batchnorm: bool):
        super().__init__()
        c1, c2 = units(128, width), units(256, width)
        norm = nn.BatchNorm2d(c2) if batchnorm else nn.Identity()
        self.features = nn.Sequential(
            nn.Conv2d(channels, c1, 4, 2, 1),
            nn.LeakyReLU(0.2),  # (B, c1, 14, 14), no BN here
            nn.Conv2d(c1, c2, 4, 2, 1, bias=not batchnorm),
            norm,
            nn.LeakyReLU(0.2),  # (B, c2, 7, 7)
        )
        self.head = nn.Linear(c2 * 7 * 7, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = x
        for layer in self.features:  # the one-channel input layer as a matmul on a CPU (gemm.narrow)
            h = gemm.apply(layer, h)
        return self.head(h.flatten(1)).squeeze(-1)  # flatten copies if channels_last; view would fail


def dcgan_generator(
    z_dim: int = 100,
    channels: int = 1,
    width: float = 1.0,
    batchnorm: bool = True,
    generator: Optional[torch.Generator] = None,
) -> nn.Module:
    """DCGAN G on 28x28: z ~ N(0, I_100) -> 256w, 128w channels -> `channels` maps in [-1, 1] (Radford et al. 2016)."""
    with seeded(generator):
        return dcgan_init_(DCGANGenerator(z_dim, channels, width, batchnorm))


def dcgan_discriminator(
    channels: int = 1, width: float = 1.0, batchnorm: bool = True, generator: Optional[torch.Generator] = None
) -> nn.Module:
    """DCGAN D adapted to 28x28 with 128w and 256w channels (Radford et al. 2016).

    width is the D-size knob: 0.25 and 0.5 give Ds of 1/4 and 1/2 G's width, as in the Stacked MNIST mode-collapse
    study (Metz et al. 2017; Lin et al. 2018), whose own nets are the `metz` family. batchnorm=False for gradient
    penalties, whose per-sample gradients BN would couple (Gulrajani et al. 2017, Sec. 4).
    """
    with seeded(generator):
        return dcgan_init_(DCGANDiscriminator(channels, width, batchnorm))


def build(spec: NetSpec, generator: Optional[torch.Generator] = None):
    """(DCGAN G, DCGAN D) at the spec's widths and BatchNorm flags, G first from the generator (Radford et al. 2016)."""
    G = dcgan_generator(spec.z_dim, spec.channels, spec.g_width, spec.batchnorm_g, generator)
    return G, dcgan_discriminator(spec.channels, spec.d_width, spec.batchnorm_d, generator)


FAMILY = NetFamily("dcgan", build, ("images",), 100, "Radford, Metz, Chintala 2016, DCGAN, Sec. 4")
