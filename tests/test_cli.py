"""The command line: outputs, exit codes, one-line errors, nothing written on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from pinn_gelu import load_run
from pinn_gelu.cli import main

from .conftest import PROBLEMS

FAST = ["--set", "training.adam.steps=200", "--set", "training.lbfgs.steps=100", "--quiet"]


def test_solve_writes_every_output_and_the_model_loads_back(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    code = main(["solve", str(PROBLEMS / "poisson_1d.yaml"), "--out", str(out), *FAST])
    assert code == 0
    for name in (
        "metrics.json",
        "history.csv",
        "model.pt",
        "problem.yaml",
        "solution.png",
        "loss.png",
    ):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"relative_l2", "wall_time_s", "activation", "steps", "status"}
    assert metrics["steps"] == 300 and metrics["activation"] == "gelu"
    assert metrics["relative_l2"]["u"] < 1e-3  # measured 2.1e-4 (300 steps, float32): ×5
    header = (out / "history.csv").read_text().splitlines()[0].split(",")
    assert header[:5] == ["step", "phase", "loss", "pde", "dirichlet"]
    solution = load_run(out)
    x = np.linspace(0, 1, 11)
    u = solution(x[:, None])["u"]
    assert np.abs(u - (np.sin(2 * np.pi * x) + x)).max() < 0.1
    printed = capsys.readouterr().out
    assert "relative L2 of u" in printed and str(out) in printed


def test_solve_flags_override_the_file(tmp_path) -> None:
    out = tmp_path / "run"
    code = main(
        [
            "solve",
            str(PROBLEMS / "poisson_1d.yaml"),
            "--out",
            str(out),
            *FAST,
            "--activation",
            "tanh",
            "--seed",
            "3",
            "--dtype",
            "float32",
            "--no-plots",
        ]
    )
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["activation"], metrics["seed"], metrics["dtype"]) == ("tanh", 3, "float32")
    assert not (out / "solution.png").exists()


def test_a_finished_run_is_not_overwritten_without_force(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    args = ["solve", str(PROBLEMS / "poisson_1d.yaml"), "--out", str(out), *FAST, "--no-plots"]
    assert main(args) == 0
    before = (out / "metrics.json").read_text()
    assert main(args) == 2
    assert "holds a finished run; use --force" in capsys.readouterr().err
    assert (out / "metrics.json").read_text() == before
    assert main([*args, "--force"]) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "network.width=-1"], "network.width: expected a whole number in [1, 4096]"),
        (["--set", "boundary[0].on=x_middle"], "boundary[0].on: unknown side 'x_middle'"),
        (["--activation", "gelu2"], "network.activation: unknown activation 'gelu2'"),
        (["--set", "training.adam.steps"], "expected KEY=VALUE"),
        (["--limit", "max_cats=3"], "unknown limit"),
        (["--seed", "-2"], "--seed must be ≥ 0"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    code = main(["solve", str(PROBLEMS / "poisson_1d.yaml"), "--out", str(out), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_bad_file_names_the_file_and_key(write, valid, capsys, tmp_path) -> None:
    valid["network"]["activation"] = "swish"
    path = write(valid)
    assert main(["solve", str(path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"pinn-gelu: error: {path}: network.activation: unknown activation")


def test_check_summarises(capsys) -> None:
    assert main(["check", str(PROBLEMS / "poisson_mixed.yaml")]) == 0
    out = capsys.readouterr().out
    assert "y_max     neumann sin(k*x)*sinh(1)" in out
    assert "ok: the problem file is valid" in out


def test_check_warns_for_relu(capsys) -> None:
    assert (
        main(["check", str(PROBLEMS / "poisson_2d.yaml"), "--set", "network.activation=relu"]) == 0
    )
    assert "warning: activation 'relu' has a zero derivative of order 2" in capsys.readouterr().err


def test_unknown_command_and_missing_file_exit_2(tmp_path) -> None:
    assert main(["check", str(tmp_path / "missing.yaml")]) == 2
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2


def test_python_dash_m_and_console_script_work(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pinn_gelu", "check", str(PROBLEMS / "poisson_2d.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "ok: the problem file is valid" in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "pinn_gelu", "check", str(tmp_path / "x.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
