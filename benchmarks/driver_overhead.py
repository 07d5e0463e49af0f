"""What the training driver costs beyond the optimiser step: whole runs against isolated steps.

    python benchmarks/driver_overhead.py [--steps 1500]

Runs poisson_2d (float64, 50×4 network, Adam only, validation every 500 steps) with forward-mode
and with nested-autograd derivatives, then times isolated Adam steps of each (median of 30,
interleaved). If the driver (history, validation, progress, checks, snapshots) cost nothing,
the ratio of whole-run times would equal the ratio of step times; the table shows both, and the
driver's share per step. Writes benchmarks/results/driver_overhead.json and .txt.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from _record import record

from pinn_gelu import load_problem
from pinn_gelu.training import Trainer

ROOT = Path(__file__).resolve().parents[1]
ENGINES = ("forward", "autograd")


def settings(steps: int, engine: str) -> list[str]:
    return [
        f"training.adam.steps={steps}",
        "training.lbfgs.steps=0",
        "validation.every=500",
        "training.dtype=float64",
        f"training.derivatives={engine}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args()
    problem_path = ROOT / "problems" / "poisson_2d.yaml"
    whole: dict[str, float] = {}
    for engine in ENGINES:
        trainer = Trainer(load_problem(problem_path, settings(args.steps, engine)), progress=True)
        started = time.perf_counter()
        trainer.run()
        whole[engine] = time.perf_counter() - started
    # isolated steps: the same Adam update the driver calls, nothing else around it
    trainers = {
        e: Trainer(load_problem(problem_path, settings(args.steps, e)), progress=False)
        for e in ENGINES
    }
    optimisers = {
        e: t._current_optimiser("adam", t.problem.training.adam) for e, t in trainers.items()
    }
    samples: dict[str, list[float]] = {e: [] for e in ENGINES}
    for k in range(1, 31):
        for engine, optimiser in optimisers.items():
            started = time.perf_counter()
            optimiser.step(k, 1.0)
            samples[engine].append(time.perf_counter() - started)
    step = {e: statistics.median(samples[e]) for e in ENGINES}
    per_step = {e: whole[e] / args.steps for e in ENGINES}
    lines = [
        f"poisson_2d, float64, 2-50×4-1, Adam {args.steps} steps, validation every 500",
        f"{'engine':<10} {'whole run s':>12} {'s/step (run)':>13} {'s/step (alone)':>15} "
        f"{'driver share':>13}",
    ]
    for e in ENGINES:
        share = 1 - step[e] / per_step[e]
        lines.append(f"{e:<10} {whole[e]:12.1f} {per_step[e]:13.4f} {step[e]:15.4f} {share:12.0%}")
    lines.append(
        f"ratio autograd/forward: whole runs {whole['autograd'] / whole['forward']:.2f}×, "
        f"isolated steps {step['autograd'] / step['forward']:.2f}×"
    )
    record(
        "driver_overhead",
        {"steps": args.steps, "whole_run_s": whole, "step_s": step, "step_samples_s": samples},
        "\n".join(lines) + "\n",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
