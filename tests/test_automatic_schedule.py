"""training.schedule: auto — which phases and network a file that says nothing about them gets."""

from __future__ import annotations

import pytest
import yaml

from pinn_gelu import load_problem, load_run
from pinn_gelu.cli import main
from pinn_gelu.config import Limits
from pinn_gelu.problem_file.defaults import MAX_STEP_FLOPS, parameter_count


def _bare(valid: dict) -> dict:
    """The tiny problem with no network section and only points under training."""
    del valid["network"]
    valid["training"] = {"points": {"interior": 64}}
    return valid


def test_a_file_silent_on_training_gets_gauss_newton_on_a_small_network(write, valid) -> None:
    problem = load_problem(write(_bare(valid)))
    assert problem.training.schedule == ("adam", "gauss_newton")
    assert (problem.network.width, problem.network.depth) == (20, 3)
    reason = problem.decisions["training.schedule"]
    assert "20×3 network (automatic)" in reason and "is affordable" in reason


def test_many_points_make_the_step_too_expensive_and_l_bfgs_is_chosen(write, valid) -> None:
    data = _bare(valid)
    # 1D, 20×3: P = 901 parameters; rows × P² > MAX_STEP_FLOPS from about 24,700 rows, the
    # rows estimated as (interior + boundary points (400 by default)) × outputs
    rows = int(MAX_STEP_FLOPS / 901**2) + 100 - 400
    data["training"]["points"]["interior"] = rows
    problem = load_problem(write(data))
    assert parameter_count(problem.network, 1, 1) != 901  # the L-BFGS network: 50×4
    assert problem.training.schedule == ("adam", "lbfgs")
    assert (problem.network.width, problem.network.depth) == (50, 4)
    assert "multiply-adds" in problem.decisions["training.schedule"]
    data["training"]["points"]["interior"] = rows - 200
    assert load_problem(write(data)).training.schedule == ("adam", "gauss_newton")


def test_the_jacobian_memory_bound_decides_too(write, valid) -> None:
    small = Limits(max_gauss_newton_bytes=1000)
    problem = load_problem(write(_bare(valid)), limits=small)
    assert problem.training.schedule == ("adam", "lbfgs")
    assert "max_gauss_newton_bytes" in problem.decisions["training.schedule"]


@pytest.mark.parametrize("phase", ["lbfgs", "gauss_newton"])
def test_a_file_that_configures_one_second_phase_gets_it(write, valid, phase) -> None:
    data = _bare(valid)
    data["training"][phase] = {"steps": 5}
    problem = load_problem(write(data))
    assert problem.training.schedule == ("adam", phase)
    assert f"configures training.{phase}" in problem.decisions["training.schedule"]


def test_a_stated_network_size_is_kept(write, valid) -> None:
    data = _bare(valid)
    data["network"] = {"width": 12}
    problem = load_problem(write(data))
    assert (problem.network.width, problem.network.depth) == (12, 3)
    assert "12×3 network (automatic)" in problem.decisions["training.schedule"]
    data["network"] = {"width": 12, "depth": 2}
    problem = load_problem(write(data))
    assert "12×2 network:" in problem.decisions["training.schedule"]


def test_a_stated_schedule_is_not_touched(write, valid) -> None:
    data = _bare(valid)
    data["training"]["schedule"] = ["adam", "lbfgs"]
    problem = load_problem(write(data))
    assert problem.training.schedule == ("adam", "lbfgs") and not problem.decisions
    assert (problem.network.width, problem.network.depth) == (50, 4)  # the dataclass defaults


def test_check_says_which_schedule_and_why(write, valid, capsys) -> None:
    assert main(["check", str(write(_bare(valid)))]) == 0
    out = capsys.readouterr().out
    assert "schedule: auto → adam, gauss_newton on a 20×3 network (automatic)" in out
    assert "gauss_newton 200 steps" in out


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["adam", "auto"], "training.schedule[1]: 'auto' stands alone"),
        ("automatic", "training.schedule[0]: expected one of: adam, lbfgs, gauss_newton"),
        ([], "training.schedule: expected a list of names"),
    ],
)
def test_malformed_schedules_exit_2_naming_the_key(write, valid, capsys, value, message) -> None:
    data = _bare(valid)
    data["training"]["schedule"] = value
    assert main(["check", str(write(data))]) == 2
    assert message in capsys.readouterr().err


def test_the_run_directory_records_what_ran(write, valid, tmp_path) -> None:
    """problem.yaml states the chosen schedule and size, so load_run builds the same network
    whatever limits it is read with."""
    data = _bare(valid)
    data["training"].update(adam={"steps": 3}, gauss_newton={"steps": 2})
    out = tmp_path / "run"
    assert main(["solve", str(write(data)), "--out", str(out), "--quiet", "--no-plots"]) == 0
    stored = yaml.safe_load((out / "problem.yaml").read_text())
    assert stored["training"]["schedule"] == ["adam", "gauss_newton"]
    assert (stored["network"]["width"], stored["network"]["depth"]) == (20, 3)
    solution = load_run(out)
    assert solution.problem.training.schedule == ("adam", "gauss_newton")
    assert (solution.problem.network.width, solution.problem.network.depth) == (20, 3)
