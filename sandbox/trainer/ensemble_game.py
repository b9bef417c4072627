"""The Game of K independent GANs batched as one model, each member the solo run of its seed step for step.

Two ways to batch the members' nets, one game over them (`member_game`, the structure of `games.network_game`):
- vmap (mlp players): the K members' parameters stacked into (K, ...) leaves (`torch.func.stack_module_state`)
  and the nets run under `torch.func.vmap` of `functional_call`;
- grouped (image nets with BatchNorm: metz, dcgan): one grouped net of `sandbox.nets.grouped`, groups = K over
  K C channels, batches laid out (B, K C, H, W) with member k's channels contiguous.
Member k draws from its own data and noise generators in the solo order: real data, real instance noise, z,
fake instance noise, then the penalty's draws. The members' losses are summed, never averaged, so each slice
of a stacked gradient is that member's own gradient; the optimisers are element-wise, so one optimiser over
the stacked leaves is K optimisers. Penalties that draw no random numbers (R1, R2) run once on the members'
samples laid out (K B, ...) (a sample's input gradient involves only its own member); the others run per
member with the member's noise generator, through member k's solo net (`functional_call` on its views).
"""

import copy
import dataclasses
from typing import Callable, NamedTuple

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from sandbox.dynamics import Game
from sandbox.nets.grouped import group_players, member_state, stack_members
from sandbox.trainer import runlog as tl
from sandbox.trainer.config import Config, resolved_net, z_size
from sandbox.trainer.parts import (
    Source,
    build_players,
    check_reuse_fakes,
    dtype_of,
    objective_of,
    penalty_of,
    use_amp,
    use_channels_last,
)


class Members(NamedTuple):
    """What the batched game needs from the K members' players, each call covering every member."""

    real: Callable[[], Tensor]  # a fresh real batch per member (+ instance noise)
    fake: Callable[[], Tensor]  # G_k(z_k) on fresh z per member (+ instance noise)
    logits: Callable[[Tensor], Tensor]  # D_k on member k's part of a batch -> (K, B)
    penalty: Callable[[Tensor, Tensor], Tensor]  # (real, fake) -> (K,) member means of the penalty terms


def member_config(cfg: Config, k: int) -> Config:
    """The solo config that member k reproduces: seed cfg.seed + k, ensemble 1."""
    return dataclasses.replace(cfg, seed=cfg.seed + k, ensemble=1)


def member_pairs(cfg: Config, device: torch.device) -> list:
    """[(G_k, D_k)]: each member's players exactly as its solo run builds them (init seed cfg.seed + k)."""
    return [
        build_players(member_config(cfg, k), device, torch.Generator().manual_seed(cfg.seed + k))
        for k in range(cfg.ensemble)
    ]


# ------------------------------------------------------------------------------------------------ meters
def member_meter(K: int, device: torch.device) -> dict:
    """A sandbox.trainer.runlog meter whose sums and first non-finite steps are (K,) vectors, one entry per member."""
    m = tl.meter(device)
    m["sum"] = {k: torch.zeros(K, device=device) for k in tl.KEYS}
    m["first_bad"] = {k: torch.full((K,), -1, dtype=torch.int64, device=device) for k in tl.KEYS}
    return m


def member_meter_read(m: dict) -> dict:
    """key -> per-member means since the last read (nan where nothing was added); one host sync; resets."""
    out = {k: (m["sum"][k] / m["count"][k] if m["count"][k] else m["sum"][k] * float("nan")).tolist() for k in m["sum"]}
    for k in m["sum"]:
        m["sum"][k].zero_()
        m["count"][k] = 0
    return out


def member_grad_norms(grads, K: int) -> Tensor:
    """||(g_1, ..., g_P)|| per member, shape (K,): every stacked or grouped gradient is K-major, reshape(K, -1)."""
    return torch.stack([g.reshape(K, -1).square().sum(dim=1) for g in grads]).sum(dim=0).sqrt()


def member_metered(step, meter: dict, key: str, K: int):
    """The Step, recording the per-member gradient norms under `key` first (on device, no sync)."""

    def metered(params, grads):
        tl.meter_add(meter, key, member_grad_norms(grads, K))
        step(params, grads)

    return metered


# -------------------------------------------------------------------------------------------------- game
def member_game(cfg: Config, members: Members, x: list, y: list, clock: dict, meter: dict, device) -> Game:
    """network_game per member, batched: D minimises d_loss (+ penalty), G minimises g_loss; members summed.

    With cfg.reuse_fakes, G's step scores the D step's fakes (kept with their graph) instead of fresh ones, as the
    classic PyTorch DCGAN example does: one G forward fewer per step, a departure from the papers' algorithm.
    """
    check_reuse_fakes(cfg)
    obj = objective_of(cfg)
    d_loss = vmap(obj.d_loss)  # the batch means of each member
    g_loss = vmap(obj.g_loss) if obj.pairwise else vmap(lambda fake_logits: obj.g_loss(None, fake_logits))
    weight, every = penalty_of(cfg).weight, cfg.penalty_every
    kept = {}  # reuse_fakes: the D step's fakes, with G's graph, for the G step that follows it

    def loss_y() -> Tensor:
        real = members.real()
        if cfg.reuse_fakes:
            kept["fake"] = members.fake()
            fake_x = kept["fake"].detach()
        else:
            with torch.no_grad():
                fake_x = members.fake()
        loss = d_loss(members.logits(real), members.logits(fake_x))
        if weight and clock["d_steps"] % every == 0:
            loss = loss + every * clock.get("penalty_gain", 1.0) * members.penalty(real, fake_x)
        clock["d_steps"] += 1
        return loss

    def loss_x() -> Tensor:
        real_logits = None
        if obj.pairwise:  # RpGAN: each member's fakes against its own fresh real batch, as network_game does
            with torch.no_grad():
                real_logits = members.logits(members.real())
        fake_x = kept.pop("fake", None)
        fake_logits = members.logits(members.fake() if fake_x is None else fake_x)
        return g_loss(real_logits, fake_logits) if obj.pairwise else g_loss(fake_logits)

    amp = use_amp(cfg, device)

    def summed(loss: Callable[[], Tensor], key: str) -> Callable[[], Tensor]:
        def value() -> Tensor:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                per_member = loss()
            per_member = per_member.float() if amp else per_member
            tl.meter_add(meter, key, per_member)
            return per_member.sum()  # a sum: each member's gradient is its own loss's gradient

        return value

    return Game(x, y, summed(loss_x, "g_loss"), summed(loss_y, "d_loss"))


def _noise(sigma: float, x: Tensor, g: dict) -> Tensor:
    """sigma N(0, I) of x's shape from member g's noise generator, as the solo run's instance noise is drawn."""
    return sigma * torch.randn(x.shape, generator=g["noise"], device=x.device, dtype=x.dtype)


def _latents(cfg: Config, gens: list, device) -> Tensor:
    """(K, B, z_dim): member k's z drawn in place from its noise generator, the same numbers as its solo randn."""
    z = torch.empty((cfg.ensemble, cfg.batch, z_size(cfg)), device=device, dtype=dtype_of(cfg))
    for k, g in enumerate(gens):
        torch.randn((cfg.batch, z_size(cfg)), generator=g["noise"], out=z[k])
    return z


# --------------------------------------------------------------------------------- vmap (mlp players)
def batched(module: nn.Module, params: dict) -> Callable[[Tensor], Tensor]:
    """x (K, B, ...) -> module_k(x_k) stacked, shape (K, B, ...), with module_k's parameters params[name][k]."""
    one = vmap(lambda p, x: functional_call(module, p, (x,)))
    return lambda x: one(params, x)


def stacked_players(cfg: Config, device: torch.device):
    """(G, D, theta, psi): meta-device architectures and the stacked parameters of the K members' build_players."""
    pairs = member_pairs(cfg, device)
    leaves = []
    for nets in zip(*pairs):
        params, buffers = stack_module_state(list(nets))
        if buffers:  # mlp players have none; BatchNorm statistics take the grouped path
            raise ValueError(f"vmapped ensemble members cannot hold buffers, got {sorted(buffers)}")
        leaves.append({name: p.detach().clone().requires_grad_(True) for name, p in params.items()})
    G, D = (copy.deepcopy(net).to("meta") for net in pairs[0])
    return G, D, leaves[0], leaves[1]


def vmap_members(cfg: Config, G, D, theta: dict, psi: dict, source: Source, gens: list, device) -> Members:
    """Members of stacked (K, ...) parameters: batches (K, B, ...), the nets under vmap of functional_call."""
    K, sigma, penalty = cfg.ensemble, cfg.instance_noise, penalty_of(cfg)
    G_of, D_of = batched(G, theta), batched(D, psi)

    def real() -> Tensor:
        xs = [source.sample(cfg.batch, g["data"]) for g in gens]
        return torch.stack([x + _noise(sigma, x, g) for x, g in zip(xs, gens)] if sigma else xs)

    def fake() -> Tensor:
        x = G_of(_latents(cfg, gens, device))
        return x + torch.stack([_noise(sigma, x[k], g) for k, g in enumerate(gens)]) if sigma else x

    def penalty_terms(real: Tensor, fake_x: Tensor) -> Tensor:
        if not penalty.random:  # one call on all members' samples equals K calls
            flat = lambda x: D_of(x.reshape(real.shape)).reshape(-1)  # noqa: E731  (K B, ...) -> (K B,)
            rows = (-1,) + real.shape[2:]
            return penalty(flat, real.reshape(rows), fake_x.reshape(rows)).reshape(K, -1).mean(dim=1)
        return torch.stack(
            [
                penalty(
                    lambda x: functional_call(D, {n: p[k] for n, p in psi.items()}, (x,)),
                    real[k],
                    fake_x[k],
                    g["noise"],
                ).mean()
                for k, g in enumerate(gens)
            ]
        )

    return Members(real, fake, D_of, penalty_terms)


# ------------------------------------------------------------------------------- grouped (image nets)
def grouped_players(cfg: Config, device: torch.device):
    """(G, D, solo_G, solo_D): the grouped nets holding the K members' initial weights, and member 0's solo
    architecture on the meta device (the shapes `member_state` reads)."""
    pairs = member_pairs(cfg, device)
    G, D = group_players(resolved_net(cfg), *pairs[0], cfg.ensemble)
    stack_members(G, [p[0] for p in pairs])
    stack_members(D, [p[1] for p in pairs])
    if use_channels_last(cfg, device):
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    solo_G, solo_D = (copy.deepcopy(net).to("meta") for net in pairs[0])
    return G, D, solo_G, solo_D


def by_member(x: Tensor, K: int) -> Tensor:
    """(B, K C, H, W) -> (K B, C, H, W): member k's images as rows k B .. (k + 1) B - 1."""
    B, KC = x.shape[:2]
    return x.reshape(B, K, KC // K, *x.shape[2:]).transpose(0, 1).reshape(K * B, KC // K, *x.shape[2:])


def by_channel(x: Tensor, K: int) -> Tensor:
    """(K B, C, H, W) -> (B, K C, H, W), the inverse of by_member."""
    KB, C = x.shape[:2]
    return x.reshape(K, KB // K, C, *x.shape[2:]).transpose(0, 1).reshape(KB // K, K * C, *x.shape[2:])


def grouped_members(cfg: Config, G, D, solo_D, source: Source, gens: list, device) -> Members:
    """Members of grouped nets: image batches (B, K C, H, W) with member k's channels contiguous."""
    K, C, sigma, penalty = cfg.ensemble, source.channels, cfg.instance_noise, penalty_of(cfg)
    memory = torch.channels_last if use_channels_last(cfg, device) else torch.contiguous_format

    def real() -> Tensor:
        xs = [source.sample(cfg.batch, g["data"]) for g in gens]
        xs = [x + _noise(sigma, x, g) for x, g in zip(xs, gens)] if sigma else xs
        return torch.cat(xs, dim=1).contiguous(memory_format=memory)

    def fake() -> Tensor:
        x = G(_latents(cfg, gens, device).transpose(0, 1))  # z (B, K, z_dim)
        if sigma:
            x = x + torch.cat([_noise(sigma, x[:, k * C : (k + 1) * C], g) for k, g in enumerate(gens)], dim=1)
        return x

    def logits(x: Tensor) -> Tensor:
        return D(x).t()  # (B, K) -> (K, B)

    def member_D(k: int) -> Callable[[Tensor], Tensor]:
        state = member_state(D, solo_D, k, K)
        if k:  # BatchNorm's step counter is shared: only member 0's calls count it, as one solo run's would
            state = {n: t if t.is_floating_point() else t.clone() for n, t in state.items()}
        return lambda x: functional_call(solo_D, state, (x,))

    def penalty_terms(real: Tensor, fake_x: Tensor) -> Tensor:
        if not penalty.random:  # one call on all members' samples, laid out (K B, C, H, W), equals K calls
            flat = lambda x: logits(by_channel(x, K).contiguous(memory_format=memory)).reshape(-1)  # noqa: E731
            return penalty(flat, by_member(real, K), by_member(fake_x, K)).reshape(K, -1).mean(dim=1)
        parts = lambda x, k: x[:, k * C : (k + 1) * C]  # noqa: E731
        return torch.stack(
            [penalty(member_D(k), parts(real, k), parts(fake_x, k), g["noise"]).mean() for k, g in enumerate(gens)]
        )

    return Members(real, fake, logits, penalty_terms)
