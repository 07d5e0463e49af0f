"""Geometry work is bounded by what is computed, refused early with the number, and interruptible.

Issue 25: regions that fill a tiny fraction of their bounding box (two small disks far apart, a
sliver, a thin strip), a shape used many times with a large validation grid, polygons with many
parts; sampling and the mesher sized themselves by the bounding box.
"""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest

from pinn_gelu.cli import main
from pinn_gelu.errors import GeometryError
from pinn_gelu.geometry import csg
from pinn_gelu.geometry.csg import parse_region
from pinn_gelu.geometry.primitives import parse_shape


def region_problem(shapes: dict, region: str, **extra) -> dict:
    return {
        "name": "region",
        "pde": {"kind": "poisson", "source": "1"},
        "domain": {"shapes": shapes, "region": region},
        "boundary": [{"on": "all", "dirichlet": "0"}],
        "network": {"width": 8, "depth": 2},
        "training": {"points": {"interior": 2000, "boundary": 200}, "adam": {"steps": 1}},
        **extra,
    }


TWO_SMALL_DISKS = {
    "a": {"disk": {"center": [0, 0], "radius": 0.01}},
    "b": {"disk": {"center": [1000, 0], "radius": 0.01}},
}
SLIVER = {"s": {"polygon": [[0, 0], [1000, 1000], [999.999, 1000]]}}  # along a diagonal


@pytest.mark.parametrize(
    ("shapes", "region"), [(TWO_SMALL_DISKS, "a + b"), (SLIVER, "s")], ids=["disks", "sliver"]
)
@pytest.mark.parametrize("command", ["check", "solve"])
def test_a_region_that_fills_little_of_its_box_is_refused_at_once(
    write, tmp_path, capsys, shapes, region, command
):
    out = tmp_path / "run"
    args = [command, str(write(region_problem(shapes, region)))]
    started = time.monotonic()
    code = main([*args, "--out", str(out), "--quiet"] if command == "solve" else args)
    assert code == 2 and time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert "domain" in err and "interior points" in err and "needs the signed distance at" in err
    assert "more than the bound of 20,000,000 points" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_the_mesher_refuses_a_lattice_sized_by_a_far_bounding_box(write, tmp_path, capsys):
    shapes = {
        "a": {"disk": {"center": [0, 0], "radius": 1}},
        "b": {"disk": {"center": [100000, 0], "radius": 1}},
    }
    data = region_problem(shapes, "a + b", reference={"finite_element": {"size": 0.05}})
    data["training"]["points"]["interior"] = 10  # sampling passes; the mesher must refuse
    started = time.monotonic()
    assert main(["reference", str(write(data)), "--out", str(tmp_path / "r")]) == 2
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert "the mesher's start lattice of size 0.05 needs the signed distance at" in err
    assert not (tmp_path / "r").exists()


def test_the_mesher_refuses_a_boundary_long_for_its_area(write, tmp_path, capsys):
    shapes = {"strip": {"rectangle": [[0, 100000], [0, 0.001]]}}
    data = region_problem(shapes, "strip", reference={"finite_element": {"size": 0.05}})
    data["training"]["points"]["interior"] = 10
    assert main(["reference", str(write(data)), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "boundary nodes, more than the limit of 200000" in err


def balanced(name: str, k: int) -> str:
    """``name`` k times in a union nested log₂ k deep (the depth bound allows no long chain)."""
    return name if k == 1 else f"({balanced(name, k // 2)} + {balanced(name, k - k // 2)})"


def test_a_shape_used_many_times_with_a_large_grid_is_refused(write, capsys):
    shapes = {"a": {"rectangle": [[0, 1], [0, 1]]}}
    data = region_problem(shapes, balanced("a", 40), validation={"grid": 2000})
    started = time.monotonic()
    assert main(["check", str(write(data))]) == 2
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert "validation.grid: a grid of 2000 points per dimension needs the signed distance" in err
    assert "at 4,000,000 points" in err
    assert "(160,000,000 evaluations of its 40 shapes)" in err


def test_a_region_with_too_many_boundary_parts_is_refused_while_parsing():
    angles = np.linspace(0, 2 * np.pi, 1000, endpoint=False)
    shapes = {
        f"p{i}": parse_shape(
            {"polygon": (np.c_[np.cos(angles) + 3 * i, np.sin(angles)]).tolist()}, "s"
        )
        for i in range(6)
    }
    started = time.monotonic()
    with pytest.raises(GeometryError, match=r"finding the 6000 boundary parts of .* needs the"):
        parse_region(" + ".join(shapes), shapes)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("n", [1, 5, 65_536, 65_537, 300_000])
def test_sobol_draws_in_blocks_are_the_sequence_drawn_at_once(n):
    import math

    from scipy.stats import qmc

    from pinn_gelu.geometry.box import unit_samples

    once = qmc.Sobol(3, scramble=True, rng=np.random.default_rng(4))
    expected = once.random_base2(max(0, math.ceil(math.log2(n))))[:n]
    assert np.array_equal(unit_samples(n, 3, "sobol", np.random.default_rng(4)), expected)


def test_signed_distances_come_in_blocks_with_the_same_values(monkeypatch):
    shapes = {
        "plate": parse_shape({"rectangle": [[0, 2], [0, 1]]}, "s"),
        "hole": parse_shape({"disk": {"center": [1, 0.5], "radius": 0.2}}, "s"),
    }
    region = parse_region("plate - hole", shapes)
    points = np.random.default_rng(0).uniform(-0.5, 2.5, size=(10_000, 2))
    whole = region.signed_distance(points)
    monkeypatch.setattr(csg, "DISTANCE_BLOCK", 777)
    assert np.array_equal(region.signed_distance(points), whole)


def test_ctrl_c_stops_long_geometry_work_at_once(write, capsys):
    # within the bounds, but seconds of rejection sampling (1.9e7 candidates, in numpy calls of
    # at most a few tenths of a second each): a SIGINT one second in ends the command promptly,
    # with one line and exit 130, not a traceback
    shapes = {
        "a": {"disk": {"center": [0, 0], "radius": 0.05}},
        "b": {"disk": {"center": [200, 0], "radius": 0.05}},
    }
    data = region_problem(shapes, "a + b")
    data["training"]["points"]["interior"] = 12_000
    path = write(data)
    fired: list[float] = []

    def interrupt(signum, frame):
        fired.append(time.monotonic())
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        code = main(["check", str(path)])
        returned = time.monotonic()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert fired, "the command ended before the interrupt: make it longer"
    assert code == 130 and returned - fired[0] < 1.0
    assert capsys.readouterr().err.strip() == "pinn-gelu: interrupted; nothing written"
