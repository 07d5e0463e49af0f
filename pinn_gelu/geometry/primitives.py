"""Primitive shapes with named boundary parts: rectangle, disk, ball, polygon.

Every shape answers the same questions, vectorised over points of shape (N, d):

- ``signed_distance(points)`` (N,): negative inside, positive outside, zero on the boundary
  (exact for rectangles, disks, balls and polygons);
- its boundary *parts*, each with a local name (a rectangle's ``x_min`` … ``z_max``, a polygon's
  ``edge0`` … ``edge{n-1}``, ``""`` for the one part of a disk or a ball), a measure (length in
  2D, area in 3D, 1 for the end points of an interval), and an area-preserving parametrisation
  ``part_points(k, u)`` of the unit cube u ∈ [0, 1]^(d-1) onto the part that also returns the
  exact outward unit normal there: a uniform u gives points uniform on the part;
- ``part_distance(k, points)``, the distance to the closed part k, and ``part_normal(k, points)``,
  its outward normal at the nearest point; :mod:`.csg` uses them to find corners and coincident
  boundaries.

:data:`SHAPES` maps a kind to its parser, which reads the value written after the kind in a
problem file (``rectangle: [[0, 1], [0, 1]]``, ``disk: {center: [0, 0], radius: 0.5}``,
``polygon: [[0, 0], [2, 0], [2, 1]]``) and raises :class:`~pinn_gelu.errors.GeometryError` naming
the key.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pinn_gelu.errors import GeometryError, describe
from pinn_gelu.expressions import VARIABLES
from pinn_gelu.numbers import yaml12_number

__all__ = ["SHAPES", "Disk", "Polygon", "Rectangle", "Shape", "parse_shape"]

#: Most vertices a polygon may have (its self-intersection check costs O(n²)).
MAX_POLYGON_VERTICES = 1000


class Shape(Protocol):
    """What :mod:`.csg`, :mod:`.sampling` and :mod:`.mesh` need of a primitive shape."""

    @property
    def dimension(self) -> int:
        """Number of coordinates d."""
        ...

    @property
    def bounds(self) -> tuple[tuple[float, float], ...]:
        """Bounding box, one (min, max) per coordinate."""
        ...

    @property
    def part_names(self) -> tuple[str, ...]:
        """Local names of the boundary parts, in a fixed order."""
        ...

    @property
    def volume(self) -> float:
        """Length, area or volume."""
        ...

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """Signed distance (N,) to the boundary, negative inside."""
        ...

    def part_measure(self, k: int) -> float:
        """Length (2D) or area (3D) of part k."""
        ...

    def part_points(self, k: int, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points (N, d) and outward normals (N, d) of part k at parameters u (N, d-1)."""
        ...

    def part_distance(self, k: int, points: np.ndarray) -> np.ndarray:
        """Distance (N,) from points to the closed part k."""
        ...

    def part_normal(self, k: int, points: np.ndarray) -> np.ndarray:
        """Outward normal (N, d) of part k at the point of the part nearest to each point."""
        ...


@dataclass(frozen=True)
class Rectangle:
    """An axis-aligned box [a₁, b₁] × … × [a_d, b_d], d = 1, 2, 3; sides x_min … z_max."""

    box: tuple[tuple[float, float], ...]

    @property
    def dimension(self) -> int:
        """Number of coordinates d."""
        return len(self.box)

    @property
    def bounds(self) -> tuple[tuple[float, float], ...]:
        """The box itself."""
        return self.box

    @property
    def part_names(self) -> tuple[str, ...]:
        """The side names x_min, x_max, y_min, … in this order."""
        return tuple(f"{v}_{end}" for v in VARIABLES[: self.dimension] for end in ("min", "max"))

    @property
    def volume(self) -> float:
        """Π (b_i − a_i)."""
        return float(np.prod([hi - lo for lo, hi in self.box]))

    def _axis(self, k: int) -> tuple[int, int]:
        return k // 2, (1 if k % 2 else -1)

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """With q = |x − centre| − half-widths: |max(q, 0)| + min(max_i q_i, 0)."""
        lo, hi = np.array(self.box).T
        q = np.abs(points - (lo + hi) / 2) - (hi - lo) / 2
        outside = np.linalg.norm(np.maximum(q, 0.0), axis=1)
        return outside + np.minimum(q.max(axis=1), 0.0)

    def part_measure(self, k: int) -> float:
        """Product of the other sides' lengths (1 in one dimension)."""
        axis, _ = self._axis(k)
        return float(np.prod([hi - lo for i, (lo, hi) in enumerate(self.box) if i != axis]))

    def part_points(self, k: int, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The side's fixed coordinate, the others affine in u; normal ±e_axis."""
        axis, sign = self._axis(k)
        others = [i for i in range(self.dimension) if i != axis]
        points = np.empty((u.shape[0], self.dimension))
        points[:, axis] = self.box[axis][1 if sign > 0 else 0]
        for j, i in enumerate(others):
            lo, hi = self.box[i]
            points[:, i] = lo + u[:, j] * (hi - lo)
        return points, self.part_normal(k, points)

    def part_distance(self, k: int, points: np.ndarray) -> np.ndarray:
        """Distance to the closed side: clamp onto the side's box."""
        axis, sign = self._axis(k)
        lo, hi = np.array(self.box).T
        nearest = np.clip(points, lo, hi)
        nearest[:, axis] = self.box[axis][1 if sign > 0 else 0]
        return np.linalg.norm(points - nearest, axis=1)

    def part_normal(self, k: int, points: np.ndarray) -> np.ndarray:
        """The constant ±e_axis."""
        axis, sign = self._axis(k)
        normal = np.zeros((points.shape[0], self.dimension))
        normal[:, axis] = sign
        return normal


@dataclass(frozen=True)
class Disk:
    """A disk (2D) or ball (3D) |x − c| ≤ r; its boundary is one part, outward normal (x − c)/r.

    The parametrisation is area-preserving: θ = 2πu on the circle; on the sphere
    z = 1 − 2u₀, φ = 2πu₁ (Archimedes' hat-box theorem).
    """

    center: tuple[float, ...]
    radius: float

    @property
    def dimension(self) -> int:
        """2 for a disk, 3 for a ball."""
        return len(self.center)

    @property
    def bounds(self) -> tuple[tuple[float, float], ...]:
        """The interval c ± r along each axis."""
        return tuple((c - self.radius, c + self.radius) for c in self.center)

    @property
    def part_names(self) -> tuple[str, ...]:
        """One part, named by the shape itself."""
        return ("",)

    @property
    def volume(self) -> float:
        """πr² or 4πr³/3."""
        r = self.radius
        return math.pi * r**2 if self.dimension == 2 else 4 * math.pi * r**3 / 3

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """|x − c| − r."""
        return np.linalg.norm(points - np.array(self.center), axis=1) - self.radius

    def part_measure(self, k: int) -> float:
        """2πr or 4πr²."""
        r = self.radius
        return 2 * math.pi * r if self.dimension == 2 else 4 * math.pi * r**2

    def part_points(self, k: int, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points c + r·n(u) and normals n(u), n the unit vector of the area-preserving map."""
        if self.dimension == 2:
            theta = 2 * math.pi * u[:, 0]
            normal = np.stack([np.cos(theta), np.sin(theta)], axis=1)
        else:
            z = 1 - 2 * u[:, 0]
            phi = 2 * math.pi * u[:, 1]
            rho = np.sqrt(np.clip(1 - z**2, 0.0, None))
            normal = np.stack([rho * np.cos(phi), rho * np.sin(phi), z], axis=1)
        return np.array(self.center) + self.radius * normal, normal

    def part_distance(self, k: int, points: np.ndarray) -> np.ndarray:
        """||x − c| − r|."""
        return np.abs(self.signed_distance(points))

    def part_normal(self, k: int, points: np.ndarray) -> np.ndarray:
        """(x − c)/|x − c| (e_x at the centre itself)."""
        offset = points - np.array(self.center)
        norm = np.linalg.norm(offset, axis=1, keepdims=True)
        at_centre = norm[:, 0] == 0
        offset[at_centre] = np.eye(self.dimension)[0]
        norm[at_centre] = 1.0
        return offset / norm


@dataclass(frozen=True)
class Polygon:
    """A simple polygon (either orientation); edge k joins vertex k and vertex k+1 (mod n).

    The signed distance is the distance to the nearest edge, negative where the even-odd rule
    (a ray crossing count) says inside. Outward normals are the edge directions turned by −90°
    for a counter-clockwise polygon, +90° for a clockwise one.
    """

    vertices: tuple[tuple[float, float], ...]

    @property
    def dimension(self) -> int:
        """Always 2."""
        return 2

    @property
    def _array(self) -> np.ndarray:
        return np.array(self.vertices, dtype=float)

    @property
    def _signed_area(self) -> float:
        v = self._array
        w = np.roll(v, -1, axis=0)
        return float(0.5 * np.sum(v[:, 0] * w[:, 1] - w[:, 0] * v[:, 1]))

    @property
    def bounds(self) -> tuple[tuple[float, float], ...]:
        """Smallest box around the vertices."""
        v = self._array
        return tuple((float(v[:, i].min()), float(v[:, i].max())) for i in range(2))

    @property
    def part_names(self) -> tuple[str, ...]:
        """The edge names edge0, edge1, … in this order."""
        return tuple(f"edge{k}" for k in range(len(self.vertices)))

    @property
    def volume(self) -> float:
        """The shoelace area |½ Σ (x_k y_{k+1} − x_{k+1} y_k)|."""
        return abs(self._signed_area)

    def _edge(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.vertices)
        return np.array(self.vertices[k], float), np.array(self.vertices[(k + 1) % n], float)

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """Distance to the nearest edge, negative inside (even-odd rule)."""
        distance = np.min([self.part_distance(k, points) for k in range(len(self.vertices))], 0)
        inside = np.zeros(points.shape[0], dtype=bool)
        x, y = points[:, 0], points[:, 1]
        for k in range(len(self.vertices)):
            (x0, y0), (x1, y1) = self._edge(k)
            if y0 == y1:
                continue
            straddles = (y0 > y) != (y1 > y)
            crossing = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
            inside ^= straddles & (x < crossing)
        return np.where(inside, -distance, distance)

    def part_measure(self, k: int) -> float:
        """Edge length."""
        a, b = self._edge(k)
        return float(np.linalg.norm(b - a))

    def part_points(self, k: int, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points a + u (b − a) on edge k = (a, b), and its normal."""
        a, b = self._edge(k)
        points = a + u[:, :1] * (b - a)
        return points, self.part_normal(k, points)

    def part_distance(self, k: int, points: np.ndarray) -> np.ndarray:
        """Distance to the segment: clamp the projection parameter to [0, 1]."""
        a, b = self._edge(k)
        t = np.clip((points - a) @ (b - a) / float((b - a) @ (b - a)), 0.0, 1.0)
        return np.linalg.norm(points - (a + t[:, None] * (b - a)), axis=1)

    def part_normal(self, k: int, points: np.ndarray) -> np.ndarray:
        """The edge's constant outward normal."""
        a, b = self._edge(k)
        d = (b - a) / np.linalg.norm(b - a)
        normal = np.array([d[1], -d[0]]) if self._signed_area > 0 else np.array([-d[1], d[0]])
        return np.broadcast_to(normal, points.shape).copy()


# --- parsers: the value written after the kind in a problem file -------------------------------


#: Largest magnitude of a shape's coordinate or radius (as for a rectangle domain's bounds).
MAX_COORDINATE = 1e6


def _number(value: object, key: str) -> float:
    value = yaml12_number(value)  # 3e-1 is a number, as everywhere in a problem file
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GeometryError(f"expected a number, got {describe(value)}", key)
    number = float(value)
    if not math.isfinite(number):
        raise GeometryError(f"expected a finite number, got {number:g}", key)
    if abs(number) > MAX_COORDINATE:
        raise GeometryError(f"coordinates must lie within [-1e6, 1e6], got {number:g}", key)
    return number


def _point(value: object, key: str, dimensions: tuple[int, ...]) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or len(value) not in dimensions:
        sizes = " or ".join(str(d) for d in dimensions)
        raise GeometryError(f"expected a list of {sizes} numbers, got {describe(value)}", key)
    return tuple(_number(c, f"{key}[{i}]") for i, c in enumerate(value))


def _mapping(value: object, key: str, keys: tuple[str, ...]) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise GeometryError(
            f"expected a mapping with keys {', '.join(keys)}, got {describe(value)}", key
        )
    unknown = [k for k in value if k not in keys]
    if unknown:
        raise GeometryError(
            f"unknown key {describe(unknown[0])} (expected: {', '.join(keys)})", key
        )
    missing = [k for k in keys if k not in value]
    if missing:
        raise GeometryError(f"missing key '{missing[0]}' (expected: {', '.join(keys)})", key)
    return value


def parse_rectangle(value: object, key: str = "rectangle") -> Rectangle:
    """``[[x_min, x_max], [y_min, y_max], …]``: 1 to 3 intervals with min < max."""
    if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= 3:
        raise GeometryError(
            f"expected 1 to 3 intervals [[x_min, x_max], ...], got {describe(value)}", key
        )
    box = []
    for i, interval in enumerate(value):
        lo, hi = _point(interval, f"{key}[{i}]", (2,))
        if not lo < hi:
            raise GeometryError(f"expected min < max, got [{lo:g}, {hi:g}]", f"{key}[{i}]")
        box.append((lo, hi))
    return Rectangle(tuple(box))


def _parse_round(value: object, key: str, dimension: int) -> Disk:
    kind, other = ("disk", "ball") if dimension == 2 else ("ball", "disk")
    spec = _mapping(value, key, ("center", "radius"))
    center = spec["center"]
    if isinstance(center, (list, tuple)) and len(center) in (2, 3) and len(center) != dimension:
        raise GeometryError(
            f"a {kind} is {dimension}-dimensional: center needs {dimension} coordinates, got "
            f"{len(center)} (use {other} in {len(center)}D)",
            f"{key}.center",
        )
    point = _point(center, f"{key}.center", (dimension,))
    radius = _number(spec["radius"], f"{key}.radius")
    if radius < 1e-6 * max(1.0, *(abs(c) for c in point)):
        raise GeometryError(
            f"the radius must be positive and at least 1e-6 of the centre's coordinates, got "
            f"{radius:g}",
            f"{key}.radius",
        )
    return Disk(point, radius)


def parse_disk(value: object, key: str = "disk") -> Disk:
    """``{center: [cx, cy], radius: r}``, r > 0."""
    return _parse_round(value, key, 2)


def parse_ball(value: object, key: str = "ball") -> Disk:
    """``{center: [cx, cy, cz], radius: r}``, r > 0."""
    return _parse_round(value, key, 3)


def parse_polygon(value: object, key: str = "polygon") -> Polygon:
    """``[[x0, y0], [x1, y1], …]``: at least 3 distinct vertices of a simple polygon.

    Rejected: fewer than 3 or more than :data:`MAX_POLYGON_VERTICES` vertices, a repeated vertex,
    zero area, and edges that cross or touch (other than neighbours at their shared vertex).
    """
    if not isinstance(value, (list, tuple)) or not 3 <= len(value) <= MAX_POLYGON_VERTICES:
        raise GeometryError(
            f"expected a list of 3 to {MAX_POLYGON_VERTICES} vertices [[x, y], ...], "
            f"got {describe(value)}",
            key,
        )
    vertices = tuple(_point(v, f"{key}[{i}]", (2,)) for i, v in enumerate(value))
    v = np.array(vertices)
    scale = float(np.ptp(v, axis=0).max())
    for i in range(len(v)):
        same = np.flatnonzero(np.all(v[i + 1 :] == v[i], axis=1))
        if same.size:
            raise GeometryError(f"vertex {i + 1 + same[0]} repeats vertex {i} {vertices[i]}", key)
    polygon = Polygon(tuple((x, y) for x, y in vertices))
    if polygon.volume <= 1e-12 * scale**2:
        raise GeometryError("the polygon is degenerate (zero area)", key)
    crossing = _first_crossing(v, 1e-12 * scale)
    if crossing is not None:
        i, j = crossing
        raise GeometryError(
            f"the polygon intersects itself: edge{i} and edge{j} cross or touch", key
        )
    return polygon


def _first_crossing(v: np.ndarray, tol: float) -> tuple[int, int] | None:
    """The first pair of edges (i < j) that intersect other than at a shared end, or None."""
    n = len(v)
    a, b = v, np.roll(v, -1, axis=0)
    i, j = np.triu_indices(n, 1)
    adjacent = (j == i + 1) | ((i == 0) & (j == n - 1))

    def orient(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:
        value = (q[:, 0] - p[:, 0]) * (r[:, 1] - p[:, 1]) - (q[:, 1] - p[:, 1]) * (
            r[:, 0] - p[:, 0]
        )
        scale = np.linalg.norm(q - p, axis=1) * tol
        return np.where(np.abs(value) <= scale, 0, np.sign(value))

    def on_segment(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:
        """Whether r lies within the box of segment pq (used when p, q, r are collinear)."""
        lo, hi = np.minimum(p, q) - tol, np.maximum(p, q) + tol
        return np.all((r >= lo) & (r <= hi), axis=1)

    p1, q1, p2, q2 = a[i], b[i], a[j], b[j]
    o1, o2 = orient(p1, q1, p2), orient(p1, q1, q2)
    o3, o4 = orient(p2, q2, p1), orient(p2, q2, q1)
    proper = (o1 * o2 < 0) & (o3 * o4 < 0)
    touching = (
        ((o1 == 0) & on_segment(p1, q1, p2))
        | ((o2 == 0) & on_segment(p1, q1, q2))
        | ((o3 == 0) & on_segment(p2, q2, p1))
        | ((o4 == 0) & on_segment(p2, q2, q1))
    )
    # neighbours share a vertex; they intersect elsewhere only when collinear and folding back
    fold = adjacent & (o1 == 0) & (o2 == 0) & (np.sum((q1 - p1) * (q2 - p2), axis=1) < 0)
    bad = (~adjacent & (proper | touching)) | fold
    hits = np.flatnonzero(bad)
    return None if hits.size == 0 else (int(i[hits[0]]), int(j[hits[0]]))


#: Shape kind → parser of the value written after it in a problem file.
SHAPES: Mapping[str, Callable[[object, str], Shape]] = {
    "ball": parse_ball,
    "disk": parse_disk,
    "polygon": parse_polygon,
    "rectangle": parse_rectangle,
}


def parse_shape(spec: object, key: str) -> Shape:
    """A shape from its problem-file form ``{kind: value}``, e.g. ``{disk: {center: …}}``.

    Raises:
        GeometryError: naming ``key`` (or a key below it) for an unknown kind or a bad value.
    """
    kinds = ", ".join(sorted(SHAPES))
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise GeometryError(
            f"expected one shape kind as the only key ({kinds}), got {describe(spec)}", key
        )
    ((kind, value),) = spec.items()
    if kind not in SHAPES:
        raise GeometryError(f"unknown shape {describe(kind)} (expected one of: {kinds})", key)
    return SHAPES[kind](value, f"{key}.{kind}")
