"""benchmarks.grid --control: the torch-free control of the busy-core target (pure-Python points through the same
runner and pool), which times the worker arms only; the timings themselves are measured, not asserted."""

import json
import statistics

import pytest

from benchmarks import grid


def test_the_control_point_is_one_cores_pure_python_work():
    assert grid.spin_point({"seed": 3, "steps": 2}, "bench", 0, "cpu") == {"total": 2_000_000 * 1_999_999 // 2}


def test_the_control_times_the_worker_arms_only_and_reports_the_busy_ratio(tmp_path):
    out = tmp_path / "grid.json"
    r = grid.main(["--control", "--points", "2", "--steps", "1", "--rounds", "1", "--out", str(out)])
    assert sorted(r["points_per_s"]) == ["workers", "workers_busy"]  # no threads arm: a loop has one thread
    assert "workers / threads" not in r and sorted(r["met"]) == ["workers_busy / workers"]
    # the busy ratio is the median of the per-round ratios of the recorded rates
    per_round = [busy / quiet for busy, quiet in zip(r["rates"]["workers_busy"], r["rates"]["workers"])]
    assert r["workers_busy / workers"]["median"] == pytest.approx(statistics.median(per_round), rel=1e-12)
    assert r["control"] is True
    assert json.loads(out.read_text())["what"].startswith("points/s of a grid of pure-Python loops")
