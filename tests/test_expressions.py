"""The safe math language: values of accepted expressions, and every rejected construct."""

import math
import time

import pytest
import torch

from pinn_gelu.errors import ExpressionError
from pinn_gelu.expressions import FUNCTIONS, ExpressionLimits, parse_expression

X = torch.tensor([[0.3, -0.7, 1.9], [1.2, 0.4, -0.5]], dtype=torch.float64)
XYZ = ("x", "y", "z")


def balanced(depth: int) -> str:
    return "x" if depth == 0 else f"({balanced(depth - 1)}+{balanced(depth - 1)})"


BALANCED = balanced(7)  # 128 leaves: over 500 syntax-tree nodes, but shallow and short


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "2*pi**2*sin(pi*x)*sin(pi*y)",
            lambda x, y, z: 2 * math.pi**2 * math.sin(math.pi * x) * math.sin(math.pi * y),
        ),
        ("-x**2", lambda x, y, z: -(x**2)),  # unary minus binds looser than **
        ("2**-1 + e", lambda x, y, z: 0.5 + math.e),
        ("x/y - z", lambda x, y, z: x / y - z),
        ("+x", lambda x, y, z: x),
        ("exp(-(x**2 + y**2)/2)", lambda x, y, z: math.exp(-(x**2 + y**2) / 2)),
        ("abs(y)*sqrt(abs(z))", lambda x, y, z: abs(y) * math.sqrt(abs(z))),
        (
            "log(cosh(x)) + tanh(y) - sinh(z)",
            lambda x, y, z: math.log(math.cosh(x)) + math.tanh(y) - math.sinh(z),
        ),
        (
            "arctan(x) + arcsin(y/2) + arccos(y/2)",
            lambda x, y, z: math.atan(x) + math.asin(y / 2) + math.acos(y / 2),
        ),
        ("erf(x) + tan(y) + cos(z)", lambda x, y, z: math.erf(x) + math.tan(y) + math.cos(z)),
        ("1_000 * 1e-3 * x", lambda x, y, z: x),
        ("3", lambda x, y, z: 3.0),
        ("2**x", lambda x, y, z: 2.0**x),
    ],
)
def test_values(text, expected) -> None:
    values = parse_expression(text, XYZ)(X)[:, 0]
    reference = torch.tensor([expected(*row) for row in X.tolist()], dtype=torch.float64)
    # float64, ~20 operations on values of order 10: 1e-13
    torch.testing.assert_close(values, reference, atol=1e-13, rtol=1e-13)


def test_numbers_and_parameters() -> None:
    assert parse_expression(2.5, ("x",))(X[:, :1]).tolist() == [[2.5], [2.5]]
    expression = parse_expression("k*x + c", ("x",), {"k": 2.0, "c": -1.0})
    torch.testing.assert_close(expression(X[:, :1]), 2 * X[:, :1] - 1)
    assert expression.names == {"x"}
    assert parse_expression("k*pi", ("x",), {"k": 2.0}).constant == pytest.approx(2 * math.pi)


def test_every_listed_function_is_available() -> None:
    assert sorted(FUNCTIONS) == sorted(
        [
            "sin",
            "cos",
            "tan",
            "exp",
            "log",
            "sqrt",
            "abs",
            "tanh",
            "sinh",
            "cosh",
            "arcsin",
            "arccos",
            "arctan",
            "erf",
        ]
    )


def test_expressions_are_differentiable() -> None:
    x = X[:, :1].clone().requires_grad_(True)
    u = parse_expression("sin(x)**2", ("x",))(x)
    (g,) = torch.autograd.grad(u.sum(), x)
    torch.testing.assert_close(g, torch.sin(2 * x.detach()))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os').system('ls')", "only calls of named functions are allowed at column 1"),
        ("__import__('os')", "unknown function '__import__'"),
        ("().__class__", "attribute access is not allowed"),
        ("x.__class__.__bases__[0].__subclasses__()", "only calls of named functions"),
        ("sin.__globals__", "attribute access is not allowed"),
        ("x[0]", "subscripts are not allowed"),
        ("lambda: 1", "lambdas are not allowed"),
        ("[x for x in (1, 2)]", "comprehensions are not allowed"),
        ("(x for x in y)", "comprehensions are not allowed"),
        ("'abc'", "strings are not allowed"),
        ("f'{x}'", "strings are not allowed"),
        ("b'x'", "strings are not allowed"),
        ("True", "bool values are not allowed"),
        ("None", "NoneType values are not allowed"),
        ("1j", "complex values are not allowed"),
        ("...", "ellipsis values are not allowed"),
        ("x if y else z", "conditional expressions are not allowed"),
        ("x < y", "comparisons are not allowed"),
        ("x and y", "'and'/'or' are not allowed"),
        ("(x := 1)", "assignments are not allowed"),
        ("[x, y]", "lists, tuples, sets and dicts are not allowed"),
        ("{'a': 1}", "lists, tuples, sets and dicts are not allowed"),
        ("x^2", "'^' is not allowed (use ** for powers)"),
        ("x // 2", "'//' is not allowed"),
        ("x % 2", "'%' is not allowed"),
        ("~x", "operator 'Invert' is not allowed"),
        ("not x", "operator 'Not' is not allowed"),
        ("foo(x)", "unknown function 'foo'"),
        ("eval('1')", "unknown function 'eval'"),
        ("k", "unknown name 'k' (expected one of: x, y, z, pi, e)"),
        ("sin", "function 'sin' must be called"),
        ("sin(x, y)", "sin() takes exactly 1 argument, got 2"),
        ("sin(*x)", "starred arguments are not allowed"),
        ("sin(x=1)", "sin() takes no keyword arguments"),
        ("9**9**9**9", "exponent 3.8742e+08 exceeds the limit of 64"),
        ("10**400", "exponent 400 exceeds the limit"),
        ("1e308*1e308", "constant sub-expression exceeds the limit of 1e+100"),
        ("2**63*2**63*2**63*2**63*2**63*2**63", "exceeds the limit of 1e+100"),
        ("1e99**4", "constant sub-expression too large"),
        ("exp(1000)", "exp(1000) is not a finite real number"),
        ("1/0", "division by zero"),
        ("0**-1", "division by zero"),
        ("log(0)", "log(0) is not a finite real number"),
        ("sqrt(-1)", "sqrt(-1) is not a finite real number"),
        ("(-8)**(1/3)", "constant sub-expression is not a real number"),
        ("", "the expression is empty"),
        ("   ", "the expression is empty"),
        ("sin(x", "invalid syntax"),
        ("x = 1", "invalid syntax"),
        ("import os", "invalid syntax"),
        ("1" * 5000, "expression longer than 1000 characters"),
        ("(" * 300 + "x" + ")" * 300, "invalid syntax (too many nested parentheses)"),
        ("-" * 900 + "x", "nested deeper than 50 levels"),
        ("+".join(["x"] * 400), "nested deeper than 50 levels"),
        (BALANCED, "more than 500 parts"),
    ],
)
def test_rejected(text: str, message: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ExpressionError) as info:
        parse_expression(text, XYZ)
    assert message in str(info.value)
    assert time.perf_counter() - started < 1.0


def test_variables_beyond_the_domain_are_rejected() -> None:
    with pytest.raises(ExpressionError, match="variable 'z' is not available in a 2-dimensional"):
        parse_expression("x + z", ("x", "y"))


def test_error_reports_the_column() -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expression("sin(x) + foo(y)", XYZ)
    assert info.value.column == 10


def test_non_string_input_and_non_finite_numbers() -> None:
    for value in (True, None, [1], {"a": 1}):
        with pytest.raises(ExpressionError, match="expected an expression string or a number"):
            parse_expression(value, XYZ)
    with pytest.raises(ExpressionError, match="not finite"):
        parse_expression(float("inf"), XYZ)


def test_limits_are_configurable() -> None:
    strict = ExpressionLimits(max_exponent=2.0)
    parse_expression("x**2", XYZ, limits=strict)
    with pytest.raises(ExpressionError, match="exceeds the limit of 2"):
        parse_expression("x**3", XYZ, limits=strict)


def test_points_of_the_wrong_shape_are_refused() -> None:
    with pytest.raises(ValueError, match=r"expects points of shape \(N, 2\)"):
        parse_expression("x", ("x", "y"))(X)
