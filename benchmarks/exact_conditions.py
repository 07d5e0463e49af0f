"""Exact against soft Dirichlet conditions on regions: the L-shape and the annulus, both ways.

    python benchmarks/exact_conditions.py [--problems lshape_poisson,annulus_laplace]
        [--seeds 0] [--jobs 1] [--set KEY=VALUE ...] [--name exact_conditions]

Each run is ``pinn-gelu solve problems/<problem>.yaml --seed S`` (one thread) with
``boundary.0.exact=false`` (``soft``: the first entry's Dirichlet values are a loss term on
boundary points) and with ``boundary.0.exact=true`` (``exact``: u = g̃ + φ·N, φ the
R-equivalence of the parts' trimmed segment or circle distances, :mod:`pinn_gelu.model.
distance`). The error is the run's own: against the P2 finite-element reference (L-shape) or
the exact solution (annulus, whose inner circle keeps its Neumann condition). The L-shape runs
without its enrichment (``enrichment=null``, :data:`WITHOUT`: an enriched field takes no exact
conditions), so both variants compare the conditions alone, as the results of 2026-12-05 did
(measured before the file had the enrichment). ``--set`` changes every run. Writes
benchmarks/results/<name>.json and .txt. Not a test: run on demand.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _record import record, run_lines

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "soft": ["--set", "boundary.0.exact=false"],
    "exact": ["--set", "boundary.0.exact=true"],
}
#: Changes made to a problem in both variants.
WITHOUT = {"lshape_poisson": ["enrichment=null"]}


def run(problem: str, variant: str, seed: int, extra: list[str], directory: Path) -> dict:
    out = directory / f"{problem}-{variant}-{seed}"
    sets = [a for value in [*WITHOUT.get(problem, []), *extra] for a in ("--set", value)]
    command = [
        sys.executable, "-m", "pinn_gelu", "solve", str(ROOT / "problems" / f"{problem}.yaml"),
        "--out", str(out), "--seed", str(seed), "--threads", "1", "--quiet", "--no-plots",
        *VARIANTS[variant], *sets,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    row: dict = {"problem": problem, "variant": variant, "seed": seed}
    if done.returncode != 0:
        return {**row, "error": done.stderr.strip()[-300:]}
    metrics = json.loads((out / "metrics.json").read_text())
    return {
        **row,
        "relative_l2": metrics["relative_l2"]["u"],
        "final_loss": metrics.get("final_loss", {}).get("loss"),
        "wall_time_s": metrics["wall_time_s"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default="lshape_poisson,annulus_laplace")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE (repeatable)")
    parser.add_argument("--name", default="exact_conditions")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    problems = args.problems.split(",")
    tasks = [(p, v, s) for p in problems for s in seeds for v in VARIANTS]
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda t: run(*t, args.set, Path(tmp)), tasks))
    lines = run_lines(rows, [("problem", 16), ("variant", 8), ("seed", 4)])
    lines.append(f"each run: one thread, {args.jobs} at once")
    if args.set:
        lines.append(f"every run with: {' '.join(args.set)}")
    record(args.name, {"rows": rows, "set": args.set}, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
