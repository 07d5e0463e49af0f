"""Exact Dirichlet conditions: the trial function u = g̃ + φ·N of ``exact: true``.

The pieces (distances, R-equivalence, transfinite blend) are in :mod:`pinn_gelu.model.distance`;
this module picks them for a box's sides or a 2D region's parts, and a problem's boundary
values.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from pinn_gelu.expressions import NORMALS, Expression
from pinn_gelu.geometry.box import Box
from pinn_gelu.geometry.domain import RegionDomain
from pinn_gelu.geometry.primitives import Disk, Polygon, Rectangle
from pinn_gelu.model.distance import (
    circle_distance,
    r_equivalence,
    segment_distance,
    transfinite,
)
from pinn_gelu.model.trial import Affine

__all__ = ["EXTENSION_CHECKS", "exact_trial", "part_distance", "unsupported"]


def exact_trial(domain: Box | RegionDomain, parts: list[list[tuple[str, Expression]]]) -> Affine:
    """u_k = g̃_k + φ_k·N_k on a box or a 2D region, from each component's exact (side, value).

    φ_k joins the parts' distances (:func:`part_distance`) by the R-equivalence, g̃_k
    interpolates their values (:mod:`pinn_gelu.model.distance`); a component with no exact side
    keeps u_k = N_k.
    """
    normals = len(NORMALS[: domain.spatial_dimension])
    distance = {side: part_distance(domain, side) for p in parts for side, _ in p}

    def distances(x: Tensor, sides: list[str]) -> list[Tensor]:
        return [distance[side](x) for side in sides]

    def factor(x: Tensor) -> Tensor:
        columns = [
            r_equivalence(distances(x, [s for s, _ in p])) if p else torch.ones_like(x[:, 0])
            for p in parts
        ]
        return torch.stack(columns, 1)

    def pad(x: Tensor) -> Tensor:
        return torch.cat([x, x.new_zeros(x.shape[0], normals)], 1)  # no normals are read

    extensions = [_extension(domain, p, pad) for p in parts]

    def offset(x: Tensor) -> Tensor:
        inputs = pad(x)
        columns = []
        for p, whole in zip(parts, extensions, strict=True):
            if not p:
                columns.append(torch.zeros_like(x[:, 0]))
            elif whole is not None:
                columns.append(whole(inputs)[:, 0])
            else:
                values = [lambda e=e: e(inputs)[:, 0] for _, e in p]
                columns.append(transfinite(values, distances(x, [s for s, _ in p])))
        return torch.stack(columns, 1)

    return Affine(factor, offset)


def part_distance(domain: Box | RegionDomain, side: str) -> Callable[[Tensor], Tensor]:
    """The distance to one side or part, in units of the domain's extent (see the module).

    A box side's is its plane's, (x − a)/(b − a) or (b − x)/(b − a) along its axis (the units
    of the network's input). A region part's is the trimmed segment distance of each surviving
    straight piece (joined by the R-equivalence where a part has several) or the circle's,
    divided by the largest extent of the region's bounding box.

    Raises:
        ValueError: a part no distance is built for (:func:`unsupported`).
    """
    if isinstance(domain, Box):
        axis, sign = domain.side_axis(side)
        lo, hi = domain.bounds[axis]
        if sign > 0:
            return lambda x: (hi - x[:, axis]) / (hi - lo)
        return lambda x: (x[:, axis] - lo) / (hi - lo)
    reason = unsupported(domain, side)
    if reason:
        raise ValueError(reason)
    region = domain.region
    part = region.part(side)
    shape = region.shapes[part.shape]
    scale = max(hi - lo for lo, hi in region.bounds)
    if isinstance(shape, Disk):
        side_sign = part.pieces[0].sign
        return lambda x: circle_distance(shape.center, shape.radius, side_sign, x) / scale
    ends = []
    for piece in part.pieces:
        points, _ = shape.part_points(part.index, np.array([[piece.start], [piece.stop]]))
        ends.append((points[0].tolist(), points[1].tolist()))
    return lambda x: r_equivalence([segment_distance(a, b, x) for a, b in ends]) / scale


def unsupported(domain: Box | RegionDomain, side: str) -> str:
    """Why no exact condition can be put on a region's part ("" where it can)."""
    if isinstance(domain, Box):
        return ""
    region = domain.region
    if region.dimension != 2:
        return "exact conditions on a region need a 2D region (a box domain in 3D)"
    part = region.part(side)
    shape = region.shapes[part.shape]
    if isinstance(shape, Disk) and sum(p.stop - p.start for p in part.pieces) < 1 - 1e-9:
        return (
            f"{side} is an arc of a circle, not the whole circle: exact conditions take whole "
            "circles and straight parts"
        )
    if not isinstance(shape, Disk | Polygon | Rectangle):
        return f"{side}: no distance function for a {type(shape).__name__}"
    return ""


#: Sample points per side on which a part's data are compared with the others'.
EXTENSION_CHECKS = 64


def _extension(
    domain: Box | RegionDomain, parts: list[tuple[str, Expression]], pad: Callable[[Tensor], Tensor]
) -> Expression | None:
    """A part's data that already equal every other part's on its side: g̃ = g_i itself.

    The smoothest extension there is (the inverse-distance blend's weights are steep where parts
    meet: u(x, 0) = sin πx with u = 0 at the walls is sin πx everywhere, not a blend). Compared
    at :data:`EXTENSION_CHECKS` seeded points of each other side, to 1e-12 relative.
    """
    if len({id(e) for _, e in parts}) == 1:
        return parts[0][1]
    rng = np.random.default_rng(0)
    samples = {
        side: pad(torch.as_tensor(domain.sample_side(side, EXTENSION_CHECKS, "uniform", rng)))
        for side, _ in parts
    }
    for _, candidate in parts:
        agrees = True
        for side, value in parts:
            with torch.no_grad():
                theirs, ours = value(samples[side])[:, 0], candidate(samples[side])[:, 0]
            scale = 1.0 + float(theirs.abs().max())
            if not float((theirs - ours).abs().max()) <= 1e-12 * scale:
                agrees = False
                break
        if agrees:
            return candidate
    return None
