"""sandbox.evaluation.probe: G's gradient norms under each G loss, a fresh D against a frozen G, the run cache."""

import numpy as np
import pytest
import torch
from scipy.special import expit
from torch import nn
from torch.testing import assert_close

from sandbox.dynamics import optimiser_step
from sandbox.evaluation import probe
from sandbox.nets import mlp_discriminator
from sandbox.objectives import get_objective
from sandbox.trainer import probes
from sandbox.trainer.config import make_config
from sandbox.trainer.loop import make_run, run_steps


class Shift(nn.Module):
    """G(z) = theta + z in 2-D."""

    def __init__(self, theta):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor(theta, dtype=torch.float64))

    def forward(self, z):
        return self.theta + z


class Linear(nn.Module):
    """D(x) = w.x + b, one logit per row."""

    def __init__(self, w, b):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))
        self.b = nn.Parameter(torch.tensor(b, dtype=torch.float64))

    def forward(self, x):
        return x @ self.w + self.b


def test_c6_generator_grad_norms_against_the_closed_form():
    """d/dtheta mean log(1 - D) = -mean(D) w and d/dtheta mean(-log D) = -mean(1 - D) w for a linear D and a shift G."""
    G, D = Shift([-3.0, 1.0]), Linear([1.5, -0.5], 0.2)
    z = torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    norms = probe.generator_grad_norms(G, D, z)
    t = (np.array([-3.0, 1.0]) + z.numpy()) @ np.array([1.5, -0.5]) + 0.2
    w_norm = np.linalg.norm([1.5, -0.5])
    assert norms["minimax"] == pytest.approx(expit(t).mean() * w_norm, rel=1e-10)
    assert norms["nonsaturating"] == pytest.approx((1 - expit(t)).mean() * w_norm, rel=1e-10)


def test_c6_logit_gradients_are_minus_d_and_minus_one_minus_d():
    t = torch.linspace(-30, 10, 41, dtype=torch.float64)
    assert_close(probe.logit_gradients(t, get_objective("minimax")), torch.as_tensor(-expit(t.numpy())))
    assert_close(probe.logit_gradients(t, get_objective("nonsaturating")), torch.as_tensor(-(1 - expit(t.numpy()))))


def test_accuracy_counts_both_sides_at_d_one_half():
    real, fake = torch.tensor([2.0, -1.0, 0.5, 3.0]), torch.tensor([-2.0, -0.1, 1.0, 4.0])
    assert probe.accuracy(real, fake) == pytest.approx(0.5 * (3 / 4 + 2 / 4))


def test_log_iterations_and_orders_of_decay():
    its = probe.log_iterations(4000, 6)
    assert its[:3] == [0, 1, 2] and its[-1] == 4000 and its == sorted(set(its))
    assert probe.log_iterations(0) == [0]
    assert probe.orders_of_decay([5.0, 1.0, 5e-3]) == pytest.approx(3.0)
    assert probe.orders_of_decay([1.0, 10.0]) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="positive values"):
        probe.orders_of_decay([1.0, 0.0])
    with pytest.raises(ValueError, match="n >= 0"):
        probe.log_iterations(-1)


def _fresh_d_setup():
    gen = torch.Generator().manual_seed(1)
    G = Shift([-4.0, 0.0]).float()
    D = mlp_discriminator(in_dim=2, hidden=32, depth=2, generator=torch.Generator().manual_seed(2))
    real = lambda: torch.randn(64, 2, generator=gen) * 0.5 + torch.tensor([4.0, 0.0])
    noise = lambda: torch.randn(64, 2, generator=gen) * 0.5
    eval_real, eval_z = real(), noise()
    step = optimiser_step(torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999)))
    return G, D, real, noise, step, eval_real, eval_z


def test_c7_fresh_d_makes_the_saturating_gradient_vanish_and_leaves_g_frozen():
    G, D, real, noise, step, eval_real, eval_z = _fresh_d_setup()
    theta0 = G.theta.detach().clone()
    log = probe.train_d_against_fixed_g(G, D, real, noise, step, 300, [0, 300], eval_real, eval_z, keep_logits=5)
    assert log["iteration"] == [0, 300]
    norms = log["grad_norm"]
    assert probe.orders_of_decay(norms["minimax"]) > 0.5  # D(G(z)) -> 0 takes the gradient with it
    assert probe.orders_of_decay(norms["nonsaturating"]) < -1.0  # -log D's grows as D sharpens
    assert norms["nonsaturating"][0] / norms["minimax"][0] == pytest.approx(1.0, abs=0.1)  # D unsure at init
    assert norms["nonsaturating"][-1] / norms["minimax"][-1] > 100.0
    assert log["accuracy"][-1] == pytest.approx(1.0)
    assert len(log["fake_logits"]) == 2 and len(log["fake_logits"][0]) == 5
    assert_close(G.theta.detach(), theta0, rtol=0, atol=0)  # G is never stepped


def test_train_d_rejects_probe_iterations_outside_the_run():
    G, D, real, noise, step, eval_real, eval_z = _fresh_d_setup()
    with pytest.raises(ValueError, match=r"probe iterations must lie in \[0, 10\]"):
        probe.train_d_against_fixed_g(G, D, real, noise, step, 10, [0, 11], eval_real, eval_z)


def test_advance_continues_a_cached_run_bit_for_bit():
    cfg = make_config(dict(data="ring", g_width=0.125, d_width=0.125, z_dim=4, batch=16, device="cpu", progress=False))
    runs = {}
    probes.advance(cfg, 3, runs)
    cached = probes.advance(cfg, 6, runs)
    fresh = make_run(cfg)
    run_steps(fresh, 6)
    assert cached.state["step"] == 6 and len(runs) == 1
    for a, b in zip(cached.G.parameters(), fresh.G.parameters()):
        assert_close(a, b, rtol=0, atol=0)
