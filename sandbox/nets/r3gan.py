"""Small ResNets without normalisation after R3GAN (Huang et al. 2024, Sec. 4), on 28x28 images: the `r3gan` family.

The design follows the paper's Config E as its official code builds it (brownvc/R3GAN, `R3GAN/Networks.py`, read,
not copied): residual blocks 1x1 conv -> biased leaky ReLU 0.2 -> grouped 3x3 conv (16 channels per group) ->
biased leaky ReLU -> 1x1 conv, the inverted bottleneck twice as wide as the stage, no normalisation layer anywhere,
convolutions without biases (each activation carries one), fix-up initialisation (every block's last conv zero,
the others N(0, gain^2 / fan_in) with gain sqrt(2 / 1.04) L^(-1/4), L the blocks in the net), a 1x1 conv where
the width changes and [1, 3, 3, 1] low-pass resampling (bilinear) between stages; G starts from a learned
constant basis scaled per channel by a linear map of z and ends in a 1x1 conv (no tanh); D starts with a 1x1
conv and ends in a depthwise conv over the whole last map and a linear layer.
Ours, named: the stages sit at 7, 14 and 28 pixels (R3GAN's presets start at 4x4 and double to 32 or more), and
the widths (WIDTHS at width 1) are ours, small enough for a CPU; R3GAN's code has no Stacked MNIST preset and the
paper does not give its small Table 1 ResNets' sizes.
"""

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sandbox.nets.base import NetFamily, NetSpec, seeded, units

SLOPE = 0.2  # leaky ReLU slope
GAIN = nn.init.calculate_gain("leaky_relu", SLOPE)  # sqrt(2 / (1 + 0.2^2)), a leaky ReLU's variance gain (He et al.)
GROUP = 16  # channels per group of the 3x3 conv (R3GAN's presets: cardinality 96 on 2 x 768 channels)
EXPANSION = 2  # the inverted bottleneck's width, times the stage's
BLOCKS = 2  # residual blocks per stage (R3GAN's presets: 2)
WIDTHS = (128, 64, 32)  # channels at 7x7, 14x14, 28x28 at width 1 (ours); D mirrors them from 28x28 down
BASIS = 7  # the side of the first stage's map (G's learned basis, D's last depthwise conv)


def msr_(weight: Tensor, gain: float) -> Tensor:
    """weight ~ N(0, gain^2 / fan_in), fan_in = weight[0].numel() (He et al. 2015; R3GAN's MSRInitializer)."""
    with torch.no_grad():
        return weight.normal_(0.0, gain / math.sqrt(weight[0].numel()))


def conv(c_in: int, c_out: int, kernel: int, gain: float, groups: int = 1) -> nn.Conv2d:
    """A bias-free SAME conv (odd kernel), MSR-initialised with `gain` (0 gives zeros)."""
    layer = nn.Conv2d(c_in, c_out, kernel, 1, (kernel - 1) // 2, groups=groups, bias=False)
    msr_(layer.weight, gain)
    return layer


def cardinality(channels: int) -> int:
    """Groups of the 3x3 conv, gcd(channels, channels // GROUP): channels / GROUP where GROUP divides them, else a
    divisor of both (100 channels: 2 groups, not 6), so any width builds; R3GAN sets it per stage."""
    return math.gcd(channels, max(1, channels // GROUP))


class BiasedLeakyReLU(nn.Module):
    """leaky_relu(x + b, 0.2), one bias per channel, b = 0 at init (the bias the convs leave out)."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x + self.bias.reshape(1, -1, 1, 1), SLOPE)


class Block(nn.Module):
    """x + W3 a(W2 a(W1 x)): W1, W3 1x1, W2 grouped 3x3 on EXPANSION x the channels; W3 = 0 at init (fix-up)."""

    def __init__(self, c: int, blocks_in_net: int):
        super().__init__()
        wide = c * EXPANSION
        gain = GAIN * blocks_in_net ** (-1 / (2 * 3 - 2))  # fix-up: 3 linear layers per branch
        self.branch = nn.Sequential(
            conv(c, wide, 1, gain),
            BiasedLeakyReLU(wide),
            conv(wide, wide, 3, gain, groups=cardinality(wide)),
            BiasedLeakyReLU(wide),
            conv(wide, c, 1, 0.0),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.branch(x)


def lowpass() -> Tensor:
    """The 4x4 kernel k k^T / 64, k = [1, 3, 3, 1] = [1, 2, 1] * [1, 1]: bilinear interpolation by 2."""
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    return torch.outer(k, k) / 64.0


class Resample(nn.Module):
    """x2 up (transposed depthwise conv with 4 k, stride 2) or down (depthwise conv with k, stride 2), the 1x1 conv
    that changes the width on the narrow side (before going up, after going down)."""

    def __init__(self, c_in: int, c_out: int, up: bool):
        super().__init__()
        self.up = up
        self.register_buffer("kernel", lowpass() * (4.0 if up else 1.0))
        self.linear = conv(c_in, c_out, 1, 1.0) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        if self.up:
            x = self.linear(x)
        c = x.shape[1]
        k = self.kernel.to(x.dtype).expand(c, 1, 4, 4)
        x = (F.conv_transpose2d if self.up else F.conv2d)(x, k, stride=2, padding=1, groups=c)
        return x if self.up else self.linear(x)


class R3GANGenerator(nn.Module):
    """z -> basis (c, 7, 7) * (W z) -> blocks -> up 14 -> blocks -> up 28 -> blocks -> 1x1 conv to C channels."""

    def __init__(self, z_dim: int, channels: int, widths: Sequence[int]):
        super().__init__()
        L = BLOCKS * len(widths)
        self.basis = nn.Parameter(torch.randn(widths[0], BASIS, BASIS))
        self.scale = nn.Linear(z_dim, widths[0], bias=False)
        msr_(self.scale.weight, 1.0)
        layers: list = []
        for i, c in enumerate(widths):
            if i:
                layers.append(Resample(widths[i - 1], c, up=True))
            layers += [Block(c, L) for _ in range(BLOCKS)]
        self.body = nn.Sequential(*layers)
        self.out = conv(widths[-1], channels, 1, 1.0)
        self.z_dim = z_dim

    def forward(self, z: Tensor) -> Tensor:
        h = self.basis.unsqueeze(0) * self.scale(z.reshape(z.shape[0], -1))[:, :, None, None]
        return self.out(self.body(h))


class R3GANDiscriminator(nn.Module):
    """x -> 1x1 conv -> blocks -> down 14 -> blocks -> down 7 -> blocks -> depthwise 7x7 conv -> linear -> logit."""

    def __init__(self, channels: int, widths: Sequence[int]):
        super().__init__()
        L = BLOCKS * len(widths)
        self.inp = conv(channels, widths[0], 1, 1.0)
        layers: list = []
        for i, c in enumerate(widths):
            layers += [Block(c, L) for _ in range(BLOCKS)]
            if i + 1 < len(widths):
                layers.append(Resample(c, widths[i + 1], up=False))
        self.body = nn.Sequential(*layers)
        c = widths[-1]
        self.basis = nn.Conv2d(c, c, BASIS, groups=c, bias=False)  # the whole 7x7 map, per channel
        msr_(self.basis.weight, 1.0)
        self.head = nn.Linear(c, 1, bias=False)
        msr_(self.head.weight, 1.0)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.basis(self.body(self.inp(x))).flatten(1)).squeeze(-1)


def r3gan_generator(
    z_dim: int = 64, channels: int = 3, width: float = 1.0, generator: Optional[torch.Generator] = None
) -> nn.Module:
    """R3GAN-style G on 28x28: z ~ N(0, I_64) -> round(w (128, 64, 32)) channels at 7, 14, 28 -> C maps (Huang et al.
    2024, Config E; stages and widths ours)."""
    with seeded(generator):
        return R3GANGenerator(z_dim, channels, [units(c, width) for c in WIDTHS])


def r3gan_discriminator(
    channels: int = 3, width: float = 1.0, generator: Optional[torch.Generator] = None
) -> nn.Module:
    """R3GAN-style D on 28x28: round(w (32, 64, 128)) channels at 28, 14, 7 -> one logit (Huang et al. 2024,
    Config E; stages and widths ours)."""
    with seeded(generator):
        return R3GANDiscriminator(channels, [units(c, width) for c in reversed(WIDTHS)])


def build(spec: NetSpec, generator: Optional[torch.Generator] = None):
    """(G, D), G first from the generator; no normalisation layers by design, so spec's BatchNorm flags are unused."""
    G = r3gan_generator(spec.z_dim, spec.channels, spec.g_width, generator)
    return G, r3gan_discriminator(spec.channels, spec.d_width, generator)


FAMILY = NetFamily("r3gan", build, ("images",), 64, "Huang et al. 2024 (R3GAN), Config E, official code's Networks.py")
