"""Grid points run as jobs: one record file per finished point, written the moment it finishes.

A job is `run_point(point, scale, seed, device)` of one study at one grid point. `run_job` runs it with the
torch threads and seeds fixed, times it and writes `<records>/<study>/<scale>/<point_key>.json` atomically (point,
scale, seed, code version, device, seconds and the result; no claim). A long point that trains through the
trainer's checkpoints takes a `workdir` keyword as well: `<records>/<study>/<scale>/.work/<point_key>/`, inside
the folder the user named, kept out of git (.gitignore), so a killed point resumes from its last checkpoint.
The record's `cpu_s` is the point's process CPU over all its calls: a call's own, plus what earlier (killed) calls
had spent up to their last checkpoint, which the training code notes in the work folder (`note_spent`).
`run_jobs` runs many: in this process
(workers 1: a traceback you can debug), in worker processes of one torch thread each (forkserver or spawn: torch
and plain fork do not mix), or through submitit on this machine or a Slurm cluster (the optional `cluster`
extra). A failed point is reported by its key; the records already written stay, so a rerun resumes there.
A SIGTERM or Ctrl-C to the runner ends its worker processes at once: their points resume from their checkpoints.
"""

import importlib
import inspect
import json
import os
import random
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from sandbox.devices import describe_device, threads
from sandbox.records import jsonable, read_json, unjsonable, write_json

EXECUTORS = ("local", "submitit-local", "slurm")
SUBMITIT_TIMEOUT_MIN = 24 * 60  # submitit's local default is 2 minutes: far below an image run
SPENT = "spent.json"  # in a point's work folder: {"cpu_s": ...} up to its last checkpoint


class Job(NamedTuple):
    study: str
    fn: Union[Callable, Tuple[str, str]]  # run_point, or (module, name) to import it in another process
    point: Any  # the point as the study gave it: a dict (or a key string, for studies written before the kit)
    key: str  # kit.point_key(point): the record's file name
    scale: str  # the ladder's name of the scale, recorded
    study_scale: str  # the name the study's own SCALES uses ('full' for the ladder's 'paper' in older studies)
    seed: int
    device: str
    threads: int  # torch CPU threads inside the job (0: leave them)
    code_version: str
    path: str  # the record file
    settings: Any = None  # the study's SCALES entry for this scale, recorded: a record made at others is stale


class Failure(NamedTuple):
    key: str
    error: str  # 'TypeError: ...', the last line
    trace: str  # the full traceback text (the worker's own, for a worker process)


def record_path(records: Path, study: str, scale: str, key: str) -> Path:
    """<records>/<study>/<scale>/<point_key>.json."""
    return Path(records) / study / scale / f"{key}.json"


def work_dir(record: Path) -> Path:
    """<records>/<study>/<scale>/.work/<point_key>/: a long point's checkpoints, beside its record, never committed."""
    record = Path(record)
    return record.parent / ".work" / record.stem


def spent_cpu_s(workdir) -> float:
    """CPU seconds a point's earlier calls spent up to their last checkpoint: <workdir>/spent.json (0 when none)."""
    path = Path(workdir) / SPENT
    return float(read_json(path)["cpu_s"]) if path.is_file() else 0.0


def note_spent(workdir, cpu_s: float) -> None:
    """Write the CPU seconds spent so far beside a checkpoint just saved, so a resumed call adds on to them."""
    write_json(Path(workdir) / SPENT, {"cpu_s": float(cpu_s)})


def reference(fn: Callable) -> Tuple[str, str]:
    """(module, name) that another process imports to find fn; __main__ becomes the module it was run as."""
    module, name = fn.__module__, fn.__qualname__
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        if spec is None:
            raise SystemExit(
                f"{name} lives in a script run by path: run it as python -m MODULE to use worker processes"
            )
        module = spec.name
    if "<" in name or "." in name:
        raise SystemExit(f"{module}.{name} is not a top-level function: worker processes cannot import it")
    return module, name


def reference_of(fn) -> Tuple[str, str]:
    """fn as (module, name) for another process (a (module, name) pair passes through)."""
    return fn if isinstance(fn, tuple) else reference(fn)


def _resolve(fn) -> Callable:
    if callable(fn):
        return fn
    module, name = fn
    return getattr(importlib.import_module(module), name)


def init_worker(n_threads: int = 1) -> None:
    """Worker process set-up: torch CPU threads = n (one per process: processes, not threads, share the cores)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    torch.set_num_threads(max(1, n_threads))


def seed_everything(seed: int) -> None:
    """torch, numpy and random seeded from the base seed before each point: a point's numbers do not depend on
    which worker ran it, or what ran before it there."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def run_job(job: Job) -> dict:
    """Run one grid point and write its record atomically; returns the record."""
    fn = _resolve(job.fn)
    device = torch.device(job.device)
    with threads(job.threads):
        seed_everything(job.seed)
        clock, cpu = time.perf_counter(), time.process_time()
        extra = {"workdir": work_dir(job.path)} if "workdir" in inspect.signature(fn).parameters else {}
        before = spent_cpu_s(extra["workdir"]) if extra else 0.0  # read first: the point's training rewrites it
        result = fn(job.point, job.study_scale, job.seed, device, **extra)
        seconds, cpu_s = time.perf_counter() - clock, before + time.process_time() - cpu
        where = describe_device(device)
    rec = {
        "study": job.study,
        "point": job.point,
        "key": job.key,
        "scale": job.scale,
        "seed": job.seed,
        "code_version": job.code_version,
        "device": where,
        "torch": torch.__version__,
        "seconds": seconds,  # wall-clock, this call
        "cpu_s": cpu_s,  # process CPU, all calls of this point (earlier ones up to their last checkpoint)
        "result": result,
    }
    if job.settings is not None:
        rec["settings"] = job.settings
    write_json(job.path, rec)
    return read_point(job.path)  # what a later --replot will read: the same numbers on every path


def read_point(path) -> Optional[dict]:
    """The record at path (non-finite floats restored), or None when there is none or it does not parse."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return unjsonable(read_json(path))
    except ValueError:
        return None  # atomic writes make this rare: a hand-edited or foreign file; the point is run again


def matches(rec: Optional[dict], key: str, scale: str, seed: int, aliases: dict, settings=None) -> bool:
    """Whether a record holds this point: same key, scale (old names via aliases), seed and, where both the record
    and the caller have them, the scale's settings (a study's SCALES entry: more steps or seeds make old records
    stale); code may differ. Records written before settings were recorded match on the rest."""
    if rec is None:
        return False
    old = aliases.get(rec.get("scale"), rec.get("scale"))
    same = rec.get("key") == key and old == scale and rec.get("seed") == seed
    return same and not settings_differ(rec, settings)


def canonical_settings(settings) -> Any:
    """settings as a record holds them: JSON types (tuples as lists), non-finite floats as the records write them."""
    return None if settings is None else json.loads(json.dumps(jsonable(settings), sort_keys=True))


def settings_differ(rec: Optional[dict], settings) -> list:
    """The top-level settings whose recorded value differs from `settings` ([] when either side has none)."""
    if rec is None or settings is None or "settings" not in rec:
        return []
    old, new = canonical_settings(rec["settings"]), canonical_settings(settings)
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return [] if old == new else ["settings"]
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


class Progress(NamedTuple):
    """How far a grid is at one scale, from its records folder alone (what `--list` prints beside the estimate)."""

    recorded: int  # points with a record at the current settings and seed
    stale: int  # points whose record was made at other settings (they run again)
    started: int  # points without such a record whose work folder holds a checkpoint's CPU note (they resume)
    recorded_cpu_s: float  # CPU seconds the recorded points took (record_cpu_s)
    started_cpu_s: float  # CPU seconds the started points spent up to their last checkpoint


def record_cpu_s(rec: dict) -> float:
    """A point record's CPU seconds: its `cpu_s`; for records older than that field the `cpu_s` its study's result
    carried; for records with neither, its wall `seconds`."""
    result = rec.get("result") if isinstance(rec.get("result"), dict) else {}
    return float(rec.get("cpu_s", result.get("cpu_s", rec.get("seconds", 0.0))))


def progress(records, study: str, scale: str, keys: Sequence[str], seed: int, aliases: dict, settings=None):
    """Progress of a grid from <records>/<study>/<scale>/: recorded, stale and started points and their CPU."""
    done = stale = started = 0
    done_s = started_s = 0.0
    for key in keys:
        path = record_path(records, study, scale, key)
        rec = read_point(path)
        if matches(rec, key, scale, seed, aliases, settings):
            done, done_s = done + 1, done_s + record_cpu_s(rec)
            continue
        stale += bool(rec is not None and settings_differ(rec, settings))
        if (work_dir(path) / SPENT).is_file():
            started, started_s = started + 1, started_s + spent_cpu_s(work_dir(path))
    return Progress(done, stale, started, done_s, started_s)


def _in_process(jobs: Sequence[Job]) -> Iterator[Tuple[Job, Optional[dict], Optional[Failure]]]:
    for job in jobs:
        try:
            yield job, run_job(job), None
        except Exception as err:
            # In-process runs are for debugging: stop here with the real traceback, the point named.
            raise RuntimeError(f"{job.study}: grid point {job.key} failed (records so far are kept)") from err


def _failure(job: Job, err: BaseException) -> Failure:
    trace = "".join(traceback.format_exception(err))
    cause = err.__cause__  # a worker's traceback travels as the cause of the re-raised exception
    if cause is not None:
        trace = str(cause) + "\n" + trace
    return Failure(job.key, f"{type(err).__name__}: {err}".splitlines()[0][:300], trace)


def _context():
    """forkserver (a clean server that imported torch once forks each worker) where there is one, else spawn.

    Never plain fork: a process that has run torch ops holds thread pools a forked child cannot use. A worker
    gets sys.path and the main module from this process when it starts, but the environment of the server's
    start: set environment variables before the first worker pool.
    """
    if "forkserver" in get_all_start_methods():
        ctx = get_context("forkserver")
        ctx.set_forkserver_preload(["sandbox.reporting.workers"])  # torch, numpy: imported once, not per worker
        return ctx
    return get_context("spawn")


def _process_pool(jobs: Sequence[Job], workers: int) -> Iterator[Tuple[Job, Optional[dict], Optional[Failure]]]:
    pool = ProcessPoolExecutor(workers, mp_context=_context(), initializer=init_worker, initargs=(1,))
    restore = _sigterm_raises()
    try:
        futures = {pool.submit(run_job, job._replace(fn=reference_of(job.fn), threads=1)): job for job in jobs}
        for future in as_completed(futures):
            job = futures[future]
            try:
                yield job, future.result(), None
            except Exception as err:
                yield job, None, _failure(job, err)
    except BaseException:
        # Stopped (Ctrl-C, SIGTERM, an error in the caller): end the points in flight now. Waiting would take as long
        # as a point (an hour at trained scale), and workers left running would race a rerun for the checkpoints.
        _stop_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        restore()


def _sigterm_raises() -> Callable[[], None]:
    """While a pool runs, SIGTERM raises SystemExit(143) in the main thread (its default would kill this process
    alone and orphan the workers); returns what restores the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    old = signal.signal(signal.SIGTERM, stop)
    return lambda: signal.signal(signal.SIGTERM, old)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate a pool's worker processes; their points resume from their last checkpoints on a rerun."""
    print(
        "stopping the workers: their points resume from their last checkpoints when the command runs again",
        file=sys.stderr,
        flush=True,
    )
    stop = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if stop is not None:
        stop()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):  # before 3.14: the pool's own table
        process.terminate()


def _submitit(jobs, workers: int, executor: str, folder: Path, options: dict):
    try:
        import submitit
    except ImportError:
        raise SystemExit(
            f"--executor {executor} needs the submitit package: pip install -e '.[cluster]' (or pip install submitit)"
        ) from None
    ex = submitit.AutoExecutor(folder=folder, cluster="local" if executor == "submitit-local" else "slurm")
    params = dict(timeout_min=SUBMITIT_TIMEOUT_MIN, cpus_per_task=1)
    if executor == "slurm":
        params["slurm_array_parallelism"] = workers  # at most `workers` array tasks at once
    ex.update_parameters(**{**params, **options})
    jobs = [job._replace(fn=reference_of(job.fn), threads=1) for job in jobs]
    if executor == "slurm":  # one job array; the records are written by the tasks, so this process may be stopped
        with ex.batch():
            submitted = [ex.submit(run_job, job) for job in jobs]
        pending, running, poll = [], dict(zip(submitted, jobs)), 10.0
    else:  # a local executor starts every submitted job at once: keep at most `workers` in flight
        pending, running, poll = list(jobs), {}, 0.5
    while pending or running:
        while pending and len(running) < workers:
            job = pending.pop(0)
            running[ex.submit(run_job, job)] = job
        done = next(submitit.helpers.as_completed(list(running), poll_frequency=poll))
        job = running.pop(done)
        try:
            yield job, done.result(), None
        except Exception as err:
            yield job, None, _failure(job, err)


def run_jobs(jobs: Sequence[Job], workers: int = 1, executor: str = "local", folder=None, options=None, desc=""):
    """Run the jobs; yields (job, record or None, Failure or None) as each finishes, under a tqdm bar of points."""
    from tqdm.auto import tqdm

    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; valid names: {', '.join(EXECUTORS)}")
    if executor != "local":
        stream = _submitit(jobs, workers, executor, Path(folder), dict(options or {}))
    elif workers <= 1:
        stream = _in_process(jobs)
    else:
        stream = _process_pool(jobs, workers)
    with tqdm(total=len(jobs), desc=desc, unit="point", leave=False, file=sys.stderr) as bar:
        for item in stream:
            bar.update(1)
            if item[2] is not None:
                bar.write(f"FAILED {item[2].key}: {item[2].error}")
            yield item
