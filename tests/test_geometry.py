"""Boxes: sides, normals, sampling, grids; collocation reproducibility."""

import numpy as np
import pytest
import torch

from pinn_gelu.collocation import sample_collocation
from pinn_gelu.config import PointsConfig
from pinn_gelu.geometry import Box


def test_sides_normals_and_measures() -> None:
    box = Box(((0.0, 2.0), (-1.0, 1.0), (0.0, 0.5)))
    assert box.sides == ("x_min", "x_max", "y_min", "y_max", "z_min", "z_max")
    np.testing.assert_array_equal(box.normal("y_min"), [0, -1, 0])
    np.testing.assert_array_equal(box.normal("z_max"), [0, 0, 1])
    assert box.side_measure("x_min") == pytest.approx(2 * 0.5)
    assert box.side_measure("z_max") == pytest.approx(2 * 2)
    assert box.volume == pytest.approx(2.0)
    with pytest.raises(ValueError, match="unknown side 'w_min'"):
        box.normal("w_min")


@pytest.mark.parametrize("total", [0, 1, 7, 400, 1001])
def test_boundary_counts_add_up_in_proportion(total: int) -> None:
    box = Box(((0.0, 3.0), (0.0, 1.0)))
    counts = box.side_counts(total)
    assert sum(counts.values()) == total
    assert abs(counts["y_min"] - 3 * counts["x_min"]) <= 3  # rounding of 3:1 sides


def test_one_dimensional_sides_are_single_points() -> None:
    assert Box(((0.0, 1.0),)).side_counts(400) == {"x_min": 1, "x_max": 1}


@pytest.mark.parametrize("sampler", ["sobol", "uniform"])
def test_samples_lie_in_the_box_and_on_open_sides(sampler: str) -> None:
    box = Box(((1.0, 2.0), (-3.0, -1.0)))
    rng = np.random.default_rng(0)
    inside = box.sample_interior(500, sampler, rng)
    assert inside.shape == (500, 2)
    assert (inside[:, 0] >= 1).all() and (inside[:, 0] <= 2).all()
    side = box.sample_side("y_max", 300, sampler, rng)
    assert (side[:, 1] == -1.0).all()
    # points in the open side: never a corner, so every point has one normal
    assert (side[:, 0] > 1).all() and (side[:, 0] < 2).all()


def test_grid_includes_the_boundary_in_ij_order() -> None:
    points, shape = Box(((0.0, 1.0), (0.0, 2.0))).grid(3)
    assert shape == (3, 3)
    np.testing.assert_array_equal(points[:3], [[0, 0], [0, 1], [0, 2]])
    np.testing.assert_array_equal(points[-1], [1, 2])


def test_collocation_is_reproducible_and_seeded() -> None:
    box = Box(((0.0, 1.0), (0.0, 1.0)))
    cfg = PointsConfig(interior=100, boundary=40)
    a = sample_collocation(box, cfg, 3)
    b = sample_collocation(box, cfg, 3)
    c = sample_collocation(box, cfg, 4)
    assert torch.equal(a.interior, b.interior) and torch.equal(a.boundary, b.boundary)
    assert not torch.equal(a.interior, c.interior)
    assert a.sides == {"x_min": (0, 10), "x_max": (10, 20), "y_min": (20, 30), "y_max": (30, 40)}
    start, stop = a.sides["x_max"]
    assert torch.equal(a.normals[start:stop], torch.tensor([[1.0, 0.0]] * 10))
    assert (a.boundary[start:stop, 0] == 1.0).all()


def test_sobol_points_are_balanced() -> None:
    # 1024 = 2^10 scrambled Sobol points form a (0, 10, 2)-net in base 2 (scrambling keeps the
    # net property): every dyadic box of area 2^-10 holds one point, so every cell of a 16×16
    # grid (area 2^-8) holds exactly 4 (measured: 4 in all 256 cells)
    pts = Box(((0.0, 1.0), (0.0, 1.0))).sample_interior(1024, "sobol", np.random.default_rng(0))
    counts = np.histogram2d(pts[:, 0], pts[:, 1], bins=16, range=[[0, 1], [0, 1]])[0]
    assert (counts == 4).all()
