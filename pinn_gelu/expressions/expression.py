"""The safe math language of problem files: an ``ast`` whitelist compiled to torch operations.

An expression is a string such as ``"2*pi**2*sin(pi*x)*sin(pi*y)"`` (or a plain number). The
language has numbers, ``+ - * / **``, unary ``+``/``-``, parentheses, the domain's variables
(``x``, ``y``, ``z``: only as many as the domain has dimensions), the constants ``pi`` and ``e``,
names from the problem's ``parameters``, the one-argument functions in :data:`FUNCTIONS` and the
two-argument ``atan2(y, x)`` (:data:`FUNCTIONS2`: the angle of the point (x, y) in (−π, π], whose
branch cut a file puts outside its domain by rotating the arguments).

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
arcsin, arctan, atan2, cos, cosh, erf, exp, log, sin, sinh, sqrt, tan, tanh) at column 1 in \
"__import__('os')"
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import torch
from torch import Tensor

from pinn_gelu.errors import ExpressionError, ProblemFileError

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "FUNCTIONS2",
    "NORMALS",
    "VARIABLES",
    "Expression",
    "ExpressionLimits",
    "evaluate_checked",
    "parse_expression",
    "point_text",
]

#: Variables in column order of the points: x is column 0, y column 1, z column 2.
VARIABLES: tuple[str, ...] = ("x", "y", "z")

#: Outward normal components, in the order of the spatial variables (boundary expressions only).
NORMALS: tuple[str, ...] = ("nx", "ny", "nz")
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

#: Two-argument functions: name -> (torch function for tensors, math function for constants).
_Pair = tuple[Callable[[Tensor, Tensor], Tensor], Callable[[float, float], float]]
FUNCTIONS2: Mapping[str, _Pair] = {
    "atan2": (torch.atan2, math.atan2),
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
Node = float | Callable[[Sequence[Tensor]], Tensor]


class Expression:
    """A parsed, validated expression, callable on points.

    Calling it on points of shape (N, d) gives a tensor of shape (N, 1) in the points' dtype and
    on their device. Attributes: ``source`` (the text), ``variables`` (the variable names of the
    columns), ``names`` (the variables it uses), ``constant`` (its value if it uses none, else
    None).
    """

    def __init__(
        self,
        source: str,
        variables: tuple[str, ...],
        node: Node,
        names: frozenset[str],
        unknowns: tuple[str, ...] = (),
    ) -> None:
        self.source = source
        self.key = ""  # where the expression was found, e.g. "pde.source", for messages
        self.variables = variables
        self.names = names
        #: The unknown constants it reads (their values are passed to each call), in order.
        self.unknowns = unknowns
        self._node = node
        self.constant: float | None = float(node) if isinstance(node, float) else None

    def __call__(self, points: Tensor, unknowns: Mapping[str, Tensor] | None = None) -> Tensor:
        """Evaluate at points (N, d) → (N, 1), with the unknowns' current values if it reads any.

        An unknown's value is a 0-dimensional tensor (with the graph to its trainable raw
        value, so that the result is differentiable with respect to it).
        """
        if points.ndim != 2 or points.shape[1] != len(self.variables):
            raise ValueError(
                f"expression {self.source!r} expects points of shape (N, {len(self.variables)}),"
                f" got {tuple(points.shape)}"
            )
        if isinstance(self._node, float):
            return points.new_full((points.shape[0], 1), self._node)
        columns = [points[:, i : i + 1] for i in range(points.shape[1])]
        if self.unknowns:
            if unknowns is None or any(name not in unknowns for name in self.unknowns):
                raise ValueError(f"expression {self.source!r} needs the values of {self.unknowns}")
            columns += [unknowns[name].reshape(1, 1) for name in self.unknowns]
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
    unknowns: Sequence[str] = (),
) -> Expression:
    """Parse and compile an expression of the math language.

    Args:
        source: the expression text, or a plain int/float (bool is rejected).
        variables: the variable names available, in column order (a prefix of x, y, z).
        parameters: named constants from the problem's ``parameters`` section.
        limits: bounds on size and constants; defaults to :class:`ExpressionLimits()`.
        unknowns: the problem's unknown constants: the expression may read them, and is then
            evaluated with their current values (see :attr:`Expression.unknowns`); a consumer
            that cannot follow them (a weight, an exact solution) refuses it.

    Returns:
        The compiled :class:`Expression`.

    Raises:
        ExpressionError: if the text is not in the language or breaks a bound.
    """
    limits = limits or ExpressionLimits()
    parameters = dict(parameters or {})
    text, tree = parse_tree(source, limits)
    compiler = Compiler(text, tuple(variables), parameters, limits)
    compiler.unknowns = tuple(unknowns)
    try:
        node = compiler.compile(tree.body)
    except RecursionError:  # only with max_depth raised past what Python's stack can walk
        raise ExpressionError("expression nested too deeply to compile", text) from None
    return Expression(
        text, tuple(variables), node, frozenset(compiler.used), tuple(compiler.unknown_columns)
    )


def parse_tree(source: object, limits: ExpressionLimits) -> tuple[str, ast.Expression]:
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


class Compiler:
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
        #: The problem's unknown constants, read at run time (their values follow the variables'
        #: columns, in the order first met: ``unknown_columns``).
        self.unknowns: tuple[str, ...] = ()
        self.used_unknowns: set[str] = set()
        self.unknown_columns: list[str] = []

    def fail(self, reason: str, node: ast.AST) -> ExpressionError:
        column = getattr(node, "col_offset", None)
        return ExpressionError(reason, self.text, None if column is None else column + 1)

    def compile(self, node: ast.AST) -> Node:
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

    def _name(self, node: ast.Name) -> Node:
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
        if name in FUNCTIONS2:
            raise self.fail(f"function '{name}' must be called, as in {name}(y, x)", node)
        if name in self.unknowns:
            self.used_unknowns.add(name)
            if name not in self.unknown_columns:
                self.unknown_columns.append(name)
            column = len(self.variables) + self.unknown_columns.index(name)
            return lambda cols: cols[column]
        known = [*self.variables, *CONSTANTS, *sorted(self.parameters)]
        raise self.fail(f"unknown name '{name}' (expected one of: {', '.join(known)})", node)

    def _unary(self, node: ast.UnaryOp) -> Node:
        if not isinstance(node.op, (ast.UAdd, ast.USub)):
            raise self.fail(f"operator '{type(node.op).__name__}' is not allowed", node)
        operand = self.compile(node.operand)
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(operand, float):
            return -operand
        return lambda cols: -operand(cols)

    def _binary(self, node: ast.BinOp) -> Node:
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

    def _call(self, node: ast.Call) -> Node:
        if not isinstance(node.func, ast.Name):
            raise self.fail("only calls of named functions are allowed", node)
        name = node.func.id
        if name not in FUNCTIONS and name not in FUNCTIONS2:
            known = ", ".join(sorted({*FUNCTIONS, *FUNCTIONS2}))
            raise self.fail(f"unknown function '{name}' (expected one of: {known})", node)
        if node.keywords:
            raise self.fail(f"{name}() takes no keyword arguments", node)
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.fail("starred arguments are not allowed", node)
        if name in FUNCTIONS2:
            return self._call2(name, node)
        if len(node.args) != 1:
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

    def _call2(self, name: str, node: ast.Call) -> Node:
        if len(node.args) != 2:
            raise self.fail(f"{name}() takes exactly 2 arguments, got {len(node.args)}", node)
        torch_fn, math_fn = FUNCTIONS2[name]
        first, second = (self.compile(a) for a in node.args)
        if isinstance(first, float) and isinstance(second, float):
            return self._bounded(float(math_fn(first, second)), node)
        if isinstance(first, float):  # a constant takes the other argument's shape
            varying = cast(Callable[[Sequence[Tensor]], Tensor], second)
            return lambda cols: torch_fn(torch.full_like(varying(cols), first), varying(cols))
        a = cast(Callable[[Sequence[Tensor]], Tensor], first)
        if isinstance(second, float):
            return lambda cols: torch_fn(a(cols), torch.full_like(a(cols), second))
        b = cast(Callable[[Sequence[Tensor]], Tensor], second)
        return lambda cols: torch_fn(a(cols), b(cols))

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


def point_text(variables: Sequence[str], point: Sequence[float]) -> str:
    """``x=0.5, y=-1`` for messages: a point's coordinates by name (normals left out)."""
    return ", ".join(
        f"{name}={coord:.6g}"
        for name, coord in zip(variables, point, strict=True)
        if name not in NORMALS  # the point, not its normal
    )


def evaluate_checked(
    value: Expression | float,
    points: Tensor,
    path: str,
    unknowns: Mapping[str, Tensor] | None = None,
) -> Tensor:
    """An expression (or constant) at points (N, d) → (N,), rejecting non-finite values.

    A source such as ``log(x)`` on [0, 1] is infinite at x = 0: that is an error of the problem
    file, reported with the key and a point, not a NaN loss discovered later. ``unknowns``: the
    values of the unknown constants it reads (their initial values, when the terms are built).
    """
    if not isinstance(value, Expression):
        return points.new_full((points.shape[0],), float(value))
    with torch.no_grad():
        values = value(points, unknowns)[:, 0]
    bad = ~torch.isfinite(values)
    if bool(bad.any()):
        at = point_text(value.variables, points[bad][0].tolist())
        raise ProblemFileError(
            path,
            value.key or "expression",
            f"{value.source!r} is not finite at {int(bad.sum())} of {points.shape[0]} points "
            f"(for example at {at})",
        )
    return values
