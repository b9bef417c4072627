"""Every study runs at smoke scale and writes a well-formed record whose checks are computed booleans."""

import json

import pytest
from _mnist import mnist_present

from sandbox.reporting.kit import point_key
from studies import all_studies, load

REQUIRED_KEYS = {
    "study",
    "claim",
    "claims",
    "config",
    "seed",
    "scale",
    "device",
    "code_version",
    "data",
    "checks",
    "passed",
    "torch",
}


@pytest.mark.parametrize("name", all_studies())
def test_study_runs_at_smoke_scale(name, tmp_path):
    module = load(name)
    if getattr(module, "NEEDS_DATA", None) == "mnist" and not mnist_present():
        pytest.skip(f"{name} needs MNIST under $SANDBOX_DATA/mnist")
    assert module.__doc__ and "Claim" in module.__doc__, "a study's docstring states its claim and source"
    # --workers 1: grid points run in this process (the suite shares the CPU; the runner tests cover workers)
    rec = module.main(["--scale", "smoke", "--out", str(tmp_path), "--seed", "0", "--workers", "1"])
    on_disk = json.loads((tmp_path / f"{name}.json").read_text())
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    assert REQUIRED_KEYS <= set(on_disk)
    assert on_disk["scale"] == "smoke" and on_disk["study"] == name
    assert on_disk["checks"] and all(isinstance(v, bool) for v in on_disk["checks"].values())
    assert on_disk["passed"] == all(on_disk["checks"].values())
    if getattr(module, "SMOKE_MUST_PASS", True):
        failed = [k for k, v in on_disk["checks"].items() if not v]
        assert failed == [], f"{name} failed at smoke scale: {failed}"
    assert rec["checks"] == on_disk["checks"]
    if callable(getattr(module, "points", None)):  # a grid study: a record per point, and --replot agrees with them
        recorded = sorted(p.stem for p in (tmp_path / "records" / name / "smoke").glob("*.json"))
        assert recorded == sorted(point_key(p) for p in module.points("smoke"))
        again = module.main(["--scale", "smoke", "--out", str(tmp_path), "--seed", "0", "--replot"])
        assert again["checks"] == rec["checks"] and again["runner"]["points_run"] == 0
