"""Unknown constants outside residual expressions: sources, boundary values, body forces, loads.

A plain expression (a source, a Dirichlet or Neumann value, a traction, a body force) that reads
an unknown is evaluated again with the unknown's current value on every loss evaluation, so the
loss's gradient and the Gauss–Newton Jacobian include its derivative. Where an unknown cannot go
(a weight, an exact solution without a truth, a reference solution), the file is refused.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from pinn_gelu import load_problem, train
from pinn_gelu.cli import main
from pinn_gelu.errors import ProblemFileError
from pinn_gelu.expressions import parse_expression
from pinn_gelu.problem_file import parse_problem, read_yaml
from pinn_gelu.training.setup import assemble

from .conftest import dense_jacobian
from .test_inverse import PLATE, csv_text, write_problem


def poisson_1d(tmp_path, *, source="k*pi**2*sin(pi*x)", left="0", right="0", unknowns=None):
    """−u'' = source on [0, 1] with Dirichlet values; 12 observations of u = sin(πx) + x/2."""
    x = np.linspace(0.08, 0.92, 12)
    (tmp_path / "obs.csv").write_text(csv_text({"x": x, "u": np.sin(np.pi * x) + 0.5 * x}))
    return {
        "unknowns": unknowns or {"k": {"initial": 0.5, "positive": True, "truth": 1.0}},
        "pde": {"kind": "poisson", "source": source},
        "domain": {"rectangle": [[0, 1]]},
        "boundary": [{"on": "x_min", "dirichlet": left}, {"on": "x_max", "dirichlet": right}],
        "data": [{"file": "obs.csv"}],
        "network": {"width": 16, "depth": 2},
        "training": {
            "points": {"interior": 50},
            "adam": {"steps": 150},
            "gauss_newton": {"steps": 20},
            "seed": 0,
        },
    }


def test_an_expression_reading_an_unknown_is_differentiable_in_it() -> None:
    expression = parse_expression("k*sin(x) + k**2", ["x"], unknowns=["c", "k"])
    assert expression.unknowns == ("k",)  # only the one it reads
    x = torch.linspace(0, 1, 5, dtype=torch.float64)[:, None]
    k = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    value = expression(x, {"k": k})
    (gradient,) = torch.autograd.grad(value.sum(), k)
    assert float(gradient) == pytest.approx(float((torch.sin(x) + 2 * 1.5).sum()), rel=1e-14)
    with pytest.raises(ValueError, match="needs the values of"):
        expression(x)


@pytest.mark.parametrize(
    ("where", "changes"),
    [
        ("source", {}),
        ("dirichlet", {"source": "pi**2*sin(pi*x)", "right": "g"}),
    ],
)
def test_the_gradient_and_jacobian_follow_an_unknown_in_a_plain_expression(
    tmp_path, where, changes
) -> None:
    unknowns = {"k": {"initial": 0.5, "positive": True}}
    if where == "dirichlet":
        unknowns = {"g": {"initial": 0.2}}
    problem = load_problem(
        write_problem(tmp_path, poisson_1d(tmp_path, **changes, unknowns=unknowns))
    )
    assembly = assemble(problem)
    model, loss = assembly.model, assembly.objective
    (name,) = unknowns
    raw = model.unknowns[name]
    total, _ = loss()
    (gradient,) = torch.autograd.grad(total, raw)
    h = 1e-6
    with torch.no_grad():
        raw += h
        plus = float(loss.value()[0])
        raw -= 2 * h
        minus = float(loss.value()[0])
        raw += h
    assert abs(float(gradient)) > 1e-3
    assert float(gradient) == pytest.approx((plus - minus) / (2 * h), rel=1e-6)
    _, jacobian = loss.jacobian()
    dense = dense_jacobian(model, loss)
    assert torch.allclose(jacobian, dense, rtol=1e-10, atol=1e-12)
    # the unknown's column is nonzero on the rows of the term that reads it (and the data's
    # rows, through the network's dependence), and zero on the other condition's rows
    starts = np.cumsum([0, *loss.counts])
    spans = {
        n: slice(int(a), int(b))
        for n, a, b in zip(loss.names, starts[:-1], starts[1:], strict=True)
    }
    column = dense[:, -1]
    term = "pde" if where == "source" else "dirichlet"
    assert float(column[spans[term]].abs().max()) > 1e-3
    assert float(column[spans["data_obs"]].abs().max()) == 0.0  # data read u only


def test_an_unknown_source_strength_and_boundary_value_are_identified(tmp_path) -> None:
    """−u'' = k π² sin(πx), u(0) = 0, u(1) = g, data of u = sin(πx) + x/2: k = 1, g = 0.5."""
    unknowns = {
        "k": {"initial": 0.5, "positive": True, "truth": 1.0},
        "g": {"initial": 0.0, "truth": 0.5},
    }
    data = poisson_1d(tmp_path, right="g", unknowns=unknowns)
    result = train(load_problem(write_problem(tmp_path, data)), progress=False)
    for name, truth in (("k", 1.0), ("g", 0.5)):
        estimate = result.parameters[name]
        assert estimate["value"] == pytest.approx(truth, rel=3e-3), (name, estimate)
        assert result.history[0][f"unknown_{name}"] != pytest.approx(truth, rel=0.1)


def test_an_unknown_load_and_body_force_have_exact_jacobian_columns() -> None:
    """The Kirsch plate's tension S (tractions) and a body force b·x as unknowns, with E, ν."""
    data = read_yaml(PLATE)
    data["parameters"].pop("S")
    data["unknowns"]["S"] = {"initial": 0.5, "positive": True, "truth": 1.0}
    data["unknowns"]["b"] = {"initial": 0.1}
    data["pde"]["body_force"] = ["b*x", "0"]
    data["network"] = {"width": 6, "depth": 2}
    data["training"]["points"] = {"interior": 8, "boundary": 12}
    assembly = assemble(parse_problem(data, str(PLATE)))
    model, loss = assembly.model, assembly.objective
    _, jacobian = loss.jacobian()
    dense = dense_jacobian(model, loss)
    names = [n for n, _ in model.named_parameters()]
    assert sorted(names[-4:]) == ["unknowns.E", "unknowns.S", "unknowns.b", "unknowns.nu"]
    assert torch.allclose(jacobian, dense, rtol=1e-10, atol=1e-12)
    assert bool((dense[:, -4:].abs().amax(0) > 1e-3).all())


def _weight(d):
    d["training"]["weights"] = {"pde": "k*x"}


def _exact_without_truth(d):
    d["unknowns"]["k"].pop("truth")
    d["exact"] = {"u": "k*sin(pi*x)"}


def _reference(d):
    d["reference"] = {"finite_difference": {"points": 33}}


def _modulus_expression(d):
    d["pde"]["youngs_modulus"] = "2*E"


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (_weight, "training.weights.pde", "a weight cannot read the unknown 'k'"),
        (_exact_without_truth, "exact.u", "'k' is an unknown without a truth"),
        (_reference, "reference", "its pde.source reads the unknown k"),
    ],
)
def test_unknowns_where_they_cannot_go_exit_2(tmp_path, capsys, change, key, words) -> None:
    data = poisson_1d(tmp_path)
    change(data)
    path = write_problem(tmp_path, data)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["solve", path, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert re.search(re.escape(f"{key}: ") + ".*" + re.escape(words), err), err
    assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_a_modulus_written_as_an_expression_of_an_unknown_is_refused() -> None:
    data = read_yaml(PLATE)
    _modulus_expression(data)
    with pytest.raises(ProblemFileError, match=r"pde\.youngs_modulus: name the unknown alone"):
        parse_problem(data, str(PLATE))


def coefficient_1d(tmp_path) -> dict:
    """−(a u')' = f on [0, 1], u = sin(πx), a = 1 + x > 0 unknown inside; 30 clean values of u."""
    x = np.linspace(0.02, 0.98, 30)
    (tmp_path / "u.csv").write_text(csv_text({"x": x, "u": np.sin(np.pi * x)}))
    return {
        "pde": {
            "kind": "equations",
            "fields": ["u", "a"],
            "positive": ["a"],
            "equations": [
                "-(d(a, x)*d(u, x) + a*d(u, x, x)) - ((1 + x)*pi**2*sin(pi*x) - pi*cos(pi*x))"
            ],
        },
        "domain": {"rectangle": [[0, 1]]},
        "boundary": [{"on": "all", "dirichlet": {"u": "0", "a": "1 + x"}}],
        "data": [{"file": "u.csv"}],
        "exact": {"u": "sin(pi*x)", "a": "1 + x"},
        "network": {"width": 16, "depth": 2},
        "training": {
            "points": {"interior": 60},
            "adam": {"steps": 300},
            "gauss_newton": {"steps": 30},
            "seed": 0,
        },
    }


def test_a_positive_coefficient_field_is_identified(tmp_path, capsys) -> None:
    path = write_problem(tmp_path, coefficient_1d(tmp_path))
    assert main(["check", path]) == 0
    assert "equations in u, a (a > 0):" in capsys.readouterr().out
    result = train(load_problem(path), progress=False)
    x = torch.linspace(0, 1, 101, dtype=torch.float64)[:, None]
    a = result.model(x)[:, 1].detach()
    assert bool((a > 0).all())
    error = float((a - (1 + x[:, 0])).norm() / (1 + x[:, 0]).norm())
    assert error < 1e-2, error
    assert result.relative_l2["a"] < 1e-2 and result.relative_l2["u"] < 1e-2  # its validation


@pytest.mark.parametrize(
    ("value", "key", "words"),
    [
        (["b"], "pde.positive[0]", "unknown field 'b' (expected one of: u, a)"),
        (["a", "a"], "pde.positive[1]", "the field 'a' is given twice"),
        (3, "pde.positive", "a list of field names from: u, a"),
    ],
)
def test_malformed_positive_fields_exit_2(tmp_path, capsys, value, key, words) -> None:
    data = coefficient_1d(tmp_path)
    data["pde"]["positive"] = value
    assert main(["check", write_problem(tmp_path, data)]) == 2
    err = capsys.readouterr().err
    assert f"{key}: " in err and words in err, err
