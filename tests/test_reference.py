"""Finite-difference references: second-order convergence, solvers, interpolation, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pinn_gelu import load_problem
from pinn_gelu.cli import main
from pinn_gelu.reference import solve_reference
from pinn_gelu.reference.fd_grid import evaluate

from .conftest import PROBLEMS


def observed_order(problem, grids, field):
    """Least-squares slope of log(error) against log(h), and the errors."""
    errors, spacings = [], []
    for n in grids:
        solution = solve_reference(problem, n)
        exact = evaluate(problem.exact[field], solution.grid.points())
        error = np.linalg.norm(solution.fields[field].ravel() - exact) / np.linalg.norm(exact)
        errors.append(error)
        spacings.append(solution.grid.spacing[0])
    slope = np.polyfit(np.log(spacings), np.log(errors), 1)[0]
    return slope, errors


def dirichlet_problem(write, dimension: int):
    # u = exp(x/2) sin(πy + 0.3) (z + 1)²: not a discrete eigenfunction, so solvers work for it
    variables = ["x", "y", "z"][:dimension]
    factors = ["exp(x/2)", "sin(pi*y + 0.3)", "(z + 1)**2"][:dimension]
    laplacians = {  # −Δ of the product, term by term
        1: "-exp(x/2)/4",
        2: "-exp(x/2)/4*sin(pi*y + 0.3) + pi**2*exp(x/2)*sin(pi*y + 0.3)",
        3: "(-exp(x/2)/4*sin(pi*y + 0.3) + pi**2*exp(x/2)*sin(pi*y + 0.3))*(z + 1)**2"
        " - 2*exp(x/2)*sin(pi*y + 0.3)",
    }
    data = {
        "pde": {"kind": "poisson", "source": laplacians[dimension]},
        "domain": {"rectangle": [[0, 1]] * dimension},
        "boundary": [{"on": "all", "dirichlet": "*".join(factors)}],
        "exact": {"u": "*".join(factors)},
    }
    assert len(variables) == dimension
    return load_problem(write(data))


@pytest.mark.parametrize(
    ("dimension", "grids"), [(1, [17, 33, 65, 129]), (2, [17, 33, 65, 129]), (3, [9, 17, 33])]
)
def test_poisson_dirichlet_is_second_order(write, dimension, grids) -> None:
    slope, errors = observed_order(dirichlet_problem(write, dimension), grids, "u")
    assert 1.8 <= slope <= 2.2, errors
    # leading error term ~ h²/12 max|∂⁴u| / |u|: a few 1e-4 at h = 1/32
    assert errors[-1] < 1e-3


def test_poisson_with_a_neumann_side_is_second_order() -> None:
    slope, errors = observed_order(
        load_problem(PROBLEMS / "poisson_mixed.yaml"), [17, 33, 65, 129], "u"
    )
    assert 1.8 <= slope <= 2.2, errors


@pytest.mark.parametrize("field", ["ux", "uy", "sxx", "syy", "sxy"])
def test_elasticity_with_traction_sides_is_second_order(field) -> None:
    problem = load_problem(PROBLEMS / "elasticity_traction.yaml")
    slope, errors = observed_order(problem, [17, 33, 65], field)
    assert 1.8 <= slope <= 2.2, errors


def test_interpolation_onto_the_validation_grid_keeps_the_accuracy() -> None:
    problem = load_problem(PROBLEMS / "poisson_mixed.yaml")
    solution = solve_reference(problem, 129)
    grid, _ = problem.domain.grid(101)
    interpolated = solution.interpolate(grid)["u"]
    exact = evaluate(problem.exact["u"], grid)
    on_nodes = evaluate(problem.exact["u"], solution.grid.points())
    node_error = np.linalg.norm(solution.fields["u"].ravel() - on_nodes) / np.linalg.norm(on_nodes)
    grid_error = np.linalg.norm(interpolated - exact) / np.linalg.norm(exact)
    # cubic interpolation adds O(h⁴): the error stays that of the scheme
    assert grid_error < 1.2 * node_error


def test_unsolvable_references_are_refused(write) -> None:
    neumann_only = {
        "pde": {"kind": "poisson", "source": "0"},
        "domain": {"rectangle": [[0, 1]]},
        "boundary": [{"on": "all", "neumann": "0"}],
    }
    with pytest.raises(ValueError, match="at least one Dirichlet side"):
        solve_reference(load_problem(write(neumann_only)), 17)
    traction_only = {
        "pde": {"kind": "linear_elasticity", "lame": {"lambda": 1, "mu": 1}},
        "domain": {"rectangle": [[0, 1], [0, 1]]},
        "boundary": [{"on": "all", "traction": ["0", "0"]}],
    }
    with pytest.raises(ValueError, match="rigid motions"):
        solve_reference(load_problem(write(traction_only)), 17)


def test_reference_command_writes_and_reports(tmp_path, capsys) -> None:
    out = tmp_path / "ref"
    assert (
        main(
            [
                "reference",
                str(PROBLEMS / "elasticity_plate.yaml"),
                "--points",
                "33",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    summary = json.loads((out / "reference.json").read_text())
    assert summary["unknowns"] == 2 * 33 * 33
    assert set(summary["relative_l2_vs_exact"]) == {"ux", "uy", "sxx", "syy", "sxy"}
    # second-order FD on 33² nodes, deterministic: measured ux 1.352e-2 (uy 1.41e-2); the band
    # is ±10 %, far above rounding and far below the factor 4 of one grid refinement
    assert 1.2e-2 < summary["relative_l2_vs_exact"]["ux"] < 1.5e-2
    arrays = np.load(out / "reference.npz")
    assert arrays["ux"].shape == (33, 33) and arrays["axis_x"].shape == (33,)
    for name in ("reference.png", "deformation.png"):
        assert (out / name).stat().st_size > 10_000
    assert "relative L2 of ux against the exact solution" in capsys.readouterr().out


def test_reference_command_refuses_bad_input(tmp_path, write, capsys) -> None:
    neumann_only = {
        "pde": {"kind": "poisson", "source": "0"},
        "domain": {"rectangle": [[0, 1]]},
        "boundary": [{"on": "all", "neumann": "0"}],
    }
    assert main(["reference", str(write(neumann_only)), "--out", str(tmp_path / "r")]) == 2
    assert (
        "reference.finite_difference: the finite-difference reference needs"
        in capsys.readouterr().err
    )
    assert (
        main(
            [
                "reference",
                str(PROBLEMS / "poisson_3d.yaml"),
                "--points",
                "1000",
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 2
    )
    assert "over the limit" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_training_without_exact_is_validated_against_finite_differences(tmp_path) -> None:
    out = tmp_path / "run"
    code = main(
        [
            "solve",
            str(PROBLEMS / "poisson_gaussian_source.yaml"),
            "--out",
            str(out),
            "--set",
            "training.adam.steps=150",
            "--set",
            "training.lbfgs.steps=100",
            "--set",
            "reference.finite_difference.points=65",
            "--quiet",
        ]
    )
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["reference"] == "finite-difference reference (65×65)"
    # measured 7.1e-3 (350 steps against the 65² FD solution); 2.5e-2 leaves a factor 3.5
    assert 0 < metrics["relative_l2"]["u"] < 2.5e-2
