"""One GAN trainer from 2-D toys to image GANs: `python -m sandbox.trainer [--preset NAME] [--config F.toml] [flags]`.

The trainer holds no GAN maths of its own. Data are device tensors sampled with explicit generators; the
players come from `sandbox.nets` (or the one-parameter Dirac-GAN players below); the losses are
`sandbox.games.network_game`, i.e. the same objective and penalty code as the analytic games; the update rule
and the optimiser steps are `sandbox.dynamics` (alternating D-first by default; WGAN clipping is a projected
step; the EMA of G is a half-life). A test trains the Dirac-GAN through this loop and matches
`dynamics.simulate` on `games.dirac_gan` bit for bit.

Seams for extensions: `build_players` (the nets), `build_game` (the Game), `make_run` (everything, as a
`Run`), `run_steps(run, n)` (n G steps, nothing else); `train` adds logging, checkpoints and signals.
Outputs in `out/`: metrics.jsonl, samples_STEP.png, summary.json, config.json, checkpoint.pt
(sandbox.trainer.checkpoint).
"""

import math
import random
import signal
import threading
import time
from pathlib import Path
from typing import Callable, NamedTuple, Optional

import numpy as np
import torch
from torch import nn

from sandbox.devices import pick_device
from sandbox.dynamics import Game, average_init, average_update, ema_beta
from sandbox.nets import param_count
from sandbox.trainer import distributed as sd
from sandbox.trainer import runlog as tl
from sandbox.trainer.checkpoint import (
    FILENAME,
    all_finite,
    check_resume_config,
    checkpoint_state,
    load_checkpoint,
    restore,
    save_checkpoint,
)
from sandbox.trainer.config import Config, config_dict, resolved_net
from sandbox.trainer.parts import (
    Source,
    build_data,
    build_game,
    build_optimisers,
    build_players,
    build_rule,
    build_steps,
    cpu_threads,
    stream_generators,
)


class NonFiniteError(RuntimeError):
    """A loss or parameter became NaN/Inf; the last checkpoint on disk is the last good state."""


class Run(NamedTuple):
    cfg: Config
    device: torch.device
    G: nn.Module  # the eager modules (checkpointed); the game may hold compiled wrappers
    D: nn.Module
    game: Game
    rule: Callable  # a sandbox.dynamics rule with its options bound
    step_x: Callable  # G's dynamics Step
    step_y: Callable  # D's dynamics Step (clipped for WGAN)
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    gens: dict  # 'data', 'noise': torch.Generators on the device
    meter: dict  # on-device loss sums (sandbox.trainer.runlog)
    source: Source
    state: dict  # step, rule_state, clock, ema, config_changes, elapsed_s


def make_run(cfg: Config) -> Run:
    """Build data, players, game, steps, rule and EMA for cfg, seeded from cfg.seed (init seed, +1 data, +2 noise).

    Also seeds the global torch, numpy and `random` RNGs with cfg.seed (the loop itself never draws from them).
    """
    world = sd.world()
    sd.check_batch(cfg.batch, world)
    device = sd.local_device(pick_device(cfg.device), world)
    # The loop draws only from its own generators; the global RNGs (randomly seeded at process start) are seeded
    # too, so a stray draw elsewhere is reproducible and a resumed run's saved RNG states match an unbroken run's.
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    random.seed(cfg.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest kernels once
    G, D = build_players(cfg, device, torch.Generator().manual_seed(cfg.seed))
    sd.broadcast_([G, D])  # data parallel: every rank starts from rank 0's weights
    gens = stream_generators(cfg.seed, device)
    source = build_data(cfg, device)
    meter = tl.meter(device)
    clock = {"d_steps": 0}
    # Data parallel: the game draws the global batch and keeps this rank's rows; the steps average the gradients.
    game = build_game(cfg, sd.shard_module(G, world), D, sd.shard_source(source, world), gens, clock, meter, device)
    opt_g, opt_d = build_optimisers(cfg, G, D, device)
    step_x, step_y = map(sd.averaged, build_steps(cfg, opt_g, opt_d, meter))
    ema = average_init(list(G.parameters()), "ema", ema_beta(cfg.ema_half_life)) if cfg.ema_half_life > 0 else None
    state = {"step": 0, "rule_state": {}, "clock": clock, "ema": ema, "config_changes": [], "elapsed_s": 0.0}
    return Run(
        cfg,
        device,
        G,
        D,
        game,
        build_rule(cfg),
        step_x,
        step_y,
        opt_g,
        opt_d,
        gens,
        meter,
        source,
        state,
    )


def run_steps(run: Run, n: int, stop: Optional[Callable[[], bool]] = None) -> int:
    """n G steps: each one call of the update rule, then the EMA update; returns the steps run (fewer if stop())."""
    s = run.state
    for i in range(n):
        t = s["step"] + 1
        tl.meter_set_step(run.meter, t)
        if t == run.cfg.debug_nan_at_step:  # test aid: poison D so the losses of this step are NaN
            with torch.no_grad():
                next(run.D.parameters()).fill_(math.nan)
        run.rule(run.game, run.step_x, run.step_y, s["rule_state"])
        if s["ema"] is not None:
            s["ema"] = average_update(s["ema"], run.game.x)
        s["step"] = t
        if stop is not None and stop():
            return i + 1
    return n


# ---------------------------------------------------------------------------------------------- the loop
def check_finite(run: Run, last_ckpt: str) -> None:
    """NonFiniteError naming the step and the loss (or parameter) if anything went NaN/Inf; one host sync."""
    bad = tl.first_nonfinite(run.meter)
    if bad is None:
        params = list(run.G.parameters()) + list(run.D.parameters())
        i = all_finite(params)
        bad = None if i is None else (f"parameter {i} of G+D", run.state["step"])
    if bad is not None:
        raise NonFiniteError(
            f"non-finite {bad[0]} at step {bad[1]}: training stopped; nothing was saved after "
            f"it, the last good checkpoint is {last_ckpt}"
        )


def _install_handlers(stop: dict) -> dict:
    """SIGTERM/SIGINT set stop['signal'] so the loop saves and exits; a second SIGINT interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum, frame):
        if stop["signal"] is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop["signal"] = signal.Signals(signum).name

    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}


def _due(step: int, every: int, end: bool) -> bool:
    return end or (every > 0 and step % every == 0)


def save(run: Run, path: Path, t0: float) -> str:
    """Write the run's checkpoint atomically (elapsed time included); returns 'PATH (step N)'."""
    state = checkpoint_state(run)
    state["elapsed_s"] = run.state["elapsed_s"] + time.perf_counter() - t0
    save_checkpoint(state, path)
    return f"{path} (step {run.state['step']})"


def train(cfg: Config, checkpoint: Optional[dict] = None) -> dict:
    """Train per cfg (resuming from cfg.resume, or the already loaded `checkpoint`); returns the summary dict."""
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(cpu_threads(cfg, threads))
        return _train(cfg, checkpoint)
    finally:
        torch.set_num_threads(threads)


def _train(cfg: Config, checkpoint: Optional[dict]) -> dict:
    from tqdm import tqdm

    t_setup = time.perf_counter()
    world = sd.init_from_env(cfg.device)  # under torchrun: join the group; rank 0 alone prints and writes
    rank0 = world.rank == 0
    run = make_run(cfg)
    out = Path(cfg.out)
    if rank0:
        out.mkdir(parents=True, exist_ok=True)
    s, ckpt_file = run.state, out / FILENAME
    if cfg.resume:
        checkpoint = checkpoint if checkpoint is not None else load_checkpoint(cfg.resume)
        diff = check_resume_config(checkpoint["config"], config_dict(cfg), cfg.resume, cfg.allow_config_change)
        restore(run, checkpoint)
        if diff:
            s["config_changes"].append({"step": s["step"], "changes": [[k, a, b] for k, a, b in diff]})
        if diff and rank0:
            print(
                f"config changed at step {s['step']} (allowed): "
                + "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in diff),
                flush=True,
            )
    elif ckpt_file.exists() and rank0:
        print(f"note: starting fresh; {ckpt_file} will be replaced (pass --resume {out} to continue it)", flush=True)
    n_g, n_d = param_count(run.G), param_count(run.D)
    if rank0:
        # metrics.jsonl continues the checkpoint's: rows a crashed run wrote after its last checkpoint are dropped.
        tl.truncate_jsonl(out / "metrics.jsonl", s["step"])
        tl.write_json(out / "config.json", config_dict(cfg))
        print(
            f"{resolved_net(cfg)} on {cfg.data}: G {n_g:,} params, D {n_d:,} params; device {run.device}"
            f"{f' x {world.size} processes' if world.size > 1 else ''}; steps {s['step']} -> {cfg.steps}; out {out}",
            flush=True,
        )
    last_ckpt = f"{ckpt_file} (step {s['step']})" if cfg.resume else "none (no checkpoint written yet)"
    stop, row, modes, fresh = {"signal": None}, {}, None, None
    # Several processes must stop at the same step: a signal only marks `pending`, and the ranks agree on it
    # (one all_reduce) after each block of steps, where the loop syncs anyway.
    pending = stop if world.size == 1 else {"signal": None}
    handlers = _install_handlers(pending)
    bar = tqdm(
        total=cfg.steps,
        initial=s["step"],
        disable=not (cfg.progress and rank0),
        desc="train",
        unit="step",
        dynamic_ncols=True,
    )
    start_step, start_d, t0 = s["step"], s["clock"]["d_steps"], time.perf_counter()
    window, saved, setup_s, io_s = (t0, s["clock"]["d_steps"]), s["step"], t0 - t_setup, 0.0
    try:
        while s["step"] < cfg.steps and stop["signal"] is None:
            t = s["step"]
            target = min(
                [cfg.steps]
                + [
                    t + e - t % e
                    for e in (cfg.log_every, cfg.nan_check_every, cfg.sample_every, cfg.ckpt_every)
                    if e > 0
                ]
            )
            run_steps(run, target - t, (lambda: stop["signal"] is not None) if world.size == 1 else None)
            if world.size > 1:
                stop["signal"] = sd.agree_signal(pending["signal"])
            t, end = s["step"], s["step"] >= cfg.steps or stop["signal"] is not None
            if _due(t, cfg.nan_check_every, end) or _due(t, cfg.ckpt_every, end):
                # before any checkpoint: never save non-finite state; a NaN on any rank stops every rank
                sd.together(lambda: check_finite(run, last_ckpt), NonFiniteError)
            if _due(t, cfg.sample_every, end) and rank0:
                t_io = time.perf_counter()
                fresh = tl.plot_samples(run, out)
                modes, io_s = fresh or modes, io_s + time.perf_counter() - t_io
            if _due(t, cfg.log_every, end):
                now, d_steps = time.perf_counter(), s["clock"]["d_steps"]
                sd.mean_meter_(run.meter)  # the losses over all ranks' samples
                row = {
                    "step": t,
                    "time_s": s["elapsed_s"] + now - t0,
                    "kimg": d_steps * cfg.batch / 1000,
                    "images_per_s": (d_steps - window[1]) * cfg.batch / max(now - window[0], 1e-9),
                    **tl.meter_read(run.meter),
                    **({"modes": fresh} if fresh else {}),
                }
                fresh = None
                window = (now, d_steps)
                if rank0:
                    tl.append_jsonl(out / "metrics.jsonl", row)
                bar.set_postfix({k: f"{row[k]:.3g}" for k in ("d_loss", "g_loss")}, refresh=False)
                bar.update(t - bar.n)
            if _due(t, cfg.ckpt_every, end):
                t_io = time.perf_counter()
                last_ckpt = save(run, ckpt_file, t0) if rank0 else f"{ckpt_file} (step {t}, by rank 0)"
                saved = t
                io_s += time.perf_counter() - t_io
        if stop["signal"] is not None and saved != s["step"]:  # the signal came while plotting or logging
            check_finite(run, last_ckpt)
            last_ckpt, saved = save(run, ckpt_file, t0), s["step"]
    finally:
        bar.close()
        for sig, old in handlers.items():
            signal.signal(sig, old)
    wall = time.perf_counter() - t0
    train_s = max(wall - io_s, 1e-9)  # the loop without sample plots and checkpoint writes
    images = (s["clock"]["d_steps"] - start_d) * cfg.batch
    summary = {
        "params_G": n_g,
        "params_D": n_d,
        "step": s["step"],
        "steps": cfg.steps,
        "steps_this_run": s["step"] - start_step,
        "wall_s": wall,
        "setup_s": setup_s,
        "plots_ckpt_s": io_s,
        "g_steps_per_s": (s["step"] - start_step) / train_s,
        "images_per_s": images / train_s,
        "final": {k: v for k, v in row.items() if k in tl.KEYS},
        "modes": modes,
        "device": str(run.device)
        + (
            f" ({torch.cuda.get_device_name(run.device)})"
            if run.device.type == "cuda"
            else f" ({torch.get_num_threads()} threads)"
        ),
        "dtype": cfg.dtype,
        "out": str(out),
        "stopped_by": stop["signal"],
        "config_changes": s["config_changes"],
        "world_size": world.size,
    }
    if rank0:
        tl.write_json(out / "summary.json", summary)
        print(tl.summary_line(summary), flush=True)
    return summary
