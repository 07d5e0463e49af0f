"""The model: u = g + φ ⊙ N through every engine, and the engine's choice said, never silent."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pinn_gelu.config import NetworkConfig
from pinn_gelu.derivatives import ENGINES, autograd_fields, forward_fields, select_engine
from pinn_gelu.fields import NEEDS, need_rank
from pinn_gelu.model.model import Model
from pinn_gelu.model.networks import build_network
from pinn_gelu.model.trial import Affine, Positive, Trial
from pinn_gelu.model.unknowns import Unknown

from .conftest import assert_engine_matches_autograd


def factor(x: torch.Tensor) -> torch.Tensor:
    """φ = x(1 − x)·(1 + y²) (2D) for each of two outputs: vanishes on x = 0 and x = 1."""
    base = x[:, :1] * (1 - x[:, :1]) * (1 + x[:, 1:2] ** 2)
    return torch.cat([base, 2 * base], dim=1)


def offset(x: torch.Tensor) -> torch.Tensor:
    """g = sin(x + 2y), cos(xy): smooth boundary values."""
    return torch.cat([torch.sin(x[:, :1] + 2 * x[:, 1:2]), torch.cos(x[:, :1] * x[:, 1:2])], 1)


def wrapped(seed: int = 0) -> Model:
    network = build_network(
        NetworkConfig(width=12, depth=3),
        [(0.0, 1.0), (-1.0, 1.0)],
        2,
        seed=seed,
        dtype=torch.float64,
    )
    return Model(network, Affine(factor, offset))


POINTS = torch.rand(23, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("need", NEEDS)
@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_every_engine_through_the_trial_function_equals_nested_autograd(engine, need) -> None:
    # the oracle: nested autograd through the model's forward, u = g + φ·N as one function
    model = wrapped()
    fields = ENGINES[engine](model, POINTS, need)
    oracle = autograd_fields(model, POINTS, need)
    assert torch.allclose(fields.value, oracle.value, rtol=0, atol=1e-13)
    promised = ["gradient", "laplacian", "hessian", "third", "fourth"][: need_rank(need)]
    for name in promised:  # what the need promises, each equal to the oracle's
        ours, theirs = getattr(fields, name), getattr(oracle, name)
        assert ours is not None and theirs is not None, name
        # float64, a few hundred flops per entry: 1e-10 relative
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("need", NEEDS)
@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_a_positive_field_through_every_engine_equals_nested_autograd(engine, need) -> None:
    """u_1 = exp(N_1) (Faà di Bruno to fourth order), u_0 = N_0 untouched."""
    model = Model(wrapped().network, Positive((1,)))
    assert_engine_matches_autograd(model, POINTS, engine, need)
    fields = ENGINES[engine](model, POINTS, need)
    bare = model.network(POINTS)
    torch.testing.assert_close(fields.value[:, 0], bare[:, 0], rtol=0, atol=1e-15)
    torch.testing.assert_close(fields.value[:, 1], bare[:, 1].exp(), rtol=1e-14, atol=0)
    assert select_engine(model, "auto")[0] is forward_fields


def test_forward_mode_through_the_trial_is_not_the_bare_network() -> None:
    # the composition matters: the Laplacian of u differs from the network's by the
    # Leibniz terms Δφ·N + 2∇φ·∇N, so a dropped term would fail the test above
    model = wrapped()
    bare = forward_fields(model.network, POINTS, "laplacian").laplacian
    composed = forward_fields(model, POINTS, "laplacian").laplacian
    assert (composed - bare).abs().max() > 1e-2


def test_boundary_values_are_imposed_by_the_trial_function() -> None:
    model = wrapped()
    edge = torch.tensor([[0.0, 0.3], [1.0, -0.7]], dtype=torch.float64)
    torch.testing.assert_close(model(edge), offset(edge), rtol=0, atol=1e-15)


def test_the_engine_is_named_and_a_fallback_says_why() -> None:
    engine, note = select_engine(wrapped(), "auto")
    assert engine is forward_fields and "forward mode" in note and "automatically" in note

    class Squared(Trial):
        name = "squared"

        def forward(self, x: torch.Tensor, network_value: torch.Tensor) -> torch.Tensor:
            return network_value**2

    model = Model(wrapped().network, Squared())
    engine, note = select_engine(model, "auto")
    assert engine is autograd_fields
    assert "the trial function Squared has no forward-mode rule" in note
    with pytest.raises(ValueError, match="Squared has no forward-mode rule"):
        select_engine(model, "forward")
    foreign = Model(nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2)))
    assert "Sequential is not a pinn_gelu MLP" in select_engine(foreign, "auto")[1]


def test_the_model_owns_every_trainable_parameter_and_names_them() -> None:
    model = Model(wrapped().network, unknowns={"k": Unknown(name="k", initial=2.0)})
    names = [n for n, _ in model.named_parameters()]
    assert names[-1] == "unknowns.k" and all(n.startswith("network.") for n in names[:-1])
    assert model.config()["unknowns"] == ["k"] and model.config()["trial"] == "identity"
