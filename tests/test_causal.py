"""Causal weights: w_i = exp(−ε Σ_{j<i} L_j) per time slab, held constant when differentiating."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import yaml

from pinn_gelu import load_problem
from pinn_gelu.causal import CausalResidual, slab_index
from pinn_gelu.cli import main
from pinn_gelu.fields import Fields
from pinn_gelu.training.setup import assemble

from .conftest import dense_jacobian, interrupted_and_resumed


def heat(tmp_path, **causal) -> str:
    data = {
        "pde": {"kind": "equations", "equations": ["d(u, t) - d(u, x, x)"]},
        "domain": {"rectangle": [[0, 1]], "time": [0, 0.5]},
        "boundary": [
            {"on": "all", "dirichlet": "0"},
            {"on": "t_min", "dirichlet": "sin(pi*x)"},
        ],
        "network": {"width": 10, "depth": 2},
        "training": {
            "points": {"interior": 60, "boundary": 30},
            "adam": {"steps": 12},
            "gauss_newton": {"steps": 4},
            "causal": {"slabs": 4, "epsilon": 3.0, **causal},
            "checkpoint_every": 5,
        },
    }
    path = tmp_path / "heat.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def test_the_weights_follow_the_earlier_slabs_losses() -> None:
    t = torch.tensor([0.05, 0.1, 0.2, 0.25, 0.6, 0.9], dtype=torch.float64)
    slab = slab_index(t, (0.0, 1.0), 3)
    assert slab.tolist() == [0, 0, 0, 0, 1, 2]
    r = torch.tensor([1.0, 1.0, 2.0, 2.0, 3.0, 0.5], dtype=torch.float64, requires_grad=True)
    causal = CausalResidual(lambda f: f.value[:, 0] * 1.0, slab, 3, 0.5)
    weighted = causal(Fields(r[:, None]))
    losses = [2.5, 9.0, 0.25]  # mean r² per slab
    w = [1.0, math.exp(-0.5 * 2.5), math.exp(-0.5 * (2.5 + 9.0))]
    expected = torch.tensor([w[s] for s in slab.tolist()], dtype=torch.float64)
    torch.testing.assert_close(weighted, r.detach() * expected.sqrt(), rtol=1e-15, atol=0)
    # held constant: the gradient of Σ weighted² is 2 w_s r, with no term from the weights
    (gradient,) = torch.autograd.grad(weighted.square().sum(), r)
    torch.testing.assert_close(gradient, 2 * expected * r.detach(), rtol=1e-14, atol=0)
    assert losses[0] == pytest.approx(float((r.detach()[:4] ** 2).mean()))


def test_the_gauss_newton_jacobian_of_a_causal_problem_equals_autograd(tmp_path) -> None:
    assembly = assemble(load_problem(heat(tmp_path)))
    model, loss = assembly.model, assembly.objective
    assert any(isinstance(t.residual, CausalResidual) for t in loss.terms)
    _, jacobian = loss.jacobian()
    dense = dense_jacobian(model, loss)
    assert torch.allclose(jacobian, dense, rtol=1e-10, atol=1e-12)


def test_resume_with_causal_weights_is_bit_for_bit(tmp_path) -> None:
    problem = load_problem(heat(tmp_path))
    reference, resumed = interrupted_and_resumed(problem, tmp_path / "checkpoint.pt", 9)
    for a, b in zip(resumed.model.parameters(), reference.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in reference.history]


def test_causal_weights_change_the_loss_and_zero_epsilon_does_not(tmp_path) -> None:
    plain = assemble(load_problem(heat(tmp_path, slabs=0))).objective.value()[0]
    flat = assemble(load_problem(heat(tmp_path, epsilon=0.0))).objective.value()[0]
    causal = assemble(load_problem(heat(tmp_path))).objective.value()[0]
    assert float(flat) == pytest.approx(float(plain), rel=1e-14)
    assert float(causal) < float(plain)  # later slabs discounted


@pytest.mark.parametrize(
    ("causal", "key", "words"),
    [
        ({"slabs": -1}, "training.causal.slabs", "[0, 1024]"),
        ({"epsilon": -1.0}, "training.causal.epsilon", "in [0, 1e+06]"),
        ({"often": 3}, "training.causal.often", "unknown key"),
    ],
)
def test_malformed_causal_keys_exit_2(tmp_path, capsys, causal, key, words) -> None:
    assert main(["check", heat(tmp_path, **causal)]) == 2
    err = capsys.readouterr().err
    assert f"{key}: " in err and words in err, err


def test_causal_weights_need_time(tmp_path, capsys) -> None:
    data = yaml.safe_load(Path(heat(tmp_path)).read_text(encoding="utf-8"))
    del data["domain"]["time"]
    data["boundary"] = [{"on": "all", "dirichlet": "0"}]
    data["pde"]["equations"] = ["-d(u, x, x) - 1"]
    path = tmp_path / "steady.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["check", str(path)]) == 2
    assert "training.causal.slabs: causal weights need a time interval" in capsys.readouterr().err


def test_check_says_the_causal_weights(tmp_path, capsys) -> None:
    assert main(["check", heat(tmp_path)]) == 0
    assert "causal      4 time slabs, ε = 3\n" in capsys.readouterr().out
