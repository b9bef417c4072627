"""The Metz et al. 2017 Stacked MNIST nets on a CPU: bf16 autocast against fp32, its speed and whether it trains as
well (a mode-count parity check).

    python3 -m benchmarks.metz_amp [--d-width 0.5] [--steps 10] [--rounds 6] [--parity auto|always|never]
                                   [--parity-steps 2000] [--seeds 4] [--n-eval 10240] [--workers 2] [--out PATH.json]

speed: steps/s (one D and one G step) of `loop.make_run` + `run_steps` on the paper's Stacked MNIST config (G at
width 1, D at --d-width, BatchNorm in both, the non-saturating loss, batch 128) in three arms: eager (fp32,
contiguous: issue 13's baseline), channels_last (fp32: the trainer's CPU default for net metz) and
channels_last_bf16 (bf16 autocast of the forwards over it), in interleaved rounds on one thread (CPU time,
benchmarks._arms).
parity: the headline config of the study rpgan_stacked_mnist (its NET: BatchNorm in G only, D at d_width 4, the
Metz optimiser) with RpGAN + R1 (gamma 1), trained --parity-steps steps fp32 and bf16 from each seed (the seeds
paired: the same nets, data and noise streams), then modes of 1000 and reverse KL(q || uniform) of --n-eval samples
by the project's classifier (`studies._curves.stacked_modes_row`, latents on a seed of their own). At 2,000 steps the
committed fp32 records of this config stand at 637-769 modes and are still climbing, so a precision that slowed
learning would show. Parity holds for a metric when the difference of the means is within 2 standard errors of that
difference (sqrt(s_fp32^2 / n + s_bf16^2 / n)), as in benchmarks.amp_parity; with --seeds 1 no verdict is given.
The R1 penalty runs in fp32 under autocast (`sandbox.penalties`), so this checks the bf16 forwards and the rest of
the step. Under --parity auto it runs only where bf16 pays (its median speed ratio over channels_last fp32 >= 1); on
a CPU without native bf16 (AVX2 only) bf16 convolutions are 14-20x slower and the parity runs would take hours.
The parity runs go to --workers processes of one thread each (never more than the cores).
"""

import argparse
import dataclasses
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from benchmarks._arms import clock, interleaved, load, parity_verdict, ratios, report_line, spread, timed, torch_threads
from sandbox import data as sdata
from sandbox.reporting.workers import init_worker
from sandbox.trainer.config import make_config
from sandbox.trainer.loop import make_run, run_steps
from studies import _curves
from studies import rpgan_stacked_mnist as rp

ARMS = {  # name -> (channels_last, amp)
    "eager": ("off", "off"),
    "channels_last": ("on", "off"),
    "channels_last_bf16": ("on", "on"),
}
PRECISIONS = {"fp32": "off", "bf16": "on"}
METRICS = ("modes", "reverse_kl")
TARGET = 1.3  # issue 13: the Metz fast path against fp32 eager


def speed_config(d_width: float, channels_last: str, amp: str, data_dir: str):
    """The paper's Stacked MNIST config (trainer defaults for net metz) in one arm's layout and precision."""
    return make_config(
        dict(
            data="stacked_mnist", net="metz", batch=128, d_width=d_width, channels_last=channels_last, amp=amp,
            device="cpu", data_dir=data_dir, progress=False,
        )
    )  # fmt: skip


def speed(d_width: float, steps: int, rounds: int, data_dir: str) -> dict:
    """steps/s of each arm and the per-round ratios to eager and to channels_last."""
    runs = {name: make_run(speed_config(d_width, cl, amp, data_dir)) for name, (cl, amp) in ARMS.items()}
    for run in runs.values():
        run_steps(run, 2)  # warm-up: oneDNN picks its kernels on the first calls
    now = clock(torch.get_num_threads())
    arms = {name: (lambda run=run: timed(lambda: run_steps(run, steps), steps, now)) for name, run in runs.items()}
    rates = interleaved(arms, rounds)
    return {
        "d_width": d_width,
        "steps_per_s": {name: spread(r) for name, r in rates.items()},
        "rates": rates,
        "ratio_to_eager": ratios(rates, "eager"),
        "ratio_to_channels_last": ratios(rates, "channels_last"),
    }


def parity_config(seed: int, steps: int, amp: str, data_dir: str):
    """rpgan_stacked_mnist's config of RpGAN + R1 at d_width 4 (`run_config`), channels_last, in the given precision."""
    cfg = rp.run_config("rpgan_r1", dict(d_width=4.0, steps=steps), seed, "cpu")
    return dataclasses.replace(cfg, amp=amp, channels_last="on", data_dir=data_dir)


def parity_run(seed: int, precision: str, steps: int, n_eval: int, data_dir: str) -> dict:
    """One parity run: train, then modes and reverse KL of n_eval samples on latents of seed 10,000 + seed."""
    run = make_run(parity_config(seed, steps, PRECISIONS[precision], data_dir))
    t0 = time.process_time()
    run_steps(run, steps)
    train_s = time.process_time() - t0
    row = _curves.stacked_modes_row(run, n_eval, 10_000 + seed)
    return dict(seed=seed, precision=precision, train_cpu_s=train_s, **{m: float(row[m]) for m in METRICS})


def parity(steps: int, seeds: int, n_eval: int, workers: int, data_dir: str) -> dict:
    """Every (seed, precision) run on `workers` one-thread processes, then the verdict per metric."""
    jobs = [(s, p) for s in range(seeds) for p in PRECISIONS]
    with ProcessPoolExecutor(max_workers=workers, initializer=init_worker, initargs=(1,)) as pool:
        futures = [pool.submit(parity_run, s, p, steps, n_eval, data_dir) for s, p in jobs]
        runs = []
        for f in futures:
            runs.append(f.result())
            r = runs[-1]
            print(
                f"  seed {r['seed']} {r['precision']}: {r['modes']:.0f} modes, reverse KL {r['reverse_kl']:.3f}, "
                f"{r['train_cpu_s'] / 60:.1f} CPU-min",
                flush=True,
            )
    by = {m: {p: [r[m] for r in runs if r["precision"] == p] for p in PRECISIONS} for m in METRICS}
    train = {p: sum(r["train_cpu_s"] for r in runs if r["precision"] == p) for p in PRECISIONS}
    return dict(
        config="rpgan_stacked_mnist NET, RpGAN + R1 (gamma 1), d_width 4, channels_last, batch 128",
        steps=steps, seeds=seeds, n_eval=n_eval, runs=runs, train_cpu_s=train,
        train_ratio_fp32_over_bf16=train["fp32"] / train["bf16"],
        **{m: dict(values=by[m], **parity_verdict(by[m], seeds)) for m in METRICS},
    )  # fmt: skip


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--d-width", type=float, default=0.5, help="D width of the speed arms (0.25, 0.5: the paper's)")
    p.add_argument("--steps", type=int, default=10, help="timed steps per arm and round")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--parity", choices=["auto", "always", "never"], default="auto", help="auto: where bf16 pays")
    p.add_argument("--parity-steps", type=int, default=2000)
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--n-eval", type=int, default=10240)
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--data-dir", default="")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    data_dir = args.data_dir or str(sdata.data_root())
    results = {"torch": torch.__version__, "load_before": load(), "target": TARGET}
    with torch_threads(1):
        if not args.skip_speed:
            results["speed"] = speed(args.d_width, args.steps, args.rounds, data_dir)
            results["load_after_speed"] = load()
    pays = results.get("speed", {}).get("ratio_to_channels_last", {}).get("channels_last_bf16", {"median": 1.0})
    results["parity_run"] = args.parity == "always" or (args.parity == "auto" and pays["median"] >= 1.0)
    if results["parity_run"]:
        print(f"parity: {args.parity_steps} steps, {args.seeds} seeds, {args.workers} workers", flush=True)
        results["parity"] = parity(args.parity_steps, args.seeds, args.n_eval, args.workers, data_dir)
        results["load_after_parity"] = load()
    else:
        print(f"parity not run (--parity {args.parity}; bf16 is slower here)", flush=True)
    print(f"Metz nets, Stacked MNIST, CPU, 1 thread, batch 128; load {results['load_before']}")
    if "speed" in results:
        s = results["speed"]
        for name in ARMS:
            print(report_line(f"  {name:18s} steps/s", s["steps_per_s"][name], ""))
        for base in ("eager", "channels_last"):
            for name, r in s[f"ratio_to_{base}"].items():
                print(report_line(f"  {name} / {base}", r))
        best = max(r["median"] for r in s["ratio_to_eager"].values())
        print(f"  fastest arm / eager {best:.3g}x; target >= {TARGET:g}x: {'met' if best >= TARGET else 'NOT met'}")
    if "parity" in results:
        q = results["parity"]
        for m in METRICS:
            v = q[m]
            print(
                f"  {m} after {q['steps']} steps, {q['seeds']} seeds: fp32 {v['mean']['fp32']:.3g} +- "
                f"{v['std']['fp32']:.3g}, bf16 {v['mean']['bf16']:.3g} +- {v['std']['bf16']:.3g}; difference "
                f"{v['diff_bf16_minus_fp32']:+.3g} (2 SE = {2 * v['se_diff']:.3g}): parity "
                f"{'holds' if v['parity'] else 'FAILS' if v['parity'] is False else 'not judged (1 seed)'}"
            )
        print(f"  training CPU time fp32 / bf16: {q['train_ratio_fp32_over_bf16']:.3g}x")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return results


if __name__ == "__main__":
    main()
