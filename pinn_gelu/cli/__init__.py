"""The command line: ``pinn-gelu solve | check | reference | compare``.

Exit codes: 0 success; 2 invalid problem file or arguments (one line on stderr naming the file,
the key and what was expected; nothing written); 1 training failed (a non-finite loss, say);
130 interrupted by Ctrl-C before training (nothing written).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

from pinn_gelu import __version__
from pinn_gelu.cli import check, compare, reference, solve
from pinn_gelu.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, Parser, print_warning
from pinn_gelu.errors import PinnGeluError, ProblemFileError, UsageError, printable

__all__ = ["COMMANDS", "build_parser", "main"]

#: The commands by name: each module has HELP, add_arguments(parser) and run(args) → exit code.
COMMANDS: dict[str, ModuleType] = {
    "solve": solve,
    "check": check,
    "compare": compare,
    "reference": reference,
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``pinn-gelu``."""
    parser = Parser(
        prog="pinn-gelu",
        description="Solve PDEs with physics-informed GELU networks, from YAML problem files.",
    )
    parser.add_argument("--version", action="version", version=f"pinn_gelu {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, command in COMMANDS.items():
        command.add_arguments(commands.add_parser(name, help=command.HELP))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pinn-gelu`` and ``python -m pinn_gelu``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        with warnings.catch_warnings():
            warnings.showwarning = print_warning
            return COMMANDS[args.command].run(args)
    except (ProblemFileError, UsageError) as err:
        print(f"pinn-gelu: error: {printable(str(err))}", file=sys.stderr)
        return EXIT_USAGE
    except PinnGeluError as err:
        print(f"pinn-gelu: error: {printable(str(err))}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:  # Ctrl-C outside training (which stops at a step and saves)
        print("pinn-gelu: interrupted; nothing written", file=sys.stderr)
        return EXIT_INTERRUPTED
