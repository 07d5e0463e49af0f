"""Thread oversubscription: L-BFGS-heavy solves alone and several at once, per thread setting.

    python benchmarks/threads.py [--threads 1,2,default] [--copies 1,2,3] [--iterations 200]
        [--problem poisson_2d] [--env OMP_WAIT_POLICY=PASSIVE] [--name threads] [--solve]

For each thread setting N (a count, or ``default``: no ``--threads``, the library's choice),
runs ``pinn-gelu solve`` on an L-BFGS-only budget (the problem's file with ``schedule:
[lbfgs]``) once per entry of ``--copies``, that many processes at once, each in its own run
directory, and reads the seconds per L-BFGS iteration from each run's ``history.csv`` (wall
time of the L-BFGS phase divided by its iterations: start-up and plotting are excluded).
``--env`` adds variables to every run's environment (OpenMP's wait policy, say). ``--solve``
runs the file as shipped instead and reads each whole run's seconds from its metrics.json. Writes
``benchmarks/results/<name>.json`` and ``.txt`` (with the circumstances of ``_record``: machine,
cores, torch version, date; per N: each copy count's slowest run and its ratio to the first
count's). Run it on a quiet machine: other load makes the concurrent numbers meaningless.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from _record import record

ROOT = Path(__file__).resolve().parents[1]


def lbfgs_arguments(iterations: int) -> list[str]:
    """The arguments of the L-BFGS-only budget."""
    settings = [
        "training.adam.steps=0",
        f"training.lbfgs.steps={iterations}",
        "training.lbfgs.patience=100000",
        "training.lbfgs.tolerance_grad=0",
        "validation.every=0",
        "training.checkpoint_every=0",
    ]
    return ["--dtype", "float64", *(a for value in settings for a in ("--set", value))]


def start(
    problem: Path, out: Path, threads: str, iterations: int | None, extra: dict[str, str]
) -> subprocess.Popen[bytes]:
    """Start one solve: ``iterations`` L-BFGS iterations only, float64, no plots (None: the
    file's own training, end to end)."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env.update(extra)
    setting = [] if threads == "default" else ["--threads", threads]
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pinn_gelu",
            "solve",
            str(problem),
            "--out",
            str(out),
            *setting,
            "--quiet",
            "--no-plots",
            *(lbfgs_arguments(iterations) if iterations is not None else []),
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


def measure(
    problem: Path, threads: str, iterations: int | None, copies: int, extra: dict[str, str]
) -> list[float]:
    """Seconds per iteration of each of ``copies`` solves run at the same time (None: the
    seconds of each whole run, from its metrics.json)."""
    with tempfile.TemporaryDirectory(prefix="pinn_gelu_threads_") as scratch:
        outs = [Path(scratch) / f"run{i}" for i in range(copies)]
        processes = [start(problem, out, threads, iterations, extra) for out in outs]
        for process in processes:
            _, stderr = process.communicate()
            if process.returncode != 0:
                raise RuntimeError(stderr.decode(errors="replace")[-2000:])
        if iterations is None:
            return [json.loads((o / "metrics.json").read_text())["wall_time_s"] for o in outs]
        return [seconds_per_iteration(out) for out in outs]


def lbfgs_only(stem: str, directory: Path) -> Path:
    """The shipped problem's file with ``training.schedule: [lbfgs]`` (a list: not a --set)."""
    data = yaml.safe_load((ROOT / "problems" / f"{stem}.yaml").read_text(encoding="utf-8"))
    data.setdefault("training", {})["schedule"] = ["lbfgs"]
    path = directory / f"{stem}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2,default", help="counts, or default")
    parser.add_argument("--copies", default="1,2", help="processes at once, comma-separated")
    parser.add_argument("--iterations", type=int, default=200, help="L-BFGS iterations per run")
    parser.add_argument("--problem", default="poisson_2d", help="a file stem in problems/")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for every run")
    parser.add_argument("--name", default="threads", help="results file name (no suffix)")
    parser.add_argument(
        "--solve", action="store_true", help="the file as shipped, end to end: seconds a run"
    )
    args = parser.parse_args()
    iterations = None if args.solve else args.iterations
    unit = "s" if args.solve else "s/it"
    extra = dict(item.split("=", 1) for item in args.env)
    copies = [int(c) for c in args.copies.split(",")]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    rows: list[dict] = []
    columns = " ".join(f"{f'{c} at once {unit}':>15} {'ratio':>6}" for c in copies)
    budget = (
        "as shipped, end to end (seconds of the whole run, metrics.json's wall_time_s)"
        if args.solve
        else f"(schedule [lbfgs]), {args.iterations} L-BFGS iterations, float64"
    )
    lines = [
        f"{cores} usable cores; each solve gets --threads N (default: the library's choice)",
        f"problem {args.problem} {budget}",
        f"environment of every run: {' '.join(args.env) or '(as is)'}",
        f"{'threads':>7} {columns}",
    ]
    with tempfile.TemporaryDirectory(prefix="pinn_gelu_problem_") as scratch:
        problem = (
            ROOT / "problems" / f"{args.problem}.yaml"
            if args.solve
            else lbfgs_only(args.problem, Path(scratch))
        )
        for threads in args.threads.split(","):
            times = {c: measure(problem, threads, iterations, c, extra) for c in copies}
            first = max(times[copies[0]])
            rows.append({"threads": threads, "seconds": times, "per": unit})
            digits = 1 if args.solve else 4
            cells = " ".join(
                f"{max(times[c]):>15.{digits}f} {max(times[c]) / first:>5.2f}×" for c in copies
            )
            lines.append(f"{threads:>7} {cells}")
            print(lines[-1], flush=True)
    record(
        args.name,
        {
            "problem": args.problem,
            "iterations": iterations,
            "cores": cores,
            "env": args.env,
            "rows": rows,
        },
        "\n".join(lines) + "\n",
    )


if __name__ == "__main__":
    main()
