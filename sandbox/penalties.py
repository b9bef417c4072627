"""Gradient penalties on D, weight clipping and spectral normalisation.

A penalty is a `Penalty` record built by a constructor that binds its weight; calling it,
    penalty(D, real, fake, generator=None) -> per-sample terms, shape (B,),
gives the terms. Callers reduce: the trainer takes the mean, toy games sum over independent games. D maps a batch
of shape (B, ...) to B logits; a toy D on scalar parameters takes x of shape (B,), an image D takes (B, C, H, W).
Norms are per sample (over every axis but the first). Penalties run in fp32 even under autocast. `no_penalty()`
is the "none" case: weight 0, and callers may skip it (`penalty.weight == 0` adds nothing).
"""

import math
from typing import Callable, Iterable, NamedTuple, Optional

import torch
from torch import Tensor, nn

from sandbox.registry import lookup


class Penalty(NamedTuple):
    name: str
    weight: float  # gamma (R1/R2) or lambda (WGAN-GP, DRAGAN); 0 for no_penalty
    terms: Callable[..., Tensor]  # (D, real, fake, generator) -> per-sample terms (B,)
    where: str  # where the gradient is taken: none, real, fake, real+fake, interpolates, near_real
    random: bool  # draws random numbers (so a batched ensemble must call it per member)
    source: str

    def __call__(self, D, real, fake, generator=None) -> Tensor:
        return self.terms(D, real, fake, generator)


def _full(x: Tensor) -> Tensor:
    """x detached, promoted to fp32 if it is half precision (float64 toy games stay float64)."""
    x = x.detach()
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def input_grad(D: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """grad_x sum_i D(x_i), i.e. each sample's own input gradient, kept in the graph (create_graph=True)."""
    x = _full(x).requires_grad_(True)
    # create_graph=True records the backward as ops, so it too must run outside autocast to stay fp32.
    with torch.autocast(device_type=x.device.type, enabled=False):
        (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return g


def grad_norm_sq(D: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """||grad_x D(x_i)||^2 per sample i, shape (B,)."""
    g = input_grad(D, x)
    return g.reshape(g.shape[0], -1).square().sum(dim=1)


def grad_norm(D: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """||grad_x D(x_i)|| per sample i, shape (B,); the subgradient at a zero gradient is 0."""
    g = input_grad(D, x)
    return torch.linalg.vector_norm(g.reshape(g.shape[0], -1), dim=1)


def _per_sample(shape_like: Tensor, generator: Optional[torch.Generator]) -> Tensor:
    """One U[0, 1) draw per sample, broadcastable against a batch of shape (B, ...)."""
    shape = (shape_like.shape[0],) + (1,) * (shape_like.dim() - 1)
    return torch.rand(shape, generator=generator, device=shape_like.device, dtype=_full(shape_like).dtype)


def no_penalty(weight: float = 0.0) -> Penalty:
    """0 for every sample: no regulariser (the weight argument is accepted and ignored, so every name takes one)."""

    def terms(D, real, fake, generator=None):
        x = real if real is not None else fake
        return _full(x).new_zeros(x.shape[0])

    return Penalty("none", 0.0, terms, "none", False, "no penalty (the DCGAN paper uses none)")


def r1(gamma: float = 10.0) -> Penalty:
    """gamma/2 * ||grad_x D(x)||^2 on real samples (Mescheder, Geiger, Nowozin 2018, eq. 9)."""
    return Penalty(
        "r1",
        gamma,
        lambda D, real, fake, generator=None: 0.5 * gamma * grad_norm_sq(D, real),
        "real",
        False,
        "Mescheder, Geiger, Nowozin 2018, eq. 9",
    )


def r2(gamma: float = 10.0) -> Penalty:
    """gamma/2 * ||grad_x D(x)||^2 on generated samples (Mescheder, Geiger, Nowozin 2018, eq. 10)."""
    return Penalty(
        "r2",
        gamma,
        lambda D, real, fake, generator=None: 0.5 * gamma * grad_norm_sq(D, fake),
        "fake",
        False,
        "Mescheder, Geiger, Nowozin 2018, eq. 10",
    )


def r1_r2(gamma: float = 10.0) -> Penalty:
    """gamma/2 ||grad_x D(x_real)||^2 + gamma/2 ||grad_x D(x_fake)||^2, per pair (Huang et al. 2024, Sec. 2.2)."""

    def terms(D, real, fake, generator=None):
        return 0.5 * gamma * (grad_norm_sq(D, real) + grad_norm_sq(D, fake))

    return Penalty("r1_r2", gamma, terms, "real+fake", False, "Huang et al. 2024 (R3GAN), Sec. 2.2")


def wgan_gp(lam: float = 10.0, center: float = 1.0, one_sided: bool = False) -> Penalty:
    """lam (||grad D(x_hat)|| - center)^2, x_hat = e x_real + (1 - e) x_fake, e ~ U[0,1] each (Gulrajani et al. 2017).

    center=0 gives the zero-centred variant (Thanh-Tung et al. 2019); one_sided penalises only norms above
    `center` (Gulrajani et al. 2017, Sec. 4; Petzka et al. 2018).
    """

    def terms(D, real, fake, generator=None):
        eps = _per_sample(real, generator)
        x_hat = eps * _full(real) + (1.0 - eps) * _full(fake)
        excess = grad_norm(D, x_hat) - center
        if one_sided:
            excess = excess.clamp(min=0.0)
        return lam * excess.square()

    return Penalty("wgan_gp", lam, terms, "interpolates", True, "Gulrajani et al. 2017, Alg. 1")


def dragan(lam: float = 10.0, k: float = 1.0, c: float = 10.0, noise: str = "gaussian") -> Penalty:
    """lam * (||grad D(x + delta)|| - k)^2 with delta ~ N(0, c I) around real data (Kodali et al. 2017, eq. 5).

    noise='uniform' is the authors' released code instead of the paper: x_hat = x + a * 0.5 std(x) U[0,1), a ~ U[0,1)
    per sample (a named deviation).
    """
    if noise not in ("gaussian", "uniform"):
        raise ValueError(f"unknown DRAGAN noise {noise!r}; valid names: gaussian, uniform")

    def terms(D, real, fake, generator=None):
        x = _full(real)
        if noise == "gaussian":
            delta = math.sqrt(c) * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        else:
            delta = (
                _per_sample(x, generator)
                * 0.5
                * x.std()
                * torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            )
        return lam * (grad_norm(D, x + delta) - k).square()

    return Penalty("dragan", lam, terms, "near_real", True, "Kodali et al. 2017, eq. 5")


PENALTIES = {
    "none": no_penalty,
    "r1": r1,
    "r2": r2,
    "r1_r2": r1_r2,
    "wgan_gp": wgan_gp,
    "dragan": dragan,
}


def make_penalty(name: str, *args, **kwargs) -> Penalty:
    """PENALTIES[name](*args, **kwargs), or a ValueError listing the valid penalty names."""
    return lookup(PENALTIES, name, "penalty")(*args, **kwargs)


@torch.no_grad()
def clip_weights_(params: Iterable[Tensor], c: float = 0.01) -> None:
    """Project every parameter onto the box [-c, c] after the step (Arjovsky et al. 2017, Alg. 1, line 7)."""
    for p in params:
        p.clamp_(-c, c)


def spectral_norm_(module: nn.Module, n_power_iterations: int = 1) -> nn.Module:
    """Put torch's spectral-norm parametrisation on every Linear and Conv layer of `module` (Miyato et al. 2018)."""
    for m in list(module.modules()):
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)):
            nn.utils.parametrizations.spectral_norm(m, n_power_iterations=n_power_iterations)
    return module
