"""Regenerate figures: python3 -m studies [NAME ...] [runner flags] [--list] [-- extra args].

Without names, every study. Runner flags (--scale, --workers, --out, ...; see python3 -m studies.NAME --help) go to
each study; without --scale each study runs at its own default. A study without the asked scale is skipped.
--list prints the plan instead: per study its grid points, estimated CPU-minutes and progress (points recorded, started,
at other settings), then the total, in which work that several studies share (a study's `shared_minutes`: the DCGAN
trajectory of the MNIST studies) counts once, and the CPU-minutes left: each study's estimate in the share of its points
not yet recorded, a shared item in full while any study reading it has points left.
"""

import sys
import time

from sandbox.reporting import plans, study
from studies import all_studies, load


def _split(argv: list) -> tuple:
    """(study names: the leading words, flags for each study, --list given)."""
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    k = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    flags = [a for a in argv[k:] if a != "--list"]
    return argv[:k], flags + extra, "--list" in argv[k:]


def main(argv=None) -> int:
    """Run (or --list) the named studies (default: all); a failed check is reported, not fatal."""
    argv = list(sys.argv[1:] if argv is None else argv)
    names, flags, listing = _split(argv)
    names = names or all_studies()
    unknown = sorted(set(names) - set(all_studies()))
    if unknown:
        raise SystemExit(f"unknown study {', '.join(unknown)}; valid names: {', '.join(all_studies())}")
    args = study.parser(__doc__, default_scale=None).parse_args(flags)  # a bad flag fails before any study runs
    scale = study.canonical(args.scale) if args.scale else None
    if listing:
        totals = plans.ladder([load(name).main(flags + ["--list"]) for name in names])
        repeated, unknown = totals["repeated"], totals["unknown"]
        rest = f", and {len(unknown)} of {len(names)} studies have no estimate" if unknown else ""
        once = f" ({repeated:,.0f} CPU-min of shared work in more than one estimate, counted once)" if repeated else ""
        print(f"total: {totals['cpu_minutes']:,.0f} CPU-min{once}{rest}")
        if totals["points"]:
            print(
                f"recorded: {totals['recorded']} of {totals['points']} grid points; "
                f"left: about {totals['left']:,.0f} CPU-min by the estimates; "
                f"the recorded points measured {totals['recorded_cpu_minutes']:,.0f} CPU-min"
            )
        return 0
    failed, skipped = [], []
    for name in names:
        module = load(name)
        if scale and study.study_scale(module, scale) is None:
            skipped.append(name)
            continue
        start = time.perf_counter()
        print(f"== {name}", flush=True)
        rec = module.main(flags)
        print(f"   {time.perf_counter() - start:.1f} s", flush=True)
        if rec is not None and not rec.get("passed", True):
            failed.append(name)
    if skipped:
        print(f"no {scale} scale, skipped: " + ", ".join(skipped))
    if failed:
        print("studies with failed checks: " + ", ".join(failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
