"""Probes that train against a frozen generator, on the trainer's own parts (Arjovsky & Bottou 2017, Fig. 2).

`probe_fixed_g` builds a fresh D of a run's config and trains it from scratch against a fixed G with the pure
probes of `sandbox.evaluation.probe`; `advance` continues a cached run to a later snapshot step.
"""

from typing import Optional, Sequence

import torch
from torch import nn

from sandbox.dynamics import optimiser_step
from sandbox.evaluation.probe import snapshot, train_d_against_fixed_g
from sandbox.trainer.config import z_size
from sandbox.trainer.loop import make_run, run_steps
from sandbox.trainer.parts import build_players, make_optimiser


def probe_fixed_g(
    run,
    G: nn.Module,
    iterations: int,
    probe_at: Sequence[int],
    seed: int,
    eval_n: int = 128,
    D: Optional[nn.Module] = None,
    keep_logits: int = 0,
    opt_state: Optional[dict] = None,
) -> dict:
    """train_d_against_fixed_g with run.cfg's D, optimiser, data and batch size (Arjovsky & Bottou 2017, Fig. 2).

    D is a fresh net of the config's architecture, or a copy of the given D (which is left untouched). opt_state
    (an optimiser state_dict of that D, e.g. the run's) continues D's optimiser instead of starting it fresh.

    Seeds: the fresh D's init from `seed`, its training batches from seed + 1, the fixed evaluation batches
    (eval_n real images and latents) from seed + 2, so every G probed with one seed sees the same z.
    """
    cfg, device = run.cfg, run.device
    if D is None:
        D = build_players(cfg, device, torch.Generator().manual_seed(seed))[1]
    else:
        D = snapshot(D)
    opt = make_optimiser(cfg, D.parameters(), cfg.lr_d, device)
    if opt_state is not None:
        opt.load_state_dict(opt_state)
    dtype, width = getattr(torch, cfg.dtype), z_size(cfg)
    train_gen = torch.Generator(device).manual_seed(seed + 1)
    eval_gen = torch.Generator(device).manual_seed(seed + 2)
    eval_real = run.source.sample(eval_n, eval_gen)
    eval_z = torch.randn((eval_n, width), generator=eval_gen, device=device, dtype=dtype)
    return train_d_against_fixed_g(
        G,
        D,
        lambda: run.source.sample(cfg.batch, train_gen),
        lambda: torch.randn((cfg.batch, width), generator=train_gen, device=device, dtype=dtype),
        optimiser_step(opt),
        iterations,
        probe_at,
        eval_real,
        eval_z,
        keep_logits=keep_logits,
    )


def advance(cfg, step: int, runs: Optional[dict] = None):
    """The trainer's Run for cfg after `step` G steps (make_run + run_steps), continuing a cached shorter run of cfg."""
    runs = {} if runs is None else runs
    run = runs.get(cfg)
    if run is None or run.state["step"] > step:
        run = make_run(cfg)
    run_steps(run, step - run.state["step"])
    runs.clear()  # one run at a time: the cache exists to reuse a run for its later snapshots
    runs[cfg] = run
    return run
