"""Gauss–Newton damping rules side by side: every shipped Gauss–Newton problem × seeds × rules.

    python benchmarks/damping.py                          # all, seeds 0 1 2, every rule
    python benchmarks/damping.py robin_1d beam --seeds 0  # a subset
    python benchmarks/damping.py --seeds 1 --name damping-seed1   # one seed per process, then
    python benchmarks/damping.py --merge damping-seed0 damping-seed1 damping-seed2  # one table

Each problem is solved with its shipped settings, only ``training.seed`` and
``training.gauss_newton.damping_rule`` changed (rules: :data:`pinn_gelu.optimisers.damping.
DAMPING_RULES`). Rows: the worst relative L2 error over the problem's fields (against its exact
solution, or lshape_poisson's P2 finite-element reference), wall time, Gauss–Newton steps taken,
the damping at the end and the median step length of the last 50 steps. The summary gives, per
problem, the geometric mean of the worst error over the seeds for each rule and the ratio to
``classic``. Runs go seed by seed, so that a cut run has whole seeds; the results file is
rewritten after every run. Not a test: run on demand.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

import torch
from _record import merged, record

from pinn_gelu import load_problem, train
from pinn_gelu.optimisers.damping import DAMPING_RULES

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def shipped_gauss_newton() -> list[str]:
    """The shipped problems whose schedule has a Gauss–Newton phase."""
    names = []
    for path in sorted((ROOT / "problems").glob("*.yaml")):
        problem = load_problem(path)
        if "gauss_newton" in problem.training.schedule:
            names.append(path.stem)
    return names


def solve(name: str, seed: int, rule: str) -> dict:
    """One run with its shipped settings, at this seed, under this damping rule."""
    overrides = [f"training.seed={seed}", f"training.gauss_newton.damping_rule={rule}"]
    problem = load_problem(ROOT / "problems" / f"{name}.yaml", overrides)
    result = train(problem, progress=False)
    gn = [row for row in result.history if row.get("phase") == "gauss_newton"]
    lengths = [float(row["step_length"]) for row in gn[-50:] if row.get("step_length") != ""]
    return {
        "problem": name,
        "seed": seed,
        "rule": rule,
        "relative_l2": result.relative_l2,
        "worst": max(result.relative_l2.values()),
        "final_loss": result.final_loss["loss"],
        "wall_time_s": result.wall_time_s,
        "gauss_newton_steps": result.phase_steps.get("gauss_newton", 0),
        "final_damping": float(gn[-1]["damping"]) if gn else None,
        "median_step_length": statistics.median(lengths) if lengths else None,
        "message": result.message,
    }


def table(rows: list[dict], rules: list[str]) -> str:
    """Every run, then the per-problem geometric means and their ratios to ``classic``."""
    head = (
        f"{'problem':<20} {'seed':>4} {'rule':<8} {'worst error':>11} {'time_s':>7} "
        f"{'gn steps':>8} {'damping':>9} {'η median':>9} {'loss':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        eta = "" if r["median_step_length"] is None else f"{r['median_step_length']:.3g}"
        damping = "" if r["final_damping"] is None else f"{r['final_damping']:.1e}"
        lines.append(
            f"{r['problem']:<20} {r['seed']:>4} {r['rule']:<8} {r['worst']:>11.3e} "
            f"{r['wall_time_s']:>7.1f} {r['gauss_newton_steps']:>8} {damping:>9} {eta:>9} "
            f"{r['final_loss']:>9.2e}"
        )
    lines += ["", "geometric mean of the worst error over the seeds; ratio to classic"]
    head = f"{'problem':<20} {'seeds':>5} " + " ".join(f"{rule:>10}" for rule in rules)
    lines += [head + "   ratio", "-" * (len(head) + 8)]
    wins = dict.fromkeys(rules, 0)
    for name in dict.fromkeys(r["problem"] for r in rows):
        means = {}
        for rule in rules:
            errors = [r["worst"] for r in rows if r["problem"] == name and r["rule"] == rule]
            seeds_done = len(errors)
            means[rule] = math.exp(statistics.fmean(map(math.log, errors))) if errors else None
        if any(v is None for v in means.values()):
            continue
        best = min(rules, key=lambda rule: means[rule])
        wins[best] += 1
        ratios = " ".join(f"{means[rule] / means['classic']:.3g}" for rule in rules[1:])
        cells = " ".join(f"{means[rule]:>10.3e}" for rule in rules)
        lines.append(f"{name:<20} {seeds_done:>5} {cells}   {ratios}")
    lines.append("problems won: " + ", ".join(f"{rule} {n}" for rule, n in wins.items()))
    return "\n".join(lines) + "\n"


def merge(names: list[str], name: str) -> int:
    """One table from results files of separate processes (each its own seeds), as measured."""
    rows, sources, note = merged(names)
    rules = ["classic", *dict.fromkeys(r["rule"] for r in rows if r["rule"] != "classic")]
    order = {n: i for i, n in enumerate(dict.fromkeys(r["problem"] for r in rows))}
    rows.sort(key=lambda r: (order[r["problem"]], r["seed"], rules.index(r["rule"])))
    record(name, {"merged_from": sources, "rows": rows}, note + "\n" + table(rows, rules))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problems", nargs="*")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rules", nargs="+", default=list(DAMPING_RULES))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--name", default="damping", help="results file name (no suffix)")
    parser.add_argument(
        "--merge", nargs="+", metavar="NAME", help="combine these results files into --name"
    )
    args = parser.parse_args()
    if args.merge:
        return merge(args.merge, args.name)
    torch.set_num_threads(args.threads)
    names = args.problems or shipped_gauss_newton()
    rules = ["classic", *[rule for rule in args.rules if rule != "classic"]]
    rows: list[dict] = []
    for seed in args.seeds:
        for name in names:
            for rule in rules:
                rows.append(solve(name, seed, rule))
                record(args.name, {"rows": rows}, table(rows, rules), quiet=True)
                last = rows[-1]
                print(f"{name} seed {seed} {rule}: {last['worst']:.3e}", flush=True)
    record(args.name, {"rows": rows}, table(rows, rules))
    return 0


if __name__ == "__main__":
    sys.exit(main())
