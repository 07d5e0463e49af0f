"""The house rule: the data path flows one way, held by import-linter; small modules."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

PACKAGE = ROOT / "pinn_gelu"
LINT = [
    sys.executable,
    "-c",
    "from importlinter.cli import lint_imports_command; lint_imports_command()",
]


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LINT, "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_the_import_contracts_hold() -> None:
    run = lint(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 kept, 0 broken" in run.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # a leaf importing the command line: an import up the layers
        ("fields.py", "from pinn_gelu.cli import main", "the data path flows one way"),
        # two modules of one folder importing each other
        (
            "optimisers/base.py",
            "from pinn_gelu.optimisers.adam import Adam",
            "no import cycles among the modules of a folder",
        ),
    ],
)
def test_a_violation_of_the_rule_is_caught(tmp_path, module, line, broken) -> None:
    shutil.copytree(PACKAGE, tmp_path / "pinn_gelu", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "pinn_gelu" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    run = lint(tmp_path)
    assert run.returncode != 0
    assert f"{broken} BROKEN" in run.stdout


def _late_imports(tree: ast.Module) -> list[int]:
    """Lines of imports of pinn_gelu that are not at module level (nor for type checking)."""
    top = {id(node) for node in tree.body}
    for node in tree.body:  # `if TYPE_CHECKING:` blocks count as module level
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            top |= {id(child) for child in node.body}
    lines = []
    for node in ast.walk(tree):
        if id(node) in top:
            continue
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pinn_gelu"):
            lines.append(node.lineno)
        elif isinstance(node, ast.Import) and any(
            a.name.startswith("pinn_gelu") for a in node.names
        ):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_no_import_of_ours_inside_a_function(path: Path) -> None:
    # an import inside a function hides a dependency from the contract (and dodges a cycle)
    assert _late_imports(ast.parse(path.read_text(encoding="utf-8"))) == []


def test_the_late_import_finder_finds_one() -> None:
    tree = ast.parse("def f():\n    from pinn_gelu.cli import main\n")
    assert _late_imports(tree) == [2]


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_modules_stay_small(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 500, f"{path.relative_to(ROOT)} has {lines} lines: split it by concept"
