"""The r3gan nets on a CPU: the trainer's step in channels_last against contiguous tensors, side by side.

    python3 -m benchmarks.r3gan [--width 0.25] [--batch 128] [--steps 3] [--rounds 4] [--threads 1] [--out PATH.json]

Both arms are `sandbox.trainer.loop.make_run` + `run_steps` on Stacked MNIST with the C22 setting of
`studies.rpgan_stacked_mnist` (RpGAN + R1 + R2, gamma 1, batch 128: one D step with both penalties' double
backward, then one G step), G and D at the same width; only the memory format differs. Timed in interleaved
rounds (benchmarks._arms; one thread: in CPU time), the ratio taken within each round. This is the measurement
behind `sandbox.trainer.parts.CHANNELS_LAST_ON_CPU` for the family.
"""

import argparse
import json
from pathlib import Path

import torch

from benchmarks._arms import clock, interleaved, load, ratios, report_line, spread, timed, torch_threads
from sandbox.trainer.config import make_config
from sandbox.trainer.loop import make_run, run_steps

ARMS = {"contiguous": "off", "channels_last": "on"}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--width", type=float, default=0.25, help="G and D width (the C22 pilots' 0.25)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=3, help="timed steps per arm and round")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-dir", default="")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    with torch_threads(args.threads):
        load_before, runs = load(), {}
        for name, flag in ARMS.items():
            cfg = dict(
                data="stacked_mnist", net="r3gan", g_width=args.width, d_width=args.width, batch=args.batch,
                objective="rpgan", penalty="r1_r2", penalty_weight=1.0, optimiser="adam", lr_d=2e-4, lr_g=2e-4,
                betas=(0.0, 0.9), channels_last=flag, amp="off", device="cpu", data_dir=args.data_dir, progress=False,
            )  # fmt: skip
            runs[name] = make_run(make_config(cfg))
            run_steps(runs[name], 1)  # warm-up
        now = clock(args.threads)
        arms = {
            name: (lambda r=run: timed(lambda: run_steps(r, args.steps), args.steps, now)) for name, run in runs.items()
        }
        rates = interleaved(arms, args.rounds)
    results = {
        "what": "r3gan nets on Stacked MNIST, RpGAN + R1 + R2, steps/s (one D and one G step), fp32, CPU",
        "width": args.width,
        "batch": args.batch,
        "threads": args.threads,
        "steps": args.steps,
        "rounds": args.rounds,
        "clock": "process CPU time" if args.threads == 1 else "wall time",
        "torch": torch.__version__,
        "load_before": load_before,
        "load_after": load(),
        "steps_per_s": {name: spread(r) for name, r in rates.items()},
        "rates": rates,
        "ratio_to_contiguous": ratios(rates, "contiguous"),
    }
    print(
        f"r3gan nets, width {args.width:g}, batch {args.batch}, {args.threads} thread(s), {args.rounds} rounds of "
        f"{args.steps} steps; load {load_before} -> {results['load_after']}"
    )
    for name in ARMS:
        print(report_line(f"  {name:14s} steps/s", results["steps_per_s"][name], ""))
    print(report_line("  channels_last / contiguous", results["ratio_to_contiguous"]["channels_last"]))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return results


if __name__ == "__main__":
    main()
