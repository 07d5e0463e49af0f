"""``pinn-gelu check FILE``: validate a problem file, evaluate its inputs, summarise it."""

from __future__ import annotations

import argparse
import sys

from pinn_gelu.activations import order_warning
from pinn_gelu.cli.common import EXIT_OK, load, problem_arguments
from pinn_gelu.errors import printable
from pinn_gelu.problem_file.describe import describe_problem, dry_run
from pinn_gelu.training.memory import PROBE_POINTS
from pinn_gelu.training.setup import check_enrichment_file, check_step_memory

__all__ = ["HELP", "add_arguments", "run"]

HELP = "validate a problem file and summarise it"


def add_arguments(sub: argparse.ArgumentParser) -> None:
    """The arguments of ``check``."""
    problem_arguments(sub)


def run(args: argparse.Namespace) -> int:
    """``pinn-gelu check FILE``: validate and summarise."""
    problem = load(args)
    dry_run(problem)
    check_enrichment_file(problem)
    peak, chunks = check_step_memory(problem)
    print(printable(describe_problem(problem)))
    split = f", in {chunks} chunks of ≈ {_mib(peak // chunks)} each" if chunks > 1 else ""
    print(
        f"memory      one training step ≈ {_mib(peak)}{split} (measured on {PROBE_POINTS} "
        f"points; limit {_mib(problem.limits.max_tensor_bytes)})"
    )
    message = order_warning(problem.network.activation, problem.order, problem.pde.kind)
    if message:
        print(f"warning: {message}", file=sys.stderr)
    for caution in problem.cautions:
        print(f"warning: {caution}", file=sys.stderr)
    print("ok: the problem file is valid")
    return EXIT_OK


def _mib(count: int) -> str:
    return f"{count / 2**30:.1f} GiB" if count >= 2**30 else f"{count / 2**20:.1f} MiB"
