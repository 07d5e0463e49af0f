"""``pinn-gelu check FILE``: validate a problem file, evaluate its inputs, summarise it."""

from __future__ import annotations

import argparse
import sys

from pinn_gelu.activations import order_warning
from pinn_gelu.cli.common import EXIT_OK, load, problem_arguments
from pinn_gelu.errors import printable
from pinn_gelu.problem_file.describe import describe_problem, dry_run

__all__ = ["HELP", "add_arguments", "run"]

HELP = "validate a problem file and summarise it"


def add_arguments(sub: argparse.ArgumentParser) -> None:
    """The arguments of ``check``."""
    problem_arguments(sub)


def run(args: argparse.Namespace) -> int:
    """``pinn-gelu check FILE``: validate and summarise."""
    problem = load(args)
    dry_run(problem)
    print(printable(describe_problem(problem)))
    message = order_warning(problem.network.activation, problem.order, problem.pde.kind)
    if message:
        print(f"warning: {message}", file=sys.stderr)
    print("ok: the problem file is valid")
    return EXIT_OK
