"""Gauss–Newton with SPRING momentum (ENGD-W) against plain Gauss–Newton, shipped problems.

    python benchmarks/momentum.py                          # μ = 0, 0.5, 0.9 on two problems
    python benchmarks/momentum.py poisson_2d --momenta 0,0.3

Each shipped problem runs with its own settings and ``training.gauss_newton.momentum`` = μ
(``pinn_gelu/optimisers/gauss_newton.py``: each step minimises ‖Jφ − r‖² + λ‖φ − μφ_prev‖²,
Guzmán-Cordero, Dangel, Goldshlager & Zeinhofer 2025), one after another in this process:
relative L2 error, final loss, training time and how the Gauss–Newton phase ended. Issue 26
asks for the momentum "if it measures better": this says whether it does.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from _record import record

from pinn_gelu import load_problem, train

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problems", nargs="*", default=["poisson_2d", "elasticity_plate"])
    parser.add_argument("--momenta", default="0,0.5,0.9")
    parser.add_argument("--seeds", default="0", help="training.seed values, e.g. 0,1,2")
    parser.add_argument("--name", default="momentum")
    args = parser.parse_args()
    momenta = [float(m) for m in args.momenta.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    rows, lines = (
        [],
        [
            f"{'problem':<18} {'seed':>4} {'μ':>5} {'time_s':>7} {'final loss':>11}  errors; "
            "how Gauss–Newton ended"
        ],
    )
    for name, seed, mu in itertools.product(args.problems, seeds, momenta):
        overrides = [f"training.gauss_newton.momentum={mu}", f"training.seed={seed}"]
        problem = load_problem(ROOT / "problems" / f"{name}.yaml", overrides)
        result = train(problem, progress=False)
        errors = ", ".join(f"{k} {v:.2e}" for k, v in result.relative_l2.items())
        row = {
            "problem": name,
            "momentum": mu,
            "seed": seed,
            "time_s": result.wall_time_s,
            "final_loss": result.final_loss["loss"],
            "relative_l2": result.relative_l2,
            "gauss_newton": result.stop_reasons.get("gauss_newton", ""),
        }
        rows.append(row)
        lines.append(
            f"{name:<18} {seed:>4} {mu:>5g} {row['time_s']:>7.1f} {row['final_loss']:>11.3e}  "
            f"{errors}; {row['gauss_newton']}"
        )
        print(lines[-1], flush=True)
    record(args.name, {"rows": rows}, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
