"""studies/_mnist_dynamics.py and the trained-scale MNIST dynamics studies (wgan_family, r1_convergence,
dynamics_at_scale): the uniform average is the mean of the iterates and survives a resume bit for bit, probes move no
training number, and the plateau, rank and weight statistics give known values on known inputs."""

import math

import numpy as np
import pytest
import torch

from sandbox.data import data_root, holds_mnist
from sandbox.records import jsonable
from sandbox.trainer.config import make_config
from sandbox.trainer.loop import make_run, run_steps
from studies import _curves, dynamics_at_scale, r1_convergence, wgan_family
from studies import _mnist_dynamics as md

TINY = dict(data="ring", g_width=0.25, d_width=0.25, z_dim=8, batch=32, progress=False, steps=30, seed=3)


def _mnist() -> bool:
    try:
        return holds_mnist(data_root(), every=True)
    except FileNotFoundError:
        return False


def _nothing(run) -> dict:
    return {}


def test_uniform_average_is_the_mean_of_the_iterates_after_start():
    run = md.with_uniform_average(make_run(make_config(TINY)), start=10)
    seen = []
    for _ in range(30):
        run_steps(run, 1)
        seen.append([p.detach().clone() for p in run.G.parameters()])
    values, count = md.uniform_weights(run)
    assert count == 20  # the iterates of steps 11..30
    for i, v in enumerate(values):
        torch.testing.assert_close(v, torch.stack([s[i] for s in seen[10:]]).mean(0), rtol=1e-5, atol=1e-6)


def test_uniform_average_before_its_start_is_absent():
    run = md.with_uniform_average(make_run(make_config(TINY)), start=50)
    run_steps(run, 30)
    assert md.uniform_weights(run) == (None, 0)


def test_a_resumed_uniform_average_equals_an_unbroken_one(tmp_path):
    cfg = make_config(TINY)
    prepare = lambda r: md.with_uniform_average(r, start=5)  # noqa: E731
    whole, run_whole, _ = _curves.resumable_curve(cfg, [0, 10, 20, 30], _nothing, prepare=prepare)
    _curves.resumable_curve(cfg, [0, 10], _nothing, tmp_path, prepare=prepare)  # "killed" after step 10
    resumed, run_resumed, _ = _curves.resumable_curve(cfg, [0, 10, 20, 30], _nothing, tmp_path, prepare=prepare)
    assert jsonable(resumed) == jsonable(whole)
    (a, n_a), (b, n_b) = md.uniform_weights(run_whole), md.uniform_weights(run_resumed)
    assert n_a == n_b == 25
    for x, y in zip(a, b):
        assert torch.equal(x, y)


def test_a_run_extended_past_a_moved_average_start_is_refused(tmp_path):
    prepare = lambda start: lambda r: md.with_uniform_average(r, start=start)  # noqa: E731
    _curves.resumable_curve(make_config(dict(TINY, steps=20)), [0, 20], _nothing, tmp_path, prepare=prepare(10))
    with pytest.raises(
        ValueError, match=r"at step 20 with a uniform average of 10 iterates \(begun: 10\).*after step 15"
    ):
        _curves.resumable_curve(make_config(TINY), [0, 20, 30], _nothing, tmp_path, prepare=prepare(15))
    resumed, _, _ = _curves.resumable_curve(make_config(TINY), [0, 20, 30], _nothing, tmp_path, prepare=prepare(10))
    assert [r["step"] for r in resumed] == [0, 20, 30]  # the same start: the run continues


def test_window_change_and_plateau_on_known_curves():
    steps = [0, 100, 200, 300, 400, 500, 600, 700, 800]
    falling = [1000, 800, 600, 400, 300, 220, 200, 190, 180]
    # windows (400, 600] = {500, 600} -> 210 and (600, 800] = {700, 800} -> 185: 210 / 185 - 1
    assert md.window_change(steps, falling, 0.5, 1.0) == pytest.approx(210 / 185 - 1, rel=1e-12)
    # windows (0, 200] -> 700 and (200, 400] -> 350: a steep early fall
    assert md.window_change(steps, falling, 0.0, 0.5) == pytest.approx(1.0, rel=1e-12)
    p = md.plateau(steps, falling)
    assert p["plateaued"] is False and p["early_flat"] is False  # 13.5% > 10%
    flat_end = falling[:5] + [200, 200, 195, 190]
    assert md.plateau(steps, flat_end)["plateaued"] is True
    assert math.isnan(md.window_change([0, 1], [1.0, 2.0], 0.5, 1.0))  # an empty window


def test_plateau_forecast_recovers_known_curves_and_reads_them_at_longer_runs():
    steps = np.arange(0, 10_001, 100)
    # a + b exp(-t / 2000): the exponential fit recovers the floor; its forecast at 1x is the curve's own late change
    settling = 50.0 + 400.0 * np.exp(-steps / 2000.0)
    f = md.plateau_forecast(steps, settling)
    assert f["exponential"]["floor"] == pytest.approx(50.0, rel=1e-4)
    assert f["exponential"]["late"][0] == pytest.approx(md.window_change(steps, settling, 0.5, 1.0), rel=1e-4)
    longer = np.arange(100, 40_001, 100)  # 4x as long: the true curve's late change there, 7e-5
    expected = md.window_change(longer, 50.0 + 400.0 * np.exp(-longer / 2000.0), 0.5, 1.0)
    assert f["exponential"]["late"][-1] == pytest.approx(expected, rel=1e-2)
    # a pure power law t^-1/2 has no floor: its late change is the same at every length,
    # (sqrt(3/4) - sqrt(1/2)) / (1 - sqrt(3/4)) - 1 = 0.186 for fine marks, so no longer run plateaus
    power = 1000.0 * np.maximum(steps, 100) ** -0.5
    f = md.plateau_forecast(steps, power)
    assert f["power"]["floor"] == pytest.approx(0.0, abs=1e-3)
    expected = (math.sqrt(0.75) - math.sqrt(0.5)) / (1 - math.sqrt(0.75)) - 1
    # (25 marks per window at 1x: the discrete means sit 0.8% under the integrals' 0.186)
    assert f["power"]["late"] == pytest.approx([expected] * len(md.FORECAST_SPANS), rel=1e-2)
    assert md.plateau_forecast(steps[:4], power[:4]) is None  # too few points after the first quarter


def test_plateau_reports_the_late_change_at_half_length_and_a_backtest():
    steps = np.arange(0, 10_001, 100)
    settling = 50.0 + 400.0 * np.exp(-steps / 2000.0)
    p = md.plateau(steps, settling)
    half = steps <= 5000
    assert p["late_at_half"] == pytest.approx(md.window_change(steps[half], settling[half], 0.5, 1.0), rel=1e-12)
    assert p["late_at_half"] > p["late"]  # a settling curve: its late change shrinks as the run grows
    # the backtest fits the first half only; read at twice its length it forecasts the whole curve's late change
    assert p["backtest"]["exponential"]["late"][md.FORECAST_SPANS.index(2.0)] == pytest.approx(p["late"], rel=1e-3)


def test_plateau_verdict_needs_every_curve_and_its_control_reads_the_early_half():
    steps = [0, 100, 200, 300, 400, 500, 600, 700, 800]
    falling = [1000, 800, 600, 400, 300, 220, 200, 190, 180]  # late change 13.5%, early 100%
    flat_end = falling[:5] + [200, 200, 195, 190]  # late change under 10%
    flat = [200.0] * 9  # flat from the start: its early half is flat too
    arms = lambda *curves: [dict(plateau=md.plateau(steps, c)) for c in curves]  # noqa: E731
    passes, control = md.plateau_verdict(arms(flat_end, flat_end))
    assert passes is True and control["control_passes"] is False  # their early halves fall
    assert control["control"].startswith("the same test on the first half of the curves")
    passes, control = md.plateau_verdict(arms(flat_end, falling))
    assert passes is False and control["control_passes"] is False
    passes, control = md.plateau_verdict(arms(flat, flat))
    assert passes is True and control["control_passes"] is True  # a curve that never trained passes both


def test_rho_and_its_shuffled_control():
    x = [5.0, 4.0, 3.0, 2.0, 1.0, 0.5]
    assert md.rho(x, [10, 8, 6, 4, 2, 1]) == pytest.approx(1.0, abs=1e-12)
    assert md.rho(x, [1, 2, 4, 6, 8, 10]) == pytest.approx(-1.0, abs=1e-12)
    assert math.isnan(md.rho([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))  # a constant series ranks nothing
    assert math.isnan(md.rho([1.0, math.nan, 2.0], [1.0, 2.0, 3.0]))  # two finite pairs only
    s = md.shuffled(x, 7)
    assert sorted(s) == sorted(x) and s == md.shuffled(x, 7) and s != x


def test_mean_curve_counts_a_cut_curve_as_missing():
    steps, mean = md.mean_curve([[0, 10, 20], [0, 10]], [[4.0, 2.0, 1.0], [2.0, 4.0]])
    assert steps == [0, 10, 20]
    assert mean[:2] == pytest.approx([3.0, 3.0], abs=1e-12) and math.isnan(mean[2])


def test_edge_fraction_and_histogram_of_clipped_weights():
    w = np.array([-0.01, -0.0099, -0.005, 0.0, 0.004, 0.0099, 0.01, 0.02])
    assert wgan_family.edge_fraction(w, 0.01) == pytest.approx(5 / 8, abs=1e-12)  # |w| >= 0.0099
    counts = wgan_family.histogram(w, 0.01)
    assert len(counts) == wgan_family.BINS and sum(counts) == len(w)
    assert counts[-1] == 3 and counts[0] == 2  # 0.0099, 0.01 and 0.02 (clipped) in the top bin


def test_estimates_count_every_run():
    # each study's CPU estimate grows with its grid: twice the seeds, twice the minutes
    for module in (wgan_family, r1_convergence, dynamics_at_scale):
        s = module.SCALES["trained"]
        one = module.estimate_minutes("trained")
        module.SCALES["trained"] = dict(s, seeds=2 * s["seeds"])
        try:
            assert module.estimate_minutes("trained") == pytest.approx(2 * one, rel=1e-12)
        finally:
            module.SCALES["trained"] = s
        assert one > 1.0  # the README's budget column holds each value (test_committed_figures)


@pytest.mark.skipif(not _mnist(), reason="needs MNIST under $SANDBOX_DATA/mnist")
def test_probes_move_no_training_number():
    cfg = r1_convergence.config(10.0, r1_convergence.SCALES["smoke"], 5, "cpu")
    plain, run_a, _ = _curves.resumable_curve(cfg, [0, 2, 4], _nothing)
    probed, run_b, _ = _curves.resumable_curve(cfg, [0, 2, 4], md.prober(32))
    for a, b in zip(plain, probed):
        assert {k: a[k] for k in a} == {k: b[k] for k in a}  # the same losses, to the bit
    for x, y in zip(run_a.G.state_dict().values(), run_b.G.state_dict().values()):
        assert torch.equal(x, y)
    assert set(md.PROBE_KEYS) <= set(probed[-1])
