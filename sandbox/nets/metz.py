"""The Stacked MNIST nets of the discriminator-size experiment (Metz et al. 2017, Sec. 3.3 and Table 2), as released
in PacGAN's code (Lin et al. 2018, fjxmlzn/PacGAN, stacked_MNIST_experiments/unrolled_GAN_experiment/D=0.25G, D=0.5G).

G: z ~ N(0, I_256) -> Linear to 64 x 4 x 4 -> BN, ReLU -> transposed convs 3x3 stride 2 to 32 @ 7x7, 16 @ 14x14,
8 @ 28x28, each BN, ReLU -> conv 3x3 to 3 channels -> tanh: 287,875 parameters.
D: three convs 3x3 stride 2 (28 -> 14 -> 7 -> 4) with (2, 4, 8) filters ("D = 1/4 G", 585 parameters) or
(4, 8, 16) ("D = 1/2 G", 1,889), each followed by BN and LeakyReLU(0.3), then a linear layer to one logit.
Here the D filters are round((8, 16, 32) * width): width 0.25 and 0.5 are the paper's two Ds, and width 1
(8, 16, 32, G's own last three filter counts) is our larger D, not one of the paper's. G's (64, 32, 16, 8) scale
with its width likewise (1 = paper). Data: Stacked MNIST in [-1, 1], 3 channels; nothing else fits.

Padding is TensorFlow's 'SAME', which that code uses: a stride-2 conv on an even size pads only the bottom and
right, so D pads (0, 1) there and G's transposed convs are the adjoints of those convs (computed unpadded and
cropped); shapes and counts equal PyTorch's symmetric padding, the sampling grid is TensorFlow's.
Init as DCGAN-tensorflow's ops: conv weights truncated normal, std 0.02 cut at 2 std; transposed-conv and linear
weights N(0, 0.02); biases 0 (kept before BN, as there); BN scale 1, shift 0, eps 1e-5, momentum 0.1 (TF decay 0.9).

Optimiser of the released config, for a trainer preset: Adam with lr_D 2e-4, lr_G 1e-4, betas (0.5, 0.99),
batch 128, the non-saturating loss, one D step then one G step, 500k iterations, fresh Stacked MNIST every batch.
"""

import math
from typing import Optional

import torch
from torch import Tensor, nn

from sandbox.nets import gemm
from sandbox.nets.base import NetFamily, NetSpec, seeded, units

G_FILTERS = (64, 32, 16, 8)  # after the projection, then after each transposed conv
D_FILTERS = (8, 16, 32)  # at width 1; the paper's Ds are width 0.25 and 0.5


def same_pads(size: int, kernel: int = 3, stride: int = 2) -> tuple:
    """(before, after) of TF 'SAME': total = max((ceil(n/s) - 1) s + k - n, 0), the odd pixel after (TF nn docs)."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class UpSame(nn.Module):
    """Transposed conv 3x3 stride 2 to size x size, TF conv2d_transpose 'SAME': the adjoint of a SAME conv from it."""

    def __init__(self, c_in: int, c_out: int, size: int):
        super().__init__()
        self.conv = nn.ConvTranspose2d(c_in, c_out, 3, 2)  # unpadded: (n - 1) * 2 + 3 rows, then cropped
        self.start, self.size = same_pads(size)[0], size

    def forward(self, x: Tensor) -> Tensor:
        # channels_last on a CPU: per layer 1.5-1.9x oneDNN's kernels forward, 1.3-1.4x forward + backward; the step
        # 1.12x (benchmarks.metz)
        if gemm.nhwc(self.conv, x):
            conv = self.conv
            return gemm.conv_transpose2d_nhwc(x, conv.weight, conv.bias, conv.stride[0], self.start, self.size)
        rows = slice(self.start, self.start + self.size)
        y = self.conv(x)
        # The crop is a strided view, and BatchNorm on a strided view is many-fold slower on a CPU (1.5-4x measured,
        # 10x at 4x the channels, as in a grouped ensemble): copy it out in the conv output's own memory format.
        fmt = torch.channels_last if y.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        return y[..., rows, rows].contiguous(memory_format=fmt)


@torch.no_grad()
def metz_init_(module: nn.Module, generator: Optional[torch.Generator] = None) -> nn.Module:
    """Conv weights ~ N(0, 0.02) cut at +-0.04, transposed-conv/linear ~ N(0, 0.02), biases 0, BN (1, 0) (DCGAN-tf)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.trunc_normal_(m.weight, 0.0, 0.02, -0.04, 0.04, generator=generator)
        elif isinstance(m, (nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02, generator=generator)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.BatchNorm2d)) and m.bias is not None:
            nn.init.zeros_(m.bias)
    return module


def _norm(c: int, batchnorm: bool) -> nn.Module:
    return nn.BatchNorm2d(c, eps=1e-5, momentum=0.1) if batchnorm else nn.Identity()


class MetzGenerator(nn.Module):
    """z (B, z_dim) -> Linear -> (c0, 4, 4) -> 7x7 -> 14x14 -> 28x28 -> conv to C channels, tanh (Metz et al. 2017)."""

    def __init__(self, z_dim: int, channels: int, width: float, batchnorm: bool):
        super().__init__()
        c0, c1, c2, c3 = (units(c, width) for c in G_FILTERS)
        self.project = nn.Linear(z_dim, c0 * 4 * 4)
        self.body = nn.Sequential(
            _norm(c0, batchnorm),
            nn.ReLU(),  # (B, c0, 4, 4)
            UpSame(c0, c1, 7),
            _norm(c1, batchnorm),
            nn.ReLU(),  # (B, c1, 7, 7)
            UpSame(c1, c2, 14),
            _norm(c2, batchnorm),
            nn.ReLU(),  # (B, c2, 14, 14)
            UpSame(c2, c3, 28),
            _norm(c3, batchnorm),
            nn.ReLU(),  # (B, c3, 28, 28)
            nn.Conv2d(c3, channels, 3, 1, 1),
            nn.Tanh(),  # (B, C, 28, 28)
        )
        self.c0 = c0

    def forward(self, z: Tensor) -> Tensor:
        return self.body(self.project(z).reshape(z.shape[0], self.c0, 4, 4))


class MetzDiscriminator(nn.Module):
    """x (B, C, 28, 28) -> 14x14 -> 7x7 -> 4x4 by SAME convs 3x3 stride 2, BN, LeakyReLU 0.3 -> linear -> one logit."""

    def __init__(self, channels: int, width: float, batchnorm: bool):
        super().__init__()
        filters = [units(c, width) for c in D_FILTERS]
        layers, c_in = [], channels
        for c, size in zip(filters, (28, 14, 7)):
            before, after = same_pads(size)
            layers += [nn.ZeroPad2d((before, after, before, after)), nn.Conv2d(c_in, c, 3, 2)]
            layers += [_norm(c, batchnorm), nn.LeakyReLU(0.3)]
            c_in = c
        self.features = nn.Sequential(*layers)  # (B, c3, 4, 4)
        self.head = nn.Linear(c_in * 4 * 4, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x).flatten(1)).squeeze(-1)  # flatten copies if channels_last; view would fail


def metz_generator(
    z_dim: int = 256,
    channels: int = 3,
    width: float = 1.0,
    batchnorm: bool = True,
    generator: Optional[torch.Generator] = None,
) -> nn.Module:
    """Stacked MNIST G: z ~ N(0, I_256) -> 64w x 4 x 4 -> 32w, 16w, 8w maps -> 3 in [-1, 1] (Metz et al. 2017)."""
    with seeded(generator):
        return metz_init_(MetzGenerator(z_dim, channels, width, batchnorm))


def metz_discriminator(
    channels: int = 3, width: float = 0.5, batchnorm: bool = True, generator: Optional[torch.Generator] = None
) -> nn.Module:
    """Stacked MNIST D with round((8, 16, 32) w) filters: w = 1/4, 1/2 the paper's Ds, 1 ours (Metz et al. 2017)."""
    with seeded(generator):
        return metz_init_(MetzDiscriminator(channels, width, batchnorm))


def build(spec: NetSpec, generator: Optional[torch.Generator] = None):
    """(metz_generator, metz_discriminator) at the spec's widths and BatchNorm flags, G first (Metz et al. 2017)."""
    G = metz_generator(spec.z_dim, spec.channels, spec.g_width, spec.batchnorm_g, generator)
    return G, metz_discriminator(spec.channels, spec.d_width, spec.batchnorm_d, generator)


FAMILY = NetFamily(
    "metz",
    build,
    ("images",),
    256,
    "Metz et al. 2017 Stacked MNIST nets, as released in PacGAN's code, Lin et al. 2018",
    channels=(3,),
)
