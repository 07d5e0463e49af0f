"""What the training driver costs beyond the optimiser steps, measured inside the same runs.

    python benchmarks/driver_overhead.py [--steps 1500]

Runs poisson_2d (float64, 50×4 network, Adam only, validation every 500 steps) with forward-mode
and with nested-autograd derivatives. In each run the time spent inside the optimiser's steps
(evaluation, backward, update) is summed by a timer around ``step``; the rest of the loop is the
driver (history, validation, progress, checks, snapshots). Timing both inside one run makes the
share immune to the machine's drift between runs (on this shared machine the same isolated step
was seen at 16 ms and at 32 ms within minutes). Writes benchmarks/results/driver_overhead.*.
"""

from __future__ import annotations

import argparse
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
    rows = {}
    for engine in ENGINES:
        trainer = Trainer(load_problem(problem_path, settings(args.steps, engine)), progress=True)
        inside: list[float] = []
        original = trainer._current_optimiser

        def timed(name: str, config: object, original=original, inside=inside) -> object:
            optimiser = original(name, config)
            if not getattr(optimiser, "_timed", False):
                step = optimiser.step

                def step_timed(k: int, lr_scale: float) -> object:
                    started = time.perf_counter()
                    try:
                        return step(k, lr_scale)
                    finally:
                        inside.append(time.perf_counter() - started)

                optimiser.step = step_timed  # type: ignore[method-assign]
                optimiser._timed = True  # type: ignore[attr-defined]
            return optimiser

        trainer._current_optimiser = timed  # type: ignore[method-assign]
        result = trainer.run()
        first, last = result.history[0]["time_s"], result.history[-1]["time_s"]
        # the loop from the end of step 1 to the end of the last step, against the steps in it
        loop = float(last) - float(first)
        steps = sum(inside[1:])
        rows[engine] = {"loop_s": loop, "steps_s": steps, "driver_share": 1 - steps / loop}
    lines = [
        f"poisson_2d, float64, 2-50×4-1, Adam {args.steps} steps, validation every 500",
        f"{'engine':<10} {'loop s':>8} {'in steps s':>11} {'driver share':>13}",
    ]
    for e, r in rows.items():
        lines.append(f"{e:<10} {r['loop_s']:8.2f} {r['steps_s']:11.2f} {r['driver_share']:12.1%}")
    f, a = rows["forward"], rows["autograd"]
    lines.append(
        f"ratio autograd/forward: loops {a['loop_s'] / f['loop_s']:.2f}×, "
        f"steps {a['steps_s'] / f['steps_s']:.2f}×"
    )
    record("driver_overhead", {"steps": args.steps, "rows": rows}, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
