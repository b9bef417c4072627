"""The vectorised game simulator against a per-start Python loop on the same starts.

    python3 -m benchmarks.games [--starts 10000] [--steps 10000] [--loop-starts 32] [--out PATH.json]

Both sides call `sandbox.dynamics.simulate` with the same rule and step sizes; the loop runs one game at a time
(batch of one), the vectorised side all starts at once. The bilinear game's updates use only additions and
multiplications, so the two agree bitwise; the Dirac-GAN's softplus may differ in the last bit between torch's
vectorised and scalar kernels, so its difference is reported instead. The loop is timed on `--loop-starts`
starts and reported as game-updates per second (starts x steps / s), the measure both sides share.
"""

import argparse
import json
import time
from pathlib import Path

import torch

from sandbox.dynamics import gd, make_rule, simulate
from sandbox.games import bilinear, dirac_gan

GAMES = {
    "bilinear": lambda a, b: bilinear(a, b),
    "dirac_gan": lambda a, b: dirac_gan(a, b, "nonsaturating", "r1", 0.3),
}


def starts(n: int, seed: int = 0):
    """n starting points in [-2, 2]^2, float64."""
    g = torch.Generator().manual_seed(seed)
    z = torch.rand(n, 2, generator=g, dtype=torch.float64) * 4 - 2
    return z[:, 0], z[:, 1]


def run(game: str, a, b, steps: int, record_every: int):
    """One simulate call of alternating GDA (eta 0.1) on the games with starts (a, b); returns (seconds, final)."""
    g = GAMES[game](a, b)
    t0 = time.perf_counter()
    tr = simulate(g, make_rule("alternating"), gd(0.1), gd(0.1), steps, record_every=record_every)
    return time.perf_counter() - t0, tr


def bench(game: str, n_starts: int, steps: int, loop_starts: int, loop_steps: int) -> dict:
    """Vectorised vs per-start loop on `loop_starts` starts, and the full n_starts x steps run."""
    a, b = starts(n_starts)
    t_vec_small, tr_small = run(game, a[:loop_starts], b[:loop_starts], loop_steps, loop_steps)
    t_loop, finals = 0.0, []
    for i in range(loop_starts):
        t, tr = run(game, a[i : i + 1], b[i : i + 1], loop_steps, loop_steps)
        t_loop += t
        finals.append(tr.final)
    looped = torch.cat(finals)
    t_full, tr_full = run(game, a, b, steps, max(1, steps // 100))
    loop_rate = loop_starts * loop_steps / t_loop
    full_rate = n_starts * steps / t_full
    return {
        "game": game,
        "starts": n_starts,
        "steps": steps,
        "seconds_full": t_full,
        "updates_per_s_vectorised": full_rate,
        "updates_per_s_loop": loop_rate,
        "speedup": full_rate / loop_rate,
        "bitwise_equal_to_loop": bool(torch.equal(looped, tr_small.final)),
        "max_abs_diff_to_loop": float((looped - tr_small.final).abs().max()),
        "trajectory_bytes": tr_full.z.numel() * tr_full.z.element_size(),
        "loop_starts": loop_starts,
        "loop_steps": loop_steps,
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--starts", type=int, default=10_000)
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--loop-starts", type=int, default=32)
    p.add_argument("--loop-steps", type=int, default=1000)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    results = {
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "runs": [bench(g, args.starts, args.steps, args.loop_starts, args.loop_steps) for g in GAMES],
    }
    print(
        f"{'game':10s} {'starts x steps':>16s} {'seconds':>8s} {'vectorised upd/s':>17s} {'loop upd/s':>11s} "
        f"{'ratio':>7s}  equal to loop"
    )
    for r in results["runs"]:
        eq = "bitwise" if r["bitwise_equal_to_loop"] else f"max |diff| {r['max_abs_diff_to_loop']:.1e}"
        print(
            f"{r['game']:10s} {r['starts']:>7d} x {r['steps']:<6d} {r['seconds_full']:8.2f} "
            f"{r['updates_per_s_vectorised']:17.3e} {r['updates_per_s_loop']:11.3e} {r['speedup']:7.0f}  {eq}"
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return results


if __name__ == "__main__":
    main()
