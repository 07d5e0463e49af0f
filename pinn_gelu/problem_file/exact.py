"""``exact: true`` on a boundary entry: its Dirichlet values imposed by the trial function.

``{on: [x_min, x_max], dirichlet: "0", exact: true}`` makes u = g̃ + φ·N with φ vanishing on
those sides (:mod:`pinn_gelu.model.distance`): the condition holds to rounding and its loss term
disappears. Checked here, once: a box or a 2D region whose exact parts are straight or whole
circles (:func:`pinn_gelu.model.exact.unsupported`), a ``dirichlet`` entry, values that read
neither the outward normal nor an unknown (g̃ is fixed before training), and no ``positive``
fields (one trial function per model).
"""

from __future__ import annotations

import numpy as np
import torch

from pinn_gelu.errors import ProblemFileError
from pinn_gelu.expressions import NORMALS, Expression, Residual
from pinn_gelu.geometry.box import Box
from pinn_gelu.geometry.domain import Domain, RegionDomain
from pinn_gelu.model.exact import unsupported
from pinn_gelu.problem import PDE, Problem
from pinn_gelu.schema import Section

__all__ = ["check_exact", "check_exact_values"]

#: Most parts exact for one field: the R-equivalence's products of distances stay in range
#: (checked finite and positive inside at 48 in float32; 64 gave NaN).
MAX_EXACT_PARTS = 32
#: Sample points on which exact values are checked: inside the box, and per side or seam.
SAMPLES = 256


def check_exact(
    section: Section,
    exact: object,
    kind: str,
    values: tuple[Expression | Residual | None, ...],
    domain: Domain,
    pde: PDE,
    sides: tuple[str, ...] = (),
) -> None:
    """Refuse an ``exact`` key that cannot be honoured, naming it and why."""
    if not isinstance(exact, bool):
        raise section.expected("exact", "true or false", exact)
    if kind != "dirichlet":
        raise section.error("exact", f"only dirichlet values can be exact (this entry: {kind})")
    if isinstance(domain, RegionDomain):
        for side in sides:
            reason = unsupported(domain, side)
            if reason:
                raise section.error("exact", reason)
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


def check_exact_values(problem: Problem) -> list[str]:
    """Exact values finite over the whole box (else an error); the cautions of periodic axes.

    An exact value g is extended over the box (g̃), and its sides get no collocation points, so
    it is checked here, on seeded samples: finite inside and on its sides (``log(x)`` on [0, 1]
    is not). Along a periodic axis only N is periodic in u = g̃ + φ·N, so a jump of g̃ or of its
    derivatives (to the PDE's order) between the axis's ends stays in u: said as a caution, not
    refused — Allen–Cahn's x² cos πx (slopes 2 and −2 at x = ±1) imposed exactly reached 4.1e-4
    where the same run with it as a loss term stayed at 2.6e-1 (benchmarks/results/allen_cahn*).
    """
    for per in problem.exact_parts():
        if len(per) > MAX_EXACT_PARTS:
            raise ProblemFileError(
                problem.path,
                per[-1][1].key or "boundary",
                f"{len(per)} boundary parts are exact for one field, more than "
                f"{MAX_EXACT_PARTS}: φ multiplies their distances, which underflows (a 64-edge "
                "polygon gave φ = NaN everywhere in float32); make some of them loss terms",
            )
    parts = [item for per in problem.exact_parts() for item in per]
    if not parts:
        return []
    domain = problem.domain
    assert isinstance(domain, Box | RegionDomain)  # check_exact refused the rest
    rng = np.random.default_rng(0)
    normals = domain.spatial_dimension

    def inputs(points: np.ndarray) -> torch.Tensor:
        x = torch.as_tensor(points, dtype=torch.float64)
        return torch.cat([x, x.new_zeros(x.shape[0], normals)], 1)

    inside = inputs(domain.sample_interior(SAMPLES, "uniform", rng))
    cautions: list[str] = []
    for side, value in parts:
        on_side = inputs(domain.sample_side(side, SAMPLES, "uniform", rng))
        for where, points in (("inside the domain", inside), (f"on {side}", on_side)):
            with torch.no_grad():
                finite = bool(torch.isfinite(value(points)).all())
            if not finite:
                raise ProblemFileError(
                    problem.path,
                    value.key or "boundary",
                    f"{value.source!r} is not finite {where}: an exact value is extended over "
                    "the whole domain (write a value finite there, or drop exact)",
                )
        for axis in domain.periodic:
            caution = _seam(problem, value, axis, rng, inputs)
            if caution:
                cautions.append(caution)
    return cautions


def _seam(
    problem: Problem, value: Expression, axis: int, rng: np.random.Generator, inputs: object
) -> str:
    """G and ∂ᵏg/∂x_axisᵏ (k ≤ the PDE's order) equal at both ends of a periodic axis."""
    domain = problem.domain
    assert isinstance(domain, Box)
    lo, hi = domain.bounds[axis]
    points = domain.sample_interior(32, "uniform", rng)
    ends = []
    for end in (lo, hi):
        x = np.array(points)
        x[:, axis] = end
        ends.append(inputs(x).requires_grad_(True))  # type: ignore[operator]
    name = domain.variables[axis]
    for order in range(min(problem.order, 4) + 1):
        values = []
        for x in ends:
            y = value(x)[:, 0]
            for _ in range(order):
                (y,) = torch.autograd.grad(y.sum(), x, create_graph=True)
                y = y[:, axis]
            values.append(y.detach())
        gap = float((values[0] - values[1]).abs().max())
        scale = 1.0 + float(values[0].abs().max())
        if not gap <= 1e-8 * scale:
            what = "its value" if order == 0 else f"its derivative of order {order} in {name}"
            return (
                f"{value.key}: {value.source!r} is exact on a problem periodic in {name}, but "
                f"{what} differs by {gap:.3g} between {name} = {lo:g} and {name} = {hi:g}; only "
                "the network is periodic, so that jump stays in the solution at the seam"
            )
    return ""
