"""Does the L-shape's per-point PDE weight help? Five seeds with it and without, shipped settings.

    python benchmarks/lshape_weight.py [--seeds 0,1,2,3,4] [--jobs 2]

Each run is ``pinn-gelu solve problems/lshape_poisson.yaml --seed S`` (one thread), with the
per-point weight w = r/√(r² + ρ²), ρ = 0.2, on the PDE residual and without it; the error is
against the P2 finite-element reference. Writes benchmarks/results/lshape_weight.json and .txt.
(The results of 2026-12-04 were measured when the shipped file carried the weight, as
``weighted``, and the unweighted runs set ``training.weights.pde=1``: the same two problems.)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _record import record

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = ROOT / "problems" / "lshape_poisson.yaml"
WEIGHT = "sqrt((x**2 + y**2)/(x**2 + y**2 + 0.04))"
VARIANTS = {"weighted": ["--set", f"training.weights.pde={WEIGHT}"], "unweighted": []}


def run(variant: str, seed: int, directory: Path) -> dict[str, object]:
    out = directory / f"{variant}-{seed}"
    command = [
        sys.executable, "-m", "pinn_gelu", "solve", str(PROBLEM), "--out", str(out), "--seed",
        str(seed), "--threads", "1", "--quiet", "--no-plots", *VARIANTS[variant],
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        return {"variant": variant, "seed": seed, "error": done.stderr.strip()[-300:]}
    metrics = json.loads((out / "metrics.json").read_text())
    return {
        "variant": variant,
        "seed": seed,
        "relative_l2": metrics["relative_l2"]["u"],
        "wall_time_s": metrics["wall_time_s"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        tasks = [(v, s) for s in seeds for v in VARIANTS]
        rows = list(pool.map(lambda t: run(t[0], t[1], Path(tmp)), tasks))
    lines = [f"{'variant':<12} {'seed':>4} {'relative L2':>12} {'time_s':>8}"]
    for row in rows:
        error = row.get("relative_l2")
        shown = f"{error:12.3e}" if isinstance(error, float) else f"{'failed':>12}"
        lines.append(
            f"{row['variant']:<12} {row['seed']:>4} {shown} {row.get('wall_time_s', 0):8.1f}"
        )
    summary = {}
    for variant in VARIANTS:
        errors = [r["relative_l2"] for r in rows if r["variant"] == variant and "relative_l2" in r]
        if errors:
            summary[variant] = {"median": statistics.median(errors), "max": max(errors)}
            lines.append(
                f"{variant:<12} median {statistics.median(errors):.3e}, max {max(errors):.3e} "
                f"over {len(errors)} seeds"
            )
    wins = sum(
        w["relative_l2"] < u["relative_l2"]
        for w in rows
        for u in rows
        if w["variant"] == "weighted" and u["variant"] == "unweighted" and w["seed"] == u["seed"]
        and "relative_l2" in w and "relative_l2" in u
    )  # fmt: skip
    lines.append(f"the weight is better in {wins} of {len(seeds)} seeds")
    record("lshape_weight", {"rows": rows, "summary": summary, "wins": wins}, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
