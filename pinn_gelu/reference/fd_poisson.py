"""Finite differences for −Δu = f on a box: 3-, 5- and 7-point stencils, second order.

On a regular grid with spacings h_k, the Laplacian at an interior node is

    −Δu ≈ Σ_k (2u_i − u_{i−e_k} − u_{i+e_k}) / h_k²,           error O(h²).

Dirichlet nodes (on a side with a Dirichlet condition, corners and edges included) take the
row u_i = g_i. Neumann nodes keep the Laplacian row with a ghost node outside the box, eliminated
with the central difference of the condition: on the max side along k, ∂u/∂n = ∂u/∂x_k = g gives
u_{i+e_k} = u_{i−e_k} + 2h_k g; on the min side ∂u/∂n = −∂u/∂x_k = g gives
u_{i−e_k} = u_{i+e_k} + 2h_k g. Both are O(h²), so the whole scheme is second order (LeVeque,
*Finite Difference Methods for ODEs and PDEs*, SIAM 2007, §2.12). Where a Dirichlet and a
Neumann side meet, the node is Dirichlet.

The Dirichlet nodes are eliminated, and each Neumann row is scaled by ½ per ghost direction,
which makes the remaining system symmetric positive definite: it is solved by sparse LU in 1D and
2D and by conjugate gradients in 3D, where LU fill-in grows too fast.
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

__all__ = ["solve_poisson"]


def solve_poisson(problem: Problem, points: int) -> FDSolution:
    """Solve the problem's Poisson equation on ``points`` nodes per dimension.

    Raises:
        ValueError: with Neumann conditions only (the solution is defined up to a constant).
    """
    grid = Grid(box_of(problem.domain), points)
    coordinates = grid.points()
    conditions = {side: per[0] for side, per in problem.fixed_boundary().items()}
    dirichlet_sides = [s for s, (kind, _) in conditions.items() if kind == "dirichlet"]
    if not dirichlet_sides:
        raise ValueError(
            "the finite-difference reference needs at least one Dirichlet side: with Neumann "
            "conditions only, the solution is defined up to a constant"
        )
    size = grid.size
    dirichlet = np.zeros(size, dtype=bool)
    values = np.zeros(size)
    for side in reversed(dirichlet_sides):  # the first side in domain order wins at corners
        mask = grid.on_side(side)
        values[mask] = evaluate_on_side(problem, side, conditions[side][1], coordinates[mask])
        dirichlet |= mask
    rhs = np.where(dirichlet, values, evaluate(problem.pde.source, coordinates))  # type: ignore[attr-defined]
    free = np.flatnonzero(~dirichlet)
    index = grid.index()
    rows, cols, data = (
        [dirichlet.nonzero()[0]],
        [dirichlet.nonzero()[0]],
        [np.ones(dirichlet.sum())],
    )
    diagonal = np.zeros(size)
    for axis, h in enumerate(grid.spacing):
        at = index[free, axis]
        diagonal[free] += 2.0 / h**2
        for offset, end in ((-1, 0), (1, grid.n - 1)):
            inside = at != end
            nodes = free[inside]
            rows.append(nodes)
            cols.append(grid.neighbour(nodes, axis, offset))
            data.append(np.full(nodes.size, -1.0 / h**2))
            # at a Neumann end the missing neighbour is the ghost: its coefficient doubles the
            # opposite neighbour's, and 2h g/h² = 2g/h goes to the right-hand side
            ghost = free[~inside]
            if ghost.size:
                side = f"{problem.domain.variables[axis]}_{'min' if end == 0 else 'max'}"
                rows.append(ghost)
                cols.append(grid.neighbour(ghost, axis, -offset))
                data.append(np.full(ghost.size, -1.0 / h**2))
                value = evaluate_on_side(problem, side, conditions[side][1], coordinates[ghost])
                rhs[ghost] += 2.0 / h * value
    rows.append(free)
    cols.append(free)
    data.append(diagonal[free])
    matrix = sparse.csr_matrix(
        (np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=(size, size)
    )
    # eliminate the Dirichlet nodes, then scale by ½ per ghost direction: symmetric positive
    ghosts = ((index[free] == 0) | (index[free] == grid.n - 1)).sum(axis=1)
    weight = sparse.diags(0.5**ghosts)
    reduced = weight @ matrix[free][:, free]
    reduced_rhs = weight @ (rhs[free] - matrix[free][:, dirichlet.nonzero()[0]] @ values[dirichlet])
    inner, seconds = solve_sparse(
        reduced, reduced_rhs, symmetric=True, three_d=problem.domain.dimension == 3
    )
    solution = values.copy()
    solution[free] = inner
    return FDSolution(grid, {"u": solution.reshape(grid.shape)}, seconds, free.size)
