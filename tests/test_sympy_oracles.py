"""Derivatives against oracles independent of torch: sympy for activations, mpmath for networks.

Each activation's closed-form derivatives σ_α⁽ᵏ⁾(z) = αᵏ σ⁽ᵏ⁾(αz), k ≤ 4, for α ≠ 1, against
sympy's symbolic derivatives at 30 digits; and every derivative up to fourth order of a deep
(depth 3) network, whose jets go through the full multivariate Faà di Bruno formula (with the
multiplicities of repeated blocks, which a one-hidden-layer network never exercises), against
mpmath's high-precision differentiation of the same network evaluated in mpmath.
"""

from __future__ import annotations

import math

import mpmath
import pytest
import sympy
import torch

from pinn_gelu.activations import ACTIVATIONS, parse_activation
from pinn_gelu.derivatives import ENGINES
from pinn_gelu.fields import multi_indices
from pinn_gelu.model.networks import MLP

SMOOTH = sorted(name for name, kind in ACTIVATIONS.items() if kind.smoothness == math.inf)


def symbolic(name: str, z: sympy.Expr) -> sympy.Expr:
    """σ(z) written in sympy, from each activation's definition."""
    k = sympy.sqrt(2 / sympy.pi)
    return {
        "gelu": z * (1 + sympy.erf(z / sympy.sqrt(2))) / 2,
        "gelu_tanh": z / 2 * (1 + sympy.tanh(k * (z + sympy.Rational(44715, 10**6) * z**3))),
        "tanh": sympy.tanh(z),
        "sin": sympy.sin(z),
        "silu": z / (1 + sympy.exp(-z)),
        "softplus": sympy.log(1 + sympy.exp(z)),
    }[name]


def test_every_smooth_activation_has_a_sympy_definition() -> None:
    z = sympy.Symbol("z")
    assert SMOOTH and all(symbolic(name, z) is not None for name in SMOOTH)
    assert len(SMOOTH) == 6  # the six smooth activations of the README


@pytest.mark.parametrize("alpha", [0.5, 3.0])
@pytest.mark.parametrize("name", SMOOTH)
def test_activation_derivatives_with_a_temperature_equal_sympy(name, alpha) -> None:
    z = sympy.Symbol("z")
    scaled = symbolic(name, sympy.Float(alpha, 30) * z)
    points = [-2.3, -0.7, 0.0, 0.4, 1.9]
    values = parse_activation(f"{name}(alpha={alpha:g})").derivatives(
        torch.tensor(points, dtype=torch.float64), 4
    )
    for k in range(5):
        expected = [float(sympy.diff(scaled, z, k).subs(z, p).evalf(30)) for p in points]
        # float64 closed forms; gelu_tanh's fourth derivative loses ~3 digits to cancellation
        # in 1 − tanh² at |αz| ≈ 7 (measured 1.3e-12 of the scale): 1e-10 relative. A wrong
        # power of α is off by a factor α or more.
        scale = max(1.0, max(abs(e) for e in expected))
        got = values[k].tolist()
        assert max(abs(g - e) for g, e in zip(got, expected, strict=True)) <= 1e-10 * scale, k


def mp_activation(name: str, z):
    """σ(z) in mpmath, from each activation's definition."""
    return {
        "gelu": lambda: z * (1 + mpmath.erf(z / mpmath.sqrt(2))) / 2,
        "sin": lambda: mpmath.sin(z),
        "tanh": lambda: mpmath.tanh(z),
    }[name]()


def mp_network(network: MLP, name: str):
    """The network's first output as a function of (x, y) in mpmath arithmetic."""
    alpha = mpmath.mpf(network.activation.alpha)
    scale = [mpmath.mpf(float(s)) for s in network.input_scale]
    shift = [mpmath.mpf(float(c)) for c in network.input_shift]
    layers = [
        (
            [[mpmath.mpf(w) for w in row] for row in layer.weight.tolist()],
            [mpmath.mpf(b) for b in layer.bias.tolist()],
        )
        for layer in [*network.hidden, network.output]
    ]

    def u(*x):
        h = [s * xi + c for xi, s, c in zip(x, scale, shift, strict=True)]
        for k, (weights, biases) in enumerate(layers):
            z = [
                sum(w * hj for w, hj in zip(row, h, strict=True)) + b
                for row, b in zip(weights, biases, strict=True)
            ]
            h = z if k == len(layers) - 1 else [mp_activation(name, alpha * zi) for zi in z]
        return h[0]

    return u


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("name", ["gelu", "sin", "tanh"])
def test_every_derivative_of_a_deep_network_equals_high_precision_arithmetic(engine, name) -> None:
    # the oracle: mpmath's differentiation (extrapolated differences at 40 digits, accurate to
    # far below float64) of the network evaluated in mpmath: no torch, no Faà di Bruno
    torch.manual_seed(4)
    network = MLP([(0.0, 1.0), (-1.0, 2.0)], 1, 3, 3, parse_activation(f"{name}(alpha=1.3)"))
    network = network.double()
    with torch.no_grad():
        for p in network.parameters():
            p.copy_(torch.randn_like(p))
    u = mp_network(network, name)
    points = torch.tensor([[0.3, 0.2], [0.8, 1.5]], dtype=torch.float64)
    fields = ENGINES[engine](network, points, "fourth")
    with mpmath.workdps(40):
        for order in range(5):
            for index in multi_indices(2, order):
                counts = (index.count(0), index.count(1))
                expected = [
                    float(mpmath.diff(u, (mpmath.mpf(x), mpmath.mpf(y)), counts))
                    for x, y in points.tolist()
                ]
                got = fields.partial(0, index).detach().tolist()
                scale = max(1.0, max(abs(e) for e in expected))
                # float64 through three layers and a fourth derivative: 1e-10 relative
                error = max(abs(g - e) for g, e in zip(got, expected, strict=True))
                assert error <= 1e-10 * scale, (index, error)
