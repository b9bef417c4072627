"""Convolutions as one matrix product each, for the narrow layers where a CPU's conv kernels are slow.

oneDNN, torch's CPU convolution backend, runs a layer with one image channel (DCGAN's D input, G output) or a
transposed conv on a 1x1 map (DCGAN's projection) several times slower than the same arithmetic as a matrix
product (benchmarks.narrow): those layers are written here as unfold / fold around a matmul, batched over the
groups of a grouped ensemble's layers. Each function computes exactly the map torch's conv computes (the same sums,
in another order: fp32 round-off), with the module's own weight, so checkpoints and initialisation are unchanged.
Dilation and output padding are not supported (`plain` says which layers qualify; `narrow`, which need it).
`apply(layer, x)` is the one entry point: a net runs every layer through it.
"""

from contextlib import contextmanager

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
