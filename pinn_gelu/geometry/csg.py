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

import ast
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
from scipy.stats import qmc

from pinn_gelu.errors import GeometryError, describe
from pinn_gelu.geometry.primitives import Shape

__all__ = ["BoundaryPart", "Piece", "Region", "RegionLimits", "parse_region"]

#: Parameter grid per 2D part on which surviving pieces are found before bisection.
PIECE_GRID = 4096
#: Midpoint grid per axis of a 3D part's parametrisation for its surviving fraction.
SURFACE_GRID = 128
#: Relative gap (times the diameter of the bounding box) within which two boundaries meet.
CLASSIFY_GAP = 1e-10
#: Cosine above which two boundaries through a point count as coincident (parallel normals).
PARALLEL = 1 - 1e-9

_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.BitAnd: "&"}
_HINTS = {
    ast.BitOr: "'|' is not allowed (use + for a union)",
    ast.Mult: "'*' is not allowed (use & for an intersection)",
}

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class RegionLimits:
    """Bounds on a region expression: characters, syntax-tree nodes, nesting depth."""

    max_length: int = 1000
    max_nodes: int = 200
    max_depth: int = 50


@dataclass(frozen=True)
class _Node:
    """A region expression tree: a shape name (op ``""``) or ``left op right``."""

    op: str
    name: str = ""
    left: _Node | None = None
    right: _Node | None = None

    def fold(self, leaf: Callable[[str], T], combine: Mapping[str, Callable[[T, T], T]]) -> T:
        if not self.op:
            return leaf(self.name)
        assert self.left is not None and self.right is not None  # built so by the parser
        return combine[self.op](self.left.fold(leaf, combine), self.right.fold(leaf, combine))

    def names(self) -> Iterator[str]:
        if not self.op:
            yield self.name
            return
        assert self.left is not None and self.right is not None
        yield from self.left.names()
        yield from self.right.names()


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
    tree: _Node = field(repr=False)
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
    def parts(self) -> tuple[BoundaryPart, ...]:
        """The parts that survive on the region's boundary."""
        return tuple(p for p in self.all_parts if p.survives)

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """A signed distance bound (N,): min for a union, max for an intersection, max(a, −b).

        Its sign is exact (negative inside); its magnitude is the exact distance near most of the
        boundary and a lower bound elsewhere, which is what a distance-function mesher needs.
        """
        points = self._checked(points)
        return self.tree.fold(lambda name: self.shapes[name].signed_distance(points), _DISTANCE)

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
    tree = _parse(expression, shapes, limits or RegionLimits(), key)
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


def _parse(text: object, shapes: Mapping[str, Shape], limits: RegionLimits, key: str) -> _Node:
    if not isinstance(text, str):
        raise GeometryError(
            f"expected a region expression such as 'a - b', got {describe(text)}", key
        )
    if len(text) > limits.max_length:
        raise GeometryError(f"region longer than {limits.max_length} characters ({len(text)})", key)
    if not text.strip():
        raise GeometryError("the region expression is empty", key)
    for name in shapes:
        if not name.isidentifier():
            raise GeometryError(f"shape name {describe(name)} is not an identifier", key)

    def fail(reason: str, node: ast.AST | None = None, column: int | None = None) -> GeometryError:
        if node is not None:
            column = getattr(node, "col_offset", -1) + 1
        where = f" at column {column}" if column else ""
        shown = text if len(text) <= 80 else text[:77] + "..."
        return GeometryError(f"{reason}{where} in {shown!r}", key)

    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise fail(f"invalid syntax ({err.msg})", column=err.offset) from None
    except (ValueError, RecursionError, MemoryError) as err:
        raise fail(f"cannot parse the region ({type(err).__name__})") from None
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree.body, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > limits.max_nodes:
            raise fail(f"region has more than {limits.max_nodes} parts")
        if depth > limits.max_depth:
            raise fail(f"region nested deeper than {limits.max_depth} levels")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))

    def build(node: ast.AST) -> _Node:
        if isinstance(node, ast.Name):
            if node.id not in shapes:
                known = ", ".join(shapes) or "none defined"
                raise fail(f"unknown shape '{node.id}' (expected one of: {known})", node)
            return _Node("", node.id)
        if isinstance(node, ast.BinOp):
            op = _OPERATORS.get(type(node.op))
            if op is None:
                hint = _HINTS.get(
                    type(node.op),
                    f"operator '{type(node.op).__name__}' is not allowed (use + for a union, "
                    "- for a difference, & for an intersection)",
                )
                raise fail(hint, node)
            return _Node(op, left=build(node.left), right=build(node.right))
        if isinstance(node, ast.Constant):
            raise fail("numbers and strings are not allowed (name shapes)", node)
        if isinstance(node, ast.Call):
            raise fail("calls are not allowed", node)
        if isinstance(node, ast.Attribute):
            raise fail("attribute access is not allowed", node)
        if isinstance(node, ast.UnaryOp):
            raise fail("unary operators are not allowed", node)
        raise fail(f"'{type(node).__name__}' is not allowed in a region", node)

    return build(tree.body)


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
