"""Enrichment: u = N + Σ λ_k s_k with trained λ (and the expression language's atan2)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import yaml

from pinn_gelu import load_problem, load_run
from pinn_gelu.cli import main
from pinn_gelu.errors import ExpressionError
from pinn_gelu.expressions import parse_expression
from pinn_gelu.fields import NEEDS
from pinn_gelu.training.setup import assemble

from .conftest import assert_engine_matches_autograd, dense_jacobian

#: r^(2/3) sin(2ψ/3), ψ the angle from the edge x = 0, y > 0 of the L-shape [−1, 1]² ∖ (0, 1]²
#: (its branch cut along the missing quadrant's diagonal, outside the region).
SINGULAR = "(x**2 + y**2)**(1/3)*sin(2/3*(atan2(x - y, -x - y) + 3*pi/4))"
ELL = {"ell": {"polygon": [[-1, -1], [1, -1], [1, 0], [0, 0], [0, 1], [-1, 1]]}}


def lshape(**changes) -> dict:
    """A small L-shape problem with the corner's singular function as its enrichment."""
    data = {
        "name": "lshape_enriched",
        "pde": {"kind": "poisson", "source": "1"},
        "domain": {"shapes": ELL, "region": "ell"},
        "boundary": [{"on": "all", "dirichlet": "0"}],
        "enrichment": {"k1": {"function": SINGULAR}},
        "network": {"width": 8, "depth": 2},
        "training": {
            "points": {"interior": 120, "boundary": 60},
            "schedule": ["adam", "gauss_newton"],
            "adam": {"steps": 3},
            "gauss_newton": {"steps": 2},
            "seed": 0,
        },
    }
    data.update(changes)
    return data


def two_fields(**changes) -> dict:
    """Two fields on a square; the enrichment goes to the second, v."""
    data = {
        "name": "two_fields",
        "pde": {
            "kind": "equations",
            "fields": ["u", "v"],
            "equations": ["-laplacian(u) + u*v - 1", "-laplacian(v) + d(u, x)*v"],
        },
        "domain": {"rectangle": [[0, 1], [0, 1]]},
        "boundary": [{"on": "all", "dirichlet": {"u": "0", "v": "0"}}],
        "enrichment": {"a": {"function": "sin(x)*exp(y)", "field": "v", "initial": 0.3}},
        "network": {"width": 6, "depth": 2},
        "training": {"points": {"interior": 40, "boundary": 20}, "seed": 1},
    }
    data.update(changes)
    return data


def written(tmp_path, data: dict, name: str = "problem.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


# --- atan2 -----------------------------------------------------------------------------------
def test_atan2_is_the_angle_of_the_point_and_folds_constants() -> None:
    f = parse_expression("atan2(y, x)", ("x", "y"))
    points = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 1e-300], [-1.0, -1e-300], [-2.0, -2.0]])
    expected = [math.atan2(y, x) for x, y in points.tolist()]
    assert f(points.double())[:, 0].tolist() == pytest.approx(expected, rel=1e-15)
    assert parse_expression("atan2(1, -1)", ("x",)).constant == pytest.approx(3 * math.pi / 4)
    mixed = parse_expression("atan2(1, x) + atan2(x, 2)", ("x",))
    x = torch.tensor([[0.5], [-3.0]], dtype=torch.float64)
    want = [math.atan2(1, v) + math.atan2(v, 2) for v in (0.5, -3.0)]
    assert mixed(x)[:, 0].tolist() == pytest.approx(want, rel=1e-15)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("atan2(x)", "atan2() takes exactly 2 arguments, got 1"),
        ("atan2(x, x, x)", "atan2() takes exactly 2 arguments, got 3"),
        ("atan2 + x", "function 'atan2' must be called, as in atan2(y, x)"),
        ("atan3(x, x)", "unknown function 'atan3'"),
    ],
)
def test_atan2_malformed(text, words) -> None:
    with pytest.raises(ExpressionError, match=re_escape(words)):
        parse_expression(text, ("x",))


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


# --- the shipped singular function -----------------------------------------------------------
def test_the_corner_function_is_harmonic_continuous_and_zero_on_the_corners_edges() -> None:
    s = parse_expression(SINGULAR, ("x", "y"))
    # zero on the two edges that meet at the re-entrant corner: x = 0 (y > 0), y = 0 (x > 0)
    t = torch.linspace(1e-3, 1, 50, dtype=torch.float64)[:, None]
    zero = torch.zeros_like(t)
    assert float(s(torch.cat([zero, t], 1)).abs().max()) <= 1e-15
    assert float(s(torch.cat([t, zero], 1)).abs().max()) <= 1e-15
    # continuous along a circle through the region (angles π/2 → 2π): no branch cut inside
    angle = torch.linspace(math.pi / 2, 2 * math.pi, 4001, dtype=torch.float64)
    circle = 0.5 * torch.stack([angle.cos(), angle.sin()], 1)
    values = s(circle)[:, 0]
    assert float(values.diff().abs().max()) < 1e-3
    psi = angle - math.pi / 2
    torch.testing.assert_close(values, 0.5 ** (2 / 3) * torch.sin(2 * psi / 3))
    # harmonic: Δs = 0 (to rounding of the r^(−4/3) second derivatives)
    points = torch.tensor([[-0.5, 0.3], [0.4, -0.7], [-0.9, -0.9], [-0.01, 0.02]])
    x = points.double().requires_grad_(True)
    (g,) = torch.autograd.grad(s(x).sum(), x, create_graph=True)
    laplacian = sum(
        torch.autograd.grad(g[:, i].sum(), x, retain_graph=True)[0][:, i] for i in (0, 1)
    )
    assert float(laplacian.abs().max()) < 1e-10


# --- the model -------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ["forward", "func"])
@pytest.mark.parametrize("need", [n for n in NEEDS if n != "value"][:4])
def test_every_engine_differentiates_an_enriched_model_as_autograd(tmp_path, engine, need) -> None:
    for data in (lshape(), two_fields()):
        model = assemble(load_problem(written(tmp_path, data))).model
        with torch.no_grad():
            next(iter(model.unknowns.values())).fill_(0.7)
        x = load_problem(written(tmp_path, data)).collocation(torch.float64, "cpu").interior[:30]
        assert_engine_matches_autograd(model, x, engine, need, tolerance=1e-9)


def test_the_enrichment_adds_lambda_s_to_its_field_only(tmp_path) -> None:
    model = assemble(load_problem(written(tmp_path, two_fields()))).model
    x = torch.rand(20, 2, dtype=torch.float64)
    with torch.no_grad():
        bare = model.network(x)
        u = model(x)
        assert float(model.unknown_values()["a"]) == pytest.approx(0.3)
    torch.testing.assert_close(u[:, 0], bare[:, 0], rtol=0, atol=0)
    torch.testing.assert_close(u[:, 1], bare[:, 1] + 0.3 * torch.sin(x[:, 0]) * torch.exp(x[:, 1]))


@pytest.mark.parametrize("maker", [lshape, two_fields])
def test_the_gauss_newton_jacobian_has_the_coefficients_column(tmp_path, maker) -> None:
    assembly = assemble(load_problem(written(tmp_path, maker())))
    model, loss = assembly.model, assembly.objective
    with torch.no_grad():
        next(iter(model.unknowns.values())).fill_(-0.4)
    _, jacobian = loss.jacobian()
    dense = dense_jacobian(model, loss)
    assert float(dense[:, -1].abs().max()) > 1e-3  # λ reaches the residuals
    torch.testing.assert_close(jacobian, dense, rtol=1e-10, atol=1e-12)


def test_training_identifies_the_coefficient_of_the_singular_part(tmp_path) -> None:
    """Laplace on the L-shape with u = 0.8·s + x·y on the boundary: λ → 0.8, N → x·y."""
    data = lshape(
        pde={"kind": "poisson", "source": "0"},
        boundary=[{"on": "all", "dirichlet": f"0.8*{SINGULAR} + x*y"}],
        exact={"u": f"0.8*{SINGULAR} + x*y"},
    )
    data["training"].update(
        {"adam": {"steps": 100, "lr": 5e-3}, "gauss_newton": {"steps": 40}, "dtype": "float64"}
    )
    out = tmp_path / "run"
    assert main(["solve", written(tmp_path, data), "--out", str(out), "--quiet"]) == 0
    run = load_run(out)
    assert float(run.model.unknown_values()["k1"].detach()) == pytest.approx(0.8, abs=2e-3)
    x = torch.tensor([[-0.5, 0.5], [0.5, -0.5], [-0.2, -0.7]], dtype=torch.float64)
    with torch.no_grad():
        u = run.model(x)[:, 0]
    want = 0.8 * parse_expression(SINGULAR, ("x", "y"))(x)[:, 0] + x[:, 0] * x[:, 1]
    torch.testing.assert_close(u, want, rtol=0, atol=3e-3)


def test_a_run_keeps_the_coefficient_and_check_describes_it(tmp_path, capsys) -> None:
    path = written(tmp_path, lshape())
    assert main(["check", path]) == 0
    out = capsys.readouterr().out
    assert f"enrichment  u += k1·s, s = {SINGULAR}  (k1 trained from 0)" in out
    assert "unknown     k1" not in out
    run_dir = tmp_path / "run"
    assert main(["solve", path, "--out", str(run_dir), "--quiet"]) == 0
    assert "\nenrichment  k1 = " in capsys.readouterr().out
    run = load_run(run_dir)
    value = float(run.model.unknown_values()["k1"].detach())
    assert run.model.enrichment and value != 0.0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["parameters"]["k1"]["value"] == value
    x = torch.tensor([[-0.5, 0.5]], dtype=torch.float64)
    with torch.no_grad():
        bare = run.model.network(x)[0, 0]
        s = parse_expression(SINGULAR, ("x", "y"))(x)[0, 0]
        assert float(run.model(x)[0, 0]) == pytest.approx(float(bare + value * s), rel=1e-14)


def test_a_collocation_point_at_the_singularity_is_refused(tmp_path, capsys) -> None:
    data = lshape(domain={"rectangle": [[-1, 1], [-1, 1]]})
    problem = load_problem(written(tmp_path, data))
    a, b = problem.collocation(torch.float64, "cpu").interior[7].tolist()
    data["enrichment"] = {"k1": {"function": f"((x - {a!r})**2 + (y - {b!r})**2)**(1/3)"}}
    run = tmp_path / "r"
    assert main(["solve", written(tmp_path, data), "--out", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "enrichment.k1.function: its gradient is not finite" in err
    assert "at 1 of 120 interior points" in err
    assert not run.exists() or not any(run.iterdir())
    assert main(["check", written(tmp_path, data)]) == 2  # check refuses what solve refuses
    assert capsys.readouterr().err.strip() == err


# --- malformed -------------------------------------------------------------------------------
MALFORMED = [
    ({"enrichment": 5}, "enrichment", "mapping"),
    ({"enrichment": {"k1": 3}}, "enrichment.k1", "mapping"),
    ({"enrichment": {"k1": {"field": "u"}}}, "enrichment.k1.function", "required"),
    ({"enrichment": {"k1": {"function": "x +"}}}, "enrichment.k1.function", ""),
    ({"enrichment": {"k1": {"function": "x", "field": "w"}}}, "enrichment.k1.field", "u"),
    (
        {"enrichment": {"k1": {"function": "x", "functoin": 1}}},
        "enrichment.k1.functoin",
        "unknown key (expected one of: function, field, initial",
    ),
    ({"enrichment": {"k1": {"function": "x", "initial": "a"}}}, "enrichment.k1.initial", ""),
    ({"enrichment": {"sin": {"function": "x"}}}, "enrichment.sin", "reserved"),
    ({"enrichment": {"u": {"function": "x"}}}, "enrichment.u", "already a field"),
    ({"enrichment": {"2k": {"function": "x"}}}, "enrichment.2k", "identifier"),
    (
        {"enrichment": {"k1": {"function": "x"}}, "parameters": {"k1": 2}},
        "enrichment.k1",
        "already a parameter",
    ),
    (
        {"enrichment": {"k1": {"function": "x*c"}}, "unknowns": {"c": {"initial": 1}}},
        "enrichment.k1.function",
        "may not read the unknown 'c'",
    ),
    (
        {"enrichment": {f"k{i}": {"function": "x"} for i in range(9)}},
        "enrichment",
        "at most 8",
    ),
    (
        {"enrichment": {"k1": {"function": "exp(1000*x)"}}},
        "enrichment.k1.function",
        "its value is not finite at",
    ),
    (
        {"boundary": [{"on": "all", "dirichlet": "0", "exact": True}]},
        "enrichment.k1.field",
        "exact conditions",
    ),
]


@pytest.mark.parametrize(("change", "key", "words"), MALFORMED)
def test_malformed_enrichment_exits_2_naming_the_key(tmp_path, capsys, change, key, words) -> None:
    data = lshape(**change)
    assert main(["check", written(tmp_path, data)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{key}: " in err and words in err, err


def test_two_fields_need_the_field_named(tmp_path, capsys) -> None:
    data = two_fields(enrichment={"a": {"function": "x"}})
    assert main(["check", written(tmp_path, data)]) == 2
    err = capsys.readouterr().err.strip()
    assert "enrichment.a.field: missing: which field it is added to (u, v)" in err


def test_a_positive_field_and_a_periodic_domain_are_refused(tmp_path, capsys) -> None:
    positive = two_fields(enrichment={"a": {"function": "x", "field": "v"}})
    positive["pde"]["positive"] = ["v"]
    assert main(["check", written(tmp_path, positive)]) == 2
    assert "enrichment.a.field: v is positive" in capsys.readouterr().err
    periodic = two_fields()
    periodic["domain"]["periodic"] = ["x"]
    periodic["boundary"] = [{"on": ["y_min", "y_max"], "dirichlet": {"u": "0", "v": "0"}}]
    assert main(["check", written(tmp_path, periodic)]) == 2
    assert "enrichment: not available on a periodic domain" in capsys.readouterr().err


def test_the_unknown_keys_of_a_coefficient_apply(tmp_path) -> None:
    data = lshape(enrichment={"k1": {"function": SINGULAR, "bounds": [-1, 2], "initial": 0.5}})
    problem = load_problem(written(tmp_path, data))
    spec = problem.unknowns["k1"]
    assert (spec.transform, spec.lower, spec.upper, spec.initial) == ("bounds", -1, 2, 0.5)
    value = problem.model(torch.nn.Linear(2, 1)).unknown_values()["k1"]
    assert np.isclose(float(value.detach()), 0.5)
