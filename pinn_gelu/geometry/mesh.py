"""Triangular meshes of 2D regions: fixed nodes on the exact boundary, force-balanced interior.

The method follows DistMesh (Persson & Strang, "A simple mesh generator in MATLAB", SIAM Review
46(2):329-345, 2004), with the boundary handled differently:

1. Boundary nodes are placed on every surviving piece of every boundary part
   (:class:`~pinn_gelu.geometry.csg.Piece`), ⌈ℓ/H⌉ segments of equal parameter length on a piece
   of length ℓ (at least 6 on a full circle), so nodes lie exactly on lines and circles. Piece
   ends (corners, where a circle meets a side) are shared by the pieces that meet there. The
   nodes stay fixed; each boundary edge keeps its part and the exact midpoint of its curve, for
   curved (isoparametric) elements.
2. Interior nodes start on an equilateral lattice of spacing H at least H/2 inside, then move
   under DistMesh's repulsive bar forces F = max(L₀ − L, 0) along each Delaunay edge, with
   L₀ = 1.2·sqrt(mean L²) (Persson & Strang's Fscale), time step 0.2, retriangulating each step;
   a node that comes within H/5 of the boundary (by the region's signed distance) is removed.
3. The final Delaunay triangulation (:class:`scipy.spatial.Delaunay`) keeps the triangles whose
   centroid lies inside the region; the mesh is checked to conform: its boundary edges are
   exactly the boundary segments of step 1.

The element count is bounded before any work (area / (0.433 H²) estimates it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import Delaunay, cKDTree

from pinn_gelu.errors import GeometryError
from pinn_gelu.geometry.csg import Region

__all__ = ["MAX_ELEMENTS", "TriangleMesh", "mesh_region"]

#: Default bound on the number of triangles a mesh may have.
MAX_ELEMENTS = 200_000


@dataclass(frozen=True, eq=False)
class TriangleMesh:
    """A triangular mesh of a 2D region with its boundary edges attributed to parts.

    Attributes:
        nodes: (N, 2) coordinates; boundary nodes lie on the exact boundary.
        triangles: (M, 3) node indices, counter-clockwise.
        boundary_edges: (K, 2) node indices of each boundary edge.
        edge_part: (K,) index into ``part_names`` of each boundary edge.
        edge_midpoints: (K, 2) the point of the exact boundary curve halfway (in its parameter)
            along each boundary edge: on a circle, on the circle.
        part_names: names of the region's surviving boundary parts.
    """

    nodes: np.ndarray
    triangles: np.ndarray
    boundary_edges: np.ndarray
    edge_part: np.ndarray
    edge_midpoints: np.ndarray
    part_names: tuple[str, ...]

    def areas(self) -> np.ndarray:
        """Signed areas (M,) of the straight-sided triangles; positive for counter-clockwise."""
        a, b, c = (self.nodes[self.triangles[:, i]] for i in range(3))
        return 0.5 * ((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0])

    def quality(self) -> np.ndarray:
        """Radius ratio q = 2 r_in / r_circ (M,): 1 for an equilateral triangle, 0 degenerate.

        With side lengths a, b, c: q = (b + c − a)(c + a − b)(a + b − c) / (a b c).
        """
        a, b, c = self._sides()
        return (b + c - a) * (c + a - b) * (a + b - c) / (a * b * c)

    def min_angles(self) -> np.ndarray:
        """Smallest interior angle of each triangle (M,), in degrees."""
        a, b, c = self._sides()
        angles = [
            np.arccos(np.clip((y**2 + z**2 - x**2) / (2 * y * z), -1, 1))
            for x, y, z in ((a, b, c), (b, c, a), (c, a, b))
        ]
        return np.degrees(np.min(angles, axis=0))

    def _sides(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = self.nodes[self.triangles]
        return tuple(
            np.linalg.norm(p[:, (i + 1) % 3] - p[:, (i + 2) % 3], axis=1) for i in range(3)
        )


def mesh_region(
    region: Region,
    size: float,
    *,
    max_elements: int = MAX_ELEMENTS,
    iterations: int = 200,
) -> TriangleMesh:
    """Mesh a 2D region with triangles of edge length about ``size``.

    Args:
        region: a 2D region.
        size: the target edge length H.
        max_elements: refuse (before meshing) when the estimated count exceeds it.
        iterations: most force-balance steps (it stops earlier when nodes move < 1e-3 H).

    Raises:
        GeometryError: for a region that is not 2D, a size that is not positive, too many
            elements, or a triangulation that does not conform to the boundary.
    """
    if region.dimension != 2:
        raise GeometryError(f"only 2D regions can be meshed, got {region.dimension}D")
    if not (math.isfinite(size) and size > 0):
        raise GeometryError(f"the mesh size must be a positive number, got {size:g}")
    estimate = region.volume / (0.433 * size**2)
    if estimate > max_elements:
        raise GeometryError(
            f"a mesh of size {size:g} would have about {estimate:.3g} triangles, more than the "
            f"limit of {max_elements} (use a larger size)"
        )
    measures = {p.name: region.shapes[p.shape].part_measure(p.index) for p in region.parts}
    boundary = sum(
        math.ceil((piece.stop - piece.start) * measures[part.name] / size)
        for part in region.parts
        for piece in part.pieces
    )
    if boundary > max_elements:
        raise GeometryError(
            f"a mesh of size {size:g} would have {boundary:,} boundary nodes, more than the "
            f"limit of {max_elements} (the region's boundary is long for its area: use a larger "
            "size)"
        )
    fixed, segments, segment_part, midpoints = _boundary(region, size)
    interior = _lattice(region, size)
    interior = _relax(region, fixed, interior, size, iterations)
    nodes = np.concatenate([fixed, interior])
    triangles = _triangulate(region, nodes, size)
    _check_conforming(triangles, segments, nodes.shape[0])
    return TriangleMesh(
        nodes, triangles, segments, segment_part, midpoints, tuple(p.name for p in region.parts)
    )


def _boundary(region: Region, size: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fixed boundary nodes, segments (pairs), their parts and exact midpoints."""
    points: list[np.ndarray] = []
    pairs: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    middles: list[np.ndarray] = []
    offset = 0
    for index, part in enumerate(region.parts):
        shape = region.shapes[part.shape]
        measure = shape.part_measure(part.index)
        for piece in part.pieces:
            span = piece.stop - piece.start
            count = max(math.ceil(span * measure / size), 6 if span == 1.0 else 1)
            u = piece.start + span * np.arange(count + 1) / count
            nodes, _ = shape.part_points(part.index, u[:, None])
            mid, _ = shape.part_points(part.index, ((u[:-1] + u[1:]) / 2)[:, None])
            points.append(nodes)
            pairs.append(offset + np.stack([np.arange(count), np.arange(1, count + 1)], 1))
            owners.append(np.full(count, index))
            middles.append(mid)
            offset += count + 1
    coordinates = np.concatenate(points)
    # piece ends meet within the classification gap (~1e-10 of the diameter): merge them
    groups = _clusters(coordinates, 1e-7 * region.diameter)
    unique, inverse = np.unique(groups, return_inverse=True)
    merged = np.zeros((unique.size, 2))
    np.add.at(merged, inverse, coordinates)
    merged /= np.bincount(inverse)[:, None]
    segments = inverse[np.concatenate(pairs)]
    return merged, segments, np.concatenate(owners), np.concatenate(middles)


def _clusters(points: np.ndarray, radius: float) -> np.ndarray:
    """A representative index for each point: points closer than ``radius`` share one."""
    parent = np.arange(points.shape[0])

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    for i, j in cKDTree(points).query_pairs(radius):
        a, b = root(i), root(j)
        parent[max(a, b)] = min(a, b)
    return np.array([root(i) for i in range(points.shape[0])])


def _lattice(region: Region, size: float) -> np.ndarray:
    """Equilateral-lattice nodes of spacing H, at least H/2 inside the region.

    The lattice covers the bounding box, which a region may fill very little of (two small
    disks far apart): its node count is checked before it is built.
    """
    (x0, x1), (y0, y1) = region.bounds
    height = size * math.sqrt(3) / 2
    nodes = (math.floor((y1 + size - y0) / height) + 1) * (math.floor((x1 - x0) / size) + 2)
    region.check_work(nodes, f"the mesher's start lattice of size {size:g}")
    rows = np.arange(y0, y1 + size, height)
    columns = np.arange(x0, x1 + size, size)
    x = columns[None, :] + (np.arange(rows.size)[:, None] % 2) * size / 2
    y = np.broadcast_to(rows[:, None], x.shape)
    points = np.stack([x.ravel(), y.ravel()], axis=1)
    return points[region.signed_distance(points) < -size / 2]


def _edges(triangles: np.ndarray) -> np.ndarray:
    pairs = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [0, 2]]])
    return np.unique(np.sort(pairs, axis=1), axis=0)


def _relax(
    region: Region, fixed: np.ndarray, interior: np.ndarray, size: float, iterations: int
) -> np.ndarray:
    """Move interior nodes by DistMesh's bar forces; the boundary nodes stay put."""
    n_fixed = fixed.shape[0]
    for _ in range(iterations):
        if interior.shape[0] == 0:
            break
        nodes = np.concatenate([fixed, interior])
        triangles = _triangulate(region, nodes, size, check=False)
        bars = _edges(triangles)
        vectors = nodes[bars[:, 0]] - nodes[bars[:, 1]]
        lengths = np.linalg.norm(vectors, axis=1)
        target = 1.2 * math.sqrt(float(np.mean(lengths**2)))
        forces = np.maximum(target - lengths, 0.0)[:, None] * vectors / lengths[:, None]
        total = np.zeros_like(nodes)
        np.add.at(total, bars[:, 0], forces)
        np.add.at(total, bars[:, 1], -forces)
        step = 0.2 * total[n_fixed:]
        interior = interior + step
        interior = interior[region.signed_distance(interior) < -size / 5]
        if np.max(np.linalg.norm(step, axis=1), initial=0.0) < 1e-3 * size:
            break
    return interior


def _triangulate(region: Region, nodes: np.ndarray, size: float, check: bool = True) -> np.ndarray:
    """Delaunay triangles with centroid inside the region and non-zero area, counter-clockwise."""
    triangles = Delaunay(nodes).simplices
    centroids = nodes[triangles].mean(axis=1)
    triangles = triangles[region.signed_distance(centroids) < -1e-3 * size]
    a, b, c = (nodes[triangles[:, i]] for i in range(3))
    area = 0.5 * ((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0])
    triangles = triangles[np.abs(area) > 1e-10 * size**2]
    area = area[np.abs(area) > 1e-10 * size**2]
    flip = area < 0
    triangles[flip] = triangles[flip][:, [0, 2, 1]]
    return triangles


def _check_conforming(triangles: np.ndarray, segments: np.ndarray, n_nodes: int) -> None:
    """The mesh's boundary edges (in one triangle) must be exactly the boundary segments."""
    pairs = np.sort(
        np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [0, 2]]]), axis=1
    )
    keys, counts = np.unique(pairs[:, 0] * n_nodes + pairs[:, 1], return_counts=True)
    outer = set(keys[counts == 1].tolist())
    wanted = set((np.sort(segments, axis=1) @ np.array([n_nodes, 1])).tolist())
    if outer != wanted or np.any(counts > 2):
        raise GeometryError(
            f"the triangulation does not conform to the boundary ({len(outer ^ wanted)} edges "
            "differ); try a smaller mesh size"
        )
