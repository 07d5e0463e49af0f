"""Accuracy and wall time of shipped problems, solved with their shipped settings.

    python benchmarks/accuracy.py          # poisson_2d, elasticity_plate, elasticity_plate_mixed
    python benchmarks/accuracy.py poisson_1d poisson_3d --name accuracy-poisson
    python benchmarks/accuracy.py poisson_2d --set network.activation=tanh --name accuracy-tanh

Records one row per problem: relative L2 error per field, wall time, steps, how each phase
ended, and whether the problem's target (TARGETS below) is met, in
benchmarks/results/<name>.json and .txt (default name: accuracy; the README's accuracy table
comes from that file). Not a test: run on demand, on a quiet machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _record import record

from pinn_gelu import load_problem, train

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ["poisson_2d", "elasticity_plate", "elasticity_plate_mixed"]

# problem → (fields judged, max relative L2 error of each, max wall time in seconds or None)
TARGETS = {
    "poisson_2d": (("u",), 1e-6, 130.0),
    "elasticity_plate": (("ux", "uy"), 1e-5, None),
    "elasticity_plate_mixed": (("ux", "uy"), 1e-3, None),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problems", nargs="*", default=DEFAULT)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--name", default="accuracy", help="results file name (no suffix)")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    head = f"{'problem':<22} {'activation':<10} {'dtype':<8} {'steps':>6} {'time_s':>8}  errors"
    lines = [head, "-" * len(head)]
    rows = []
    all_met = True
    for name in args.problems:
        problem = load_problem(ROOT / "problems" / f"{name}.yaml", args.overrides)
        result = train(problem, progress=args.progress)
        errors = ", ".join(f"{k} {v:.2e}" for k, v in result.relative_l2.items())
        verdict, met = "", None
        if name in TARGETS and not args.overrides:
            fields, max_error, max_time = TARGETS[name]
            met = max(result.relative_l2[f] for f in fields) <= max_error
            met &= max_time is None or result.wall_time_s <= max_time
            all_met &= met
            within = f" in < {max_time:g} s" if max_time else ""
            verdict = (
                f"  target {', '.join(fields)} ≤ {max_error:g}{within}: "
                f"{'met' if met else 'MISSED'}"
            )
        lines.append(
            f"{name:<22} {result.activation:<10} {problem.training.dtype:<8} {result.steps:>6} "
            f"{result.wall_time_s:>8.1f}  {errors}{verdict}"
        )
        lines.append(f"{'':<22} {result.message}")
        print("\n".join(lines[-2:]), flush=True)
        rows.append(
            {
                "problem": name,
                "activation": result.activation,
                "dtype": problem.training.dtype,
                "steps": result.steps,
                "wall_time_s": result.wall_time_s,
                "relative_l2": dict(result.relative_l2),
                "message": result.message,
                "target_met": met,
            }
        )
    record(args.name, {"overrides": args.overrides, "rows": rows}, "\n".join(lines))
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
