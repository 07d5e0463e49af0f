"""Any PDE written in the problem file: ``kind: equations``.

The network outputs the fields (``fields: [u, v]``); every entry of ``equations`` is a residual
expression of the fields and their derivatives (:func:`pinn_gelu.expressions.parse_residual`)
that must vanish in the interior, one loss term each (``pde``, or ``pde1``, ``pde2``, …).
Boundary entries set ``dirichlet`` (u_k − g = 0) and ``neumann`` (∂u_k/∂n − g = 0) per field, as
for Poisson, or give ``equation`` residuals that must vanish on their sides (Robin conditions,
initial rates, operators): all ``equation`` entries of a side apply. A side may have no
condition.

Every derivative a residual reads is computed exactly at the points (forward mode up to the
fourth order, :mod:`pinn_gelu.derivatives.forward`), and only what the residuals need: a first-order
system never computes a Hessian. Sub-expressions that do not involve the fields (sources, known
coefficients) are evaluated once, on the fixed collocation points.

Written as ``kind: equations``, Poisson's problem gives bit for bit the loss of
``kind: poisson`` on the same points (tested): the terms are built from the same operations.
"""

from __future__ import annotations

import keyword
from collections.abc import Mapping
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from pinn_gelu.collocation import Collocation
from pinn_gelu.errors import ExpressionError
from pinn_gelu.expressions import RESERVED, Residual, parse_residual
from pinn_gelu.fields import Engine, Fields, need_rank
from pinn_gelu.pdes.conditions import boundary_targets
from pinn_gelu.problem import FLUX_WEIGHT, VALUE_WEIGHT, Problem, Term
from pinn_gelu.schema import Section, join

__all__ = ["MAX_EQUATIONS", "MAX_FIELDS", "Equations", "parse", "parse_boundary_residual"]

#: Bounds on what a file may declare.
MAX_FIELDS = 16
MAX_EQUATIONS = 16


@dataclass(frozen=True)
class Equations:
    """Residual equations in the fields ``fields``, each vanishing in the interior."""

    fields: tuple[str, ...]
    equations: tuple[Residual, ...]
    #: Fields carried by their logarithm, so that they stay positive (``positive: [a]``).
    positive: tuple[str, ...] = ()
    kind = "equations"
    default_condition = None
    free_boundary = True
    allows_time = True

    @property
    def order(self) -> int:
        """The highest derivative order of the interior equations."""
        return max(e.order for e in self.equations)

    @property
    def outputs(self) -> tuple[str, ...]:
        """One network output per field."""
        return self.fields

    @property
    def solution_fields(self) -> tuple[str, ...]:
        """The fields (keys of ``exact``)."""
        return self.fields

    @property
    def boundary_components(self) -> tuple[str, ...]:
        """Dirichlet and Neumann conditions are set per field."""
        return self.fields

    @property
    def boundary_kinds(self) -> Mapping[str, int]:
        """``dirichlet`` and ``neumann`` per field; ``equation`` residuals (any number)."""
        m = len(self.fields)
        return {"dirichlet": m, "neumann": m, "equation": 0}

    @property
    def interior_names(self) -> tuple[str, ...]:
        """``pde`` for one equation, ``pde1``, ``pde2``, … for several."""
        if len(self.equations) == 1:
            return ("pde",)
        return tuple(f"pde{k + 1}" for k in range(len(self.equations)))

    @property
    def term_names(self) -> tuple[str, ...]:
        """The interior terms, then ``dirichlet``, ``neumann``, ``equation``."""
        return (*self.interior_names, "dirichlet", "neumann", "equation")

    @property
    def default_weights(self) -> Mapping[str, float]:
        """Value conditions 100, flux and equation conditions 10 (see problem.py)."""
        return {"dirichlet": VALUE_WEIGHT, "neumann": FLUX_WEIGHT, "equation": FLUX_WEIGHT}

    def terms(self, problem: Problem, points: Collocation) -> list[Term]:
        """The interior terms, then the boundary terms that the conditions use."""
        terms = [
            Term(name, "interior", equation.need, equation.bind(points.interior))
            for name, equation in zip(self.interior_names, self.equations, strict=True)
        ]
        dirichlet = boundary_targets(problem, points, "dirichlet")
        if dirichlet is not None:
            rows, components, target = dirichlet.rows, dirichlet.components, dirichlet.values
            terms.append(
                Term(
                    "dirichlet",
                    "boundary",
                    "value",
                    lambda f: f.value[rows, components] - target.at(f.unknowns),
                    rows,
                )
            )
        neumann = boundary_targets(problem, points, "neumann")
        if neumann is not None:
            n_rows, n_components, n_target = neumann.rows, neumann.components, neumann.values
            normals = points.normals[n_rows]

            def flux(fields: Fields) -> Tensor:
                grad = fields.require_gradient()[n_rows, n_components, :]
                return (grad * normals).sum(-1) - n_target.at(fields.unknowns)

            terms.append(Term("neumann", "boundary", "gradient", flux, n_rows))
        equations = problem.equations()
        if equations:
            terms.append(_boundary_equations(problem, points, equations))
        return terms

    def solution(self, network: nn.Module, x: Tensor, engine: Engine) -> dict[str, Tensor]:
        """The fields at points x (N, d), each (N,)."""
        values = network(x)
        return {name: values[:, k] for k, name in enumerate(self.fields)}

    def describe(self) -> str:
        """The equations, each = 0."""
        shown = "; ".join(f"{e.source} = 0" for e in self.equations)
        positive = f" ({', '.join(self.positive)} > 0)" if self.positive else ""
        return f"equations in {', '.join(self.fields)}{positive}: {shown}"


def _boundary_equations(
    problem: Problem, points: Collocation, equations: list[tuple[str, Residual]]
) -> Term:
    """One ``equation`` term: every boundary residual on the points of its sides."""
    spatial = problem.domain.spatial_dimension
    bound, rows = [], []
    for side, residual in equations:
        start, stop = points.sides[side]
        index = torch.arange(start, stop, device=points.boundary.device)
        bound.append(
            residual.bind(points.boundary[start:stop], index, points.normals[start:stop, :spatial])
        )
        rows.append(index)
    need = max((r.need for _, r in equations), key=need_rank)

    def stacked(fields: Fields) -> Tensor:
        return torch.cat([function(fields) for function in bound])

    return Term("equation", "boundary", need, stacked, torch.cat(rows))


def _field_names(section: Section) -> tuple[str, ...]:
    raw = section.raw("fields", ["u"])
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_FIELDS:
        raise section.expected(
            "fields", f"a list of 1 to {MAX_FIELDS} field names, e.g. [u, v]", raw
        )
    names: list[str] = []
    for i, name in enumerate(raw):
        key = join("fields", i)
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise section.expected(key, "an identifier such as u or theta", name)
        if len(name) > 32:
            raise section.error(key, "a field name has at most 32 characters")
        if keyword.iskeyword(name):
            raise section.error(
                key, f"'{name}' is a Python keyword, which no expression can name: choose another"
            )
        if (
            name in RESERVED
            or name in section.context.parameters
            or name in section.context.unknowns
        ):
            raise section.error(
                key,
                f"'{name}' collides with a variable, constant, function, operator, normal, "
                "parameter or unknown of the language: choose another name",
            )
        if name in names:
            raise section.error(key, f"the field '{name}' is given twice")
        names.append(name)
    return tuple(names)


def parse_boundary_residual(
    section: Section, key: str, value: object, fields: tuple[str, ...]
) -> Residual:
    """A boundary ``equation`` residual (normals and ``dn`` available), errors at ``key``."""
    return _residual(section, key, value, fields, boundary=True)


def parse_point_residual(
    section: Section, key: str, value: object, fields: tuple[str, ...]
) -> Residual:
    """A residual expression at points with no normal (a data quantity), errors at ``key``."""
    return _residual(section, key, value, fields, boundary=False)


def _residual(
    section: Section, key: str, value: object, fields: tuple[str, ...], *, boundary: bool
) -> Residual:
    context = section.context
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise section.expected(key, "an expression of the fields (a string)", value)
    variables = context.variables
    spatial = sum(1 for v in variables if v != "t")
    try:
        residual = parse_residual(
            value,
            variables,
            fields,
            spatial=spatial,
            boundary=boundary,
            parameters=context.parameters,
            limits=context.limits.expressions(),
            unknowns=context.unknowns,
        )
    except ExpressionError as err:
        raise section.error(key, str(err)) from None
    return replace(residual, key=join(section.key, key))


def parse(section: Section) -> Equations:
    """Read ``pde: {kind: equations, fields: [u], equations: ["..."]}``."""
    fields = _field_names(section)
    raw = section.raw("equations")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_EQUATIONS:
        raise section.expected(
            "equations",
            f'a list of 1 to {MAX_EQUATIONS} residual expressions, e.g. ["-laplacian(u) - 1"]',
            raw,
        )
    equations = tuple(
        _residual(section, join("equations", i), item, fields, boundary=False)
        for i, item in enumerate(raw)
    )
    positive = _positive(section, fields)
    section.finish()
    return Equations(fields, equations, positive)


def _positive(section: Section, fields: tuple[str, ...]) -> tuple[str, ...]:
    """``positive: [a]``: fields that the model keeps positive (a = exp(N_a))."""
    raw = section.raw("positive", [])
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
        raise section.expected("positive", f"a list of field names from: {', '.join(fields)}", raw)
    for i, name in enumerate(raw):
        if name not in fields:
            raise section.error(
                join("positive", i),
                f"unknown field {name!r} (expected one of: {', '.join(fields)})",
            )
        if raw.index(name) != i:
            raise section.error(join("positive", i), f"the field '{name}' is given twice")
    return tuple(raw)
