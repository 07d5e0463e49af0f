"""Reading a run back: :func:`load_run` rebuilds the trained solution from ``model.pt`` alone.

``model.pt`` is read with ``torch.load(..., weights_only=True)`` (a checkpoint is data, never
code) within a byte bound, and every entry is checked against the problem stored beside it
before anything is built: one ValueError naming the file and the entry otherwise.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pinn_gelu.checkpoints import MODEL_FORMAT, load_data, upgrade_state_dict
from pinn_gelu.config import DTYPES, Limits
from pinn_gelu.derivatives import select_engine
from pinn_gelu.errors import ProblemFileError, describe, number_text, one_line
from pinn_gelu.metrics import predict
from pinn_gelu.model.model import Model
from pinn_gelu.model.networks import MLP, network_embedding, parameter_count
from pinn_gelu.problem import Problem
from pinn_gelu.problem_file import parse_problem

__all__ = ["Solution", "load_run"]


class Solution:
    """A trained solution loaded from a run directory: call it on points.

    Attributes:
        problem: the problem it was trained for (rebuilt from the checkpoint's data).
        model: the trained model (:class:`~pinn_gelu.model.model.Model`).
        fields: the names of the solution fields.
        parameters: the identified values of the problem's unknown constants, by name.
    """

    def __init__(self, problem: Problem, model: Model) -> None:
        self.problem = problem
        self.model = model
        self.fields = problem.pde.solution_fields
        with torch.no_grad():
            self.parameters = {n: float(v) for n, v in model.unknown_values().items()}

    def __call__(self, points: Any) -> dict[str, np.ndarray]:
        """The solution fields at points (N, d) (array-like) → field name → (N,) array."""
        dtype = next(self.model.parameters()).dtype
        x = torch.as_tensor(np.asarray(points, dtype=np.float64), dtype=dtype)
        if x.ndim == 1 and self.problem.domain.dimension == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self.problem.domain.dimension:
            raise ValueError(
                f"points must have shape (N, {self.problem.domain.dimension}), got {tuple(x.shape)}"
            )
        engine, _ = select_engine(self.model, "auto")
        values = predict(self.problem, self.model, x, engine)
        return {name: v.cpu().double().numpy() for name, v in values.items()}

    def __repr__(self) -> str:
        return f"Solution({self.problem.name!r}, fields={list(self.fields)})"


def load_run(directory: str | Path, limits: Limits | None = None) -> Solution:
    """Load the trained solution of a run directory (reads ``model.pt`` safely).

    Sizes are checked against ``limits`` (default: the library's), never raised by the file:
    the limits stored with a run can only lower them. Pass the limits a run was made with
    (``Limits(max_width=…)``) to load a run beyond the default bounds.

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
            limits=_lowered(limits or Limits(), stored),
            read_data=False,  # the measurements are not needed to rebuild the model
        )
    except ProblemFileError as err:
        raise ValueError(str(err)) from None
    dtype = _entry(checkpoint, "dtype", str, path, f"one of {', '.join(DTYPES)}")
    if dtype not in DTYPES:
        raise ValueError(f"{path}: dtype: expected one of {', '.join(DTYPES)}, got {dtype[:40]!r}")
    if checkpoint.get("format") == MODEL_FORMAT:  # the model's structure, then its network's
        stored_model = _entry(checkpoint, "model", dict, path, "a mapping")
        expected_model = {"network", "trial", "unknowns"}
        if set(stored_model) != expected_model:
            raise ValueError(f"{path}: model: expected the keys {sorted(expected_model)}")
        trial = problem.trial()
        built = trial.name if trial is not None else "identity"
        if stored_model["trial"] != built or stored_model["unknowns"] != list(problem.unknowns):
            raise ValueError(
                f"{path}: model: a trial function {describe(stored_model['trial'])} with unknowns "
                f"{describe(stored_model['unknowns'])} is not what this version builds"
            )
        spec = _entry(stored_model, "network", dict, path, "a mapping")
        where = "model.network"
    else:  # pinn_gelu.model/1: the bare network
        spec = _entry(checkpoint, "network", dict, path, "a mapping")
        where = "network"
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
                f"{path}: {where}.{key}: does not match the stored problem "
                f"(expected {value!r}, got {describe(spec.get(key))})"
            )
    if set(spec) != set(expected):
        raise ValueError(f"{path}: {where}: unexpected keys {sorted(set(spec) - set(expected))}")
    limit = problem.limits.max_parameters
    embedding = network_embedding(
        problem.network, problem.domain.dimension, problem.domain.periodic
    )
    w, d = problem.network.width, problem.network.depth
    periodic = problem.domain.periodic
    count = parameter_count(
        problem.network, problem.domain.dimension, len(problem.pde.outputs), periodic
    )
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
        embedding,
    )
    model = problem.model(network).to(DTYPES[dtype])
    state = _entry(checkpoint, "state_dict", dict, path, "a mapping of tensors")
    try:
        model.load_state_dict(upgrade_state_dict(state))
    except (RuntimeError, TypeError, ValueError, KeyError) as err:
        raise ValueError(
            f"{path}: state_dict: does not fit the network ({one_line(err)})"
        ) from None
    model.eval()
    return Solution(problem, model)


def _entry(content: Mapping[str, Any], key: str, kind: type, path: Path, what: str) -> Any:
    """``content[key]`` if it is a ``kind``, else one ValueError naming the key."""
    if key not in content:
        raise ValueError(f"{path}: {key}: missing (expected {what})")
    value = content[key]
    if not isinstance(value, kind):
        raise ValueError(f"{path}: {key}: expected {what}, got {describe(value)}")
    return value


def _lowered(limits: Limits, stored: Mapping[str, Any]) -> Limits:
    """``limits``, each lowered to a stored value where that is smaller (never raised)."""
    return Limits(
        **{
            name: min(getattr(limits, name), stored.get(name, getattr(limits, name)))
            for name in Limits.__dataclass_fields__
        }
    )
