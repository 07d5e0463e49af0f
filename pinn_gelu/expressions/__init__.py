"""The safe math language of problem files: an ``ast`` whitelist compiled to torch operations.

Two parts: :mod:`~pinn_gelu.expressions.expression` (functions of the coordinates and
parameters: sources, boundary values, exact solutions, weights) and
:mod:`~pinn_gelu.expressions.residual` (functions of the fields and their derivatives: the
equations of ``kind: equations``). Nothing in a problem file is ever run as Python.
"""

from pinn_gelu.expressions.expression import (
    CONSTANTS,
    FUNCTIONS,
    FUNCTIONS2,
    VARIABLES,
    Expression,
    ExpressionLimits,
    evaluate_checked,
    parse_expression,
    point_text,
)
from pinn_gelu.expressions.residual import (
    MAX_DERIVATIVE_ORDER,
    NORMALS,
    OPERATORS,
    RESERVED,
    TIME,
    Residual,
    parse_residual,
)

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "FUNCTIONS2",
    "MAX_DERIVATIVE_ORDER",
    "NORMALS",
    "OPERATORS",
    "RESERVED",
    "TIME",
    "VARIABLES",
    "Expression",
    "ExpressionLimits",
    "Residual",
    "evaluate_checked",
    "parse_expression",
    "parse_residual",
    "point_text",
]
