"""The README's conventions, each tested where it is fixed."""

import ast
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from sandbox.dynamics import alternating, make_rule
from sandbox.games import Game
from sandbox.objectives import OBJECTIVES
from sandbox.penalties import r1, wgan_gp
from sandbox.theory import divergences

SANDBOX = Path(__file__).resolve().parent.parent / "sandbox"


def test_d_is_a_logit_large_on_real_data():
    """D* = p/(p+q) has logit log(p/q): positive where real data is likelier; D's loss falls as real logits rise."""
    p = np.array([0.7, 0.2, 0.1])
    q = np.array([0.1, 0.2, 0.7])
    logit = np.asarray(divergences.optimal_logit(p, q))
    assert_close(torch.as_tensor(logit), torch.log(torch.tensor([7.0, 1.0, 1 / 7], dtype=torch.float64)))
    for name in ("minimax", "nonsaturating", "wasserstein", "hinge", "least_squares"):
        obj = OBJECTIVES[name]
        low, high = torch.tensor([-0.5]), torch.tensor([0.5])
        assert obj.d_loss(high, torch.zeros(1)) < obj.d_loss(low, torch.zeros(1)), name


def test_stable_softplus_forms():
    t = torch.linspace(-15, 15, 61, dtype=torch.float64)  # where the probability forms are still accurate
    obj = OBJECTIVES["minimax"]
    assert_close(obj.d_real(t), -torch.log(torch.sigmoid(t)))  # softplus(-t) = -log sigmoid(t)
    assert_close(obj.d_fake(t), -torch.log1p(-torch.sigmoid(t)))  # softplus(t) = -log(1 - sigmoid(t))
    extreme = torch.tensor([-200.0, 200.0])  # float32: sigmoid underflows/rounds to 1 here
    assert torch.isfinite(obj.d_real(extreme)).all() and torch.isfinite(obj.d_fake(extreme)).all()
    assert torch.isinf(torch.log(1 - torch.sigmoid(extreme))).any()  # the naive form would have failed


def _name(func: ast.AST) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def log_of_sigmoid_calls(source: str) -> list:
    """Line numbers of numeric log(...)/log1p(...) calls whose argument calls sigmoid (sympy's sp.log excepted)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        symbolic = isinstance(node, ast.Call) and getattr(getattr(node.func, "value", None), "id", "") in (
            "sp",
            "sympy",
        )
        if isinstance(node, ast.Call) and not symbolic and _name(node.func) in ("log", "log1p", "log2", "log10"):
            inner = [n for arg in node.args for n in ast.walk(arg) if isinstance(n, ast.Call)]
            if any(_name(n.func) == "sigmoid" for n in inner):
                lines.append(node.lineno)
    return lines


def test_no_log_of_sigmoid_in_the_library():
    """STYLE.md: numeric code never computes log(sigmoid(x)) or log(1 - sigmoid(x)); sympy derivations may."""
    offenders = [
        f"{path.name}:{line}" for path in SANDBOX.rglob("*.py") for line in log_of_sigmoid_calls(path.read_text())
    ]
    assert offenders == []


def test_the_log_of_sigmoid_guard_catches_offenders_and_spares_sympy():
    """The guard above, on sources with and without the unstable form (its control)."""
    assert log_of_sigmoid_calls("y = torch.log(1 - torch.sigmoid(x))") == [1]
    assert log_of_sigmoid_calls("a = 1\nb = np.log1p(-sigmoid(t))") == [2]
    assert log_of_sigmoid_calls("y = F.softplus(-x)\nz = sp.log(sigmoid(t))") == []


def test_r1_is_gamma_over_two_times_the_squared_norm():
    w = torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64)  # ||w||^2 = 9
    x = torch.randn(5, 3, dtype=torch.float64)
    assert_close(r1(4.0)(lambda z: z @ w, x, x), torch.full((5,), 18.0, dtype=torch.float64))


def test_gradient_penalty_norm_is_per_sample_on_image_batches():
    w = torch.full((3, 4, 4), 0.25, dtype=torch.float64)  # ||w|| = sqrt(48)/4; a per-pixel norm would be 0.25
    x = torch.randn(6, 3, 4, 4, dtype=torch.float64)
    D = lambda z: (z * w).reshape(z.shape[0], -1).sum(1)
    expected = 10.0 * (math.sqrt(48) / 4 - 1.0) ** 2
    assert_close(wgan_gp()(D, x, x), torch.full((6,), expected, dtype=torch.float64))


def _recording_game(order: list) -> Game:
    x = torch.zeros(1, requires_grad=True)
    y = torch.zeros(1, requires_grad=True)

    def loss_x():
        order.append("G")
        return (x * y).sum()

    def loss_y():
        order.append("D")
        return -(x * y).sum()

    return Game([x], [y], loss_x, loss_y)


def test_alternating_steps_d_first_n_critic_times():
    order: list = []
    noop = lambda params, grads: None
    rule = make_rule("alternating", n_d=5)
    rule(_recording_game(order), noop, noop, {})
    assert order == ["D"] * 5 + ["G"]
    order.clear()
    alternating(_recording_game(order), noop, noop, {}, n_d=2, d_first=False)
    assert order == ["G", "D", "D"]


def test_divergences_are_in_nats():
    assert divergences.kl(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(math.log(2), rel=1e-12)
    assert divergences.jsd(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(math.log(2), rel=1e-12)
