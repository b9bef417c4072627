"""The claims ledger covers every claim of CLAIMS.md, finds evidence in test names and records, and is current."""

import json

from sandbox.reporting import ledger

CLAIMS = """| id | claim | source | evidence wanted |
|---|---|---|---|
| C1 | D* = p/(p+q). | Goodfellow et al. 2014 | S, P (no perturbation raises V), T (a trained D) |
| C7 | Gradients vanish. | Arjovsky and Bottou 2017 | X |
| C18 | BiGAN inverts G \\| sometimes. | Donahue et al. 2016 | T |
"""


def write_tree(tmp_path, checks, scale="full", exist_ok=False):
    (tmp_path / "CLAIMS.md").write_text(CLAIMS)
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_x.py").write_text(
        "def test_c1_symbolic():\n    assert symbolic.check()\n\n"
        "def test_c1_numeric():\n    assert 1\n\ndef helper_c7():\n    pass\n"
    )
    figures = tmp_path / "figures"
    figures.mkdir(exist_ok=exist_ok)
    rec = {
        "study": "optimal_discriminator",
        "claims": ["C1"],
        "scale": scale,
        "device": "cpu",
        "checks": checks,
        "data": {
            "headline": [
                {"claim": "C1", "quantity": "max |D - D*|", "ours": 0.0123, "ours_spread": None, "published": None}
            ]
        },
    }
    (figures / "optimal_discriminator.json").write_text(json.dumps(rec))
    (figures / "optimal_discriminator.shard-0-of-2.json").write_text("{}")
    return ledger.build(tmp_path / "CLAIMS.md", tests, figures)


def row(text, claim):
    return next(line for line in text.splitlines() if line.startswith(f"| [{claim}]"))


def test_parse_claims_reads_ids_and_the_wanted_letters_outside_parentheses(tmp_path):
    (tmp_path / "CLAIMS.md").write_text(CLAIMS)
    claims = ledger.parse_claims(tmp_path / "CLAIMS.md")
    assert [(c.id, c.wanted) for c in claims] == [("C1", ("S", "P", "T")), ("C7", ("X",)), ("C18", ("T",))]
    assert claims[2].text == "BiGAN inverts G | sometimes."


def test_evidence_status_and_reasons(tmp_path, monkeypatch):
    monkeypatch.setattr(ledger, "NOT_YET", {("C18", "T"): "no BiGAN/ALI study yet"})
    text = write_tree(tmp_path, {"d_close_to_dstar": True, "v_at_dstar": True})
    assert row(text, "C1") == "| [C1](#c1) | D* = p/(p+q). | S P T | 1 | 1 | 1 |  | supported |"
    assert row(text, "C7") == "| [C7](#c7) | Gradients vanish. | X |  |  |  | **missing** | not yet |"
    assert "test_x.py::test_c1_symbolic" in text and "2/2 checks pass" in text
    assert "max |D - D*|: ours 0.0123" in text
    assert "T: no BiGAN/ALI study yet" in text  # the NOT_YET reason of C18


def test_a_failed_check_makes_the_claim_partial_and_is_named(tmp_path):
    text = write_tree(tmp_path, {"d_close_to_dstar": False, "v_at_dstar": True})
    assert row(text, "C1").endswith("| partial |")
    assert "failed checks d_close_to_dstar (full scale)" in text


def test_the_reason_a_check_fails_is_printed_while_it_fails_and_only_then(tmp_path, monkeypatch):
    monkeypatch.setattr(ledger, "WHY_FAILED", {("optimal_discriminator", "d_close_to_dstar"): "D is too small"})
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    failing = write_tree(tmp_path / "a", {"d_close_to_dstar": False, "v_at_dstar": True})
    assert "why optimal_discriminator.d_close_to_dstar fails: D is too small" in failing
    passing = write_tree(tmp_path / "b", {"d_close_to_dstar": True, "v_at_dstar": True})
    assert "D is too small" not in passing


def test_every_reason_for_a_failure_names_a_failing_check_of_a_committed_figure():
    figures = ledger.REPO / "figures"
    for study, check in ledger.WHY_FAILED:
        rec = json.loads((figures / f"{study}.json").read_text())
        assert rec["checks"].get(check) is False, f"{study}.{check} passes (or is gone): its reason is dead"


def test_real_ledger_covers_every_claim_and_every_study_has_a_level():
    from studies import all_studies

    claims = ledger.parse_claims()
    ids = [c.id for c in claims]
    # The catalogue grows (C22 was added after C1-C21): it holds at least these, numbered without gaps.
    assert ids[:22] == [f"C{i}" for i in range(1, 23)] and ids == [f"C{i}" for i in range(1, len(ids) + 1)]
    assert sorted(set(all_studies()) - set(ledger.LEVELS)) == []
    text = ledger.build()
    assert all(f"### {c}\n" in text for c in ids)


def test_committed_ledger_is_current():
    assert ledger.main(["--check"]) == 0, "run: python3 -m sandbox.reporting.ledger"


def test_failed_extra_evidence_is_a_caveat_not_a_downgrade(tmp_path, monkeypatch):
    monkeypatch.setattr(ledger, "WHY_FAILED", {("dynamics_at_scale", "ema_helps"): "the EMA lags"})
    extra = {
        "study": "dynamics_at_scale",
        "claims": ["C1"],
        "scale": "quick",
        "device": "cpu",
        "checks": {"ema_helps": False},
        "data": {},
    }
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "dynamics_at_scale.json").write_text(json.dumps(extra))
    text = write_tree(tmp_path, {"d_close_to_dstar": True}, exist_ok=True)
    assert row(text, "C1") == "| [C1](#c1) | D* = p/(p+q). | S P T | 1 | 1 | 1 | 1 (extra) | supported |"
    assert "dynamics_at_scale (extra evidence): failed checks ema_helps (quick scale)" in text
    assert "why dynamics_at_scale.ema_helps fails: the EMA lags" in text  # the caveat keeps its reason
