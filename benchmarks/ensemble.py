"""`--ensemble K` (one batched model) against K sequential solo runs of the same seeds, side by side.

    python3 -m benchmarks.ensemble [--members 32] [--steps 100] [--sizes small paper metz dcgan dcgan_eighth]
                                   [--image-members 4] [--image-steps 8] [--rounds 6] [--threads 1] [--out PATH.json]

mlp sizes: both sides train the ring of 8 Gaussians with the mlp players and the same config: the batched side
is `sandbox.trainer.ensemble.make_ensemble` + `loop.run_steps` (vmap over stacked parameters), the sequential
side `loop.make_run` + `loop.run_steps` once per seed, as a study looping over seeds would. Setup (building
players and optimisers) is timed apart from the steps. `small` is a study-sized model (hidden 32, z_dim 8, batch
32), where a solo step is dominated by per-op overhead that batching removes; `paper` is the default Metz et al.
2017 model (hidden 128, z_dim 256, batch 128), where a solo step on one thread is already dominated by its matrix
products, which batching cannot remove. The last columns compare the members with the solo runs (float32: the
batched and the per-member kernels may round differently, and GAN training amplifies it over many steps).
image sizes (grouped nets, `sandbox.nets.grouped`): `metz` is the Metz et al. 2017 Stacked MNIST config (G at
width 1, D = 1/2 G, batch 128), `dcgan` the MNIST DCGAN at width 1/4 and batch 64 (the dcgan_mnist study's
quick scale), `dcgan_eighth` the same at width 1/8 (wgan_family's, r1_convergence's and dynamics_at_scale's);
K = --image-members seeds as one grouped net (in the trainer's default memory format for that net on a CPU,
channels_last for metz and contiguous for dcgan, and in the other one) and as K solo runs in turn, timed in
interleaved rounds (benchmarks._arms; one thread: in CPU time), the ratio taken within each round, both sides
fp32 (amp off): `ratio`, grouping's own. Target: grouped >= 1.15x sequential at K = 4. On a CPU where amp 'auto'
runs nets in bf16 (`sandbox.trainer.parts.use_amp`: solo, the DCGAN with native bf16 and the Metz nets with AMX;
grouped, the DCGAN with native bf16) the bf16 arms are timed too (a grouped ensemble forced to bf16, and the solo
runs at 'auto'), and `ratio_at_auto` compares what `--ensemble K` and K solo runs give by default on this CPU.
"""

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from benchmarks._arms import clock, interleaved, load, ratios, report_line, spread, timed, torch_threads
from sandbox.trainer.config import make_config
from sandbox.trainer.ensemble import make_ensemble, member_config
from sandbox.trainer.loop import make_run, run_steps
from sandbox.trainer.parts import use_amp, use_channels_last

SIZES = {
    "small": dict(g_width=0.25, d_width=0.25, z_dim=8, batch=32),
    "paper": dict(),
}
IMAGE_SIZES = {  # amp off: both sides fp32, so `ratio` is the grouping's own; the amp 'auto' arms are timed apart
    "metz": dict(data="stacked_mnist", net="metz", d_width=0.5, batch=128, amp="off"),
    "dcgan": dict(data="mnist", net="dcgan", g_width=0.25, d_width=0.25, batch=64, amp="off"),
    # the width of wgan_family, r1_convergence and dynamics_at_scale, whose seeds an ensemble would carry
    "dcgan_eighth": dict(data="mnist", net="dcgan", g_width=0.125, d_width=0.125, batch=64, amp="off"),
}
IMAGE_TARGET = 1.15


def bench_images(size: str, members: int, steps: int, rounds: int, data_dir: str) -> dict:
    """Member steps/s of one grouped ensemble of `members` seeds (in the default memory format and in the other)
    and of `members` solo runs in turn, interleaved."""
    cfg = make_config(dict(IMAGE_SIZES[size], device="cpu", data_dir=data_dir, progress=False, ensemble=members))
    default_cl = use_channels_last(cfg, torch.device("cpu"))
    ens = {
        "ensemble": make_ensemble(cfg),  # channels_last auto (sandbox.trainer.parts.use_channels_last)
        "ensemble_other_format": make_ensemble(dataclasses.replace(cfg, channels_last="off" if default_cl else "on")),
    }
    solo_cfgs = [member_config(cfg, k) for k in range(members)]
    solos = {"sequential": [make_run(c) for c in solo_cfgs]}
    # Where the trainer's amp 'auto' runs solo or grouped nets in bf16 (parts.BF16_ON_CPU, BF16_ON_CPU_GROUPED),
    # what a user gets by default is bf16: those arms are timed too, and `ratio_at_auto` sets the grouped ensemble
    # against the solo runs, each in the precision 'auto' gives it on this CPU.
    cpu = torch.device("cpu")
    solo_bf16 = use_amp(dataclasses.replace(solo_cfgs[0], amp="auto"), cpu)
    grouped_bf16 = use_amp(dataclasses.replace(cfg, amp="auto"), cpu)
    if solo_bf16:
        solos["sequential_auto_bf16"] = [make_run(dataclasses.replace(c, amp="auto")) for c in solo_cfgs]
    if solo_bf16 or grouped_bf16:
        ens["ensemble_bf16"] = make_ensemble(dataclasses.replace(cfg, amp="on"))
    at_auto = ("ensemble_bf16" if grouped_bf16 else "ensemble", "sequential_auto_bf16" if solo_bf16 else "sequential")
    for run in list(ens.values()) + [r for side in solos.values() for r in side]:
        run_steps(run, 2)  # warm-up

    def sequential(side):
        for run in side:
            run_steps(run, steps)

    now = clock(torch.get_num_threads())  # one thread: CPU time (benchmarks._arms)
    arms = {name: (lambda e=e: timed(lambda: run_steps(e, steps), members * steps, now)) for name, e in ens.items()}
    arms.update(
        {
            name: (lambda side=side: timed(lambda: sequential(side), members * steps, now))
            for name, side in solos.items()
        }
    )
    rates = interleaved(arms, rounds)
    by_seq, by_auto = ratios(rates, "sequential"), ratios(rates, at_auto[1])
    return {
        "size": size,
        "members": members,
        "steps": steps,
        "rounds": rounds,
        "clock": "process CPU time" if torch.get_num_threads() == 1 else "wall time",
        "config": IMAGE_SIZES[size],
        "member_steps_per_s": {name: spread(r) for name, r in rates.items()},
        "rates": rates,
        "ratio": by_seq["ensemble"],
        "ratio_other_format": by_seq["ensemble_other_format"],
        "ratio_vs_auto_bf16_solos": by_auto["ensemble"] if solo_bf16 else None,
        "ratio_bf16_vs_auto_bf16_solos": by_auto["ensemble_bf16"] if solo_bf16 else None,
        "at_auto": {"grouped": at_auto[0], "sequential": at_auto[1]},
        "ratio_at_auto": by_auto[at_auto[0]],
        "default_channels_last": default_cl,
        "target": IMAGE_TARGET,
    }


def bench(size: str, members: int, steps: int) -> dict:
    """Steps/s of one ensemble of `members` seeds and of `members` sequential solo runs, with their agreement."""
    cfg = make_config(
        dict(data="ring", net="mlp", device="cpu", progress=False, ensemble=members, steps=steps, **SIZES[size])
    )
    # Warm-up: the first ensemble pays one-off imports and vmap set-up (seconds) that no later run pays.
    run_steps(make_ensemble(dataclasses.replace(cfg, ensemble=2)), 2)
    run_steps(make_run(member_config(cfg, 0)), 2)
    t0 = time.perf_counter()
    ens = make_ensemble(cfg)
    t1 = time.perf_counter()
    run_steps(ens, steps)
    t2 = time.perf_counter()
    setup_seq, steps_seq, diff = 0.0, 0.0, 0.0
    for k in range(members):
        t3 = time.perf_counter()
        run = make_run(member_config(cfg, k))
        t4 = time.perf_counter()
        run_steps(run, steps)
        t5 = time.perf_counter()
        setup_seq, steps_seq = setup_seq + t4 - t3, steps_seq + t5 - t4
        for a, b in zip(ens.game.x + ens.game.y, run.game.x + run.game.y):
            diff = max(diff, float((a[k].detach() - b.detach()).abs().max()))
    rate_ens, rate_seq = steps / (t2 - t1), steps / steps_seq  # ensemble steps (all members) per second
    return {
        "size": size,
        "members": members,
        "steps": steps,
        "hidden": round(128 * cfg.g_width),
        "z_dim": cfg.z_dim or 256,
        "batch": cfg.batch,
        "setup_s_ensemble": t1 - t0,
        "setup_s_sequential": setup_seq,
        "steps_s_ensemble": t2 - t1,
        "steps_s_sequential": steps_seq,
        "steps_per_s_ensemble": rate_ens,
        "steps_per_s_sequential": rate_seq,
        "member_steps_per_s_ensemble": members * rate_ens,
        "member_steps_per_s_sequential": members * rate_seq,
        "speedup": rate_ens / rate_seq,
        "speedup_with_setup": (setup_seq + steps_seq) / (t2 - t0),
        "max_abs_param_diff_to_solo": diff,
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--members", type=int, default=32, help="members of the mlp ensembles")
    p.add_argument("--steps", type=int, default=100, help="steps of the mlp ensembles")
    p.add_argument(
        "--sizes",
        nargs="+",
        choices=sorted(SIZES) + sorted(IMAGE_SIZES),
        default=["small", "paper", "metz", "dcgan", "dcgan_eighth"],
    )
    p.add_argument("--image-members", type=int, default=4)
    p.add_argument("--image-steps", type=int, default=8, help="timed steps per arm and round of the image ensembles")
    p.add_argument("--rounds", type=int, default=6, help="interleaved rounds of the image ensembles")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads for both sides (train's auto: 1 for mlp)")
    p.add_argument("--data-dir", default="")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    results = {"threads": args.threads, "torch": torch.__version__, "load_before": load()}
    with torch_threads(args.threads):
        runs = [bench(size, args.members, args.steps) for size in args.sizes if size in SIZES]
        images = [
            bench_images(size, args.image_members, args.image_steps, args.rounds, args.data_dir)
            for size in args.sizes
            if size in IMAGE_SIZES
        ]
    results.update(runs=runs, images=images, load_after=load())
    if runs:
        print(
            f"{'size':6s} {'hidden/z/batch':>15s} {'members x steps':>16s} {'ensemble steps/s':>17s} "
            f"{'sequential steps/s':>19s} {'ratio':>6s} {'with setup':>11s}  max |param diff|"
        )
    for r in runs:
        print(
            f"{r['size']:6s} {r['hidden']:>6d}/{r['z_dim']}/{r['batch']:<4d} {r['members']:>7d} x {r['steps']:<6d} "
            f"{r['steps_per_s_ensemble']:17.2f} {r['steps_per_s_sequential']:19.3f} {r['speedup']:6.1f} "
            f"{r['speedup_with_setup']:11.1f}  {r['max_abs_param_diff_to_solo']:.1e}"
        )
    for r in images:
        rate = {name: s["median"] for name, s in r["member_steps_per_s"].items()}
        verdict = "met" if r["ratio"]["median"] >= IMAGE_TARGET else "NOT met"
        fmt, other = ("channels_last", "contiguous")[:: 1 if r["default_channels_last"] else -1]
        print(
            f"{r['size']}: {r['members']} members, member steps/s: grouped ({fmt}, the default) "
            f"{rate['ensemble']:.3g}, grouped ({other}) {rate['ensemble_other_format']:.3g}, sequential "
            f"{rate['sequential']:.3g}"
        )
        print(report_line("  grouped / sequential", r["ratio"]) + f" (target >= {IMAGE_TARGET:g}x: {verdict})")
        print(report_line(f"  grouped {other} / sequential", r["ratio_other_format"]))
        auto = r["at_auto"]
        if r["ratio_vs_auto_bf16_solos"] is not None:
            print(
                report_line("  grouped fp32 / sequential bf16 solos", r["ratio_vs_auto_bf16_solos"])
                + f"; bf16 solo member steps/s {rate['sequential_auto_bf16']:.3g}"
            )
            if auto["grouped"] != "ensemble_bf16":  # else the at-auto line below is this ratio
                print(report_line("  grouped bf16 / sequential bf16 solos", r["ratio_bf16_vs_auto_bf16_solos"]))
        verdict = "met" if r["ratio_at_auto"]["median"] >= IMAGE_TARGET else "NOT met"
        print(
            report_line(f"  at amp auto: {auto['grouped']} / {auto['sequential']}", r["ratio_at_auto"])
            + f" (target >= {IMAGE_TARGET:g}x: {verdict})"
        )
    print(f"{args.threads} thread(s); load {results['load_before']} -> {results['load_after']}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return results


if __name__ == "__main__":
    main()
