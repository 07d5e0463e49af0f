"""Errors of a trained network on a held-out evaluation grid.

The grid is regular and includes the boundary (:meth:`~pinn_gelu.geometry.Box.grid`); for a CSG
region it covers the bounding box and only the grid points in the closed region are evaluated
(:meth:`~pinn_gelu.geometry.domain.RegionDomain.evaluation_grid`). It is not the collocation
set, so the error is measured where the network was not trained. The error per field is the
relative L2 error on the grid,

    e = ‖u − u_ref‖₂ / ‖u_ref‖₂,

computed in float64 (the discrete norms approximate the L2(Ω) norms up to a factor that cancels
in the ratio on a uniform grid). When the reference is identically zero, the ratio is undefined
and the root-mean-square error is reported instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from pinn_gelu.errors import GeometryError, ProblemFileError
from pinn_gelu.expressions import evaluate_checked
from pinn_gelu.fields import Engine
from pinn_gelu.problem import Problem
from pinn_gelu.reference import solve_reference

__all__ = ["Evaluator", "build_evaluator", "evaluation_grid", "predict", "relative_l2"]

_CHUNK = 16384


def relative_l2(prediction: Tensor | np.ndarray, reference: Tensor | np.ndarray) -> float:
    """‖p − r‖₂ / ‖r‖₂ in float64 (RMS error when ‖r‖₂ = 0).

    >>> relative_l2(np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    0.7071067811865475
    """
    p = np.asarray(torch.as_tensor(prediction).detach().cpu().double())
    r = np.asarray(torch.as_tensor(reference).detach().cpu().double())
    if p.shape != r.shape:
        raise ValueError(f"shapes differ: prediction {p.shape}, reference {r.shape}")
    norm = float(np.linalg.norm(r))
    diff = float(np.linalg.norm(p - r))
    return diff / norm if norm > 0 else diff / np.sqrt(max(r.size, 1))


def predict(
    problem: Problem, network: nn.Module, points: Tensor, engine: Engine
) -> dict[str, Tensor]:
    """The solution fields at points (M, d), each (M,), detached, in chunks to bound memory."""
    pieces: dict[str, list[Tensor]] = {}
    with torch.enable_grad():
        for start in range(0, points.shape[0], _CHUNK):
            chunk = problem.pde.solution(network, points[start : start + _CHUNK], engine)
            for name, values in chunk.items():
                pieces.setdefault(name, []).append(values.detach())
    return {name: torch.cat(parts) for name, parts in pieces.items()}


@dataclass
class Evaluator:
    """The evaluation grid and the reference values on it.

    Attributes:
        points: (M, d) grid points in the domain, in the training dtype and device.
        shape: grid points per dimension of the whole grid, for reshaping values into arrays.
        reference: field → (M,) float64 reference values (exact, finite differences or
            finite elements).
        source: where the reference comes from (``exact`` or ``finite difference, 129²``).
        mask: for a region, (prod(shape),) whether each grid point is in the domain (the
            ``points`` are the grid points where it is True); None for a box (all are).
        at: the reference at any points (P, d) of the domain → field: (P,) float64 (the
            exact expressions, or the reference solution's interpolation), for figures drawn
            beyond the grid; None when the reference was given on the grid only.
    """

    points: Tensor
    shape: tuple[int, ...]
    reference: Mapping[str, Tensor]
    source: str
    mask: np.ndarray | None = None
    at: Callable[[np.ndarray], dict[str, np.ndarray]] | None = None

    def errors(self, problem: Problem, network: nn.Module, engine: Engine) -> dict[str, float]:
        """Relative L2 error per reference field."""
        values = predict(problem, network, self.points, engine)
        return {name: relative_l2(values[name], ref) for name, ref in self.reference.items()}


def build_evaluator(
    problem: Problem,
    dtype: torch.dtype,
    device: torch.device | str,
    reference: Mapping[str, np.ndarray] | None = None,
) -> Evaluator | None:
    """The evaluator of a problem: its grid and the reference values on it.

    The reference is, in order of preference: ``reference`` when given (values on the grid),
    the exact solution (``exact:``), or the finite-difference solution of
    ``reference: {finite_difference: {points: n}}`` interpolated onto the grid.

    Returns:
        None when there is nothing to compare with.
    """
    grid, shape, mask = evaluation_grid(problem)
    points = torch.as_tensor(grid, dtype=dtype, device=device)
    at: Callable[[np.ndarray], dict[str, np.ndarray]] | None = None
    if reference is not None:
        values = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in reference.items()}
        source = "given reference"
    elif problem.exact:
        exact = problem.exact

        def exact_at(where: np.ndarray) -> dict[str, np.ndarray]:
            tensor = torch.as_tensor(where, dtype=torch.float64)
            return {
                name: evaluate_checked(expr, tensor, problem.path).numpy()
                for name, expr in exact.items()
            }

        at = exact_at
        values = {k: torch.as_tensor(v) for k, v in at(grid).items()}
        source = "exact solution"
    elif problem.reference is not None:
        try:
            solution = solve_reference(problem)
        except (ValueError, GeometryError) as err:
            raise ProblemFileError(
                problem.path, f"reference.{problem.reference.method}", str(err)
            ) from None

        def solution_at(where: np.ndarray) -> dict[str, np.ndarray]:
            return {k: v for k, v in solution.interpolate(where).items() if k in solution.fields}

        at = solution_at
        values = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in at(grid).items()}
        source = solution.describe()
    else:
        return None
    return Evaluator(points, shape, values, source, mask, at)


def evaluation_grid(problem: Problem) -> tuple[np.ndarray, tuple[int, ...], np.ndarray | None]:
    """The validation grid's points in the domain (K, d), the grid's shape, and its mask.

    For a box every grid point is in the domain and the mask is None; for a region the points
    are the grid points in the closed region, ``mask`` marks them among all grid points.
    """
    domain = problem.domain
    try:
        grid, shape, mask = domain.evaluation_grid(problem.validation.grid_points(domain.dimension))
    except GeometryError as err:
        raise ProblemFileError(problem.path, "validation.grid", str(err)) from None
    return (grid if mask is None else grid[mask]), shape, mask
