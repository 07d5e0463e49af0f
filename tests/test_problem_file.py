"""Problem files: parsing, overrides, and every validation error with its key path."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from pinn_gelu import Limits, ProblemFileError, load_problem
from pinn_gelu.activations import ActivationSpec
from pinn_gelu.errors import UsageError
from pinn_gelu.problem_file import apply_overrides

from .conftest import PROBLEMS, ROOT


def error_of(write, data_or_text, overrides=(), limits=None) -> str:
    path = write(data_or_text)
    with pytest.raises(ProblemFileError) as info:
        load_problem(path, overrides, limits=limits)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message
    return message[len(str(path)) + 2 :]


@pytest.mark.parametrize("path", sorted(PROBLEMS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_problems_are_valid(path) -> None:
    problem = load_problem(path)
    # validated against a solution, or (an inverse problem) by its unknowns' true values, or
    # (no closed form, no reference solver of the library) by a benchmark's reference of ours
    truths = problem.unknowns and all(u.truth is not None for u in problem.unknowns.values())
    benchmarked = problem.name in EVOLUTION
    assert problem.exact or problem.reference is not None or truths or benchmarked


#: Shipped problems with no closed form that the library's reference solvers cannot solve:
#: benchmarks/evolution.py measures them against references of ours (Cole–Hopf, ETDRK4).
EVOLUTION = {"burgers", "allen_cahn"}


def test_the_evolution_benchmark_has_a_reference_for_each_of_them() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import evolution

    assert set(evolution.PUBLISHED) == EVOLUTION
    for name in EVOLUTION:
        assert (PROBLEMS / f"{name}.yaml").exists()
    points, values = evolution.reference("burgers")
    assert points.shape == (25600, 2) and np.isfinite(values).all()


def test_defaults_and_values(write, valid) -> None:
    del valid["network"], valid["training"]
    problem = load_problem(write(valid))
    assert problem.name == "tiny"
    assert str(problem.network.activation) == "gelu"
    # training.schedule: auto on a small file: Adam then Gauss–Newton on 20×3
    assert (problem.network.width, problem.network.depth) == (20, 3)
    assert problem.training.schedule == ("adam", "gauss_newton")
    assert problem.training.dtype == "float64" and problem.training.points.sampler == "sobol"
    assert problem.domain.bounds == ((0.0, 1.0),)


def test_name_defaults_to_the_file_stem(write, valid) -> None:
    del valid["name"]
    assert load_problem(write(valid, "my_problem.yaml")).name == "my_problem"


def test_on_is_read_as_a_key_despite_yaml_1_1(write) -> None:
    text = """
pde: {kind: poisson, source: "1"}
domain: {rectangle: [[0, 1], [0, 2]]}
boundary:
  - on: all
    dirichlet: "0"
  - on: [x_max, y_min]
    neumann: "x"
"""
    problem = load_problem(write(text))
    kinds = {side: [k for k, _ in v] for side, v in problem.resolved_boundary().items()}
    # later entries override earlier ones where they overlap
    assert kinds == {
        "x_min": ["dirichlet"],
        "x_max": ["neumann"],
        "y_min": ["neumann"],
        "y_max": ["dirichlet"],
    }


def test_overrides(write, valid) -> None:
    problem = load_problem(
        write(valid),
        [
            "training.adam.steps=500",
            "network.activation=gelu(alpha=4)",
            "boundary[0].dirichlet=1",
            "training.adam.lr=1e-2",
            "pde.source=sin(x)",
        ],
    )
    assert problem.training.adam.steps == 500
    assert problem.training.adam.lr == 0.01
    assert problem.network.activation == ActivationSpec("gelu", 4.0)
    assert problem.boundary[0].values[0].source == "1"
    assert problem.pde.source.source == "sin(x)"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.adam.steps", "expected KEY=VALUE"),
        ("=3", "expected KEY=VALUE"),
        ("boundary[5].on=all", "no list entry [5]"),
        ("pde.source.x=1", "is not inside a mapping"),
        ("a..b=1", "malformed key"),
        ("training=[1, 2]", "must be a scalar"),
        ("training.seed={", "not a YAML scalar"),
    ],
)
def test_bad_overrides(override, message) -> None:
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        apply_overrides({"pde": {"source": "1"}, "boundary": [{}]}, [override])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("pde"), "pde: this key is required"),
        (lambda d: d.pop("domain"), "domain: this key is required"),
        (lambda d: d.pop("boundary"), "boundary: this key is required"),
        (lambda d: d["pde"].pop("kind"), "pde.kind: this key is required"),
        (
            lambda d: d.update(extra=1),
            "extra: unknown key (expected one of: name, domain, parameters, unknowns, pde, "
            "data, boundary, enrichment, exact, reference, network, training, validation)",
        ),
        (lambda d: d["pde"].update(kind="heat"), "pde.kind: expected one of: poisson"),
        (lambda d: d["pde"].update(source="sin(x"), "pde.source: invalid syntax"),
        (lambda d: d["pde"].update(source="z"), "pde.source: variable 'z' is not available"),
        (lambda d: d["pde"].update(source=["1"]), "pde.source: expected an expression"),
        (
            lambda d: d["pde"].update(sauce="1"),
            "pde.sauce: unknown key (expected one of: kind, source)",
        ),
        (
            lambda d: d["domain"].update(rectangle=[[1, 0]]),
            "domain.rectangle[0]: expected min < max",
        ),
        (
            lambda d: d["domain"].update(rectangle=[[0, 1]] * 4),
            "domain.rectangle: expected a list of 1 to 3",
        ),
        (
            lambda d: d["domain"].update(rectangle=[[0, "a"]]),
            "domain.rectangle[0][1]: expected a number",
        ),
        (
            lambda d: d["domain"].update(rectangle=[[0, 1e9]]),
            "domain.rectangle[0]: coordinates must lie",
        ),
        (lambda d: d["domain"].update(rectangle=[[0, float("inf")]]), "expected a finite number"),
        (lambda d: d.update(boundary=[]), "boundary: expected a non-empty list"),
        (lambda d: d.update(boundary={"on": "all"}), "boundary: expected a non-empty list"),
        (
            lambda d: d["boundary"][0].update(on="x_middle"),
            "boundary[0].on: unknown side 'x_middle' (expected one of: all, x_min, x_max)",
        ),
        (
            lambda d: d["boundary"][0].update(on=["x_min", "y_max"]),
            "boundary[0].on[1]: unknown side 'y_max'",
        ),
        (
            lambda d: d["boundary"][0].pop("dirichlet"),
            "boundary[0]: expected a condition: one of dirichlet, neumann",
        ),
        (
            lambda d: d["boundary"][0].update(neumann="0"),
            "boundary[0].neumann: one condition per entry",
        ),
        (lambda d: d["boundary"][0].update(robin="0"), "boundary[0].robin: unknown key"),
        (
            lambda d: d["boundary"][0].update(dirichlet="foo(x)"),
            "boundary[0].dirichlet: unknown function 'foo'",
        ),
        (lambda d: d["boundary"][0].update(on="x_min"), "boundary: side x_max has no condition"),
        (lambda d: d["exact"].update(v="x"), "exact.v: unknown field (expected one of: u)"),
        (
            lambda d: d["network"].update(width=-3),
            "network.width: expected a whole number in [1, 4096], got -3 (int)",
        ),
        (lambda d: d["network"].update(width=2.5), "network.width: expected a whole number"),
        (lambda d: d["network"].update(width=True), "network.width: expected a whole number"),
        (lambda d: d["network"].update(width="50"), "network.width: expected a whole number"),
        (
            lambda d: d["network"].update(width=100000),
            "network.width: 100000 exceeds the limit of 4096 (max_width",
        ),
        (
            lambda d: d["network"].update(activation="gelu2"),
            "network.activation: unknown activation 'gelu2'",
        ),
        (
            lambda d: d["network"].update(init="lecun"),
            "network.init: expected one of: glorot, he, fixed_point",
        ),
        (
            lambda d: d["network"].update(activation=3),
            "network.activation: expected a non-empty string",
        ),
        (
            lambda d: d["network"].update(width=4096, depth=64),
            "network: width 4096 and depth 64 give",
        ),
        (
            lambda d: d["training"]["points"].update(interior=0),
            "training.points.interior: expected a whole number in [1, 1000000]",
        ),
        (
            lambda d: d["training"]["points"].update(interior=10**9),
            "exceeds the limit of 1000000 (max_points",
        ),
        (
            lambda d: d["training"]["points"].update(sampler="halton"),
            "training.points.sampler: expected one of: sobol, uniform",
        ),
        (
            lambda d: d["training"]["adam"].update(lr=0),
            "training.adam.lr: expected a number in (0, 10]",
        ),
        (lambda d: d["training"]["adam"].update(lr="fast"), "training.adam.lr: expected a number"),
        (
            lambda d: d["training"]["adam"].update(steps=-1),
            "training.adam.steps: expected a whole number in [0, 10000000]",
        ),
        (
            lambda d: d["training"].update(dtype="float16"),
            "training.dtype: expected one of: float32, float64",
        ),
        (
            lambda d: d["training"].update(weights={"pde": -1}),
            "training.weights.pde: expected a number in [0, 1e+12]",
        ),
        (
            lambda d: d["training"].update(weights={"bc": 1}),
            "training.weights.bc: unknown loss term (expected one of: pde, dirichlet, neumann)",
        ),
        (lambda d: d["training"].update(seed=-1), "training.seed: expected a whole number"),
        (lambda d: d["training"].update(adam=5), "training.adam: expected a mapping, got 5 (int)"),
        (
            lambda d: d.update(validation={"grid": 10**7}),
            "validation.grid: 10000000 points per dimension",
        ),
        (lambda d: d.update(parameters={"x": 1}), "parameters.x: 'x' is reserved"),
        (lambda d: d.update(parameters={"sin": 1}), "parameters.sin: 'sin' is reserved"),
        (
            lambda d: d.update(parameters={"a b": 1}),
            "parameters.a b: a parameter name must be an identifier",
        ),
        (lambda d: d.update(parameters={"k": "x"}), "parameters.k: variable 'x' is not available"),
        (lambda d: d.update(parameters={"k": [1]}), "parameters.k: expected an expression"),
        (lambda d: d.update(name="../../etc"), "name: expected letters, digits"),
        (
            lambda d: d.update(reference={"finite_difference": {"points": 2}}),
            "reference.finite_difference.points: expected a whole number in [3, 100000]",
        ),
    ],
)
def test_validation_errors_name_the_key(write, valid, change, message) -> None:
    change(valid)
    assert message in error_of(write, valid)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("[1, 2]", "expected a mapping at the top, got [1, 2] (list)"),
        ("pde: [", "not valid YAML"),
        ("a: 1\n\tb: 2", "not valid YAML"),
        (
            "!!python/object/apply:os.system ['echo pwned']",
            "not valid YAML: could not determine a "
            "constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'",
        ),
        ("pde: !!python/name:os.system", "not valid YAML"),
        (
            "domain: {rectangle: [[0, 1]]}\npde: !!binary aGVsbG8=\n",
            "pde: expected a mapping, got b'hello' (bytes)",
        ),
        ("[" * 1000, "nested deeper than 32 levels of brackets (1000)"),
        ("a: [" + "1," * 5000 + "1]", "too many YAML items (5003 separators; at most 4000)"),
        ("1: 2\n", "keys must be strings"),
    ],
)
def test_bad_yaml(write, text, message) -> None:
    assert message in error_of(write, text)


def test_yaml_1_2_floats_are_numbers(write, valid) -> None:
    # PyYAML reads 1e-3 (no dot) as a string; it is a float in YAML 1.2 and what users write
    valid["training"]["adam"]["lr"] = "1e-3"
    assert load_problem(write(valid)).training.adam.lr == 1e-3
    valid["training"]["adam"]["lr"] = "1e-3x"
    assert "training.adam.lr: expected a number in (0, 10], got '1e-3x' (str)" in error_of(
        write, valid
    )
    valid["training"]["adam"]["lr"] = 0.001
    valid["network"]["width"] = "16"  # a string is still not an integer
    assert "network.width: expected a whole number" in error_of(write, valid)


def test_parameters_can_use_earlier_parameters(write, valid) -> None:
    valid["parameters"] = {"k": "pi", "k2": "k**2"}
    valid["pde"]["source"] = "k2*sin(k*x)"
    problem = load_problem(write(valid))
    assert problem.parameters == pytest.approx({"k": 3.141592653589793, "k2": 9.869604401089358})


def test_limits_can_be_raised_but_not_by_the_file(write, valid) -> None:
    valid["training"]["points"]["interior"] = 2_000_000
    assert "max_points" in error_of(write, valid)
    problem = load_problem(write(valid), limits=Limits(max_points=3_000_000))
    assert problem.training.points.interior == 2_000_000
    valid["limits"] = {"max_points": 10**9}
    assert "limits: unknown key" in error_of(write, valid, limits=Limits(max_points=3_000_000))


def test_missing_and_oversized_files(tmp_path) -> None:
    with pytest.raises(ProblemFileError, match="cannot read the file"):
        load_problem(tmp_path / "nope.yaml")
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * 70_000)
    with pytest.raises(ProblemFileError, match="file larger than 64 KiB"):
        load_problem(big)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ProblemFileError, match="not UTF-8"):
        load_problem(binary)


def test_billion_laughs_is_cheap(write) -> None:
    # aliases are shared references in safe_load, and no message walks the whole structure
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    lines += ["pde: *a8"]
    message = error_of(write, "\n".join(lines))
    assert len(message) < 300
