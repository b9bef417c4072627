"""Checkpoints: atomic writes, bit-exact resume in a new process, the resume config check, weights-only loads
that reject damaged and malicious files, the NaN stop, and SIGTERM/SIGINT saving before a clean exit."""

import json
import pickle
import random
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from _trees import assert_same

from sandbox.trainer import checkpoint as ck
from sandbox.trainer.__main__ import main
from sandbox.trainer.config import make_config
from sandbox.trainer.loop import NonFiniteError, make_run, run_steps, train

REPO = Path(__file__).resolve().parent.parent
TINY = dict(data="ring", g_width=0.25, d_width=0.25, z_dim=8, batch=32, progress=False)
# Every piece of state that resume must carry: Adam moments, the EMA, lazy R1's clock, n_critic, instance noise.
STATEFUL = [
    "--data",
    "ring",
    "--g-width",
    0.25,
    "--d-width",
    0.25,
    "--z-dim",
    8,
    "--batch",
    32,
    "--n-critic",
    2,
    "--penalty",
    "r1",
    "--penalty-weight",
    1.0,
    "--penalty-every",
    3,
    "--instance-noise",
    0.05,
    "--ema-half-life",
    3.0,
    "--log-every",
    3,
    "--sample-every",
    0,
    "--nan-check-every",
    2,
    "--no-progress",
]


def spawn(*args):
    """python -m sandbox.trainer ARGS started in the background from the repo root."""
    return subprocess.Popen(
        [sys.executable, "-m", "sandbox.trainer", *map(str, args)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def cli(*args, timeout=240):
    return subprocess.run(
        [sys.executable, "-m", "sandbox.trainer", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


LEARNED = ("G", "D", "opt_g", "opt_d", "ema", "rule_state", "clock", "rng", "step")


# --------------------------------------------------------------------------------------------- exact resume
def test_resume_in_a_new_process_is_bit_exact(tmp_path):
    once, twice = tmp_path / "once", tmp_path / "twice"
    a = spawn(*STATEFUL, "--steps", 11, "--ckpt-every", 4, "--out", once)  # runs beside b1
    b1 = cli(*STATEFUL, "--steps", 5, "--ckpt-every", 4, "--out", twice)
    b2 = cli("--resume", twice, "--steps", 11)  # the checkpoint's config is the base: only the length changes
    assert a.wait(timeout=240) == 0, a.communicate()[1]
    for proc in (b1, b2):
        assert proc.returncode == 0, proc.stderr
    full, resumed = ck.load_checkpoint(once), ck.load_checkpoint(twice)
    assert full["step"] == resumed["step"] == 11 and full["clock"]["d_steps"] == 22
    for key in LEARNED:
        assert_same(full[key], resumed[key], key)
    assert full["ema"] is not None and not torch.equal(full["ema"]["value"][0], full["G"]["net.0.weight"])
    rows = [json.loads(line) for line in (twice / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [3, 5, 6, 9, 11]
    assert [r["window"] for r in rows] == [[1, 3], [4, 5], [6, 6], [7, 9], [10, 11]]  # the steps each row averages


@pytest.mark.parametrize("rule,optimiser", [("optimistic", "rmsprop"), ("extragradient", "sgd")])
def test_resume_keeps_the_update_rule_state(tmp_path, rule, optimiser):
    base = dict(TINY, rule=rule, optimiser=optimiser, momentum=0.5, lr_g=1e-3, lr_d=1e-3, sample_every=0)
    train(make_config(base, dict(steps=7, out=str(tmp_path / "once"))))
    train(make_config(base, dict(steps=3, out=str(tmp_path / "twice"))))
    train(make_config(base, dict(steps=7, out=str(tmp_path / "twice"), resume=str(tmp_path / "twice"))))
    full, resumed = ck.load_checkpoint(tmp_path / "once"), ck.load_checkpoint(tmp_path / "twice")
    if rule == "optimistic":
        assert sorted(full["rule_state"]) == ["previous_x", "previous_y"]
    for key in LEARNED:
        assert_same(full[key], resumed[key], key)


def test_a_resumed_scheduled_run_equals_an_unbroken_one(tmp_path):
    """R3GAN's cosine schedules depend on the step alone: the resumed run sets the same lr, beta2 and gain."""
    base = dict(TINY, penalty="r1_r2", penalty_weight=1.0, betas=(0.0, 0.9), sample_every=0)
    base.update(schedule_kimg=0.25, lr_decay=0.25, beta2_final=0.99, penalty_decay=0.1)  # 0.25 kimg: 7.8 steps
    train(make_config(base, dict(steps=11, out=str(tmp_path / "once"))))
    train(make_config(base, dict(steps=4, out=str(tmp_path / "twice"))))
    train(make_config(base, dict(steps=11, out=str(tmp_path / "twice"), resume=str(tmp_path / "twice"))))
    full, resumed = ck.load_checkpoint(tmp_path / "once"), ck.load_checkpoint(tmp_path / "twice")
    for key in LEARNED:
        assert_same(full[key], resumed[key], key)
    assert full["clock"]["penalty_gain"] == pytest.approx(0.1, rel=1e-12)  # past the schedule's end


# ------------------------------------------------------------------------------------------- config changes
def test_resume_with_a_changed_config_refuses_and_lists_the_keys(tmp_path):
    train(make_config(TINY, dict(steps=2, out=str(tmp_path))))
    changed = make_config(
        TINY, dict(steps=4, out=str(tmp_path), resume=str(tmp_path), lr_d=1e-3, n_critic=2, log_every=1)
    )
    with pytest.raises(
        ValueError,
        match=r"(?s)resuming .* with a changed config:\n  lr_d: 0.0002 -> 0.001\n"
        r"  n_critic: 1 -> 2\npass --allow-config-change",
    ):
        train(changed)
    assert ck.load_checkpoint(tmp_path)["step"] == 2


def test_a_field_added_after_a_checkpoint_reads_as_its_default_on_resume():
    """An old checkpoint's config lacks later fields: at their defaults they are no change; set, they are."""
    new = ck.config_dict(make_config(TINY))
    old = {k: v for k, v in new.items() if k not in ("schedule_kimg", "lr_decay")}
    assert ck.config_diff(old, new) == []
    scheduled = dict(new, schedule_kimg=1.0, lr_decay=0.5)
    assert ck.config_diff(old, scheduled) == [("lr_decay", 1.0, 0.5), ("schedule_kimg", 0.0, 1.0)]
    assert ck.config_diff({**old, "retired_field": 3}, new) == [("retired_field", 3, "<absent>")]


def test_exempt_keys_may_change_and_allowed_changes_are_recorded(tmp_path):
    train(make_config(TINY, dict(steps=2, out=str(tmp_path))))
    train(make_config(TINY, dict(steps=3, out=str(tmp_path), resume=str(tmp_path), log_every=1, ckpt_every=7)))
    assert ck.load_checkpoint(tmp_path)["config_changes"] == []
    summary = train(
        make_config(TINY, dict(steps=4, out=str(tmp_path), resume=str(tmp_path), lr_d=1e-3, allow_config_change=True))
    )
    state = ck.load_checkpoint(tmp_path)
    assert state["config_changes"] == [{"step": 3, "changes": [["lr_d", 2e-4, 1e-3]]}] == summary["config_changes"]
    assert state["opt_d"]["param_groups"][0]["lr"] == 1e-3 and state["step"] == 4  # the new lr took effect


def test_a_resume_compares_the_precision_amp_resolved_to_not_the_word(tmp_path):
    """amp 'auto' resolves per machine: a checkpoint trained in bf16 where 'auto' meant bf16 (here: 'on') must not
    continue in fp32 where it means fp32, and 'auto' -> 'off' at the same precision is no change."""
    train(make_config(TINY, dict(steps=2, out=str(tmp_path / "bf16"), amp="on")))
    assert ck.load_checkpoint(tmp_path / "bf16")["amp"] is True
    assert json.loads((tmp_path / "bf16" / "summary.json").read_text())["precision"] == "bf16 autocast"
    resume = dict(steps=3, out=str(tmp_path / "bf16"), resume=str(tmp_path / "bf16"))
    with pytest.raises(
        ValueError,
        match=r"(?s)changed config:\n  amp \(resolved\): 'bf16 autocast' -> 'fp32'\n"
        r"the checkpoint was trained in bf16 autocast: pass --amp on to continue it exactly",
    ):
        train(make_config(TINY, dict(resume, amp="auto")))  # the ring's MLP: 'auto' is fp32 on a CPU
    assert ck.load_checkpoint(tmp_path / "bf16")["step"] == 2  # the refused resume lost nothing
    train(make_config(TINY, dict(resume, amp="on")))
    assert ck.load_checkpoint(tmp_path / "bf16")["config_changes"] == []
    train(make_config(TINY, dict(steps=2, out=str(tmp_path / "fp32"))))
    assert json.loads((tmp_path / "fp32" / "summary.json").read_text())["precision"] == "fp32"
    train(make_config(TINY, dict(steps=3, out=str(tmp_path / "fp32"), resume=str(tmp_path / "fp32"), amp="off")))
    state = ck.load_checkpoint(tmp_path / "fp32")
    assert state["step"] == 3 and state["config_changes"] == [] and state["amp"] is False
    # a checkpoint written before the precision was recorded: the words are compared, as before
    old = {k: v for k, v in ck.load_checkpoint(tmp_path / "fp32").items() if k != "amp"}
    assert ck.check_resume_config(old["config"], dict(old["config"], amp="on"), "x", True, (None, True)) == [
        ("amp", "off", "on")
    ]


def test_config_diff_ignores_exempt_keys():
    old = dict(lr_d=1.0, steps=10, out="a", log_every=5, seed=0)
    new = dict(lr_d=2.0, steps=20, out="b", log_every=1, seed=0, extra=1)
    assert ck.config_diff(old, new) == [("extra", "<absent>", 1), ("lr_d", 1.0, 2.0)]


# ----------------------------------------------------------------------------------------- safe and atomic
def test_checkpoint_is_weights_only_and_rng_states_round_trip(tmp_path):
    run = make_run(make_config(TINY))
    run_steps(run, 2)
    ck.save_checkpoint(ck.checkpoint_state(run), tmp_path / "c.pt")
    state = torch.load(tmp_path / "c.pt", weights_only=True)  # loads without unsafe unpickling
    assert isinstance(state["config"], dict) and state["config"]["data"] == "ring"
    before = [torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=run.gens["noise"])]
    ck.set_rng_state(state["rng"], run.gens)
    after = [torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=run.gens["noise"])]
    assert torch.equal(before[0], after[0]) and np.array_equal(before[1], after[1]) and before[2] == after[2]
    assert torch.equal(before[3], after[3])


def test_a_failed_write_leaves_the_old_checkpoint_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    ck.save_checkpoint({"format": ck.FORMAT, "step": 1, "config": {}}, path)

    def broken_save(obj, f):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        ck.save_checkpoint({"format": ck.FORMAT, "step": 2, "config": {}}, path)
    assert ck.load_checkpoint(path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "pickle_header", "empty"])
def test_damaged_checkpoint_error_names_the_file(tmp_path, damage):
    path = tmp_path / "checkpoint.pt"
    run = make_run(make_config(TINY))
    ck.save_checkpoint(ck.checkpoint_state(run), path)
    raw, noise = path.read_bytes(), random.Random(0).randbytes(4094)
    # pickle_header: garbage after a PROTO opcode naming protocol 9, on which torch warns before it fails (1 in
    # 256 unseeded garbage files began so and left that warning in the test log)
    damaged = {"truncate": raw[: len(raw) // 2], "garbage": noise, "pickle_header": b"\x80\x09" + noise, "empty": b""}
    path.write_bytes(damaged[damage])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match=rf"{path}: corrupted or truncated checkpoint"):
            ck.load_checkpoint(path)
    assert [str(w.message) for w in caught] == []  # the error alone, no warning as if the load went on


class Payload:
    """Unpickling this runs Path(marker).touch(): a stand-in for arbitrary code in a malicious checkpoint."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_malicious_pickle_is_rejected_without_running_it(tmp_path, writer):
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(Payload(control)))  # the payload does run under plain unpickling
    assert control.exists()
    marker, path = tmp_path / "pwned", tmp_path / "evil.pt"
    obj = {"format": ck.FORMAT, "step": 0, "config": {}, "payload": Payload(marker)}
    if writer == "torch.save":
        torch.save(obj, path)
    else:
        path.write_bytes(pickle.dumps(obj))
    expected = "refusing to load: it holds objects" if writer == "torch.save" else "corrupted or truncated checkpoint"
    with pytest.raises(ValueError, match=rf"{path}: {expected}.*unsafe unpickling.*nothing in it was run"):
        ck.load_checkpoint(path)
    assert not marker.exists()


def test_missing_or_foreign_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        ck.load_checkpoint(tmp_path / "nope.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="corrupted or truncated checkpoint .*needs keys format, step, config"):
        ck.load_checkpoint(tmp_path / "other.pt")


# --------------------------------------------------------------------------------------------------- NaN
@pytest.mark.parametrize("nan_check_every,ckpt_every,saved,logged", [(2, 4, 4, [2, 4]), (100, 4, 4, [2, 4, 6])])
def test_nan_stops_naming_the_step_and_loss_and_keeps_the_last_good_checkpoint(
    tmp_path, nan_check_every, ckpt_every, saved, logged
):
    # NaN injected before step 6; caught at step 6 by the check, or at step 8 before the checkpoint is written.
    cfg = make_config(
        TINY,
        dict(
            steps=20,
            out=str(tmp_path),
            debug_nan_at_step=6,
            nan_check_every=nan_check_every,
            ckpt_every=ckpt_every,
            log_every=2,
        ),
    )
    with pytest.raises(
        NonFiniteError,
        match=r"non-finite d_loss, g_loss, d_grad_norm, g_grad_norm at step 6: "
        r"training stopped; .*checkpoint is "
        rf".*checkpoint.pt \(step {saved}\)",
    ):
        train(cfg)
    state = ck.load_checkpoint(tmp_path)
    assert state["step"] == saved
    assert all(torch.isfinite(t).all() for t in state["D"].values() if t.is_floating_point())
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == logged  # stopped at the check at step 6, or at step 8's checkpoint


def test_cli_nan_exits_1_with_the_message(tmp_path, capsys):
    code = main(
        [
            "--data",
            "ring",
            "--g-width",
            "0.25",
            "--d-width",
            "0.25",
            "--z-dim",
            "8",
            "--steps",
            "5",
            "--debug-nan-at-step",
            "3",
            "--nan-check-every",
            "1",
            "--no-progress",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 1
    assert "error: non-finite d_loss, g_loss, d_grad_norm, g_grad_norm at step 3" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ signals
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_a_checkpoint_and_exits_with_128_plus_the_signal(tmp_path, sig):
    proc = spawn(
        "--data",
        "ring",
        "--steps",
        10**7,
        "--log-every",
        5,
        "--sample-every",
        0,
        "--ckpt-every",
        0,
        "--g-width",
        0.25,
        "--d-width",
        0.25,
        "--z-dim",
        8,
        "--batch",
        32,
        "--no-progress",
        "--out",
        tmp_path,
    )
    metrics, deadline = tmp_path / "metrics.jsonl", time.monotonic() + 120
    while not (metrics.exists() and metrics.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()[1]
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig.value, err  # 143 for SIGTERM, 130 for SIGINT: "stopped, saved", not "done"
    state = ck.load_checkpoint(tmp_path)
    assert state["step"] >= 5
    assert f"stopped by {sig.name}: checkpoint saved" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stopped_by"] == sig.name and summary["step"] == state["step"]
