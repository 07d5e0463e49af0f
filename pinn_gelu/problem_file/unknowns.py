"""The ``unknowns:`` section: constants an inverse problem identifies from its data.

    unknowns:
      kappa: {initial: 0.5, positive: true, truth: 0.1}   # λ = s·exp(θ), s = 0.5
      c:     {initial: 1.0, bounds: [0, 5]}               # λ = 0 + 5·σ(θ)
      shift: {initial: 0.0, scale: 0.1}                   # λ = 0.1·θ

Keys of an unknown: ``initial`` (required, finite), at most one of ``positive: true`` and
``bounds: [a, b]`` (the initial value inside), ``scale`` (> 0; default |initial| or 1) and
``truth`` (reported beside the identified value, never used to train). Names follow the
parameters' rules and may not repeat a parameter's or a field's name. See
:mod:`pinn_gelu.model.unknowns` for the maps.
"""

from __future__ import annotations

import keyword
import math
import re

from pinn_gelu.expressions import RESERVED
from pinn_gelu.model.unknowns import Unknown
from pinn_gelu.schema import Section, yaml12_number

__all__ = ["MAX_UNKNOWNS", "check_name", "parse_unknown", "parse_unknowns"]

#: Most unknowns in one problem.
MAX_UNKNOWNS = 20
#: Magnitude bound of an unknown's initial value, bounds, scale and truth.
MAX_MAGNITUDE = 1e30
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_KEYS = ("initial", "positive", "bounds", "scale", "truth")


def parse_unknowns(section: Section, taken: set[str]) -> dict[str, Unknown]:
    """Read the ``unknowns:`` section (``taken``: the parameters' names)."""
    data = section.data
    if len(data) > MAX_UNKNOWNS:
        raise section.error(None, f"at most {MAX_UNKNOWNS} unknowns, got {len(data)}")
    unknowns: dict[str, Unknown] = {}
    for name in data:
        check_name(section, name, taken, "an unknown's name must be an identifier such as kappa")
        unknowns[name] = parse_unknown(section.section(name), name)
    return unknowns


def check_name(section: Section, name: object, taken: set[str] | dict[str, str], what: str) -> None:
    """Refuse a name that is not an identifier, is reserved or is ``taken`` (name → what it is)."""
    section.known.append(name)  # type: ignore[arg-type]
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name) or name.startswith("_"):
        raise section.error(name if isinstance(name, str | int) else None, what)
    if keyword.iskeyword(name) or name in RESERVED:
        raise section.error(
            name,
            f"'{name}' is reserved (a Python keyword, variable, constant, function, operator "
            "or normal)",
        )
    if name in taken:
        kind = taken[name] if isinstance(taken, dict) else "a parameter"
        raise section.error(name, f"'{name}' is already {kind}")


def _number(section: Section, key: str, *, positive: bool = False) -> float:
    value = yaml12_number(section.raw(key))
    what = "a positive number" if positive else "a finite number"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise section.expected(key, what, value)
    try:
        number = float(value)
    except OverflowError:
        raise section.expected(key, what, value) from None
    if not math.isfinite(number) or abs(number) > MAX_MAGNITUDE or (positive and number <= 0):
        raise section.expected(key, f"{what} of magnitude at most {MAX_MAGNITUDE:g}", value)
    return number


def parse_unknown(section: Section, name: str) -> Unknown:
    """One unknown's keys (see the module docstring)."""
    section.known.extend(_KEYS)
    if not section.has("initial"):
        raise section.error("initial", "missing: the value training starts from")
    initial = _number(section, "initial")
    positive = section.raw("positive", False)
    if not isinstance(positive, bool):
        raise section.expected("positive", "true or false", positive)
    scale = _number(section, "scale", positive=True) if section.has("scale") else None
    truth = _number(section, "truth") if section.has("truth") else None
    section.finish()
    if section.has("bounds"):
        if positive:
            raise section.error("bounds", "give either positive: true or bounds, not both")
        if scale is not None:
            raise section.error("scale", "bounds set the scale: give bounds or scale, not both")
        lower, upper = _bounds(section)
        if not lower < initial < upper:
            raise section.error(
                "initial", f"{initial:g} is not inside the bounds ({lower:g}, {upper:g})"
            )
        share = (initial - lower) / (upper - lower)
        if not 1e-12 < share < 1 - 1e-12:  # σ⁻¹ of it would be ±inf or lose every digit
            raise section.error(
                "initial",
                f"{initial:g} is too close to a bound of ({lower:g}, {upper:g}) for the map "
                "a + (b − a)·σ(θ): start further inside",
            )
        return Unknown(
            name=name,
            initial=initial,
            transform="bounds",
            lower=lower,
            upper=upper,
            truth=truth,
        )
    if positive and initial <= 0:
        raise section.error("initial", f"{initial:g} is not positive (positive: true)")
    return Unknown(
        name=name,
        initial=initial,
        transform="positive" if positive else "free",
        scale=scale or (abs(initial) or 1.0),
        truth=truth,
    )


def _bounds(section: Section) -> tuple[float, float]:
    raw = section.raw("bounds")
    if not isinstance(raw, list) or len(raw) != 2:
        raise section.expected("bounds", "a list [lower, upper]", raw)
    inner = Section({"lower": raw[0], "upper": raw[1]}, section.key + ".bounds", section.context)
    lower, upper = _number(inner, "lower"), _number(inner, "upper")
    if not lower < upper:
        raise section.error("bounds", f"expected lower < upper, got [{lower:g}, {upper:g}]")
    return lower, upper
