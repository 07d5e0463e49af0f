"""Linear elasticity: exact solutions satisfy every term; material input; bad input rejected."""

import pytest
import torch

from pinn_gelu import load_problem
from pinn_gelu.collocation import sample_collocation
from pinn_gelu.config import PointsConfig
from pinn_gelu.derivatives import autograd_fields
from pinn_gelu.pdes.elasticity import lame_from_young, stress_from_gradient

from .conftest import PROBLEMS
from .test_poisson import ExactNetwork

ELASTICITY = sorted(PROBLEMS.glob("elasticity*.yaml"))


CASES = [
    ("elasticity_plate.yaml", "displacement"),
    ("elasticity_plate_mixed.yaml", "mixed"),
    ("elasticity_traction.yaml", "displacement"),
    ("elasticity_traction.yaml", "mixed"),
]


def test_every_elasticity_problem_is_covered() -> None:
    assert {name for name, _ in CASES} == {p.name for p in ELASTICITY}


@pytest.mark.parametrize(("name", "formulation"), CASES)
def test_exact_solution_satisfies_every_term(name, formulation) -> None:
    problem = load_problem(PROBLEMS / name, [f"pde.formulation={formulation}"])
    points = sample_collocation(
        problem.domain, PointsConfig(interior=400, boundary=200), 0, dtype=torch.float64
    )
    terms = problem.pde.terms(problem, points)
    names = [t.name for t in terms]
    interior = ["pde"] if formulation == "displacement" else ["equilibrium", "constitutive"]
    assert names == [*interior, "displacement", "traction"]
    for term in terms:
        residual = term.residual(
            autograd_fields(ExactNetwork(problem), points.on(term.on), term.need)
        )
        # float64; body forces of order 100 from second derivatives of trig terms: 1e-10
        assert residual.abs().max().item() < 1e-10, term.name


def test_a_wrong_body_force_is_detected() -> None:
    problem = load_problem(PROBLEMS / "elasticity_plate.yaml", ["pde.body_force[0]=0"])
    points = sample_collocation(problem.domain, PointsConfig(interior=100), 0, dtype=torch.float64)
    term = problem.pde.terms(problem, points)[0]
    residual = term.residual(autograd_fields(ExactNetwork(problem), points.interior, "hessian"))
    assert residual[:, 0].abs().max().item() > 1.0


def test_material_from_youngs_modulus_and_plane_stress() -> None:
    # E = 1, ν = 0.3: μ = 1/2.6, λ = 0.3/(1.3·0.4); plane stress λ* = Eν/(1 − ν²)
    lam, mu = lame_from_young(1.0, 0.3)
    assert mu == pytest.approx(1 / 2.6) and lam == pytest.approx(0.3 / 0.52)
    problem = load_problem(PROBLEMS / "elasticity_traction.yaml")
    assert problem.pde.mu == pytest.approx(mu)
    assert problem.pde.lam == pytest.approx(0.3 / (1 - 0.09))
    assert problem.pde.lam == pytest.approx(2 * lam * mu / (lam + 2 * mu))


def test_stress_from_gradient() -> None:
    # pure shear ∂ux/∂y = 1: σxy = μ, σxx = σyy = 0; uniaxial ∂ux/∂x = 1: σxx = λ + 2μ, σyy = λ
    g = torch.tensor([[[0.0, 1.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 0.0]]], dtype=torch.float64)
    s = stress_from_gradient(g, 2.0, 3.0)
    torch.testing.assert_close(
        s, torch.tensor([[0.0, 0.0, 3.0], [8.0, 2.0, 0.0]], dtype=torch.float64)
    )


def test_orders_outputs_and_components() -> None:
    displacement = load_problem(PROBLEMS / "elasticity_plate.yaml").pde
    mixed = load_problem(PROBLEMS / "elasticity_plate_mixed.yaml").pde
    assert (displacement.order, displacement.outputs) == (2, ("ux", "uy"))
    assert (mixed.order, mixed.outputs) == (1, ("ux", "uy", "sxx", "syy", "sxy"))


def test_roller_side_resolution() -> None:
    problem = load_problem(PROBLEMS / "elasticity_plate.yaml")
    resolved = problem.resolved_boundary()
    assert [kind for kind, _ in resolved["x_min"]] == ["traction", "displacement"]
    assert [kind for kind, _ in resolved["y_max"]] == ["displacement", "traction"]


def test_components_left_free_are_traction_free(write) -> None:
    data = {
        "pde": {"kind": "linear_elasticity", "lame": {"lambda": 1, "mu": 1}},
        "domain": {"rectangle": [[0, 1], [0, 1]]},
        "boundary": [{"on": "x_min", "displacement": ["0", None]}],
    }
    problem = load_problem(write(data))
    resolved = problem.resolved_boundary()
    assert resolved["x_min"][0][0] == "displacement"
    assert resolved["x_min"][1] == ("traction", 0.0)
    assert resolved["y_max"] == [("traction", 0.0), ("traction", 0.0)]


BASE = {
    "pde": {"kind": "linear_elasticity", "lame": {"lambda": 1, "mu": 0.5}},
    "domain": {"rectangle": [[0, 1], [0, 1]]},
    "boundary": [{"on": "all", "displacement": ["0", "0"]}],
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["pde"]["lame"].update(mu=-1),
            "pde.lame.mu: the shear modulus μ must be positive",
        ),
        (
            lambda d: d["pde"]["lame"].update(**{"lambda": -2}),
            "pde.lame.lambda: λ + μ must be positive",
        ),
        (
            lambda d: d["pde"].update(youngs_modulus=1, poisson_ratio=0.3),
            "pde: give the material either",
        ),
        (lambda d: d["pde"].pop("lame"), "pde: give the material either"),
        (
            lambda d: (d["pde"].pop("lame"), d["pde"].update(youngs_modulus=1, poisson_ratio=0.5)),
            "pde.poisson_ratio: must lie in (-1, 0.5) (0.5 is incompressible), got 0.5",
        ),
        (
            lambda d: (d["pde"].pop("lame"), d["pde"].update(youngs_modulus=-1, poisson_ratio=0.3)),
            "pde.youngs_modulus: must be positive",
        ),
        (
            lambda d: d["pde"].update(formulation="weak"),
            "pde.formulation: expected one of: displacement, mixed",
        ),
        (lambda d: d["pde"].update(plane="both"), "pde.plane: expected one of: strain, stress"),
        (lambda d: d["pde"].update(body_force=["1"]), "pde.body_force: expected a list of 2"),
        (lambda d: d["pde"].update(body_force=["1", "z"]), "pde.body_force[1]: variable 'z'"),
        (
            lambda d: d["pde"]["lame"].update(mu="x"),
            "pde.lame.mu: a material constant must not depend",
        ),
        (
            lambda d: d["boundary"][0].update(displacement=["0"]),
            "boundary[0].displacement: expected a list of 2 expressions",
        ),
        (lambda d: d["boundary"][0].update(displacement=["0", "0", "0"]), "expected a list of 2"),
        (
            lambda d: d["boundary"][0].update(displacement=[None, None]),
            "boundary[0].displacement: at least one component",
        ),
        (
            lambda d: d["boundary"][0].update(traction=["0", "y**"]),
            "boundary[0].traction[1]: invalid syntax",
        ),
        (
            lambda d: d["domain"].update(rectangle=[[0, 1]]),
            "pde.kind: linear elasticity is two-dimensional, but the domain has 1 dimension(s)",
        ),
        (
            lambda d: d.update(exact={"u": "0"}),
            "exact.u: unknown field (expected one of: ux, uy, sxx, syy, sxy)",
        ),
        (
            lambda d: d.update(training={"weights": {"pde": 1, "neumann": 2}}),
            "training.weights.neumann: unknown loss term "
            "(expected one of: pde, displacement, traction)",
        ),
    ],
)
def test_bad_elasticity_input(write, change, message) -> None:
    import copy

    from pinn_gelu import ProblemFileError

    data = copy.deepcopy(BASE)
    change(data)
    path = write(data)
    with pytest.raises(ProblemFileError) as info:
        load_problem(path)
    assert message in str(info.value)
