"""Reading checked values out of untrusted mappings, with the key path of every error.

A :class:`Section` wraps one mapping of a problem file (the file itself, ``training``,
``boundary[1]``, …) together with its key path and the file's name, so that every error says
``<file>: <key path>: <what was expected>, got <what was found>``. YAML's booleans are not
numbers here (``isinstance(True, int)`` is true in Python, but ``width: yes`` is a mistake).
Dataclass sections of :mod:`pinn_gelu.config` are read generically from their field metadata.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from pinn_gelu.config import Limits
from pinn_gelu.errors import ExpressionError, ProblemFileError, describe, number_text
from pinn_gelu.expressions import Expression, parse_expression
from pinn_gelu.numbers import yaml12_number

__all__ = ["Context", "Section", "yaml12_number"]

T = TypeVar("T")
_MISSING: Any = object()


@dataclasses.dataclass(frozen=True)
class Context:
    """What every part of a problem file is read against."""

    path: str
    limits: Limits
    variables: tuple[str, ...] = ()
    parameters: Mapping[str, float] = dataclasses.field(default_factory=dict)
    #: The unknown constants' names: residual expressions read them at run time.
    unknowns: tuple[str, ...] = ()
    #: The unknowns' declarations (:class:`pinn_gelu.model.unknowns.Unknown`), by name.
    unknown_specs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: The registries a config field may name (``registry=`` in its metadata): name → entries.
    registries: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)


def join(key: str, name: str | int) -> str:
    """Key path of a child.

    >>> join("boundary", 1), join("a", "b")
    ('boundary[1]', 'a.b')
    """
    if isinstance(name, int):
        return f"{key}[{name}]"
    return f"{key}.{name}" if key else name


class Section:
    """A mapping from a problem file, read key by key with checked types.

    Every key read is remembered; :meth:`finish` rejects any key that was not read, naming the
    valid ones (unknown keys are errors, not warnings nobody reads).
    """

    def __init__(self, data: object, key: str, context: Context, what: str = "a mapping") -> None:
        if not isinstance(data, Mapping):
            raise ProblemFileError(
                context.path, key or "", f"expected {what}, got {describe(data)}"
            )
        for name in data:
            if not isinstance(name, str):
                raise ProblemFileError(
                    context.path, key, f"keys must be strings, got {describe(name)}"
                )
        self.data: Mapping[str, Any] = data
        self.key = key
        self.context = context
        self.known: list[str] = []

    # --- errors -------------------------------------------------------------------------------
    def error(self, name: str | int | None, reason: str) -> ProblemFileError:
        """An error about ``name`` in this section (or the section itself for None)."""
        key = self.key if name is None else join(self.key, name)
        return ProblemFileError(self.context.path, key, reason)

    def expected(self, name: str | int | None, what: str, got: object) -> ProblemFileError:
        """``expected <what>, got <value> (<type>)``."""
        return self.error(name, f"expected {what}, got {describe(got)}")

    # --- access -------------------------------------------------------------------------------
    def has(self, name: str) -> bool:
        """Whether the key is present (and remember it as known)."""
        self.known.append(name)
        return name in self.data

    def raw(self, name: str, default: Any = _MISSING) -> Any:
        """The value as found, or ``default``; a missing key without default is an error."""
        self.known.append(name)
        if name in self.data:
            return self.data[name]
        if default is _MISSING:
            raise self.error(name, "this key is required")
        return default

    def finish(self) -> None:
        """Reject keys that were not read."""
        unknown = [name for name in self.data if name not in self.known]
        if unknown:
            valid = ", ".join(dict.fromkeys(self.known)) or "none"
            raise self.error(unknown[0], f"unknown key (expected one of: {valid})")

    def section(self, name: str, default: Any = _MISSING) -> Section:
        """A child mapping (an empty one when absent and a default is allowed)."""
        value = self.raw(name, default)
        if value is None and default is not _MISSING:
            value = {}
        return Section(value, join(self.key, name), self.context)

    # --- typed values -------------------------------------------------------------------------
    def string(self, name: str, default: Any = _MISSING, choices: Sequence[str] = ()) -> str:
        """A string, optionally one of ``choices``."""
        value = self.raw(name, default)
        return checked_string(value, choices, lambda what: self.expected(name, what, value))

    def number(
        self,
        name: str,
        default: Any = _MISSING,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        exclusive_minimum: float | None = None,
    ) -> float:
        """A finite int or float within bounds."""
        value = self.raw(name, default)
        return checked_number(
            value, minimum, maximum, exclusive_minimum, lambda w: self.expected(name, w, value)
        )

    def integer(
        self,
        name: str,
        default: Any = _MISSING,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int:
        """An int (not a bool, not a float) within bounds."""
        value = self.raw(name, default)
        return checked_integer(value, minimum, maximum, lambda w: self.expected(name, w, value))

    def expression(self, name: str, value: object = _MISSING) -> Expression:
        """An expression of the math language (see :mod:`pinn_gelu.expressions`)."""
        if value is _MISSING:
            value = self.raw(name)
        return compile_expression(value, join(self.key, name), self.context)

    def dataclass(self, cls: type[T]) -> T:
        """Read a config dataclass: every field is an optional key, validated by its metadata."""
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if "sections" in f.metadata:  # one child section per entry of a registry
                entries = self.context.registries[f.metadata["sections"]]
                values[f.name] = {
                    name: self.section(name, {}).dataclass(entry.Config)
                    for name, entry in entries.items()
                }
                continue
            if not self.has(f.name):
                continue
            value = self.data[f.name]
            hint = hints[f.name]
            if dataclasses.is_dataclass(hint) and "parse" not in f.metadata:
                values[f.name] = self.section(f.name).dataclass(hint)  # type: ignore[arg-type]
            else:
                values[f.name] = self._field_value(f, hint, value)
        self.finish()
        return cls(**values)

    def _field_value(self, f: dataclasses.Field[Any], hint: Any, value: object) -> Any:
        meta = f.metadata
        maximum = meta.get("max")
        if "limit" in meta:
            maximum = getattr(self.context.limits, meta["limit"])

        def fail(what: str) -> ProblemFileError:
            if "limit" in meta and isinstance(value, int) and not isinstance(value, bool):
                if maximum is not None and value > maximum:
                    return self.error(
                        f.name,
                        f"{number_text(value)} exceeds the limit of {number_text(maximum)} "
                        f"({meta['limit']}; raise it "
                        f"with --limit {meta['limit']}=N if you mean it)",
                    )
            return self.expected(f.name, what, value)

        if "parse" in meta:  # a text with its own grammar, parsed once into its object
            try:
                return meta["parse"](value)
            except ValueError as err:
                raise self.error(f.name, str(err)) from None
        if hint is bool:
            if not isinstance(value, bool):
                raise fail("true or false")
            return value
        if hint is int:
            return checked_integer(value, meta.get("min"), maximum, fail)
        if hint is float:
            return checked_number(value, meta.get("min"), maximum, meta.get("min_exclusive"), fail)
        choices = tuple(meta.get("choices", ()))
        if "registry" in meta:
            choices = tuple(self.context.registries[meta["registry"]])
        if hint is str:
            return checked_string(value, choices, fail)
        if typing.get_origin(hint) is tuple:
            if "auto" in meta and value == "auto":  # chosen later, from the whole file
                return ("auto",)
            return self._name_list(f.name, value, choices + (("auto",) if "auto" in meta else ()))
        if typing.get_origin(hint) is dict:
            inner = Section(value, join(self.key, f.name), self.context)
            out: dict[str, Any] = {}
            for name in inner.data:
                if meta.get("expressions") and isinstance(yaml12_number(inner.data[name]), str):
                    out[name] = inner.expression(name)
                    if out[name].unknowns:  # a trained weight would shrink its own term
                        raise inner.error(
                            name,
                            f"a weight cannot read the unknown '{out[name].unknowns[0]}': the "
                            "optimiser would lower the loss by changing the weight instead of "
                            "fitting (scale the equation or the data instead)",
                        )
                else:
                    out[name] = inner.number(name, minimum=meta.get("min"), maximum=maximum)
            return out
        raise TypeError(f"unsupported config field type {hint!r}")  # a bug, not bad input

    def _name_list(self, name: str, value: object, choices: Sequence[str]) -> tuple[str, ...]:
        """A list of distinct names from ``choices`` (or one string of comma-separated names)."""
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",")]
        if not isinstance(value, list) or not value:
            raise self.expected(name, f"a list of names from: {', '.join(choices)}", value)
        names: list[str] = []
        for k, item in enumerate(value):
            key = f"{name}[{k}]"
            if not isinstance(item, str) or item not in choices:
                raise self.expected(key, f"one of: {', '.join(choices)}", item)
            if item in names:
                raise self.error(key, f"{item!r} is listed twice (each phase runs at most once)")
            if item == "auto":
                raise self.error(key, "'auto' stands alone (schedule: auto), not in a list")
            names.append(item)
        return tuple(names)


def checked_string(
    value: object, choices: Sequence[str], fail: Callable[[str], ProblemFileError]
) -> str:
    """``value`` if it is a (non-empty) string among ``choices`` (when given)."""
    if choices:
        if not isinstance(value, str) or value not in choices:
            raise fail(f"one of: {', '.join(choices)}")
        return value
    if not isinstance(value, str) or not value.strip():
        raise fail("a non-empty string")
    return value


def checked_number(
    value: object,
    minimum: float | None,
    maximum: float | None,
    exclusive_minimum: float | None,
    fail: Callable[[str], ProblemFileError],
) -> float:
    """``value`` as a float if it is a finite number within the bounds."""
    what = _range_text(minimum, maximum, exclusive_minimum)
    value = yaml12_number(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(what)
    try:
        number = float(value)
    except OverflowError:
        raise fail(what) from None
    if not math.isfinite(number):
        raise fail(what)
    if exclusive_minimum is not None and number <= exclusive_minimum:
        raise fail(what)
    if minimum is not None and number < minimum:
        raise fail(what)
    if maximum is not None and number > maximum:
        raise fail(what)
    return number


def _range_text(
    minimum: float | None, maximum: float | None, exclusive_minimum: float | None
) -> str:
    """``a number in [0, 1]``, ``a number > 0``, … for the bounds given."""
    if exclusive_minimum is not None:
        low, bracket = f"> {exclusive_minimum:g}", f"({exclusive_minimum:g}"
    elif minimum is not None:
        low, bracket = f"≥ {minimum:g}", f"[{minimum:g}"
    else:
        low = bracket = ""
    if bracket and maximum is not None:
        return f"a number in {bracket}, {maximum:g}]"
    if low:
        return f"a number {low}"
    return f"a number ≤ {maximum:g}" if maximum is not None else "a number"


def checked_integer(
    value: object,
    minimum: int | None,
    maximum: int | None,
    fail: Callable[[str], ProblemFileError],
) -> int:
    """``value`` if it is an int (not a bool) within the bounds."""
    if minimum is not None and maximum is not None:
        what = f"a whole number in [{minimum}, {maximum}]"
    elif minimum is not None:
        what = f"a whole number ≥ {minimum}"
    else:
        what = "a whole number"
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(what)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise fail(what)
    return value


def compile_expression(value: object, key: str, context: Context) -> Expression:
    """Parse an expression found at ``key``, turning its errors into problem-file errors."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ProblemFileError(
            context.path,
            key,
            f"expected an expression (a string or a number), got {describe(value)}",
        )
    try:
        expression = parse_expression(
            value,
            context.variables,
            context.parameters,
            context.limits.expressions(),
            unknowns=context.unknowns,
        )
    except ExpressionError as err:
        raise ProblemFileError(context.path, key, str(err)) from None
    expression.key = key
    return expression
