"""What every study script shares: its command line and the runner (threads, workers, records, guards).

A study `studies/NAME.py` has `run(scale, seed, device) -> Result`, `plot(result) -> Figure` and `main(argv=None)`
calling `study.main`, which writes out/NAME.png and out/NAME.json (sandbox.reporting.outputs: the claim, config,
seed, scale, device, code version, the data and the boolean checks computed from it, and `controls`).

Grid studies also define `points(scale) -> [dict]` and `run_point(point, scale, seed, device) -> dict`; their
`run(scale, seed, device, results)` only summarises `results` ({kit.point_key(point): run_point's dict}). The
runner writes one record per finished point under <records>/NAME/<scale>/ (sandbox.reporting.workers), skips
points already recorded, runs the rest in worker processes, and `--replot` rebuilds figure and checks from the
records alone. The scale ladder and the guards on figures/ are in sandbox.reporting.provenance.
"""

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch

from sandbox.devices import cpu_count, describe_device, pick_device  # noqa: F401
from sandbox.devices import threads as torch_threads
from sandbox.records import jsonable, pack_images, read_json, unpack_images, write_json  # noqa: F401 (the study kit)
from sandbox.reporting import workers as wk
from sandbox.reporting.kit import parse_point, point_key
from sandbox.reporting.outputs import (  # noqa: F401 (the studies' names for them: study.Result, study.run_grid)
    Result,
    check_controls,
    parse_shard,
    record,
    run_grid,
    save,
    summary,
)
from sandbox.reporting.plans import plan, superseded
from sandbox.reporting.provenance import (  # noqa: F401 (studies and tests read them here)
    ALIASES,
    FIGURES,
    REPO,
    SCALES,
    canonical,
    code_version,
    committed,
    guards,
    point_settings,
    study_scale,
)

os.environ.setdefault("MPLBACKEND", "Agg")  # studies write files; they never open windows

THREADS_HELP = (
    "torch CPU threads of a study run in this process (default: 1 on CPU). Measured on a 2-core machine: one "
    "2-thread process collapses 15-40x when another process takes a core, and two 1-thread processes give "
    "1.1-1.17x the throughput of one 2-thread process, so CPU work scales out by processes (--workers), not threads"
)


def parser(doc: str, default_scale: Optional[str] = "full") -> argparse.ArgumentParser:
    """The shared command line of every study (and of python -m studies): scale, seed, output, workers, guards."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--scale",
        choices=SCALES + tuple(ALIASES),
        default=default_scale,
        help="smoke: seconds, the test suite; quick: minutes on 2 CPU cores; trained: the smallest run that reaches "
        "the trained regime, within a stated CPU budget; paper: the paper's protocol (GPU or cluster); full: the "
        f"older name of paper. Default: {default_scale or 'each study its own'}",
    )
    p.add_argument("--seed", type=int, default=0, help="base seed; every random draw derives from it")
    p.add_argument("--out", type=Path, default=FIGURES, help="folder for NAME.png and NAME.json (default: figures/)")
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu or cuda[:k]")
    p.add_argument("--threads", type=int, default=None, help=THREADS_HELP)
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="grid studies: worker processes of one torch thread each (default: one per core on CPU, 1 on a GPU; "
        "never more than the cores). 1 runs every point in this process",
    )
    p.add_argument(
        "--executor",
        choices=wk.EXECUTORS,
        default="local",
        help="grid studies: local (this process or its workers), submitit-local or slurm (the submitit package: "
        "pip install -e '.[cluster]')",
    )
    p.add_argument(
        "--cluster-args",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="submitit parameters, e.g. timeout_min=600 slurm_partition=gpu gpus_per_node=1",
    )
    p.add_argument("--records", type=Path, default=None, help="folder of per-point records (default: OUT/records)")
    p.add_argument("--rerun", action="store_true", help="grid studies: run every point again, even if recorded")
    p.add_argument(
        "--replot", action="store_true", help="grid studies: figure and checks from the point records, training nothing"
    )
    p.add_argument(
        "--shard",
        default=None,
        metavar="i/n",
        help="grid studies: run only points i, i+n, i+2n, ... (their records, no figure); merge/n is --replot",
    )
    p.add_argument(
        "--list",
        action="store_true",
        help="print the plan (points, estimated CPU-minutes, points recorded, started or stale) and stop",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="write into figures/ from a tree with uncommitted code, or over a larger-scale record (both recorded)",
    )
    return p


def _workers(requested: Optional[int], device: torch.device, executor: str, n_points: int) -> int:
    """Worker processes: the request (default one per core on CPU, 1 on a GPU), never more than cores or points."""
    cores = cpu_count()
    n = requested if requested is not None else (cores if device.type == "cpu" else 1)
    if n < 1:
        raise SystemExit(f"--workers must be at least 1, got {n}")
    if executor != "slurm" and n > cores:
        print(f"--workers {n}: this machine gives this process {cores} cores; running {cores} workers", flush=True)
        n = cores  # more busy processes than cores only makes each one slower
    return max(1, min(n, n_points))


def _run_points(args, name, scale, own, pts, keys, records, run_point, device, settings=None) -> tuple:
    """Run the points without a matching record (all of them under --rerun; a record made at other `settings`,
    the study's SCALES entry, is stale: its point runs again and resumes from its work folder where it can);
    returns (run, reused, workers)."""
    folder = records / name / scale
    recs = {k: wk.read_point(wk.record_path(records, name, scale, k)) for k in keys}
    todo = [
        (p, k)
        for p, k in zip(pts, keys)
        if args.rerun or not wk.matches(recs[k], k, scale, args.seed, ALIASES, settings)
    ]
    stale = _stale_note(recs, [k for _, k in todo], settings)
    if stale and not args.rerun:
        print(f"{name} [{scale}]:{stale} run again", flush=True)
    if not todo:
        return 0, len(pts), 0
    n = _workers(args.workers, device, args.executor, len(todo))
    print(f"{name} [{scale}]: {len(todo)} of {len(pts)} points to run, {n} worker(s), records in {folder}", flush=True)
    version, fn = code_version(), run_point
    threads = args.threads if args.threads is not None else (1 if device.type == "cpu" else 0)
    jobs = [
        wk.Job(
            name,
            fn,
            p,
            k,
            scale,
            own,
            args.seed,
            str(device),
            threads,
            version,
            str(wk.record_path(records, name, scale, k)),
            wk.canonical_settings(settings),
        )
        for p, k in todo
    ]
    try:
        options = parse_point(",".join(args.cluster_args)) if args.cluster_args else {}
    except ValueError as err:
        raise SystemExit(f"--cluster-args takes KEY=VALUE items: {err}") from None
    # submitit's logs and pickles: beside the records, but never inside the committed figures/ (runs/ is ignored)
    logs = (REPO / "runs" if committed(records) else records / ".submitit") / "submitit" / name / scale
    failed = []
    for _, _, failure in wk.run_jobs(jobs, n, args.executor, logs, options, desc=f"{name} {scale}"):
        if failure is not None:
            failed.append(failure)
    if failed:
        print(failed[0].trace, file=sys.stderr)
        raise SystemExit(
            f"{name}: {len(failed)} of {len(jobs)} grid points failed: "
            + "; ".join(f"{f.key} ({f.error})" for f in failed[:5])
            + (" ..." if len(failed) > 5 else "")
            + ". The finished points' records are kept: run again to retry only the failed ones."
        )
    return len(jobs), len(pts) - len(jobs), n


def _stale_note(recs: dict, keys, settings) -> str:
    """' (N made at other settings: fields)' for the keys whose record was made at other settings, else ''."""
    stale = [k for k in keys if wk.settings_differ(recs[k], settings)]
    if not stale:
        return ""
    return f" ({len(stale)} made at other settings: {', '.join(wk.settings_differ(recs[stale[0]], settings))})"


def _gather(name, scale, seed, keys, records, settings=None) -> tuple:
    """({key: result}, [point records]) from the records of every point; SystemExit naming any missing one (a
    record made at other settings of the scale counts as missing)."""
    folder = records / name / scale
    recs = {k: wk.read_point(wk.record_path(records, name, scale, k)) for k in keys}
    missing = [k for k in keys if not wk.matches(recs[k], k, scale, seed, ALIASES, settings)]
    if missing:
        raise SystemExit(
            f"{name}: {len(missing)} of {len(keys)} point records (scale {scale}, seed {seed}) missing in {folder}"
            + _stale_note(recs, missing, settings)
            + ": "
            + ", ".join(missing[:10])
            + (" ..." if len(missing) > 10 else "")
            + f". Run them first: python -m studies.{name} --scale {scale} --seed {seed} (or its --shard i/n)"
        )
    return {k: recs[k]["result"] for k in keys}, list(recs.values())


def _superseded_note(module, figure_path: Path, scale: str) -> str:
    """'; NAME.json is at other settings (steps) until the last point lands' when the figure in --out at this scale is
    superseded (plans.superseded: its grid rerun at a new scale entry is under way), else ''."""
    figure = read_json(figure_path) if figure_path.is_file() else None
    if not figure or figure.get("scale") != scale or "config" not in figure:
        return ""
    differ = superseded(module, figure)
    if not differ:
        return ""
    return f"; {figure_path.name} is at other settings ({', '.join(differ)}) until the last point lands"


def run_study(args, *, name, claim, claims, module, run, plot, points, run_point, device) -> dict:
    """The runner: one study at one scale, from parsed flags (see `parser`); returns its record."""
    scale = canonical(args.scale)
    if args.list:
        records = Path(args.records) if args.records else Path(args.out) / "records"
        p = plan(module, scale, points, records, args.seed, name)  # a study without grid points has no progress
        p["note"] += _superseded_note(module, Path(args.out) / f"{name}.json", scale)
        print(f"{name:24s} {scale:8s} {p['points'] if p['points'] is not None else '-':>5} points  {p['note']}")
        return dict(study=name, **p)
    own = study_scale(module, scale)
    if own is None:
        raise SystemExit(f"{name} has no {scale} scale; it defines {', '.join(module.SCALES)}")
    try:
        shard = parse_shard(args.shard)
    except ValueError as err:  # a command-line mistake: one line, not a traceback
        raise SystemExit(f"error: {err}") from None
    if points is None and (shard or args.replot or args.rerun):
        raise SystemExit(f"{name} is not a grid study: it has no points to shard, rerun or replot from records")
    out = Path(args.out)
    records = Path(args.records) if args.records else out / "records"
    replot = args.replot or (shard is not None and shard[0] == "merge")
    forced = guards(name, out, records if points is not None else None, scale, args.force)
    threads = args.threads if args.threads is not None else (1 if device.type == "cpu" else 0)
    runner = dict(threads=threads, executor=args.executor)
    torch.manual_seed(args.seed)
    if points is None:
        with torch_threads(threads):
            result = run(own, args.seed, device)
            where = describe_device(device)
    else:
        pts = list(points(own))
        settings = point_settings(module, own)  # recorded with each point; other settings: stale
        keys = [point_key(p) for p in pts]
        if len(set(keys)) != len(keys):
            raise SystemExit(
                f"{name}: points({own!r}) repeats a grid point: {sorted(k for k in keys if keys.count(k) > 1)}"
            )
        if shard is not None and shard[0] != "merge":
            pts, keys = pts[shard[0] :: shard[1]], keys[shard[0] :: shard[1]]
        ran, reused, workers = (
            (0, len(keys), 0)
            if replot
            else _run_points(args, name, scale, own, pts, keys, records, run_point, device, settings)
        )
        if shard is not None and shard[0] != "merge":
            results, _ = _gather(name, scale, args.seed, keys, records, settings)
            print(
                f"{name} [{scale}] shard {shard[0]}/{shard[1]}: {len(keys)} point records in {records / name / scale}"
            )
            return dict(study=name, scale=scale, seed=args.seed, shard=list(shard), results=results)
        results, point_recs = _gather(name, scale, args.seed, [point_key(p) for p in points(own)], records, settings)
        with torch_threads(threads):
            result = run(own, args.seed, device, results=results)
        where = "; ".join(sorted({r["device"] for r in point_recs}))
        runner.update(
            workers=workers,
            points_run=ran,
            points_reused=reused,
            point_seconds=sum(r["seconds"] for r in point_recs),
            point_code_versions=sorted({r["code_version"] for r in point_recs}),
        )
    rec = save(
        name,
        claim,
        claims,
        result,
        plot(result),
        seed=args.seed,
        scale=scale,
        device=where,
        out=out,
        forced=forced,
        runner=runner,
        levels=getattr(module, "LEVELS", None),
    )
    print(summary(rec))
    return rec


def main_of(module: str, argv=None, **options) -> dict:
    """main() for the study module named `module` (pass __name__), from what it defines: its file's name, __doc__,
    CLAIM, CLAIMS, run, plot and, for a grid study, points and run_point; `options` as main's (default_scale, ...)."""
    m = sys.modules[module]
    grid = dict(points=m.points, run_point=m.run_point) if hasattr(m, "run_point") else {}
    # the file's stem, not __name__: run as `python -m studies.NAME` the module is called __main__
    return main(Path(m.__file__).stem, m.__doc__, m.CLAIM, m.CLAIMS, m.run, m.plot, argv, **grid, **options)


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
    """The body of every study's main(): parse the shared flags and hand them to the runner (`run_study`).

    `threads` is the older per-study pin; it now only sets the default of --threads (already 1 on CPU).
    """
    args = parser(doc, default_scale).parse_args(argv)
    if threads is not None and args.threads is None:
        args.threads = threads
    if points is not None and run_point is None:
        raise ValueError(f"{name}: a grid study passes both points and run_point")
    return run_study(
        args,
        name=name,
        claim=claim,
        claims=claims,
        module=sys.modules.get(run.__module__),
        run=run,
        plot=plot,
        points=points,
        run_point=run_point,
        device=torch.device("cpu") if cpu_only else pick_device(args.device),
    )
