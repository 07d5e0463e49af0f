"""PDE kinds: each module turns its ``pde:`` section into an object with residual terms.

:data:`PDE_KINDS` maps ``pde.kind`` to the parser of its section.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pinn_gelu.pdes import elasticity, equations, poisson
from pinn_gelu.problem import PDE
from pinn_gelu.schema import Section

__all__ = ["PDE_KINDS"]

#: ``pde.kind`` → parser of the ``pde`` section (its ``kind`` key already read).
PDE_KINDS: Mapping[str, Callable[[Section], PDE]] = {
    "poisson": poisson.parse,
    "linear_elasticity": elasticity.parse,
    "equations": equations.parse,
}
