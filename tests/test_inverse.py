"""Inverse problems: unknown constants, observation data, their gradients and standard errors."""

from __future__ import annotations

import math
import re
import signal
import sys

import numpy as np
import pytest
import torch
import yaml

from pinn_gelu import load_problem, load_run, train
from pinn_gelu.cli import main
from pinn_gelu.config import Limits
from pinn_gelu.derivatives import select_engine
from pinn_gelu.errors import ProblemFileError
from pinn_gelu.model.unknowns import TRANSFORMS, Unknown
from pinn_gelu.problem_file import parse_problem, read_yaml
from pinn_gelu.training import Trainer
from pinn_gelu.training.setup import assemble
from pinn_gelu.training.uncertainty import covariance

from .conftest import PROBLEMS, ROOT, interrupted_and_resumed

sys.path.insert(0, str(ROOT / "problems" / "data"))


def csv_text(columns: dict[str, np.ndarray]) -> str:
    names = list(columns)
    rows = zip(*columns.values(), strict=True)
    return "\n".join([",".join(names), *(",".join(f"{v:.17g}" for v in row) for row in rows)])


def inverse(tmp_path, *, noise=None, truth=2.0, extra=None) -> dict:
    """−k u'' = 2π² sin(πx) on [0, 1], u(0) = u(1) = 0, k unknown (truth 2): u = sin(πx)·2/k·…

    With k = 2 the solution is u = sin(πx); 20 observations of u (exact, or with noise).
    """
    x = np.linspace(0.05, 0.95, 20)
    u = np.sin(np.pi * x)
    if noise:
        u = u + noise * np.random.default_rng(0).standard_normal(x.shape)
    (tmp_path / "obs.csv").write_text(csv_text({"x": x, "u": u}))
    data = {
        "name": "inverse",
        "unknowns": {"k": {"initial": 1.0, "positive": True, "truth": truth}},
        "pde": {"kind": "equations", "equations": ["-k*d(u, x, x) - 2*pi**2*sin(pi*x)"]},
        "domain": {"rectangle": [[0, 1]]},
        "boundary": [{"on": "all", "dirichlet": "0"}],
        "data": [{"file": "obs.csv", **({"noise": noise} if noise else {})}],
        "exact": {"u": "sin(pi*x)"},
        "network": {"width": 12, "depth": 2},
        "training": {
            "points": {"interior": 40},
            "adam": {"steps": 20},
            "gauss_newton": {"steps": 5},
        },
    }
    data.update(extra or {})
    return data


def write_problem(tmp_path, data) -> str:
    path = tmp_path / "problem.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def test_the_gradient_with_respect_to_an_unknown_matches_finite_differences(tmp_path) -> None:
    problem = load_problem(write_problem(tmp_path, inverse(tmp_path)))
    assembly = assemble(problem)
    model, loss = assembly.model, assembly.objective
    raw = model.unknowns["k"]
    total, _ = loss()
    (gradient,) = torch.autograd.grad(total, raw)
    h = 1e-6
    with torch.no_grad():
        raw += h
        plus = float(loss.value()[0])
        raw -= 2 * h
        minus = float(loss.value()[0])
        raw += h
    assert float(gradient) == pytest.approx((plus - minus) / (2 * h), rel=1e-6)
    assert abs(float(gradient)) > 1e-3  # the data and the PDE do depend on k


def test_the_jacobian_has_the_unknowns_columns_equal_to_autograd(tmp_path) -> None:
    problem = load_problem(write_problem(tmp_path, inverse(tmp_path)))
    assembly = assemble(problem)
    model, loss = assembly.model, assembly.objective
    _, jacobian = loss.jacobian()
    names = [n for n, _ in model.named_parameters()]
    params = tuple(model.parameters())
    assert names[-1] == "unknowns.k"

    def residuals(*values):
        with torch.nn.utils.stateless._reparametrize_module(
            model, dict(zip(names, values, strict=True))
        ):
            return loss.residuals()

    dense = torch.autograd.functional.jacobian(residuals, params)
    dense = torch.cat([d.reshape(d.shape[0], -1) for d in dense], 1)
    assert torch.allclose(jacobian, dense, rtol=1e-10, atol=1e-12)
    assert float(dense[:, -1].abs().max()) > 1e-3


def test_the_standard_error_of_a_linear_fit_is_the_closed_form() -> None:
    """y = b0 + b1·x + ε: the intercept as the 'network', the slope as the unknown."""
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 2, 30)
    y = 1.0 + 0.5 * x + 0.1 * rng.standard_normal(30)
    design = np.stack([np.ones_like(x), x], 1)
    _, rss, *_ = np.linalg.lstsq(design, y, rcond=None)
    s2 = float(rss[0]) / (30 - 2)
    closed = s2 * np.linalg.inv(design.T @ design)[1, 1]
    j = torch.as_tensor(design)
    cov, why = covariance(j[:, :1], j[:, 1:], torch.full((30,), s2, dtype=torch.float64))
    assert why == "" and cov is not None
    assert float(cov[0, 0]) == pytest.approx(closed, rel=1e-12)
    # a non-finite Jacobian (a failed run): said so, no exception from the decompositions
    bad = j.clone()
    bad[0, 0] = float("nan")
    cov, why = covariance(bad[:, :1], bad[:, 1:], torch.ones(30, dtype=torch.float64))
    assert cov is None and "not finite" in why
    # the same column twice: not identifiable, said so instead of a number
    cov, why = covariance(j[:, :1], 2 * j[:, :1], torch.ones(30, dtype=torch.float64))
    assert cov is None and "not identifiable" in why


@pytest.mark.parametrize(("transform", "bounds"), [("positive", None), ("bounds", (0.5, 3.0))])
def test_the_maps_keep_their_constraint_for_any_raw_value(transform, bounds) -> None:
    lower, upper = bounds or (-math.inf, math.inf)
    unknown = Unknown(name="k", initial=1.0, transform=transform, lower=lower, upper=upper)
    raw = torch.linspace(-40, 40, 81, dtype=torch.float64)
    values = unknown.value(raw)
    if transform == "positive":
        assert bool((values > 0).all())
    else:
        assert bool((values >= lower).all() and (values <= upper).all())
    assert float(
        unknown.value(torch.tensor(unknown.start(), dtype=torch.float64))
    ) == pytest.approx(1.0)
    assert set(TRANSFORMS) == {"free", "positive", "bounds"}


@pytest.mark.parametrize("optimiser", ["adam", "lbfgs", "gauss_newton"])
def test_bounds_hold_under_every_optimiser(tmp_path, optimiser) -> None:
    """The truth (2) lies above the bounds (0.5, 1.5): the unknown presses on the upper bound."""
    data = inverse(tmp_path)
    data["unknowns"] = {"k": {"initial": 1.0, "bounds": [0.5, 1.5]}}
    data["training"] = {
        "points": {"interior": 40},
        "schedule": [optimiser],
        optimiser: {"steps": 30, **({"lr": 0.05} if optimiser == "adam" else {})},
    }
    result = train(load_problem(write_problem(tmp_path, data)), progress=False)
    values = [r["unknown_k"] for r in result.history]
    # inside the closed interval: a sigmoid pressed far past its bound rounds to it
    assert all(0.5 <= v <= 1.5 for v in values), values
    assert all(math.isfinite(float(p.detach())) for p in result.model.unknowns.values())
    assert values[-1] > 1.0 + 0.02  # it moved towards the truth


def test_an_unknown_in_a_boundary_condition_is_identified(tmp_path) -> None:
    """−u'' = π² sin(πx), u(0) = 0, u(1) = c: u = sin(πx) + c·x, c = 0.5 from 10 values of u."""
    x = np.linspace(0.1, 0.9, 10)
    (tmp_path / "obs.csv").write_text(csv_text({"x": x, "u": np.sin(np.pi * x) + 0.5 * x}))
    data = {
        "unknowns": {"c": {"initial": 0.0, "truth": 0.5}},
        "pde": {"kind": "equations", "equations": ["-d(u, x, x) - pi**2*sin(pi*x)"]},
        "domain": {"rectangle": [[0, 1]]},
        "boundary": [{"on": "x_min", "dirichlet": "0"}, {"on": "x_max", "equation": "u - c"}],
        "data": [{"file": "obs.csv"}],
        "network": {"width": 16, "depth": 2},
        "training": {
            "points": {"interior": 50},
            "adam": {"steps": 300},
            "gauss_newton": {"steps": 40},
        },
    }
    result = train(load_problem(write_problem(tmp_path, data)), progress=False)
    estimate = result.parameters["c"]
    assert estimate["value"] == pytest.approx(0.5, abs=2e-3), estimate
    # clean data, no noise stated: the standard error measures the network's error, and says so
    assert estimate["stderr"] > 0 and "no noise stated" in estimate["note"], estimate
    assert estimate["truth"] == 0.5 and estimate["relative_error"] < 4e-3


def test_check_lists_the_unknowns_and_the_data(tmp_path, capsys) -> None:
    assert main(["check", write_problem(tmp_path, inverse(tmp_path, noise=0.01))]) == 0
    out = capsys.readouterr().out
    assert "unknown     k: initial 1, positive (λ = 1·exp(θ)); truth 2" in out
    assert "data        data_obs: obs.csv, 20 rows; x ∈ [0.05, 0.95]; u ∈ [" in out
    assert "noise σ = 0.01; weight 1" in out and "data_obs 1" in out


def test_a_noisy_inverse_run_reports_value_stderr_and_truth(tmp_path, capsys) -> None:
    data = inverse(tmp_path, noise=0.01)
    data["training"] = {
        "points": {"interior": 60},
        "adam": {"steps": 1500},
        "gauss_newton": {"steps": 50},
    }
    out = tmp_path / "run"
    assert main(["solve", write_problem(tmp_path, data), "--out", str(out), "--quiet"]) == 0
    assert (out / "parameters.png").stat().st_size > 10_000  # the figure of the unknown
    metrics = yaml.safe_load((out / "metrics.json").read_text())
    k = metrics["parameters"]["k"]
    printed = capsys.readouterr().out
    assert f"unknown     k = {k['value']:.6g} ± {k['stderr']:.2g}  (truth 2, " in printed
    assert k["truth"] == 2.0 and 0 < k["stderr"] < 0.1, k
    assert abs(k["value"] - 2.0) < 4 * k["stderr"] + 1e-3, k
    assert "note" not in k  # the noise is stated and the misfit agrees with it
    solution = load_run(out)  # without the data file: it is not needed to rebuild the model
    (tmp_path / "obs.csv").unlink()
    solution = load_run(out)
    assert solution.parameters == {"k": pytest.approx(k["value"], rel=1e-12)}
    header = (out / "history.csv").read_text().splitlines()[0].split(",")
    assert "unknown_k" in header and "data_obs" in header


def test_resume_with_unknowns_is_bit_for_bit(tmp_path) -> None:
    data = inverse(tmp_path)
    data["training"]["checkpoint_every"] = 5
    problem = load_problem(write_problem(tmp_path, data))
    reference, resumed = interrupted_and_resumed(problem, tmp_path / "checkpoint.pt", 22)
    for a, b in zip(resumed.model.parameters(), reference.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert [r["unknown_k"] for r in resumed.history] == [r["unknown_k"] for r in reference.history]


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        ({"unknowns": {"k": {"positive": True}}}, "unknowns.k.initial", "missing"),
        (
            {"unknowns": {"k": {"initial": -1, "positive": True}}},
            "unknowns.k.initial",
            "not positive",
        ),
        ({"unknowns": {"k": {"initial": 5, "bounds": [0, 1]}}}, "unknowns.k.initial", "not inside"),
        (
            {"unknowns": {"k": {"initial": 1, "bounds": [2, 1]}}},
            "unknowns.k.bounds",
            "lower < upper",
        ),
        (
            {"unknowns": {"k": {"initial": 1, "bounds": [0, 2], "positive": True}}},
            "unknowns.k.bounds",
            "not both",
        ),
        ({"unknowns": {"k": {"initial": "nan"}}}, "unknowns.k.initial", "finite"),
        (
            {"unknowns": {"k": {"initial": 1e-300, "bounds": [0, 1e30]}}},
            "unknowns.k.initial",
            "too close to a bound",
        ),
        ({"unknowns": {"k": {"initial": 1, "scale": 0}}}, "unknowns.k.scale", "positive"),
        ({"unknowns": {"k": {"initial": 1, "colour": 1}}}, "unknowns.k.colour", "unknown key"),
        ({"unknowns": {"pi": {"initial": 1}}}, "unknowns.pi", "reserved"),
        ({"unknowns": {"k": 1}}, "unknowns.k", "mapping"),
        ({"data": {"file": "obs.csv"}}, "data", "list"),
        ({"data": [{"file": "obs.txt"}]}, "data[0].file", ".csv or .npz"),
        ({"data": [{"file": "missing.csv"}]}, "data[0].file", "cannot be read"),
        ({"data": [{"file": "obs.csv", "noise": -1}]}, "data[0].noise", "expected"),
        (
            {"data": [{"file": "obs.csv", "quantities": {"q": "d(u, x)"}}]},
            "data[0].quantities.q",
            "no column",
        ),
        ({"data": [{"file": "obs.csv"}, {"file": "obs.csv"}]}, "data[1].name", "two data files"),
    ],
)
def test_malformed_unknowns_and_data_sections_exit_2(tmp_path, capsys, change, key, words) -> None:
    data = inverse(tmp_path, extra=change)
    path = write_problem(tmp_path, data)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["solve", path, "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{path}: {key}:" in err and words in err, err
    assert "\n" not in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("x,u\n0.5,abc\n", "row 2, column 'u': 'abc' is not a number"),
        ("x,u\n0.5,nan\n", "row 2, column 'u': 'nan' is not finite"),
        ("x,u\n0.5\n", "row 2: 1 values, expected 2"),
        ("x,v\n0.5,1\n", "column 'v' is neither a variable"),
        ("u\n1\n", "no column 'x'"),
        ("x\n0.5\n", "no observed column"),
        ("x,u\n1.5,1\n", "data row 1 (at x=1.5) lies outside the domain"),
        ("x,u,u\n0.5,1,1\n", "column 'u' appears twice"),
        ("x,u\n", "has no data rows"),
        ("", "is empty"),
    ],
)
def test_malformed_data_files_exit_2_naming_file_row_and_column(
    tmp_path, capsys, content, words
) -> None:
    data = inverse(tmp_path)
    path = write_problem(tmp_path, data)
    (tmp_path / "obs.csv").write_text(content)
    code = main(["check", path])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert f"{path}: data[0].file: obs.csv: " in err and words in err, err


def test_rows_are_bounded_by_max_points(tmp_path) -> None:
    data = inverse(tmp_path)
    data["training"]["points"]["interior"] = 5
    path = write_problem(tmp_path, data)
    (tmp_path / "obs.csv").write_text("x,u\n" + "0.5,1\n" * 11)
    with pytest.raises(ProblemFileError, match="more than 10 rows"):
        load_problem(path, limits=Limits(max_points=10))


def test_npz_data_and_links_are_checked(tmp_path, capsys) -> None:
    data = inverse(tmp_path)
    data["data"] = [{"file": "obs.npz"}]
    path = write_problem(tmp_path, data)
    x = np.linspace(0.1, 0.9, 5)
    np.savez(tmp_path / "obs.npz", x=x, u=np.sin(np.pi * x))
    problem = load_problem(path)
    assert problem.observations[0].values.shape == (5, 1)
    np.savez(tmp_path / "obs.npz", x=x, u=np.array(["a"] * 5))
    assert main(["check", path]) == 2
    assert "array 'u': expected a 1D array of numbers" in capsys.readouterr().err
    (tmp_path / "obs.npz").unlink()
    (tmp_path / "obs.npz").symlink_to(tmp_path / "problem.yaml")
    assert main(["check", path]) == 2
    assert "is not a regular file" in capsys.readouterr().err


PLATE = PROBLEMS / "plate_inverse.yaml"


def test_unknown_elastic_constants_have_exact_jacobian_columns() -> None:
    problem = load_problem(PLATE, ["training.points.interior=30", "training.points.boundary=30"])
    assembly = assemble(problem)
    model, loss = assembly.model, assembly.objective
    _, jacobian = loss.jacobian()
    names = [n for n, _ in model.named_parameters()]
    assert names[-2:] == ["unknowns.E", "unknowns.nu"]

    def residuals(*values):
        with torch.nn.utils.stateless._reparametrize_module(
            model, dict(zip(names, values, strict=True))
        ):
            return loss.residuals()

    dense = torch.autograd.functional.jacobian(residuals, tuple(model.parameters()))
    dense = torch.cat([d.reshape(d.shape[0], -1) for d in dense], 1)
    assert torch.allclose(jacobian, dense, rtol=1e-10, atol=1e-12)
    assert bool((dense[:, -2:].abs().amax(0) > 1e-3).all())  # both constants act


def test_the_exact_solution_is_evaluated_at_the_true_values() -> None:
    problem = load_problem(PLATE)
    x = torch.tensor([[2.0, 1.0]], dtype=torch.float64)
    from generate import kirsch_displacement  # the data script (problems/data, on sys.path)

    ux, _ = kirsch_displacement(np.array([2.0]), np.array([1.0]), 2.6, 0.3)
    assert float(problem.exact["ux"](x)) == pytest.approx(float(ux[0]), rel=1e-12)


def _no_truth(d):
    del d["unknowns"]["E"]["truth"]


def _reference_instead_of_exact(d):
    del d["exact"]
    d["reference"] = {"finite_element": {"size": 0.5}}


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (lambda d: d["unknowns"]["E"].pop("positive"), "pde.youngs_modulus", "declared positive"),
        (
            lambda d: d["unknowns"]["nu"].update(bounds=[0, 0.6]),
            "pde.poisson_ratio",
            "needs bounds inside [-1, 0.5]",
        ),
        (_reference_instead_of_exact, "reference", "are unknowns"),
        (_no_truth, "exact.ux", "'E' is an unknown"),
    ],
)
def test_unknown_constants_where_they_cannot_go_are_refused(change, key, words) -> None:
    data = read_yaml(PLATE)
    change(data)
    with pytest.raises(ProblemFileError, match=re.escape(f"{key}: ") + ".*" + re.escape(words)):
        parse_problem(data, str(PLATE))


def test_data_rows_are_sharded_once_each_and_keep_their_targets(tmp_path) -> None:
    """Two ranks' shards of a data term hold the whole file's residual rows, once each."""
    from pinn_gelu.collocation import shard_collocation
    from pinn_gelu.derivatives import select_engine
    from pinn_gelu.distributed import Group
    from pinn_gelu.training.setup import build_model

    problem = load_problem(write_problem(tmp_path, inverse(tmp_path, noise=0.01)))
    model = build_model(problem)
    engine, _ = select_engine(model, "auto")
    whole = problem.collocation(torch.float64)

    def data_rows(points):
        (term,) = [t for t in problem.terms(points) if t.name == "data_obs"]
        fields = engine(model, points.on(term.on), term.need)
        return term.residual(fields).detach().reshape(-1)

    parts = [data_rows(shard_collocation(whole, Group(rank=r, size=2))) for r in (0, 1)]
    assert [p.numel() for p in parts] == [10, 10]
    # the same rows and targets (to rounding: a batch of 10 points rounds differently from 20)
    assert torch.allclose(torch.cat(parts), data_rows(whole), rtol=1e-12, atol=0)


def test_a_misfit_far_above_the_stated_noise_is_reported(tmp_path) -> None:
    """Data with noise 0.01 declared as 0.001: the reduced χ² is about 100, and it is said."""
    data = inverse(tmp_path, noise=0.01)
    data["data"][0]["noise"] = 0.001
    data["training"] = {
        "points": {"interior": 60},
        "adam": {"steps": 800},
        "gauss_newton": {"steps": 20},
    }
    k = train(load_problem(write_problem(tmp_path, data)), progress=False).parameters["k"]
    assert k["reduced_chi2"] > 20, k
    assert "understates the uncertainty" in k["note"]
    data["data"][0]["noise"] = 0.01  # as measured: no such note
    k = train(load_problem(write_problem(tmp_path, data)), progress=False).parameters["k"]
    assert k["reduced_chi2"] < 4 and "note" not in k, k


def test_a_defined_quantity_is_a_residual_expression_of_the_fields(tmp_path, capsys) -> None:
    """A slope gauge: the column 'slope' measures d(u, x) = π cos(πx)."""
    x = np.linspace(0.1, 0.9, 9)
    (tmp_path / "gauge.csv").write_text(csv_text({"x": x, "slope": np.pi * np.cos(np.pi * x)}))
    data = inverse(tmp_path)
    data["data"] = [{"file": "gauge.csv", "quantities": {"slope": "d(u, x)"}}]
    problem = load_problem(write_problem(tmp_path, data))
    (obs,) = problem.observations
    assert obs.quantities == ("slope",) and obs.residuals[0].source == "d(u, x)"
    assert obs.need == "gradient"
    assemble(problem)  # the data term builds with the gradient on its points
    data["data"][0]["quantities"] = {"slope": "d(q, x)"}
    assert main(["check", write_problem(tmp_path, data)]) == 2
    err = capsys.readouterr().err
    assert "data[0].quantities.slope: the first argument of d() must be a field" in err


def test_the_step_memory_probe_takes_a_share_of_the_data(tmp_path, monkeypatch) -> None:
    """A data file of many rows: the probe evaluates a few of them, the estimate grows with them."""
    from pinn_gelu.problem_file import data_files
    from pinn_gelu.training import memory
    from pinn_gelu.training.setup import build_model

    monkeypatch.setattr(data_files, "CSV_BLOCK", 1000)  # several numpy blocks
    seen: list[int] = []
    original = memory.Loss

    def counting(model, terms, points, *args, **kwargs):
        seen.append(sum(p.shape[0] for p in points.data.values()))
        return original(model, terms, points, *args, **kwargs)

    monkeypatch.setattr(memory, "Loss", counting)
    estimates = []
    for rows in (4000, 16000):
        data = inverse(tmp_path)
        data["training"]["points"] = {"interior": 40, "boundary": 2}
        x = np.linspace(0.01, 0.99, rows)
        (tmp_path / "obs.csv").write_text(csv_text({"x": x, "u": np.sin(np.pi * x)}))
        problem = load_problem(write_problem(tmp_path, data))
        assert problem.observations[0].values.shape == (rows, 1)
        assert np.array_equal(problem.observations[0].points[:, 0], x)  # the blocks, in order
        model = build_model(problem)
        engine, _ = select_engine(model, "auto")
        seen.clear()
        estimates.append(memory.step_bytes(problem, model, engine, torch.float64))
        assert seen and max(seen) <= memory.PROBE_POINTS  # a share of the rows, not all of them
    assert 2.5 < estimates[1] / estimates[0] < 4.5  # four times the rows, about four times


def test_an_npz_that_unpacks_past_the_bound_is_refused(tmp_path, capsys, monkeypatch) -> None:
    from pinn_gelu.problem_file import data_files

    data = inverse(tmp_path)
    data["data"] = [{"file": "obs.npz"}]
    path = write_problem(tmp_path, data)
    x = np.linspace(0.1, 0.9, 5000)
    np.savez_compressed(tmp_path / "obs.npz", x=x, u=np.zeros_like(x))  # 80 kB unpacked
    monkeypatch.setattr(data_files, "MAX_DATA_BYTES", 60_000)  # the file itself is smaller
    assert (tmp_path / "obs.npz").stat().st_size < 60_000
    assert main(["check", path]) == 2
    assert "bytes uncompressed, more than 60,000" in capsys.readouterr().err


def test_an_interrupted_inverse_run_reports_values_without_standard_errors(tmp_path) -> None:
    problem = load_problem(write_problem(tmp_path, inverse(tmp_path, noise=0.01)))
    trainer = Trainer(problem, progress=False)
    original = trainer._after_step

    def after(phase_step):
        if trainer.step == 10:
            trainer.request_stop(signal.SIGINT)
        original(phase_step)

    trainer._after_step = after  # type: ignore[method-assign]
    result = trainer.run()
    assert result.status == "interrupted"
    k = result.parameters["k"]
    assert k["stderr"] is None and "the run is interrupted" in k["note"], k
