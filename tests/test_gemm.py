"""sandbox.nets.gemm: the matmul forms of conv layers equal torch's convs (values, gradients, R1's double backward),
and the DCGAN nets take them on a CPU for exactly the narrow layers, with nothing changed but round-off."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from sandbox.nets import dcgan_discriminator, dcgan_generator, gemm, metz_generator
from sandbox.nets.grouped import GroupedProjection, group_players
from sandbox.penalties import spectral_norm_

F64 = dict(rtol=1e-12, atol=1e-12)
# (C_in, C_out, kernel, stride, padding, side, groups): DCGAN's and Metz's layer shapes, odd ones, grouped ones
SHAPES = [
    (1, 8, 4, 2, 1, 28, 1),
    (8, 1, 4, 2, 1, 14, 1),
    (3, 5, 3, 2, 0, 9, 1),
    (4, 2, 3, 1, 1, 7, 1),
    (2, 3, 5, 3, 2, 11, 1),
    (3, 6, 4, 2, 1, 10, 3),  # a 3-member ensemble's D input layer
    (6, 2, 4, 2, 1, 7, 2),  # a 2-member ensemble's G output layer
]


def _grads(f, x, params):
    """f(x), d sum(f(x) * u) / d(x, params), and the gradient of ||d f / d x||^2 (R1's double backward)."""
    y = f(x)
    u = torch.linspace(-1.0, 2.0, y.numel(), dtype=y.dtype).reshape(y.shape)
    first = torch.autograd.grad((y * u).sum(), [x, *params], create_graph=True)
    second = torch.autograd.grad(first[0].pow(2).sum(), [x, *params], materialize_grads=True)
    return [y, *first, *second]


@pytest.mark.parametrize("c_in, c_out, k, s, p, n, groups", SHAPES)
def test_conv2d_equals_torch_conv2d_with_gradients_and_double_backward(c_in, c_out, k, s, p, n, groups):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, c_in, n, n, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(c_out, c_in // groups, k, k, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(c_out, generator=g, dtype=torch.float64, requires_grad=True)
    ours = _grads(lambda x: gemm.conv2d(x, w, b, s, p, groups), x, [w, b])
    torchs = _grads(lambda x: F.conv2d(x, w, b, s, p, groups=groups), x, [w, b])
    assert ours[0].shape == (3, c_out, gemm.conv_size(n, k, s, p), gemm.conv_size(n, k, s, p))
    for a, t in zip(ours, torchs):
        assert_close(a, t, **F64)


@pytest.mark.parametrize("c_in, c_out, k, s, p, n, groups", SHAPES)
def test_conv_transpose2d_equals_torch_conv_transpose2d_with_gradients(c_in, c_out, k, s, p, n, groups):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, c_in, n, n, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(c_in, c_out // groups, k, k, generator=g, dtype=torch.float64, requires_grad=True)
    ours = _grads(lambda x: gemm.conv_transpose2d(x, w, None, s, p, groups), x, [w])
    torchs = _grads(lambda x: F.conv_transpose2d(x, w, None, s, p, groups=groups), x, [w])
    assert ours[0].shape == torchs[0].shape == (3, c_out, (n - 1) * s - 2 * p + k, (n - 1) * s - 2 * p + k)
    for a, t in zip(ours, torchs):
        assert_close(a, t, **F64)


def test_project_is_a_transposed_conv_of_a_1x1_map():
    g = torch.Generator().manual_seed(2)
    z = torch.randn(5, 6, 1, 1, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, 4, 7, 7, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, generator=g, dtype=torch.float64, requires_grad=True)
    ours = _grads(lambda z: gemm.project(z, w, b), z, [w, b])
    for a, t in zip(ours, _grads(lambda z: F.conv_transpose2d(z, w, b), z, [w, b])):
        assert_close(a, t, **F64)
    # the control: the weight read as (C_out, C_in, k, k), a slip the comparison must catch
    assert not torch.allclose(gemm.project(z, w.transpose(0, 1).reshape(6, 4, 7, 7), b), ours[0], atol=1e-3)


def test_only_plain_layers_take_the_matmul_form():
    x = torch.zeros(1, 4, 5, 5)
    assert gemm.use(nn.Conv2d(4, 2, 3, 2, 1), nn.Conv2d, x)
    assert gemm.use(nn.ConvTranspose2d(4, 2, 4, 2, 1), nn.ConvTranspose2d, x)
    assert gemm.use(nn.Conv2d(4, 2, 3, groups=2), nn.Conv2d, x)  # a grouped ensemble's layer
    hooked = nn.Conv2d(4, 2, 3)
    hooked.register_forward_pre_hook(lambda module, args: None)
    refused = {
        "dilated": (nn.Conv2d(4, 2, 3, dilation=2), nn.Conv2d),
        "padding='same'": (nn.Conv2d(4, 2, 3, padding="same"), nn.Conv2d),
        "reflect padding": (nn.Conv2d(4, 2, 3, padding=1, padding_mode="reflect"), nn.Conv2d),
        "rectangular kernel": (nn.Conv2d(4, 2, (3, 1)), nn.Conv2d),
        "output padding": (nn.ConvTranspose2d(4, 2, 3, 2, output_padding=1), nn.ConvTranspose2d),
        "a grouped ensemble's projection": (GroupedProjection(2, nn.ConvTranspose2d(3, 4, 7)), nn.ConvTranspose2d),
        "the wrong kind": (nn.ConvTranspose2d(4, 2, 3), nn.Conv2d),
        "spectral norm": (spectral_norm_(nn.Conv2d(4, 2, 3)), nn.Conv2d),
        "a forward pre-hook": (hooked, nn.Conv2d),
    }
    for name, (layer, kind) in refused.items():
        assert not gemm.use(layer, kind, x), name
    if torch.cuda.is_available():
        assert not gemm.use(nn.Conv2d(4, 2, 3).cuda(), nn.Conv2d, x.cuda())


def test_narrow_names_the_layers_onednn_is_slow_on():
    """One channel per group on the image side, or a transposed conv of a 1x1 map; nothing else."""
    img, one, map7 = torch.zeros(1, 1, 28, 28), torch.zeros(1, 8, 1, 1), torch.zeros(1, 8, 7, 7)
    assert gemm.narrow(nn.Conv2d(1, 8, 4, 2, 1), img)  # D's first layer
    assert gemm.narrow(nn.Conv2d(3, 6, 4, 2, 1, groups=3), torch.zeros(1, 3, 28, 28))  # a 3-member ensemble's
    assert gemm.narrow(nn.ConvTranspose2d(8, 1, 4, 2, 1), map7)  # G's last layer
    assert gemm.narrow(nn.ConvTranspose2d(8, 16, 7), one)  # G's projection
    assert not gemm.narrow(nn.Conv2d(3, 8, 4, 2, 1), torch.zeros(1, 3, 28, 28))  # three channels: oneDNN's
    assert not gemm.narrow(nn.ConvTranspose2d(8, 3, 4, 2, 1), map7)
    assert not gemm.narrow(nn.ConvTranspose2d(8, 4, 4, 2, 1), map7)  # a middle layer
    assert not gemm.narrow(nn.BatchNorm2d(1), img)


def test_native_restores_the_switch_when_the_block_raises():
    with pytest.raises(RuntimeError, match="inside"):
        with gemm.native():
            assert not gemm.ON_CPU
            raise RuntimeError("inside")
    assert gemm.ON_CPU


def _count_calls(monkeypatch) -> dict:
    """Wrap gemm's three forms to count their calls: name -> calls (absent: never called)."""
    counts = {}
    for name in ("project", "conv2d", "conv_transpose2d"):

        def counted(*args, _real=getattr(gemm, name), _name=name):
            counts[_name] = counts.get(_name, 0) + 1
            return _real(*args)

        monkeypatch.setattr(gemm, name, counted)
    return counts


def _dcgan_pass(G, D, z, x):
    """G(z), D(x) and the gradients an R1 step and a G step take, with every parameter's."""
    fake, logits = G(z), D(x)
    (gx,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    params = list(G.parameters()) + list(D.parameters())
    grads = torch.autograd.grad(gx.pow(2).sum() + D(fake).sum(), params, allow_unused=True)
    return [fake, logits, gx] + [t for t in grads if t is not None]


@pytest.mark.parametrize(
    "channels, calls", [(1, {"project": 1, "conv2d": 2, "conv_transpose2d": 1}), (3, {"project": 1})]
)
def test_dcgan_nets_take_the_matmul_form_on_narrow_layers_and_change_nothing_else(monkeypatch, channels, calls):
    """float64: the nets with and without the matmul layers agree to 1e-12; the matmul path is really taken, on
    the projection always and on the one-channel image layers only (D(x) and D(fake): two conv2d calls)."""
    g = torch.Generator().manual_seed(3)
    G = dcgan_generator(channels=channels, width=0.125, generator=g).double()
    D = dcgan_discriminator(channels=channels, width=0.125, generator=g).double()
    z = torch.randn(6, 100, generator=g, dtype=torch.float64)
    x = torch.rand(6, channels, 28, 28, generator=g, dtype=torch.float64).mul(2).sub(1).requires_grad_(True)
    counts = _count_calls(monkeypatch)
    fast = _dcgan_pass(G, D, z, x)
    assert counts == calls
    counts.clear()
    with gemm.native():
        native = _dcgan_pass(G, D, z, x)
    assert counts == {}
    assert gemm.ON_CPU  # restored after the block
    assert len(fast) == len(native)
    for a, t in zip(fast, native):
        assert_close(a, t, **F64)


def test_a_grouped_dcgan_ensemble_takes_the_matmul_form_per_member(monkeypatch):
    """The K-member grouped nets (sandbox.nets.grouped) take conv2d and conv_transpose2d with groups = K on their
    one-channel layers (the projection is already GroupedProjection's batched matmul) and agree with torch's
    grouped kernels to 1e-12 in float64."""
    g = torch.Generator().manual_seed(4)
    K = 3
    G, D = group_players("dcgan", dcgan_generator(width=0.125), dcgan_discriminator(width=0.125), K)
    G, D = G.double(), D.double()
    with torch.no_grad():
        for p in list(G.parameters()) + list(D.parameters()):
            p.copy_(0.05 * torch.randn(p.shape, generator=g, dtype=torch.float64))
    z = torch.randn(4, K, 100, generator=g, dtype=torch.float64)
    x = torch.rand(4, K, 28, 28, generator=g, dtype=torch.float64).requires_grad_(True)
    counts = _count_calls(monkeypatch)
    fast = _dcgan_pass(G, D, z, x)
    assert counts == {"conv2d": 2, "conv_transpose2d": 1}
    with gemm.native():
        native = _dcgan_pass(G, D, z, x)
    assert fast[1].shape == (4, K)
    for a, t in zip(fast, native):
        assert_close(a, t, **F64)


def test_under_cpu_autocast_the_matmul_forms_return_torchs_dtype():
    """bf16 autocast (`--amp on` on a CPU): each form returns the dtype torch's conv returns there, bias included."""
    x = torch.randn(2, 1, 28, 28)
    conv, up = nn.Conv2d(1, 4, 4, 2, 1), nn.ConvTranspose2d(4, 1, 4, 2, 1)
    proj = nn.ConvTranspose2d(3, 4, 7)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = conv(x)
        pairs = [
            (gemm.conv2d(x, conv.weight, conv.bias, 2, 1), h),
            (gemm.conv_transpose2d(h, up.weight, up.bias, 2, 1), up(h)),
            (gemm.project(torch.randn(2, 3, 1, 1), proj.weight, proj.bias), proj(torch.randn(2, 3, 1, 1))),
        ]
    assert h.dtype == torch.bfloat16
    for ours, torchs in pairs:
        assert ours.dtype == torchs.dtype and ours.shape == torchs.shape


# ------------------------------------------------------------------------------- channels_last transposed convs
# (C_in, C_out, side, stride, crop start, crop size): the Metz G's three layers (TF 'SAME'), an uncropped one, stride 3
NHWC_SHAPES = [
    (64, 32, 4, 2, 1, 7),
    (32, 16, 7, 2, 0, 14),
    (16, 8, 14, 2, 0, 28),
    (5, 3, 3, 2, 0, 7),
    (4, 2, 3, 3, 1, 8),
]


@pytest.mark.parametrize("c_in, c_out, n, s, start, size", NHWC_SHAPES)
@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format])
def test_conv_transpose2d_nhwc_equals_torch_with_gradients_and_double_backward(c_in, c_out, n, s, start, size, layout):
    """float64: the cropped transposed conv, its gradients and a double backward (through both gradients) agree
    with torch's to 1e-12 from either input layout, and the output is channels_last."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3, c_in, n, n, generator=g, dtype=torch.float64).contiguous(memory_format=layout)
    x.requires_grad_(True)
    w = torch.randn(c_in, c_out, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(c_out, generator=g, dtype=torch.float64, requires_grad=True)

    def grads(f):
        y = f(x)
        u = torch.linspace(-1.0, 2.0, y.numel(), dtype=y.dtype).reshape(y.shape)
        first = torch.autograd.grad((y * u).sum(), [x, w, b], create_graph=True)
        second = torch.autograd.grad(sum(t.pow(2).sum() for t in first), [x, w, b], materialize_grads=True)
        return [y, *first, *second]

    rows = slice(start, start + size)
    ours = grads(lambda x: gemm.conv_transpose2d_nhwc(x, w, b, s, start, size))
    torchs = grads(lambda x: F.conv_transpose2d(x, w, b, s)[..., rows, rows])
    assert ours[0].shape == (3, c_out, size, size) and ours[0].is_contiguous(memory_format=torch.channels_last)
    for a, t in zip(ours, torchs):
        assert_close(a, t, **F64)
    # the control: the taps read with their two kernel axes swapped, a slip the comparison must catch
    swapped = gemm.conv_transpose2d_nhwc(x, w.transpose(2, 3), b, s, start, size)
    assert not torch.allclose(swapped, ours[0], atol=1e-3)
    # without a bias: torch's map too, and still a channels_last output (the crop copied out, not a view)
    unbiased = gemm.conv_transpose2d_nhwc(x, w, None, s, start, size)
    assert_close(unbiased, F.conv_transpose2d(x, w, None, s)[..., rows, rows], **F64)
    assert unbiased.is_contiguous(memory_format=torch.channels_last)


def test_conv_transpose2d_nhwc_under_cpu_autocast_is_bf16_like_torchs():
    """Called under bf16 autocast (the nets do not: `nhwc`), the output is bf16 as torch's conv returns it there,
    within two bf16 steps of it (the scatter sums in fp32, as torch's kernels accumulate), and the gradients come
    back in the parameters' fp32."""
    g = torch.Generator().manual_seed(6)
    x = torch.randn(4, 16, 14, 14, generator=g).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    w = (0.1 * torch.randn(16, 8, 3, 3, generator=g)).requires_grad_(True)
    b = torch.randn(8, generator=g, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = gemm.conv_transpose2d_nhwc(x, w, b, 2, 0, 28)
        torchs = F.conv_transpose2d(x, w, b, 2)[..., :28, :28]
    assert ours.dtype == torchs.dtype == torch.bfloat16
    scale = torchs.float().abs().max()
    assert_close(ours.float() / scale, torchs.float() / scale, rtol=0, atol=2 * 2.0**-8)
    u = torch.randn(ours.shape, generator=g)
    mine = torch.autograd.grad((ours.float() * u).sum(), [x, w, b])
    ref = torch.autograd.grad((torchs.float() * u).sum(), [x, w, b])
    for a, t in zip(mine, ref):
        assert a.dtype == torch.float32
        assert_close(a / t.abs().max(), t / t.abs().max(), rtol=0, atol=2 * 2.0**-8)


def test_nhwc_takes_only_plain_ungrouped_channels_last_transposed_convs_on_a_cpu():
    x = torch.zeros(2, 16, 14, 14).contiguous(memory_format=torch.channels_last)
    cl = lambda layer: layer.to(memory_format=torch.channels_last)  # noqa: E731
    assert gemm.nhwc(cl(nn.ConvTranspose2d(16, 8, 3, 2)), x)
    refused = {
        "contiguous weight (a net not converted)": nn.ConvTranspose2d(16, 8, 3, 2),
        "grouped (an ensemble's: torch's kernels were faster there)": cl(nn.ConvTranspose2d(16, 8, 3, 2, groups=2)),
        "padded": cl(nn.ConvTranspose2d(16, 8, 3, 2, padding=1)),
        "a conv": cl(nn.Conv2d(16, 8, 3, 2)),
        "spectral norm": cl(spectral_norm_(nn.ConvTranspose2d(16, 8, 3, 2))),
    }
    for name, layer in refused.items():
        assert not gemm.nhwc(layer, x), name
    with gemm.native():
        assert not gemm.nhwc(cl(nn.ConvTranspose2d(16, 8, 3, 2)), x)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # bf16 where the CPU has AMX: torch's kernels, as measured
        assert not gemm.nhwc(cl(nn.ConvTranspose2d(16, 8, 3, 2)), x)


def test_the_channels_last_metz_generator_takes_the_nhwc_form_and_changes_nothing_else(monkeypatch):
    """float64: a channels_last Metz G runs its three transposed convs through conv_transpose2d_nhwc and agrees
    with torch's kernels (`native()`) to 1e-12 in its images and every parameter's gradient; a contiguous G
    never takes it."""
    g = torch.Generator().manual_seed(7)
    G = metz_generator(width=0.5, generator=g).double()
    z = torch.randn(6, 256, generator=g, dtype=torch.float64)
    u = torch.randn(6, 3, 28, 28, generator=g, dtype=torch.float64)
    calls = []
    real = gemm.conv_transpose2d_nhwc
    monkeypatch.setattr(gemm, "conv_transpose2d_nhwc", lambda *a: calls.append(a[0].shape) or real(*a))

    def run(net):
        fake = net(z)
        return [fake, *torch.autograd.grad((fake * u).sum(), list(net.parameters()))]

    assert_close(run(G)[0], run(copy.deepcopy(G).to(memory_format=torch.channels_last))[0], **F64)
    assert len(calls) == 3  # the three transposed convs of the channels_last G only
    calls.clear()
    G = G.to(memory_format=torch.channels_last)
    fast = run(G)
    assert [tuple(s) for s in calls] == [(6, 32, 4, 4), (6, 16, 7, 7), (6, 8, 14, 14)]
    with gemm.native():
        native = run(G)
    for a, t in zip(fast, native):
        assert_close(a, t, **F64)
