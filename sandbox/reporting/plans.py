"""The plan of a study at a scale (`--list`): its grid points, the CPU-minutes its estimate gives, how far its
records folder says it has come, and the ladder's total over studies with shared work counted once."""

import math
from pathlib import Path
from typing import Callable, Optional, Sequence

from sandbox.reporting import workers as wk
from sandbox.reporting.kit import point_key
from sandbox.reporting.provenance import ALIASES, point_settings, study_scale


def plan(
    module, scale: str, points: Optional[Callable] = None, records: Optional[Path] = None, seed: int = 0, name=None
) -> dict:
    """{scale, points, cpu_minutes, note}: the grid size at a scale, and CPU-minutes from the study's
    `estimate_minutes(scale)` (the whole study) or `BUDGET = {scale: minutes per point}`, when it has one; plus
    `shared` ({item: CPU-minutes} inside that estimate which other studies share) from `shared_minutes(scale)`;
    with a records folder, a grid study's `progress` (workers.Progress as a dict) and `left_cpu_minutes`, the
    estimate's share for the points not yet recorded."""
    own = study_scale(module, scale)
    if own is None:
        names = ", ".join(getattr(module, "SCALES", {}))
        return dict(scale=scale, points=None, cpu_minutes=None, note=f"no {scale} scale (defines {names})")
    points = points or getattr(module, "points", None)
    keys = [point_key(p) for p in points(own)] if points else []  # points() once: some build their grid from data
    n = len(keys) if points else 1
    minutes = None
    if callable(getattr(module, "estimate_minutes", None)):
        minutes = float(module.estimate_minutes(own))  # the whole study's CPU-minutes
    elif isinstance(getattr(module, "BUDGET", None), dict):
        per_point = {ALIASES.get(k, k): v for k, v in module.BUDGET.items()}.get(scale)
        minutes = None if per_point is None else float(per_point) * n
    note = "no estimate" if minutes is None or not math.isfinite(minutes) else f"{minutes:.3g} CPU-min"
    out = dict(scale=scale, points=n, cpu_minutes=minutes, note=note)
    if records is not None and points is not None and n:
        name = name or Path(module.__file__).stem  # the records folder's name (run as __main__, not __name__)
        done = wk.progress(records, name, scale, keys, seed, ALIASES, point_settings(module, own))
        out.update(note=note + _progress_note(done, n), progress=done._asdict())
        if minutes is not None and math.isfinite(minutes):
            out["left_cpu_minutes"] = minutes * (n - done.recorded) / n
    shared = module.shared_minutes(own) if callable(getattr(module, "shared_minutes", None)) else {}
    return dict(out, shared=shared) if shared else out


def superseded(module, figure: dict) -> list:
    """The fields of its study's current `SCALES` entry that a committed figure's `config` holds with another value
    ([] when it is current; presets and nets are compared point by point, by the records' settings): a figure whose
    grid is being rerun at a new scale entry, its records filling in point by point, stays committed until the last
    point lands and the run rebuilds it."""
    own = study_scale(module, figure["scale"])
    entry = wk.canonical_settings(getattr(module, "SCALES", {}).get(own))
    if not isinstance(entry, dict):
        return []
    held = {k: v for k, v in entry.items() if k in figure["config"]}
    return wk.settings_differ({"settings": {k: figure["config"][k] for k in held}}, held)


def _progress_note(done: wk.Progress, n: int) -> str:
    """'; recorded 3/12 (58 CPU-min), 1 started (6 CPU-min so far), 9 at other settings' (the parts that apply)."""
    note = f"; recorded {done.recorded}/{n}" + (f" ({done.recorded_cpu_s / 60:.3g} CPU-min)" if done.recorded else "")
    if done.started:
        note += f", {done.started} started ({done.started_cpu_s / 60:.3g} CPU-min so far)"
    return note + (f", {done.stale} at other settings" if done.stale else "")


def ladder(plans: Sequence[dict]) -> dict:
    """Totals over studies' plans: CPU-minutes with each shared item once (`repeated`: the copies taken off), the
    minutes left (each study's estimate in the share of its points not recorded; a shared item in full while any
    study reading it has points left), grid points recorded of all, the CPU-minutes the recorded points measured,
    and the studies without an estimate."""
    total, left, shared, counts, unknown, measured = 0.0, 0.0, {}, [0, 0], [], 0.0
    for p in plans:
        if "progress" in p:
            counts = [counts[0] + p["progress"]["recorded"], counts[1] + p["points"]]
            measured += p["progress"]["recorded_cpu_s"] / 60
        minutes = p.get("cpu_minutes")
        if minutes is None:
            if p.get("points") is not None:
                unknown.append(p.get("study"))
            continue
        todo = p.get("left_cpu_minutes", minutes) / minutes if minutes else 0.0
        for item, m in p.get("shared", {}).items():
            shared.setdefault(item, []).append((m, todo))
        total += minutes
        left += todo * (minutes - sum(p.get("shared", {}).values()))
    repeated = sum(sum(m for m, _ in readers[1:]) for readers in shared.values())
    left += sum(readers[0][0] * max(t for _, t in readers) for readers in shared.values())
    return dict(
        cpu_minutes=total - repeated,
        repeated=repeated,
        left=left,
        recorded=counts[0],
        points=counts[1],
        recorded_cpu_minutes=measured,
        unknown=unknown,
    )
