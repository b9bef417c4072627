"""GAN objectives as three element-wise terms of a logit (D is large on real data).

An objective is (d_real, d_fake, g_fake): D minimises d_real(t_real) + d_fake(t_fake), G minimises
g_fake(t_fake). Callers reduce: `d_loss`/`g_loss` take batch means (the trainer); toy games sum over
independent games; discrete studies weight by p and q. Stable forms only:
    -log sigmoid(t) = softplus(-t),   -log(1 - sigmoid(t)) = softplus(t).
"""

from typing import Callable, NamedTuple, Optional

import torch.nn.functional as F
from torch import Tensor

from sandbox.fdivs import F_FUNCTIONS, FFunction
from sandbox.registry import lookup


class Objective(NamedTuple):
    name: str
    d_real: Callable[[Tensor], Tensor]  # D's loss on one real logit
    d_fake: Callable[[Tensor], Tensor]  # D's loss on one fake logit
    g_fake: Callable[[Tensor], Tensor]  # G's loss on one fake logit
    source: str
    ffun: Optional[FFunction] = None  # the f-divergence behind an f-GAN objective

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """E_real d_real(t) + E_fake d_fake(t), batch means."""
        return self.d_real(real_logits).mean() + self.d_fake(fake_logits).mean()

    def g_loss(self, fake_logits: Tensor) -> Tensor:
        """E_fake g_fake(t), a batch mean."""
        return self.g_fake(fake_logits).mean()


def minimax() -> Objective:
    """V = E log D(x) + E log(1 - D(G(z))); G minimises log(1 - sigmoid t) = -softplus t (Goodfellow 2014, eq. 1)."""
    return Objective(
        "minimax",
        d_real=lambda t: F.softplus(-t),  # -log sigmoid(t)
        d_fake=lambda t: F.softplus(t),  # -log(1 - sigmoid(t))
        g_fake=lambda t: -F.softplus(t),  # log(1 - sigmoid(t)): saturates as t -> -inf
        source="Goodfellow et al. 2014, eq. 1",
    )


def nonsaturating() -> Objective:
    """As minimax, but G minimises -log sigmoid(t) = softplus(-t) (Goodfellow et al. 2014, Sec. 3)."""
    return minimax()._replace(
        name="nonsaturating",
        g_fake=lambda t: F.softplus(-t),  # -log sigmoid(t)
        source="Goodfellow et al. 2014, Sec. 3 (the -log D trick)",
    )


def wasserstein() -> Objective:
    """D minimises -E t_real + E t_fake, G minimises -E t_fake; Lipschitz by clip/GP (Arjovsky et al. 2017, Alg. 1)."""
    return Objective(
        "wasserstein",
        d_real=lambda t: -t,
        d_fake=lambda t: t,
        g_fake=lambda t: -t,
        source="Arjovsky, Chintala, Bottou 2017, Algorithm 1",
    )


def hinge() -> Objective:
    """D: relu(1 - t_real) + relu(1 + t_fake); G: -t_fake (Lim & Ye 2017; Miyato et al. 2018, eq. 17)."""
    return Objective(
        "hinge",
        d_real=lambda t: F.relu(1.0 - t),
        d_fake=lambda t: F.relu(1.0 + t),
        g_fake=lambda t: -t,
        source="Lim & Ye 2017; Miyato et al. 2018",
    )


def least_squares(a: float = 0.0, b: float = 1.0, c: float = 1.0) -> Objective:
    """D: 1/2 (t_real - b)^2 + 1/2 (t_fake - a)^2; G: 1/2 (t_fake - c)^2; 0-1 coding (Mao et al. 2017, eq. 2)."""
    return Objective(
        "least_squares",
        d_real=lambda t: 0.5 * (t - b) ** 2,
        d_fake=lambda t: 0.5 * (t - a) ** 2,
        g_fake=lambda t: 0.5 * (t - c) ** 2,
        source="Mao et al. 2017, eq. 2 with a=0, b=1, c=1",
    )


def fgan(name: str, generator: str = "saddle") -> Objective:
    """D maximises E_P g_f(v) - E_Q f*(g_f(v)); G minimises the same (`saddle`, Nowozin et al. 2016, Alg. 1).

    generator='activation' is the paper's Sec. 3.2 alternative, G minimising -E_Q g_f(v): a named deviation.
    """
    ffun = lookup(F_FUNCTIONS, name, "f-divergence")
    if generator == "saddle":
        g_fake = lambda v: -ffun.conj_act(v)
    elif generator == "activation":
        g_fake = lambda v: -ffun.act(v)
    else:
        raise ValueError(f"unknown f-GAN generator loss {generator!r}; valid names: activation, saddle")
    return Objective(
        name,
        d_real=lambda v: -ffun.act(v),
        d_fake=ffun.conj_act,
        g_fake=g_fake,
        source=f"Nowozin et al. 2016, Alg. 1 ({ffun.source})",
        ffun=ffun,
    )


OBJECTIVES = {
    "minimax": minimax(),
    "nonsaturating": nonsaturating(),
    "wasserstein": wasserstein(),
    "hinge": hinge(),
    "least_squares": least_squares(),
    **{name: fgan(name) for name in F_FUNCTIONS},
}


def get_objective(name: str) -> Objective:
    """OBJECTIVES[name], or a ValueError listing the valid objective names."""
    return lookup(OBJECTIVES, name, "objective")
