"""Thread oversubscription: one L-BFGS-heavy solve alone against two at once, per thread count.

    python benchmarks/threads.py [--threads 1,2,4] [--iterations 200] [--problem poisson_2d]

For each thread count N, runs ``pinn-gelu solve --threads N`` on an L-BFGS-only budget once
alone, then twice concurrently, each in its own process and run directory, and reads the
seconds per L-BFGS iteration from each run's ``history.csv`` (wall time of the L-BFGS phase
divided by its iterations: start-up and plotting are excluded). Writes
``benchmarks/results/threads.json`` and ``.txt`` (with the circumstances of ``_record``: machine,
cores, torch version, date; per N: alone, concurrent, slowdown). Run it on a quiet machine: other
load makes the concurrent numbers meaningless.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _record import record

ROOT = Path(__file__).resolve().parents[1]


def start(problem: Path, out: Path, threads: int, iterations: int) -> subprocess.Popen[bytes]:
    """Start one solve: no Adam, ``iterations`` L-BFGS iterations, float64, no plots."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pinn_gelu",
            "solve",
            str(problem),
            "--out",
            str(out),
            "--threads",
            str(threads),
            "--quiet",
            "--no-plots",
            "--dtype",
            "float64",
            "--set",
            "training.adam.steps=0",
            "--set",
            f"training.lbfgs.steps={iterations}",
            "--set",
            "training.lbfgs.patience=100000",
            "--set",
            "training.lbfgs.tolerance_grad=0",
            "--set",
            "validation.every=0",
            "--set",
            "training.checkpoint_every=0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**env, "PYTHONPATH": str(ROOT)},
    )


def seconds_per_iteration(out: Path) -> float:
    """Mean wall seconds of one L-BFGS iteration, from history.csv's ``time`` column."""
    with open(out / "history.csv", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("phase") == "lbfgs"]
    if len(rows) < 2:
        raise RuntimeError(f"{out}: fewer than 2 L-BFGS iterations recorded")
    first, last = float(rows[0]["time_s"]), float(rows[-1]["time_s"])
    return (last - first) / (len(rows) - 1)


def measure(problem: Path, threads: int, iterations: int, copies: int) -> list[float]:
    """Seconds per iteration of each of ``copies`` solves run at the same time."""
    with tempfile.TemporaryDirectory(prefix="pinn_gelu_threads_") as scratch:
        outs = [Path(scratch) / f"run{i}" for i in range(copies)]
        processes = [start(problem, out, threads, iterations) for out in outs]
        for process in processes:
            _, stderr = process.communicate()
            if process.returncode != 0:
                raise RuntimeError(stderr.decode(errors="replace")[-2000:])
        return [seconds_per_iteration(out) for out in outs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2,4", help="comma-separated thread counts")
    parser.add_argument("--iterations", type=int, default=200, help="L-BFGS iterations per run")
    parser.add_argument("--problem", default="poisson_2d", help="a file stem in problems/")
    args = parser.parse_args()
    problem = ROOT / "problems" / f"{args.problem}.yaml"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    rows: list[dict] = []
    lines = [
        f"{cores} usable cores; each solve gets --threads N",
        f"problem {args.problem}, {args.iterations} L-BFGS iterations, float64",
        f"{'threads':>7} {'alone s/it':>11} {'2 at once s/it':>15} {'slowdown':>9}",
    ]
    for threads in (int(t) for t in args.threads.split(",")):
        alone = measure(problem, threads, args.iterations, 1)[0]
        together = measure(problem, threads, args.iterations, 2)
        slowdown = max(together) / alone
        rows.append(
            {"threads": threads, "alone_s": alone, "concurrent_s": together, "slowdown": slowdown}
        )
        lines.append(f"{threads:>7} {alone:>11.4f} {max(together):>15.4f} {slowdown:>8.1f}×")
        print(lines[-1], flush=True)
    record(
        "threads",
        {"problem": args.problem, "iterations": args.iterations, "cores": cores, "rows": rows},
        "\n".join(lines) + "\n",
    )


if __name__ == "__main__":
    main()
