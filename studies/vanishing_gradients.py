"""vanishing_gradients: a fresh D trained against a frozen DCGAN generator makes the saturating G gradient vanish.

Claim C7 (Arjovsky & Bottou 2017, Sec. 2.2, Figs. 2-3): as D approaches optimal, the generator's gradients
vanish. Train a DCGAN on MNIST for 1, 10 and 25 epochs; for each frozen G train a fresh D from scratch for up
to 4000 iterations; ||grad_theta|| of the saturating loss E log(1 - D(G(z))) falls by orders of magnitude
(Fig. 2), while the -log D loss's gradient grows instead (Fig. 3), and D's accuracy goes to 1.
G is trained by the trainer (make_run + run_steps, DCGAN settings: Adam 2e-4, beta1 0.5, the non-saturating
loss); the fresh D is the trainer's D with the trainer's optimiser (sandbox.trainer.probes.probe_fixed_g), its loss
network_game's; the gradient norms differentiate the registered `minimax` and `nonsaturating` G terms on one
fixed batch of latents, the same batch at every D iteration and for every G.
Scales: smoke (seconds, the test suite: width 1/8, 2 and 8 G steps, 40 D iterations), quick (minutes on 2
CPU cores: width 1/4, batch 64, G frozen after 19, 94 and 375 G steps = 0.02, 0.1 and 0.4 epochs, 400 D
iterations), full (the paper's run for a GPU: width 1, batch 128, 1, 10 and 25 epochs, 4000 D iterations).
The decay threshold scales with the D iterations a scale affords: 3 orders at full (the claim), 2 at quick,
0.25 at smoke. The decay is roughly a power law in D iterations, so fewer iterations give fewer orders.
"""

import time

import matplotlib.pyplot as plt
import numpy as np

from sandbox.evaluation import probe
from sandbox.reporting import study
from sandbox.trainer import probes
from sandbox.trainer.config import make_config

CLAIM = (
    "For a frozen DCGAN generator, a discriminator trained from scratch drives the saturating generator "
    "loss's gradient norm down by orders of magnitude while D's accuracy goes to 1; the -log D loss's "
    "gradient does not vanish."
)
CLAIMS = ["C7"]
MNIST_TRAIN = 60000
NEEDS_DATA = "mnist"  # reads $SANDBOX_DATA/mnist (the trainer's data), never downloads
SCALES = {
    "smoke": dict(g_width=0.125, d_width=0.125, batch=16, g_steps=(2, 8), d_iters=40, eval_n=32, min_orders=0.25),
    "quick": dict(g_width=0.25, d_width=0.25, batch=64, g_steps=(19, 94, 375), d_iters=400, eval_n=128, min_orders=2.0),
    # 60000 / 128 = 468.75 G steps per epoch: 1, 10 and 25 epochs
    "full": dict(
        g_width=1.0, d_width=1.0, batch=128, g_steps=(469, 4688, 11719), d_iters=4000, eval_n=512, min_orders=3.0
    ),
}
MIN_ACCURACY = 0.99  # "D approaches optimal": it separates the evaluation batches almost perfectly
PUBLISHED_D_ITERS = 4000


def _trainer_config(scale: str, seed: int, device) -> object:
    s = SCALES[scale]
    # the DCGAN preset's values are the Config defaults; only sizes, data and device change here
    return make_config(
        dict(
            data="mnist",
            g_width=s["g_width"],
            d_width=s["d_width"],
            batch=s["batch"],
            seed=seed,
            device=str(device) if device is not None else "cpu",
            progress=False,
        )
    )


def points(scale: str) -> list:
    """One grid point per frozen generator: 'g_steps=N'."""
    return [f"g_steps={n}" for n in SCALES[scale]["g_steps"]]


_RUNS: dict = {}  # the latest trainer run, so an unsharded study trains G once for all its snapshots


def probe_iterations(n: int) -> list:
    """Log-spaced early D iterations (the fast initial fall) plus every n/20 (a linear axis stays filled)."""
    return sorted(set(probe.log_iterations(n, 6)) | set(range(0, n + 1, max(1, n // 20))))


def run_point(point: str, scale: str, seed: int, device) -> dict:
    """Train G to the point's step with the trainer, freeze it, train a fresh D against it and probe G's gradients."""
    steps = int(point.split("=")[1])
    cfg, s = _trainer_config(scale, seed, device), SCALES[scale]
    clock = time.perf_counter()
    run = probes.advance(cfg, steps, _RUNS)
    G = probe.snapshot(run.G)
    train_s = time.perf_counter() - clock
    log = probes.probe_fixed_g(
        run, G, s["d_iters"], probe_iterations(s["d_iters"]), seed=seed + 100, eval_n=s["eval_n"]
    )
    return dict(
        log,
        g_steps=steps,
        epochs=steps * s["batch"] / MNIST_TRAIN,
        g_train_s=train_s,
        d_probe_s=time.perf_counter() - clock - train_s,
    )


def run(scale: str = "quick", seed: int = 0, device=None, results=None) -> study.Result:
    """Every frozen G's fresh-D run, the decay in orders of magnitude, and the checks."""
    results = study.run_grid(points(scale), lambda p: run_point(p, scale, seed, device), results)
    s = SCALES[scale]
    cfg = dict(
        s,
        seed=seed,
        scale=scale,
        device=study.describe_device(study.pick_device(str(device or "cpu"))),
        objective_for_g_training="nonsaturating",
        optimiser="adam 2e-4, betas (0.5, 0.999)",
        min_accuracy=MIN_ACCURACY,
    )
    orders = {
        k: {loss.name: probe.orders_of_decay(r["grad_norm"][loss.name]) for loss in probe.G_LOSSES}
        for k, r in results.items()
    }
    # from the norm's peak: a fresh D starts random, so the saturating norm can first rise as D sharpens
    from_peak = {
        k: float(np.log10(max(r["grad_norm"]["minimax"]) / r["grad_norm"]["minimax"][-1])) for k, r in results.items()
    }
    final_acc = {k: r["accuracy"][-1] for k, r in results.items()}
    latest = points(scale)[-1]
    # a power-law fit of the saturating norm over the last half of the D run, read at the paper's 4000 iterations
    extrapolated = {}
    for k, r in results.items():
        it, g = np.array(r["iteration"], float), np.array(r["grad_norm"]["minimax"])
        tail = it >= it[-1] / 2
        slope, icpt = np.polyfit(np.log10(it[tail]), np.log10(g[tail]), 1)
        extrapolated[k] = float(np.log10(g[0]) - (icpt + slope * np.log10(PUBLISHED_D_ITERS)))
    setting = (
        f"{scale} scale: MNIST, widths {s['g_width']:g}, batch {s['batch']}, G frozen after "
        f"{', '.join(str(n) for n in s['g_steps'])} G steps, {s['d_iters']} D iterations "
        f"(paper: DCGAN after 1/10/25 epochs, 4000 D iterations)"
    )
    headline = [
        {
            "claim": "C7",
            "quantity": f"orders of magnitude the saturating ||grad_theta|| falls in {s['d_iters']} "
            f"fresh-D iterations, latest G ({latest})",
            "ours": orders[latest]["minimax"],
            "ours_spread": None,
            "published": None,
            "source": "Arjovsky & Bottou 2017, Fig. 2 (a log-scale plot; the text gives no number)",
            "setting_difference": setting,
        },
        {
            "claim": "C7",
            "quantity": f"orders of magnitude the saturating ||grad_theta|| falls from its peak, latest G ({latest})",
            "ours": from_peak[latest],
            "ours_spread": None,
            "published": None,
            "source": "Arjovsky & Bottou 2017, Fig. 2",
            "setting_difference": setting,
        },
        {
            "claim": "C7",
            "quantity": f"fresh D's accuracy after {s['d_iters']} iterations, latest G",
            "ours": final_acc[latest],
            "ours_spread": None,
            "published": None,
            "source": "Arjovsky & Bottou 2017, Fig. 1 (D's error goes to 0)",
            "setting_difference": setting,
        },
        {
            "claim": "C7",
            "quantity": "orders of magnitude the -log D ||grad_theta|| falls (negative: it grows), latest G",
            "ours": orders[latest]["nonsaturating"],
            "ours_spread": None,
            "published": None,
            "source": "Arjovsky & Bottou 2017, Fig. 3 (the -log D gradient grows)",
            "setting_difference": setting,
        },
    ]
    data = dict(
        results=results,
        orders=orders,
        saturating_orders_from_peak=from_peak,
        final_accuracy=final_acc,
        latest=latest,
        extrapolated_saturating_orders_at_4000=extrapolated,
        headline=headline,
    )
    checks = {
        "saturating_grad_falls_min_orders_latest_g": orders[latest]["minimax"] >= s["min_orders"],
        "saturating_grad_falls_min_orders_every_g": all(o["minimax"] >= s["min_orders"] for o in orders.values()),
        "fresh_d_accuracy_reaches_99_percent_every_g": all(a >= MIN_ACCURACY for a in final_acc.values()),
        # Fig. 3: the -log D gradient grows as D improves (its logit-space factor 1 - D goes to 1)
        "nonsaturating_grad_grows_every_g": all(o["nonsaturating"] < 0 for o in orders.values()),
    }
    return study.Result(config=cfg, data=data, checks=checks)


def plot(result: study.Result):
    """||grad_theta|| for both G losses, D's accuracy and mean D(G(z)) against fresh-D iterations, one colour per G."""
    d, cfg = result.data, result.config
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2))
    keys = list(d["results"])
    colours = {k: f"C{i}" for i, k in enumerate(keys)}
    label = {k: f"G after {d['results'][k]['g_steps']} steps ({d['results'][k]['epochs']:.3g} ep.)" for k in keys}

    ax = axes[0]
    for k in keys:
        r = d["results"][k]
        ax.semilogy(
            r["iteration"],
            r["grad_norm"]["minimax"],
            color=colours[k],
            lw=2,
            label=f"{label[k]}: log(1-D), falls {d['orders'][k]['minimax']:.1f} orders",
        )
        ax.semilogy(r["iteration"], r["grad_norm"]["nonsaturating"], color=colours[k], lw=1.2, ls="--")
    ax.plot([], [], color="k", ls="--", lw=1.2, label="dashed: -log D (same D, same z)")
    ax.set_xlabel("fresh-D iterations against the frozen G")
    ax.set_ylabel(r"$\|\nabla_\theta L_G\|$ (log scale)")
    ax.set_title("(a) generator gradient norm (cf. Arjovsky & Bottou 2017, Figs. 2-3)")
    top = max(max(r["grad_norm"]["nonsaturating"]) for r in d["results"].values())
    ax.set_ylim(top=top * 10**1.8)  # headroom above the curves for the legend
    ax.legend(fontsize=7, loc="upper right")

    ax = axes[1]
    for k in keys:
        r = d["results"][k]
        ax.plot(r["iteration"], r["accuracy"], color=colours[k], lw=2, label=label[k])
    ax.axhline(cfg["min_accuracy"], color="grey", ls=":", lw=1, label=f"{cfg['min_accuracy']:g} (check)")
    ax.set_ylim(0.45, 1.02)
    ax.set_xlabel("fresh-D iterations")
    ax.set_ylabel("D accuracy (real vs fake, threshold 1/2)")
    ax.set_title("(b) the fresh D's accuracy")
    ax.legend(fontsize=8, loc="lower right")

    ax = axes[2]
    for k in keys:
        r = d["results"][k]
        ax.semilogy(r["iteration"], r["d_fake"], color=colours[k], lw=2, label=f"{label[k]}: mean D(G(z))")
        ax.semilogy(r["iteration"], 1 - np.array(r["d_real"]), color=colours[k], lw=1, ls=":")
    ax.plot([], [], color="k", ls=":", lw=1, label="dotted: 1 - mean D(x), real")
    ax.set_xlabel("fresh-D iterations")
    ax.set_ylabel("probability (log scale)")
    ax.set_title("(c) D rejects fakes: the saturating gradient carries the factor D(G(z))")
    ax.legend(fontsize=8, loc="lower left")
    fig.suptitle(
        f"C7 vanishing generator gradients, DCGAN on MNIST: {cfg['scale']} scale, {cfg['device']}, "
        f"widths {cfg['g_width']:g}, {cfg['d_iters']} D iterations"
        + (" - not the paper's full run" if cfg["scale"] != "full" else ""),
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def main(argv=None) -> dict:
    return study.main(
        "vanishing_gradients",
        __doc__,
        CLAIM,
        CLAIMS,
        run,
        plot,
        argv,
        default_scale="quick",
        points=points,
        run_point=run_point,
    )


if __name__ == "__main__":
    main()
