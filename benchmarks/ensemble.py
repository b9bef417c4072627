"""`--ensemble K` (one batched model) against K sequential solo runs of the same seeds, side by side.

    python3 -m benchmarks.ensemble [--members 32] [--steps 100] [--sizes small paper] [--threads 1] [--out PATH.json]

Both sides train the ring of 8 Gaussians with the mlp players and the same config: the batched side is
`sandbox.trainer.ensemble.make_ensemble` + `train.run_steps`, the sequential side `train.make_run` + `train.run_steps`
once per seed, as a study looping over seeds would. Setup (building players and optimisers) is timed apart from
the steps. `small` is a study-sized model (hidden 32, z_dim 8, batch 32), where a solo step is dominated by
per-op overhead that batching removes; `paper` is the default Metz et al. 2017 model (hidden 128, z_dim 256,
batch 128), where a solo step on one thread is already dominated by its matrix products, which batching
cannot remove. The last lines compare the members with the solo runs (float32: the batched and the per-member
kernels may round differently, and GAN training amplifies it over many steps).
"""

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from sandbox.trainer.config import make_config
from sandbox.trainer.ensemble import make_ensemble, member_config
from sandbox.trainer.loop import make_run, run_steps

SIZES = {
    "small": dict(g_width=0.25, d_width=0.25, z_dim=8, batch=32),
    "paper": dict(),
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
    p.add_argument("--members", type=int, default=32)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["small", "paper"])
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads for both sides (train's auto: 1 for mlp)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        runs = [bench(size, args.members, args.steps) for size in args.sizes]
    finally:
        torch.set_num_threads(threads)
    results = {"threads": args.threads, "torch": torch.__version__, "runs": runs}
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
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return results


if __name__ == "__main__":
    main()
