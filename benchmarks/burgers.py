"""Burgers' equation (problems/burgers.yaml) against the Cole–Hopf solution, and an ablation.

    python benchmarks/burgers.py                         # the shipped file
    python benchmarks/burgers.py --variant soft --variant exact --name burgers-ablation

The error is the relative L2 error on Raissi et al.'s grid (256 values of x in [−1, 1] × 100 of
t in [0, 1]) against the Cole–Hopf solution by quadrature (problems/data/generate.py; its own
convergence: ``python problems/data/generate.py --check``). Variants (``--variant``, repeatable):
``exact`` (the shipped file), ``soft`` (the same conditions as loss terms, 400 boundary points).
``--set key=value`` changes the file for every variant. Not a test: run on demand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from _record import record

from pinn_gelu import train
from pinn_gelu.problem_file import apply_overrides, parse_problem, read_yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "problems" / "data"))
import generate  # noqa: E402 (the Cole–Hopf solution)

FILE = ROOT / "problems" / "burgers.yaml"


def variant(name: str) -> dict:
    """The problem file's data for a variant."""
    data = read_yaml(FILE)
    if name == "soft":
        for entry in data["boundary"]:
            entry.pop("exact", None)
        data["training"]["points"]["boundary"] = 400
    elif name != "exact":
        raise SystemExit(f"unknown variant {name!r} (expected exact or soft)")
    return data


def grid() -> tuple[np.ndarray, np.ndarray]:
    """Raissi's grid as (N, 2) points (x, t) and the Cole–Hopf values there."""
    x, t = np.meshgrid(np.linspace(-1, 1, 256), np.linspace(0, 1, 100), indexing="ij")
    points = np.stack([x.ravel(), t.ravel()], 1)
    return points, generate.burgers_cole_hopf(points[:, 0], points[:, 1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", default=[], help="exact (default), soft")
    parser.add_argument("--set", action="append", default=[], help="key=value (repeatable)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--name", default="burgers", help="results file name (no suffix)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    points, exact = grid()
    rows = []
    for name in args.variant or ["exact"]:
        problem = parse_problem(apply_overrides(variant(name), args.set), str(FILE))
        result = train(problem, progress=False)
        with torch.no_grad():
            dtype = next(result.model.parameters()).dtype
            u = result.model(torch.as_tensor(points, dtype=dtype))[:, 0].numpy()
        error = float(np.linalg.norm(u - exact) / np.linalg.norm(exact))
        rows.append(
            {
                "variant": name,
                "overrides": args.set,
                "relative_l2": error,
                "max_error": float(np.abs(u - exact).max()),
                "final_loss": result.final_loss.get("loss"),
                "steps": result.steps,
                "wall_time_s": result.wall_time_s,
                "message": result.message,
            }
        )
        print(name, error, result.wall_time_s, flush=True)
        record(args.name, {"rows": rows}, table(rows), quiet=True)
    record(args.name, {"rows": rows}, table(rows))
    return 0


def table(rows: list[dict]) -> str:
    """Variant, relative L2 error, largest error, steps, time."""
    lines = [
        f"{'variant':<10} {'rel. L2':>10} {'max err':>10} {'steps':>6} {'time_s':>8}",
        "-" * 48,
    ]
    for r in rows:
        lines.append(
            f"{r['variant']:<10} {r['relative_l2']:>10.3e} {r['max_error']:>10.3e} "
            f"{r['steps']:>6} {r['wall_time_s']:>8.1f}"
        )
    return "\n".join(lines) + "\n\nRaissi et al. 2019 (plain PINN): 6.7e-4\n"


if __name__ == "__main__":
    sys.exit(main())
