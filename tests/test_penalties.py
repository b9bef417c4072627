"""Penalties: exact values on linear critics for every registered penalty, per-sample norms, clipping, SN."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch.testing import assert_close

from sandbox.penalties import (
    PENALTIES,
    clip_weights_,
    dragan,
    grad_norm,
    make_penalty,
    r1,
    r1_r2,
    r2,
    spectral_norm_,
    wgan_gp,
)

SHAPES = [(3,), (5, 2), (4, 1, 6, 6), (2, 3, 5, 5)]  # scalar samples, 2-D points, images


def linear_critic(w: torch.Tensor):
    """D(x) = w . x per sample, for x of shape (B, *w.shape)."""
    return lambda x: (x * w).reshape(x.shape[0], -1).sum(dim=1)


# Each registered penalty on D(x) = w.x, as a function of ||w|| (the gradient is w everywhere).
LINEAR_VALUE = {
    "none": lambda norm: 0.0,
    "r1": lambda norm: 10.0 / 2 * norm**2,  # default gamma = 10
    "r2": lambda norm: 10.0 / 2 * norm**2,
    "r1_r2": lambda norm: 10.0 / 2 * norm**2 + 10.0 / 2 * norm**2,  # R1 on the real plus R2 on the fake sample
    "wgan_gp": lambda norm: 10.0 * (norm - 1.0) ** 2,  # default lam = 10
    "dragan": lambda norm: 10.0 * (norm - 1.0) ** 2,
}


def test_registry_lists_the_required_penalties():
    assert {"none", "r1", "r2", "r1_r2", "wgan_gp", "dragan"} <= set(PENALTIES)
    assert set(LINEAR_VALUE) == set(PENALTIES)  # every registered penalty has its closed form below


def test_unknown_penalty_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown penalty 'gp'; valid names: dragan, none, r1, r1_r2, r2, wgan_gp"):
        make_penalty("gp")


@pytest.mark.parametrize("name", sorted(PENALTIES))
def test_penalties_are_records_that_know_their_weight_and_randomness(name):
    pen = make_penalty(name, 0.7)
    assert pen.name == name and pen.source
    assert pen.weight == (0.0 if name == "none" else 0.7)
    assert pen.random == (name in ("wgan_gp", "dragan"))  # the two that draw mixes or noise


def test_r1_r2_is_the_sum_of_r1_and_r2_per_pair():
    w = torch.tensor([1.0, -2.0], dtype=torch.float64)
    D = lambda x: (x**2 * w).sum(dim=1)  # gradient 2 w x: differs between the real and the fake sample
    g = torch.Generator().manual_seed(3)
    real, fake = (
        torch.randn(5, 2, generator=g, dtype=torch.float64),
        torch.randn(5, 2, generator=g, dtype=torch.float64),
    )
    both = r1_r2(0.4)(D, real, fake)
    assert_close(both, r1(0.4)(D, real, fake) + r2(0.4)(D, real, fake))
    assert_close(both, 0.2 * ((2 * w * real) ** 2).sum(1) + 0.2 * ((2 * w * fake) ** 2).sum(1))


@pytest.mark.parametrize("name", sorted(PENALTIES))
@pytest.mark.parametrize("sample_shape", [s[1:] for s in SHAPES] + [()])
@given(seed=st.integers(0, 1000), batch=st.integers(1, 9))
def test_linear_critic_gives_the_closed_form_for_any_batch(name, sample_shape, seed, batch):
    g = torch.Generator().manual_seed(seed)
    w = (
        torch.randn(sample_shape, generator=g, dtype=torch.float64)
        if sample_shape
        else torch.tensor(1.7, dtype=torch.float64)
    )
    real = torch.randn((batch,) + tuple(sample_shape), generator=g, dtype=torch.float64)
    fake = torch.randn((batch,) + tuple(sample_shape), generator=g, dtype=torch.float64)
    terms = make_penalty(name)(linear_critic(w), real, fake, g)
    expected = LINEAR_VALUE[name](float(torch.linalg.vector_norm(w)))
    assert terms.shape == (batch,)
    assert_close(terms, torch.full((batch,), expected, dtype=torch.float64), rtol=1e-12, atol=1e-12)


def test_r1_weight_convention_is_gamma_over_two():
    w = torch.tensor([3.0, 4.0], dtype=torch.float64)  # ||w|| = 5
    x = torch.zeros(6, 2, dtype=torch.float64)
    assert_close(r1(0.3)(linear_critic(w), x, x), torch.full((6,), 0.3 / 2 * 25, dtype=torch.float64))
    assert_close(r2(2.0)(linear_critic(w), x, x), torch.full((6,), 25.0, dtype=torch.float64))


def test_wgan_gp_variants_on_a_linear_critic():
    w = torch.tensor([0.6, 0.0, 0.0], dtype=torch.float64)  # ||w|| = 0.6 < 1
    x = torch.randn(4, 3, dtype=torch.float64)
    D = linear_critic(w)
    assert_close(wgan_gp(2.0)(D, x, x), torch.full((4,), 2.0 * 0.16, dtype=torch.float64))
    assert_close(wgan_gp(2.0, center=0.0)(D, x, x), torch.full((4,), 2.0 * 0.36, dtype=torch.float64))
    assert_close(wgan_gp(2.0, one_sided=True)(D, x, x), torch.zeros(4, dtype=torch.float64))
    w2 = torch.tensor([3.0, 4.0, 0.0], dtype=torch.float64)
    assert_close(wgan_gp(2.0, one_sided=True)(linear_critic(w2), x, x), torch.full((4,), 32.0, dtype=torch.float64))


def test_norm_is_per_sample_not_per_pixel_or_per_batch():
    """Anchor bug: GP norms over the wrong axes. D(x) = 1/2 (w.x)^2 has per-sample gradient (w.x) w."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(1, 4, 4, generator=g, dtype=torch.float64)
    x = torch.randn(5, 1, 4, 4, generator=g, dtype=torch.float64)
    D = lambda z: 0.5 * (z * w).reshape(z.shape[0], -1).sum(1) ** 2
    s = (x * w).reshape(5, -1).sum(1)
    expected = s.abs() * torch.linalg.vector_norm(w)
    assert_close(grad_norm(D, x), expected)
    assert expected.std() > 0.1  # the samples really differ, so a batch-wide norm would fail


def test_one_random_mix_per_sample():
    """x_hat lies on the segment between its own real and fake sample, with one e per sample."""
    seen = {}

    def D(x):
        seen["x_hat"] = x.detach()
        return x.reshape(x.shape[0], -1).sum(1)

    real = torch.zeros(64, 2, 3, 3)
    fake = torch.ones(64, 2, 3, 3)
    wgan_gp()(D, real, fake, torch.Generator().manual_seed(3))
    x_hat = seen["x_hat"]
    per_sample = x_hat.reshape(64, -1)
    assert_close(per_sample, per_sample[:, :1].expand(-1, 18))  # constant within a sample
    assert per_sample[:, 0].std() > 0.2  # different across samples
    assert float(per_sample.min()) >= 0.0 and float(per_sample.max()) <= 1.0


def test_penalty_gradient_reaches_the_critic_parameters():
    w = torch.tensor([3.0, 4.0], dtype=torch.float64, requires_grad=True)
    x = torch.randn(8, 2, dtype=torch.float64)
    loss = r1(0.5)(linear_critic(w), x, x).mean()
    (grad,) = torch.autograd.grad(loss, w)
    assert_close(grad, 0.5 * w.detach())  # d/dw gamma/2 ||w||^2 = gamma w


def test_toy_scalar_critic_one_per_game():
    psi = torch.tensor([0.0, 1.0, -2.0], dtype=torch.float64, requires_grad=True)
    D = lambda x: psi * x
    zeros = torch.zeros(3, dtype=torch.float64)
    assert_close(r1(0.3)(D, zeros, zeros), 0.15 * psi.detach() ** 2)


def test_penalties_run_in_fp32_under_autocast():
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 1), nn.Flatten(0))
    x = torch.randn(4, 1, 4, 4)
    exact = r1(1.0)(net, x, x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cast = r1(1.0)(net, x, x)
    assert cast.dtype == torch.float32
    assert_close(cast, exact)


def test_dragan_options():
    w = torch.tensor([2.0], dtype=torch.float64)
    x = torch.randn(5, 1, dtype=torch.float64)
    uniform = dragan(noise="uniform")(linear_critic(w), x, x, torch.Generator().manual_seed(0))
    assert_close(uniform, torch.full((5,), 10.0, dtype=torch.float64))
    with pytest.raises(ValueError, match="unknown DRAGAN noise 'laplace'"):
        dragan(noise="laplace")


def test_clipping_is_a_projection_onto_the_box():
    p = torch.tensor([-0.5, -0.005, 0.0, 0.003, 2.0])
    clip_weights_([p], 0.01)
    assert_close(p, torch.tensor([-0.01, -0.005, 0.0, 0.003, 0.01]))


def test_spectral_norm_helper_normalises_every_layer():
    torch.manual_seed(0)
    net = spectral_norm_(
        nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 1)), n_power_iterations=50
    )
    net.train()
    net(torch.randn(2, 1, 6, 6))  # power iterations run in train mode
    for layer in (net[0], net[3]):
        assert hasattr(layer, "parametrizations")
        sigma = torch.linalg.matrix_norm(layer.weight.reshape(layer.weight.shape[0], -1), ord=2)
        assert float(sigma.detach()) == pytest.approx(1.0, abs=1e-3)
    assert math.isfinite(float(net(torch.randn(1, 1, 6, 6)).detach()))
