"""The finite-difference grid and what every FD solver shares: node sets, values, the result."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import sparse
from scipy.interpolate import RegularGridInterpolator
from scipy.sparse import linalg

from pinn_gelu.expressions import Expression
from pinn_gelu.geometry import Box
from pinn_gelu.problem import Problem

__all__ = ["FDSolution", "Grid", "box_of", "solve_sparse"]


def box_of(domain: object) -> Box:
    """The domain as a box; ValueError for any other domain (finite differences need a box)."""
    if not isinstance(domain, Box):
        raise ValueError("finite differences solve on boxes (rectangle:), not on a region")
    return domain


@dataclass(frozen=True)
class Grid:
    """A regular grid of n points per dimension on a box, boundary included.

    Nodes are numbered in C order of their index (i, j, k), i along x: node = ravel_multi_index.
    """

    box: Box
    n: int

    @property
    def shape(self) -> tuple[int, ...]:
        """Nodes per dimension."""
        return (self.n,) * self.box.dimension

    @property
    def size(self) -> int:
        """Number of nodes."""
        return self.n**self.box.dimension

    @property
    def spacing(self) -> tuple[float, ...]:
        """h_i = (b_i − a_i)/(n − 1)."""
        return tuple((hi - lo) / (self.n - 1) for lo, hi in self.box.bounds)

    @property
    def axes(self) -> list[np.ndarray]:
        """Coordinates along each dimension."""
        return [np.linspace(lo, hi, self.n) for lo, hi in self.box.bounds]

    def index(self) -> np.ndarray:
        """Multi-indices of all nodes, shape (size, d)."""
        return np.stack(np.unravel_index(np.arange(self.size), self.shape), axis=1)

    def points(self) -> np.ndarray:
        """Coordinates of all nodes, shape (size, d)."""
        mesh = np.meshgrid(*self.axes, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=1)

    def on_side(self, side: str) -> np.ndarray:
        """Boolean mask of the nodes on a side (corners and edges included)."""
        axis, sign = self.box.side_axis(side)
        index = self.index()[:, axis]
        return index == (self.n - 1 if sign > 0 else 0)

    def neighbour(self, nodes: np.ndarray, axis: int, offset: int) -> np.ndarray:
        """Node numbers of the neighbours at ``offset`` along ``axis`` (no bounds check)."""
        stride = self.n ** (self.box.dimension - 1 - axis)
        return nodes + offset * stride


def evaluate(value: Expression | float, points: np.ndarray) -> np.ndarray:
    """An expression (or constant) at points (M, d) → (M,), in float64."""
    if not isinstance(value, Expression):
        return np.full(points.shape[0], float(value))
    with torch.no_grad():
        return value(torch.as_tensor(points, dtype=torch.float64))[:, 0].numpy()


def evaluate_on_side(
    problem: Problem, side: str, value: Expression | float, points: np.ndarray
) -> np.ndarray:
    """A boundary value of a box side at points (M, d) → (M,), with the side's normal."""
    with torch.no_grad():
        tensor = torch.as_tensor(points, dtype=torch.float64)
        return problem.boundary_value(value, side, tensor).numpy()


@dataclass
class FDSolution:
    """A finite-difference solution: fields on the grid nodes, and how it was obtained.

    Attributes:
        grid: the grid.
        fields: field name → values of shape ``grid.shape``.
        solve_time_s: seconds for assembly and sparse solve.
        unknowns: size of the linear system.
    """

    grid: Grid
    fields: dict[str, np.ndarray]
    solve_time_s: float
    unknowns: int
    _interpolators: dict[str, Callable[[np.ndarray], np.ndarray]] = field(
        default_factory=dict, repr=False
    )

    def describe(self) -> str:
        """``finite-difference reference (129×129)``."""
        grid = "×".join([str(self.grid.n)] * len(self.grid.axes))
        return f"finite-difference reference ({grid})"

    def interpolate(self, points: np.ndarray) -> dict[str, np.ndarray]:
        """Field values at arbitrary points (M, d) in the box, by cubic spline interpolation.

        Cubic interpolation keeps the interpolation error (O(h⁴)) below the scheme's O(h²).
        """
        values = {}
        for name, data in self.fields.items():
            if name not in self._interpolators:
                method = "cubic" if self.grid.n >= 4 else "linear"
                self._interpolators[name] = RegularGridInterpolator(
                    self.grid.axes, data, method=method
                )
            values[name] = self._interpolators[name](points)
        return values


#: Above this many unknowns a symmetric positive definite system is solved by conjugate
#: gradients (sparse LU of 3D grids fills in too much); below, by sparse LU.
DIRECT_LIMIT = 300_000


def solve_sparse(
    matrix: sparse.spmatrix, rhs: np.ndarray, *, symmetric: bool = False, three_d: bool = False
) -> tuple[np.ndarray, float]:
    """Solve A u = b; (u, seconds).

    Sparse LU (SuperLU) unless the system is symmetric positive definite and either comes from a
    3D grid or has more than :data:`DIRECT_LIMIT` unknowns: then Jacobi-preconditioned conjugate
    gradients to a relative residual of 1e-12, far below the O(h²) discretisation error.
    """
    started = time.perf_counter()
    if symmetric and (three_d or matrix.shape[0] > DIRECT_LIMIT):
        matrix = sparse.csr_matrix(matrix)
        preconditioner = sparse.diags(1.0 / matrix.diagonal())
        solution, info = linalg.cg(
            matrix, rhs, rtol=1e-12, atol=0.0, maxiter=20 * matrix.shape[0], M=preconditioner
        )
        if info != 0:
            raise RuntimeError(f"conjugate gradients did not converge ({info} iterations)")
    else:
        solution = linalg.spsolve(sparse.csc_matrix(matrix), rhs)
    return np.asarray(solution), time.perf_counter() - started
