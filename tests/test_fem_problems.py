"""The finite-element reference of a problem file: from the file's expressions to P2 solutions.

tests/test_fem.py checks the solvers on callables; here the whole path a user takes, problem
file → :func:`~pinn_gelu.reference.fem.solve_fem`, against manufactured exact solutions on a
region with a hole (sources, boundary values and tractions derived with sympy), with the
observed order of convergence: a wrong source, value or traction on the way breaks either.
"""

from __future__ import annotations

import numpy as np
import sympy
import torch

from pinn_gelu.problem_file import parse_problem
from pinn_gelu.reference.fem import solve_fem
from pinn_gelu.training import Trainer

x, y = sympy.symbols("x y")
DOMAIN = {
    "shapes": {
        "plate": {"rectangle": [[0, 2], [0, 2]]},
        "hole": {"disk": {"center": [1, 1], "radius": 0.4}},
    },
    "region": "plate - hole",
}
SIZES = [0.4, 0.2, 0.1]


def order(sizes: list[float], errors: list[float]) -> float:
    """Least-squares slope of log(error) against log(H)."""
    return float(np.polyfit(np.log(sizes), np.log(errors), 1)[0])


def errors_against_exact(data: dict, fields: list[str]) -> list[float]:
    problem = parse_problem(data, "manufactured.yaml")
    out = []
    for size in SIZES:
        reference = solve_fem(problem, size)
        nodes = torch.as_tensor(reference.nodes)
        worst = 0.0
        for name in fields:
            exact = problem.exact[name](nodes)[:, 0].numpy()
            worst = max(
                worst, float(np.linalg.norm(reference.fields[name] - exact) / np.linalg.norm(exact))
            )
        out.append(worst)
    return out


def test_poisson_from_a_problem_file_converges_to_the_exact_solution() -> None:
    u = sympy.sin(2 * x) * sympy.exp(y)
    data = {
        "pde": {"kind": "poisson", "source": str(-sympy.diff(u, x, 2) - sympy.diff(u, y, 2))},
        "domain": DOMAIN,
        "boundary": [
            {"on": ["plate.x_min", "plate.y_min", "plate.y_max", "hole"], "dirichlet": str(u)},
            {"on": "plate.x_max", "neumann": str(sympy.diff(u, x))},  # outward normal (1, 0)
        ],
        "exact": {"u": str(u)},
    }
    errors = errors_against_exact(data, ["u"])
    # P2 with curved elements: O(H³) at the nodes (measured rate 3.54, 8.5e-6 at H = 0.1)
    assert order(SIZES, errors) >= 2.7
    assert errors[-1] < 2e-5


def test_elasticity_from_a_problem_file_converges_to_the_exact_solution() -> None:
    lam, mu = 1.5, 1.0
    ux = sympy.sin(x) * sympy.exp(y / 2) / 10
    uy = x * sympy.cos(y) / 10
    exx, eyy = sympy.diff(ux, x), sympy.diff(uy, y)
    exy = (sympy.diff(ux, y) + sympy.diff(uy, x)) / 2
    sxx, syy, sxy = lam * (exx + eyy) + 2 * mu * exx, lam * (exx + eyy) + 2 * mu * eyy, 2 * mu * exy
    fx = -(sympy.diff(sxx, x) + sympy.diff(sxy, y))
    fy = -(sympy.diff(sxy, x) + sympy.diff(syy, y))
    data = {
        "pde": {
            "kind": "linear_elasticity",
            "lame": {"lambda": lam, "mu": mu},
            "plane": "strain",
            "body_force": [str(fx), str(fy)],
        },
        "domain": DOMAIN,
        "boundary": [
            {
                "on": ["plate.x_min", "plate.x_max", "plate.y_min", "hole"],
                "displacement": [str(ux), str(uy)],
            },
            {"on": "plate.y_max", "traction": [str(sxy), str(syy)]},  # σ·n with n = (0, 1)
        ],
        "exact": {"ux": str(ux), "uy": str(uy)},
    }
    errors = errors_against_exact(data, ["ux", "uy"])
    # P2 with curved elements: O(H³) at the nodes (measured rate 3.40, 4.1e-6 at H = 0.1)
    assert order(SIZES, errors) >= 2.7
    assert errors[-1] < 1e-5


def test_a_flux_written_with_the_outward_normal_on_a_curved_part() -> None:
    # the natural way to state an exact solution's flux on a hole: ∇u·n with n = (nx, ny)
    u = sympy.sin(2 * x) * sympy.exp(y)
    flux = f"nx*({sympy.diff(u, x)}) + ny*({sympy.diff(u, y)})"
    data = {
        "pde": {"kind": "poisson", "source": str(-sympy.diff(u, x, 2) - sympy.diff(u, y, 2))},
        "domain": DOMAIN,
        "boundary": [{"on": "plate", "dirichlet": str(u)}, {"on": "hole", "neumann": flux}],
        "exact": {"u": str(u)},
    }
    errors = errors_against_exact(data, ["u"])
    # as with the flux written out: O(H³) (measured rate 3.37, 1.3e-5 at H = 0.1)
    assert order(SIZES, errors) >= 2.7
    assert errors[-1] < 3e-5
    # and the PINN's Neumann targets on the hole are that flux at the sampled points
    problem = parse_problem(data, "manufactured.yaml")
    trainer = Trainer(problem, progress=False)
    (term,) = [t for t in trainer.terms if t.name == "neumann"]
    points, normals = trainer.points.boundary, trainer.points.normals
    start, stop = trainer.points.sides["hole"]
    at = points[start:stop]
    exact = problem.exact["u"]
    gradient = torch.autograd.functional.jacobian(lambda p: exact(p).sum(), at)
    expected = (gradient * normals[start:stop]).sum(1)
    assert term.residual(trainer.objective.fields()["boundary"]).numel() == stop - start
    targets = problem.boundary_value(problem.boundary[1].values[0], "hole", at, normals[start:stop])
    torch.testing.assert_close(targets, expected, rtol=1e-12, atol=1e-12)
