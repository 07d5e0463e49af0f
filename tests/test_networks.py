"""Networks: shapes, the input map, seeded initialisation, the fixed-point gain."""

import math

import numpy as np
import pytest
import torch

from pinn_gelu import build_network, parse_activation
from pinn_gelu.config import NetworkConfig
from pinn_gelu.model.networks import MLP, fixed_point_gain, second_moment


def test_fixed_point_gain_of_gelu_by_an_independent_quadrature() -> None:
    # Gauss–Hermite (probabilists') with 200 nodes integrates the smooth GELU² e^{-z²/2} to ~1e-12
    from scipy.special import ndtr

    nodes, weights = np.polynomial.hermite_e.hermegauss(200)
    moment = np.sum(weights * (nodes * ndtr(nodes)) ** 2) / math.sqrt(2 * math.pi)
    gain = fixed_point_gain(parse_activation("gelu"))
    assert gain == pytest.approx(1 / moment, rel=1e-10)
    assert gain == pytest.approx(2.3517, abs=5e-5)  # the constant quoted in the literature


def test_fixed_point_gain_of_relu_is_he() -> None:
    # E[ReLU(z)²] = ½ exactly, so σ_w² = 2 (He et al. 2015)
    assert fixed_point_gain(parse_activation("relu")) == pytest.approx(2.0, rel=1e-12)


def test_second_moment_of_tanh_and_sin() -> None:
    # E[sin(z)²] = (1 − e^{-2})/2 exactly
    assert second_moment(parse_activation("sin")) == pytest.approx(
        (1 - math.exp(-2)) / 2, rel=1e-10
    )
    # tanh² has no closed form: 200-node Gauss–Hermite integrates the analytic integrand to
    # ~1e-12; the value is 0.3943 (measured), so rel 1e-9 is far from any quadrature error
    nodes, weights = np.polynomial.hermite_e.hermegauss(200)
    moment = np.sum(weights * np.tanh(nodes) ** 2) / math.sqrt(2 * math.pi)
    assert second_moment(parse_activation("tanh")) == pytest.approx(moment, rel=1e-9)
    assert moment == pytest.approx(0.3943, abs=1e-4)
    # at q = 4 the argument is 2z: E[tanh(2z)²]; its poles at ±iπ/4 slow Gauss–Hermite down
    # (measured difference 1.6e-8), so rel 1e-7
    moment4 = np.sum(weights * np.tanh(2 * nodes) ** 2) / math.sqrt(2 * math.pi)
    assert second_moment(parse_activation("tanh"), 4.0) == pytest.approx(moment4, rel=1e-7)


def test_fixed_point_initialisation_maps_unit_variance_to_unit_variance() -> None:
    # With σ_w² = 1/E[GELU(z)²], a layer fed unit-variance pre-activations gives pre-activations
    # of second moment 1 in expectation over the weights. Averaged over 40 draws of a width-256
    # layer the standard error is ≈ 0.3%, so 2% is a safe band; Glorot gives σ_w² E[GELU²]
    # = (256/256)·0.4252 instead.
    moments = {"fixed_point": [], "glorot": []}
    for init, values in moments.items():
        for seed in range(40):
            net = build_network(
                NetworkConfig(width=256, depth=2, init=init),
                [(-1, 1)] * 4,
                1,
                seed=seed,
                dtype=torch.float64,
            )
            g = torch.Generator().manual_seed(1000 + seed)
            h = torch.randn(1024, 256, dtype=torch.float64, generator=g)
            values.append(net.hidden[1](net.activation(h)).square().mean().item())
    assert np.mean(moments["fixed_point"]) == pytest.approx(1.0, rel=0.02)
    assert np.mean(moments["glorot"]) == pytest.approx(0.4252, rel=0.02)


@pytest.mark.parametrize("init", ["glorot", "he", "fixed_point"])
def test_initialisation_is_seeded(init: str) -> None:
    cfg = NetworkConfig(width=20, depth=3, init=init)
    a = build_network(cfg, [(0, 1), (0, 2)], 2, seed=7)
    b = build_network(cfg, [(0, 1), (0, 2)], 2, seed=7)
    c = build_network(cfg, [(0, 1), (0, 2)], 2, seed=8)
    for p, q, r in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(p, q)
        if p.ndim == 2:
            assert not torch.equal(p, r)


def test_glorot_weight_scale() -> None:
    net = build_network(
        NetworkConfig(width=400, depth=2), [(0, 1)] * 2, 1, seed=0, dtype=torch.float64
    )
    w = net.hidden[1].weight
    # std √(2/800) = 0.05; 160000 samples: standard error of the std ≈ 0.05/√320000 ≈ 1e-4
    assert w.std().item() == pytest.approx(0.05, abs=5e-4)
    assert torch.equal(net.hidden[1].bias, torch.zeros(400, dtype=torch.float64))


def test_input_map_sends_the_box_to_the_unit_cube() -> None:
    net = MLP([(2.0, 6.0), (-1.0, 0.0)], 1, 8, 2, parse_activation("gelu"))
    corners = torch.tensor([[2.0, -1.0], [6.0, 0.0], [4.0, -0.5]])
    expected = torch.tensor([[-1.0, -1.0], [1, 1], [0, 0]])
    torch.testing.assert_close(net.normalise(corners), expected)
    assert net.bounds() == [(2.0, 6.0), (-1.0, 0.0)]


def test_shapes_and_config_round_trip() -> None:
    net = build_network(
        NetworkConfig(activation="gelu(alpha=2)", width=16, depth=3), [(0, 1)] * 3, 5
    )
    assert net(torch.rand(7, 3)).shape == (7, 5)
    assert net.config() == {
        "bounds": [[0.0, 1.0]] * 3,
        "outputs": 5,
        "width": 16,
        "depth": 3,
        "activation": "gelu(alpha=2)",
    }
    assert sum(p.numel() for p in net.parameters()) == 4 * 16 + 2 * 17 * 16 + 17 * 5


def _first_preactivation_moment(init: str, bounds, seeds: int = 8, width: int = 2048) -> float:
    """Second moment of the first layer's pre-activations for points uniform over the box."""
    moments = []
    for seed in range(seeds):
        net = build_network(
            NetworkConfig(width=width, depth=1, init=init),
            bounds,
            1,
            seed=seed,
            dtype=torch.float64,
        )
        g = torch.Generator().manual_seed(500 + seed)
        lo = torch.tensor([a for a, _ in bounds], dtype=torch.float64)
        hi = torch.tensor([b for _, b in bounds], dtype=torch.float64)
        x = lo + (hi - lo) * torch.rand(4096, len(bounds), dtype=torch.float64, generator=g)
        with torch.no_grad():
            moments.append(net.hidden[0](net.normalise(x)).square().mean().item())
    return float(np.mean(moments))


@pytest.mark.parametrize("bounds", [[(0.0, 1.0), (-2.0, 3.0)], [(0.0, 2.0)] * 3])
def test_fixed_point_first_preactivation_has_unit_variance_over_the_domain(bounds) -> None:
    # ξ uniform on [−1, 1]^d has E[ξ²] = 1/3 and the first layer draws s² = 3/fan_in, so the
    # second moment is 1 in expectation. Sampling error: the mean of 8·2048 neurons' ‖w‖²
    # (relative sd √(2/d) per neuron) has sd ≤ 0.8%; 4096 points add ≈ 0.4%: 4% is 4-5 sd.
    # With the former 1/fan_in it was 1/3 (measured 0.34), which this bound rejects.
    assert _first_preactivation_moment("fixed_point", bounds) == pytest.approx(1.0, abs=0.04)
    # He keeps 1/fan_in in the first layer: 1/3 over the domain
    assert _first_preactivation_moment("he", bounds, seeds=2) == pytest.approx(1 / 3, abs=0.03)


def test_fixed_point_variance_layer_by_layer_over_the_domain() -> None:
    # From points over the domain, through six GELU layers of width 256 (the table in notebook
    # 2): the first pre-activation is at q* = 1; the fixed point is slightly unstable (slope
    # 1.144 of the variance map there), so the second moment drifts upward with depth.
    # Measured (geometric mean of 6 seeds): 0.98, 1.03, 1.09, 1.14, 1.19, 1.31; with the former
    # first layer (1/fan_in) it decayed from 0.34 to 0.16 instead.
    bounds = [(0.0, 1.0), (0.0, 1.0)]
    runs = []
    for seed in range(6):
        net = build_network(
            NetworkConfig(width=256, depth=6, init="fixed_point"),
            bounds,
            1,
            seed=seed,
            dtype=torch.float64,
        )
        h = torch.rand(2048, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        h = net.normalise(h)
        moments = []
        with torch.no_grad():
            for layer in net.hidden:
                h = layer(h)
                moments.append(h.square().mean().item())
                h = net.activation(h)
        runs.append(moments)
    profile = np.exp(np.log(np.array(runs)).mean(axis=0))
    assert profile[0] == pytest.approx(1.0, abs=0.05)  # sampling sd ≈ 1.5% (6 × 256 neurons)
    assert np.all((profile > 0.9) & (profile < 1.6))  # near q* = 1 for six layers
    assert profile[-1] > 1.15 * profile[1]  # the slight instability: measured ×1.27
