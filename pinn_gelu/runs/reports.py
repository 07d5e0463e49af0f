"""The outputs of ``pinn-gelu reference`` and ``pinn-gelu compare``: summaries, arrays, figures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pinn_gelu.checkpoints import atomic_write
from pinn_gelu.expressions import evaluate_checked
from pinn_gelu.geometry.domain import RegionDomain
from pinn_gelu.metrics import relative_l2
from pinn_gelu.problem import Problem
from pinn_gelu.runs.deformation import extra_figures
from pinn_gelu.runs.files import save_figure, write_json, write_text
from pinn_gelu.runs.outputs import COMPARISON, REFERENCE
from pinn_gelu.runs.plots import Canvas, comparison_figure, field_panels, region_canvas

__all__ = ["REFERENCE_WRITERS", "write_comparison", "write_fem_reference", "write_reference"]


def write_reference(directory: str | Path, problem: Problem, solution: Any) -> dict[str, Any]:
    """Write a finite-difference solution: reference.json, reference.npz, reference.png.

    Returns the summary written to reference.json (unknowns, solve time, and the relative L2
    error of each field against the exact solution on the grid nodes, when there is one).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    nodes = solution.grid.points()
    exact = {
        name: exact_at(problem, name, nodes) for name in solution.fields if name in problem.exact
    }
    errors = {
        name: relative_l2(solution.fields[name].ravel(), values) for name, values in exact.items()
    }
    summary = {
        "format": REFERENCE.format,
        "problem": problem.name,
        "points": solution.grid.n,
        "unknowns": solution.unknowns,
        "solve_time_s": solution.solve_time_s,
        "relative_l2_vs_exact": errors,
    }
    write_json(directory / "reference.json", summary)
    arrays = {
        f"axis_{v}": a for v, a in zip(problem.domain.variables, solution.grid.axes, strict=True)
    }
    arrays.update(solution.fields)
    atomic_write(directory / "reference.npz", lambda handle: np.savez_compressed(handle, **arrays))
    canvas = Canvas(nodes, solution.grid.shape)
    fields = {k: v.ravel() for k, v in solution.fields.items()}
    figures = {
        "reference.png": field_panels(
            problem, canvas, fields, exact, labels=("finite differences", "exact")
        ),
        **extra_figures(problem, canvas, fields, f"{problem.name} (finite differences)"),
    }
    for name, picture in figures.items():
        save_figure(directory / name, picture)
    return summary


def write_fem_reference(directory: str | Path, problem: Problem, solution: Any) -> dict[str, Any]:
    """Write a finite-element solution: reference.json, reference.npz, reference.png.

    The error against the exact solution (where there is one) is the relative L2 error at the
    P2 nodes; the figures show the solution over the region only
    (:func:`~pinn_gelu.runs.plots.region_canvas`).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    nodes = solution.nodes
    exact = {
        name: exact_at(problem, name, nodes) for name in solution.fields if name in problem.exact
    }
    errors = {name: relative_l2(solution.fields[name], values) for name, values in exact.items()}
    summary = {
        "format": REFERENCE.format,
        "problem": problem.name,
        "method": "finite_element",
        "size": solution.size,
        "triangles": int(solution.mesh.triangles.shape[0]),
        "unknowns": solution.unknowns,
        "solve_time_s": solution.solve_time_s,
        "relative_l2_vs_exact": errors,
    }
    write_json(directory / "reference.json", summary)
    arrays = {"nodes": nodes, "triangles": solution.mesh.triangles}
    arrays.update(solution.fields)
    atomic_write(directory / "reference.npz", lambda handle: np.savez_compressed(handle, **arrays))
    domain = problem.domain
    assert isinstance(domain, RegionDomain)  # finite elements are for 2D regions
    canvas = region_canvas(domain, problem.validation.grid_points(2))
    values = solution.interpolate(canvas.points)
    shown = {k: v for k, v in values.items() if k in solution.fields}
    figures = {
        "reference.png": field_panels(
            problem,
            canvas,
            shown,
            {n: exact_at(problem, n, canvas.points) for n in shown if n in problem.exact},
            labels=("finite elements", "exact"),
        ),
        **extra_figures(problem, canvas, values, f"{problem.name} (finite elements)"),
    }
    for name, picture in figures.items():
        save_figure(directory / name, picture)
    return summary


def exact_at(problem: Problem, name: str, points: np.ndarray) -> np.ndarray:
    """The exact solution's field at points, refused (naming ``exact.<name>``) where infinite."""
    tensor = torch.as_tensor(points, dtype=torch.float64)
    return evaluate_checked(problem.exact[name], tensor, problem.path).numpy()


#: The files of ``pinn-gelu reference`` by reference method (its name in
#: :data:`pinn_gelu.reference.METHODS`): (directory, problem, solution) → summary.
REFERENCE_WRITERS: dict[str, Callable[[str | Path, Problem, Any], dict[str, Any]]] = {
    "finite_difference": write_reference,
    "finite_element": write_fem_reference,
}


def write_comparison(directory: str | Path, comparison: Any) -> list[Path]:
    """Write comparison.json, comparison.md and comparison.png; returns the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / n for n in ("comparison.json", "comparison.md", "comparison.png")]
    write_json(paths[0], {"format": COMPARISON.format, **comparison.to_json()})
    write_text(paths[1], comparison.markdown())
    figure = comparison_figure(comparison)
    save_figure(paths[2], figure)
    return paths
