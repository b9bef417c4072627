"""Shared by the MNIST studies. The dynamics studies (wgan_family, r1_convergence, dynamics_at_scale): one trainer
run with FID (MNIST-classifier features) at a few G steps, the window-mean training losses between them, and
optional cheap probes of D every few steps. dcgan_mnist, vanishing_gradients and saturation_at_scale: one resumable
DCGAN trajectory per seed (`dcgan_trajectory`) with G and D snapshots at its marks, which each of them trains when
it is absent and reuses when another left it. Not a study (the leading underscore keeps it out of `all_studies`).

Everything numeric is the library's: the run is `sandbox.trainer.loop.make_run` + `run_steps`, samples are
`sandbox.trainer.runlog.generate` (G in eval mode on one fixed z per run, so FID differences between steps are not
sampling noise in z), FID is `sandbox.evaluation.mnist.fid` against the MNIST test split's reference statistics, and
losses are the trainer's own meter (`sandbox.trainer.runlog.meter_read`).
"""

import contextlib
import copy
import fcntl
import hashlib
import json
import math
import time
from pathlib import Path
from typing import Callable, NamedTuple, Optional, Sequence

import numpy as np
import torch

from sandbox.data import data_root
from sandbox.evaluation import mnist as ev
from sandbox.penalties import grad_norm
from sandbox.reporting import study
from sandbox.reporting.figures import fid_axis  # noqa: F401 (moved to the kit; the studies import it here)
from sandbox.trainer import runlog as tl
from sandbox.trainer.checkpoint import load_checkpoint, save_checkpoint
from sandbox.trainer.config import RESUME_EXEMPT, Config, config_dict, make_config
from sandbox.trainer.loop import Run, make_run, run_steps
from sandbox.trainer.presets import R1_EMA_HALF_LIFE, preset
from studies import _curves


def mnist_config(*layers: dict, device="cpu") -> Config:
    """make_config(data=mnist from data_root(), device, no progress bar, fp32) updated by the layers (later wins:
    the Stacked MNIST studies' layers set data=stacked_mnist, read from the same data root)."""
    # fp32 on every machine: the trainer's amp 'auto' turns bf16 on for the DCGAN on CPUs with native bf16, and a
    # study's records must not depend on which machine made them (they were all made in fp32)
    base = dict(data="mnist", data_dir=str(data_root()), device=str(torch.device(device)), progress=False, amp="off")
    return make_config(base, *layers)


def fid_now(run: Run, n: int, use_ema: bool = False) -> float:
    """FID (MNIST-classifier features) of n samples of G (or its EMA) on the run's fixed z, against the test split."""
    return ev.fid_to_test(tl.generate(run, n, use_ema), run.cfg.data_dir, run.device)


def sampler(G: torch.nn.Module, chunk: int = 500) -> Callable:
    """sample_fn(n, generator) -> G(z), z ~ N(0, I) from the generator, G in eval mode (BatchNorm running stats)."""

    return lambda n, g: eval_images(G, torch.randn(n, G.z_dim, generator=g, device=g.device), chunk)


def eval_images(G: torch.nn.Module, z: torch.Tensor, chunk: int = 500) -> torch.Tensor:
    """G(z) in float32, G in eval mode (BatchNorm running statistics: one code, one image), chunks of `chunk`."""
    was_training = G.training
    G.eval()
    try:
        with torch.no_grad():
            dev = next(G.parameters()).device
            return torch.cat([G(z[i : i + chunk].to(dev)) for i in range(0, z.shape[0], chunk)]).float()
    finally:
        G.train(was_training)


def real_probe(run: Run, n: int, generator: torch.Generator) -> dict:
    """On n fresh real images: mean ||grad_x D|| (per sample, penalties.grad_norm) and the mean real logit of D."""
    x = run.source.sample(n, generator)
    norms = grad_norm(run.D, x)
    with torch.no_grad():
        logits = run.D(x)
    return {"grad_norm_real": float(norms.detach().mean()), "real_logit": float(logits.mean())}


def train_curve(
    cfg: Config,
    eval_steps: Sequence[int],
    n_fid: int,
    ema: bool = False,
    probe: Optional[Callable[[Run], dict]] = None,
    probe_every: int = 0,
    at_start: Optional[Callable[[Run], dict]] = None,
):
    """Train cfg for max(eval_steps) G steps; FID (and EMA FID) at each eval step, probe(run) every probe_every.

    Returns (record, run). record: steps, fid, fid_ema (or None), d_loss/g_loss/d_grad_norm/g_grad_norm as
    means over the window since the previous eval step (nan at step 0), probe_steps and probe values, seconds
    (training and evaluation apart), stopped_at (the step a non-finite loss stopped the run, or None), and
    start = at_start(run) on the untrained run.
    """
    eval_steps = sorted(set(int(s) for s in eval_steps))
    probe_steps = list(range(0, eval_steps[-1] + 1, probe_every)) if probe and probe_every else []
    marks = sorted(set(eval_steps) | set(probe_steps))
    run = make_run(cfg)
    rec = {
        "steps": [],
        "fid": [],
        "fid_ema": [] if ema else None,
        "probe_steps": [],
        "probe": {},
        "stopped_at": None,
        "start": at_start(run) if at_start else None,
        **{k: [] for k in tl.KEYS},
    }
    t_train = t_eval = 0.0
    done = 0
    for mark in marks:
        t0 = time.perf_counter()
        if rec["stopped_at"] is None:
            run_steps(run, mark - done)
        done = mark
        bad = tl.first_nonfinite(run.meter) if rec["stopped_at"] is None else None
        if bad is not None:
            rec["stopped_at"] = int(bad[1])  # later marks record nan: the run is over
        t1 = time.perf_counter()
        t_train += t1 - t0
        alive = rec["stopped_at"] is None
        if mark in probe_steps:
            rec["probe_steps"].append(mark)
            values = probe(run) if alive else {}
            for k, v in values.items():
                rec["probe"].setdefault(k, []).append(v)
            for k in rec["probe"]:
                if k not in values:
                    rec["probe"][k].append(math.nan)
        if mark in eval_steps:
            rec["steps"].append(mark)
            rec["fid"].append(fid_now(run, n_fid) if alive else math.nan)
            if ema:
                rec["fid_ema"].append(fid_now(run, n_fid, use_ema=True) if alive else math.nan)
            window = tl.meter_read(run.meter)  # means since the previous eval step, then reset
            for k in tl.KEYS:
                rec[k].append(window[k] if alive else math.nan)
        t_eval += time.perf_counter() - t1
    rec["seconds"] = {"train": t_train, "eval": t_eval}
    return rec, run


def last_fraction(values: Sequence[float], fraction: float) -> np.ndarray:
    """The last `fraction` of a series (at least two values), as a float array."""
    a = np.asarray(values, dtype=np.float64)
    k = max(2, int(math.ceil(fraction * len(a))))
    return a[-k:]


def mean_std(values) -> tuple:
    """(mean, population std or None for a single value) of a list of numbers."""
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), (float(a.std()) if a.size > 1 else None)


def scale_note(scale: str, device) -> str:
    """The figure-title note on what was run: e.g. 'quick scale, cpu (1 threads): not the paper's full run'."""
    where = study.describe_device(torch.device(device))
    return f"{scale} scale, {where}" + ("" if scale == "full" else ": not the paper's full run")


# ------------------------------------------------------------------------ the DCGAN trajectory of C6, C7 and C21
# dcgan_mnist (C21), vanishing_gradients (C7) and saturation_at_scale (C6) read one DCGAN run per seed: G and D
# snapshots at every mark, FID of G (and of its EMA) there. Each study trains it when it is absent and reuses it
# when another study left it, in <records>/.work/dcgan_mnist_trajectory/ (never committed): same numbers either way.
MNIST_TRAIN = 60_000  # training images: an epoch is 60,000 / batch G steps (937.5 at batch 64)
TRAJECTORY = "dcgan_mnist_trajectory"
SNAPSHOT_FORMAT = 2  # what a snapshot holds: G, D and D's optimiser state (format 1 had no optimiser)
# Marks in epochs. trained: dcgan.torch's 25 epochs (its default niter) and its batch 64 (Radford et al.'s text says
# 128; 64 halves the CPU of C7's 4000-iteration fresh-D probes), at width 1/4 (G 64-32, D 32-64 channels; the
# paper's width 1 is ~6x slower on one CPU thread). The EMA of G (half-life 693 G steps, GAN_stability's beta 0.999)
# feeds nothing back into training: its samples are reported beside G's.
_LONG = (0, 0.1, 0.25, 0.5, 1, 2, 3, 4, 5, 6, 8, 10, 12.5, 15, 17.5, 20, 22.5, 25)
TRAJECTORY_PRESET = "dcgan"  # what the trajectory trains with, and what its readers' records hold
_TRAINED = dict(width=0.25, batch=64, marks=_LONG, seeds=3, n_fid=2000, ema_half_life=R1_EMA_HALF_LIFE)
DCGAN_TRAJECTORIES = {
    "smoke": dict(width=0.125, batch=16, marks=(0, 0.001, 0.002), seeds=1, n_fid=200, ema_half_life=2.0),
    "quick": dict(width=0.25, batch=64, marks=(0, 0.1, 0.25, 0.5, 1, 1.5, 2), seeds=1, n_fid=2000, ema_half_life=200.0),
    "trained": _TRAINED,
    # dcgan_mnist's own: the same run on to 75 epochs, for C21's FID plateau. 25 epochs still fell; 50 (set from
    # wgan_family's unpenalised NS-GAN arm, flat at 40,000 G steps of width 1/8) failed the plateau check in two of
    # three seeds (1.28x, 1.23x; the limit 1.2x); a pilot resumed those runs to 75 epochs, with the rule written
    # before its results: adopt 75 if the unchanged check holds in every seed (it did: 1.16x, 1.12x, 1.17x).
    "trained_long": dict(_TRAINED, marks=_LONG + (30, 35, 40, 45, 50, 55, 60, 65, 70, 75)),
    "paper": dict(width=1.0, batch=128, marks=_LONG, seeds=3, n_fid=10000, ema_half_life=R1_EMA_HALF_LIFE),
}
# G steps per CPU-second on one thread, evaluations at the marks included. trained: calibrated on dcgan_mnist's
# trajectories (2026-12-07, 1-thread workers on the 2-core AMD EPYC: 19.8, 19.6 and 19.9 steps per CPU-s over the
# first 46,875 steps and 23 marks per seed; 19.7, 19.8 and 20.9 over the next 23,438 and 5 marks; the 25-epoch
# rerun 19.6, 19.8, 20.8); the first figure, 9.6, was measured under heavier load before the DCGAN's matmul layers;
# paper: a guess for width 1 and batch 128, a GPU's job.
TRAJECTORY_SPEED = {"trained": 19.8, "paper": 0.6}  # another trajectory (trained_long, quick, smoke): trained's


def epoch_steps(epochs: float, batch: int) -> int:
    """ceil(epochs * 60000 / batch): the first G step at which G has seen `epochs` passes of MNIST's training set."""
    return math.ceil(round(epochs * MNIST_TRAIN / batch, 6))


def trajectory_steps(spec: dict) -> list:
    """The trajectory's marks as G steps."""
    return sorted({epoch_steps(e, spec["batch"]) for e in spec["marks"]})


def trajectory_minutes(scale: str) -> float:
    """CPU-minutes of every seed's trajectory at a scale on one thread (TRAJECTORY_SPEED)."""
    spec = DCGAN_TRAJECTORIES[scale]
    return spec["seeds"] * max(trajectory_steps(spec)) / TRAJECTORY_SPEED.get(scale, TRAJECTORY_SPEED["trained"]) / 60


def trajectory_settings(entry: dict) -> dict:
    """A study's SCALES entry with its DCGAN trajectory's spec and preset (an entry without a trajectory as it is):
    the settings its point records carry, so a changed trajectory (width, batch, marks, seeds, the dcgan preset)
    makes them stale as a changed entry does."""
    if "trajectory" not in entry:
        return dict(entry)
    return dict(
        entry, trajectory_spec=DCGAN_TRAJECTORIES[entry["trajectory"]], trajectory_preset=preset(TRAJECTORY_PRESET)
    )


def trajectory_shares(entry: dict, seeds: Optional[Sequence[int]] = None) -> dict:
    """{"DCGAN trajectory NAME, seed i": CPU-minutes} for each seed of the entry's trajectory a study reads (all, or
    `seeds`): the part of its estimate_minutes other studies share; {} for an entry without a trajectory."""
    if "trajectory" not in entry:
        return {}
    name = entry["trajectory"]
    n = DCGAN_TRAJECTORIES[name]["seeds"]
    read = range(n) if seeds is None else seeds  # an empty list reads no seed (`seeds or ...` would read all)
    return {f"DCGAN trajectory {name!r}, seed {i}": trajectory_minutes(name) / n for i in read}


def trajectory_hooks(scales: dict, seeds: Optional[Sequence[int]] = None) -> tuple:
    """(settings, shared_minutes): the two runner hooks of a study that reads the shared DCGAN trajectory, from its
    SCALES (see trajectory_settings and trajectory_shares; `seeds`: the trajectory seeds it reads, default all)."""

    def settings(scale: str) -> dict:
        """The scale's SCALES entry with the shared trajectory's spec: what each point record holds as settings."""
        return trajectory_settings(scales[scale])

    def shared_minutes(scale: str) -> dict:
        """The shared trajectory's CPU-minutes inside estimate_minutes, per seed read (--list counts each once)."""
        return trajectory_shares(scales[scale], seeds)

    return settings, shared_minutes


def run_seed(base: int, i: int) -> int:
    """The training seed of a study's i-th seed under base seed `base` (as discriminator_size numbers them)."""
    return 1000 * base + i


def dcgan_config(spec: dict, seed: int, device="cpu") -> Config:
    """The dcgan preset (Radford et al. 2016, Sec. 4) on MNIST at the trajectory's width, batch and EMA."""
    w = spec["width"]
    steps = max(trajectory_steps(spec))
    layer = dict(g_width=w, d_width=w, batch=spec["batch"], steps=steps, seed=seed, ema_half_life=spec["ema_half_life"])
    return mnist_config(preset(TRAJECTORY_PRESET), layer, device=device)


def trajectory_folder(workdir, cfg: Config, spec: dict) -> Optional[Path]:
    """<records>/.work/dcgan_mnist_trajectory/seed=S-HASH for a runner work folder <records>/<study>/<scale>/.work/
    <key>, else workdir/trajectory/seed=S-HASH; HASH covers every setting that changes a number, so no stale run
    is reused."""
    if workdir is None:
        return None
    workdir = Path(workdir)
    settings = {k: v for k, v in config_dict(cfg).items() if k not in RESUME_EXEMPT}
    what = dict(settings, marks=list(spec["marks"]), n_fid=spec["n_fid"], snapshot=SNAPSHOT_FORMAT)
    text = json.dumps(what, sort_keys=True, default=str)
    name = f"seed={cfg.seed}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"
    root = workdir.parents[3] / ".work" / TRAJECTORY if workdir.parent.name == ".work" else workdir / "trajectory"
    return root / name


class Trajectory(NamedTuple):
    rows: list  # per mark: step, epochs, window-mean losses, fid and fid_ema (MNIST-classifier features)
    run: Run  # the run at its last mark
    stopped_at: Optional[int]  # the step a non-finite loss stopped it, else None
    snapshots: dict  # step -> {"G", "D", "opt_d": state_dict}, or step -> a file holding them
    cpu_s: float  # CPU seconds this call spent (about 0 when another study had trained it)


def dcgan_trajectory(spec: dict, seed: int, device="cpu", workdir=None) -> Trajectory:
    """Train (or resume, or reuse) the DCGAN of `spec` to its last mark through `_curves.resumable_curve`;
    G and D snapshots and FID of G and its EMA (BatchNorm statistics recomputed) at every mark."""
    clock = time.process_time()
    cfg = dcgan_config(spec, seed, device)
    folder = trajectory_folder(workdir, cfg, spec)
    snaps: dict = {}

    def evaluate(run: Run) -> dict:
        step = run.state["step"]
        state = {k: copy.deepcopy(m.state_dict()) for k, m in (("G", run.G), ("D", run.D), ("opt_d", run.opt_d))}
        if folder is None:
            snaps[step] = state
        else:
            snaps[step] = save_checkpoint(
                dict(state, format=1, step=step, config=config_dict(cfg)), snapshot_path(folder, step)
            )
        ema = run.state["ema"] is not None
        return {
            "epochs": step * cfg.batch / MNIST_TRAIN,
            "fid": fid_now(run, spec["n_fid"]),
            "fid_ema": fid_now(run, spec["n_fid"], use_ema=True) if ema else math.nan,
        }

    with _locked(folder):
        rows, run, stopped = _curves.resumable_curve(cfg, trajectory_steps(spec), evaluate, folder)
    if folder is not None:
        snaps = {r["step"]: snapshot_path(folder, r["step"]) for r in rows}
    return Trajectory(rows, run, stopped, snaps, time.process_time() - clock)


def snapshot_path(folder: Path, step: int) -> Path:
    return Path(folder) / f"snapshot_{step:07d}.pt"


def snapshot_at(traj: Trajectory, step: int) -> dict:
    """{"G", "D", "opt_d"}: the state dicts of the run's G, D and D's optimiser at a mark."""
    snap = traj.snapshots[step]
    return load_checkpoint(snap) if isinstance(snap, Path) else snap


def players_at(traj: Trajectory, step: int) -> tuple:
    """(G, D): copies of the run's nets holding the weights and BatchNorm statistics they had at a mark."""
    state = snapshot_at(traj, step)
    G, D = copy.deepcopy(traj.run.G), copy.deepcopy(traj.run.D)
    G.load_state_dict(state["G"])
    D.load_state_dict(state["D"])
    return G, D


@contextlib.contextmanager
def _locked(folder: Optional[Path]):
    """An exclusive lock on folder/lock while a trajectory trains: two studies wait for each other, never race;
    the kernel drops it when its process dies, so a killed run leaves no stale lock."""
    if folder is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
