"""The domain of a problem: what the rest of the code asks of a box or of a CSG region.

A problem's domain is either a :class:`~pinn_gelu.geometry.box.Box` (``domain: {rectangle: …}``,
with its own fast paths and exact grids) or a :class:`RegionDomain` built from named shapes and a
region expression (``domain: {shapes: …, region: "plate - hole"}``). Both satisfy
:class:`Domain`: a dimension, variable names, named boundary parts (a box's sides ``x_min`` …, a
region's surviving parts ``plate.x_min``, ``hole``, ``ell.edge3`` …), their measures, a bounding
box, reproducible collocation points and a validation grid.

Collocation points of a region (:meth:`RegionDomain.sample`): exactly n interior points, and the
boundary points shared among the parts that carry a condition in proportion to their measures,
each with the region's exact outward normal (a hole's normal points into the hole), drawn from
independent streams spawned from the seed (interior first, then one per part in the region's
order), as :func:`~pinn_gelu.collocation.sample_collocation` does for a box.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pinn_gelu.expressions import VARIABLES
from pinn_gelu.geometry.csg import Region
from pinn_gelu.geometry.grids import region_grid
from pinn_gelu.geometry.sampling import sample_interior, sample_part, share

__all__ = ["Domain", "PointSets", "RegionDomain"]

#: Interior, boundary points, their normals, and part name → (start, stop) rows of the boundary.
PointSets = tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, tuple[int, int]]]


class Domain(Protocol):
    """What the rest of the code asks of a domain; Box and RegionDomain satisfy it."""

    @property
    def dimension(self) -> int:
        """Number of coordinates d (with the time axis, if any)."""
        ...

    @property
    def spatial_dimension(self) -> int:
        """Number of spatial coordinates."""
        ...

    @property
    def variables(self) -> tuple[str, ...]:
        """Variable names of the coordinates, in column order."""
        ...

    @property
    def sides(self) -> tuple[str, ...]:
        """Names of the boundary parts (a box's sides), in a fixed order."""
        ...

    @property
    def spatial_sides(self) -> tuple[str, ...]:
        """The parts of the spatial boundary (all but t_min and t_max)."""
        ...

    @property
    def periodic(self) -> tuple[int, ...]:
        """Spatial axes along which the problem is periodic (a box's; none for a region)."""
        ...

    @property
    def bounds(self) -> tuple[tuple[float, float], ...]:
        """A bounding box, one (min, max) per coordinate."""
        ...

    @property
    def time(self) -> bool:
        """Whether the last coordinate is time."""
        ...

    @property
    def volume(self) -> float:
        """Length, area or volume."""
        ...

    def outward_normals(self, side: str, points: np.ndarray) -> np.ndarray:
        """Outward unit normals (N, spatial dims) at points of a side (zero on t_min/t_max)."""
        ...

    def side_measure(self, side: str) -> float:
        """Measure of one boundary part."""
        ...

    def sample(
        self,
        interior: int,
        boundary: int,
        sampler: str,
        seed: int,
        sides: Sequence[str] | None = None,
    ) -> PointSets:
        """Collocation points reproducible from the seed; parts not in ``sides`` get none."""
        ...

    def evaluation_grid(
        self, points_per_dimension: int
    ) -> tuple[np.ndarray, tuple[int, ...], np.ndarray | None]:
        """Grid points (M, d), the grid's shape, and a mask (M,) of the domain (None: all)."""
        ...


@dataclass(frozen=True, eq=False)
class RegionDomain:
    """A CSG region as a problem's domain; its boundary parts play the role of a box's sides.

    Attributes:
        region: the parsed region (:func:`~pinn_gelu.geometry.csg.parse_region`).
    """

    region: Region
    time: bool = False

    @property
    def dimension(self) -> int:
        """Number of coordinates d."""
        return self.region.dimension

    @property
    def spatial_dimension(self) -> int:
        """Number of spatial dimensions (a region has no time axis)."""
        return self.region.dimension

    @property
    def variables(self) -> tuple[str, ...]:
        """Variable names of the coordinates, in column order."""
        return VARIABLES[: self.dimension]

    @property
    def sides(self) -> tuple[str, ...]:
        """The surviving boundary parts, in the order of the shapes and of their parts."""
        return tuple(p.name for p in self.region.parts)

    @property
    def spatial_sides(self) -> tuple[str, ...]:
        """All parts (there is no time axis)."""
        return self.sides

    @property
    def periodic(self) -> tuple[int, ...]:
        """None: a region has no periodic axes."""
        return ()

    @property
    def bounds(self) -> tuple[tuple[float, float], ...]:
        """The region's bounding box."""
        return self.region.bounds

    @property
    def volume(self) -> float:
        """Length, area (exact in 2D) or volume (estimated in 3D) of the region."""
        return self.region.volume

    def side_measure(self, side: str) -> float:
        """Length (2D) or area (3D) of a boundary part on the region's boundary."""
        return self.region.part(side).measure

    def outward_normals(self, side: str, points: np.ndarray) -> np.ndarray:
        """The region's outward unit normals (N, d) at points (N, d) of a boundary part."""
        part = self.region.part(side)
        shape = self.region.shapes[part.shape]
        normals = shape.part_normal(part.index, points)
        _, sign = self.region.classify(part.shape, part.index, points, normals, 0.0)
        return normals * sign[:, None]

    def sample(
        self,
        interior: int,
        boundary: int,
        sampler: str,
        seed: int,
        sides: Sequence[str] | None = None,
    ) -> PointSets:
        """Interior and boundary points drawn reproducibly from ``seed`` (see the module).

        ``sides``: the parts that get boundary points (default: all); the others get none.
        """
        parts = self.region.parts
        streams = np.random.SeedSequence([seed, 0x9E3779B9]).spawn(1 + len(parts))
        inside = sample_interior(self.region, interior, sampler, np.random.default_rng(streams[0]))
        used = set(self.sides if sides is None else sides)
        chosen = [p for p in parts if p.name in used]
        counts = dict.fromkeys(self.sides, 0)
        if chosen and boundary:
            counts.update(
                zip(
                    (p.name for p in chosen),
                    share(boundary, [p.measure for p in chosen]),
                    strict=True,
                )
            )
        d = self.dimension
        chunks, normals, ranges, start = [], [], {}, 0
        for part, stream in zip(parts, streams[1:], strict=True):
            n = counts[part.name]
            points, normal = sample_part(
                self.region, part, n, sampler, np.random.default_rng(stream)
            )
            chunks.append(points)
            normals.append(normal)
            ranges[part.name] = (start, start + n)
            start += n
        return (
            inside,
            np.concatenate(chunks).reshape(-1, d),
            np.concatenate(normals).reshape(-1, d),
            ranges,
        )

    def sample_interior(self, n: int, sampler: str, rng: np.random.Generator) -> np.ndarray:
        """N points strictly inside the region, shape (n, d)."""
        return sample_interior(self.region, n, sampler, rng)

    def sample_side(self, side: str, n: int, sampler: str, rng: np.random.Generator) -> np.ndarray:
        """N points on one boundary part's surviving stretch, shape (n, d)."""
        points, _ = sample_part(self.region, self.region.part(side), n, sampler, rng)
        return points

    def evaluation_grid(
        self, points_per_dimension: int
    ) -> tuple[np.ndarray, tuple[int, ...], np.ndarray | None]:
        """A regular grid over the bounding box, its shape, and the mask of the closed region."""
        grid = region_grid(self.region, points_per_dimension)
        return grid.points, grid.shape, grid.mask

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Whether points (N, d) lie in the closed region (within 1e-9 of its diameter)."""
        return self.region.signed_distance(points) <= 1e-9 * self.region.diameter

    def outline(self, per_unit: float = 200.0) -> list[np.ndarray]:
        """The region's 2D boundary as polylines (K, 2), one per surviving piece of each part."""
        lines = []
        for part in self.region.parts:
            shape = self.region.shapes[part.shape]
            for piece in part.pieces:
                length = (piece.stop - piece.start) * shape.part_measure(part.index)
                count = max(2, int(np.ceil(length * per_unit / self.region.diameter)) + 1)
                u = np.linspace(piece.start, piece.stop, count)
                points, _ = shape.part_points(part.index, u[:, None])
                lines.append(points)
        return lines
