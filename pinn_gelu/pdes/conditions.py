"""What the PDE kinds share: expressions' values on collocation points.

Sources and boundary targets: fixed, or following the unknown constants that they read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from pinn_gelu.collocation import Collocation
from pinn_gelu.expressions import Expression, evaluate_checked
from pinn_gelu.problem import Problem

__all__ = ["BoundaryTargets", "Values", "boundary_targets", "values_at"]


@dataclass(frozen=True)
class Values:
    """An expression's values on fixed points: computed once, unless it reads unknowns.

    A source or a boundary value that reads an unknown constant λ (``source: k*sin(pi*x)``,
    ``dirichlet: g0``) is a function of λ: :meth:`at` evaluates those parts again with the
    current values, keeping the graph to λ, so that the loss's gradient and the Gauss–Newton
    Jacobian's unknown columns include ∂(value)/∂λ. Every other part is the tensor ``fixed``.

    Attributes:
        fixed: all the values (at the unknowns' initial values, checked finite there).
        parts: (start, stop, expression, inputs) of each segment that reads unknowns.
    """

    fixed: Tensor
    parts: tuple[tuple[int, int, Expression, Tensor], ...] = ()

    def at(self, unknowns: Mapping[str, Tensor] | None) -> Tensor:
        """The values with these unknowns' values (``fixed`` when nothing reads them)."""
        if not self.parts or unknowns is None:
            return self.fixed
        pieces, last = [], 0
        for start, stop, expression, inputs in self.parts:
            pieces += [self.fixed[last:start], expression(inputs, unknowns)[:, 0]]
            last = stop
        pieces.append(self.fixed[last:])
        return torch.cat(pieces)

    @staticmethod
    def join(values: list[Values]) -> Values:
        """The segments one after the other."""
        parts, offset = [], 0
        for v in values:
            parts += [(a + offset, b + offset, e, x) for a, b, e, x in v.parts]
            offset += v.fixed.shape[0]
        return Values(torch.cat([v.fixed for v in values]), tuple(parts))


def values_at(problem: Problem, value: Expression | float, inputs: Tensor) -> Values:
    """``value`` on ``inputs`` (N, d): checked finite at the unknowns' initial values."""
    initial = {
        name: inputs.new_tensor(problem.unknowns[name].initial)
        for name in getattr(value, "unknowns", ())
    }
    fixed = evaluate_checked(value, inputs, problem.path, initial)
    if not isinstance(value, Expression) or not value.unknowns:
        return Values(fixed)
    return Values(fixed, ((0, inputs.shape[0], value, inputs),))


@dataclass(frozen=True)
class BoundaryTargets:
    """Target values of one condition kind.

    Entry k sets component ``components[k]`` of boundary point ``rows[k]`` to
    ``values.at(unknowns)[k]``.
    """

    rows: Tensor
    components: Tensor
    values: Values


def boundary_targets(problem: Problem, points: Collocation, kind: str) -> BoundaryTargets | None:
    """Gather all (point, component, value) of condition ``kind``; None if it is not used."""
    rows, components, values, used = [], [], [], False
    for side, per_component in problem.resolved_boundary(soft=True).items():
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
            inputs = problem.boundary_inputs(value, side, side_points, side_normals)
            values.append(values_at(problem, value, inputs))
    if not used:
        return None
    if not rows:  # used, with no points in this shard: an empty term, so that every rank
        empty = torch.zeros(0, dtype=torch.long, device=points.boundary.device)  # has the same
        return BoundaryTargets(empty, empty, Values(points.boundary.new_zeros(0)))  # terms
    return BoundaryTargets(torch.cat(rows), torch.cat(components), Values.join(values))
