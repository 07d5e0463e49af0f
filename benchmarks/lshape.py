"""What buys the L-shape's accuracy? Variants of the shipped file over five seeds.

    python benchmarks/lshape.py [--seeds 0,1,2,3,4] [--jobs 2] [--variants enriched,plain]
        [--name lshape]

Each run is ``pinn-gelu solve problems/lshape_poisson.yaml --seed S`` (one thread) with the
variant's changes; the error is against the file's P2 finite-element reference. Variants:

- ``enriched``: the shipped file (u = N + k1·r^(2/3) sin(2ψ/3), k1 trained);
- ``plain``: without the enrichment (u = N);
- ``weighted``: without it, with the per-point weight w = r/√(r² + ρ²), ρ = 0.2, on the PDE
  residual.

Writes benchmarks/results/<name>.json and .txt. (results/lshape_weight.txt, of 2026-12-04, was
written by this script's earlier form, ``benchmarks/lshape_weight.py``, comparing ``weighted``
and ``plain`` when the file had no enrichment and the default reference mesh.)
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

from _record import record, run_lines

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = ROOT / "problems" / "lshape_poisson.yaml"
WEIGHT = "sqrt((x**2 + y**2)/(x**2 + y**2 + 0.04))"
PLAIN = ["--set", "enrichment=null"]
VARIANTS = {
    "enriched": [],
    "plain": PLAIN,
    "weighted": [*PLAIN, "--set", f"training.weights.pde={WEIGHT}"],
}


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
    parser.add_argument("--variants", default="enriched,plain")
    parser.add_argument("--name", default="lshape", help="results file name (no suffix)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown} (expected some of {', '.join(VARIANTS)})")
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        tasks = [(v, s) for s in seeds for v in variants]
        rows = list(pool.map(lambda t: run(t[0], t[1], Path(tmp)), tasks))
    lines = run_lines(rows, [("variant", 12), ("seed", 4)])
    summary = {}
    for variant in variants:
        errors = [r["relative_l2"] for r in rows if r["variant"] == variant and "relative_l2" in r]
        if errors:
            summary[variant] = {"median": statistics.median(errors), "max": max(errors)}
            lines.append(
                f"{variant:<12} median {statistics.median(errors):.3e}, max {max(errors):.3e} "
                f"over {len(errors)} seeds"
            )
    first, *others = variants
    wins = {}
    for other in others:
        wins[other] = sum(
            a["relative_l2"] < b["relative_l2"]
            for a in rows
            for b in rows
            if a["variant"] == first and b["variant"] == other and a["seed"] == b["seed"]
            and "relative_l2" in a and "relative_l2" in b
        )  # fmt: skip
        lines.append(f"{first} is better than {other} in {wins[other]} of {len(seeds)} seeds")
    record(args.name, {"rows": rows, "summary": summary, "wins": wins}, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
