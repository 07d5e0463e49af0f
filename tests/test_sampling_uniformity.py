"""Points of a region are uniform: inside, and along every kind of boundary part (KS tests).

Each check is a one-sample Kolmogorov–Smirnov test of a coordinate whose exact distribution is
known, on 4000 iid points (the ``uniform`` sampler; Sobol points are more even than iid ones,
so they pass a fortiori and are checked too). At a fixed seed each test is deterministic; its
false-alarm rate, the chance that a correct sampler fails it at a new seed, is the threshold
p < 1e-3. A sampler that squares its parameter (48.6 % of a circle's points in its first
quarter) or its candidates gives p < 1e-30 here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from pinn_gelu.geometry.csg import parse_region
from pinn_gelu.geometry.primitives import parse_shape
from pinn_gelu.geometry.sampling import sample_interior, sample_part

N = 4000
FALSE_ALARM = 1e-3


def region(expression: str, **specs):
    shapes = {name: parse_shape(spec, f"shapes.{name}") for name, spec in specs.items()}
    return parse_region(expression, shapes)


PLATE = region(
    "plate - hole",
    plate={"rectangle": [[0, 2], [0, 2]]},
    hole={"disk": {"center": [1, 1], "radius": 0.5}},
)


def plate_x_cdf(x: float) -> float:
    """P(X ≤ x) for X the x-coordinate of a uniform point of the square minus the disk."""

    def height(s: float) -> float:
        chord = 2 * math.sqrt(max(0.25 - (s - 1) ** 2, 0.0))
        return 2.0 - chord

    area = 4.0 - math.pi * 0.25
    return integrate.quad(height, 0.0, x, points=[0.5, 1.5], limit=200)[0] / area


def p_value(sample: np.ndarray, cdf) -> float:
    return float(stats.kstest(sample, np.vectorize(cdf)).pvalue)


@pytest.mark.parametrize("sampler", ["uniform", "sobol"])
def test_interior_points_are_uniform_over_the_region(sampler) -> None:
    points = sample_interior(PLATE, N, sampler, np.random.default_rng(0))
    assert p_value(points[:, 0], plate_x_cdf) > FALSE_ALARM
    assert p_value(points[:, 1], plate_x_cdf) > FALSE_ALARM  # the region is symmetric


def part_of(reg, name):
    (part,) = [p for p in reg.parts if p.name == name]
    return part


@pytest.mark.parametrize("sampler", ["uniform", "sobol"])
def test_points_on_a_circle_are_uniform_in_angle(sampler) -> None:
    points, normals = sample_part(
        PLATE, part_of(PLATE, "hole"), N, sampler, np.random.default_rng(1)
    )
    angle = np.mod(np.arctan2(points[:, 1] - 1, points[:, 0] - 1), 2 * math.pi)
    assert p_value(angle, stats.uniform(0, 2 * math.pi).cdf) > FALSE_ALARM
    # the hole's outward normal (out of the region) points to the disk's centre
    np.testing.assert_allclose(normals, -(points - 1) / 0.5, atol=1e-12)


@pytest.mark.parametrize("sampler", ["uniform", "sobol"])
def test_points_on_a_straight_side_are_uniform_along_it(sampler) -> None:
    points, _ = sample_part(
        PLATE, part_of(PLATE, "plate.y_min"), N, sampler, np.random.default_rng(2)
    )
    assert np.all(points[:, 1] == 0.0)
    assert p_value(points[:, 0], stats.uniform(0, 2).cdf) > FALSE_ALARM


def test_points_on_a_cut_arc_are_uniform_on_what_survives() -> None:
    # a disk whose right half is cut off by the square: the arc θ ∈ (π/2, 3π/2) survives
    reg = region(
        "sq - hole",
        sq={"rectangle": [[0, 2], [0, 2]]},
        hole={"disk": {"center": [2, 1], "radius": 0.5}},
    )
    points, _ = sample_part(reg, part_of(reg, "hole"), N, "uniform", np.random.default_rng(3))
    angle = np.arctan2(points[:, 1] - 1, points[:, 0] - 2)
    angle = np.mod(angle, 2 * math.pi)
    assert p_value(angle, stats.uniform(math.pi / 2, math.pi).cdf) > FALSE_ALARM


def test_points_on_a_polygon_edge_are_uniform_along_it() -> None:
    reg = region("tri", tri={"polygon": [[0, 0], [3, 0], [0, 4]]})
    points, _ = sample_part(reg, part_of(reg, "tri.edge1"), N, "uniform", np.random.default_rng(4))
    # edge1 runs from (3, 0) to (0, 4): its parameter is x/3 reversed
    t = 1 - points[:, 0] / 3
    np.testing.assert_allclose(points[:, 1], 4 * t, atol=1e-12)
    assert p_value(t, stats.uniform(0, 1).cdf) > FALSE_ALARM


def test_points_on_a_sphere_are_uniform_on_its_area() -> None:
    # Archimedes: z of a uniform point of a sphere is uniform on [−r, r]; the azimuth too
    reg = region(
        "box - ball",
        box={"rectangle": [[0, 2], [0, 2], [0, 2]]},
        ball={"ball": {"center": [1, 1, 1], "radius": 0.5}},
    )
    points, _ = sample_part(reg, part_of(reg, "ball"), N, "uniform", np.random.default_rng(5))
    centred = points - 1.0
    assert p_value(centred[:, 2], stats.uniform(-0.5, 1.0).cdf) > FALSE_ALARM
    azimuth = np.mod(np.arctan2(centred[:, 1], centred[:, 0]), 2 * math.pi)
    assert p_value(azimuth, stats.uniform(0, 2 * math.pi).cdf) > FALSE_ALARM


def test_the_test_sees_a_squared_parameter() -> None:
    # what the tests above would say of a sampler that squares its parameter: p ≈ 0
    u = np.random.default_rng(6).random(N) ** 2
    assert p_value(2 * math.pi * u, stats.uniform(0, 2 * math.pi).cdf) < 1e-30
