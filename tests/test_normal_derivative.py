"""dn(f) in boundary equations: ∇f·n at every boundary point, in 1D to 3D, on regions, with time."""

from __future__ import annotations

import pytest
import torch

from pinn_gelu.cli import main
from pinn_gelu.problem_file import parse_problem
from pinn_gelu.training import Trainer

# u = sin(x)·cos(y) (+ z, + t): −Δu = f below; the flux on each side is ∇u·n
CASES = {
    "2d": {
        "domain": {"rectangle": [[0, 1], [0, 1]]},
        "u": "sin(x)*cos(y)",
        "f": "2*sin(x)*cos(y)",
        "flux": "nx*cos(x)*cos(y) - ny*sin(x)*sin(y)",
        "identity": "nx*d(u, x) + ny*d(u, y)",
    },
    "3d": {
        "domain": {"rectangle": [[0, 1], [0, 1], [0, 1]]},
        "u": "sin(x)*cos(y) + z",
        "f": "2*sin(x)*cos(y)",
        "flux": "nx*cos(x)*cos(y) - ny*sin(x)*sin(y) + nz",
        "identity": "nx*d(u, x) + ny*d(u, y) + nz*d(u, z)",
    },
    "region": {
        "domain": {
            "shapes": {
                "plate": {"rectangle": [[0, 2], [0, 2]]},
                "hole": {"disk": {"center": [1, 1], "radius": 0.4}},
            },
            "region": "plate - hole",
        },
        "u": "sin(x)*cos(y)",
        "f": "2*sin(x)*cos(y)",
        "flux": "nx*cos(x)*cos(y) - ny*sin(x)*sin(y)",
        "identity": "nx*d(u, x) + ny*d(u, y)",
    },
    "time": {  # u_t − u_xx = 0 with u = exp(−t)·sin(x): dn is spatial, ∂u/∂x·nx
        "domain": {"rectangle": [[0, 1]], "time": [0, 1]},
        "u": "exp(-t)*sin(x)",
        "equation": "d(u, t) - d(u, x, x)",
        "flux": "nx*exp(-t)*cos(x)",
        "identity": "nx*d(u, x)",
    },
}


def problem_data(case: dict, boundary_equation: str) -> dict:
    on = "hole" if "shapes" in case["domain"] else "all"
    equation = case["equation"] if "equation" in case else f"-laplacian(u) - ({case['f']})"
    boundary = [{"on": on, "equation": boundary_equation}]
    if "time" in case["domain"]:
        boundary.append({"on": "t_min", "dirichlet": "sin(x)"})
    return {
        "name": "dn",
        "pde": {"kind": "equations", "equations": [equation]},
        "domain": case["domain"],
        "boundary": boundary,
        "exact": {"u": case["u"]},
        "network": {"width": 8, "depth": 2},
        "training": {
            "points": {"interior": 60, "boundary": 40},
            "adam": {"steps": 2},
            "lbfgs": {"steps": 1},
            "dtype": "float64",
        },
        "validation": {"grid": 5},
    }


def boundary_residual(data: dict, model: torch.nn.Module | None = None) -> torch.Tensor:
    trainer = Trainer(parse_problem(data, "dn.yaml"), model, progress=False)
    fields = trainer.objective.fields()
    (term,) = [t for t in trainer.terms if t.name == "equation"]
    return term.residual(fields[term.on])


class Exact(torch.nn.Module):
    def __init__(self, problem) -> None:
        super().__init__()
        self.u = problem.exact["u"]
        self.dummy = torch.nn.Parameter(torch.zeros(()))  # a parameter for the optimisers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.u(x) + 0 * self.dummy


@pytest.mark.parametrize("name", sorted(CASES))
def test_dn_equals_the_gradient_along_the_normal(name) -> None:
    case = CASES[name]
    # on a random network, dn(u) − (nx u_x + ny u_y …) vanishes at every boundary point
    residual = boundary_residual(problem_data(case, f"dn(u) - ({case['identity']})"))
    assert residual.numel() >= 10 and residual.abs().max() < 1e-12  # float64 rounding
    # and with the exact solution, dn(u) − (its flux) vanishes too
    data = problem_data(case, f"dn(u) - ({case['flux']})")
    exact = Exact(parse_problem(data, "dn.yaml"))
    assert boundary_residual(data, exact).abs().max() < 1e-12


@pytest.mark.parametrize("name", sorted(CASES))
def test_solve_runs_with_dn_wherever_check_accepts_it(name, write, tmp_path, capsys) -> None:
    case = CASES[name]
    path = write(problem_data(case, f"dn(u) - ({case['flux']})"))
    assert main(["check", str(path)]) == 0
    code = main(["solve", str(path), "--out", str(tmp_path / "run"), "--quiet", "--no-plots"])
    assert code == 0, capsys.readouterr().err


def test_the_readme_robin_example_solves_on_a_square(write, tmp_path, capsys) -> None:
    # README: {on: x_max, equation: "dn(u) - u"} on a 2D square (crashed in solve before)
    data = problem_data(CASES["2d"], "dn(u) - u")
    data["boundary"] = [{"on": "all", "dirichlet": "0"}, {"on": "x_max", "equation": "dn(u) - u"}]
    del data["exact"]
    path = write(data)
    assert main(["solve", str(path), "--out", str(tmp_path / "run"), "--quiet", "--no-plots"]) == 0
