"""The outputs of a run: one writer per file, none lost under --force, read back as written."""

from __future__ import annotations

import os

import meshio
import numpy as np
import pytest
import torch

from pinn_gelu import load_problem, load_run, train, write_run
from pinn_gelu.cli import main
from pinn_gelu.runs.writers import RUN_FILES, WRITERS

from .conftest import PROBLEMS

TINY = [
    "training.adam.steps=5",
    "training.lbfgs.steps=2",
    "training.gauss_newton.steps=1",
    "training.points.interior=100",
    "training.points.boundary=60",
    "validation.grid=11",
]


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_every_writer_files_are_run_files(name) -> None:
    # the names --force may replace come from the registry: a new writer is covered by entry
    assert set(WRITERS[name].files) <= set(RUN_FILES)
    assert RUN_FILES[-1] == "metrics.json"  # last: a run with new metrics is complete


def test_a_run_written_from_python_loads_back(write, valid, tmp_path) -> None:
    problem = load_problem(write(valid), ["training.lbfgs.steps=0"])
    result = train(problem, progress=False)
    written = write_run(tmp_path / "run", problem, result, plots=False)
    assert {p.name for p in written} == {"history.csv", "model.pt", "problem.yaml", "metrics.json"}
    solution = load_run(tmp_path / "run")
    x = np.linspace(0, 1, 7)[:, None]
    expected = result.model(torch.as_tensor(x)).detach().numpy().ravel()
    np.testing.assert_array_equal(solution(x)["u"], expected)
    assert solution.problem.training.adam.steps == 20  # the problem as run, from model.pt


def test_force_replaces_every_writer_file_and_loses_none(tmp_path) -> None:
    # an elasticity inverse problem with adaptive points: every writer writes (the
    # deformation, parameters and points figures too) except error.txt
    out = tmp_path / "run"
    argv = ["solve", str(PROBLEMS / "plate_inverse.yaml"), "--out", str(out), "--quiet"]
    adaptive = ["training.adaptive.every=2", "training.adaptive.add=5"]
    sets = [item for o in [*TINY, *adaptive] for item in ("--set", o)]
    assert main([*argv, *sets]) == 0
    first = {p.name: p.stat().st_ino for p in out.iterdir()}
    expected = {n for w in WRITERS.values() for n in w.files} - {"error.txt"} | {"checkpoint.pt"}
    assert expected <= set(first)
    assert main([*argv, *sets, "--force", "--set", "training.seed=1"]) == 0
    second = {p.name: p.stat().st_ino for p in out.iterdir()}
    assert expected <= set(second)  # none lost in the staging directory
    for name in expected:  # each one new (os.replace: a new inode)
        assert second[name] != first[name], name
    assert not [n for n in os.listdir(out) if n.startswith(".pinn-gelu-new-")]


@pytest.mark.parametrize(
    ("problem", "cell", "fields"),
    [
        ("poisson_1d.yaml", "line", ["u", "u_reference", "u_error"]),
        ("poisson_2d.yaml", "quad", ["u", "u_reference", "u_error"]),
        (
            "kirsch_plate.yaml",
            "triangle",
            ["ux", "ux_reference", "ux_error", "sxx", "sxx_error", "von_mises"],
        ),
        ("box_cavity_3d.yaml", "hexahedron", ["u", "u_reference", "u_error"]),
    ],
)
def test_the_paraview_file_reads_back_with_the_solution(tmp_path, problem, cell, fields) -> None:
    out = tmp_path / "run"
    sets = [item for o in TINY for item in ("--set", o)]
    assert main(["solve", str(PROBLEMS / problem), "--out", str(out), "--quiet", *sets]) == 0
    mesh = meshio.read(out / "solution.vtu")
    solution = load_run(out)
    d = solution.problem.domain.dimension
    assert [block.type for block in mesh.cells] == [cell]
    assert set(fields) <= set(mesh.point_data)
    points = mesh.points[:, :d]
    assert len(points) == len(mesh.point_data[fields[0]]) > 10
    values = solution(points)
    for name in fields:
        if name in values:  # stored as float64: equal to load_run's values at those points
            np.testing.assert_allclose(mesh.point_data[name], values[name], rtol=1e-12, atol=1e-12)
    field = fields[0]
    error = mesh.point_data[f"{field}_error"]
    np.testing.assert_allclose(
        error, mesh.point_data[field] - mesh.point_data[f"{field}_reference"], atol=1e-14
    )
    if "von_mises" in fields:
        sxx, syy, sxy = (values[k] for k in ("sxx", "syy", "sxy"))
        expected = np.sqrt(sxx**2 - sxx * syy + syy**2 + 3 * sxy**2)
        np.testing.assert_allclose(mesh.point_data["von_mises"], expected, rtol=1e-10)
    # every cell's corners are points of the mesh, inside the domain
    corners = mesh.cells[0].data
    assert corners.min() >= 0 and corners.max() < len(points)
