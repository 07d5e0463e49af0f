"""Exact Dirichlet conditions on a box: the trial function u = g̃ + φ·N of ``exact: true``.

The pieces (distances, R-equivalence, transfinite blend) are in :mod:`pinn_gelu.model.distance`;
this module picks them for a box's sides and a problem's boundary values.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from pinn_gelu.expressions import NORMALS, Expression
from pinn_gelu.geometry.box import Box
from pinn_gelu.model.distance import r_equivalence, transfinite
from pinn_gelu.model.trial import Affine

__all__ = ["EXTENSION_CHECKS", "exact_trial"]


def exact_trial(domain: Box, parts: list[list[tuple[str, Expression]]]) -> Affine:
    """u_k = g̃_k + φ_k·N_k on a box, from each component's exact (side, value) pairs.

    φ_k joins the sides' plane distances by the R-equivalence, g̃_k interpolates their values
    (:mod:`pinn_gelu.model.distance`); a component with no exact side keeps u_k = N_k.
    """
    bounds = domain.bounds
    normals = len(NORMALS[: domain.spatial_dimension])

    def distances(x: Tensor, sides: list[str]) -> list[Tensor]:
        out = []
        for side in sides:
            axis, sign = domain.side_axis(side)
            lo, hi = bounds[axis]  # in units of the box's length along the axis, as ξ is
            out.append((hi - x[:, axis] if sign > 0 else x[:, axis] - lo) / (hi - lo))
        return out

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


#: Sample points per side on which a part's data are compared with the others'.
EXTENSION_CHECKS = 64


def _extension(
    domain: Box, parts: list[tuple[str, Expression]], pad: Callable[[Tensor], Tensor]
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
