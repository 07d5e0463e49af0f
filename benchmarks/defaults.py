"""Defaults for a file that says nothing about training: every shipped problem, as a user writes it.

    python benchmarks/defaults.py                                 # every shipped problem
    python benchmarks/defaults.py kirsch_plate beam --name defaults-a   # a subset, one process
    python benchmarks/defaults.py --merge defaults-a defaults-b   # one table (--name defaults)

Each shipped problem is read with its ``network`` section removed and its ``training`` section
cut to ``training.points`` (what a user states: the equation, the domain, the conditions, the
exact solution or reference, and how many points), then solved under each candidate:

- ``old``: the former default, Adam (1000 steps) then L-BFGS (2500 iterations) on 50×4;
- ``lbfgs 20x3``: the same schedule on the 20×3 network, to separate the network from the
  optimiser;
- ``auto``: the new default, ``training.schedule: auto`` (see
  :mod:`pinn_gelu.problem_file.defaults`), which picks Adam (1000) then Gauss–Newton (200) on
  20×3 for every shipped size.

Rows: the worst relative L2 error over the problem's fields (against its exact solution or its
reference), wall time, and the schedule that ran. Processes run side by side with one thread
each: compare the candidates of one problem (same process), not times across processes. The
results file is rewritten after every run. Not a test: run on demand.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

import torch
from _record import merged, record

from pinn_gelu import train
from pinn_gelu.problem_file import apply_overrides, parse_problem, read_yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

CANDIDATES = {
    "old": [
        "network.width=50",
        "network.depth=4",
        "training.schedule=adam,lbfgs",
    ],
    "lbfgs 20x3": [
        "network.width=20",
        "network.depth=3",
        "training.schedule=adam,lbfgs",
    ],
    "auto": [],
}


def as_a_user_writes_it(name: str) -> dict:
    """The shipped file without its network section and with only training.points."""
    data = read_yaml(ROOT / "problems" / f"{name}.yaml")
    data.pop("network", None)
    points = data.get("training", {}).get("points")
    data["training"] = {"points": points} if points else {}
    return data


def solve(name: str, candidate: str) -> dict:
    """One problem under one candidate."""
    data = apply_overrides(as_a_user_writes_it(name), CANDIDATES[candidate])
    problem = parse_problem(data, f"problems/{name}.yaml")
    result = train(problem, progress=False)
    return {
        "problem": name,
        "candidate": candidate,
        "schedule": list(problem.training.schedule),
        "network": [problem.network.width, problem.network.depth],
        "decision": problem.decisions.get("training.schedule", ""),
        "relative_l2": result.relative_l2,
        "worst": max(result.relative_l2.values()),
        "wall_time_s": result.wall_time_s,
        "steps": result.phase_steps,
        "message": result.message,
    }


def table(rows: list[dict]) -> str:
    """Every run, then per problem the ratio of each candidate's error and time to ``old``."""
    head = f"{'problem':<24} {'candidate':<11} {'ran':<30} {'worst error':>11} {'time_s':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        ran = f"{','.join(r['schedule'])} {r['network'][0]}x{r['network'][1]}"
        lines.append(
            f"{r['problem']:<24} {r['candidate']:<11} {ran:<30} {r['worst']:>11.3e} "
            f"{r['wall_time_s']:>8.1f}"
        )
    names = [c for c in CANDIDATES if c != "old"]
    lines += ["", "error and time of each candidate ÷ old's (same process, side by side)"]
    head = f"{'problem':<24} " + " ".join(f"{c + ' err':>15} {c + ' time':>15}" for c in names)
    lines += [head, "-" * len(head)]
    ratios: dict[str, list[float]] = {c: [] for c in names}
    wins = dict.fromkeys(CANDIDATES, 0)
    for name in dict.fromkeys(r["problem"] for r in rows):
        mine = {r["candidate"]: r for r in rows if r["problem"] == name}
        if set(mine) != set(CANDIDATES):
            continue
        wins[min(mine, key=lambda c: mine[c]["worst"])] += 1
        cells = []
        for c in names:
            err = mine[c]["worst"] / mine["old"]["worst"]
            time = mine[c]["wall_time_s"] / mine["old"]["wall_time_s"]
            ratios[c].append(err)
            cells.append(f"{err:>15.3g} {time:>15.3g}")
        lines.append(f"{name:<24} " + " ".join(cells))
    for c in names:
        if ratios[c]:
            mean = math.exp(statistics.fmean(map(math.log, ratios[c])))
            lines.append(f"geometric mean of {c}'s error ratio: {mean:.3g}")
    lines.append("lowest error: " + ", ".join(f"{c} {n}" for c, n in wins.items()))
    return "\n".join(lines) + "\n"


def merge(names: list[str], name: str) -> int:
    """One table from the results files of separate processes."""
    rows, sources, note = merged(names)
    record(name, {"merged_from": sources, "rows": rows}, note + "\n" + table(rows))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problems", nargs="*")
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--name", default="defaults", help="results file name (no suffix)")
    parser.add_argument(
        "--merge", nargs="+", metavar="NAME", help="combine these results files into --name"
    )
    args = parser.parse_args()
    if args.merge:
        return merge(args.merge, args.name)
    torch.set_num_threads(args.threads)
    names = args.problems or sorted(p.stem for p in (ROOT / "problems").glob("*.yaml"))
    rows: list[dict] = []
    for name in names:
        for candidate in args.candidates:
            rows.append(solve(name, candidate))
            record(args.name, {"rows": rows}, table(rows), quiet=True)
            last = rows[-1]
            print(
                f"{name} {candidate}: {last['worst']:.3e} in {last['wall_time_s']:.0f} s",
                flush=True,
            )
    record(args.name, {"rows": rows}, table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
