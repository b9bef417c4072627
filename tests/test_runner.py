"""The study runner: per-point records written as points finish, resume, --replot, workers, guards and --list.

A toy grid study is written to tmp_path as a module (so worker processes can import it); every run_point call
appends a line to a calls file, so the tests count what the runner trained.
"""

import importlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from sandbox.reporting import provenance, study

FAKE = '''"""Claim: a toy grid for the runner's tests."""
import json
import math
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from sandbox.reporting import study
from sandbox.reporting.kit import Headline, parse_point

SCALES = {"smoke": {"n": 2}, "quick": {"n": 3}, "full": {"n": 4}}
BUDGET = {"smoke": 0.01, "full": 2.5}


def points(scale):
    return [{"k": k, "width": w} for k in range(SCALES[scale]["n"]) for w in (0.5, 1.0)]


HERE = Path(__file__).parent  # files, not environment variables: worker processes may predate a setenv
FAIL = HERE / "fail_at_k.txt"


def run_point(point, scale, seed, device):
    with open(HERE / "calls.txt", "a") as f:
        f.write(json.dumps(point) + "\\n")
    if (HERE / "hang.txt").exists():  # a long point: say which process trains it, then keep training
        (HERE / f"pid_{point['k']}_{point['width']}.txt").write_text(str(os.getpid()))
        time.sleep(120)
    if FAIL.exists() and point["k"] == int(FAIL.read_text()) and point["width"] == 1.0:
        raise ValueError(f"planned failure at {point}")
    return {
        "value": point["k"] * point["width"] + seed,
        "noise": torch.rand(2).tolist(),  # the runner seeds each point: the same on any worker
        "threads": torch.get_num_threads(),
        "nan": float("nan"),
        "scale_seen": scale,
    }


def run(scale, seed, device, results=None):
    results = study.run_grid(points(scale), None, results)
    total = sum(r["value"] for r in results.values())
    checks = {
        "total_positive": total > 0,
        "nan_comes_back_as_a_float": all(math.isnan(r["nan"]) for r in results.values()),
        "widths_parse_back": sorted({parse_point(k)["width"] for k in results}) == [0.5, 1.0],
    }
    controls = {"total_positive": {"control": "seed -1000 makes the total negative", "control_passes": True}}
    data = {"results": results, "total": total, "headline": [Headline("C0", "total", total)]}
    return study.Result(config={"scale": scale}, data=data, checks=checks, controls=controls)


def plot(result):
    fig, ax = plt.subplots()
    ax.plot([r["value"] for r in result.data["results"].values()])
    return fig


def main(argv=None):
    return study.main(
        "fake_grid", __doc__, "a toy grid", ["C0"], run, plot, argv, points=points, run_point=run_point
    )
'''


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """The toy grid module, importable here and in spawned workers; calls() lists the points it trained."""
    (tmp_path / "fake_grid.py").write_text(FAKE)
    monkeypatch.syspath_prepend(str(tmp_path))
    calls = tmp_path / "calls.txt"
    monkeypatch.delitem(sys.modules, "fake_grid", raising=False)
    module = importlib.import_module("fake_grid")
    module.calls = lambda: [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
    yield module
    sys.modules.pop("fake_grid", None)


def run(fake, out, *flags):
    return fake.main(["--scale", "smoke", "--out", str(out), *flags])


def records_of(out, scale="smoke") -> dict:
    folder = out / "records" / "fake_grid" / scale
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def _timeless(recs: dict) -> dict:
    """The records without what differs run to run (wall and CPU seconds, the device's description)."""
    return {k: {f: v for f, v in r.items() if f not in ("seconds", "cpu_s", "device")} for k, r in recs.items()}


KEYS = ["k=0,width=0.5", "k=0,width=1.0", "k=1,width=0.5", "k=1,width=1.0"]


def test_each_point_leaves_a_claim_free_record_and_a_rerun_trains_nothing(fake, tmp_path):
    out = tmp_path / "out"
    rec = run(fake, out, "--workers", "1")
    recs = records_of(out)
    assert sorted(recs) == KEYS and len(fake.calls()) == 4
    one = recs["k=1,width=0.5"]
    assert set(one) == {
        "study",
        "point",
        "key",
        "scale",
        "seed",
        "code_version",
        "device",
        "torch",
        "seconds",
        "cpu_s",
        "result",
        "settings",
    }
    assert one["point"] == {"k": 1, "width": 0.5} and one["scale"] == "smoke" and one["seed"] == 0
    assert one["settings"] == {"n": 2}  # the study's SCALES entry the point ran at
    assert one["result"]["value"] == 0.5 and one["result"]["nan"] == "nan" and one["result"]["threads"] == 1
    assert not list((out / "records").rglob("*.tmp"))  # atomic writes leave no temp files behind
    assert rec["checks"] == {"total_positive": True, "nan_comes_back_as_a_float": True, "widths_parse_back": True}
    assert rec["data"]["total"] == 1.5 and rec["runner"]["points_run"] == 4

    again = run(fake, out, "--workers", "1")
    assert len(fake.calls()) == 4 and again["runner"] == dict(rec["runner"], workers=0, points_run=0, points_reused=4)
    assert again["checks"] == rec["checks"] and again["data"]["results"] == rec["data"]["results"]
    run(fake, out, "--workers", "1", "--rerun")
    assert len(fake.calls()) == 8
    run(fake, out, "--workers", "1", "--seed", "2")  # another seed does not match the records: all run again
    assert len(fake.calls()) == 12 and records_of(out)["k=0,width=0.5"]["result"]["value"] == 2.0


def _trains_nothing(point, scale, seed, device, workdir):
    return {"workdir": str(workdir)}


def test_a_record_s_cpu_s_adds_what_earlier_calls_noted_in_the_work_folder(tmp_path):
    from sandbox.reporting import workers

    path = tmp_path / "records" / "s" / "smoke" / "k=1.json"
    job = workers.Job("s", _trains_nothing, {"k": 1}, "k=1", "smoke", "smoke", 0, "cpu", 1, "abc", str(path))
    fresh = workers.run_job(job)
    assert fresh["result"]["workdir"] == str(workers.work_dir(path)) and 0.0 <= fresh["cpu_s"] < 5.0
    workers.note_spent(workers.work_dir(path), 600.0)  # a killed call had trained for 600 CPU-seconds
    resumed = workers.run_job(job)
    assert 600.0 <= resumed["cpu_s"] < 605.0


def test_a_partial_run_resumes_with_only_the_missing_points(fake, tmp_path):
    out = tmp_path / "out"
    first = run(fake, out, "--workers", "1")
    (out / "records" / "fake_grid" / "smoke" / "k=1,width=1.0.json").unlink()  # as if killed before this point
    resumed = run(fake, out, "--workers", "1")
    assert [p["k"] for p in fake.calls()] == [0, 0, 1, 1, 1] and fake.calls()[-1] == {"k": 1, "width": 1.0}
    assert resumed["data"]["results"] == first["data"]["results"] and resumed["runner"]["points_run"] == 1


def test_a_record_made_at_other_scale_settings_is_stale_and_one_without_settings_is_kept(fake, tmp_path, capsys):
    out = tmp_path / "out"
    first = run(fake, out, "--workers", "1")
    folder = out / "records" / "fake_grid" / "smoke"
    path = folder / "k=1,width=1.0.json"
    rec = json.loads(path.read_text())
    path.write_text(json.dumps(dict(rec, settings={"n": 1})))  # as if the scale had 1 k when it ran
    with pytest.raises(SystemExit, match=r"1 of 4 point records .*\(1 made at other settings: n\): k=1,width=1.0"):
        run(fake, out, "--replot")
    again = run(fake, out, "--workers", "1")
    assert (
        fake.calls()[4:] == [{"k": 1, "width": 1.0}]
        and "(1 made at other settings: n) run again" in capsys.readouterr().out
    )
    assert again["data"]["results"] == first["data"]["results"]
    legacy = {k: v for k, v in json.loads(path.read_text()).items() if k != "settings"}  # written before settings were
    path.write_text(json.dumps(legacy))
    run(fake, out, "--workers", "1")
    assert len(fake.calls()) == 5  # a record without settings matches on key, scale and seed, as before


def test_a_study_s_settings_hook_is_what_records_hold_and_its_change_makes_them_stale(fake, tmp_path, monkeypatch):
    """A study whose points read more than its SCALES entry (a shared trajectory's spec) defines settings(scale)."""
    out = tmp_path / "out"
    monkeypatch.setattr(fake, "settings", lambda scale: dict(fake.SCALES[scale], spec={"width": 0.25}), raising=False)
    run(fake, out, "--workers", "1")
    assert {r["settings"]["spec"]["width"] for r in records_of(out).values()} == {0.25}
    run(fake, out, "--workers", "1")
    assert len(fake.calls()) == 4  # same settings: nothing runs again
    monkeypatch.setattr(fake, "settings", lambda scale: dict(fake.SCALES[scale], spec={"width": 0.5}))
    with pytest.raises(SystemExit, match=r"made at other settings: spec"):
        run(fake, out, "--replot")
    run(fake, out, "--workers", "1")
    assert len(fake.calls()) == 8 and {r["settings"]["spec"]["width"] for r in records_of(out).values()} == {0.5}


def test_replot_rebuilds_from_records_alone_and_names_a_missing_point(fake, tmp_path):
    out = tmp_path / "out"
    first = run(fake, out, "--workers", "1")
    (out / "fake_grid.png").unlink()
    replot = run(fake, out, "--replot")
    assert len(fake.calls()) == 4 and (out / "fake_grid.png").stat().st_size > 5000
    assert replot["checks"] == first["checks"] and replot["data"] == first["data"]
    (out / "records" / "fake_grid" / "smoke" / "k=0,width=1.0.json").unlink()
    with pytest.raises(SystemExit, match=r"1 of 4 point records \(scale smoke, seed 0\) missing .*: k=0,width=1.0\."):
        run(fake, out, "--replot")
    assert len(fake.calls()) == 4  # refused without training
    with pytest.raises(SystemExit, match="not a grid study"):
        study.main("plain", "doc", "c", [], fake.run, fake.plot, ["--replot", "--out", str(out)])


def test_two_workers_write_the_same_records_as_one(fake, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    run(fake, one, "--workers", "1")
    rec = run(fake, two, "--workers", "2")
    assert _timeless(records_of(one)) == _timeless(records_of(two)) and sorted(records_of(two)) == KEYS
    assert all(r["result"]["threads"] == 1 for r in records_of(two).values())
    assert rec["runner"]["points_run"] == 4 and rec["runner"]["workers"] == 2 and len(fake.calls()) == 8


def test_a_failed_point_is_named_and_the_finished_records_stay(fake, tmp_path):
    (tmp_path / "fail_at_k.txt").write_text("0")
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match=r"1 of 4 grid points failed: k=0,width=1.0 \(ValueError: planned failure"):
        run(fake, out, "--workers", "2")
    assert sorted(records_of(out)) == ["k=0,width=0.5", "k=1,width=0.5", "k=1,width=1.0"]
    with pytest.raises(RuntimeError, match=r"grid point k=0,width=1.0 failed") as err:
        run(fake, out, "--workers", "1")  # in this process: the real exception, for a debugger
    assert isinstance(err.value.__cause__, ValueError)
    (tmp_path / "fail_at_k.txt").unlink()
    assert run(fake, out, "--workers", "1")["runner"]["points_run"] == 1


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie (a terminated worker its parent has not reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_runner_alone_stops_its_workers_at_once(fake, tmp_path, signum):
    """A scheduler's SIGTERM (or a SIGINT) to the runner process only: before, SIGTERM killed the runner and left
    its workers training (racing a rerun for the checkpoints) and SIGINT waited for the points in flight."""
    (tmp_path / "hang.txt").write_text("1")
    # A shell starts a background job (`nohup make test &`) with SIGINT ignored, and the runner would inherit that:
    # the child restores Python's own SIGINT handler first, so the test does not depend on how pytest was started.
    code = (
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); import fake_grid; "
        f"fake_grid.main(['--scale', 'smoke', '--out', {str(tmp_path / 'out')!r}, '--workers', '2'])"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), *sys.path]))
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while len(list(tmp_path.glob("pid_*.txt"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        pids = [int(p.read_text()) for p in tmp_path.glob("pid_*.txt")]
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)  # the control: two workers in their points
        proc.send_signal(signum)
        rc = proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in pids if _alive(pid)] == []
        assert rc == (128 + signal.SIGTERM if signum == signal.SIGTERM else -signal.SIGINT)  # KeyboardInterrupt
        assert "stopping the workers" in proc.stderr.read()
        assert records_of(tmp_path / "out") == {}  # no point finished
    finally:
        proc.kill()
        for p in tmp_path.glob("pid_*.txt"):
            if _alive(int(p.read_text())):
                os.kill(int(p.read_text()), signal.SIGKILL)


def test_the_record_keeps_its_keys_and_adds_headline_rows_controls_and_the_scale_ladder(fake, tmp_path):
    out = tmp_path / "out"
    rec = run(fake, out, "--workers", "1")
    on_disk = json.loads((out / "fake_grid.json").read_text())
    assert {"claim", "claims", "config", "seed", "scale", "device", "code_version", "torch", "data", "checks"} <= set(
        on_disk
    )
    assert on_disk["data"]["headline"] == [
        dict(claim="C0", quantity="total", ours=1.5, ours_spread=None, published=None, source="", setting_difference="")
    ]
    assert on_disk["controls"] == rec["controls"] and on_disk["controls"]["total_positive"]["control_passes"] is True
    assert "forced" not in on_disk
    full = run(fake, tmp_path / "full", "--workers", "1", "--scale", "full")
    assert full["scale"] == "paper" and full["config"]["scale"] == "full"  # the study sees its own name
    assert sorted(p.name for p in (tmp_path / "full" / "records" / "fake_grid").iterdir()) == ["paper"]
    with pytest.raises(SystemExit, match="holds a paper-scale result; a smoke run would overwrite it"):
        run(fake, tmp_path / "full", "--workers", "1")
    with pytest.raises(SystemExit, match="fake_grid has no trained scale; it defines smoke, quick, full"):
        run(fake, out, "--scale", "trained")
    bad = study.Result({}, {}, {"a": True}, {"b": {"no_control": "x"}})
    with pytest.raises(ValueError, match=r"controls\['b'\] names no check"):
        study.record("x", "c", [], bad, seed=0, scale="smoke", device="cpu")
    bad = study.Result({}, {}, {"a": True}, {"a": {"control": "x"}})
    with pytest.raises(ValueError, match=r"controls\['a'\] must be"):
        study.record("x", "c", [], bad, seed=0, scale="smoke", device="cpu")


def test_an_old_full_record_is_guarded_as_paper_scale(fake, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "fake_grid.json").write_text(json.dumps({"study": "fake_grid", "scale": "full"}))
    with pytest.raises(SystemExit, match="holds a paper-scale result; a quick run would overwrite it"):
        run(fake, out, "--scale", "quick", "--workers", "1")
    assert fake.calls() == []  # refused before training anything
    forced = run(fake, out, "--scale", "quick", "--workers", "1", "--force")
    assert forced["forced"] is True and forced["forced_over"] == ["over a paper-scale record"]


def test_a_dirty_tree_may_not_write_into_figures_unless_forced(fake, tmp_path, monkeypatch):
    figures = tmp_path / "figures"
    monkeypatch.setattr(provenance, "FIGURES", figures)
    monkeypatch.setattr(provenance, "dirty_code", lambda repo=None: [" M sandbox/objectives.py"])
    with pytest.raises(SystemExit, match=r"refusing to write fake_grid into the committed figures/ .*objectives\.py"):
        run(fake, figures, "--workers", "1")
    assert fake.calls() == [] and not figures.exists()  # refused before training or writing anything
    rec = run(fake, tmp_path / "elsewhere", "--workers", "1")  # any other --out is fine
    assert "forced" not in rec and rec["code_version"].endswith("+dirty")
    forced = run(fake, figures, "--workers", "1", "--force")
    assert forced["forced"] is True and forced["forced_over"] == ["uncommitted code"]
    assert json.loads((figures / "fake_grid.json").read_text())["code_version"].endswith("+dirty")
    assert (figures / "records" / "fake_grid" / "smoke").is_dir()  # figures/records: the default beside figures/
    monkeypatch.setattr(provenance, "dirty_code", lambda repo=None: [])
    assert "forced" not in run(fake, figures, "--workers", "1")


def test_code_version_counts_code_changes_and_ignores_figures(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    for path in ("sandbox/a.py", "figures/x.json", "tests/test_a.py"):
        (tmp_path / path).parent.mkdir(exist_ok=True)
        (tmp_path / path).write_text("1\n")
    git("add", ".")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "init")
    clean = provenance.code_version(tmp_path)
    assert len(clean) == 12 and not clean.endswith("+dirty")
    (tmp_path / "figures" / "x.json").write_text("2\n")
    (tmp_path / "tests" / "test_a.py").write_text("2\n")
    assert provenance.code_version(tmp_path) == clean  # outputs and tests do not make a figure
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "new.py").write_text("1\n")
    assert provenance.code_version(tmp_path) == clean + "+dirty"  # an untracked study is code too
    (tmp_path / "studies" / "new.py").unlink()
    (tmp_path / "sandbox" / "a.py").write_text("2\n")
    assert provenance.dirty_code(tmp_path) == [" M sandbox/a.py"]


def test_list_prints_points_and_estimates_without_running(fake, tmp_path, capsys):
    plan = run(fake, tmp_path, "--list")
    nothing = dict(recorded=0, stale=0, started=0, recorded_cpu_s=0.0, started_cpu_s=0.0)
    assert plan == dict(
        study="fake_grid",
        scale="smoke",
        points=4,
        cpu_minutes=pytest.approx(0.04),
        note="0.04 CPU-min; recorded 0/4",
        progress=nothing,
        left_cpu_minutes=pytest.approx(0.04),
    )
    assert run(fake, tmp_path, "--list", "--scale", "full")["cpu_minutes"] == pytest.approx(20.0)
    assert run(fake, tmp_path, "--list", "--scale", "quick")["note"] == "no estimate; recorded 0/6"
    assert (
        run(fake, tmp_path, "--list", "--scale", "trained")["note"] == "no trained scale (defines smoke, quick, full)"
    )
    fake.estimate_minutes = lambda scale: {"smoke": 1.5, "quick": 7.0, "full": 60.0}[scale]  # over BUDGET
    assert run(fake, tmp_path, "--list", "--scale", "quick")["note"] == "7 CPU-min; recorded 0/6"
    text = capsys.readouterr().out
    assert "fake_grid                smoke        4 points  0.04 CPU-min; recorded 0/4" in text
    assert "fake_grid                paper        8 points  20 CPU-min; recorded 0/8" in text
    assert fake.calls() == [] and not (tmp_path / "records").exists()


def test_list_reports_recorded_started_and_stale_points_from_the_records(fake, tmp_path, capsys):
    run(fake, tmp_path, "--workers", "1", "--shard", "0/2")  # points 0 and 2 of 4 recorded
    spent = sum(r["cpu_s"] for r in records_of(tmp_path).values())
    work = tmp_path / "records" / "fake_grid" / "smoke" / ".work" / KEYS[1]
    work.mkdir(parents=True)
    (work / "spent.json").write_text('{"cpu_s": 90.0}')  # a killed point: its last checkpoint's CPU note
    plan = run(fake, tmp_path, "--list")
    assert plan["progress"] == dict(
        recorded=2, stale=0, started=1, recorded_cpu_s=pytest.approx(spent), started_cpu_s=90.0
    )
    assert plan["left_cpu_minutes"] == pytest.approx(0.04 * 2 / 4)
    assert plan["note"] == f"0.04 CPU-min; recorded 2/4 ({spent / 60:.3g} CPU-min), 1 started (1.5 CPU-min so far)"
    fake.SCALES["smoke"] = {"n": 2, "steps": 5}  # new settings: both records are stale, nothing is recorded
    plan = run(fake, tmp_path, "--list")
    assert plan["progress"]["recorded"] == 0 and plan["progress"]["stale"] == 2
    assert plan["note"] == "0.04 CPU-min; recorded 0/4, 1 started (1.5 CPU-min so far), 2 at other settings"
    assert "recorded 0/4, 1 started" in capsys.readouterr().out
    assert len(fake.calls()) == 2  # listing trained nothing


def test_list_says_when_the_figure_in_out_is_at_other_settings(fake, tmp_path):
    """A figure whose config holds another value of a SCALES field is superseded (a grid rerun under way): --list
    says so; a current figure, or one at another scale, adds nothing."""
    (tmp_path / "fake_grid.json").write_text(json.dumps({"scale": "smoke", "config": {"n": 5}}))
    assert run(fake, tmp_path, "--list")["note"].endswith(
        "; fake_grid.json is at other settings (n) until the last point lands"
    )
    for figure in ({"scale": "smoke", "config": {"n": 2}}, {"scale": "full", "config": {"n": 5}}):
        (tmp_path / "fake_grid.json").write_text(json.dumps(figure))
        assert run(fake, tmp_path, "--list")["note"] == "0.04 CPU-min; recorded 0/4"


def test_python_m_studies_lists_the_plan_of_named_studies(capsys):
    from studies.__main__ import _split, main

    assert _split(["a", "b", "--scale", "quick", "--list", "--", "--seed", "1"]) == (
        ["a", "b"],
        ["--scale", "quick", "--seed", "1"],
        True,
    )
    assert main(["mixtures_2d", "dirac_gan", "--scale", "trained", "--list"]) == 0
    text = capsys.readouterr().out
    assert "mixtures_2d              trained      - points  no trained scale (defines smoke, quick, paper)" in text
    assert main(["mixtures_2d", "dirac_gan", "--scale", "full", "--list"]) == 0
    text = capsys.readouterr().out
    n = len(importlib.import_module("studies.mixtures_2d").points("paper"))
    assert f"mixtures_2d              paper    {n:>5} points  no estimate" in text
    assert "dirac_gan                paper        1 points  no estimate" in text
    assert "total: 0 CPU-min, and 2 of 2 studies have no estimate" in text
    with pytest.raises(SystemExit, match="unknown study nope"):
        main(["nope", "--list"])


def test_the_listed_total_counts_the_shared_dcgan_trajectory_once(capsys):
    from studies import _mnist_runs as mr
    from studies import birthday_support, saturation_at_scale, vanishing_gradients
    from studies.__main__ import main

    trajectory = mr.trajectory_minutes("trained")  # 3 seeds; birthday_support reads seed 0 only
    each = saturation_at_scale.estimate_minutes("trained") + vanishing_gradients.estimate_minutes("trained")
    assert main(["saturation_at_scale", "vanishing_gradients", "birthday_support", "--scale", "trained", "--list"]) == 0
    total = float(re.search(r"total: ([\d,.]+) CPU-min", capsys.readouterr().out).group(1).replace(",", ""))
    once = each + birthday_support.estimate_minutes("trained") - trajectory - trajectory / 3
    assert total == pytest.approx(once, abs=0.5)  # printed to the CPU-minute; the sum is about 100 more
    assert sum(birthday_support.shared_minutes("trained").values()) == pytest.approx(trajectory / 3)
    entry = saturation_at_scale.SCALES["trained"]
    assert mr.trajectory_shares(entry, seeds=[]) == {}  # reads no seed: nothing shared, not every seed
    assert len(mr.trajectory_shares(entry)) == 3


def test_the_listed_work_left_counts_the_trajectory_while_any_reader_needs_it(tmp_path, capsys):
    import shutil

    from studies import saturation_at_scale
    from studies.__main__ import main

    names = ["saturation_at_scale", "vanishing_gradients", "birthday_support", "--scale", "trained", "--list"]

    def listed():
        text = capsys.readouterr().out
        total = float(re.search(r"total: ([\d,.]+) CPU-min", text).group(1).replace(",", ""))
        found = re.search(
            r"recorded: (\d+) of (\d+) grid points; left: about ([\d,.]+) CPU-min.*measured ([\d,.]+)", text
        )
        done, n, left, measured = found.groups()
        return total, int(done), int(n), float(left.replace(",", "")), float(measured.replace(",", ""))

    assert main([*names, "--records", str(tmp_path)]) == 0
    total, done, n, left, measured = listed()
    assert (done, n) == (0, 3 + 3 + 1) and left == pytest.approx(total, abs=1)  # nothing recorded: all of it left
    assert measured == 0
    # saturation_at_scale's committed records: its own part is done, the trajectory not (the other two still read it)
    shutil.copytree(study.FIGURES / "records" / "saturation_at_scale", tmp_path / "saturation_at_scale")
    assert main([*names, "--records", str(tmp_path)]) == 0
    total_again, done, n, left, measured = listed()
    own = saturation_at_scale.estimate_minutes("trained") - sum(saturation_at_scale.shared_minutes("trained").values())
    assert total_again == total and (done, n) == (3, 7) and left == pytest.approx(total - own, abs=1)
    # and what the recorded points measured: their records' cpu_s
    records = [json.loads(p.read_text()) for p in (tmp_path / "saturation_at_scale" / "trained").glob("*.json")]
    cpu_s = sum(r["cpu_s"] for r in records)
    assert measured == pytest.approx(cpu_s / 60, abs=0.5) and cpu_s > 0


def test_a_figure_is_superseded_by_a_change_of_its_scale_entry_only():
    """plans.superseded names the SCALES fields a committed figure's config holds with another value: none for the
    committed r1_convergence figure, `steps` once its scale gains steps; fields the config lacks are not compared."""
    from sandbox.reporting import plans
    from studies import r1_convergence

    figure = json.loads((study.FIGURES / "r1_convergence.json").read_text())
    assert plans.superseded(r1_convergence, figure) == []
    longer = dict(figure, config=dict(figure["config"], steps=figure["config"]["steps"] + 1, fid_every=1))
    assert plans.superseded(r1_convergence, longer) == ["fid_every", "steps"]
    assert plans.superseded(r1_convergence, dict(figure, config=dict(figure["config"], unrelated=3))) == []
    lacking = {k: v for k, v in figure["config"].items() if k != "steps"}
    assert plans.superseded(r1_convergence, dict(figure, config=lacking)) == []


@pytest.mark.skipif(importlib.util.find_spec("submitit") is None, reason="submitit (the cluster extra) not installed")
def test_submitit_local_runs_the_same_jobs(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{':'.join(sys.path)}")  # the job processes import fake_grid
    local, sub = tmp_path / "local", tmp_path / "sub"
    run(fake, local, "--workers", "1")
    # one shard (two points, two job processes at once) keeps the test to one round of process start-ups
    shard = run(
        fake, sub, "--workers", "2", "--executor", "submitit-local", "--cluster-args", "timeout_min=5", "--shard", "0/2"
    )
    assert sorted(shard["results"]) == KEYS[0::2] == sorted(records_of(sub))
    assert _timeless(records_of(sub)) == {k: r for k, r in _timeless(records_of(local)).items() if k in KEYS[0::2]}
    assert list((sub / "records" / ".submitit" / "submitit" / "fake_grid" / "smoke").glob("*_result.pkl"))
