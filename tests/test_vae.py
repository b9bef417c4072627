"""The VAE beside the GAN (sandbox/nets/vae.py) and the C5 image study that trains it (studies/vae_vs_gan.py)."""

import math
import shutil

import pytest
import torch
from _mnist import needs_mnist
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Bernoulli, Normal, kl_divergence
from torch.testing import assert_close

from sandbox.nets.vae import INIT_STD, negative_elbo, vae
from studies import vae_vs_gan as vg


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), batch=st.integers(1, 9), z_dim=st.integers(1, 6))
def test_negative_elbo_is_the_bernoulli_nll_at_the_reparameterised_z_plus_the_gaussian_kl(seed, batch, z_dim):
    model = vae(z_dim, 16, generator=torch.Generator().manual_seed(seed)).double()
    for p in model.parameters():  # scale the tiny init up, so the terms are far from their values at 0
        p.data.mul_(50.0)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.rand((batch, 1, 28, 28), generator=g, dtype=torch.float64)
    e = negative_elbo(model, x, torch.Generator().manual_seed(seed + 2))
    mu, logvar = model.encode(x)
    q = Normal(mu, torch.exp(0.5 * logvar))
    z = mu + torch.exp(0.5 * logvar) * torch.randn(
        mu.shape, generator=torch.Generator().manual_seed(seed + 2), dtype=mu.dtype
    )
    assert_close(
        e.kl, kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(1), rtol=1e-10, atol=1e-10
    )
    nll = -Bernoulli(logits=model.decode_logits(z), validate_args=False).log_prob(x.reshape(batch, -1)).sum(1)
    assert_close(e.reconstruction, nll, rtol=1e-10, atol=1e-9)
    assert_close(e.loss, e.reconstruction + e.kl, rtol=0, atol=0)


def test_the_init_is_kingma_and_welling_s_and_the_untrained_decoder_draws_mid_grey():
    model = vae(generator=torch.Generator().manual_seed(0))
    weights = torch.cat([m.weight.flatten() for m in model.modules() if isinstance(m, torch.nn.Linear)])
    assert_close(weights.std().item(), INIT_STD, rtol=0.01, atol=0)
    assert all(float(m.bias.detach().abs().max()) == 0.0 for m in model.modules() if isinstance(m, torch.nn.Linear))
    images = model(torch.randn(8, model.z_dim))
    assert images.shape == (8, 1, 28, 28)
    assert_close(images, torch.zeros_like(images), rtol=0, atol=0.05)  # sigmoid(~0) = 1/2: grey, 0 on [-1, 1]
    before = torch.get_rng_state()
    again = vae(generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), before)  # seeded construction leaves the global RNG alone
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_a_bad_size_is_refused_naming_it():
    with pytest.raises(ValueError, match="z_dim, hidden, pixels >= 1"):
        vae(0, 500)


SMALL = dict(vg.SCALES["smoke"], vae_steps=8, vae_every=4, n_elbo=200)


@needs_mnist
def test_a_killed_vae_fit_resumes_bit_identical_to_an_unbroken_one(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    whole, _, curve = vg.fit_vae(SMALL, 3, "cpu", tmp_path / "whole")
    assert [r["step"] for r in curve] == [0, 4, 8]
    assert curve[-1]["test_elbo"] < curve[0]["test_elbo"] - 50  # eight Adagrad steps at 0.02 leave the init's 543
    saves = []
    real_save = vg.save_checkpoint

    def save_then_die(state, path):
        real_save(state, path)
        saves.append(state["step"])
        raise KeyboardInterrupt  # killed right after the first mark's checkpoint

    monkeypatch.setattr(vg, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        vg.fit_vae(SMALL, 3, "cpu", tmp_path / "killed")
    assert saves == [4]
    monkeypatch.setattr(vg, "save_checkpoint", real_save)
    resumed, _, curve2 = vg.fit_vae(SMALL, 3, "cpu", tmp_path / "killed")
    assert curve2 == curve
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    copy = tmp_path / "copy"  # a finished fit is reused, not retrained
    shutil.copytree(tmp_path / "whole", copy)
    again, _, curve3 = vg.fit_vae(SMALL, 3, "cpu", copy)
    assert curve3 == curve and all(
        torch.equal(a, b) for a, b in zip(whole.state_dict().values(), again.state_dict().values())
    )
    with pytest.raises(ValueError, match="vae.pt holds a VAE of another config"):
        vg.fit_vae(dict(SMALL, vae_steps=12), 3, "cpu", copy)


def _stats(grey, confidence, recall, tv):
    return dict(grey=grey, confidence=confidence, recall=recall, class_tv=tv)


def _run(vae_stats, gan_stats, curve):
    stats = dict(
        vae=vae_stats,
        gan=gan_stats,
        vae_untrained=_stats(1.0, 0.99, 0.0, 0.9),
        gan_untrained=_stats(1.0, 0.99, 0.0, 0.9),
    )
    return dict(stats=stats, vae_curve=curve)


def test_the_checks_read_the_direction_the_claim_states_and_their_controls_fail_them():
    flat = [dict(step=s, test_elbo=100.0 + 400.0 * math.exp(-s / 30)) for s in range(0, 1001, 100)]  # plateaued
    falling = [dict(step=s, test_elbo=500.0 * (0.99**s)) for s in range(0, 1001, 100)]
    real = _stats(0.10, 0.99, 0.80, 0.01)
    averaging = _run(_stats(0.30, 0.80, 0.60, 0.02), _stats(0.05, 0.95, 0.40, 0.06), flat)
    checks, controls = vg.make_checks([averaging, averaging], real)
    assert checks == {name: True for name in checks} and len(checks) == 5
    assert not any(c["control_passes"] for c in controls.values())
    swapped = _run(_stats(0.05, 0.95, 0.40, 0.06), _stats(0.30, 0.80, 0.60, 0.02), falling)
    checks, _ = vg.make_checks([averaging, swapped], real)
    assert checks == {name: False for name in checks}  # "every seed" and "mean" both fail on the swapped seed
    assert vg.plateau_change(flat) == pytest.approx(1.0, abs=1e-6)
    assert vg.plateau_change(falling, last=False) == pytest.approx(0.99**-400, rel=1e-9)  # its trend over 400 steps
