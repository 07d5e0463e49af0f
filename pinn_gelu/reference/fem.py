"""Finite-element references of problems on 2D regions: a Problem → :mod:`.fem_solvers` → values.

The region is meshed (:func:`~pinn_gelu.geometry.mesh.mesh_region`) with triangles of edge about
H, and solved with P2 isoparametric elements. Each boundary part gets the condition the problem
resolves for it (:meth:`~pinn_gelu.problem.Problem.resolved_boundary`): Dirichlet or Neumann
(Poisson), displacement or traction per component (elasticity; a free component is
traction-free). Sources, body forces and boundary data are the problem's compiled expressions,
evaluated on numpy coordinates through torch in float64.

The default H is the region's diameter / :data:`DEFAULT_DIVISIONS`. With P2 the L2 error goes as
H³ for smooth solutions (1e-5 relative on the Kirsch plate at H = diameter / 57, tests/test_fem.py)
and as about H^1.6 at a re-entrant corner. On the L-shape these are self-convergence figures:
the difference to a solution of this solver at H = diameter / 200 is 1.9e-3, 6.6e-4 and
2.2e-4 at diameter / 30, 60 and 100. An independently meshed solve (the audit of issue 27)
differs by 2.0e-3, 7.4e-4 and 3.0e-4 at the same sizes: the default (100) is 17× below the
PINN target of 5e-3 there. On the Kirsch plate (PINN target 1e-3) the default's error is
1.2e-5 (tests/test_fem.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from pinn_gelu.expressions import Expression, evaluate_checked
from pinn_gelu.geometry.domain import RegionDomain
from pinn_gelu.geometry.mesh import TriangleMesh, mesh_region
from pinn_gelu.problem import Problem
from pinn_gelu.reference.fem_solvers import (
    ComponentData,
    FEMSolution,
    Field,
    solve_elasticity,
    solve_poisson,
)

__all__ = ["DEFAULT_DIVISIONS", "FEM_SOLVERS", "FEMReference", "default_size", "solve_fem"]

#: Default mesh size: the region's diameter divided by this.
DEFAULT_DIVISIONS = 100


@dataclass(frozen=True, eq=False)
class FEMReference:
    """A finite-element reference solution of a problem.

    Attributes:
        solution: the P2 solution (:class:`~pinn_gelu.reference.fem_solvers.FEMSolution`).
        mesh: the triangle mesh it was solved on.
        size: the mesh size H.
        solve_time_s: wall time of meshing, assembly and solution.
    """

    solution: FEMSolution
    mesh: TriangleMesh
    size: float
    solve_time_s: float

    @property
    def unknowns(self) -> int:
        """Number of unknowns: P2 nodes times solution components."""
        return int(self.solution.basis.N * len(self.solution.fields))

    @property
    def nodes(self) -> np.ndarray:
        """P2 node coordinates (N, 2)."""
        return self.solution.nodes

    @property
    def fields(self) -> Mapping[str, np.ndarray]:
        """Field name → values at :attr:`nodes`."""
        return self.solution.fields

    def interpolate(self, points: np.ndarray) -> dict[str, np.ndarray]:
        """Every field (and in elasticity the stresses) at points (P, 2) of the region.

        A point of the exact region may lie just outside the curved mesh, whose boundary
        follows a curve only through its nodes and midpoints (O(H⁴) away between them): it is
        evaluated by its nearest element's polynomial (up to 1e-2 of an element outside).
        """
        return self.solution.evaluate(points, tolerance=1e-2)

    def describe(self) -> str:
        """``finite-element reference (P2, H = 0.05, 3512 triangles)``."""
        return (
            f"finite-element reference (P2, H = {self.size:.3g}, "
            f"{self.mesh.triangles.shape[0]} triangles)"
        )


def default_size(domain: RegionDomain) -> float:
    """The default mesh size H: the region's diameter / :data:`DEFAULT_DIVISIONS`."""
    return domain.region.diameter / DEFAULT_DIVISIONS


def numpy_field(value: Expression | float, path: str) -> Field:
    """An expression (or constant) as a function of numpy coordinate arrays (any shape)."""

    def field(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        shape = np.shape(x)
        points = torch.as_tensor(np.stack([np.ravel(x), np.ravel(y)], axis=1), dtype=torch.float64)
        return evaluate_checked(value, points, path).numpy().reshape(shape)

    return field


def boundary_field(problem: Problem, side: str, value: Expression | float) -> Field:
    """A boundary value of ``side`` as a function of numpy coordinates (normals from the part)."""

    def field(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        shape = np.shape(x)
        points = torch.as_tensor(np.stack([np.ravel(x), np.ravel(y)], axis=1), dtype=torch.float64)
        return problem.boundary_value(value, side, points).numpy().reshape(shape)

    return field


def _poisson(problem: Problem, mesh: TriangleMesh) -> FEMSolution:
    dirichlet: dict[str, Field] = {}
    neumann: dict[str, Field] = {}
    for part, ((kind, value),) in problem.fixed_boundary().items():
        target = dirichlet if kind == "dirichlet" else neumann
        target[part] = boundary_field(problem, part, value)
    if not dirichlet:  # as the finite-difference path: the system would be singular
        raise ValueError(
            "the finite-element reference needs at least one Dirichlet part: with Neumann "
            "conditions only, the solution is defined up to a constant"
        )
    source = numpy_field(problem.pde.source, problem.path)  # type: ignore[attr-defined]
    return solve_poisson(mesh, source, dirichlet, neumann)


def _elasticity(problem: Problem, mesh: TriangleMesh) -> FEMSolution:
    pde = problem.pde
    displacement: dict[str, ComponentData] = {}
    traction: dict[str, ComponentData] = {}
    for part, per_component in problem.fixed_boundary().items():
        fixed: list[Field | None] = [None, None]
        loaded: list[Field | None] = [None, None]
        for c, (kind, value) in enumerate(per_component):
            chosen = fixed if kind == "displacement" else loaded
            chosen[c] = boundary_field(problem, part, value)
        if any(f is not None for f in fixed):
            displacement[part] = (fixed[0], fixed[1])
        if any(f is not None for f in loaded):
            traction[part] = (loaded[0], loaded[1])
    fixed_components = {c for pair in displacement.values() for c, f in enumerate(pair) if f}
    if fixed_components != {0, 1}:  # a rigid translation would be free: a singular system
        raise ValueError(
            "the finite-element reference needs a displacement condition on each component "
            "(ux and uy, on some part): with tractions only, the solution is defined up to a "
            "rigid motion"
        )
    fx, fy = (numpy_field(f, problem.path) for f in pde.body_force)  # type: ignore[attr-defined]
    return solve_elasticity(
        mesh,
        pde.lam,  # type: ignore[attr-defined]
        pde.mu,  # type: ignore[attr-defined]
        displacement=displacement,
        traction=traction,
        body_force=(fx, fy),
    )


#: ``pde.kind`` → finite-element solver(problem, mesh).
FEM_SOLVERS: Mapping[str, Callable[[Problem, TriangleMesh], FEMSolution]] = {
    "poisson": _poisson,
    "linear_elasticity": _elasticity,
}


def solve_fem(problem: Problem, size: float | None = None) -> FEMReference:
    """The P2 finite-element solution of a problem on a 2D region.

    Args:
        problem: a problem whose domain is a 2D :class:`~pinn_gelu.geometry.domain.RegionDomain`.
        size: mesh size H; default: the file's ``reference.finite_element.size``, else
            :func:`default_size`.

    Raises:
        ValueError: for a kind without a finite-element solver or a domain that is not a 2D
            region.
    """
    domain = problem.domain
    if not isinstance(domain, RegionDomain) or domain.dimension != 2:
        raise ValueError(
            f"finite elements solve on 2D regions (shapes and a region), not on this "
            f"{domain.dimension}D domain"
        )
    if problem.pde.kind not in FEM_SOLVERS:
        raise ValueError(
            f"no finite-element solver for {problem.pde.kind} (expected one of: "
            f"{', '.join(FEM_SOLVERS)})"
        )
    if size is None and problem.reference is not None:
        size = problem.reference.size
    size = default_size(domain) if size is None else size
    start = time.perf_counter()
    mesh = mesh_region(domain.region, size)
    solution = FEM_SOLVERS[problem.pde.kind](problem, mesh)
    return FEMReference(solution, mesh, size, time.perf_counter() - start)
