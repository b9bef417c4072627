"""The trainer's configuration: one dataclass holds every default, with the reason for it.

Layers, later ones winning: the dataclass defaults < a preset (`--preset NAME`) < a TOML file of the same
field names (`--config FILE`) < command-line flags. Flags are generated from the fields (`--lr-g`, bools as
`--flag/--no-flag`), grouped by topic, with each field's help string as its documentation. Unknown TOML keys
raise a ValueError that lists the valid fields and suggests the closest one: a misspelt key is never dropped
silently (compare_gan's gin configs accepted `dics_iters` and trained with the default).

Paper settings are the defaults (Radford et al. 2016, DCGAN, for the optimiser); the presets reproduce the
algorithm boxes of the papers they are named after, and each departure from a box is a named field.
"""

import argparse
import dataclasses
import difflib
import math
import tomllib
from dataclasses import dataclass, field
from typing import Optional, Sequence, Tuple

from sandbox.data import DATASETS, get_dataset
from sandbox.nets import NETS, NetSpec, check_fit, get_family
from sandbox.nets.grouped import GROUPINGS
from sandbox.trainer.presets import PRESETS, preset, presets_text

GROUPS = ("data", "networks", "objective", "dynamics", "optimiser", "run", "output", "resume")


def _f(default, group: str, help: str, choices: Optional[Sequence[str]] = None):
    """A dataclass field carrying its CLI group, help text (the why of its default) and valid choices."""
    assert group in GROUPS, group
    return field(default=default, metadata={"group": group, "help": help, "choices": choices})


@dataclass(frozen=True)
class Config:
    # ----- data
    data: str = _f(
        "ring",
        "data",
        "training data, a key of sandbox.data.DATASETS: "
        + "; ".join(f"{d.name}: {d.description}" for d in DATASETS.values())
        + ". Default ring: the smallest problem that shows mode collapse, trained in seconds.",
        tuple(DATASETS),
    )
    data_dir: str = _f(
        "",
        "data",
        "data root holding mnist/ ('' = $SANDBOX_DATA, else the first of ./data and ../shared/data that holds "
        "it; sandbox.data.data_root): nothing is downloaded at training time.",
    )
    theta0: float = _f(
        1.0,
        "data",
        "Dirac-GAN only: the initial generator parameter theta (G(z) = theta). "
        "1: a unit distance from the equilibrium theta = 0, as in the paper's figures.",
    )
    psi0: float = _f(1.0, "data", "Dirac-GAN only: the initial critic parameter psi (D(x) = psi x).")
    # ----- networks
    net: str = _f(
        "auto",
        "networks",
        "players, a net family of sandbox.nets.NETS: "
        + "; ".join(f"{f.name} ({f.source})" for f in NETS.values())
        + ". auto: the data set's default_net ("
        + ", ".join(f"{d.default_net} for {d.name}" for d in DATASETS.values())
        + ").",
        ("auto",) + tuple(NETS),
    )
    z_dim: int = _f(
        0,
        "networks",
        "latent dimension; 0 = the family's paper value (NetFamily.z_dim): "
        + ", ".join(f"{f.z_dim} for {f.name}" for f in NETS.values())
        + ".",
    )
    g_width: float = _f(1.0, "networks", "G width multiplier on the paper's channel/unit counts (1 = paper).")
    d_width: float = _f(
        1.0,
        "networks",
        "D width multiplier (1 = paper; 0.25, 0.5 give the small Ds of the Stacked MNIST mode-collapse study, "
        "which for net metz are the paper's own two Ds and 1 is our larger one).",
    )
    batchnorm_g: bool = _f(
        True, "networks", "BatchNorm in the dcgan, resnet_sn and metz generators (Radford et al. 2016 use it)."
    )
    batchnorm_d: bool = _f(
        True,
        "networks",
        "BatchNorm in the dcgan and metz discriminators (Radford et al. 2016 and Metz et al. 2017 use it; "
        "gradient penalties want it off, see the wgan-gp preset). Ignored by mlp and "
        "resnet_sn (spectral norm instead).",
    )
    # ----- objective
    objective: str = _f(
        "nonsaturating",
        "objective",
        "a key of sandbox.objectives.OBJECTIVES. nonsaturating: "
        "the loss GANs are trained with in practice (Goodfellow et al. 2014, Sec. 3).",
    )
    penalty: str = _f(
        "none",
        "objective",
        "a key of sandbox.penalties.PENALTIES (none, r1, r2, wgan_gp, dragan); none: the DCGAN paper uses none.",
    )
    penalty_weight: float = _f(
        10.0,
        "objective",
        "gamma (R1/R2) or lambda (WGAN-GP, DRAGAN); 10 is the value "
        "of both Gulrajani et al. 2017 and Mescheder et al. 2018.",
    )
    penalty_every: int = _f(
        1,
        "objective",
        "lazy regularisation: the penalty on every k-th D step with gain "
        "k (Karras et al. 2020 use 16); 1 = every step, as the penalty papers do.",
    )
    clip: float = _f(
        0.0,
        "objective",
        "WGAN weight clipping to [-c, c] after each D step, a projection (Arjovsky et al. 2017, c = 0.01); 0 = off.",
    )
    instance_noise: float = _f(
        0.0,
        "objective",
        "sigma of N(0, sigma^2) added to real and fake inputs of D "
        "(Sonderby et al. 2017; Arjovsky & Bottou 2017); 0 = off, as in DCGAN.",
    )
    # ----- dynamics
    rule: str = _f(
        "alternating",
        "dynamics",
        "update rule of sandbox.dynamics: alternating (D first, what "
        "every GAN paper's algorithm box does), simultaneous, extragradient, optimistic.",
        ("alternating", "simultaneous", "extragradient", "optimistic"),
    )
    n_critic: int = _f(1, "dynamics", "D steps per G step under the alternating rule (1 for DCGAN; WGAN uses 5).")
    critic_schedule: str = _f(
        "constant",
        "dynamics",
        "D steps per G step over time: constant (n_critic every G step) or wgan, the official WGAN code's Diters "
        "schedule (martinarjovsky/WassersteinGAN main.py): 100 critic steps for the first 25 G steps and every "
        "500th, n_critic otherwise. Not in Algorithm 1's box, but in the code behind its figures; the wgan "
        "preset turns it on.",
        ("constant", "wgan"),
    )
    d_first: bool = _f(
        True, "dynamics", "alternating order: D steps before the G step, as in Arjovsky et al. 2017, Alg. 1."
    )
    reuse_fakes: bool = _f(
        False,
        "dynamics",
        "G's step scores the fakes of the D step just before it (their z, and G's graph, kept) instead of G on "
        "fresh latents, as the classic PyTorch DCGAN example does: one G forward fewer per step (24% of a "
        "G-heavy CPU step, measured). A departure from the papers' algorithm boxes, which draw fresh z for G's "
        "step; off. Alternating rule, D first, without consensus only.",
    )
    consensus: float = _f(0.0, "dynamics", "consensus optimisation weight gamma (Mescheder et al. 2017); 0 = off.")
    # ----- optimiser
    optimiser: str = _f(
        "adam", "optimiser", "sgd, rmsprop or adam (torch.optim); adam as in DCGAN.", ("sgd", "rmsprop", "adam")
    )
    lr_g: float = _f(2e-4, "optimiser", "G learning rate; 2e-4 from DCGAN (Radford et al. 2016, Sec. 4).")
    lr_d: float = _f(2e-4, "optimiser", "D learning rate; 2e-4 from DCGAN.")
    betas: Tuple[float, float] = _f(
        (0.5, 0.999),
        "optimiser",
        "Adam (beta1, beta2); DCGAN lowered beta1 to 0.5 for stability, beta2 is Adam's default.",
    )
    momentum: float = _f(
        0.0, "optimiser", "momentum for sgd and rmsprop; 0: plain SGD, and the RMSProp of the WGAN paper has none."
    )
    ema_half_life: float = _f(
        0.0, "optimiser", "EMA of G's weights, its half-life in G steps (Karras et al. 2020); 0 = off, as in DCGAN."
    )
    schedule_kimg: float = _f(
        0.0,
        "optimiser",
        "length in thousands of training images (G steps x batch) of R3GAN's cosine schedules (Huang et al. "
        "2024, official code: 20,000 kimg for CIFAR-10 and FFHQ, 200,000 for ImageNet): lr_g, lr_d, beta2 and "
        "the penalty weight move from their values here to lr_decay, beta2_final and penalty_decay along "
        "(1 - cos(pi t / T)) / 2, then stay there; 0 = every value constant, as in DCGAN and the other presets' "
        "papers.",
    )
    lr_decay: float = _f(
        1.0, "optimiser", "lr_g and lr_d at the schedule's end over their start (R3GAN: 5e-5 / 2e-4 = 0.25)."
    )
    beta2_final: float = _f(
        -1.0, "optimiser", "Adam's beta2 at the schedule's end (R3GAN: 0.99 from 0.9); -1 = betas[1] throughout."
    )
    penalty_decay: float = _f(
        1.0, "optimiser", "the penalty weight at the schedule's end over its start (R3GAN: gamma 1 -> 0.1 = 0.1)."
    )
    # ----- run
    steps: int = _f(
        5000, "run", "G steps (one update-rule call each); 5000 recovers the ring in well under a minute on a CPU."
    )
    batch: int = _f(128, "run", "batch size of real and of fake samples; 128 from DCGAN.")
    seed: int = _f(0, "run", "seeds the initialisation, data and noise generators; same seed, same run.")
    ensemble: int = _f(
        1,
        "run",
        "K independent seeds cfg.seed .. cfg.seed + K - 1 trained as one batched model "
        "(sandbox.trainer.ensemble), each member equal to its solo run: mlp players under vmap, the metz and "
        "dcgan image nets as one grouped net (sandbox.nets.grouped). 1 = one ordinary run.",
    )
    ensemble_eval: int = _f(
        0,
        "run",
        "samples per member scored for an ensemble's summary (mode counts); 0 = 2000 on the 2-D mixtures, as a "
        "solo summary, and 25,600 on Stacked MNIST, the count of Metz et al. 2017's protocol in PacGAN's code.",
    )
    device: str = _f("auto", "run", "auto (cuda when available), cpu, cuda or cuda:k.")
    dtype: str = _f(
        "float32",
        "run",
        "parameter and data dtype; float64 for exact comparisons with the analytic games.",
        ("float32", "float64"),
    )
    amp: str = _f(
        "auto",
        "run",
        "bf16 autocast of the forward passes: auto = on CUDA, for the DCGAN on a CPU with native bf16 "
        "(AVX512-BF16 or AMX: solo 1.4-1.8x, as a grouped ensemble 1.3-1.7x; FID parity) and the solo Metz nets with "
        "AMX (1.5x, mode-count parity; 0.59x without AMX); on forces it (slow on an AVX2 CPU); "
        "penalties stay in fp32.",
        ("auto", "on", "off"),
    )
    channels_last: str = _f(
        "auto",
        "run",
        "channels_last memory format for image nets: auto = on CUDA, and on a CPU for the metz nets (solo and "
        "grouped), where it was measured to help (benchmarks.metz, benchmarks.ensemble).",
        ("auto", "on", "off"),
    )
    threads: int = _f(
        0,
        "run",
        "CPU intra-op threads while training (restored afterwards); 0 = auto: 1 for the "
        "mlp and dirac players, whose ops are too small to split (extra threads only spin, 8x slower "
        "measured on a busy 2-core machine); for image nets half the cores, at most torch's setting "
        "(on 2 cores one thread: two ran 0.44x of one when another job took a core, benchmarks.threads).",
    )
    compile: bool = _f(
        False,
        "run",
        "torch.compile the penalty-free forward passes (the double-backward "
        "penalty path stays eager); off because compiling costs minutes.",
    )
    # ----- output
    out: str = _f(
        "",
        "output",
        "output folder: metrics.jsonl, samples_STEP.png, summary.json, checkpoint.pt, best.pt, config.json. "
        "'' = runs/DATA-YYYYmmdd-HHMMSS, a new folder per run (a fixed default folder made one run silently "
        "replace another). A folder that already holds a run is refused: --resume it or --overwrite it. "
        "Under --resume DIR the run continues in DIR, wherever it was made.",
    )
    overwrite: bool = _f(
        False,
        "output",
        "start a new run in an --out folder that holds one: its outputs are deleted first, so no file of "
        "the old run stays beside the new one's. Off: such a folder is refused.",
    )
    log_every: int = _f(
        100, "output", "steps between metrics.jsonl rows and progress-bar updates (each costs one host sync)."
    )
    sample_every: int = _f(1000, "output", "steps between sample plots (0 = only at the end).")
    ckpt_every: int = _f(1000, "output", "steps between checkpoints (0 = only at the end).")
    nan_check_every: int = _f(100, "output", "steps between non-finite-loss checks (one host sync each).")
    progress: bool = _f(
        True, "output", "a tqdm progress bar, moved every step (no host sync); the losses shown at log time."
    )
    eval_every: int = _f(
        0,
        "output",
        "steps between evaluations (0 = none): FID (MNIST-classifier features) on mnist, also modes and reverse "
        "KL on stacked_mnist, modes and high-quality share on ring and grid; of the EMA generator when there is "
        "one (its BatchNorm statistics recomputed), else G. Logged in metrics.jsonl; the best step is kept as "
        "best.pt beside checkpoint.pt.",
    )
    eval_n: int = _f(
        2000,
        "output",
        "samples per evaluation. 2000: on a CPU about a second per FID, cheap enough to run every few hundred "
        "steps; FID is biased upward at small n (for ranking checkpoints, not for tables: sandbox-eval --n 10000).",
    )
    tensorboard: bool = _f(
        False,
        "output",
        "also write TensorBoard scalars and sample grids to out/tensorboard (pip install 'sandbox[tb]'); "
        "metrics.jsonl stays the record.",
    )
    # ----- resume
    resume: str = _f(
        "",
        "resume",
        "a checkpoint file, or an output folder holding checkpoint.pt, to continue from; '' = start fresh.",
    )
    allow_config_change: bool = _f(
        False,
        "resume",
        "accept a resumed run whose config differs from the "
        "checkpoint's (the change is recorded); off, so a run is one config.",
    )
    debug_nan_at_step: int = _f(
        0,
        "resume",
        "TEST AID: fill D's first parameter with NaN before this G step "
        "(0 = never), to exercise the non-finite-loss stop.",
    )


FIELDS = {f.name: f for f in dataclasses.fields(Config)}

# Keys that cannot change the numbers a run computes, so a resumed run may change them freely: where files
# go and how often they are written, the run length (a run may be extended), and the test aid.
RESUME_EXEMPT = frozenset(
    {
        "data_dir",
        "out",
        "log_every",
        "sample_every",
        "ckpt_every",
        "nan_check_every",
        "progress",
        "steps",
        "resume",
        "allow_config_change",
        "debug_nan_at_step",
        "overwrite",
        "eval_every",
        "eval_n",
        "tensorboard",
    }
)


# ---------------------------------------------------------------------------------------- values and checks
def _coerce(name: str, value):
    """value as the type of field `name`, or a ValueError naming the key, the expected type and the value."""
    default = FIELDS[name].default
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, tuple):
        ok = (
            isinstance(value, (list, tuple))
            and len(value) == len(default)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        )
        value = tuple(float(v) for v in value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ValueError(
            f"config key {name!r}: expected {type(default).__name__}"
            f"{f' of {len(default)} numbers' if isinstance(default, tuple) else ''}, got {value!r}"
        )
    return value


def unknown_key_error(key: str, where: str) -> ValueError:
    """A ValueError naming the unknown key, suggesting the closest field (difflib) and listing all fields."""
    close = difflib.get_close_matches(key, FIELDS, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(f"unknown config key {key!r} in {where}.{hint} Valid fields: {', '.join(FIELDS)}")


def check_overrides(overrides: dict, where: str) -> dict:
    """Overrides with every key a field and every value of its field's type, else a ValueError."""
    out = {}
    for key, value in overrides.items():
        if key not in FIELDS:
            raise unknown_key_error(key, where)
        out[key] = _coerce(key, value)
    return out


def _lookup_names():
    from sandbox.dynamics import OPTIMISERS
    from sandbox.objectives import OBJECTIVES
    from sandbox.penalties import PENALTIES

    return {"objective": OBJECTIVES, "penalty": PENALTIES, "optimiser": OPTIMISERS}


def resolved_net(cfg: Config) -> str:
    """cfg.net, with auto replaced by the data set's default_net (sandbox.data.DATASETS)."""
    return get_dataset(cfg.data).default_net if cfg.net == "auto" else cfg.net


def z_size(cfg: Config) -> int:
    """cfg.z_dim, or under 0 the net family's paper value NETS[net].z_dim."""
    return cfg.z_dim or get_family(resolved_net(cfg)).z_dim


def net_spec(cfg: Config) -> NetSpec:
    """The NetSpec that NETS[resolved_net(cfg)].build gets: latent size, the data's channels, widths, BN, Dirac init."""
    return NetSpec(
        z_dim=z_size(cfg),
        channels=get_dataset(cfg.data).channels,
        g_width=cfg.g_width,
        d_width=cfg.d_width,
        batchnorm_g=cfg.batchnorm_g,
        batchnorm_d=cfg.batchnorm_d,
        theta0=cfg.theta0,
        psi0=cfg.psi0,
    )


def _check_numbers(cfg: Config) -> None:
    """Every float finite (NaN would pass `x < 0` checks silently: a NaN EMA half-life turned the EMA off)."""
    for name, f in FIELDS.items():
        value = getattr(cfg, name)
        values = value if isinstance(f.default, tuple) else (value,)
        if isinstance(f.default, (float, tuple)) and not all(math.isfinite(v) for v in values):
            raise ValueError(f"{name} must be finite, got {value!r}")


def validate(cfg: Config) -> Config:
    """cfg if every choice is valid, every number finite and every count in range, else a ValueError naming it."""
    _check_numbers(cfg)
    for name, f in FIELDS.items():
        choices = f.metadata["choices"]
        if choices and getattr(cfg, name) not in choices:
            raise ValueError(f"unknown {name} {getattr(cfg, name)!r}; valid names: {', '.join(choices)}")
    for name, registry in _lookup_names().items():
        if getattr(cfg, name) not in registry:
            raise ValueError(f"unknown {name} {getattr(cfg, name)!r}; valid names: {', '.join(sorted(registry))}")
    for name in ("batch", "n_critic", "penalty_every", "log_every", "nan_check_every"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"{name} must be at least 1, got {getattr(cfg, name)}")
    for name in ("steps", "sample_every", "ckpt_every", "z_dim", "debug_nan_at_step", "threads", "seed", "eval_every"):
        if getattr(cfg, name) < 0:
            raise ValueError(f"{name} must be non-negative, got {getattr(cfg, name)}")
    for name in ("lr_g", "lr_d", "g_width", "d_width"):
        if not getattr(cfg, name) > 0:
            raise ValueError(f"{name} must be positive, got {getattr(cfg, name)}")
    for name in (
        "clip",
        "instance_noise",
        "ema_half_life",
        "momentum",
        "consensus",
        "penalty_weight",
        "schedule_kimg",
        "lr_decay",
        "penalty_decay",
    ):
        if getattr(cfg, name) < 0:
            raise ValueError(f"{name} must be non-negative, got {getattr(cfg, name)}")
    if cfg.beta2_final != -1.0 and not (0.0 <= cfg.beta2_final < 1.0 and cfg.optimiser == "adam"):
        raise ValueError(f"beta2_final must be -1 (off) or, with optimiser adam, in [0, 1); got {cfg.beta2_final}")
    if cfg.schedule_kimg == 0 and (cfg.lr_decay != 1.0 or cfg.penalty_decay != 1.0 or cfg.beta2_final != -1.0):
        raise ValueError(
            "lr_decay, beta2_final and penalty_decay need schedule_kimg > 0 (the schedule's length); "
            f"got schedule_kimg 0 with lr_decay {cfg.lr_decay}, beta2_final {cfg.beta2_final}, "
            f"penalty_decay {cfg.penalty_decay}"
        )
    if not all(0.0 <= b < 1.0 for b in cfg.betas):
        raise ValueError(f"betas must each be in [0, 1), got {cfg.betas}")
    if cfg.momentum >= 1.0:
        raise ValueError(f"momentum must be below 1, got {cfg.momentum}")
    if cfg.eval_every % cfg.log_every:
        raise ValueError(
            f"eval_every ({cfg.eval_every}) must be a multiple of log_every ({cfg.log_every}): an evaluation is "
            "logged in the metrics row of its step"
        )
    if cfg.eval_n < 2:
        raise ValueError(f"eval_n must be at least 2 samples, got {cfg.eval_n}")
    if cfg.eval_every and (cfg.data == "dirac" or cfg.ensemble > 1):
        raise ValueError(
            f"eval_every={cfg.eval_every} evaluates one generator on ring, grid, mnist or stacked_mnist data, "
            f"not {'an ensemble' if cfg.ensemble > 1 else 'the Dirac-GAN'}"
        )
    if cfg.overwrite and cfg.resume:
        raise ValueError("overwrite starts a new run and resume continues one: give one of them, not both")
    if cfg.n_critic > 1 and cfg.rule != "alternating":
        raise ValueError(f"n_critic={cfg.n_critic} applies to the alternating rule only, not {cfg.rule!r}")
    if cfg.critic_schedule != "constant" and cfg.rule != "alternating":
        raise ValueError(
            f"critic_schedule={cfg.critic_schedule!r} applies to the alternating rule only, not {cfg.rule!r}"
        )
    data = get_dataset(cfg.data)
    check_fit(get_family(resolved_net(cfg)), data.name, data.kind, data.channels)
    if cfg.ensemble < 1:
        raise ValueError(f"ensemble must be at least 1 (the number of seeds), got {cfg.ensemble}")
    batchable = ("mlp",) + tuple(GROUPINGS)  # vmapped mlp players, grouped image nets (sandbox.nets.grouped)
    if cfg.ensemble > 1 and resolved_net(cfg) not in batchable:
        raise ValueError(
            f"ensemble={cfg.ensemble} batches the nets {', '.join(batchable)} only, not net "
            f"{resolved_net(cfg)!r}; run its seeds one by one"
        )
    if cfg.ensemble > 1 and (cfg.compile or cfg.resume or cfg.debug_nan_at_step):
        raise ValueError(
            f"ensemble={cfg.ensemble} does not support compile, resume or debug_nan_at_step "
            "(it writes no checkpoints); turn them off"
        )
    if not (cfg.device in ("auto", "cpu", "cuda") or cfg.device.startswith("cuda:")):
        raise ValueError(f"unknown device {cfg.device!r}; valid names: auto, cpu, cuda, cuda:k")
    return cfg


def make_config(*layers: dict, base: Optional[dict] = None) -> Config:
    """Config(**base) updated by each override dict in turn (later wins), checked and validated."""
    values = dataclasses.asdict(Config()) if base is None else dict(base)
    for layer in layers:
        values.update(layer)
    return validate(Config(**check_overrides(values, "config")))


def load_toml(path) -> dict:
    """The overrides of a TOML file whose keys are Config fields (flat), read with tomllib; checked.

    A folder, a missing file or a syntax error is a ValueError naming the file (and the line, for syntax).
    """
    try:
        with open(path, "rb") as f:
            values = tomllib.load(f)
    except IsADirectoryError:
        raise ValueError(f"--config {path}: is a folder; --config takes a TOML file of Config fields") from None
    except OSError as err:
        raise ValueError(f"--config {path}: cannot read it ({err.strerror or err})") from None
    except tomllib.TOMLDecodeError as err:  # its message ends "(at line L, column C)"
        raise ValueError(f"{path}: TOML syntax error: {err}") from None
    return check_overrides(values, str(path))


# --------------------------------------------------------------------------------------------------- the CLI
def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


class UsageError(ValueError):
    """A command-line mistake: reported as one line (and exit code 2), not argparse's full usage text."""


class ShortErrorParser(argparse.ArgumentParser):
    """argparse whose errors raise UsageError with the one line that matters, plus the closest flag if misspelt."""

    def error(self, message: str):
        if message.startswith("unrecognized arguments:"):
            flags = [o for a in self._actions for o in a.option_strings]
            given = [w.split("=")[0] for w in message.split(":", 1)[1].split() if w.startswith("-")]
            close = [m for w in given for m in difflib.get_close_matches(w, flags, n=1, cutoff=0.6)]
            message += f" (did you mean {', '.join(close)}?)" if close else ""
        raise UsageError(f"{message}; {self.prog} --help lists every flag")


def build_parser(prog: str = "python -m sandbox.trainer", description: str = "") -> argparse.ArgumentParser:
    """argparse from the Config fields: one group per topic, bools as --flag/--no-flag, defaults suppressed
    so that only flags given on the command line override the lower layers; errors raise UsageError."""
    p = ShortErrorParser(
        prog=prog,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=presets_text(),
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("--config", metavar="FILE.toml", help="a TOML file of Config fields (flags override it)")
    p.add_argument("--preset", choices=sorted(PRESETS), help="paper settings (the TOML file and flags override it)")
    groups = {g: p.add_argument_group(g) for g in GROUPS}
    for name, f in FIELDS.items():
        group, default = groups[f.metadata["group"]], f.default
        # Parser defaults are SUPPRESS (so unset flags stay out of the overrides): the real default goes in the text.
        text = f"{f.metadata['help']} [default: {default!r}]".replace("%", "%%")  # argparse %-formats help
        if isinstance(default, bool):
            group.add_argument(_flag(name), dest=name, action=argparse.BooleanOptionalAction, help=text)
        elif isinstance(default, tuple):
            group.add_argument(_flag(name), dest=name, type=float, nargs=len(default), metavar="X", help=text)
        else:
            group.add_argument(_flag(name), dest=name, type=type(default), choices=f.metadata["choices"], help=text)
    return p


def parse_layers(
    argv: Optional[Sequence[str]] = None, description: str = "", prog: str = "python -m sandbox.trainer"
) -> list:
    """[preset overrides, TOML overrides, CLI overrides] from the command line, each a checked dict."""
    args = vars(build_parser(prog, description).parse_args(argv))
    toml_path, preset_name = args.pop("config", None), args.pop("preset", None)
    return [
        preset(preset_name) if preset_name else {},
        load_toml(toml_path) if toml_path else {},
        check_overrides(args, "the command line"),
    ]


def config_dict(cfg: Config) -> dict:
    """The config as a plain dict (tuples as lists), for JSON files and weights-only checkpoints."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}
