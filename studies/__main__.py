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

from sandbox.reporting import study
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
        total, left, unknown_cost, shared, counts = 0.0, 0.0, [], {}, [0, 0]
        for name in names:
            rec = load(name).main(flags + ["--list"])
            if "progress" in rec:
                counts = [counts[0] + rec["progress"]["recorded"], counts[1] + rec["points"]]
            if rec.get("cpu_minutes") is not None:
                total += rec["cpu_minutes"]
                todo = rec.get("left_cpu_minutes", rec["cpu_minutes"]) / rec["cpu_minutes"] if rec["cpu_minutes"] else 0
                for item, minutes in rec.get("shared", {}).items():
                    shared.setdefault(item, []).append((minutes, todo))
                left += todo * (rec["cpu_minutes"] - sum(rec.get("shared", {}).values()))
            elif rec.get("points") is not None:
                unknown_cost.append(name)
        # each shared item trains once, whoever reads it; it is still to do while any reader's points are
        repeated = sum(sum(m for m, _ in readers[1:]) for readers in shared.values())
        left += sum(readers[0][0] * max(t for _, t in readers) for readers in shared.values())
        rest = f", and {len(unknown_cost)} of {len(names)} studies have no estimate" if unknown_cost else ""
        once = f" ({repeated:,.0f} CPU-min of shared work in more than one estimate, counted once)" if repeated else ""
        print(f"total: {total - repeated:,.0f} CPU-min{once}{rest}")
        if counts[1]:
            print(f"recorded: {counts[0]} of {counts[1]} grid points; left: about {left:,.0f} CPU-min by the estimates")
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
