"""Problem files: YAML text → checked keys → a validated :class:`~pinn_gelu.problem.Problem`.

A problem file is untrusted text. It is read with :func:`yaml.safe_load` only (no tags that build
Python objects), its size and the sizes of its lists are bounded, every key is checked against
the keys this version knows, every expression is parsed by the whitelist of
:mod:`pinn_gelu.expressions`, and everything a file can make expensive is bounded by
:class:`~pinn_gelu.config.Limits`. Any problem raises :class:`~pinn_gelu.errors.ProblemFileError`
naming the file, the key path and what was expected; nothing is trained or written before the
whole file has been validated.

The format (v1)::

    name: poisson-2d-sine                 # optional; default: file stem
    pde: {kind: poisson, source: "2*pi**2*sin(pi*x)*sin(pi*y)"}
    domain: {rectangle: [[0, 1], [0, 1]]}
    boundary:
      - {on: all, dirichlet: "0"}
    exact: {u: "sin(pi*x)*sin(pi*y)"}
    parameters: {}
    network: {activation: gelu, width: 50, depth: 4}
    training: {points: {interior: 2000, boundary: 400}, adam: {steps: 5000}, seed: 0}

See ``problems/README.md`` for every key with its type, default and bound.
"""

from __future__ import annotations

import keyword
import math
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .config import Limits, NetworkConfig, TrainingConfig, ValidationConfig
from .errors import GeometryError, ProblemFileError, UsageError, describe, number_text
from .expressions import RESERVED, Expression, Residual
from .geometry import Box
from .geometry.csg import parse_region
from .geometry.domain import Domain, RegionDomain
from .geometry.primitives import Shape, parse_shape
from .pdes import PDE_KINDS
from .pdes.equations import MAX_EQUATIONS, parse_boundary_residual
from .problem import PDE, BoundaryCondition, Problem, ReferenceConfig
from .schema import Context, Section, compile_expression, join, yaml12_number

__all__ = ["MAX_FILE_BYTES", "apply_overrides", "load_problem", "parse_problem", "read_yaml"]

#: Largest problem file read, in bytes (the shipped files are under 3 KB).
MAX_FILE_BYTES = 64 * 1024
#: Bounds checked on the raw text before YAML parsing, which in pure Python costs about 40 µs
#: per token and grows quadratically with bracket nesting: real files use under 200 structural
#: characters and a nesting depth of 3.
MAX_STRUCTURE = 4000
MAX_NESTING = 32
MAX_BOUNDARY_ENTRIES = 100
MAX_PARAMETERS = 100
#: Most shapes in a region, and most boundary parts (sides, edges) of all its shapes together:
#: finding the region's boundary costs about 1.3 ms × parts² (13 s for a 100-gon minus a disk).
MAX_SHAPES = 32
MAX_SHAPE_PARTS = 64
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def load_problem(
    path: str | Path,
    overrides: Sequence[str] = (),
    *,
    limits: Limits | None = None,
) -> Problem:
    """Read, override and validate a problem file.

    Args:
        path: the YAML file.
        overrides: ``KEY=VALUE`` strings, such as ``training.adam.steps=500``, applied to the
            file's data before validation (values are read as YAML scalars).
        limits: bounds on what the file may ask for.

    Raises:
        ProblemFileError: the file cannot be read or is invalid.
        UsageError: an override is malformed.
    """
    data = read_yaml(path)
    data = apply_overrides(data, overrides)
    return parse_problem(data, str(path), limits=limits)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The file's top-level mapping, read with ``yaml.safe_load`` within the size bound."""
    shown = str(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; only regular files are read
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as err:
        raise ProblemFileError(shown, "", f"cannot read the file ({err.strerror or err})") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            os.close(descriptor)
            raise ProblemFileError(shown, "", f"not a regular file ({_file_type(mode)})")
        with os.fdopen(descriptor, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise ProblemFileError(shown, "", f"cannot read the file ({err.strerror or err})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ProblemFileError(shown, "", f"file larger than {MAX_FILE_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ProblemFileError(shown, "", f"not UTF-8 text (byte {err.start})") from None
    return parse_yaml_text(text, shown)


def _file_type(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a directory",
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a plain file")


def _check_shape(text: str, shown: str) -> None:
    """Refuse text whose YAML would be slow to parse, before parsing it."""
    structure = sum(text.count(c) for c in ",[]{}:\n")
    if structure > MAX_STRUCTURE:
        raise ProblemFileError(
            shown, "", f"too many YAML items ({structure} separators; at most {MAX_STRUCTURE})"
        )
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    if deepest > MAX_NESTING:
        raise ProblemFileError(
            shown, "", f"nested deeper than {MAX_NESTING} levels of brackets ({deepest})"
        )


def parse_yaml_text(text: str, shown: str) -> dict[str, Any]:
    """``yaml.safe_load`` with its failures turned into one-line problem-file errors."""
    _check_shape(text, shown)
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = (err.problem or err.context or "invalid YAML").strip()
        raise ProblemFileError(shown, "", f"not valid YAML: {what}{where}") from None
    except yaml.YAMLError as err:
        raise ProblemFileError(shown, "", f"not valid YAML: {str(err).splitlines()[0]}") from None
    except RecursionError:
        raise ProblemFileError(shown, "", "not valid YAML: nested too deeply") from None
    except (ValueError, TypeError, OverflowError, AttributeError, IndexError, KeyError) as err:
        # PyYAML's constructors raise these for some malformed input (found by fuzzing:
        # "!!float inf\n&a [1, 2]" raises ValueError); it is still invalid YAML, not a crash
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ProblemFileError(shown, "", f"not valid YAML: {first[:120]}") from None
    if data is None:
        raise ProblemFileError(shown, "", "the file is empty (expected a mapping with pde, ...)")
    _check_duplicate_keys(text, shown)
    if not isinstance(data, dict):
        raise ProblemFileError(shown, "", f"expected a mapping at the top, got {describe(data)}")
    return _restore_on_keys(data, shown)


def _check_duplicate_keys(text: str, shown: str) -> None:
    """Refuse a mapping that gives a key twice (YAML would silently keep the last one).

    Reads the node graph (``yaml.compose``: no Python object is built) once more; each node is
    visited once, so aliases cannot make the walk expensive.
    """
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, "")] if root is not None else []
    while stack:
        node, key = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            names: set[object] = set()
            for name_node, value in node.value:
                name = name_node.value if isinstance(name_node, yaml.ScalarNode) else id(name_node)
                if name in names and name_node.tag != "tag:yaml.org,2002:merge":
                    where = f" at line {name_node.start_mark.line + 1}"
                    raise ProblemFileError(
                        shown,
                        join(key, str(name)) if isinstance(name, str) else key,
                        f"the key is given twice{where} (YAML would keep only the last)",
                    )
                names.add(name)
                child = join(key, name) if isinstance(name, str) else key
                stack.append((value, child))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, join(key, i)) for i, item in enumerate(node.value))


_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Set dotted keys: ``training.adam.steps=500``, ``boundary[0].dirichlet=1``.

    Values are read as YAML scalars (``500`` is an int, ``1e-3`` a float, ``sin(x)`` a string).
    Missing mappings on the way are created. The data is copied, not changed in place, and the
    mappings and lists on the key's path are copied each time: a node that a YAML alias shares
    changes only where the key points.

    >>> apply_overrides({"a": {"b": 1}}, ["a.b=2", "c.d=x"])
    {'a': {'b': 2}, 'c': {'d': 'x'}}
    """
    import copy

    data = copy.deepcopy(data)
    for override in overrides:
        key, sep, text = override.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(
                f"--set {override!r}: expected KEY=VALUE, e.g. training.adam.steps=500"
            )
        segments = _split_key(key, override)
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError):
            # ValueError: an integer of more than 4300 digits (found by fuzzing)
            shown = override if len(override) <= 80 else override[:77] + "..."
            raise UsageError(f"--set {shown!r}: the value is not a YAML scalar") from None
        if isinstance(value, (dict, list)):
            raise UsageError(f"--set {override!r}: the value must be a scalar, not a collection")
        _set(data, segments, value, override)
    return data


def _split_key(key: str, override: str) -> list[str | int]:
    segments: list[str | int] = []
    position = 0
    for match in _SEGMENT.finditer(key):
        if match.start() != position and key[position : match.start()] != ".":
            raise UsageError(f"--set {override!r}: malformed key {key!r}")
        name, index = match.groups()
        segments.append(int(index) if index is not None else int(name) if name.isdigit() else name)
        position = match.end()
    if position != len(key) or not segments:
        raise UsageError(f"--set {override!r}: malformed key {key!r}")
    return segments


def _set(data: Any, segments: list[str | int], value: object, override: str) -> None:
    node = data
    for depth, segment in enumerate(segments):
        last = depth == len(segments) - 1
        if isinstance(segment, int):
            if not isinstance(node, list) or not 0 <= segment < len(node):
                raise UsageError(f"--set {override!r}: no list entry [{segment}] to set")
            if last:
                node[segment] = value
            else:
                node[segment] = _unshared(node[segment])
                node = node[segment]
            continue
        if not isinstance(node, dict):
            raise UsageError(f"--set {override!r}: {segment!r} is not inside a mapping")
        if last:
            node[segment] = value
        else:
            if node.get(segment) is None:
                node[segment] = {}
            node[segment] = _unshared(node[segment])
            node = node[segment]


def _unshared(node: Any) -> Any:
    """A shallow copy of a mapping or list (a YAML alias may share it), else the value."""
    if isinstance(node, dict):
        return dict(node)
    if isinstance(node, list):
        return list(node)
    return node


def default_name(path: str | Path) -> str:
    """A run name from a file name: characters other than letters, digits, '.', '_', '-' as '_'.

    >>> default_name("my problem (v2).yaml")
    'my_problem__v2_'
    """
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(path).stem)[:100].lstrip("._-")
    return stem or "problem"


def parse_problem(data: Mapping[str, Any], path: str, *, limits: Limits | None = None) -> Problem:
    """Validate a problem file's data (already loaded) into a :class:`Problem`."""
    limits = limits or Limits()
    context = Context(path=path, limits=limits)
    top = Section(data, "", context)

    name = top.raw("name", default_name(path))
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise top.expected("name", "letters, digits, '.', '_' or '-' (at most 100)", name)

    domain = _domain(top.section("domain"))
    context = Context(path=path, limits=limits, variables=domain.variables)
    parameters = _parameters(top.section("parameters", {}), context)
    context = Context(path, limits, domain.variables, parameters)
    top.context = context

    pde_section = top.section("pde")
    pde_section.context = context
    kind = pde_section.string("kind", choices=tuple(PDE_KINDS))
    pde = PDE_KINDS[kind](pde_section)
    if domain.time and not pde.allows_time:
        raise ProblemFileError(
            path,
            "domain.time",
            f"kind {kind} has no time variable (write the equation with kind: equations)",
        )

    boundary = _boundary(top, pde, domain)
    exact = _exact(top.section("exact", {}), pde)
    reference = _reference(top, domain, limits, kind)

    network = top.section("network", {}).dataclass(NetworkConfig)
    training = top.section("training", {}).dataclass(TrainingConfig)
    validation = top.section("validation", {}).dataclass(ValidationConfig)
    top.finish()

    _check_network(network, domain, pde, context)
    _check_training(training, pde, context)
    grid = validation.grid_points(domain.dimension)
    if grid < 2 or grid > limits.max_grid_points or grid**domain.dimension > limits.max_grid_points:
        total = grid**domain.dimension if grid <= limits.max_grid_points else None
        gives = f"gives {number_text(total)} points" if total else "is too many"
        raise ProblemFileError(
            path,
            "validation.grid",
            f"{number_text(grid)} points per dimension {gives}; expected at least 2 per "
            f"dimension and at most {number_text(limits.max_grid_points)} in all "
            "(max_grid_points)",
        )
    problem = Problem(
        name=name,
        path=path,
        pde=pde,
        domain=domain,
        boundary=boundary,
        exact=exact,
        reference=reference,
        parameters=parameters,
        network=network,
        training=training,
        validation=validation,
        limits=limits,
    )
    _check_memory(network, training, grid**domain.dimension, domain, problem.order, context)
    return problem


def _domain(section: Section) -> Domain:
    if section.has("shapes") or section.has("region"):
        return _region(section)
    rectangle = section.raw("rectangle")
    time = section.raw("time", None)
    section.finish()
    what = "a list of 1 to 3 [min, max] pairs, e.g. [[0, 1], [0, 1]]"
    if not isinstance(rectangle, list) or not 1 <= len(rectangle) <= 3:
        raise section.expected("rectangle", what, rectangle)
    bounds = []
    for i, pair in enumerate(rectangle):
        bounds.append(_interval(section, join("rectangle", i), pair))
    if time is not None:
        bounds.append(_interval(section, "time", time))
    return Box(tuple(bounds), time=time is not None)


def _region(section: Section) -> RegionDomain:
    """``domain: {shapes: {name: {kind: value}}, region: "a - b"}`` → a CSG region."""
    shapes_data = section.raw("shapes")
    expression = section.raw("region")
    if section.has("time"):
        raise section.error(
            "time", "a time interval needs a box domain (rectangle:), not shapes and a region"
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


def _parameters(section: Section, context: Context) -> dict[str, float]:
    if len(section.data) > MAX_PARAMETERS:
        raise section.error(None, f"at most {MAX_PARAMETERS} parameters")
    reserved = set(RESERVED)  # variables, t, constants, functions, d, laplacian, dn, normals
    parameters: dict[str, float] = {}
    for name, value in section.data.items():
        section.known.append(name)
        if not _IDENTIFIER.fullmatch(name) or name.startswith("__"):
            raise section.error(name, "a parameter name must be an identifier such as k or rho")
        if keyword.iskeyword(name):
            raise section.error(
                name, f"'{name}' is a Python keyword, which no expression can use as a name"
            )
        if name in reserved:
            raise section.error(
                name,
                f"'{name}' is reserved (a variable, constant, function, operator or normal)",
            )
        scope = Context(context.path, context.limits, (), parameters)
        compiled = compile_expression(value, join(section.key, name), scope)
        if compiled.constant is None:
            raise section.error(name, "a parameter must be a constant (no x, y, z)")
        parameters[name] = compiled.constant
    return parameters


def _sides(section: Section, domain: Domain) -> tuple[str, ...]:
    on = section.raw("on")
    if isinstance(domain, RegionDomain):
        return _parts(section, on, domain)
    valid = ("all", *domain.sides)
    names = on if isinstance(on, list) else [on]
    if not names or len(names) > 2 * len(valid):
        raise section.expected("on", f"a side or a list of sides ({', '.join(valid)})", on)
    sides: list[str] = []
    for i, name in enumerate(names):
        key = "on" if not isinstance(on, list) else join("on", i)
        if not isinstance(name, str) or name not in valid:
            shown = repr(name) if isinstance(name, str) else describe(name)
            raise section.error(key, f"unknown side {shown} (expected one of: {', '.join(valid)})")
        sides.extend(domain.spatial_sides if name == "all" else [name])
    return tuple(dict.fromkeys(sides))


def _parts(section: Section, on: object, domain: RegionDomain) -> tuple[str, ...]:
    """``on:`` of a region: ``all``, a shape's name, ``shape.side``/``shape.edgeK``, or a list.

    A shape's name stands for its parts that lie on the region's boundary.
    """
    names = on if isinstance(on, list) else [on]
    region = domain.region
    if not names or len(names) > MAX_SHAPE_PARTS:
        raise section.expected(
            "on", "a boundary part (all, a shape's name, shape.side) or a list of them", on
        )
    sides: list[str] = []
    for i, name in enumerate(names):
        key = "on" if not isinstance(on, list) else join("on", i)
        if not isinstance(name, str):
            raise section.expected(key, "a boundary part name such as hole or plate.x_min", name)
        if name == "all":
            sides.extend(domain.sides)
            continue
        try:
            sides.extend(p.name for p in region.resolve(name))
        except GeometryError as err:
            raise section.error(key, err.reason) from None
    return tuple(dict.fromkeys(sides))


def _boundary(top: Section, pde: PDE, domain: Domain) -> tuple[BoundaryCondition, ...]:
    entries = top.raw("boundary")
    if not isinstance(entries, list) or not entries:
        raise top.expected(
            "boundary", "a non-empty list of conditions ({on: ..., <kind>: ...})", entries
        )
    if len(entries) > MAX_BOUNDARY_ENTRIES:
        raise top.error("boundary", f"at most {MAX_BOUNDARY_ENTRIES} entries")
    conditions: list[BoundaryCondition] = []
    kinds = pde.boundary_kinds
    for i, entry in enumerate(entries):
        section = Section(entry, join("boundary", i), top.context)
        sides = _sides(section, domain)
        found = [kind for kind in kinds if section.has(kind)]
        section.finish()
        if not found:
            raise section.error(
                None,
                f"expected a condition: one of {', '.join(kinds)} (for example "
                f'{{on: all, {next(iter(kinds))}: "0"}})',
            )
        if len(found) > 1 and max(kinds.values()) == 1:
            raise section.error(found[1], f"one condition per entry (found {', '.join(found)})")
        for kind in found:
            values = (
                _boundary_residuals(section, kind, pde)
                if kinds[kind] == 0
                else _condition_values(section, kind, pde.boundary_components)
            )
            _check_time_sides(section, kind, sides, values, domain)
            conditions.append(BoundaryCondition(sides, kind, values, join(section.key, kind)))
    if pde.default_condition is None and not pde.free_boundary:
        covered = {side for c in conditions for side in c.sides}
        missing = [side for side in domain.sides if side not in covered]
        if missing:
            raise top.error(
                "boundary",
                f"{_what(domain)} {missing[0]} has no condition (every {_what(domain)} needs "
                f'one; for an insulated {_what(domain)} write {{on: {missing[0]}, neumann: "0"}})',
            )
    return tuple(conditions)


def _what(domain: Domain) -> str:
    return "boundary part" if isinstance(domain, RegionDomain) else "side"


def _restore_on_keys(data: dict[str, Any], shown: str) -> dict[str, Any]:
    """YAML 1.1 (PyYAML's safe_load) reads the bare key ``on`` as the boolean true: take it back.

    ``boundary: [{on: all, ...}]`` arrives as ``[{True: "all", ...}]``; in boundary entries the
    key is read as ``on`` again, so the documented format works with ``yaml.safe_load`` alone.
    """
    entries = data.get("boundary")
    if not isinstance(entries, list):
        return data
    restored: list[Any] = []
    for index, entry in enumerate(entries):
        if isinstance(entry, dict) and True in entry:
            if "on" in entry:
                raise ProblemFileError(shown, f"boundary[{index}]", "the key 'on' is given twice")
            entry = {("on" if key is True else key): value for key, value in entry.items()}
        restored.append(entry)
    return {**data, "boundary": restored}


def _boundary_residuals(section: Section, kind: str, pde: PDE) -> tuple[Residual, ...]:
    """The residuals of an ``equation`` entry: one expression or a list of them."""
    value = section.data[kind]
    items = value if isinstance(value, list) else [value]
    if not 1 <= len(items) <= MAX_EQUATIONS:
        raise section.expected(
            kind, f"a residual expression or a list of 1 to {MAX_EQUATIONS} of them", value
        )
    return tuple(
        parse_boundary_residual(
            section, kind if not isinstance(value, list) else join(kind, i), item, pde.outputs
        )
        for i, item in enumerate(items)
    )


def _check_time_sides(
    section: Section, kind: str, sides: tuple[str, ...], values: tuple[Any, ...], domain: Domain
) -> None:
    """The normal is spatial: a flux or a normal on t_min or t_max is a mistake."""
    timed = [side for side in sides if side not in domain.spatial_sides]
    if not timed:
        return
    spatial = kind == "neumann" or any(isinstance(v, Residual) and v.uses_normal for v in values)
    if spatial:
        raise section.error(
            kind,
            f"the outward normal is spatial: {timed[0]} has none (for a condition on the rate "
            'write an equation such as "d(u, t) - 0")',
        )


def _condition_values(
    section: Section, kind: str, names: tuple[str, ...]
) -> tuple[Expression | None, ...]:
    value = section.data[kind]
    components = len(names)
    if isinstance(value, dict):
        return _named_values(section, kind, value, names)
    if components == 1:
        return (section.expression(kind, value),)
    if not isinstance(value, list) or len(value) != components:
        raise section.expected(
            kind, f"a list of {components} expressions (null leaves a component free)", value
        )
    values = tuple(
        None if item is None else section.expression(f"{kind}[{k}]", item)
        for k, item in enumerate(value)
    )
    if all(v is None for v in values):
        raise section.error(kind, "at least one component must be given (all are null)")
    return values


def _named_values(
    section: Section, kind: str, value: dict[Any, Any], names: tuple[str, ...]
) -> tuple[Expression | None, ...]:
    """``{u: "...", v: "..."}``: one expression per named component, the rest left free."""
    if not value:
        raise section.expected(kind, f"expressions for some of: {', '.join(names)}", value)
    for name in value:
        if name not in names:
            shown = repr(name) if isinstance(name, str) else describe(name)
            raise section.error(
                kind, f"unknown field {shown} (expected some of: {', '.join(names)})"
            )
    return tuple(
        None if name not in value else section.expression(join(kind, name), value[name])
        for name in names
    )


def _exact(section: Section, pde: PDE) -> dict[str, Any]:
    exact = {}
    for name, value in section.data.items():
        if name not in pde.solution_fields:
            raise section.error(
                name, f"unknown field (expected one of: {', '.join(pde.solution_fields)})"
            )
        section.known.append(name)
        exact[name] = section.expression(name, value)
    return exact


def _reference(top: Section, domain: Domain, limits: Limits, kind: str) -> ReferenceConfig | None:
    """``reference: {finite_difference: {points: n}}`` or ``{finite_element: {size: H}}``."""
    if not top.has("reference"):
        return None
    from .reference import METHODS

    solvable = sorted({k for m in METHODS.values() for k in m.kinds})
    if kind not in solvable:
        raise top.error(
            "reference",
            f"no reference solver for kind {kind} (references solve {', '.join(solvable)}); "
            "give an exact solution under exact: instead",
        )
    section = top.section("reference")
    given = [name for name in METHODS if section.has(name)]
    if len(given) != 1:
        raise section.error(
            None, f"expected exactly one reference method (one of: {', '.join(METHODS)})"
        )
    method = METHODS[given[0]]
    if kind not in method.kinds:
        raise top.error(
            "reference",
            f"no reference solver for kind {kind} ({method.name} solves "
            f"{', '.join(method.kinds)}); give an exact solution under exact: instead",
        )
    if not method.accepts(domain):
        raise section.error(
            method.name,
            f"{method.name} solves on {method.domains} only"
            + (
                "; use finite_element for a region"
                if isinstance(domain, RegionDomain) and domain.dimension == 2
                else ""
            ),
        )
    options = section.section(method.name)
    section.finish()
    if method.name == "finite_element":
        size = options.number("size", exclusive_minimum=0.0) if options.has("size") else None
        options.finish()
        assert isinstance(domain, RegionDomain)  # method.accepts checked it
        if size is not None:
            if domain.volume / (0.433 * size**2) > limits.max_fd_unknowns / 10:
                raise options.error(
                    "size",
                    f"expected a positive mesh size giving at most "
                    f"{number_text(limits.max_fd_unknowns // 10)} triangles (max_fd_unknowns / "
                    f"10), got {size:g}",
                )
        return ReferenceConfig(method="finite_element", size=size)
    points = options.integer("points", 129, minimum=3, maximum=100_000)
    options.finish()
    if points**domain.dimension > limits.max_fd_unknowns:
        raise options.error(
            "points",
            f"{points} per dimension gives {points**domain.dimension} unknowns; the limit is "
            f"{limits.max_fd_unknowns} (max_fd_unknowns)",
        )
    return ReferenceConfig(points=points)


def _check_network(network: NetworkConfig, domain: Domain, pde: PDE, context: Context) -> None:
    w, d = network.width, network.depth
    count = (domain.dimension + 1) * w + (d - 1) * (w + 1) * w + (w + 1) * len(pde.outputs)
    if count > context.limits.max_parameters:
        raise ProblemFileError(
            context.path,
            "network",
            f"width {number_text(w)} and depth {number_text(d)} give {number_text(count)} "
            f"parameters, more than the limit of {number_text(context.limits.max_parameters)} "
            "(max_parameters)",
        )


def derivative_channels(dimension: int, order: int) -> int:
    """Numbers carried per neuron and point: the value and the derivatives the PDE needs.

    Forward mode propagates the value, the d first derivatives and, for second-order PDEs, the
    d(d+1)/2 distinct second derivatives through every layer, and so on: C(d+k−1, k)
    distinct derivatives of each order k ≤ the PDE's (an upper bound for nested autograd,
    which keeps as many intermediate tensors of the same size).

    >>> derivative_channels(2, 2), derivative_channels(1, 4)
    (6, 5)
    """
    return sum(math.comb(dimension + k - 1, k) for k in range(max(order, 1) + 1))


def _check_memory(
    network: NetworkConfig,
    training: TrainingConfig,
    grid_points: int,
    domain: Domain,
    order: int,
    context: Context,
) -> None:
    """Bound the largest tensor a run allocates, estimated before anything is allocated.

    One hidden layer on the largest point set: points × width × derivative channels × bytes
    per number. Every bound on its own can be respected while the product asks for gigabytes.
    """
    size = 8 if training.dtype == "float64" else 4
    channels = derivative_channels(domain.dimension, order)
    points = training.points
    sets = [
        ("training.points.interior", points.interior, channels),
        ("training.points.boundary", points.boundary, channels),
        ("validation.grid", grid_points, 1 + domain.dimension),
    ]
    limit = context.limits.max_tensor_bytes
    for key, count, carried in sets:
        estimate = count * network.width * carried * size
        if estimate > limit:
            raise ProblemFileError(
                context.path,
                key,
                f"{number_text(count)} points × network.width {number_text(network.width)} × "
                f"{carried} derivative channels × {size} bytes ({training.dtype}) need a tensor "
                f"of {_bytes_text(estimate)}, over the limit of {_bytes_text(limit)} "
                "(max_tensor_bytes; raise it with --limit max_tensor_bytes=N if you mean it)",
            )


def _bytes_text(count: int) -> str:
    if count >= 2**60:
        return f"{number_text(count)} bytes"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def _check_training(training: TrainingConfig, pde: PDE, context: Context) -> None:
    names = pde.term_names
    for name in training.weights:
        if name not in names:
            raise ProblemFileError(
                context.path,
                f"training.weights.{name}",
                f"unknown loss term (expected one of: {', '.join(names)})",
            )
