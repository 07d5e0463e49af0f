"""Exact Dirichlet conditions: u = g̃ + φ·N on a box, with no loss term for those sides."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pinn_gelu import load_problem, train
from pinn_gelu.cli import main
from pinn_gelu.derivatives import ENGINES
from pinn_gelu.fields import NEEDS
from pinn_gelu.model.distance import r_equivalence, transfinite
from pinn_gelu.training.setup import build_model

from .conftest import assert_engine_matches_autograd, dense_jacobian


def write(tmp_path, data) -> str:
    path = tmp_path / "problem.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def mixed_box(tmp_path, **extra) -> str:
    """−Δu = f on [0, 2] × [−1, 1]: exact values on x_min and y_max (different data), Neumann
    on the rest; u = sin(x) + y·cos(x/2) + 1."""
    data = {
        "pde": {"kind": "poisson", "source": "sin(x) + y*cos(x/2)/4"},
        "domain": {"rectangle": [[0, 2], [-1, 1]]},
        "boundary": [
            {"on": ["x_max", "y_min"], "neumann": "0"},
            {"on": "x_min", "dirichlet": "y + 1", "exact": True},
            {"on": "y_max", "dirichlet": "sin(x) + cos(x/2) + 1", "exact": True},
        ],
        "network": {"width": 10, "depth": 2},
        "training": {"points": {"interior": 50, "boundary": 40}, "adam": {"steps": 5}},
        **extra,
    }
    return write(tmp_path, data)


def test_the_distance_vanishes_on_exactly_the_chosen_parts_and_is_positive_inside() -> None:
    x = torch.rand(200, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    d = [x[:, 0], 1 - x[:, 1]]  # x = 0 and y = 1 of the unit square
    phi = r_equivalence(d)
    assert bool((phi > 0).all())
    assert bool((phi <= torch.minimum(d[0], d[1]) + 1e-15).all())  # below each distance
    on = torch.tensor([[0.0, 0.3], [0.0, 0.9], [0.4, 1.0], [0.0, 1.0]], dtype=torch.float64)
    assert r_equivalence([on[:, 0], 1 - on[:, 1]]).tolist() == [0.0, 0.0, 0.0, 0.0]
    far = torch.tensor([[1e-6, 0.5]], dtype=torch.float64)  # near x = 0 only: φ ≈ d (first order)
    assert float(r_equivalence([far[:, 0], 1 - far[:, 1]])) == pytest.approx(1e-6, rel=1e-5)
    # the extension takes each part's value on it, and the mean at the corner
    g = transfinite(
        [lambda: torch.full((4,), 2.0), lambda: torch.full((4,), 5.0)],
        [
            on[:, 0],
            1 - on[:, 1],
        ],
    )
    assert g.tolist() == [2.0, 2.0, 5.0, 3.5]


def test_boundary_values_are_imposed_to_rounding_and_their_terms_disappear(tmp_path) -> None:
    problem = load_problem(mixed_box(tmp_path))
    model = build_model(problem)
    y = torch.linspace(-1, 1, 7, dtype=torch.float64)
    left = torch.stack([torch.zeros_like(y), y], 1)
    x = torch.linspace(0, 2, 7, dtype=torch.float64)
    top = torch.stack([x, torch.ones_like(x)], 1)
    torch.testing.assert_close(model(left)[:, 0], y + 1, rtol=0, atol=1e-14)
    expected = torch.sin(x) + torch.cos(x / 2) + 1
    torch.testing.assert_close(model(top)[:, 0], expected, rtol=0, atol=1e-14)
    points = problem.collocation(torch.float64)
    used = {side for side, (start, stop) in points.sides.items() if stop > start}
    assert used == {"x_max", "y_min"}  # no points on the exact sides
    names = [t.name for t in problem.terms(points)]
    assert names == ["pde", "neumann"]  # the Dirichlet term is gone
    inside = torch.rand(50, 2, dtype=torch.float64) * torch.tensor([2.0, 2.0]) - torch.tensor(
        [0.0, 1.0]
    )
    assert bool(torch.isfinite(model(inside)).all())


@pytest.mark.parametrize("need", NEEDS)
@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_derivatives_through_the_trial_equal_nested_autograd(tmp_path, engine, need) -> None:
    model = build_model(load_problem(mixed_box(tmp_path)))
    x = torch.rand(9, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    x = x * torch.tensor([2.0, 2.0], dtype=torch.float64) - torch.tensor([0.0, 1.0])
    assert_engine_matches_autograd(model, x, engine, need, tolerance=1e-9)


def test_an_exact_time_dependent_problem_trains_and_validates_at_the_corners(tmp_path) -> None:
    """u_t = u_xx on [0, 1], u(x, 0) = sin πx, u(0, t) = u(1, t) = 0, all exact."""
    data = {
        "pde": {"kind": "equations", "equations": ["d(u, t) - d(u, x, x)"]},
        "domain": {"rectangle": [[0, 1]], "time": [0, 0.2]},
        "boundary": [
            {"on": "all", "dirichlet": "0", "exact": True},
            {"on": "t_min", "dirichlet": "sin(pi*x)", "exact": True},
        ],
        "exact": {"u": "exp(-pi**2*t)*sin(pi*x)"},
        "network": {"width": 12, "depth": 2},
        "training": {
            "points": {"interior": 200},
            "adam": {"steps": 100},
            "gauss_newton": {"steps": 20},
        },
    }
    problem = load_problem(write(tmp_path, data))
    assert problem.boundary_sides == ()  # every condition exact: no boundary points
    result = train(problem, progress=False)
    assert math.isfinite(result.relative_l2["u"])  # the grid's corners are finite (φ = 0 there)
    assert result.relative_l2["u"] < 1e-3, result.relative_l2


def test_check_says_which_conditions_are_exact(tmp_path, capsys) -> None:
    assert main(["check", mixed_box(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "x_min     dirichlet y + 1 (exact: u = g + φ·N)" in out
    assert "x_max     neumann 0\n" in out


def _arc(d):
    """A disk cut by the rectangle's side: only an arc of its circle bounds the region."""
    d["domain"] = {
        "shapes": {
            "b": {"rectangle": [[0, 2], [-1, 1]]},
            "hole": {"disk": {"center": [0, 0], "radius": 0.5}},
        },
        "region": "b - hole",
    }
    d["boundary"] = [{"on": "all", "dirichlet": "0", "exact": True}]


def _ball(d):
    d["domain"] = {"shapes": {"b": {"ball": {"center": [0, 0, 0], "radius": 1}}}, "region": "b"}
    d["pde"]["source"] = "1"
    d["boundary"] = [{"on": "all", "dirichlet": "0", "exact": True}]


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (lambda d: d["boundary"][1].update(exact="yes"), "boundary[1].exact", "true or false"),
        (
            lambda d: d["boundary"][0].update(exact=True),
            "boundary[0].exact",
            "only dirichlet values can be exact",
        ),
        (
            lambda d: d["boundary"][1].update(dirichlet="nx"),
            "boundary[1].exact",
            "reads the outward normal",
        ),
        (
            lambda d: (
                d.update(unknowns={"c": {"initial": 1.0}}),
                d["boundary"][1].update(dirichlet="c"),
            ),
            "boundary[1].exact",
            "reads the unknown c",
        ),
        (_arc, "boundary[0].exact", "hole is an arc of a circle, not the whole circle"),
        (_ball, "boundary[0].exact", "need a 2D region"),
    ],
)
def test_malformed_exact_conditions_exit_2(tmp_path, capsys, change, key, words) -> None:
    path = mixed_box(tmp_path)
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    change(data)
    assert main(["check", write(tmp_path, data)]) == 2
    err = capsys.readouterr().err
    assert f"{key}: " in err and words in err, err
    assert len(err.strip().splitlines()) == 1


def test_exact_and_positive_fields_are_refused(tmp_path, capsys) -> None:
    data = {
        "pde": {
            "kind": "equations",
            "fields": ["u", "a"],
            "positive": ["a"],
            "equations": ["-a*d(u, x, x) - 1"],
        },
        "domain": {"rectangle": [[0, 1]]},
        "boundary": [{"on": "all", "dirichlet": {"u": "0", "a": "1"}, "exact": True}],
    }
    assert main(["check", write(tmp_path, data)]) == 2
    assert "boundary[0].exact: exact conditions and pde.positive" in capsys.readouterr().err


@pytest.mark.parametrize("which", ["exact", "positive"])
def test_the_gauss_newton_jacobian_through_a_trial_equals_autograd(tmp_path, which) -> None:
    from pinn_gelu.training.setup import assemble

    if which == "exact":
        path = mixed_box(tmp_path)
    else:
        data = {
            "pde": {
                "kind": "equations",
                "fields": ["u", "a"],
                "positive": ["a"],
                "equations": ["-(d(a, x)*d(u, x) + a*d(u, x, x)) - 1", "a - 1 - x"],
            },
            "domain": {"rectangle": [[0, 1]]},
            "boundary": [{"on": "all", "dirichlet": {"u": "0"}}],
            "network": {"width": 8, "depth": 2},
            "training": {"points": {"interior": 20}, "adam": {"steps": 3}},
        }
        path = write(tmp_path, data)
    assembly = assemble(load_problem(path))
    _, jacobian = assembly.objective.jacobian()
    dense = dense_jacobian(assembly.model, assembly.objective)
    assert torch.allclose(jacobian, dense, rtol=1e-10, atol=1e-12)


def test_runs_with_exact_or_positive_trials_load_back(tmp_path) -> None:
    from pinn_gelu import load_run

    for name, path in (("exact", mixed_box(tmp_path)), ("positive", None)):
        if path is None:
            data = {
                "pde": {
                    "kind": "equations",
                    "fields": ["u", "a"],
                    "positive": ["a"],
                    "equations": ["-(a*d(u, x, x)) - 1", "a - 1 - x"],
                },
                "domain": {"rectangle": [[0, 1]]},
                "boundary": [{"on": "all", "dirichlet": {"u": "0"}}],
                "network": {"width": 6, "depth": 2},
                "training": {"points": {"interior": 20}, "adam": {"steps": 3}},
            }
            path = write(tmp_path, data)
        out = tmp_path / f"run-{name}"
        assert main(["solve", path, "--out", str(out), "--quiet"]) == 0
        solution = load_run(out)
        problem = load_problem(path)
        x = np.array([[0.0, 0.5], [1.5, -0.5]]) if name == "exact" else np.array([[0.3], [0.8]])
        trained = train(problem, progress=False).model
        expected = trained(torch.as_tensor(x)).detach().numpy()
        got = np.stack(list(solution(x).values()), 1)
        np.testing.assert_allclose(got[:, : expected.shape[1]], expected, rtol=1e-12, atol=1e-14)


def test_a_network_passed_in_gets_the_problems_trial(tmp_path) -> None:
    from pinn_gelu.config import NetworkConfig
    from pinn_gelu.model.networks import build_network

    problem = load_problem(mixed_box(tmp_path))
    network = build_network(
        NetworkConfig(width=6, depth=2), problem.domain.bounds, 1, dtype=torch.float64
    )
    model = train(problem, model=network, progress=False).model
    y = torch.linspace(-1, 1, 5, dtype=torch.float64)
    left = torch.stack([torch.zeros_like(y), y], 1)
    torch.testing.assert_close(model(left)[:, 0].detach(), y + 1, rtol=0, atol=1e-14)


def test_exact_values_must_be_finite_and_a_seam_jump_is_said(tmp_path, capsys) -> None:
    path = mixed_box(tmp_path)
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    data["boundary"][1]["dirichlet"] = "log(x)"  # −inf at x = 0, the very side
    assert main(["check", write(tmp_path, data)]) == 2
    err = capsys.readouterr().err
    assert "boundary[1].dirichlet: 'log(x)' is not finite" in err, err
    seam = {
        "pde": {"kind": "equations", "equations": ["d(u, t) - 0.01*d(u, x, x)"]},
        "domain": {"rectangle": [[-1, 1]], "time": [0, 1], "periodic": ["x"]},
        "boundary": [{"on": "t_min", "dirichlet": "x**2*cos(pi*x)", "exact": True}],
    }
    # accepted (exact is what makes such a problem train: see allen_cahn.yaml) with a warning
    assert main(["check", write(tmp_path, seam)]) == 0
    err = capsys.readouterr().err
    assert "warning: boundary[0].dirichlet: 'x**2*cos(pi*x)' is exact on a problem periodic" in err
    assert "derivative of order 1 in x differs by 4" in err
    assert load_problem(write(tmp_path, seam)).cautions  # also in the run's warnings
    seam["boundary"][0]["dirichlet"] = "cos(pi*x)"  # periodic with every derivative: no warning
    assert main(["check", write(tmp_path, seam)]) == 0
    assert "warning" not in capsys.readouterr().err
