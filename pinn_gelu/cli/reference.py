"""``pinn-gelu reference FILE``: the reference solution, its plot and its error."""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pinn_gelu.cli.common import EXIT_OK, load, problem_arguments
from pinn_gelu.errors import GeometryError, ProblemFileError, UsageError
from pinn_gelu.problem import Problem
from pinn_gelu.problem_file.describe import dry_run
from pinn_gelu.reference import ReferenceMethod, method_for
from pinn_gelu.runs.outputs import REFERENCE, staged_output
from pinn_gelu.runs.reports import REFERENCE_WRITERS

__all__ = ["HELP", "add_arguments", "run"]

HELP = (
    "compute and plot the reference solution (finite differences on boxes, finite elements on "
    "2D regions)"
)


def add_arguments(sub: argparse.ArgumentParser) -> None:
    """The arguments of ``reference``."""
    problem_arguments(sub)
    sub.add_argument("--out", help="output directory (default: runs/<name>_reference)")
    sub.add_argument("--force", action="store_true", help="replace a reference written before")
    sub.add_argument(
        "--points",
        type=int,
        help="finite differences (boxes): nodes per dimension (default: the file's, else 129)",
    )
    sub.add_argument(
        "--size",
        type=float,
        help="finite elements (2D regions): mesh size H (default: the file's, else diameter/100)",
    )


def run(args: argparse.Namespace) -> int:
    """``pinn-gelu reference FILE``: the reference solution, its plot and its error.

    The method is the domain's (:func:`~pinn_gelu.reference.method_for`): finite differences on
    boxes (``--points``), finite elements on 2D regions (``--size``).
    """
    problem = load(args)
    try:
        method = method_for(problem.domain, problem.pde.kind)
    except ValueError as err:
        raise ProblemFileError(problem.path, "domain", str(err)) from None
    resolution = _resolution(args, method, problem)
    directory = Path(args.out) if args.out else Path("runs") / f"{problem.name}_reference"
    # what solve refuses, reference refuses: with an exact solution, its values on the grid too
    dry_run(problem, evaluator=bool(problem.exact))
    with staged_output(directory, REFERENCE, args.force) as staging:
        solution = _solve(problem, method, resolution)
        summary = REFERENCE_WRITERS[method.name](staging, problem, solution)
    print(
        f"{solution.describe()}: {summary['unknowns']} unknowns, solved in "
        f"{summary['solve_time_s']:.2f} s"
    )
    return _report_reference(directory, summary)


def _solve(problem: Problem, method: ReferenceMethod, resolution: Any) -> Any:
    """The reference solution, refused (naming the key) when the solver fails or is not finite."""
    try:
        solution = method.solve(problem, resolution)
    except (ValueError, GeometryError) as err:
        raise ProblemFileError(problem.path, f"reference.{method.name}", str(err)) from None
    for name, values in solution.fields.items():
        if not np.isfinite(values).all():
            raise ProblemFileError(
                problem.path,
                "pde",
                f"the {method.name.replace('_', '-')} solution of {name} is not finite at "
                f"{int((~np.isfinite(values)).sum())} nodes (an expression is infinite or too "
                "large there); nothing written",
            )
    return solution


def _resolution(args: argparse.Namespace, method: ReferenceMethod, problem: Problem) -> Any:
    """The method's resolution from ``--points`` or ``--size`` (None: the file's or default)."""
    given = {"points": args.points, "size": args.size}
    for option, value in given.items():
        if value is not None and option != method.resolution:
            raise UsageError(
                f"--{option} is not a resolution of {method.name} ({method.domains}); it takes "
                f"--{method.resolution}"
            )
    value = given[method.resolution]
    if value is None:
        return None
    if method.resolution == "size":
        if not (math.isfinite(value) and value > 0):
            raise UsageError("--size must be a positive number")
        return value
    if not 3 <= value <= 100_000:
        raise UsageError("--points must be between 3 and 100000")
    unknowns = value**problem.domain.dimension
    if unknowns > problem.limits.max_fd_unknowns:
        raise UsageError(
            f"--points {value} gives {unknowns} unknowns, over the limit of "
            f"{problem.limits.max_fd_unknowns} (raise it with --limit max_fd_unknowns=N)"
        )
    return value


def _report_reference(directory: Path, summary: Mapping[str, Any]) -> int:
    """The errors against the exact solution and the files written, after a reference solve."""
    for name, value in summary["relative_l2_vs_exact"].items():
        print(f"error       relative L2 of {name} against the exact solution = {value:.3e}")
    written = sorted(
        p.name for p in directory.iterdir() if p.name.startswith(("reference", "deform"))
    )
    print(f"written     {directory}/ ({', '.join(written)})")
    return EXIT_OK
