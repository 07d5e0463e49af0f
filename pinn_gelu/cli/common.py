"""What the commands share: exit codes, the argument parser, reading the problem file."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from pinn_gelu.config import LIMIT_CEILINGS, Limits
from pinn_gelu.errors import UsageError, printable
from pinn_gelu.problem import Problem
from pinn_gelu.problem_file import apply_overrides, parse_problem, read_yaml
from pinn_gelu.runs.rundir import check_output, check_resumable
from pinn_gelu.runs.writers import RUN_FILES

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Parser",
    "check_run_directory",
    "load",
    "parse_limits",
    "print_warning",
    "problem_arguments",
    "solve_overrides",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: Ctrl-C (SIGINT) outside training: 128 + 2, as a shell reports it.
EXIT_INTERRUPTED = 130


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors exit with :data:`EXIT_USAGE`."""

    def error(self, message: str) -> NoReturn:
        """Print the usage and the error; exit 2."""
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def problem_arguments(sub: argparse.ArgumentParser) -> None:
    """The arguments every command that reads a problem file takes."""
    sub.add_argument("file", help="the YAML problem file")
    sub.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the file, e.g. --set training.adam.steps=500 (repeatable)",
    )
    sub.add_argument(
        "--limit",
        dest="limits",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="raise a bound on what the file may ask for, e.g. --limit max_points=2000000",
    )


def parse_limits(items: Sequence[str]) -> Limits:
    """``--limit NAME=N`` arguments → :class:`~pinn_gelu.config.Limits`."""
    values: dict[str, Any] = {}
    fields = Limits.__dataclass_fields__
    for item in items:
        name, _, text = item.partition("=")
        if name not in fields:
            raise UsageError(
                f"--limit {printable(repr(item[:80]))}: unknown limit (expected one of: "
                f"{', '.join(fields)})"
            )
        kind = float if fields[name].type in ("float", float) else int
        shown = printable(repr(item if len(item) <= 80 else item[:77] + "..."))
        try:
            value = kind(text)
        except ValueError:
            whole = "a whole number" if kind is int else "a number"
            raise UsageError(f"--limit {shown}: expected {whole}") from None
        if not math.isfinite(value) or value <= 0:
            raise UsageError(f"--limit {shown}: expected a finite number > 0")
        ceiling = LIMIT_CEILINGS.get(name)
        if ceiling is not None and value > ceiling:
            raise UsageError(
                f"--limit {shown}: at most {ceiling} (Python's recursion bound; no --limit can "
                "raise it further)"
            )
        values[name] = value
    return Limits(**values)


def load(args: argparse.Namespace, extra: Sequence[str] = ()) -> Problem:
    """Read, override and validate the problem file of a command (its data as run: ``source``)."""
    data = read_yaml(args.file)
    data = apply_overrides(data, [*extra, *args.overrides])
    return parse_problem(data, args.file, limits=parse_limits(args.limits))


def print_warning(
    message: Warning | str, category: type[Warning], *args: object, **kw: object
) -> None:
    """Warnings as one line on stderr."""
    print(f"warning: {message}", file=sys.stderr)


def solve_overrides(args: argparse.Namespace) -> list[str]:
    """``--activation``, ``--seed``, ``--device`` and ``--dtype`` as ``--set`` overrides."""
    overrides = []
    if args.activation is not None:
        overrides.append(f"network.activation={args.activation}")
    if args.seed is not None:
        if args.seed < 0:
            raise UsageError("--seed must be ≥ 0")
        overrides.append(f"training.seed={args.seed}")
    if args.device is not None:
        overrides.append(f"training.device={args.device}")
    if args.dtype is not None:
        overrides.append(f"training.dtype={args.dtype}")
    return overrides


def check_run_directory(args: argparse.Namespace, problem: Problem) -> Path:
    """The run directory of ``solve``, checked: resumable with ``--resume``, else writable."""
    if args.resume:
        directory = Path(args.resume)
        if args.out and Path(args.out) != directory:
            raise UsageError("--out and --resume name different directories")
        check_resumable(directory, problem.source)
    else:
        directory = Path(args.out) if args.out else Path("runs") / problem.name
        check_output(directory, args.force, RUN_FILES)
    return directory
