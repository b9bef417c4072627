"""two_sample_tests: a GAN discriminator is a learned two-sample test; MMD and classifier tests are calibrated.

Claim C17 (Isachenko lecture; Lopez-Paz and Oquab 2017, C2ST; Gretton et al. 2012, MMD): a GAN's discriminator is a
learned two-sample statistic; classifier and MMD two-sample tests are calibrated (type-I error about alpha) and gain
power with separation. The image-level evidence (real MNIST features) is `metric_validation`.
Toy version: n points per side from p = N(0, I_2) and q, where q shifts the mean along e1 by delta ("shift") or
scales p by s ("scale"), over repeated trials. Three tests at alpha = 0.05: the MMD permutation test and the linear
C2ST of `sandbox.evaluation.twosample`, and the GAN discriminator as a test: `nets.mlp_discriminator` (2 hidden
layers of 32 ReLU units) trained by the registered GAN D loss (`objectives`, E softplus(-D(x)) + E softplus(D(y)))
with Adam on half of each sample (every trial's D at once through torch.func.vmap, each trained exactly as it would
be alone), its held-out accuracy (logit > 0 says "p") scored against Binomial(n, 1/2) as the
C2ST scores its own. Its held-out D loss L also bounds the JSD from below, JSD >= (log 4 - L) / 2 for any D
(Goodfellow et al. 2014, Thm. 1: the bound is reached at D*), in nats, set beside the true JSD by quadrature.
Checks, each with a control that must fail it: every test's rejections under the null (delta = 0, s = 1) are
consistent with alpha (two-sided binomial p >= 0.01; controls: the largest separation, and for the discriminator its
accuracy on its own training half, the classic mistake); every test's power rises to >= 0.8 on the largest shift
(control: the same test with the two samples' labels shuffled); the linear C2ST is blind to a scale change that the
discriminator and MMD see (control: the shift, which a line does see); the held-out JSD estimate stays below the
true JSD (control: the in-sample estimate).
Scales: smoke (seconds, the test suite), quick (about a minute of CPU), paper (the committed figure: 400 trials per
separation, a few CPU-minutes with 2 workers).
"""

import copy
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.stats import binomtest, norm, rayleigh

from sandbox.evaluation import twosample
from sandbox.nets import mlp_discriminator
from sandbox.objectives import get_objective
from sandbox.reporting import kit, study
from sandbox.theory import gaussian1d as g1

CLAIM = (
    "On Gaussians in R^2 the MMD permutation test, the linear C2ST and a GAN discriminator read as a held-out "
    "classifier test are calibrated under the null and gain power with separation; the linear test cannot see a "
    "scale change the discriminator sees; the held-out D loss bounds the JSD from below."
)
CLAIMS = ["C17"]
LEVELS = {"C17": "T"}
SMOKE_MUST_PASS = False  # 10 trials per separation: too few for a calibration or power statement
ALPHA = 0.05
TESTS = ("mmd", "c2st", "gan_d")
KINDS = {"shift": [0.0, 0.2, 0.4, 0.6, 0.8], "scale": [1.0, 1.15, 1.3, 1.45, 1.6]}  # delta, or s
SCALES = {
    "smoke": dict(trials=10, n=100, d_steps=50, permutations=50),
    "quick": dict(trials=100, n=400, d_steps=200, permutations=200),
    "paper": dict(trials=400, n=400, d_steps=200, permutations=200),
}
D_HIDDEN, D_LR = 32, 1e-3  # a small D, Adam 1e-3 full-batch on its 2 x n/2 training points: ours, not a paper's
NULL_P_MIN = 0.01  # rejections at the null consistent with Binomial(trials, alpha) at two-sided level 0.01
POWER_MIN = 0.8  # "gains power": at least 80% rejections at the largest shift
BLIND_MAX = 2 * ALPHA  # "blind": at most twice the null rate at the largest scale
SEE_MIN = 0.8
JSD_SE = 3.0  # the held-out estimate may exceed the true JSD by at most 3 standard errors of its trial mean


def settings(scale: str) -> dict:
    """What each point record holds as its settings: the scale's SCALES entry and the GAN discriminator's width and
    step size, so a record made with another D is stale, not reused."""
    return dict(SCALES[scale], constants=dict(d_hidden=D_HIDDEN, d_lr=D_LR))


def points(scale: str) -> list:
    """One point per (kind, separation); the null (delta 0, s 1) is the first of each kind."""
    return [dict(kind=k, sep=v) for k, seps in KINDS.items() for v in seps]


def samples(kind: str, sep: float, n: int, g: torch.Generator) -> tuple:
    """(x ~ N(0, I_2), y ~ q): q = N(sep e1, I_2) for a shift, N(0, sep^2 I_2) for a scale."""
    x = torch.randn(n, 2, generator=g, dtype=torch.float64)
    y = torch.randn(n, 2, generator=g, dtype=torch.float64)
    if kind == "shift":
        return x, y + torch.tensor([sep, 0.0], dtype=torch.float64)
    return x, y * sep


def discriminator_tests(xs, ys, steps: int, g: torch.Generator) -> list:
    """Per trial (xs, ys: (R, n, 2)), train the GAN's D on half of x (real) and y (fake), all R at once; per trial
    the held-out and in-sample accuracy, binomial p-value and JSD lower bound (log 4 - L) / 2, in nats."""
    half, xs, ys = xs.shape[1] // 2, xs.float(), ys.float()  # float32, as networks train (2.2x float64's speed)
    models = [mlp_discriminator(2, D_HIDDEN, generator=g) for _ in range(xs.shape[0])]
    params, buffers = torch.func.stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    D = torch.vmap(lambda p, b, x: torch.func.functional_call(base, (p, b), (x,)))  # R independent nets
    obj = get_objective("nonsaturating")  # the D loss every element-wise GAN objective here shares
    # per trial the batch-mean D loss, summed over trials: each net gets exactly its own gradient, and Adam works
    # element-wise, so this is R separate trainings (a test holds it to one trained alone)
    loss = lambda tr, tf: obj.d_real(tr).mean(-1) + obj.d_fake(tf).mean(-1)  # noqa: E731
    opt = torch.optim.Adam(list(params.values()), lr=D_LR)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss(D(params, buffers, xs[:, :half]), D(params, buffers, ys[:, :half])).sum().backward()
        opt.step()
    out = [{} for _ in range(xs.shape[0])]
    with torch.no_grad():
        for part, sl in (("held_out", slice(half, None)), ("in_sample", slice(None, half))):
            ta, tb = D(params, buffers, xs[:, sl]), D(params, buffers, ys[:, sl])
            correct = ((ta > 0).sum(1) + (tb <= 0).sum(1)).tolist()
            jsd = ((math.log(4) - loss(ta, tb)) / 2).tolist()
            m = ta.shape[1] + tb.shape[1]
            for i, (c, j) in enumerate(zip(correct, jsd)):
                p = float(binomtest(c, m, 0.5, alternative="greater").pvalue)
                out[i][part] = dict(accuracy=c / m, p=p, jsd=j)
    return out


def run_point(point: dict, scale: str, seed: int, device=None) -> dict:
    """`trials` independent draws at one separation: each test's p-value, the D's accuracies and JSD estimates."""
    clock, s = time.process_time(), SCALES[scale]
    g = torch.Generator().manual_seed(
        seed * 1_000_003 + list(KINDS).index(point["kind"]) * 101 + round(point["sep"] * 100)
    )
    shuffle = point == dict(kind="shift", sep=KINDS["shift"][-1])  # the power checks' control is read here only
    tags = ("", "_shuffled") if shuffle else ("",)
    pairs = {tag: ([], []) for tag in tags}
    for _ in range(s["trials"]):
        x, y = samples(point["kind"], point["sep"], s["n"], g)
        pooled = torch.cat([x, y])[torch.randperm(2 * s["n"], generator=g)]  # labels shuffled: a null at any sep
        for tag, (a, b) in (("", (x, y)), ("_shuffled", (pooled[: s["n"]], pooled[s["n"] :]))):
            if tag in pairs:
                pairs[tag][0].append(a), pairs[tag][1].append(b)
    rows, d_rows = {}, None
    for tag, (xs, ys) in pairs.items():
        rows["mmd" + tag] = [
            twosample.mmd_permutation_test(a, b, s["permutations"], generator=g).p_value for a, b in zip(xs, ys)
        ]
        rows["c2st" + tag] = [twosample.c2st(a, b, generator=g).p_value for a, b in zip(xs, ys)]
        d = discriminator_tests(torch.stack(xs), torch.stack(ys), s["d_steps"], g)
        rows["gan_d" + tag] = [r["held_out"]["p"] for r in d]
        d_rows = d if not tag else d_rows
    return dict(
        p_values=rows,
        d_in_sample_p=[r["in_sample"]["p"] for r in d_rows],
        jsd_held_out=[r["held_out"]["jsd"] for r in d_rows],
        jsd_in_sample=[r["in_sample"]["jsd"] for r in d_rows],
        accuracy_held_out=[r["held_out"]["accuracy"] for r in d_rows],
        true_jsd=true_jsd(point["kind"], point["sep"]),
        cpu_s=time.process_time() - clock,
    )


def true_jsd(kind: str, sep: float) -> float:
    """JSD(p, q) in nats by quadrature on the one coordinate that tells them apart: x1 ~ N(0, 1) against
    N(delta, 1) for a shift, the radius ~ Rayleigh(1) against Rayleigh(s) for a scale (the angle is uniform in both)."""
    if kind == "shift":
        grid = g1.grid(-15.0, 15.0 + sep, 6001)
        p, q = norm.pdf(grid.x.numpy()), norm.pdf(grid.x.numpy(), loc=sep)
    else:
        grid = g1.grid(0.0, 15.0 * sep, 6001)
        p, q = rayleigh.pdf(grid.x.numpy()), rayleigh.pdf(grid.x.numpy(), scale=sep)
    return float(g1.quadrature_divergence("jsd", torch.from_numpy(p), torch.from_numpy(q), grid))


# ------------------------------------------------------------------------------------------------- checks
def rejection(pvals) -> float:
    return float(np.mean(np.asarray(pvals) < ALPHA))


def null_consistent(pvals) -> bool:
    """Rejections at alpha consistent with Binomial(trials, alpha): two-sided binomial p >= NULL_P_MIN."""
    k = int(np.sum(np.asarray(pvals) < ALPHA))
    return bool(binomtest(k, len(pvals), ALPHA).pvalue >= NULL_P_MIN)


def summarise(results: dict) -> dict:
    """Per kind and test: rejection rates over separations; JSD means with standard errors."""
    out = {}
    for kind, seps in KINDS.items():
        recs = [results[kit.point_key(dict(kind=kind, sep=v))] for v in seps]
        out[kind] = dict(
            seps=seps,
            power={t: [rejection(r["p_values"][t]) for r in recs] for t in TESTS},
            d_in_sample_power=[rejection(r["d_in_sample_p"]) for r in recs],
            shuffled_power={t: rejection(recs[-1]["p_values"][t + "_shuffled"]) for t in TESTS}
            if kind == "shift"
            else None,
            jsd_true=[r["true_jsd"] for r in recs],
            jsd_held_out=[float(np.mean(r["jsd_held_out"])) for r in recs],
            jsd_in_sample=[float(np.mean(r["jsd_in_sample"])) for r in recs],
            jsd_se=[float(np.std(r["jsd_held_out"], ddof=1) / math.sqrt(len(r["jsd_held_out"]))) for r in recs],
        )
    return out


def make_checks(results: dict, summary: dict) -> tuple:
    """The calibration, power, blindness and JSD-bound checks, each with its control."""
    null = {t: [] for t in TESTS}
    for kind, seps in KINDS.items():
        rec = results[kit.point_key(dict(kind=kind, sep=seps[0]))]
        for t in TESTS:
            null[t] += rec["p_values"][t]
    top_shift = results[kit.point_key(dict(kind="shift", sep=KINDS["shift"][-1]))]
    null_d_in_sample = sum(
        (results[kit.point_key(dict(kind=k, sep=s[0]))]["d_in_sample_p"] for k, s in KINDS.items()), []
    )
    checks, controls = {}, {}
    for t in TESTS:
        name = f"{t}_calibrated_under_the_null"
        checks[name] = null_consistent(null[t])
        if t == "gan_d":
            controls[name] = dict(
                control="the discriminator's accuracy on its own training half, scored the same way",
                control_passes=null_consistent(null_d_in_sample),
            )
        else:
            controls[name] = dict(
                control=f"the same test at the largest shift, delta = {KINDS['shift'][-1]}",
                control_passes=null_consistent(top_shift["p_values"][t]),
            )
        name = f"{t}_power_reaches_{POWER_MIN:g}_on_the_largest_shift"
        checks[name] = rejection(top_shift["p_values"][t]) >= POWER_MIN
        controls[name] = dict(
            control="the same test with the two samples' labels shuffled (a null at that shift)",
            control_passes=rejection(top_shift["p_values"][t + "_shuffled"]) >= POWER_MIN,
        )
    sc, sh = summary["scale"]["power"], summary["shift"]["power"]
    blind = lambda power: power["c2st"][-1] <= BLIND_MAX and min(power["gan_d"][-1], power["mmd"][-1]) >= SEE_MIN  # noqa: E731
    checks["linear_c2st_blind_to_scale_where_gan_d_and_mmd_see_it"] = blind(sc)
    controls["linear_c2st_blind_to_scale_where_gan_d_and_mmd_see_it"] = dict(
        control="the largest shift in place of the largest scale (a line separates a shift)", control_passes=blind(sh)
    )
    below = lambda est: all(  # noqa: E731
        e <= j + JSD_SE * se
        for k in KINDS
        for e, j, se in zip(summary[k][est], summary[k]["jsd_true"], summary[k]["jsd_se"])
    )
    checks["held_out_d_loss_jsd_estimate_below_the_true_jsd"] = below("jsd_held_out")
    controls["held_out_d_loss_jsd_estimate_below_the_true_jsd"] = dict(
        control="the same estimate on the discriminator's training half", control_passes=below("jsd_in_sample")
    )
    return checks, controls


def headline(summary: dict, scale: str) -> list:
    rows = []
    for t in TESTS:
        rows.append(
            kit.Headline(
                "C17",
                f"{t} rejection rate at alpha = 0.05: null / largest shift / largest scale",
                f"{summary['shift']['power'][t][0]:.3f} / {summary['shift']['power'][t][-1]:.3f} / "
                f"{summary['scale']['power'][t][-1]:.3f}",
                None,
                None,
                "Lopez-Paz and Oquab 2017; Gretton et al. 2012 (calibration: alpha)",
                f"{SCALES[scale]['trials']} trials, n = {SCALES[scale]['n']} per side, N(0, I_2) against a shift "
                "or a scale",
            )._asdict()
        )
    return rows


def run(scale: str = "paper", seed: int = 0, device=None, results=None) -> study.Result:
    """Every separation's trials, the rejection curves and JSD bounds, the checks with their controls."""
    results = study.run_grid(points(scale), lambda k: run_point(kit.parse_point(k), scale, seed), results)
    summary = summarise(results)
    checks, controls = make_checks(results, summary)
    cfg = dict(
        SCALES[scale],
        seed=seed,
        alpha=ALPHA,
        kinds=KINDS,
        d_hidden=D_HIDDEN,
        d_lr=D_LR,
        thresholds=dict(
            null_p_min=NULL_P_MIN, power_min=POWER_MIN, blind_max=BLIND_MAX, see_min=SEE_MIN, jsd_se=JSD_SE
        ),
    )
    data = dict(
        summary=summary, headline=headline(summary, scale), cpu_s_total=sum(r["cpu_s"] for r in results.values())
    )
    return study.Result(config=cfg, data=data, checks=checks, controls=controls)


# --------------------------------------------------------------------------------------------------- figure
LABELS = {"mmd": "MMD permutation", "c2st": "linear C2ST", "gan_d": "GAN discriminator (held out)"}


def plot(result: study.Result):
    """Rejection rate against separation per test and kind (with the shuffled nulls); JSD bounds against the truth."""
    d, cfg = result.data["summary"], result.config
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    for ax, (kind, label) in zip(axes[:2], (("shift", "mean shift delta"), ("scale", "scale s"))):
        s = d[kind]
        for i, t in enumerate(TESTS):
            ax.plot(s["seps"], s["power"][t], "o-", color=f"C{i}", label=LABELS[t])
        ax.plot(s["seps"], s["d_in_sample_power"], "x--", color="C3", label="discriminator on its training half")
        if kind == "shift":
            for i, t in enumerate(TESTS):
                ax.plot(s["seps"][-1], s["shuffled_power"][t], "s", mfc="none", color=f"C{i}", ms=9)
        ax.axhline(ALPHA, color="k", lw=0.8, label="alpha = 0.05 (squares: labels shuffled)")
        ax.set(xlabel=label, ylabel="rejection rate", ylim=(-0.02, 1.02), title=f"{kind}: {cfg['trials']} trials")
        ax.legend(fontsize=7)
    ax = axes[2]
    for i, kind in enumerate(KINDS):
        s = d[kind]
        x = np.arange(len(s["seps"]))
        ax.plot(x, s["jsd_true"], "k-" if i == 0 else "k--", label=f"true JSD, {kind}")
        ax.errorbar(
            x, s["jsd_held_out"], yerr=s["jsd_se"], fmt="o", color=f"C{i}", label=f"(log 4 - L_held out)/2, {kind}"
        )
        ax.plot(x, s["jsd_in_sample"], "x", color=f"C{i}", alpha=0.6, label=f"the same on the training half, {kind}")
    ax.set(
        xlabel="separation index (left to right as in the other panels)", ylabel="nats", title="D loss as a JSD bound"
    )
    ax.legend(fontsize=7)
    fig.suptitle(f"C17 two-sample tests on N(0, I_2): n = {cfg['n']} per side, alpha = {ALPHA}", fontsize=11)
    fig.tight_layout()
    return fig


def main(argv=None) -> dict:
    return study.main_of(__name__, argv, default_scale="paper")


if __name__ == "__main__":
    main()
