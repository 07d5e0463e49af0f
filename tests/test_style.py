"""The code style checks of pyproject.toml run with the tests: ruff (lint, format) and mypy."""

import subprocess
import sys

from .conftest import ROOT

PATHS = ["pinn_gelu", "tests", "benchmarks", "notebooks/execute.py"]


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_ruff_lint() -> None:
    result = run("ruff", "check", *PATHS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = run("ruff", "format", "--check", *PATHS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_on_the_package() -> None:
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
