"""Sympy derivations of the GAN-theory identities: claims C1, C2, C3, C6, C20 and the f-GAN conjugates.

Each function returns sympy expressions (in NamedTuples); the tests simplify the gaps to 0 and lambdify the rest
to compare with the numeric library (`sandbox.objectives`, `sandbox.fdivs`, `sandbox.theory.divergences`).
Everything is pointwise: p, q are the masses (or densities) of p_data and p_g at one point x, and the claims
about whole distributions follow by summing (integrating) over x. Nats throughout.

sympy cannot assume a symbol lies in (0, 1), so `unit_substitution` writes s = 1/(1+S) with S > 0: then both s
and 1 - s = S/(1+S) are visibly positive, logs split, and signs of second derivatives are decided.
"""

import functools
from typing import NamedTuple

import sympy as sp

# Masses at one point x, a discriminator output, a logit, a density ratio, and Bernoulli parameters.
p, q = sp.symbols("p q", positive=True)
D = sp.Symbol("D", positive=True)  # D(x) in (0, 1)
t = sp.Symbol("t", real=True)  # a logit, or the argument of a conjugate f*(t)
u = sp.Symbol("u", positive=True)  # a density ratio p/q
a, g, r, lam = sp.symbols("a g r lam", positive=True)  # all in (0, 1)


def sigmoid(x):
    """sigmoid(x) = 1 / (1 + e^-x): D(x) for the logit x (README convention)."""
    return 1 / (1 + sp.exp(-x))


def binary_entropy(x):
    """H(x) = -x log x - (1-x) log(1-x), the entropy of Bernoulli(x) in nats (Cover & Thomas, eq. 2.5)."""
    return -x * sp.log(x) - (1 - x) * sp.log(1 - x)


def bernoulli_cross_entropy(x, y):
    """CE(x, y) = -x log y - (1-x) log(1-y), the cross-entropy of Bernoulli(y) under Bernoulli(x) (Cover & Thomas)."""
    return -x * sp.log(y) - (1 - x) * sp.log(1 - y)


def bernoulli_kl(x, y):
    """KL(x || y) = x log(x/y) + (1-x) log((1-x)/(1-y)), Bernoulli(x) against Bernoulli(y) (Cover & Thomas, 2.26)."""
    return x * sp.log(x / y) + (1 - x) * sp.log((1 - x) / (1 - y))


def unit_substitution(*symbols) -> dict:
    """{s: 1/(1+S)} with S > 0, a bijection (0, oo) -> (0, 1) that lets sympy see s > 0 and 1 - s > 0."""
    return {s: 1 / (1 + sp.Dummy(f"odds_against_{s.name}", positive=True)) for s in symbols}


def simplifies_to_zero(expr, *unit_symbols) -> bool:
    """Whether sympy reduces expr to 0 with each unit symbol written 1/(1+S), S > 0; False may mean 'could not'."""
    expr = sp.together(sp.sympify(expr).subs(unit_substitution(*unit_symbols)))
    return sp.simplify(sp.expand_log(expr)) == 0


def positive_on_unit_interval(expr, *unit_symbols):
    """True if sympy proves expr > 0 for every unit symbol in (0, 1) (via s = 1/(1+S)); None if it cannot decide."""
    return sp.factor(sp.simplify(sp.sympify(expr).subs(unit_substitution(*unit_symbols)))).is_positive


# ---------------------------------------------------------------- C1: the optimal discriminator
class OptimalDiscriminator(NamedTuple):
    integrand: sp.Expr  # p log D + q log(1 - D), the integrand of V(G, D) at one x
    d_star: sp.Expr  # the stationary point p / (p + q)
    slope: sp.Expr  # d integrand / dD
    curvature: sp.Expr  # d^2 integrand / dD^2, a function of D: negative on (0, 1), so D* is the maximum
    curvature_at_star: sp.Expr  # the same at D*: -(p + q)^3 / (p q)


@functools.lru_cache(maxsize=None)
def optimal_discriminator() -> OptimalDiscriminator:
    """D* = argmax_D p log D + q log(1-D) = p/(p+q), the root of p/D - q/(1-D) (Goodfellow et al. 2014, Prop. 1)."""
    integrand = p * sp.log(D) + q * sp.log(1 - D)
    slope = sp.diff(integrand, D)
    roots = sp.solve(slope, D)
    if len(roots) != 1:  # the integrand is strictly concave, so exactly one root is expected
        raise ValueError(f"expected one stationary point of the D objective, sympy found {roots}")
    d_star = sp.simplify(roots[0])
    curvature = sp.diff(integrand, D, 2)
    return OptimalDiscriminator(integrand, d_star, slope, curvature, sp.factor(sp.simplify(curvature.subs(D, d_star))))


# ---------------------------------------------------------------- C2: V(G, D*) = 2 JSD - log 4
class ValueGap(NamedTuple):
    value_at_optimum: sp.Expr  # p log D* + q log(1 - D*)
    jsd_integrand: sp.Expr  # 1/2 p log(p/m) + 1/2 q log(q/m), m = (p + q)/2
    gap: sp.Expr  # value_at_optimum + (p + q) log 2 - 2 jsd_integrand; simplifies to 0


@functools.lru_cache(maxsize=None)
def value_at_optimum_gap() -> ValueGap:
    """p log D* + q log(1-D*) + (p+q) log 2 - 2 jsd(x) = 0: V(G,D*) = 2 JSD - log 4 (Goodfellow et al. 2014, Thm. 1)."""
    d_star = optimal_discriminator().d_star
    value = p * sp.log(d_star) + q * sp.log(1 - d_star)
    m = (p + q) / 2
    jsd = p * sp.log(p / m) / 2 + q * sp.log(q / m) / 2
    # -log 4 spread over x as -(p + q) log 2: the masses of p and q each sum to 1.
    return ValueGap(value, jsd, value + (p + q) * sp.log(2) - 2 * jsd)


# ---------------------------------------------------------------- C3: the consistency identity
class Consistency(NamedTuple):
    log_likelihood: sp.Expr  # a log g + (1 - a) log(1 - g)
    gap: sp.Expr  # log_likelihood - (-H(a) - KL(a || g)); simplifies to 0
    kl: sp.Expr  # KL(a || g)
    kl_slope: sp.Expr  # d KL / dg, zero at g = a
    kl_curvature: sp.Expr  # d^2 KL / dg^2, positive on (0, 1)^2: g = a is the global minimum, KL >= 0
    kl_at_minimum: sp.Expr  # KL(a || a) = 0


@functools.lru_cache(maxsize=None)
def consistency_identity() -> Consistency:
    """a log g + (1-a) log(1-g) = -H(a) - KL(a||g) <= -H(a), with equality iff g = a (Chintala lecture)."""
    log_likelihood = a * sp.log(g) + (1 - a) * sp.log(1 - g)
    kl = bernoulli_kl(a, g)
    kl_slope = sp.diff(kl, g)
    return Consistency(
        log_likelihood, log_likelihood + binary_entropy(a) + kl, kl, kl_slope, sp.diff(kl, g, 2), kl.subs(g, a)
    )


# ---------------------------------------------------------------- C6: saturating vs non-saturating G
class GeneratorGradients(NamedTuple):
    saturating: sp.Expr  # log(1 - sigmoid(t)), minimised by G in the minimax game
    nonsaturating: sp.Expr  # -log sigmoid(t)
    d_saturating: sp.Expr  # -sigmoid(t)
    d_nonsaturating: sp.Expr  # -sigmoid(-t)
    saturating_limit: sp.Expr  # lim_{t -> -oo} d_saturating = 0: the gradient vanishes
    nonsaturating_limit: sp.Expr  # lim_{t -> -oo} d_nonsaturating = -1
    ratio: sp.Expr  # d_saturating / d_nonsaturating = e^t > 0: same signs, same stationary points


@functools.lru_cache(maxsize=None)
def generator_gradients() -> GeneratorGradients:
    """(log(1-sigmoid t))' = -sigmoid(t) -> 0, (-log sigmoid t)' -> -1 as t -> -oo (Goodfellow et al. 2014, Sec. 3)."""
    saturating = sp.log(1 - sigmoid(t))
    nonsaturating = -sp.log(sigmoid(t))
    d_sat = sp.simplify(sp.diff(saturating, t))
    d_ns = sp.simplify(sp.diff(nonsaturating, t))
    return GeneratorGradients(
        saturating,
        nonsaturating,
        d_sat,
        d_ns,
        sp.limit(d_sat, t, -sp.oo),
        sp.limit(d_ns, t, -sp.oo),
        sp.simplify(d_sat / d_ns),
    )


# ---------------------------------------------------------------- f-GAN: generators f and conjugates f*
class TableConjugate(NamedTuple):
    conj: sp.Expr  # f*(t) in closed form
    upper: sp.Expr  # dom f* = (-oo, upper); oo for the whole line


def f_functions() -> dict:
    """The convex f(u) of each F_FUNCTIONS key; f(1) = 0 but for GAN's -log 4 (Nowozin et al. 2016, Table 2)."""
    return {
        "kl": u * sp.log(u),
        "reverse_kl": -sp.log(u),
        "pearson": (u - 1) ** 2,
        "squared_hellinger": (sp.sqrt(u) - 1) ** 2,
        "jensen_shannon": u * sp.log(u) - (u + 1) * sp.log((u + 1) / 2),
        "gan": u * sp.log(u) - (u + 1) * sp.log(u + 1),
    }


def table_conjugates() -> dict:
    """f*(t) and the upper end of dom f* for each f, as printed in Nowozin et al. 2016, Table 2."""
    return {
        "kl": TableConjugate(sp.exp(t - 1), sp.oo),
        "reverse_kl": TableConjugate(-1 - sp.log(-t), sp.S(0)),
        "pearson": TableConjugate(t**2 / 4 + t, sp.oo),
        "squared_hellinger": TableConjugate(t / (1 - t), sp.S(1)),
        "jensen_shannon": TableConjugate(-sp.log(2 - sp.exp(t)), sp.log(2)),
        "gan": TableConjugate(-sp.log(1 - sp.exp(t)), sp.S(0)),
    }


@functools.lru_cache(maxsize=None)
def conjugate(f, u_symbol, t_value):
    """f*(t) = sup_u u t - f(u) = u_t t - f(u_t) where f'(u_t) = t (f strictly convex) (Nowozin et al. 2016, eq. 3)."""
    # Solve over an unconstrained dummy: Pearson's f is convex on all of R, and its Table 2 conjugate (dom f* = R)
    # is the sup over u in R, whose stationary point may be negative.
    x = sp.Dummy("x")
    slope = sp.diff(f, u_symbol).subs(u_symbol, x)
    roots = sp.solve(sp.Eq(slope, t_value), x)
    if len(roots) != 1:  # f' is strictly increasing, so a second root means f is not strictly convex
        raise ValueError(f"conjugate needs exactly one root of f'(u) = t, sympy found {roots}")
    u_t = roots[0]
    return sp.simplify(u_t * t_value - f.subs(u_symbol, u_t))


def on_conjugate_domain(upper):
    """The argument of f* written so that sympy knows it lies in (-oo, upper): upper - log(1 + S) with S > 0, or t."""
    if upper == sp.oo:
        return t
    # log(1 + S) rather than S: exp(t) = exp(upper) / (1 + S) then keeps 1 - e^t and 2 - e^t visibly positive.
    return upper - sp.log(1 + sp.Dummy("S", positive=True))


# ---------------------------------------------------------------- C20: the lambda-divergence
class LambdaDecomposition(NamedTuple):
    integrand: sp.Expr  # lam p log(p/m) + (1 - lam) q log(q/m), the integrand of D_lam
    mixture: sp.Expr  # m = lam p + (1 - lam) q
    posterior: sp.Expr  # r = lam p / m, the posterior that x came from p
    decomposed: sp.Expr  # m (CE(r, lam) - H(r))
    gap: sp.Expr  # integrand - decomposed; simplifies to 0
    jsd_gap: sp.Expr  # integrand at lam = 1/2 minus the JSD integrand; simplifies to 0
    cross_entropy_sum: sp.Expr  # sum_x m CE(r, lam) - H(lam) over a three-point support; simplifies to 0
    entropy_curvature: sp.Expr  # H''(r) = -1 / (r (1 - r)) < 0: H is concave, so sum m H(r) <= H(lam)
    entropy_limits: tuple  # (H(0+), H(1-)) = (0, 0): with concavity, H(r) >= 0, so D_lam <= H(lam)
    entropy_at_half: sp.Expr  # H(1/2) - log 2; simplifies to 0


@functools.lru_cache(maxsize=None)
def lambda_divergence_decomposition() -> LambdaDecomposition:
    """D_lam = sum_x m (CE(r, lam) - H(r)) = H(lam) - sum_x m H(r), so 0 <= D_lam <= H(lam) (Chintala lecture)."""
    m = lam * p + (1 - lam) * q
    post = lam * p / m
    integrand = lam * p * sp.log(p / m) + (1 - lam) * q * sp.log(q / m)
    decomposed = m * (bernoulli_cross_entropy(post, lam) - binary_entropy(post))
    half = sp.Rational(1, 2)
    jsd = value_at_optimum_gap().jsd_integrand
    # Three points carry all the algebra of a general support: sum_x m r = lam sum p = lam, likewise for 1 - r.
    ps, qs = sp.symbols("p1 p2", positive=True), sp.symbols("q1 q2", positive=True)
    support = [(ps[0], qs[0]), (ps[1], qs[1]), (1 - sum(ps), 1 - sum(qs))]
    ce_sum = sum(
        m.subs({p: pi, q: qi}, simultaneous=True)
        * bernoulli_cross_entropy(post.subs({p: pi, q: qi}, simultaneous=True), lam)
        for pi, qi in support
    )
    return LambdaDecomposition(
        integrand,
        m,
        post,
        decomposed,
        integrand - decomposed,
        integrand.subs(lam, half) - jsd,
        sp.expand(ce_sum) - binary_entropy(lam),
        sp.simplify(sp.diff(binary_entropy(r), r, 2)),
        (sp.limit(binary_entropy(r), r, 0, "+"), sp.limit(binary_entropy(r), r, 1, "-")),
        binary_entropy(half) - sp.log(2),
    )
