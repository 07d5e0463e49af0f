"""Activations: closed-form derivatives, GELU's formulas, temperature, smoothness, specs."""

import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import special

from pinn_gelu import parse_activation
from pinn_gelu.activations import ACTIVATIONS, order_warning

Z = torch.linspace(-6, 6, 241, dtype=torch.float64)


def autograd_derivatives(activation, z: torch.Tensor) -> list[torch.Tensor]:
    z = z.clone().requires_grad_(True)
    s0 = activation(z)
    (s1,) = torch.autograd.grad(s0.sum(), z, create_graph=True)
    (s2,) = torch.autograd.grad(s1.sum(), z, allow_unused=True)
    return [s0, s1, torch.zeros_like(z) if s2 is None else s2]


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("alpha", [1.0, 0.5, 4.0])
def test_closed_form_derivatives_match_autograd(name: str, alpha: float) -> None:
    activation = parse_activation(f"{name}(alpha={alpha})")
    z = Z[Z.abs() > 1e-3] if name == "relu" else Z  # ReLU' is undefined at 0
    closed = activation.derivatives(z, 2)
    for order, (a, b) in enumerate(zip(closed, autograd_derivatives(activation, z), strict=True)):
        # float64, tens of flops, magnitudes up to alpha² × 2: 1e-12 absolute
        torch.testing.assert_close(a, b, atol=1e-12 * alpha**2, rtol=1e-12, msg=f"order {order}")


def test_gelu_derivatives_against_normal_cdf_and_density() -> None:
    z = Z.numpy()
    cdf, pdf = special.ndtr(z), np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    s0, s1, s2 = (v.numpy() for v in parse_activation("gelu").derivatives(Z, 2))
    # GELU = zΦ, GELU' = Φ + zφ, GELU'' = φ(2 − z²); erf in float64 is accurate to ~1e-16
    np.testing.assert_allclose(s0, z * cdf, atol=1e-15)
    np.testing.assert_allclose(s1, cdf + z * pdf, atol=1e-15)
    np.testing.assert_allclose(s2, pdf * (2 - z**2), atol=1e-15)


def test_gelu_forward_is_the_exact_erf_form_and_gelu_tanh_the_approximation() -> None:
    torch.testing.assert_close(parse_activation("gelu")(Z), F.gelu(Z), atol=0, rtol=0)
    tanh_form = 0.5 * Z * (1 + torch.tanh(math.sqrt(2 / math.pi) * (Z + 0.044715 * Z**3)))
    torch.testing.assert_close(parse_activation("gelu_tanh")(Z), tanh_form, atol=1e-15, rtol=0)
    # the two forms differ by less than 5e-4 everywhere (Hendrycks & Gimpel 2016)
    assert (parse_activation("gelu")(Z) - parse_activation("gelu_tanh")(Z)).abs().max() < 5e-4


def test_temperature_scaled_gelu_limits() -> None:
    z = torch.linspace(-3, 3, 61, dtype=torch.float64)
    # α → ∞: GELU(αz)/α → ReLU(z); |GELU(x) − ReLU(x)| ≤ max_x |x|Φ(−|x|) ≈ 0.170, so ≤ 0.17/α
    for alpha in (10.0, 100.0, 1000.0):
        gap = (parse_activation(f"gelu(alpha={alpha})")(z) / alpha - torch.relu(z)).abs().max()
        assert gap <= 0.17 / alpha
    # α → 0: GELU(αz) = αz/2 + α²z²φ(0) + O(α⁴): a line of slope α/2
    alpha = 1e-3
    line = parse_activation(f"gelu(alpha={alpha})")(z)
    assert (line - alpha * z / 2).abs().max() <= alpha**2 * 9 * 0.4


def test_smoothness_declarations() -> None:
    assert ACTIVATIONS["relu"].vanishing_order == 2
    assert ACTIVATIONS["relu"].smoothness == 0
    for name in ("gelu", "gelu_tanh", "tanh", "sin", "silu", "softplus"):
        assert ACTIVATIONS[name].smoothness == math.inf
        assert ACTIVATIONS[name].vanishing_order is None


def test_relu_second_derivative_is_zero_where_defined() -> None:
    _, s1, s2 = parse_activation("relu").derivatives(Z[Z != 0], 2)
    assert torch.equal(s2, torch.zeros_like(s2))
    assert set(s1.unique().tolist()) == {0.0, 1.0}


def test_order_warning_explains_the_consequence() -> None:
    message = order_warning(parse_activation("relu"), 2, "poisson")
    assert message is not None
    assert "cannot be trained" in message and "boundary" in message
    assert order_warning(parse_activation("relu"), 1, "linear_elasticity") is None
    assert order_warning(parse_activation("gelu(alpha=16)"), 2, "poisson") is None


@pytest.mark.parametrize(
    ("spec", "canonical"),
    [
        ("gelu", "gelu"),
        (" tanh ", "tanh"),
        ("gelu(alpha=4)", "gelu(alpha=4)"),
        ("gelu(alpha=1)", "gelu"),
        ("gelu(alpha=0.5)", "gelu(alpha=0.5)"),
        ("relu", "relu"),
    ],
)
def test_activation_specs(spec: str, canonical: str) -> None:
    assert parse_activation(spec).spec == canonical


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "gelu2",
            "unknown activation 'gelu2' (expected one of: gelu, gelu_tanh, relu, silu, sin, "
            "softplus, tanh)",
        ),
        ("gelu(beta=2)", "unknown parameter 'beta'"),
        ("gelu(4)", "parameters are named"),
        ("gelu(alpha=0)", "alpha must be a number in"),
        ("gelu(alpha='x')", "alpha must be a number in"),
        ("gelu(alpha=True)", "alpha must be a number in"),
        ("os.system('ls')", "invalid activation spec"),
        ("", "invalid activation spec"),
        ("gelu(", "invalid activation spec"),
    ],
)
def test_bad_activation_specs(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_activation(spec)


def test_spec_is_parsed_once_and_travels(monkeypatch: pytest.MonkeyPatch) -> None:
    """The problem file's spec becomes an ActivationSpec at load; nothing parses it again."""
    from pinn_gelu import load_problem
    from pinn_gelu.activations import ActivationSpec
    from pinn_gelu.config import NetworkConfig
    from pinn_gelu.model.networks import build_network
    from pinn_gelu.training import Trainer

    from .conftest import PROBLEMS

    problem = load_problem(
        PROBLEMS / "relu_failure.yaml",
        ["network.activation=gelu(alpha=2)", "training.adam.steps=1"],
    )
    spec = problem.network.activation
    assert spec == ActivationSpec("gelu", 2.0) and str(spec) == "gelu(alpha=2)"

    def forbidden(cls: type, text: object) -> ActivationSpec:
        raise AssertionError(f"parsed again: {text!r}")

    monkeypatch.setattr(ActivationSpec, "parse", classmethod(forbidden))
    trainer = Trainer(problem, progress=False)
    assert trainer.model.network.activation.spec == "gelu(alpha=2)" and trainer.activation == str(
        spec
    )
    net = build_network(problem.network, problem.domain.bounds, 1)
    assert net.activation.alpha == 2.0
    monkeypatch.undo()
    # from Python a string is accepted and parsed once, into the same object
    assert NetworkConfig(activation="gelu(alpha=2)").activation == spec
    with pytest.raises(ValueError, match="unknown activation 'gelu2'"):
        NetworkConfig(activation="gelu2")
