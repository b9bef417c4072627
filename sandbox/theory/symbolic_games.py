"""Closed forms for the low-dimensional games, derived with sympy (the symbolic side of C8 and C9).

* Dirac-GAN (Mescheder, Geiger, Nowozin 2018, Sec. 2.2): data at 0, G = theta, D(x) = psi x, D large on real
  data, so the paper's field appears here under psi -> -psi. The objectives are not written again: each is the
  registered one (`sandbox.objectives.OBJECTIVE_BUILDERS`) built over sympy's operations (`SYMPY_OPS`), so a
  sign or factor slip in an objective shows in every derivation here. Pairwise objectives give the
  Dirac-RpGAN (Huang et al. 2024, App. B). The field v = (-dL_G/dtheta, -dL_D/dpsi) and its Jacobian at the
  equilibrium (0, 0) come with R1/R2/R1+R2 (weight gamma each), instance noise (std sigma, an exact Gaussian
  expectation) or consensus (weight gamma).
* Bilinear f(x, y) = (x - a)(y - b) (Gidel et al. 2019; Daskalakis et al. 2018): the linear update maps of
  simultaneous, alternating, extragradient and optimistic GDA about (a, b), their spectral radii and the
  quadratic form that alternating GDA conserves.
Derivations are cached (functools.lru_cache): sympy is slow, and the tests and studies ask for the same ones.
"""

import functools
from typing import Callable, Dict, Tuple

import sympy as sp

from sandbox.fdivs import Ops
from sandbox.objectives import OBJECTIVE_BUILDERS, Objective
from sandbox.registry import lookup

theta, psi = sp.symbols("theta psi", real=True)
gamma, sigma, eta = sp.symbols("gamma sigma eta", positive=True)
xi = sp.Symbol("xi", real=True)  # the standard-normal draw behind instance noise
u, w = sp.symbols("u w", real=True)  # bilinear offsets u = x - a, w = y - b
EQUILIBRIUM = {theta: 0, psi: 0}


def softplus(t):
    """log(1 + e^t): the sympy twin of torch.nn.functional.softplus."""
    return sp.log(1 + sp.exp(t))


def relu(t):
    """max(0, t)."""
    return sp.Max(0, t)


SYMPY_OPS = Ops(softplus=softplus, relu=relu, exp=sp.exp, expm1=lambda t: sp.exp(t) - 1, log2=sp.log(2))

# Every registered objective, built over sympy's operations: the same definitions the trainer runs.
SYMPY_OBJECTIVES: Dict[str, Objective] = {name: build(ops=SYMPY_OPS) for name, build in OBJECTIVE_BUILDERS.items()}
REGULARISERS = ("none", "r1", "r2", "r1_r2", "instance_noise", "consensus")

Terms = Tuple[Callable, Callable, Callable]  # (d_real, d_fake, g_fake), each a function of one logit


def sympy_objective(objective: str) -> Objective:
    """SYMPY_OBJECTIVES[objective]: the registered objective with sympy terms, or a ValueError listing the names."""
    return lookup(SYMPY_OBJECTIVES, objective, "objective")


def sympy_terms(objective: str) -> Terms:
    """(d_real, d_fake, g_fake) of an element-wise objective as sympy functions of a logit."""
    obj = sympy_objective(objective)
    if obj.pairwise:
        raise ValueError(f"{objective!r} is pairwise: it has no element-wise terms; use sympy_objective")
    return obj.d_real, obj.d_fake, obj.g_fake


def _check_regulariser(regulariser: str) -> None:
    if regulariser not in REGULARISERS:
        raise ValueError(f"unknown regulariser {regulariser!r}; valid names: {', '.join(sorted(REGULARISERS))}")


# ------------------------------------------------------------------------------------------------ Dirac-GAN
def _critic(x):
    return psi * x  # D(x) = psi x, one linear critic


def _losses(objective: str, regulariser: str):
    """(L_G, L_D) as sympy expressions; with instance noise, the integrand in xi ~ N(0, 1) of each expectation."""
    obj = sympy_objective(objective)
    if regulariser == "instance_noise":
        if obj.pairwise:
            raise ValueError(f"instance noise on the pairwise objective {objective!r} is not derived here")
        x_real, x_fake = sigma * xi, theta + sigma * xi  # x ~ N(0, sigma^2) and N(theta, sigma^2)
    else:
        x_real, x_fake = sp.Integer(0), theta
    t_real, t_fake = _critic(x_real), _critic(x_fake)
    loss_d = obj.d_terms(t_real, t_fake)
    # gamma/2 |dD/dx|^2 at the real (R1) and/or fake (R2) point (Mescheder et al. 2018, eqs. 9-10).
    x = sp.Symbol("x", real=True)
    for at in {"r1": [x_real], "r2": [x_fake], "r1_r2": [x_real, x_fake]}.get(regulariser, []):
        loss_d += gamma / 2 * sp.diff(_critic(x), x).subs(x, at) ** 2
    return obj.g_terms(t_real, t_fake), loss_d


def _simultaneous_field(loss_g, loss_d) -> sp.Matrix:
    return sp.Matrix([-sp.diff(loss_g, theta), -sp.diff(loss_d, psi)])


def _gaussian_mean(expr):
    """E expr over xi ~ N(0, 1): polynomials through the moments E xi^k = (k-1)!! (k even), else sympy's integral."""
    expr = sp.expand(expr)
    if expr.is_polynomial(xi):
        poly = sp.Poly(expr, xi)
        return sp.simplify(sum(c * (sp.factorial2(k - 1) if k % 2 == 0 else 0) for (k,), c in poly.terms()))
    density = sp.exp(-(xi**2) / 2) / sp.sqrt(2 * sp.pi)
    return sp.simplify(sp.integrate(expr * density, (xi, -sp.oo, sp.oo)))


@functools.lru_cache(maxsize=None)
def dirac_field(objective: str, regulariser: str = "none") -> sp.Matrix:
    """v(theta, psi) = (-dL_G/dtheta, -dL_D/dpsi); consensus: v - gamma J^T v (Mescheder et al. 2018, eq. 8).

    Instance noise keeps the expectation over xi ~ N(0, 1) as an unevaluated sympy Integral (no closed form in
    general); `dirac_jacobian` evaluates it at the equilibrium, where only Gaussian moments are needed.
    """
    _check_regulariser(regulariser)
    v = _simultaneous_field(*_losses(objective, regulariser))
    if regulariser == "instance_noise":
        density = sp.exp(-(xi**2) / 2) / sp.sqrt(2 * sp.pi)
        return v.applyfunc(lambda e: sp.Integral(e * density, (xi, -sp.oo, sp.oo)))
    if regulariser == "consensus":
        # -(g + gamma grad 1/2 |g|^2) with g = -v, i.e. v - gamma J^T v (Mescheder, Nowozin, Geiger 2017, eq. 13).
        v = v - gamma * v.jacobian([theta, psi]).T * v
    return v


@functools.lru_cache(maxsize=None)
def dirac_jacobian(objective: str, regulariser: str = "none") -> sp.Matrix:
    """dv/dz at (0, 0): [[0, -g'(0)], [-d'(0), -gamma]] with R1/R2 (Mescheder et al. 2018, Sec. 4.1, psi -> -psi)."""
    _check_regulariser(regulariser)
    loss_g, loss_d = _losses(objective, regulariser)
    v = _simultaneous_field(loss_g, loss_d)
    if regulariser == "consensus":
        v = v - gamma * v.jacobian([theta, psi]).T * v
    jac = v.jacobian([theta, psi]).subs(EQUILIBRIUM)
    if regulariser == "instance_noise":
        # Differentiate under the expectation, then average the integrand's Jacobian over xi.
        jac = jac.applyfunc(_gaussian_mean)
    return jac.applyfunc(sp.simplify)


@functools.lru_cache(maxsize=None)
def dirac_eigenvalues(objective: str, regulariser: str = "none") -> tuple:
    """The eigenvalues of `dirac_jacobian`, with multiplicity, in sympy's order (Mescheder et al. 2018, Sec. 2.2)."""
    return tuple(ev for ev, mult in dirac_jacobian(objective, regulariser).eigenvals().items() for _ in range(mult))


def dirac_fprime0(objective: str):
    """f'(0): d/dt of D's loss in the fake logit t at t_real = t = 0 (1/2 for GAN/NS-GAN/RpGAN, 1 for WGAN)."""
    t = sp.Symbol("t", real=True)
    return sp.simplify(sp.diff(sympy_objective(objective).d_terms(sp.Integer(0), t), t).subs(t, 0))


def dirac_gprime0(objective: str):
    """d/dt of G's loss in the fake logit at 0; the eigenvalue formula needs g'(0) = -f'(0) (zero-sum, 1st order)."""
    t = sp.Symbol("t", real=True)
    return sp.simplify(sp.diff(sympy_objective(objective).g_terms(sp.Integer(0), t), t).subs(t, 0))


def paper_eigenvalues(fp0, gamma_value=gamma) -> tuple:
    """-gamma/2 +- sqrt(gamma^2/4 - f'(0)^2): the R1/R2 Dirac-GAN eigenvalues (Mescheder et al. 2018, Sec. 4.1)."""
    root = sp.sqrt(sp.sympify(gamma_value) ** 2 / 4 - sp.sympify(fp0) ** 2)
    return (-sp.sympify(gamma_value) / 2 + root, -sp.sympify(gamma_value) / 2 - root)


def lambdify_field(objective: str, regulariser: str = "none", **values) -> Callable:
    """numpy v(theta, psi) -> (v_theta, v_psi) from the sympy field, with gamma=... bound (no instance noise)."""
    if regulariser == "instance_noise":
        raise ValueError("instance_noise has no closed-form field away from the equilibrium; use dirac_jacobian")
    unknown = sorted(set(values) - {"gamma"})
    if unknown:
        raise ValueError(f"unknown field parameters {unknown}; valid names: gamma")
    v = dirac_field(objective, regulariser).subs({gamma: x for x in values.values()})
    v = v.replace(sp.DiracDelta, lambda *args: sp.Integer(0))  # hinge kinks: 0 off a null set, as autograd's relu
    free = v.free_symbols - {theta, psi}
    if free:
        raise ValueError(f"bind the symbols {sorted(map(str, free))} of the {regulariser} field, e.g. gamma=0.3")
    return sp.lambdify((theta, psi), (v[0], v[1]), "numpy")


# ------------------------------------------------------------------------------------------------- bilinear
BILINEAR_RULES = ("simultaneous", "alternating", "extragradient", "optimistic")
_A = sp.Matrix([[0, 1], [-1, 0]])  # the gradient map (g_x, g_y) = A (u, w) of f = u w (x minimises, y maximises)


def _eta(value):
    return eta if value is None else sp.nsimplify(value)


def bilinear_update_matrix(rule: str, eta_value=None) -> sp.Matrix:
    """One step's linear map about (a, b) on (u, w), or on (z_t, z_{t-1}) for optimistic GDA (Gidel et al. 2019)."""
    if rule not in BILINEAR_RULES:
        raise ValueError(f"unknown update rule {rule!r}; valid names: {', '.join(sorted(BILINEAR_RULES))}")
    h, eye = _eta(eta_value), sp.eye(2)
    if rule == "simultaneous":
        return eye - h * _A
    if rule == "alternating":
        # y (D) first: w' = w + h u, then x sees it: u' = u - h w' (Gidel et al. 2019, eq. 17).
        step_w = sp.Matrix([[1, 0], [h, 1]])
        step_u = sp.Matrix([[1, -h], [0, 1]])
        return step_u * step_w
    if rule == "extragradient":
        return eye - h * _A * (eye - h * _A)  # z - h A (z - h A z) (Korpelevich 1976)
    # z_{t+1} = z_t - 2h A z_t + h A z_{t-1} (Daskalakis et al. 2018, eq. 5), as a companion matrix.
    return sp.Matrix(sp.BlockMatrix([[eye - 2 * h * _A, h * _A], [eye, sp.zeros(2)]]))


@functools.lru_cache(maxsize=None)
def bilinear_spectral_radius(rule: str, eta_value=None):
    """max |lambda| of the update matrix: sqrt(1 + eta^2) (sim.), 1 for eta < 2 (alt.), sqrt(1 - eta^2 + eta^4) (EG)."""
    M = bilinear_update_matrix(rule, eta_value)
    if eta_value is not None:
        return max(abs(root) for root in M.charpoly().nroots(n=30))  # numeric eta: 30-digit roots
    if M.shape == (2, 2):
        # A real 2x2 map with complex eigenvalues (discriminant < 0) has |lambda|^2 = det M.
        disc = sp.factor(M.trace() ** 2 - 4 * M.det())
        real_case = sp.Max(*[sp.Abs(ev) for ev in M.eigenvals()])
        return sp.Piecewise((sp.sqrt(sp.expand(M.det())), disc < 0), (real_case, True))
    return sp.Max(*[sp.Abs(ev) for ev in M.eigenvals()])


@functools.lru_cache(maxsize=None)
def alternating_invariant(eta_value=None):
    """The quadratic form Q(u, w) with M^T Q M = Q for alternating GDA, q_uu = 1: u^2 + w^2 + eta u w (y first)."""
    M = bilinear_update_matrix("alternating", eta_value)
    q_uw, q_ww = sp.symbols("q_uw q_ww")
    Q = sp.Matrix([[1, q_uw], [q_uw, q_ww]])
    (solution,) = sp.solve(list(M.T * Q * M - Q), [q_uw, q_ww], dict=True)
    Q = Q.subs(solution)
    z = sp.Matrix([u, w])
    return sp.expand((z.T * Q * z)[0])
