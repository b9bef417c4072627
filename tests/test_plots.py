"""sandbox.plots: grids have the right shapes and values, interpolations hit their endpoints (slerp keeps the
norm of equal-norm endpoints), neighbour and pair panels line up, and drawing works on the Agg backend."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from sandbox import plots  # noqa: E402
from sandbox.nets import dcgan_generator  # noqa: E402


def _images(n, c=1, seed=0):
    return torch.rand(n, c, 28, 28, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_image_grid_shape_layout_and_values():
    x = _images(10)
    grid = plots.image_grid(x, nrow=4, pad=2)
    assert grid.shape == (3 * 30 + 2, 4 * 30 + 2) and grid.dtype == np.float32  # 3 rows of 4, last row short
    np.testing.assert_allclose(grid[2:30, 2:30], ((x[0, 0] + 1) / 2).numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(grid[32:60, 2:30], ((x[4, 0] + 1) / 2).numpy(), rtol=0, atol=1e-6)  # row 2 starts at 4
    assert float(grid[0, 0]) == pytest.approx(plots.PAD_VALUE) and float(grid[-5, -5]) == pytest.approx(plots.PAD_VALUE)
    assert 0.0 <= grid.min() and grid.max() <= 1.0
    rgb = plots.image_grid(_images(6, c=3), nrow=3, pad=0)
    assert rgb.shape == (56, 84, 3)
    with pytest.raises(ValueError, match=r"shape \(N, 1 or 3, H, W\)"):
        plots.image_grid(torch.zeros(4, 28, 28))
    with pytest.raises(ValueError, match="nrow must be >= 1"):
        plots.image_grid(x, nrow=0)


def test_sample_grid_and_scatter_draw_on_agg():
    fig, (a, b) = plt.subplots(1, 2)
    try:
        assert plots.sample_grid(a, _images(16), nrow=4, title="samples") is a
        assert a.images[0].get_array().shape == (4 * 30 + 2, 4 * 30 + 2)
        centres = torch.tensor([[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0]])
        assert plots.scatter_2d(b, torch.randn(100, 2), centres, title="ring") is b
        assert [c.get_offsets().shape for c in b.collections] == [(100, 2), (3, 2)]
        assert matplotlib.get_backend().lower() == "agg"
        with pytest.raises(ValueError, match=r"samples must have shape \(n, 2\)"):
            plots.scatter_2d(b, torch.randn(10, 3))
    finally:
        plt.close(fig)


def test_slerp_and_lerp_hit_the_endpoints_and_slerp_keeps_the_norm():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(3, 16, generator=g), torch.randn(3, 16, generator=g)
    z1 = z1 / z1.norm(dim=1, keepdim=True) * z0.norm(dim=1, keepdim=True)  # equal norms per pair
    t = torch.linspace(0, 1, 7)
    for path in (plots.lerp(z0, z1, t), plots.slerp(z0, z1, t)):
        assert path.shape == (3, 7, 16)
        torch.testing.assert_close(path[:, 0], z0)
        torch.testing.assert_close(path[:, -1], z1)
    norms = plots.slerp(z0, z1, t).norm(dim=2)
    torch.testing.assert_close(norms, z0.norm(dim=1, keepdim=True).expand(3, 7))
    assert bool((plots.lerp(z0, z1, t).norm(dim=2)[:, 3] < norms[:, 3]).all())  # the chord dips inside
    torch.testing.assert_close(plots.slerp(z0, 2 * z0, t), plots.lerp(z0, 2 * z0, t))  # parallel: the line


def test_interpolation_grid_rows_are_linear_then_spherical_and_g_mode_is_restored():
    G = dcgan_generator(z_dim=8, width=0.125, generator=torch.Generator().manual_seed(0)).train()
    g = torch.Generator().manual_seed(1)
    z0, z1 = torch.randn(2, 8, generator=g), torch.randn(2, 8, generator=g)
    imgs = plots.interpolation_images(G, z0, z1, steps=5)
    assert imgs.shape == (4, 5, 1, 28, 28) and G.training
    G.eval()
    with torch.no_grad():
        torch.testing.assert_close(imgs[0, 0], G(z0[:1])[0])  # pair 0, linear row, t = 0
        torch.testing.assert_close(imgs[1, -1], G(z1[:1])[0])  # pair 0, spherical row, t = 1
    grid = plots.interpolation_grid(G, z0, z1, steps=5)
    assert grid.shape == (4 * 30 + 2, 5 * 30 + 2)
    with pytest.raises(ValueError, match="steps must be >= 2"):
        plots.interpolation_grid(G, z0, z1, steps=1)


def test_neighbour_and_pair_grids_line_up():
    q, nb = _images(3), _images(12, seed=1).reshape(3, 4, 1, 28, 28)
    grid = plots.neighbour_grid(q, nb)
    assert grid.shape == (3 * 30 + 2, 5 * 30 + 2)
    np.testing.assert_allclose(grid[32:60, 2:30], ((q[1, 0] + 1) / 2).numpy(), rtol=0, atol=1e-6)  # query column
    np.testing.assert_allclose(grid[32:60, 32:60], ((nb[1, 0, 0] + 1) / 2).numpy(), rtol=0, atol=1e-6)
    pairs = _images(10, seed=2).reshape(5, 2, 1, 28, 28)
    pg = plots.pair_grid(pairs)
    assert pg.shape == (2 * 30 + 2, 5 * 30 + 2)
    np.testing.assert_allclose(pg[32:60, 62:90], ((pairs[2, 1, 0] + 1) / 2).numpy(), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match=r"neighbours must have shape \(3, k"):
        plots.neighbour_grid(q, nb[:2])
    with pytest.raises(ValueError, match=r"pairs must have shape \(k, 2"):
        plots.pair_grid(pairs[:, :1])
