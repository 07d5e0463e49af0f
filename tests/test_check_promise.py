"""check's promise for residuals: what ``pinn-gelu check`` accepts, ``solve`` evaluates.

Every construct of the residual language in every kind of domain, as an interior equation and
as a boundary equation: where ``check`` accepts the file, the loss of its terms is computed
and finite (no traceback, no shape error). And every shipped problem file likewise.
"""

from __future__ import annotations

import contextlib
import io
import math

import pytest
import yaml

from pinn_gelu.cli import main
from pinn_gelu.problem_file import parse_problem, read_yaml
from pinn_gelu.training import Trainer

from .conftest import PROBLEMS

DOMAINS = {
    "1d": {"rectangle": [[0, 1]]},
    "2d": {"rectangle": [[0, 1], [0, 2]]},
    "3d": {"rectangle": [[0, 1], [0, 1], [0, 1]]},
    "region": {
        "shapes": {
            "plate": {"rectangle": [[0, 2], [0, 2]]},
            "hole": {"disk": {"center": [1, 1], "radius": 0.4}},
        },
        "region": "plate - hole",
    },
    "1d+time": {"rectangle": [[0, 1]], "time": [0, 1]},
    "2d+time": {"rectangle": [[0, 1], [0, 1]], "time": [0, 1]},
}
CONSTRUCTS = [
    "u",
    "d(u, x)",
    "d(u, x, x)",
    "d(u, x, y)",
    "d(u, x, x, x)",
    "d(u, x, x, y, y)",
    "laplacian(u)",
    "d(u, t)",
    "d(u, t, t)",
    "dn(u)",
    "nx*u + ny",
    "u*d(u, x) + sin(u)",
]


def data(domain: dict, interior: str, boundary: str) -> dict:
    on = "all" if "rectangle" in domain else "hole"
    return {
        "pde": {"kind": "equations", "equations": [f"{interior} - 1"]},
        "domain": domain,
        "boundary": [
            {"on": on, "dirichlet": "0"},
            {"on": on, "equation": boundary},
        ],
        "network": {"width": 6, "depth": 2},
        "training": {"points": {"interior": 30, "boundary": 20}, "dtype": "float64"},
        "validation": {"grid": 5},
    }


def accepted(content: dict, tmp_path) -> bool:
    path = tmp_path / "problem.yaml"
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(["check", str(path)]) == 0


@pytest.mark.parametrize("construct", CONSTRUCTS)
@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_every_construct_check_accepts_evaluates(domain, construct, tmp_path) -> None:
    evaluated = 0
    for interior, boundary in ((construct, "u"), ("u", construct)):
        content = data(DOMAINS[domain], interior, boundary)
        if not accepted(content, tmp_path):
            continue  # refused with one line (d(u, t) without time, dn inside, …)
        trainer = Trainer(parse_problem(content, "problem.yaml"), progress=False)
        total, parts = trainer.loss()
        assert math.isfinite(float(total)), (domain, interior, boundary)
        assert len(parts) == len(trainer.terms)
        evaluated += 1
    if construct in ("u", "d(u, x)", "laplacian(u)"):  # valid in every domain, in both places
        assert evaluated == 2


@pytest.mark.parametrize("path", sorted(PROBLEMS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_file_check_accepts_evaluates(path) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["check", str(path)]) == 0
    content = read_yaml(path)
    content.setdefault("training", {})["points"] = {"interior": 50, "boundary": 30}
    problem = parse_problem(content, str(path))
    trainer = Trainer(problem, progress=False)
    total, _ = trainer.loss()
    assert math.isfinite(float(total))
