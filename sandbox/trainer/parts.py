"""The trainer's parts: data sources, players, the Game, optimisers and steps, each built from a Config.

Each builder is a seam: an ensemble or data-parallel trainer can replace one and keep the rest. Nothing here
runs a step; `sandbox.trainer.loop` does.
"""

from typing import Callable

import torch
from torch import Tensor, nn

from sandbox.data import Source, get_dataset
from sandbox.devices import single_run_threads
from sandbox.dynamics import OPTIMISERS, Game, make_rule, optimiser_step, projected
from sandbox.games import network_game
from sandbox.nets import get_family
from sandbox.objectives import Objective, get_objective
from sandbox.penalties import Penalty, clip_weights_, make_penalty
from sandbox.trainer import runlog as tl
from sandbox.trainer.config import Config, net_spec, resolved_net, z_size


class AddNoise(nn.Module):
    """x -> module(x) + sigma N(0, I): instance noise on G's output, drawn from `generator` (Sonderby et al. 2017)."""

    def __init__(self, module: nn.Module, sigma: float, generator: torch.Generator):
        super().__init__()
        self.module, self.sigma, self.generator = module, sigma, generator

    def forward(self, z: Tensor) -> Tensor:
        x = self.module(z)
        return x + self.sigma * torch.randn(x.shape, generator=self.generator, device=x.device, dtype=x.dtype)


class ReuseFakes(nn.Module):
    """G whose D-step fakes serve the G step after it, as in the classic PyTorch DCGAN example (a named departure).

    network_game calls G under no_grad in D's step and with grad in G's: here the no-grad call runs G with its
    graph and keeps (z, G(z)), returning G(z) detached; the next grad call on that same z (the sampler from
    `latents` hands it back instead of drawing) returns the kept G(z), so G runs once per step, not twice. Any
    other call runs G as usual.
    """

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module, self.kept = module, None

    def forward(self, z: Tensor) -> Tensor:
        if not torch.is_grad_enabled():  # D's step: keep the graph for G's step
            with torch.enable_grad():
                x = self.module(z)
            self.kept = (z, x)
            return x.detach()
        if self.kept is not None and z is self.kept[0]:
            x, self.kept = self.kept[1], None
            return x
        return self.module(z)

    def latents(self, sample_z: Callable[[], Tensor]) -> Callable[[], Tensor]:
        """sample_z, except that under grad (G's step) with fakes kept it returns their z and draws nothing."""

        def sample() -> Tensor:
            if torch.is_grad_enabled() and self.kept is not None:
                return self.kept[0]
            return sample_z()

        return sample


def check_reuse_fakes(cfg: Config) -> None:
    """None, or a ValueError if cfg.reuse_fakes is on where G's step does not follow D's on the same G."""
    if cfg.reuse_fakes and not (cfg.rule == "alternating" and cfg.d_first and not cfg.consensus):
        raise ValueError(
            f"reuse_fakes needs the alternating rule with d_first and no consensus (G's step must follow D's with "
            f"G unchanged), got rule={cfg.rule!r}, d_first={cfg.d_first}, consensus={cfg.consensus}"
        )


def dtype_of(cfg: Config) -> torch.dtype:
    return getattr(torch, cfg.dtype)


# measured (benchmarks.amp_parity, 1 thread, batch 64): the DCGAN on a Xeon with AVX512-BF16 and AMX 1.79x at width
# 1/2 and 1.43x at 1/4, FID after 400 steps within 2 SE of fp32 over 3 seeds (346 +- 24 against 351 +- 28); on an AMD
# EPYC with AVX512-BF16 and no AMX 1.59x and 1.41x; on an AVX2 CPU 0.05x (reference kernels). The Metz nets
# (benchmarks.metz_amp, D 1/2, batch 128) over channels_last fp32: 1.52x on that Xeon, with mode-count parity after
# 2,000 steps of rpgan_stacked_mnist's RpGAN + R1 config (767 +- 41 modes against 787 +- 58 in fp32, reverse KL 0.846
# against 0.821, 4 paired seeds, both within 2 SE), but 0.59x on the EPYC: without AMX, oneDNN's bf16 kernels lose
# on their 2-64-channel 3x3 convolutions. So each net names the CPU features under which its bf16 was measured to
# pay. r3gan: not measured, so it stays fp32.
BF16_ON_CPU = {"dcgan": ("avx512_bf16", "amx"), "metz": ("amx",)}
# Grouped ensembles (sandbox.nets.grouped; benchmarks.ensemble, K = 4, batch 64, 1 thread), measured apart: the DCGAN
# grouped in bf16 against grouped in fp32 1.55-1.57x at width 1/4 and 1.33-1.37x at 1/8 on the EPYC (2026-12-07), about
# 1.7x on the AMX Xeon (1.04x of the bf16 solos there, fp32 0.61x), with FID parity as three grouped members
# (benchmarks.amp_parity --ensemble 3, on the EPYC): after 400 steps 347.5 +- 13.1 against fp32's 344.2 +- 31.7 (width
# 1/4) and 504 +- 128 against 518 +- 124 (1/8, still blobs), after 2,000 steps 173.1 +- 9.6 against 167.6 +- 12.3 (1/4)
# and 220.4 +- 0.4 against 222.3 +- 11.0 (1/8), every difference within 2 SE. The grouped Metz nets lose in bf16
# even with AMX (0.50x of the bf16 solos, fp32 0.59x): fp32.
BF16_ON_CPU_GROUPED = {"dcgan": ("avx512_bf16", "amx")}
BF16_PROBES = {"avx512_bf16": "_is_avx512_bf16_supported", "amx": "_is_amx_tile_supported"}  # torch.cpu's (private)


def cpu_bf16_features() -> frozenset:
    """The native bf16 matrix instructions of this CPU that oneDNN's bf16 kernels use: a subset of BF16_PROBES."""
    return frozenset(k for k, name in BF16_PROBES.items() if bool(getattr(torch.cpu, name, lambda: False)()))


def use_amp(cfg: Config, device: torch.device) -> bool:
    """bf16 autocast: 'on' anywhere; under 'auto' on CUDA, and on a CPU for a solo net of BF16_ON_CPU (a grouped
    ensemble's of BF16_ON_CPU_GROUPED) where the CPU has a feature its bf16 was measured to pay under (with FID or
    mode-count parity). Not on an AVX2 CPU: there bf16 convolutions fall back to torch's reference kernels, 17x
    slower than fp32 (benchmarks.amp_parity)."""
    if cfg.amp != "auto":
        return cfg.amp == "on"
    if device.type == "cuda":
        return True
    wanted = (BF16_ON_CPU if cfg.ensemble == 1 else BF16_ON_CPU_GROUPED).get(resolved_net(cfg), ())
    return device.type == "cpu" and not cpu_bf16_features().isdisjoint(wanted)


# measured: metz 1.24x solo on a CPU (benchmarks.metz; 1.06x before its G's transposed convs ran as NHWC matmuls),
# 1.4x grouped; r3gan 1.18x solo (benchmarks.r3gan); dcgan: none
CHANNELS_LAST_ON_CPU = ("metz", "r3gan")


def use_channels_last(cfg: Config, device: torch.device) -> bool:
    """channels_last for image nets under 'auto': on CUDA; on a CPU for the nets of CHANNELS_LAST_ON_CPU.

    Measured on the project's CPUs: the Metz nets 1.24x solo (benchmarks.metz, where their G's transposed convs run
    as NHWC matmuls, `sandbox.nets.gemm.conv_transpose2d_nhwc`, which need it) and 1.4x as a grouped ensemble
    over contiguous tensors (benchmarks.ensemble); the r3gan nets 1.18x solo (benchmarks.r3gan); the DCGAN nets,
    since their one-channel layers are matmuls (sandbox.nets.gemm), are 5-7% slower in channels_last as a grouped
    ensemble (0.93-0.98x of sequential runs at K = 4, against 1.00-1.05x contiguous, three runs) and no faster
    solo (benchmarks.narrow). 'on' / 'off' force it for image nets.
    """
    if get_dataset(cfg.data).kind != "images":
        return False
    if cfg.channels_last != "auto":
        return cfg.channels_last == "on"
    return device.type == "cuda" or resolved_net(cfg) in CHANNELS_LAST_ON_CPU


def build_data(cfg: Config, device: torch.device) -> Source:
    """The real-data sampler on `device`: DATASETS[cfg.data].source in cfg.dtype, channels_last where asked."""
    return get_dataset(cfg.data).source(device, dtype_of(cfg), cfg.data_dir or None, use_channels_last(cfg, device))


def build_players(cfg: Config, device: torch.device, generator: torch.Generator):
    """(G, D) = NETS[net].build(net_spec(cfg), generator), moved to the device in cfg.dtype (channels_last if asked)."""
    G, D = get_family(resolved_net(cfg)).build(net_spec(cfg), generator)
    G, D = G.to(device, dtype_of(cfg)), D.to(device, dtype_of(cfg))
    if use_channels_last(cfg, device):
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    return G, D


def objective_of(cfg: Config) -> Objective:
    """The registered objective cfg.objective names: the one place the trainer turns the name into an object."""
    return get_objective(cfg.objective)


def penalty_of(cfg: Config) -> Penalty:
    """The penalty cfg.penalty names, bound to cfg.penalty_weight (no_penalty for 'none')."""
    return make_penalty(cfg.penalty, cfg.penalty_weight)


def build_game(
    cfg: Config,
    G: nn.Module,
    D: nn.Module,
    source: Source,
    gens: dict,
    clock: dict,
    meter: dict,
    device: torch.device,
    amp: bool,
) -> Game:
    """network_game on fresh batches (instance noise, compile, bf16 autocast around it when `amp`: use_amp's
    answer, resolved once by the caller, which checkpoints it); losses summed into `meter`.

    With cfg.compile, G and D are torch.compile'd for the objective terms while the penalty, whose double
    backward compiled graphs do not support, keeps calling the eager D (the parameters are shared). With
    cfg.reuse_fakes, G's step scores the D step's fakes (`ReuseFakes`).
    """
    dtype, sigma, batch, z_dim = dtype_of(cfg), cfg.instance_noise, cfg.batch, z_size(cfg)
    penalty = penalty_of(cfg)
    check_reuse_fakes(cfg)
    eager_D = D
    if cfg.compile:
        G, D = torch.compile(G), torch.compile(D)
        eager_terms = penalty.terms  # the penalty's double backward runs on the eager D (shared parameters)
        penalty = penalty._replace(terms=lambda _D, real, fake, g=None: eager_terms(eager_D, real, fake, g))

    def sample_real() -> Tensor:
        x = source.sample(batch, gens["data"])
        if sigma:  # instance noise on the real input of D
            x = x + sigma * torch.randn(x.shape, generator=gens["noise"], device=x.device, dtype=x.dtype)
        return x

    def sample_z() -> Tensor:
        return torch.randn((batch, z_dim), generator=gens["noise"], device=device, dtype=dtype)

    G = AddNoise(G, sigma, gens["noise"]) if sigma else G
    if cfg.reuse_fakes:
        G = ReuseFakes(G)
        sample_z = G.latents(sample_z)

    game = network_game(
        G,
        D,
        sample_real,
        sample_z,
        objective_of(cfg),
        penalty,
        cfg.penalty_every,
        gens["noise"],
        clock,
    )

    def recorded(loss: Callable[[], Tensor], key: str) -> Callable[[], Tensor]:
        def value() -> Tensor:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                out = loss()
            out = out.float() if amp else out
            tl.meter_add(meter, key, out)
            return out

        return value

    return Game(game.x, game.y, recorded(game.loss_x, "g_loss"), recorded(game.loss_y, "d_loss"))


def make_optimiser(cfg: Config, params, lr: float, device: torch.device) -> torch.optim.Optimizer:
    """torch.optim SGD/RMSprop (momentum) or Adam (betas; fused on CUDA) over params at learning rate lr."""
    if cfg.optimiser == "adam":
        kwargs = dict(betas=tuple(cfg.betas), fused=True) if device.type == "cuda" else dict(betas=tuple(cfg.betas))
    else:
        kwargs = dict(momentum=cfg.momentum)
    return OPTIMISERS[cfg.optimiser](params, lr=lr, **kwargs)


def build_optimisers(cfg: Config, G: nn.Module, D: nn.Module, device: torch.device):
    """(G's optimiser at lr_g, D's at lr_d)."""
    return make_optimiser(cfg, G.parameters(), cfg.lr_g, device), make_optimiser(cfg, D.parameters(), cfg.lr_d, device)


def _metered(step, meter: dict, key: str):
    def metered(params, grads):
        tl.meter_add(meter, key, torch.nn.utils.get_total_norm(grads))  # on device: no sync
        step(params, grads)

    return metered


def build_steps(cfg: Config, opt_g, opt_d, meter: dict):
    """(G's Step, D's Step) over the optimisers; D's is projected by weight clipping when cfg.clip > 0 (WGAN)."""
    step_y = optimiser_step(opt_d)
    if cfg.clip:
        step_y = projected(step_y, lambda params: clip_weights_(params, cfg.clip))
    return _metered(optimiser_step(opt_g), meter, "g_grad_norm"), _metered(step_y, meter, "d_grad_norm")


def wgan_critic_steps(g_step: int, n_critic: int) -> int:
    """100 critic steps if g_step < 25 or g_step % 500 == 0, else n_critic (WassersteinGAN main.py, Diters)."""
    return 100 if g_step < 25 or g_step % 500 == 0 else n_critic


def build_rule(cfg: Config) -> Callable:
    """cfg.rule with its options bound; under critic_schedule 'wgan' the alternating rule's n_d follows the
    official WGAN schedule, counted in the rule's own (checkpointed) state."""
    rule = make_rule(cfg.rule, **rule_options(cfg))
    if cfg.critic_schedule == "constant":
        return rule

    def scheduled(game, step_x, step_y, state: dict) -> None:
        t = state.get("g_steps", 0)  # G steps done so far: gen_iterations in the official code
        rule(game, step_x, step_y, state, n_d=wgan_critic_steps(t, cfg.n_critic))
        state["g_steps"] = t + 1

    return scheduled


def rule_options(cfg: Config) -> dict:
    """The keyword options of cfg.rule: n_d and d_first for alternating, consensus for every rule."""
    if cfg.rule == "alternating":
        return dict(n_d=cfg.n_critic, d_first=cfg.d_first, consensus=cfg.consensus)
    return dict(consensus=cfg.consensus)


def stream_generators(seed: int, device: torch.device) -> dict:
    """The run's random streams: 'data' seeded seed + 1 and 'noise' seed + 2 (init uses seed, sample plots seed + 3)."""
    return {
        "data": torch.Generator(device).manual_seed(seed + 1),
        "noise": torch.Generator(device).manual_seed(seed + 2),
    }


def cpu_threads(cfg: Config, current: int) -> int:
    """cfg.threads, or under 0 (auto) 1 for the small 2-D/Dirac players and, for image nets, at most half the
    cores and never more than `current` (`sandbox.devices.single_run_threads`: no collapse when a core is taken)."""
    return cfg.threads or (1 if resolved_net(cfg) in ("mlp", "dirac") else single_run_threads(current))
