"""``pinn-gelu compare FILE``: every (activation, seed), then a table and a figure."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pinn_gelu.activations import ActivationSpec, order_warning
from pinn_gelu.cli.common import EXIT_FAILED, EXIT_OK, load, parse_limits, problem_arguments
from pinn_gelu.compare import compare, split_specs
from pinn_gelu.errors import UsageError
from pinn_gelu.runs.outputs import COMPARISON, check_destination, staged_output
from pinn_gelu.runs.reports import write_comparison

__all__ = ["HELP", "add_arguments", "run"]

HELP = "train several activations and seeds on one problem and compare them"


def add_arguments(sub: argparse.ArgumentParser) -> None:
    """The arguments of ``compare``."""
    problem_arguments(sub)
    sub.add_argument(
        "--activations",
        default="gelu,tanh,sin,silu,softplus,relu",
        help="comma-separated activation specs, e.g. 'gelu(alpha=0.5),gelu,gelu(alpha=4),relu'",
    )
    sub.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2")
    sub.add_argument("--out", help="output directory (default: runs/<name>_compare)")
    sub.add_argument("--jobs", type=int, default=1, help="parallel processes (default 1)")
    sub.add_argument(
        "--threads",
        type=int,
        help="torch threads per run (default: cores // jobs); results are bit-identical for "
        "the same --threads whatever --jobs is",
    )
    sub.add_argument("--force", action="store_true", help="overwrite a finished comparison")
    sub.add_argument("--quiet", action="store_true", help="no progress display")


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(item) for item in text.split(",")]
    except ValueError:
        raise UsageError(f"--seeds {text!r}: expected whole numbers separated by commas") from None
    if any(seed < 0 for seed in seeds) or len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds {text!r}: expected distinct seeds ≥ 0")
    return seeds


def run(args: argparse.Namespace) -> int:
    """``pinn-gelu compare FILE``: every (activation, seed), then a table and a figure."""
    try:
        specs = split_specs(args.activations)
        activations = [ActivationSpec.parse(spec) for spec in specs]
    except ValueError as err:
        raise UsageError(f"--activations: {err}") from None
    seeds = _seeds(args.seeds)
    if args.jobs < 1 or (args.threads is not None and args.threads < 1):
        raise UsageError("--jobs and --threads must be at least 1")
    problem = load(args)
    if len({a.spec for a in activations}) != len(activations):
        raise UsageError(f"--activations {args.activations!r}: an activation is listed twice")
    directory = Path(args.out) if args.out else Path("runs") / f"{problem.name}_compare"
    check_destination(directory, COMPARISON, args.force)  # before the warnings and the work
    for activation in activations:
        message = order_warning(activation, problem.order, problem.pde.kind)
        if message:
            print(f"warning: {message}", file=sys.stderr)

    with staged_output(directory, COMPARISON, args.force) as staging:
        comparison = compare(
            args.file,
            [a.spec for a in activations],
            seeds,
            overrides=args.overrides,
            jobs=args.jobs,
            threads=args.threads,
            limits=parse_limits(args.limits),
            progress=not args.quiet,
        )
        written = write_comparison(staging, comparison)
    print(comparison.markdown())
    print(f"written     {directory}/ ({', '.join(p.name for p in written)})")
    failed = sum(r["status"] != "completed" for r in comparison.runs)
    return EXIT_OK if failed == 0 else EXIT_FAILED
