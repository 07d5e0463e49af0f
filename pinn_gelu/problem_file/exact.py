"""``exact: true`` on a boundary entry: its Dirichlet values imposed by the trial function.

``{on: [x_min, x_max], dirichlet: "0", exact: true}`` makes u = g̃ + φ·N with φ vanishing on
those sides (:mod:`pinn_gelu.model.distance`): the condition holds to rounding and its loss term
disappears. Checked here, once: a box domain (its sides' distances are exact planes), a
``dirichlet`` entry, values that read neither the outward normal nor an unknown (g̃ is fixed
before training), and no ``positive`` fields (one trial function per model).
"""

from __future__ import annotations

from pinn_gelu.expressions import NORMALS, Expression, Residual
from pinn_gelu.geometry.domain import Domain, RegionDomain
from pinn_gelu.problem import PDE
from pinn_gelu.schema import Section

__all__ = ["check_exact"]


def check_exact(
    section: Section,
    exact: object,
    kind: str,
    values: tuple[Expression | Residual | None, ...],
    domain: Domain,
    pde: PDE,
) -> None:
    """Refuse an ``exact`` key that cannot be honoured, naming it and why."""
    if not isinstance(exact, bool):
        raise section.expected("exact", "true or false", exact)
    if kind != "dirichlet":
        raise section.error("exact", f"only dirichlet values can be exact (this entry: {kind})")
    if isinstance(domain, RegionDomain):
        raise section.error(
            "exact",
            "exact conditions need a box domain (rectangle:); regions are not yet supported",
        )
    if getattr(pde, "positive", ()):
        raise section.error(
            "exact",
            "exact conditions and pde.positive fields cannot be combined (one trial function)",
        )
    for value in values:
        if isinstance(value, Expression) and value.names & set(NORMALS):
            raise section.error(
                "exact", f"{value.source!r} reads the outward normal: an exact value cannot"
            )
        if isinstance(value, Expression) and value.unknowns:
            raise section.error(
                "exact",
                f"{value.source!r} reads the unknown {value.unknowns[0]}: an exact value is "
                "fixed before training",
            )
