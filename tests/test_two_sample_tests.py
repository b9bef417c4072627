"""The C17 toy study (studies/two_sample_tests.py): its true JSDs, the discriminator as a test, and its checks."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from sandbox.nets import mlp_discriminator
from sandbox.objectives import get_objective
from sandbox.reporting import kit
from studies import two_sample_tests as tt


def jsd_on_a_plane(kind: str, sep: float, half: float = 12.0, n: int = 801) -> float:
    """JSD of the two 2-D laws by quadrature on a square grid, no reduction to one coordinate."""
    u = np.linspace(-half, half, n)
    xx, yy = np.meshgrid(u, u, indexing="ij")
    pts = np.stack([xx.ravel(), yy.ravel()], 1)
    p = multivariate_normal([0, 0], np.eye(2)).pdf(pts)
    q = multivariate_normal(
        [sep, 0] if kind == "shift" else [0, 0], np.eye(2) * (1 if kind == "shift" else sep**2)
    ).pdf(pts)
    m = (p + q) / 2
    cell = (u[1] - u[0]) ** 2
    kl = lambda a: np.sum(np.where(a > 0, a * np.log(np.where(a > 0, a, 1) / m), 0)) * cell  # noqa: E731
    return float((kl(p) + kl(q)) / 2)


@pytest.mark.parametrize("kind,sep", [("shift", 0.4), ("shift", 0.8), ("scale", 1.3), ("scale", 1.6)])
def test_true_jsd_reduces_to_one_coordinate(kind, sep):
    assert tt.true_jsd(kind, sep) == pytest.approx(jsd_on_a_plane(kind, sep), rel=2e-4)


def test_true_jsd_is_zero_at_the_null_and_log_2_far_apart():
    assert tt.true_jsd("shift", 0.0) == pytest.approx(0.0, abs=1e-12)
    assert tt.true_jsd("scale", 1.0) == pytest.approx(0.0, abs=1e-12)
    assert tt.true_jsd("shift", 20.0) == pytest.approx(math.log(2), abs=1e-9)


def test_a_discriminator_separates_far_samples_and_its_d_loss_reaches_the_jsd_bound():
    g = torch.Generator().manual_seed(0)
    x, y = tt.samples("shift", 12.0, 200, g)
    d = tt.discriminator_tests(x[None], y[None], 300, g)[0]
    assert d["held_out"]["accuracy"] == 1.0 and d["held_out"]["p"] == pytest.approx(0.5**200, rel=1e-9)
    assert d["held_out"]["jsd"] == pytest.approx(math.log(2), abs=0.02)  # (log 4 - L)/2 -> log 2 as L -> 0


def test_the_vectorised_discriminators_train_as_each_would_alone():
    g = torch.Generator().manual_seed(1)
    pairs = [tt.samples("scale", 1.3, 60, g) for _ in range(3)]
    xs, ys = torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
    together = tt.discriminator_tests(xs, ys, 40, torch.Generator().manual_seed(7))
    g_alone = torch.Generator().manual_seed(7)  # the same construction draws, one net at a time
    for (x, y), got in zip(pairs, together):
        D = mlp_discriminator(2, tt.D_HIDDEN, generator=g_alone)
        x, y = x.float(), y.float()
        opt = torch.optim.Adam(D.parameters(), lr=tt.D_LR)
        obj = get_objective("nonsaturating")
        for _ in range(40):
            opt.zero_grad(set_to_none=True)
            obj.d_loss(D(x[:30]), D(y[:30])).backward()
            opt.step()
        with torch.no_grad():
            loss = float(obj.d_loss(D(x[30:]), D(y[30:])))
            correct = int((D(x[30:]) > 0).sum() + (D(y[30:]) <= 0).sum())
        assert got["held_out"]["jsd"] == pytest.approx((math.log(4) - loss) / 2, rel=1e-4, abs=1e-6)
        assert got["held_out"]["accuracy"] == correct / 60


def test_null_consistency_is_two_sided():
    p = lambda k, n=100: [0.01] * k + [0.5] * (n - k)  # noqa: E731
    assert tt.null_consistent(p(5)) and tt.null_consistent(p(9))
    assert not tt.null_consistent(p(30))  # too many rejections
    assert not tt.null_consistent(p(0, 200))  # too few: a test that never rejects is not calibrated either


def _results(null_rate, top_rate, shuffled_rate, in_sample_rate, c2st_scale, jsd_excess):
    """Synthetic per-point records with the given rejection rates (100 trials each)."""
    out = {}
    for kind, seps in tt.KINDS.items():
        for i, sep in enumerate(seps):
            frac = null_rate if i == 0 else top_rate if i == len(seps) - 1 else 0.5
            rec = {t: [0.01] * round(100 * frac) + [0.5] * (100 - round(100 * frac)) for t in tt.TESTS}
            if kind == "scale" and i == len(seps) - 1:
                rec["c2st"] = [0.01] * round(100 * c2st_scale) + [0.5] * (100 - round(100 * c2st_scale))
            if kind == "shift" and i == len(seps) - 1:
                for t in tt.TESTS:
                    rec[t + "_shuffled"] = [0.01] * round(100 * shuffled_rate) + [0.5] * (
                        100 - round(100 * shuffled_rate)
                    )
            jsd = tt.true_jsd(kind, sep)
            out[kit.point_key(dict(kind=kind, sep=sep))] = dict(
                p_values=rec,
                d_in_sample_p=[0.01] * round(100 * in_sample_rate) + [0.5] * (100 - round(100 * in_sample_rate)),
                jsd_held_out=[jsd + jsd_excess - 0.01, jsd + jsd_excess + 0.01] * 50,
                jsd_in_sample=[jsd + 0.2, jsd + 0.22] * 50,
                true_jsd=jsd,
            )
    return out


def test_the_checks_hold_on_a_calibrated_powerful_case_and_every_control_fails_them():
    good = _results(0.05, 1.0, 0.05, 0.6, 0.05, -0.02)
    checks, controls = tt.make_checks(good, tt.summarise(good))
    assert checks == {k: True for k in checks} and len(checks) == 8
    assert {k: c["control_passes"] for k, c in controls.items()} == {k: False for k in checks}
    bad = _results(0.3, 0.5, 0.05, 0.6, 0.9, 0.1)  # anti-calibrated, weak, a line that sees the scale, JSD above truth
    checks, _ = tt.make_checks(bad, tt.summarise(bad))
    assert checks == {k: False for k in checks}
