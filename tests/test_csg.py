"""Shapes, CSG regions, their boundary parts, sampling, grids and meshes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pinn_gelu.errors import GeometryError
from pinn_gelu.geometry import Box
from pinn_gelu.geometry.csg import Region, parse_region
from pinn_gelu.geometry.grids import region_grid
from pinn_gelu.geometry.mesh import mesh_region
from pinn_gelu.geometry.primitives import parse_shape
from pinn_gelu.geometry.sampling import sample_boundary, sample_interior, share

HOLES = [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)]


def shapes(**specs: object) -> dict:
    return {name: parse_shape(spec, f"shapes.{name}") for name, spec in specs.items()}


def quarter_plate() -> Region:
    return parse_region(
        "plate - hole",
        shapes(
            plate={"rectangle": [[0, 4], [0, 4]]},
            hole={"disk": {"center": [0, 0], "radius": 1}},
        ),
    )


def ell() -> Region:
    return parse_region(
        "ell", shapes(ell={"polygon": [[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]]})
    )


def annulus() -> Region:
    return parse_region(
        "outer - inner",
        shapes(
            outer={"disk": {"center": [0.5, -0.25], "radius": 1}},
            inner={"disk": {"center": [0.5, -0.25], "radius": 0.5}},
        ),
    )


def square_with_holes() -> Region:
    specs: dict[str, object] = {"sq": {"rectangle": [[0, 1], [0, 1]]}}
    specs.update({f"h{i}": {"disk": {"center": c, "radius": 0.1}} for i, c in enumerate(HOLES)})
    return parse_region("sq - h0 - h1 - h2 - h3", shapes(**specs))


DOMAINS = {
    "quarter_plate": quarter_plate,
    "ell": ell,
    "annulus": annulus,
    "square_with_holes": square_with_holes,
}


# --- measures: 2D pieces are exact up to the classification gap (1e-10 of the diameter) --------


def test_quarter_plate_parts_and_area() -> None:
    region = quarter_plate()
    measures = {p.name: p.measure for p in region.all_parts}
    expected = {"plate.x_min": 3, "plate.x_max": 4, "plate.y_min": 3, "plate.y_max": 4}
    for name, value in expected.items():
        assert measures[name] == pytest.approx(value, abs=1e-8)
    assert measures["hole"] == pytest.approx(math.pi / 2, abs=1e-8)
    assert region.volume == pytest.approx(16 - math.pi / 4, abs=1e-8)
    assert region.bounds == ((0, 4), (0, 4))


def test_union_intersection_difference() -> None:
    s = shapes(a={"rectangle": [[0, 2], [0, 1]]}, b={"rectangle": [[0, 1], [0, 2]]})
    union = parse_region("a + b", s)
    assert union.volume == pytest.approx(3, abs=1e-8)
    # the shared stretch of x = 0 and y = 0 belongs to the shape named first: counted once
    assert sum(p.measure for p in union.parts) == pytest.approx(8, abs=1e-8)
    assert union.part("b.y_min").measure == 0
    assert union.part("b.x_min").measure == pytest.approx(1, abs=1e-8)
    both = parse_region("a & b", s)
    assert both.volume == pytest.approx(1, abs=1e-8)
    assert {p.name for p in both.parts} == {"a.x_min", "a.y_min", "a.y_max", "b.x_max"}
    assert both.bounds == ((0, 1), (0, 1))
    minus = parse_region("a - b", s)
    assert minus.volume == pytest.approx(1, abs=1e-8)
    assert minus.part("b.x_max").measure == pytest.approx(1, abs=1e-8)
    with pytest.raises(GeometryError, match="the region 'a & \\(b - a\\)' is empty"):
        parse_region("a & (b - a)", s)
    x = np.array([[0.5, 0.5], [1.5, 0.5], [0.5, 1.5], [1.5, 1.5]])
    assert union.contains(x).tolist() == [True, True, True, False]
    assert both.contains(x).tolist() == [True, False, False, False]
    assert minus.contains(x).tolist() == [False, True, False, False]


def test_region_from_the_brief_parses_with_precedence() -> None:
    s = shapes(
        a={"rectangle": [[0, 3], [0, 3]]},
        b={"rectangle": [[1, 4], [1, 4]]},
        c={"disk": {"center": [2, 2], "radius": 0.5}},
    )
    region = parse_region("a & (b - c)", s)
    assert region.volume == pytest.approx(4 - math.pi * 0.25, abs=1e-8)
    assert region.part("c").measure == pytest.approx(math.pi, abs=1e-8)


def test_three_dimensional_cube_minus_ball() -> None:
    s = shapes(
        cube={"rectangle": [[0, 1], [0, 1], [0, 1]]},
        ball={"ball": {"center": [1, 1, 1], "radius": 0.5}},
    )
    region = parse_region("cube - ball", s)
    # an eighth of the sphere; the grid estimate of a face is within 1/128 of its area
    assert region.part("ball").measure == pytest.approx(math.pi / 8 * 4 * 0.25, rel=1e-3)
    assert region.part("cube.x_max").measure == pytest.approx(1 - math.pi / 16, abs=1 / 128)
    assert region.volume == pytest.approx(1 - math.pi / 48, abs=0.01)  # QMC, 2^14 points
    points = sample_interior(region, 500, "sobol", np.random.default_rng(0))
    assert points.shape == (500, 3) and region.contains(points).all()
    boundary = sample_boundary(region, 400, "uniform", np.random.default_rng(0))
    on_ball = boundary.points[boundary.part == boundary.names.index("ball")]
    normals = boundary.normals[boundary.part == boundary.names.index("ball")]
    assert np.abs(normals - (1 - on_ball) / 0.5).max() < 1e-12


# --- sampling ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_interior_points_count_inside_and_reproducible(name: str) -> None:
    region = DOMAINS[name]()
    for sampler in ("sobol", "uniform"):
        points = sample_interior(region, 777, sampler, np.random.default_rng(3))
        assert points.shape == (777, 2)
        assert region.contains(points).all()
        again = sample_interior(region, 777, sampler, np.random.default_rng(3))
        np.testing.assert_array_equal(points, again)


@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_boundary_points_on_their_parts_with_unit_normals(name: str) -> None:
    region = DOMAINS[name]()
    sample = sample_boundary(region, 1001, "sobol", np.random.default_rng(5))
    assert sample.points.shape == (1001, 2) == sample.normals.shape
    assert np.abs(np.linalg.norm(sample.normals, axis=1) - 1).max() < 1e-12
    # on the region's boundary: signed distance 0 (float64 rounding of cos/sin: 1e-12)
    assert np.abs(region.signed_distance(sample.points)).max() < 1e-12
    # the normal points out: a small step along it leaves the region, against it enters
    step = 1e-4
    assert not region.contains(sample.points + step * sample.normals).any()
    assert region.contains(sample.points - step * sample.normals).all()
    # each point lies on its own part
    for k, part_name in enumerate(sample.names):
        part = region.part(part_name)
        shape = region.shapes[part.shape]
        mine = sample.points[sample.part == k]
        assert np.abs(shape.part_distance(part.index, mine)).max() < 1e-12


def test_counts_follow_measures_not_parts() -> None:
    region = square_with_holes()
    sample = sample_boundary(region, 1000, "uniform", np.random.default_rng(0))
    counts = np.bincount(sample.part, minlength=len(sample.names))
    total = sum(p.measure for p in region.parts)
    for count, part in zip(counts, region.parts, strict=True):
        assert abs(count - 1000 * part.measure / total) < 1  # largest-remainder rounding
    square = sum(c for c, n in zip(counts, sample.names, strict=True) if n.startswith("sq."))
    # the square has 4 / (4 + 0.8π) = 61.4 % of the length (DeepXDE: 6 % of the points)
    assert abs(square - 1000 * 4 / (4 + 0.8 * math.pi)) <= 4
    assert share(7, [1.0, 1.0, 1.0]) == [3, 2, 2]
    assert sum(share(1000, [p.measure for p in region.parts])) == 1000


def test_shares_within_sampling_error_per_part() -> None:
    region = quarter_plate()
    sample = sample_boundary(region, 5000, "sobol", np.random.default_rng(2))
    total = sum(p.measure for p in region.parts)
    for k, name in enumerate(sample.names):
        expected = 5000 * region.part(name).measure / total
        assert abs(np.sum(sample.part == k) - expected) <= 1  # largest-remainder rounding


def test_disk_normals_exact_and_hole_normals_point_into_the_hole() -> None:
    region = annulus()
    sample = sample_boundary(region, 2000, "uniform", np.random.default_rng(1))
    c = np.array([0.5, -0.25])
    outer = sample.part == sample.names.index("outer")
    inner = sample.part == sample.names.index("inner")
    assert outer.sum() == round(2000 * 2 / 3) and inner.sum() == 2000 - outer.sum()
    # exact normals: float64 rounding of (x − c)/r, 1e-12
    assert np.abs(sample.normals[outer] - (sample.points[outer] - c) / 1.0).max() < 1e-12
    assert np.abs(sample.normals[inner] - (c - sample.points[inner]) / 0.5).max() < 1e-12


def test_corners_carry_no_points() -> None:
    region = quarter_plate()
    sample = sample_boundary(region, 4000, "sobol", np.random.default_rng(0))
    corners = np.array([[1, 0], [0, 1], [4, 0], [0, 4], [4, 4]])
    gap = np.min(np.linalg.norm(sample.points[:, None] - corners[None], axis=2))
    assert gap >= 1e-6 * region.diameter * 0.99


def test_selected_parts_and_shape_names() -> None:
    region = quarter_plate()
    assert [p.name for p in region.resolve("plate")] == [
        "plate.x_min",
        "plate.x_max",
        "plate.y_min",
        "plate.y_max",
    ]
    assert [p.name for p in region.resolve("hole")] == ["hole"]
    sample = sample_boundary(region, 10, "sobol", np.random.default_rng(0), ["hole", "plate.x_max"])
    assert sample.names == ("hole", "plate.x_max")


def test_grid_masks_the_region() -> None:
    region = quarter_plate()
    grid = region_grid(region, 41)
    assert grid.shape == (41, 41) and grid.points.shape == (41 * 41, 2)
    radius = np.linalg.norm(grid.points, axis=1)
    np.testing.assert_array_equal(grid.mask, radius >= 1 - 1e-9)
    with pytest.raises(GeometryError, match="2 to"):
        region_grid(region, 1)


def test_box_import_still_works() -> None:
    assert Box(((0.0, 1.0),)).dimension == 1


# --- errors ------------------------------------------------------------------------------------

BALANCED = "hole"
for _ in range(6):
    BALANCED = f"({BALANCED})+({BALANCED})"  # 64 shapes, depth 12, 254 syntax-tree nodes

BAD_REGIONS = [
    ("plate - hol", "unknown shape 'hol' (expected one of: plate, hole) at column 9"),
    ("plate * hole", "'*' is not allowed (use & for an intersection) at column 1"),
    ("plate | hole", "'|' is not allowed (use + for a union)"),
    ("plate ^ hole", "operator 'BitXor' is not allowed"),
    ("plate - 1", "numbers and strings are not allowed (name shapes) at column 9"),
    ("plate.x", "attribute access is not allowed"),
    ("hull(plate)", "calls are not allowed"),
    ("-plate", "unary operators are not allowed"),
    ("plate -", "invalid syntax"),
    ("", "the region expression is empty"),
    ("hole - plate", "the region 'hole - plate' is empty"),
    ("+".join(["hole"] * 60), "nested deeper than 50 levels"),
    (BALANCED, "more than 200 parts"),
    ("x" * 1001, "region longer than 1000 characters"),
]


@pytest.mark.parametrize(("text", "message"), BAD_REGIONS)
def test_bad_regions_name_what_and_where(text: str, message: str) -> None:
    s = shapes(
        plate={"rectangle": [[0, 4], [0, 4]]},
        hole={"disk": {"center": [2, 2], "radius": 1}},
    )
    with pytest.raises(GeometryError, match=r"^region: ") as err:
        parse_region(text, s)
    assert message in str(err.value)


def test_disjoint_intersection_is_empty() -> None:
    s = shapes(a={"rectangle": [[0, 1], [0, 1]]}, b={"rectangle": [[2, 3], [0, 1]]})
    with pytest.raises(GeometryError, match="empty"):
        parse_region("a & b", s)


def test_parts_that_do_not_survive() -> None:
    s = shapes(
        plate={"rectangle": [[0, 4], [0, 4]]},
        hole={"disk": {"center": [2, 2], "radius": 1}},
    )
    region = parse_region("plate + hole", s)
    assert not region.part("hole").survives
    with pytest.raises(GeometryError, match="no part of shape 'hole' lies on the boundary"):
        region.resolve("hole")
    corner = parse_region(
        "plate - big", {**s, "big": parse_shape({"rectangle": [[-1, 5], [3, 5]]}, "b")}
    )
    with pytest.raises(GeometryError, match=r"'plate\.y_max' does not lie on the boundary"):
        corner.resolve("plate.y_max")
    with pytest.raises(GeometryError, match=r"unknown boundary part 'plate\.side'"):
        corner.resolve("plate.side")
    with pytest.raises(GeometryError, match="unknown boundary part 'wall'"):
        corner.resolve("wall")


def test_mixed_dimensions_rejected() -> None:
    s = shapes(
        cube={"rectangle": [[0, 1], [0, 1], [0, 1]]},
        hole={"disk": {"center": [0, 0], "radius": 1}},
    )
    with pytest.raises(GeometryError, match=r"different dimensions: cube \(3D\), hole \(2D\)"):
        parse_region("cube - hole", s)


BAD_SHAPES = [
    ({"disk": {"center": [0, 0, 0], "radius": 1}}, "s.disk.center: a disk is 2-dimensional"),
    ({"disk": {"center": [0, 0], "radius": 0}}, "s.disk.radius: the radius must be positive"),
    ({"disk": {"center": [0, 0]}}, "s.disk: missing key 'radius'"),
    ({"disk": {"center": [0, 0], "radius": 1, "r": 2}}, "unknown key 'r'"),
    ({"ball": {"center": [0, 0], "radius": 1}}, "use disk in 2D"),
    ({"rectangle": [[1, 0]]}, "s.rectangle[0]: expected min < max, got [1, 0]"),
    ({"rectangle": [[0, "a"]]}, "s.rectangle[0][1]: expected a number"),
    ({"rectangle": [[0, 1]] * 4}, "expected 1 to 3 intervals"),
    ({"sphere": {}}, "unknown shape 'sphere' (str) (expected one of: ball, disk, polygon"),
    ({"polygon": [[0, 0], [1, 0]]}, "expected a list of 3 to 1000 vertices"),
    ({"polygon": [[0, 0], [1, 0], [2, 0]]}, "degenerate (zero area)"),
    ({"polygon": [[0, 0], [1, 0], [1, 1], [0, 0.0]]}, "vertex 3 repeats vertex 0"),
    ({"polygon": [[0, 0], [2, 2], [2, 0], [0, 1]]}, "intersects itself: edge0 and edge2"),
    ({"polygon": [[0, 0], [2, 0], [2, 2], [1, 0], [0, 2]]}, "intersects itself"),
]


@pytest.mark.parametrize(("spec", "message"), BAD_SHAPES)
def test_bad_shapes_name_the_key(spec: object, message: str) -> None:
    with pytest.raises(GeometryError) as err:
        parse_shape(spec, "s")
    assert message in str(err.value)


def test_polygon_either_orientation() -> None:
    square = [[0, 0], [1, 0], [1, 1], [0, 1]]
    for vertices in (square, square[::-1]):
        region = parse_region("p", shapes(p={"polygon": vertices}))
        sample = sample_boundary(region, 100, "sobol", np.random.default_rng(0))
        assert not region.contains(sample.points + 1e-3 * sample.normals).any()
        assert region.volume == pytest.approx(1, abs=1e-8)


# --- meshes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_mesh_quality_on_each_planned_domain(name: str) -> None:
    region = DOMAINS[name]()
    size = 0.06 * math.sqrt(region.volume)
    mesh = mesh_region(region, size)
    assert mesh.triangles.shape[0] > 300
    # every element counter-clockwise (not inverted) and well shaped; DistMesh gives ≥ 0.6
    assert mesh.areas().min() > 0
    assert mesh.quality().min() >= 0.5
    assert mesh.min_angles().min() >= 25
    # straight-sided area: exact for polygons, chords lose O(H²) on circles
    assert mesh.areas().sum() == pytest.approx(region.volume, rel=0.01)
    # boundary nodes on the exact boundary, midpoints on the exact curves
    edge_nodes = mesh.nodes[np.unique(mesh.boundary_edges)]
    assert np.abs(region.signed_distance(edge_nodes)).max() < 1e-9
    assert np.abs(region.signed_distance(mesh.edge_midpoints)).max() < 1e-12
    assert set(mesh.part_names) == {p.name for p in region.parts}


def test_mesh_rejects_too_many_elements_and_3d() -> None:
    with pytest.raises(GeometryError, match="more than the limit of 200000"):
        mesh_region(quarter_plate(), 0.001)
    with pytest.raises(GeometryError, match="positive"):
        mesh_region(quarter_plate(), -1.0)
    cube = parse_region("c", shapes(c={"rectangle": [[0, 1], [0, 1], [0, 1]]}))
    with pytest.raises(GeometryError, match="only 2D regions"):
        mesh_region(cube, 0.1)
