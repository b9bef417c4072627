"""What every study script shares: its command line, its JSON record, and the guard on committed figures.

A study `studies/NAME.py` has `run(scale, seed, device) -> Result`, `plot(result) -> Figure` and
`main(argv=None)`. `save` writes figures/NAME.png and figures/NAME.json (sorted keys) holding the claim,
config, seed, scale, device, code version, the data and the boolean checks computed from it. A run at a
smaller scale refuses to overwrite a committed figure made at a larger one unless --force is given.
Grid studies also define points/run_point and can be spread over machines with --shard i/n, then merged.
"""

import argparse
import json
import os
import subprocess
from pathlib import Path
from typing import Callable, NamedTuple, Optional, Sequence

import torch
from tqdm.auto import tqdm

from sandbox.devices import describe_device, pick_device
from sandbox.records import jsonable, pack_images, unpack_images, write_json  # noqa: F401 (the study kit)

os.environ.setdefault("MPLBACKEND", "Agg")  # studies write files; they never open windows

SCALES = ("smoke", "quick", "full")
REPO = Path(__file__).resolve().parents[2]
FIGURES = REPO / "figures"


class Result(NamedTuple):
    config: dict  # every setting that shaped the numbers
    data: dict  # the numbers the figure draws and the checks read
    checks: dict  # name -> bool, each computed from `data`


def parser(doc: str, default_scale: str = "full") -> argparse.ArgumentParser:
    """The shared command line: --scale, --seed, --out, --device, --shard, --force."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--scale",
        choices=SCALES,
        default=default_scale,
        help=f"smoke: seconds, in the test suite; quick: minutes on 2 CPU cores; full: the figure's "
        f"own scale (a GPU for image studies). Default: {default_scale}.",
    )
    p.add_argument("--seed", type=int, default=0, help="base seed; every random draw derives from it")
    p.add_argument("--out", type=Path, default=FIGURES, help="folder for NAME.png and NAME.json (default: figures/)")
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu or cuda[:k]")
    p.add_argument(
        "--shard",
        default=None,
        metavar="i/n",
        help="run only grid points i, i+n, i+2n, ... and write NAME.shard-i-of-n.json; "
        "--shard merge/n then gathers the n shards into the figure",
    )
    p.add_argument("--force", action="store_true", help="overwrite a committed figure made at a larger scale")
    return p


def code_version() -> str:
    """The git commit of the code that made a figure, with '+dirty' for uncommitted changes to the code.

    Changes under figures/ (the outputs themselves, e.g. other studies being regenerated) do not count.
    """
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)figures"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def parse_shard(spec: Optional[str]) -> Optional[tuple]:
    """'i/n' -> (i, n) with 0 <= i < n; 'merge/n' -> ('merge', n); None -> None."""
    if spec is None:
        return None
    try:
        i, n = spec.split("/")
        n = int(n)
        i = "merge" if i == "merge" else int(i)
    except ValueError:
        raise ValueError(f"--shard takes i/n or merge/n with integers, got {spec!r}") from None
    if n < 1 or (i != "merge" and not 0 <= i < n):
        raise ValueError(f"--shard {spec!r}: need 0 <= i < n and n >= 1")
    return i, n


def shard_points(points: Sequence, shard: Optional[tuple]) -> list:
    """The grid points this shard runs: points[i::n] (all of them without a shard)."""
    return list(points) if shard is None else list(points)[shard[0] :: shard[1]]


def run_grid(keys: Sequence[str], compute: Callable[[str], dict], results: Optional[dict] = None) -> dict:
    """{key: compute(key)} over the grid, or `results` (a merged sharded run) after checking it covers every key."""
    if results is None:
        return {k: compute(k) for k in tqdm(list(keys), desc="grid", unit="point", leave=False)}
    missing = [k for k in keys if k not in results]
    if missing:
        raise ValueError(f"sharded results miss {len(missing)} grid points, e.g. {missing[:3]}; run every shard first")
    return {k: results[k] for k in keys}


def shard_file(out: Path, name: str, i: int, n: int) -> Path:
    """out/NAME.shard-i-of-n.json."""
    return Path(out) / f"{name}.shard-{i}-of-{n}.json"


def run_shard(name: str, points, run_point, shard: tuple, *, scale: str, seed: int, device, out: Path) -> dict:
    """Compute this shard's grid points and write them to NAME.shard-i-of-n.json (no figure)."""
    i, n = shard
    keys = shard_points(points(scale), shard)
    results = {k: run_point(k, scale, seed, device) for k in tqdm(keys, desc=f"shard {i}/{n}", unit="point")}
    rec = jsonable(
        {
            "study": name,
            "scale": scale,
            "seed": seed,
            "shard": [i, n],
            "device": describe_device(device),
            "code_version": code_version(),
            "results": results,
        }
    )
    write_json(shard_file(out, name, i, n), rec)
    return rec


def merge_shards(name: str, n: int, *, scale: str, seed: int, out: Path) -> dict:
    """The union of the n shard files' results, after checking each exists and matches scale and seed."""
    merged = {}
    for i in range(n):
        path = shard_file(out, name, i, n)
        if not path.exists():
            raise SystemExit(f"missing shard file {path}: run --shard {i}/{n} first")
        try:
            rec = json.loads(path.read_text())
        except ValueError as err:
            raise SystemExit(f"shard file {path} is not valid JSON ({err}); rerun --shard {i}/{n}") from None
        if (rec.get("scale"), rec.get("seed")) != (scale, seed):
            raise SystemExit(
                f"shard file {path} was made with scale={rec.get('scale')} seed={rec.get('seed')}, "
                f"not scale={scale} seed={seed}"
            )
        merged.update(rec["results"])
    return merged


def _guard(json_path: Path, scale: str, force: bool) -> None:
    """Refuse to overwrite a record made at a larger scale, unless forced."""
    if force or not json_path.exists():
        return
    try:
        old = json.loads(json_path.read_text()).get("scale")
    except (OSError, ValueError):
        return
    if old in SCALES and SCALES.index(old) > SCALES.index(scale):
        raise SystemExit(
            f"{json_path} holds a {old}-scale result; a {scale} run would overwrite it. "
            f"Write elsewhere with --out DIR, or pass --force."
        )


def record(
    name: str, claim: str, claims: Sequence[str], result: Result, *, seed: int, scale: str, device: torch.device
) -> dict:
    """The JSON record of one study run (everything but the figure)."""
    return jsonable(
        {
            "study": name,
            "claim": claim,
            "claims": list(claims),
            "config": result.config,
            "seed": seed,
            "scale": scale,
            "device": describe_device(device),
            "code_version": code_version(),
            "torch": torch.__version__,
            "data": result.data,
            "checks": result.checks,
            "passed": bool(all(result.checks.values())),
        }
    )


def save(
    name: str,
    claim: str,
    claims: Sequence[str],
    result: Result,
    fig,
    *,
    seed: int,
    scale: str,
    device: torch.device,
    out: Path = FIGURES,
    force: bool = False,
) -> dict:
    """Write out/NAME.png and out/NAME.json; refuses to replace a larger-scale record unless forced."""
    out = Path(out)
    _guard(out / f"{name}.json", scale, force)
    rec = record(name, claim, claims, result, seed=seed, scale=scale, device=device)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / f"{name}.png", dpi=110, bbox_inches="tight")
    write_json(out / f"{name}.json", rec)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return rec


def summary(rec: dict) -> str:
    """One line per check, for the console."""
    lines = [f"{rec['study']} [{rec['scale']}, {rec['device']}]: {'PASS' if rec['passed'] else 'FAIL'}"]
    lines += [f"  {'ok  ' if v else 'FAIL'} {k}" for k, v in sorted(rec["checks"].items())]
    return "\n".join(lines)


def main(
    name: str,
    doc: str,
    claim: str,
    claims: Sequence[str],
    run,
    plot,
    argv=None,
    default_scale: str = "full",
    cpu_only: bool = False,
    threads: Optional[int] = None,
    points: Optional[Callable] = None,
    run_point: Optional[Callable] = None,
) -> dict:
    """The body of every study's main(): parse the shared flags, run (or one shard of a grid), plot, save, print.

    Grid studies pass `points(scale) -> keys` and `run_point(key, scale, seed, device) -> dict`; their run()
    takes `results=` (see run_grid), so `--shard i/n` computes a slice and `--shard merge/n` plots the union.

    `threads` caps torch's CPU threads for the run (then restores them): tiny networks run faster on one
    thread, where OpenMP's barriers would otherwise dominate each small op.
    """
    args = parser(doc, default_scale).parse_args(argv)
    device = torch.device("cpu") if cpu_only else pick_device(args.device)
    shard = parse_shard(args.shard)
    if shard is not None and points is None:
        raise SystemExit(f"{name} is not a grid study: it has no points to shard")
    torch.manual_seed(args.seed)
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        if shard is not None and shard[0] != "merge":
            return run_shard(
                name, points, run_point, shard, scale=args.scale, seed=args.seed, device=device, out=args.out
            )
        if shard is not None:
            merged = merge_shards(name, shard[1], scale=args.scale, seed=args.seed, out=args.out)
            result = run(args.scale, args.seed, device, results=merged)
        else:
            result = run(args.scale, args.seed, device)
        rec = save(
            name,
            claim,
            claims,
            result,
            plot(result),
            seed=args.seed,
            scale=args.scale,
            device=device,
            out=args.out,
            force=args.force,
        )
    finally:
        torch.set_num_threads(before)
    print(summary(rec))
    return rec
