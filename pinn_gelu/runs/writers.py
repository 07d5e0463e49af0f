"""The run directory: metrics, history, model, problem; and :func:`load_run` to read it back.

A run directory holds::

    metrics.json   errors, wall time, activation, steps, how each phase ended
    history.csv    one row per step: step, phase, loss, each term, grad_max, errors, time
    model.pt       a self-describing checkpoint: weights, network config, problem data
    problem.yaml   the problem as run (the file with every --set override applied)
    solution.png   prediction, reference and pointwise error
    loss.png       loss terms and error against step
    deformation.png  the deformed body (elasticity)
    checkpoint.pt  the resumable training state (pinn-gelu solve FILE --resume DIR)
    error.txt      why a failed run failed

Every file is written atomically (temporary file in the same directory, fsync, ``os.replace``),
so a crash never leaves a half-written file. ``model.pt`` holds only tensors and plain data and
is read with ``torch.load(..., weights_only=True)``: a checkpoint is data, never code.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import yaml
from torch import nn

from pinn_gelu.checkpoints import MODEL_FORMAT, atomic_write, load_data, plain_data
from pinn_gelu.config import DTYPES, Limits
from pinn_gelu.derivatives import select_engine
from pinn_gelu.errors import ProblemFileError, describe, number_text, one_line
from pinn_gelu.geometry.domain import RegionDomain
from pinn_gelu.metrics import Evaluator, predict, relative_l2
from pinn_gelu.model.networks import MLP
from pinn_gelu.problem import Problem
from pinn_gelu.problem_file import parse_problem
from pinn_gelu.training import TrainResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Solution", "atomic_write", "load_run", "write_run"]


def save_figure(path: str | Path, figure: Figure) -> None:
    """Atomically write a figure as PNG."""
    atomic_write(path, lambda handle: figure.savefig(handle, format="png", dpi=110))


def write_text(path: str | Path, text: str) -> None:
    """Atomically write UTF-8 text."""
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def metrics_dict(problem: Problem, result: TrainResult, reference: str | None) -> dict[str, Any]:
    """The content of metrics.json."""
    return {
        "problem": problem.name,
        "status": result.status,
        "message": result.message,
        "relative_l2": result.relative_l2,
        "reference": reference,
        "wall_time_s": result.wall_time_s,
        "activation": result.activation,
        "steps": result.steps,
        "phase_steps": result.phase_steps,
        "stop_reasons": result.stop_reasons,
        "final_loss": result.final_loss,
        "derivatives": result.derivatives,
        "dtype": problem.training.dtype,
        "device": problem.training.device,
        "seed": problem.training.seed,
        "warnings": result.warnings,
        "events": result.events,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def history_csv(history: Sequence[Mapping[str, float | str]]) -> str:
    """history.csv: a column per key seen, in first-seen order; empty where not measured."""
    columns: dict[str, None] = {}
    for record in history:
        columns.update(dict.fromkeys(record))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), restval="", lineterminator="\n")
    writer.writeheader()
    for record in history:
        writer.writerow({k: (f"{v:.9g}" if isinstance(v, float) else v) for k, v in record.items()})
    return buffer.getvalue()


def model_checkpoint(
    problem_data: Mapping[str, Any], problem: Problem, network: nn.Module
) -> dict[str, Any]:
    """The content of model.pt: plain data and tensors only."""
    if not isinstance(network, MLP):
        raise TypeError("only pinn_gelu MLPs can be saved as model.pt")
    return {
        "format": MODEL_FORMAT,
        "network": network.config(),
        "dtype": problem.training.dtype,
        "state_dict": {k: v.detach().cpu() for k, v in network.state_dict().items()},
        "problem": plain_data(problem_data),
        "limits": {k: getattr(problem.limits, k) for k in Limits.__dataclass_fields__},
    }


def write_run(
    directory: str | Path,
    problem: Problem,
    problem_data: Mapping[str, Any],
    result: TrainResult,
    *,
    reference: str | None,
    plots: bool = True,
    evaluator: Evaluator | None = None,
) -> list[Path]:
    """Write every output of a finished run; returns the paths written.

    ``evaluator`` (the trainer's) saves solving a finite-difference or finite-element
    reference again for the figures.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    metrics = directory / "metrics.json"
    write_text(
        metrics, json.dumps(_json_safe(metrics_dict(problem, result, reference)), indent=2) + "\n"
    )
    history = directory / "history.csv"
    write_text(history, history_csv(result.history))
    model = directory / "model.pt"
    checkpoint = model_checkpoint(problem_data, problem, result.network)
    atomic_write(model, lambda handle: torch.save(checkpoint, handle))
    source = directory / "problem.yaml"
    write_text(
        source, yaml.safe_dump(plain_data(problem_data), sort_keys=False, allow_unicode=True)
    )
    written += [metrics, history, model, source]
    error = directory / "error.txt"
    if result.status == "failed":
        write_text(error, f"{result.message}\n")
        written.append(error)
    elif error.exists():
        error.unlink()
    if plots and result.status != "interrupted":
        from pinn_gelu.runs.plots import extra_figures, field_panels, grid_values, loss_figure

        canvas, predictions, references = grid_values(problem, result.network, evaluator=evaluator)
        figures = {
            "solution.png": field_panels(problem, canvas, predictions, references),
            "loss.png": loss_figure(result.history, [t for t in result.final_loss if t != "loss"]),
            **extra_figures(problem, canvas, predictions, f"{problem.name} (PINN)"),
        }
        for name, figure in figures.items():
            path = directory / name
            save_figure(path, figure)
            written.append(path)
    return written


def write_reference(directory: str | Path, problem: Problem, solution: Any) -> dict[str, Any]:
    """Write a finite-difference solution: reference.json, reference.npz, reference.png.

    Returns the summary written to reference.json (unknowns, solve time, and the relative L2
    error of each field against the exact solution on the grid nodes, when there is one).
    """
    from pinn_gelu.reference.fd_grid import evaluate
    from pinn_gelu.runs.plots import Canvas, extra_figures, field_panels

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    nodes = solution.grid.points()
    exact = {
        name: evaluate(problem.exact[name], nodes)
        for name in solution.fields
        if name in problem.exact
    }
    errors = {
        name: relative_l2(solution.fields[name].ravel(), values) for name, values in exact.items()
    }
    summary = {
        "problem": problem.name,
        "points": solution.grid.n,
        "unknowns": solution.unknowns,
        "solve_time_s": solution.solve_time_s,
        "relative_l2_vs_exact": errors,
    }
    write_text(directory / "reference.json", json.dumps(_json_safe(summary), indent=2) + "\n")
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
    from pinn_gelu.reference.fd_grid import evaluate
    from pinn_gelu.runs.plots import extra_figures, field_panels, region_canvas

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    nodes = solution.nodes
    exact = {
        name: evaluate(problem.exact[name], nodes)
        for name in solution.fields
        if name in problem.exact
    }
    errors = {name: relative_l2(solution.fields[name], values) for name, values in exact.items()}
    summary = {
        "problem": problem.name,
        "method": "finite_element",
        "size": solution.size,
        "triangles": int(solution.mesh.triangles.shape[0]),
        "unknowns": solution.unknowns,
        "solve_time_s": solution.solve_time_s,
        "relative_l2_vs_exact": errors,
    }
    write_text(directory / "reference.json", json.dumps(_json_safe(summary), indent=2) + "\n")
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
            {n: evaluate(problem.exact[n], canvas.points) for n in shown if n in problem.exact},
            labels=("finite elements", "exact"),
        ),
        **extra_figures(problem, canvas, values, f"{problem.name} (finite elements)"),
    }
    for name, picture in figures.items():
        save_figure(directory / name, picture)
    return summary


def write_comparison(directory: str | Path, comparison: Any) -> list[Path]:
    """Write comparison.json, comparison.md and comparison.png; returns the paths."""
    from pinn_gelu.runs.plots import comparison_figure

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / n for n in ("comparison.json", "comparison.md", "comparison.png")]
    write_text(paths[0], json.dumps(_json_safe(comparison.to_json()), indent=2) + "\n")
    write_text(paths[1], comparison.markdown())
    figure = comparison_figure(comparison)
    save_figure(paths[2], figure)
    return paths


class Solution:
    """A trained solution loaded from a run directory: call it on points.

    Attributes:
        problem: the problem it was trained for (rebuilt from the checkpoint's data).
        network: the trained network (an :class:`~pinn_gelu.model.networks.MLP`).
        fields: the names of the solution fields.
    """

    def __init__(self, problem: Problem, network: MLP) -> None:
        self.problem = problem
        self.network = network
        self.fields = problem.pde.solution_fields

    def __call__(self, points: Any) -> dict[str, np.ndarray]:
        """The solution fields at points (N, d) (array-like) → field name → (N,) array."""
        dtype = next(self.network.parameters()).dtype
        x = torch.as_tensor(np.asarray(points, dtype=np.float64), dtype=dtype)
        if x.ndim == 1 and self.problem.domain.dimension == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self.problem.domain.dimension:
            raise ValueError(
                f"points must have shape (N, {self.problem.domain.dimension}), got {tuple(x.shape)}"
            )
        engine, _ = select_engine(self.network, "auto")
        values = predict(self.problem, self.network, x, engine)
        return {name: v.cpu().double().numpy() for name, v in values.items()}

    def __repr__(self) -> str:
        return f"Solution({self.problem.name!r}, fields={list(self.fields)})"


def load_run(directory: str | Path) -> Solution:
    """Load the trained solution of a run directory (reads ``model.pt`` safely).

    Example::

        solution = load_run("runs/poisson_2d")
        solution([[0.5, 0.5]])["u"]          # array([0.99997...])
    """
    path = Path(directory) / "model.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: no model.pt (is this a pinn_gelu run directory?)")
    checkpoint = load_data(path, MODEL_FORMAT)
    stored = _entry(checkpoint, "limits", dict, path, "a mapping of limits")
    fields = {f.name: f for f in dataclasses.fields(Limits)}
    for name, value in stored.items():
        if name not in fields:
            raise ValueError(f"{path}: limits.{str(name)[:60]}: unknown limit")
        kind = float if fields[name].type in ("float", float) else int
        valid = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not valid or (kind is int and not isinstance(value, int)) or not 0 < value < math.inf:
            raise ValueError(f"{path}: limits.{name}: expected a positive {kind.__name__}")
    try:
        problem = parse_problem(
            _entry(checkpoint, "problem", dict, path, "a mapping"),
            str(path),
            limits=Limits(**stored),
        )
    except ProblemFileError as err:
        raise ValueError(str(err)) from None
    dtype = _entry(checkpoint, "dtype", str, path, f"one of {', '.join(DTYPES)}")
    if dtype not in DTYPES:
        raise ValueError(f"{path}: dtype: expected one of {', '.join(DTYPES)}, got {dtype[:40]!r}")
    spec = _entry(checkpoint, "network", dict, path, "a mapping")
    expected = {
        "bounds": [[float(a), float(b)] for a, b in problem.domain.bounds],
        "outputs": len(problem.pde.outputs),
        "width": problem.network.width,
        "depth": problem.network.depth,
        "activation": problem.network.activation.spec,
    }
    for key, value in expected.items():
        if key not in spec or spec[key] != value or type(spec[key]) is bool:
            raise ValueError(
                f"{path}: network.{key}: does not match the stored problem "
                f"(expected {value!r}, got {describe(spec.get(key))})"
            )
    if set(spec) != set(expected):
        raise ValueError(f"{path}: network: unexpected keys {sorted(set(spec) - set(expected))}")
    limit = min(Limits().max_parameters, problem.limits.max_parameters)
    w, d, n_in = problem.network.width, problem.network.depth, problem.domain.dimension
    count = (n_in + 1) * w + (d - 1) * (w + 1) * w + (w + 1) * len(problem.pde.outputs)
    if count > limit:
        raise ValueError(
            f"{path}: network: {number_text(count)} parameters, over the limit of "
            f"{number_text(limit)} (max_parameters); not built"
        )
    network = MLP(
        problem.domain.bounds,
        len(problem.pde.outputs),
        w,
        d,
        problem.network.activation.module(),
    ).to(DTYPES[dtype])
    state = _entry(checkpoint, "state_dict", dict, path, "a mapping of tensors")
    try:
        network.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError, KeyError) as err:
        raise ValueError(
            f"{path}: state_dict: does not fit the network ({one_line(err)})"
        ) from None
    network.eval()
    return Solution(problem, network)


def _entry(content: Mapping[str, Any], key: str, kind: type, path: Path, what: str) -> Any:
    """``content[key]`` if it is a ``kind``, else one ValueError naming the key."""
    if key not in content:
        raise ValueError(f"{path}: {key}: missing (expected {what})")
    value = content[key]
    if not isinstance(value, kind):
        raise ValueError(f"{path}: {key}: expected {what}, got {describe(value)}")
    return value


def _json_safe(value: Any) -> Any:
    """Non-finite floats become null: JSON has no NaN or Infinity."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
