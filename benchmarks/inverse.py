"""Inverse problems: identified values, standard errors and their coverage over noise seeds.

    python benchmarks/inverse.py                               # every shipped inverse problem
    python benchmarks/inverse.py heat_inverse --seeds 0 1 2 3 4 5 6 7 8 9 --name inverse-heat
    python benchmarks/inverse.py burgers_inverse --noise 0.01 --name inverse-burgers-noisy

Each problem is solved as shipped, with its data file regenerated for each noise seed
(problems/data/generate.py; seed 0 is the shipped file, the points stay the same). Rows: each
unknown's value, standard error, truth, the error in standard errors, whether the truth lies
within 2 standard errors, the worst relative L2 error of the fields, and the wall time. The
summary counts, per problem and unknown, the seeds whose truth lies within 2 standard errors (a
calibrated standard error covers it about 95 % of the time). ``--noise F`` (Burgers only: its
samples are clean as shipped) adds Gaussian noise of F times the samples' standard deviation
(Raissi et al. 2019's "1 % noise") and states that σ in the file; ``--set key=value`` changes
the file as on the command line. Not a test: run on demand.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch
from _record import record

from pinn_gelu import train
from pinn_gelu.problem_file import apply_overrides, parse_problem, read_yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "problems" / "data"))
import generate  # noqa: E402 (the data script of the shipped problems)

#: The shipped inverse problems and the dataset of their (one) data file.
PROBLEMS = {
    "heat_inverse": "heat_sensors",
    "plate_inverse": "plate_dic",
    "coefficient_inverse": "coefficient_u",
    "burgers_inverse": "burgers_samples",
}


def solve(
    name: str, seed: int, workdir: Path, noise: float | None = None, overrides: tuple = ()
) -> list[dict]:
    """One problem at one noise seed: a row per unknown (or one row for a coefficient field)."""
    data = read_yaml(ROOT / "problems" / f"{name}.yaml")
    dataset = PROBLEMS[name]
    if noise is None:
        table, names = generate.DATASETS[dataset](seed=seed)
    else:  # Burgers: noise in units of the clean samples' standard deviation, stated as σ
        table, names = generate.DATASETS[dataset](seed=seed, noise=noise)
        clean, _ = generate.DATASETS[dataset](seed=seed)
        data["data"][0]["noise"] = float(noise * clean[:, -1].std())
    path = workdir / f"{dataset}-{seed}.csv"
    generate.write_csv(path, table, names)
    data["data"][0]["file"] = str(path)
    data = apply_overrides(data, list(overrides))
    problem = parse_problem(data, str(ROOT / "problems" / f"{name}.yaml"))
    result = train(problem, progress=False)
    common = {
        "problem": name,
        "seed": seed,
        "noise": noise,
        "overrides": list(overrides),
        "relative_l2": result.relative_l2,
        "worst": max(result.relative_l2.values(), default=float("nan")),  # nan: no exact u
        "wall_time_s": result.wall_time_s,
    }
    rows = []
    for unknown, p in result.parameters.items():
        stderr, truth = p.get("stderr"), p.get("truth")
        z = abs(p["value"] - truth) / stderr if stderr and truth is not None else None
        rows.append(
            {
                **common,
                "unknown": unknown,
                "value": p["value"],
                "stderr": stderr,
                "truth": truth,
                "relative_error": p.get("relative_error"),
                "z": z,
                "covered": z is not None and z <= 2,
                "note": p.get("note", ""),
            }
        )
    return rows or [{**common, "unknown": "", "covered": None}]


def table(rows: list[dict]) -> str:
    """Every run, then the coverage per problem and unknown."""
    head = (
        f"{'problem':<20} {'seed':>4} {'unknown':<8} {'value':>10} {'stderr':>9} {'truth':>7} "
        f"{'rel err':>9} {'err/se':>7} {'fields L2':>10} {'time_s':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        if not r["unknown"]:
            lines.append(
                f"{r['problem']:<20} {r['seed']:>4} {'(field)':<8} {'':>10} {'':>9} {'':>7} "
                f"{'':>9} {'':>7} {r['worst']:>10.3e} {r['wall_time_s']:>7.1f}"
            )
            continue
        se = f"{r['stderr']:.3g}" if r["stderr"] is not None else "—"
        z = f"{r['z']:.2f}" if r["z"] is not None else "—"
        lines.append(
            f"{r['problem']:<20} {r['seed']:>4} {r['unknown']:<8} {r['value']:>10.5g} {se:>9} "
            f"{r['truth']:>7g} {r['relative_error']:>9.2e} {z:>7} {r['worst']:>10.3e} "
            f"{r['wall_time_s']:>7.1f}"
        )
    lines += ["", "truth within 2 standard errors (seeds covered / seeds)"]
    groups = dict.fromkeys((r["problem"], r["unknown"]) for r in rows if r["unknown"])
    for problem, unknown in groups:
        mine = [r for r in rows if r["problem"] == problem and r["unknown"] == unknown]
        covered = sum(1 for r in mine if r["covered"])
        lines.append(f"{problem:<20} {unknown:<8} {covered}/{len(mine)}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problems", nargs="*", default=list(PROBLEMS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--name", default="inverse", help="results file name (no suffix)")
    parser.add_argument("--noise", type=float, help="Burgers: noise, fraction of std(u)")
    parser.add_argument("--set", action="append", default=[], help="key=value (repeatable)")
    args = parser.parse_args()
    if args.noise is not None and args.problems != ["burgers_inverse"]:
        parser.error("--noise applies to burgers_inverse only (the others ship noisy data)")
    torch.set_num_threads(args.threads)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.problems:
            for seed in args.seeds:
                rows += solve(name, seed, Path(tmp), args.noise, tuple(args.set))
                record(args.name, {"rows": rows}, table(rows), quiet=True)
                for r in rows[-2:]:
                    print(r["problem"], r["seed"], r["unknown"], r.get("value"), r.get("stderr"))
    record(args.name, {"rows": rows}, table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
