"""sandbox.trainer.ensemble: every member of a batched ensemble is the solo run of its seed, step for step (float64),
under each update rule, optimiser and penalty path, for the vmapped mlp players and the grouped image nets (metz,
dcgan, with BatchNorm); --ensemble refuses what it cannot batch; the CLI writes per-member mode statistics and
weights that equal the solo runs'. Also the speed options the ensemble shares with the trainer: reuse_fakes and
the amp / channels_last policies."""

import json

import pytest
import torch
from torch.testing import assert_close

from sandbox.evaluation import mnist as ev
from sandbox.nets.grouped import member_state
from sandbox.trainer import config as C
from sandbox.trainer import ensemble, parts
from sandbox.trainer import runlog as tl
from sandbox.trainer.__main__ import main
from sandbox.trainer.checkpoint import load_checkpoint
from sandbox.trainer.ensemble import make_ensemble, member_config, member_meter_read
from sandbox.trainer.loop import make_run, run_steps
from sandbox.trainer.parts import use_amp, use_channels_last

TINY = dict(data="ring", g_width=0.25, d_width=0.25, z_dim=8, batch=32, progress=False, dtype="float64", device="cpu")
K, SEED, STEPS = 2, 5, 20

CASES = {
    "alternating": {},
    "simultaneous": dict(rule="simultaneous"),
    "alternating_r1": dict(penalty="r1"),  # batched double backward through vmap
    "simultaneous_r1": dict(rule="simultaneous", penalty="r1"),
    # wgan_gp draws from the noise generator, so it runs per member; instance noise shares that generator.
    "wgan_gp_n_critic_2_noise_ema": dict(
        objective="wasserstein", penalty="wgan_gp", n_critic=2, instance_noise=0.1, ema_half_life=5.0
    ),
    "extragradient_sgd_clip_consensus": dict(
        rule="extragradient", optimiser="sgd", momentum=0.9, clip=0.05, consensus=0.1
    ),
    "optimistic_rmsprop_lazy_r2": dict(rule="optimistic", optimiser="rmsprop", penalty="r2", penalty_every=3),
    # pairwise: G's step draws each member's own real batch (C22's RpGAN + R1 + R2)
    "rpgan_r1_r2": dict(objective="rpgan", penalty="r1_r2", penalty_weight=1.0),
    # R3GAN's cosine schedules of lr, beta2 and gamma, ending at step 10 of 20 (the penalty gain is the game's)
    "rpgan_r1_r2_scheduled": dict(
        objective="rpgan",
        penalty="r1_r2",
        penalty_weight=1.0,
        betas=(0.0, 0.9),
        schedule_kimg=0.32,
        lr_decay=0.25,
        beta2_final=0.99,
        penalty_decay=0.1,
    ),
}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_member_equals_the_solo_run_of_its_seed(case):
    cfg = C.make_config(dict(TINY, ensemble=K, seed=SEED, **CASES[case]))
    ens = make_ensemble(cfg)
    run_steps(ens, STEPS)
    losses = member_meter_read(ens.meter)
    solos = []
    for k in range(K):
        run = make_run(member_config(cfg, k))
        assert (run.cfg.seed, run.cfg.ensemble) == (SEED + k, 1)
        run_steps(run, STEPS)
        solos.append(run)
        for stacked, solo in zip(ens.game.x + ens.game.y, run.game.x + run.game.y):
            assert_close(stacked[k].detach(), solo.detach(), rtol=1e-10, atol=1e-12)
        if cfg.ema_half_life:
            for stacked, solo in zip(ens.state["ema"].value, run.state["ema"].value):
                assert_close(stacked[k], solo, rtol=1e-10, atol=1e-12)
        for key, value in tl.meter_read(run.meter).items():  # the logged losses and gradient norms too
            assert losses[key][k] == pytest.approx(value, rel=1e-6), key
    assert ens.state["clock"]["d_steps"] == solos[0].state["clock"]["d_steps"]
    # The members are distinct runs: member 0 is not the solo run of member 1's seed.
    assert not torch.allclose(ens.game.y[0][0], solos[1].game.y[0], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(ensemble=0), "ensemble must be at least 1"),
        (
            dict(ensemble=2, data="mnist", net="resnet_sn"),
            "batches the nets mlp, metz, dcgan only, not net 'resnet_sn'",
        ),
        (dict(ensemble=2, data="dirac"), "only, not net 'dirac'"),
        (dict(ensemble=2, rule="simultaneous", reuse_fakes=True), None),
        (dict(ensemble=2, compile=True), "does not support compile"),
        (dict(ensemble=2, resume="runs/x"), "does not support compile, resume"),
    ],
)
def test_ensemble_config_refuses_what_it_cannot_batch(overrides, message):
    if message is None:  # refused when the game is built: reuse_fakes needs G's step right after D's
        with pytest.raises(ValueError, match="reuse_fakes needs the alternating rule with d_first"):
            make_ensemble(C.make_config(dict(TINY, **overrides)))
        return
    with pytest.raises(ValueError, match=message):
        C.make_config(overrides)


def test_cli_ensemble_writes_the_solo_runs_mode_stats(tmp_path, capsys):
    args = [
        "--data",
        "ring",
        "--g-width",
        "0.25",
        "--d-width",
        "0.25",
        "--z-dim",
        "8",
        "--batch",
        "32",
        "--dtype",
        "float64",
        "--device",
        "cpu",
        "--no-progress",
        "--seed",
        "3",
        "--steps",
        "30",
        "--log-every",
        "10",
        "--ensemble",
        "2",
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 0
    assert "modes covered per member" in capsys.readouterr().out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["members"], summary["seeds"], summary["step"]) == (2, [3, 4], 30)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20, 30]
    assert all(len(r["d_loss"]) == 2 for r in rows)
    assert (tmp_path / "samples.png").stat().st_size > 0
    cfg = C.make_config(dict(TINY, seed=3, steps=30, ensemble=2))
    for k in range(2):
        run = make_run(member_config(cfg, k))
        run_steps(run, 30)
        solo = tl.mode_stats(tl.generate(run, 2000), run.source.centres, run.source.std)
        assert summary["modes"][k] == solo


def test_ensemble_under_torchrun_is_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="runs in one process; launch it without torchrun"):
        ensemble.train(C.make_config(dict(data="ring", ensemble=2, steps=1)))


# ------------------------------------------------------------------------------------------ grouped image nets
IMAGES = dict(g_width=0.25, d_width=0.25, batch=8, progress=False, dtype="float64", device="cpu")
IMAGE_CASES = {
    "metz": dict(data="stacked_mnist", net="metz"),
    "metz_reuse_rpgan_r1_r2": dict(
        data="stacked_mnist", net="metz", objective="rpgan", penalty="r1_r2", penalty_weight=1.0, reuse_fakes=True
    ),
    "dcgan_r1_no_bn_d": dict(data="mnist", net="dcgan", penalty="r1", penalty_weight=1.0, batchnorm_d=False),
    # wgan_gp draws from the noise generator: per member, through member k's solo D on views (BatchNorm on)
    "dcgan_wgan_gp_bn_noise_ema_n_critic_2": dict(
        data="mnist", net="dcgan", objective="wasserstein", penalty="wgan_gp", n_critic=2, instance_noise=0.1,
        ema_half_life=5.0,
    ),
}  # fmt: skip
IMAGE_STEPS = 3


def _state(module, prefix: str) -> dict:
    return {prefix + n: t for n, t in list(module.named_parameters()) + list(module.named_buffers())}


@pytest.mark.parametrize("case", sorted(IMAGE_CASES))
def test_each_grouped_image_member_equals_the_solo_run_of_its_seed(case, root):
    """float64. The conv biases before a BatchNorm (metz) have exact gradient 0 (BN removes any shift), so their
    values are round-off that Adam amplifies, different for grouped and solo kernels, and they feed the running
    means. Measured max |difference| after 3 steps: those biases and running means 2e-8 (with R1+R2's double
    backward; 8e-10 without); every other tensor 4e-9 relative (metz), 4e-13 (dcgan)."""
    cfg = C.make_config(dict(IMAGES, ensemble=K, seed=SEED, data_dir=str(root), **IMAGE_CASES[case]))
    ens = make_ensemble(cfg)
    assert ens.kind == "grouped"
    run_steps(ens, IMAGE_STEPS)
    losses = member_meter_read(ens.meter)
    for k in range(K):
        run = make_run(member_config(cfg, k))
        run_steps(run, IMAGE_STEPS)
        grouped = _state_of(member_state(ens.G, ens.solo_G, k, K), "G.") | _state_of(
            member_state(ens.D, ens.solo_D, k, K), "D."
        )
        solo = _state(run.G, "G.") | _state(run.D, "D.")
        assert sorted(grouped) == sorted(solo)
        noise = _round_off(run.G, "G.") | _round_off(run.D, "D.")
        assert bool(noise) == (cfg.net == "metz")
        for name, t in solo.items():
            tol = dict(rtol=0.0, atol=1e-7) if name in noise else dict(rtol=1e-7, atol=1e-9)
            assert_close(grouped[name].detach(), t.detach(), **tol, msg=lambda m: f"{name}: {m}")
        if cfg.ema_half_life:
            shapes = [p.shape for p in run.G.parameters()]
            for stacked, single, shape in zip(ens.state["ema"].value, run.state["ema"].value, shapes):
                assert_close(stacked.reshape((K,) + shape)[k], single, rtol=1e-7, atol=2e-9)
        for key, value in tl.meter_read(run.meter).items():
            assert losses[key][k] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    assert ens.state["clock"]["d_steps"] == run.state["clock"]["d_steps"]
    # members are distinct runs: member 1's D is not member 0's
    assert not torch.allclose(ens.D.head.weight[0], ens.D.head.weight[1], rtol=1e-3, atol=1e-3)


def _state_of(views: dict, prefix: str) -> dict:
    return {prefix + n: t for n, t in views.items()}


def _round_off(module, prefix: str) -> set:
    """Names of the conv biases right before a BatchNorm, and of the running means of those BatchNorms."""
    layers = [(n, m) for n, m in module.named_modules() if next(m.parameters(recurse=False), None) is not None]
    out = set()
    for (name, m), (bn_name, bn) in zip(layers, layers[1:]):
        if isinstance(bn, torch.nn.BatchNorm2d) and getattr(m, "bias", None) is not None:
            out |= {f"{prefix}{name}.bias", f"{prefix}{bn_name}.running_mean"}
    return out


def test_grouped_members_in_float32_track_the_solo_runs(root):
    """float32 (amp off): kernels sum in another order and Adam amplifies it where a gradient is near 0; measured
    after 3 dcgan steps (seeds 5-8): max |difference| 3e-6 to 6e-5 in G's weights, against 6e-4 moved by training
    and 0.13 to another member's weights. (Metz's pre-BN biases are pure round-off in float32, of order lr.)"""
    cfg = C.make_config(
        dict(IMAGES, dtype="float32", amp="off", ensemble=K, seed=SEED, data="mnist", data_dir=str(root))
    )
    ens = make_ensemble(cfg)
    run_steps(ens, IMAGE_STEPS)
    for k in range(K):
        run = make_run(member_config(cfg, k))
        run_steps(run, IMAGE_STEPS)
        views = member_state(ens.G, ens.solo_G, k, K)
        for name, p in run.G.named_parameters():
            assert_close(views[name].detach(), p.detach(), rtol=0.0, atol=2e-4, msg=lambda m: f"{name}: {m}")


def test_grouped_members_in_bf16_stay_with_the_bf16_solo_runs_of_their_seeds(root):
    """bf16 autocast (amp 'auto' for grouped DCGANs on CPUs with native bf16): rounding flips the sign of small
    gradients, and Adam moves such a weight by about lr a step either way, so after 3 steps a member may part from
    its solo run by up to twice what training moved it (measured: 4.2e-4 to 5.6e-4 in G's weights, training moved
    them 6.4e-4, fp32 members 3e-7 to 2e-5), while another seed's weights are 0.13-0.16 away."""
    cfg = C.make_config(
        dict(IMAGES, dtype="float32", amp="on", ensemble=K, seed=SEED, data="mnist", data_dir=str(root))
    )
    ens = make_ensemble(cfg)
    run_steps(ens, IMAGE_STEPS)
    solos = [make_run(member_config(cfg, k)) for k in range(K)]
    for run in solos:
        run_steps(run, IMAGE_STEPS)
    for k in range(K):
        views = member_state(ens.G, ens.solo_G, k, K)
        for name, p in solos[k].G.named_parameters():
            assert_close(views[name].detach(), p.detach(), rtol=0.0, atol=1.3e-3, msg=lambda m: f"{name}: {m}")
        other = max(float((views[n].detach() - p.detach()).abs().max()) for n, p in solos[1 - k].G.named_parameters())
        assert 0.05 < other < 0.5  # the control: another seed's weights, init-scale apart (measured 0.13-0.16)


def test_cli_image_ensemble_writes_member_modes_and_solo_layout_weights(tmp_path, root, capsys):
    args = ["--data", "stacked_mnist", "--net", "metz", "--g-width", "0.25", "--d-width", "0.25", "--batch", "8"]
    args += ["--dtype", "float64", "--device", "cpu", "--no-progress", "--seed", "4", "--steps", "4"]
    args += ["--log-every", "2", "--ensemble", "2", "--ensemble-eval", "300", "--data-dir", str(root)]
    assert main(args + ["--out", str(tmp_path / "ens")]) == 0
    assert "modes covered per member (of 1000)" in capsys.readouterr().out
    summary = json.loads((tmp_path / "ens" / "summary.json").read_text())
    assert (summary["members"], summary["batching"], summary["seeds"]) == (2, "grouped", [4, 5])
    assert summary["precision"] == "fp32"  # the grouped Metz nets: 'auto' is fp32 on every CPU
    cfg = C.make_config(dict(IMAGES, data="stacked_mnist", net="metz", seed=4, steps=4, ensemble=2, data_dir=str(root)))
    for k in range(2):
        run = make_run(member_config(cfg, k))
        run_steps(run, 4)
        modes = ev.stacked_modes(tl.generate(run, 300))
        assert (summary["modes"][k]["modes"], summary["modes"][k]["n"]) == (modes.modes, 300)
        assert summary["modes"][k]["reverse_kl"] == pytest.approx(modes.kl, rel=1e-12)
        saved = load_checkpoint(tmp_path / "ens" / "members" / f"seed_{4 + k}.pt")
        assert (saved["step"], saved["config"]["seed"], saved["config"]["ensemble"]) == (4, 4 + k, 1)
        run.G.load_state_dict(saved["G"])  # the solo layout: it loads into the solo net as it is
        noise = _round_off(run.D, "")
        for name, t in run.D.state_dict().items():
            assert_close(saved["D"][name], t, rtol=1e-7, atol=1e-7 if name in noise else 1e-9)
    assert (tmp_path / "ens" / "samples.png").stat().st_size > 0


# ------------------------------------------------------------------------------------------ speed options
def test_reuse_fakes_runs_g_once_per_step_and_is_a_different_algorithm(root):
    base = dict(IMAGES, data="mnist", net="dcgan", data_dir=str(root), seed=1)
    calls = {"n": 0}
    runs = {}
    for reuse in (False, True):
        run = make_run(C.make_config(dict(base, reuse_fakes=reuse)))
        hook = run.G.register_forward_hook(lambda *a: calls.__setitem__("n", calls["n"] + 1))
        calls["n"] = 0
        run_steps(run, 2)
        hook.remove()
        runs[reuse] = (run, calls["n"])
    assert (runs[False][1], runs[True][1]) == (4, 2)  # G forwards in 2 steps: fresh z for G's step, or reuse
    w_fresh, w_reuse = runs[False][0].G.net[0].weight, runs[True][0].G.net[0].weight
    assert not torch.allclose(w_fresh, w_reuse, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="reuse_fakes needs the alternating rule with d_first"):
        make_run(C.make_config(dict(base, reuse_fakes=True, d_first=False)))


def test_speed_policies_under_auto(monkeypatch):
    cfg = lambda **kw: C.make_config(dict(kw, device="cpu"))  # noqa: E731
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    # bf16 autocast under auto: CUDA; on a CPU the DCGAN with AVX512-BF16 or AMX, solo or grouped, the solo Metz
    # nets with AMX only (AVX2: 17x slower; the Metz nets on AVX512-BF16 without AMX: 0.59x; grouped, even with AMX)
    metz = cfg(data="stacked_mnist", net="metz")
    grouped_dcgan = cfg(data="mnist", ensemble=2)
    monkeypatch.setattr(parts, "cpu_bf16_features", lambda: frozenset())
    assert [use_amp(cfg(data="mnist"), d) for d in (cpu, cuda)] == [False, True]
    assert [use_amp(grouped_dcgan, d) for d in (cpu, cuda)] == [False, True]
    assert not use_amp(metz, cpu)
    assert use_amp(cfg(data="mnist", amp="on"), cpu) and not use_amp(cfg(data="mnist", amp="off"), cuda)
    monkeypatch.setattr(parts, "cpu_bf16_features", lambda: frozenset({"avx512_bf16"}))
    assert use_amp(cfg(data="mnist"), cpu) and not use_amp(metz, cpu)
    assert use_amp(grouped_dcgan, cpu) and not use_amp(cfg(data="mnist", ensemble=2, amp="off"), cpu)
    monkeypatch.setattr(parts, "cpu_bf16_features", lambda: frozenset({"avx512_bf16", "amx"}))
    assert use_amp(cfg(data="mnist"), cpu) and not use_amp(cfg(data="mnist", amp="off"), cpu)
    assert use_amp(metz, cpu) and not use_amp(cfg(data="stacked_mnist", net="metz", amp="off"), cpu)
    others = [cfg(data="stacked_mnist", net="metz", ensemble=2), cfg(data="ring"), cfg(data="ring", ensemble=2)]
    assert [use_amp(c, cpu) for c in others] == [False, False, False]
    assert use_amp(grouped_dcgan, cpu)
    # the studies' configs stay fp32 there: their records were made in fp32 on every machine
    from studies import _mnist_runs as mr
    from studies import discriminator_size as ds
    from studies import rpgan_stacked_mnist as rp

    assert not use_amp(mr.mnist_config(C.preset("dcgan")), cpu)
    assert not use_amp(ds.run_config(0.5, 10, 0, cpu), cpu)
    assert not use_amp(rp.run_config("rpgan_r1_r2", rp.SCALES["smoke"], 0, cpu), cpu)
    # channels_last: images only; under auto CUDA, and on a CPU the metz nets, solo or grouped (not the dcgan ones)
    assert [use_channels_last(cfg(data="mnist"), d) for d in (cpu, cuda)] == [False, True]
    assert not use_channels_last(cfg(data="mnist", ensemble=2), cpu) and use_channels_last(
        cfg(data="mnist", ensemble=2), cuda
    )
    assert use_channels_last(cfg(data="stacked_mnist", net="metz"), cpu)
    assert use_channels_last(cfg(data="stacked_mnist", net="metz", ensemble=2), cpu)
    assert use_channels_last(cfg(data="mnist", channels_last="on"), cpu)
    assert not use_channels_last(cfg(data="ring", channels_last="on"), cuda)
    assert not use_channels_last(cfg(data="stacked_mnist", net="metz", channels_last="off"), cuda)


@pytest.mark.parametrize("features", [frozenset(), frozenset({"avx512_bf16"})])
def test_the_ensemble_benchmark_compares_at_auto_what_the_amp_policy_gives(monkeypatch, root, features):
    """benchmarks.ensemble's ratio_at_auto sets the grouped ensemble against the solo runs each in the precision
    amp 'auto' resolves to: fp32 to fp32 on a CPU without native bf16, bf16 to bf16 for the DCGAN with it."""
    from benchmarks import ensemble as be

    monkeypatch.setattr(parts, "cpu_bf16_features", lambda: features)
    monkeypatch.setitem(be.IMAGE_SIZES, "tiny", dict(be.IMAGE_SIZES["dcgan_eighth"], batch=4))
    r = be.bench_images("tiny", 2, 1, 1, str(root))
    bf16 = bool(features)
    arms = {"ensemble", "ensemble_other_format", "sequential"} | (
        {"ensemble_bf16", "sequential_auto_bf16"} if bf16 else set()
    )
    assert set(r["rates"]) == arms
    assert r["at_auto"] == (
        {"grouped": "ensemble_bf16", "sequential": "sequential_auto_bf16"}
        if bf16
        else {"grouped": "ensemble", "sequential": "sequential"}
    )
    grouped, solo = r["at_auto"]["grouped"], r["at_auto"]["sequential"]
    assert_close(r["ratio_at_auto"]["median"], r["rates"][grouped][0] / r["rates"][solo][0], rtol=1e-12, atol=0.0)
