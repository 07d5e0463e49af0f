"""Accuracy and wall time of the shipped CSG-region problems, solved with their shipped settings.

    python benchmarks/geometry.py                       # all four, results/geometry.{txt,json}
    python benchmarks/geometry.py annulus_laplace --set training.gauss_newton.steps=5 \
        --name geometry-smoke                           # a reduced run

Rows: relative L2 error per field (against the exact solution, or for lshape_poisson the P2
finite-element reference), wall time, steps, and whether the target (TARGETS below) is met; for
the Kirsch plate also σxx at the top of the hole (0, a), which the exact field puts at 3S (the
stress concentration). Not a test: run on demand, on a quiet machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from _record import record

from pinn_gelu import load_problem, train
from pinn_gelu.derivatives import select_engine
from pinn_gelu.metrics import predict

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ["kirsch_plate", "annulus_laplace", "lshape_poisson", "box_cavity_3d"]

# problem → (fields judged, max relative L2 error of each)
TARGETS = {
    "kirsch_plate": (("ux", "uy"), 1e-3),
    "annulus_laplace": (("u",), 1e-4),
    "lshape_poisson": (("u",), 1e-3),
    "box_cavity_3d": (("u",), 1e-3),
}


def hole_stress(problem, network) -> float:
    """σxx of the trained network at the top of the hole (0, a)."""
    a = float(problem.parameters["a"])
    parameter = next(network.parameters())
    point = torch.tensor([[0.0, a]], dtype=parameter.dtype, device=parameter.device)
    engine, _ = select_engine(network, "auto")
    return float(predict(problem, network, point, engine)["sxx"][0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problems", nargs="*", default=DEFAULT)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--name", default="geometry", help="results file name (no suffix)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    head = f"{'problem':<17} {'steps':>6} {'time_s':>8}  errors"
    lines = [head, "-" * len(head)]
    rows = []
    all_met = True
    for name in args.problems:
        problem = load_problem(ROOT / "problems" / f"{name}.yaml", args.overrides)
        result = train(problem, progress=args.progress)
        errors = ", ".join(f"{k} {v:.2e}" for k, v in result.relative_l2.items())
        row = {
            "problem": name,
            "relative_l2": result.relative_l2,
            "wall_time_s": result.wall_time_s,
            "steps": sum(result.phase_steps.values()),
            "status": result.status,
        }
        extra = ""
        if name == "kirsch_plate":
            row["sxx_top_of_hole"] = hole_stress(problem, result.model)
            extra = f"; σxx(0, a) = {row['sxx_top_of_hole']:.4f} (exact 3S = 3)"
        verdict = ""
        if name in TARGETS and not args.overrides:
            fields, max_error = TARGETS[name]
            met = max(result.relative_l2[f] for f in fields) <= max_error
            row["target_met"] = met
            all_met &= met
            verdict = f"  target {', '.join(fields)} ≤ {max_error:g}: {'met' if met else 'MISSED'}"
        rows.append(row)
        lines.append(
            f"{name:<17} {row['steps']:>6} {result.wall_time_s:>8.1f}  {errors}{extra}{verdict}"
        )
    table = "\n".join(lines) + "\n"
    record(args.name, {"overrides": args.overrides, "rows": rows}, table)
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
