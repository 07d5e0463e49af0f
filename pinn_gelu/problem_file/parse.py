"""A problem file's data → a validated :class:`~pinn_gelu.problem.Problem`, section by section.

Every key is checked against the keys this version knows, every expression is parsed by the
whitelist of :mod:`pinn_gelu.expressions`, and everything a file can make expensive is bounded
by :class:`~pinn_gelu.config.Limits`. Any problem raises
:class:`~pinn_gelu.errors.ProblemFileError` naming the file, the key path and what was expected.
"""

from __future__ import annotations

import dataclasses
import keyword
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from pinn_gelu.checkpoints import plain_data
from pinn_gelu.config import Limits, NetworkConfig, TrainingConfig, ValidationConfig
from pinn_gelu.errors import GeometryError, ProblemFileError, describe, number_text
from pinn_gelu.expressions import NORMALS, RESERVED, Expression, Residual
from pinn_gelu.geometry.domain import Domain, RegionDomain
from pinn_gelu.pdes import PDE_KINDS
from pinn_gelu.pdes.equations import MAX_EQUATIONS, parse_boundary_residual
from pinn_gelu.problem import PDE, BoundaryCondition, Problem, ReferenceConfig
from pinn_gelu.problem_file.checks import check_memory, check_network, check_training
from pinn_gelu.problem_file.data_files import parse_data
from pinn_gelu.problem_file.defaults import choose_schedule
from pinn_gelu.problem_file.domains import MAX_SHAPE_PARTS, parse_domain
from pinn_gelu.problem_file.enrichment import check_enriched_fields, parse_enrichment
from pinn_gelu.problem_file.exact import check_exact, check_exact_values
from pinn_gelu.problem_file.keys import REGISTRIES
from pinn_gelu.problem_file.unknowns import parse_unknowns
from pinn_gelu.reference import METHODS
from pinn_gelu.schema import Context, Section, compile_expression, join

__all__ = ["default_name", "parse_problem"]

MAX_BOUNDARY_ENTRIES = 100
MAX_PARAMETERS = 100
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def default_name(path: str | Path) -> str:
    """A run name from a file name: characters other than letters, digits, '.', '_', '-' as '_'.

    >>> default_name("my problem (v2).yaml")
    'my_problem__v2_'
    """
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(path).stem)[:100].lstrip("._-")
    return stem or "problem"


def parse_problem(
    data: Mapping[str, Any], path: str, *, limits: Limits | None = None, read_data: bool = True
) -> Problem:
    """Validate a problem file's data (already loaded) into a :class:`Problem`.

    ``read_data=False`` leaves the ``data:`` files unread (no observations): what
    :func:`pinn_gelu.load_run` needs to rebuild a trained model without its measurements.
    """
    limits = limits or Limits()
    context = Context(path=path, limits=limits, registries=REGISTRIES)
    top = Section(data, "", context)

    name = top.raw("name", default_name(path))
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise top.expected("name", "letters, digits, '.', '_' or '-' (at most 100)", name)

    domain = parse_domain(top.section("domain"))
    context = replace(context, variables=domain.variables)
    parameters = _parameters(top.section("parameters", {}), context)
    unknowns = parse_unknowns(top.section("unknowns", {}), set(parameters))
    context = replace(
        context, parameters=parameters, unknowns=tuple(unknowns), unknown_specs=unknowns
    )
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

    raw_data = top.raw("data", None)
    observations = (
        parse_data(raw_data, context, domain, pde.outputs)
        if raw_data is not None and read_data
        else ()
    )
    boundary = _boundary(top, pde, domain, raw_data is not None)
    taken = {**dict.fromkeys(parameters, "a parameter"), **dict.fromkeys(unknowns, "an unknown")}
    enrichment, coefficients = parse_enrichment(
        top.section("enrichment", {}),
        tuple(pde.outputs),
        {**taken, **dict.fromkeys(pde.outputs, "a field")},
        periodic=bool(domain.periodic),
    )
    # the exact solution is evaluated at the unknowns' true values, where the file states them
    truths = {n: u.truth for n, u in unknowns.items() if u.truth is not None}
    exact_section = top.section("exact", {})
    exact_section.context = replace(
        context,
        parameters={**parameters, **truths},
        unknowns=tuple(n for n in unknowns if n not in truths),
    )
    exact = _exact(exact_section, pde)
    reference = _reference(top, domain, limits, kind)
    material = getattr(pde, "material", None)
    if reference is not None and material is not None and material.unknowns:
        raise ProblemFileError(
            path,
            "reference",
            f"a reference solution needs the material constants, but "
            f"{', '.join(material.unknowns)} are unknowns: give an exact solution instead",
        )
    if reference is not None and domain.periodic:
        raise ProblemFileError(
            path,
            "reference",
            "the reference solvers have no periodic conditions (domain.periodic): give an "
            "exact solution instead",
        )
    read = _unknowns_read(pde, boundary)
    if reference is not None and read:
        raise ProblemFileError(
            path,
            "reference",
            f"a reference solution needs the problem's data, but its {read[0]} reads the "
            f"unknown {read[1]}: give an exact solution instead",
        )

    network = top.section("network", {}).dataclass(NetworkConfig)
    training = top.section("training", {}).dataclass(TrainingConfig)
    validation = top.section("validation", {}).dataclass(ValidationConfig)
    top.finish()
    decisions = {}
    choice = choose_schedule(
        training,
        network,
        data,
        inputs=domain.dimension,
        outputs=len(pde.outputs),
        limits=limits,
        data_rows=sum(o.values.size for o in observations),
    )
    source = plain_data(data)
    if choice is not None:
        training, network = choice.training, choice.network
        decisions["training.schedule"] = choice.reason
        # the run directory's problem.yaml states what ran: a later reading (load_run, resume,
        # other limits) builds the same network and schedule
        source = {
            **source,
            "network": {
                **(source.get("network") or {}),
                "width": network.width,
                "depth": network.depth,
            },
            "training": {**(source.get("training") or {}), "schedule": list(training.schedule)},
        }

    check_network(network, domain, pde, context)
    check_training(training, pde, context)
    if training.causal.slabs and not getattr(domain, "time", False):
        raise ProblemFileError(
            path, "training.causal.slabs", "causal weights need a time interval (domain.time)"
        )
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
        unknowns={**unknowns, **coefficients},
        enrichment=enrichment,
        observations=observations,
        network=network,
        training=training,
        validation=validation,
        limits=limits,
        source=source,
        decisions=decisions,
    )
    check_enriched_fields(problem)
    check_memory(network, training, grid**domain.dimension, domain, problem.order, context)
    cautions = check_exact_values(problem)
    return replace(problem, cautions=tuple(cautions)) if cautions else problem


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
        scope = replace(context, variables=(), parameters=parameters)
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
        periodic = [domain.variables[i] for i in domain.periodic]
        if isinstance(name, str) and name.split("_")[0] in periodic and name not in valid:
            raise section.error(
                key, f"{name} lies on the periodic axis {name.split('_')[0]}: it needs no condition"
            )
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


def _boundary(
    top: Section, pde: PDE, domain: Domain, has_data: bool
) -> tuple[BoundaryCondition, ...]:
    entries = top.raw("boundary")
    if entries == [] and ((pde.free_boundary and has_data) or not domain.sides):
        return ()  # data may stand in for conditions; a box periodic on every axis has no sides
    if not isinstance(entries, list) or not entries:
        raise top.expected(
            "boundary",
            "a non-empty list of conditions ({on: ..., <kind>: ...}; an empty list only for "
            "kind: equations with data)",
            entries,
        )
    if len(entries) > MAX_BOUNDARY_ENTRIES:
        raise top.error("boundary", f"at most {MAX_BOUNDARY_ENTRIES} entries")
    conditions: list[BoundaryCondition] = []
    kinds = pde.boundary_kinds
    # boundary values may use the outward normal: nx, ny, nz (columns after the variables)
    valued = replace(
        top.context, variables=(*domain.variables, *NORMALS[: domain.spatial_dimension])
    )
    for i, entry in enumerate(entries):
        section = Section(entry, join("boundary", i), top.context)
        sides = _sides(section, domain)
        found = [kind for kind in kinds if section.has(kind)]
        exact = section.raw("exact", False)
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
                else _condition_values(
                    Section(entry, section.key, valued), kind, pde.boundary_components
                )
            )
            _check_time_sides(section, kind, sides, values, domain)
            if exact is not False:
                check_exact(section, exact, kind, values, domain, pde, sides)
            conditions.append(
                BoundaryCondition(sides, kind, values, join(section.key, kind), exact is True)
            )
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
        if exact[name].unknowns:
            raise section.error(
                name,
                f"'{exact[name].unknowns[0]}' is an unknown without a truth: an exact solution "
                f"is evaluated at the unknowns' true values (unknowns.{exact[name].unknowns[0]}"
                ".truth)",
            )
    return exact


def _unknowns_read(pde: PDE, boundary: Any) -> tuple[str, str] | None:
    """(key, unknown) of the first source or boundary value that reads an unknown, if any."""
    expressions: list[object] = []
    names: list[str] = (
        [f.name for f in dataclasses.fields(pde)] if dataclasses.is_dataclass(pde) else []
    )
    for name in names:
        value = getattr(pde, name)
        expressions += list(value) if isinstance(value, tuple) else [value]
    for condition in boundary:
        expressions += list(condition.values)
    for e in expressions:
        if isinstance(e, Expression) and e.unknowns:
            return e.key or "expression", e.unknowns[0]
    return None


def _reference(top: Section, domain: Domain, limits: Limits, kind: str) -> ReferenceConfig | None:
    """``reference: {finite_difference: {points: n}}`` or ``{finite_element: {size: H}}``."""
    if not top.has("reference"):
        return None

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
    return method.options(options, domain, limits)
