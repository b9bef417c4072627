"""The Metz et al. 2017 Stacked MNIST nets on a CPU: the fast paths against fp32 eager.

    python3 -m benchmarks.metz [--batch 128] [--d-width 0.5] [--steps 15] [--rounds 8] [--threads 1] [--out PATH.json]

Arms, each `sandbox.trainer.loop.make_run` + `run_steps` (one D step and one G step per step, fp32, the paper's
Stacked MNIST config: G at width 1, D = 1/2 G, batch 128): eager (contiguous tensors, no compile),
eager_strided_crop (eager with the previous `UpSame.forward` patched in, whose 'SAME' crop left a strided view
that BatchNorm is slow on: the fp32 eager the speed issue measured), channels_last (the trainer's CPU default
for net metz, whose G runs its transposed convs as matmuls, `sandbox.nets.gemm.conv_transpose2d_nhwc`),
channels_last_onednn (the same with torch's conv kernels throughout, `gemm.native()`: the matmul form's own
gain), compile (--compile: torch.compile of the penalty-free forwards) and fast (both; compiled code keeps
torch's kernels). Compile time is the warm-up and is reported apart. The arms are timed in interleaved rounds
(benchmarks._arms; one thread: in CPU time); the ratio is taken within each round. Target: the fast path >= 1.3x
eager_strided_crop, the fast path being the faster of channels_last and fast by their medians (`fast_path`).
"""

import argparse
import contextlib
import json
import time
from pathlib import Path

import torch

from benchmarks._arms import clock, interleaved, load, ratios, report_line, spread, timed, torch_threads
from sandbox.nets import gemm, metz
from sandbox.trainer.config import make_config
from sandbox.trainer.loop import make_run, run_steps

TARGET = 1.3
ARMS = {
    "eager_strided_crop": dict(channels_last="off", compile=False),
    "eager": dict(channels_last="off", compile=False),
    "channels_last": dict(channels_last="on", compile=False),
    "channels_last_onednn": dict(channels_last="on", compile=False),
    "compile": dict(channels_last="off", compile=True),
    "fast": dict(channels_last="on", compile=True),
}
CROP_COPIED = metz.UpSame.forward  # the current forward: the crop copied out in the conv output's memory format


def strided_crop(self, x):
    """UpSame.forward as it was: the 'SAME' crop returned as a strided view of the transposed conv's output."""
    rows = slice(self.start, self.start + self.size)
    return self.conv(x)[..., rows, rows]


def arm(name: str, run, steps: int, now=time.perf_counter):
    """A timer of `steps` steps of `run`, with the arm's UpSame.forward in place while it runs."""

    def rate() -> float:
        metz.UpSame.forward = strided_crop if name == "eager_strided_crop" else CROP_COPIED
        try:
            with gemm.native() if name == "channels_last_onednn" else contextlib.nullcontext():
                return timed(lambda: run_steps(run, steps), steps, now)
        finally:
            metz.UpSame.forward = CROP_COPIED

    return rate


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--d-width", type=float, default=0.5, help="D width (0.25, 0.5: the paper's Ds)")
    p.add_argument("--steps", type=int, default=15, help="timed steps per arm and round")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-dir", default="")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    with torch_threads(args.threads):
        load_before, runs, warmup_s = load(), {}, {}
        for name, flags in ARMS.items():
            cfg = make_config(
                dict(
                    data="stacked_mnist", net="metz", batch=args.batch, d_width=args.d_width, amp="off",
                    device="cpu", data_dir=args.data_dir, progress=False, **flags,
                )
            )  # fmt: skip
            runs[name] = make_run(cfg)
            t0 = time.perf_counter()
            arm(name, runs[name], 3)()  # compiles the compiled arms' forwards
            warmup_s[name] = time.perf_counter() - t0
        now = clock(args.threads)
        rates = interleaved({name: arm(name, run, args.steps, now) for name, run in runs.items()}, args.rounds)
    results = {
        "what": "Metz et al. 2017 Stacked MNIST nets, steps/s (one D and one G step), fp32, CPU",
        "batch": args.batch,
        "d_width": args.d_width,
        "threads": args.threads,
        "steps": args.steps,
        "rounds": args.rounds,
        "clock": "process CPU time" if args.threads == 1 else "wall time",
        "torch": torch.__version__,
        "load_before": load_before,
        "load_after": load(),
        "warmup_s": warmup_s,
        "steps_per_s": {name: spread(r) for name, r in rates.items()},
        "rates": rates,
        "ratio_to_eager": ratios(rates, "eager"),
        "ratio_to_eager_strided_crop": ratios(rates, "eager_strided_crop"),
        "target": TARGET,
    }
    to_crop = results["ratio_to_eager_strided_crop"]
    results["fast_path"] = max(("channels_last", "fast"), key=lambda name: to_crop[name]["median"])
    results["met"] = to_crop[results["fast_path"]]["median"] >= TARGET
    print(
        f"Metz nets, batch {args.batch}, D width {args.d_width:g}, {args.threads} thread(s), {args.rounds} rounds of "
        f"{args.steps} steps; load {load_before} -> {results['load_after']}"
    )
    for name in ARMS:
        print(
            report_line(f"  {name:18s} steps/s", results["steps_per_s"][name], "") + f"  warm-up {warmup_s[name]:.1f} s"
        )
    for base in ("eager", "eager_strided_crop"):
        for name, s in results[f"ratio_to_{base}"].items():
            print(report_line(f"  {name} / {base}", s))
    fast = results["fast_path"]
    print(f"fast path ({fast}) / eager_strided_crop target >= {TARGET:g}x: {'met' if results['met'] else 'NOT met'}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return results


if __name__ == "__main__":
    main()
