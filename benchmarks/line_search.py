"""A Gauss–Newton line search's 12 trial losses: one batched pass against one after another.

    python benchmarks/line_search.py            # results/line_search.json and .txt
    python benchmarks/line_search.py --device cuda

The loss of poisson_2d at the 12 parameter vectors θ + 2⁻ᵏ δ (k = 0 … 11) that a line search
tries, evaluated by ``Loss.values_at`` (torch.func.vmap over the vectors, one pass) and by
setting the parameters and evaluating the loss for each in turn, each with its one read from
the device. The median of 5 repeats after one warm-up; the shipped network and points, and a
50×4 network on 20,000 interior points. ``line_search_pass: auto`` follows what this measures:
batched on CUDA, sequential on the CPU.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from _record import record

from pinn_gelu import load_problem
from pinn_gelu.training.setup import assemble

ROOT = Path(__file__).resolve().parents[1]
SIZES = {
    "shipped (20×3, 2,000 interior)": [],
    "50×4, 20,000 interior": [
        "network.width=50",
        "network.depth=4",
        "training.points.interior=20000",
        "training.schedule=adam",
    ],
}


def measure(label: str, device: str, repeats: int) -> dict:
    problem = load_problem(
        ROOT / "problems" / "poisson_2d.yaml", [*SIZES[label], f"training.device={device}"]
    )
    parts = assemble(problem)
    loss = parts.objective
    params = [p for p in parts.model.parameters() if p.requires_grad]
    start = torch.cat([p.detach().reshape(-1) for p in params])
    step = 1e-2 * torch.randn_like(start, generator=torch.Generator(device).manual_seed(0))
    flats = torch.stack([start + 0.5**k * step for k in range(12)])

    def batched() -> None:
        loss.values_at(flats).tolist()

    def sequential() -> None:
        for flat in flats:
            with torch.no_grad():
                for p, piece in zip(params, flat.split([p.numel() for p in params]), strict=True):
                    p.copy_(piece.view_as(p))
            total, terms = loss.value()
            torch.cat([total.reshape(1), terms]).tolist()

    row = {"size": label}
    for name, run in (("batched", batched), ("sequential", sequential)):
        run()
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        row[f"{name}_ms"] = statistics.median(times) * 1e3
    row["ratio"] = row["batched_ms"] / row["sequential_ms"]
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--name", default=None)
    args = parser.parse_args()
    rows = [measure(label, args.device, args.repeats) for label in SIZES]
    lines = [
        f"poisson_2d, float64, {args.device}: 12 trial losses of a line search",
        f"{'size':<32} {'batched ms':>11} {'sequential ms':>14} {'batched/seq':>12}",
    ]
    for r in rows:
        lines.append(
            f"{r['size']:<32} {r['batched_ms']:>11.1f} {r['sequential_ms']:>14.1f} "
            f"{r['ratio']:>11.2f}×"
        )
    record(args.name or f"line_search-{args.device}", {"rows": rows}, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
