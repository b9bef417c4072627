"""Figure helpers for the studies: image grids, latent interpolations, nearest-neighbour and duplicate-pair
panels, and 2-D mixture scatters. Matplotlib only, on the Agg backend: helpers draw into axes or return
arrays; nothing opens a window (no plt.show()).

Images are tensors (N, C, H, W) with C = 1 or 3 and values in [-1, 1], as generators and `to_unit` make them.
Grid arrays are float in [0, 1]: (H', W') for one channel, (H', W', 3) for three.
"""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import Tensor, nn  # noqa: E402

PAD_VALUE = 0.5  # grey separators: MNIST backgrounds are black and strokes white, so neither would show


def _check(images, what: str = "images") -> Tensor:
    x = torch.as_tensor(images)
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"{what} must have shape (N, 1 or 3, H, W), got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{what} is empty")
    return x


def image_grid(images, nrow: int = 8, pad: int = 2, pad_value: float = PAD_VALUE) -> np.ndarray:
    """Tile N images, nrow per row, into one array: (x + 1) / 2 clipped to [0, 1], `pad` pixels between tiles."""
    x = _check(images).detach().float().cpu()
    if nrow < 1 or pad < 0:
        raise ValueError(f"nrow must be >= 1 and pad >= 0, got nrow={nrow}, pad={pad}")
    n, c, h, w = x.shape
    rows = -(-n // nrow)
    out = np.full((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), pad_value, dtype=np.float32)
    tiles = ((x + 1.0) / 2.0).clamp(0.0, 1.0).numpy()
    for i in range(n):
        r, q = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + q * (w + pad)
        out[:, top : top + h, left : left + w] = tiles[i]
    return out[0] if c == 1 else out.transpose(1, 2, 0)


def show_grid(ax, grid: np.ndarray, title=None):
    """Draw a grid array on ax (grey colour map for one channel), axes hidden; returns ax."""
    ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def sample_grid(ax, images, nrow: int = 8, title=None, pad: int = 2):
    """Draw image_grid(images, nrow) on ax; returns ax."""
    return show_grid(ax, image_grid(images, nrow, pad), title)


def lerp(z0: Tensor, z1: Tensor, t: Tensor) -> Tensor:
    """(1 - t) z0 + t z1 for each t: (P, d), (P, d), (T,) -> (P, T, d)."""
    t = t.to(z0)[None, :, None]
    return (1.0 - t) * z0[:, None, :] + t * z1[:, None, :]


def slerp(z0: Tensor, z1: Tensor, t: Tensor) -> Tensor:
    """sin((1-t) w)/sin w z0 + sin(t w)/sin w z1, cos w = <z0, z1>/(|z0||z1|) (Shoemake 1985; White 2016)."""
    cos = torch.nn.functional.cosine_similarity(z0, z1, dim=1).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)[:, None, None]  # (P, 1, 1)
    t = t.to(z0)[None, :, None]
    sin = torch.sin(omega)
    # (near-)parallel endpoints: the great circle is undefined and the straight line is the limit
    safe = sin.abs() > 1e-6
    denom = torch.where(safe, sin, torch.ones_like(sin))
    a = torch.where(safe, torch.sin((1.0 - t) * omega) / denom, 1.0 - t)
    b = torch.where(safe, torch.sin(t * omega) / denom, t)
    return a * z0[:, None, :] + b * z1[:, None, :]


@torch.no_grad()
def interpolation_images(G: nn.Module, z0, z1, steps: int = 8) -> Tensor:
    """(2P, steps, C, H, W): G along lerp then slerp from z0[p] to z1[p], for each of P pairs, G in eval mode."""
    z0, z1 = torch.as_tensor(z0), torch.as_tensor(z1)
    z0, z1 = (z0[None] if z0.dim() == 1 else z0), (z1[None] if z1.dim() == 1 else z1)
    if z0.shape != z1.shape or z0.dim() != 2:
        raise ValueError(f"z0 and z1 must both be (d,) or (P, d), got {tuple(z0.shape)} and {tuple(z1.shape)}")
    if steps < 2:
        raise ValueError(f"steps must be >= 2 (both endpoints), got {steps}")
    t = torch.linspace(0.0, 1.0, steps)
    paths = torch.stack([lerp(z0, z1, t), slerp(z0, z1, t)], dim=1).reshape(-1, z0.shape[1])  # (P*2*T, d)
    was_training = G.training
    G.eval()  # BatchNorm running statistics: each image depends on its own z only
    try:
        x = G(paths)
    finally:
        G.train(was_training)
    return x.reshape(2 * z0.shape[0], steps, *x.shape[1:])


def interpolation_grid(G: nn.Module, z0, z1, steps: int = 8, pad: int = 2) -> np.ndarray:
    """Grid of latent interpolations: for each pair a linear row, then a spherical row, `steps` columns."""
    x = interpolation_images(G, z0, z1, steps)
    return image_grid(x.reshape(-1, *x.shape[2:]), steps, pad)


def neighbour_grid(queries, neighbours, pad: int = 2) -> np.ndarray:
    """One row per query: the (generated) query, then its k nearest (training) images; (n, C, H, W), (n, k, C, H, W)."""
    q, nb = _check(queries, "queries"), torch.as_tensor(neighbours)
    if nb.dim() != 5 or nb.shape[0] != q.shape[0] or nb.shape[2:] != q.shape[1:]:
        raise ValueError(
            f"neighbours must have shape ({q.shape[0]}, k, {', '.join(map(str, q.shape[1:]))}), got {tuple(nb.shape)}"
        )
    rows = torch.cat([q[:, None].to(nb), nb], dim=1)  # (n, 1 + k, C, H, W)
    return image_grid(rows.reshape(-1, *q.shape[1:]), rows.shape[1], pad)


def pair_grid(pairs, pad: int = 2) -> np.ndarray:
    """Closest pairs side by side: column j shows pair j, first image on the top row, second below; (k, 2, C, H, W)."""
    p = torch.as_tensor(pairs)
    if p.dim() != 5 or p.shape[1] != 2:
        raise ValueError(f"pairs must have shape (k, 2, C, H, W), got {tuple(p.shape)}")
    return image_grid(torch.cat([p[:, 0], p[:, 1]]), p.shape[0], pad)


def scatter_2d(ax, samples, centres=None, title=None, s: float = 2.0):
    """Scatter 2-D samples (n, 2), with the mixture centres (K, 2) as red crosses, equal aspect; returns ax."""
    x = np.asarray(torch.as_tensor(samples).detach().cpu(), dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"samples must have shape (n, 2), got {x.shape}")
    ax.scatter(x[:, 0], x[:, 1], s=s, alpha=0.5, linewidths=0, label="samples")
    if centres is not None:
        c = np.asarray(torch.as_tensor(centres).detach().cpu(), dtype=np.float64)
        if c.ndim != 2 or c.shape[1] != 2:
            raise ValueError(f"centres must have shape (K, 2), got {c.shape}")
        ax.scatter(c[:, 0], c[:, 1], s=30, c="red", marker="x", label="centres")
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax
