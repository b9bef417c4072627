"""Update rules on the bilinear game against closed-form update matrices (C9), and vectorisation guarantees."""

import math

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from sandbox.dynamics import (
    RULES,
    average_init,
    average_update,
    ema_beta,
    field,
    flat,
    gd,
    jacobian,
    log_growth_rate,
    make_rule,
    make_step,
    radius,
    simulate,
)
from sandbox.games import bilinear, dirac_gan
from sandbox.objectives import get_objective
from sandbox.penalties import r1

NS = get_objective("nonsaturating")

ETA = 0.1
A_FIELD = np.array([[0.0, 1.0], [-1.0, 0.0]])  # the bilinear game's gradient map: (g_x, g_y) = A (u, w)


def reference(rule: str, steps: int, eta: float = ETA, z0=(0.5, 0.5)) -> np.ndarray:
    """Iterates of (u, w) = (x - 1/2, y - 1/2) from the closed-form linear maps, in numpy (an independent path)."""
    z = np.array(z0, dtype=np.float64)
    prev_g = None
    out = [z.copy()]
    for _ in range(steps):
        if rule == "simultaneous":
            z = z - eta * A_FIELD @ z
        elif rule == "alternating":  # w first (D first), then u sees the new w
            w = z[1] + eta * z[0]
            z = np.array([z[0] - eta * w, w])
        elif rule == "extragradient":
            z = z - eta * A_FIELD @ (z - eta * A_FIELD @ z)
        elif rule == "optimistic":
            g = A_FIELD @ z
            z = z - 2 * eta * g + eta * (g if prev_g is None else prev_g)
            prev_g = g
        out.append(z.copy())
    return np.array(out)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rules_follow_the_closed_form_linear_maps(rule):
    tr = simulate(bilinear([1.0], [1.0]), make_rule(rule), gd(ETA), gd(ETA), 300)
    ref = reference(rule, 300)
    assert_close(tr.final[0] - 0.5, torch.as_tensor(ref[-1]), rtol=1e-10, atol=1e-12)
    assert_close(tr.z[:, 0].double() - 0.5, torch.as_tensor(ref), rtol=1e-6, atol=1e-6)  # float32 frames


def test_c9_simultaneous_radius_grows_by_sqrt_one_plus_eta_squared_each_step():
    tr = simulate(bilinear([1.0], [1.0]), make_rule("simultaneous"), gd(ETA), gd(ETA), 50, record_every=1)
    game = bilinear([1.0], [1.0])
    ratios = []
    for _ in range(50):
        before = float(radius(flat(game.x + game.y), [0.5, 0.5])[0])
        make_rule("simultaneous")(game, gd(ETA), gd(ETA), {})
        ratios.append(float(radius(flat(game.x + game.y), [0.5, 0.5])[0]) / before)
    assert_close(
        torch.tensor(ratios, dtype=torch.float64),
        torch.full((50,), math.sqrt(1 + ETA**2), dtype=torch.float64),
        rtol=0,
        atol=1e-9,
    )
    assert float(radius(tr.final, [0.5, 0.5])[0]) == pytest.approx(math.sqrt(0.5) * (1 + ETA**2) ** 25, rel=1e-9)


def test_c9_alternating_conserves_u2_plus_w2_plus_eta_uw_over_ten_thousand_steps():
    game = bilinear([1.0, -2.0, 0.3], [1.0, 0.7, 4.0])
    invariant = lambda z: (z[:, 0] - 0.5) ** 2 + (z[:, 1] - 0.5) ** 2 + ETA * (z[:, 0] - 0.5) * (z[:, 1] - 0.5)
    q0 = invariant(flat(game.x + game.y))
    tr = simulate(game, make_rule("alternating"), gd(ETA), gd(ETA), 10_000, record_every=1000)
    assert_close(invariant(tr.final), q0, rtol=0, atol=1e-9)
    assert float(radius(tr.final, [0.5, 0.5]).min()) > 0.3  # it cycles: no convergence


def test_c9_average_of_alternating_iterates_converges():
    tr = simulate(
        bilinear([1.0], [1.0]),
        make_rule("alternating"),
        gd(ETA),
        gd(ETA),
        10_000,
        record_every=10_000,
        average="uniform",
    )
    assert float(radius(tr.average, [0.5, 0.5])[0]) < 1e-2
    assert float(radius(tr.final, [0.5, 0.5])[0]) > 0.3


@pytest.mark.parametrize("rule", ["extragradient", "optimistic"])
def test_c9_extragradient_and_optimistic_contract_at_their_derived_rates(rule):
    if rule == "extragradient":
        rate = math.sqrt(1 - ETA**2 + ETA**4)  # |eigenvalue| of (1 - eta^2) I - eta A
    else:
        companion = np.block([[np.eye(2) - 2 * ETA * A_FIELD, ETA * A_FIELD], [np.eye(2), np.zeros((2, 2))]])
        rate = float(np.abs(np.linalg.eigvals(companion)).max())
    tr = simulate(bilinear([1.0], [1.0]), make_rule(rule), gd(ETA), gd(ETA), 2000, record_every=10)
    r = radius(tr.z.double(), [0.5, 0.5])[:, 0]
    measured = math.exp(log_growth_rate(r[20:], tr.steps[20:]))  # skip the transient
    assert measured == pytest.approx(rate, abs=1e-6)
    assert rate < 1.0


@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("optimiser", ["gd", "sgd_momentum", "adam", "rmsprop"])
def test_a_batch_of_games_equals_each_game_run_alone_bitwise(rule, optimiser):
    starts = torch.tensor([[1.0, 1.0], [-0.3, 2.0], [0.7, -1.5]], dtype=torch.float64)

    def steps(game):
        if optimiser == "gd":
            return gd(ETA), gd(ETA)
        name, kw = {"sgd_momentum": ("sgd", {"momentum": 0.9}), "adam": ("adam", {}), "rmsprop": ("rmsprop", {})}[
            optimiser
        ]
        return make_step(name, game.x, ETA, **kw), make_step(name, game.y, ETA, **kw)

    game = bilinear(starts[:, 0], starts[:, 1])
    batched = simulate(game, make_rule(rule), *steps(game), 200).final
    for i in range(3):
        alone = bilinear(starts[i : i + 1, 0], starts[i : i + 1, 1])
        assert torch.equal(simulate(alone, make_rule(rule), *steps(alone), 200).final[0], batched[i])


def test_dirac_batch_matches_single_games():
    thetas, psis = torch.linspace(-1, 1, 5), torch.linspace(1, -1, 5)
    batched = simulate(dirac_gan(thetas, psis, NS, r1(0.3)), make_rule("alternating"), gd(0.2), gd(0.2), 100).final
    for i in range(5):
        alone = simulate(
            dirac_gan(thetas[i : i + 1], psis[i : i + 1], NS, r1(0.3)),
            make_rule("alternating"),
            gd(0.2),
            gd(0.2),
            100,
        ).final
        assert_close(alone[0], batched[i], rtol=1e-13, atol=1e-13)


def test_jacobian_matches_finite_differences_of_the_field():
    theta, psi, h = 0.4, -0.7, 1e-6
    J = jacobian(dirac_gan([theta], [psi], NS, r1(0.5)))[0]
    v = lambda t, p: field(dirac_gan([t], [p], NS, r1(0.5)))[0]
    numeric = torch.stack(
        [(v(theta + h, psi) - v(theta - h, psi)) / (2 * h), (v(theta, psi + h) - v(theta, psi - h)) / (2 * h)], dim=1
    )
    assert_close(J, numeric, rtol=1e-6, atol=1e-7)


def test_consensus_field_of_the_bilinear_game_has_a_negative_definite_symmetric_part():
    J = jacobian(bilinear([0.5], [0.5]), consensus=0.5)[0]
    assert_close(J, torch.tensor([[-0.5, -1.0], [1.0, -0.5]], dtype=torch.float64))
    tr = simulate(bilinear([1.0], [1.0]), make_rule("simultaneous", consensus=0.5), gd(ETA), gd(ETA), 2000)
    assert float(radius(tr.final, [0.5, 0.5])[0]) < 1e-3


def test_uniform_average_is_the_mean_of_the_iterates_and_ema_halves():
    game = bilinear([1.0], [1.0])
    tr = simulate(game, make_rule("simultaneous"), gd(ETA), gd(ETA), 40, average="uniform")
    assert_close(tr.average, tr.z[1:].double().mean(0), rtol=1e-6, atol=1e-6)
    assert ema_beta(10) ** 10 == pytest.approx(0.5, rel=1e-12)
    p = [torch.zeros(1, dtype=torch.float64)]
    avg = average_init(p, "ema", beta=0.5)
    p[0].fill_(1.0)
    avg = average_update(avg, p)
    assert_close(avg.value[0], torch.tensor([0.5], dtype=torch.float64))


def test_trajectories_are_thinned_float32_frames():
    tr = simulate(
        bilinear(torch.ones(7), torch.ones(7)), make_rule("alternating"), gd(ETA), gd(ETA), 100, record_every=25
    )
    assert tr.z.shape == (5, 7, 2) and tr.z.dtype == torch.float32
    assert tr.steps.tolist() == [0, 25, 50, 75, 100]
    assert tr.final.dtype == torch.float64


def test_bad_names_are_reported_with_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown update rule 'gda'; valid names: alternating, extragradient"):
        make_rule("gda")
    with pytest.raises(ValueError, match=r"unknown optimiser 'adagrad'; valid names: adam, rmsprop, sgd"):
        make_step("adagrad", [torch.zeros(1, requires_grad=True)], 0.1)
    with pytest.raises(ValueError, match="unknown average 'median'"):
        average_init([torch.zeros(1)], "median")
