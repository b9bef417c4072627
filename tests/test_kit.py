"""The study kit: grid-point keys round-trip exactly, the statistics match hand values and scipy, ledger rows."""

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.reporting import kit, ledger
from sandbox.reporting.kit import Headline, parse_point, point_key

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,7}", fullmatch=True)
values = st.one_of(
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.booleans(),
    st.none(),
)


def typed(point: dict) -> list:
    """(name, type, repr) triples: equal only if every value round-tripped with its type (0.0 vs 0, -0.0 vs 0.0)."""
    return sorted((k, type(v).__name__, repr(v)) for k, v in point.items())


@given(st.dictionaries(names, values, min_size=1, max_size=4))
def test_point_key_round_trips_every_scalar_exactly(point):
    key = point_key(point)
    assert typed(parse_point(key)) == typed(point)
    assert point_key(parse_point(key)) == key  # one key per point: stable
    assert "/" not in key and len(key.encode()) <= 200  # a file name


def test_point_key_is_sorted_readable_and_quotes_what_would_read_back_as_another_type():
    assert point_key({"seed": 3, "d_width": 0.25}) == "d_width=0.25,seed=3"
    assert point_key({"data": "ring", "rule": "alternating", "seed": 0}) == "data=ring,rule=alternating,seed=0"
    assert point_key({"gamma": 1.0, "lr": 1e-05}) == "gamma=1.0,lr=1e-05"  # 1.0 stays a float, not int 1
    assert point_key({"s": "3", "t": "nan", "u": "", "v": "True"}) == "s='3',t='nan',u='',v='True'"
    assert point_key({"s": "a,b=c/d e"}) == "s=a%2Cb%3Dc%2Fd%20e"
    assert parse_point("gamma=1.0,lr=1e-05,n=2,on=True,x=None") == {
        "gamma": 1.0,
        "lr": 1e-05,
        "n": 2,
        "on": True,
        "x": None,
    }
    assert type(parse_point("gamma=1.0")["gamma"]) is float and type(parse_point("n=2")["n"]) is int
    nan = parse_point(point_key({"x": float("nan"), "y": -math.inf}))
    assert math.isnan(nan["x"]) and nan["y"] == -math.inf
    assert point_key({"n": np.int64(4), "w": np.float32(0.5), "b": np.bool_(True)}) == "b=True,n=4,w=0.5"


def test_point_key_passes_old_key_strings_and_rejects_what_cannot_name_a_file():
    assert point_key("toy:k=4,h=2") == "toy:k=4,h=2"  # studies written before the kit keep their keys
    for bad, message in [
        ({}, "non-empty dict"),
        ({"a b": 1}, "identifiers"),
        ({"x": [1, 2]}, "int, float, str, bool or None"),
        ({"x": "y" * 300}, "over 200"),
        ("a/b", "without '/'"),
    ]:
        with pytest.raises((ValueError, TypeError), match=message):
            point_key(bad)
    for bad in ("x", "x=1,x=2", "1x=3", "x=a'b", "x=a b", "x=1,"):
        with pytest.raises(ValueError, match="grid point key"):
            parse_point(bad)


def test_select_filters_a_grid_by_point_fields():
    results = {point_key({"rule": r, "seed": s}): r + str(s) for r in ("sim", "alt") for s in (0, 1)}
    assert kit.select(results, rule="alt") == {"rule=alt,seed=0": "alt0", "rule=alt,seed=1": "alt1"}
    assert kit.select(results, rule="alt", seed=1) == {"rule=alt,seed=1": "alt1"}
    assert kit.select(results, rule="none") == {}


def test_mean_std_and_spread_are_the_population_conventions():
    mean, std = kit.mean_std([1.0, 2.0, 3.0, 4.0])
    assert mean == pytest.approx(2.5, abs=1e-15) and std == pytest.approx(math.sqrt(1.25), rel=1e-15)
    assert kit.mean_std([5]) == (5.0, None)  # one seed: no spread to report
    assert kit.spread([3, -1, 2]) == (-1.0, 3.0)
    with pytest.raises(ValueError, match="no values"):
        kit.mean_std([])
    assert kit.finite([1, None, float("nan"), float("inf"), 2.5]) == [1.0, 2.5]
    assert kit.fraction([True, False, True, True]) == pytest.approx(0.75, abs=1e-15) and kit.fraction([]) is None


def test_rank_and_sign_tests_match_hand_counts():
    # a above b in all 9 pairs: U = 9; the exact p is the one ordering in C(6, 3) = 20 as extreme.
    up = kit.rank_test_greater([4, 5, 6], [1, 2, 3])
    assert up.statistic == pytest.approx(9.0, abs=1e-12) and up.p == pytest.approx(1 / 20, rel=1e-9)
    down = kit.rank_test_greater([1, 2, 3], [4, 5, 6])
    assert down.statistic == pytest.approx(0.0, abs=1e-12) and down.p == pytest.approx(1.0, rel=1e-9)
    # sign test: 4 of the 4 untied pairs up (one tie dropped): p = 2^-4.
    sign = kit.paired_sign_test([2, 3, 4, 5, 1], [1, 1, 1, 1, 1])
    assert sign == (pytest.approx(4.0, abs=0), pytest.approx(1 / 16, rel=1e-12))
    assert kit.paired_sign_test([1, 2], [1, 2]) == (0.0, 1.0)
    # Wilcoxon: differences 1, 2, 3, 4 all positive: W+ = 1 + 2 + 3 + 4 = 10, exact p = 2^-4.
    w = kit.wilcoxon_greater([2, 4, 6, 8], [1, 2, 3, 4])
    assert w.statistic == pytest.approx(10.0, abs=1e-12) and w.p == pytest.approx(1 / 16, rel=1e-9)


def test_spearman_is_the_rank_correlation():
    # ranks (1, 2, 3, 4) against (1, 3, 2, 4): sum d^2 = 2, rho = 1 - 6 * 2 / (4 * 15) = 0.8
    rho, p = kit.spearman([10, 20, 30, 40], [1, 3, 2, 4])
    assert rho == pytest.approx(0.8, abs=1e-12) and 0.0 < p < 1.0
    one_sided = kit.spearman([10, 20, 30, 40], [1, 3, 2, 4], alternative="greater")
    assert one_sided.p == pytest.approx(p / 2, rel=1e-9)
    assert kit.spearman([1, 2, 3], [3, 2, 1]).statistic == pytest.approx(-1.0, abs=1e-12)
    with pytest.raises(ValueError, match="x has 3 values, y has 2"):
        kit.spearman([1, 2, 3], [1, 2])


def test_headline_is_the_ledger_row_in_either_form():
    h = Headline("C8", "eigenvalues", 0.5, published="+-0.5i", source="Mescheder et al. 2018")
    row = h._asdict()
    assert list(row) == ["claim", "quantity", "ours", "ours_spread", "published", "source", "setting_difference"]
    assert kit.headline_row(h) == row and kit.headline_row(row) is row
    assert kit.headline_row(list(h)) == row  # a Headline that went through JSON as a list
    assert ledger.headline_text(kit.headline_row(list(h))) == (
        "eigenvalues: ours 0.5 vs published +-0.5i (Mescheder et al. 2018)"
    )
    with pytest.raises(ValueError, match="a headline row is"):
        kit.headline_row("C8")


def test_the_ledger_reads_headline_lists_and_counts_paper_scale_as_full(tmp_path):
    (tmp_path / "CLAIMS.md").write_text(
        "| id | claim | source | evidence |\n|---|---|---|---|\n| C7 | Gradients vanish. | A | X |\n"
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "figures").mkdir()
    for scale, name in (("paper", "vanishing_gradients"), ("trained", "saturation_at_scale"), ("quick", "dcgan_mnist")):
        rec = {
            "study": name,
            "claims": ["C7"],
            "scale": scale,
            "device": "cuda",
            "checks": {"ok": True},
            "data": {"headline": [list(Headline("C7", f"decay at {scale}", 3.0))]},  # a list: Headline via JSON
        }
        (tmp_path / "figures" / f"{name}.json").write_text(json.dumps(rec))
    text = ledger.build(tmp_path / "CLAIMS.md", tmp_path / "tests", tmp_path / "figures")
    assert "- decay at paper: ours 3\n" in text and "- decay at trained: ours 3\n" in text
    assert "dcgan_mnist: image-scale evidence is at quick scale" in text  # quick is a reduced run
    assert "saturation_at_scale: image-scale evidence" not in text  # trained is a full level of its own
    assert "vanishing_gradients: image-scale evidence" not in text  # paper scale is the full run
    assert "supported at reduced scale" in text
