"""The cost per point of a training step as the points grow: in chunks, and in one piece.

    python benchmarks/chunks.py                  # one thread; results/chunks.json and .txt

One step (loss and gradient, as Adam takes it) of poisson_2d on a 50×4 network, forward mode,
float32, at 20,000 and 200,000 interior points: with ``training.step_memory`` at its default
(auto: chunks of at most 256 MiB of step memory on the CPU) and with one piece
(``step_memory`` = 1 TiB). The median of the repeats after two warm-up steps, one thread.
Issue 26 asks that a 200,000-point step cost at most 1.3× per point what a 20,000-point step
does; in one piece it cost 3.7× (the page faults of arrays too large for the allocator to keep).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from _record import record

from pinn_gelu import load_problem
from pinn_gelu.config import Limits
from pinn_gelu.training import Trainer

ROOT = Path(__file__).resolve().parents[1]
POISSON = ROOT / "problems" / "poisson_2d.yaml"
LIMITS = Limits(max_tensor_bytes=64 * 2**30)
LAYOUTS = {"chunks (auto)": [], "one piece": [f"training.step_memory={2**40}"]}


def per_point(points: int, layout: str, repeats: int) -> dict:
    overrides = [
        "training.derivatives=forward",
        "network.width=50",
        "network.depth=4",
        f"training.points.interior={points}",
        "training.dtype=float32",
        "training.schedule=adam",
        *LAYOUTS[layout],
    ]
    trainer = Trainer(load_problem(POISSON, overrides, limits=LIMITS), progress=False)
    for _ in range(2):
        trainer.objective.value_and_gradient(trainer.params)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        trainer.objective.value_and_gradient(trainer.params)
        times.append(time.perf_counter() - started)
    seconds = statistics.median(times)
    total = points + trainer.points.boundary.shape[0]
    return {
        "layout": layout,
        "interior": points,
        "points": total,
        "chunks": trainer.chunks,
        "ms": seconds * 1e3,
        "us_per_point": seconds / total * 1e6,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--name", default="chunks")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [
        per_point(points, layout, args.repeats)
        for layout in LAYOUTS
        for points in (20_000, 200_000)
    ]
    base = next(r for r in rows if r["layout"] == "chunks (auto)" and r["interior"] == 20_000)
    lines = [
        "poisson_2d, 50×4 network, forward mode, float32: one step (loss + gradient)",
        f"{'layout':<14} {'interior':>9} {'chunks':>7} {'ms':>9} {'µs/point':>9} {'vs 20k':>7}",
    ]
    for r in rows:
        r["ratio_to_20k_chunked"] = r["us_per_point"] / base["us_per_point"]
        lines.append(
            f"{r['layout']:<14} {r['interior']:>9,} {r['chunks']:>7} {r['ms']:>9.1f} "
            f"{r['us_per_point']:>9.2f} {r['ratio_to_20k_chunked']:>6.2f}×"
        )
    record(args.name, {"rows": rows}, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
