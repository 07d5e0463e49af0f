"""The memory of a training step is measured on a probe and bounded before training (issue 25).

The count from the network's size alone said 560 MB for a fourth-order 3D + time residual at
20,000 points where 4,000 points used 6.2 GB: the probe counts every channel and every term.
"""

from __future__ import annotations

import pytest
import torch

from pinn_gelu import load_problem
from pinn_gelu.cli import main
from pinn_gelu.derivatives import select_engine
from pinn_gelu.loss import Loss
from pinn_gelu.training.memory import _saved_bytes, step_bytes
from pinn_gelu.training.setup import build_model

from .conftest import PROBLEMS

FOURTH_ORDER = {
    "name": "fourth",
    "pde": {
        "kind": "equations",
        "fields": ["u"],
        "equations": ["d(u, t) + d(u, x, x, x, x) + d(u, y, y, y, y) + d(u, z, z, z, z)"],
    },
    "domain": {"rectangle": [[0, 1], [0, 1], [0, 1]], "time": [0, 1]},
    "boundary": [{"on": "all", "dirichlet": "0"}],
    "network": {"width": 50, "depth": 4},
    "training": {
        "points": {"interior": 4000, "boundary": 0},
        "adam": {"steps": 1},
        "lbfgs": {"steps": 0},
        "dtype": "float64",
    },
}


@pytest.mark.parametrize("command", ["check", "solve"])
def test_a_fourth_order_3d_time_residual_is_refused_by_its_measured_memory(
    write, tmp_path, capsys, command
):
    # about 2.7 GiB on 2,000 points: in chunks of 64 points (the fewest a chunk holds) still
    # about 90 MB, over a limit of 80 MB that the file-level count (one layer: 2,000 × 50 ×
    # 70 × 8 = 56 MB) lets through
    training = {**FOURTH_ORDER["training"], "adaptive": {"candidates": 1000}}
    training["points"] = {"interior": 2000, "boundary": 0}
    path = write({**FOURTH_ORDER, "training": training, "validation": {"grid": 8}})
    out = tmp_path / "run"
    args = [command, str(path), "--limit", "max_tensor_bytes=80000000"]
    args += ["--out", str(out), "--quiet"] if command == "solve" else []
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "training.points: one training step on 2,000 points would need about" in err
    assert "in 31 chunks of 0.1 GiB" in err
    assert "over the limit of 0.1 GiB (max_tensor_bytes)" in err and len(err.splitlines()) == 1
    assert not out.exists()
    if command == "check":  # at the default limit it runs in chunks
        assert main(args[:2]) == 0
        assert "chunks of" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("poisson_2d", ["training.points.interior=400", "training.points.boundary=100"]),
        ("elasticity_plate", ["training.points.interior=300", "training.points.boundary=200"]),
        ("heat_1d", ["training.points.interior=300", "training.points.boundary=100"]),
        ("beam", ["training.points.interior=300"]),
    ],
)
def test_the_probe_scales_to_what_the_whole_point_set_saves(name, overrides):
    problem = load_problem(PROBLEMS / f"{name}.yaml", overrides)
    model = build_model(problem)
    engine, _ = select_engine(model, problem.training.derivatives)
    estimate = step_bytes(problem, model, engine, torch.float64)
    points = problem.collocation(torch.float64)
    terms = problem.terms(points)
    loss = Loss(model, terms, points, engine, [problem.weight(t.name) for t in terms])
    params = list(model.parameters())
    whole = _saved_bytes(lambda: loss.value_and_gradient(params), params)
    assert 0.8 < estimate / whole < 1.25, (estimate, whole)


def test_check_reports_the_measured_step_memory(capsys):
    assert main(["check", str(PROBLEMS / "poisson_2d.yaml")]) == 0
    out = capsys.readouterr().out
    assert "memory      one training step ≈ " in out and "(measured on 64 points; limit" in out


def test_a_torch_func_run_is_measured_by_the_automatic_path(write, valid, tmp_path):
    # torch.func refuses saved-tensor hooks; the run must still start (it did not: exit 1)
    path = write(valid)
    out = tmp_path / "run"
    func = ["--set", "training.derivatives=func"]
    assert main(["solve", str(path), "--out", str(out), *func, "--quiet", "--no-plots"]) == 0
    assert main(["check", str(path), *func]) == 0
