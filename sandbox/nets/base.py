"""What every net family shares: the spec it is built from, its registry entry, seeded construction, counts.

Kept apart from `sandbox.nets.__init__` so that family modules import it without importing the package that
discovers them (no partially initialised package at import time).
"""

from contextlib import contextmanager
from typing import Callable, NamedTuple, Optional

import torch
from torch import nn


class NetSpec(NamedTuple):
    """What the trainer resolves from its config and hands to any family's build."""

    z_dim: int  # latent size (the trainer puts the family's z_dim here when its config says 0)
    channels: int  # image channels of the data (0 for 2-D points and the Dirac line)
    g_width: float  # G width multiplier on the family's channel/unit counts (1 = its paper)
    d_width: float  # D width multiplier (1 = its paper, except where the family's docstring says otherwise)
    batchnorm_g: bool  # BatchNorm in G, for families that have it
    batchnorm_d: bool  # BatchNorm in D, for families that have it (off for gradient penalties)
    theta0: float  # Dirac-GAN only: initial generator parameter
    psi0: float  # Dirac-GAN only: initial critic parameter


class NetFamily(NamedTuple):
    """One registry entry: build(spec, generator) -> (G, D), the data it fits, its paper's latent size and source."""

    name: str
    build: Callable[[NetSpec, Optional[torch.Generator]], tuple]  # -> (G, D), seeded from the generator
    data_kinds: tuple  # data kinds it fits: "points" (2-D), "images", "dirac"
    z_dim: int  # the paper's latent size, used where the config's z_dim is 0
    source: str  # the paper / code it follows
    channels: tuple = ()  # image channel counts it fits; () = any


@contextmanager
def seeded(generator: Optional[torch.Generator]):
    """Run the block with the CPU global RNG seeded from `generator`, then restore it; no-op without one."""
    if generator is None:
        yield
        return
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)  # CPU only: the caller's CUDA RNG state stays as it was
        yield


def units(base: int, width: float) -> int:
    """Channels (or units) of a layer with `base` at width 1: max(1, round(base * width))."""
    if width <= 0:
        raise ValueError(f"width multiplier must be positive, got {width}")
    return max(1, round(base * width))


def param_count(module: nn.Module) -> int:
    """Number of trainable scalars, sum of p.numel() over parameters with requires_grad."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
