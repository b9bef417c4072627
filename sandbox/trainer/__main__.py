"""The trainer's command line: `python -m sandbox.trainer [--preset NAME] [--config F.toml] [flags]`.

Layers, later ones winning: the Config defaults < `--preset` < `--config` TOML < flags; on `--resume` the
checkpoint's config is the base layer. `--ensemble K` trains K seeds as one batched model.
"""

import sys

from sandbox.trainer import ensemble
from sandbox.trainer.checkpoint import load_checkpoint
from sandbox.trainer.config import make_config, parse_layers
from sandbox.trainer.loop import NonFiniteError, train


def main(argv=None) -> int:
    """Parse the layers, build the config, train; exit 2 on bad input, 1 on a non-finite stop, 0 when done."""
    try:
        layers = parse_layers(argv, description=__doc__)
        resume = next((layer["resume"] for layer in reversed(layers) if layer.get("resume")), "")
        checkpoint = load_checkpoint(resume) if resume else None
        cfg = make_config(*layers, base=checkpoint["config"] if checkpoint else None)
        ensemble.train(cfg) if cfg.ensemble > 1 else train(cfg, checkpoint)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except NonFiniteError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
