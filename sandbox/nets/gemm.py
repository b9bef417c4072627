"""Convolutions as one matrix product each, for the narrow layers where a CPU's conv kernels are slow.

oneDNN, torch's CPU convolution backend, runs a layer with one image channel (DCGAN's D input, G output) or a
transposed conv on a 1x1 map (DCGAN's projection) several times slower than the same arithmetic as a matrix
product (benchmarks.narrow): those layers are written here as unfold / fold around a matmul, batched over the
groups of a grouped ensemble's layers. Each function computes exactly the map torch's conv computes (the same sums,
in another order: fp32 round-off), with the module's own weight, so checkpoints and initialisation are unchanged.
Dilation and output padding are not supported (`plain` says which layers qualify; `narrow`, which need it).
`apply(layer, x)` is the one entry point: a net runs every layer through it.

A second form is for strided transposed convs of channels_last maps, the Metz G's, where oneDNN runs at 4-15
GFLOP/s: `conv_transpose2d_nhwc` keeps the NHWC layout throughout (one matmul to the k^2 taps of every input
pixel, then their scatter-add; backward a strided view of the output gradient and two matmuls); measured faster
from 8 to 512 channels (per layer 1.0-1.9x forward, 1.0-1.4x forward + backward; the Metz step 1.12x,
benchmarks.metz).
"""

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def conv_size(n: int, kernel: int, stride: int, padding: int) -> int:
    """Output side of a conv: floor((n + 2 p - k) / s) + 1."""
    return (n + 2 * padding - kernel) // stride + 1


def _plus_bias(y: Tensor, bias) -> Tensor:
    # in the matmul's dtype: under autocast the output stays bf16, as torch's conv returns it
    return y if bias is None else y + bias.reshape(1, -1, 1, 1).to(y.dtype)


def conv2d(x: Tensor, weight: Tensor, bias, stride: int, padding: int, groups: int = 1) -> Tensor:
    """F.conv2d(x, w, b, s, p, groups) as unfold then one (batched) matmul, y[b, o, l] = sum_j w[o, j] cols[b, j, l]
    + b[o] within each group (im2col, Chellapilla, Puri, Simard 2006)."""
    c_out, kernel, n = weight.shape[0], weight.shape[-1], x.shape[0]
    h, w = (conv_size(side, kernel, stride, padding) for side in x.shape[-2:])
    cols = F.unfold(x, kernel, padding=padding, stride=stride)  # (B, C_in k k, h w), group-major rows
    y = weight.reshape(groups, c_out // groups, -1) @ cols.reshape(n, groups, -1, h * w)  # (B, g, C_out / g, h w)
    y = y.reshape(n, c_out, h, w)
    return _plus_bias(y, bias)


def conv_transpose2d(x: Tensor, weight: Tensor, bias, stride: int, padding: int, groups: int = 1) -> Tensor:
    """F.conv_transpose2d(x, w, b, s, p, groups), the adjoint of conv2d: a (batched) matmul to columns, then fold
    sums the overlapping kernel windows (col2im)."""
    c_in, kernel, n = weight.shape[0], weight.shape[-1], x.shape[0]
    h, w = ((side - 1) * stride - 2 * padding + kernel for side in x.shape[-2:])
    w_t = weight.reshape(groups, c_in // groups, -1).transpose(1, 2)  # (g, C_out / g k k, C_in / g)
    cols = w_t @ x.reshape(n, groups, c_in // groups, -1)  # (B, g, C_out / g k k, H W)
    y = F.fold(cols.reshape(n, -1, cols.shape[-1]), (h, w), kernel, padding=padding, stride=stride)
    return _plus_bias(y, bias)


def project(z: Tensor, weight: Tensor, bias) -> Tensor:
    """A transposed conv of a 1x1 map, z (B, C_in) -> (B, C_out, k, k): y = z W.reshape(C_in, C_out k k) + b."""
    c_in, c_out, kernel = weight.shape[0], weight.shape[1], weight.shape[-1]
    y = (z.reshape(z.shape[0], c_in) @ weight.reshape(c_in, -1)).reshape(z.shape[0], c_out, kernel, kernel)
    return _plus_bias(y, bias)


ON_CPU = True  # `native()` turns it off for a block: the benchmarks' reference arms time torch's kernels


@contextmanager
def native():
    """Inside the block every layer runs torch's kernels (ON_CPU off), restored after."""
    global ON_CPU
    before, ON_CPU = ON_CPU, False
    try:
        yield
    finally:
        ON_CPU = before


def plain(layer: nn.Module, kind: type) -> bool:
    """True if `layer` is exactly a `kind` conv these functions reproduce: zero padding given as numbers, dilation 1,
    no output padding, square kernel, stride and padding (any groups: a grouped ensemble's layers qualify), and no
    hooks or parametrisation (spectral norm), which calling the matmul instead of the module would skip."""
    return (
        type(layer) is kind  # a parametrised layer's class is a subclass (torch.nn.utils.parametrize)
        and not layer._forward_pre_hooks
        and not layer._forward_hooks
        and isinstance(layer.padding, tuple)
        and layer.padding_mode == "zeros"
        and layer.dilation == (1, 1)
        and layer.output_padding == (0, 0)
        and len(set(layer.kernel_size)) == len(set(layer.stride)) == len(set(layer.padding)) == 1
    )


def narrow(layer: nn.Module, x: Tensor) -> bool:
    """The layers oneDNN is slow on: one channel per group on a conv's image side (a Conv2d's input, a
    ConvTranspose2d's output) or a transposed conv of a 1x1 map. Three or more channels: oneDNN wins (measured)."""
    if type(layer) is nn.Conv2d:
        return layer.in_channels == layer.groups
    if type(layer) is nn.ConvTranspose2d:
        return layer.out_channels == layer.groups or x.shape[-2:] == (1, 1)
    return False


def use(layer: nn.Module, kind: type, x: Tensor) -> bool:
    """Take the matmul form: on a CPU (the gap measured is oneDNN's; CUDA keeps cuDNN), ON_CPU, a plain layer."""
    return ON_CPU and x.device.type == "cpu" and plain(layer, kind)


def apply(layer: nn.Module, x: Tensor) -> Tensor:
    """layer(x), as one of the matmul forms where the layer is narrow and `use` allows it; any other layer as is."""
    kind = type(layer)
    if kind not in (nn.Conv2d, nn.ConvTranspose2d) or not (narrow(layer, x) and use(layer, kind, x)):
        return layer(x)
    s, p, g = layer.stride[0], layer.padding[0], layer.groups
    if kind is nn.Conv2d:
        return conv2d(x, layer.weight, layer.bias, s, p, g)
    if x.shape[-2:] == (1, 1) and (s, p, g) == (1, 0, 1):
        return project(x, layer.weight, layer.bias)
    return conv_transpose2d(x, layer.weight, layer.bias, s, p, g)


# ------------------------------------------------------------------------------- channels_last transposed convs
def scatter_taps(cols: Tensor, stride: int) -> Tensor:
    """col2im in NHWC: cols (N, H, W, k, k, C) -> y (N, (H-1)s+k, X, C), y[n, s i + a, s j + b] = sum of cols[n, i, j,
    a, b] over the taps that land there, X = (W-1)s+k rounded up to a multiple of s (zero columns past the map), in
    fp32 at least (torch's bf16 conv kernels accumulate in fp32 too)."""
    n, h, w, k, _, c = cols.shape
    # y's columns in blocks of s: tap columns b = q s .. q s + s - 1 sit side by side both in cols and in y, so one
    # add takes them all (inner runs of s C numbers, not C: the Metz G's 8-channel layer's forward 1.26x faster)
    blocks = -(-((w - 1) * stride + k) // stride)
    y = cols.new_zeros(
        n, (h - 1) * stride + k, blocks, stride * c, dtype=torch.promote_types(cols.dtype, torch.float32)
    )
    for a in range(k):
        for q in range(blocks - w + 1):
            taps = min(k - q * stride, stride)  # tap columns q s .. q s + taps - 1
            run = cols[:, :, :, a, q * stride : q * stride + taps].flatten(3)  # (N, H, W, taps C), contiguous rows
            y[:, a : a + (h - 1) * stride + 1 : stride, q : q + w, : taps * c] += run
    return y.reshape(n, y.shape[1], blocks * stride, c)


def gather_taps(y: Tensor, kernel: int, stride: int, h: int, w: int) -> Tensor:
    """im2col in NHWC, a view: y (N, Y, X, C) -> (N, h, w, k, k, C) with [n, i, j, a, b] = y[n, s i + a, s j + b]."""
    s_n, s_y, s_x, s_c = y.stride()
    return y.as_strided(
        (y.shape[0], h, w, kernel, kernel, y.shape[3]), (s_n, stride * s_y, stride * s_x, s_y, s_x, s_c)
    )


def _rows(x: Tensor) -> Tensor:
    # (N, C, H, W) -> (N H W, C): a view of a channels_last x, else one copy
    return x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])


def _taps(weight: Tensor, dtype) -> Tensor:
    # ConvTranspose2d weight (C_in, C_out, k, k) -> (C_in, k k C_out), tap-major columns
    return weight.permute(0, 2, 3, 1).reshape(weight.shape[0], -1).to(dtype)


class _ConvTransposeNHWC(torch.autograd.Function):
    """crop(scatter_taps(x W)) + b, with the backward in the same layout: gather_taps of the padded gradient and
    two matmuls."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride: int, start: int, size: int):
        n, _, h, w = x.shape
        c_out, k = weight.shape[1], weight.shape[-1]
        cols = _rows(x) @ _taps(weight, x.dtype)  # (N H W, k k C_out); under autocast bf16, as torch's conv
        full = scatter_taps(cols.reshape(n, h, w, k, k, c_out), stride)
        y = full[:, start : start + size, start : start + size]
        # the crop copied out (the bias add copies; without one, copy it): contiguous NHWC, i.e. channels_last
        y = (y + bias if bias is not None else y.contiguous()).to(cols.dtype)
        ctx.save_for_backward(x, weight)  # x, not its rows: a double backward needs the graph back to x
        ctx.geometry = (stride, start, size, full.shape[1], full.shape[2], bias is not None)
        return y.permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad_y):
        x, weight = ctx.saved_tensors
        stride, start, size, full_h, full_w, has_bias = ctx.geometry
        (n, c_in, h, w), c_out, k = x.shape, weight.shape[1], weight.shape[-1]
        g = grad_y.permute(0, 2, 3, 1)  # (N, size, size, C_out)
        g_full = g.new_zeros(n, full_h, full_w, c_out)  # the crop's adjoint: zeros around g
        g_full[:, start : start + size, start : start + size] = g
        g_cols = gather_taps(g_full, k, stride, h, w).reshape(n * h * w, k * k * c_out)  # one copy
        taps = _taps(weight, g_cols.dtype)
        grad_x = (g_cols @ taps.t()).reshape(n, h, w, c_in).permute(0, 3, 1, 2)
        grad_w = (_rows(x).to(g_cols.dtype).t() @ g_cols).reshape(c_in, k, k, c_out).permute(0, 3, 1, 2)
        grad_b = g.sum((0, 1, 2), dtype=torch.promote_types(g.dtype, torch.float32)) if has_bias else None
        return grad_x, grad_w.to(weight.dtype), grad_b, None, None, None


def conv_transpose2d_nhwc(x: Tensor, weight: Tensor, bias, stride: int, start: int, size: int) -> Tensor:
    """F.conv_transpose2d(x, w, b, s)[..., start : start + size, start : start + size] as x W in NHWC, W (C_in,
    k k C_out), then the scatter-add of the k^2 taps (col2im; Chellapilla, Puri, Simard 2006): channels_last out."""
    return _ConvTransposeNHWC.apply(x, weight, bias, stride, start, size)


def nhwc(layer: nn.Module, x: Tensor) -> bool:
    """Take `conv_transpose2d_nhwc` for this ConvTranspose2d: on a CPU, ON_CPU, eager (not inside torch.compile) and
    fp32 (no autocast), a plain unpadded ungrouped layer whose weight is channels_last (the net was converted)."""
    return (
        # inductor's code for the tap scatter and gather ran the Metz step 3x slower than eager (benchmarks.metz)
        not torch.compiler.is_compiling()
        # bf16 autocast is on for the Metz nets only where the CPU has AMX, measured there with torch's kernels
        and not torch.is_autocast_enabled("cpu")
        and use(layer, nn.ConvTranspose2d, x)
        and layer.padding == (0, 0)
        # a grouped ensemble's layers stay torch's: taken group by group, its step ran 0.91-0.98x as fast
        and layer.groups == 1
        and not layer.weight.is_contiguous()
        and layer.weight.is_contiguous(memory_format=torch.channels_last)
    )
