"""Grid studies spread over machines: --shard i/n runs a slice of the points (their records), --shard merge/n (an
alias of --replot) builds the figure from every point's record."""

import json

import matplotlib.pyplot as plt
import pytest

from sandbox.reporting import study


def points(scale):
    return [{"k": k} for k in range(5)]


def run_point(point, scale, seed, device):
    return {"square": point["k"] ** 2 + seed}


def run(scale, seed, device, results=None):
    results = study.run_grid(points(scale), lambda p: run_point(p, scale, seed, device), results)
    total = sum(r["square"] for r in results.values())
    return study.Result(
        config={"scale": scale}, data={"results": results, "total": total}, checks={"total_is_30": total == 30}
    )


def plot(result):
    fig, ax = plt.subplots()
    ax.plot([r["square"] for r in result.data["results"].values()])
    return fig


def main(argv):
    return study.main(
        "toy_grid", "Claim: a toy grid.", "toy", [], run, plot, ["--workers", "1", *argv], points=points,
        run_point=run_point,
    )  # fmt: skip


def test_shards_cover_the_grid_once_and_merge_equals_an_unsharded_run(tmp_path):
    whole = main(["--scale", "smoke", "--out", str(tmp_path / "whole")])
    out = tmp_path / "sharded"
    shards = [main(["--scale", "smoke", "--out", str(out), "--shard", f"{i}/2"]) for i in range(2)]
    assert sorted(shards[0]["results"]) == ["k=0", "k=2", "k=4"]
    assert sorted(shards[1]["results"]) == ["k=1", "k=3"]
    assert sorted(p.stem for p in (out / "records" / "toy_grid" / "smoke").glob("*.json")) == [
        f"k={k}" for k in range(5)
    ]
    assert not (out / "toy_grid.json").exists()  # a shard writes no figure
    merged = main(["--scale", "smoke", "--out", str(out), "--shard", "merge/2"])
    assert merged["data"] == whole["data"] and merged["checks"] == {"total_is_30": True}
    assert json.loads((out / "toy_grid.json").read_text())["data"]["total"] == 30
    assert merged["runner"]["points_run"] == 0  # the merge trained nothing


def test_merge_names_the_missing_points_and_refuses_records_of_another_seed(tmp_path):
    main(["--scale", "smoke", "--out", str(tmp_path), "--shard", "0/2"])
    with pytest.raises(SystemExit, match=r"2 of 5 point records \(scale smoke, seed 0\) missing .*: k=1, k=3\."):
        main(["--scale", "smoke", "--out", str(tmp_path), "--shard", "merge/2"])
    main(["--scale", "smoke", "--seed", "3", "--out", str(tmp_path), "--shard", "1/2"])
    with pytest.raises(SystemExit, match=r"2 of 5 point records \(scale smoke, seed 0\) missing .*: k=1, k=3\."):
        main(["--scale", "smoke", "--out", str(tmp_path), "--shard", "merge/2"])
    with pytest.raises(SystemExit, match=r"3 of 5 point records \(scale smoke, seed 3\) missing .*: k=0, k=2, k=4\."):
        main(["--scale", "smoke", "--seed", "3", "--out", str(tmp_path), "--replot"])


def test_run_grid_refuses_partial_results_and_bad_shard_specs():
    with pytest.raises(ValueError, match=r"miss 2 grid points"):
        study.run_grid(["a", "b", "c"], lambda k: {}, {"a": {}})
    for bad, message in [("3/2", "need 0 <= i < n"), ("x/2", "takes i/n or merge/n"), ("1", "takes i/n")]:
        with pytest.raises(ValueError, match=message):
            study.parse_shard(bad)


def test_a_study_without_a_grid_refuses_to_shard(tmp_path):
    with pytest.raises(SystemExit, match="not a grid study"):
        study.main("plain", "doc", "c", [], run, plot, ["--shard", "0/2", "--out", str(tmp_path)])


def test_a_bad_shard_is_one_line_naming_it():
    from studies import mixtures_2d

    with pytest.raises(SystemExit, match=r"error: --shard '3/2': need 0 <= i < n and n >= 1"):
        mixtures_2d.main(["--shard", "3/2", "--scale", "smoke"])
