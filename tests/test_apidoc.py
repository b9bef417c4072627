"""The README's public-API table is the one made from the docstrings, and every public function has one."""

from pathlib import Path

from sandbox.reporting import apidoc

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_api_table_is_up_to_date():
    assert apidoc.main(["--check", str(README)]) == 0, "run: python3 -m sandbox.reporting.apidoc --write README.md"


def test_every_public_theory_function_has_a_one_line_docstring():
    missing = [f"{m}.{f}" for m, f, formula, _ in apidoc.rows() if not formula]
    assert missing == []


def test_split_source_separates_the_trailing_citation():
    assert apidoc.split_source("V = E log D (Goodfellow et al. 2014, eq. 1).") == (
        "V = E log D",
        "Goodfellow et al. 2014, eq. 1",
    )
    assert apidoc.split_source("max(0, t)") == ("max(0, t)", "")
