"""What a finished run writes: one entry of :data:`WRITERS` per output file, and :func:`write_run`.

A run directory holds::

    metrics.json     errors, wall time, activation, steps, how each phase ended
    history.csv      one row per step: step, phase, loss, each term, grad_max, errors, time
    model.pt         a self-describing checkpoint: the model's weights and structure, the problem
    problem.yaml     the problem as run (the file with every --set override applied)
    solution.vtu     the solution on the domain for ParaView: every field, reference and error
    solution.png     prediction, reference and pointwise error
    loss.png         loss terms and error against step
    deformation.png  the deformed body (elasticity)
    parameters.png   each unknown against the step, ± 2 standard errors and the truth (inverse)
    points.png       where the interior points ended (training.adaptive)
    checkpoint.pt    the resumable training state (pinn-gelu solve FILE --resume DIR)
    error.txt        why a failed run failed

Each writer is one :class:`Writer`: the names it may write and a function that writes them. The
names ``--force`` may replace (:data:`RUN_FILES`) are derived from the registry, so a new output
is one new entry and is never left behind by a forced rerun. Every file is written atomically
(temporary file in the same directory, fsync, ``os.replace``): a crash never leaves a
half-written file. ``metrics.json`` is written last, so a directory whose metrics are new has
every other new file already.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from pinn_gelu.checkpoints import MODEL_FORMAT, atomic_write, plain_data
from pinn_gelu.config import Limits
from pinn_gelu.metrics import Evaluator
from pinn_gelu.model.model import Model
from pinn_gelu.problem import Problem
from pinn_gelu.runs.deformation import extra_figures
from pinn_gelu.runs.files import save_figure, write_json, write_text
from pinn_gelu.runs.paraview import write_paraview
from pinn_gelu.runs.plots import (
    field_panels,
    grid_values,
    loss_figure,
    parameters_figure,
    points_figure,
)
from pinn_gelu.training import TrainResult

__all__ = ["CHECKPOINT_NAME", "RUN_FILES", "WRITERS", "Output", "Writer", "write_run"]

#: The resumable training state, written by the trainer during the run (not by a writer).
CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class Output:
    """What the writers write from: a finished run, and where.

    Attributes:
        directory: the directory written (a staging directory under ``--force``).
        problem: the problem as run.
        result: the trainer's result.
        reference: what the errors were measured against (``exact solution``, …), or None.
        evaluator: the trainer's evaluator, so that no reference is solved again.
        plots: whether figures (and the ParaView file) are wanted.
    """

    directory: Path
    problem: Problem
    result: TrainResult
    reference: str | None
    evaluator: Evaluator | None
    plots: bool
    _canvas: Any = None

    def canvas(self) -> Any:
        """The solution on the figures' canvas: (canvas, predictions, references), once."""
        if self._canvas is None:
            self._canvas = grid_values(self.problem, self.result.model, evaluator=self.evaluator)
        return self._canvas


@dataclass(frozen=True)
class Writer:
    """One output: the file names it may write, and the function writing them.

    Attributes:
        files: every name ``write`` may produce (those it does not produce this time are
            removed from a directory that a forced rerun replaces).
        write: Output → the paths written.
    """

    files: tuple[str, ...]
    write: Callable[[Output], list[Path]]


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
        **({"parameters": result.parameters} if result.parameters else {}),
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


def model_checkpoint(problem: Problem, model: Model) -> dict[str, Any]:
    """The content of model.pt: plain data and tensors only."""
    return {
        "format": MODEL_FORMAT,
        "model": model.config(),
        "dtype": problem.training.dtype,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "problem": plain_data(problem.source),
        "limits": {k: getattr(problem.limits, k) for k in Limits.__dataclass_fields__},
    }


def _metrics(out: Output) -> list[Path]:
    path = out.directory / "metrics.json"
    write_json(path, metrics_dict(out.problem, out.result, out.reference))
    return [path]


def _history(out: Output) -> list[Path]:
    path = out.directory / "history.csv"
    write_text(path, history_csv(out.result.history))
    return [path]


def _model(out: Output) -> list[Path]:
    path = out.directory / "model.pt"
    content = model_checkpoint(out.problem, out.result.model)
    atomic_write(path, lambda handle: torch.save(content, handle))
    return [path]


def _problem(out: Output) -> list[Path]:
    path = out.directory / "problem.yaml"
    text = yaml.safe_dump(plain_data(out.problem.source), sort_keys=False, allow_unicode=True)
    write_text(path, text)
    return [path]


def _error(out: Output) -> list[Path]:
    path = out.directory / "error.txt"
    if out.result.status != "failed":
        if path.is_file():  # from an earlier, failed session of a resumed run
            path.unlink()
        return []
    write_text(path, f"{out.result.message}\n")
    return [path]


def _wants_figures(out: Output) -> bool:
    return out.plots and out.result.status != "interrupted"


def _figures(out: Output) -> list[Path]:
    if not _wants_figures(out):
        return []
    problem, result = out.problem, out.result
    canvas, predictions, references = out.canvas()
    figures = {
        "solution.png": field_panels(problem, canvas, predictions, references),
        "loss.png": loss_figure(result.history, [t for t in result.final_loss if t != "loss"]),
        **extra_figures(problem, canvas, predictions, f"{problem.name} (PINN)"),
        **(
            {"parameters.png": parameters_figure(result.history, result.parameters)}
            if result.parameters
            else {}
        ),
        **(
            {"points.png": points_figure(problem, result.points)}
            if result.points is not None
            else {}
        ),
    }
    written = []
    for name, figure in figures.items():
        path = out.directory / name
        save_figure(path, figure)
        written.append(path)
    return written


def _paraview(out: Output) -> list[Path]:
    if not _wants_figures(out):
        return []
    path = out.directory / "solution.vtu"
    canvas, predictions, references = out.canvas()
    write_paraview(path, out.problem, canvas, predictions, references)
    return [path]


#: The outputs of a run, in the order they are written (``metrics`` last).
WRITERS: dict[str, Writer] = {
    "history": Writer(("history.csv",), _history),
    "model": Writer(("model.pt",), _model),
    "problem": Writer(("problem.yaml",), _problem),
    "error": Writer(("error.txt",), _error),
    "figures": Writer(
        ("solution.png", "loss.png", "deformation.png", "parameters.png", "points.png"), _figures
    ),
    "paraview": Writer(("solution.vtu",), _paraview),
    "metrics": Writer(("metrics.json",), _metrics),
}


def run_files(writers: Mapping[str, Writer]) -> tuple[str, ...]:
    """Every name a run writes, ``metrics.json`` last: the only names ``--force`` replaces."""
    names = [name for writer in writers.values() for name in writer.files]
    names.remove("metrics.json")
    return (*names, CHECKPOINT_NAME, "metrics.json")


#: Files a run writes into its directory: the only names ``--force`` replaces or removes.
RUN_FILES = run_files(WRITERS)


def write_run(
    directory: str | Path,
    problem: Problem,
    result: TrainResult,
    *,
    reference: str | None = None,
    plots: bool = True,
    evaluator: Evaluator | None = None,
) -> list[Path]:
    """Write every output of a finished run (each entry of :data:`WRITERS`); the paths written.

    Works from the Python API as from ``pinn-gelu solve``: :func:`pinn_gelu.load_run` reads the
    directory back. ``evaluator`` (the trainer's) saves solving a finite-difference or
    finite-element reference again for the figures.
    """
    out = Output(Path(directory), problem, result, reference, evaluator, plots)
    out.directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for writer in WRITERS.values():
        written += writer.write(out)
    return written
