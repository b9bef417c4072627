"""The trainer: config layers and presets, the Dirac-GAN through the loop against `dynamics.simulate` (C8),
the training features (clipping, lazy R1, instance noise, EMA, bf16 autocast, compile), and CLI runs on the
ring of 8 Gaussians and on MNIST."""

import dataclasses
import functools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

from sandbox.data import MNIST_MD5
from sandbox.devices import cpu_count
from sandbox.dynamics import ema_beta, gd, make_rule, simulate
from sandbox.games import dirac_gan
from sandbox.nets import dcgan_discriminator, dcgan_generator, mlp_discriminator, mlp_generator, param_count
from sandbox.objectives import get_objective
from sandbox.penalties import grad_norm_sq, make_penalty
from sandbox.trainer import config as C
from sandbox.trainer.loop import make_run, run_steps, train
from sandbox.trainer.presets import PRESET_NOTES
from sandbox.trainer.schedule import cosine, hyper_at

REPO = Path(__file__).resolve().parent.parent
TINY_RING = dict(data="ring", g_width=0.25, d_width=0.25, z_dim=8, batch=32, progress=False)


def cfg_of(**overrides) -> C.Config:
    return C.make_config(overrides)


def cli(*args, timeout=240, env=None):
    """python -m sandbox.trainer ARGS in a subprocess from the repo root; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "sandbox.trainer", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


# ------------------------------------------------------------------------------------------------- config
PAPER_PRESETS = {
    "wgan": dict(
        objective="wasserstein",
        penalty="none",
        optimiser="rmsprop",
        lr_g=5e-5,
        lr_d=5e-5,
        clip=0.01,
        n_critic=5,
        critic_schedule="wgan",  # the official code's Diters (main.py), on by default in the preset
        batch=64,
        rule="alternating",
        momentum=0.0,
        ema_half_life=0.0,
    ),
    "wgan-gp": dict(
        objective="wasserstein",
        penalty="wgan_gp",
        penalty_weight=10.0,
        penalty_every=1,
        n_critic=5,
        optimiser="adam",
        lr_g=1e-4,
        lr_d=1e-4,
        betas=(0.0, 0.9),
        batch=64,
        clip=0.0,
        batchnorm_d=False,
        rule="alternating",
    ),
    "dcgan": dict(
        objective="nonsaturating",
        penalty="none",
        optimiser="adam",
        lr_g=2e-4,
        lr_d=2e-4,
        betas=(0.5, 0.999),
        batch=128,
        n_critic=1,
        clip=0.0,
        rule="alternating",
    ),
    "r1": dict(
        objective="nonsaturating",
        penalty="r1",
        penalty_weight=20.0,  # GAN_stability's reg_param 10 multiplies E||grad||^2 without our 1/2
        penalty_every=1,
        optimiser="rmsprop",
        lr_g=1e-4,
        lr_d=1e-4,
        batch=64,
        n_critic=1,
        clip=0.0,
        momentum=0.0,
    ),
    "r3gan": dict(  # the official code's presets (train.py) and Table 3's Stacked MNIST gamma and batch
        objective="rpgan",
        penalty="r1_r2",
        penalty_weight=1.0,
        optimiser="adam",
        lr_g=2e-4,
        lr_d=2e-4,
        betas=(0.0, 0.9),
        batch=512,
        n_critic=1,
        clip=0.0,
        rule="alternating",
        batchnorm_d=False,
        schedule_kimg=10_000.0,  # Table 3's 10 Mimg: gamma reaches the stated 0.1
        lr_decay=0.25,  # 2e-4 -> 5e-5
        beta2_final=0.99,
        penalty_decay=0.1,  # gamma 1 -> 0.1
    ),
}


@pytest.mark.parametrize("name", sorted(PAPER_PRESETS))
def test_presets_set_the_paper_values(name):
    cfg = C.make_config(C.preset(name))
    for key, value in PAPER_PRESETS[name].items():
        assert getattr(cfg, key) == pytest.approx(value), key


def test_r1_preset_matches_gan_stabilitys_penalty_strength():
    """GAN_stability adds reg_param * E||grad_x D||^2 (reg_param 10); our r1(gamma) adds gamma/2 E||grad||^2."""
    cfg = C.make_config(C.preset("r1"))
    D = lambda x: (x * torch.tensor([3.0, 4.0], dtype=torch.float64)).sum(1)  # ||grad_x D|| = 5 everywhere
    x = torch.zeros(8, 2, dtype=torch.float64)
    ours = make_penalty(cfg.penalty, cfg.penalty_weight)(D, x, x).mean()
    assert float(ours) == pytest.approx(10.0 * 25.0, rel=1e-12)


@pytest.mark.parametrize("g_step,expected", [(0, 100), (24, 100), (25, 5), (499, 5), (500, 100), (501, 5), (1000, 100)])
def test_wgan_critic_schedule_is_the_official_diters(g_step, expected):
    from sandbox.trainer.parts import wgan_critic_steps

    assert wgan_critic_steps(g_step, 5) == expected


def test_wgan_preset_runs_the_diters_schedule_through_the_trainer():
    """30 G steps of the wgan preset take 25 x 100 + 5 x 5 = 2525 D steps; the constant schedule 30 x 5 = 150."""
    for schedule, d_steps in (("wgan", 25 * 100 + 5 * 5), ("constant", 30 * 5)):
        run = make_run(C.make_config(C.preset("wgan"), dict(TINY_RING, critic_schedule=schedule)))
        run_steps(run, 30)
        assert run.state["clock"]["d_steps"] == d_steps, schedule
    with pytest.raises(ValueError, match="critic_schedule='wgan' applies to the alternating rule only"):
        C.make_config(C.preset("wgan"), dict(TINY_RING, rule="simultaneous", n_critic=1))


def test_r1_preset_ema_half_life_is_beta_0999():
    h = C.make_config(C.preset("r1")).ema_half_life
    assert h == pytest.approx(692.8, abs=0.05)
    assert ema_beta(h) == pytest.approx(0.999, rel=1e-12)


def test_defaults_are_dcgan_settings_and_unknown_preset_lists_presets():
    default, dcgan = C.Config(), C.make_config(C.preset("dcgan"))
    keys = PAPER_PRESETS["dcgan"]
    assert {k: getattr(default, k) for k in keys} == {k: getattr(dcgan, k) for k in keys}
    with pytest.raises(ValueError, match="unknown preset 'wgangp'; valid names: dcgan, r1, r3gan, wgan, wgan-gp"):
        C.preset("wgangp")


def test_layers_preset_then_toml_then_cli(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('lr_d = 3e-4\nbatch = 32\nbetas = [0.1, 0.8]\nobjective = "hinge"\nd_first = false\n')
    layers = C.parse_layers(["--preset", "wgan-gp", "--config", str(toml), "--batch", "16", "--d-first"])
    cfg = C.make_config(*layers)
    # TOML over preset, CLI over TOML
    assert (cfg.lr_d, cfg.lr_g, cfg.batch, cfg.betas) == (3e-4, 1e-4, 16, (0.1, 0.8))
    assert (cfg.objective, cfg.penalty, cfg.n_critic, cfg.d_first) == ("hinge", "wgan_gp", 5, True)
    assert C.make_config(*C.parse_layers(["--no-batchnorm-g"])).batchnorm_g is False


def test_unknown_toml_key_names_it_and_suggests_the_closest_field(tmp_path):
    toml = tmp_path / "typo.toml"
    toml.write_text("n_critc = 5\n")
    with pytest.raises(
        ValueError,
        match=r"unknown config key 'n_critc' in .*typo.toml\. Did you mean 'n_critic'\?"
        r" Valid fields: data, data_dir",
    ):
        C.load_toml(toml)
    toml.write_text("penalty_wieght = 1.0\n")
    with pytest.raises(ValueError, match="Did you mean 'penalty_weight'"):
        C.load_toml(toml)


def test_toml_values_must_have_the_field_type(tmp_path):
    toml = tmp_path / "bad.toml"
    toml.write_text('batch = "64"\n')
    with pytest.raises(ValueError, match=r"config key 'batch': expected int, got '64'"):
        C.load_toml(toml)
    toml.write_text("betas = [0.5]\n")
    with pytest.raises(ValueError, match=r"config key 'betas': expected tuple of 2 numbers"):
        C.load_toml(toml)


@pytest.mark.parametrize(
    "overrides,message",
    [
        (dict(objective="wgan"), "unknown objective 'wgan'; valid names: .*wasserstein"),
        (dict(penalty="gp"), "unknown penalty 'gp'; valid names: dragan, none, r1, r1_r2, r2, wgan_gp"),
        (dict(rule="simultaneous", n_critic=5), "n_critic=5 applies to the alternating rule only"),
        (dict(data="mnist", net="mlp"), "net 'mlp' does not fit data 'mnist'"),
        (dict(batch=0), "batch must be at least 1"),
        (dict(lr_d=0.0), "lr_d must be positive"),
        (dict(device="tpu"), "unknown device 'tpu'"),
    ],
)
def test_invalid_configs_are_named(overrides, message):
    with pytest.raises(ValueError, match=message):
        cfg_of(**overrides)


def test_help_is_generated_from_the_fields_and_grouped():
    text = C.build_parser().format_help()
    for group in C.GROUPS:
        assert f"\n{group}:\n" in text
    assert "--no-batchnorm-d" in text and "--lr-g LR_G" in text and "--betas X X" in text
    assert "[default: 0.0002]" in text and "Radford et al. 2016" in text
    assert all(f.metadata["help"] for f in dataclasses.fields(C.Config))
    assert sorted(PRESET_NOTES) == sorted(C.PRESETS) and "presets (--preset NAME):\n  wgan: Arjovsky" in text


# ------------------------------------------------------------------------------------------ Dirac-GAN (C8)
DIRAC_CASES = [("simultaneous", 1), ("alternating", 1), ("alternating", 5), ("extragradient", 1), ("optimistic", 1)]


def dirac_cfg(rule, n_d, penalty, batch, **extra):
    values = dict(
        data="dirac",
        dtype="float64",
        optimiser="sgd",
        lr_g=0.2,
        lr_d=0.2,
        rule=rule,
        n_critic=n_d,
        penalty=penalty,
        penalty_weight=0.3,
        batch=batch,
        theta0=1.0,
        psi0=1.0,
        progress=False,
    )
    return cfg_of(**{**values, **extra})


def trainer_trajectory(cfg, steps):
    run = make_run(cfg)
    frames = [torch.cat([run.G.theta.detach(), run.D.psi.detach()]).clone()]
    for _ in range(steps):
        run_steps(run, 1)
        frames.append(torch.cat([run.G.theta.detach(), run.D.psi.detach()]).clone())
    return torch.stack(frames)  # (steps + 1, 2) float64


def simulated(rule, n_d, penalty, steps=50):
    game = dirac_gan([1.0], [1.0], get_objective("nonsaturating"), make_penalty(penalty, 0.3))
    rule_fn = make_rule(rule, **(dict(n_d=n_d) if rule == "alternating" else {}))
    return simulate(game, rule_fn, gd(0.2), gd(0.2), steps, record_every=1)


@pytest.mark.parametrize("rule,n_d", DIRAC_CASES)
@pytest.mark.parametrize("penalty", ["none", "r1"])
def test_c8_dirac_gan_through_the_trainer_equals_simulate_bitwise(rule, n_d, penalty):
    # Batch 1: the trainer's batch means are then exact, so torch.optim.SGD on the nets = gd on dirac_gan, bit for bit.
    ours = trainer_trajectory(dirac_cfg(rule, n_d, penalty, batch=1), 50)
    tr = simulated(rule, n_d, penalty)
    assert torch.equal(ours[-1], tr.final[0])  # float64, bit for bit
    assert torch.equal(ours.float(), tr.z[:, 0])  # every step (simulate stores float32 frames)
    assert not torch.equal(ours[0], ours[-1])


@pytest.mark.parametrize("rule,n_d", [("simultaneous", 1), ("alternating", 5)])
@pytest.mark.parametrize("batch", [7, 64])
def test_c8_dirac_gan_with_a_batch_matches_simulate_to_1e12(rule, n_d, batch):
    ours = trainer_trajectory(dirac_cfg(rule, n_d, "r1", batch=batch), 50)  # means of B copies round differently
    tr = simulated(rule, n_d, "r1")
    assert_close(ours[-1], tr.final[0], rtol=0, atol=1e-12)
    assert_close(ours.float(), tr.z[:, 0], rtol=1e-6, atol=1e-7)


def test_c8_dirac_gan_full_training_loop_keeps_the_trajectory(tmp_path):
    cfg = dirac_cfg(
        "alternating", 1, "r1", batch=1, steps=30, out=str(tmp_path), log_every=7, ckpt_every=10, nan_check_every=3
    )
    summary = train(cfg)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    tr = simulate(
        dirac_gan([1.0], [1.0], get_objective("nonsaturating"), make_penalty("r1", 0.3)),
        make_rule("alternating"),
        gd(0.2),
        gd(0.2),
        30,
    )
    assert torch.equal(torch.cat([state["G"]["theta"], state["D"]["psi"]]), tr.final[0])
    assert (summary["params_G"], summary["params_D"], summary["step"]) == (1, 1, 30)


# ------------------------------------------------------------------------------------------ loop features
def test_wgan_clipping_is_a_projection_of_every_critic_parameter():
    run = make_run(C.make_config(C.preset("wgan"), TINY_RING))
    run_steps(run, 3)
    for p in run.D.parameters():
        assert p.abs().max().item() <= 0.01
    assert max(p.abs().max().item() for p in run.D.parameters()) == pytest.approx(0.01)
    assert run.state["clock"]["d_steps"] == 300  # the Diters schedule: 100 critic steps for each of the first 25


def test_lazy_r1_applies_gain_k_on_every_kth_d_step():
    gamma, k = 0.3, 4
    run = make_run(dirac_cfg("alternating", 1, "r1", batch=1, penalty_every=k))
    losses = [run.game.loss_y().item() for _ in range(2 * k)]  # theta = psi = 1, nothing moves
    plain = losses[1]  # d_real(0) + d_fake(1), no penalty
    expected = [plain + (k * gamma / 2 if i % k == 0 else 0.0) for i in range(2 * k)]  # R1 = gamma/2 psi^2
    assert losses == pytest.approx(expected, rel=1e-12)
    assert run.state["clock"]["d_steps"] == 2 * k


def test_cosine_schedule_runs_from_base_to_final_and_stays():
    """R3GAN's cosine_decay_with_warmup without warm-up: base at 0, the mean of the two halfway, final from T on."""
    T = 20e6
    values = [cosine(2e-4, 5e-5, t, T) for t in (0.0, T / 4, T / 2, T, 2 * T)]
    quarter = 5e-5 + 1.5e-4 * 0.5 * (1 + math.cos(math.pi / 4))
    assert values == pytest.approx([2e-4, quarter, 1.25e-4, 5e-5, 5e-5], rel=1e-12)


def test_the_schedule_sets_both_optimisers_and_the_penalty_gain_each_step():
    cfg = C.make_config(TINY_RING, dict(penalty="r1_r2", penalty_weight=1.0, betas=(0.0, 0.9)))
    cfg = dataclasses.replace(cfg, schedule_kimg=0.32, lr_decay=0.25, beta2_final=0.99, penalty_decay=0.1)
    run = make_run(cfg)  # 32 images a step: the schedule ends after 10 steps
    run_steps(run, 3)  # the third step ran at step index 2, after 64 images
    frac = 0.5 * (1 - math.cos(math.pi * 64 / 320))
    for opt, lr in ((run.opt_g, cfg.lr_g), (run.opt_d, cfg.lr_d)):
        assert opt.param_groups[0]["lr"] == pytest.approx(lr + (0.25 * lr - lr) * frac, rel=1e-12)
        assert opt.param_groups[0]["betas"] == pytest.approx((0.0, 0.9 + 0.09 * frac), rel=1e-12)
    assert run.state["clock"]["penalty_gain"] == pytest.approx(1 - 0.9 * frac, rel=1e-12)
    run_steps(run, 20)
    assert run.opt_g.param_groups[0]["lr"] == pytest.approx(0.25 * cfg.lr_g, rel=1e-12)
    assert run.opt_d.param_groups[0]["betas"][1] == pytest.approx(0.99, rel=1e-12)


def test_metrics_rows_carry_the_scheduled_values_and_unscheduled_rows_none(tmp_path):
    base = dict(TINY_RING, penalty="r1", penalty_weight=1.0, steps=4, log_every=2, sample_every=0)
    sched = dict(schedule_kimg=0.064, lr_decay=0.25, penalty_decay=0.1)  # 64 images: the end after 2 steps
    for name, extra in (("plain", {}), ("scheduled", sched)):
        train(C.make_config(base, extra, dict(out=str(tmp_path / name))))
    rows = [json.loads(x) for x in (tmp_path / "scheduled" / "metrics.jsonl").read_text().splitlines()]
    cfg = C.make_config(base, sched)
    assert [r["schedule"] for r in rows] == [hyper_at(cfg, 1)._asdict(), hyper_at(cfg, 3)._asdict()]
    # logged at step indices 1 (32 images: halfway) and 3 (96: past the end)
    assert [r["schedule"]["penalty_gain"] for r in rows] == pytest.approx([0.55, 0.1], rel=1e-12)
    plain = [json.loads(x) for x in (tmp_path / "plain" / "metrics.jsonl").read_text().splitlines()]
    assert [("schedule" in r) for r in plain] == [False, False]


def test_a_schedule_whose_ends_equal_its_starts_changes_nothing_bitwise():
    """The plumbing alone (values reset every step, the gain multiplied in) leaves the run bit-identical; the
    control, a schedule that moves, does not."""
    base = C.make_config(TINY_RING, dict(penalty="r1", penalty_weight=1.0))

    def params_after(**schedule):
        run = make_run(dataclasses.replace(base, **schedule))
        run_steps(run, 6)
        return [p.detach().clone() for p in [*run.G.parameters(), *run.D.parameters()]]

    plain = params_after()
    flat = params_after(schedule_kimg=0.1, lr_decay=1.0, beta2_final=base.betas[1], penalty_decay=1.0)
    moving = params_after(schedule_kimg=0.1, lr_decay=1.0, penalty_decay=0.1)
    assert all(torch.equal(a, b) for a, b in zip(plain, flat))
    assert not all(torch.equal(a, b) for a, b in zip(plain, moving))


def test_the_penalty_gain_scales_the_penalty_in_the_d_loss():
    """network_game adds gain * gamma/2 E||grad_x D(real)||^2: at gain 1 the excess over gain 0 is R1 on the same
    real batch, at gain 0.5 half of it."""
    gamma = 3.0
    run = make_run(C.make_config(TINY_RING, dict(penalty="r1", penalty_weight=gamma)))

    def reseed():
        for g in run.gens.values():  # the same batches for every evaluation
            g.manual_seed(7)

    def d_loss(gain):
        run.state["clock"]["penalty_gain"] = gain
        reseed()
        return run.game.loss_y().item()

    reseed()
    real = run.source.sample(run.cfg.batch, run.gens["data"])  # the game's first draw: its real batch
    r1 = 0.5 * gamma * grad_norm_sq(run.D, real).mean().item()
    unpenalised = d_loss(0.0)
    assert [d_loss(1.0) - unpenalised, d_loss(0.5) - unpenalised] == pytest.approx([r1, 0.5 * r1], rel=1e-5)


def test_instance_noise_reaches_both_inputs_of_d():
    cfg = dirac_cfg("alternating", 1, "none", batch=4096, instance_noise=0.5, theta0=2.0)
    run = make_run(cfg)
    seen = []
    run.D.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0].detach()))
    run.game.loss_y()
    real, fake = seen
    assert real.mean().item() == pytest.approx(0.0, abs=0.03) and real.std().item() == pytest.approx(0.5, rel=0.05)
    assert fake.mean().item() == pytest.approx(2.0, abs=0.03) and fake.std().item() == pytest.approx(0.5, rel=0.05)


def test_ema_of_g_is_a_half_life_average():
    h, steps = 3.0, 12
    run = make_run(dirac_cfg("alternating", 1, "none", batch=1, ema_half_life=h))
    thetas = [run.G.theta.item()]
    for _ in range(steps):
        run_steps(run, 1)
        thetas.append(run.G.theta.item())
    beta = 0.5 ** (1 / h)
    # Closed form of the recursion started at theta_0: beta^n theta_0 + sum_k (1 - beta) beta^(n-k) theta_k.
    expected = beta**steps * thetas[0] + sum((1 - beta) * beta ** (steps - k) * thetas[k] for k in range(1, steps + 1))
    assert run.state["ema"].value[0].item() == pytest.approx(expected, rel=1e-12)
    assert run.state["ema"].count == steps


def test_bf16_autocast_on_cpu_runs_d_in_bf16_and_keeps_losses_fp32():
    run = make_run(cfg_of(**TINY_RING, amp="on", penalty="r1", penalty_weight=1.0))
    dtypes = []
    run.D.register_forward_hook(lambda m, inputs, out: dtypes.append(out.dtype))
    loss = run.game.loss_y()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert dtypes[:2] == [torch.bfloat16, torch.bfloat16]  # objective terms under autocast
    assert dtypes[2] == torch.float32  # the R1 penalty's D call: fp32
    run_steps(run, 3)
    assert all(torch.isfinite(p).all() for p in run.G.parameters())


def test_compiled_forward_with_eager_penalty_matches_eager(monkeypatch):
    # backend='eager' traces with dynamo but runs the same kernels: the numbers must not change.
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    base = dict(TINY_RING, penalty="r1", penalty_weight=1.0)
    runs = [make_run(cfg_of(**base, compile=flag)) for flag in (False, True)]
    for run in runs:
        run_steps(run, 3)
    for a, b in zip(runs[0].D.state_dict().values(), runs[1].D.state_dict().values()):
        assert torch.equal(a, b)


def test_nets_and_param_counts_reported(tmp_path):
    summary = train(cfg_of(**TINY_RING, steps=4, out=str(tmp_path), log_every=2))
    G, D = mlp_generator(z_dim=8, hidden=32), mlp_discriminator(hidden=32)
    assert (summary["params_G"], summary["params_D"]) == (param_count(G), param_count(D))


# ------------------------------------------------------------------------------------------------ CLI runs
def test_ring_of_8_from_the_cli_writes_metrics_samples_and_summary(tmp_path):
    out = tmp_path / "ring"
    proc = cli(
        "--data",
        "ring",
        "--steps",
        60,
        "--log-every",
        20,
        "--sample-every",
        30,
        "--batch",
        64,
        "--penalty",
        "r1",
        "--penalty-weight",
        0.1,
        "--penalty-every",
        4,
        "--lr-g",
        1e-3,
        "--lr-d",
        1e-3,
        "--out",
        out,
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [20, 40, 60]
    for r in rows:
        assert all(math.isfinite(r[k]) for k in ("d_loss", "g_loss", "d_grad_norm", "g_grad_norm", "images_per_s"))
    assert sorted(p.name for p in out.glob("samples_*.png")) == ["samples_000030.png", "samples_000060.png"]
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["params_G"], summary["params_D"], summary["step"]) == (49666, 17025, 60)
    assert summary["modes"]["of_modes"] == 8 and summary["device"].startswith("cpu")
    assert summary["modes"]["hq_radius"] == pytest.approx(0.06) and summary["modes"]["mode_min_share"] == 0.25
    assert 0.0 <= summary["modes"]["high_quality"] <= 1.0
    assert "G 49,666 params, D 17,025 params" in proc.stdout
    assert f"{summary['modes']['modes']}/8 modes, {summary['modes']['high_quality']:.1%} high-quality" in proc.stdout


def mnist_root():
    for root in (os.environ.get("SANDBOX_DATA"), "/work/shared/data", str(REPO.parent / "shared" / "data")):
        if root and all(any((Path(root) / "mnist" / f"{n}{s}").is_file() for s in ("", ".gz")) for n in MNIST_MD5):
            return root
    return None


def test_dcgan_mnist_smoke_from_the_cli(tmp_path):
    root = mnist_root()
    if root is None:
        pytest.skip("no MNIST IDX files under $SANDBOX_DATA/mnist or /work/shared/data/mnist")
    proc = cli(
        "--data",
        "mnist",
        "--steps",
        20,
        "--batch",
        16,
        "--g-width",
        0.25,
        "--d-width",
        0.25,
        "--log-every",
        10,
        "--out",
        tmp_path,
        "--no-progress",
        env={"SANDBOX_DATA": root, "OMP_NUM_THREADS": str(cpu_count())},  # torch's setting: every core
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    G, D = dcgan_generator(width=0.25), dcgan_discriminator(width=0.25)
    assert (summary["params_G"], summary["params_D"], summary["step"]) == (param_count(G), param_count(D), 20)
    assert summary["device"] == f"cpu ({max(1, cpu_count() // 2)} threads)"  # auto: half the cores
    assert (tmp_path / "samples_000020.png").stat().st_size > 1000
    assert all(math.isfinite(summary["final"][k]) for k in ("d_loss", "g_loss"))


@pytest.mark.parametrize(
    "net, threads, cores, current, expected",
    [
        ("dcgan", 0, 2, 2, 1),  # the 2-core machine: one thread, so a job on the other core cannot stall it
        ("dcgan", 0, 16, 16, 8),
        ("dcgan", 0, 16, 4, 4),  # never more than torch's setting (OMP_NUM_THREADS, a worker's 1)
        ("dcgan", 0, 1, 1, 1),
        ("dcgan", 3, 2, 2, 3),  # an explicit --threads wins
        ("mlp", 0, 16, 16, 1),
    ],
)
def test_auto_threads_leave_half_the_cores_for_image_nets(monkeypatch, net, threads, cores, current, expected):
    from sandbox import devices
    from sandbox.trainer.parts import cpu_threads

    monkeypatch.setattr(devices, "cpu_count", lambda: cores)
    data = "ring" if net == "mlp" else "mnist"
    assert cpu_threads(cfg_of(data=data, net=net, threads=threads), current) == expected


def test_cli_bad_flag_value_exits_2_with_the_reason(tmp_path):
    proc = cli("--objective", "wgan", "--out", tmp_path)
    assert proc.returncode == 2 and "unknown objective 'wgan'" in proc.stderr


# --------------------------------------------------------------------------------- errors that name the problem
def run_main(capsys, *args):
    """sandbox.trainer's main(args) in this process: (exit code, stderr)."""
    from sandbox.trainer.__main__ import main

    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def test_choice_and_flag_errors_are_one_line_with_the_valid_names(capsys):
    code, err = run_main(capsys, "--data", "rign")
    assert code == 2 and err.count("\n") == 1  # not argparse's 35 lines of usage
    assert "argument --data: invalid choice: 'rign'" in err and "'ring'" in err and "--help lists every flag" in err
    code, err = run_main(capsys, "--penalty-wieght", "1")
    assert code == 2 and err.count("\n") == 1 and "(did you mean --penalty-weight?)" in err


def test_config_file_errors_name_the_file_and_line(tmp_path, capsys):
    code, err = run_main(capsys, "--config", tmp_path)
    assert (
        code == 2 and err == f"error: --config {tmp_path}: is a folder; --config takes a TOML file of Config fields\n"
    )
    code, err = run_main(capsys, "--config", tmp_path / "missing.toml")
    assert code == 2 and f"--config {tmp_path / 'missing.toml'}: cannot read it (No such file or directory)" in err
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = 10\nlr_d 3e-4\n")
    code, err = run_main(capsys, "--config", bad)
    assert code == 2 and f"error: {bad}: TOML syntax error:" in err and "line 2" in err
    bad.write_text("ema_half_life = nan\n")
    code, err = run_main(capsys, "--config", bad)
    assert code == 2 and "error: ema_half_life must be finite, got nan" in err


@pytest.mark.parametrize(
    "overrides,message",
    [
        (dict(betas=(0.5, 1.0)), r"betas must each be in \[0, 1\)"),
        (dict(momentum=1.0), "momentum must be below 1"),
        (dict(seed=-1), "seed must be non-negative"),
        (dict(eval_every=150), r"eval_every \(150\) must be a multiple of log_every \(100\)"),
        (dict(eval_n=1), "eval_n must be at least 2"),
        (dict(data="dirac", eval_every=100), "eval_every=100 evaluates one generator"),
        (dict(resume="x", overwrite=True), "overwrite starts a new run and resume continues one"),
        (dict(theta0=math.inf), "theta0 must be finite"),
        (dict(lr_decay=0.25), "lr_decay, beta2_final and penalty_decay need schedule_kimg > 0"),
        (dict(schedule_kimg=1.0, beta2_final=1.0), r"beta2_final must be -1 \(off\) or, with optimiser adam"),
        (dict(schedule_kimg=1.0, beta2_final=0.99, optimiser="rmsprop"), "with optimiser adam, in"),
        (dict(schedule_kimg=-1.0), "schedule_kimg must be non-negative"),
    ],
)
def test_every_number_is_range_checked_naming_the_field(overrides, message):
    with pytest.raises(ValueError, match=message):
        cfg_of(**overrides)


def test_resume_writes_its_own_folder_and_branches_need_a_new_out(tmp_path, capsys):
    run = tmp_path / "run"
    train(cfg_of(**TINY_RING, steps=4, log_every=2, out=str(run), ema_half_life=2.0, eval_every=2))
    assert (run / "best.pt").is_file()
    code, err = run_main(capsys, "--resume", run, "--out", tmp_path / "other", "--steps", 6)
    assert code == 2 and f"--resume {run} continues the run in {run}, but --out names" in err
    code, err = run_main(capsys, "--resume", run / "best.pt", "--steps", 6)
    assert code == 2 and "starts a branch; name its new folder with --out DIR" in err
    branch = tmp_path / "branch"
    code, _ = run_main(capsys, "--resume", run / "best.pt", "--out", branch, "--steps", 6)
    assert code == 0 and json.loads((branch / "summary.json").read_text())["step"] == 6
    assert not (tmp_path / "other").exists() and json.loads((run / "summary.json").read_text())["step"] == 4
    before = (run / "summary.json").read_bytes()
    from sandbox.trainer.__main__ import main

    assert main(["--resume", str(run), "--steps", "4"]) == 0  # already at --steps: nothing to do, nothing written
    assert f"{run} is already at step 4: nothing to do" in capsys.readouterr().out
    assert (run / "summary.json").read_bytes() == before


def test_a_new_run_without_out_gets_a_fresh_folder(tmp_path):
    from sandbox.trainer import runfolder as rf

    first = rf.new_name("ring", tmp_path)
    assert (
        first.parent == tmp_path and first.name.startswith("ring-") and len(first.name) == len("ring-20250101-120000")
    )
    first.mkdir()
    second = rf.new_name("ring", tmp_path)
    assert second != first and (second.name == first.name + "-2" or second.name[:5] == "ring-")


def test_exit_codes_tell_finished_from_preempted():
    from sandbox.trainer.__main__ import exit_code

    assert exit_code({"stopped_by": None}) == 0
    assert (exit_code({"stopped_by": "SIGTERM"}), exit_code({"stopped_by": "SIGINT"})) == (143, 130)


@pytest.mark.gpu
def test_cuda_path_bf16_channels_last_fused_adam_and_compile(tmp_path):
    root = mnist_root()
    if root is None:
        pytest.skip("no MNIST IDX files found")
    cfg = cfg_of(
        data="mnist",
        device="cuda",
        steps=20,
        batch=64,
        out=str(tmp_path),
        data_dir=root,
        penalty="r1",
        compile=True,
        log_every=10,
    )
    run = make_run(cfg)
    assert run.opt_g.defaults["fused"] is True
    conv = next(p for p in run.D.parameters() if p.dim() == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last)
    summary = train(cfg)
    assert summary["step"] == 20 and all(math.isfinite(v) for v in summary["final"].values())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_cuda_asked_for_without_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="device 'cuda' asked for, but this torch build sees no CUDA device"):
        make_run(cfg_of(**TINY_RING, device="cuda"))
