"""Frechet distance at d = 2048 on CPU: sandbox's symmetric-eigenvalue form against the scipy sqrtm formula.

    python3 -m benchmarks.frechet [--dim 2048] [--samples 4096] [--seed 0] [--repeats 1] [--out PATH.json]

Both sides get the same two covariances (sample covariances of random linear maps of Gaussians). The scipy
side is the widespread ||dmu||^2 + tr S1 + tr S2 - 2 Re tr sqrtm(S1 S2). sandbox's side is timed cold
(`frechet_distance` with the Cholesky factor of S1, and with method="eigh", the symmetric square root) and with
the reference set's factor cached (`frechet_to_reference`, the per-evaluation cost during training).
Target: at least 4x faster than scipy with a relative difference of at most 1e-6.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.linalg
import torch

from sandbox.evaluation.metrics import feature_stats, frechet_distance, frechet_reference, frechet_to_reference


def scipy_frechet(mu1, s1, mu2, s2) -> float:
    """||mu1 - mu2||^2 + tr S1 + tr S2 - 2 Re tr sqrtm(S1 S2): the common reference formula."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean).real)


def gaussian_stats(dim: int, samples: int, g: torch.Generator):
    """Mean and covariance of `samples` draws of W z + b, z ~ N(0, I), W with N(0, 1/dim) entries."""
    w = torch.randn(dim, dim, generator=g, dtype=torch.float64) / dim**0.5
    b = torch.randn(dim, generator=g, dtype=torch.float64)
    x = torch.randn(samples, dim, generator=g, dtype=torch.float64) @ w.T + b
    return feature_stats(x)


def best_time(fn, repeats: int):
    """(min wall time over repeats, last value)."""
    times, value = [], None
    for _ in range(repeats):
        # let the other library's worker threads stop spinning: on 2 cores, OpenBLAS (scipy) threads still
        # busy-waiting after sqrtm slow torch's next call by an order of magnitude, and vice versa
        time.sleep(1.0)
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return min(times), value


def run(dim: int = 2048, samples: int = 4096, seed: int = 0, repeats: int = 1) -> dict:
    """Time the three forms on one pair of covariances; return times, values, speed-ups and the relative gap."""
    g = torch.Generator().manual_seed(seed)
    a, b = gaussian_stats(dim, samples, g), gaussian_stats(dim, samples, g)
    mu1, s1, mu2, s2 = a.mu.numpy(), a.sigma.numpy(), b.mu.numpy(), b.sigma.numpy()
    # warm-up on a small problem: the first LAPACK call loads kernels (seconds) that no later call pays for
    small = gaussian_stats(64, 128, torch.Generator().manual_seed(seed))
    scipy_frechet(small.mu.numpy(), small.sigma.numpy(), small.mu.numpy(), small.sigma.numpy())
    frechet_to_reference(frechet_reference(small.mu, small.sigma), small.mu, small.sigma)
    t_scipy, v_scipy = best_time(lambda: scipy_frechet(mu1, s1, mu2, s2), repeats)
    t_ours, v_ours = best_time(lambda: frechet_distance(a.mu, a.sigma, b.mu, b.sigma), repeats)
    t_eigh, v_eigh = best_time(lambda: frechet_distance(a.mu, a.sigma, b.mu, b.sigma, method="eigh"), repeats)
    t_ref, ref = best_time(lambda: frechet_reference(a.mu, a.sigma), repeats)
    t_cached, v_cached = best_time(lambda: frechet_to_reference(ref, b.mu, b.sigma), repeats)
    rel = abs(v_ours - v_scipy) / abs(v_scipy)
    return {
        "dim": dim,
        "samples": samples,
        "seed": seed,
        "repeats": repeats,
        "torch": torch.__version__,
        "scipy": scipy.__version__,
        "torch_threads": torch.get_num_threads(),
        "seconds": {
            "scipy_sqrtm": t_scipy,
            "frechet_distance": t_ours,
            "frechet_distance_eigh": t_eigh,
            "frechet_reference_setup": t_ref,
            "frechet_to_reference": t_cached,
        },
        "values": {
            "scipy_sqrtm": v_scipy,
            "frechet_distance": v_ours,
            "frechet_distance_eigh": v_eigh,
            "frechet_to_reference": v_cached,
        },
        "speedup": {
            "frechet_distance": t_scipy / t_ours,
            "frechet_distance_eigh": t_scipy / t_eigh,
            "frechet_to_reference": t_scipy / t_cached,
        },
        "relative_difference": rel,
        "relative_difference_cached": abs(v_cached - v_scipy) / abs(v_scipy),
        "relative_difference_eigh": abs(v_eigh - v_scipy) / abs(v_scipy),
        "checks": {"at_least_4x_faster": t_scipy / t_ours >= 4.0, "relative_difference_le_1e-6": rel <= 1e-6},
    }


def table(res: dict) -> str:
    """A small text table of the run."""
    s, v, x = res["seconds"], res["values"], res["speedup"]
    rows = [
        ("scipy sqrtm(S1 S2)", s["scipy_sqrtm"], v["scipy_sqrtm"], 1.0),
        ("frechet_distance", s["frechet_distance"], v["frechet_distance"], x["frechet_distance"]),
        ("  method='eigh'", s["frechet_distance_eigh"], v["frechet_distance_eigh"], x["frechet_distance_eigh"]),
        ("frechet_to_reference", s["frechet_to_reference"], v["frechet_to_reference"], x["frechet_to_reference"]),
    ]
    lines = [
        f"Frechet distance, d = {res['dim']}, {res['samples']} samples, seed {res['seed']}, "
        f"torch threads {res['torch_threads']}",
        f"{'method':<22} {'seconds':>9} {'value':>22} {'speed-up':>9}",
    ]
    lines += [f"{name:<22} {t:>9.3f} {val:>22.12f} {sp:>8.1f}x" for name, t, val, sp in rows]
    lines += [
        f"(one-off frechet_reference setup: {s['frechet_reference_setup']:.3f} s)",
        f"relative difference vs scipy: {res['relative_difference']:.2e} "
        f"(cached: {res['relative_difference_cached']:.2e}, eigh: {res['relative_difference_eigh']:.2e})",
        "checks: " + ", ".join(f"{k}={'PASS' if ok else 'FAIL'}" for k, ok in res["checks"].items()),
    ]
    return "\n".join(lines)


def main(argv=None) -> dict:
    """Command line: run, print the table, optionally write JSON (sorted keys) to --out."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dim", type=int, default=2048)
    p.add_argument("--samples", type=int, default=4096)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=1, help="time each form this many times and keep the fastest")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON to this path")
    args = p.parse_args(argv)
    res = run(args.dim, args.samples, args.seed, args.repeats)
    print(table(res))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, sort_keys=True, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()
