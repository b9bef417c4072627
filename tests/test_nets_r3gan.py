"""The r3gan family: R3GAN-style normalisation-free ResNets on 28x28 (sandbox/nets/r3gan.py)."""

import math

import pytest
import torch
from torch import nn

from sandbox import nets
from sandbox.nets import r3gan
from sandbox.trainer import config as C
from sandbox.trainer.loop import make_run, run_steps
from sandbox.trainer.parts import use_channels_last


def block_count(c: int) -> int:
    """1x1 (c -> 2c) + bias + grouped 3x3 (2c -> 2c in g groups) + bias + 1x1 (2c -> c)."""
    wide = 2 * c
    groups = {16: 1, 32: 2, 50: 1, 64: 4, 100: 2, 128: 8, 200: 4, 256: 16}[wide]  # 16 per group where 16 divides
    return c * wide + wide + wide * (wide // groups) * 9 + wide + wide * c


def g_count(z: int, C: int, widths) -> int:
    """basis (c0, 7, 7) + linear z -> c0, 2 blocks per stage, a 1x1 conv where the width changes, 1x1 out."""
    total = widths[0] * 49 + z * widths[0] + widths[-1] * C
    total += sum(2 * block_count(c) for c in widths)
    return total + sum(a * b for a, b in zip(widths, widths[1:]) if a != b)


def d_count(C: int, widths) -> int:
    """1x1 in, 2 blocks per stage, the width-changing 1x1 convs, depthwise 7x7 basis, linear to one logit."""
    total = C * widths[0] + sum(2 * block_count(c) for c in widths)
    total += sum(a * b for a, b in zip(widths, widths[1:]) if a != b)
    return total + widths[-1] * 49 + widths[-1]


@pytest.mark.parametrize("width, channels", [(1.0, 3), (0.25, 3), (0.5, 1), (0.78, 3)])
def test_parameter_counts_match_a_hand_count(width, channels):
    G = nets.r3gan_generator(64, channels, width)
    D = nets.r3gan_discriminator(channels, width)
    widths = [round(c * width) for c in r3gan.WIDTHS]
    assert nets.param_count(G) == g_count(64, channels, widths)
    assert nets.param_count(D) == d_count(channels, widths[::-1])
    if width == 1.0 and channels == 3:
        assert (nets.param_count(G), nets.param_count(D)) == (327648, 319584)


def test_shapes_no_normalisation_no_conv_bias_no_tanh():
    G, D = nets.r3gan_generator(width=0.25), nets.r3gan_discriminator(width=0.25)
    x = G(torch.randn(5, 64))
    assert x.shape == (5, 3, 28, 28) and D(x).shape == (5,)
    for m in list(G.modules()) + list(D.modules()):
        assert not isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d, nn.Tanh))
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            assert m.bias is None


def test_every_block_is_the_identity_at_init_and_learns_away_from_it():
    """Fix-up: the branch's last conv starts at zero, so each block passes its input through exactly."""
    torch.manual_seed(0)
    block = r3gan.Block(32, 6)
    x = torch.randn(4, 32, 7, 7)
    assert torch.equal(block(x), x)
    with torch.no_grad():
        block.branch[-1].weight.normal_()  # control: a trained branch no longer passes x through
    assert not torch.allclose(block(x), x)


def test_msr_init_scales_by_fan_in_and_the_fixup_factor():
    torch.manual_seed(0)
    L = 6
    block = r3gan.Block(128, L)  # the 7x7 stage at width 1: 256 wide, 16 groups of 16
    grouped = block.branch[2]
    assert grouped.groups == 16 and grouped.weight.shape == (256, 16, 3, 3)
    want = math.sqrt(2 / 1.04) * L ** (-0.25) / math.sqrt(16 * 9)
    torch.testing.assert_close(float(grouped.weight.detach().std()), want, rtol=0.02, atol=0)
    torch.testing.assert_close(
        float(block.branch[0].weight.detach().std()), want * math.sqrt(16 * 9 / 128), rtol=0.02, atol=0
    )


def test_upsampling_is_four_times_the_adjoint_of_downsampling_and_keeps_constants():
    torch.manual_seed(0)
    up, down = r3gan.Resample(4, 4, up=True), r3gan.Resample(4, 4, up=False)
    x, y = torch.randn(2, 4, 7, 7), torch.randn(2, 4, 14, 14)
    assert up(x).shape == (2, 4, 14, 14) and down(y).shape == (2, 4, 7, 7)
    torch.testing.assert_close((up(x) * y).sum(), 4 * (x * down(y)).sum(), rtol=1e-5, atol=1e-5)
    ones_up, ones_down = up(torch.ones(1, 4, 7, 7)), down(torch.ones(1, 4, 14, 14))
    torch.testing.assert_close(ones_up[..., 1:-1, 1:-1], torch.ones(1, 4, 12, 12))  # bilinear: constants kept
    torch.testing.assert_close(ones_down[..., 1:-1, 1:-1], torch.ones(1, 4, 5, 5))
    # the border sees the zero padding (the control of the interior check): taps 3/4 up, 7/8 down, per axis
    torch.testing.assert_close(ones_up[0, 0, 0, 0], torch.tensor(0.75**2))
    torch.testing.assert_close(ones_down[0, 0, 0, 0], torch.tensor(0.875**2))


def test_logits_are_per_sample_so_r1_sees_one_sample_at_a_time():
    torch.manual_seed(0)
    D = nets.r3gan_discriminator(width=0.25)
    x = torch.randn(4, 3, 28, 28)
    a = D(x)
    x[2] += 1.0
    b = D(x)
    assert torch.equal(a[[0, 1, 3]], b[[0, 1, 3]]) and not torch.equal(a[2], b[2])


@pytest.mark.parametrize("build", [nets.r3gan_generator, nets.r3gan_discriminator])
def test_construction_is_seeded_by_an_explicit_generator(build):
    state = torch.get_rng_state()
    a = build(width=0.25, generator=torch.Generator().manual_seed(1)).state_dict()
    assert torch.equal(torch.get_rng_state(), state)
    b = build(width=0.25, generator=torch.Generator().manual_seed(1)).state_dict()
    c = build(width=0.25, generator=torch.Generator().manual_seed(2)).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_trains_rpgan_with_r1_and_r2_through_the_trainer(root):
    cfg = C.make_config(
        dict(
            data="stacked_mnist",
            net="r3gan",
            g_width=0.125,
            d_width=0.125,
            batch=8,
            objective="rpgan",
            penalty="r1_r2",
            data_dir=str(root),
            device="cpu",
        )
    )
    assert C.z_size(cfg) == 64  # the family's z_dim (R3GAN's NoiseDimension)
    run = make_run(cfg)
    before = [p.detach().clone() for p in run.D.parameters()]
    run_steps(run, 2)  # the penalties' double backward runs through the grouped and depthwise convs
    after = list(run.D.parameters())
    assert all(torch.isfinite(p).all() for p in after) and any(not torch.equal(u, v) for u, v in zip(before, after))


def test_the_penalty_gradient_matches_finite_differences_through_the_resamplers():
    """R1's double backward through depthwise and grouped convs, in float64, against a central difference."""
    torch.manual_seed(0)
    D = nets.r3gan_discriminator(channels=1, width=0.125).double()
    with torch.no_grad():
        for m in D.modules():
            if isinstance(m, r3gan.Block):
                m.branch[-1].weight.normal_(0, 0.1)  # leave fix-up's zeros, so the blocks' gradients are nonzero
    x = torch.randn(2, 1, 28, 28, dtype=torch.float64)
    w = D.head.weight

    def penalty() -> torch.Tensor:
        xr = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(D(xr).sum(), xr, create_graph=True)
        return g.pow(2).sum() / 2

    (grad,) = torch.autograd.grad(penalty(), w)
    h, values = 1e-6, []
    for step in (h, -2 * h, h):  # w + h, w - h, then back to w
        with torch.no_grad():
            w[0, 3] += step
        values.append(penalty().detach())
    torch.testing.assert_close(grad[0, 3], (values[0] - values[1]) / (2 * h), rtol=1e-6, atol=1e-9)
    assert float(grad.abs().max()) > 0  # a zero gradient would pass a difference of zeros


def test_family_source_and_z_dim():
    family = nets.get_family("r3gan")
    assert family.z_dim == 64 and family.data_kinds == ("images",) and "R3GAN" in family.source


def test_channels_last_is_the_cpu_default_and_gives_the_same_logits():
    cfg = C.make_config(dict(data="stacked_mnist", net="r3gan", device="cpu"))
    assert use_channels_last(cfg, torch.device("cpu"))  # measured 1.18x (benchmarks.r3gan)
    torch.manual_seed(0)
    G, D = nets.r3gan_generator(width=0.25), nets.r3gan_discriminator(width=0.25)
    z, x = torch.randn(4, 64), torch.randn(4, 3, 28, 28)
    with torch.no_grad():
        fake, logits = G(z), D(x)
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
        torch.testing.assert_close(G(z), fake, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(D(x.contiguous(memory_format=torch.channels_last)), logits, rtol=1e-4, atol=1e-5)
