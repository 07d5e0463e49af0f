"""Regions by constructive solid geometry: ``"plate - hole"``, ``"a + b"``, ``"a & (b - c)"``.

A region expression combines named shapes (:mod:`.primitives`) with ``+`` (union), ``-``
(difference) and ``&`` (intersection) and parentheses; ``-`` and ``+`` bind as in arithmetic and
``&`` binds looser than both (Python's precedence). The text is parsed with :func:`ast.parse`
(which runs nothing) through a whitelist, and is bounded in length, node count and depth.

**Boundary parts.** Every part of every shape (``plate.x_min``, ``ell.edge3``, a disk ``hole``)
is a candidate; a point x on part k of shape S with outward normal n is on the region's boundary
when the region, evaluated with S's membership switched, differs on the two sides of S at x:
inside(S = in) ≠ inside(S = out), every other shape T taking its membership from the sign of its
signed distance. The region's outward normal is +n where the region lies on S's inner side and −n
otherwise; a hole's normal therefore points into the hole. Where x also lies on T's boundary
(within a gap δ):

- on a corner of T, a corner of S (the end of its own part) or a transversal crossing of the
  two boundaries, the point is *dropped*: corners and curve intersections carry no point and no
  ambiguous normal;
- where the two boundaries coincide (parallel normals), T's membership follows S's sides, and the
  stretch belongs to the shape that comes first in the expression, so it is counted once.

**Measures.** In 2D each part is a curve with an arc-length parameter u ∈ [0, 1]; the surviving
set is a union of *pieces* [u₀, u₁], found on a grid of :data:`PIECE_GRID` + 1 parameter values
and located by bisection to machine precision, so the measure Σ (u₁ − u₀)·|part| is exact up to
the gap δ (pieces shorter than 1/:data:`PIECE_GRID` of the part are missed). In 1D a part is a
point (measure 1 if it survives). In 3D the measure is estimated as the surviving fraction of a
:data:`SURFACE_GRID`² midpoint grid of the part's area-preserving parametrisation times the
part's area (error about the part's surviving perimeter over the grid size). The 2D area is exact
by the divergence theorem, |Ω| = ½ ∮ x·n ds, summed with Gauss–Legendre over the pieces; 1D and 3D
volumes are quasi-Monte Carlo estimates from 2¹⁴ Sobol points in the bounding box.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import qmc

from pinn_gelu.errors import GeometryError, describe
from pinn_gelu.geometry.primitives import Shape
from pinn_gelu.geometry.region_syntax import Node, RegionLimits, parse_region_text

__all__ = ["BoundaryPart", "Piece", "Region", "RegionLimits", "parse_region"]

#: Parameter grid per 2D part on which surviving pieces are found before bisection.
PIECE_GRID = 4096
#: Midpoint grid per axis of a 3D part's parametrisation for its surviving fraction.
SURFACE_GRID = 128
#: Relative gap (times the diameter of the bounding box) within which two boundaries meet.
CLASSIFY_GAP = 1e-10
#: Cosine above which two boundaries through a point count as coincident (parallel normals).
PARALLEL = 1 - 1e-9

#: Most points at which one geometry task (sampling candidates, a mesher's start lattice, a
#: validation grid) computes the signed distance; measured: 2·10⁷ points of two disks take 10 s.
MAX_GEOMETRY_POINTS = 20_000_000
#: Most point × shape evaluations of one geometry task (a shape used k times counts k times).
MAX_DISTANCE_EVALUATIONS = 100_000_000
#: Points per block of a signed-distance evaluation: bounds the temporaries' memory, and keeps
#: Ctrl-C responsive (Python handles a signal between blocks).
DISTANCE_BLOCK = 65_536

_MEMBERSHIP: Mapping[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": lambda a, b: a | b,
    "-": lambda a, b: a & ~b,
    "&": lambda a, b: a & b,
}
_DISTANCE: Mapping[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": np.minimum,
    "-": lambda a, b: np.maximum(a, -b),
    "&": np.maximum,
}


@dataclass(frozen=True)
class Piece:
    """A surviving stretch [start, stop] of a 2D part's parameter; sign +1 or −1 orients it."""

    start: float
    stop: float
    sign: float


@dataclass(frozen=True)
class BoundaryPart:
    """One part of one shape and what survives of it on the region's boundary.

    Attributes:
        name: ``shape.side`` / ``shape.edgeK``, or the shape's name for a disk or a ball.
        shape: the shape's name.
        index: the part's index among the shape's parts.
        measure: length (2D) or area (3D) on the region's boundary; 0 if nothing survives.
        pieces: in 2D, the surviving parameter intervals with their orientation.
    """

    name: str
    shape: str
    index: int
    measure: float
    pieces: tuple[Piece, ...] = ()

    @property
    def survives(self) -> bool:
        """Whether any of the part lies on the region's boundary."""
        return self.measure > 0


@dataclass(frozen=True, eq=False)
class Region:
    """A region built from named shapes; make one with :func:`parse_region`.

    Attributes:
        expression: the region expression, e.g. ``"plate - hole"``.
        shapes: the shapes it uses, in order of first appearance in the expression.
        all_parts: every part of every shape, surviving or not, in that order.
        bounds: a bounding box, one (min, max) per coordinate.
        volume: length, area (exact in 2D) or volume (estimated in 1D and 3D).
    """

    expression: str
    shapes: Mapping[str, Shape]
    tree: Node = field(repr=False)
    all_parts: tuple[BoundaryPart, ...] = field(repr=False, default=())
    bounds: tuple[tuple[float, float], ...] = ()
    volume: float = 0.0

    @property
    def dimension(self) -> int:
        """Number of coordinates d."""
        return len(self.bounds)

    @property
    def diameter(self) -> float:
        """Diagonal of the bounding box."""
        return math.hypot(*(hi - lo for lo, hi in self.bounds))

    @property
    def leaves(self) -> int:
        """Shapes in the expression, a shape used k times counted k times."""
        return sum(1 for _ in self.tree.names())

    def check_work(self, points: int, what: str) -> None:
        """Refuse, before computing, a task that needs the signed distance at ``points`` points.

        Raises:
            GeometryError: over :data:`MAX_GEOMETRY_POINTS` points or
                :data:`MAX_DISTANCE_EVALUATIONS` point × shape evaluations, with the numbers.
        """
        evaluations = points * self.leaves
        if points > MAX_GEOMETRY_POINTS or evaluations > MAX_DISTANCE_EVALUATIONS:
            raise GeometryError(
                f"{what} needs the signed distance at {points:,} points ({evaluations:,} "
                f"evaluations of its {self.leaves} shapes), more than the bound of "
                f"{MAX_GEOMETRY_POINTS:,} points and {MAX_DISTANCE_EVALUATIONS:,} evaluations"
            )

    @property
    def parts(self) -> tuple[BoundaryPart, ...]:
        """The parts that survive on the region's boundary."""
        return tuple(p for p in self.all_parts if p.survives)

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """A signed distance bound (N,): min for a union, max for an intersection, max(a, −b).

        Its sign is exact (negative inside); its magnitude is the exact distance near most of the
        boundary and a lower bound elsewhere, which is what a distance-function mesher needs.
        """
        points = self._checked(points)

        def block(chunk: np.ndarray) -> np.ndarray:
            return self.tree.fold(lambda name: self.shapes[name].signed_distance(chunk), _DISTANCE)

        if points.shape[0] <= DISTANCE_BLOCK:
            return block(points)
        starts = range(0, points.shape[0], DISTANCE_BLOCK)
        return np.concatenate([block(points[i : i + DISTANCE_BLOCK]) for i in starts])

    def contains(self, points: np.ndarray, tol: float | None = None) -> np.ndarray:
        """Whether points (N, d) lie strictly inside, at least ``tol`` from the boundary (N,).

        ``tol`` defaults to 1e-12 times the diameter, so points on the boundary are outside.
        """
        tol = 1e-12 * self.diameter if tol is None else tol
        return self.signed_distance(points) < -tol

    def part(self, name: str) -> BoundaryPart:
        """The part of that name, surviving or not; GeometryError listing the names if unknown."""
        for p in self.all_parts:
            if p.name == name:
                return p
        valid = ", ".join(p.name for p in self.all_parts)
        raise GeometryError(f"unknown boundary part {describe(name)} (expected one of: {valid})")

    def resolve(self, name: str) -> tuple[BoundaryPart, ...]:
        """The surviving parts a boundary name stands for: ``plate.x_min``, or ``plate``.

        A shape's name stands for all its surviving parts (the disk ``hole``: its one part).

        Raises:
            GeometryError: for an unknown name (listing the valid ones) or a name of which
                nothing lies on the region's boundary.
        """
        where = f"the boundary of the region {self.expression!r}"
        if name in self.shapes:
            parts = tuple(p for p in self.all_parts if p.shape == name)
            surviving = tuple(p for p in parts if p.survives)
            if not surviving:
                raise GeometryError(f"no part of shape {name!r} lies on {where}")
            return surviving
        part = self.part(name) if "." in name else None
        if part is None:
            valid = [*self.shapes, *(p.name for p in self.parts if p.name not in self.shapes)]
            raise GeometryError(
                f"unknown boundary part {describe(name)} (expected one of: {', '.join(valid)})"
            )
        if not part.survives:
            raise GeometryError(
                f"boundary part {name!r} does not lie on {where} (it is inside another shape "
                "or cut away)"
            )
        return (part,)

    def classify(
        self, shape: str, k: int, points: np.ndarray, normals: np.ndarray, gap: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Which points of part k of a shape lie on the region's boundary, and their sign.

        Args:
            shape: the shape's name.
            k: the part's index.
            points: (N, d) points on the part.
            normals: (N, d) the part's outward normals there.
            gap: distance within which two boundaries meet (corners, crossings).

        Returns:
            (keep (N,) bool, sign (N,) ±1): the region's outward normal is ``sign * normals``.
        """
        owner = self.shapes[shape]
        order = list(self.shapes)
        drop = np.zeros(points.shape[0], dtype=bool)
        for q in range(len(owner.part_names)):
            if q != k:
                drop |= owner.part_distance(q, points) < gap
        inner: dict[str, np.ndarray] = {shape: np.ones(points.shape[0], dtype=bool)}
        outer: dict[str, np.ndarray] = {shape: np.zeros(points.shape[0], dtype=bool)}
        for name, other in self.shapes.items():
            if name == shape:
                continue
            inside = other.signed_distance(points) < 0
            distances = np.stack(
                [other.part_distance(q, points) for q in range(len(other.part_names))], axis=1
            )
            near = distances < gap
            one = near.sum(axis=1) == 1
            drop |= near.sum(axis=1) >= 2
            nearest = distances.argmin(axis=1)
            cosine = np.zeros(points.shape[0])
            for q in np.unique(nearest[one]):
                rows = one & (nearest == q)
                cosine[rows] = np.sum(other.part_normal(q, points[rows]) * normals[rows], axis=1)
            same, opposite = one & (cosine > PARALLEL), one & (cosine < -PARALLEL)
            drop |= one & ~(same | opposite)
            if order.index(name) < order.index(shape):
                drop |= same | opposite
            inner[name] = np.where(same, True, np.where(opposite, False, inside))
            outer[name] = np.where(same, False, np.where(opposite, True, inside))
        a = self.tree.fold(lambda n: inner[n], _MEMBERSHIP)
        b = self.tree.fold(lambda n: outer[n], _MEMBERSHIP)
        return ~drop & (a != b), np.where(a, 1.0, -1.0)

    def _checked(self, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, dtype=float)
        if points.ndim != 2 or points.shape[1] != self.dimension:
            raise ValueError(
                f"expected points of shape (N, {self.dimension}), got {tuple(points.shape)}"
            )
        return points


def parse_region(
    expression: str,
    shapes: Mapping[str, Shape],
    limits: RegionLimits | None = None,
    key: str = "region",
) -> Region:
    """Parse a region expression over named shapes and find its boundary parts.

    Args:
        expression: e.g. ``"plate - hole"``.
        shapes: name → shape; names must be Python identifiers.
        limits: bounds on the expression; default :class:`RegionLimits()`.
        key: where the expression was written, for messages.

    Raises:
        GeometryError: for text outside the grammar (with its column), an unknown shape, shapes
            of different dimensions, or an empty region.
    """
    tree = parse_region_text(expression, shapes, limits or RegionLimits(), key)
    order = list(dict.fromkeys(tree.names()))
    used = {name: shapes[name] for name in order}
    dimensions = {shape.dimension for shape in used.values()}
    if len(dimensions) > 1:
        listed = ", ".join(f"{n} ({s.dimension}D)" for n, s in used.items())
        raise GeometryError(f"the shapes have different dimensions: {listed}", key)
    bounds = tree.fold(lambda n: used[n].bounds, _BOUNDS)
    if bounds is None:
        raise GeometryError(f"the region {expression!r} is empty (no overlap)", key)
    region = Region(expression, used, tree, (), bounds, 0.0)
    grid = {1: 1, 2: PIECE_GRID + 1, 3: SURFACE_GRID**2}[len(bounds)] if len(bounds) <= 3 else 1
    count = sum(len(shape.part_names) for shape in used.values())
    try:
        region.check_work(count * grid, f"finding the {count} boundary parts of {expression!r}")
    except GeometryError as err:
        raise GeometryError(err.reason, key) from None
    parts = tuple(_boundary_parts(region))
    volume = _volume(region, parts)
    if not any(p.survives for p in parts) or volume <= 1e-12 * region.diameter ** len(bounds):
        raise GeometryError(f"the region {expression!r} is empty", key)
    return Region(expression, used, tree, parts, bounds, volume)


Bounds = tuple[tuple[float, float], ...] | None


def _hull(a: Bounds, b: Bounds) -> Bounds:
    if a is None or b is None:
        return a if b is None else b
    return tuple((min(p[0], q[0]), max(p[1], q[1])) for p, q in zip(a, b, strict=True))


def _overlap(a: Bounds, b: Bounds) -> Bounds:
    if a is None or b is None:
        return None
    box = tuple((max(p[0], q[0]), min(p[1], q[1])) for p, q in zip(a, b, strict=True))
    return None if any(lo >= hi for lo, hi in box) else box


_BOUNDS: Mapping[str, Callable[[Bounds, Bounds], Bounds]] = {
    "+": _hull,
    "-": lambda a, b: a,
    "&": _overlap,
}


def _part_name(shape: str, local: str) -> str:
    return f"{shape}.{local}" if local else shape


def _boundary_parts(region: Region) -> Iterator[BoundaryPart]:
    gap = CLASSIFY_GAP * region.diameter
    for name, shape in region.shapes.items():
        for k, local in enumerate(shape.part_names):
            full = _part_name(name, local)
            if region.dimension == 2:
                pieces = _pieces(region, name, k, gap)
                length = sum(p.stop - p.start for p in pieces)
                yield BoundaryPart(full, name, k, length * shape.part_measure(k), pieces)
            elif region.dimension == 1:
                points, normals = shape.part_points(k, np.zeros((1, 0)))
                keep, _ = region.classify(name, k, points, normals, gap)
                yield BoundaryPart(full, name, k, float(keep[0]) * shape.part_measure(k))
            else:
                m = SURFACE_GRID
                axis = (np.arange(m) + 0.5) / m
                u = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
                points, normals = shape.part_points(k, u)
                keep, _ = region.classify(name, k, points, normals, gap)
                yield BoundaryPart(full, name, k, float(keep.mean()) * shape.part_measure(k))


def _pieces(region: Region, name: str, k: int, gap: float) -> tuple[Piece, ...]:
    """Surviving parameter intervals of a 2D part, ends located by bisection."""
    shape = region.shapes[name]

    def state(u: np.ndarray) -> np.ndarray:
        """0 where dropped, ±1 the orientation where on the boundary."""
        points, normals = shape.part_points(k, u[:, None])
        keep, sign = region.classify(name, k, points, normals, gap)
        return np.where(keep, sign, 0.0)

    u = np.linspace(0.0, 1.0, PIECE_GRID + 1)
    s = state(u)
    changes = np.flatnonzero(s[1:] != s[:-1])
    lo, hi = u[changes], u[changes + 1]
    left, right = s[changes], s[changes + 1]
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        at_left = state(mid) == left
        lo, hi = np.where(at_left, mid, lo), np.where(at_left, hi, mid)
    cuts = np.concatenate([[0.0], 0.5 * (lo + hi), [1.0]])
    values = np.concatenate([[s[0]], right])
    return tuple(
        Piece(float(a), float(b), float(v))
        for a, b, v in zip(cuts[:-1], cuts[1:], values, strict=True)
        if v != 0 and b > a
    )


def _volume(region: Region, parts: tuple[BoundaryPart, ...]) -> float:
    """Exact 2D area by ½∮ x·n ds over the pieces; QMC estimate otherwise."""
    if region.dimension == 2:
        nodes, weights = np.polynomial.legendre.leggauss(48)
        total = 0.0
        for part in parts:
            shape = region.shapes[part.shape]
            for piece in part.pieces:
                u = piece.start + (piece.stop - piece.start) * (nodes + 1) / 2
                points, normals = shape.part_points(part.index, u[:, None])
                integrand = np.sum(points * normals, axis=1) * piece.sign
                total += (
                    0.25
                    * (piece.stop - piece.start)
                    * float(weights @ integrand)
                    * (shape.part_measure(part.index))
                )
        return total
    lo, hi = np.array(region.bounds).T
    unit = qmc.Sobol(region.dimension, scramble=True, rng=np.random.default_rng(0)).random_base2(14)
    inside = region.contains(lo + unit * (hi - lo))
    return float(inside.mean() * np.prod(hi - lo))
