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
from pinn_gelu.reference import method_for, solve_reference
from pinn_gelu.runs.reports import write_fem_reference, write_reference

__all__ = ["HELP", "add_arguments", "run"]

HELP = (
    "compute and plot the reference solution (finite differences on boxes, finite elements on "
    "2D regions)"
)


def add_arguments(sub: argparse.ArgumentParser) -> None:
    """The arguments of ``reference``."""
    problem_arguments(sub)
    sub.add_argument("--out", help="output directory (default: runs/<name>_reference)")
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
    boxes, finite elements on 2D regions.
    """
    problem = load(args)

    try:
        method = method_for(problem.domain, problem.pde.kind)
    except ValueError as err:
        raise ProblemFileError(problem.path, "domain", str(err)) from None
    if method.name == "finite_element":
        return _fem_reference(args, problem)
    if args.size is not None:
        raise UsageError("--size is the mesh size of a finite-element reference (regions only)")
    if args.points is not None and not 3 <= args.points <= 100_000:
        raise UsageError("--points must be between 3 and 100000")
    points = args.points or (problem.reference.points if problem.reference else 129)
    unknowns = points**problem.domain.dimension
    if unknowns > problem.limits.max_fd_unknowns:
        raise UsageError(
            f"--points {points} gives {unknowns} unknowns, over the limit of "
            f"{problem.limits.max_fd_unknowns} (raise it with --limit max_fd_unknowns=N)"
        )
    directory = Path(args.out) if args.out else Path("runs") / f"{problem.name}_reference"

    dry_run(problem, evaluator=False)
    try:
        solution = solve_reference(problem, points)
    except ValueError as err:
        raise ProblemFileError(problem.path, "reference.finite_difference", str(err)) from None

    for name, values in solution.fields.items():
        if not np.isfinite(values).all():
            raise ProblemFileError(
                problem.path,
                "pde",
                f"the finite-difference solution of {name} is not finite at "
                f"{int((~np.isfinite(values)).sum())} nodes (an expression is infinite or too "
                "large on the grid); nothing written",
            )
    summary = write_reference(directory, problem, solution)
    grid = "×".join([str(points)] * problem.domain.dimension)
    print(
        f"finite differences on {grid} nodes: {summary['unknowns']} unknowns, solved in "
        f"{summary['solve_time_s']:.2f} s"
    )
    return _report_reference(directory, summary)


def _report_reference(directory: Path, summary: Mapping[str, Any]) -> int:
    """The errors against the exact solution and the files written, after a reference solve."""
    for name, value in summary["relative_l2_vs_exact"].items():
        print(f"error       relative L2 of {name} against the exact solution = {value:.3e}")
    written = sorted(
        p.name for p in directory.iterdir() if p.name.startswith(("reference", "deform"))
    )
    print(f"written     {directory}/ ({', '.join(written)})")
    return EXIT_OK


def _fem_reference(args: argparse.Namespace, problem: Problem) -> int:
    """The finite-element half of ``pinn-gelu reference``."""
    if args.points is not None:
        raise UsageError("--points is for finite differences; a region takes --size H")
    if args.size is not None and not (math.isfinite(args.size) and args.size > 0):
        raise UsageError("--size must be a positive number")
    directory = Path(args.out) if args.out else Path("runs") / f"{problem.name}_reference"

    dry_run(problem, evaluator=False)
    try:
        solution = solve_reference(problem, args.size)
    except (ValueError, GeometryError) as err:
        raise ProblemFileError(problem.path, "reference.finite_element", str(err)) from None
    summary = write_fem_reference(directory, problem, solution)
    print(
        f"finite elements (P2) on {summary['triangles']} triangles, H = {summary['size']:.3g}: "
        f"{summary['unknowns']} unknowns, solved in {summary['solve_time_s']:.2f} s"
    )
    return _report_reference(directory, summary)
