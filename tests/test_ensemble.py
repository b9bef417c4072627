"""sandbox.trainer.ensemble: every member of a batched ensemble is the solo run of its seed, step for step (float64),
under each update rule, optimiser and penalty path; --ensemble refuses image nets; the CLI writes per-member
mode statistics that equal the solo runs'."""

import json

import pytest
import torch
from torch.testing import assert_close

from sandbox.trainer import config as C
from sandbox.trainer import ensemble
from sandbox.trainer import runlog as tl
from sandbox.trainer.__main__ import main
from sandbox.trainer.ensemble import make_ensemble, member_config, member_meter_read
from sandbox.trainer.loop import make_run, run_steps

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
        (dict(ensemble=2, data="mnist"), "net 'dcgan'.*BatchNorm"),
        (dict(ensemble=2, data="dirac"), "mlp players only, not net 'dirac'"),
        (dict(ensemble=2, compile=True), "does not support compile"),
        (dict(ensemble=2, resume="runs/x"), "does not support compile, resume"),
    ],
)
def test_ensemble_config_refuses_what_it_cannot_batch(overrides, message):
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
