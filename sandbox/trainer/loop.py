"""One GAN trainer from 2-D toys to image GANs: `python -m sandbox.trainer [--preset NAME] [--config F.toml] [flags]`.

The trainer holds no GAN maths of its own. Data are device tensors sampled with explicit generators; the
players come from `sandbox.nets` (or the one-parameter Dirac-GAN players below); the losses are
`sandbox.games.network_game`, i.e. the same objective and penalty code as the analytic games; the update rule
and the optimiser steps are `sandbox.dynamics` (alternating D-first by default; WGAN clipping is a projected
step; the EMA of G is a half-life). A test trains the Dirac-GAN through this loop and matches
`dynamics.simulate` on `games.dirac_gan` bit for bit.

Seams for extensions: `build_players` (the nets), `build_game` (the Game), `make_run` (everything, as a
`Run`), `run_steps(run, n)` (n G steps, nothing else); `train` adds logging, evaluations, checkpoints and signals.
Outputs in the run folder (its rules: sandbox.trainer.runfolder): metrics.jsonl, samples_STEP.png, summary.json,
config.json, checkpoint.pt and best.pt (sandbox.trainer.checkpoint), tensorboard/.
"""

import contextlib
import dataclasses
import math
import random
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Callable, NamedTuple, Optional, Sequence

import numpy as np
import torch
from torch import nn

from sandbox.devices import pick_device
from sandbox.dynamics import Game, average_init, average_update, ema_beta
from sandbox.nets import param_count
from sandbox.trainer import distributed as sd
from sandbox.trainer import evaluate as ev
from sandbox.trainer import runfolder as rf
from sandbox.trainer import runlog as tl
from sandbox.trainer import schedule
from sandbox.trainer.checkpoint import (
    FILENAME,
    PRECISION,
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
    use_amp,
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
    amp = use_amp(cfg, device)  # 'auto' resolves per machine: the checkpoint records the answer (check_resume_config)
    game = build_game(
        cfg, sd.shard_module(G, world), D, sd.shard_source(source, world), gens, clock, meter, device, amp
    )
    opt_g, opt_d = build_optimisers(cfg, G, D, device)
    step_x, step_y = map(sd.averaged, build_steps(cfg, opt_g, opt_d, meter))
    ema = average_init(list(G.parameters()), "ema", ema_beta(cfg.ema_half_life)) if cfg.ema_half_life > 0 else None
    state = {
        "step": 0,
        "rule_state": {},
        "clock": clock,
        "ema": ema,
        "config_changes": [],
        "elapsed_s": 0.0,
        "best": None,  # {"step", "eval"}: the best evaluation so far, kept as best.pt
        "amp": amp,
    }
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


def run_steps(
    run: Run, n: int, stop: Optional[Callable[[], bool]] = None, each: Optional[Callable[[int], object]] = None
) -> int:
    """n G steps: each one call of the update rule, then the EMA update; returns the steps run (fewer if stop()).

    each(1) is called after every step (the progress bar: Python counters only, no host sync).
    """
    s = run.state
    for i in range(n):
        t = s["step"] + 1
        tl.meter_set_step(run.meter, t)
        if t == run.cfg.debug_nan_at_step:  # test aid: poison D so the losses of this step are NaN
            with torch.no_grad():
                next(run.D.parameters()).fill_(math.nan)
        schedule.apply_(run, t - 1)  # R3GAN's cosine schedules (cfg.schedule_kimg > 0): lr, beta2, penalty
        run.rule(run.game, run.step_x, run.step_y, s["rule_state"])
        if s["ema"] is not None:
            s["ema"] = average_update(s["ema"], run.game.x)
        s["step"] = t
        if each is not None:
            each(1)
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


def save(run: Run, paths: Sequence[Path], t0: float) -> str:
    """Write the run's checkpoint atomically to each path (elapsed time included); returns 'PATH (step N)'."""
    state = checkpoint_state(run)
    state["elapsed_s"] = run.state["elapsed_s"] + time.perf_counter() - t0
    for path in paths:
        save_checkpoint(state, path)
    return f"{paths[0]} (step {run.state['step']})"


def train(cfg: Config, checkpoint: Optional[dict] = None) -> dict:
    """Train per cfg (resuming from cfg.resume, or the already loaded `checkpoint`); returns the summary dict.

    Writes only the folder sandbox.trainer.runfolder.target names: cfg.out, or under resume the resumed folder.
    """
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(cpu_threads(cfg, threads))
        return _train(cfg, checkpoint)
    finally:
        torch.set_num_threads(threads)


def _say(rank0: bool, text: str, err: bool = False) -> None:
    if rank0:
        print(text, file=sys.stderr if err else sys.stdout, flush=True)


def _claim(run: Run, out: Path, fresh: bool, checkpoint: Optional[dict], stack: contextlib.ExitStack) -> None:
    """Rank 0 takes the folder: lock, leftover temp files, the folder rules (refuse/overwrite), the history kept."""
    cfg, s = run.cfg, run.state
    stack.enter_context(rf.locked(out))
    for path in rf.temp_files(out):
        path.unlink(missing_ok=True)
        _say(True, f"removed {path}: a temp file left by an interrupted write", err=True)
    if fresh:
        old = rf.refuse_if_taken(out, cfg.overwrite)
        rf.remove(old)
        if old:
            _say(True, f"--overwrite: removed the {len(old)} outputs of the earlier run in {out}", err=True)
    else:
        # Outputs of steps after the checkpoint belong to a history this run replaces (a crash after the save).
        rf.remove(rf.samples_after(out, s["step"]))
        _reconcile_best(run, out, checkpoint)
    # metrics.jsonl continues the checkpoint's: rows a crashed run wrote after its last checkpoint are dropped.
    tl.truncate_jsonl(out / "metrics.jsonl", s["step"])
    tl.write_json(out / "config.json", config_dict(cfg))


def _reconcile_best(run: Run, out: Path, checkpoint: dict) -> None:
    """best.pt agrees with the checkpoint's record of the best step: a save cut off between checkpoint.pt and
    best.pt (written in that order) is completed; a best.pt from steps after the checkpoint is removed."""
    best, record = out / rf.BEST, run.state["best"]
    on_disk = load_checkpoint(best)["step"] if best.is_file() else None
    if record is not None and on_disk != record["step"]:
        if record["step"] == checkpoint["step"]:
            save_checkpoint(checkpoint, best)  # the resumed checkpoint is that best state
        else:
            best.unlink(missing_ok=True)
            run.state["best"] = None
    elif record is None and on_disk is not None:
        best.unlink()


def _train(cfg: Config, checkpoint: Optional[dict]) -> dict:
    from tqdm import tqdm

    t_setup = time.perf_counter()
    world = sd.init_from_env(cfg.device)  # under torchrun: join the group; rank 0 alone prints and writes
    rank0 = world.rank == 0
    where = rf.target(cfg.out, cfg.resume, cfg.data)
    out, fresh = where.folder, not where.resume_in_place
    cfg = dataclasses.replace(cfg, out=str(out))  # what config.json and the checkpoint record
    if cfg.resume:
        checkpoint = checkpoint if checkpoint is not None else load_checkpoint(cfg.resume)
        if cfg.steps < checkpoint["step"]:
            raise ValueError(
                f"steps {cfg.steps} is below the step of the checkpoint {cfg.resume} ({checkpoint['step']}): "
                f"a resumed run only goes forward; pass --steps {checkpoint['step']} or more"
            )
    if cfg.tensorboard and rank0:
        tl.tb_writer_class()  # a missing package fails here, before any file is touched
    # Fail fast, before the data are loaded (checked again under the folder's lock).
    sd.together(lambda: rf.refuse_if_taken(out, cfg.overwrite) if rank0 and fresh else None, ValueError)
    run = make_run(cfg)
    s, best_file = run.state, out / rf.BEST
    if cfg.resume:
        diff = check_resume_config(
            checkpoint["config"],
            config_dict(cfg),
            cfg.resume,
            cfg.allow_config_change,
            (checkpoint.get("amp"), s["amp"]),
        )
        restore(run, checkpoint)
        if fresh:
            s["best"] = None  # a branch keeps its own best.pt
        if diff:
            s["config_changes"].append({"step": s["step"], "changes": [[k, a, b] for k, a, b in diff]})
            _say(
                rank0,
                f"config changed at step {s['step']} (allowed): "
                + "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in diff),
            )
        if where.resume_in_place and s["step"] == cfg.steps and (out / "summary.json").is_file():
            _say(rank0, f"{out} is already at step {cfg.steps}: nothing to do (a larger --steps extends it)")
            return tl.read_json(out / "summary.json")
    with contextlib.ExitStack() as stack:
        sd.together(lambda: _claim(run, out, fresh, checkpoint, stack) if rank0 else None, ValueError)
        writer = tl.tb_writer(out, s["step"] + 1 if cfg.resume else None) if cfg.tensorboard and rank0 else None
        if writer is not None:
            stack.callback(writer.close)
        return _loop(run, out, world, writer, t_setup, where.resume_in_place, best_file, tqdm)


def _loop(run: Run, out: Path, world, writer, t_setup: float, resumed: bool, best_file: Path, tqdm) -> dict:
    """The training loop proper, in blocks of steps between due events; returns the summary."""
    cfg, s, rank0 = run.cfg, run.state, world.rank == 0
    ckpt_file = out / FILENAME
    n_g, n_d = param_count(run.G), param_count(run.D)
    _say(
        rank0,
        f"{resolved_net(cfg)} on {cfg.data}: G {n_g:,} params, D {n_d:,} params; device {run.device}"
        f"{f' x {world.size} processes' if world.size > 1 else ''}; steps {s['step']} -> {cfg.steps}; out {out}",
    )
    last_ckpt = f"{ckpt_file} (step {s['step']})" if resumed else "none (no checkpoint written yet)"
    stop, row, modes, fresh_modes = {"signal": None}, {}, None, None
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
    tick = None if bar.disable else bar.update  # Python counters only: the bar moves every step, no host sync
    start_step, start_d, t0 = s["step"], s["clock"]["d_steps"], time.perf_counter()
    window, saved, setup_s, io_s = (t0, s["clock"]["d_steps"], s["step"]), s["step"], t0 - t_setup, 0.0
    try:
        while s["step"] < cfg.steps and stop["signal"] is None:
            t = s["step"]
            every = (cfg.log_every, cfg.nan_check_every, cfg.sample_every, cfg.ckpt_every, cfg.eval_every)
            target = min([cfg.steps] + [t + e - t % e for e in every if e > 0])
            watch = (lambda: stop["signal"] is not None) if world.size == 1 else None
            run_steps(run, target - t, watch, **({"each": tick} if tick else {}))  # wrappers without `each` work
            if world.size > 1:
                stop["signal"] = sd.agree_signal(pending["signal"])
            t, signal_name = s["step"], stop["signal"]
            done, end = t >= cfg.steps, t >= cfg.steps or signal_name is not None
            if _due(t, cfg.nan_check_every, end) or _due(t, cfg.ckpt_every, end):
                # before any checkpoint: never save non-finite state; a NaN on any rank stops every rank
                sd.together(lambda: check_finite(run, last_ckpt), NonFiniteError)
            if _due(t, cfg.sample_every, done) and signal_name is None and rank0:  # a signal saves at once
                t_io = time.perf_counter()
                fresh_modes = tl.plot_samples(run, out, writer)
                modes, io_s = fresh_modes or modes, io_s + time.perf_counter() - t_io
            evaluation, new_best = None, False
            if cfg.eval_every and _due(t, cfg.eval_every, done) and signal_name is None and rank0:
                t_io = time.perf_counter()
                evaluation = ev.evaluate_run(run)
                new_best = ev.better(evaluation, (s["best"] or {}).get("eval"))
                if new_best:
                    s["best"] = {"step": t, "eval": evaluation}
                io_s += time.perf_counter() - t_io
            if _due(t, cfg.log_every, end):
                now, d_steps = time.perf_counter(), s["clock"]["d_steps"]
                sd.mean_meter_(run.meter)  # the losses over all ranks' samples
                row = {
                    "step": t,
                    "window": [window[2] + 1, t],  # the losses are means over G steps window[0]..window[1]
                    "time_s": s["elapsed_s"] + now - t0,
                    "kimg": d_steps * cfg.batch / 1000,
                    "images_per_s": (d_steps - window[1]) * cfg.batch / max(now - window[0], 1e-9),
                    **tl.meter_read(run.meter),
                    **({"modes": fresh_modes} if fresh_modes else {}),
                    # the scheduled lr, beta2 and penalty gain of the window's last step
                    **({"schedule": schedule.hyper_at(cfg, t - 1)._asdict()} if cfg.schedule_kimg > 0 else {}),
                    **({"eval": evaluation} if evaluation else {}),
                    **({"signal": signal_name} if signal_name else {}),  # a partial window, cut by the signal
                }
                fresh_modes, window = None, (now, d_steps, t)
                if rank0:
                    tl.append_jsonl(out / "metrics.jsonl", row)
                    if writer is not None:
                        tl.tb_scalars(writer, row)
                bar.set_postfix({k: f"{row[k]:.3g}" for k in ("d_loss", "g_loss")}, refresh=False)
                bar.update(t - bar.n)
            if _due(t, cfg.ckpt_every, end) or new_best:
                t_io = time.perf_counter()
                # checkpoint.pt first, then best.pt: a crash between them is completed at the next start
                paths = [ckpt_file] + ([best_file] if new_best else [])
                last_ckpt = save(run, paths, t0) if rank0 else f"{ckpt_file} (step {t}, by rank 0)"
                saved = t
                io_s += time.perf_counter() - t_io
        if stop["signal"] is not None and saved != s["step"]:  # the signal came while plotting or logging
            check_finite(run, last_ckpt)
            last_ckpt, saved = save(run, [ckpt_file], t0) if rank0 else last_ckpt, s["step"]
    finally:
        bar.close()
        for sig, old in handlers.items():
            signal.signal(sig, old)
    wall = time.perf_counter() - t0
    train_s = max(wall - io_s, 1e-9)  # the loop without sample plots, evaluations and checkpoint writes
    images = (s["clock"]["d_steps"] - start_d) * cfg.batch
    if not row and rank0:  # nothing logged by this process (a resumed, finished run): the last row on disk
        rows = tl.read_jsonl(out / "metrics.jsonl")
        row = rows[-1] if rows else {}
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
        "best": s["best"],
        "device": str(run.device)
        + (
            f" ({torch.cuda.get_device_name(run.device)})"
            if run.device.type == "cuda"
            else f" ({torch.get_num_threads()} threads)"
        ),
        "dtype": cfg.dtype,
        "precision": PRECISION[s["amp"]],  # what amp resolved to: 'auto' differs between machines
        "out": str(out),
        "stopped_by": stop["signal"],
        "config_changes": s["config_changes"],
        "world_size": world.size,
    }
    if rank0:
        tl.write_json(out / "summary.json", summary)
        print(tl.summary_line(summary), flush=True)
    return summary
