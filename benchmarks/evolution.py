"""Burgers and Allen–Cahn (problems/burgers.yaml, allen_cahn.yaml) against their references.

    python benchmarks/evolution.py burgers                        # the shipped file
    python benchmarks/evolution.py burgers --variant shipped --variant soft --name burgers-ablation
    python benchmarks/evolution.py allen_cahn --variant shipped --variant no_causal

The error is the relative L2 error on a grid against a reference of ours: Burgers on Raissi et
al.'s grid (256 values of x × 100 of t) against the Cole–Hopf solution by quadrature; Allen–
Cahn on jaxpi's grid (512 × 201) against Fourier/ETDRK4 on 2048 points (within about 1e-5;
problems/data/generate.py, whose ``--check`` shows both converge). Variants (``--variant``,
repeatable; default ``shipped``): ``shipped``; ``soft`` (every exact condition as a loss term,
400 boundary points); ``exact`` (every Dirichlet condition exact); ``no_causal`` (causal weights
off); ``causal`` (16 slabs, ε = 1);
``fourier`` (8 Fourier features, σ = 1); ``rar_d`` (250 points added every 250 steps, drawn
from 20,000 candidates, k = 2, c = 0); ``rad`` (the interior redrawn every 250 steps, k = 1,
c = 1); ``uniform`` (adaptive points off). ``--set key=value`` changes the file for every
variant. Not a test: run on demand.
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
import generate  # noqa: E402 (the reference solutions)

#: The published numbers each is compared with.
PUBLISHED = {
    "burgers": "Raissi et al. 2019 (plain PINN): 6.7e-4",
    "allen_cahn": "jaxpi: 5.4e-5, PirateNets: 2.2e-5 (hours on a GPU); the issue's bar: 1e-2",
}


def reference(problem: str) -> tuple[np.ndarray, np.ndarray]:
    """Grid points (N, 2) as (x, t) and the reference values there."""
    if problem == "burgers":
        x, t = np.meshgrid(np.linspace(-1, 1, 256), np.linspace(0, 1, 100), indexing="ij")
        points = np.stack([x.ravel(), t.ravel()], 1)
        return points, generate.burgers_cole_hopf(points[:, 0], points[:, 1])
    x, times, u = generate.allen_cahn_etdrk4(2048, 5e-4)
    x, u = x[::4], u[:, ::4]  # 512 points
    xx, tt = np.meshgrid(x, times, indexing="xy")
    return np.stack([xx.ravel(), tt.ravel()], 1), u.ravel()


def variant(problem: str, name: str) -> dict:
    """The problem file's data for a variant."""
    data = read_yaml(ROOT / "problems" / f"{problem}.yaml")
    training = data["training"]
    if name == "soft":
        for entry in data["boundary"]:
            entry.pop("exact", None)
        training["points"]["boundary"] = 400
    elif name == "exact":
        for entry in data["boundary"]:
            if "dirichlet" in entry:
                entry["exact"] = True
    elif name == "no_causal":
        training.pop("causal", None)
    elif name == "causal":
        training["causal"] = {"slabs": 16, "epsilon": 1.0}
    elif name == "fourier":
        data["network"].update(fourier_features=8, fourier_scale=1.0)
    elif name == "rar_d":
        training["adaptive"] = {"every": 250, "candidates": 20000, "add": 250}
    elif name == "rad":
        training["adaptive"] = {"every": 250, "candidates": 20000, "method": "rad", "k": 1, "c": 1}
    elif name == "uniform":
        training.pop("adaptive", None)
    elif name != "shipped":
        raise SystemExit(f"unknown variant {name!r}")
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem", choices=sorted(PUBLISHED))
    parser.add_argument("--variant", action="append", default=[])
    parser.add_argument("--set", action="append", default=[], help="key=value (repeatable)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--name", help="results file name (default: the problem's)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    name = args.name or args.problem
    points, exact = reference(args.problem)
    rows = []
    for which in args.variant or ["shipped"]:
        data = apply_overrides(variant(args.problem, which), args.set)
        problem = parse_problem(data, str(ROOT / "problems" / f"{args.problem}.yaml"))
        result = train(problem, progress=False)
        with torch.no_grad():
            dtype = next(result.model.parameters()).dtype
            u = result.model(torch.as_tensor(points, dtype=dtype))[:, 0].numpy()
        rows.append(
            {
                "problem": args.problem,
                "variant": which,
                "overrides": args.set,
                "relative_l2": float(np.linalg.norm(u - exact) / np.linalg.norm(exact)),
                "max_error": float(np.abs(u - exact).max()),
                "final_loss": result.final_loss.get("loss"),
                "steps": result.steps,
                "wall_time_s": result.wall_time_s,
                "message": result.message,
            }
        )
        print(which, rows[-1]["relative_l2"], result.wall_time_s, flush=True)
        record(name, {"rows": rows}, table(rows), quiet=True)
    record(name, {"rows": rows}, table(rows))
    return 0


def table(rows: list[dict]) -> str:
    """Variant, relative L2 error, largest error, steps, time; the published number."""
    lines = [f"{'variant':<10} {'rel. L2':>10} {'max err':>10} {'steps':>6} {'time_s':>8}"]
    lines.append("-" * len(lines[0]))
    for r in rows:
        lines.append(
            f"{r['variant']:<10} {r['relative_l2']:>10.3e} {r['max_error']:>10.3e} "
            f"{r['steps']:>6} {r['wall_time_s']:>8.1f}"
        )
    return "\n".join(lines) + f"\n\npublished: {PUBLISHED[rows[0]['problem']]}\n"


if __name__ == "__main__":
    sys.exit(main())
