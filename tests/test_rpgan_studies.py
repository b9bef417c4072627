"""The helpers of the C22 studies that their checks rest on: rpgan_convergence's linearised update matrices and
rpgan_stacked_mnist's divergence rule, marks and probe (tests/test_studies.py runs both studies at smoke scale)."""

import math

import pytest
import torch
from torch.testing import assert_close

from sandbox.dynamics import flat, jacobian
from sandbox.trainer.config import make_config
from sandbox.trainer.loop import make_run
from studies import rpgan_convergence as rc
from studies import rpgan_stacked_mnist as rs


@pytest.mark.parametrize("scheme", rc.SCHEMES)
@pytest.mark.parametrize("form", list(rc.FORMS))
def test_update_matrix_is_the_derivative_of_one_step_of_the_rule(form, scheme):
    """Column i of update_matrix = (one step from eps e_i) / eps, to O(eps): the rate prediction's matrix is the
    map the rule applies (alternating: D first), not a re-derivation that could drift from it."""
    gamma, h, eps = 0.3, rc.LR, 1e-6
    jac = jacobian(rc.game(form, "r1_r2", gamma, (0.0, 0.0)))[0]
    columns = []
    for start in ((eps, 0.0), (0.0, eps)):
        tr = rc.trajectory(form, "r1_r2", gamma, scheme, h, 1, start)
        columns.append(tr.final[0] / eps)
    assert_close(rc.update_matrix(jac, scheme, h), torch.stack(columns, dim=1), rtol=0, atol=1e-5)


def test_update_matrix_of_the_other_scheme_differs():
    """Control for the test above: the simultaneous matrix is not the alternating one (h J_G J_D terms)."""
    jac = jacobian(rc.game("rpgan", "r1_r2", 0.3, (0.0, 0.0)))[0]
    gap = (rc.update_matrix(jac, "simultaneous", rc.LR) - rc.update_matrix(jac, "alternating", rc.LR)).abs().max()
    assert float(gap) > 1e-3


def _rows(fake_norms):
    return [dict(step=s, grad_fake=g) for s, g in zip((0, 100, 500, 1000), fake_norms)]


@pytest.mark.parametrize(
    "norms,stopped,expected",
    [
        ((1e-4, 0.5, 3.0, 50.0), None, None),  # grows, never above the limit: not diverged
        ((1e-4, 0.5, 150.0, 50.0), None, 500),  # the first mark above the limit, even if it comes back
        ((1e-4, 0.5, math.nan, 1.0), None, 500),  # a non-finite norm counts as above
        ((1e-4, 0.5, 150.0, 1.0), 300, 300),  # a non-finite loss earlier than the mark wins
        ((1e-4, 0.5, 3.0, 1.0), 700, 700),
    ],
)
def test_diverged_at(norms, stopped, expected):
    assert rs.diverged_at(_rows(norms), stopped) == expected


def test_fate_names_divergences_the_largest_fake_norm_and_the_final_modes():
    """The ledger sets this row beside Table 1's "Fail": it must say whether a run diverged and, if not, how many
    modes it kept (GAN + R1 can fail by losing modes while stable)."""
    stable = dict(diverged_at=[None, None], stopped_at=[None, None], max_grad_fake=[0.69, 0.71], modes=[247, 30])
    assert rs._fate(stable) == (
        "diverged in 0 of 2 runs; largest fake-side ||grad_x D|| 0.71 (limit 100); final modes 247, 30"
    )
    broken = dict(diverged_at=[500, None], stopped_at=[300, None], max_grad_fake=[math.nan, 150.0], modes=[0, 812])
    assert rs._fate(broken) == (
        "diverged in 1 of 2 runs (at steps [500]); non-finite loss at steps [300]; largest fake-side ||grad_x D|| "
        "150 (limit 100); final modes 0, 812"
    )


def test_marks_start_at_0_include_the_early_ones_and_end_at_the_last_step():
    cfg = rs.SCALES["trained"]
    m = rs.marks(cfg)
    assert m[0] == 0 and m[-1] == cfg["steps"] and m == sorted(set(m))
    assert set(cfg["early"]) <= set(m) and set(range(cfg["every"], cfg["steps"] + 1, cfg["every"])) <= set(m)


def test_probe_leaves_the_run_untouched(root):
    """probe_row draws from generators of its own: the run's data/noise streams and D's gradients are unchanged."""
    config = make_config(
        dict(rs.NET, d_width=1.0, objective="rpgan", penalty="r1", steps=2, seed=3, device="cpu", data_dir=str(root))
    )
    run = make_run(config)
    states = {k: g.get_state().clone() for k, g in run.gens.items()}
    before = flat([p[None] for p in run.D.parameters()])
    row = rs.probe_row(run, 8, 123)
    assert row == rs.probe_row(run, 8, 123)  # the same fixed batches each time
    assert 0 < row["grad_real"] < 1 and 0 < row["grad_fake"] < 1  # the Metz init: weights N(0, 0.02)
    for k, g in run.gens.items():
        assert torch.equal(g.get_state(), states[k]), k
    assert all(p.grad is None for p in run.D.parameters())
    assert torch.equal(flat([p[None] for p in run.D.parameters()]), before)
