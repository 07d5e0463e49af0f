"""Finite differences for 2D linear elasticity in displacement form, second order.

Interior nodes carry the Navier–Cauchy equations with central differences::

    (λ+2μ) u_xx + μ u_yy + (λ+μ) v_xy = −f_x
    μ v_xx + (λ+2μ) v_yy + (λ+μ) u_xy = −f_y

(u_xy by the 4-point stencil (u_{i+1,j+1} − u_{i+1,j−1} − u_{i−1,j+1} + u_{i−1,j−1})/(4h_x h_y)).
Each boundary node has one row per component: u_c = g_c where some side through the node fixes
component c (Dirichlet first), otherwise the traction condition (σ·n)_c = t_c with
σxx = (λ+2μ)u_x + λv_y, σyy = λu_x + (λ+2μ)v_y, σxy = μ(u_y + v_x). Its derivatives are
central along the side and one-sided second order across it, (∓3f_0 ± 4f_1 ∓ f_2)/(2h), so the
scheme stays second order. At a corner of two traction sides, component c takes the condition of
the side whose normal points along c (σxx from the x side, σyy from the y side).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from pinn_gelu.problem import Problem
from pinn_gelu.reference.fd_grid import (
    FDSolution,
    Grid,
    box_of,
    evaluate,
    evaluate_on_side,
    solve_sparse,
)

__all__ = ["solve_elasticity"]


class _Rows:
    """Sparse-matrix triplets, added stencil by stencil."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.data: list[np.ndarray] = []

    def add(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray | float) -> None:
        self.rows.append(rows)
        self.cols.append(cols)
        self.data.append(np.broadcast_to(np.asarray(values, dtype=float), rows.shape).copy())

    def matrix(self, size: int) -> sparse.csr_matrix:
        return sparse.csr_matrix(
            (np.concatenate(self.data), (np.concatenate(self.rows), np.concatenate(self.cols))),
            shape=(size, size),
        )


def _first_derivative(
    grid: Grid,
    rows: np.ndarray,
    nodes: np.ndarray,
    axis: int,
    component: int,
    weight: float | np.ndarray,
    out: _Rows,
) -> None:
    """Add weight·∂u_component/∂x_axis at ``nodes`` to ``rows``: central, one-sided at the ends."""
    h = grid.spacing[axis]
    size = grid.size
    at = grid.index()[nodes, axis]
    weight = np.broadcast_to(np.asarray(weight, dtype=float), nodes.shape)
    stencils = (
        (at == 0, ((0, -1.5), (1, 2.0), (2, -0.5))),
        (at == grid.n - 1, ((0, 1.5), (-1, -2.0), (-2, 0.5))),
        ((at > 0) & (at < grid.n - 1), ((-1, -0.5), (1, 0.5))),
    )
    for mask, taps in stencils:
        for offset, coefficient in taps:
            out.add(
                rows[mask],
                component * size + grid.neighbour(nodes[mask], axis, offset),
                weight[mask] * coefficient / h,
            )


def solve_elasticity(problem: Problem, points: int) -> FDSolution:
    """Solve the problem's 2D elasticity equations on ``points`` nodes per dimension.

    Returns ux, uy and the stresses sxx, syy, sxy (second-order differences of the solution).

    Raises:
        ValueError: when no side fixes any displacement (rigid motions are then free).
    """
    pde = problem.pde
    lam, mu = pde.lam, pde.mu  # type: ignore[attr-defined]
    box = box_of(problem.domain)
    grid = Grid(box, points)
    size = grid.size
    coordinates = grid.points()
    index = grid.index()
    resolved = problem.fixed_boundary()
    if not any(kind == "displacement" for per in resolved.values() for kind, _ in per):
        raise ValueError(
            "the finite-difference reference needs a displacement condition on some side: "
            "with tractions only, rigid motions are undetermined"
        )
    hx, hy = grid.spacing
    on_boundary = (index == 0) | (index == grid.n - 1)
    interior = np.flatnonzero(~on_boundary.any(axis=1))
    rows = _Rows()
    rhs = np.zeros(2 * size)
    force = [evaluate(f, coordinates[interior]) for f in pde.body_force]  # type: ignore[attr-defined]

    # Navier–Cauchy rows at interior nodes
    def second(rows_: np.ndarray, component: int, axis: int, weight: float) -> None:
        h2 = grid.spacing[axis] ** 2
        for offset, c in ((-1, 1.0), (0, -2.0), (1, 1.0)):
            cols = component * size + grid.neighbour(interior, axis, offset)
            rows.add(rows_, cols, weight * c / h2)

    def mixed(rows_: np.ndarray, component: int, weight: float) -> None:
        for ox, oy, c in ((1, 1, 1.0), (1, -1, -1.0), (-1, 1, -1.0), (-1, -1, 1.0)):
            nodes = grid.neighbour(grid.neighbour(interior, 0, ox), 1, oy)
            rows.add(rows_, component * size + nodes, weight * c / (4 * hx * hy))

    x_rows, y_rows = interior, size + interior
    second(x_rows, 0, 0, lam + 2 * mu)
    second(x_rows, 0, 1, mu)
    mixed(x_rows, 1, lam + mu)
    second(y_rows, 1, 0, mu)
    second(y_rows, 1, 1, lam + 2 * mu)
    mixed(y_rows, 0, lam + mu)
    rhs[x_rows] = -force[0]
    rhs[y_rows] = -force[1]

    # boundary rows: one per component and boundary node
    sides = problem.domain.sides
    boundary = np.flatnonzero(on_boundary.any(axis=1))
    masks = {side: grid.on_side(side)[boundary] for side in sides}
    for component in (0, 1):
        done = np.zeros(boundary.size, dtype=bool)
        # displacement first: a node on any side fixing this component is fixed
        for side in sides:
            kind, value = resolved[side][component]
            mask = masks[side] & ~done & (kind == "displacement")
            if mask.any():
                nodes = boundary[mask]
                rows.add(component * size + nodes, component * size + nodes, 1.0)
                rhs[component * size + nodes] = evaluate_on_side(
                    problem, side, value, coordinates[nodes]
                )
                done |= mask
        # traction: prefer the side whose normal lies along this component
        ordered = sorted(sides, key=lambda s: box.side_axis(s)[0] != component)
        for side in ordered:
            mask = masks[side] & ~done
            if not mask.any():
                continue
            _, value = resolved[side][component]
            nodes = boundary[mask]
            row = component * size + nodes
            axis, sign = box.side_axis(side)
            # (σ·n)_c = sign · σ_{c,axis}
            if component == axis == 0:  # σxx = (λ+2μ) u_x + λ v_y
                terms = ((0, 0, lam + 2 * mu), (1, 1, lam))
            elif component == axis == 1:  # σyy = λ u_x + (λ+2μ) v_y
                terms = ((0, 0, lam), (1, 1, lam + 2 * mu))
            else:  # σxy = μ (u_y + v_x)
                terms = ((0, 1, mu), (1, 0, mu))
            for field, along, coefficient in terms:
                _first_derivative(grid, row, nodes, along, field, sign * coefficient, rows)
            rhs[row] = evaluate_on_side(problem, side, value, coordinates[nodes])
            done |= mask
    matrix = rows.matrix(2 * size)
    solution, seconds = solve_sparse(matrix, rhs)
    ux = solution[:size].reshape(grid.shape)
    uy = solution[size:].reshape(grid.shape)
    dux = np.gradient(ux, hx, hy, edge_order=2)
    duy = np.gradient(uy, hx, hy, edge_order=2)
    trace = dux[0] + duy[1]
    fields = {
        "ux": ux,
        "uy": uy,
        "sxx": lam * trace + 2 * mu * dux[0],
        "syy": lam * trace + 2 * mu * duy[1],
        "sxy": mu * (dux[1] + duy[0]),
    }
    return FDSolution(grid, fields, seconds, 2 * size)
