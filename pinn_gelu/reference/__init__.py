"""Reference solutions: finite differences on boxes, finite elements on 2D regions.

:data:`METHODS` lists the reference methods (``reference: {finite_difference: …}`` or
``reference: {finite_element: …}``): the PDE kinds and domains each solves. Finite differences
(scipy.sparse, second order) solve on boxes, dispatching on the PDE kind through
:data:`FD_SOLVERS`; finite elements (scikit-fem, P2 isoparametric) on 2D regions through
:data:`~pinn_gelu.reference.fem.FEM_SOLVERS`. :func:`method_for` picks a domain's method.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pinn_gelu.config import Limits
from pinn_gelu.errors import number_text
from pinn_gelu.geometry import Box
from pinn_gelu.geometry.domain import Domain, RegionDomain
from pinn_gelu.geometry.mesh import MAX_ELEMENTS
from pinn_gelu.problem import Problem, ReferenceConfig
from pinn_gelu.reference.fd_elasticity import solve_elasticity
from pinn_gelu.reference.fd_grid import FDSolution, Grid
from pinn_gelu.reference.fd_poisson import solve_poisson
from pinn_gelu.reference.fem import FEM_SOLVERS, FEMReference, solve_fem
from pinn_gelu.schema import Section

__all__ = [
    "FD_SOLVERS",
    "METHODS",
    "FDSolution",
    "FEMReference",
    "Grid",
    "ReferenceMethod",
    "method_for",
    "solve_reference",
]

#: ``pde.kind`` → solver(problem, points per dimension).
FD_SOLVERS: Mapping[str, Callable[[Problem, int], FDSolution]] = {
    "poisson": solve_poisson,
    "linear_elasticity": solve_elasticity,
}


@dataclass(frozen=True)
class ReferenceMethod:
    """One reference method: what it solves and how.

    Attributes:
        name: its key under ``reference:``.
        kinds: the PDE kinds it solves.
        domains: the domains it solves on, in words (for messages).
        accepts: whether it solves on a domain.
        solve: (problem, resolution or None for the file's/default) → a solution with
            ``fields``, ``interpolate(points)``, ``unknowns`` and ``describe()``.
        options: its section under ``reference:`` (checked against the domain and limits) →
            the problem's :class:`~pinn_gelu.problem.ReferenceConfig`.
        summary: a ReferenceConfig → its line in a problem's summary.
        resolution: what the resolution is called (``points``, ``size``: the command line's
            option of ``pinn-gelu reference``).
    """

    name: str
    kinds: tuple[str, ...]
    domains: str
    accepts: Callable[[Domain], bool]
    solve: Callable[[Problem, Any], Any]
    options: Callable[[Section, Domain, Limits], ReferenceConfig]
    summary: Callable[[ReferenceConfig], str]
    resolution: str


def _fd(problem: Problem, points: int | None) -> FDSolution:
    if points is None:
        points = problem.reference.points if problem.reference is not None else 129
    return FD_SOLVERS[problem.pde.kind](problem, points)


def _fd_options(options: Section, domain: Domain, limits: Limits) -> ReferenceConfig:
    """``finite_difference: {points: n}``: nodes per dimension, within max_fd_unknowns."""
    points = options.integer("points", 129, minimum=3, maximum=100_000)
    options.finish()
    if points**domain.dimension > limits.max_fd_unknowns:
        raise options.error(
            "points",
            f"{points} per dimension gives {points**domain.dimension} unknowns; the limit is "
            f"{limits.max_fd_unknowns} (max_fd_unknowns)",
        )
    return ReferenceConfig(points=points)


def _fem_options(options: Section, domain: Domain, limits: Limits) -> ReferenceConfig:
    """``finite_element: {size: H}``: the mesh size, within max_fd_unknowns / 10 triangles."""
    size = options.number("size", exclusive_minimum=0.0) if options.has("size") else None
    options.finish()
    most = min(limits.max_fd_unknowns // 10, MAX_ELEMENTS)  # the mesher's bound, too
    smallest = math.sqrt(domain.volume / (0.433 * most))  # no division by a tiny size squared
    if size is not None and size < smallest:
        raise options.error(
            "size",
            f"expected a positive mesh size giving at most {number_text(most)} triangles "
            f"(the mesher's {number_text(MAX_ELEMENTS)}, and max_fd_unknowns / 10), got {size:g}",
        )
    return ReferenceConfig(method="finite_element", size=size)


def _fd_summary(config: ReferenceConfig) -> str:
    return f"finite differences, {config.points} points per dimension"


def _fem_summary(config: ReferenceConfig) -> str:
    size = f"{config.size:g}" if config.size is not None else "default (diameter / 100)"
    return f"finite elements (P2), mesh size {size}"


#: Reference method name → method.
METHODS: Mapping[str, ReferenceMethod] = {
    "finite_difference": ReferenceMethod(
        "finite_difference",
        tuple(FD_SOLVERS),
        "boxes (rectangle:)",
        lambda domain: isinstance(domain, Box) and not domain.time,
        _fd,
        _fd_options,
        _fd_summary,
        "points",
    ),
    "finite_element": ReferenceMethod(
        "finite_element",
        tuple(FEM_SOLVERS),
        "2D regions (shapes and a region)",
        lambda domain: isinstance(domain, RegionDomain) and domain.dimension == 2,
        solve_fem,
        _fem_options,
        _fem_summary,
        "size",
    ),
}


def method_for(domain: Domain, kind: str) -> ReferenceMethod:
    """The reference method that solves ``kind`` on ``domain``.

    Raises:
        ValueError: when none does, saying which methods solve what.
    """
    for method in METHODS.values():
        if method.accepts(domain) and kind in method.kinds:
            return method
    offered = "; ".join(
        f"{m.name} solves {', '.join(m.kinds)} on {m.domains}" for m in METHODS.values()
    )
    what = (
        f"a {domain.dimension}D region"
        if isinstance(domain, RegionDomain)
        else ("a box with time" if domain.time else "this domain")
    )
    raise ValueError(f"no reference solution is available for kind {kind} on {what} ({offered})")


def solve_reference(problem: Problem, resolution: int | float | None = None) -> Any:
    """The reference solution of a problem by its method (the file's, else the domain's).

    Args:
        problem: the problem.
        resolution: nodes per dimension (finite differences) or mesh size H (finite elements);
            default: the file's, else the method's default.

    Raises:
        ValueError: when no method solves the problem.
    """
    if problem.reference is not None and problem.reference.method in METHODS:
        method = METHODS[problem.reference.method]
        if not (method.accepts(problem.domain) and problem.pde.kind in method.kinds):
            method = method_for(problem.domain, problem.pde.kind)
    else:
        method = method_for(problem.domain, problem.pde.kind)
    return method.solve(problem, resolution)
