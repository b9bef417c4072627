"""K nets of one architecture as one grouped net: every layer block-diagonal over the K members.

A grouped net is the solo net with each layer widened K times and split into K independent blocks:
Conv2d / ConvTranspose2d with groups = K over K C channels, BatchNorm2d over K C channels (its statistics are
per channel, so per member by construction), and each Linear, and each projection of a 1x1 map, as a batched
matmul with (K, ...) weights (`GroupedLinear`, `GroupedProjection`): as a grouped 1x1 convolution the first
layer lost accuracy (CPU conv kernels sum in another order, measured 1e-4 against the solo net in fp32).
Member k's channels are contiguous: an image input is (B, K C, H, W) holding member k's images at channels
k C .. (k + 1) C - 1, a latent input is (B, K, z_dim), and D returns (B, K) logits.

The grouped net keeps the solo net's module names and forward code (a few reshape constants are scaled by K,
listed per family in GROUPINGS), so every tensor of its state dict has a solo counterpart of the same name with
    grouped.reshape(K, *solo.shape)[k] == member k's solo tensor,
i.e. every grouped parameter is K-major (`reshape(K, -1)` splits it by member), the one exception being
BatchNorm's integer counter, shared. `member_state` reads member k's tensors as views; `stack_members` and
`member_state_dicts` copy K solo nets into a grouped one and back.
"""

import copy
from typing import Dict, NamedTuple, Sequence

import torch
from torch import Tensor, nn


class GroupedLinear(nn.Module):
    """x (B, K, n_in) or (B, K n_in) -> (B, K, n_out): y[:, k] = x[:, k] weight[k]^T + bias[k], K Linears at once."""

    def __init__(self, members: int, n_in: int, n_out: int, bias: bool = True):
        super().__init__()
        self.members, self.n_in = members, n_in
        self.weight = nn.Parameter(torch.empty(members, n_out, n_in))  # (K, out, in): member k's Linear.weight
        self.bias = nn.Parameter(torch.empty(members, n_out)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        y = torch.einsum("bki,koi->bko", x.reshape(x.shape[0], self.members, self.n_in), self.weight)
        return y if self.bias is None else y + self.bias


class GroupedProjection(nn.Module):
    """ConvTranspose2d(z, c, k) on a 1x1 map, K at once: (B, K z, 1, 1) -> (B, K c, k, k), a batched matmul."""

    def __init__(self, members: int, solo: nn.ConvTranspose2d):
        super().__init__()
        z, c, kh, kw = solo.weight.shape
        self.members, self.shape = members, (c, kh, kw)
        # member k's ConvTranspose2d.weight, flattened past z: 3-D, so channels_last conversions leave it alone
        self.weight = nn.Parameter(torch.empty(members, z, c * kh * kw))
        self.bias = nn.Parameter(torch.empty(members * c)) if solo.bias is not None else None

    def forward(self, x: Tensor) -> Tensor:
        K, (c, kh, kw) = self.members, self.shape
        z = x.reshape(x.shape[0], K, -1)  # (B, K, z): a transposed conv on a 1x1 map is z -> W^T z
        y = torch.einsum("bki,kio->bko", z, self.weight).reshape(x.shape[0], K * c, kh, kw)
        return y if self.bias is None else y + self.bias[:, None, None]


class Grouping(NamedTuple):
    """How one family's solo G and D become grouped nets, beyond the generic layer-by-layer widening."""

    scaled: tuple  # (net, attribute): ints the solo forward reshapes with, times K (channels or latent units)
    projections: tuple  # (net, module name): ConvTranspose2d layers that only ever see a 1x1 map


GROUPINGS = {
    "metz": Grouping(scaled=(("G", "c0"),), projections=()),  # project(z).reshape(B, c0, 4, 4)
    "dcgan": Grouping(scaled=(("G", "z_dim"),), projections=(("G", "net.0"),)),  # z.reshape(B, z_dim, 1, 1)
}


def _widen(m: nn.Module, K: int) -> nn.Module:
    """One solo layer as K members' block-diagonal layer (weights uninitialised: stack_members fills them)."""
    if isinstance(m, nn.Conv2d):
        return nn.Conv2d(
            K * m.in_channels, K * m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
            K * m.groups, m.bias is not None, m.padding_mode,
        )  # fmt: skip
    if isinstance(m, nn.ConvTranspose2d):
        return nn.ConvTranspose2d(
            K * m.in_channels, K * m.out_channels, m.kernel_size, m.stride, m.padding, m.output_padding,
            K * m.groups, m.bias is not None, m.dilation,
        )  # fmt: skip
    if isinstance(m, nn.BatchNorm2d):
        return nn.BatchNorm2d(K * m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)
    if isinstance(m, nn.Linear):
        return GroupedLinear(K, m.in_features, m.out_features, m.bias is not None)
    raise ValueError(f"cannot group a {type(m).__name__} layer: only Conv2d, ConvTranspose2d, BatchNorm2d and Linear")


def _group_tree(module: nn.Module, K: int, projections: Sequence[str], prefix: str = "") -> None:
    """Replace, in place, every layer holding parameters or buffers under `module` by its grouped form."""
    for name, child in module.named_children():
        path = f"{prefix}{name}"
        if path in projections:
            new = GroupedProjection(K, child)
        elif any(True for _ in child.children()):
            _group_tree(child, K, projections, path + ".")
            continue
        elif next(child.parameters(recurse=False), None) is None and next(child.buffers(recurse=False), None) is None:
            continue  # activations, padding, Identity: the same at any width
        else:
            new = _widen(child, K)
        ref = next(child.parameters(), None)
        setattr(module, name, new.to(ref.device, ref.dtype) if ref is not None else new)


def grouped_copy(solo: nn.Module, K: int, scaled: Sequence[str] = (), projections: Sequence[str] = ()) -> nn.Module:
    """A copy of `solo` with every layer grouped K times; attributes `scaled` times K; tensors left uninitialised."""
    net = copy.deepcopy(solo)
    _group_tree(net, K, tuple(projections))
    for name in scaled:
        setattr(net, name, K * getattr(net, name))
    return net


def group_players(family: str, G: nn.Module, D: nn.Module, K: int) -> tuple:
    """(grouped G, grouped D) of K members with the architecture of the solo pair (G, D) of family `family`."""
    if family not in GROUPINGS:
        raise ValueError(f"net {family!r} has no grouped form; grouped families: {', '.join(sorted(GROUPINGS))}")
    g = GROUPINGS[family]
    return tuple(
        grouped_copy(
            net,
            K,
            [a for who, a in g.scaled if who == which],
            [p for who, p in g.projections if who == which],
        )
        for which, net in (("G", G), ("D", D))
    )


def _shared(grouped: Tensor, solo: Tensor) -> bool:
    return not grouped.is_floating_point() and grouped.shape == solo.shape  # BatchNorm's num_batches_tracked


def member_state(grouped: nn.Module, template: nn.Module, k: int, K: int) -> Dict[str, Tensor]:
    """Member k's solo state dict as views of the grouped tensors: name -> grouped[name].reshape(K, *solo.shape)[k].

    Views of parameters stay in the autograd graph (functional_call(template, member_state(...)) is member k's
    solo net, differentiable), and a BatchNorm run through them updates the grouped running statistics.
    `template` is any solo net of the architecture (the meta device will do: only shapes are read).
    """
    solo = dict(template.named_parameters()) | dict(template.named_buffers())
    out = {}
    for name, t in list(grouped.named_parameters()) + list(grouped.named_buffers()):
        s = solo[name]
        out[name] = t if _shared(t, s) else t.reshape((K,) + tuple(s.shape))[k]
    return out


@torch.no_grad()
def stack_members(grouped: nn.Module, solos: Sequence[nn.Module]) -> nn.Module:
    """Copy K solo nets' parameters and buffers into `grouped` (member k from solos[k]); returns grouped."""
    states = [s.state_dict() for s in solos]
    for name, t in grouped.state_dict().items():
        parts = [state[name] for state in states]
        if _shared(t, parts[0]):
            t.copy_(parts[0])
        else:
            t.copy_(torch.stack(parts).reshape(t.shape))
    return grouped


@torch.no_grad()
def member_state_dicts(grouped: nn.Module, template: nn.Module, K: int) -> list:
    """The K members' solo state dicts, copied out of `grouped` (contiguous, in the template's layout)."""
    return [
        {
            name: t.detach().clone(memory_format=torch.contiguous_format)
            for name, t in member_state(grouped, template, k, K).items()
        }
        for k in range(K)
    ]
