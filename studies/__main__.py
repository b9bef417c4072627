"""Regenerate every figure at each study's default scale: python3 -m studies [NAME ...] [-- extra args]."""

import sys
import time

from studies import all_studies, load


def main(argv=None) -> int:
    """Run the named studies (default: all), each at its default scale; a failed check is reported, not fatal."""
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    names = [a for a in (argv[: argv.index("--")] if "--" in argv else argv)] or all_studies()
    unknown = sorted(set(names) - set(all_studies()))
    if unknown:
        raise SystemExit(f"unknown study {', '.join(unknown)}; valid names: {', '.join(all_studies())}")
    failed = []
    for name in names:
        start = time.perf_counter()
        print(f"== {name}", flush=True)
        rec = load(name).main(extra)
        print(f"   {time.perf_counter() - start:.1f} s", flush=True)
        if rec is not None and not rec.get("passed", True):
            failed.append(name)
    if failed:
        print("studies with failed checks: " + ", ".join(failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
