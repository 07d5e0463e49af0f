"""Interior and boundary points of a region, reproducible from a numpy Generator.

Interior: exactly n points strictly inside, drawn on the bounding box (Sobol or uniform, as
:func:`~pinn_gelu.geometry.box.unit_samples`) and kept when inside; rounds are drawn until n are
accepted, with a bounded number of candidates and a clear error for a region that fills almost
none of its box.

Boundary: a total shared among the surviving parts in proportion to their measures by largest
remainder (as :meth:`~pinn_gelu.geometry.box.Box.side_counts`), so a square with four small holes
puts its points where its length is (DeepXDE's CSG boundary sampler does not weight by length:
6 % of the points on a square holding 61 % of the boundary). Every point carries its part and the
region's exact outward normal (a hole's normal points into the hole). Corners and curve crossings
carry no point: in 2D the points are spread over each part's surviving pieces shrunk by a gap δ
at both ends (uniform in arc length); in 1D and 3D candidates on the part are kept by
:meth:`~pinn_gelu.geometry.csg.Region.classify` with that gap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pinn_gelu.errors import GeometryError
from pinn_gelu.geometry.box import unit_samples
from pinn_gelu.geometry.csg import BoundaryPart, Region

__all__ = ["BoundarySample", "sample_boundary", "sample_interior", "sample_part", "share"]

#: Relative gap (times the region's diameter) kept free of points at corners and crossings.
SAMPLE_GAP = 1e-6
#: Rounds of candidates before giving up on a region that fills little of its bounding box.
MAX_ROUNDS = 8
#: Most candidates drawn in one round.
MAX_CANDIDATES = 10_000_000


@dataclass(frozen=True)
class BoundarySample:
    """Boundary points with their parts and the region's outward normals.

    Attributes:
        points: (N, d).
        normals: (N, d) unit outward normals of the region.
        part: (N,) index into ``names`` of each point's part.
        names: the part names, e.g. ``("plate.x_min", …, "hole")``.
    """

    points: np.ndarray
    normals: np.ndarray
    part: np.ndarray
    names: tuple[str, ...]


def share(total: int, measures: Sequence[float]) -> list[int]:
    """Split ``total`` in proportion to ``measures`` by largest remainder; the counts add up.

    >>> share(10, [3.0, 1.0, 1.0])
    [6, 2, 2]
    """
    weights = np.asarray(measures, dtype=float)
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: total - counts.sum()]:
        counts[i] += 1
    return [int(c) for c in counts]


def sample_interior(region: Region, n: int, sampler: str, rng: np.random.Generator) -> np.ndarray:
    """Exactly n points strictly inside the region, shape (n, d).

    Raises:
        GeometryError: when :data:`MAX_ROUNDS` rounds of candidates do not yield n points.
    """
    lo, hi = np.array(region.bounds).T
    box_volume = float(np.prod(hi - lo))
    fraction = max(region.volume / box_volume, 1e-9)
    region.check_work(
        math.ceil(1.25 * n / fraction) + 64,
        f"drawing {n} interior points in {region.expression!r}, which fills {fraction:.2g} of "
        "its bounding box,",
    )
    accepted: list[np.ndarray] = []
    count = drawn = 0
    for _ in range(MAX_ROUNDS):
        if count >= n:
            break
        size = min(math.ceil(1.25 * (n - count) / fraction) + 64, MAX_CANDIDATES)
        candidates = lo + unit_samples(size, region.dimension, sampler, rng) * (hi - lo)
        drawn += size
        inside = candidates[region.contains(candidates)]
        accepted.append(inside)
        count += inside.shape[0]
    if count < n:
        raise GeometryError(
            f"found only {count} of {n} interior points in {drawn} candidates: the region "
            f"{region.expression!r} fills {fraction:.2g} of its bounding box"
        )
    return np.concatenate(accepted)[:n]


def sample_part(
    region: Region,
    part: BoundaryPart,
    n: int,
    sampler: str,
    rng: np.random.Generator,
    gap: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """N points on the surviving stretch of one part and the region's outward normals there.

    Args:
        region: the region.
        part: one of ``region.parts``.
        n: how many points.
        sampler: ``sobol`` or ``uniform``.
        rng: the random generator.
        gap: distance kept free at corners and crossings; default :data:`SAMPLE_GAP` times the
            region's diameter.

    Returns:
        (points (n, d), normals (n, d)).
    """
    gap = SAMPLE_GAP * region.diameter if gap is None else gap
    shape = region.shapes[part.shape]
    if n == 0:
        return np.zeros((0, region.dimension)), np.zeros((0, region.dimension))
    if not part.survives:
        raise GeometryError(f"boundary part {part.name!r} is not on the region's boundary")
    if region.dimension == 2:
        margin = gap / shape.part_measure(part.index)
        starts = np.array([p.start + margin for p in part.pieces])
        lengths = np.array([max(p.stop - p.start - 2 * margin, 0.0) for p in part.pieces])
        signs = np.array([p.sign for p in part.pieces])
        ends = np.cumsum(lengths)
        t = unit_samples(n, 1, sampler, rng)[:, 0] * ends[-1]
        which = np.minimum(np.searchsorted(ends, t, side="right"), len(ends) - 1)
        u = starts[which] + t - (ends[which] - lengths[which])
        points, normals = shape.part_points(part.index, u[:, None])
        return points, normals * signs[which, None]
    kept_points: list[np.ndarray] = []
    kept_normals: list[np.ndarray] = []
    count = 0
    surviving = part.measure / shape.part_measure(part.index)
    region.check_work(
        math.ceil(1.25 * n / surviving) + 64,
        f"drawing {n} points on part {part.name!r}, of which {surviving:.2g} is on the boundary,",
    )
    for _ in range(MAX_ROUNDS):
        if count >= n:
            break
        size = min(math.ceil(1.25 * (n - count) / surviving) + 64, MAX_CANDIDATES)
        u = unit_samples(size, region.dimension - 1, sampler, rng)
        points, normals = shape.part_points(part.index, u)
        keep, sign = region.classify(part.shape, part.index, points, normals, gap)
        kept_points.append(points[keep])
        kept_normals.append(normals[keep] * sign[keep, None])
        count += int(keep.sum())
    if count < n:
        raise GeometryError(f"found only {count} of {n} points on boundary part {part.name!r}")
    return np.concatenate(kept_points)[:n], np.concatenate(kept_normals)[:n]


def sample_boundary(
    region: Region,
    total: int,
    sampler: str,
    rng: np.random.Generator,
    parts: Sequence[str] | None = None,
) -> BoundarySample:
    """``total`` boundary points shared among parts in proportion to their measures.

    Args:
        region: the region.
        total: number of points.
        sampler: ``sobol`` or ``uniform``.
        rng: the random generator.
        parts: boundary names (``plate.x_min`` or a shape name); default: every surviving part.

    Raises:
        GeometryError: for an unknown name or a part that is not on the boundary.
    """
    if parts is None:
        chosen = region.parts
    else:
        chosen = tuple(dict.fromkeys(p for name in parts for p in region.resolve(name)))
    counts = share(total, [p.measure for p in chosen])
    samples = [sample_part(region, p, c, sampler, rng) for p, c in zip(chosen, counts, strict=True)]
    d = region.dimension
    return BoundarySample(
        points=np.concatenate([s[0] for s in samples]) if samples else np.zeros((0, d)),
        normals=np.concatenate([s[1] for s in samples]) if samples else np.zeros((0, d)),
        part=np.repeat(np.arange(len(chosen)), counts),
        names=tuple(p.name for p in chosen),
    )
