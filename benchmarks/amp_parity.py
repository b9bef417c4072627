"""DCGAN on MNIST on a CPU: bf16 autocast against fp32, its speed and whether it trains as well (FID parity).

    python3 -m benchmarks.amp_parity [--widths 0.5 0.25] [--batch 64] [--speed-steps 4] [--rounds 3]
                                     [--parity auto|always|never] [--width 0.25] [--steps 400] [--seeds 3]
                                     [--n-fid 2000] [--ensemble 1] [--threads 1] [--out PATH.json]

speed: steps/s (one D and one G step) of `loop.make_run` + `run_steps` with amp off (fp32) and on (bf16
autocast of the forwards; penalties stay fp32), at each width, in interleaved rounds (benchmarks._arms; one
thread: in CPU time).
Target: bf16 >= 1.4x fp32.
parity: the same config (preset dcgan, batch 64, the given width and steps) trained fp32 and bf16 from each
seed, then FID (MNIST-classifier features, `sandbox.evaluation.mnist`, against the test split) of n_fid
samples of G in eval mode on the run's fixed z; with --ensemble K (= --seeds) the seeds train as one grouped
ensemble (`sandbox.trainer.ensemble`, member k = seed k) in each precision, and each member's samples are scored
on its solo run's fixed z. Parity holds when the difference of the mean FIDs is within
2 standard errors of that difference (sqrt(s_fp32^2 / n + s_bf16^2 / n) over the seeds): bf16 is then not
distinguishable from fp32 at this budget by seed noise. Under --parity auto it runs only where bf16 pays (its
median speed ratio at the parity width >= 1): on a CPU without native bf16 kernels (AVX2 only, as the project's)
bf16 runs at about 0.06x and the parity runs would take an hour. A CPU default of bf16 needs both checks: the
trainer's amp 'auto' is bf16 on CUDA, and on CPUs with native bf16 for the solo nets that passed them (`parts.use_amp`).
"""

import argparse
import json
import time
from pathlib import Path

import torch

from benchmarks._arms import clock, interleaved, load, parity_verdict, ratios, report_line, spread, timed, torch_threads
from sandbox.evaluation import mnist as ev
from sandbox.trainer import runlog as tl
from sandbox.trainer.config import make_config
from sandbox.trainer.ensemble import generate, make_ensemble
from sandbox.trainer.loop import make_run, run_steps
from sandbox.trainer.presets import preset

TARGET = 1.4
AMP = {"fp32": "off", "bf16": "on"}


def config(
    width: float, batch: int, amp: str, seed: int = 0, data_dir: str = "", device: str = "cpu", ensemble: int = 1
):
    """Preset dcgan on MNIST at width `width` for G and D, on `device`, amp 'on' or 'off' (K seeds grouped)."""
    return make_config(
        preset("dcgan"),
        dict(
            data="mnist", net="dcgan", g_width=width, d_width=width, batch=batch, amp=amp, seed=seed,
            device=device, data_dir=data_dir, progress=False, ensemble=ensemble,
        ),
    )  # fmt: skip


def speed(widths, batch: int, steps: int, rounds: int, data_dir: str) -> dict:
    """Per width: steps/s of each arm and the per-round ratio bf16 / fp32."""
    out = {}
    for width in widths:
        runs = {name: make_run(config(width, batch, amp, data_dir=data_dir)) for name, amp in AMP.items()}
        for run in runs.values():
            run_steps(run, 2)  # warm-up
        now = clock(torch.get_num_threads())  # one thread: CPU time (benchmarks._arms)
        arms = {name: (lambda run=run: timed(lambda: run_steps(run, steps), steps, now)) for name, run in runs.items()}
        rates = interleaved(arms, rounds)
        out[str(width)] = {
            "steps_per_s": {name: spread(r) for name, r in rates.items()},
            "rates": rates,
            "ratio": ratios(rates, "fp32")["bf16"],
        }
    return out


def train_and_sample(cfg, steps: int, n: int) -> tuple:
    """(training seconds, [n samples of G per seed], device): one solo run, or the members of a grouped ensemble,
    each G in eval mode on its solo run's fixed z."""
    model = make_ensemble(cfg) if cfg.ensemble > 1 else make_run(cfg)
    t0 = time.perf_counter()
    run_steps(model, steps)
    if model.device.type == "cuda":
        torch.cuda.synchronize(model.device)
    seconds = time.perf_counter() - t0
    samples = list(generate(model, n)) if cfg.ensemble > 1 else [tl.generate(model, n)]
    return seconds, samples, model.device


def parity(
    width: float, batch: int, steps: int, seeds: int, n_fid: int, data_dir: str, device: str = "cpu", grouped=False
) -> dict:
    """FID after `steps` steps from each seed, fp32 and bf16; the means, stds and the 2-standard-error verdict.
    grouped: the seeds train as one grouped ensemble per precision (member k is seed k)."""
    fids, seconds = {name: [] for name in AMP}, {name: 0.0 for name in AMP}
    jobs = [(0, seeds)] if grouped else [(seed, 1) for seed in range(seeds)]  # (first seed, seeds in one model)
    for first, K in jobs:
        for name, amp in AMP.items():
            spent, samples, on = train_and_sample(config(width, batch, amp, first, data_dir, device, K), steps, n_fid)
            seconds[name] += spent
            for k, x in enumerate(samples):
                fids[name].append(ev.fid_to_test(x, data_dir, on))
                print(f"  seed {first + k} {name}: FID {fids[name][-1]:.2f}", flush=True)
    return {
        "width": width,
        "batch": batch,
        "steps": steps,
        "seeds": seeds,
        "n_fid": n_fid,
        "grouped": grouped,
        "fid": fids,
        **parity_verdict(fids, seeds),
        "train_s": seconds,
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--widths", type=float, nargs="+", default=[0.5, 0.25], help="widths timed")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--speed-steps", type=int, default=4, help="timed steps per arm and round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--parity", choices=["auto", "always", "never"], default="auto", help="auto: where bf16 pays")
    p.add_argument("--width", type=float, default=0.25, help="width of the parity runs")
    p.add_argument("--steps", type=int, default=400, help="G steps of each parity run")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--n-fid", type=int, default=2000)
    p.add_argument("--ensemble", type=int, default=1, help="K > 1: parity runs as one grouped ensemble (K = --seeds)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--data-dir", default="")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.ensemble not in (1, args.seeds):
        p.error(f"--ensemble {args.ensemble}: the grouped parity runs train the --seeds ({args.seeds}) as one ensemble")
    results = {"threads": args.threads, "torch": torch.__version__, "load_before": load(), "target": TARGET}
    with torch_threads(args.threads):
        if not args.skip_speed:
            results["speed"] = speed(args.widths, args.batch, args.speed_steps, args.rounds, args.data_dir)
            results["load_after_speed"] = load()
        pays = results.get("speed", {}).get(str(args.width), {}).get("ratio", {}).get("median", 1.0) >= 1.0
        results["parity_run"] = args.parity == "always" or (args.parity == "auto" and pays)
        if not results["parity_run"]:
            print(f"parity not run (--parity {args.parity}; bf16 {'pays' if pays else 'is slower'} here)", flush=True)
        else:
            print(
                f"parity: width {args.width:g}, batch {args.batch}, {args.steps} steps, {args.seeds} seeds", flush=True
            )
            results["parity"] = parity(
                args.width, args.batch, args.steps, args.seeds, args.n_fid, args.data_dir, grouped=args.ensemble > 1
            )
            results["load_after_parity"] = load()
    print(f"DCGAN on MNIST, CPU, {args.threads} thread(s), batch {args.batch}; load {results['load_before']}")
    for width, s in results.get("speed", {}).items():
        fp32, bf16 = s["steps_per_s"]["fp32"]["median"], s["steps_per_s"]["bf16"]["median"]
        print(report_line(f"  width {width}: fp32 {fp32:.3g}, bf16 {bf16:.3g} steps/s; bf16 / fp32", s["ratio"]))
    if "parity" in results:
        q = results["parity"]
        print(
            f"  FID after {q['steps']} steps, {q['seeds']} seeds: "
            f"fp32 {q['mean']['fp32']:.2f} +- {q['std']['fp32']:.2f}, "
            f"bf16 {q['mean']['bf16']:.2f} +- {q['std']['bf16']:.2f}; difference {q['diff_bf16_minus_fp32']:+.2f} "
            f"(2 SE = {2 * q['se_diff']:.2f}): parity {'holds' if q['parity'] else 'FAILS'}"
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return results


if __name__ == "__main__":
    main()
