"""How accurate is the L-shape's finite-element reference? Its self-convergence at three sizes.

    python benchmarks/lshape_reference.py [--divisions 100,200,300]

Solves problems/lshape_poisson.yaml's P2 reference at mesh size diameter / D for each D and
compares each solution with the finest on the file's validation grid: the relative L2
difference, the triangles and the solve time. The difference to the finest bounds the coarser
references' error from below (P2 converges as about H^1.6 at the re-entrant corner, so the
finest one's own error is a fraction of the next one's difference). Writes
benchmarks/results/lshape_reference.json and .txt.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _record import record

from pinn_gelu import load_problem
from pinn_gelu.metrics import evaluation_grid
from pinn_gelu.reference.fem import solve_fem

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--divisions", default="100,200,300")
    args = parser.parse_args()
    divisions = sorted(int(d) for d in args.divisions.split(","))
    problem = load_problem(ROOT / "problems" / "lshape_poisson.yaml")
    grid, _, _ = evaluation_grid(problem)
    diameter = 2 * 2**0.5
    rows = []
    for d in divisions:
        started = time.perf_counter()
        solution = solve_fem(problem, diameter / d)
        seconds = time.perf_counter() - started
        values = solution.interpolate(grid)["u"]
        rows.append(
            {
                "divisions": d,
                "size": diameter / d,
                "seconds": seconds,
                "triangles": len(solution.mesh.triangles),
                "u": values,
            }
        )
    finest = rows[-1]["u"]
    head = f"{'diameter /':>10} {'size':>8} {'triangles':>9} {'solve s':>8}"
    lines = [f"{head}  difference to diameter / {divisions[-1]}"]
    for row in rows:
        row["difference"] = float(np.linalg.norm(row["u"] - finest) / np.linalg.norm(finest))
        lines.append(
            f"{row['divisions']:>10} {row['size']:8.5f} {row['triangles']:>9} "
            f"{row['seconds']:8.1f}  "
            f"{row['difference']:.3e}"
        )
        del row["u"]
    record("lshape_reference", {"rows": rows}, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
