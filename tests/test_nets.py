"""sandbox.nets: shapes, exact parameter counts from layer formulas, batchnorm, spectral norm, channels_last, init;
the Metz et al. 2017 family; the NETS registry, its discovery and which data each family fits."""

import math
import sys

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from sandbox import nets
from sandbox.data import DATASETS
from sandbox.penalties import r1
from sandbox.trainer import config as C
from sandbox.trainer.loop import make_run, run_steps
from sandbox.trainer.parts import build_players

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
    G, D = nets.mlp_generator(), nets.mlp_discriminator()
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
def test_dcgan_d_width_sets_the_parameter_count(channels, width, bn, expected):
    a, b = round(128 * width), round(256 * width)
    assert dcgan_d_count(channels, a, b, bn) == expected
    assert nets.param_count(nets.dcgan_discriminator(channels, width, bn)) == expected


def test_d_size_grows_about_quadratically_with_width():
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
        lambda: nets.metz_discriminator(width=0.5),
        lambda: nets.metz_discriminator(width=1.0, batchnorm=False),
    ],
    ids=["dcgan_bn", "dcgan_no_bn", "resnet_sn", "metz", "metz_no_bn"],
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
        nets.metz_generator,
        nets.metz_discriminator,
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


def test_constructor_errors():
    with pytest.raises(ValueError, match="width multiplier must be positive"):
        nets.dcgan_discriminator(width=0)
    with pytest.raises(ValueError, match="depth >= 1"):
        nets.mlp_discriminator(depth=0)


# ----- Metz et al. 2017 Stacked MNIST nets (as released in PacGAN's code) --------------------------------------


def metz_g_count(z, C, c0, c1, c2, c3):
    """linear(z -> c0*4*4) + BN(c0) + 3 x [convT3x3 + BN] + conv3x3(c3 -> C); every conv keeps its bias."""
    bn = 2 * (c0 + c1 + c2 + c3)
    return (z * c0 * 16 + c0 * 16) + _conv(c0, c1, 3) + _conv(c1, c2, 3) + _conv(c2, c3, 3) + _conv(c3, C, 3) + bn


def metz_d_count(C, c1, c2, c3):
    """3 x [conv3x3 + BN] + linear(c3*4*4 -> 1)."""
    return _conv(C, c1, 3) + _conv(c1, c2, 3) + _conv(c2, c3, 3) + 2 * (c1 + c2 + c3) + c3 * 16 + 1


def test_metz_parameter_counts_are_the_papers():
    # By hand: G = (256*1024 + 1024) + 2*64 + (64*32*9 + 32) + 2*32 + (32*16*9 + 16) + 2*16 + (16*8*9 + 8) + 2*8
    #            + (8*3*9 + 3) = 263168 + 128 + 18464 + 64 + 4624 + 32 + 1160 + 16 + 219 = 287875.
    # D(1/4) = (3*2*9 + 2) + 4 + (2*4*9 + 4) + 8 + (4*8*9 + 8) + 16 + (8*16 + 1) = 56 + 4 + 76 + 8 + 296 + 16 + 129
    #          = 585.
    # D(1/2) = (3*4*9 + 4) + 8 + (4*8*9 + 8) + 16 + (8*16*9 + 16) + 32 + (16*16 + 1) = 112 + 8 + 296 + 16 + 1168 + 32
    #          + 257 = 1889.
    assert nets.param_count(nets.metz_generator()) == metz_g_count(256, 3, 64, 32, 16, 8) == 287875
    assert nets.param_count(nets.metz_discriminator(width=0.25)) == metz_d_count(3, 2, 4, 8) == 585
    assert nets.param_count(nets.metz_discriminator(width=0.5)) == metz_d_count(3, 4, 8, 16) == 1889
    assert nets.param_count(nets.metz_discriminator(width=1.0)) == metz_d_count(3, 8, 16, 32) == 6657  # ours
    assert nets.param_count(nets.metz_generator(width=0.5)) == metz_g_count(256, 3, 32, 16, 8, 4)


def test_metz_shapes_range_and_logits():
    G, D = nets.metz_generator(), nets.metz_discriminator(width=0.25)
    z = torch.randn(B, 256)
    with torch.no_grad():
        h, shapes = G.project(z).reshape(B, 64, 4, 4), []
        for layer in G.body:
            h = layer(h)
            shapes += [tuple(h.shape)] if isinstance(layer, nets.metz.UpSame) else []
        x = G(z)
    assert shapes == [(B, 32, 7, 7), (B, 16, 14, 14), (B, 8, 28, 28)]
    torch.testing.assert_close(h, x, rtol=0, atol=0)
    assert x.shape == (B, 3, 28, 28) and float(x.abs().max()) <= 1.0 and float(x.std()) > 0
    with torch.no_grad():
        features = D.features(x)
        logits = D(x)
    assert features.shape == (B, 8, 4, 4)  # 28 -> 14 -> 7 -> 4
    assert logits.shape == (B,) and torch.isfinite(logits).all()


def test_metz_uses_tensorflow_same_padding():
    assert [nets.metz.same_pads(n) for n in (28, 14, 7, 4)] == [(0, 1), (0, 1), (1, 1), (0, 1)]
    # SAME on an even size pads after only: output row i reads input rows 2i, 2i+1, 2i+2, so row 2 reaches output
    # rows 0 and 1 (symmetric padding 1 would read 2i-1..2i+1 and reach row 1 only).
    D = nets.metz_discriminator(width=1.0, batchnorm=False).eval()
    first = D.features[:2]  # pad + conv
    x = torch.zeros(1, 3, 28, 28)
    bumped = x.clone()
    bumped[0, :, 2, :] = 1.0
    with torch.no_grad():
        changed = (first(bumped) - first(x)).abs().sum(dim=(0, 1, 3)) > 0
    assert changed.nonzero().flatten().tolist() == [0, 1]


@pytest.mark.parametrize("size, n_in", [(7, 4), (14, 7), (28, 14)])
def test_metz_transposed_convs_are_the_adjoints_of_same_convs(size, n_in):
    # TF's conv2d_transpose(padding='SAME') is the gradient of conv2d(padding='SAME'): <conv(x), y> = <x, convT(y)>.
    up = nets.metz.UpSame(5, 4, size).double()
    nn.init.zeros_(up.conv.bias)
    before, after = nets.metz.same_pads(size)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, size, size, generator=g, dtype=torch.float64)
    y = torch.randn(2, 5, n_in, n_in, generator=g, dtype=torch.float64)
    conv_x = nn.functional.conv2d(nn.functional.pad(x, (before, after, before, after)), up.conv.weight, stride=2)
    assert conv_x.shape == y.shape
    with torch.no_grad():
        torch.testing.assert_close((conv_x * y).sum(), (x * up(y)).sum(), rtol=1e-12, atol=1e-12)


def test_metz_init_follows_dcgan_tensorflow_ops():
    gen = torch.Generator().manual_seed(0)
    G = nets.metz_generator(generator=gen)
    D = nets.metz_discriminator(width=8.0, generator=gen)  # wide, for enough conv weights to measure
    linear = G.project.weight.detach()  # 1024 x 256 = 262144 entries, N(0, 0.02)
    assert float(linear.mean()) == pytest.approx(0.0, abs=2e-4)
    assert float(linear.std()) == pytest.approx(0.02, rel=0.01)
    transposed = G.body[2].conv.weight.detach()  # 64 x 32 x 9 = 18432 entries, N(0, 0.02)
    assert float(transposed.std()) == pytest.approx(0.02, rel=0.03)
    assert float(transposed.abs().max()) > 0.06  # untruncated: beyond 3 std somewhere among 18k draws
    # Truncated normal on [-2 s, 2 s]: std = s sqrt(1 - 2 a phi(a) / (Phi(a) - Phi(-a))) at a = 2, i.e. 0.8796 s.
    a = 2.0
    phi, mass = math.exp(-a * a / 2) / math.sqrt(2 * math.pi), math.erf(a / math.sqrt(2))
    truncated_std = 0.02 * math.sqrt(1 - 2 * a * phi / mass)
    conv = D.features[5].weight.detach()  # 256 x 128 x 9 = 294912 entries
    assert float(conv.abs().max()) <= 0.04 and float(conv.abs().max()) > 0.0399
    assert float(conv.std()) == pytest.approx(truncated_std, rel=0.01)
    for module in list(G.modules()) + list(D.modules()):
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            assert torch.equal(module.bias, torch.zeros_like(module.bias))
        if isinstance(module, nn.BatchNorm2d):
            assert torch.equal(module.weight, torch.ones_like(module.weight))
            assert torch.equal(module.bias, torch.zeros_like(module.bias))
            assert (module.eps, module.momentum) == (1e-5, 0.1)  # TF: epsilon 1e-5, decay 0.9


def test_metz_trains_through_the_trainer_config():
    cfg = C.make_config(dict(data="stacked_mnist", net="metz", d_width=0.5, device="cpu"))
    assert C.z_size(cfg) == 256
    G, D = build_players(cfg, torch.device("cpu"), torch.Generator().manual_seed(0))
    assert (nets.param_count(G), nets.param_count(D)) == (287875, 1889)
    with pytest.raises(ValueError, match=r"net 'metz' does not fit data 'mnist': 'mnist' has 1 channel\(s\).* needs 3"):
        C.make_config(dict(data="mnist", net="metz"))
    with pytest.raises(ValueError, match="net 'metz' does not fit data 'ring': 'ring' is points data"):
        C.make_config(dict(data="ring", net="metz"))


def test_metz_on_stacked_mnist_takes_finite_steps(root):
    cfg = dict(data="stacked_mnist", net="metz", d_width=0.25, batch=16, data_dir=str(root), device="cpu")
    run = make_run(C.make_config(cfg))
    assert run.source.sample(2, torch.Generator().manual_seed(0)).shape == (2, 3, 28, 28)
    before = [p.detach().clone() for p in run.D.parameters()]
    run_steps(run, 3)
    after = list(run.D.parameters())
    assert all(torch.isfinite(p).all() for p in after) and any(not torch.equal(x, y) for x, y in zip(before, after))


# ----- the registry --------------------------------------------------------------------------------------------

SAMPLE_SHAPE = {"points": lambda c: (2,), "images": lambda c: (c, 28, 28), "dirac": lambda c: ()}


def test_registry_holds_the_required_families():
    assert {"mlp", "dcgan", "resnet_sn", "metz", "dirac"} <= set(nets.NETS)
    for name, family in nets.NETS.items():
        assert isinstance(family, nets.NetFamily) and family.name == name
        assert family.data_kinds and set(family.data_kinds) <= set(SAMPLE_SHAPE) and family.source
    assert (nets.NETS["mlp"].z_dim, nets.NETS["dcgan"].z_dim, nets.NETS["metz"].z_dim) == (256, 100, 256)
    assert nets.get_family("metz") is nets.NETS["metz"]
    with pytest.raises(ValueError, match="unknown net 'big'; valid names: .*dcgan.*metz.*mlp"):
        nets.get_family("big")


def _spec(channels: int, z_dim: int) -> nets.NetSpec:
    return nets.NetSpec(z_dim, channels, 0.25, 0.5, True, True, theta0=0.5, psi0=-0.25)


@pytest.mark.parametrize("name", sorted(nets.NETS))
def test_every_family_builds_for_the_data_it_claims_and_refuses_the_rest(name):
    family, refused = nets.NETS[name], 0
    for data in DATASETS.values():
        fits = data.kind in family.data_kinds and (not family.channels or data.channels in family.channels)
        if not fits:
            with pytest.raises(ValueError, match=f"net '{name}' does not fit data '{data.name}'"):
                nets.check_fit(family, data.name, data.kind, data.channels)
            refused += 1
            continue
        nets.check_fit(family, data.name, data.kind, data.channels)
        G, D = family.build(_spec(data.channels, family.z_dim), torch.Generator().manual_seed(0))
        with torch.no_grad():
            x = G(torch.randn(B, family.z_dim))
            assert x.shape == (B, *SAMPLE_SHAPE[data.kind](data.channels)), data.name
            assert D(x).shape == (B,) and torch.isfinite(D(x)).all()
    assert refused >= 1  # every family is refused for some data


def test_the_dirac_family_holds_theta0_and_psi0_exactly():
    G, D = nets.NETS["dirac"].build(_spec(0, 1), None)
    assert (G.theta.item(), D.psi.item()) == (0.5, -0.25)
    G32 = nets.NETS["dirac"].build(_spec(0, 1)._replace(theta0=0.1), None)[0].to(torch.float32)
    assert torch.equal(G32.theta, nets.DiracG(0.1, torch.float32).theta)  # float64 then cast = built in float32


TOY_FAMILY = """
from sandbox.nets.base import NetFamily
from sandbox.nets.mlp import build

FAMILY = NetFamily("toy", build, ("points",), 3, "a test's throwaway family")
"""


def test_a_family_module_dropped_into_the_package_is_discovered(tmp_path, monkeypatch):
    (tmp_path / "toy_family.py").write_text(TOY_FAMILY)
    monkeypatch.setattr(nets, "__path__", [*nets.__path__, str(tmp_path)])  # as if the file were in sandbox/nets/
    monkeypatch.delitem(sys.modules, "sandbox.nets.toy_family", raising=False)
    try:
        found = nets.discover(nets)
    finally:
        sys.modules.pop("sandbox.nets.toy_family", None)
    assert set(found) == set(nets.NETS) | {"toy"} and list(found) == sorted(found)
    assert found["toy"].z_dim == 3 and found["toy"].build is nets.mlp.build


def test_discovery_refuses_duplicates_and_non_families(tmp_path, monkeypatch):
    package = tmp_path / "toynets_dup"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text(TOY_FAMILY)
    (package / "b.py").write_text(TOY_FAMILY)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match="net family 'toy' is defined twice: in toynets_dup.a and in toynets_dup.b"):
        nets.discover("toynets_dup")
    package = tmp_path / "toynets_bad"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "c.py").write_text("FAMILY = ('toy', None)\n")
    with pytest.raises(TypeError, match="toynets_bad.c.FAMILY must be a NetFamily, got tuple"):
        nets.discover("toynets_bad")
