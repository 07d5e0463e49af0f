"""Finite-difference reference solve times and errors (the "seconds, not minutes" check).

    python benchmarks/fd_timing.py

Solves the shipped 2D Poisson problem at 129², 257² and 513² nodes, the 3D problem at 65³,
and the traction elasticity problem at 129² and 257², printing unknowns, seconds and the
relative L2 error against the exact solution on the nodes.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np

from pinn_gelu import load_problem
from pinn_gelu.reference import solve_reference
from pinn_gelu.reference.grid import evaluate

ROOT = Path(__file__).resolve().parents[1]
CASES = [
    ("poisson_2d", 129),
    ("poisson_2d", 257),
    ("poisson_2d", 513),
    ("poisson_mixed", 513),
    ("poisson_3d", 65),
    ("elasticity_traction", 129),
    ("elasticity_traction", 257),
]


def main() -> None:
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"{'problem':<22} {'nodes':>8} {'unknowns':>10} {'solve_s':>8}  relative L2 vs exact")
    for name, n in CASES:
        problem = load_problem(ROOT / "problems" / f"{name}.yaml")
        solution = solve_reference(problem, n)
        nodes = solution.grid.points()
        errors = []
        for field, values in solution.fields.items():
            exact = evaluate(problem.exact[field], nodes)
            errors.append(
                f"{field} {np.linalg.norm(values.ravel() - exact) / np.linalg.norm(exact):.2e}"
            )
        grid = "×".join([str(n)] * problem.domain.dimension)
        print(
            f"{name:<22} {grid:>8} {solution.unknowns:>10} {solution.solve_time_s:>8.2f}  "
            f"{', '.join(errors)}"
        )


if __name__ == "__main__":
    main()
