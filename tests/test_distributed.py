"""Data parallelism (sandbox.trainer.distributed): two gloo processes on the CPU vs one with the same global batch.

The two ranks are started as torchrun starts its workers, `python -m sandbox.trainer`'s main() under the variables
RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT (without torchrun's agent process, whose extra torch
import would double the test's start-up); each rank also saves the parameters it ends with.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

from sandbox.nets import mlp_generator
from sandbox.trainer import config as C
from sandbox.trainer import distributed as sd
from sandbox.trainer.checkpoint import load_checkpoint
from sandbox.trainer.loop import make_run, run_steps, train

REPO = Path(__file__).resolve().parent.parent
# SGD, not Adam: Adam's step does not change when every gradient is scaled, so it would hide a rank *sum*
# where the mean belongs. float64 so that the only 1-vs-2-process difference is the order of the batch sums.
ARGS = dict(
    data="ring",
    g_width=0.25,
    d_width=0.25,
    z_dim=8,
    batch=32,
    steps=10,
    log_every=5,
    dtype="float64",
    device="cpu",
    optimiser="sgd",
    lr_g=0.1,
    lr_d=0.1,
    momentum=0.5,
    progress=False,
)
# Two processes reduce each batch mean as (sum of 16) / 16, averaged over ranks, against (sum of 32) / 32 in
# one: each gradient differs by a few ulp (~1e-16 relative), and ten SGD steps keep the parameters (size ~0.7)
# within ~1e-16 (measured: max |diff| 5.6e-17; 168 of 2,595 parameters not bitwise equal). 1e-12 leaves a wide
# margin, while the bugs it guards against (wrong samples, a rank sum for the mean) miss by 5e-2 and 2e-1
# (measured; the controls below ask for more than 1e-6).
TOL = dict(rtol=0.0, atol=1e-12)

WORKER = r"""
import json, os, signal, sys
import torch
import sandbox.trainer.loop as T
from sandbox.trainer import distributed as sd
from sandbox.trainer.__main__ import main
out, argv, rank = sys.argv[1], sys.argv[2:], int(os.environ["RANK"])
runs, make_run, run_steps = [], T.make_run, T.run_steps
T.make_run = lambda cfg: runs.append(make_run(cfg)) or runs[-1]
result = {"rc": main(argv + ["--out", out + "/run"])}
torch.save({"G": runs[-1].G.state_dict(), "D": runs[-1].D.state_dict()}, f"{out}/rank{rank}.pt")
result["rc_nan"] = main(argv + ["--out", out + "/nan", "--debug-nan-at-step", "3"])

def signalled(run, n, stop=None):   # SIGTERM reaches rank 1 alone, after step 3
    done = run_steps(run, n, stop)
    if rank == 1 and run.state["step"] >= 3:
        signal.raise_signal(signal.SIGTERM)
    return done
T.run_steps = signalled
result["rc_signal"] = main(argv + ["--out", out + "/signal", "--log-every", "2"])
result["signal_step"] = runs[-1].state["step"]

def fail_on_rank_1():
    if rank == 1:
        raise ValueError("rank 1 trouble")
try:
    sd.together(fail_on_rank_1, ValueError)
except ValueError as err:
    result["together"] = str(err)
with open(f"{out}/rank{rank}.json", "w") as f:
    json.dump(result, f)
"""


def flags(args: dict) -> list:
    """Config overrides as sandbox.trainer flags."""
    out = []
    for key, value in args.items():
        name = "--" + key.replace("_", "-")
        out += [name if value else "--no-" + name[2:]] if isinstance(value, bool) else [name, str(value)]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """Run WORKER as ranks 0 and 1 of a gloo group; returns (folder, [rank0 result, rank1 result])."""
    out = tmp_path_factory.mktemp("dp")
    port = free_port()
    procs = []
    for rank in range(2):
        env = {
            **os.environ,
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": "2",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": "1",
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(out), *flags(ARGS)],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    try:
        logs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for p in procs:  # a rank left waiting on a dead peer
            if p.poll() is None:
                p.kill()
    for rank, (p, log) in enumerate(zip(procs, logs)):
        assert p.returncode == 0, f"rank {rank} failed:\n{log}"
    return out, [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.fixture(scope="module")
def one_rank(tmp_path_factory):
    """The same run in one process (this one): same seed, same global batch of 32."""
    out = tmp_path_factory.mktemp("one")
    train(C.make_config({**ARGS, "out": str(out)}))
    return out


def params(state: dict) -> dict:
    return {f"{player}.{k}": v for player in ("G", "D") for k, v in state[player].items()}


def test_two_ranks_end_with_bitwise_identical_parameters(two_ranks):
    out, results = two_ranks
    assert [r["rc"] for r in results] == [0, 0]
    rank0, rank1 = (params(torch.load(out / f"rank{r}.pt", weights_only=True)) for r in range(2))
    assert list(rank0) == list(rank1)
    for k in rank0:
        assert torch.equal(rank0[k], rank1[k]), k
    # what rank 0 saves is what it holds
    saved = params(load_checkpoint(out / "run"))
    assert all(torch.equal(saved[k], rank0[k]) for k in rank0)


def test_two_ranks_equal_one_process_with_the_same_global_batch(two_ranks, one_rank):
    out, _ = two_ranks
    two, one = params(torch.load(out / "rank0.pt", weights_only=True)), params(load_checkpoint(one_rank))
    start = params({p: m.state_dict() for p, m in zip("GD", make_run(C.make_config(ARGS))[2:4])})
    for k in one:
        assert_close(two[k], one[k], **TOL)
    moved = max(float((one[k] - start[k]).abs().max()) for k in one)
    assert moved > 1e-3  # the runs trained: equality is not that of two untouched initialisations


@pytest.mark.parametrize(
    "bug, overrides",
    [
        ("rank 0's half batch alone (no gradient all_reduce)", dict(batch=16)),
        (
            "the ranks' gradients summed, not averaged (SGD: the same as twice the learning rate)",
            dict(lr_g=0.2, lr_d=0.2),
        ),
    ],
)
def test_controls_the_bugs_the_tolerance_guards_against_miss_by_far_more(two_ranks, bug, overrides):
    out, _ = two_ranks
    two = params(torch.load(out / "rank0.pt", weights_only=True))
    run = make_run(C.make_config({**ARGS, **overrides}))
    run_steps(run, ARGS["steps"])
    wrong = params({"G": run.G.state_dict(), "D": run.D.state_dict()})
    assert max(float((wrong[k] - two[k]).abs().max()) for k in two) > 1e6 * TOL["atol"], bug


def test_rank0_alone_writes_and_logs_the_losses_over_both_ranks(two_ranks, one_rank):
    out, _ = two_ranks
    assert sorted(p.name for p in (out / "run").iterdir()) == sorted(p.name for p in one_rank.iterdir())
    rows2 = [json.loads(line) for line in (out / "run" / "metrics.jsonl").read_text().splitlines()]
    rows1 = [json.loads(line) for line in (one_rank / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows2] == [r["step"] for r in rows1] == [5, 10]
    for r2, r1 in zip(rows2, rows1):
        for key in ("d_loss", "g_loss", "d_grad_norm", "g_grad_norm"):
            # the meter sums in float32: the two processes' means of halves agree to float32 rounding
            assert r2[key] == pytest.approx(r1[key], rel=1e-6), key
    summary = json.loads((out / "run" / "summary.json").read_text())
    assert (summary["world_size"], summary["step"], summary["stopped_by"]) == (2, 10, None)


def test_nan_stops_every_rank(two_ranks):
    out, results = two_ranks
    assert [r["rc_nan"] for r in results] == [1, 1]
    assert not (out / "nan" / "checkpoint.pt").exists()


def test_a_signal_at_one_rank_stops_both_at_the_same_step(two_ranks):
    out, results = two_ranks
    assert [r["rc_signal"] for r in results] == [143, 143]  # 128 + SIGTERM: stopped and saved, not finished
    assert [r["signal_step"] for r in results] == [4, 4]  # rank 1 was signalled after step 3; blocks of 2 steps
    summary = json.loads((out / "signal" / "summary.json").read_text())
    assert (summary["stopped_by"], summary["step"]) == ("SIGTERM", 4)
    assert load_checkpoint(out / "signal")["step"] == 4


def test_an_error_on_one_rank_is_raised_on_every_rank(two_ranks):
    _, results = two_ranks
    assert results[1]["together"] == "rank 1 trouble"
    assert results[0]["together"] == "rank 1 stopped training (see its message); every rank stopped with it"


# ------------------------------------------------------------------------------------------ one process
def test_batch_not_divisible_by_the_world_size_is_refused(monkeypatch):
    with pytest.raises(ValueError, match="batch 33 is not divisible by the world size 2"):
        sd.check_batch(33, sd.World(0, 2, 0))
    assert sd.check_batch(32, sd.World(1, 2, 1)) == 16
    monkeypatch.setattr(sd, "world", lambda: sd.World(1, 2, 1))  # make_run asks sd.world() before any collective
    with pytest.raises(ValueError, match="batch 33 is not divisible by the world size 2"):
        make_run(C.make_config({**ARGS, "batch": 33}))


def test_shards_tile_the_global_batch():
    x = torch.arange(24.0).reshape(12, 2)
    parts = [sd.shard_rows(x, sd.World(r, 3, r)) for r in range(3)]
    assert_close(torch.cat(parts), x, rtol=0, atol=0)
    G = mlp_generator(z_dim=4, hidden=8, generator=torch.Generator().manual_seed(0))
    z = torch.randn(12, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        sharded = torch.cat([sd.shard_module(G, sd.World(r, 3, r))(z) for r in range(3)])
        # float32 tolerance, not bitwise: the matmul kernel depends on the row count on some CPUs (AVX-512: 6e-8
        # on 4 rows against 12, 2026-12-06); shards in the wrong order or overlapping would differ by O(1)
        assert_close(sharded, G(z))
        assert not torch.allclose(torch.cat([sharded[4:], sharded[:4]]), G(z))  # the control: a misordered tiling


def test_one_process_is_untouched(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    G = mlp_generator(z_dim=4, hidden=8)
    step = lambda params, grads: None  # noqa: E731
    assert sd.world() == sd.SINGLE and sd.is_main()
    assert sd.shard_module(G, sd.SINGLE) is G and sd.averaged(step) is step
    assert sd.init_from_env("cpu") == sd.SINGLE  # no WORLD_SIZE in the test environment
