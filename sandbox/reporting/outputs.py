"""What a study run writes: its Result, the JSON record (sorted keys) and the figure, and the grid helpers.

The record keeps the claim, claims, config, seed, scale (the ladder's name), device, code version, torch version,
data, checks and passed, plus `controls` when the study gives them, `forced` when --force overrode a guard, and
`runner` (workers, threads, points run and reused). data["headline"] rows are kit.Headline or dicts; the record
holds them as dicts, the rows the claims ledger reads.
"""

import os
from pathlib import Path
from typing import Callable, NamedTuple, Optional, Sequence

import torch

from sandbox.devices import describe_device
from sandbox.records import jsonable, write_json
from sandbox.reporting.kit import headline_row, point_key
from sandbox.reporting.provenance import FIGURES, canonical, code_version, guards

os.environ.setdefault("MPLBACKEND", "Agg")  # studies write files; they never open windows


class Result(NamedTuple):
    config: dict  # every setting that shaped the numbers
    data: dict  # the numbers the figure draws and the checks read
    checks: dict  # name -> bool, each computed from `data`
    # check name -> {"control": what it is, "control_passes": bool} or {"no_control": why there is none}: a control
    # is a case where the check must come out the other way (an untrained G must fail "G learned the modes").
    controls: Optional[dict] = None


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


def run_grid(keys: Sequence, compute: Callable, results: Optional[dict] = None) -> dict:
    """{key: compute(key)} over the grid in order, or `results` (the runner's) after checking it covers every key."""
    keys = [point_key(k) for k in keys]
    if results is None:
        return {k: compute(k) for k in keys}
    missing = [k for k in keys if k not in results]
    if missing:
        raise ValueError(f"grid results miss {len(missing)} grid points, e.g. {missing[:3]}; run every point first")
    return {k: results[k] for k in keys}


def check_controls(controls: dict, checks: dict) -> dict:
    """The controls, after checking each names a check and is {control, control_passes} or {no_control}."""
    for k, c in controls.items():
        if k not in checks:
            raise ValueError(f"controls[{k!r}] names no check; the checks are {', '.join(sorted(checks))}")
        if not isinstance(c, dict) or not (
            (set(c) == {"control", "control_passes"} and isinstance(c["control_passes"], bool))
            or (set(c) == {"no_control"} and isinstance(c["no_control"], str))
        ):
            raise ValueError(
                f"controls[{k!r}] must be {{'control': text, 'control_passes': bool}} or {{'no_control': reason}}; "
                f"got {c!r}"
            )
    return controls


def record(name, claim, claims, result: Result, *, seed, scale, device, forced=(), runner=None, levels=None) -> dict:
    """The JSON record of one study run (everything but the figure); data["headline"] rows as plain dicts.

    `levels` ({claim: 'T' or 'X'}, a study's LEVELS) says at which level the study is evidence for each claim: the
    ledger counts a study once per claim, at that level.
    """
    data = dict(result.data)
    if "headline" in data:
        data["headline"] = [headline_row(r) for r in data["headline"]]
    rec = {
        "study": name,
        "claim": claim,
        "claims": list(claims),
        "config": result.config,
        "seed": seed,
        "scale": canonical(scale),
        "device": device if isinstance(device, str) else describe_device(device),
        "code_version": code_version(),
        "torch": torch.__version__,
        "data": data,
        "checks": result.checks,
        "passed": bool(all(result.checks.values())),
    }
    if result.controls is not None:
        rec["controls"] = check_controls(result.controls, result.checks)
    if forced:
        rec["forced"], rec["forced_over"] = True, list(forced)
    if runner:
        rec["runner"] = runner
    if levels:
        bad = {c: v for c, v in levels.items() if c not in claims or v not in ("T", "X")}
        if bad:
            raise ValueError(f"{name}: LEVELS must give each of its claims one level, T or X; got {bad}")
        rec["levels"] = dict(levels)
    return jsonable(rec)


def save(name, claim, claims, result: Result, fig, *, seed, scale, device, out=FIGURES, force=False, **extra) -> dict:
    """Write out/NAME.png and out/NAME.json behind the guards (provenance.guards); returns the record."""
    out = Path(out)
    forced = extra.pop("forced", None)
    if forced is None:
        forced = guards(name, out, None, canonical(scale), force)
    rec = record(name, claim, claims, result, seed=seed, scale=scale, device=device, forced=forced, **extra)
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
