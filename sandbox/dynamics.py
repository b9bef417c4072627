"""Two-player game dynamics, shared by the analytic games and the image trainer.

A game is a pair of losses over a parameter pair: x (the generator, G) minimises loss_x and y (the
discriminator, D) minimises its own loss_y. Parameters are leaf tensors updated in place, so the same rule
drives a toy game vectorised over a leading batch of B independent games (losses summed over games, which
gives every game its own gradient) and a pair of networks (losses are batch means).

An update rule orders gradient evaluations and applies them through one `Step` per player: plain gradient
descent, or any torch.optim optimiser (momentum, RMSProp, Adam), optionally followed by a projection such as
weight clipping. Rules: simultaneous, alternating (D first, n_d D steps per G step), extragradient, optimistic;
each takes `consensus=gamma` to add consensus optimisation. Iterate averages are kept beside the rule.
"""

import functools
from typing import Callable, List, NamedTuple, Optional, Sequence

import torch
from torch import Tensor

from sandbox.registry import lookup

Params = List[Tensor]
Step = Callable[[Params, Params], None]  # step(params, grads) moves params in place


class Game(NamedTuple):
    x: Params  # G's parameters (leaf tensors, requires_grad)
    y: Params  # D's parameters
    loss_x: Callable[[], Tensor]  # G's loss at the current (x, y), a scalar
    loss_y: Callable[[], Tensor]  # D's loss at the current (x, y), a scalar


# ---------------------------------------------------------------------------------------------------- steps
def gd(lr: float) -> Step:
    """Plain gradient descent p <- p - lr g, written as torch.optim.SGD writes it (p.add_(g, alpha=-lr))."""

    @torch.no_grad()
    def step(params: Params, grads: Params) -> None:
        for p, g in zip(params, grads):
            p.add_(g, alpha=-lr)

    return step


def optimiser_step(opt: torch.optim.Optimizer) -> Step:
    """A Step that hands the gradients to a torch.optim optimiser (SGD+momentum, RMSprop, Adam, ...)."""

    def step(params: Params, grads: Params) -> None:
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()

    return step


def projected(step: Step, project: Callable[[Params], None]) -> Step:
    """The step, then a projection of the parameters, e.g. WGAN's weight clipping (Arjovsky et al. 2017, Alg. 1)."""

    def projected_step(params: Params, grads: Params) -> None:
        step(params, grads)
        project(params)

    return projected_step


OPTIMISERS = {
    "sgd": torch.optim.SGD,  # momentum=..., nesterov=...
    "rmsprop": torch.optim.RMSprop,  # the WGAN paper's optimiser
    "adam": torch.optim.Adam,
}


def make_step(name: str, params: Params, lr: float, **kwargs) -> Step:
    """'gd' -> gd(lr); otherwise the torch.optim optimiser OPTIMISERS[name](params, lr, **kwargs) as a Step."""
    if name == "gd":
        return gd(lr)
    return optimiser_step(lookup(OPTIMISERS, name, "optimiser")(params, lr=lr, **kwargs))


# ------------------------------------------------------------------------------------------------ gradients
def _grad(loss: Tensor, params: Params, create_graph: bool = False) -> Params:
    return list(torch.autograd.grad(loss, params, create_graph=create_graph))


def grads_x(game: Game) -> Params:
    """grad_x loss_x at the current point."""
    return _grad(game.loss_x(), game.x)


def grads_y(game: Game) -> Params:
    """grad_y loss_y at the current point."""
    return _grad(game.loss_y(), game.y)


def consensus_grads(game: Game, gamma: float, keep_graph: bool = False) -> tuple:
    """(g_x, g_y) + gamma grad (1/2 ||(g_x, g_y)||^2): consensus optimisation (Mescheder et al. 2017, eq. 13)."""
    gx = _grad(game.loss_x(), game.x, create_graph=True)
    gy = _grad(game.loss_y(), game.y, create_graph=True)
    half_sq = 0.5 * sum(g.square().sum() for g in gx + gy)
    extra = torch.autograd.grad(half_sq, game.x + game.y, create_graph=keep_graph, allow_unused=True)
    extra = [torch.zeros_like(p) if e is None else e for p, e in zip(game.x + game.y, extra)]
    out = [g + gamma * e for g, e in zip(gx + gy, extra)]
    if not keep_graph:
        out = [g.detach() for g in out]
    return out[: len(game.x)], out[len(game.x) :]


def both_grads(game: Game, consensus: float = 0.0) -> tuple:
    """(grad_x loss_x, grad_y loss_y) at the same point, with the consensus term when consensus > 0."""
    if consensus:
        return consensus_grads(game, consensus)
    return grads_x(game), grads_y(game)


# ---------------------------------------------------------------------------------------------------- rules
def simultaneous(game: Game, step_x: Step, step_y: Step, state: dict, consensus: float = 0.0) -> None:
    """x, y <- x - eta g_x(x, y), y - eta g_y(x, y): both players move from the same point."""
    gx, gy = both_grads(game, consensus)
    step_y(game.y, gy)
    step_x(game.x, gx)


def alternating(
    game: Game, step_x: Step, step_y: Step, state: dict, n_d: int = 1, d_first: bool = True, consensus: float = 0.0
) -> None:
    """n_d D steps, then one G step that sees the new D (D first, as in Arjovsky et al. 2017, Alg. 1)."""

    def d_steps():
        for _ in range(n_d):
            step_y(game.y, both_grads(game, consensus)[1] if consensus else grads_y(game))

    def g_step():
        step_x(game.x, both_grads(game, consensus)[0] if consensus else grads_x(game))

    if d_first:
        d_steps()
        g_step()
    else:
        g_step()
        d_steps()


def _snapshot(params: Params) -> Params:
    return [p.detach().clone() for p in params]


@torch.no_grad()
def _restore(params: Params, saved: Params) -> None:
    for p, s in zip(params, saved):
        p.copy_(s)


def extragradient(game: Game, step_x: Step, step_y: Step, state: dict, consensus: float = 0.0) -> None:
    """z <- z - eta g(z - eta g(z)): extrapolate, then step from z with the look-ahead gradient (Korpelevich 1976).

    With a stateful optimiser both half-steps update its moments, as in Extra-Adam (Gidel et al. 2019, Alg. 4).
    """
    x0, y0 = _snapshot(game.x), _snapshot(game.y)
    gx, gy = both_grads(game, consensus)
    step_x(game.x, gx)
    step_y(game.y, gy)
    gx, gy = both_grads(game, consensus)
    _restore(game.x, x0)
    _restore(game.y, y0)
    step_x(game.x, gx)
    step_y(game.y, gy)


def optimistic(game: Game, step_x: Step, step_y: Step, state: dict, consensus: float = 0.0) -> None:
    """z_{t+1} = z_t + 2 d_t - d_{t-1}, d_t the optimiser's step for g_t, d_{-1} = d_0 (Daskalakis et al. 2018).

    For gradient descent this is z_t - 2 eta g_t + eta g_{t-1}.
    """
    x0, y0 = _snapshot(game.x), _snapshot(game.y)
    gx, gy = both_grads(game, consensus)
    step_x(game.x, gx)
    step_y(game.y, gy)
    with torch.no_grad():
        for name, params, start in (("x", game.x, x0), ("y", game.y, y0)):
            delta = [p - s for p, s in zip(params, start)]
            previous = state.get("previous_" + name, delta)  # g_{-1} = g_0
            for p, s, d, d_prev in zip(params, start, delta, previous):
                p.copy_(s + 2.0 * d - d_prev)
            state["previous_" + name] = delta


RULES = {
    "simultaneous": simultaneous,
    "alternating": alternating,
    "extragradient": extragradient,
    "optimistic": optimistic,
}


def make_rule(name: str, **options) -> Callable:
    """RULES[name] with its options bound (n_d, d_first, consensus), or a ValueError listing valid rules."""
    return functools.partial(lookup(RULES, name, "update rule"), **options)


# ------------------------------------------------------------------------------------------------ averaging
class Average(NamedTuple):
    kind: str  # 'uniform': the mean of z_1..z_T; 'ema': z_bar <- beta z_bar + (1 - beta) z
    beta: float
    value: Params
    count: int


def ema_beta(half_life_steps: float) -> float:
    """beta with beta**half_life = 1/2: an EMA whose weights halve every half-life of updates (Karras et al. 2020)."""
    return 0.5 ** (1.0 / half_life_steps) if half_life_steps > 0 else 0.0


def average_init(params: Params, kind: str = "uniform", beta: float = 0.999) -> Average:
    """An empty iterate average over `params` (uniform mean or EMA)."""
    if kind not in ("uniform", "ema"):
        raise ValueError(f"unknown average {kind!r}; valid names: ema, uniform")
    return Average(kind, beta, _snapshot(params), 0)


@torch.no_grad()
def average_update(avg: Average, params: Params) -> Average:
    """Fold the current iterate into the average: a running mean (z_bar += (z - z_bar)/t) or an EMA."""
    count = avg.count + 1
    for a, p in zip(avg.value, params):
        if avg.kind == "uniform":
            a.add_((p - a) / count) if count > 1 else a.copy_(p)
        else:
            a.lerp_(p.detach(), 1.0 - avg.beta)
    return avg._replace(count=count)


# ------------------------------------------------------------------------------------------------- analysis
def flat(params: Params) -> Tensor:
    """The parameters of a vectorised game as one (B, n) tensor: each (B,) or (B, k) tensor becomes columns."""
    return torch.cat([p.detach().reshape(p.shape[0], -1) for p in params], dim=1)


def field(game: Game) -> Tensor:
    """The vector field v = (-grad_x loss_x, -grad_y loss_y) per game, shape (B, n_x + n_y)."""
    gx, gy = grads_x(game), grads_y(game)
    return -flat(gx + gy)


def jacobian(game: Game, consensus: float = 0.0) -> Tensor:
    """dv/dz per game by autograd, shape (B, n, n), with v the (optionally consensus) vector field."""
    if consensus:
        gx, gy = consensus_grads(game, consensus, keep_graph=True)
    else:
        gx = _grad(game.loss_x(), game.x, create_graph=True)
        gy = _grad(game.loss_y(), game.y, create_graph=True)
    params = game.x + game.y
    v = torch.cat([-g.reshape(g.shape[0], -1) for g in gx + gy], dim=1)  # (B, n)
    rows = []
    for j in range(v.shape[1]):
        dv = torch.autograd.grad(v[:, j].sum(), params, retain_graph=True, allow_unused=True)
        dv = [torch.zeros_like(p) if d is None else d for p, d in zip(params, dv)]
        rows.append(flat(dv))
    return torch.stack(rows, dim=1)


def eigenvalues(jac: Tensor) -> Tensor:
    """Complex eigenvalues of each game's Jacobian, shape (B, n)."""
    return torch.linalg.eigvals(jac)


# ------------------------------------------------------------------------------------------------ simulate
class Trajectory(NamedTuple):
    steps: Tensor  # (F,) the iteration index of each stored frame (0 = the start)
    z: Tensor  # (F, B, n) frames (float32 by default), thinned to every `record_every` iterations
    final: Tensor  # (B, n) the last iterate at full precision
    average: Optional[Tensor]  # (B, n) the iterate average at full precision, or None


def simulate(
    game: Game,
    rule: Callable,
    step_x: Step,
    step_y: Step,
    steps: int,
    record_every: int = 1,
    average: Optional[str] = None,
    ema_half_life: float = 100.0,
    progress: bool = False,
    frame_dtype: torch.dtype = torch.float32,
) -> Trajectory:
    """Run `steps` iterations of `rule`, storing frames every `record_every` iterations (no host syncs).

    Frames are float32 so that 10^4 games x 10^4 steps fit in memory; pass frame_dtype=torch.float64 for
    exact per-step identities on small runs.
    """
    params = game.x + game.y
    n_frames = steps // record_every + 1
    z0 = flat(params)
    frames = torch.empty((n_frames,) + tuple(z0.shape), dtype=frame_dtype, device=z0.device)
    frames[0] = z0
    avg = average_init(params, average, ema_beta(ema_half_life)) if average else None
    state: dict = {}
    iterator = range(1, steps + 1)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc="simulate", unit="it", mininterval=0.5)
    for t in iterator:
        rule(game, step_x, step_y, state)
        if avg is not None:
            avg = average_update(avg, params)
        if t % record_every == 0:
            frames[t // record_every] = flat(params)
    index = torch.arange(n_frames, device=z0.device) * record_every
    return Trajectory(index, frames, flat(params), flat(avg.value) if avg is not None else None)


def radius(z: Tensor, centre: Sequence[float]) -> Tensor:
    """||z - centre|| over the last axis: the distance of each iterate to an equilibrium."""
    return torch.linalg.vector_norm(z - z.new_tensor(list(centre)), dim=-1)


def spectral_radius(matrix: Tensor) -> float:
    """max |lambda| over the eigenvalues of a square update matrix: the per-step contraction (< 1) or growth."""
    return float(torch.linalg.eigvals(matrix).abs().max())


def per_step_ratio(r: Tensor, every: int = 1) -> Tensor:
    """The geometric-mean radius ratio per iteration between consecutive frames, (r_{k+1}/r_k)^(1/every)."""
    return (r[1:] / r[:-1]) ** (1.0 / every)


def log_growth_rate(r: Tensor, steps: Tensor) -> float:
    """The least-squares slope of log r against the iteration index: log of the per-step rate."""
    y = torch.log(r.double())
    t = steps.double()
    t = t - t.mean()
    return float((t * (y - y.mean())).sum() / (t * t).sum())
