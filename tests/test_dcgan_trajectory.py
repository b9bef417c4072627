"""The DCGAN trajectory that dcgan_mnist, vanishing_gradients and saturation_at_scale share (studies/_mnist_runs.py),
and the measures those studies' checks are made of."""

import math

import numpy as np
import pytest
import torch
from _mnist import needs_mnist

from sandbox.records import jsonable
from studies import _mnist_runs as mr
from studies import dcgan_mnist, saturation_at_scale

SMOKE = mr.DCGAN_TRAJECTORIES["smoke"]


def test_epochs_are_60000_training_images_per_pass():
    assert [mr.epoch_steps(e, 64) for e in (0, 1, 10, 25)] == [0, 938, 9375, 23438]  # 937.5 G steps per epoch
    assert [mr.epoch_steps(e, 128) for e in (1, 10, 25)] == [469, 4688, 11719]
    assert mr.trajectory_steps(mr.DCGAN_TRAJECTORIES["trained"])[-1] == 23438
    assert mr.trajectory_steps(SMOKE) == [0, 4, 8]


def test_the_trajectory_folder_sits_beside_the_records_and_names_every_setting(tmp_path):
    cfg = mr.dcgan_config(SMOKE, 7)
    work = tmp_path / "records" / "vanishing_gradients" / "smoke" / ".work" / "seed=0"
    folder = mr.trajectory_folder(work, cfg, SMOKE)
    assert folder.parent == tmp_path / "records" / ".work" / mr.TRAJECTORY and folder.name.startswith("seed=7-")
    other = tmp_path / "records" / "dcgan_mnist" / "smoke" / ".work" / "seed=0"
    assert mr.trajectory_folder(other, cfg, SMOKE) == folder  # another study finds the same run
    assert mr.trajectory_folder(work, cfg, dict(SMOKE, n_fid=300)) != folder  # different rows: another folder
    assert mr.trajectory_folder(work, mr.dcgan_config(dict(SMOKE, width=0.25), 7), SMOKE) != folder
    elsewhere = tmp_path / "elsewhere"  # not a runner work folder: the run goes below it, still named by its hash
    assert mr.trajectory_folder(elsewhere, cfg, SMOKE) == elsewhere / "trajectory" / folder.name
    assert mr.trajectory_folder(None, cfg, SMOKE) is None


@needs_mnist
def test_a_second_study_reuses_the_trajectory_and_a_resumed_one_matches_an_unbroken_one(tmp_path):
    torch.set_num_threads(1)
    whole = mr.dcgan_trajectory(SMOKE, 5)  # in memory, no folder
    work_a = tmp_path / "records" / "dcgan_mnist" / "smoke" / ".work" / "seed=0"
    work_b = tmp_path / "records" / "saturation_at_scale" / "smoke" / ".work" / "seed=0"
    # "killed" after the first two marks: only they ran, their checkpoint and snapshots are on disk
    short = mr.dcgan_trajectory(dict(SMOKE, marks=SMOKE["marks"][:2]), 5, workdir=work_a)
    assert [r["step"] for r in short.rows] == [0, 4]
    first = mr.dcgan_trajectory(SMOKE, 5, workdir=work_a)
    again = mr.dcgan_trajectory(SMOKE, 5, workdir=work_b)
    assert jsonable(first.rows) == jsonable(again.rows) == jsonable(whole.rows)  # losses and FIDs, to the bit
    for step in (0, 4, 8):
        for a, b in zip(mr.players_at(whole, step), mr.players_at(again, step)):
            for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
                assert ka == kb and torch.equal(va, vb)
    g8 = mr.players_at(again, 8)[0].state_dict()
    assert all(torch.equal(v, again.run.G.state_dict()[k]) for k, v in g8.items())  # the last snapshot is the run
    assert not torch.equal(mr.players_at(again, 0)[0].state_dict()["net.0.weight"], g8["net.0.weight"])


def test_walk_jumps_read_one_for_an_even_walk_and_t_minus_1_for_a_cut():
    a, b = -torch.ones(1, 28, 28), torch.ones(1, 28, 28)
    t = torch.linspace(0, 1, 16)[:, None, None, None]
    even = (1 - t) * a + t * b
    cut = torch.where(t < 0.5, a, b)
    jumps = dcgan_mnist._jumps(torch.stack([even, cut]))
    assert jumps == pytest.approx([1.0, 15.0], rel=1e-5)
    assert dcgan_mnist._jumps(torch.stack([torch.stack([a] * 16)])) == [math.inf]  # a walk that goes nowhere


def test_plateau_change_is_the_fitted_factor_over_the_window():
    epochs = np.arange(0, 26, dtype=float)
    flat = dict(epochs=epochs, fid=np.full(26, 12.0))
    decay = dict(epochs=epochs, fid=100 * np.exp(-0.1 * epochs))
    assert dcgan_mnist.plateau_change(flat) == pytest.approx(1.0, abs=1e-9)
    assert dcgan_mnist.plateau_change(decay) == pytest.approx(math.exp(0.1 * 0.4 * 25), rel=1e-9)
    assert dcgan_mnist.plateau_change(decay, last=False) == pytest.approx(math.exp(0.1 * 0.4 * 25), rel=1e-9)


def test_copy_stats_catch_copies_and_pass_held_out_digits():
    held = np.linspace(5.0, 10.0, 1000)
    # held-out digits against themselves: ratio 1, and by definition the percentile's share inside its own radius
    assert dcgan_mnist.copy_stats(held, held) == pytest.approx((1.0, dcgan_mnist.COPY_PERCENTILE / 100), abs=1e-12)
    assert dcgan_mnist.copy_stats(np.zeros(100), held) == pytest.approx((0.0, 1.0), abs=1e-12)
    mixed = np.concatenate([np.zeros(100), held[100:]])
    assert dcgan_mnist.copy_stats(mixed, held)[1] == pytest.approx(0.1, abs=1e-12)


def test_the_ratio_prediction_is_1_minus_d_over_d_at_the_mean_d():
    run = dict(
        across=dict(d_fake=[0.5, 0.01], nonsaturating=[2.0, 99.0], saturating=[2.0, 1.0]),
        early={"0": dict(d_fake=[0.2], nonsaturating=[8.0], saturating=[1.0])},
    )
    p = saturation_at_scale.probes_of([run])
    np.testing.assert_allclose(p["predicted"], [1.0, 99.0, 4.0], rtol=1e-12)
    np.testing.assert_allclose(p["measured"], [1.0, 99.0, 8.0], rtol=1e-12)


@needs_mnist
def test_the_score_curve_scores_each_marks_snapshot_and_ends_at_the_final_generator():
    from sandbox.evaluation import classifier as clf
    from sandbox.evaluation import mnist as ev
    from sandbox.evaluation.metrics import classifier_score

    torch.set_num_threads(1)
    traj = mr.dcgan_trajectory(SMOKE, 5)
    curve = dcgan_mnist.score_curve(traj, 200, 11, "cpu")
    assert len(curve) == len(traj.rows) == 3
    x = dcgan_mnist.sampler(traj.run.G)(200, torch.Generator().manual_seed(11))
    final = classifier_score(clf.probabilities(ev.classifier("cpu"), x)).mean
    assert curve[-1] == pytest.approx(final, rel=1e-12)
    G0 = mr.players_at(traj, 0)[0]
    x0 = dcgan_mnist.sampler(G0)(200, torch.Generator().manual_seed(11))
    assert curve[0] == pytest.approx(classifier_score(clf.probabilities(ev.classifier("cpu"), x0)).mean, rel=1e-12)
    assert curve[0] != curve[-1]  # the snapshots differ, so do their scores (both near 1 after 8 smoke steps)
