"""One GPU check that fits a short loan (about 8 minutes): fast paths, large ensembles, the image studies' cost.

    python3 -m benchmarks.gpu OUT.json [--budget-s 420] [--sections dcgan metz_ensemble amp_parity studies]
                                       [--ks 16 64] [--study-steps 200] [--scale trained] [--dry-run]

Runs from the repository root with python3 and torch (plus numpy, scipy and tqdm, which the trainer imports);
nothing is installed. MNIST must be under $SANDBOX_DATA, ./data or ../shared/data (sandbox.data.data_root); a
section that cannot run records its error and the next one runs. OUT.json is rewritten after every section, so
a run cut short keeps what it measured. Sections, in order, each skipped once the budget is spent:
- dcgan: DCGAN images/s at batch 64, the trainer's CUDA fast path (bf16, channels_last, fused Adam, no host
  syncs; fresh z for G's step, and again with reuse_fakes as the reference does, and compiled) against the
  classic PyTorch DCGAN example's loop (benchmarks.dcgan). Target: fast >= 5x reference.
- metz_ensemble: member steps/s of the Metz et al. 2017 Stacked MNIST nets (batch 128, D = 1/2 G) as one grouped
  ensemble of K members (sandbox.nets.grouped), K in --ks, against one solo run.
- amp_parity: FID (MNIST-classifier features) of a width-1/4 DCGAN after a fixed number of steps, fp32 against
  bf16, over 3 seeds (benchmarks.amp_parity): bf16 is the trainer's CUDA default, this checks it trains as well.
- studies: the trainer configs each image study (NEEDS_DATA = "mnist") trains at --scale, found by running its
  run_point until it calls make_config (intercepted there: nothing trains; a point its study's `trains(point)`
  calls False is passed over unrun, as scoring real data would spend the loan), grouped into distinct configs;
  each timed for --study-steps steps after a warm-up; the estimate is seconds per step x steps x runs, training
  only (evaluations, which the studies run every few thousand steps, are not included).
Without CUDA it writes {"skipped": ...} and exits 0; --dry-run runs every section on the CPU at tiny sizes (a
test of this script, not a measurement).
"""

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time
import traceback
from pathlib import Path
from types import SimpleNamespace

import torch

SECTIONS = ("dcgan", "metz_ensemble", "amp_parity", "studies")
DCGAN_TARGET = 5.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(run, steps: int, device: torch.device, work: int = 1) -> float:
    """work x steps / seconds of `steps` run_steps after one sync (the loop itself does not sync)."""
    from sandbox.trainer.loop import run_steps

    _sync(device)
    t0 = time.perf_counter()
    run_steps(run, steps)
    _sync(device)
    return work * steps / (time.perf_counter() - t0)


# ------------------------------------------------------------------------------------------------- sections
def dcgan(device: torch.device, dry: bool, budget) -> dict:
    """Images/s of the reference loop and of the trainer's fast path (fresh z, reuse_fakes, compiled)."""
    from benchmarks import dcgan as bd

    args = SimpleNamespace(
        batch=8 if dry else 64, width=0.125 if dry else 1.0, steps=2 if dry else 300, warmup=1 if dry else 30,
        workers=0 if dry else 2, data_dir=None, compile=False, reuse_fakes=False,
    )  # fmt: skip
    arms = {"reference": {}, "fast": {}, "fast_reuse_fakes": dict(reuse_fakes=True)}
    rates = {name: [] for name in arms}
    for _ in range(1 if dry else 3):
        for name, flags in arms.items():
            run_args = SimpleNamespace(**{**vars(args), **flags})
            timer = bd.time_reference if name == "reference" else bd.time_fast
            rates[name].append(timer(device, run_args)[0])
    out = {"batch": args.batch, "width": args.width, "steps": args.steps, "rates": rates}
    if not dry and budget() > 150:  # compiling costs a minute or two: only with time to spare
        t0 = time.perf_counter()
        rates["fast_compiled"] = [bd.time_fast(device, SimpleNamespace(**{**vars(args), "compile": True}))[0]]
        out["compiled_s"] = time.perf_counter() - t0
    ref = sorted(rates["reference"])[len(rates["reference"]) // 2]
    out["images_per_s"] = {name: sorted(r)[len(r) // 2] for name, r in rates.items()}
    out["ratio_to_reference"] = {name: v / ref for name, v in out["images_per_s"].items() if name != "reference"}
    out["target"] = DCGAN_TARGET
    return out


def metz_ensemble(device: torch.device, dry: bool, ks, data_dir: str) -> dict:
    """Member steps/s of grouped Metz ensembles of K members, and of one solo run."""
    from sandbox.trainer.config import make_config
    from sandbox.trainer.ensemble import make_ensemble
    from sandbox.trainer.loop import make_run, run_steps

    base = dict(data="stacked_mnist", net="metz", d_width=0.5, batch=128, device=str(device), progress=False)
    if dry:
        base.update(g_width=0.125, batch=8)
    base["data_dir"] = data_dir
    steps, warmup = (2, 1) if dry else (50, 10)
    solo = make_run(make_config(base))
    run_steps(solo, warmup)
    out = {"config": base, "steps": steps, "solo_steps_per_s": _rate(solo, steps, device)}
    del solo
    for K in [2, 3] if dry else ks:
        ens = make_ensemble(make_config(dict(base, ensemble=K)))
        run_steps(ens, warmup)
        rate = _rate(ens, steps, device, K)
        out[f"K={K}"] = {"member_steps_per_s": rate, "ratio_to_solo": rate / out["solo_steps_per_s"]}
        if device.type == "cuda":
            out[f"K={K}"]["max_memory_gb"] = torch.cuda.max_memory_allocated(device) / 2**30
            torch.cuda.reset_peak_memory_stats(device)
        del ens
    return out


def amp_parity(device: torch.device, dry: bool, data_dir: str) -> dict:
    """benchmarks.amp_parity.parity on this device: FID after a fixed number of steps, fp32 against bf16."""
    from benchmarks.amp_parity import parity

    if dry:
        return parity(0.125, 8, 2, 2, 50, data_dir, str(device))
    return parity(0.25, 64, 3000, 3, 5000, data_dir, str(device))


class _Captured(Exception):
    def __init__(self, cfg):
        super().__init__("captured")
        self.cfg = cfg


@contextlib.contextmanager
def _intercept_make_config():
    """Every module's make_config (the trainer's) replaced by one that builds the config and raises _Captured."""
    from sandbox.trainer import config as C

    real = C.make_config

    def capture(*layers, **kwargs):
        raise _Captured(real(*layers, **kwargs))

    patched = [m for m in list(sys.modules.values()) if m is not None and getattr(m, "make_config", None) is real] + [C]
    for module in patched:
        module.make_config = capture
    try:
        yield
    finally:
        for module in patched:
            module.make_config = real


def study_configs(name: str, scale: str, device: torch.device) -> dict:
    """{'runs': n, 'configs': [(Config, count)]} of the trainer runs study `name` makes at `scale` (seed 0)."""
    from sandbox.reporting.provenance import study_scale
    from sandbox.trainer.config import config_dict
    from studies import load

    module = load(name)
    own = study_scale(module, scale)
    if own is None or not callable(getattr(module, "points", None)):
        return {"skipped": f"no {scale} scale or no grid points"}
    found, keys = {}, ("seed", "out", "data_dir", "progress", "device")
    trains = getattr(module, "trains", lambda point: True)  # a study's points that train nothing say so
    for point in filter(trains, module.points(own)):
        with _intercept_make_config():
            try:
                module.run_point(point, own, 0, device)
                continue  # no trainer config: a point of another kind (toy, analytic)
            except _Captured as got:
                cfg = got.cfg
        key = json.dumps({k: v for k, v in config_dict(cfg).items() if k not in keys}, sort_keys=True)
        found.setdefault(key, [cfg, 0])[1] += 1
    return {"runs": sum(c for _, c in found.values()), "configs": list(found.values())}


def studies(device: torch.device, dry: bool, scale: str, steps: int, data_dir: str, budget) -> dict:
    """Per image study: its distinct trainer configs at `scale`, each timed, and the estimated training hours."""
    from sandbox.trainer.ensemble import make_ensemble
    from sandbox.trainer.loop import make_run, run_steps
    from studies import all_studies, load

    steps, warmup = (1, 1) if dry else (steps, 30)  # 30: past the WGAN schedule's first 25 G steps of 100 D steps
    out = {}
    for name in all_studies():
        if getattr(load(name), "NEEDS_DATA", None) != "mnist":
            continue
        if budget() < (0 if dry else 20):
            out[name] = {"skipped": "budget spent"}
            continue
        try:
            found = study_configs(name, scale, device)
        except Exception as err:  # a study that cannot be planned here: say why, go on
            out[name] = {"error": f"{type(err).__name__}: {err}"}
            continue
        if "skipped" in found:
            out[name] = found
            continue
        rows, total_s = [], 0.0
        for cfg, count in found["configs"][:1] if dry else found["configs"]:
            cfg = dataclasses.replace(cfg, device=str(device), data_dir=data_dir or cfg.data_dir, progress=False)
            if dry:
                cfg = dataclasses.replace(cfg, g_width=0.125, d_width=0.125, batch=min(cfg.batch, 8))
            run = make_ensemble(cfg) if cfg.ensemble > 1 else make_run(cfg)
            run_steps(run, warmup)
            rate = _rate(run, steps, device)
            del run
            seconds = cfg.steps * count / rate
            total_s += seconds
            rows.append(
                dict(net=cfg.net, data=cfg.data, g_width=cfg.g_width, d_width=cfg.d_width, batch=cfg.batch,
                     objective=cfg.objective, penalty=cfg.penalty, rule=cfg.rule, n_critic=cfg.n_critic,
                     ensemble=cfg.ensemble, steps=cfg.steps, runs=count, steps_per_s=rate, train_s=seconds)
            )  # fmt: skip
        out[name] = {"runs": found["runs"], "configs": rows, "train_hours": total_s / 3600}
    return out


# ------------------------------------------------------------------------------------------------- runner
def _write(path, results: dict) -> None:
    if path is None:
        return
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(results, indent=1, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", nargs="?", type=Path, default=None, help="the JSON to write")
    p.add_argument("--budget-s", type=float, default=420.0, help="stop starting sections after this many seconds")
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument("--ks", type=int, nargs="+", default=[16, 64], help="ensemble sizes of the metz section")
    p.add_argument("--study-steps", type=int, default=200)
    p.add_argument("--scale", default="trained", help="the study scale whose configs are timed")
    p.add_argument("--data-dir", default="")
    p.add_argument("--dry-run", action="store_true", help="every section on the CPU at tiny sizes (tests this script)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    budget = lambda: args.budget_s - (time.perf_counter() - t0)  # noqa: E731
    results = {"argv": sys.argv[1:] if argv is None else list(argv), "torch": torch.__version__, "sections": {}}
    if not args.dry_run and not torch.cuda.is_available():
        results["skipped"] = "no CUDA device: nothing measured (--dry-run runs the sections on the CPU at tiny sizes)"
        print(results["skipped"])
        _write(args.out, results)
        return results
    device = torch.device("cpu" if args.dry_run else "cuda")
    results["device"] = "cpu (dry run)" if args.dry_run else torch.cuda.get_device_name(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    work = {
        "dcgan": lambda: dcgan(device, args.dry_run, budget),
        "metz_ensemble": lambda: metz_ensemble(device, args.dry_run, args.ks, args.data_dir),
        "amp_parity": lambda: amp_parity(device, args.dry_run, args.data_dir),
        "studies": lambda: studies(device, args.dry_run, args.scale, args.study_steps, args.data_dir, budget),
    }
    for name in args.sections:
        if budget() <= 0:
            results["sections"][name] = {"skipped": "budget spent"}
            continue
        start = time.perf_counter()
        print(f"== {name} ({budget():.0f} s of budget left)", flush=True)
        try:
            results["sections"][name] = work[name]()
        except Exception as err:  # record it and go on: the next section may still run
            results["sections"][name] = {"error": f"{type(err).__name__}: {err}", "trace": traceback.format_exc()}
        results["sections"][name]["seconds"] = time.perf_counter() - start
        print(json.dumps(results["sections"][name], default=str)[:2000], flush=True)
        _write(args.out, results)
    results["seconds"] = time.perf_counter() - t0
    _write(args.out, results)
    return results


if __name__ == "__main__":
    main()
