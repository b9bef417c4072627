"""studies/birthday_support.py: the estimator at the Stacked MNIST test's sizes, and the trained generators read
from discriminator_size's point records."""

import json

import pytest

from studies import birthday_support as bs


def test_c13_estimates_at_the_stacked_mnist_sizes_are_within_2x_for_uniform_laws_and_not_for_the_atom_count():
    rows = bs.validate_stacked(seed=0)
    uniform = {k: r for k, r in rows.items() if k.startswith("uniform")}
    assert sorted(r["support"] for r in uniform.values()) == bs.STACKED["uniform"]
    for r in uniform.values():
        assert list(r["sizes"]) == bs.STACKED["sizes"]
        assert r["fit"] == pytest.approx(r["support"], rel=0.5)  # inside 2x with room: 50 trials x 6 sizes
    (heavy,) = (r for k, r in rows.items() if not k.startswith("uniform"))
    assert heavy["collision_support"] == pytest.approx(1 / (100 * (0.5 / 100) ** 2 + 100000 * (0.5 / 100000) ** 2))
    assert heavy["fit"] == pytest.approx(heavy["collision_support"], rel=0.5)  # ~400, not the 100100 atoms
    assert heavy["fit"] < heavy["support"] / 100


def test_stacked_generators_reads_trained_point_records_per_d_size(tmp_path):
    folder = tmp_path / "discriminator_size" / "trained"
    folder.mkdir(parents=True)
    for w, seed, support, modes in ((0.25, 0, 40.0, 12), (0.25, 1, float("inf"), 30), (0.5, 0, 900.0, 600)):
        rec = dict(
            study="discriminator_size",
            scale="trained",
            key=f"d_width={w},seed={seed}",
            point=dict(d_width=w, seed=seed),
            code_version="abc",
            result=dict(
                d_width=w,
                support=support,
                support_note="",
                curve=[dict(step=0, modes=1, reverse_kl=6.9), dict(step=20000, modes=modes, reverse_kl=3.0)],
            ),
        )
        (folder / f"{rec['key']}.json").write_text(json.dumps(rec).replace("Infinity", '"inf"'))
    (tmp_path / "discriminator_size" / "quick").mkdir()
    got = bs.stacked_generators(tmp_path)
    assert sorted(got) == ["0.25", "0.5"]
    assert [(r["seed"], r["modes"], r["step"]) for r in got["0.25"]] == [(0, 12, 20000), (1, 30, 20000)]
    assert got["0.25"][1]["support"] == float("inf") and got["0.5"][0]["support"] == 900.0
    assert bs.stacked_generators(tmp_path / "nothing") == {}


def test_the_trained_generators_support_rows_name_the_floor_and_the_modes():
    stacked = {
        "0.5": [dict(seed=1, support=28803.2, modes=770), dict(seed=0, support=float("nan"), modes=1)],
        "0.25": [dict(seed=0, support=float("nan"), modes=1)],
    }
    rows = bs.stacked_headline(stacked)
    assert [r["quantity"].split("D = ")[1].split(" G")[0] for r in rows] == ["0.25", "0.5"]
    assert rows[1]["ours"] == "< 256, 28,803"  # by seed; duplicates at 16 samples put the support below 16^2
    assert rows[1]["source"].endswith("modes covered of 1000 per seed: 1, 770")


def test_run_reads_the_generator_sources_by_name_not_by_their_order_in_the_record():
    bank = bs.SCALES["smoke"]["bank"]
    healthy, banked, real = bs.source_names(bank)
    row = lambda fit: dict(
        sizes=[5, 10], probs=[0.0, 0.1], threshold=1.0, note="", pair_distances=[], pairs=None, fit=fit, half=fit
    )  # noqa: E731
    # a record's JSON sorts its keys: "DCGAN...", "MNIST test set", "same G..." (the collapsed G last)
    sources = {n: row(f) for n, f in sorted({healthy: float("inf"), banked: float(bank), real: 1e6}.items())}
    result = bs.run("smoke", 0, "cpu", results={"seed=0": dict(sources=sources, fid=1.0, bank=bank, cpu_s=0.0)})
    assert list(result.data["generators"]["sources"]) == [healthy, banked, real]
    assert result.checks["collapsed_generator_support_near_k"] is True  # the bank's fit, exactly K
    assert result.checks["healthy_generator_support_above_10x_collapsed"] is True
