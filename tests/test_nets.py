"""sandbox.nets: shapes, exact parameter counts from layer formulas, batchnorm, spectral norm, channels_last, init."""

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from sandbox import nets
from sandbox.penalties import r1

B = 4


def _conv(c_in, c_out, k, bias=True):
    """Parameters of a k x k (transposed) convolution."""
    return c_in * c_out * k * k + (c_out if bias else 0)


def dcgan_d_count(C, a, b, bn):
    """conv4x4(C->a) + conv4x4(a->b) [+ BN(b)] + linear(b*7*7 -> 1)."""
    return _conv(C, a, 4) + _conv(a, b, 4, bias=not bn) + (2 * b if bn else 0) + (b * 49 + 1)


def dcgan_g_count(z, C, c1, c2, bn):
    """convT7x7(z->c1) [+ BN] + convT4x4(c1->c2) [+ BN] + convT4x4(c2->C)."""
    return (
        _conv(z, c1, 7, bias=not bn)
        + (2 * c1 if bn else 0)
        + _conv(c1, c2, 4, bias=not bn)
        + (2 * c2 if bn else 0)
        + _conv(c2, C, 4)
    )


def resnet_d_count(C, c):
    """Optimized block (C->c, 1x1 shortcut), down block (1x1 shortcut), two plain blocks, linear(c -> 1)."""
    return (
        _conv(C, c, 3)
        + _conv(c, c, 3)
        + _conv(C, c, 1)
        + 2 * _conv(c, c, 3)
        + _conv(c, c, 1)
        + 4 * _conv(c, c, 3)
        + c
        + 1
    )


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("width", [0.25, 0.5, 1.0])
def test_image_nets_output_shapes(channels, width):
    G = nets.dcgan_generator(channels=channels, width=width)
    with torch.no_grad():
        x = G(torch.randn(B, 100))
        assert x.shape == (B, channels, 28, 28)
        assert float(x.abs().max()) <= 1.0
        for D in (
            nets.dcgan_discriminator(channels=channels, width=width),
            nets.resnet_discriminator(channels=channels, width=width),
        ):
            logits = D(x)
            assert logits.shape == (B,) and torch.isfinite(logits).all()


def test_mlp_shapes_and_metz_defaults():
    G, D = nets.make_nets("mlp")
    z = torch.randn(B, 256)
    assert G(z).shape == (B, 2) and D(G(z)).shape == (B,)
    assert D(torch.randn(1, 2)).shape == (1,)
    # z 256 -> 128 -> 128 -> 2 and 2 -> 128 -> 128 -> 1 (Metz et al. 2017, App. A)
    assert nets.param_count(G) == (256 * 128 + 128) + (128 * 128 + 128) + (128 * 2 + 2) == 49666
    assert nets.param_count(D) == (2 * 128 + 128) + (128 * 128 + 128) + (128 + 1) == 17025


def test_param_count_matches_a_hand_count_for_a_tiny_mlp():
    D = nets.mlp_discriminator(in_dim=2, hidden=3, depth=2)
    assert nets.param_count(D) == 25  # (2*3 + 3) + (3*3 + 3) + (3*1 + 1)
    G = nets.mlp_generator(z_dim=4, hidden=5, depth=1, out_dim=2)
    assert nets.param_count(G) == 37  # (4*5 + 5) + (5*2 + 2)
    D.net[0].weight.requires_grad_(False)
    assert nets.param_count(D) == 19  # the frozen 2x3 weight no longer counts


@pytest.mark.parametrize(
    "channels, width, bn, expected",
    [
        (1, 1.0, True, 539521),
        (1, 0.5, True, 138689),
        (1, 0.25, True, 36577),
        (3, 1.0, False, 543361),
        (3, 0.5, False, 140609),
        (3, 0.25, False, 37537),
    ],
)
def test_c12_dcgan_d_width_sets_the_parameter_count(channels, width, bn, expected):
    a, b = round(128 * width), round(256 * width)
    assert dcgan_d_count(channels, a, b, bn) == expected
    assert nets.param_count(nets.dcgan_discriminator(channels, width, bn)) == expected


def test_c12_d_size_grows_about_quadratically_with_width():
    full = nets.param_count(nets.dcgan_discriminator(channels=3, width=1.0))
    for width in (0.25, 0.5):
        ratio = nets.param_count(nets.dcgan_discriminator(channels=3, width=width)) / full
        assert ratio == pytest.approx(width**2, rel=0.15)  # the input layer and head are linear in width
    full = nets.param_count(nets.resnet_discriminator(channels=3, width=1.0))
    assert nets.param_count(nets.resnet_discriminator(channels=3, width=0.5)) / full == pytest.approx(0.25, rel=0.02)


@pytest.mark.parametrize("channels, width", [(1, 1.0), (3, 0.5), (3, 0.25)])
def test_resnet_d_and_dcgan_g_parameter_counts(channels, width):
    c = round(128 * width)
    assert nets.param_count(nets.resnet_discriminator(channels, width)) == resnet_d_count(channels, c)
    c1, c2 = round(256 * width), round(128 * width)
    for bn in (True, False):
        G = nets.dcgan_generator(channels=channels, width=width, batchnorm=bn)
        assert nets.param_count(G) == dcgan_g_count(100, channels, c1, c2, bn)
    assert nets.param_count(nets.resnet_discriminator(1, 1.0)) == 1051265
    assert nets.param_count(nets.dcgan_generator()) == 1781505


def test_batchnorm_on_and_off():
    def n_bn(m):
        return sum(isinstance(x, nn.BatchNorm2d) for x in m.modules())

    assert n_bn(nets.dcgan_generator()) == 2 and n_bn(nets.dcgan_discriminator()) == 1
    assert n_bn(nets.dcgan_generator(batchnorm=False)) == 0 and n_bn(nets.dcgan_discriminator(batchnorm=False)) == 0
    # In training mode a BN discriminator couples the samples of a batch; without BN each logit is its own.
    x, y = torch.randn(B, 1, 28, 28), torch.randn(B, 1, 28, 28)
    y[0] = x[0]
    with_bn, without = nets.dcgan_discriminator(width=0.25), nets.dcgan_discriminator(width=0.25, batchnorm=False)
    with torch.no_grad():
        assert not torch.allclose(with_bn(x)[0], with_bn(y)[0])
        torch.testing.assert_close(without(x)[0], without(y)[0])


def test_gradient_penalty_runs_through_bn_free_discriminators():
    x = torch.randn(2, 3, 28, 28)
    for D in (
        nets.dcgan_discriminator(channels=3, width=0.25, batchnorm=False),
        nets.resnet_discriminator(channels=3, width=0.25),
    ):
        terms = r1(gamma=10.0)(D, x, x)
        assert terms.shape == (2,) and torch.isfinite(terms).all() and (terms > 0).all()
        terms.mean().backward()
        # Double backprop reaches every weight (biases before a piecewise-linear unit get no gradient from it).
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in D.parameters() if p.dim() > 1)


def test_spectral_norm_on_every_conv_and_linear_of_the_resnet_d():
    D = nets.resnet_discriminator(generator=torch.Generator().manual_seed(0))
    layers = [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 11  # 3 + 3 convs in the down blocks, 2 + 2 in the plain ones, 1 linear
    for m in layers:
        assert parametrize.is_parametrized(m, "weight")
        assert type(m.parametrizations.weight[0]).__name__ == "_SpectralNorm"
    # Enough power iterations in one training-mode forward make every layer's largest singular value 1.
    D = nets.resnet_discriminator(width=0.5, n_power_iterations=50, generator=torch.Generator().manual_seed(0))
    D(torch.randn(1, 1, 28, 28))
    D.eval()
    layers = [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        sigmas = torch.stack([torch.linalg.matrix_norm(m.weight.reshape(m.weight.shape[0], -1), ord=2) for m in layers])
    torch.testing.assert_close(sigmas, torch.ones(11), rtol=0.01, atol=0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: nets.dcgan_discriminator(channels=3),
        lambda: nets.dcgan_discriminator(channels=3, width=0.5, batchnorm=False),
        lambda: nets.resnet_discriminator(channels=3, width=0.5),
    ],
    ids=["dcgan_bn", "dcgan_no_bn", "resnet_sn"],
)
def test_channels_last_input_gives_the_same_logits(make):
    torch.manual_seed(0)
    D = make().eval()  # eval: fixed BN statistics and spectral-norm vectors, so both calls see the same D
    x = torch.randn(B, 3, 28, 28)
    x_cl = x.to(memory_format=torch.channels_last)
    assert x_cl.is_contiguous(memory_format=torch.channels_last) and not x_cl.is_contiguous()
    reference = D(x)
    torch.testing.assert_close(D(x_cl), reference, rtol=1e-4, atol=1e-5)
    D = D.to(memory_format=torch.channels_last)
    torch.testing.assert_close(D(x_cl), reference, rtol=1e-4, atol=1e-5)


def test_dcgan_init_is_normal_0_02():
    G = nets.dcgan_generator(generator=torch.Generator().manual_seed(0))
    big = G.net[3].weight.detach()  # 256 x 128 x 4 x 4 = 524288 entries
    assert float(big.mean()) == pytest.approx(0.0, abs=1e-4)
    assert float(big.std()) == pytest.approx(0.02, rel=0.01)
    bn = G.net[1].requires_grad_(False)
    assert float(bn.weight.mean()) == pytest.approx(1.0, abs=0.005)
    assert float(bn.weight.std()) == pytest.approx(0.02, rel=0.15)
    assert torch.equal(bn.bias, torch.zeros_like(bn.bias)) and torch.equal(G.net[6].bias, torch.zeros(1))


@pytest.mark.parametrize(
    "build",
    [
        nets.dcgan_generator,
        nets.dcgan_discriminator,
        nets.resnet_discriminator,
        nets.mlp_generator,
        nets.mlp_discriminator,
    ],
)
def test_construction_is_seeded_by_an_explicit_generator(build):
    state = torch.get_rng_state()
    a = build(generator=torch.Generator().manual_seed(1)).state_dict()
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left alone
    b = build(generator=torch.Generator().manual_seed(1)).state_dict()
    c = build(generator=torch.Generator().manual_seed(2)).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)  # spectral-norm u, v buffers included
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())
    torch.manual_seed(3)
    d = build().state_dict()
    torch.manual_seed(3)
    assert all(torch.equal(d[k], v) for k, v in build().state_dict().items())  # or under the caller's seed


def test_registry_and_errors():
    assert set(nets.NETS) == {"mlp", "dcgan", "resnet_sn"}
    G, D = nets.make_nets("resnet_sn", {"channels": 3}, {"channels": 3, "width": 0.25})
    assert D(G(torch.randn(2, 100))).shape == (2,)
    with pytest.raises(ValueError, match="unknown network 'big'; valid names: dcgan, mlp, resnet_sn"):
        nets.make_nets("big")
    with pytest.raises(ValueError, match="width multiplier must be positive"):
        nets.dcgan_discriminator(width=0)
    with pytest.raises(ValueError, match="depth >= 1"):
        nets.mlp_discriminator(depth=0)
