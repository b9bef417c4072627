"""One training run on a shared CPU: one torch thread against several, on a quiet machine and with a core taken.

    python3 -m benchmarks.threads [--threads 2] [--steps 200] [--rounds 2] [--out PATH.json]

The MNIST DCGAN at width 1/4, batch 64 (`loop.make_run` + `run_steps`, amp off), steps per second by wall time.
Arms, in interleaved rounds (benchmarks._arms): `one` (1 thread), `many` (--threads threads), and both again while
another process spins on one core (`benchmarks.grid.Spinner`: someone else's job). What it decides: the trainer's
auto thread count for image nets (`sandbox.devices.single_run_threads`: half the cores, one on 2 cores), which
gives up `many / one` when the machine is quiet to avoid `many_busy / one_busy` when it is not.
"""

import argparse
import json
from pathlib import Path
from typing import Callable, Optional

import torch

from benchmarks._arms import interleaved, load, ratios, report_line, spread, timed, torch_threads
from benchmarks.grid import busy


def arm(threads: int, steps: int, data_dir: Optional[str]) -> Callable[[], float]:
    """A rate function: `steps` more steps of one width-1/4 DCGAN run (after 20 warm-up steps) with `threads`."""
    from sandbox.trainer.config import make_config
    from sandbox.trainer.loop import make_run, run_steps

    values = dict(
        data="mnist", net="dcgan", g_width=0.25, d_width=0.25, batch=64, seed=0, device="cpu", progress=False, amp="off"
    )  # fmt: skip
    run = make_run(make_config(dict(values, data_dir=data_dir) if data_dir else values))

    def rate() -> float:
        with torch_threads(threads):
            run_steps(run, 20)  # warm up at this thread count (the busy arm steps the same run on)
            return timed(lambda: run_steps(run, steps), steps)

    return rate


def main(argv=None) -> dict:
    """Time the four arms and print the ratios; write them as JSON with --out."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2, help="the threads of the `many` arms")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--data-dir", default=None, help="data root holding mnist/ (default: $SANDBOX_DATA, else ./data)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    load_before = load()
    arms = {"one": arm(1, args.steps, args.data_dir), "many": arm(args.threads, args.steps, args.data_dir)}
    arms |= {f"{name}_busy": busy(rate) for name, rate in list(arms.items())}  # the same run, a core taken
    rates = interleaved(arms, args.rounds)
    results = {
        "threads": args.threads, "steps": args.steps, "rounds": args.rounds, "torch": torch.__version__,
        "load_before": load_before, "load_after": load(),
        "rates_steps_per_s": {k: spread(v) for k, v in rates.items()},
        "many / one": ratios(rates, "one")["many"],
        "many_busy / one_busy": ratios(rates, "one_busy")["many_busy"],
        "one_busy / one": ratios(rates, "one")["one_busy"],
    }  # fmt: skip
    print(f"MNIST DCGAN width 1/4, batch 64, CPU; load {load_before} -> {results['load_after']}")
    for name, s in results["rates_steps_per_s"].items():
        print(report_line(f"{name} (steps/s)", s, unit=""))
    for key in ("many / one", "many_busy / one_busy", "one_busy / one"):
        print(report_line(key, results[key]))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
