"""Forward-mode derivatives against nested autograd: exact to rounding, every activation."""

import pytest
import torch
from torch import nn

from pinn_gelu import build_network
from pinn_gelu.activations import ACTIVATIONS
from pinn_gelu.config import NetworkConfig
from pinn_gelu.derivatives import autograd_fields, func_fields, select_engine
from pinn_gelu.derivatives.forward import forward_fields


@pytest.mark.parametrize("activation", [*sorted(ACTIVATIONS), "gelu(alpha=4)", "gelu(alpha=0.25)"])
@pytest.mark.parametrize("dimension", [1, 2, 3])
@pytest.mark.parametrize("outputs", [1, 2])
def test_forward_mode_equals_nested_autograd(activation: str, dimension: int, outputs: int) -> None:
    net = build_network(
        NetworkConfig(activation=activation, width=24, depth=3),
        [(-1.0, 2.0), (0.0, 0.5), (3.0, 4.0)][:dimension],
        outputs,
        seed=5,
        dtype=torch.float64,
    )
    g = torch.Generator().manual_seed(1)
    x = torch.rand(40, dimension, generator=g, dtype=torch.float64)
    reference = autograd_fields(net, x, "hessian")
    transformed = func_fields(net, x, "hessian")
    hess = forward_fields(net, x, "hessian")
    lap = forward_fields(net, x, "laplacian")
    grad = forward_fields(net, x, "gradient")
    scale = reference.hessian.abs().max().item() + 1.0
    # float64 through 3 layers of width 24: agreement to ~1e-13 relative; the issue asks ≤ 1e-10
    for a, b in [
        (hess.value, reference.value),
        (grad.gradient, reference.gradient),
        (transformed.hessian, reference.hessian),
        (transformed.gradient, grad.gradient),
        (hess.hessian, reference.hessian),
        (lap.laplacian, reference.laplacian),
        (hess.laplacian, reference.laplacian),
    ]:
        assert a.shape == b.shape
        assert (a - b).abs().max().item() <= 1e-10 * scale


def test_forward_mode_keeps_the_graph_to_the_parameters() -> None:
    net = build_network(
        NetworkConfig(width=16, depth=2), [(0.0, 1.0)] * 2, 1, seed=0, dtype=torch.float64
    )
    x = torch.rand(30, 2, dtype=torch.float64)
    params = list(net.parameters())
    forward = torch.autograd.grad(
        forward_fields(net, x, "laplacian").laplacian.square().mean(), params, allow_unused=True
    )
    nested = torch.autograd.grad(
        autograd_fields(net, x, "laplacian").laplacian.square().mean(), params, allow_unused=True
    )
    # the output bias does not enter the Laplacian: unused in both
    assert forward[-1] is None and nested[-1] is None
    for a, b in zip(forward[:-1], nested[:-1], strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)


def test_engine_selection_and_fallback() -> None:
    net = build_network(NetworkConfig(width=8, depth=2), [(0.0, 1.0)], 1)
    engine, note = select_engine(net, "auto")
    assert engine is forward_fields and "forward mode" in note
    engine, note = select_engine(net, "autograd")
    assert engine is autograd_fields
    custom = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))
    engine, note = select_engine(custom, "auto")
    assert engine is autograd_fields and "Sequential is not a pinn_gelu MLP" in note
    with pytest.raises(ValueError, match="Sequential is not a pinn_gelu MLP"):
        select_engine(custom, "forward")


@pytest.mark.parametrize(
    "name", ["elasticity_plate.yaml", "elasticity_plate_mixed.yaml", "poisson_3d.yaml"]
)
def test_every_residual_term_agrees_between_engines(name) -> None:
    from pinn_gelu import load_problem
    from pinn_gelu.collocation import sample_collocation
    from pinn_gelu.config import PointsConfig

    from .conftest import PROBLEMS

    problem = load_problem(PROBLEMS / name, ["training.dtype=float64"])
    points = sample_collocation(
        problem.domain, PointsConfig(interior=64, boundary=64), 0, dtype=torch.float64
    )
    net = build_network(
        problem.network,
        problem.domain.bounds,
        len(problem.pde.outputs),
        seed=3,
        dtype=torch.float64,
    )
    for term in problem.pde.terms(problem, points):
        x = points.on(term.on)
        values = [
            term.residual(engine(net, x, term.need))
            for engine in (autograd_fields, func_fields, forward_fields)
        ]
        scale = values[0].abs().max().item() + 1.0
        # float64: the Navier–Cauchy terms of forward mode match nested autograd to ~1e-14
        assert (values[1] - values[0]).abs().max().item() <= 1e-10 * scale, term.name
        assert (values[2] - values[0]).abs().max().item() <= 1e-10 * scale, term.name


def test_compile_falls_back_cleanly(write, valid, monkeypatch) -> None:
    from pinn_gelu import load_problem, train

    def broken(*args, **kwargs):
        def fail(*a, **k):
            raise RuntimeError("no C++ compiler found")

        return fail

    monkeypatch.setattr(torch, "compile", broken)
    problem = load_problem(write(valid), ["training.compile=true", "training.lbfgs.steps=0"])
    result = train(problem, progress=False)
    assert result.status == "completed"
    assert (
        "torch.compile failed (RuntimeError: no C++ compiler found); eager mode"
        in result.derivatives
    )
