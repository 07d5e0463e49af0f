"""The ``domain:`` section: a box (``rectangle``, optional ``time``) or a CSG region of shapes."""

from __future__ import annotations

import keyword
import math
import re

from pinn_gelu.errors import GeometryError, describe
from pinn_gelu.expressions import TIME, VARIABLES
from pinn_gelu.geometry import Box
from pinn_gelu.geometry.csg import parse_region
from pinn_gelu.geometry.domain import Domain, RegionDomain
from pinn_gelu.geometry.primitives import Shape, parse_shape
from pinn_gelu.schema import Section, join, yaml12_number

__all__ = ["MAX_SHAPES", "MAX_SHAPE_PARTS", "parse_domain"]

#: Most shapes in a region, and most boundary parts (sides, edges) of all its shapes together:
#: finding the region's boundary costs about 1.3 ms × parts² (13 s for a 100-gon minus a disk).
MAX_SHAPES = 32
MAX_SHAPE_PARTS = 64
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def parse_domain(section: Section) -> Domain:
    """A box from ``rectangle`` (and ``time``), or a region from ``shapes`` and ``region``."""
    if section.has("shapes") or section.has("region"):
        return _region(section)
    rectangle = section.raw("rectangle")
    time = section.raw("time", None)
    periodic = section.raw("periodic", [])
    section.finish()
    what = "a list of 1 to 3 [min, max] pairs, e.g. [[0, 1], [0, 1]]"
    if not isinstance(rectangle, list) or not 1 <= len(rectangle) <= 3:
        raise section.expected("rectangle", what, rectangle)
    bounds = []
    for i, pair in enumerate(rectangle):
        bounds.append(_interval(section, join("rectangle", i), pair))
    if time is not None:
        bounds.append(_interval(section, "time", time))
    axes = _periodic(section, periodic, VARIABLES[: len(rectangle)])
    return Box(tuple(bounds), time=time is not None, periodic=axes)


def _periodic(section: Section, value: object, spatial: tuple[str, ...]) -> tuple[int, ...]:
    """``periodic: [x]``: spatial variables of the box along which the problem is periodic."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise section.expected("periodic", f"a list of variables from: {', '.join(spatial)}", value)
    axes: list[int] = []
    for i, name in enumerate(value):
        key = join("periodic", i)
        if name == TIME:
            raise section.error(key, "time cannot be periodic (only spatial variables)")
        if not isinstance(name, str) or name not in spatial:
            shown = repr(name) if isinstance(name, str) else describe(name)
            raise section.error(
                key, f"unknown variable {shown} (expected one of: {', '.join(spatial)})"
            )
        if spatial.index(name) in axes:
            raise section.error(key, f"'{name}' is given twice")
        axes.append(spatial.index(name))
    return tuple(axes)


def _region(section: Section) -> RegionDomain:
    """``domain: {shapes: {name: {kind: value}}, region: "a - b"}`` → a CSG region."""
    shapes_data = section.raw("shapes")
    expression = section.raw("region")
    if section.has("time"):
        raise section.error(
            "time", "a time interval needs a box domain (rectangle:), not shapes and a region"
        )
    if section.has("periodic"):
        raise section.error(
            "periodic", "periodic axes need a box domain (rectangle:), not shapes and a region"
        )
    section.finish()
    if not isinstance(shapes_data, dict) or not shapes_data:
        raise section.expected(
            "shapes", "a mapping of names to shapes, e.g. {hole: {disk: {...}}}", shapes_data
        )
    if len(shapes_data) > MAX_SHAPES:
        raise section.error("shapes", f"at most {MAX_SHAPES} shapes ({len(shapes_data)} given)")
    shapes: dict[str, Shape] = {}
    parts = 0
    for name, spec in shapes_data.items():
        key = join("shapes", str(name))
        if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name) or keyword.iskeyword(name):
            raise section.error(
                key,
                f"a shape name must be an identifier such as plate or hole, got {describe(name)}",
            )
        if name == "all":
            raise section.error(key, "'all' names the whole boundary; choose another name")
        try:
            shapes[name] = parse_shape(spec, key)
        except GeometryError as err:
            raise section.error(err.key or key, err.reason) from None
        parts += len(shapes[name].part_names)
        if parts > MAX_SHAPE_PARTS:
            raise section.error(
                key,
                f"the shapes have more than {MAX_SHAPE_PARTS} boundary parts in all (edges and "
                "sides; finding the region's boundary costs their number squared)",
            )
    try:
        region = parse_region(expression, shapes, key="region")
    except GeometryError as err:
        raise section.error(err.key or "region", err.reason) from None
    unused = [name for name in shapes if name not in region.shapes]
    if unused:
        raise section.error(
            join("shapes", unused[0]),
            f"shape {unused[0]!r} is not used in the region {region.expression!r}",
        )
    return RegionDomain(region)


def _interval(section: Section, key: str, pair: object) -> tuple[float, float]:
    """A [min, max] pair of finite numbers, min < max, neither too wide nor too narrow."""
    if not isinstance(pair, list) or len(pair) != 2:
        raise section.expected(key, "a [min, max] pair", pair)
    lo, hi = (_finite(section, join(key, j), v) for j, v in enumerate(pair))
    if not lo < hi:
        raise section.error(key, f"expected min < max, got [{lo:g}, {hi:g}]")
    if hi - lo > 1e6 or max(abs(lo), abs(hi)) > 1e6:
        raise section.error(key, "coordinates must lie within [-1e6, 1e6]")
    if hi - lo < 1e-6 * max(1.0, abs(lo), abs(hi)):
        raise section.error(
            key,
            f"the interval [{lo:g}, {hi:g}] is too narrow: its width must be at least 1e-6 "
            "(and 1e-6 of its largest coordinate), or points and grid spacings underflow",
        )
    return lo, hi


def _finite(section: Section, key: str, value: object) -> float:
    value = yaml12_number(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise section.expected(key, "a number", value)
    try:
        number = float(value)
    except OverflowError:
        raise section.expected(key, "a finite number", value) from None
    if not math.isfinite(number):
        raise section.expected(key, "a finite number", value)
    return number
