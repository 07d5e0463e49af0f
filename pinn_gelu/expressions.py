"""The safe math language of problem files: an ``ast`` whitelist compiled to torch operations.

An expression is a string such as ``"2*pi**2*sin(pi*x)*sin(pi*y)"`` (or a plain number). The
language has numbers, ``+ - * / **``, unary ``+``/``-``, parentheses, the domain's variables
(``x``, ``y``, ``z``: only as many as the domain has dimensions), the constants ``pi`` and ``e``,
names from the problem's ``parameters``, and the one-argument functions in :data:`FUNCTIONS`.

Nothing else is accepted: attribute access, subscripts, calls of other names, keyword arguments,
lambdas, comprehensions, comparisons, strings and every other Python construct are rejected with
the construct's column. The text is parsed with :func:`ast.parse` (which builds a syntax tree and
runs nothing) and compiled into a tree of small closures over torch functions; no string is ever
evaluated as Python.

Constant sub-expressions are folded once, in float arithmetic, and bounded: a constant exponent
may not exceed :attr:`ExpressionLimits.max_exponent` in magnitude and a folded constant may not
exceed :attr:`ExpressionLimits.max_magnitude`, so that ``9**9**9**9`` is rejected, not computed.
The length, the number of syntax-tree nodes and the nesting depth are bounded as well.

>>> import torch
>>> f = parse_expression("2*pi**2*sin(pi*x)*sin(pi*y)", ("x", "y"))
>>> f(torch.tensor([[0.5, 0.5]], dtype=torch.float64))
tensor([[19.7392]], dtype=torch.float64)
>>> parse_expression("__import__('os')", ("x",))
Traceback (most recent call last):
...
pinn_gelu.errors.ExpressionError: unknown function '__import__' (expected one of: abs, arccos, \
arcsin, arctan, cos, cosh, erf, exp, log, sin, sinh, sqrt, tan, tanh) at column 1 in \
"__import__('os')"
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .errors import ExpressionError
from .fields import need_for, need_rank

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "VARIABLES",
    "Expression",
    "ExpressionLimits",
    "parse_expression",
]

#: Variables in column order of the points: x is column 0, y column 1, z column 2.
VARIABLES: tuple[str, ...] = ("x", "y", "z")

#: Named constants.
CONSTANTS: Mapping[str, float] = {"pi": math.pi, "e": math.e}


#: One-argument functions: name -> (torch function for tensors, math function for constants).
FUNCTIONS: Mapping[str, tuple[Callable[[Tensor], Tensor], Callable[[float], float]]] = {
    "abs": (torch.abs, abs),
    "arccos": (torch.arccos, math.acos),
    "arcsin": (torch.arcsin, math.asin),
    "arctan": (torch.arctan, math.atan),
    "cos": (torch.cos, math.cos),
    "cosh": (torch.cosh, math.cosh),
    "erf": (torch.special.erf, math.erf),
    "exp": (torch.exp, math.exp),
    "log": (torch.log, math.log),
    "sin": (torch.sin, math.sin),
    "sinh": (torch.sinh, math.sinh),
    "sqrt": (torch.sqrt, math.sqrt),
    "tan": (torch.tan, math.tan),
    "tanh": (torch.tanh, math.tanh),
}

_BINARY: Mapping[type, Callable[[object, object], object]] = {
    ast.Add: lambda a, b: a + b,  # type: ignore[operator]
    ast.Sub: lambda a, b: a - b,  # type: ignore[operator]
    ast.Mult: lambda a, b: a * b,  # type: ignore[operator]
    ast.Div: lambda a, b: a / b,  # type: ignore[operator]
    ast.Pow: lambda a, b: a**b,  # type: ignore[operator]
}

_OPERATOR_HINTS: Mapping[type, str] = {
    ast.BitXor: "'^' is not allowed (use ** for powers)",
    ast.FloorDiv: "'//' is not allowed (use /)",
    ast.Mod: "'%' is not allowed",
    ast.MatMult: "'@' is not allowed",
}


@dataclass(frozen=True, kw_only=True)
class ExpressionLimits:
    """Bounds on what an expression may cost to parse or evaluate.

    Attributes:
        max_length: characters in the expression text.
        max_nodes: nodes of its syntax tree.
        max_depth: nesting depth of its syntax tree.
        max_exponent: magnitude of a constant exponent in ``a**b``.
        max_magnitude: magnitude of any folded constant sub-expression.
    """

    max_length: int = 1000
    max_nodes: int = 500
    max_depth: int = 50
    max_exponent: float = 64.0
    max_magnitude: float = 1e100


# A compiled node is either a folded constant or a function of the variable columns.
_Node = float | Callable[[Sequence[Tensor]], Tensor]


class Expression:
    """A parsed, validated expression, callable on points.

    Calling it on points of shape (N, d) gives a tensor of shape (N, 1) in the points' dtype and
    on their device. Attributes: ``source`` (the text), ``variables`` (the variable names of the
    columns), ``names`` (the variables it uses), ``constant`` (its value if it uses none, else
    None).
    """

    def __init__(
        self, source: str, variables: tuple[str, ...], node: _Node, names: frozenset[str]
    ) -> None:
        self.source = source
        self.key = ""  # where the expression was found, e.g. "pde.source", for messages
        self.variables = variables
        self.names = names
        self._node = node
        self.constant: float | None = float(node) if isinstance(node, float) else None

    def __call__(self, points: Tensor) -> Tensor:
        """Evaluate at points (N, d) → (N, 1)."""
        if points.ndim != 2 or points.shape[1] != len(self.variables):
            raise ValueError(
                f"expression {self.source!r} expects points of shape (N, {len(self.variables)}),"
                f" got {tuple(points.shape)}"
            )
        if isinstance(self._node, float):
            return points.new_full((points.shape[0], 1), self._node)
        columns = [points[:, i : i + 1] for i in range(points.shape[1])]
        value = self._node(columns)
        if value.shape != (points.shape[0], 1):
            value = value.expand(points.shape[0], 1)
        return value

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


def parse_expression(
    source: object,
    variables: Sequence[str],
    parameters: Mapping[str, float] | None = None,
    limits: ExpressionLimits | None = None,
) -> Expression:
    """Parse and compile an expression of the math language.

    Args:
        source: the expression text, or a plain int/float (bool is rejected).
        variables: the variable names available, in column order (a prefix of x, y, z).
        parameters: named constants from the problem's ``parameters`` section.
        limits: bounds on size and constants; defaults to :class:`ExpressionLimits()`.

    Returns:
        The compiled :class:`Expression`.

    Raises:
        ExpressionError: if the text is not in the language or breaks a bound.
    """
    limits = limits or ExpressionLimits()
    parameters = dict(parameters or {})
    text, tree = _parse_tree(source, limits)
    compiler = _Compiler(text, tuple(variables), parameters, limits)
    try:
        node = compiler.compile(tree.body)
    except RecursionError:  # only with max_depth raised past what Python's stack can walk
        raise ExpressionError("expression nested too deeply to compile", text) from None
    return Expression(text, tuple(variables), node, frozenset(compiler.used))


def _parse_tree(source: object, limits: ExpressionLimits) -> tuple[str, ast.Expression]:
    """The text and its syntax tree, within the bounds; nothing is evaluated."""
    if isinstance(source, bool) or not isinstance(source, (str, int, float)):
        raise ExpressionError(
            f"expected an expression string or a number, got {type(source).__name__}", str(source)
        )
    text = source if isinstance(source, str) else repr(source)
    if isinstance(source, float) and not math.isfinite(source):
        raise ExpressionError("the number is not finite", text)
    if len(text) > limits.max_length:
        raise ExpressionError(
            f"expression longer than {limits.max_length} characters ({len(text)})", text[:80]
        )
    if not text.strip():
        raise ExpressionError("the expression is empty", text)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        column = err.offset if err.offset else None
        raise ExpressionError(f"invalid syntax ({err.msg})", text, column) from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as err:
        raise ExpressionError(f"cannot parse the expression ({type(err).__name__})", text) from None
    _check_size(tree, text, limits)
    return text, tree


def _check_size(tree: ast.AST, text: str, limits: ExpressionLimits) -> None:
    """Bound node count and depth iteratively, before any recursive walk."""
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > limits.max_nodes:
            raise ExpressionError(f"expression has more than {limits.max_nodes} parts", text)
        if depth > limits.max_depth:
            raise ExpressionError(f"expression nested deeper than {limits.max_depth} levels", text)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


class _Compiler:
    """Walks a whitelisted syntax tree and builds closures; folds constants as it goes."""

    def __init__(
        self,
        text: str,
        variables: tuple[str, ...],
        parameters: Mapping[str, float],
        limits: ExpressionLimits,
    ) -> None:
        self.text = text
        self.variables = variables
        self.parameters = parameters
        self.limits = limits
        self.used: set[str] = set()

    def fail(self, reason: str, node: ast.AST) -> ExpressionError:
        column = getattr(node, "col_offset", None)
        return ExpressionError(reason, self.text, None if column is None else column + 1)

    def compile(self, node: ast.AST) -> _Node:
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.UnaryOp):
            return self._unary(node)
        if isinstance(node, ast.BinOp):
            return self._binary(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        raise self.fail(_describe_forbidden(node), node)

    def _constant(self, node: ast.Constant) -> float:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = (
                "strings" if isinstance(value, (str, bytes)) else f"{type(value).__name__} values"
            )
            raise self.fail(f"{kind} are not allowed", node)
        try:
            number = float(value)
        except OverflowError:
            raise self.fail("number too large", node) from None
        return self._bounded(number, node)

    def _name(self, node: ast.Name) -> _Node:
        name = node.id
        if name in self.variables:
            self.used.add(name)
            column = self.variables.index(name)
            return lambda cols: cols[column]
        if name in VARIABLES:
            dims = len(self.variables)
            raise self.fail(
                f"variable '{name}' is not available in a {dims}-dimensional domain"
                f" (available: {', '.join(self.variables)})",
                node,
            )
        if name in self.parameters:
            return float(self.parameters[name])
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name in FUNCTIONS:
            raise self.fail(f"function '{name}' must be called, as in {name}(x)", node)
        known = [*self.variables, *CONSTANTS, *sorted(self.parameters)]
        raise self.fail(f"unknown name '{name}' (expected one of: {', '.join(known)})", node)

    def _unary(self, node: ast.UnaryOp) -> _Node:
        if not isinstance(node.op, (ast.UAdd, ast.USub)):
            raise self.fail(f"operator '{type(node.op).__name__}' is not allowed", node)
        operand = self.compile(node.operand)
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(operand, float):
            return -operand
        return lambda cols: -operand(cols)

    def _binary(self, node: ast.BinOp) -> _Node:
        operation = _BINARY.get(type(node.op))
        if operation is None:
            hint = _OPERATOR_HINTS.get(type(node.op), f"'{type(node.op).__name__}' is not allowed")
            raise self.fail(hint, node)
        left = self.compile(node.left)
        right = self.compile(node.right)
        if isinstance(node.op, ast.Pow) and isinstance(right, float):
            if abs(right) > self.limits.max_exponent:
                raise self.fail(
                    f"exponent {right:g} exceeds the limit of {self.limits.max_exponent:g}", node
                )
        if isinstance(left, float) and isinstance(right, float):
            try:
                value = operation(left, right)
            except ZeroDivisionError:
                raise self.fail("division by zero", node) from None
            except OverflowError:
                raise self.fail("constant sub-expression too large", node) from None
            if isinstance(value, complex):
                raise self.fail("constant sub-expression is not a real number", node)
            return self._bounded(float(value), node)  # type: ignore[arg-type]
        lhs, rhs = left, right
        if isinstance(lhs, float):
            return lambda cols: operation(lhs, rhs(cols))  # type: ignore[operator,return-value]
        if isinstance(rhs, float):
            return lambda cols: operation(lhs(cols), rhs)  # type: ignore[return-value]
        return lambda cols: operation(lhs(cols), rhs(cols))  # type: ignore[return-value]

    def _call(self, node: ast.Call) -> _Node:
        if not isinstance(node.func, ast.Name):
            raise self.fail("only calls of named functions are allowed", node)
        name = node.func.id
        if name not in FUNCTIONS:
            raise self.fail(
                f"unknown function '{name}' (expected one of: {', '.join(sorted(FUNCTIONS))})",
                node,
            )
        if node.keywords:
            raise self.fail(f"{name}() takes no keyword arguments", node)
        if len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
            raise self.fail(f"{name}() takes exactly 1 argument, got {len(node.args)}", node)
        torch_fn, math_fn = FUNCTIONS[name]
        argument = self.compile(node.args[0])
        if isinstance(argument, float):
            try:
                value = math_fn(argument)
            except (ValueError, OverflowError):
                raise self.fail(f"{name}({argument:g}) is not a finite real number", node) from None
            return self._bounded(float(value), node)
        return lambda cols: torch_fn(argument(cols))

    def _bounded(self, value: float, node: ast.AST) -> float:
        if not math.isfinite(value) or abs(value) > self.limits.max_magnitude:
            raise self.fail(
                f"constant sub-expression exceeds the limit of {self.limits.max_magnitude:g}", node
            )
        return value


def _describe_forbidden(node: ast.AST) -> str:
    named = {
        ast.Attribute: "attribute access is not allowed",
        ast.Subscript: "subscripts are not allowed",
        ast.Lambda: "lambdas are not allowed",
        ast.Compare: "comparisons are not allowed",
        ast.BoolOp: "'and'/'or' are not allowed",
        ast.IfExp: "conditional expressions are not allowed",
        ast.JoinedStr: "strings are not allowed",
        ast.Starred: "starred arguments are not allowed",
        ast.NamedExpr: "assignments are not allowed",
    }
    for kind, reason in named.items():
        if isinstance(node, kind):
            return reason
    if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        return "comprehensions are not allowed"
    if isinstance(node, (ast.List, ast.Tuple, ast.Set, ast.Dict)):
        return "lists, tuples, sets and dicts are not allowed"
    return f"'{type(node).__name__}' is not allowed in an expression"


# --- residual expressions: the language of ``kind: equations`` ------------------------------

#: The time variable's name (the last input column when the domain has ``time``).
TIME = "t"
#: Outward normal components, in the order of the spatial variables (boundary expressions only).
NORMALS: tuple[str, ...] = ("nx", "ny", "nz")
#: The derivative operators of residual expressions.
OPERATORS = ("d", "laplacian", "dn")
#: Names a field may not take: everything else the language already means.
RESERVED: frozenset[str] = frozenset(
    {*VARIABLES, TIME, *CONSTANTS, *FUNCTIONS, *NORMALS, *OPERATORS}
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
        order: the highest derivative order it uses.
        need: the cheapest :data:`pinn_gelu.fields.NEEDS` entry that holds all of it.
    """

    source: str
    fields: tuple[str, ...]
    partials: frozenset[tuple[int, tuple[int, ...]]]
    laplacians: frozenset[int]
    normal_derivatives: frozenset[int]
    uses_normal: bool
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

    Raises:
        ExpressionError: if the text is not in the language, breaks a bound, or involves no
            field.
    """
    limits = limits or ExpressionLimits()
    text, tree = _parse_tree(source, limits)
    compiler = _ResidualCompiler(
        text, tuple(variables), dict(parameters or {}), limits, tuple(fields), spatial, boundary
    )
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
        order=order,
        need=compiler.need(),
        node=node,
        slots=compiler.slots,
    )


class _ResidualCompiler(_Compiler):
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
        self.slots = 0

    def mark(self, root: ast.AST) -> None:
        """Find the sub-trees that involve the fields (the rest is evaluated once)."""
        order: list[ast.AST] = []
        stack = [root]
        while stack:
            node = stack.pop()
            order.append(node)
            stack.extend(ast.iter_child_nodes(node))
        for node in reversed(order):  # children before parents
            own = (isinstance(node, ast.Name) and node.id in self.fields) or (
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

    def compile(self, node: ast.AST) -> _Node:
        result = super().compile(node)
        if callable(result) and id(node) not in self.dynamic and not isinstance(result, _Static):
            result = _Static(result, self.slots)
            self.slots += 1
        return result

    def _name(self, node: ast.Name) -> _Node:
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
        if name == TIME and TIME not in self.variables:
            raise self.fail("'t' needs a time interval (domain.time: [t0, t1])", node)
        if name in OPERATORS:
            raise self.fail(f"'{name}' must be called, as in {name}(u)", node)
        return super()._name(node)

    def _partial(self, field: int, key: tuple[int, ...]) -> _Node:
        self.partials.add((field, key))
        if len(key) == 2 and len(self.variables) == 1:
            return lambda env: _rows(env, env.fields.require_laplacian()[:, field])  # type: ignore[attr-defined]
        return lambda env: _rows(env, env.fields.partial(field, key))  # type: ignore[attr-defined]

    def _call(self, node: ast.Call) -> _Node:
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
            gradient = _rows(env, env.fields.require_gradient()[:, field, :])
            total = gradient[:, 0:1] * env.normals[0]
            for i in spatial[1:]:
                total = total + gradient[:, i : i + 1] * env.normals[i]
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

    def _derivative(self, node: ast.Call, field: int) -> _Node:
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

    def _laplacian(self, field: int) -> _Node:
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
