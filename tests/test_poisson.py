"""Poisson: each shipped problem's exact solution satisfies its own equation and conditions."""

import pytest
import torch
from torch import nn

from pinn_gelu import load_problem
from pinn_gelu.collocation import sample_collocation
from pinn_gelu.config import PointsConfig
from pinn_gelu.derivatives import autograd_fields

from .conftest import PROBLEMS


class ExactNetwork(nn.Module):
    """A 'network' whose outputs are the problem's exact solution expressions."""

    def __init__(self, problem) -> None:
        super().__init__()
        self.expressions = [problem.exact[name] for name in problem.pde.outputs]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([e(x) for e in self.expressions], dim=1)


POISSON = [
    p
    for p in sorted(PROBLEMS.glob("*.yaml"))
    if "kind: poisson" in p.read_text() and "\nexact:" in p.read_text()
]


@pytest.mark.parametrize("path", POISSON, ids=lambda p: p.name)
def test_exact_solution_has_zero_residuals(path) -> None:
    problem = load_problem(path)
    points = sample_collocation(
        problem.domain, PointsConfig(interior=500, boundary=200), 0, dtype=torch.float64
    )
    network = ExactNetwork(problem)
    for term in problem.pde.terms(problem, points):
        residual = term.residual(autograd_fields(network, points.on(term.on), term.need))
        # float64: second derivatives of sin/cosh of order 30 by autograd, exact to ~1e-13
        assert residual.abs().max().item() < 1e-11, term.name


def test_a_wrong_exact_solution_is_detected(write, valid) -> None:
    valid["exact"]["u"] = "sin(pi*x) + 0.01*x*(1 - x)"  # satisfies the BCs, not the PDE
    problem = load_problem(write(valid))
    points = sample_collocation(problem.domain, PointsConfig(interior=100), 0, dtype=torch.float64)
    pde = problem.pde.terms(problem, points)[0]
    residual = pde.residual(autograd_fields(ExactNetwork(problem), points.interior, pde.need))
    torch.testing.assert_close(residual, torch.full_like(residual, 0.02))


def test_neumann_term_uses_the_outward_normal(write) -> None:
    # u = x on [0, 1]: ∂u/∂n = −1 on x_min, +1 on x_max
    data = {
        "pde": {"kind": "poisson", "source": "0"},
        "domain": {"rectangle": [[0, 1]]},
        "boundary": [{"on": "x_min", "neumann": "-1"}, {"on": "x_max", "neumann": "1"}],
        "exact": {"u": "x"},
    }
    problem = load_problem(write(data))
    points = sample_collocation(problem.domain, PointsConfig(interior=10), 0, dtype=torch.float64)
    (neumann,) = [t for t in problem.pde.terms(problem, points) if t.name == "neumann"]
    residual = neumann.residual(autograd_fields(ExactNetwork(problem), points.boundary, "gradient"))
    assert residual.abs().max().item() < 1e-14


def test_non_finite_targets_are_problem_file_errors(write, valid) -> None:
    from pinn_gelu import ProblemFileError

    valid["pde"]["source"] = "log(x - 0.5)"
    problem = load_problem(write(valid))
    points = sample_collocation(problem.domain, PointsConfig(interior=64), 0, dtype=torch.float64)
    with pytest.raises(ProblemFileError, match=r"pde.source: 'log\(x - 0.5\)' is not finite at"):
        problem.pde.terms(problem, points)
