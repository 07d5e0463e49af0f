"""Residual expressions: the language of ``kind: equations`` and of boundary ``equation`` entries.

An expression of the fields and their derivatives (``d(u, x, x)``, ``laplacian(u)``, ``dn(u)``),
compiled like an :class:`~pinn_gelu.expressions.expression.Expression` from an ``ast`` whitelist
into closures over torch operations, and bound to points as a function of the network's
:class:`~pinn_gelu.fields.Fields`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from pinn_gelu.errors import ExpressionError
from pinn_gelu.expressions.expression import (
    CONSTANTS,
    FUNCTIONS,
    FUNCTIONS2,
    NORMALS,
    VARIABLES,
    Compiler,
    ExpressionLimits,
    Node,
    parse_tree,
)
from pinn_gelu.fields import need_for, need_rank

__all__ = [
    "MAX_DERIVATIVE_ORDER",
    "NORMALS",
    "OPERATORS",
    "RESERVED",
    "TIME",
    "Residual",
    "parse_residual",
]


#: The time variable's name (the last input column when the domain has ``time``).
TIME = "t"
#: The derivative operators of residual expressions.
OPERATORS = ("d", "laplacian", "dn")
#: Names a field may not take: everything else the language already means.
RESERVED: frozenset[str] = frozenset(
    {*VARIABLES, TIME, *CONSTANTS, *FUNCTIONS, *FUNCTIONS2, *NORMALS, *OPERATORS}
)
#: The highest derivative order a residual may use.
MAX_DERIVATIVE_ORDER = 4


class _Env(list[Tensor]):
    """The columns of the points (as for an :class:`Expression`) and what a residual reads.

    Attributes:
        fields: the network's :class:`~pinn_gelu.fields.Fields` on the whole point set.
        rows: the rows of ``fields`` at these points (None: all, in order).
        normals: columns of the outward normals (boundary residuals), else empty.
        cache: values of the sub-expressions that do not involve the fields, computed once.
    """

    fields: Any
    rows: Tensor | None
    normals: list[Tensor]
    cache: list[Tensor | None]


class _Static:
    """A sub-expression that does not involve the fields: evaluated once, then reused."""

    def __init__(self, function: Callable[[Sequence[Tensor]], Tensor], slot: int) -> None:
        self.function = function
        self.slot = slot

    def __call__(self, env: Sequence[Tensor]) -> Tensor:
        cache = env.cache  # type: ignore[attr-defined]
        value = cache[self.slot]
        if value is None:
            with torch.no_grad():
                value = self.function(env)
            cache[self.slot] = value
        return value


@dataclass(frozen=True)
class Residual:
    """A compiled residual expression: a function of the fields and their derivatives.

    Attributes:
        source: the text.
        fields: the field names, in the network's output order.
        partials: the derivatives it reads, as (field, sorted multi-index of input columns).
        laplacians: the fields whose spatial Laplacian it reads.
        normal_derivatives: the fields whose ∂/∂n it reads.
        uses_normal: whether it reads the outward normal (``nx``, ``dn``, …).
        unknowns: the unknown constants it reads.
        order: the highest derivative order it uses.
        need: the cheapest :data:`pinn_gelu.fields.NEEDS` entry that holds all of it.
    """

    source: str
    fields: tuple[str, ...]
    partials: frozenset[tuple[int, tuple[int, ...]]]
    laplacians: frozenset[int]
    normal_derivatives: frozenset[int]
    uses_normal: bool
    unknowns: frozenset[str]
    order: int
    need: str
    node: Callable[[Sequence[Tensor]], Tensor]
    slots: int
    key: str = ""

    def bind(
        self, points: Tensor, rows: Tensor | None = None, normals: Tensor | None = None
    ) -> Callable[[Any], Tensor]:
        """The residual at fixed points, as a function Fields → (n,).

        Args:
            points: (n, d) the points the residual is evaluated at.
            rows: (n,) the rows of the Fields (computed on a larger set) at those points.
            normals: (n, d_space) outward unit normals (boundary residuals).
        """
        columns = [points[:, i : i + 1] for i in range(points.shape[1])]
        normal_columns = (
            [normals[:, i : i + 1] for i in range(normals.shape[1])] if normals is not None else []
        )
        cache: list[Tensor | None] = [None] * self.slots
        node = self.node

        def residual(fields: Any) -> Tensor:
            env = _Env(columns)
            env.fields, env.rows, env.normals, env.cache = fields, rows, normal_columns, cache
            return node(env)[:, 0]  # a field's column is (n, 1), so is every result using it

        return residual


def parse_residual(
    source: object,
    variables: Sequence[str],
    fields: Sequence[str],
    *,
    spatial: int,
    boundary: bool = False,
    parameters: Mapping[str, float] | None = None,
    limits: ExpressionLimits | None = None,
    unknowns: Sequence[str] = (),
) -> Residual:
    """Parse a residual expression: the math language plus fields and their derivatives.

    Besides :func:`parse_expression`'s language: the field names (their values); ``d(f, v1,
    …, vk)``, the mixed partial ∂ᵏf/∂v1…∂vk of field f in the domain's variables (1 ≤ k ≤ 4);
    ``laplacian(f)``, Σᵢ ∂²f/∂xᵢ² over the spatial variables (no t); and in boundary
    residuals ``nx, ny, nz`` (the outward normal) and ``dn(f)`` = ∇f·n (spatial).

    Args:
        source: the text.
        variables: the input variables in column order (the spatial ones, then t if any).
        fields: the network's output fields.
        spatial: how many of ``variables`` are spatial.
        boundary: whether normals and ``dn`` are available.
        parameters: named constants.
        limits: bounds on size and constants.
        unknowns: the problem's unknown constants: read at run time from
            ``Fields.unknowns`` (their current values λ, with the graph to the trainable θ).

    Raises:
        ExpressionError: if the text is not in the language, breaks a bound, or involves no
            field.
    """
    limits = limits or ExpressionLimits()
    text, tree = parse_tree(source, limits)
    compiler = _ResidualCompiler(
        text, tuple(variables), dict(parameters or {}), limits, tuple(fields), spatial, boundary
    )
    compiler.unknowns = tuple(unknowns)
    compiler.mark(tree.body)
    try:
        node = compiler.compile(tree.body)
    except RecursionError:
        raise ExpressionError("expression nested too deeply to compile", text) from None
    if isinstance(node, float) or not (
        compiler.partials or compiler.laplacians or compiler.normal_derivatives
    ):
        raise ExpressionError(
            f"the expression involves no field (expected one of: {', '.join(fields)})", text
        )
    order = max(
        [len(key) for _, key in compiler.partials]
        + [2 for _ in compiler.laplacians]
        + [1 for _ in compiler.normal_derivatives]
    )
    return Residual(
        source=text,
        fields=tuple(fields),
        partials=frozenset(compiler.partials),
        laplacians=frozenset(compiler.laplacians),
        normal_derivatives=frozenset(compiler.normal_derivatives),
        uses_normal=compiler.uses_normal,
        unknowns=frozenset(compiler.used_unknowns),
        order=order,
        need=compiler.need(),
        node=node,
        slots=compiler.slots,
    )


class _ResidualCompiler(Compiler):
    """The expression compiler, extended with fields, derivatives and normals."""

    def __init__(
        self,
        text: str,
        variables: tuple[str, ...],
        parameters: Mapping[str, float],
        limits: ExpressionLimits,
        fields: tuple[str, ...],
        spatial: int,
        boundary: bool,
    ) -> None:
        super().__init__(text, variables, parameters, limits)
        self.fields = fields
        self.spatial = spatial
        self.boundary = boundary
        self.partials: set[tuple[int, tuple[int, ...]]] = set()
        self.laplacians: set[int] = set()
        self.normal_derivatives: set[int] = set()
        self.dynamic: set[int] = set()
        self.uses_normal = False
        self.used_unknowns: set[str] = set()
        self.slots = 0

    def mark(self, root: ast.AST) -> None:
        """Find the sub-trees that involve the fields or unknowns (the rest is evaluated once)."""
        order: list[ast.AST] = []
        stack = [root]
        while stack:
            node = stack.pop()
            order.append(node)
            stack.extend(ast.iter_child_nodes(node))
        for node in reversed(order):  # children before parents
            own = (
                isinstance(node, ast.Name) and (node.id in self.fields or node.id in self.unknowns)
            ) or (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in OPERATORS
            )
            if own or any(id(child) in self.dynamic for child in ast.iter_child_nodes(node)):
                self.dynamic.add(id(node))

    def need(self) -> str:
        """The cheapest need holding every derivative used."""
        needs = ["value"]
        for _, key in self.partials:
            one_d_second = len(key) == 2 and len(self.variables) == 1
            needs.append("laplacian" if one_d_second else need_for(len(key)))  # u'' in 1D: Δu
        if self.laplacians:
            needs.append("laplacian" if self.spatial == len(self.variables) else "hessian")
        if self.normal_derivatives:
            needs.append("gradient")
        return max(needs, key=need_rank)

    def compile(self, node: ast.AST) -> Node:
        result = super().compile(node)
        if callable(result) and id(node) not in self.dynamic and not isinstance(result, _Static):
            result = _Static(result, self.slots)
            self.slots += 1
        return result

    def _name(self, node: ast.Name) -> Node:
        name = node.id
        if name in self.fields:
            return self._partial(self.fields.index(name), ())
        if name in NORMALS:
            index = NORMALS.index(name)
            if not self.boundary:
                raise self.fail(
                    f"'{name}' (the outward normal) is available only in boundary equations", node
                )
            if index >= self.spatial:
                raise self.fail(
                    f"'{name}' is not available in {self.spatial} spatial dimension(s)", node
                )
            self.uses_normal = True
            return lambda env: env.normals[index]  # type: ignore[attr-defined]
        if name in self.unknowns and name not in self.variables:
            self.used_unknowns.add(name)
            return lambda env: env.fields.unknowns[name]  # type: ignore[attr-defined]
        if name == TIME and TIME not in self.variables:
            raise self.fail("'t' needs a time interval (domain.time: [t0, t1])", node)
        if name in OPERATORS:
            raise self.fail(f"'{name}' must be called, as in {name}(u)", node)
        return super()._name(node)

    def _partial(self, field: int, key: tuple[int, ...]) -> Node:
        self.partials.add((field, key))
        if len(key) == 2 and len(self.variables) == 1:
            return lambda env: _rows(env, env.fields.require_laplacian()[:, field])  # type: ignore[attr-defined]
        return lambda env: _rows(env, env.fields.partial(field, key))  # type: ignore[attr-defined]

    def _call(self, node: ast.Call) -> Node:
        if not isinstance(node.func, ast.Name) or node.func.id not in OPERATORS:
            return super()._call(node)
        name = node.func.id
        if node.keywords:
            raise self.fail(f"{name}() takes no keyword arguments", node)
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.fail("starred arguments are not allowed", node)
        if not node.args:
            raise self.fail(f"{name}() needs a field as its first argument", node)
        field = self._field_argument(name, node.args[0])
        if name == "d":
            return self._derivative(node, field)
        if len(node.args) != 1:
            raise self.fail(
                f"{name}() takes exactly 1 argument (a field), got {len(node.args)}", node
            )
        if name == "laplacian":
            return self._laplacian(field)
        if not self.boundary:
            raise self.fail("dn() (the normal derivative) is available only on the boundary", node)
        self.normal_derivatives.add(field)
        self.uses_normal = True
        spatial = range(self.spatial)

        def normal_derivative(env: Any) -> Tensor:
            gradient = env.fields.require_gradient()[:, field, :]  # (N, d) on the whole set
            total = _rows(env, gradient[:, 0]) * env.normals[0]  # (n, 1) at these rows
            for i in spatial[1:]:
                total = total + _rows(env, gradient[:, i]) * env.normals[i]
            return total

        return normal_derivative

    def _field_argument(self, name: str, argument: ast.AST) -> int:
        if isinstance(argument, ast.Name) and argument.id in self.fields:
            return self.fields.index(argument.id)
        shown = ast.get_source_segment(self.text.strip(), argument) or type(argument).__name__
        raise self.fail(
            f"the first argument of {name}() must be a field (one of: {', '.join(self.fields)}),"
            f" got {shown!r}",
            argument,
        )

    def _derivative(self, node: ast.Call, field: int) -> Node:
        variables = node.args[1:]
        if not 1 <= len(variables) <= MAX_DERIVATIVE_ORDER:
            raise self.fail(
                f"d() takes a field and 1 to {MAX_DERIVATIVE_ORDER} variables (derivative order"
                f" at most {MAX_DERIVATIVE_ORDER}), got {len(variables)} variables",
                node,
            )
        columns = []
        for argument in variables:
            if not isinstance(argument, ast.Name):
                shown = ast.get_source_segment(self.text.strip(), argument) or "?"
                raise self.fail(
                    f"d() differentiates in variables ({', '.join(self.variables)}), got {shown!r}",
                    argument,
                )
            if argument.id not in self.variables:
                if argument.id == TIME:
                    raise self.fail(
                        "a time derivative needs a time interval (domain.time: [t0, t1])", argument
                    )
                raise self.fail(
                    f"d() differentiates in the domain's variables ({', '.join(self.variables)}),"
                    f" got '{argument.id}'",
                    argument,
                )
            columns.append(self.variables.index(argument.id))
        return self._partial(field, tuple(sorted(columns)))

    def _laplacian(self, field: int) -> Node:
        self.laplacians.add(field)
        if self.spatial == len(self.variables):
            return lambda env: _rows(env, env.fields.require_laplacian()[:, field])  # type: ignore[attr-defined]
        spatial = range(self.spatial)

        def laplacian(env: Any) -> Tensor:
            hessian = env.fields.require_hessian()[:, field]
            total = hessian[:, 0, 0]
            for i in spatial[1:]:
                total = total + hessian[:, i, i]
            return _rows(env, total)

        return laplacian


def _rows(env: Any, values: Tensor) -> Tensor:
    """Per-point values (N,) of the whole set → a column (n, 1) at the env's rows."""
    if env.rows is not None:
        values = values[env.rows]
    return values[:, None]
