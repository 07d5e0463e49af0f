"""Errors a user can act on.

Every error raised because of user input carries where it came from (the file, the key path
inside it) and what was expected, and formats itself as one line. The command-line interface maps
them to exit codes: :class:`ProblemFileError` and :class:`UsageError` to 2, :class:`TrainingError`
to 1.
"""

from __future__ import annotations

import re
import reprlib

__all__ = [
    "ExpressionError",
    "GeometryError",
    "PinnGeluError",
    "ProblemFileError",
    "TrainingError",
    "UsageError",
    "describe",
    "number_text",
    "one_line",
    "printable",
]

# C0 controls but newline, DEL, C1 controls (CSI is U+009B), and the bidirectional overrides
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

_SHORT = reprlib.Repr()
_SHORT.maxstring = 60
_SHORT.maxother = 60
_SHORT.maxlist = 4
_SHORT.maxdict = 4
_SHORT.maxlevel = 2


def printable(text: str) -> str:
    r"""Text from a file made safe for a terminal: control characters escaped, newlines kept.

    An ANSI escape in a comment or an expression is shown, never obeyed.

    >>> printable("sin(x)\x1b[2J")
    'sin(x)\\x1b[2J'
    """
    return _CONTROL.sub(lambda m: ascii(m.group())[1:-1], text)


def one_line(error: BaseException, limit: int = 200) -> str:
    """The first line of an error's message, printable and at most ``limit`` characters."""
    lines = str(error).strip().splitlines()
    text = printable(lines[0] if lines else type(error).__name__)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def number_text(value: int | float) -> str:
    """A number for a message: as written when short, its magnitude when long.

    Python refuses to print ints of more than 4300 digits, and a 4000-digit number is no use in
    a one-line error either.

    >>> number_text(12345), number_text(10**40)
    ('12345', 'a 41-digit number')
    """
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{value:g}" if isinstance(value, float) else describe(value)
    if value.bit_length() <= 64:
        return str(value)
    digits = len(str(abs(value))) if value.bit_length() < 10_000 else None
    if digits is None:
        return f"a number of about {int(value.bit_length() * 0.30103) + 1} digits"
    return f"a {digits}-digit number"


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
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"{number_text(value)} (int)"
    return f"{printable(_SHORT.repr(value))} ({type(value).__name__})"


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


class GeometryError(PinnGeluError):
    """A shape, a region expression or a meshing request is invalid.

    Raised by :mod:`pinn_gelu.geometry` without knowing the file; the problem-file parser
    prefixes the file and the key path of the domain section.

    Attributes:
        key: where inside the domain description, such as ``shapes.hole.radius``; may be empty.
        reason: what is wrong, including what was expected and what was found.
    """

    def __init__(self, reason: str, key: str = "") -> None:
        self.key = key
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.key}: {self.reason}" if self.key else self.reason


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
