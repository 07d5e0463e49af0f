"""Data-parallel scaling: steps per second of one process against several, on the same points.

    python benchmarks/distributed.py                       # CPU: 1 × 2 threads vs 2 × 1 thread
    python benchmarks/distributed.py --points 200000 --steps 30
    python benchmarks/distributed.py --device cuda --points 100000,1000000 --layouts 1x1
                                                           # a GPU machine: 1 GPU per process

Each layout ``PxT`` runs ``pinn-gelu solve poisson_2d.yaml --nproc P --threads T`` (P = 1 runs
without torchrun) with ``--points`` interior points (and 2 % of them on the boundary), the
default 50×4 network, float32, ``--steps`` Adam steps only, no validation, no checkpoints, and
reads the seconds per step from the run's ``history.csv`` (the steps after the first 5: start-up,
rendezvous and the first, slower steps are left out). Layouts of one point count run one after
the other in this process, side by side on the same machine: compare within a point count.
Writes ``benchmarks/results/distributed-<device>.json`` and ``.txt``. Not a test; run it on a
quiet machine.

The expected scaling, on paper: per step each rank computes on N/P points (time ∝ N/P) and
all-reduces one buffer of the parameters and loss terms (7851 + 2 numbers for 50×4 in 2D, ~31 KB
in float32), a cost independent of N. So the step time is T(N/P) + allreduce(31 KB); on CPU, P
processes of T threads use the same cores as one process of P·T threads, and the gain comes only
from the parts of a step that do not use every thread.
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
WARMUP = 5


def seconds_per_step(points: int, layout: str, steps: int, device: str) -> dict:
    processes, threads = (int(v) for v in layout.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        command = [
            sys.executable, "-m", "pinn_gelu", "solve", str(ROOT / "problems" / "poisson_2d.yaml"),
            "--out", str(out), "--quiet", "--no-plots", "--threads", str(threads),
            "--device", device, "--dtype", "float32",
            "--set", "network.width=50", "--set", "network.depth=4",
            "--set", f"training.points.interior={points}",
            "--set", f"training.points.boundary={max(points // 50, 4)}",
            "--set", "training.schedule=adam", "--set", f"training.adam.steps={steps}",
            "--set", "validation.every=0", "--set", "training.checkpoint_every=0",
        ]  # fmt: skip
        if processes > 1:
            command += ["--nproc", str(processes)]
        env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{layout} at {points} points failed:\n{done.stderr[-3000:]}")
        with (out / "history.csv").open() as f:
            times = [float(row["time_s"]) for row in csv.DictReader(f)]
    per_step = (times[-1] - times[WARMUP - 1]) / (len(times) - WARMUP)
    return {
        "points": points,
        "layout": layout,
        "processes": processes,
        "threads_per_process": threads,
        "seconds_per_step": per_step,
        "steps_per_second": 1.0 / per_step,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", default="200000", help="interior point counts, commas")
    parser.add_argument("--layouts", default="1x2,2x1", help="PROCESSESxTHREADS, commas")
    parser.add_argument("--steps", type=int, default=30, help="Adam steps per run")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    rows = []
    lines = [
        f"poisson_2d, 50×4 network, float32, Adam steps, {args.device}; seconds per step after "
        f"the first {WARMUP}",
        f"{'points':>9} {'layout':>8} {'s/step':>9} {'steps/s':>9} {'speed-up':>9}",
    ]
    for points in (int(p) for p in args.points.split(",")):
        first = None
        for layout in args.layouts.split(","):
            row = seconds_per_step(points, layout, args.steps, args.device)
            first = first or row["seconds_per_step"]
            row["speed_up"] = first / row["seconds_per_step"]
            rows.append(row)
            lines.append(
                f"{points:>9} {layout:>8} {row['seconds_per_step']:9.4f} "
                f"{row['steps_per_second']:9.2f} {row['speed_up']:8.2f}×"
            )
            print(lines[-1], flush=True)
    record(f"distributed-{args.device}", {"runs": rows}, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
