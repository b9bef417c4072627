"""studies/_curves.py: a training curve killed after a mark resumes from its work folder and ends bit-identical."""

import time

import torch

from sandbox.records import jsonable
from sandbox.reporting import workers
from sandbox.trainer.config import make_config
from sandbox.trainer.loop import make_run
from studies import _curves

TINY = dict(data="ring", g_width=0.25, d_width=0.25, z_dim=8, batch=32, progress=False, steps=30, seed=3)


def _evaluate(run) -> dict:
    g = torch.Generator().manual_seed(0)  # its own stream: evaluating must not move the run's generators
    with torch.no_grad():
        return {"mean_x": float(run.G(torch.randn(64, 8, generator=g)).mean())}


def test_a_resumed_curve_equals_an_unbroken_one(tmp_path):
    cfg = make_config(TINY)
    whole, run_whole, stopped = _curves.resumable_curve(cfg, [0, 10, 20, 30], _evaluate)
    assert stopped is None and [r["step"] for r in whole] == [0, 10, 20, 30]
    # "killed" after step 10: only the first marks ran, their checkpoint and rows are in the work folder
    first, _, _ = _curves.resumable_curve(cfg, [0, 10], _evaluate, tmp_path)
    assert [r["step"] for r in first] == [0, 10] and (tmp_path / _curves.CHECKPOINT).exists()
    resumed, run_resumed, _ = _curves.resumable_curve(cfg, [0, 10, 20, 30], _evaluate, tmp_path)
    assert jsonable(resumed) == jsonable(whole)  # the rows, losses and evaluations included, to the bit
    for a, b in zip(run_whole.game.x + run_whole.game.y, run_resumed.game.x + run_resumed.game.y):
        assert torch.equal(a, b)


def test_a_resume_with_another_config_is_refused(tmp_path):
    _curves.resumable_curve(make_config(TINY), [0, 10], _evaluate, tmp_path)
    try:
        _curves.resumable_curve(make_config(dict(TINY, lr_d=1e-3)), [0, 10, 20], _evaluate, tmp_path)
    except ValueError as err:
        assert "lr_d" in str(err)
    else:
        raise AssertionError("a changed config resumed")


def test_an_extended_curve_equals_one_run_to_the_longer_budget(tmp_path):
    def evaluate(run):  # like the Stacked MNIST studies: a larger score at the last mark of the budget
        last = run.state["step"] >= run.cfg.steps
        return dict(_evaluate(run), n_scored=4 if last else 1)

    whole, _, _ = _curves.resumable_curve(make_config(TINY), [0, 10, 20, 30], evaluate)
    short, _, _ = _curves.resumable_curve(make_config(dict(TINY, steps=10)), [0, 10], evaluate, tmp_path)
    assert short[-1]["n_scored"] == 4  # step 10 was that run's last mark
    longer, _, _ = _curves.resumable_curve(make_config(TINY), [0, 10, 20, 30], evaluate, tmp_path)
    assert [r["n_scored"] for r in longer] == [1, 1, 1, 4]  # step 10 scored again as an intermediate mark
    assert jsonable(longer) == jsonable(whole)


def test_the_cpu_a_killed_call_spent_is_carried_into_its_resume(tmp_path):
    cfg = make_config(TINY)
    clock = time.process_time()
    _curves.resumable_curve(cfg, [0, 10], _evaluate, tmp_path)  # "killed" after step 10
    first = workers.spent_cpu_s(tmp_path)
    assert 0.0 < first <= time.process_time() - clock
    workers.note_spent(tmp_path, 1000.0)  # as if the earlier calls had spent 1000 s: the resume must add to it
    clock = time.process_time()
    _curves.resumable_curve(cfg, [0, 10, 20, 30], _evaluate, tmp_path)
    assert 1000.0 < workers.spent_cpu_s(tmp_path) <= 1000.0 + time.process_time() - clock


def test_a_diverged_generator_s_stacked_row_has_the_scored_row_s_keys(root):
    """A G that emits nan cannot be scored: its row says modes 0 and nan elsewhere, with every key a scored row has
    (a curve mixing the two shapes would break the summaries that read them)."""
    run = make_run(make_config(dict(data="stacked_mnist", net="metz", batch=16, data_dir=str(root), progress=False)))
    scored = _curves.stacked_modes_row(run, 64, seed=0)
    with torch.no_grad():
        for w in run.G.parameters():
            w.fill_(float("nan"))
    unscored = _curves.stacked_modes_row(run, 64, seed=0)
    assert set(unscored) == set(scored) and unscored["modes"] == 0 and scored["modes"] >= 1
    assert all(v != v for k, v in unscored.items() if k != "modes")  # every other field nan
    assert all(v == v for v in scored.values())  # the control: a finite G's row is all numbers
