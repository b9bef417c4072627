"""The committed figures are evidence only if each check can fail: every check in every figures/*.json has a
recorded control that fails it, or a sentence on why it needs none, and every figure comes from a clean tree."""

import importlib
import json
from pathlib import Path

import pytest

from sandbox.reporting import plans
from sandbox.reporting import workers as wk
from sandbox.reporting.outputs import check_controls
from sandbox.reporting.provenance import point_settings, study_scale

FIGURES = Path(__file__).resolve().parents[1] / "figures"
RECORDS = sorted(FIGURES.glob("*.json"))


def test_there_are_committed_figures():
    assert len(RECORDS) >= 20, [p.name for p in RECORDS]


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.stem)
def test_every_check_has_a_control_that_fails_it_or_a_reason(path):
    rec = json.loads(path.read_text())
    checks, controls = rec["checks"], rec.get("controls")
    assert checks, f"{path.name} records no checks"
    assert controls is not None, f"{path.name} records no controls"
    check_controls(controls, checks)  # each names a check and has the right shape
    assert sorted(controls) == sorted(checks), f"{path.name}: checks without a control entry"
    passing_controls = [k for k, c in controls.items() if c.get("control_passes") is True]
    assert passing_controls == [], f"{path.name}: these checks pass on their own control, so cannot fail"


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.stem)
def test_every_figure_comes_from_a_clean_tree_with_its_png(path):
    rec = json.loads(path.read_text())
    assert not rec["code_version"].endswith("+dirty"), f"{path.name} was written from a dirty tree"
    assert rec["study"] == path.stem
    assert (FIGURES / f"{path.stem}.png").is_file()


def _grid_figures() -> list:
    """(name, scale, seed) of every committed figure whose point records are committed beside it."""
    out = []
    for path in RECORDS:
        rec = json.loads(path.read_text())
        if (FIGURES / "records" / rec["study"] / rec["scale"]).is_dir():
            out.append((rec["study"], rec["scale"], rec["seed"]))
    return out


@pytest.mark.parametrize("name, scale, seed", _grid_figures(), ids=lambda v: str(v))
def test_replot_from_the_committed_records_reproduces_the_committed_checks(name, scale, seed, tmp_path):
    """Or, for a figure whose grid is being rerun at new settings (README: a grid across sessions), its records
    folder is still short of the grid: once the last point lands, the figure must be rebuilt from them."""
    module = importlib.import_module(f"studies.{name}")
    committed = json.loads((FIGURES / f"{name}.json").read_text())
    if plans.superseded(module, committed):
        listed = plans.plan(module, scale, records=FIGURES / "records", seed=seed, name=name)
        done = listed["progress"]
        assert done["stale"] == 0 and done["recorded"] < listed["points"], (name, done)
        return
    args = ["--scale", scale, "--seed", str(seed), "--out", str(tmp_path), "--records", str(FIGURES / "records")]
    again = module.main([*args, "--replot"])
    assert again["runner"]["points_run"] == 0
    assert again["checks"] == committed["checks"]
    assert again.get("controls") == committed.get("controls")


def _readme_table() -> dict:
    """study -> the cells of its row in the README's study table (study, claims, committed scale, CPU-minutes)."""
    readme = (FIGURES.parent / "README.md").read_text()
    studies = {p.stem for p in (FIGURES.parent / "studies").glob("[a-z]*.py")}
    rows = [line.split("|")[1:-1] for line in readme.splitlines() if line.startswith("| `")]
    named = {cells[0].strip().strip("`"): [c.strip() for c in cells] for cells in rows if len(cells) == 4}
    return {name: cells for name, cells in named.items() if name in studies}


def _readme_scales() -> dict:
    """study -> the 'committed scale' column of the README's study table."""
    return {name: cells[2] for name, cells in _readme_table().items()}


def test_readme_study_table_names_each_figures_committed_scale():
    table = _readme_scales()
    committed = {p.stem: json.loads(p.read_text())["scale"] for p in RECORDS}
    assert len(table) >= 20, sorted(table)
    wrong = {name: (scale, committed.get(name)) for name, scale in table.items() if committed.get(name) != scale}
    assert wrong == {}, "README says (scale, figure JSON says)"


def _readme_budgets() -> dict:
    """study -> the leading number of the README study table's CPU-minutes column, where it has one."""
    heads = {name: cells[3].split(" ")[0].replace(",", "") for name, cells in _readme_table().items()}
    return {name: float(head) for name, head in heads.items() if head.isdigit()}


def test_readme_cpu_minutes_are_each_study_s_estimate():
    """The budget column is what `--list` prints (estimate_minutes at the committed scale), to 1 CPU-minute or 2%."""
    budgets, scales = _readme_budgets(), _readme_scales()
    assert len(budgets) >= 10, sorted(budgets)
    wrong = {}
    for name, minutes in budgets.items():
        module = importlib.import_module(f"studies.{name}")
        estimate = module.estimate_minutes(study_scale(module, scales[name]))
        if abs(estimate - minutes) > max(1.0, 0.02 * minutes):
            wrong[name] = (minutes, round(estimate, 1))
    assert wrong == {}, "README says (CPU-minutes, estimate_minutes)"


def _record_folders() -> list:
    """Every committed records folder, figures/records/<study>/<scale>."""
    return sorted(p for p in (FIGURES / "records").glob("*/*") if p.is_dir())


@pytest.mark.parametrize("folder", _record_folders(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_records_back_their_figure_at_the_study_s_current_settings(folder):
    """A record without settings, or made at another SCALES entry, would be reused by a run at new settings (or
    refused by --replot): every committed record is at its figure's scale and holds the study's current settings
    (its SCALES entry, with the shared DCGAN trajectory's spec where the study reads one)."""
    study, scale = folder.parent.name, folder.name
    figure = json.loads((FIGURES / f"{study}.json").read_text())
    assert figure["scale"] == scale, f"{study}: records at {scale}, the committed figure at {figure['scale']}"
    module = importlib.import_module(f"studies.{study}")
    expected = wk.canonical_settings(point_settings(module, study_scale(module, scale)))
    files = sorted(folder.glob("*.json"))
    assert files, f"{folder} holds no records"
    for path in files:
        rec = json.loads(path.read_text())
        assert "settings" in rec, f"{path}: no settings recorded"
        assert wk.settings_differ(rec, expected) == [], f"{path}: made at other settings"


def _a_committed_record(module, study: str) -> tuple:
    """(the study's own scale name, a record to make stale): its first committed record at its figure's scale, after
    the control that this record matches the current settings; while a grid at new settings has no point landed
    yet, a record built from the current settings stands in and the control is not run (it would compare the
    settings with themselves)."""
    scale = study_scale(module, json.loads((FIGURES / f"{study}.json").read_text())["scale"])
    files = sorted((FIGURES / "records" / study / scale).glob("*.json"))
    if not files:
        return scale, {"settings": point_settings(module, scale)}
    rec = json.loads(files[0].read_text())
    assert wk.settings_differ(rec, point_settings(module, scale)) == [], f"{files[0]}: made at other settings"
    return scale, rec


# What a study's points read beyond its SCALES entry (nets, optimiser, presets): (where the dict lives, its name, the
# preset in it or None, a field to change, the settings field that holds it).
POINT_CONFIGS = {
    "discriminator_size": ("studies.discriminator_size", "METZ", None, "lr_d", "net"),
    "rpgan_stacked_mnist": ("studies.rpgan_stacked_mnist", "NET", None, "lr_d", "net"),
    "vae_vs_gan": ("studies.vae_vs_gan", "VAE", None, "lr", "vae"),
    "wgan_family": ("sandbox.trainer.presets", "PRESETS", "wgan", "lr_d", "presets"),
    "r1_convergence": ("sandbox.trainer.presets", "PRESETS", "r1", "penalty_weight", "preset"),
    "wgan_mixtures": ("sandbox.trainer.presets", "PRESETS", "wgan", "lr_d", "presets"),
    "dynamics_at_scale": ("sandbox.trainer.presets", "PRESETS", "dcgan", "lr_g", "preset"),
    **{
        study: ("sandbox.trainer.presets", "PRESETS", "dcgan", "lr_d", "trajectory_preset")
        for study in ("dcgan_mnist", "saturation_at_scale", "vanishing_gradients", "birthday_support")
    },
}


def test_every_committed_image_study_s_nets_and_optimiser_are_in_its_settings():
    image_studies = {
        p.parent.name
        for p in _record_folders()
        if "mnist" in getattr(importlib.import_module(f"studies.{p.parent.name}"), "NEEDS_DATA", "")
    }
    assert image_studies - set(POINT_CONFIGS) == set()


@pytest.mark.parametrize("study", sorted(POINT_CONFIGS))
def test_a_change_to_the_nets_or_optimiser_a_study_s_points_read_makes_its_records_stale(study, monkeypatch):
    """Before the settings hooks, a new lr_d in discriminator_size's METZ (or in a preset) would have reused the old
    records."""
    module = importlib.import_module(f"studies.{study}")
    where, name, entry, field, held_as = POINT_CONFIGS[study]
    scale, rec = _a_committed_record(module, study)
    holder = importlib.import_module(where)
    config = getattr(holder, name)
    if entry is None:
        changed = dict(config, **{field: 2 * config[field]})
    else:
        changed = dict(config, **{entry: dict(config[entry], **{field: 2 * config[entry][field]})})
    monkeypatch.setattr(holder, name, changed)
    assert wk.settings_differ(rec, point_settings(module, scale)) == [held_as]


# The toy studies' points read module constants beyond their SCALES entry, held in the settings field "constants":
# one to double per study.
POINT_CONSTANTS = {
    "rpgan_convergence": "MIX_GAMMA",
    "critic_capacity": "TOY_LR",
    "mixtures_2d": "Z_DIM",
    "two_sample_tests": "D_LR",
    "wgan_mixtures": "CLIP",
}


def test_every_committed_study_with_records_holds_what_its_points_read():
    assert {p.parent.name for p in _record_folders()} - set(POINT_CONFIGS) - set(POINT_CONSTANTS) == set()


@pytest.mark.parametrize("study", sorted(POINT_CONSTANTS))
def test_a_change_to_a_constant_a_toy_study_s_points_read_makes_its_records_stale(study, monkeypatch):
    """Before these settings hooks, a new MIX_GAMMA in rpgan_convergence would have reused the old records."""
    module = importlib.import_module(f"studies.{study}")
    name = POINT_CONSTANTS[study]
    scale, rec = _a_committed_record(module, study)
    monkeypatch.setattr(module, name, 2 * getattr(module, name))
    assert wk.settings_differ(rec, point_settings(module, scale)) == ["constants"]


def test_a_record_s_cpu_is_its_cpu_s_then_its_result_s_then_its_wall_time():
    assert wk.record_cpu_s({"cpu_s": 5.0, "result": {"cpu_s": 4.0}, "seconds": 9.0}) == 5.0
    assert wk.record_cpu_s({"result": {"cpu_s": 4.0}, "seconds": 9.0}) == 4.0  # records older than cpu_s
    assert wk.record_cpu_s({"result": [1, 2], "seconds": 9.0}) == 9.0


ESTIMATE_TOLERANCE = 0.25  # an estimate within 25% of what the committed records measured


def test_trained_estimates_agree_with_what_the_committed_records_measured():
    """Each study's own part of its trained estimate (less the shared DCGAN trajectory) against the CPU its
    committed records measured (less the trajectory CPU each record spent), to 25% either way."""
    wrong = {}
    for folder in sorted((FIGURES / "records").glob("*/trained")):
        module = importlib.import_module(f"studies.{folder.parent.name}")
        shared = sum(module.shared_minutes("trained").values()) if hasattr(module, "shared_minutes") else 0.0
        own = module.estimate_minutes("trained") - shared
        records = [json.loads(p.read_text()) for p in folder.glob("*.json")]
        trajectory_s = sum(r["result"].get("trajectory_cpu_s", 0.0) for r in records if isinstance(r["result"], dict))
        measured = (sum(wk.record_cpu_s(r) for r in records) - trajectory_s) / 60
        if not abs(own - measured) <= ESTIMATE_TOLERANCE * measured:
            wrong[folder.parent.name] = (round(own, 1), round(measured, 1))
    assert len(list((FIGURES / "records").glob("*/trained"))) >= 10
    assert wrong == {}, "study: (own estimate, measured CPU-min)"
