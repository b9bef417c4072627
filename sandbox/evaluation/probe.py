"""Probes of a generator held fixed: G's gradient norm under each G loss, and a fresh D trained against it.

Arjovsky & Bottou 2017 (Sec. 2.2, Figs. 2-3) freeze a DCGAN generator after 1, 10 and 25 epochs, train a new
discriminator from scratch against it, and watch ||grad_theta|| of the generator loss as D improves. These
helpers do that with the project's own pieces: the players, optimiser and data come from the trainer
(`sandbox.trainer.parts`, `sandbox.trainer.loop.make_run`), D's loss is `network_game`'s, and the gradient norms
differentiate the registered objectives' G terms (`sandbox.objectives`), so no loss is written twice.
A DCGAN's BatchNorm layers stay in training mode (batch statistics), as the trainer's G and D steps see them.
"""

import copy
from typing import Callable, Dict, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from sandbox.dynamics import Step, grads_y
from sandbox.games import network_game
from sandbox.objectives import Objective, minimax, nonsaturating

G_LOSSES = (minimax(), nonsaturating())  # the saturating log(1 - D) loss and the -log D loss


def snapshot(module: nn.Module) -> nn.Module:
    """A deep copy of a network (weights and buffers), so later training of the original leaves it unchanged."""
    return copy.deepcopy(module)


def generator_grad_norms(
    G: nn.Module,
    D: nn.Module,
    z: Tensor,
    objectives: Sequence[Objective] = G_LOSSES,
    fake_logits: Optional[Tensor] = None,
) -> Dict[str, float]:
    """||grad_theta E_z g_fake(D(G_theta(z)))|| per G loss, one forward on a fixed z (Arjovsky & Bottou 2017, Fig. 2).

    Pass `fake_logits = D(G(z))` (with its graph) to reuse a forward the caller already made.
    """
    params = [p for p in G.parameters() if p.requires_grad]
    if fake_logits is None:
        fake_logits = D(G(z))  # one forward shared by every loss: the norms differ only through g_fake
    out = {}
    for i, objective in enumerate(objectives):
        loss = objective.g_loss(None, fake_logits)
        grads = torch.autograd.grad(loss, params, retain_graph=i < len(objectives) - 1)
        out[objective.name] = float(torch.nn.utils.get_total_norm(grads))
    return out


def logit_gradients(fake_logits: Tensor, objective: Objective) -> Tensor:
    """d g_fake(t)/dt per sample by autograd: -D for minimax, -(1 - D) for -log D (Goodfellow et al. 2014, Sec. 3)."""
    t = fake_logits.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(objective.g_fake(t).sum(), t)
    return grad


def accuracy(real_logits: Tensor, fake_logits: Tensor) -> float:
    """(P[t_real > 0] + P[t_fake < 0]) / 2: D's accuracy on real and fake batches at the threshold D = 1/2."""
    return 0.5 * (float((real_logits > 0).float().mean()) + float((fake_logits < 0).float().mean()))


def log_iterations(n: int, per_decade: int = 8) -> list:
    """0, 1, then about `per_decade` log-spaced integers per decade up to n (the iterations a probe records)."""
    if n < 0 or per_decade < 1:
        raise ValueError(f"log_iterations needs n >= 0 and per_decade >= 1, got n={n}, per_decade={per_decade}")
    if n == 0:
        return [0]
    grid = np.logspace(0, np.log10(n), max(2, int(np.ceil(per_decade * np.log10(max(n, 10))))))
    return sorted({0, n} | {int(round(v)) for v in grid})


def probe_point(
    G: nn.Module, D: nn.Module, real: Tensor, z: Tensor, objectives: Sequence[Objective] = G_LOSSES
) -> dict:
    """G's gradient norm under each loss, D's accuracy, mean and median D(G(z)), mean D(x), and the fake logits."""
    fake_logits = D(G(z))
    d_fake = torch.sigmoid(fake_logits.detach())
    norms = generator_grad_norms(G, D, z, objectives, fake_logits)
    with torch.no_grad():
        real_logits = D(real)
    return {
        "grad_norm": norms,
        "d_fake": float(d_fake.mean()),
        "median_d_fake": float(d_fake.median()),
        "d_real": float(torch.sigmoid(real_logits).mean()),
        "accuracy": accuracy(real_logits, fake_logits.detach()),
        "fake_logits": fake_logits.detach(),
    }


def train_d_against_fixed_g(
    G: nn.Module,
    D: nn.Module,
    sample_real: Callable[[], Tensor],
    sample_z: Callable[[], Tensor],
    step_d: Step,
    iterations: int,
    probe_at: Sequence[int],
    eval_real: Tensor,
    eval_z: Tensor,
    objectives: Sequence[Objective] = G_LOSSES,
    d_objective: Objective = G_LOSSES[0],
    keep_logits: int = 0,
) -> dict:
    """D minimises network_game's D loss against a frozen G, probed at probe_at (Arjovsky & Bottou 2017, Fig. 2).

    minimax and -log D share D's loss (they differ only in G's term), so one D run serves both G losses.
    Returns {'iteration': [...], 'grad_norm': {loss: [...]}, 'accuracy', 'd_fake', 'd_real', 'median_d_fake'},
    plus 'fake_logits' (the first `keep_logits` per-sample logits t = logit D(G(z)) at each probe) if asked.
    """
    if iterations < 0 or any(not 0 <= k <= iterations for k in probe_at):
        raise ValueError(f"probe iterations must lie in [0, {iterations}], got {sorted(probe_at)}")
    game = network_game(G, D, sample_real, sample_z, objective=d_objective)  # G is never stepped: fixed
    wanted, log = (
        set(probe_at),
        {
            "iteration": [],
            "grad_norm": {o.name: [] for o in objectives},
            "accuracy": [],
            "d_fake": [],
            "d_real": [],
            "median_d_fake": [],
        },
    )
    if keep_logits:
        log["fake_logits"] = []
    for t in range(iterations + 1):
        if t in wanted:
            p = probe_point(G, D, eval_real, eval_z, objectives)
            log["iteration"].append(t)
            for o in objectives:
                log["grad_norm"][o.name].append(p["grad_norm"][o.name])
            for k in ("accuracy", "d_fake", "d_real", "median_d_fake"):
                log[k].append(p[k])
            if keep_logits:
                log["fake_logits"].append(p["fake_logits"][:keep_logits].cpu().tolist())
        if t < iterations:
            step_d(game.y, grads_y(game))
    return log


def orders_of_decay(values: Sequence[float]) -> float:
    """log10(values[0] / values[-1]): how many orders of magnitude a gradient norm fell (negative if it grew)."""
    first, last = float(values[0]), float(values[-1])
    if first <= 0 or last <= 0:
        raise ValueError(f"orders_of_decay needs positive values, got first={first}, last={last}")
    return float(np.log10(first / last))
