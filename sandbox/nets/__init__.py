"""Generators and discriminators: MLPs for 2-D mixtures, DCGAN for 28x28 images, a spectrally normalised ResNet D.

Every D maps a batch (B, ...) to B logits, shape (B,), large on real data. Image Ds accept channels_last
input (they flatten with reshape, never view). G and D take separate width multipliers; `width` scales
every hidden channel count, so a D's parameter count grows roughly as width^2. Constructors take an
optional `generator`: given one, the whole construction (default inits, DCGAN's N(0, 0.02), spectral-norm
vectors) is seeded from it and the global RNG is left untouched; without one they draw from the caller's
global seed.
"""

import math
from contextlib import contextmanager
from typing import Optional

import torch
from torch import Tensor, nn

from sandbox.penalties import spectral_norm_
from sandbox.registry import lookup


@contextmanager
def _seeded(generator: Optional[torch.Generator]):
    """Run the block with the CPU global RNG seeded from `generator`, then restore it; no-op without one."""
    if generator is None:
        yield
        return
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)  # CPU only: the caller's CUDA RNG state stays as it was
        yield


def _ch(base: int, width: float) -> int:
    """Channels of a layer with `base` channels at width 1: max(1, round(base * width))."""
    if width <= 0:
        raise ValueError(f"width multiplier must be positive, got {width}")
    return max(1, round(base * width))


def param_count(module: nn.Module) -> int:
    """Number of trainable scalars, sum of p.numel() over parameters with requires_grad."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# ----- MLPs for 2-D data -----------------------------------------------------------------------------------


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
    with _seeded(generator):
        return MLP(z_dim, hidden, depth, out_dim)


def mlp_discriminator(
    in_dim: int = 2, hidden: int = 128, depth: int = 2, generator: Optional[torch.Generator] = None
) -> nn.Module:
    """D(x) = one logit per sample from an MLP with 2 hidden layers of 128 ReLU units (Metz et al. 2017, App. A)."""
    with _seeded(generator):
        return MLP(in_dim, hidden, depth, 1, squeeze=True)


# ----- DCGAN for 28x28 -------------------------------------------------------------------------------------


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
        c1, c2 = _ch(256, width), _ch(128, width)
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
        return self.net(z.reshape(z.shape[0], self.z_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    """x (B, C, 28, 28) -> 14x14 -> 7x7 by strided convs with LeakyReLU 0.2, BN after the first -> one logit."""

    def __init__(self, channels: int, width: float, batchnorm: bool):
        super().__init__()
        c1, c2 = _ch(128, width), _ch(256, width)
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
        return self.head(self.features(x).flatten(1)).squeeze(-1)  # flatten copies if channels_last; view would fail


def dcgan_generator(
    z_dim: int = 100,
    channels: int = 1,
    width: float = 1.0,
    batchnorm: bool = True,
    generator: Optional[torch.Generator] = None,
) -> nn.Module:
    """DCGAN G on 28x28: z ~ N(0, I_100) -> 256w, 128w channels -> `channels` maps in [-1, 1] (Radford et al. 2016)."""
    with _seeded(generator):
        return dcgan_init_(DCGANGenerator(z_dim, channels, width, batchnorm))


def dcgan_discriminator(
    channels: int = 1, width: float = 1.0, batchnorm: bool = True, generator: Optional[torch.Generator] = None
) -> nn.Module:
    """DCGAN D adapted to 28x28 with 128w and 256w channels (Radford et al. 2016).

    width is the D-size knob: 0.25 and 0.5 give the 1/4- and 1/2-size Ds of the Stacked MNIST mode-collapse
    study (Metz et al. 2017, Stacked MNIST experiment; Lin et al. 2018). batchnorm=False for gradient penalties,
    whose per-sample gradients BN would couple (Gulrajani et al. 2017, Sec. 4).
    """
    with _seeded(generator):
        return dcgan_init_(DCGANDiscriminator(channels, width, batchnorm))


# ----- ResNet D with spectral normalisation ----------------------------------------------------------------


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
        c = _ch(128, width)
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
    with _seeded(generator):
        return spectral_norm_(ResNetDiscriminator(channels, width), n_power_iterations)


# name -> (generator constructor, discriminator constructor); a CLI picks by name.
NETS = {
    "mlp": (mlp_generator, mlp_discriminator),
    "dcgan": (dcgan_generator, dcgan_discriminator),
    "resnet_sn": (dcgan_generator, resnet_discriminator),
}


def make_nets(
    name: str,
    g_kwargs: Optional[dict] = None,
    d_kwargs: Optional[dict] = None,
    generator: Optional[torch.Generator] = None,
):
    """(G, D) = NETS[name] built with their keyword arguments, or a ValueError listing the valid names."""
    g_fn, d_fn = lookup(NETS, name, "network")
    return g_fn(**(g_kwargs or {}), generator=generator), d_fn(**(d_kwargs or {}), generator=generator)
