"""Checkpoints, resume, interruption, non-finite values, and the run directory's safety."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from pinn_gelu import load_problem
from pinn_gelu.checkpoints import atomic_write, read_checkpoint
from pinn_gelu.cli import main
from pinn_gelu.training import Trainer

from .conftest import PROBLEMS

BUDGET = ["training.adam.steps=60", "training.lbfgs.steps=40", "training.checkpoint_every=10"]


def tiny(write, valid, extra=()):
    return load_problem(write(valid), [*BUDGET, *extra])


def parameters(network) -> list[torch.Tensor]:
    return [p.detach().clone() for p in network.parameters()]


def stop_at(trainer: Trainer, step: int) -> None:
    original = trainer._after_step

    def after(phase_step: int) -> None:
        if trainer.step == step:
            trainer.request_stop(signal.SIGINT)
        original(phase_step)

    trainer._after_step = after  # type: ignore[method-assign]


@pytest.mark.parametrize("stop", [25, 60, 75], ids=["in-adam", "adam-to-lbfgs", "in-lbfgs"])
def test_resumed_run_ends_with_exactly_the_uninterrupted_parameters(write, valid, tmp_path, stop):
    problem = tiny(write, valid)
    reference = Trainer(problem, progress=False).run()
    assert reference.phase_steps == {"adam": 60, "lbfgs": 40}

    checkpoint = tmp_path / "checkpoint.pt"
    first = Trainer(problem, progress=False, checkpoint=checkpoint)
    stop_at(first, stop)
    interrupted = first.run()
    assert interrupted.status == "interrupted"
    assert f"after step {stop}" in interrupted.message
    assert read_checkpoint(checkpoint)["step"] == stop

    resumed = Trainer.resume(problem, checkpoint, progress=False).run()
    assert resumed.status == "completed"
    assert resumed.phase_steps == {"adam": 60, "lbfgs": 40}
    for a, b in zip(parameters(resumed.model), parameters(reference.model), strict=True):
        assert torch.equal(a, b)  # exactly, not approximately
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in reference.history]
    assert resumed.events[-1] == f"resumed at step {stop} ({'adam' if stop <= 60 else 'lbfgs'})"


def test_ctrl_c_inside_a_step_resumes_from_the_last_consistent_state(write, valid, tmp_path):
    problem = tiny(write, valid)
    reference = Trainer(problem, progress=False).run()
    checkpoint = tmp_path / "checkpoint.pt"
    trainer = Trainer(problem, progress=False, checkpoint=checkpoint)
    original, calls = trainer.objective.eager, {"n": 0}

    def interrupting():
        calls["n"] += 1
        if calls["n"] == 57:  # in the middle of step 57's evaluation
            raise KeyboardInterrupt
        return original()

    trainer.objective.eager = interrupting  # type: ignore[method-assign]
    result = trainer.run()
    assert result.status == "interrupted"
    assert read_checkpoint(checkpoint)["step"] == 50  # the last snapshot, not a half step
    resumed = Trainer.resume(problem, checkpoint, progress=False).run()
    for a, b in zip(parameters(resumed.model), parameters(reference.model), strict=True):
        assert torch.equal(a, b)


def poison(trainer: Trainer, calls_from: int, calls_to: float = math.inf) -> None:
    original, calls = trainer.objective.eager, {"n": 0}

    def poisoned():
        calls["n"] += 1
        total, parts = original()
        if calls_from <= calls["n"] <= calls_to:
            return total * math.nan, torch.cat([parts[:1] * math.nan, parts[1:]])
        return total, parts

    trainer.objective.eager = poisoned  # type: ignore[method-assign]


def test_rollback_restores_the_last_snapshot_halves_the_rate_and_goes_on(write, valid):
    problem = tiny(write, valid, ["training.on_nonfinite=rollback"])
    trainer = Trainer(problem, progress=False)
    poison(trainer, 58, 58)  # one bad evaluation at step 58
    result = trainer.run()
    assert result.status == "completed"
    assert len(result.events) == 1
    assert (
        "non-finite values at step 58 (loss term pde is nan): rolled back to step 50"
        in result.events[0]
    )
    assert "learning rate halved" in result.events[0]
    assert [r["step"] for r in result.history] == list(range(1, 101))
    assert trainer.lr_scale == 0.5


def test_rollbacks_are_bounded(write, valid):
    problem = tiny(write, valid, ["training.on_nonfinite=rollback", "training.max_rollbacks=2"])
    trainer = Trainer(problem, progress=False)
    poison(trainer, 58)  # bad for ever after
    result = trainer.run()
    assert result.status == "failed"
    assert len(result.events) == 2
    assert "(after 2 rollbacks, the most allowed)" in result.message


def test_failed_run_leaves_error_txt_beside_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    from pinn_gelu.loss import Loss
    from pinn_gelu.training.memory import PROBE_POINTS

    original = Loss.eager
    calls = {"n": 0}

    def poisoned(self):
        if self.points.interior.shape[0] > PROBE_POINTS:  # not the memory probe's loss
            calls["n"] += 1
        total, parts = original(self)
        if calls["n"] >= 130:
            return total * math.nan, parts * math.nan
        return total, parts

    monkeypatch.setattr(Loss, "eager", poisoned)
    out = tmp_path / "run"
    code = main(
        [
            "solve",
            str(PROBLEMS / "poisson_1d.yaml"),
            "--out",
            str(out),
            "--quiet",
            "--set",
            "training.adam.steps=200",
            "--set",
            "training.lbfgs.steps=10",
            "--no-plots",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "training failed: non-finite values at step 130 (adam): loss term pde, dirichlet" in err
    assert "non-finite values at step 130" in (out / "error.txt").read_text()
    assert json.loads((out / "metrics.json").read_text())["status"] == "failed"
    state = read_checkpoint(out / "checkpoint.pt")
    assert state["step"] == 100  # the last snapshot: a consistent, finite state
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values())


def test_unfinished_runs_are_not_overwritten_and_resume_checks_the_problem(tmp_path, capsys):
    out = tmp_path / "run"
    (out).mkdir()
    (out / "metrics.json").write_text(json.dumps({"status": "interrupted"}))
    args = ["solve", str(PROBLEMS / "poisson_1d.yaml"), "--out", str(out), "--quiet"]
    assert main(args) == 2
    assert f"holds a interrupted run; continue it with --resume {out}" in capsys.readouterr().err
    assert main(["solve", str(PROBLEMS / "poisson_1d.yaml"), "--resume", str(out)]) == 2
    assert "no checkpoint.pt there, nothing to resume" in capsys.readouterr().err


def test_resume_refuses_a_different_problem_but_allows_a_longer_budget(
    tmp_path, capsys, monkeypatch
):
    out = tmp_path / "run"
    base = [
        "solve",
        str(PROBLEMS / "poisson_1d.yaml"),
        "--quiet",
        "--no-plots",
        "--set",
        "training.lbfgs.steps=0",
    ]
    original = Trainer._after_step

    def stop_at_ten(self, phase_step):
        if self.step == 10:
            self.request_stop(signal.SIGINT)
        original(self, phase_step)

    monkeypatch.setattr(Trainer, "_after_step", stop_at_ten)
    assert main([*base, "--set", "training.adam.steps=30", "--out", str(out)]) == 130
    monkeypatch.setattr(Trainer, "_after_step", original)
    assert json.loads((out / "metrics.json").read_text())["status"] == "interrupted"
    capsys.readouterr()
    assert (
        main(
            [
                *base,
                "--set",
                "training.adam.steps=30",
                "--set",
                "pde.source=1",
                "--resume",
                str(out),
            ]
        )
        == 2
    )
    assert "differs from the checkpoint's at pde.source" in capsys.readouterr().err
    assert main([*base, "--set", "training.adam.steps=40", "--resume", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["phase_steps"] == {"adam": 40}
    assert any(e.startswith("resumed at step 10") for e in metrics["events"])
    assert main([*base, "--set", "training.adam.steps=40", "--resume", str(out)]) == 2
    assert "that run is already finished" in capsys.readouterr().err


def test_force_starts_over_and_clears_old_outputs(tmp_path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "error.txt").write_text("old failure")
    (out / ".checkpoint.pt.abc.tmp").write_text("leftover")
    (out / "notes.txt").write_text("mine")
    (out / "metrics.json").write_text(json.dumps({"status": "failed"}))
    assert (
        main(
            [
                "solve",
                str(PROBLEMS / "poisson_1d.yaml"),
                "--out",
                str(out),
                "--quiet",
                "--force",
                "--no-plots",
                "--set",
                "training.adam.steps=5",
                "--set",
                "training.lbfgs.steps=0",
            ]
        )
        == 0
    )
    assert not (out / "error.txt").exists()
    # not created by this process: never removed (it could be anyone's)
    assert (out / ".checkpoint.pt.abc.tmp").read_text() == "leftover"
    assert (out / "notes.txt").read_text() == "mine"


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path) -> None:
    target = tmp_path / "metrics.json"
    target.write_text("old")

    def broken(handle):
        handle.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, broken)
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]
    atomic_write(target, lambda handle: handle.write(b"new"))
    assert target.read_text() == "new"
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def start_solve(out, steps: int = 3000):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pinn_gelu",
            "solve",
            str(PROBLEMS / "poisson_1d.yaml"),
            "--out",
            str(out),
            "--quiet",
            "--no-plots",
            "--set",
            f"training.adam.steps={steps}",
            "--set",
            "training.lbfgs.steps=0",
            "--set",
            "training.checkpoint_every=50",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for(path, process, timeout=60.0) -> None:
    started = time.monotonic()
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() - started < timeout
        time.sleep(0.05)


@pytest.mark.parametrize(("signal_number", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_writes_a_checkpoint_and_metrics_and_says_how_to_resume(
    tmp_path, signal_number, code
):
    out = tmp_path / "run"
    process = start_solve(out)
    wait_for(out / "checkpoint.pt", process)
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert f"resume with: pinn-gelu solve {PROBLEMS / 'poisson_1d.yaml'} --resume {out}" in stderr
    assert "Traceback" not in stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "interrupted"
    state = read_checkpoint(out / "checkpoint.pt")
    assert state["step"] == metrics["steps"] and 0 < state["step"] < 3000
    if signal_number == signal.SIGINT:
        resumed = subprocess.run(
            [
                sys.executable,
                "-m",
                "pinn_gelu",
                "solve",
                str(PROBLEMS / "poisson_1d.yaml"),
                "--resume",
                str(out),
                "--quiet",
                "--no-plots",
                "--set",
                "training.adam.steps=3000",
                "--set",
                "training.lbfgs.steps=0",
                "--set",
                "training.checkpoint_every=50",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads((out / "metrics.json").read_text())["steps"] == 3000


def test_a_second_ctrl_c_exits_at_once_and_leaves_a_readable_checkpoint(tmp_path) -> None:
    out = tmp_path / "run"
    process = start_solve(out)
    wait_for(out / "checkpoint.pt", process)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    assert process.returncode == 130
    state = read_checkpoint(out / "checkpoint.pt")
    assert state["step"] > 0
