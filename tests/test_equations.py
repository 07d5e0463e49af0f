"""``kind: equations``: derivatives up to fourth order, the residual language, its rules."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from pinn_gelu import ProblemFileError, load_problem
from pinn_gelu.activations import ActivationSpec, order_warning, parse_activation
from pinn_gelu.cli import main
from pinn_gelu.collocation import sample_collocation
from pinn_gelu.config import PointsConfig
from pinn_gelu.derivatives import ENGINES, autograd_fields
from pinn_gelu.fields import multi_indices
from pinn_gelu.model.networks import MLP
from pinn_gelu.training import Trainer

from .conftest import PROBLEMS
from .test_gauss_newton import SMALL, dense_jacobian
from .test_poisson import ExactNetwork

EQUATION_PROBLEMS = [
    p for p in sorted(PROBLEMS.glob("*.yaml")) if "kind: equations" in p.read_text()
]
TINY = [
    "network.width=8",
    "network.depth=2",
    "training.points.interior=32",
    "training.points.boundary=16",
]


def sine_network(bounds, outputs: int, width: int = 5) -> MLP:
    """u(x) = Σ_j a_kj sin(w_j·ξ(x) + b_j) + c_k: one hidden layer, closed-form derivatives."""
    torch.manual_seed(0)
    network = MLP(bounds, outputs, width, 1, parse_activation("sin")).double()
    with torch.no_grad():
        for p in network.parameters():
            p.copy_(torch.randn_like(p))
    return network


def closed_form(network: MLP, x: torch.Tensor, field: int, index: tuple[int, ...]) -> torch.Tensor:
    """∂_α u_k = Σ_j a_kj Π_{i∈α} (s_i w_ji) · sin⁽|α|⁾(w_j·ξ + b_j), sin⁽ⁿ⁾(z) = sin(z + nπ/2)."""
    layer = network.hidden[0]
    effective = layer.weight * network.input_scale  # (w, d): ∂z_j/∂x_i
    z = layer(network.normalise(x))  # (N, w)
    factor = torch.ones_like(effective[:, 0])
    for i in index:
        factor = factor * effective[:, i]
    derivative = torch.sin(z + len(index) * math.pi / 2)
    value = (derivative * factor * network.output.weight[field]).sum(1)
    return value + (network.output.bias[field] if not index else 0.0)


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("dimension", [1, 2, 3])
def test_every_derivative_up_to_fourth_order_matches_the_closed_form(engine, dimension) -> None:
    # a space-time box in 2D and 3D: the last axis is t, a variable like any other here
    bounds = [(-1.0, 2.0), (0.0, 1.0), (0.5, 1.5)][:dimension]
    network = sine_network(bounds, outputs=2)
    x = torch.rand(9, dimension, dtype=torch.float64)
    fields = ENGINES[engine](network, x, "fourth")
    checked = 0
    for field in range(2):
        for order in range(5):
            for index in multi_indices(dimension, order):
                expected = closed_form(network, x, field, index).detach()
                got = fields.partial(field, index).detach()
                scale = float(expected.abs().max())
                assert scale > 1e-3, (index, scale)  # a check that cannot pass on zeros
                assert float((got - expected).abs().max()) <= 1e-12 * max(scale, 1.0), index
                checked += 1
    assert checked == 2 * sum(math.comb(dimension + k - 1, k) for k in range(5))
    laplacian = sum(closed_form(network, x, 0, (i, i)).detach() for i in range(dimension))
    assert fields.laplacian is not None
    torch.testing.assert_close(fields.laplacian[:, 0].detach(), laplacian, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("activation", ["gelu", "gelu_tanh", "tanh", "silu", "softplus"])
@pytest.mark.parametrize("need", ["third", "fourth"])
def test_forward_jets_equal_nested_autograd_on_a_deep_network(activation, need) -> None:
    torch.manual_seed(1)
    # gelu_tanh's higher derivatives go through nested jvp: slow in 3D, as exact in 1D
    for dimension in (1, 3) if activation != "gelu_tanh" else (1, 2):
        network = MLP([(0.0, 1.0)] * dimension, 2, 12, 3, parse_activation(activation)).double()
        x = torch.rand(11, dimension, dtype=torch.float64)
        forward, reference = ENGINES["forward"](network, x, need), autograd_fields(network, x, need)
        for channel in ("value", "gradient", "laplacian", "hessian", "third", "fourth"):
            a, b = getattr(forward, channel), getattr(reference, channel)
            assert (a is None) == (b is None), channel
            if a is not None:
                a, b = a.detach(), b.detach()
                scale = float(b.abs().max())
                assert scale > 0
                assert float((a - b).abs().max()) <= 1e-10 * scale, (channel, dimension)


@pytest.mark.parametrize("name", ["beam", "wave_1d", "reaction_diffusion", "robin_1d"])
def test_gauss_newton_jacobian_of_equation_terms_is_the_dense_jacobian(name) -> None:
    trainer = Trainer(load_problem(PROBLEMS / f"{name}.yaml", SMALL), progress=False)
    _, jac = trainer.objective.jacobian(chunk=5)
    reference = dense_jacobian(trainer)
    assert jac.shape == reference.shape
    assert float((jac - reference).abs().max()) <= 1e-11 * float(reference.abs().max())


def test_poisson_written_as_an_equation_gives_the_same_loss_bit_for_bit(write) -> None:
    poisson = load_problem(PROBLEMS / "poisson_2d.yaml")
    data = {
        "pde": {
            "kind": "equations",
            "equations": ["-laplacian(u) - 2*pi**2*sin(pi*x)*sin(pi*y)"],
        },
        "domain": {"rectangle": [[0, 1], [0, 1]]},
        "boundary": [{"on": "all", "dirichlet": "0"}],
        "network": {"width": 20, "depth": 3},
        "training": {"weights": {"dirichlet": 100}},
    }
    equations = load_problem(write(data))
    a, b = Trainer(poisson, progress=False), Trainer(equations, progress=False)
    b.model.load_state_dict(a.model.state_dict())
    (loss_a, parts_a), (loss_b, parts_b) = a.objective(), b.objective()
    assert a.objective.names == b.objective.names == ["pde", "dirichlet"]
    assert loss_a.item() == loss_b.item() and torch.equal(parts_a, parts_b)
    grads_a = torch.autograd.grad(loss_a, list(a.model.parameters()))
    grads_b = torch.autograd.grad(loss_b, list(b.model.parameters()))
    assert all(torch.equal(g, h) for g, h in zip(grads_a, grads_b, strict=True))
    assert torch.equal(a.objective.jacobian()[1], b.objective.jacobian()[1])


@pytest.mark.parametrize(
    "path", [p for p in EQUATION_PROBLEMS if "\nexact:" in p.read_text()], ids=lambda p: p.name
)
def test_shipped_equation_problems_have_exact_solutions_with_zero_residuals(path) -> None:
    problem = load_problem(path)
    truths = {n: torch.tensor(u.truth, dtype=torch.float64) for n, u in problem.unknowns.items()}
    points = sample_collocation(
        problem.domain,
        PointsConfig(interior=300, boundary=100),
        0,
        dtype=torch.float64,
        sides=problem.boundary_sides,
    )
    network = ExactNetwork(problem)
    terms = problem.pde.terms(problem, points)
    assert terms
    for term in terms:
        fields = autograd_fields(network, points.on(term.on), term.need)
        fields.unknowns = truths or None  # an inverse problem's equations at the true values
        residual = term.residual(fields)
        assert residual.numel() > 0
        assert residual.abs().max().item() < 1e-10, term.name


def test_shipped_problems_cover_the_promised_equations() -> None:
    names = {p.stem for p in EQUATION_PROBLEMS}
    assert {"helmholtz_2d", "heat_1d", "wave_1d", "beam", "robin_1d"} <= names
    assert {"nonlinear_poisson", "reaction_diffusion"} <= names


def test_each_residual_computes_only_what_it_needs() -> None:
    needs = {
        "helmholtz_2d": {"pde": "laplacian"},
        "heat_1d": {"pde": "hessian"},  # ∂²u/∂x² in (x, t) is a Hessian entry
        "beam": {"pde": "fourth", "equation": "third"},
        "robin_1d": {"pde": "laplacian", "equation": "gradient"},
        "wave_1d": {"pde": "hessian", "equation": "gradient"},
    }
    for name, expected in needs.items():
        problem = load_problem(PROBLEMS / f"{name}.yaml")
        points = sample_collocation(
            problem.domain, PointsConfig(interior=8, boundary=8), 0, sides=problem.boundary_sides
        )
        got = {t.name: t.need for t in problem.pde.terms(problem, points)}
        assert {k: got[k] for k in expected} == expected, name


def test_a_robin_problem_trains_to_its_exact_solution() -> None:
    problem = load_problem(
        PROBLEMS / "robin_1d.yaml", ["training.adam.steps=300", "training.gauss_newton.steps=40"]
    )
    result = Trainer(problem, progress=False).run()
    assert result.relative_l2["u"] < 1e-4  # the shipped budget reaches 1.6e-7


# --- the rules of the format -----------------------------------------------------------------


def heat(**changes) -> dict:
    data = {
        "pde": {"kind": "equations", "equations": ["d(u, t) - d(u, x, x)"]},
        "domain": {"rectangle": [[0, 1]], "time": [0, 1]},
        "boundary": [
            {"on": "all", "dirichlet": "0"},
            {"on": "t_min", "dirichlet": "sin(pi*x)"},
        ],
        "exact": {"u": "exp(-pi**2*t)*sin(pi*x)"},
    }
    data.update(changes)
    return data


def test_time_adds_t_and_its_sides_and_all_means_the_spatial_boundary(write) -> None:
    problem = load_problem(write(heat()))
    assert problem.domain.variables == ("x", "t")
    assert problem.domain.sides == ("x_min", "x_max", "t_min", "t_max")
    assert problem.boundary[0].sides == ("x_min", "x_max")
    assert problem.boundary_sides == ("x_min", "x_max", "t_min")  # t_max is free: no points
    points = sample_collocation(
        problem.domain, PointsConfig(interior=10, boundary=90), 0, sides=problem.boundary_sides
    )
    assert points.sides["t_max"][0] == points.sides["t_max"][1]
    start, stop = points.sides["t_min"]
    assert stop > start and bool((points.boundary[start:stop, 1] == 0).all())


def test_free_sides_are_listed_by_check(write, capsys) -> None:
    assert main(["check", str(write(heat()))]) == 0
    out = capsys.readouterr().out
    assert "t_max     no condition" in out
    assert "t_min     dirichlet sin(pi*x)" in out


def test_every_equation_entry_on_a_side_applies(write) -> None:
    data = heat()
    data["boundary"] += [
        {"on": "t_min", "equation": "d(u, t) + pi**2*sin(pi*x)"},
        {"on": "t_min", "equation": ["u - sin(pi*x)", "d(u, x) - pi*cos(pi*x)"]},
    ]
    problem = load_problem(write(data))
    points = sample_collocation(
        problem.domain,
        PointsConfig(interior=10, boundary=40),
        0,
        dtype=torch.float64,
        sides=problem.boundary_sides,
    )
    (equation,) = [t for t in problem.pde.terms(problem, points) if t.name == "equation"]
    start, stop = points.sides["t_min"]
    assert equation.rows is not None and equation.rows.numel() == 3 * (stop - start)
    fields = autograd_fields(ExactNetwork(problem), points.boundary, equation.need)
    residual = equation.residual(fields).detach()
    assert residual.numel() == 3 * (stop - start)
    assert float(residual.abs().max()) < 1e-12


def test_dirichlet_overrides_per_side_and_field(write) -> None:
    data = {
        "pde": {
            "kind": "equations",
            "fields": ["u", "v"],
            "equations": ["-laplacian(u) - v", "-laplacian(v)"],
        },
        "domain": {"rectangle": [[0, 1], [0, 1]]},
        "boundary": [
            {"on": "all", "dirichlet": {"u": "0", "v": "1"}},
            {"on": "x_max", "dirichlet": {"v": "2"}},
            {"on": "y_min", "neumann": {"u": "3"}},
        ],
    }
    resolved = load_problem(write(data)).resolved_boundary()
    shown = {
        side: [(e[0], e[1].source) if e else None for e in entries]  # type: ignore[union-attr]
        for side, entries in resolved.items()
    }
    assert shown["x_min"] == [("dirichlet", "0"), ("dirichlet", "1")]
    assert shown["x_max"] == [("dirichlet", "0"), ("dirichlet", "2")]
    assert shown["y_min"] == [("neumann", "3"), ("dirichlet", "1")]


def test_the_relu_warning_follows_the_highest_order_needed(write) -> None:
    relu = ActivationSpec.parse("relu")
    first_order = {
        "pde": {
            "kind": "equations",
            "fields": ["u", "v"],
            "equations": ["d(u, x) - v", "d(v, x) + pi**2*u"],
        },
        "domain": {"rectangle": [[0, 1]]},
        "boundary": [{"on": "x_min", "dirichlet": {"u": "0", "v": "pi"}}],
    }
    problem = load_problem(write(first_order))
    assert problem.order == 1
    assert order_warning(relu, problem.order, problem.pde.kind) is None
    beam = load_problem(PROBLEMS / "beam.yaml")
    assert beam.order == 4
    assert "order 4" in str(order_warning(relu, beam.order, beam.pde.kind))
    # a boundary equation counts: u'' = 0 in the interior, u''' on the boundary
    data = {
        "pde": {"kind": "equations", "equations": ["d(u, x)"]},
        "domain": {"rectangle": [[0, 1]]},
        "boundary": [{"on": "x_max", "equation": "d(u, x, x, x) - 1"}],
    }
    assert load_problem(write(data)).order == 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = Trainer(load_problem(PROBLEMS / "beam.yaml", [*TINY, "network.activation=relu"]))
    assert any("order 4" in w for w in trainer.warnings)


BAD = [
    # hostile expressions in the new positions
    ({"equations": ["d(__import__, x)"]}, "pde.equations[0]", "must be a field"),
    ({"equations": ["d(u, x, x, x, x, x)"]}, "pde.equations[0]", "order at most 4"),
    ({"equations": ["d(u.real, x)"]}, "pde.equations[0]", "must be a field"),
    ({"equations": ["d(u, x.y)"]}, "pde.equations[0]", "differentiates in variables"),
    ({"equations": ["u.__class__"]}, "pde.equations[0]", "attribute access"),
    ({"equations": ["d(u, x, **k)"]}, "pde.equations[0]", "keyword"),
    ({"fields": ["sin"], "equations": ["sin"]}, "pde.fields[0]", "collides"),
    ({"fields": ["x"], "equations": ["x"]}, "pde.fields[0]", "collides"),
    ({"fields": ["nx"], "equations": ["nx"]}, "pde.fields[0]", "collides"),
    ({"fields": ["__class__"], "equations": ["u"]}, "pde.fields[0]", "identifier"),
    ({"fields": ["u", "u"], "equations": ["u"]}, "pde.fields[1]", "twice"),
    ({"fields": [f"u{k}" for k in range(17)], "equations": ["u0"]}, "pde.fields", "1 to 16"),
    ({"equations": ["u"] * 17}, "pde.equations", "1 to 16"),
    # the rules
    ({"equations": ["d(x, x)"]}, "pde.equations[0]", "must be a field"),
    ({"equations": ["d(u, w)"]}, "pde.equations[0]", "got 'w'"),
    ({"equations": ["laplacian(x)"]}, "pde.equations[0]", "must be a field"),
    ({"equations": ["d(u, t)"]}, "pde.equations[0]", "needs a time interval"),
    ({"equations": ["dn(u)"]}, "pde.equations[0]", "only on the boundary"),
    ({"equations": ["nx*u"]}, "pde.equations[0]", "only in boundary equations"),
    ({"equations": ["x + 1"]}, "pde.equations[0]", "involves no field"),
    ({"equations": ["u(x)"]}, "pde.equations[0]", "unknown function 'u'"),
    ({"equations": "d(u, x"}, "pde.equations[0]", "invalid syntax"),
    ({"equations": []}, "pde.equations", "1 to 16"),
]


@pytest.mark.parametrize(("pde", "key", "message"), BAD, ids=[b[2] + b[1] for b in BAD])
def test_bad_equations_name_the_key_and_the_column(write, pde, key, message) -> None:
    data = {
        "pde": {"kind": "equations", **pde},
        "domain": {"rectangle": [[0, 1], [0, 1]]},
        "boundary": [{"on": "all", "dirichlet": "0"}],
    }
    with pytest.raises(ProblemFileError) as info:
        load_problem(write(data))
    assert info.value.key == key and message in str(info.value), str(info.value)


BAD_BOUNDARY = [
    ({"on": "t_min", "neumann": "0"}, "boundary[2].neumann", "normal is spatial"),
    ({"on": "t_min", "equation": "dn(u)"}, "boundary[2].equation", "normal is spatial"),
    ({"on": "t_max", "equation": "nx*u"}, "boundary[2].equation", "normal is spatial"),
    ({"on": "x_min", "equation": "nz*u"}, "boundary[2].equation", "not available in 1"),
    ({"on": "x_min", "equation": ["u", "d(u, y)"]}, "boundary[2].equation[1]", "got 'y'"),
    ({"on": "x_min", "equation": "1"}, "boundary[2].equation", "involves no field"),
    ({"on": "x_min", "dirichlet": {"w": "0"}}, "boundary[2].dirichlet", "unknown field 'w'"),
    ({"on": "x_min", "equation": ["u"] * 17}, "boundary[2].equation", "1 to 16"),
]


@pytest.mark.parametrize(("entry", "key", "message"), BAD_BOUNDARY)
def test_bad_boundary_equations_name_the_key(write, entry, key, message) -> None:
    data = heat()
    data["boundary"].append(entry)
    with pytest.raises(ProblemFileError) as info:
        load_problem(write(data))
    assert info.value.key == key and message in str(info.value), str(info.value)


def test_time_and_reference_are_refused_where_they_do_not_apply(write, valid) -> None:
    valid["domain"]["time"] = [0, 1]
    with pytest.raises(ProblemFileError, match=r"domain\.time: kind poisson has no time"):
        load_problem(write(valid))
    data = heat(reference={"finite_difference": {"points": 33}})
    with pytest.raises(ProblemFileError, match="reference: no reference solver for kind"):
        load_problem(write(data))


def test_a_hostile_equation_exits_2_with_one_line(write, capsys) -> None:
    data = heat(pde={"kind": "equations", "equations": ["d(__import__('os').system, x)"]})
    path = write(data)
    assert main(["solve", str(path), "--out", str(path.parent / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pde.equations[0]" in err and "column 3" in err
    assert not (path.parent / "run").exists()


def test_time_plots_have_a_time_axis_and_snapshots(write) -> None:
    from pinn_gelu.runs.plots import Canvas, field_panels

    problem = load_problem(write(heat()))
    grid, shape = problem.domain.grid(5)
    figure = field_panels(problem, Canvas(grid, shape), {"u": grid[:, 0]}, {"u": grid[:, 0] * 0.9})
    axes = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
    assert axes[0].get_xlabel() == "x" and axes[0].get_ylabel() == "t"
    data = heat(domain={"rectangle": [[0, 1], [0, 2]], "time": [0, 1]})
    data["exact"] = {"u": "exp(-pi**2*t)*sin(pi*x)"}
    problem = load_problem(write(data))
    grid, shape = problem.domain.grid(7)
    figure = field_panels(problem, Canvas(grid, shape), {"u": grid[:, 2]}, {"u": grid[:, 2] + 1e-3})
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert [t for t in titles if t.startswith("u: PINN")] == [
        f"u: PINN, t = {t:.3g}" for t in np.linspace(0, 1, 7)[[0, 2, 4, 6]]
    ]
    assert sum(t.startswith("|error|") for t in titles) == 4


def test_compare_runs_an_equations_problem(tmp_path) -> None:
    from pinn_gelu import compare

    comparison = compare(
        PROBLEMS / "robin_1d.yaml",
        ["gelu", "tanh"],
        [0],
        overrides=[*TINY, "training.adam.steps=20", "training.gauss_newton.steps=2"],
        progress=False,
    )
    summary = comparison.summary()
    assert set(summary) == {"gelu", "tanh"}


@pytest.mark.parametrize("name", ["t", "d", "laplacian", "dn", "nx", "nz"])
def test_parameters_cannot_take_the_names_of_the_residual_language(write, name) -> None:
    data = heat(parameters={name: 1})
    with pytest.raises(ProblemFileError, match=f"parameters.{name}: '{name}' is reserved"):
        load_problem(write(data))


@pytest.mark.parametrize("path", EQUATION_PROBLEMS, ids=lambda p: p.stem)
def test_every_shipped_equation_problem_trains_a_few_steps(path) -> None:
    overrides = [*TINY, "training.adam.steps=15", "training.gauss_newton.steps=2"]
    problem = load_problem(path, overrides)
    result = Trainer(problem, progress=False).run()
    assert result.status == "completed"
    losses = [float(r["loss"]) for r in result.history]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    if problem.exact:
        assert set(result.relative_l2) == set(problem.pde.outputs)
    assert set(result.parameters) == set(problem.unknowns)


def test_the_memory_bound_counts_the_derivatives_of_boundary_equations(write) -> None:
    # a first-order interior equation, a fourth-order boundary one in 3D + time: 70 channels
    data = {
        "pde": {"kind": "equations", "equations": ["d(u, x)"]},
        "domain": {"rectangle": [[0, 1], [0, 1], [0, 1]], "time": [0, 1]},
        "boundary": [{"on": "x_max", "equation": "d(u, x, y, z, t) - 1"}],
        "network": {"width": 1024},
        "training": {"points": {"interior": 1_000_000}},
    }
    with pytest.raises(ProblemFileError, match="× 70 derivative channels ×"):
        load_problem(write(data))
    data["boundary"][0]["equation"] = "u - 1"  # the interior's first order: 5 channels
    with pytest.raises(ProblemFileError, match="× 5 derivative channels ×"):
        load_problem(write(data))
