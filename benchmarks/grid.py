"""A study grid on a 2-core CPU: worker processes of one thread each against one process of two threads.

    python3 -m benchmarks.grid [--points 4] [--steps 60] [--workers 2] [--rounds 2] [--busy-threads] [--control]
                               [--out PATH.json]

Each grid point trains the MNIST DCGAN at width 1/4, batch 64 for --steps steps (`loop.make_run` + `run_steps`,
seed = the point's), run as a job of the study runner (`sandbox.reporting.workers.run_jobs`, which writes a
record per point). Arms, in interleaved rounds (benchmarks._arms), throughput in points per second:
- workers: a pool of --workers processes (forkserver), one torch thread each, as `python -m studies.NAME` runs
  (a new pool per grid: each worker's imports and MNIST load, about 6 s, are part of its time);
- threads: the points one after another in this process, with --workers torch threads;
- workers_busy: the workers while another process spins on one core (a shared machine: someone else's job).
Targets: workers >= 1.05x threads; workers_busy >= 0.7x workers (the ratio within a round). With --busy-threads
the threads arm is timed busy too, on one point (a multi-threaded process slows many-fold when a core is taken:
its threads wait for each other at every op).
--control: each point is instead a pure-Python loop of --steps million additions (`spin_point`; no torch, no
data), timed in the workers and workers_busy arms only: what a job of one thread per process keeps when a spinner
takes a core on this machine: the fair-share level the busy target sits against (3 runnable processes on 2 cores
get 2/3 of a core each, 0.667x, lifted a little by the quiet arm's start-up and tails; measured 0.694x).
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks._arms import interleaved, load, ratios, report_line, spread
from sandbox.reporting.workers import Job, record_path, run_jobs

TARGETS = {"workers / threads": 1.05, "workers_busy / workers": 0.7}


def train_point(point: dict, scale: str, seed: int, device) -> dict:
    """One grid point: point['steps'] steps of the width-1/4 MNIST DCGAN from seed point['seed']; its final losses."""
    from sandbox.trainer import runlog as tl
    from sandbox.trainer.config import make_config
    from sandbox.trainer.loop import make_run, run_steps

    cfg = make_config(
        dict(
            data="mnist", net="dcgan", g_width=0.25, d_width=0.25, batch=64, seed=point["seed"], device="cpu",
            progress=False, amp="off",
        )
    )  # fmt: skip
    run = make_run(cfg)
    run_steps(run, point["steps"])
    return tl.meter_read(run.meter)


def spin_point(point: dict, scale: str, seed: int, device) -> dict:
    """The control's grid point: point['steps'] million integer additions in pure Python, one core's work."""
    total = 0
    for i in range(point["steps"] * 1_000_000):
        total += i
    return {"total": total}


def jobs(n: int, steps: int, threads: int, folder: Path, tag: str, fn=train_point) -> list:
    """n Jobs of fn (train_point, or the control's spin_point), records under folder/tag."""
    out = []
    for i in range(n):
        key = f"seed={i}"
        path = record_path(folder / tag, "grid", "bench", key)
        point = {"seed": i, "steps": steps}
        out.append(Job("grid", fn, point, key, "bench", "bench", 0, "cpu", threads, "bench", str(path)))
    return out


def run_grid(n: int, steps: int, workers: int, threads: int, folder: Path, tag: str, fn=train_point) -> float:
    """Points per second of n points through run_jobs (workers > 1: a process pool; else in this process)."""
    t0 = time.perf_counter()
    todo = jobs(n, steps, threads, folder, tag, fn)
    failures = [f for _, _, f in run_jobs(todo, workers=workers) if f is not None]
    if failures:
        raise RuntimeError(f"grid point {failures[0].key} failed: {failures[0].error}\n{failures[0].trace}")
    return n / (time.perf_counter() - t0)


class Spinner:
    """Another process spinning on one core while the block runs (stopped by its own pid afterwards)."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)  # let it take the core
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def busy(fn):
    def run() -> float:
        with Spinner():
            return fn()

    return run


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--points", type=int, default=4)
    p.add_argument("--steps", type=int, default=60, help="G steps per point")
    p.add_argument("--workers", type=int, default=2, help="worker processes, and the threads of the threads arm")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--busy-threads", action="store_true", help="also time the threads arm with a core busy")
    p.add_argument("--control", action="store_true", help="points are pure-Python loops: the fair-share level")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    load_before = load()
    with tempfile.TemporaryDirectory() as tmp:
        folder, counter = Path(tmp), iter(range(10**6))
        fn = spin_point if args.control else train_point
        run_grid(args.workers, 1, args.workers, 1, folder, "warmup", fn)  # starts the forkserver, imports there
        if not args.control:  # the threads arm runs points here: this process's imports and MNIST cache
            train_point({"seed": 0, "steps": 1}, "bench", 0, "cpu")

        def grid(workers: int, threads: int, n: int = args.points):
            return lambda: run_grid(n, args.steps, workers, threads, folder, f"r{next(counter)}", fn)

        arms = {"workers": grid(args.workers, 1)}
        if not args.control:  # a pure-Python loop has no second thread to use
            arms["threads"] = grid(1, args.workers)
        arms["workers_busy"] = busy(grid(args.workers, 1))
        if args.busy_threads and not args.control:
            arms["threads_busy"] = busy(grid(1, args.workers, 1))
        rates = interleaved(arms, args.rounds)
    what = (
        "pure-Python loops of --steps million additions (the control)"
        if args.control
        else "MNIST DCGAN runs (width 1/4, batch 64)"
    )
    results = {
        "what": f"points/s of a grid of {what} through the study runner, CPU",
        "points": args.points,
        "steps": args.steps,
        "workers": args.workers,
        "rounds": args.rounds,
        "cores": len(__import__("os").sched_getaffinity(0)),
        "torch": torch.__version__,
        "load_before": load_before,
        "load_after": load(),
        "points_per_s": {name: spread(r) for name, r in rates.items()},
        "rates": rates,
        "control": args.control,
        "workers_busy / workers": ratios(rates, "workers")["workers_busy"],
        "targets": TARGETS,
    }
    if "threads" in rates:
        results["workers / threads"] = ratios(rates, "threads")["workers"]
    if "threads_busy" in rates:
        results["threads_busy / threads"] = ratios(rates, "threads")["threads_busy"]
    results["met"] = {k: results[k]["median"] >= t for k, t in TARGETS.items() if k in results}
    print(
        f"grid of {args.points} points x {args.steps} {'million additions' if args.control else 'steps'}, "
        f"{args.workers} workers{'' if args.control else f' vs {args.workers} threads'}, "
        f"{args.rounds} rounds; load {load_before} -> {results['load_after']}"
    )
    for name in rates:
        print(report_line(f"  {name:13s} points/s", results["points_per_s"][name], ""))
    for key in [k for k in list(TARGETS) + ["threads_busy / threads"] if k in results]:
        verdict = (
            f" (target >= {TARGETS[key]:g}x: {'met' if results['met'][key] else 'NOT met'})" if key in TARGETS else ""
        )
        print(report_line(f"  {key}", results[key]) + verdict)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return results


if __name__ == "__main__":
    main()
