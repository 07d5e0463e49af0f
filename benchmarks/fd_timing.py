"""Finite-difference reference solve times and errors (the "seconds, not minutes" check).

    python benchmarks/fd_timing.py     # writes benchmarks/results/fd_timing.json and .txt

Solves the shipped 2D Poisson problem at 129², 257² and 513² nodes, the mixed-boundary problem
at 513², the 3D problem at 65³, and the traction elasticity problem at 129² and 257², recording
unknowns, seconds (sparse direct solve) and the relative L2 error against the exact solution on
the nodes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _record import record

from pinn_gelu import load_problem
from pinn_gelu.reference import solve_reference
from pinn_gelu.reference.fd_grid import evaluate

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
    rows = []
    lines = [f"{'problem':<22} {'nodes':>11} {'unknowns':>10} {'solve_s':>8}  relative L2 vs exact"]
    for name, n in CASES:
        problem = load_problem(ROOT / "problems" / f"{name}.yaml")
        solution = solve_reference(problem, n)
        nodes = solution.grid.points()
        errors = {}
        for field, values in solution.fields.items():
            exact = evaluate(problem.exact[field], nodes)
            errors[field] = float(np.linalg.norm(values.ravel() - exact) / np.linalg.norm(exact))
        grid = "×".join([str(n)] * problem.domain.dimension)
        rows.append(
            {
                "problem": name,
                "nodes": grid,
                "unknowns": solution.unknowns,
                "solve_s": solution.solve_time_s,
                "relative_l2_vs_exact": errors,
            }
        )
        shown = ", ".join(f"{k} {v:.2e}" for k, v in errors.items())
        lines.append(
            f"{name:<22} {grid:>11} {solution.unknowns:>10} {solution.solve_time_s:>8.2f}  {shown}"
        )
        print(lines[-1], flush=True)
    record("fd_timing", {"rows": rows}, "\n".join(lines))


if __name__ == "__main__":
    main()
