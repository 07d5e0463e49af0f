"""Input embeddings: periodic and Fourier features, exact through every derivative engine."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import yaml

from pinn_gelu import load_problem, load_run
from pinn_gelu.cli import main
from pinn_gelu.config import NetworkConfig
from pinn_gelu.derivatives import ENGINES, forward_fields, select_engine
from pinn_gelu.fields import NEEDS
from pinn_gelu.model.embeddings import Chain, FourierFeatures, Periodic
from pinn_gelu.model.model import Model
from pinn_gelu.model.networks import build_network

from .conftest import assert_engine_matches_autograd

BOUNDS = [(-1.0, 1.0), (0.0, 0.5)]  # x periodic with period 2, then t
POINTS = torch.rand(17, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
POINTS = POINTS * torch.tensor([2.0, 0.5], dtype=torch.float64) + torch.tensor([-1.0, 0.0])


def network(periodic=(0,), fourier=0, harmonics=2, seed=0):
    config = NetworkConfig(
        width=10,
        depth=2,
        fourier_features=fourier,
        fourier_scale=1.5,
        periodic_harmonics=harmonics,
    )
    return build_network(config, BOUNDS, 2, seed=seed, dtype=torch.float64, periodic=periodic)


CASES = {
    "periodic": {"periodic": (0,)},
    "fourier": {"periodic": (), "fourier": 6},
    "both": {"periodic": (0,), "fourier": 4},
}


@pytest.mark.parametrize("need", NEEDS)
@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_engine_through_an_embedding_equals_nested_autograd(case, engine, need) -> None:
    model = Model(network(**CASES[case]))
    assert_engine_matches_autograd(model, POINTS, engine, need)
    assert select_engine(model, "auto")[0] is forward_fields


def test_the_embeddings_are_what_they_say() -> None:
    assert isinstance(network().embedding, Periodic)
    assert isinstance(network(periodic=(), fourier=3).embedding, FourierFeatures)
    both = network(fourier=3).embedding
    assert isinstance(both, Chain) and both.features == 6
    assert network(periodic=()).embedding is None
    # the periodic features: the other coordinate, then cos and sin of kπξ for k = 1, 2
    assert network().embedding.features == 1 + 2 * 2
    assert network().hidden[0].in_features == 5


@pytest.mark.parametrize("case", ["periodic", "both"])
def test_u_and_its_derivatives_to_order_four_are_periodic(case) -> None:
    model = Model(network(**CASES[case]))
    shifted = POINTS + torch.tensor([2.0, 0.0], dtype=torch.float64)  # one period in x
    a = forward_fields(model, POINTS, "fourth")
    b = forward_fields(model, shifted, "fourth")
    for name in ("value", "gradient", "hessian", "third", "fourth"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=1e-11, atol=1e-12)
    # and the two sides of the box agree: u(−1, t) = u(1, t) with all derivatives
    left = torch.stack([torch.full((5,), -1.0), torch.linspace(0, 0.5, 5)], 1).double()
    right = left + torch.tensor([2.0, 0.0], dtype=torch.float64)
    lo, hi = forward_fields(model, left, "fourth"), forward_fields(model, right, "fourth")
    torch.testing.assert_close(lo.fourth, hi.fourth, rtol=1e-11, atol=1e-12)
    assert float(lo.fourth.detach().abs().max()) > 1e-3  # not trivially zero


def test_without_the_embedding_u_is_not_periodic() -> None:
    model = Model(network(periodic=()))
    shifted = POINTS + torch.tensor([2.0, 0.0], dtype=torch.float64)
    assert float((model(POINTS) - model(shifted)).detach().abs().max()) > 1e-2


def test_fourier_features_are_drawn_from_the_seed_and_saved_with_the_model() -> None:
    a, b, c = (
        network(periodic=(), fourier=4, seed=1),
        network(periodic=(), fourier=4, seed=1),
        (network(periodic=(), fourier=4, seed=2)),
    )
    assert torch.equal(a.embedding.matrix, b.embedding.matrix)
    assert not torch.equal(a.embedding.matrix, c.embedding.matrix)
    assert "embedding.matrix" in a.state_dict()
    # σ: the frequencies' spread, 2π·1.5 per unit of ξ
    spread = float(network(periodic=(), fourier=512).embedding.matrix.std())
    assert spread == pytest.approx(2 * torch.pi * 1.5, rel=0.1)


def periodic_heat(tmp_path, **network) -> str:
    """u_t = 0.1 u_xx, periodic in x on [−1, 1], u(x, 0) = cos πx: no side condition in x."""
    data = {
        "pde": {"kind": "equations", "equations": ["d(u, t) - 0.1*d(u, x, x)"]},
        "domain": {"rectangle": [[-1, 1]], "time": [0, 1], "periodic": ["x"]},
        "boundary": [{"on": "t_min", "dirichlet": "cos(pi*x)"}],
        "exact": {"u": "exp(-0.1*pi**2*t)*cos(pi*x)"},
        "network": {"width": 16, "depth": 2, **network},
        "training": {
            "points": {"interior": 300, "boundary": 60},
            "adam": {"steps": 100},
            "gauss_newton": {"steps": 25},
        },
    }
    path = tmp_path / "heat.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def test_a_periodic_problem_trains_without_side_conditions_and_reloads(tmp_path) -> None:
    out = tmp_path / "run"
    path = periodic_heat(tmp_path, fourier_features=4, fourier_scale=0.1)
    assert main(["solve", path, "--out", str(out), "--quiet"]) == 0
    problem = load_problem(path)
    assert problem.domain.sides == ("t_min", "t_max")
    points = problem.collocation(torch.float64)
    assert set(points.sides) == {"t_min", "t_max"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["relative_l2"]["u"] < 1e-3, metrics["relative_l2"]
    # the reloaded model has the same Fourier frequencies (from the state dict) and values
    solution = load_run(out)
    x = torch.tensor([[-1.0, 0.3], [1.0, 0.3], [0.2, 0.7]], dtype=torch.float64)
    values = solution(x.numpy())["u"]
    assert abs(values[0] - values[1]) < 1e-12  # periodic, exactly
    assert abs(values[2] - math.exp(-0.1 * math.pi**2 * 0.7) * math.cos(0.2 * math.pi)) < 1e-2


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (lambda d: d["domain"].update(periodic=["t"]), "domain.periodic[0]", "time cannot be"),
        (
            lambda d: d["domain"].update(periodic=["y"]),
            "domain.periodic[0]",
            "unknown variable 'y'",
        ),
        (lambda d: d["domain"].update(periodic=["x", "x"]), "domain.periodic[1]", "given twice"),
        (lambda d: d["domain"].update(periodic=3), "domain.periodic", "a list of variables"),
        (
            lambda d: d["boundary"].append({"on": "x_min", "dirichlet": "0"}),
            "boundary[1].on",
            "x_min lies on the periodic axis x: it needs no condition",
        ),
        (
            lambda d: d["network"].update(fourier_features=-1),
            "network.fourier_features",
            "in [0, 1024]",
        ),
        (lambda d: d["network"].update(fourier_features=5000), "network.fourier_features", "1024"),
        (lambda d: d["network"].update(periodic_harmonics=0), "network.periodic_harmonics", "1"),
        (
            lambda d: d["network"].update(fourier_scale=1e308),
            "network.fourier_scale",
            "in [0, 10000]",
        ),
    ],
)
def test_malformed_periodic_and_embedding_keys_exit_2(tmp_path, capsys, change, key, words):
    path = periodic_heat(tmp_path)
    data = yaml.safe_load(Path(path).read_text())
    change(data)
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False))
    assert main(["check", path]) == 2
    err = capsys.readouterr().err
    assert f"{key}: " in err and words in err, err
    assert len(err.strip().splitlines()) == 1


def test_periodic_needs_a_box() -> None:
    from pinn_gelu.errors import ProblemFileError
    from pinn_gelu.problem_file import parse_problem

    data = {
        "pde": {"kind": "poisson", "source": "1"},
        "domain": {
            "shapes": {"d": {"disk": {"center": [0, 0], "radius": 1}}},
            "region": "d",
            "periodic": ["x"],
        },
        "boundary": [{"on": "all", "dirichlet": "0"}],
    }
    with pytest.raises(ProblemFileError, match=r"domain\.periodic: periodic axes need a box"):
        parse_problem(data, "disk.yaml")


def test_the_parameter_count_includes_the_embedding() -> None:
    from pinn_gelu.model.networks import parameter_count

    for case in CASES.values():
        net = network(**case)
        config = NetworkConfig(
            width=10,
            depth=2,
            fourier_features=case.get("fourier", 0),
            fourier_scale=1.5,
            periodic_harmonics=2,
        )
        count = parameter_count(config, 2, 2, case["periodic"])
        assert count == sum(p.numel() for p in net.parameters()), case


def test_a_periodic_problem_refuses_a_reference_and_a_plain_network(tmp_path, capsys) -> None:
    from pinn_gelu import train
    from pinn_gelu.model.networks import build_network

    data = {
        "pde": {"kind": "poisson", "source": "sin(pi*x)"},
        "domain": {"rectangle": [[-1, 1], [0, 1]], "periodic": ["x"]},
        "boundary": [{"on": "all", "dirichlet": "0"}],
        "reference": {"finite_difference": {"points": 9}},
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["check", str(path)]) == 2
    assert "reference: the reference solvers have no periodic conditions" in capsys.readouterr().err
    del data["reference"]
    path.write_text(yaml.safe_dump(data))
    problem = load_problem(path)
    plain = build_network(NetworkConfig(width=4, depth=1), problem.domain.bounds, 1)
    with pytest.raises(ValueError, match="the problem is periodic"):
        train(problem, model=plain, progress=False)


def test_a_box_periodic_on_every_axis_needs_no_boundary_entry(tmp_path) -> None:
    """u_t = 0.05 Δu on the torus [−1, 1]², u(x, y, 0) = cos πx cos πy: only an initial value."""
    data = {
        "pde": {"kind": "equations", "equations": ["d(u, t) - 0.05*laplacian(u)"]},
        "domain": {"rectangle": [[-1, 1], [-1, 1]], "time": [0, 0.2], "periodic": ["x", "y"]},
        "boundary": [{"on": "t_min", "dirichlet": "cos(pi*x)*cos(pi*y)", "exact": True}],
        "network": {"width": 8, "depth": 2},
        "training": {"points": {"interior": 40}, "adam": {"steps": 2}},
    }
    path = tmp_path / "torus.yaml"
    path.write_text(yaml.safe_dump(data))
    problem = load_problem(path)
    assert problem.domain.sides == ("t_min", "t_max") and problem.boundary_sides == ()
    steady = {**data, "pde": {"kind": "poisson", "source": "cos(pi*x)"}, "boundary": []}
    steady["domain"] = {"rectangle": [[-1, 1], [-1, 1]], "periodic": ["x", "y"]}
    path.write_text(yaml.safe_dump(steady))
    assert load_problem(path).domain.sides == ()
    assert main(["check", str(path)]) == 0
