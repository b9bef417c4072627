"""birthday_support: the birthday-paradox support estimate, validated on known supports, then applied to generators.

Claim C13 (Arora, Risteski, Zhang 2018): if batches of s samples hold a duplicate with probability about 1/2,
the distribution's support is about s^2. Under a uniform law on N atoms P(dup | s) = 1 - exp(-s(s-1)/2N);
`support.birthday_support_estimate` fits N to the whole curve (binomial likelihood, "fit"), beside the paper's
read-off rule N = s^2 at the first s with P >= 1/2 ("half").
1. Validation on exact duplicates: uniform laws on N atoms for N over four or five decades, and a non-uniform
   one (half the mass on 100 atoms, half on 100000). For a non-uniform law the test measures the collision
   support 1 / sum_i p_i^2 (the Renyi-2 effective support), here about 400, not the 100100 atoms: the test
   finds mass piled on few points, which is what it is for.
2. Generators (`evaluate.birthday_test`: near-duplicates in MNIST-classifier feature space, the threshold the
   1st percentile of nearest-neighbour distances between distinct MNIST test digits): a DCGAN (preset `dcgan`;
   at smoke and quick trained here for a few hundred steps, at trained and paper seed 0 of the DCGAN trajectory
   that dcgan_mnist, vanishing_gradients, saturation_at_scale and vae_vs_gan read, its last mark, 25 epochs),
   the same G fed from a bank of K latent codes (a deliberately collapsed generator whose support is K by
   construction), and the MNIST test set itself as the reference. The closest pairs of each are shown for a
   human to judge, as the paper did. This part is the study's one grid point (its record is committed).
3. The same validation at the sample sizes the Stacked MNIST generators are tested with (`discriminator_size`
   at trained scale: batch sizes 16 to 512, 50 trials), on uniform laws whose support those sizes can resolve,
   and the trained Stacked MNIST generators' estimates read from discriminator_size's committed point records
   (per D size and seed, beside each generator's mode count). Nothing is trained for that part here.
Every check records a control that must fail it (an estimate scored against the wrong truth, the collapsed
generator in the healthy one's place), or why it needs none.
Published numbers: CLAIMS.md states the rule (support about s^2) but no value; the paper's CelebA estimates
could not be checked with this project's search tool, so no published number is quoted here.
Scales: smoke (seconds, the test suite), quick (a few minutes on 2 CPU cores: a width-1/4 DCGAN, 800 G steps,
20 trials per batch size), trained (the trained trajectory's seed-0 DCGAN, width 1/4, 25 epochs at batch 64:
`estimate_minutes`, about 21 CPU-minutes when that trajectory has to be trained, 1 when another study left it; 50
trials per batch size), paper (the paper trajectory: width 1, batch 128, 25 epochs; larger batches; a GPU).
"""

import math
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from sandbox import plots
from sandbox.data import data_root, load_mnist, to_unit
from sandbox.evaluation import mnist as ev
from sandbox.evaluation.support import birthday_support_estimate, duplicate_probability
from sandbox.reporting import study
from sandbox.reporting.kit import point_key
from sandbox.reporting.workers import read_point
from sandbox.trainer import config as C
from sandbox.trainer.loop import make_run, run_steps
from studies import _mnist_runs as mr

CLAIM = (
    "The birthday-paradox test recovers the support of laws of known support (N = s^2 at P(dup) = 1/2, the "
    "collision support 1/sum p^2 for non-uniform laws) and separates a collapsed generator from a healthy one."
)
NEEDS_DATA = "mnist"  # tests/test_studies.py skips the study where MNIST is absent
CLAIMS = ["C13"]
LEVELS = {"C13": "T"}  # the estimator on known laws and MNIST generators; the Stacked MNIST part only reads records
SCALES = {
    "smoke": dict(
        uniform=[100, 1000],
        trials=40,
        heavy=(20, 2000),
        width=0.125,
        batch=16,
        steps=20,
        bank=50,
        sizes=[5, 10, 20, 40, 80],
        gen_trials=6,
        n_fid=200,
    ),
    "quick": dict(
        uniform=[100, 1000, 10000, 100000, 1000000],
        trials=100,
        heavy=(100, 100000),
        width=0.25,
        batch=64,
        steps=800,
        bank=300,
        sizes=[10, 25, 50, 100, 200, 400, 800],
        gen_trials=20,
        n_fid=2000,
    ),
    "trained": dict(  # the generator: seed 0 of the trained DCGAN trajectory (mr.DCGAN_TRAJECTORIES)
        uniform=[100, 1000, 10000, 100000, 1000000],
        trials=100,
        heavy=(100, 100000),
        trajectory="trained",
        bank=300,
        sizes=[10, 25, 50, 100, 200, 400, 800],
        gen_trials=50,
        n_fid=2000,
    ),
    "paper": dict(
        uniform=[100, 1000, 10000, 100000, 1000000],
        trials=200,
        heavy=(100, 100000),
        trajectory="paper",
        bank=1000,
        sizes=[25, 50, 100, 200, 400, 800, 1600, 3200],
        gen_trials=50,
        n_fid=10000,
    ),
}
# smoke's 20-step generator makes near-identical blobs, so it is as collapsed as the bank generator
SMOKE_MUST_PASS = False
SIZE_FACTORS = np.geomspace(0.25, 4.0, 8)  # batch sizes s = f sqrt(N): P(dup) from about 0.03 to 1
FIT_TOL = 0.2  # fitted N within 20% of the true N (100 trials x 8 sizes give a few % error)
HALF_FACTOR = 3.0  # the read-off rule within a factor 3 (set before any run). P = 1/2 at s^2 = 2 ln 2 N = 1.39 N,
# and the first grid size past it overshoots s by up to the grid step 16^(1/7) = 1.49: up to 1.39 x 2.21 = 3.1 N
HEAVY_TOL = 0.25  # non-uniform: estimate within 25% of 1/sum p^2
HEAVY_BELOW = 0.05  # ... and below 5% of its atom count (0.4% at quick scale: 400 of 100100)
BANK_RANGE = (0.5, 1.5)  # collapsed G: estimate within [K/2, 1.5 K]; near-duplicates between codes pull it down
N_PAIRS = 8
# The Stacked MNIST generators' test (discriminator_size, trained scale): the sizes and trials to validate at,
# and uniform laws those sizes resolve (s^2 from 256 to 262144; P(dup) at the extremes from 0.33 to 0.89).
STACKED = dict(sizes=[16, 32, 64, 128, 256, 512], trials=50, uniform=[300, 3000, 30000])
STACKED_FACTOR = 2.0  # issue 15: within 2x of the truth at the sizes used


def categorical_sampler(probs: torch.Tensor):
    """sample_fn(n, generator) -> (n, 1) atom ids drawn from `probs` (a discrete law of known support)."""
    return lambda n, g: torch.multinomial(probs, n, replacement=True, generator=g)[:, None]


def image_sampler(G: torch.nn.Module, z_dim: int, bank=None, chunk: int = 500):
    """sample_fn(n, generator) -> G(z), z ~ N(0, I), or z drawn uniformly from a bank of K codes; G in eval mode."""

    def sample(n: int, g: torch.Generator) -> torch.Tensor:
        if bank is None:
            z = torch.randn(n, z_dim, generator=g, device=g.device)
        else:
            z = bank[torch.randint(0, bank.shape[0], (n,), generator=g, device=g.device).to(bank.device)]
        return mr.eval_images(G, z, chunk)  # eval mode: the same code gives the same image

    return sample


def per_trial_sampler(images: torch.Tensor, trials: int, sizes):
    """sample_fn over a fixed image set whose n = trials * s rows are `trials` independent draws without replacement.

    `evaluate.dataset_sampler` chains permutations, so when trials * s exceeds the set size one batch straddles two
    permutations and may hold the same image twice: a false duplicate. Here each batch of s is its own permutation.
    """

    def sample(n: int, g: torch.Generator) -> torch.Tensor:
        if n not in {trials * s for s in sizes}:  # the probe and the closest-pairs batch: one draw
            return images[torch.randperm(images.shape[0], generator=g, device=g.device)[:n].cpu()]
        idx = [torch.randperm(images.shape[0], generator=g, device=g.device)[: n // trials] for _ in range(trials)]
        return images[torch.cat(idx).cpu()]

    return sample


def _estimates(sizes, probs) -> dict:
    """Both estimators; inf where no size saw a duplicate (only a lower bound is known), nan where every size did."""
    out = {}
    for method in ("fit", "half"):
        try:
            out[method] = birthday_support_estimate(sizes, probs, method)
        except ValueError:
            out[method] = math.inf if max(probs) < (0.5 if method == "half" else 1e-12) else math.nan
    return out


def validate(cfg: dict, seed: int) -> dict:
    """P(dup | s) and the estimates for uniform laws on N atoms and for the two-level non-uniform law."""
    g = torch.Generator().manual_seed(seed)
    rows = {}
    for N in cfg["uniform"]:
        sizes = sorted({max(2, int(round(f * math.sqrt(N)))) for f in SIZE_FACTORS})
        curve = duplicate_probability(categorical_sampler(torch.full((N,), 1.0 / N)), sizes, cfg["trials"], None, g)
        rows[f"uniform N={N}"] = dict(
            support=N, collision_support=N, sizes=curve.sizes, probs=curve.probs, **_estimates(curve.sizes, curve.probs)
        )
    few, many = cfg["heavy"]
    p = torch.cat([torch.full((few,), 0.5 / few), torch.full((many,), 0.5 / many)]).double()
    n_eff = float(1.0 / (p**2).sum())
    sizes = sorted({max(2, int(round(f * math.sqrt(n_eff)))) for f in SIZE_FACTORS})
    curve = duplicate_probability(categorical_sampler(p), sizes, cfg["trials"], None, g)
    rows["half mass on few atoms"] = dict(
        support=few + many,
        collision_support=n_eff,
        sizes=curve.sizes,
        probs=curve.probs,
        **_estimates(curve.sizes, curve.probs),
    )
    return rows


def validate_stacked(seed: int) -> dict:
    """Uniform laws and the two-level law, tested at the Stacked MNIST generators' batch sizes and trials."""
    g = torch.Generator().manual_seed(seed + 11)
    laws = {f"uniform N={n}": torch.full((n,), 1.0 / n) for n in STACKED["uniform"]}
    laws["half mass on 100 atoms, half on 100000"] = torch.cat(
        [torch.full((100,), 0.5 / 100), torch.full((100000,), 0.5 / 100000)]
    ).double()
    rows = {}
    for name, p in laws.items():
        curve = duplicate_probability(categorical_sampler(p), STACKED["sizes"], STACKED["trials"], None, g)
        rows[name] = dict(
            support=len(p),
            collision_support=float(1.0 / (p.double() ** 2).sum()),
            sizes=curve.sizes,
            probs=curve.probs,
            **_estimates(curve.sizes, curve.probs),
        )
    return rows


def stacked_generators(records=None) -> dict:
    """Per D size: each trained Stacked MNIST generator's support estimate and final mode count, from the
    committed discriminator_size point records at trained scale (none yet: an empty list per D size)."""
    folder = Path(records or study.FIGURES / "records") / "discriminator_size" / "trained"
    out = {}
    for path in sorted(folder.glob("*.json")):
        rec = read_point(path)
        if rec is None or rec.get("scale") != "trained":
            continue
        r = rec["result"]
        final = r["curve"][-1] if r["curve"] else {}
        out.setdefault(str(r["d_width"]), []).append(
            dict(
                seed=rec["point"]["seed"],
                support=r["support"],
                note=r["support_note"],
                modes=final.get("modes"),
                reverse_kl=final.get("reverse_kl"),
                step=final.get("step"),
                code_version=rec["code_version"],
            )
        )
    return out


# the three sources' birthday tests (50 trials x 7 sizes) and the FID: 0.90 CPU-min in the record of 2026-12-07, the
# whole study 55 s on the wall (the first figure: 2.0)
EVAL_MINUTES = 1.0


# The shared DCGAN trajectory: records hold its spec as settings; --list counts its CPU-minutes once over studies.
settings, shared_minutes = mr.trajectory_hooks(SCALES, seeds=[0])


def points(scale: str) -> list:
    """One grid point: the generator part (seed 0 of the scale's DCGAN); the validations run in `run`."""
    return [dict(seed=0)]


def estimate_minutes(scale: str) -> float:
    """CPU-minutes on one core: one DCGAN trajectory seed (0 when another study left it) and the tests."""
    cfg = SCALES[scale]
    if "trajectory" not in cfg:
        return cfg["steps"] / mr.TRAJECTORY_SPEED["trained"] / 60 + EVAL_MINUTES
    return mr.trajectory_minutes(cfg["trajectory"]) / mr.DCGAN_TRAJECTORIES[cfg["trajectory"]]["seeds"] + EVAL_MINUTES


def run_point(point: dict, scale: str, seed: int, device=None, workdir=None) -> dict:
    """The generator part for one seed: the birthday test on the DCGAN, on it fed from K codes, on MNIST test."""
    clock = time.process_time()
    device = torch.device(device or "cpu")
    cfg = SCALES[scale]
    train_seed = mr.run_seed(seed, int(point["seed"]))
    G = dcgan_generator(cfg, train_seed, device, workdir)
    return dict(generators(G, cfg, train_seed, device), cpu_s=time.process_time() - clock)


def dcgan_generator(cfg: dict, seed: int, device, workdir=None) -> torch.nn.Module:
    """The DCGAN generator the test runs on: trained here (smoke, quick) or the trajectory's at its last mark."""
    if "trajectory" in cfg:
        return mr.dcgan_trajectory(mr.DCGAN_TRAJECTORIES[cfg["trajectory"]], seed, device, workdir).run.G
    layer = dict(g_width=cfg["width"], d_width=cfg["width"], batch=cfg["batch"], steps=cfg["steps"], seed=seed)
    run = make_run(mr.mnist_config(C.preset("dcgan"), layer, device=device))
    run_steps(run, cfg["steps"])
    return run.G


def generator_setting(cfg: dict) -> str:
    """The generator's width, batch and G steps, for the figure and the headline rows."""
    if "trajectory" in cfg:
        spec = mr.DCGAN_TRAJECTORIES[cfg["trajectory"]]
        steps, what = max(mr.trajectory_steps(spec)), f"seed 0 of the {cfg['trajectory']} DCGAN trajectory, "
        return f"{what}width {spec['width']}, batch {spec['batch']}, {steps} G steps ({max(spec['marks'])} epochs)"
    return f"DCGAN width {cfg['width']}, batch {cfg['batch']}, {cfg['steps']} G steps"


def source_names(bank: int) -> tuple:
    """The three sources of the generator part, in this order: healthy G, G on a bank of K codes, MNIST test set.
    Read them by name: a record's JSON stores its keys sorted, so their order there is not this one."""
    return ("DCGAN, z ~ N(0, I)", f"same G, z from {bank} codes", "MNIST test set")


def generators(G: torch.nn.Module, cfg: dict, seed: int, device) -> dict:
    """The birthday test on G (z ~ N(0, I)), on G fed from a bank of K codes, and on the MNIST test set."""
    root = data_root()
    z_dim = G.z_dim
    healthy = image_sampler(G, z_dim)
    bank = torch.randn(cfg["bank"], z_dim, generator=torch.Generator().manual_seed(seed + 7)).to(device)
    fid = ev.fid(
        ev.reference_stats("test", root, device),
        ev.digit_features(healthy(cfg["n_fid"], torch.Generator(device=device).manual_seed(seed)), device),
    )
    test_set = per_trial_sampler(to_unit(load_mnist("test", root)[0]), cfg["gen_trials"], cfg["sizes"])
    sources = dict(zip(source_names(cfg["bank"]), (healthy, image_sampler(G, z_dim, bank), test_set)))
    out = {}
    for name, fn in sources.items():
        r = ev.birthday_test(
            fn, cfg["sizes"], cfg["gen_trials"], seed=seed, data_dir=root, device=device, n_pairs=N_PAIRS
        )
        out[name] = dict(
            sizes=r.curve.sizes,
            probs=r.curve.probs,
            threshold=r.threshold,
            note=r.note,
            pair_distances=r.pairs.distances,
            pairs=study.pack_images(r.pair_images),
            **_estimates(r.curve.sizes, r.curve.probs),
        )
    return {"sources": out, "fid": fid, "bank": cfg["bank"]}


def run(scale: str = "quick", seed: int = 0, device=None, results=None) -> study.Result:
    """Validation on known supports, then the generators' point record; checks computed from the estimates."""
    cfg = SCALES[scale]
    device = torch.device(device or "cpu")
    val = validate(cfg, seed)
    gen = (results or {})[point_key(points(scale)[0])]
    at_stacked = validate_stacked(seed)
    stacked = stacked_generators()
    gen = dict(gen, sources={n: gen["sources"][n] for n in source_names(gen["bank"])})
    healthy, banked, real = gen["sources"].values()
    uniform = [r for k, r in val.items() if k.startswith("uniform")]
    heavy = val["half mass on few atoms"]
    slope = float(np.polyfit(np.log([r["support"] for r in uniform]), np.log([r["fit"] for r in uniform]), 1)[0])
    setting = (
        f"{scale} scale: MNIST, {generator_setting(cfg)}; batch sizes up to {max(cfg['sizes'])}, "
        f"{cfg['gen_trials']} trials; duplicates in MNIST-classifier feature space"
    )
    paper = (
        "Arora, Risteski, Zhang 2018: support about s^2 where P(dup) = 1/2; their GAN estimates (CelebA) are "
        "not quoted: not found in CLAIMS.md or by search"
    )
    data = {
        "validation": val,
        "generators": gen,
        "validation_at_stacked_sizes": at_stacked,
        "stacked_settings": STACKED,
        "stacked_generators": stacked,
        "stacked_generators_note": (
            "from figures/records/discriminator_size/trained: "
            + ", ".join(f"D = {w} G: {len(v)} generator(s)" for w, v in stacked.items())
            if stacked
            else "no trained discriminator_size records are committed yet (python -m studies.discriminator_size "
            "--scale trained); the estimator is validated at their sample sizes above"
        ),
        "log_log_slope": slope,
        "thresholds": dict(fit_tol=FIT_TOL, half_factor=HALF_FACTOR, heavy_tol=HEAVY_TOL, bank_range=BANK_RANGE),
        "headline": [
            {
                "claim": "C13",
                "quantity": f"support estimate, uniform law on N={cfg['uniform'][-2]} atoms",
                "ours": val[f"uniform N={cfg['uniform'][-2]}"]["fit"],
                "ours_spread": None,
                "published": None,
                "source": f"exact: N = {cfg['uniform'][-2]} by construction",
                "setting_difference": f"{cfg['trials']} trials per batch size, 8 sizes",
            },
            {
                "claim": "C13",
                "quantity": f"support estimate, collapsed G ({cfg['bank']} latent codes)",
                "ours": banked["fit"],
                "ours_spread": None,
                "published": None,
                "source": f"exact: at most {cfg['bank']} distinct images by construction",
                "setting_difference": setting,
            },
            {
                "claim": "C13",
                "quantity": "support estimate, trained DCGAN on MNIST",
                "ours": healthy["fit"],
                "ours_spread": None,
                "published": None,
                "source": paper,
                "setting_difference": setting,
            },
            {
                "claim": "C13",
                "quantity": "support estimate, MNIST test set (10000 images, near-duplicates)",
                "ours": real["fit"],
                "ours_spread": None,
                "published": None,
                "source": "real-data reference",
                "setting_difference": setting,
            },
        ],
    }
    data["headline"] += stacked_headline(stacked)
    checks, controls = make_checks(uniform, heavy, slope, healthy, banked, cfg["bank"], at_stacked)
    config = dict(
        cfg,
        seed=seed,
        preset="dcgan",
        generator=generator_setting(cfg),
        estimate_minutes=estimate_minutes(scale),
        scale_name=scale,
        device=study.describe_device(device),
    )
    return study.Result(config=config, data=data, checks=checks, controls=controls)


STACKED_FLOOR = STACKED["sizes"][0] ** 2  # duplicates already at the smallest batch size: the support is below s^2


def stacked_headline(stacked: dict) -> list:
    """Per D size, every trained generator's support estimate (or "< 256" where even 16 samples hold a duplicate)
    beside its mode count, for the ledger."""
    rows = []
    for width, gens in sorted(stacked.items()):
        gens = sorted(gens, key=lambda r: r["seed"])
        text = lambda r: f"{r['support']:,.0f}" if np.isfinite(r["support"]) else f"< {STACKED_FLOOR}"  # noqa: E731
        rows.append(
            {
                "claim": "C13",
                "quantity": f"birthday support of the trained Stacked MNIST generators, D = {width} G, per seed",
                "ours": ", ".join(text(r) for r in gens),
                "ours_spread": None,
                "published": None,
                "source": "discriminator_size's trained point records; modes covered of 1000 per seed: "
                + ", ".join(str(r["modes"]) for r in gens),
                "setting_difference": f"{STACKED['trials']} trials at batch sizes {STACKED['sizes']}, the "
                "estimator validated within 2x at these sizes; the generators trained 20,000 steps, not 500k",
            }
        )
    return rows


def make_checks(uniform, heavy, slope, healthy, banked, bank, at_stacked) -> tuple:
    """The checks, each with the same test applied to a control that must fail it."""
    fit_ok = lambda est, truth: abs(est / truth - 1) <= FIT_TOL  # noqa: E731
    half_ok = lambda est, truth: 1 / HALF_FACTOR <= est / truth <= HALF_FACTOR  # noqa: E731
    near_k = lambda est: BANK_RANGE[0] <= est / bank <= BANK_RANGE[1]  # noqa: E731
    within_2x = lambda est, truth: 1 / STACKED_FACTOR <= est / truth <= STACKED_FACTOR  # noqa: E731
    stacked_uniform = [r for k, r in at_stacked.items() if k.startswith("uniform")]
    stacked_heavy = next(r for k, r in at_stacked.items() if not k.startswith("uniform"))
    wrong = "the non-uniform law's estimate scored against its atom count, as a support-blind estimator would be"
    checks = {
        "uniform_support_fit_within_20_percent": all(fit_ok(r["fit"], r["support"]) for r in uniform),
        "paper_half_rule_within_factor_3": all(half_ok(r["half"], r["support"]) for r in uniform),
        "batch_at_half_grows_as_sqrt_support": abs(slope - 1.0) <= 0.1,
        "nonuniform_estimate_is_collision_support": abs(heavy["fit"] / heavy["collision_support"] - 1) <= HEAVY_TOL,
        "nonuniform_estimate_far_below_atom_count": heavy["fit"] < HEAVY_BELOW * heavy["support"],
        "collapsed_generator_support_near_k": near_k(banked["fit"]),
        "healthy_generator_support_above_10x_collapsed": healthy["fit"] > 10 * banked["fit"],
        "estimate_within_2x_at_the_stacked_mnist_sizes": all(
            within_2x(r["fit"], r["support"]) for r in stacked_uniform
        ),
    }
    largest = uniform[-1]
    controls = {
        "uniform_support_fit_within_20_percent": dict(
            control=wrong, control_passes=bool(fit_ok(heavy["fit"], heavy["support"]))
        ),
        "paper_half_rule_within_factor_3": dict(
            control=wrong + " (the read-off rule)", control_passes=bool(half_ok(heavy["half"], heavy["support"]))
        ),
        "batch_at_half_grows_as_sqrt_support": dict(
            no_control="the slope is a summary of the uniform fits, each checked against its true N (the first "
            "check and its control); a slope of 1 is the s ~ sqrt(N) law itself"
        ),
        "nonuniform_estimate_is_collision_support": dict(
            control=f"the largest uniform law's estimate (N = {largest['support']}) scored against the non-uniform "
            "law's 1/sum p^2",
            control_passes=bool(abs(largest["fit"] / heavy["collision_support"] - 1) <= HEAVY_TOL),
        ),
        "nonuniform_estimate_far_below_atom_count": dict(
            control=f"the largest uniform law (N = {largest['support']}): its estimate against its own atom count",
            control_passes=bool(largest["fit"] < HEAVY_BELOW * largest["support"]),
        ),
        "collapsed_generator_support_near_k": dict(
            control="the healthy generator (z ~ N(0, I)) scored against the bank size K",
            control_passes=bool(near_k(healthy["fit"])),
        ),
        "healthy_generator_support_above_10x_collapsed": dict(
            control="the collapsed generator in the healthy one's place",
            control_passes=bool(banked["fit"] > 10 * banked["fit"]),
        ),
        "estimate_within_2x_at_the_stacked_mnist_sizes": dict(
            control=wrong + ", at the same sizes",
            control_passes=bool(within_2x(stacked_heavy["fit"], stacked_heavy["support"])),
        ),
    }
    return checks, controls


def _fmt(n: float) -> str:
    if math.isinf(n):
        return "above max s^2 (no duplicates)"
    return "below min s^2 (duplicates at every s)" if math.isnan(n) else f"{n:,.0f}"


def plot(result: study.Result):
    """Validation curves and estimates; generator curves; the closest pairs of each source for a human to judge."""
    d, cfg = result.data, result.config
    fig = plt.figure(figsize=(17, 13))
    grid = fig.add_gridspec(3, 3, height_ratios=[1.1, 0.55, 1.1], hspace=0.45, wspace=0.25)
    ax = fig.add_subplot(grid[0, 0])
    for i, (name, r) in enumerate(d["validation"].items()):
        s = np.asarray(r["sizes"], dtype=float)
        (line,) = ax.plot(s, r["probs"], "o", ms=4, color=f"C{i}", label=f"{name} (fit {_fmt(r['fit'])})")
        ss = np.geomspace(s.min(), s.max(), 100)
        if np.isfinite(r["fit"]):
            ax.plot(ss, -np.expm1(-ss * (ss - 1) / (2 * r["fit"])), "-", lw=1, color=line.get_color())
    ax.axhline(0.5, color="k", ls=":", lw=1)
    ax.set_xscale("log"), ax.set_xlabel("batch size s"), ax.set_ylabel("P(batch holds a duplicate)")
    ax.set_title("known supports: points measured,\nlines 1 - exp(-s(s-1)/2N) at the fitted N")
    ax.legend(fontsize=7)
    ax = fig.add_subplot(grid[0, 1])
    val = d["validation"]
    uni = [r for k, r in val.items() if k.startswith("uniform")]
    true = np.array([r["support"] for r in uni], dtype=float)
    ax.loglog(true, [r["fit"] for r in uni], "o", label="uniform: fit")
    ax.loglog(true, [r["half"] for r in uni], "s", mfc="none", label="uniform: paper's rule s^2 at P >= 1/2")
    heavy = val["half mass on few atoms"]
    ax.loglog([heavy["support"]], [heavy["fit"]], "r^", ms=9, label="non-uniform, vs its atom count")
    ax.loglog([heavy["collision_support"]], [heavy["fit"]], "r*", ms=11, label="non-uniform, vs 1/sum p^2")
    lim = [min(true.min(), heavy["fit"]) / 2, max(true.max(), heavy["support"]) * 2]
    ax.loglog(lim, lim, "k--", lw=1, label="estimate = truth")
    ax.set_xlabel("true support N"), ax.set_ylabel("estimated support")
    ax.set_title(f"estimate vs truth (log-log slope {d['log_log_slope']:.3f})")
    ax.legend(fontsize=7)
    ax = fig.add_subplot(grid[0, 2])
    gens = d["generators"]["sources"]
    for i, (name, r) in enumerate(gens.items()):
        s = np.asarray(r["sizes"], dtype=float)
        (line,) = ax.plot(s, r["probs"], "o-", ms=4, color=f"C{i}", label=f"{name}: {_fmt(r['fit'])}")
    ax.axhline(0.5, color="k", ls=":", lw=1)
    ax.set_xscale("log"), ax.set_xlabel("batch size s"), ax.set_ylabel("P(batch holds a near-duplicate)")
    ax.set_xticks(s, [str(int(v)) for v in s], minor=False)
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.set_title(
        f"generators (DCGAN FID {d['generators']['fid']:.1f}, MNIST-classifier features)\n"
        f"duplicate: feature distance < {next(iter(gens.values()))['threshold']:.2f}"
    )
    ax.legend(fontsize=7, loc="upper left")
    for j, (name, r) in enumerate(gens.items()):
        ax = fig.add_subplot(grid[1, j])
        dist = ", ".join(f"{v:.2f}" for v in r["pair_distances"][:4])
        plots.show_grid(
            ax,
            plots.pair_grid(study.unpack_images(r["pairs"])),
            f"{name}: closest pairs in a batch of {max(r['sizes'])}\n(columns; distances {dist}, ...)",
        )
    _stacked_panels(fig.add_subplot(grid[2, 0]), fig.add_subplot(grid[2, 1]), d)
    fig.suptitle(
        f"C13 birthday-paradox support test (Arora, Risteski, Zhang 2018): {cfg['scale_name']} scale, "
        f"{cfg['device']}" + (" — not the paper's full run" if cfg["scale_name"] != "paper" else ""),
        fontsize=13,
    )
    return fig


def _stacked_panels(ax_val, ax_gen, d: dict) -> None:
    """The estimator at the Stacked MNIST sizes on known laws; the trained generators' estimates vs their modes."""
    st = d["stacked_settings"]
    for i, (name, r) in enumerate(d["validation_at_stacked_sizes"].items()):
        ax_val.plot(r["sizes"], r["probs"], "o-", ms=4, color=f"C{i}", label=f"{name}: fit {_fmt(r['fit'])}")
    ax_val.axhline(0.5, color="k", ls=":", lw=1)
    ax_val.set_xscale("log"), ax_val.set_xlabel("batch size s"), ax_val.set_ylabel("P(batch holds a duplicate)")
    ax_val.set_xticks(st["sizes"], [str(v) for v in st["sizes"]], minor=False)
    ax_val.xaxis.set_minor_formatter(plt.NullFormatter())
    ax_val.set_title(f"known laws at the Stacked MNIST test's sizes\n({st['trials']} trials each)")
    ax_val.legend(fontsize=7)
    gens = d["stacked_generators"]
    if not gens:
        ax_gen.axis("off")
        ax_gen.text(0.02, 0.5, "Stacked MNIST generators:\n" + d["stacked_generators_note"], fontsize=9, wrap=True)
        return
    for i, (width, rows) in enumerate(sorted(gens.items())):
        seen = [r for r in rows if np.isfinite(r["support"])]
        below = [r for r in rows if not np.isfinite(r["support"])]
        if seen:
            ax_gen.plot(
                [r["modes"] for r in seen],
                [r["support"] for r in seen],
                "o",
                color=f"C{i}",
                label=f"D = {width} G ({len(seen)} of {len(rows)} seeds)",
            )
        if below:  # duplicates at every batch size: the support is below the smallest size squared
            ax_gen.plot(
                [r["modes"] for r in below],
                [STACKED_FLOOR] * len(below),
                "v",
                color=f"C{i}",
                ms=9,
                label=f"D = {width} G, below {STACKED_FLOOR} ({len(below)} of {len(rows)} seeds)",
            )
    ax_gen.set_xscale("symlog", linthresh=1), ax_gen.set_yscale("log")
    ax_gen.set_xlabel("modes covered (of 1000)"), ax_gen.set_ylabel("birthday support estimate")
    ax_gen.set_title("trained Stacked MNIST generators\n(discriminator_size's point records)")
    ax_gen.legend(fontsize=7)


def main(argv=None) -> dict:
    return study.main_of(__name__, argv, default_scale="quick")


if __name__ == "__main__":
    main()
