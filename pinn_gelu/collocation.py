"""Collocation points: where the PDE and boundary residuals are evaluated.

One seed fixes every point: the interior set and each side's (or part's) set are drawn from
independent streams spawned from ``numpy.random.SeedSequence(seed)``, in a fixed order, so adding
a side or changing one count does not move the other sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from pinn_gelu.config import PointsConfig
from pinn_gelu.distributed import Group, share
from pinn_gelu.geometry.domain import Domain

__all__ = ["Collocation", "chunk_collocation", "sample_collocation", "shard_collocation"]


@dataclass
class Collocation:
    """Interior and boundary points, as tensors in the training dtype and device.

    Attributes:
        interior: (N, d) points inside the domain.
        boundary: (M, d) points on the sides, side after side in the domain's order.
        normals: (M, d) outward unit normals of the boundary points.
        sides: side name → (start, stop) rows of ``boundary``.
        interior_index, boundary_index: for a data-parallel shard, the index of each point in
            the whole set (None: this is the whole set).
    """

    interior: Tensor
    boundary: Tensor
    normals: Tensor
    sides: dict[str, tuple[int, int]]
    interior_index: Tensor | None = None
    boundary_index: Tensor | None = None
    #: The observation points of each data file, by point-set name (``data_<name>``).
    data: dict[str, Tensor] = field(default_factory=dict)
    #: For a data-parallel shard, the index of each data point in its file.
    data_index: dict[str, Tensor] = field(default_factory=dict)

    def global_index(self, place: str) -> Tensor:
        """Index of each point of a point set in the whole (unsharded) set."""
        points = self.on(place)
        if place in self.data:
            index = self.data_index.get(place)
        else:
            index = self.interior_index if place == "interior" else self.boundary_index
        if index is None:
            return torch.arange(points.shape[0], device=points.device)
        return index

    def on(self, place: str) -> Tensor:
        """Points of ``interior``, ``boundary`` or a data file's set."""
        if place == "interior":
            return self.interior
        if place == "boundary":
            return self.boundary
        if place in self.data:
            return self.data[place]
        raise ValueError(
            f"unknown point set {place!r} (expected interior, boundary or one of the data sets)"
        )


def sample_collocation(
    domain: Domain,
    points: PointsConfig,
    seed: int,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    sides: Sequence[str] | None = None,
) -> Collocation:
    """Draw the collocation points of a problem reproducibly from ``seed``.

    ``sides``: the boundary parts (a box's sides) that carry a condition (default: all); the
    others get no points. The domain draws them (:meth:`~pinn_gelu.geometry.domain.Domain.sample`).
    """
    interior, boundary, normals, ranges = domain.sample(
        points.interior, points.boundary, points.sampler, seed, sides
    )

    def tensor(a: np.ndarray) -> Tensor:
        return torch.as_tensor(a, dtype=dtype, device=device)

    return Collocation(
        interior=tensor(interior),
        boundary=tensor(boundary),
        normals=tensor(normals),
        sides=ranges,
    )


def shard_collocation(points: Collocation, group: Group) -> Collocation:
    """This rank's shard: a contiguous share of the interior and of each boundary part."""
    if not group.active:
        return points
    return _part(points, group.size, group.rank, _indices(points))


def chunk_collocation(points: Collocation, count: int) -> list[Collocation]:
    """``count`` chunks of ``points``: each a contiguous share of every point set.

    Chunk j holds rows [a_j, b_j) of the interior, of each boundary part and of each data set,
    split as :meth:`~pinn_gelu.distributed.Group.shard` splits them among ranks (sizes differ by
    at most 1), with the index of each point in the whole (unsharded) set, so that row keys,
    observation rows and per-point weights refer to the same points as in one piece.
    """
    if count < 1:
        raise ValueError(f"chunks: expected at least 1, got {count}")
    if count == 1:
        return [points]
    indices = _indices(points)  # once: each chunk's indices are views of them
    return [_part(points, count, j, indices) for j in range(count)]


def _indices(points: Collocation) -> dict[str, Tensor]:
    """The index in the whole set of each point of every point set."""
    return {p: points.global_index(p) for p in ("interior", "boundary", *points.data)}


def _part(points: Collocation, parts: int, j: int, indices: dict[str, Tensor]) -> Collocation:
    """Share j of ``parts`` of every point set, with each point's index in the whole set."""
    start, stop = share(points.interior.shape[0], parts, j)
    rows, sides, at = [], {}, 0
    for side, (first, last) in points.sides.items():
        a, b = share(last - first, parts, j)
        rows.append(torch.arange(first + a, first + b))
        sides[side] = (at, at + b - a)
        at += b - a
    index = torch.cat(rows) if rows else torch.zeros(0, dtype=torch.long)
    index = index.to(points.boundary.device)
    data, data_index = {}, {}
    for place, where in points.data.items():
        a, b = share(where.shape[0], parts, j)
        data[place] = where[a:b]
        data_index[place] = indices[place][a:b]
    return Collocation(
        interior=points.interior[start:stop],
        boundary=points.boundary[index],
        normals=points.normals[index],
        sides=sides,
        interior_index=indices["interior"][start:stop],
        boundary_index=indices["boundary"][index],
        data=data,
        data_index=data_index,
    )
