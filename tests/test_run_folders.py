"""Fault injection on run folders, through the command line in subprocesses: the folder named is the folder written,
a run folder is never silently replaced or mixed, a torn metrics line and a kill -9 during a save are survived,
signals give exit code 128 + N with a bit-exact resume, and bad numbers are refused naming the field."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _trees import assert_same

from sandbox.trainer import checkpoint as ck
from sandbox.trainer.__main__ import main

REPO = Path(__file__).resolve().parent.parent
TINY = ["--data", "ring", "--g-width", 0.25, "--d-width", 0.25, "--z-dim", 8, "--batch", 32, "--no-progress"]
LEARNED = ("G", "D", "opt_g", "opt_d", "ema", "rule_state", "clock", "rng", "step")


def command(*args, cwd=REPO, timeout=240):
    """python -m sandbox.trainer ARGS in a subprocess; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "sandbox.trainer", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def spawn(*args, code=None):
    """The trainer (or `python -c code ARGS`) started in the background."""
    head = ["-c", code] if code else ["-m", "sandbox.trainer"]
    return subprocess.Popen(
        [sys.executable, *head, *map(str, args)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def wait_for(predicate, proc, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.05)
    assert predicate(), "timed out"


def digests(folder: Path) -> dict:
    """name -> sha256 of every file in folder (hidden ones included)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def steps_of(folder: Path) -> list:
    return [json.loads(line)["step"] for line in (folder / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A finished 20-step run (checkpoint, metrics at 10 and 20, sample plots at 10 and 20) to copy per test."""
    folder = tmp_path_factory.mktemp("made") / "run"
    proc = command(*TINY, "--steps", 20, "--log-every", 10, "--sample-every", 10, "--out", folder)
    assert proc.returncode == 0, proc.stderr
    return folder


def copy_of(made: Path, tmp_path: Path, name: str = "copy") -> Path:
    return Path(shutil.copytree(made, tmp_path / name))


# ------------------------------------------------------------------------------------ the folder named is written
def test_resuming_a_copied_folder_writes_only_the_copy(made, tmp_path):
    original, made_in = copy_of(made, tmp_path, "original"), tmp_path / "made_in"
    made_in.mkdir()
    proc = command(*TINY, "--steps", 20, "--log-every", 10, "--out", "runs/rel", cwd=made_in)  # a relative out
    assert proc.returncode == 0, proc.stderr
    relative = made_in / "runs" / "rel"
    before = {"original": digests(original), "relative": digests(relative)}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for source in (original, relative):
        copy = Path(shutil.copytree(source, tmp_path / f"copy_of_{source.name}"))
        proc = command("--resume", copy, "--steps", 30, cwd=elsewhere)  # from another working directory
        assert proc.returncode == 0, proc.stderr
        assert ck.load_checkpoint(copy)["step"] == 30 and steps_of(copy) == [10, 20, 30]  # the copy advanced
    # ... and nothing else did: the originals are byte-identical and no folder appeared where it was run
    assert digests(original) == before["original"] and digests(relative) == before["relative"]
    assert ck.load_checkpoint(original)["step"] == ck.load_checkpoint(relative)["step"] == 20
    assert list(elsewhere.iterdir()) == []


def test_a_new_run_into_a_run_folder_is_refused_and_the_folder_is_untouched(made, tmp_path):
    folder = copy_of(made, tmp_path)
    before = digests(folder)
    proc = command(*TINY, "--steps", 5, "--out", folder)
    assert proc.returncode == 2
    assert f"error: {folder} already holds a run" in proc.stderr
    assert f"--resume {folder}" in proc.stderr and "--overwrite" in proc.stderr
    assert digests(folder) == before and ck.load_checkpoint(folder)["step"] == 20


def test_overwrite_leaves_no_file_of_the_old_run(made, tmp_path):
    folder = copy_of(made, tmp_path)
    old = {p.name for p in folder.iterdir()}
    assert {"samples_000010.png", "samples_000020.png", "checkpoint.pt", "summary.json"} <= old
    start = time.time()
    proc = command(*TINY, "--steps", 5, "--log-every", 5, "--sample-every", 5, "--overwrite", "--out", folder)
    assert proc.returncode == 0, proc.stderr
    assert "removed the" in proc.stderr
    names = sorted(p.name for p in folder.iterdir())
    assert names == [".lock", "checkpoint.pt", "config.json", "metrics.jsonl", "samples_000005.png", "summary.json"]
    assert all(p.stat().st_mtime >= start - 1 for p in folder.iterdir())  # every file written by the new run
    assert ck.load_checkpoint(folder)["step"] == 5 and steps_of(folder) == [5]


# ------------------------------------------------------------------------------------------ logs survive crashes
def test_a_torn_last_metrics_line_is_dropped_naming_the_file_and_the_run_resumes(made, tmp_path):
    folder = copy_of(made, tmp_path)
    metrics = folder / "metrics.jsonl"
    metrics.write_text(metrics.read_text() + '{"d_grad_norm": 0.4, "d_loss": 1.3')  # a crash mid-write
    proc = command("--resume", folder, "--steps", 30)
    assert proc.returncode == 0, proc.stderr
    assert f"warning: {metrics}: dropped a torn last line 3" in proc.stderr
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]  # every line parses again
    assert [r["step"] for r in rows] == [10, 20, 30] and [r["window"] for r in rows] == [[1, 10], [11, 20], [21, 30]]


# -------------------------------------------------------------------------------------------- exit codes, signals
def test_sigterm_exits_143_saved_and_resumes_bit_exact(tmp_path):
    stopped, unbroken = tmp_path / "stopped", tmp_path / "unbroken"
    flags = [*TINY, "--ema-half-life", 3.0, "--penalty", "r1", "--penalty-every", 3, "--sample-every", 0]
    proc = spawn(*flags, "--steps", 10**7, "--log-every", 5, "--ckpt-every", 0, "--out", stopped)
    wait_for(lambda: (stopped / "metrics.jsonl").exists() and (stopped / "metrics.jsonl").read_text(), proc)
    busy = command(*TINY, "--overwrite", "--out", stopped)  # a second process on a folder in use is refused
    assert busy.returncode == 2 and f"{stopped} is in use by another run (process {proc.pid})" in busy.stderr
    assert (stopped / "metrics.jsonl").read_text()  # and deleted nothing
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    step = ck.load_checkpoint(stopped)["step"]
    last = json.loads((stopped / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["step"] == step and last["window"][1] == step
    # The signal usually cuts a log window, whose row says so; when it lands while a row is being written, that row
    # is a whole window and the run stops after it: then only the summary names the signal (seen under CI load).
    assert last.get("signal", "SIGTERM") == "SIGTERM"
    assert json.loads((stopped / "summary.json").read_text())["stopped_by"] == "SIGTERM"
    assert "stopped by SIGTERM: checkpoint saved" in out
    resumed = command("--resume", stopped, "--steps", step + 7)
    fresh = command(*flags, "--steps", step + 7, "--log-every", 5, "--out", unbroken)
    assert resumed.returncode == 0 and fresh.returncode == 0, resumed.stderr + fresh.stderr
    a, b = ck.load_checkpoint(stopped), ck.load_checkpoint(unbroken)
    assert a["step"] == step + 7 and a["ema"] is not None
    for key in LEARNED:
        assert_same(a[key], b[key], key)


KILL_DURING_SECOND_SAVE = r"""
import os, sys, time
from pathlib import Path
import torch
real, saves = torch.save, []
def save(obj, f):  # the second checkpoint write dies half-way: kill -9 arrives while it sleeps
    saves.append(1)
    if len(saves) == 2:
        f.write(b"PK\x03\x04 half a checkpoint")
        f.flush()
        Path(sys.argv[1]).touch()
        time.sleep(600)
    real(obj, f)
torch.save = save
from sandbox.trainer.__main__ import main
sys.exit(main(sys.argv[2:]))
"""


def test_kill_9_during_a_save_keeps_the_last_checkpoint_and_the_next_start_removes_the_temp_file(tmp_path):
    folder, marker = tmp_path / "run", tmp_path / "saving"
    proc = spawn(marker, *TINY, "--steps", 40, "--ckpt-every", 10, "--out", folder, code=KILL_DURING_SECOND_SAVE)
    wait_for(marker.exists, proc)
    proc.kill()  # SIGKILL: no handler runs, the temp file stays
    proc.wait(timeout=60)
    temps = sorted(p.name for p in folder.glob(".checkpoint.pt.*.tmp"))
    assert len(temps) == 1 and ck.load_checkpoint(folder)["step"] == 10  # the previous checkpoint loads
    proc = command("--resume", folder, "--steps", 40)
    assert proc.returncode == 0, proc.stderr
    assert f"removed {folder / temps[0]}: a temp file left by an interrupted write" in proc.stderr
    assert list(folder.glob(".*.tmp")) == [] and ck.load_checkpoint(folder)["step"] == 40


def test_steps_below_the_checkpoint_are_refused_and_nothing_is_written(made, tmp_path):
    folder = copy_of(made, tmp_path)
    before = digests(folder)
    proc = command("--resume", folder, "--steps", 5)
    assert proc.returncode == 2
    assert f"steps 5 is below the step of the checkpoint {folder} (20)" in proc.stderr
    assert digests(folder) == before


@pytest.mark.parametrize(
    "flags, field",
    [
        (["--penalty-weight", "nan"], "penalty_weight"),
        (["--ema-half-life", "inf"], "ema_half_life"),
        (["--clip", "nan"], "clip"),
        (["--lr-g", "inf"], "lr_g"),
        (["--betas", "0.5", "nan"], "betas"),
        (["--instance-noise=-inf"], "instance_noise"),
    ],
)
def test_nan_and_inf_numbers_are_refused_naming_the_field(tmp_path, capsys, flags, field):
    assert main([*map(str, TINY), *flags, "--out", str(tmp_path / "run")]) == 2
    assert f"error: {field} must be finite, got" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_nan_from_the_command_line_in_a_subprocess_exits_2_naming_the_field(tmp_path):
    proc = command(*TINY, "--penalty-weight", "nan", "--out", tmp_path / "run")
    assert proc.returncode == 2 and proc.stderr == "error: penalty_weight must be finite, got nan\n"
    assert not (tmp_path / "run").exists()
