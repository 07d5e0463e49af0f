"""Activation comparison and the ReLU failure mechanism."""

from __future__ import annotations

import json
import statistics

import pytest
import torch

from pinn_gelu import build_network, compare, load_problem
from pinn_gelu.cli import main
from pinn_gelu.compare import split_specs
from pinn_gelu.config import NetworkConfig
from pinn_gelu.derivatives.forward import forward_fields
from pinn_gelu.derivatives.operators import laplacian
from pinn_gelu.diagnostics import term_gradient_norms

from .conftest import PROBLEMS

REDUCED = [
    "training.adam.steps=200",
    "training.lbfgs.steps=200",
    "training.points.interior=400",
    "training.points.boundary=100",
    "network.width=24",
    "network.depth=3",
]


def test_relu_laplacian_is_exactly_zero_and_gelu_is_not() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(500, 2, generator=g, dtype=torch.float64, requires_grad=True)
    for activation, zero in (("relu", True), ("gelu", False), ("gelu(alpha=16)", False)):
        net = build_network(
            NetworkConfig(activation=activation, width=32, depth=3),
            [(0, 1), (0, 1)],
            1,
            seed=1,
            dtype=torch.float64,
        )
        nested = laplacian(net(x), x)
        forward = forward_fields(net, x.detach(), "laplacian").laplacian
        assert torch.equal(nested == 0, forward == 0)
        if zero:  # exactly zero at every random point, by both engines
            assert torch.equal(nested, torch.zeros_like(nested))
        else:
            assert (nested != 0).all()


@pytest.mark.parametrize("derivatives", ["forward", "autograd"])
def test_the_pde_term_gives_relu_no_gradient(derivatives) -> None:
    relu = term_gradient_norms(
        load_problem(PROBLEMS / "poisson_2d.yaml", ["network.activation=relu"]),
        derivatives=derivatives,
    )
    gelu = term_gradient_norms(load_problem(PROBLEMS / "poisson_2d.yaml"), derivatives=derivatives)
    assert relu["pde"] == 0.0  # exactly: the residual −Δu − f = −f does not depend on θ
    assert relu["dirichlet"] > 0  # the boundary term still trains
    assert gelu["pde"] > 1.0


def test_second_order_elasticity_blocks_relu_but_the_mixed_form_does_not() -> None:
    displacement = term_gradient_norms(
        load_problem(PROBLEMS / "elasticity_plate.yaml", ["network.activation=relu"])
    )
    mixed = term_gradient_norms(
        load_problem(PROBLEMS / "elasticity_plate_mixed.yaml", ["network.activation=relu"])
    )
    assert displacement["pde"] == 0.0
    assert mixed["equilibrium"] > 1.0 and mixed["constitutive"] > 0.1
    assert all(value > 0 for value in mixed.values())


@pytest.mark.parametrize(
    ("text", "specs"),
    [
        ("gelu", ["gelu"]),
        ("gelu,tanh , relu", ["gelu", "tanh", "relu"]),
        (
            "gelu(alpha=0.5),gelu,gelu(alpha=4),gelu(alpha=16),relu",
            ["gelu(alpha=0.5)", "gelu", "gelu(alpha=4)", "gelu(alpha=16)", "relu"],
        ),
    ],
)
def test_activation_lists(text, specs) -> None:
    assert split_specs(text) == specs


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--activations", "gelu,swish"], "--activations: unknown activation 'swish'"),
        (["--activations", "gelu(alpha=4"], "--activations: unbalanced parentheses"),
        (["--activations", "gelu,,relu"], "--activations: empty item"),
        (["--activations", "gelu(alpha=-1)"], "alpha must be a number in"),
        (["--activations", "gelu,gelu(alpha=1)"], "an activation is listed twice"),
        (["--seeds", "0,x"], "--seeds '0,x': expected whole numbers"),
        (["--seeds", "1,1"], "expected distinct seeds"),
        (["--jobs", "0"], "--jobs and --threads must be at least 1"),
        (["--set", "network.width=0"], "network.width: expected a whole number"),
    ],
)
def test_bad_compare_arguments_exit_2(tmp_path, capsys, args, message) -> None:
    out = tmp_path / "cmp"
    assert main(["compare", str(PROBLEMS / "poisson_1d.yaml"), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_sequential_and_parallel_runs_give_identical_metrics() -> None:
    overrides = ["training.adam.steps=40", "training.lbfgs.steps=20"]
    kwargs = {"overrides": overrides, "threads": 1, "progress": False}
    one = compare(PROBLEMS / "poisson_1d.yaml", ["gelu", "tanh"], [0, 1], jobs=1, **kwargs)
    two = compare(PROBLEMS / "poisson_1d.yaml", ["gelu", "tanh"], [0, 1], jobs=2, **kwargs)
    for a, b in zip(one.runs, two.runs, strict=True):
        assert (a["activation"], a["seed"]) == (b["activation"], b["seed"])
        assert a["relative_l2"] == b["relative_l2"]  # bit-identical, not approximately
        assert a["final_loss"] == b["final_loss"]
        assert a["curve"] == b["curve"]


def test_compare_on_poisson_2d_shows_relu_failing(tmp_path, capsys) -> None:
    out = tmp_path / "cmp"
    args = [
        "compare",
        str(PROBLEMS / "poisson_2d.yaml"),
        "--activations",
        "gelu,tanh,relu",
        "--seeds",
        "0,1",
        "--out",
        str(out),
        "--jobs",
        "2",
        "--threads",
        "1",
        "--quiet",
    ]
    for override in REDUCED:
        args += ["--set", override]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "| relu |" in captured.out
    assert "warning: activation 'relu'" in captured.err
    data = json.loads((out / "comparison.json").read_text())
    assert [(r["activation"], r["seed"]) for r in data["runs"]] == [
        ("gelu", 0),
        ("gelu", 1),
        ("tanh", 0),
        ("tanh", 1),
        ("relu", 0),
        ("relu", 1),
    ]
    summary = data["summary"]
    assert set(summary["gelu"]) >= {"relative_l2", "median_wall_time_s"}
    gelu = summary["gelu"]["relative_l2"]["u"]["median"]
    relu = summary["relu"]["relative_l2"]["u"]["median"]
    assert relu >= 100 * gelu
    medians = [r["relative_l2"]["u"] for r in data["runs"] if r["activation"] == "relu"]
    assert relu == statistics.median(medians)
    assert (out / "comparison.md").read_text().startswith("Activation comparison")
    assert (out / "comparison.png").stat().st_size > 20_000
    # a finished comparison is not overwritten without --force
    assert main(args) == 2
