"""The f-divergences of f-GAN (Nowozin, Cseke, Tomioka 2016, Tables 1-2): f, f', f*, and the output activation.

D_f(P || Q) = E_Q f(p/q). The critic's raw logit v goes through the activation g_f, so T = g_f(v) always lies in
dom f*. `conj_act(v)` is the stable closed form of f*(g_f(v)), the fake-sample term of the f-GAN value
V = E_P g_f(v) - E_Q f*(g_f(v)). `slope_inf` is lim_{u->inf} f(u)/u, the weight of p where q = 0.
All functions are element-wise torch functions; nats throughout.

The activation pairs (g_f, f* o g_f) are written once, over a small namespace of operations (`Ops`): torch's here,
sympy's in `sandbox.theory.symbolic_games`, so the symbolic derivations differentiate the very terms the
trainer uses (`ACTIVATIONS`). The objectives are written over the same `Ops`.
"""

import math
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

LOG2 = math.log(2.0)


class Ops(NamedTuple):
    """The operations the objectives and activations are written in, for one backend (torch or sympy)."""

    softplus: Callable  # log(1 + e^t), stable
    relu: Callable  # max(0, t)
    exp: Callable
    expm1: Callable  # e^t - 1, stable near 0
    log2: object  # the constant log 2


TORCH_OPS = Ops(softplus=F.softplus, relu=F.relu, exp=torch.exp, expm1=torch.expm1, log2=LOG2)


def _activations(name: str, ops: Ops):
    """(g_f, f* o g_f) of one f-divergence over `ops` (Nowozin et al. 2016, Table 2), written in stable forms."""
    return {
        "kl": (lambda v: v, lambda v: ops.exp(v - 1)),
        "reverse_kl": (lambda v: -ops.exp(-v), lambda v: v - 1),  # f*(g(v)) = -1 - log(exp(-v))
        "pearson": (lambda v: v, lambda v: v * v / 4 + v),
        "squared_hellinger": (lambda v: -ops.expm1(-v), ops.expm1),  # g = 1 - e^-v; (1 - e^-v)/e^-v = e^v - 1
        "jensen_shannon": (lambda v: ops.log2 - ops.softplus(-v), lambda v: ops.softplus(v) - ops.log2),
        "gan": (lambda v: -ops.softplus(-v), ops.softplus),  # log sigmoid(v); -log(1 - sigmoid(v))
    }[name]


def activations(name: str, ops: Ops = TORCH_OPS):
    """(g_f, f* o g_f) for `name` over `ops`: output activation and fake-sample term of f-GAN (Nowozin et al. 2016)."""
    if name not in F_NAMES:
        raise ValueError(f"unknown f-divergence {name!r}; valid names: {', '.join(sorted(F_NAMES))}")
    return _activations(name, ops)


F_NAMES = ("kl", "reverse_kl", "pearson", "squared_hellinger", "jensen_shannon", "gan")


class FFunction(NamedTuple):
    name: str
    f: Callable[[Tensor], Tensor]  # generator function, convex; f(1) = 0 except GAN: f(1) = -log 4
    f_prime: Callable[[Tensor], Tensor]  # f'(u); T* = f'(p/q) is the optimal critic output
    conj: Callable[[Tensor], Tensor]  # Fenchel conjugate f*(t) = sup_u u t - f(u)
    act: Callable[[Tensor], Tensor]  # output activation g_f: R -> dom f*
    conj_act: Callable[[Tensor], Tensor]  # f*(g_f(v)), written in a stable form
    slope_inf: float  # lim f(u)/u as u -> inf
    f_at_0: float  # f(0) = lim_{u->0+} f(u), the weight of q where p = 0
    source: str


def _xlogx(u: Tensor) -> Tensor:
    return torch.xlogy(u, u)  # 0 log 0 = 0


F_FUNCTIONS = {
    "kl": FFunction(
        "kl",
        f=_xlogx,
        f_prime=lambda u: torch.log(u) + 1.0,
        conj=lambda t: torch.exp(t - 1.0),
        act=activations("kl")[0],
        conj_act=activations("kl")[1],
        slope_inf=math.inf,
        f_at_0=0.0,
        source="Nowozin et al. 2016, Table 2 (Kullback-Leibler)",
    ),
    "reverse_kl": FFunction(
        "reverse_kl",
        f=lambda u: -torch.log(u),
        f_prime=lambda u: -1.0 / u,
        conj=lambda t: -1.0 - torch.log(-t),
        act=activations("reverse_kl")[0],
        conj_act=activations("reverse_kl")[1],
        slope_inf=0.0,
        f_at_0=math.inf,
        source="Nowozin et al. 2016, Table 2 (Reverse KL)",
    ),
    "pearson": FFunction(
        "pearson",
        f=lambda u: (u - 1.0) ** 2,
        f_prime=lambda u: 2.0 * (u - 1.0),
        conj=lambda t: t * t / 4.0 + t,
        act=activations("pearson")[0],
        conj_act=activations("pearson")[1],
        slope_inf=math.inf,
        f_at_0=1.0,
        source="Nowozin et al. 2016, Table 2 (Pearson chi^2)",
    ),
    "squared_hellinger": FFunction(
        "squared_hellinger",
        f=lambda u: (torch.sqrt(u) - 1.0) ** 2,
        f_prime=lambda u: 1.0 - 1.0 / torch.sqrt(u),
        conj=lambda t: t / (1.0 - t),
        act=activations("squared_hellinger")[0],
        conj_act=activations("squared_hellinger")[1],
        slope_inf=1.0,
        f_at_0=1.0,
        source="Nowozin et al. 2016, Table 2 (Squared Hellinger)",
    ),
    "jensen_shannon": FFunction(
        "jensen_shannon",
        # D_f with this f is KL(p||m) + KL(q||m) = 2 JSD(p, q); Nowozin et al. list the same f.
        f=lambda u: _xlogx(u) - (u + 1.0) * torch.log((u + 1.0) / 2.0),
        f_prime=lambda u: torch.log(2.0 * u / (1.0 + u)),
        conj=lambda t: -torch.log(2.0 - torch.exp(t)),
        act=activations("jensen_shannon")[0],
        conj_act=activations("jensen_shannon")[1],
        slope_inf=LOG2,
        f_at_0=LOG2,
        source="Nowozin et al. 2016, Table 2 (Jensen-Shannon)",
    ),
    "gan": FFunction(
        "gan",
        # D_f = 2 JSD - log 4: the original GAN value at the optimal critic (Goodfellow et al. 2014, Thm. 1).
        f=lambda u: _xlogx(u) - (u + 1.0) * torch.log(u + 1.0),
        f_prime=lambda u: torch.log(u / (1.0 + u)),
        conj=lambda t: -torch.log1p(-torch.exp(t)),
        act=activations("gan")[0],
        conj_act=activations("gan")[1],
        slope_inf=0.0,
        f_at_0=0.0,
        source="Nowozin et al. 2016, Table 2 (GAN)",
    ),
}
