"""Errors a user can act on.

Every error raised because of user input carries where it came from (the file, the key path
inside it) and what was expected, and formats itself as one line. The command-line interface maps
them to exit codes: :class:`ProblemFileError` and :class:`UsageError` to 2, :class:`TrainingError`
to 1.
"""

from __future__ import annotations

import reprlib

__all__ = [
    "ExpressionError",
    "PinnGeluError",
    "ProblemFileError",
    "TrainingError",
    "UsageError",
    "describe",
]

_SHORT = reprlib.Repr()
_SHORT.maxstring = 60
_SHORT.maxother = 60
_SHORT.maxlist = 4
_SHORT.maxdict = 4
_SHORT.maxlevel = 2


def describe(value: object) -> str:
    """A short, bounded description of a value found in a problem file.

    Bounded in length and depth, so that a hostile value (a YAML alias bomb, a huge string)
    cannot make the error message itself expensive.

    >>> describe("abc")
    "'abc' (str)"
    >>> describe(None)
    'nothing (null)'
    """
    if value is None:
        return "nothing (null)"
    return f"{_SHORT.repr(value)} ({type(value).__name__})"


class PinnGeluError(Exception):
    """Base class of the errors pinn_gelu raises on purpose."""


class ExpressionError(PinnGeluError):
    """An expression string is not in the math language (or breaks one of its bounds).

    Attributes:
        source: the expression text.
        column: 1-based column of the offending construct, or None if it concerns the whole text.
        reason: what is wrong, in words.
    """

    def __init__(self, reason: str, source: str, column: int | None = None) -> None:
        self.reason = reason
        self.source = source
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        text = self.source if len(self.source) <= 80 else self.source[:77] + "..."
        where = f" at column {self.column}" if self.column is not None else ""
        return f"{self.reason}{where} in {text!r}"


class ProblemFileError(PinnGeluError):
    """A problem file (or an override of it) is invalid.

    The message reads ``<file>: <key path>: <what is wrong>``, for example
    ``problems/x.yaml: boundary[1].on: unknown side 'x_middle' (expected one of: all, x_min)``.

    Attributes:
        path: the problem file, as given by the user.
        key: the key path inside the file, such as ``boundary[1].dirichlet``; empty for the file.
        reason: what is wrong, including what was expected and what was found.
    """

    def __init__(self, path: str, key: str, reason: str) -> None:
        self.path = str(path)
        self.key = key
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.key:
            return f"{self.path}: {self.key}: {self.reason}"
        return f"{self.path}: {self.reason}"


class UsageError(PinnGeluError):
    """Invalid command-line arguments (exit code 2)."""


class TrainingError(PinnGeluError):
    """Training could not go on, for example because the loss became non-finite (exit code 1)."""
