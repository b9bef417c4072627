"""A variational auto-encoder: the maximum-likelihood (forward KL) model the MNIST studies set beside a GAN (C5).

Kingma and Welling 2014 (AEVB, Sec. 5 and App. C.1-C.2): encoder and decoder MLPs of one tanh hidden layer of 500
units (MNIST), a diagonal Gaussian q(z | x), prior z ~ N(0, I), a Bernoulli decoder over pixels in [0, 1] and one z
per datapoint (L = 1); weights drawn from N(0, 0.01^2). Not a NetFamily: it is no G/D pair, so `discover` skips it.
As a generator (`forward`) it returns the decoder's mean, the image a VAE's samples are shown as, mapped to the
project's pixel scale [-1, 1].
"""

import math
from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sandbox.nets.base import seeded

INIT_STD = 0.01  # Kingma and Welling 2014, Sec. 5: "parameters were initialized by random sampling from N(0, 0.01)"


class VAE(nn.Module):
    """x (B, 1, 28, 28) in [0, 1] -> (mu, logvar) of q(z | x); z -> Bernoulli logits of the 784 pixels."""

    def __init__(self, z_dim: int = 20, hidden: int = 500, pixels: int = 784):
        super().__init__()
        if min(z_dim, hidden, pixels) < 1:
            raise ValueError(f"VAE needs z_dim, hidden, pixels >= 1, got {z_dim}, {hidden}, {pixels}")
        self.z_dim, self.pixels = z_dim, pixels
        self.enc = nn.Linear(pixels, hidden)
        self.enc_mu, self.enc_logvar = nn.Linear(hidden, z_dim), nn.Linear(hidden, z_dim)
        self.dec = nn.Sequential(nn.Linear(z_dim, hidden), nn.Tanh(), nn.Linear(hidden, pixels))

    def encode(self, x01: Tensor) -> tuple:
        h = torch.tanh(self.enc(x01.reshape(x01.shape[0], -1)))
        return self.enc_mu(h), self.enc_logvar(h)

    def decode_logits(self, z: Tensor) -> Tensor:
        return self.dec(z)

    def forward(self, z: Tensor) -> Tensor:
        """z (B, z_dim) -> the decoder's mean image 2 sigmoid(logits) - 1, shape (B, 1, 28, 28): used as a G."""
        side = math.isqrt(self.pixels)
        return (2 * torch.sigmoid(self.decode_logits(z)) - 1).reshape(-1, 1, side, side)


def vae(z_dim: int = 20, hidden: int = 500, generator: Optional[torch.Generator] = None) -> VAE:
    """The AEVB MNIST model, weights ~ N(0, 0.01^2), biases 0 (Kingma and Welling 2014, Sec. 5)."""
    with seeded(generator):
        model = VAE(z_dim, hidden)
        for m in model.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, INIT_STD)
                nn.init.zeros_(m.bias)
    return model


class Elbo(NamedTuple):
    loss: Tensor  # -ELBO per sample (B,), nats: reconstruction + kl
    reconstruction: Tensor  # -log p(x | z) at one z ~ q(z | x), per sample (B,)
    kl: Tensor  # KL(q(z | x) || N(0, I)) in closed form, per sample (B,)


def negative_elbo(model: VAE, x01: Tensor, generator: Optional[torch.Generator] = None) -> Elbo:
    """-ELBO = -log p(x | z) + KL(q(z|x) || N(0, I)), z = mu + sigma * eps (Kingma and Welling 2014, eq. 10, L = 1)."""
    mu, logvar = model.encode(x01)
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    z = mu + torch.exp(0.5 * logvar) * eps
    target = x01.reshape(x01.shape[0], -1)
    # Bernoulli log-likelihood in the stable logit form: -log p = softplus(l) - x l (x may be a grey level in [0, 1])
    recon = F.binary_cross_entropy_with_logits(model.decode_logits(z), target, reduction="none").sum(1)
    kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(1)  # App. B: -1/2 sum(1 + log s^2 - mu^2 - s^2)
    return Elbo(recon + kl, recon, kl)
