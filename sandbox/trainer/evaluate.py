"""Evaluate a trained generator: during training (`--eval-every N`) and for any run folder afterwards
(`sandbox-eval RUN_DIR`, or `python -m sandbox.trainer.evaluate RUN_DIR`), writing JSON.

The generator evaluated is the EMA generator when the run keeps an EMA, its BatchNorm statistics recomputed for
the EMA weights (`runlog.ema_copy`), else G; in eval mode, on latents from one seeded generator (cfg.seed + 5) on
the run's device, so that for the same checkpoint the command reproduces the number training logged. Image data:
FID (MNIST-classifier features) of n samples against the MNIST test split (`sandbox.evaluation.mnist`), and on
Stacked MNIST the modes and reverse KL; the command adds KID, the classifier score, precision/recall and digit
classes (`mnist.evaluate_generator`). 2-D data: modes and high-quality share, with their thresholds.
"""

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Callable, NamedTuple, Optional

import torch
from torch import Tensor, nn

from sandbox.data import get_dataset
from sandbox.devices import pick_device
from sandbox.evaluation import classifier as clf
from sandbox.evaluation import mnist as M
from sandbox.trainer import runlog as tl
from sandbox.trainer.checkpoint import FILENAME, checkpoint_path, load_checkpoint
from sandbox.trainer.config import Config, ShortErrorParser, config_dict, make_config, z_size
from sandbox.trainer.parts import build_players

SEED_OFFSET = 5  # evaluation latents: cfg.seed + 5 (init cfg.seed, data +1, noise +2, plots +3, EMA BatchNorm +4)


class Players(NamedTuple):
    cfg: Config
    G: nn.Module
    D: nn.Module
    ema: Optional[list]  # the EMA of G's parameters, in G.parameters() order, or None
    step: int


def eval_seed(cfg: Config) -> int:
    """The seed of evaluation latents: cfg.seed + 5, a stream no other part of a run draws from."""
    return cfg.seed + SEED_OFFSET


def players(state: dict, device="cpu") -> Players:
    """G and D (train mode) rebuilt from a checkpoint state dict on `device`, with the EMA values; G.z_dim is set."""
    cfg = make_config(base=state["config"])
    G, D = build_players(cfg, torch.device(device), torch.Generator().manual_seed(cfg.seed))
    G.load_state_dict(state["G"])
    D.load_state_dict(state["D"])
    G.z_dim = z_size(cfg)
    ema = None if state.get("ema") is None else [v.to(device) for v in state["ema"]["value"]]
    return Players(cfg, G, D, ema, int(state["step"]))


def pick_generator(
    cfg: Config, G: nn.Module, ema: Optional[list], use_ema: Optional[bool] = None, bn_batches: int = tl.BN_BATCHES
):
    """(generator, 'ema' or 'G'): the EMA copy (BatchNorm recomputed) when use_ema, or when None and there is one."""
    use_ema = ema is not None if use_ema is None else use_ema
    if use_ema and ema is None:
        raise ValueError("this run keeps no EMA of G (ema_half_life 0): ask for G, or train with --ema-half-life")
    if not use_ema:
        return G, "G"
    E = tl.ema_copy(G, ema, z_size(cfg), cfg.batch, bn_batches, cfg.seed + 4)
    E.z_dim = z_size(cfg)
    return E, "ema"


def sampler(G: nn.Module, z_dim: int, chunk: int = 1000) -> Callable[[int, torch.Generator], Tensor]:
    """sample_fn(n, generator) -> G(z) in eval mode, float32, z ~ N(0, I) (n, z_dim) drawn on the generator's device."""

    @torch.no_grad()
    def sample(n: int, g: torch.Generator) -> Tensor:
        p, was_training = next(G.parameters()), G.training
        z = torch.randn((n, z_dim), generator=g, device=g.device)
        G.eval()
        try:
            return torch.cat([G(c.to(p.device, p.dtype)).float() for c in z.split(chunk)])
        finally:
            G.train(was_training)

    return sample


def evaluate(cfg: Config, G: nn.Module, n: int, seed: int, device, generator: str, full: bool = False) -> dict:
    """The evaluation of n samples of G: FID (+ Stacked MNIST modes, reverse KL) or 2-D modes and high-quality share.

    full adds KID, classifier score, precision/recall and digit classes (mnist.evaluate_generator), whose FID is
    the same number: the same samples (one draw of n from torch.Generator(device).manual_seed(seed)), features
    and reference.
    """
    kind, device = get_dataset(cfg.data).kind, torch.device(device)
    fn, data_dir = sampler(G, z_size(cfg)), cfg.data_dir or None
    info = {"n": n, "seed": seed, "generator": generator}
    if kind == "points":
        source = get_dataset(cfg.data).source(device)
        x = fn(n, torch.Generator(device).manual_seed(seed))
        return {**tl.mode_stats(x, source.centres, source.std), **info}
    if kind != "images":
        raise ValueError(f"no evaluation for {cfg.data!r} data; evaluations exist for 2-D mixtures and images")
    if full:
        records = M.evaluate_generator(fn, n, seed=seed, data_dir=data_dir, device=device)
        out = {"fid": records["fid"]["value"], **info, "records": records}
        if "stacked_modes" in records:
            out.update(stacked_modes=records["stacked_modes"]["value"]["modes"])
            out.update(reverse_kl=records["stacked_modes"]["value"]["reverse_kl"])
        return out
    x = fn(n, torch.Generator(device).manual_seed(seed))
    feats = clf.features(M.classifier(device), x.reshape(-1, 1, 28, 28))  # Stacked MNIST: the 3n digits, pooled
    out = {"fid": M.fid(M.reference_stats("test", data_dir, device), feats), **info}
    if x.shape[1] == 3:
        modes = M.stacked_modes(x, device)
        out.update(stacked_modes=modes.modes, reverse_kl=modes.kl)
    return out


def evaluate_run(run) -> dict:
    """evaluate() of a training run's generator (EMA when kept) on cfg.eval_n samples; the global RNGs untouched."""
    cfg = run.cfg
    with torch.random.fork_rng(devices=[run.device] if run.device.type == "cuda" else []):
        G, name = pick_generator(cfg, run.G, None if run.state["ema"] is None else run.state["ema"].value)
        return evaluate(cfg, G, cfg.eval_n, eval_seed(cfg), run.device, name)


def better(new: dict, old: Optional[dict]) -> bool:
    """Whether evaluation `new` beats `old`: lower FID; on 2-D data more modes, then a larger high-quality share."""
    score = (lambda e: (-e["fid"],)) if "fid" in new else (lambda e: (e["modes"], e["high_quality"]))
    ours = score(new)
    if any(v != v for v in ours):  # NaN: never the best
        return False
    return old is None or ours > score(old)


# ------------------------------------------------------------------------------------------------ the command
def main(argv=None, prog: Optional[str] = None) -> int:
    """`sandbox-eval RUN_DIR`: evaluate a run folder's generator, print it, write it as JSON; exit 2 on bad input."""
    p = ShortErrorParser(
        prog=prog or "sandbox-eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("run", help="a run folder (or a checkpoint file in one)")
    p.add_argument("--checkpoint", default=FILENAME, help=f"file in the run folder: {FILENAME} (last) or best.pt")
    p.add_argument("--n", type=int, help="samples (default: the run's eval_n, which reproduces training's number)")
    p.add_argument("--seed", type=int, help="latent seed (default: the run's evaluation seed, its seed + 5)")
    p.add_argument("--generator", choices=("auto", "ema", "G"), default="auto", help="auto: the EMA when kept")
    p.add_argument("--bn-batches", type=int, default=tl.BN_BATCHES, help="batches that recompute the EMA's BN stats")
    p.add_argument("--fid-only", action="store_true", help="FID (and Stacked MNIST modes) only, as in training")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:k")
    p.add_argument("--data-dir", help="data root holding mnist/ (default: the run's, else the usual search)")
    p.add_argument("--out", help="the JSON file (default: RUN/eval_CHECKPOINT.json)")
    try:
        args = p.parse_args(argv)
        path = Path(args.run) if Path(args.run).is_file() else Path(args.run) / args.checkpoint
        state, device = load_checkpoint(checkpoint_path(path)), pick_device(args.device)
        loaded = players(state, device)
        cfg = loaded.cfg if args.data_dir is None else dataclasses.replace(loaded.cfg, data_dir=args.data_dir)
        n = args.n if args.n is not None else cfg.eval_n
        if n < 2 or args.bn_batches < 1:
            raise ValueError(f"--n must be at least 2 and --bn-batches at least 1, got {n} and {args.bn_batches}")
        seed = args.seed if args.seed is not None else eval_seed(cfg)
        use_ema = {"auto": None, "ema": True, "G": False}[args.generator]
        G, name = pick_generator(cfg, loaded.G, loaded.ema, use_ema, args.bn_batches)
        result = evaluate(cfg, G, n, seed, device, name, full=not args.fid_only)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else path.parent / f"eval_{path.stem}.json"
    record = {
        "checkpoint": str(path),
        "step": loaded.step,
        "bn_batches": args.bn_batches if name == "ema" else None,
        "device": str(device),
        "eval": result,
        "config": config_dict(cfg),
    }
    tl.write_json(out, record, indent=1)
    print(f"step {loaded.step}: {tl.eval_text(result)}\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
