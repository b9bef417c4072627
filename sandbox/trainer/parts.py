"""The trainer's parts: data sources, players, the Game, optimisers and steps, each built from a Config.

Each builder is a seam: an ensemble or data-parallel trainer can replace one and keep the rest. Nothing here
runs a step; `sandbox.trainer.loop` does.
"""

from typing import Callable, NamedTuple, Optional

import torch
from torch import Tensor, nn

from sandbox import data as sdata
from sandbox.dynamics import OPTIMISERS, Game, optimiser_step, projected
from sandbox.games import network_game
from sandbox.nets import make_nets
from sandbox.penalties import clip_weights_, make_penalty
from sandbox.trainer import runlog as tl
from sandbox.trainer.config import Config, resolved_net, z_size


class DiracG(nn.Module):
    """G(z) = theta for every z: the Dirac-GAN generator (Mescheder, Geiger, Nowozin 2018, Sec. 2.2)."""

    def __init__(self, theta0: float, dtype=torch.float32):
        super().__init__()
        self.theta = nn.Parameter(torch.full((1,), float(theta0), dtype=dtype))

    def forward(self, z: Tensor) -> Tensor:
        return self.theta.expand(z.shape[0])  # (B,): one point on the line per latent


class DiracD(nn.Module):
    """D(x) = psi x: the Dirac-GAN critic on the line, large on real data (psi -> -psi from the paper)."""

    def __init__(self, psi0: float, dtype=torch.float32):
        super().__init__()
        self.psi = nn.Parameter(torch.full((1,), float(psi0), dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        return self.psi * x  # (B,) logits


class AddNoise(nn.Module):
    """x -> module(x) + sigma N(0, I): instance noise on G's output, drawn from `generator` (Sonderby et al. 2017)."""

    def __init__(self, module: nn.Module, sigma: float, generator: torch.Generator):
        super().__init__()
        self.module, self.sigma, self.generator = module, sigma, generator

    def forward(self, z: Tensor) -> Tensor:
        x = self.module(z)
        return x + self.sigma * torch.randn(x.shape, generator=self.generator, device=x.device, dtype=x.dtype)


class Source(NamedTuple):
    kind: str  # 'points' (2-D), 'images' or 'dirac'
    sample: Callable[[int, torch.Generator], Tensor]  # (n, generator) -> a batch on the device
    centres: Optional[Tensor]  # (K, 2) mixture centres, for plots and mode counts
    std: float  # mixture component std
    channels: int  # image channels (0 for non-images)


def dtype_of(cfg: Config) -> torch.dtype:
    return getattr(torch, cfg.dtype)


def use_amp(cfg: Config, device: torch.device) -> bool:
    """bf16 autocast: on CUDA under 'auto', anywhere under 'on'."""
    return cfg.amp == "on" or (cfg.amp == "auto" and device.type == "cuda")


def use_channels_last(cfg: Config, device: torch.device) -> bool:
    """channels_last for image nets: on CUDA under 'auto', anywhere under 'on'."""
    images = cfg.data in ("mnist", "stacked_mnist")
    return images and (cfg.channels_last == "on" or (cfg.channels_last == "auto" and device.type == "cuda"))


def build_data(cfg: Config, device: torch.device) -> Source:
    """The real-data sampler on `device`: a fresh mixture draw, a point mass at 0, or MNIST rows drawn with replacement.

    MNIST stays uint8 on the device and is scaled per batch (to_unit); Stacked MNIST draws one digit per
    channel independently, the 1000-mode distribution of Metz et al. 2017, sampled fresh every batch.
    """
    dtype = dtype_of(cfg)
    if cfg.data in sdata.MIXTURES:
        mix = sdata.MIXTURES[cfg.data]
        centres = mix.centres(device=device)  # on the device once: no host-to-device copy per batch
        return Source("points", lambda n, g: sdata.mixture(n, centres, mix.std, g)[0].to(dtype), centres, mix.std, 0)
    if cfg.data == "dirac":
        return Source("dirac", lambda n, g: torch.zeros(n, dtype=dtype, device=device), None, 0.0, 0)
    images = sdata.load_mnist("train", cfg.data_dir or None, device)[0].unsqueeze(1)  # (N, 1, 28, 28) uint8
    copies = 3 if cfg.data == "stacked_mnist" else 1
    memory = torch.channels_last if use_channels_last(cfg, device) else torch.contiguous_format

    def sample(n: int, g: torch.Generator) -> Tensor:
        x = torch.cat([sdata.sample_batch(images, n, g) for _ in range(copies)], dim=1)  # (n, C, 28, 28)
        return sdata.to_unit(x).to(dtype=dtype, memory_format=memory)

    return Source("images", sample, None, 0.0, copies)


def _units(base: int, width: float) -> int:
    return max(1, round(base * width))


def build_players(cfg: Config, device: torch.device, generator: torch.Generator):
    """(G, D) on the device in cfg.dtype, initialised from `generator`: NETS from sandbox.nets, or the Dirac players."""
    net, dtype = resolved_net(cfg), dtype_of(cfg)
    if net == "dirac":
        G, D = DiracG(cfg.theta0, dtype), DiracD(cfg.psi0, dtype)
    elif net == "mlp":
        G, D = make_nets(
            "mlp",
            dict(z_dim=z_size(cfg), hidden=_units(128, cfg.g_width)),
            dict(hidden=_units(128, cfg.d_width)),
            generator,
        )
    else:
        channels = 3 if cfg.data == "stacked_mnist" else 1
        d_kwargs = dict(channels=channels, width=cfg.d_width)
        if net == "dcgan":
            d_kwargs["batchnorm"] = cfg.batchnorm_d
        G, D = make_nets(
            net,
            dict(z_dim=z_size(cfg), channels=channels, width=cfg.g_width, batchnorm=cfg.batchnorm_g),
            d_kwargs,
            generator,
        )
    G, D = G.to(device, dtype), D.to(device, dtype)
    if use_channels_last(cfg, device):
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    return G, D


def build_game(
    cfg: Config, G: nn.Module, D: nn.Module, source: Source, gens: dict, clock: dict, meter: dict, device: torch.device
) -> Game:
    """network_game on fresh batches (instance noise, compile, bf16 autocast around it); losses summed into `meter`.

    With cfg.compile, G and D are torch.compile'd for the objective terms while the penalty, whose double
    backward compiled graphs do not support, keeps calling the eager D (the parameters are shared).
    """
    dtype, sigma, batch, z_dim = dtype_of(cfg), cfg.instance_noise, cfg.batch, z_size(cfg)
    penalty = None if cfg.penalty == "none" else make_penalty(cfg.penalty, cfg.penalty_weight)
    eager_D = D
    if cfg.compile:
        G, D = torch.compile(G), torch.compile(D)
        if penalty is not None:
            eager_penalty = penalty
            penalty = lambda _D, real, fake, generator=None: eager_penalty(eager_D, real, fake, generator)  # noqa: E731

    def sample_real() -> Tensor:
        x = source.sample(batch, gens["data"])
        if sigma:  # instance noise on the real input of D
            x = x + sigma * torch.randn(x.shape, generator=gens["noise"], device=x.device, dtype=x.dtype)
        return x

    def sample_z() -> Tensor:
        return torch.randn((batch, z_dim), generator=gens["noise"], device=device, dtype=dtype)

    game = network_game(
        AddNoise(G, sigma, gens["noise"]) if sigma else G,
        D,
        sample_real,
        sample_z,
        cfg.objective,
        penalty,
        cfg.penalty_every,
        gens["noise"],
        clock,
    )
    amp = use_amp(cfg, device)

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


def cpu_threads(cfg: Config, default: int) -> int:
    """cfg.threads, or under 0 (auto) 1 for the small 2-D/Dirac players and `default` for image nets."""
    return cfg.threads or (1 if resolved_net(cfg) in ("mlp", "dirac") else default)
