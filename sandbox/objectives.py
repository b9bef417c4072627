"""GAN objectives: three element-wise terms of a logit, or a pair of terms of a logit difference (RpGAN).

An element-wise objective is (d_real, d_fake, g_fake): D minimises d_real(t_real) + d_fake(t_fake), G minimises
g_fake(t_fake). A pairwise (relativistic) objective scores each fake relative to a real sample: D minimises
pair_d(t_real - t_fake) and G minimises pair_g(t_fake - t_real) over paired samples (the i-th fake with the
i-th real, as the R3GAN code pairs them). Both players' losses take (real_logits, fake_logits); an element-wise
G loss ignores the real logits (pass None). Callers reduce: `d_loss`/`g_loss` take batch means (the trainer),
toy games sum `d_terms`/`g_terms` over independent games. D is large on real data. Stable forms only:
    -log sigmoid(t) = softplus(-t),   -log(1 - sigmoid(t)) = softplus(t).

Every objective is written once over `ops` (`sandbox.fdivs.Ops`): with torch's operations it is what the
trainer runs; `sandbox.theory.symbolic_games` builds the same objectives over sympy's (`OBJECTIVE_BUILDERS`).
"""

from typing import Callable, NamedTuple, Optional

from torch import Tensor

from sandbox.fdivs import F_FUNCTIONS, TORCH_OPS, FFunction, Ops, activations
from sandbox.registry import lookup


class Objective(NamedTuple):
    name: str
    d_real: Optional[Callable]  # D's loss on one real logit (element-wise objectives)
    d_fake: Optional[Callable]  # D's loss on one fake logit
    g_fake: Optional[Callable]  # G's loss on one fake logit
    source: str
    ffun: Optional[FFunction] = None  # the f-divergence behind an f-GAN objective
    pair_d: Optional[Callable] = None  # D's loss on t_real - t_fake of one (real, fake) pair (pairwise objectives)
    pair_g: Optional[Callable] = None  # G's loss on t_fake - t_real of one pair

    @property
    def pairwise(self) -> bool:
        """Whether the losses score fakes relative to paired reals (so G's loss needs the real logits)."""
        return self.pair_d is not None

    def d_terms(self, real_logits, fake_logits):
        """D's loss per game or per pair: d_real(t_r) + d_fake(t_f), or pair_d(t_r - t_f)."""
        if self.pairwise:
            return self.pair_d(real_logits - fake_logits)
        return self.d_real(real_logits) + self.d_fake(fake_logits)

    def g_terms(self, real_logits, fake_logits):
        """G's loss per game or per pair: g_fake(t_f), or pair_g(t_f - t_r)."""
        if self.pairwise:
            return self.pair_g(fake_logits - real_logits)
        return self.g_fake(fake_logits)

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """E_real d_real(t) + E_fake d_fake(t), or E_pairs pair_d(t_r - t_f): batch means."""
        if self.pairwise:
            return self.d_terms(real_logits, fake_logits).mean()
        # Two means, not the mean of the sum: the real and fake batches may differ in size.
        return self.d_real(real_logits).mean() + self.d_fake(fake_logits).mean()

    def g_loss(self, real_logits: Optional[Tensor], fake_logits: Tensor) -> Tensor:
        """E_fake g_fake(t), or E_pairs pair_g(t_f - t_r): a batch mean (real_logits unused element-wise)."""
        return self.g_terms(real_logits, fake_logits).mean()


def minimax(ops: Ops = TORCH_OPS) -> Objective:
    """V = E log D(x) + E log(1 - D(G(z))); G minimises log(1 - sigmoid t) = -softplus t (Goodfellow 2014, eq. 1)."""
    return Objective(
        "minimax",
        d_real=lambda t: ops.softplus(-t),  # -log sigmoid(t)
        d_fake=lambda t: ops.softplus(t),  # -log(1 - sigmoid(t))
        g_fake=lambda t: -ops.softplus(t),  # log(1 - sigmoid(t)): saturates as t -> -inf
        source="Goodfellow et al. 2014, eq. 1",
    )


def nonsaturating(ops: Ops = TORCH_OPS) -> Objective:
    """As minimax, but G minimises -log sigmoid(t) = softplus(-t) (Goodfellow et al. 2014, Sec. 3)."""
    return minimax(ops)._replace(
        name="nonsaturating",
        g_fake=lambda t: ops.softplus(-t),  # -log sigmoid(t)
        source="Goodfellow et al. 2014, Sec. 3 (the -log D trick)",
    )


def wasserstein(ops: Ops = TORCH_OPS) -> Objective:
    """D minimises -E t_real + E t_fake, G minimises -E t_fake; Lipschitz by clip/GP (Arjovsky et al. 2017, Alg. 1)."""
    return Objective(
        "wasserstein",
        d_real=lambda t: -t,
        d_fake=lambda t: t,
        g_fake=lambda t: -t,
        source="Arjovsky, Chintala, Bottou 2017, Algorithm 1",
    )


def hinge(ops: Ops = TORCH_OPS) -> Objective:
    """D: relu(1 - t_real) + relu(1 + t_fake); G: -t_fake (Lim & Ye 2017; Miyato et al. 2018, eq. 17)."""
    return Objective(
        "hinge",
        d_real=lambda t: ops.relu(1 - t),
        d_fake=lambda t: ops.relu(1 + t),
        g_fake=lambda t: -t,
        source="Lim & Ye 2017; Miyato et al. 2018",
    )


def least_squares(a=0, b=1, c=1, ops: Ops = TORCH_OPS) -> Objective:
    """D: 1/2 (t_real - b)^2 + 1/2 (t_fake - a)^2; G: 1/2 (t_fake - c)^2; 0-1 coding (Mao et al. 2017, eq. 2)."""
    return Objective(
        "least_squares",
        d_real=lambda t: (t - b) ** 2 / 2,
        d_fake=lambda t: (t - a) ** 2 / 2,
        g_fake=lambda t: (t - c) ** 2 / 2,
        source="Mao et al. 2017, eq. 2 with a=0, b=1, c=1",
    )


def fgan(name: str, generator: str = "saddle", ops: Ops = TORCH_OPS) -> Objective:
    """D maximises E_P g_f(v) - E_Q f*(g_f(v)); G minimises the same (`saddle`, Nowozin et al. 2016, Alg. 1).

    generator='activation' is the paper's Sec. 3.2 alternative, G minimising -E_Q g_f(v): a named deviation.
    """
    ffun = lookup(F_FUNCTIONS, name, "f-divergence")
    act, conj_act = activations(name, ops)
    if generator == "saddle":
        g_fake = lambda v: -conj_act(v)
    elif generator == "activation":
        g_fake = lambda v: -act(v)
    else:
        raise ValueError(f"unknown f-GAN generator loss {generator!r}; valid names: activation, saddle")
    return Objective(
        name,
        d_real=lambda v: -act(v),
        d_fake=conj_act,
        g_fake=g_fake,
        source=f"Nowozin et al. 2016, Alg. 1 ({ffun.source})",
        ffun=ffun,
    )


def rpgan(ops: Ops = TORCH_OPS) -> Objective:
    """D minimises E softplus(-(t_r - t_f)), G minimises E softplus(-(t_f - t_r)) over pairs (Huang et al. 2024, eq. 2).

    The relativistic pairing GAN (Jolicoeur-Martineau 2019) with f(t) = -log(1 + e^-t): L = E f(D(G(z)) - D(x)),
    the i-th fake paired with the i-th real as in the official R3GAN trainer.
    """
    return Objective(
        "rpgan",
        d_real=None,
        d_fake=None,
        g_fake=None,
        source="Huang, Gokaslan, Kuleshov, Tompkin 2024, eq. 2; Jolicoeur-Martineau 2019",
        pair_d=lambda delta: ops.softplus(-delta),  # delta = t_real - t_fake: -log sigmoid(t_r - t_f)
        pair_g=lambda delta: ops.softplus(-delta),  # delta = t_fake - t_real: -log sigmoid(t_f - t_r)
    )


def rpgan_minimax(ops: Ops = TORCH_OPS) -> Objective:
    """RpGAN's zero-sum game: D as rpgan, G minimises -E softplus(t_f - t_r), saturating (Huang et al. 2024, eq. 2).

    Eq. 2 is a minimax game (G minimises what D maximises), the form App. B analyses on the Dirac-GAN; the
    official code trains rpgan, the non-saturating G loss, as the classic GAN trains nonsaturating, not minimax.
    """
    return rpgan(ops)._replace(
        name="rpgan_minimax",
        source="Huang, Gokaslan, Kuleshov, Tompkin 2024, eq. 2 and App. B (the zero-sum form)",
        pair_g=lambda delta: -ops.softplus(delta),  # delta = t_fake - t_real: minus D's loss, log(1 - sigmoid(delta))
    )


# name -> the objective's constructor over an `Ops` namespace: torch here, sympy in the symbolic games.
OBJECTIVE_BUILDERS = {
    "minimax": minimax,
    "nonsaturating": nonsaturating,
    "wasserstein": wasserstein,
    "hinge": hinge,
    "least_squares": lambda ops=TORCH_OPS: least_squares(ops=ops),
    "rpgan": rpgan,
    "rpgan_minimax": rpgan_minimax,
    **{name: (lambda ops=TORCH_OPS, name=name: fgan(name, ops=ops)) for name in F_FUNCTIONS},
}

OBJECTIVES = {name: build() for name, build in OBJECTIVE_BUILDERS.items()}


def get_objective(name: str) -> Objective:
    """OBJECTIVES[name], or a ValueError listing the valid objective names."""
    return lookup(OBJECTIVES, name, "objective")
