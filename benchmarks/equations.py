"""Shipped ``kind: equations`` problems: accuracy and time, against DeepXDE and kind: poisson.

    python benchmarks/equations.py                 # every shipped equations problem
    python benchmarks/equations.py --deepxde       # and DeepXDE's own examples of the same
    python benchmarks/equations.py beam robin_1d   # some of them

Three tables in benchmarks/results/equations.txt (and .json):

1. each shipped equations problem with its shipped settings: relative L2 error per field on
   the validation grid, wall time, steps;
2. poisson_2d solved twice, as ``kind: poisson`` and written as ``kind: equations`` (the same
   settings and points): the error ratio and the time ratio, side by side in one run;
3. one training step of a fourth-order residual (every derivative up to order 4 and the
   Laplacian, loss and backward pass) by forward-mode jets and by nested autograd, float64,
   median of interleaved rounds: is the forward path faster as well as exact?
4. with ``--deepxde``: DeepXDE's forward examples of the same problems (Euler_beam.py,
   Poisson_Robin_1d.py, heat.py, Helmholtz_Dirichlet_2d.py) with their published settings,
   their error on the same grid, and ours.

Not a test: run on demand, on a quiet machine (one thread each, so the runs do not compete).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch
from _deepxde import EXAMPLES, run_example
from _record import record

from pinn_gelu import load_problem, train
from pinn_gelu.problem_file import parse_problem, read_yaml

ROOT = Path(__file__).resolve().parents[1]
PROBLEMS = [
    "helmholtz_2d",
    "heat_1d",
    "wave_1d",
    "beam",
    "robin_1d",
    "nonlinear_poisson",
    "reaction_diffusion",
]
POISSON_AS_EQUATION = "-laplacian(u) - (2*pi**2*sin(pi*x)*sin(pi*y))"


def solve(name: str, data: dict | None = None) -> dict:
    """Train a shipped problem (or its data, changed) with its settings; one result row."""
    path = ROOT / "problems" / f"{name}.yaml"
    problem = load_problem(path) if data is None else parse_problem(data, str(path))
    result = train(problem, progress=False)
    return {
        "problem": name,
        "kind": problem.pde.kind,
        "relative_l2": result.relative_l2,
        "wall_time_s": result.wall_time_s,
        "steps": result.steps,
        "status": result.status,
    }


def step_times(rounds: int = 15) -> list[dict]:
    """Median time of one fourth-order step, forward jets vs nested autograd, interleaved."""
    import time

    from pinn_gelu.activations import parse_activation
    from pinn_gelu.derivatives import autograd_fields
    from pinn_gelu.derivatives.forward import forward_fields
    from pinn_gelu.model.networks import MLP

    rows = []
    for dimension, points in ((1, 200), (2, 2000), (3, 2000)):
        network = MLP([(0.0, 1.0)] * dimension, 1, 20, 3, parse_activation("gelu")).double()
        x = torch.rand(points, dimension, dtype=torch.float64)
        engines = {"forward": forward_fields, "autograd": autograd_fields}
        times: dict[str, list[float]] = {name: [] for name in engines}
        for _ in range(rounds):
            for name, engine in engines.items():
                started = time.perf_counter()
                fields = engine(network, x, "fourth")
                loss = fields.fourth.square().sum() + fields.laplacian.square().sum()
                loss.backward()
                times[name].append(time.perf_counter() - started)
        median = {name: sorted(t)[len(t) // 2] for name, t in times.items()}
        rows.append(
            {
                "dimension": dimension,
                "points": points,
                "forward_ms": 1000 * median["forward"],
                "autograd_ms": 1000 * median["autograd"],
                "speedup": median["autograd"] / median["forward"],
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problems", nargs="*", default=PROBLEMS)
    parser.add_argument("--deepxde", action="store_true", help="also run DeepXDE's examples")
    args = parser.parse_args()
    torch.set_num_threads(1)

    rows = [solve(name) for name in args.problems]
    head = f"{'problem':<20} {'steps':>6} {'time_s':>8}  relative L2"
    lines = ["shipped equations problems, shipped settings", head, "-" * len(head)]
    for row in rows:
        errors = ", ".join(f"{k} {v:.2e}" for k, v in row["relative_l2"].items())
        lines.append(f"{row['problem']:<20} {row['steps']:>6} {row['wall_time_s']:>8.1f}  {errors}")

    data = read_yaml(ROOT / "problems" / "poisson_2d.yaml")
    as_equation = copy.deepcopy(data)
    as_equation["pde"] = {"kind": "equations", "equations": [POISSON_AS_EQUATION]}
    pair = [solve("poisson_2d"), solve("poisson_2d", as_equation)]
    error_ratio = pair[1]["relative_l2"]["u"] / pair[0]["relative_l2"]["u"]
    time_ratio = pair[1]["wall_time_s"] / pair[0]["wall_time_s"]
    lines += ["", "poisson_2d written two ways (same settings, same points)", head, "-" * len(head)]
    for row in pair:
        label, error = f"poisson_2d ({row['kind']})", row["relative_l2"]["u"]
        lines.append(f"{label:<20} {row['steps']:>6} {row['wall_time_s']:>8.1f}  u {error:.2e}")
    lines.append(f"equations / poisson: error ratio {error_ratio:.3f}, time ratio {time_ratio:.3f}")

    speed = step_times()
    lines += [
        "",
        "one fourth-order step (all derivatives to order 4 + Laplacian, loss, backward), float64,"
        " 20x3 network, median of 15 interleaved rounds",
        f"{'variables':>9} {'points':>7} {'forward jets':>13} {'nested autograd':>16} "
        f"{'speed-up':>9}",
    ]
    for row in speed:
        lines.append(
            f"{row['dimension']:>9} {row['points']:>7} {row['forward_ms']:>10.1f} ms "
            f"{row['autograd_ms']:>13.1f} ms {row['speedup']:>8.2f}x"
        )

    deepxde = []
    if args.deepxde:
        ours = {row["problem"]: row for row in rows}
        lines += ["", "DeepXDE's examples, published settings (1 thread), on the same grid"]
        lines += [f"{'problem':<20} {'DeepXDE':>10} {'time_s':>8} {'pinn_gelu':>10} {'time_s':>8}"]
        for name in EXAMPLES:
            if name not in ours:
                continue
            theirs = run_example(name, threads=1)
            deepxde.append({"problem": name, **theirs})
            mine = ours[name]
            lines.append(
                f"{name:<20} {theirs['relative_l2']['u']:>10.2e} {theirs['wall_time_s']:>8.1f} "
                f"{mine['relative_l2']['u']:>10.2e} {mine['wall_time_s']:>8.1f}"
            )
    record(
        "equations",
        {
            "rows": rows,
            "poisson_pair": pair,
            "error_ratio": error_ratio,
            "time_ratio": time_ratio,
            "step_times": speed,
            "deepxde": deepxde,
        },
        "\n".join(lines),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
