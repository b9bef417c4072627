"""bigan: a discriminator on (x, E(x)) against (G(z), z) drives the encoder E toward the inverse of G.

Claim C18 (Donahue, Kraehenbuehl, Darrell 2016, BiGAN, Thm. 2; Dumoulin et al. 2016, ALI): at the optimum of the
bidirectional game the joint distributions of (x, E(x)), x ~ data, and (G(z), z), z ~ N(0, I), are equal, which
forces E = G^{-1} on the data; in training E(G(z)) approaches z and G(E(x)) approaches x.
Setting: 2-D data, a mixture of 4 Gaussians (std MODE_STD) on a 2 x 2 grid (`data.mixture`, `data.grid_centres`),
z ~ N(0, I_2); G: z -> x and E: x -> z are 2 x 64 ReLU MLPs (`nets.mlp_generator`), D a 2 x 128 ReLU MLP
(`nets.mlp_discriminator`) on the concatenated pair (4 inputs). D minimises the `nonsaturating` objective's D loss
with real pairs (x, E(x)) and fake pairs (G(z), z). G and E form one player (x = G + E parameters, y = D parameters,
a `dynamics.Game`) whose loss is the G loss on the fake pairs plus the G loss with the roles swapped on the real
pairs, g_fake(-t_real): E is pushed to make its pairs look fake, as the BiGAN paper's inverted labels do. Both take
Adam steps (`dynamics.make_step`) under the `alternating` rule (one D step, then one G/E step).
Measured every few steps on fixed held-out samples: the relative inversion errors
    err_z = E||E(G(z)) - z||^2 / tr Cov(z),   err_x = E||G(E(x)) - x||^2 / tr Cov(x),
where 1 is what an encoder that outputs a constant (the mean) scores. BiGAN training oscillates, so the "final"
error is the median over the last quarter of the evaluations.
Controls, each a case that must fail its check: the trained G with a fresh, untrained E (err ~1); the trained
pairs matched to a shuffled z (or x), right marginals but no inversion (err ~2); the untrained G (its samples sit
near one or two of the four modes).
Scales: smoke (seconds, the test suite), quick (< 1 min on 2 CPU cores), paper (the committed figure; about a
minute on 2 CPU cores). Only the number of training steps (and evaluation spacing) changes with the scale.
"""

import copy
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from sandbox.data import grid_centres, mixture
from sandbox.dynamics import Game, alternating, make_step
from sandbox.nets import mlp_discriminator, mlp_generator
from sandbox.objectives import get_objective
from sandbox.reporting import study
from sandbox.reporting.kit import Headline

CLAIM = (
    "Training a discriminator on (x, E(x)) against (G(z), z) makes E invert G: the relative errors "
    "||E(G(z)) - z||^2 / tr Cov(z) and ||G(E(x)) - x||^2 / tr Cov(x) fall far below those of an untrained E."
)
CLAIMS = ["C18"]
SCALES = {
    "smoke": dict(steps=300, eval_every=30, lr=2e-3),
    "quick": dict(steps=2000, eval_every=50, lr=1e-3),
    "paper": dict(steps=4000, eval_every=50, lr=1e-3),
}
# At smoke scale (300 steps) the game has not yet left its first transient (err_z ~ 1 at step 300 in trials); the
# checks describe trained networks, so they are only required to hold at quick and paper scale.
SMOKE_MUST_PASS = False
DIM = 2  # x and z both 2-D
SPACING, MODE_STD = 2.0, 0.5  # 4 modes 4 std apart: separated, but not so sharp that E must jump between them
HIDDEN_GE, HIDDEN_D = 64, 128
BATCH = 256
BETAS = (0.5, 0.999)
OBJECTIVE = "nonsaturating"
N_EVAL = 4000  # held-out x and z for the errors; standard error of a mean square ~ 2%
TAIL = 0.25  # the final error is the median over the last quarter of the evaluations
# err = 1 is a constant encoder; 0.3 means E(G(z)) recovers 70% of z's variance, far from "E ignores its input"
# and loose enough for the oscillation BiGAN shows at this scale (measured: paper-scale tail medians of err_z 0.077,
# 0.101, 0.113 for seeds 0, 1, 2; single evaluations swing between about 0.03 and 0.3 late in training)
ERR_MAX = 0.3
# the fall must be large against the untrained baseline (~1): a 3x drop cannot come from evaluation noise (~2%)
FALL_MIN = 3.0
# every mode of the data gets at least 10% of G's samples (25% if G matched the data): G did not drop a mode
MODE_SHARE_MIN = 0.10


def inversion_errors(G, E, x: torch.Tensor, z: torch.Tensor, perm=None) -> tuple:
    """(err_z, err_x) = (E||E(G(z)) - z||^2 / tr Cov z, E||G(E(x)) - x||^2 / tr Cov x); `perm` shuffles the pairs."""
    with torch.no_grad():
        ez, gx = E(G(z)), G(E(x))
        if perm is not None:  # the control: each reconstruction scored against another sample's input
            ez, gx = ez[perm], gx[perm]
        err_z = ((ez - z) ** 2).sum(1).mean() / z.var(0).sum()
        err_x = ((gx - x) ** 2).sum(1).mean() / x.var(0).sum()
    return float(err_z), float(err_x)


def mode_share(G, z: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """The share of G's samples nearest each mode centre."""
    with torch.no_grad():
        nearest = torch.cdist(G(z), centres).argmin(1)
    return torch.bincount(nearest, minlength=len(centres)).float() / len(z)


def bigan_game(G, E, D, sample_x, sample_z, objective: str = OBJECTIVE) -> Game:
    """D: d_loss(D(x, E(x)), D(G(z), z)); G+E: g_loss(D(G(z), z)) + g_loss(-D(x, E(x))) (Donahue et al. 2016, eq. 3)."""
    obj = get_objective(objective)

    def pairs():
        x, z = sample_x(), sample_z()
        return torch.cat([x, E(x)], 1), torch.cat([G(z), z], 1)

    def loss_y():
        real, fake = pairs()
        return obj.d_loss(D(real.detach()), D(fake.detach()))

    def loss_x():
        # the encoder's side of the game is the generator's with real and fake swapped: it wants (x, E(x))
        # called fake, so it minimises the G loss of the negated logit (a logit's sign flips the class)
        real, fake = pairs()
        return obj.g_loss(None, D(fake)) + obj.g_loss(None, -D(real))

    return Game(list(G.parameters()) + list(E.parameters()), list(D.parameters()), loss_x, loss_y)


def train(cfg: dict, seed: int) -> dict:
    """Alternating Adam steps on the BiGAN game; the errors every eval_every steps and the end state's samples."""
    gen = torch.Generator().manual_seed(seed)
    centres = grid_centres(2, SPACING)
    G = mlp_generator(DIM, HIDDEN_GE, 2, DIM, generator=gen)
    G_init = copy.deepcopy(G)  # the untrained generator: the mode-coverage control
    E = mlp_generator(DIM, HIDDEN_GE, 2, DIM, generator=gen)  # same MLP shape, x -> z
    E_fresh = mlp_generator(DIM, HIDDEN_GE, 2, DIM, generator=gen)  # never trained: the baseline encoder
    D = mlp_discriminator(2 * DIM, HIDDEN_D, 2, generator=gen)
    game = bigan_game(
        G, E, D, lambda: mixture(BATCH, centres, MODE_STD, gen)[0], lambda: torch.randn(BATCH, DIM, generator=gen)
    )
    step_x = make_step("adam", game.x, cfg["lr"], betas=BETAS)
    step_y = make_step("adam", game.y, cfg["lr"], betas=BETAS)
    held = torch.Generator().manual_seed(seed + 10_000)
    x_eval, k_eval = mixture(N_EVAL, centres, MODE_STD, held)
    z_eval = torch.randn(N_EVAL, DIM, generator=held)
    trace = {"step": [], "err_z": [], "err_x": []}
    state: dict = {}
    for t in range(cfg["steps"] + 1):
        if t % cfg["eval_every"] == 0:
            ez, ex = inversion_errors(G, E, x_eval, z_eval)
            trace["step"].append(t), trace["err_z"].append(ez), trace["err_x"].append(ex)
        if t < cfg["steps"]:
            alternating(game, step_x, step_y, state)
    perm = torch.randperm(N_EVAL, generator=torch.Generator().manual_seed(seed + 20_000))
    with torch.no_grad():
        g_samples, egz, gex = G(z_eval), E(G(z_eval)), G(E(x_eval))
    return dict(
        centres=centres,
        trace=trace,
        fresh=inversion_errors(G, E_fresh, x_eval, z_eval),
        shuffled=inversion_errors(G, E, x_eval, z_eval, perm),
        share=mode_share(G, z_eval, centres),
        share_init=mode_share(G_init, z_eval, centres),
        clouds=dict(x=x_eval, g_of_z=g_samples, z=z_eval, e_of_g_of_z=egz, g_of_e_of_x=gex),
        x_mode=k_eval,
    )


def make_checks(d: dict) -> tuple:
    """The five checks, each with its control evaluated by the same test."""
    final = dict(z=d["final_err_z"], x=d["final_err_x"])
    untrained = {v: min(d[f"init_err_{v}"], d[f"fresh_encoder_err_{v}"]) for v in "zx"}
    checks, controls = {}, {}
    for v, pair in (("z", "E(G(z)) against z"), ("x", "G(E(x)) against x")):
        name = f"encoder_inverts_generator_on_{v}"
        checks[name] = bool(final[v] < ERR_MAX)
        controls[name] = dict(
            control=f"the trained G with a fresh, untrained E ({pair}: err {d[f'fresh_encoder_err_{v}']:.3f})",
            control_passes=bool(d[f"fresh_encoder_err_{v}"] < ERR_MAX),
        )
        name = f"err_{v}_falls_3x_below_untrained"
        checks[name] = bool(final[v] * FALL_MIN <= untrained[v])
        controls[name] = dict(
            control=f"the trained G and E with {pair} paired at random (a shuffled {v}: right marginals, no "
            f"inversion; err {d[f'shuffled_err_{v}']:.3f})",
            control_passes=bool(d[f"shuffled_err_{v}"] * FALL_MIN <= untrained[v]),
        )
    checks["generator_covers_every_mode"] = bool(min(d["g_mode_share"]) >= MODE_SHARE_MIN)
    controls["generator_covers_every_mode"] = dict(
        control=f"the untrained G (smallest mode share {min(d['init_g_mode_share']):.3f})",
        control_passes=bool(min(d["init_g_mode_share"]) >= MODE_SHARE_MIN),
    )
    return checks, controls


def headline(d: dict, cfg: dict) -> list:
    """The two inversion errors beside the untrained E's (the papers give no number for them)."""
    diff = (
        f"2-D 4-Gaussian mixture, z in R^2, 2x{HIDDEN_GE} MLP G and E, 2x{HIDDEN_D} MLP D, {cfg['steps']} "
        f"alternating Adam steps; median over the last {TAIL:.0%} of training"
    )
    return [
        Headline(
            "C18",
            "relative inversion error E||E(G(z)) - z||^2 / tr Cov z (trained / untrained E)",
            f"{d['final_err_z']:.3f} / {d['fresh_encoder_err_z']:.3f}",
            source="Donahue et al. 2016, Thm. 2 (E = G^-1 at the optimum)",
            setting_difference=diff,
        )._asdict(),
        Headline(
            "C18",
            "relative reconstruction error E||G(E(x)) - x||^2 / tr Cov x (trained / untrained E)",
            f"{d['final_err_x']:.3f} / {d['fresh_encoder_err_x']:.3f}",
            source="Donahue et al. 2016, Sec. 3 and Fig. 2 (reconstructions G(E(x)))",
            setting_difference="as above; the papers show image reconstructions, not a number",
        )._asdict(),
    ]


def run(scale: str = "paper", seed: int = 0, device=None) -> study.Result:
    """Train the BiGAN with alternating Adam steps, measuring the inversion errors; checks with their controls."""
    cfg = dict(
        SCALES[scale],
        seed=seed,
        dim=DIM,
        spacing=SPACING,
        mode_std=MODE_STD,
        hidden_ge=HIDDEN_GE,
        hidden_d=HIDDEN_D,
        batch=BATCH,
        betas=BETAS,
        objective=OBJECTIVE,
        n_eval=N_EVAL,
        tail=TAIL,
        err_max=ERR_MAX,
        fall_min=FALL_MIN,
        mode_share_min=MODE_SHARE_MIN,
    )
    clock = time.perf_counter()
    t = train(cfg, seed)
    trace = t["trace"]
    tail = max(1, int(round(TAIL * len(trace["step"]))))
    data = dict(
        centres=t["centres"],
        trace=trace,
        tail_evaluations=tail,
        final_err_z=float(np.median(trace["err_z"][-tail:])),
        final_err_x=float(np.median(trace["err_x"][-tail:])),
        init_err_z=trace["err_z"][0],
        init_err_x=trace["err_x"][0],
        fresh_encoder_err_z=t["fresh"][0],
        fresh_encoder_err_x=t["fresh"][1],
        shuffled_err_z=t["shuffled"][0],
        shuffled_err_x=t["shuffled"][1],
        last_err_z=trace["err_z"][-1],
        last_err_x=trace["err_x"][-1],
        g_mode_share=t["share"],
        init_g_mode_share=t["share_init"],
        # 600 points of each cloud, 3 decimals: what the figure draws
        **{k: np.round(v[:600].numpy(), 3) for k, v in t["clouds"].items()},
        x_mode=t["x_mode"][:600],
    )
    checks, controls = make_checks(data)
    data["headline"] = headline(data, cfg)
    data["seconds"] = time.perf_counter() - clock
    return study.Result(config=cfg, data=data, checks=checks, controls=controls)


# --------------------------------------------------------------------------------------------------- figure
def _samples_panel(ax, d: dict) -> None:
    """Data against G's samples, with the mode centres."""
    x, gz, c = np.asarray(d["x"]), np.asarray(d["g_of_z"]), np.asarray(d["centres"])
    ax.scatter(x[:, 0], x[:, 1], s=4, alpha=0.5, label="data x")
    ax.scatter(gz[:, 0], gz[:, 1], s=4, alpha=0.5, label="G(z)")
    ax.plot(c[:, 0], c[:, 1], "k+", ms=12, mew=2, label="mode centres")
    ax.set(title="data vs generator samples", xlabel="x1", ylabel="x2", aspect="equal")
    ax.legend(fontsize=8, loc="center")


def _latent_panel(ax, d: dict) -> None:
    """E(G(z)) against z, per coordinate, beside the identity."""
    z, egz = np.asarray(d["z"]), np.asarray(d["e_of_g_of_z"])
    for i in range(2):
        ax.scatter(z[:, i], egz[:, i], s=4, alpha=0.5, color=f"C{i}", label=f"coordinate z{i + 1}")
    lim = 3.5
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=1, label="E(G(z)) = z")
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xlabel="z", ylabel="E(G(z))")
    ax.set_title(
        f"E(G(z)) vs z at the last step (err_z {d['last_err_z']:.3f};\n"
        f"tail median {d['final_err_z']:.3f}, untrained E {d['fresh_encoder_err_z']:.2f})",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper left")


def _reconstruction_panel(ax, d: dict, n: int = 150) -> None:
    """x joined to G(E(x)) by grey lines, x coloured by its mode."""
    x, gex, k = np.asarray(d["x"]), np.asarray(d["g_of_e_of_x"]), np.asarray(d["x_mode"])
    for a, b in zip(x[:n], gex[:n]):
        ax.plot([a[0], b[0]], [a[1], b[1]], color="grey", lw=0.5, alpha=0.7)
    ax.scatter(x[:n, 0], x[:n, 1], s=8, c=k[:n], cmap="tab10", vmin=0, vmax=9, label="x (colour: mode)")
    ax.scatter(gex[:n, 0], gex[:n, 1], s=8, marker="x", color="k", lw=0.8, label="G(E(x))")
    ax.set_title(
        f"reconstructions at the last step, grey: x to G(E(x))\n(err_x {d['last_err_x']:.3f}; "
        f"tail median {d['final_err_x']:.3f}, untrained E {d['fresh_encoder_err_x']:.2f})",
        fontsize=10,
    )
    ax.set(xlabel="x1", ylabel="x2", aspect="equal")
    ax.legend(fontsize=8, loc="upper right")


def _errors_panel(ax, d: dict, cfg: dict) -> None:
    """Both errors over training, the untrained-E and shuffled-pair controls, the threshold and the tail."""
    tr = d["trace"]
    ax.semilogy(tr["step"], tr["err_z"], "C0-", lw=1.2, label="err_z: E(G(z)) vs z")
    ax.semilogy(tr["step"], tr["err_x"], "C1-", lw=1.2, label="err_x: G(E(x)) vs x")
    for v, c in (("z", "C0"), ("x", "C1")):
        ax.axhline(d[f"fresh_encoder_err_{v}"], color=c, ls=":", lw=1, label=f"untrained E (err_{v}, control)")
        ax.axhline(d[f"shuffled_err_{v}"], color=c, ls="-.", lw=1, label=f"shuffled pairs (err_{v}, control)")
    ax.axhline(cfg["err_max"], color="k", ls="--", lw=1, label=f"check threshold {cfg['err_max']:g}")
    ax.axvspan(tr["step"][-d["tail_evaluations"]], tr["step"][-1], color="grey", alpha=0.15, label="tail (median)")
    ax.set(xlabel="training step (one D step + one G/E step)", ylabel="relative squared error")
    ax.set_title("inversion errors over training")
    ax.legend(fontsize=7, loc="lower left")


def plot(result: study.Result):
    """Data vs G samples, E(G(z)) against z per coordinate, reconstructions G(E(x)), and the errors over training."""
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.6))
    _samples_panel(axes[0], result.data)
    _latent_panel(axes[1], result.data)
    _reconstruction_panel(axes[2], result.data)
    _errors_panel(axes[3], result.data, result.config)
    fig.suptitle("C18 BiGAN/ALI: a discriminator on (x, E(x)) vs (G(z), z) drives E toward G's inverse", fontsize=12)
    fig.tight_layout()
    return fig


def main(argv=None) -> dict:
    return study.main_of(__name__, argv, default_scale="paper", cpu_only=True)


if __name__ == "__main__":
    main()
