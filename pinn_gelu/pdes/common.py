"""What the PDE kinds share: target values on collocation points, checked to be finite."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..collocation import Collocation
from ..errors import ProblemFileError
from ..expressions import Expression
from ..problem import Problem

__all__ = ["BoundaryTargets", "boundary_targets", "evaluate_checked"]


def evaluate_checked(value: Expression | float, points: Tensor, path: str) -> Tensor:
    """An expression (or constant) at points (N, d) → (N,), rejecting non-finite values.

    A source such as ``log(x)`` on [0, 1] is infinite at x = 0: that is an error of the problem
    file, reported with the key and a point, not a NaN loss discovered later.
    """
    if not isinstance(value, Expression):
        return points.new_full((points.shape[0],), float(value))
    with torch.no_grad():
        values = value(points)[:, 0]
    bad = ~torch.isfinite(values)
    if bool(bad.any()):
        where = points[bad][0].tolist()
        at = ", ".join(
            f"{name}={coord:.6g}" for name, coord in zip(value.variables, where, strict=True)
        )
        raise ProblemFileError(
            path,
            value.key or "expression",
            f"{value.source!r} is not finite at {int(bad.sum())} of {points.shape[0]} points "
            f"(for example at {at})",
        )
    return values


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
            values.append(evaluate_checked(value, side_points, problem.path))
    if not used:
        return None
    if not rows:  # used, with no points in this shard: an empty term, so that every rank
        empty = torch.zeros(0, dtype=torch.long, device=points.boundary.device)  # has the same
        return BoundaryTargets(empty, empty, points.boundary.new_zeros(0))  # terms
    return BoundaryTargets(torch.cat(rows), torch.cat(components), torch.cat(values))
