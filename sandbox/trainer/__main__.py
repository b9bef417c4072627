"""The trainer's command line: `sandbox-train` or `python -m sandbox.trainer [--preset NAME] [--config F.toml] [flags]`.

Layers, later ones winning: the Config defaults < `--preset` < `--config` TOML < flags; on `--resume DIR` the
checkpoint's config is the base layer (except `out`: a resumed run writes DIR). `--ensemble K` trains K seeds as
one batched model.

Exit codes: 0 finished; 1 stopped by a non-finite loss or parameter (the last good checkpoint is kept);
2 bad input (a config value, a file, a run folder that is taken); 128 + N stopped by signal N after saving a
checkpoint (143 for SIGTERM, 130 for SIGINT, as shells report), so a job script can tell "preempted" from "done".
"""

import dataclasses
import signal
import sys
from pathlib import Path

from sandbox.trainer import ensemble
from sandbox.trainer import runfolder as rf
from sandbox.trainer.checkpoint import load_checkpoint
from sandbox.trainer.config import Config, make_config, parse_layers
from sandbox.trainer.loop import NonFiniteError, train

EXIT_DONE, EXIT_NONFINITE, EXIT_BAD_INPUT = 0, 1, 2


def exit_code(summary: dict) -> int:
    """0 for a finished run; 128 + the signal's number for one stopped (and saved) by a signal."""
    stopped = summary.get("stopped_by")
    return 128 + signal.Signals[stopped].value if stopped else EXIT_DONE


def train_ensemble(cfg: Config) -> dict:
    """ensemble.train under the run-folder rules of sandbox.trainer.runfolder (a new run; no resume)."""
    folder = rf.target(cfg.out, "", cfg.data).folder
    rf.refuse_if_taken(folder, cfg.overwrite)
    with rf.locked(folder):
        rf.remove(rf.temp_files(folder) + rf.refuse_if_taken(folder, cfg.overwrite))
        return ensemble.train(dataclasses.replace(cfg, out=str(folder)))


def _prog() -> str:
    name = Path(sys.argv[0]).name
    return "python -m sandbox.trainer" if name in ("__main__.py", "-c", "") else name


def main(argv=None) -> int:
    """Parse the layers, build the config, train; the exit code says how the run ended (module docstring)."""
    try:
        layers = parse_layers(argv, description=__doc__, prog=_prog())
        resume = next((layer["resume"] for layer in reversed(layers) if layer.get("resume")), "")
        checkpoint = load_checkpoint(resume) if resume else None
        # The checkpoint's `out` is where the run was made, not where it is now: never used for writing.
        base = {**checkpoint["config"], "out": ""} if checkpoint else None
        cfg = make_config(*layers, base=base)
        summary = train_ensemble(cfg) if cfg.ensemble > 1 else train(cfg, checkpoint)
    except (ValueError, FileNotFoundError, ImportError) as err:  # ImportError: --tensorboard without the package
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NonFiniteError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_NONFINITE
    return exit_code(summary)


if __name__ == "__main__":
    sys.exit(main())
