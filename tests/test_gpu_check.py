"""benchmarks.gpu, the short GPU check: without CUDA it writes a 'skipped' record and exits cleanly; its --dry-run
runs the sections on the CPU at tiny sizes and writes their numbers (a test of the script, not a measurement)."""

import json

import torch

from benchmarks import gpu


def test_without_cuda_it_writes_skipped_and_measures_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "gpu.json"
    results = gpu.main([str(out)])
    saved = json.loads(out.read_text())
    assert saved["skipped"].startswith("no CUDA device") and saved["sections"] == {} == results["sections"]


def test_dry_run_measures_each_section_on_the_cpu(tmp_path, root):
    out = tmp_path / "gpu.json"
    gpu.main([str(out), "--dry-run", "--sections", "metz_ensemble", "studies", "--data-dir", str(root)])
    saved = json.loads(out.read_text())
    assert saved["device"] == "cpu (dry run)" and sorted(saved["sections"]) == ["metz_ensemble", "studies"]
    metz = saved["sections"]["metz_ensemble"]
    assert "error" not in metz, metz.get("trace")
    assert metz["solo_steps_per_s"] > 0 and metz["K=2"]["member_steps_per_s"] > 0 and metz["K=3"]["ratio_to_solo"] > 0
    studies = saved["sections"]["studies"]
    assert "error" not in studies, studies.get("trace")
    timed = {name: s for name, s in studies.items() if isinstance(s, dict) and "configs" in s}
    assert timed, f"no image study with a trained scale was timed: {studies}"
    for name, s in timed.items():
        row = s["configs"][0]
        assert row["steps_per_s"] > 0 and row["runs"] >= 1 and s["train_hours"] > 0, name
        assert row["data"] in ("mnist", "stacked_mnist"), name


def test_the_planner_passes_over_points_that_train_nothing(monkeypatch):
    from studies import dcgan_mnist

    def real_side(*args, **kwargs):
        raise AssertionError("the planner ran the real-data point (it trains nothing and costs a minute)")

    monkeypatch.setattr(dcgan_mnist, "real_side", real_side)
    planned = gpu.study_configs("dcgan_mnist", "trained", torch.device("cpu"))
    assert planned["runs"] == 3 and [count for _, count in planned["configs"]] == [3]  # the three training seeds
    assert [dcgan_mnist.trains(p) for p in dcgan_mnist.points("trained")] == [True, True, True, False]
