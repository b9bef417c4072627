"""Presets: plain dicts of Config field overrides that reproduce a paper's algorithm box (`--preset NAME`).

Each preset sets every algorithm field it fixes, so none inherits a non-paper value from the defaults; a
departure from the box is a named field and is said in PRESET_NOTES, which --help prints.
"""

import math

from sandbox.registry import lookup

# ln(1/2) / ln(beta): the half-life in steps of an EMA with decay beta per step.
R1_EMA_HALF_LIFE = math.log(0.5) / math.log(0.999)  # 692.8 G steps for GAN_stability's beta = 0.999

PRESETS = {
    # Arjovsky, Chintala, Bottou 2017, Algorithm 1: alpha = 5e-5, c = 0.01, m = 64, n_critic = 5, RMSProp; and the
    # official code's Diters schedule (martinarjovsky/WassersteinGAN main.py: 100 critic steps for the first 25 G
    # steps and every 500th). Turn the schedule off with --critic-schedule constant.
    "wgan": dict(
        objective="wasserstein",
        penalty="none",
        clip=0.01,
        n_critic=5,
        critic_schedule="wgan",
        rule="alternating",
        optimiser="rmsprop",
        lr_g=5e-5,
        lr_d=5e-5,
        momentum=0.0,
        batch=64,
        ema_half_life=0.0,
    ),
    # Gulrajani et al. 2017, Algorithm 1: lambda = 10, n_critic = 5, Adam alpha = 1e-4, beta1 = 0, beta2 = 0.9.
    # batchnorm_d=False: the paper's critic has no BatchNorm, which would couple the per-sample gradients (Sec. 4).
    "wgan-gp": dict(
        objective="wasserstein",
        penalty="wgan_gp",
        penalty_weight=10.0,
        penalty_every=1,
        clip=0.0,
        n_critic=5,
        rule="alternating",
        optimiser="adam",
        lr_g=1e-4,
        lr_d=1e-4,
        betas=(0.0, 0.9),
        batch=64,
        batchnorm_d=False,
        ema_half_life=0.0,
    ),
    # Radford, Metz, Chintala 2016, Sec. 4: Adam lr 2e-4, beta1 0.5, minibatch 128, the non-saturating loss.
    "dcgan": dict(
        objective="nonsaturating",
        penalty="none",
        clip=0.0,
        n_critic=1,
        rule="alternating",
        optimiser="adam",
        lr_g=2e-4,
        lr_d=2e-4,
        betas=(0.5, 0.999),
        batch=128,
        ema_half_life=0.0,
    ),
    # Mescheder, Geiger, Nowozin 2018 (GAN_stability configs/default.yaml): reg_param 10, RMSProp lr 1e-4 for G and
    # D, batch 64, an EMA of G with beta = 0.999, i.e. a half-life of 692.8 G steps. Their code adds
    # reg_param * E||grad_x D||^2, without the 1/2 of our gamma/2 convention, so its strength is gamma = 20 here.
    # Their ResNets are not these nets. batchnorm_d=False: their critics have no BatchNorm, which would couple
    # the per-sample gradients R1 penalises.
    "r1": dict(
        objective="nonsaturating",
        penalty="r1",
        penalty_weight=20.0,
        penalty_every=1,
        clip=0.0,
        n_critic=1,
        rule="alternating",
        optimiser="rmsprop",
        lr_g=1e-4,
        lr_d=1e-4,
        momentum=0.0,
        batch=64,
        batchnorm_d=False,
        ema_half_life=R1_EMA_HALF_LIFE,
    ),
    # Huang, Gokaslan, Kuleshov, Tompkin 2024 (R3GAN): RpGAN + R1 + R2, Adam with beta1 = 0, and in every preset of
    # their code (train.py) lr 2e-4 -> 5e-5, beta2 0.9 -> 0.99 and gamma down 10x on one cosine, the same for G and
    # D, over 20 Mimg (CIFAR-10, FFHQ) or 200 Mimg (ImageNet). Their code has no Stacked MNIST preset; Table 3
    # (config E) trains it 10 Mimg at batch 512 with gamma 1 -> 0.1, so here the cosine spans those 10 Mimg and
    # gamma ends at the stated 0.1. No normalisation layers in their nets.
    "r3gan": dict(
        objective="rpgan",
        penalty="r1_r2",
        penalty_weight=1.0,
        penalty_every=1,
        clip=0.0,
        n_critic=1,
        rule="alternating",
        optimiser="adam",
        lr_g=2e-4,
        lr_d=2e-4,
        betas=(0.0, 0.9),
        batch=512,
        batchnorm_g=False,
        batchnorm_d=False,
        ema_half_life=0.0,
        schedule_kimg=10_000.0,
        lr_decay=0.25,
        beta2_final=0.99,
        penalty_decay=0.1,
    ),
}

PRESET_NOTES = {
    "wgan": "Arjovsky et al. 2017, Alg. 1 and the official code's Diters schedule (100 critic steps for the first "
    "25 G steps and every 500th; --critic-schedule constant turns it off)",
    "wgan-gp": "Gulrajani et al. 2017, Alg. 1; batchnorm_d=False as in the paper's critic",
    "dcgan": "Radford et al. 2016, Sec. 4 (= the defaults)",
    "r1": "Mescheder et al. 2018, GAN_stability configs/default.yaml: reg_param 10 without the 1/2 = gamma 20 in "
    "our gamma/2 convention; EMA beta 0.999 = half-life 692.8 G steps; no BatchNorm in D",
    "r3gan": "Huang et al. 2024, official code's presets (Adam beta1 0; lr, beta2 and gamma on one cosine) "
    "with Table 3's Stacked MNIST run: 10 Mimg (the cosine's length), batch 512, gamma 1 -> 0.1; ema_half_life 0: "
    "their EMA's length ramps up from 0 along the same cosine, which this trainer's fixed half-life does not "
    "reproduce; nets: `--net r3gan` builds theirs at our stages and widths (sandbox/nets/r3gan.py)",
}


def presets_text() -> str:
    """One line per preset for --help: its source, then its settings."""

    def show(v):
        return f"{v:.6g}" if isinstance(v, float) else str(v)

    return "presets (--preset NAME):\n" + "\n".join(
        f"  {name}: {PRESET_NOTES[name]}\n    " + " ".join(f"{k}={show(v)}" for k, v in values.items())
        for name, values in PRESETS.items()
    )


def preset(name: str) -> dict:
    """PRESETS[name] (a copy), or a ValueError listing the presets."""
    return dict(lookup(PRESETS, name, "preset"))
