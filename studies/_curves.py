"""Resumable training curves for the image studies: train a config through the trainer to a list of marks,
evaluate at each, and keep a checkpoint and the rows so far in the point's work folder, so a killed grid point
continues where it stopped and ends bit-identical (on the CPU) to an unbroken run.

Not a study (the leading underscore keeps it out of `all_studies`). Everything numeric is the library's:
`trainer.loop.make_run` + `run_steps`, the trainer's checkpoints (`trainer.checkpoint`), its loss meters
(`trainer.runlog`), and for Stacked MNIST the project's classifier (`evaluation.mnist.stacked_modes`).
"""

import copy
import math
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch

from sandbox.evaluation import mnist as ev
from sandbox.records import read_json, unjsonable, write_json
from sandbox.reporting.workers import note_spent, spent_cpu_s
from sandbox.trainer import runlog as tl
from sandbox.trainer.checkpoint import check_resume_config, checkpoint_state, load_checkpoint, restore, save_checkpoint
from sandbox.trainer.config import Config, config_dict, z_size
from sandbox.trainer.loop import Run, make_run, run_steps

CHECKPOINT, CURVE = "checkpoint.pt", "curve.json"


def resume_or_start(cfg: Config, workdir: Optional[Path]) -> tuple:
    """(run, rows): a fresh run, or the one checkpointed in workdir (same config, else a ValueError) and its rows."""
    run = make_run(cfg)
    if workdir is None or not (Path(workdir) / CHECKPOINT).exists():
        return run, []
    state = load_checkpoint(Path(workdir) / CHECKPOINT)
    check_resume_config(
        state["config"], config_dict(cfg), Path(workdir) / CHECKPOINT, amp=(state.get("amp"), run.state["amp"])
    )
    restore(run, state)
    rows = unjsonable(read_json(Path(workdir) / CURVE)["rows"]) if (Path(workdir) / CURVE).exists() else []
    # rows are written before the checkpoint: a row past the checkpoint is recomputed, identically, after resume
    return run, [r for r in rows if r["step"] <= run.state["step"]]


def resumable_curve(
    cfg: Config,
    marks: Sequence[int],
    evaluate: Callable[[Run], dict],
    workdir: Optional[Path] = None,
    prepare: Optional[Callable[[Run], Run]] = None,
) -> tuple:
    """Train cfg to each mark, then row = {step, window-mean losses, evaluate(run)}; (rows, run, stopped_at).

    evaluate must draw from its own generators (never the run's), so that evaluating changes no training number.
    With a workdir, the rows, a checkpoint and the CPU seconds spent so far (`workers.note_spent`, summed over
    calls) are written atomically after each mark. A non-finite loss
    ends the curve (later marks are not trained) and is returned as stopped_at, the step it was seen at.
    prepare(run) -> run, applied to the fresh or resumed run before it trains, may wrap its rule (e.g. to keep a
    running quantity in the rule's state, which the checkpoint carries). A run resumed with marks beyond its
    checkpoint (a longer run: `steps` may grow on resume) evaluates the checkpoint's row again.
    """
    clock, before = time.process_time(), (0.0 if workdir is None else spent_cpu_s(workdir))
    run, rows = resume_or_start(cfg, workdir)
    run = prepare(run) if prepare is not None else run
    if rows and rows[-1]["step"] == run.state["step"] and any(int(m) > run.state["step"] for m in marks):
        # An extended run (more marks than before): the row at the checkpoint may have been scored as the last
        # mark (studies score more samples there), so it is evaluated again as the intermediate mark it now is;
        # its losses are kept, and a row that was already intermediate gets the same numbers again.
        rows[-1] = {**rows[-1], **evaluate(run)}
    done = {r["step"] for r in rows}
    for mark in sorted(set(int(m) for m in marks)):
        if mark in done or mark < run.state["step"]:
            continue
        run_steps(run, mark - run.state["step"])
        bad = tl.first_nonfinite(run.meter)
        if bad is not None:
            return rows, run, int(bad[1])
        rows.append({"step": mark, **tl.meter_read(run.meter), **evaluate(run)})
        if workdir is not None:
            write_json(Path(workdir) / CURVE, {"rows": rows})
            save_checkpoint(checkpoint_state(run), Path(workdir) / CHECKPOINT)
            note_spent(workdir, before + time.process_time() - clock)  # the record's cpu_s counts killed calls
    return rows, run, None


# ------------------------------------------------------------------------------------------- Stacked MNIST
@torch.no_grad()
def stacked_samples(run: Run, n: int, seed: int, batch: int = 128) -> torch.Tensor:
    """n samples of a copy of G in training mode, in batches of `batch` (BatchNorm on batch statistics, as the
    Metz / PacGAN evaluation samples), on latents from a CPU generator seeded with `seed` (not the run's)."""
    G = copy.deepcopy(run.G).train()
    g = torch.Generator().manual_seed(seed)
    z = torch.randn((n, z_size(run.cfg)), generator=g)
    dtype = next(G.parameters()).dtype
    return torch.cat([G(z[i : i + batch].to(run.device, dtype)).float() for i in range(0, n, batch)])


def unscored_row() -> dict:
    """The row of samples that cannot be scored (non-finite: a diverged G): modes 0, every other field nan, the
    same keys as a scored row so curves and summaries read one shape."""
    return dict({f: math.nan for f in ev.StackedQuality._fields}, modes=0, pixel_std=math.nan)


def stacked_modes_row(run: Run, n: int, seed: int) -> dict:
    """Modes of 1000, reverse KL(q || uniform) split into per-channel and between-channel parts, and the
    classifier's confidence, of n samples (the project's MNIST classifier, `ev.stacked_quality`)."""
    x = stacked_samples(run, n, seed).clamp(-1.0, 1.0)
    if not bool(torch.isfinite(x).all()):
        return unscored_row()
    return dict(ev.stacked_quality(x, run.device)._asdict(), pixel_std=float(x.std(0).mean()))
