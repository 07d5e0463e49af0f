"""Poisson's equation −Δu = f on a box, with Dirichlet and Neumann sides.

Residuals (Raissi, Perdikaris & Karniadakis 2019, J. Comput. Phys. 378:686):

- interior, term ``pde``:          r = −Δu − f          (second order)
- Dirichlet sides, ``dirichlet``:  r = u − g
- Neumann sides, ``neumann``:      r = ∂u/∂n − g = ∇u·n − g, n the outward unit normal
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor, nn

from pinn_gelu.collocation import Collocation
from pinn_gelu.expressions import Expression
from pinn_gelu.fields import Engine, Fields
from pinn_gelu.pdes.conditions import boundary_targets, values_at
from pinn_gelu.problem import FLUX_WEIGHT, VALUE_WEIGHT, Problem, Term
from pinn_gelu.schema import Section

__all__ = ["Poisson", "parse"]


@dataclass(frozen=True)
class Poisson:
    """−Δu = source on the problem's domain; one output field u."""

    source: Expression
    kind: ClassVar[str] = "poisson"
    order: ClassVar[int] = 2
    outputs: ClassVar[tuple[str, ...]] = ("u",)
    solution_fields: ClassVar[tuple[str, ...]] = ("u",)
    boundary_kinds: ClassVar[dict[str, int]] = {"dirichlet": 1, "neumann": 1}
    boundary_components: ClassVar[tuple[str, ...]] = ("u",)
    default_condition: ClassVar[tuple[str, float] | None] = None
    free_boundary: ClassVar[bool] = False
    allows_time: ClassVar[bool] = False
    term_names: ClassVar[tuple[str, ...]] = ("pde", "dirichlet", "neumann")
    default_weights: ClassVar[Mapping[str, float]] = {
        "dirichlet": VALUE_WEIGHT,
        "neumann": FLUX_WEIGHT,
    }

    def terms(self, problem: Problem, points: Collocation) -> list[Term]:
        """The ``pde``, ``dirichlet`` and ``neumann`` terms on these points."""
        source = values_at(problem, self.source, points.interior)

        def pde(fields: Fields) -> Tensor:
            return -fields.require_laplacian()[:, 0] - source.at(fields.unknowns)

        terms = [Term("pde", "interior", "laplacian", pde)]
        dirichlet = boundary_targets(problem, points, "dirichlet")
        if dirichlet is not None:
            rows, target = dirichlet.rows, dirichlet.values
            terms.append(
                Term(
                    "dirichlet",
                    "boundary",
                    "value",
                    lambda f: f.value[rows, 0] - target.at(f.unknowns),
                    rows,
                )
            )
        neumann = boundary_targets(problem, points, "neumann")
        if neumann is not None:
            n_rows, n_target = neumann.rows, neumann.values
            normals = points.normals[n_rows]

            def flux(fields: Fields) -> Tensor:
                grad = fields.require_gradient()[n_rows, 0, :]
                return (grad * normals).sum(-1) - n_target.at(fields.unknowns)

            terms.append(Term("neumann", "boundary", "gradient", flux, n_rows))
        return terms

    def solution(self, network: nn.Module, x: Tensor, engine: Engine) -> dict[str, Tensor]:
        """U at points x (N, d) → {"u": (N,)}."""
        return {"u": network(x)[:, 0]}

    def describe(self) -> str:
        """The equation with its source."""
        return f"Poisson: −Δu = {self.source.source}"


def parse(section: Section) -> Poisson:
    """Read ``pde: {kind: poisson, source: expr}`` (source defaults to 0: Laplace)."""
    source = section.expression("source", section.raw("source", "0"))
    section.finish()
    return Poisson(source)
