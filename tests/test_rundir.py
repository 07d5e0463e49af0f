"""Run directories never lose data: --force swaps at the end, foreign directories are refused,
one writer at a time, nobody else's files removed.

The data-loss cases run the CLI as a subprocess, as a user would, and compare the previous run's
files byte for byte afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from pinn_gelu.cli import main
from pinn_gelu.errors import UsageError
from pinn_gelu.runs.rundir import LOCK_NAME, STAGING_PREFIX, RunLock, run_status

FAST = ["--quiet", "--no-plots"]


def solve(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pinn_gelu", "solve", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file below a directory, by relative path, with its bytes."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def finished(write, valid, tmp_path) -> tuple[Path, Path]:
    """(problem file, run directory of a finished run holding a note of the user's too)."""
    problem = write(valid)
    out = tmp_path / "run"
    done = solve(str(problem), "--out", str(out), *FAST)
    assert done.returncode == 0, done.stderr
    assert run_status(out) == "completed"
    (out / "notes.txt").write_text("mine")
    (out / ".mine.tmp").write_text("a user's file that looks temporary")
    return problem, out


def test_force_refused_at_a_collocation_point_keeps_the_old_run(write, valid, finished) -> None:
    _, out = finished
    before = snapshot(out)
    valid["boundary"] = [{"on": "all", "dirichlet": "1/x"}]  # infinite at the point x = 0
    bad = write(valid, "bad.yaml")
    refused = solve(str(bad), "--out", str(out), "--force", *FAST)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"pinn-gelu: error: {bad}: boundary[0].dirichlet: '1/x' is not finite at 1 of 1 points "
        "(for example at x=0)"
    ]
    assert snapshot(out) == before  # byte-identical, no lock, no staging directory left


def test_force_refused_for_a_missing_gpu_keeps_the_old_run(finished, monkeypatch, capsys) -> None:
    problem, out = finished
    before = snapshot(out)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["solve", str(problem), "--out", str(out), "--force", "--device", "cuda"]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        f"pinn-gelu: error: {problem}: training.device: cuda requested, but torch sees no CUDA "
        "device"
    ]
    assert snapshot(out) == before


def test_force_killed_during_training_keeps_the_old_run(finished) -> None:
    problem, out = finished
    before = snapshot(out)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pinn_gelu",
            "solve",
            str(problem),
            "--out",
            str(out),
            "--force",
            *FAST,
            "--set",
            "training.adam.steps=100000",
            "--set",
            "training.checkpoint_every=20",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = time.monotonic()
    while not list(out.glob(f"{STAGING_PREFIX}*/checkpoint.pt")):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() - started < 60
        time.sleep(0.05)
    process.kill()  # SIGKILL: no cleanup at all
    process.communicate(timeout=60)
    after = snapshot(out)
    kept = {name: data for name, data in after.items() if not name.startswith(STAGING_PREFIX)}
    assert kept == {**before, LOCK_NAME: kept.get(LOCK_NAME, b"")}
    assert run_status(out) == "completed"
    # the killed run's lock is stale: the next run takes it over
    again = solve(str(problem), "--out", str(out), "--force", *FAST)
    assert again.returncode == 0, again.stderr


def test_force_replaces_only_our_files(write, valid, finished) -> None:
    _, out = finished
    (out / "error.txt").write_text("an old failure")
    old_model = (out / "model.pt").read_bytes()
    valid["training"]["seed"] = 7
    done = solve(str(write(valid, "other.yaml")), "--out", str(out), "--force", *FAST)
    assert done.returncode == 0, done.stderr
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / ".mine.tmp").read_text() == "a user's file that looks temporary"
    assert not (out / "error.txt").exists()
    assert (out / "model.pt").read_bytes() != old_model
    assert json.loads((out / "metrics.json").read_text())["seed"] == 7
    assert sorted(p.name for p in out.iterdir()) == [
        ".mine.tmp",
        "checkpoint.pt",
        "history.csv",
        "metrics.json",
        "model.pt",
        "notes.txt",
        "problem.yaml",
    ]


@pytest.mark.parametrize("force", [False, True])
def test_a_directory_that_is_not_a_run_is_refused(write, valid, tmp_path, force) -> None:
    here = tmp_path / "work"
    here.mkdir()
    problem = write("# my comments\n" + json.dumps(valid), "work/problem.yaml")
    before = snapshot(here)
    refused = subprocess.run(
        [sys.executable, "-m", "pinn_gelu", "solve", "problem.yaml", "--out", ".", *FAST]
        + (["--force"] if force else []),
        capture_output=True,
        text=True,
        cwd=here,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip().splitlines() == [
        "pinn-gelu: error: --out .: not empty and not a pinn_gelu run directory (it holds "
        "'problem.yaml'); choose a new or empty directory"
    ]
    assert snapshot(here) == before and problem.read_text().startswith("# my comments")


def test_a_second_writer_is_refused_while_the_first_runs(write, valid, tmp_path) -> None:
    problem = write(valid)
    out = tmp_path / "run"
    first = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pinn_gelu",
            "solve",
            str(problem),
            "--out",
            str(out),
            *FAST,
            "--set",
            "training.adam.steps=100000",
            "--set",
            "training.checkpoint_every=20",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = time.monotonic()
    while not (out / "checkpoint.pt").exists():
        assert first.poll() is None, first.communicate()
        assert time.monotonic() - started < 60
        time.sleep(0.05)
    for extra in (["--force"], ["--resume", str(out)]):
        args = ["--out", str(out)] if extra[0] == "--force" else []
        second = solve(str(problem), *args, *extra, *FAST)
        assert second.returncode == 2, second.stderr
        assert f"in use by another pinn-gelu process (pid {first.pid}" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
    first.send_signal(signal.SIGINT)
    _, stderr = first.communicate(timeout=60)
    assert first.returncode == 130, stderr
    assert json.loads((out / "metrics.json").read_text())["status"] == "interrupted"
    assert not (out / LOCK_NAME).exists()


def test_lock_is_exclusive_and_a_stale_lock_file_is_taken_over(tmp_path) -> None:
    out = tmp_path / "new" / "run"
    with RunLock(out):
        assert (out / LOCK_NAME).read_text() == f"{os.getpid()}\n"
        with pytest.raises(
            UsageError, match=f"in use by another pinn-gelu process .pid {os.getpid()}"
        ):
            RunLock(out).__enter__()
    assert not (tmp_path / "new").exists()  # created by the lock, empty again: removed
    out.mkdir(parents=True)
    (out / LOCK_NAME).write_text("999999999\n")  # left by a killed process: nobody holds it
    with RunLock(out):
        assert (out / LOCK_NAME).read_text() == f"{os.getpid()}\n"
    assert out.is_dir() and not (out / LOCK_NAME).exists()


def test_an_unwritable_out_is_refused_before_training(write, valid, capsys) -> None:
    problem = write(valid)
    assert main(["solve", str(problem), "--out", "/proc/x", *FAST]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        "pinn-gelu: error: --out /proc/x: cannot write there (No such file or directory)"
    ]
    assert "derivatives" not in captured.out  # nothing was trained


def test_refused_runs_keep_files_that_look_temporary(write, valid, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text(json.dumps({"status": "failed"}))
    (out / ".notes.tmp").write_text("mine")
    (out / ".checkpoint.pt.abc.tmp").write_text("not created by this process")
    valid["pde"]["source"] = "pi**2*sin(pi*x"
    assert main(["solve", str(write(valid)), "--out", str(out), "--force", *FAST]) == 2
    assert (out / ".notes.tmp").read_text() == "mine"
    assert (out / ".checkpoint.pt.abc.tmp").exists()


@pytest.mark.parametrize("content", ["[]", "3", '{"status": [1]}', "{", '"completed"'])
def test_malformed_metrics_are_not_a_run_and_raise_nothing(tmp_path, write, valid, capsys, content):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text(content)
    assert run_status(out) is None
    assert main(["solve", str(write(valid)), "--out", str(out), *FAST]) == 2
    err = capsys.readouterr().err
    assert "not a pinn_gelu run directory (it holds 'metrics.json')" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    (out / "checkpoint.pt").write_bytes(b"")
    assert run_status(out) == "interrupted"


def test_threads_option_sets_torch_threads(write, valid, tmp_path) -> None:
    out = tmp_path / "run"
    done = solve(str(write(valid)), "--out", str(out), "--threads", "2", *FAST)
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "metrics.json").read_text())["threads"] == 2
    refused = solve(str(write(valid)), "--out", str(tmp_path / "r2"), "--threads", "0", *FAST)
    assert refused.returncode == 2
    assert "--threads 0: expected a number of threads in [1, 1024]" in refused.stderr


def test_a_run_whose_parameters_refer_to_earlier_ones_loads_back(tmp_path, write, valid) -> None:
    from pinn_gelu import load_run

    valid["parameters"] = {"zeta": 2.0, "alpha": "zeta*pi"}  # alphabetical order breaks it
    valid["pde"]["source"] = "alpha*sin(pi*x)"
    valid["training"]["adam"]["steps"] = 2
    valid["training"]["lbfgs"]["steps"] = 0
    out = tmp_path / "run"
    assert main(["solve", str(write(valid)), "--out", str(out), "--quiet", "--no-plots"]) == 0
    assert load_run(out).problem.parameters["alpha"] == pytest.approx(2 * 3.141592653589793)
