"""K independent GANs trained as one batched model: `python -m sandbox.trainer --ensemble K [flags]`.

Member k is the solo run of seed cfg.seed + k, step for step: its players are `build_players` with that seed,
its data and noise come from its own generators seeded as `loop.make_run` seeds them, and it is trained by
the same objective and penalty code, update rule (`sandbox.dynamics`) and torch.optim optimiser. The mlp
players are batched by vmap over stacked parameters; the image nets with BatchNorm (metz, dcgan) as one grouped
net (`sandbox.nets.grouped`: groups = K, BatchNorm over K C channels). The game is
`sandbox.trainer.ensemble_game`.
Outputs in `out/`: config.json, metrics.jsonl (per-member means), samples.png (a few members), summary.json
(per-member mode statistics: the 2-D mixtures' modes, or Stacked MNIST's 1000 modes by the MNIST classifier),
and members/seed_S.pt, each member's final weights in the solo checkpoint's layout (format, step, config, G, D,
ema), loadable with `sandbox.trainer.checkpoint.load_checkpoint`. No optimiser or RNG states are saved, so an
ensemble cannot be resumed (config refuses --resume with --ensemble).
"""

import copy
import os
import time
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

import torch
from torch import nn

from sandbox.devices import pick_device
from sandbox.dynamics import Game, average_init, ema_beta
from sandbox.evaluation import classifier as clf
from sandbox.evaluation.mnist import classifier
from sandbox.evaluation.support import stacked_mnist_modes
from sandbox.nets import param_count
from sandbox.nets.grouped import GROUPINGS, member_state_dicts
from sandbox.trainer import runlog as tl
from sandbox.trainer.checkpoint import FORMAT, PRECISION, save_checkpoint
from sandbox.trainer.config import Config, config_dict, resolved_net, z_size
from sandbox.trainer.ensemble_game import (
    Members,
    batched,
    grouped_members,
    grouped_players,
    member_config,
    member_game,
    member_meter,
    member_meter_read,
    member_metered,
    stacked_players,
    vmap_members,
)
from sandbox.trainer.loop import run_steps
from sandbox.trainer.parts import (
    Source,
    build_data,
    build_rule,
    build_steps,
    cpu_threads,
    dtype_of,
    make_optimiser,
    stream_generators,
    use_amp,
)

__all__ = ["Ensemble", "make_ensemble", "member_config", "member_meter_read", "generate", "member_modes", "train"]

CHUNK = 1024  # samples per member per G call when generating: bounds memory at large K and large n


class Ensemble(NamedTuple):
    cfg: Config
    device: torch.device
    kind: str  # 'vmap' (mlp: stacked (K, ...) parameters) or 'grouped' (image nets: one grouped net)
    G: nn.Module  # grouped: the grouped G; vmap: member 0's G on the meta device, the architecture vmap runs
    D: nn.Module
    solo_G: nn.Module  # member 0's solo G on the meta device: the layout of member_state and the saved weights
    solo_D: nn.Module
    theta: dict  # name -> G parameter, K-major: p.reshape(K, *solo.shape)[k] is member k's
    psi: dict  # name -> D parameter, K-major
    game: Game  # losses summed over members
    rule: Callable
    step_x: Callable
    step_y: Callable
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    gens: list  # per member {'data', 'noise'} torch.Generators, seeded as make_run seeds
    meter: dict  # per-member (K,) loss sums (sandbox.trainer.runlog meter layout)
    source: Source
    state: dict  # step, rule_state, clock, ema: the fields loop.run_steps uses


def make_ensemble(cfg: Config) -> Ensemble:
    """The K members of cfg as one batched model; member k starts where make_run(member_config(cfg, k)) starts."""
    device, K, net = pick_device(cfg.device), cfg.ensemble, resolved_net(cfg)
    gens = [stream_generators(cfg.seed + k, device) for k in range(K)]
    source, meter, clock = build_data(cfg, device), member_meter(K, device), {"d_steps": 0}
    if net == "mlp":
        kind = "vmap"
        G, D, theta, psi = stacked_players(cfg, device)
        solo_G, solo_D = G, D
        members: Members = vmap_members(cfg, G, D, theta, psi, source, gens, device)
    elif net in GROUPINGS:
        kind = "grouped"
        G, D, solo_G, solo_D = grouped_players(cfg, device)
        theta, psi = dict(G.named_parameters()), dict(D.named_parameters())
        members = grouped_members(cfg, G, D, solo_D, source, gens, device)
    else:
        raise ValueError(f"ensemble: net {net!r} cannot be batched; nets that can: mlp, {', '.join(GROUPINGS)}")
    game = member_game(cfg, members, list(theta.values()), list(psi.values()), clock, meter, device)
    opt_g = make_optimiser(cfg, game.x, cfg.lr_g, device)
    opt_d = make_optimiser(cfg, game.y, cfg.lr_d, device)
    # build_steps's own (scalar) grad-norm meter is discarded: the per-member norms are recorded instead.
    step_x, step_y = build_steps(cfg, opt_g, opt_d, tl.meter(device))
    ema = average_init(game.x, "ema", ema_beta(cfg.ema_half_life)) if cfg.ema_half_life > 0 else None
    state = {"step": 0, "rule_state": {}, "clock": clock, "ema": ema}
    return Ensemble(
        cfg, device, kind, G, D, solo_G, solo_D, theta, psi, game, build_rule(cfg),
        member_metered(step_x, meter, "g_grad_norm", K), member_metered(step_y, meter, "d_grad_norm", K),
        opt_g, opt_d, gens, meter, source, state,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------- samples
@torch.no_grad()
def sample_chunks(ens: Ensemble, n: int, use_ema: bool = False) -> Iterator[torch.Tensor]:
    """(K, m, ...) chunks of n samples per member on its solo run's fixed z (CPU seed cfg.seed + k + 3, as
    runlog.generate draws it), G (or its EMA) in eval mode."""
    cfg, K = ens.cfg, ens.cfg.ensemble
    z = torch.stack(
        [torch.randn((n, z_size(cfg)), generator=torch.Generator().manual_seed(cfg.seed + k + 3)) for k in range(K)]
    ).to(ens.device, dtype_of(cfg))  # (K, n, z_dim)
    ema = ens.state["ema"].value if use_ema else None
    if ens.kind == "vmap":
        G_of = batched(ens.G, dict(zip(ens.theta, ema)) if use_ema else ens.theta)
    else:
        G = copy.deepcopy(ens.G).eval()  # eval: BatchNorm's running statistics, as runlog.generate
        if use_ema:
            for p, a in zip(G.parameters(), ema):
                p.copy_(a)
        G_of = lambda zk: _by_member(G(zk.transpose(0, 1)), K)  # noqa: E731
    for s in range(0, n, CHUNK):
        yield G_of(z[:, s : s + CHUNK]).float()


def _by_member(x: torch.Tensor, K: int) -> torch.Tensor:
    """(B, K C, H, W) -> (K, B, C, H, W)."""
    return x.reshape(x.shape[0], K, -1, *x.shape[2:]).transpose(0, 1)


def generate(ens: Ensemble, n: int, use_ema: bool = False) -> torch.Tensor:
    """(K, n, ...) samples: member k's on its solo run's fixed z, as runlog.generate gives them."""
    return torch.cat(list(sample_chunks(ens, n, use_ema)), dim=1)


def eval_samples(cfg: Config) -> int:
    """Samples per member scored for the summary's modes: cfg.ensemble_eval, or 2000 (2-D) / 25,600 (images)."""
    if cfg.ensemble_eval < 0:
        raise ValueError(f"ensemble_eval must be non-negative, got {cfg.ensemble_eval}")
    return cfg.ensemble_eval or (2000 if resolved_net(cfg) == "mlp" else 25_600)


def member_modes(ens: Ensemble, n: int) -> list:
    """Per member (of its EMA when there is one, as train reports): runlog.mode_stats on 2-D mixtures; on Stacked
    MNIST the modes hit (of 1000) and KL(q || uniform) by the MNIST classifier (Metz et al. 2017); else []."""
    use_ema, K = ens.state["ema"] is not None, ens.cfg.ensemble
    if ens.source.kind == "points":
        x = generate(ens, n, use_ema)
        return [tl.mode_stats(x[k], ens.source.centres, ens.source.std) for k in range(K)]
    if ens.source.channels != 3:
        return []
    model, labels = classifier(ens.device), [[] for _ in range(K)]
    for x in sample_chunks(ens, n, use_ema):
        for k in range(K):
            labels[k].append(clf.stacked_labels(model, x[k]))
    modes = [stacked_mnist_modes(torch.cat(y)) for y in labels]
    return [{"modes": m.modes, "of_modes": 1000, "reverse_kl": m.kl, "n": n} for m in modes]


def member_states(ens: Ensemble) -> list:
    """Each member's {'G', 'D', 'ema'}: its weights copied out in the solo nets' layout (state-dict names)."""
    K = ens.cfg.ensemble
    if ens.kind == "vmap":
        Gs = [{n: p[k].detach().clone() for n, p in ens.theta.items()} for k in range(K)]
        Ds = [{n: p[k].detach().clone() for n, p in ens.psi.items()} for k in range(K)]
    else:
        Gs, Ds = member_state_dicts(ens.G, ens.solo_G, K), member_state_dicts(ens.D, ens.solo_D, K)
    ema, shapes = ens.state["ema"], [p.shape for p in ens.solo_G.parameters()]
    return [
        {
            "G": Gs[k],
            "D": Ds[k],
            "ema": None
            if ema is None
            else {"value": [v.reshape((K,) + s)[k].clone() for v, s in zip(ema.value, shapes)], "count": ema.count},
        }
        for k in range(K)
    ]


def save_members(out: Path, ens: Ensemble) -> list:
    """members/seed_S.pt per member: format, step, config (its solo config), G, D, ema; returns the paths."""
    paths = []
    for k, state in enumerate(member_states(ens)):
        cfg = member_config(ens.cfg, k)
        ckpt = {"format": FORMAT, "step": ens.state["step"], "config": config_dict(cfg), **state}
        paths.append(save_checkpoint(ckpt, out / "members" / f"seed_{cfg.seed}.pt"))
    return paths


def save_member_samples(path: Path, ens: Ensemble, modes: list, n_show: int = 4) -> None:
    """A PNG of the first n_show members' samples, each panel titled with its seed (and modes, where counted)."""
    import matplotlib.pyplot as plt

    from sandbox import plots

    points = ens.source.kind == "points"
    x, n_show = generate(ens, 2000 if points else 64, ens.state["ema"] is not None), min(n_show, ens.cfg.ensemble)
    fig, axes = plt.subplots(1, n_show, figsize=(3.5 * n_show, 3.5), squeeze=False)
    for k, ax in enumerate(axes[0]):
        title = f"seed {ens.cfg.seed + k}" + (f": {modes[k]['modes']}/{modes[k]['of_modes']} modes" if modes else "")
        if points:
            plots.scatter_2d(ax, x[k], ens.source.centres, title=title)
            lim = 1.25 * float(ens.source.centres.abs().max())
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
        else:
            plots.sample_grid(ax, x[k], nrow=8, title=title)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)


# ------------------------------------------------------------------------------------------------- train
def train(cfg: Config) -> dict:
    """Train the K members of cfg as one batched model; returns the summary dict (per-member modes and losses)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # each rank would train the whole ensemble and write the same files
        raise ValueError("--ensemble K > 1 runs in one process; launch it without torchrun (WORLD_SIZE > 1 here)")
    eval_samples(cfg)  # a bad ensemble_eval fails before training, not after
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
    n_g, n_d, s = param_count(ens.solo_G), param_count(ens.solo_D), ens.state
    precision = PRECISION[use_amp(cfg, ens.device)]  # what amp resolved to: 'auto' differs between machines
    print(
        f"ensemble of {K} {resolved_net(cfg)} GANs ({ens.kind}; seeds {cfg.seed}..{cfg.seed + K - 1}) on {cfg.data}: "
        f"G {n_g:,} params, D {n_d:,} params each; device {ens.device}, {precision}; {cfg.steps} steps; out {out}",
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
    t_eval = time.perf_counter()
    modes = member_modes(ens, eval_samples(cfg))
    save_member_samples(out / "samples.png", ens, modes)
    saved = save_members(out, ens)
    summary = {
        "members": K,
        "batching": ens.kind,
        "seeds": [cfg.seed + k for k in range(K)],
        "params_G": n_g,
        "params_D": n_d,
        "step": s["step"],
        "steps": cfg.steps,
        "wall_s": time.perf_counter() - t_setup,
        "setup_s": t0 - t_setup,
        "eval_s": time.perf_counter() - t_eval,
        "g_steps_per_s": s["step"] / train_s,
        "member_steps_per_s": K * s["step"] / train_s,
        "images_per_s": K * s["clock"]["d_steps"] * cfg.batch / train_s,
        "final": {k: v for k, v in row.items() if k in tl.KEYS},
        "modes": modes,
        "modes_mean": sum(m["modes"] for m in modes) / K if modes else None,
        "member_weights": [str(p) for p in saved],
        "nonfinite_members": [cfg.seed + k for k in range(K) if not finite[k]],
        "device": (
            f"{ens.device} ({torch.get_num_threads()} threads)" if ens.device.type == "cpu" else str(ens.device)
        ),
        "dtype": cfg.dtype,
        "precision": precision,
        "out": str(out),
    }
    tl.write_json(out / "summary.json", summary)
    lines = [
        f"{s['step']} steps of {K} members in {train_s:.1f} s ({summary['g_steps_per_s']:.1f} ensemble steps/s, "
        f"{summary['member_steps_per_s']:.0f} member steps/s)"
    ]
    if modes:
        counts = ", ".join(str(m["modes"]) for m in modes)
        lines.append(
            f"modes covered per member (of {modes[0]['of_modes']}): {counts}; mean {summary['modes_mean']:.2f}"
        )
    if summary["nonfinite_members"]:
        lines.append(f"non-finite members (seeds): {summary['nonfinite_members']}")
    print("\n".join(lines), flush=True)
    return summary
