"""Exact Dirichlet conditions on 2D regions: trimmed segment and circle distances, joined."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pinn_gelu import load_problem
from pinn_gelu.cli import main
from pinn_gelu.derivatives import ENGINES
from pinn_gelu.fields import NEEDS
from pinn_gelu.model.distance import circle_distance, segment_distance
from pinn_gelu.training.setup import build_model

from .conftest import PROBLEMS, assert_engine_matches_autograd

LSHAPE = str(PROBLEMS / "lshape_poisson.yaml")
#: The L-shape with its first boundary entry exact (and so without its enrichment).
EXACT_LSHAPE = ["boundary.0.exact=true", "enrichment=null"]
ANNULUS = str(PROBLEMS / "annulus_laplace.yaml")


def on_parts(problem, n: int = 200) -> dict[str, torch.Tensor]:
    """Points on every boundary part of a problem's region, by part."""
    rng = np.random.default_rng(3)
    return {
        side: torch.as_tensor(problem.domain.sample_side(side, n, "uniform", rng))
        for side in problem.domain.sides
    }


def test_the_segment_distance_is_zero_on_it_only_and_first_order_normalised() -> None:
    a, b = (0.0, 0.0), (2.0, 1.0)
    s = torch.linspace(0, 1, 11, dtype=torch.float64)[:, None]
    on = torch.tensor(a) + s * (torch.tensor(b) - torch.tensor(a))
    assert float(segment_distance(a, b, on).abs().max()) <= 1e-15
    beyond = torch.tensor([[3.0, 1.5], [-1.0, -0.5], [4.0, 2.0]], dtype=torch.float64)
    assert bool((segment_distance(a, b, beyond) > 0.5).all())  # on its line, past its ends
    # near the middle of the segment, off it by h along the normal: d = h + O(h²)
    normal = torch.tensor([1.0, -2.0], dtype=torch.float64) / 5**0.5
    for h in (1e-3, 1e-5):
        x = (torch.tensor([1.0, 0.5], dtype=torch.float64) + h * normal)[None]
        assert float(segment_distance(a, b, x)) == pytest.approx(h, rel=10 * h)


def test_the_circle_distance_is_signed_to_the_regions_side() -> None:
    x = torch.tensor([[0.0, 0.0], [0.5, 0.0], [0.0, 0.8]], dtype=torch.float64)
    inside = circle_distance((0.0, 0.0), 0.5, 1.0, x)
    assert inside.tolist() == pytest.approx([0.25, 0.0, -0.39])
    assert circle_distance((0.0, 0.0), 0.5, -1.0, x).tolist() == pytest.approx([-0.25, 0, 0.39])


def test_phi_vanishes_on_the_l_shapes_edges_and_is_positive_inside() -> None:
    problem = load_problem(LSHAPE, EXACT_LSHAPE)
    trial = problem.trial()
    for side, points in on_parts(problem).items():
        assert float(trial.factor(points).abs().max()) <= 1e-15, side
    inside = problem.collocation(torch.float64).interior
    assert bool((trial.factor(inside) > 0).all())
    assert problem.boundary_sides == ()  # no boundary points, no boundary term
    assert [t.name for t in problem.terms(problem.collocation(torch.float64))] == ["pde"]


def test_only_the_chosen_parts_are_exact(tmp_path) -> None:
    data = yaml.safe_load(Path(LSHAPE).read_text(encoding="utf-8"))
    del data["enrichment"]
    data["boundary"] = [
        {"on": ["ell.edge0", "ell.edge1"], "dirichlet": "x + y", "exact": True},
        {"on": ["ell.edge2", "ell.edge3", "ell.edge4", "ell.edge5"], "dirichlet": "x + y"},
    ]
    path = tmp_path / "l.yaml"
    path.write_text(yaml.safe_dump(data))
    problem = load_problem(str(path))
    model = build_model(problem)
    trial = problem.trial()
    parts = on_parts(problem)
    for side in ("ell.edge0", "ell.edge1"):
        assert float(trial.factor(parts[side]).abs().max()) <= 1e-15
        x = parts[side]
        torch.testing.assert_close(model(x)[:, 0], x[:, 0] + x[:, 1], rtol=0, atol=1e-14)
    for side in ("ell.edge3", "ell.edge4", "ell.edge5"):  # edge2 meets edge1 at (1, 0)
        assert bool((trial.factor(parts[side]) > 0).all()), side
    assert set(problem.boundary_sides) == {"ell.edge2", "ell.edge3", "ell.edge4", "ell.edge5"}


def test_the_annulus_outer_circle_exact_keeps_the_inner_neumann_term() -> None:
    problem = load_problem(ANNULUS, ["boundary.0.exact=true"])
    model = build_model(problem)
    parts = on_parts(problem)
    x = parts["outer"]
    g = 0.5 * torch.log(x.square().sum(1)) + x[:, 0] * (1 + 0.25 / x.square().sum(1))
    torch.testing.assert_close(model(x)[:, 0], g, rtol=0, atol=1e-13)
    assert bool((problem.trial().factor(parts["inner"]) > 0).all())
    assert problem.boundary_sides == ("inner",)


@pytest.mark.parametrize("need", NEEDS)
@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_derivatives_through_the_region_trial_equal_nested_autograd(engine, need) -> None:
    model = build_model(load_problem(LSHAPE, EXACT_LSHAPE))
    x = torch.tensor(
        [[-0.5, -0.5], [0.5, -0.3], [-0.2, 0.7], [-0.9, 0.1], [0.1, -0.95]], dtype=torch.float64
    )
    assert_engine_matches_autograd(model, x, engine, need, tolerance=1e-9)


def test_too_many_exact_parts_for_one_field_are_refused(tmp_path, capsys) -> None:
    vertices = [[math.cos(2 * math.pi * k / 40), math.sin(2 * math.pi * k / 40)] for k in range(40)]
    data = {
        "pde": {"kind": "poisson", "source": "1"},
        "domain": {"shapes": {"p": {"polygon": vertices}}, "region": "p"},
        "boundary": [{"on": "all", "dirichlet": "0", "exact": True}],
    }
    path = tmp_path / "many.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "boundary[0].dirichlet: 40 boundary parts are exact for one field" in err, err
    data["boundary"][0]["exact"] = False
    path.write_text(yaml.safe_dump(data))
    assert main(["check", str(path)]) == 0
