"""Generators and discriminators, one family per module, and NETS: the registry the trainer builds players from.

A family module defines `FAMILY = NetFamily(name, build, data_kinds, z_dim, source)`, with build(spec,
generator) -> (G, D); `discover` finds every such module in this package, so a new family is one file (plus
its test). Families: mlp (2-D mixtures), dcgan, resnet_sn (DCGAN G, SN-ResNet D), metz (the Stacked MNIST
D-size nets of Metz et al. 2017), r3gan (small normalisation-free ResNets built as R3GAN's code builds them)
and dirac (the one-parameter Dirac-GAN players). `vae` holds the one model that is no G/D pair: the
likelihood-trained VAE set beside the GANs (C5).

Every D maps a batch (B, ...) to B logits, shape (B,), large on real data. Image Ds accept channels_last
input (they flatten with reshape, never view). G and D take separate width multipliers. Constructors take an
optional `generator`: given one, the whole construction (default inits, N(0, 0.02) inits, spectral-norm
vectors) is seeded from it and the global RNG is left untouched; without one they draw from the caller's
global seed.
"""

import importlib
import pkgutil
import sys
from types import ModuleType
from typing import Union

from sandbox.nets.base import NetFamily, NetSpec, param_count, seeded, units
from sandbox.nets.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_discriminator, dcgan_generator, dcgan_init_
from sandbox.nets.dirac import DiracD, DiracG
from sandbox.nets.metz import MetzDiscriminator, MetzGenerator, metz_discriminator, metz_generator, metz_init_
from sandbox.nets.mlp import MLP, mlp_discriminator, mlp_generator
from sandbox.nets.r3gan import R3GANDiscriminator, R3GANGenerator, r3gan_discriminator, r3gan_generator
from sandbox.nets.resnet import ResBlockDown, ResNetDiscriminator, resnet_discriminator
from sandbox.nets.vae import VAE, negative_elbo, vae
from sandbox.registry import lookup

__all__ = [
    "NETS",
    "NetFamily",
    "NetSpec",
    "check_fit",
    "discover",
    "get_family",
    "param_count",
    "seeded",
    "units",
    "MLP",
    "mlp_generator",
    "mlp_discriminator",
    "dcgan_init_",
    "DCGANGenerator",
    "DCGANDiscriminator",
    "dcgan_generator",
    "dcgan_discriminator",
    "ResBlockDown",
    "ResNetDiscriminator",
    "resnet_discriminator",
    "metz_init_",
    "MetzGenerator",
    "MetzDiscriminator",
    "metz_generator",
    "metz_discriminator",
    "R3GANGenerator",
    "R3GANDiscriminator",
    "r3gan_generator",
    "r3gan_discriminator",
    "DiracG",
    "DiracD",
    "VAE",
    "vae",
    "negative_elbo",
]


def discover(package: Union[str, ModuleType]) -> dict:
    """name -> FAMILY of every module of `package` that defines FAMILY = NetFamily(...), sorted by name."""
    pkg = importlib.import_module(package) if isinstance(package, str) else package
    found = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        module = importlib.import_module(f"{pkg.__name__}.{info.name}")
        family = getattr(module, "FAMILY", None)
        if family is None:
            continue  # a helper module such as base
        if not isinstance(family, NetFamily):
            raise TypeError(f"{module.__name__}.FAMILY must be a NetFamily, got {type(family).__name__}")
        if family.name in found:
            first = found[family.name][1]
            raise ValueError(f"net family {family.name!r} is defined twice: in {first} and in {module.__name__}")
        found[family.name] = (family, module.__name__)
    return {name: found[name][0] for name in sorted(found)}


NETS = discover(sys.modules[__name__])  # name -> NetFamily; a CLI picks by name


def get_family(name: str) -> NetFamily:
    """NETS[name], or a ValueError listing the valid names."""
    return lookup(NETS, name, "net")


def check_fit(family: NetFamily, data: str, kind: str, channels: int) -> None:
    """None if data `data` (of `kind`, with `channels` image channels) fits the family, else a ValueError naming both.

    It fits when its kind is one of family.data_kinds and, where the family lists channel counts, its channels
    are one of them.
    """
    if kind not in family.data_kinds:
        raise ValueError(
            f"net {family.name!r} does not fit data {data!r}: {data!r} is {kind} data, "
            f"and {family.name!r} trains on {' or '.join(family.data_kinds)} data"
        )
    if family.channels and channels not in family.channels:
        raise ValueError(
            f"net {family.name!r} does not fit data {data!r}: {data!r} has {channels} channel(s), "
            f"and {family.name!r} needs {' or '.join(map(str, family.channels))}"
        )
