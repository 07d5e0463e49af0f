"""Evaluation grids of a region: a regular grid over its bounding box and a mask of the region.

For validation and plots: the values of a solution are computed on ``points[mask]`` and shown as
an image of shape ``shape`` (indexed ``[ix, iy, iz]``, as :meth:`~pinn_gelu.geometry.box.Box.grid`)
with the points outside the region left blank.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pinn_gelu.errors import GeometryError
from pinn_gelu.geometry.box import Box
from pinn_gelu.geometry.csg import Region

__all__ = ["MAX_GRID_POINTS", "RegionGrid", "region_grid"]

#: Most grid points a region grid may have.
MAX_GRID_POINTS = 10_000_000


@dataclass(frozen=True)
class RegionGrid:
    """A grid over a region's bounding box.

    Attributes:
        points: (M, d) every grid point, the first coordinate changing slowest.
        mask: (M,) whether the point lies in the closed region (within ``tol`` of it).
        shape: points per dimension; ``values.reshape(shape)`` is indexed ``[ix, iy, iz]``.
    """

    points: np.ndarray
    mask: np.ndarray
    shape: tuple[int, ...]

    @property
    def inside(self) -> np.ndarray:
        """The grid points in the region, (K, d)."""
        return self.points[self.mask]


def region_grid(region: Region, points_per_dimension: int, tol: float | None = None) -> RegionGrid:
    """A regular grid including the bounding box's boundary, masked to the closed region.

    Args:
        region: the region.
        points_per_dimension: grid points along each axis (≥ 2).
        tol: a point belongs to the region when its signed distance is ≤ tol; default 1e-9
            times the diameter, so points on the boundary are kept.

    Raises:
        GeometryError: for fewer than 2 points per axis or more than :data:`MAX_GRID_POINTS`.
    """
    total = points_per_dimension**region.dimension if points_per_dimension >= 2 else 0
    if points_per_dimension < 2 or total > MAX_GRID_POINTS:
        raise GeometryError(
            f"a grid needs 2 to {MAX_GRID_POINTS} points in all, {points_per_dimension} per "
            f"dimension in {region.dimension}D gives {total}"
        )
    region.check_work(total, f"a grid of {points_per_dimension} points per dimension")
    points, shape = Box(region.bounds).grid(points_per_dimension)
    tol = 1e-9 * region.diameter if tol is None else tol
    return RegionGrid(points, region.signed_distance(points) <= tol, shape)
