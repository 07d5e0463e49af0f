"""What the PDE kinds share: the target values of boundary conditions on collocation points."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from pinn_gelu.collocation import Collocation
from pinn_gelu.problem import Problem

__all__ = ["BoundaryTargets", "boundary_targets"]


@dataclass(frozen=True)
class BoundaryTargets:
    """Target values of one condition kind.

    Entry k sets component ``components[k]`` of boundary point ``rows[k]`` to ``values[k]``.
    """

    rows: Tensor
    components: Tensor
    values: Tensor


def boundary_targets(problem: Problem, points: Collocation, kind: str) -> BoundaryTargets | None:
    """Gather all (point, component, value) of condition ``kind``; None if it is not used."""
    rows, components, values, used = [], [], [], False
    for side, per_component in problem.resolved_boundary().items():
        start, stop = points.sides[side]
        side_points = points.boundary[start:stop]
        index = torch.arange(start, stop, device=side_points.device)
        for k, entry in enumerate(per_component):
            if entry is None or entry[0] != kind:
                continue
            value = entry[1]
            used = True
            if stop == start:  # no points of this side here (a data-parallel shard)
                continue
            rows.append(index)
            components.append(torch.full_like(index, k))
            side_normals = points.normals[start:stop]
            values.append(problem.boundary_value(value, side, side_points, side_normals))
    if not used:
        return None
    if not rows:  # used, with no points in this shard: an empty term, so that every rank
        empty = torch.zeros(0, dtype=torch.long, device=points.boundary.device)  # has the same
        return BoundaryTargets(empty, empty, points.boundary.new_zeros(0))  # terms
    return BoundaryTargets(torch.cat(rows), torch.cat(components), torch.cat(values))
