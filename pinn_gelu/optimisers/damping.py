"""How a Gauss–Newton phase adapts its damping after an accepted step: :data:`DAMPING_RULES`.

A step solves (JᵀJ + λI) δ = −Jᵀr, then takes the best of the step lengths η = 1, ½, ¼, …
(:mod:`pinn_gelu.optimisers.gauss_newton`). When no length lowers the loss, every rule does the
same: λ ×10 and the step is solved again. The rules differ in what an accepted step does to λ:

``classic``
    λ/3 after a full step (η = 1), unchanged after a shorter one. An accepted short step never
    moves λ, so a run whose line search settles below η = 1 keeps the damping it had then: in
    the shipped poisson_2d run, η = 1/64 and λ = 3.3e-9 for each of the last 100 steps
    (issue 27, "the damping is frozen").

``marquardt``
    λ/3 after every accepted step, whatever its length: Marquardt's (1963, "An algorithm for
    least-squares estimation of nonlinear parameters", SIAM J. Appl. Math. 11) rule of
    decreasing the damping after every success and increasing it after every failure. With the
    line search choosing the length, the direction tends to the undamped Gauss–Newton one as
    long as steps succeed; a failure (no length lowers the loss) multiplies λ by 10.

``gain``
    The gain ratio of the full step, as in a trust-region method (Madsen, Nielsen & Tingleff
    2004, "Methods for non-linear least squares problems", §3.2; Nielsen 1999):

        ρ = (L(θ) − L(θ + δ)) / (L(θ) − m(δ)),   m(δ) = ‖r + Jδ‖²,

    the decrease the full step achieved over the decrease the linear model promised. Then
    λ ← λ·max(⅓, 1 − (2ρ − 1)³) and ν ← 2 when ρ > 0, else λ ← λ·ν and ν ← 2ν. The full step is
    evaluated by the line search anyway, so ρ costs one extra matrix–vector product. The step
    taken is still the line search's best, so a poor model raises λ (the next direction is
    shorter and nearer the gradient) while the loss keeps decreasing.

A rule is a function (damping, growth, ρ, full step accepted) → (damping, growth); a new one is
a new entry here and a new choice of ``training.gauss_newton.damping_rule``.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "DAMPING_RULES",
    "MAX_DAMPING",
    "MIN_DAMPING",
    "DampingRule",
    "classic",
    "gain",
    "marquardt",
]

#: Relative damping beyond which a step that lowers nothing ends the phase.
MAX_DAMPING = 1.0
#: The smallest relative damping a rule sets.
MIN_DAMPING = 1e-15

#: (damping, growth ν, gain ratio ρ of the full step, full step accepted) → (damping, growth).
DampingRule = Callable[[float, float, float, bool], tuple[float, float]]


def classic(damping: float, growth: float, ratio: float, full: bool) -> tuple[float, float]:
    """λ/3 after a full step, else unchanged (the growth ν is not used)."""
    del ratio
    return (max(damping / 3.0, MIN_DAMPING) if full else damping), growth


def marquardt(damping: float, growth: float, ratio: float, full: bool) -> tuple[float, float]:
    """λ/3 after every accepted step (the growth ν and the ratio ρ are not used)."""
    del ratio, full
    return max(damping / 3.0, MIN_DAMPING), growth


def gain(damping: float, growth: float, ratio: float, full: bool) -> tuple[float, float]:
    """Nielsen's update from the gain ratio ρ of the full step (see the module docstring)."""
    del full
    if ratio > 0.0:
        factor = max(1.0 / 3.0, 1.0 - (2.0 * ratio - 1.0) ** 3)
        return min(max(damping * factor, MIN_DAMPING), MAX_DAMPING), 2.0
    return min(damping * growth, MAX_DAMPING), min(2.0 * growth, 2.0**30)


#: The damping rules by name, as ``training.gauss_newton.damping_rule`` accepts them.
DAMPING_RULES: dict[str, DampingRule] = {"classic": classic, "marquardt": marquardt, "gain": gain}
