"""What every entry of a registry must do, so that a new entry gets its tests by being registered.

Activations (tests/test_activations.py), optimisers (tests/test_optimisers.py), engines
(tests/test_model.py) and writers (tests/test_writers.py) are parametrised over their registries
where they are tested; here, the PDE kinds and the reference methods, and the commands.
"""

from __future__ import annotations

import pytest
import torch
import yaml

from pinn_gelu import load_problem
from pinn_gelu.cli import COMMANDS, build_parser
from pinn_gelu.collocation import sample_collocation
from pinn_gelu.derivatives import autograd_fields
from pinn_gelu.pdes import PDE_KINDS
from pinn_gelu.reference import METHODS

from .conftest import PROBLEMS

SHIPPED = {path: yaml.safe_load(path.read_text()) for path in sorted(PROBLEMS.glob("*.yaml"))}


def shipped_of_kind(kind: str) -> list:
    return [p for p, data in SHIPPED.items() if data["pde"]["kind"] == kind and "exact" in data]


class Exact(torch.nn.Module):
    """A 'network' whose outputs are the problem's exact solution expressions (float64)."""

    def __init__(self, problem) -> None:
        super().__init__()
        self.fields = [problem.exact[name] for name in problem.pde.outputs]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([f(x) for f in self.fields], dim=1)


@pytest.mark.parametrize("kind", sorted(PDE_KINDS))
def test_every_pde_kind_has_a_shipped_problem_whose_exact_solution_has_no_residual(kind) -> None:
    paths = shipped_of_kind(kind)
    assert paths, f"no shipped problem of kind {kind} with an exact solution"
    problem = load_problem(paths[0], ["training.dtype=float64"])
    # a kind's first shipped problem gives the exact value of every network output
    assert set(problem.pde.outputs) <= set(problem.exact), paths[0].name
    points = sample_collocation(
        problem.domain,
        problem.training.points,
        0,
        dtype=torch.float64,
        device="cpu",
        sides=problem.boundary_sides,
    )
    exact = Exact(problem)
    for term in problem.terms(points):
        if term.on != "interior":
            continue
        residual = term.residual(autograd_fields(exact, points.on(term.on), term.need))
        # the exact solution meets the PDE to rounding (float64, derivatives by autograd)
        assert residual.abs().max() < 1e-8, (paths[0].name, term.name)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_reference_method_solves_a_shipped_problem_it_accepts(name) -> None:
    method = METHODS[name]
    accepted = [
        p
        for p, data in SHIPPED.items()
        if data["pde"]["kind"] in method.kinds
        and "exact" in data
        and method.accepts(load_problem(p).domain)
    ]
    assert accepted, f"no shipped problem that {name} solves"
    problem = load_problem(accepted[0])
    solution = method.solve(problem, 33 if method.resolution == "points" else None)
    assert set(solution.fields) and solution.describe()
    field = next(iter(solution.fields))
    nodes = solution.grid.points() if hasattr(solution, "grid") else solution.nodes
    values = problem.exact[field](torch.as_tensor(nodes))[:, 0].numpy()
    error = abs(solution.fields[field].ravel() - values).max() / abs(values).max()
    # second order: 9 % at h = 1/16 on the first shipped elasticity plate, a quarter at 1/32
    assert error < 5e-2, (name, accepted[0].name, error)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_and_parses_a_file(name) -> None:
    command = COMMANDS[name]
    assert command.HELP and callable(command.run)
    args = build_parser().parse_args([name, "problem.yaml"])
    assert args.file == "problem.yaml" and args.overrides == [] and args.limits == []
