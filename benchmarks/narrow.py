"""The DCGAN's narrow layers as matrix products (sandbox.nets.gemm) against torch's conv kernels, on a CPU.

    python3 -m benchmarks.narrow [--widths 0.125 0.25 1] [--batch 64] [--steps 10] [--rounds 6] [--out PATH.json]

Layers: fwd + bwd (input and weight gradients) of G's projection (z -> 256w x 7 x 7), G's last transposed conv
(128w -> 1 channel, 14 -> 28) and D's first conv (1 -> 128w, 28 -> 14), taken from the nets, torch's kernel
(inside `gemm.native()`) against the matmul form. Steps: trainer steps/s (one D and one G step, the dcgan preset
on MNIST) with torch's kernels (native) and with the matmul forms (matmul, the default), each also with
channels_last on. One thread, timed in CPU time, interleaved rounds (benchmarks._arms); ratios within each round,
against native.
"""

import argparse
import contextlib
import json
from pathlib import Path

import torch

from benchmarks._arms import clock, interleaved, load, ratios, report_line, spread, timed, torch_threads
from sandbox.nets import dcgan_discriminator, dcgan_generator, gemm
from sandbox.trainer.config import make_config
from sandbox.trainer.loop import make_run, run_steps

STEP_ARMS = {  # name -> (gemm.ON_CPU, channels_last)
    "native": (False, "off"),
    "matmul": (True, "off"),
    "native_channels_last": (False, "on"),
    "matmul_channels_last": (True, "on"),
}


def layers(width: float, batch: int) -> dict:
    """name -> (layer, input) for the three narrow layers of the DCGAN nets at `width`, taken from the nets."""
    G, D = dcgan_generator(width=width), dcgan_discriminator(width=width)
    last = G.net[-2]
    return {
        "G projection": (G.net[0], torch.randn(batch, G.z_dim, 1, 1)),
        "G last": (last, torch.randn(batch, last.in_channels, 14, 14)),
        "D first": (D.features[0], torch.randn(batch, 1, 28, 28)),
    }


def timer(work, units: int, on: bool):
    """A timer: `units` / CPU-seconds of one call of work(), with the matmul forms (on) or torch's kernels."""

    def rate() -> float:
        with contextlib.nullcontext() if on else gemm.native():
            return timed(work, units, clock(1))

    return rate


def layer_passes(layer, x: torch.Tensor, reps: int):
    """`reps` fwd + bwd passes (input and weight gradients) of `layer` through gemm.apply, the nets' entry point."""
    x = x.clone().requires_grad_(True)

    def work():
        for _ in range(reps):
            gemm.apply(layer, x).sum().backward()

    return work


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--widths", type=float, nargs="+", default=[0.125, 0.25, 1.0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=10, help="timed trainer steps per arm and round")
    p.add_argument("--reps", type=int, default=10, help="timed layer passes per arm and round")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--data-dir", default="")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    results = {"batch": args.batch, "rounds": args.rounds, "torch": torch.__version__, "load_before": load()}
    with torch_threads(1):
        for w in args.widths:
            arms = {}
            for name, (layer, x) in layers(w, args.batch).items():
                arms[f"{name}: native"] = timer(layer_passes(layer, x, args.reps), args.reps, False)
                arms[f"{name}: matmul"] = timer(layer_passes(layer, x, args.reps), args.reps, True)
            for name, (on, cl) in STEP_ARMS.items():
                cfg = make_config(
                    dict(
                        data="mnist", net="dcgan", g_width=w, d_width=w, batch=args.batch, device="cpu", amp="off",
                        channels_last=cl, data_dir=args.data_dir, progress=False,
                    )
                )  # fmt: skip
                run = make_run(cfg)
                timer(lambda r=run: run_steps(r, 2), 1, on)()  # warm-up
                arms[f"steps: {name}"] = timer(lambda r=run: run_steps(r, args.steps), args.steps, on)
            rates = interleaved(arms, args.rounds)
            pairs = {
                name: spread([m / n for m, n in zip(rates[f"{name}: matmul"], rates[f"{name}: native"])])
                for name in ("G projection", "G last", "D first")
            }
            steps = {k[len("steps: ") :]: v for k, v in rates.items() if k.startswith("steps: ")}
            results[f"width {w:g}"] = {
                "rates": rates,
                "layer_ratio_matmul_to_native": pairs,
                "steps_per_s": {k: spread(v) for k, v in steps.items()},
                "step_ratio_to_native": ratios(steps, "native"),
            }
            print(f"DCGAN width {w:g}, batch {args.batch}, 1 thread, {args.rounds} rounds")
            for name, s in pairs.items():
                print(report_line(f"  {name} (fwd + bwd) matmul / native", s))
            for name, s in results[f"width {w:g}"]["steps_per_s"].items():
                print(report_line(f"  steps/s {name:22s}", s, ""))
            for name, s in results[f"width {w:g}"]["step_ratio_to_native"].items():
                print(report_line(f"  step ratio {name} / native", s))
    results["load_after"] = load()
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return results


if __name__ == "__main__":
    main()
