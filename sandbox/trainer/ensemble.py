"""K independent 2-D GANs trained as one batched model: `python -m sandbox.trainer --ensemble K [flags]`.

Member k is the solo run of seed cfg.seed + k, step for step: its players are `build_players` with that seed,
its data and noise come from its own generators seeded as `train.make_run` seeds them, and it is trained by
the same objective and penalty code, update rule (`sandbox.dynamics`) and torch.optim optimiser. The K
members' parameters are stacked into (K, ...) leaves (`torch.func.stack_module_state`) and the nets run
under `torch.func.vmap` of `functional_call`. The losses of the members are summed, never averaged, so each
slice of a stacked gradient is that member's own gradient; the optimisers are element-wise, so one optimiser
over the stacked leaves is K optimisers. Penalties that draw no random numbers (R1, R2) run once on the
members' flattened samples (a sample's input gradient involves only its own member); others run per member
with the member's noise generator. mlp players only: image nets and their BatchNorm are not batched.
Outputs in `out/`: config.json, metrics.jsonl (per-member means), samples.png (a few members), summary.json
(per-member mode statistics); no checkpoints.
"""

import copy
import dataclasses
import os
import time
from pathlib import Path
from typing import Callable, NamedTuple

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from sandbox.devices import pick_device
from sandbox.dynamics import Game, average_init, ema_beta
from sandbox.nets import param_count
from sandbox.trainer import runlog as tl
from sandbox.trainer.config import Config, config_dict, z_size
from sandbox.trainer.loop import run_steps
from sandbox.trainer.parts import (
    Source,
    build_data,
    build_players,
    build_rule,
    build_steps,
    cpu_threads,
    dtype_of,
    make_optimiser,
    objective_of,
    penalty_of,
    stream_generators,
    use_amp,
)


class Ensemble(NamedTuple):
    cfg: Config
    device: torch.device
    G: nn.Module  # member 0's G on the meta device: the architecture functional_call runs
    D: nn.Module
    theta: dict  # name -> (K, ...) stacked G parameters (leaves)
    psi: dict  # name -> (K, ...) stacked D parameters
    game: Game  # losses summed over members
    rule: Callable
    step_x: Callable
    step_y: Callable
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    gens: list  # per member {'data', 'noise'} torch.Generators, seeded as make_run seeds
    meter: dict  # per-member (K,) loss sums (sandbox.trainer.runlog meter layout)
    source: Source
    state: dict  # step, rule_state, clock, ema: the fields train.run_steps uses


def member_config(cfg: Config, k: int) -> Config:
    """The solo config that member k reproduces: seed cfg.seed + k, ensemble 1."""
    return dataclasses.replace(cfg, seed=cfg.seed + k, ensemble=1)


def batched(module: nn.Module, params: dict) -> Callable[[Tensor], Tensor]:
    """x (K, B, ...) -> module_k(x_k) stacked, shape (K, B, ...), with module_k's parameters params[name][k]."""
    one = vmap(lambda p, x: functional_call(module, p, (x,)))
    return lambda x: one(params, x)


def stacked_players(cfg: Config, device: torch.device):
    """(G, D, theta, psi): meta-device architectures and the stacked parameters of the K members' build_players."""
    pairs = [
        build_players(member_config(cfg, k), device, torch.Generator().manual_seed(cfg.seed + k))
        for k in range(cfg.ensemble)
    ]
    leaves = []
    for nets in zip(*pairs):
        params, buffers = stack_module_state(list(nets))
        if buffers:  # mlp players have none; a buffer (BatchNorm statistics) would need batching too
            raise ValueError(f"ensemble members cannot hold buffers, got {sorted(buffers)}")
        leaves.append({name: p.detach().clone().requires_grad_(True) for name, p in params.items()})
    G, D = (copy.deepcopy(net).to("meta") for net in pairs[0])
    return G, D, leaves[0], leaves[1]


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


def member_grad_norms(grads) -> Tensor:
    """||(g_1, ..., g_P)|| per member from the stacked (K, ...) gradients, shape (K,); no copy of the gradients."""
    return torch.stack([g.reshape(g.shape[0], -1).square().sum(dim=1) for g in grads]).sum(dim=0).sqrt()


def ensemble_game(
    cfg: Config,
    G: nn.Module,
    D: nn.Module,
    theta: dict,
    psi: dict,
    source: Source,
    gens: list,
    clock: dict,
    meter: dict,
    device: torch.device,
) -> Game:
    """network_game per member, batched: D minimises d_loss (+ penalty), G minimises g_loss; members summed.

    Each member draws its batches from its own generators in the order of `trainparts.build_game`: real
    data, real instance noise, z, fake instance noise, then the penalty's draws.
    """
    K, dtype, sigma, batch, z_dim = cfg.ensemble, dtype_of(cfg), cfg.instance_noise, cfg.batch, z_size(cfg)
    obj, penalty = objective_of(cfg), penalty_of(cfg)
    G_of, D_of = batched(G, theta), batched(D, psi)
    d_loss = vmap(obj.d_loss)  # the batch means of each member
    g_loss = vmap(obj.g_loss) if obj.pairwise else vmap(lambda fake_logits: obj.g_loss(None, fake_logits))

    def noise(x: Tensor, g: dict) -> Tensor:
        return sigma * torch.randn(x.shape, generator=g["noise"], device=x.device, dtype=x.dtype)

    def sample_real() -> Tensor:
        xs = [source.sample(batch, g["data"]) for g in gens]
        return torch.stack([x + noise(x, g) for x, g in zip(xs, gens)] if sigma else xs)

    def fake() -> Tensor:
        z = torch.empty((K, batch, z_dim), device=device, dtype=dtype)
        for k, g in enumerate(gens):  # drawn in place: the same numbers as a fresh randn, without a stack copy
            torch.randn((batch, z_dim), generator=g["noise"], out=z[k])
        x = G_of(z)
        return x + torch.stack([noise(x[k], g) for k, g in enumerate(gens)]) if sigma else x

    def penalty_terms(real: Tensor, fake_x: Tensor) -> Tensor:
        if not penalty.random:  # one call on all members' samples equals K calls
            flat = lambda x: D_of(x.reshape(real.shape)).reshape(-1)  # noqa: E731  (K B, ...) -> (K B,)
            return (
                penalty(flat, real.reshape((-1,) + real.shape[2:]), fake_x.reshape((-1,) + real.shape[2:]))
                .reshape(K, -1)
                .mean(dim=1)
            )
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

    def loss_y() -> Tensor:
        real = sample_real()
        with torch.no_grad():
            fake_x = fake()
        loss = d_loss(D_of(real), D_of(fake_x))
        if penalty.weight and clock["d_steps"] % cfg.penalty_every == 0:
            loss = loss + cfg.penalty_every * penalty_terms(real, fake_x)
        clock["d_steps"] += 1
        return loss

    def loss_x() -> Tensor:
        if obj.pairwise:  # RpGAN: each member's fakes against its own fresh real batch, as network_game does
            with torch.no_grad():
                real_logits = D_of(sample_real())
            return g_loss(real_logits, D_of(fake()))
        return g_loss(D_of(fake()))

    amp = use_amp(cfg, device)

    def summed(loss: Callable[[], Tensor], key: str) -> Callable[[], Tensor]:
        def value() -> Tensor:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                per_member = loss()
            per_member = per_member.float() if amp else per_member
            tl.meter_add(meter, key, per_member)
            return per_member.sum()  # a sum: each member's gradient is its own loss's gradient

        return value

    return Game(list(theta.values()), list(psi.values()), summed(loss_x, "g_loss"), summed(loss_y, "d_loss"))


def _member_metered(step, meter: dict, key: str):
    def metered(params, grads):
        tl.meter_add(meter, key, member_grad_norms(grads))
        step(params, grads)

    return metered


def make_ensemble(cfg: Config) -> Ensemble:
    """The K members of cfg as one batched model; member k starts where make_run(member_config(cfg, k)) starts."""
    device = pick_device(cfg.device)
    G, D, theta, psi = stacked_players(cfg, device)
    gens = [stream_generators(cfg.seed + k, device) for k in range(cfg.ensemble)]
    source, meter, clock = build_data(cfg, device), member_meter(cfg.ensemble, device), {"d_steps": 0}
    game = ensemble_game(cfg, G, D, theta, psi, source, gens, clock, meter, device)
    opt_g = make_optimiser(cfg, list(theta.values()), cfg.lr_g, device)
    opt_d = make_optimiser(cfg, list(psi.values()), cfg.lr_d, device)
    # build_steps's own (scalar) grad-norm meter is discarded: the per-member norms are recorded instead.
    step_x, step_y = build_steps(cfg, opt_g, opt_d, tl.meter(device))
    ema = average_init(game.x, "ema", ema_beta(cfg.ema_half_life)) if cfg.ema_half_life > 0 else None
    state = {"step": 0, "rule_state": {}, "clock": clock, "ema": ema}
    return Ensemble(
        cfg,
        device,
        G,
        D,
        theta,
        psi,
        game,
        build_rule(cfg),
        _member_metered(step_x, meter, "g_grad_norm"),
        _member_metered(step_y, meter, "d_grad_norm"),
        opt_g,
        opt_d,
        gens,
        meter,
        source,
        state,
    )


@torch.no_grad()
def generate(ens: Ensemble, n: int, use_ema: bool = False) -> Tensor:
    """(K, n, 2) samples; member k's on its solo run's fixed z (CPU seed cfg.seed + k + 3, as trainlog.generate)."""
    cfg = ens.cfg
    z = torch.stack(
        [
            torch.randn((n, z_size(cfg)), generator=torch.Generator().manual_seed(cfg.seed + k + 3))
            for k in range(cfg.ensemble)
        ]
    )
    theta = dict(zip(ens.theta, ens.state["ema"].value)) if use_ema else ens.theta
    return batched(ens.G, theta)(z.to(ens.device, dtype_of(cfg))).float()


def member_modes(ens: Ensemble, n: int = 2000) -> list:
    """sandbox.trainer.runlog.mode_stats of each member's samples (of its EMA when there is one, as train reports)."""
    x = generate(ens, n, use_ema=ens.state["ema"] is not None)
    return [tl.mode_stats(x[k], ens.source.centres, ens.source.std) for k in range(ens.cfg.ensemble)]


def save_member_samples(path: Path, ens: Ensemble, modes: list, n_show: int = 4) -> None:
    """A PNG of the first n_show members' samples, each panel titled with its seed and modes covered."""
    import matplotlib.pyplot as plt

    from sandbox import plots

    x, n_show = generate(ens, 2000, ens.state["ema"] is not None), min(n_show, ens.cfg.ensemble)
    fig, axes = plt.subplots(1, n_show, figsize=(3.5 * n_show, 3.5), squeeze=False)
    lim = 1.25 * float(ens.source.centres.abs().max())
    for k, ax in enumerate(axes[0]):
        plots.scatter_2d(
            ax,
            x[k],
            ens.source.centres,
            title=f"seed {ens.cfg.seed + k}: {modes[k]['modes']}/{modes[k]['of_modes']} modes",
        )
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)


def train(cfg: Config) -> dict:
    """Train the K members of cfg as one batched model; returns the summary dict (per-member modes and losses)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # each rank would train the whole ensemble and write the same files
        raise ValueError("--ensemble K > 1 runs in one process; launch it without torchrun (WORLD_SIZE > 1 here)")
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(cpu_threads(cfg, threads))
        return _train(cfg)
    finally:
        torch.set_num_threads(threads)


def _train(cfg: Config) -> dict:
    from tqdm import tqdm

    t_setup = time.perf_counter()
    ens, out, K = make_ensemble(cfg), Path(cfg.out), cfg.ensemble
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.jsonl").unlink(missing_ok=True)
    tl.write_json(out / "config.json", config_dict(cfg))
    n_g, n_d, s = param_count(ens.G), param_count(ens.D), ens.state
    print(
        f"ensemble of {K} mlp GANs (seeds {cfg.seed}..{cfg.seed + K - 1}) on {cfg.data}: G {n_g:,} params, "
        f"D {n_d:,} params each; device {ens.device}; {cfg.steps} steps; out {out}",
        flush=True,
    )
    row, t0 = {}, time.perf_counter()
    with tqdm(total=cfg.steps, disable=not cfg.progress, desc=f"ensemble x{K}", unit="step") as bar:
        while s["step"] < cfg.steps:
            run_steps(ens, min(cfg.log_every, cfg.steps - s["step"]))
            row = {"step": s["step"], "time_s": time.perf_counter() - t0, **member_meter_read(ens.meter)}
            tl.append_jsonl(out / "metrics.jsonl", row)
            bar.update(s["step"] - bar.n)
    train_s = max(time.perf_counter() - t0, 1e-9)
    finite = torch.stack([torch.isfinite(p.reshape(K, -1)).all(dim=1) for p in ens.game.x + ens.game.y]).all(0)
    modes = member_modes(ens)
    save_member_samples(out / "samples.png", ens, modes)
    summary = {
        "members": K,
        "seeds": [cfg.seed + k for k in range(K)],
        "params_G": n_g,
        "params_D": n_d,
        "step": s["step"],
        "steps": cfg.steps,
        "wall_s": time.perf_counter() - t_setup,
        "setup_s": t0 - t_setup,
        "g_steps_per_s": s["step"] / train_s,
        "member_steps_per_s": K * s["step"] / train_s,
        "images_per_s": K * s["clock"]["d_steps"] * cfg.batch / train_s,
        "final": {k: v for k, v in row.items() if k in tl.KEYS},
        "modes": modes,
        "modes_mean": sum(m["modes"] for m in modes) / K,
        "nonfinite_members": [cfg.seed + k for k in range(K) if not finite[k]],
        "device": (
            f"{ens.device} ({torch.get_num_threads()} threads)" if ens.device.type == "cpu" else str(ens.device)
        ),
        "dtype": cfg.dtype,
        "out": str(out),
    }
    tl.write_json(out / "summary.json", summary)
    counts = ", ".join(str(m["modes"]) for m in modes)
    print(
        f"{s['step']} steps of {K} members in {train_s:.1f} s ({summary['g_steps_per_s']:.1f} ensemble steps/s, "
        f"{summary['member_steps_per_s']:.0f} member steps/s)\nmodes covered per member (of "
        f"{modes[0]['of_modes']}): {counts}; mean {summary['modes_mean']:.2f}"
        + (f"\nnon-finite members (seeds): {summary['nonfinite_members']}" if summary["nonfinite_members"] else ""),
        flush=True,
    )
    return summary
