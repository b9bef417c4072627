"""The trainer from Python: load a run folder's players in one call, sample them, and train resumable grid points.

    from sandbox.trainer.api import load_generator, sample
    G = load_generator("runs/dcgan")               # the EMA generator if the run kept one (BN recomputed), eval mode
    x = sample(G, 64, seed=0)                      # (64, 1, 28, 28) in [-1, 1]

`load_run` returns everything a study needs (config, G, D, EMA G, step, metrics rows); `train_resumable` runs a
config in a folder so that a killed process, run again, continues and ends bit-identical (CPU) to an unbroken run.
"""

import dataclasses
from pathlib import Path
from typing import List, NamedTuple, Optional

import torch
from torch import Tensor, nn

from sandbox.devices import pick_device
from sandbox.trainer import evaluate as ev
from sandbox.trainer import runfolder as rf
from sandbox.trainer import runlog as tl
from sandbox.trainer.checkpoint import FILENAME, check_resume_config, load_checkpoint
from sandbox.trainer.config import Config, config_dict
from sandbox.trainer.loop import train
from sandbox.trainer.parts import use_amp


class LoadedRun(NamedTuple):
    cfg: Config
    G: nn.Module  # eval mode
    D: nn.Module  # eval mode
    G_ema: Optional[nn.Module]  # the EMA generator, BatchNorm statistics recomputed, eval mode; None without an EMA
    step: int
    rows: List[dict]  # metrics.jsonl, up to the checkpoint's step
    summary: Optional[dict]  # summary.json, if the run wrote one
    folder: Path


def _checkpoint_file(run_dir, checkpoint: str) -> Path:
    path = Path(run_dir)
    return path if path.is_file() else path / checkpoint


def load_run(run_dir, checkpoint: str = FILENAME, device="cpu", bn_batches: int = tl.BN_BATCHES) -> LoadedRun:
    """A run folder's config, players (eval mode), EMA generator, step, metrics rows and summary; weights-only load."""
    path = _checkpoint_file(run_dir, checkpoint)
    loaded = ev.players(load_checkpoint(path), device)
    G_ema = ev.pick_generator(loaded.cfg, loaded.G, loaded.ema, True, bn_batches)[0] if loaded.ema else None
    folder = path.parent
    rows = [r for r in tl.read_jsonl(folder / "metrics.jsonl") if r["step"] <= loaded.step]
    summary = tl.read_json(folder / "summary.json") if (folder / "summary.json").is_file() else None
    for m in (loaded.G, loaded.D, G_ema):
        if m is not None:
            m.eval()
    return LoadedRun(loaded.cfg, loaded.G, loaded.D, G_ema, loaded.step, rows, summary, folder)


def load_generator(
    run_dir, ema: Optional[bool] = None, checkpoint: str = FILENAME, device="cpu", bn_batches: int = tl.BN_BATCHES
) -> nn.Module:
    """A run's generator in eval mode: its EMA (BatchNorm recomputed) if ema, or if ema is None and the run kept one.

    G.z_dim holds the latent size. ema=True on a run without an EMA is a ValueError.
    """
    loaded = ev.players(load_checkpoint(_checkpoint_file(run_dir, checkpoint)), device)
    G = ev.pick_generator(loaded.cfg, loaded.G, loaded.ema, ema, bn_batches)[0]
    return G.eval()


def load_discriminator(run_dir, checkpoint: str = FILENAME, device="cpu") -> nn.Module:
    """A run's discriminator in eval mode (it returns a logit, large on real data)."""
    return ev.players(load_checkpoint(_checkpoint_file(run_dir, checkpoint)), device).D.eval()


def sample(G: nn.Module, n: int, seed: int = 0, z_dim: Optional[int] = None) -> Tensor:
    """n samples G(z) in eval mode, z ~ N(0, I) from torch.Generator(G's device).manual_seed(seed): the draw that
    sandbox-eval makes with the same seed, so sample(G, run's eval_n, run's eval seed) are the evaluated samples."""
    z_dim = z_dim if z_dim is not None else getattr(G, "z_dim", None)
    if z_dim is None:
        raise ValueError("sample needs z_dim for a generator without a z_dim attribute (load_generator sets it)")
    device = next(G.parameters()).device
    return ev.sampler(G, int(z_dim))(n, torch.Generator(device).manual_seed(seed))


def train_resumable(cfg: Config, run_dir) -> dict:
    """Train cfg in run_dir: a fresh run if the folder holds none, else continue its checkpoint; returns the summary.

    A checkpoint of a different config is refused (ValueError listing the keys); a folder whose run died before
    its first checkpoint is started over; a finished run returns its summary.json without training. On the CPU a
    run killed at any point and continued here ends bit-identical to an unbroken one.
    """
    folder = Path(run_dir)
    cfg = dataclasses.replace(cfg, out=str(folder), resume="", overwrite=False)
    ckpt = folder / FILENAME
    if ckpt.is_file():
        state = load_checkpoint(ckpt)
        check_resume_config(
            state["config"], config_dict(cfg), ckpt, amp=(state.get("amp"), use_amp(cfg, pick_device(cfg.device)))
        )
        if state["step"] == cfg.steps and (folder / "summary.json").is_file():
            return tl.read_json(folder / "summary.json")
        return train(dataclasses.replace(cfg, resume=str(folder)), state)
    if rf.outputs(folder) and (folder / "config.json").is_file():  # died before its first checkpoint: start over
        check_resume_config(tl.read_json(folder / "config.json"), config_dict(cfg), folder / "config.json")
        return train(dataclasses.replace(cfg, overwrite=True))
    return train(cfg)
