"""Finite-difference reference solutions on rectangles (scipy.sparse), second order.

:func:`solve_reference` dispatches on the PDE kind through :data:`FD_SOLVERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..problem import Problem
from .elasticity import solve_elasticity
from .grid import FDSolution, Grid
from .poisson import solve_poisson

__all__ = ["FD_SOLVERS", "FDSolution", "Grid", "solve_reference"]

#: ``pde.kind`` → solver(problem, points per dimension).
FD_SOLVERS: Mapping[str, Callable[[Problem, int], FDSolution]] = {
    "poisson": solve_poisson,
    "linear_elasticity": solve_elasticity,
}


def solve_reference(problem: Problem, points: int | None = None) -> FDSolution:
    """The finite-difference solution of a problem.

    Args:
        problem: the problem.
        points: nodes per dimension; default: the file's ``reference.finite_difference.points``,
            else 129.

    Raises:
        ValueError: when the problem has no FD solver or cannot be solved by one.
    """
    if problem.pde.kind not in FD_SOLVERS:
        raise ValueError(f"no finite-difference solver for {problem.pde.kind}")
    if points is None:
        points = problem.reference.points if problem.reference is not None else 129
    return FD_SOLVERS[problem.pde.kind](problem, points)
