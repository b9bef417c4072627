"""R3GAN's cosine schedules of the learning rates, Adam's beta2 and the penalty weight over training images.

Huang et al. 2024 (R3GAN) anneal every preset of their official code, over 20 Mimg (CIFAR-10, FFHQ) or 200 Mimg
(ImageNet): lr 2e-4 -> 5e-5, beta2 0.9 -> 0.99 and gamma down by 10x, each along
base + (final - base)(1 - cos(pi t / T)) / 2 of the images seen t (their training loop's cosine_decay_with_warmup,
used without warm-up or hold). The value at G step t depends on t alone, so a resumed run sets the same values as
an unbroken one. `cfg.schedule_kimg = 0` leaves every value constant (no call touches the optimisers).
"""

import math
from typing import NamedTuple

from sandbox.trainer.config import Config


class Hyper(NamedTuple):
    lr_g: float
    lr_d: float
    beta2: float
    penalty_gain: float  # the penalty weight over cfg.penalty_weight


def cosine(base: float, final: float, t: float, horizon: float) -> float:
    """base + (final - base)(1 - cos(pi min(t / horizon, 1))) / 2 (R3GAN code, cosine_decay_with_warmup, no warm-up)."""
    frac = min(t / horizon, 1.0)
    return base + (final - base) * 0.5 * (1.0 - math.cos(math.pi * frac))


def hyper_at(cfg: Config, step: int) -> Hyper:
    """The scheduled values for G step `step` (0-based), after step * batch training images."""
    t, horizon = step * cfg.batch, 1000.0 * cfg.schedule_kimg
    beta2 = cfg.betas[1] if cfg.beta2_final == -1.0 else cosine(cfg.betas[1], cfg.beta2_final, t, horizon)
    return Hyper(
        cosine(cfg.lr_g, cfg.lr_decay * cfg.lr_g, t, horizon),
        cosine(cfg.lr_d, cfg.lr_decay * cfg.lr_d, t, horizon),
        beta2,
        cosine(1.0, cfg.penalty_decay, t, horizon),
    )


def apply_(run, step: int) -> None:
    """Set run's optimisers and penalty gain (run.state['clock']) to hyper_at(run.cfg, step); no-op unscheduled."""
    cfg = run.cfg
    if cfg.schedule_kimg <= 0:
        run.state["clock"].pop("penalty_gain", None)  # a resumed scheduled run's gain must not linger
        return
    h = hyper_at(cfg, step)
    for opt, lr in ((run.opt_g, h.lr_g), (run.opt_d, h.lr_d)):
        for group in opt.param_groups:
            group["lr"] = lr
            if "betas" in group:
                group["betas"] = (group["betas"][0], h.beta2)
    run.state["clock"]["penalty_gain"] = h.penalty_gain
