"""What a checkpoint's training state must be before a run resumes from it.

A checkpoint is untrusted input (a run directory may have been edited, truncated or crafted):
``torch.load(weights_only=True)`` keeps code out, but not nonsense. Before anything trains or is
written, :func:`check_state` refuses, in one line naming the field, a state the trainer could not
continue from exactly: an unknown phase, counters that are not whole numbers in range, a
learning-rate scale or time that is not a finite positive number, a history that is not one
record of plain numbers and words per step taken, an RNG state of the wrong size, or parameters
that are not finite. The optimiser's own state is checked by the optimiser when it is loaded
(``load_state_dict``), which the trainer does at once on resume, not at the first step.

Sizes are checked against this run's limits and the counters in the file against each other, so
that a checkpoint cannot raise a bound (a history of a million references to one record, in a
file of a few megabytes, is refused by its length, before it is copied).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from pinn_gelu.problem import Problem

__all__ = ["MAX_EVENTS", "check_state"]

#: The fields of a training state.
REQUIRED = (
    *("phase", "phase_step", "step", "history", "events", "phase_steps", "stop_reasons"),
    *("rollbacks", "lr_scale", "elapsed_s", "torch_rng", "state_dict"),
)
#: Most events (resumptions, rollbacks, notes) a checkpoint may hold, and their longest text.
MAX_EVENTS = 10_000
MAX_TEXT = 10_000


def _whole(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{field}: expected a whole number in [{low}, {high}], got {_show(value)}")
    return value


def _number(value: Any, field: str, low: float, high: float, low_open: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and (value > low if low_open else value >= low) and value <= high:
        return float(value)
    span = f"{'(' if low_open else '['}{low:g}, {high:g}]"
    raise ValueError(f"{field}: expected a number in {span}, got {_show(value)}")


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise ValueError(f"{field}: expected text of at most {MAX_TEXT} characters")
    return value


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, (int, float, str, type(None))) else type(value).__name__
    return text[:40]


def check_state(
    state: Mapping[str, Any],
    schedule: Sequence[str],
    done: str,
    problem: Problem,
) -> None:
    """Refuse a training state a run cannot resume from; see the module docstring.

    Args:
        state: the checkpoint's content (``phase``, ``step``, ``history``, …).
        schedule: the run's phases, in order.
        done: the name of the phase after the last (a finished schedule).
        problem: the run's problem (its limits, dimension and adaptive points).

    Raises:
        ValueError: ``<field>: expected …, got …``.
    """
    max_steps = problem.limits.max_steps
    if state.get("schedule") != list(schedule):
        raise ValueError(
            f"schedule: the checkpoint's {str(state.get('schedule'))[:200]} differs from the "
            f"problem's {list(schedule)}"
        )
    missing = [key for key in REQUIRED if key not in state]
    if missing:
        raise ValueError(f"{missing[0]}: missing")
    phase = state["phase"]
    if phase not in (*schedule, done):
        raise ValueError(f"phase: expected one of {[*schedule, done]}, got {_show(phase)}")
    total = max_steps * len(schedule)
    step = _whole(state["step"], "step", 0, total)
    _whole(state["phase_step"], "phase_step", 0, min(step, max_steps))
    _whole(state["rollbacks"], "rollbacks", 0, total)
    _number(state["lr_scale"], "lr_scale", 0.0, 1.0, low_open=True)
    _number(state["elapsed_s"], "elapsed_s", 0.0, 1e9)
    for name, mapping, kind in (
        ("phase_steps", state["phase_steps"], int),
        ("stop_reasons", state["stop_reasons"], str),
    ):
        if not isinstance(mapping, dict) or not set(mapping) <= set(schedule):
            raise ValueError(f"{name}: expected a mapping from the schedule's phases")
        for key, value in mapping.items():
            if kind is int:
                _whole(value, f"{name}.{key}", 0, max_steps)
            else:
                _text(value, f"{name}.{key}")
    _check_history(state["history"], step)
    events = state["events"]
    if not isinstance(events, list) or len(events) > MAX_EVENTS:
        raise ValueError(f"events: expected a list of at most {MAX_EVENTS} texts")
    for i, event in enumerate(events):
        _text(event, f"events[{i}]")
    rng = state["torch_rng"]
    expected = torch.get_rng_state()
    if not isinstance(rng, torch.Tensor) or (rng.dtype, rng.shape) != (
        expected.dtype,
        expected.shape,
    ):
        raise ValueError(f"torch_rng: expected a {tuple(expected.shape)} uint8 tensor")
    _check_parameters(state["state_dict"])
    if problem.training.adaptive.every:
        _check_adaptive(state.get("adaptive"), problem, step)


def _check_adaptive(adaptive: Any, problem: Problem, step: int) -> None:
    """The refinements made and the interior set they left: finite points of the domain's size."""
    if not isinstance(adaptive, dict) or set(adaptive) != {"refinements", "interior"}:
        raise ValueError("adaptive: expected the refinements made and the interior points")
    every = problem.training.adaptive.every
    _whole(adaptive["refinements"], "adaptive.refinements", 0, step // every)
    points = adaptive["interior"]
    most = problem.limits.max_points
    shape_ok = isinstance(points, torch.Tensor) and points.is_floating_point() and points.dim() == 2
    if not (shape_ok and points.shape[1] == problem.domain.dimension and points.shape[0] <= most):
        raise ValueError(
            f"adaptive.interior: expected a tensor of at most {most} points × "
            f"{problem.domain.dimension} coordinates"
        )
    if points.shape[0] == 0 or not bool(torch.isfinite(points).all()):
        raise ValueError("adaptive.interior: expected finite points, at least one")
    low, high = torch.tensor(problem.domain.bounds, dtype=torch.float64).T
    margin = 1e-9 * (high - low)
    outside = (points.double() < low - margin) | (points.double() > high + margin)
    if bool(outside.any()):
        raise ValueError("adaptive.interior: expected points inside the domain's bounding box")


def _check_history(history: Any, step: int) -> None:
    """One record per step taken: a mapping of names to finite-or-not numbers and short text."""
    if not isinstance(history, list) or len(history) > step:
        raise ValueError(f"history: expected a list of at most step = {step} records")
    seen: set[int] = set()
    for i, record in enumerate(history):
        if id(record) in seen:  # one record referenced many times: not what a run writes
            raise ValueError(f"history[{i}]: the same record as an earlier one")
        seen.add(id(record))
        if not isinstance(record, dict) or len(record) > 200:
            raise ValueError(f"history[{i}]: expected a mapping of at most 200 columns")
        for key, value in record.items():
            if not isinstance(key, str) or len(key) > 100:
                raise ValueError(f"history[{i}]: a column name is not a short text")
            if isinstance(value, str):
                _text(value, f"history[{i}].{key}")
            elif isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"history[{i}].{key}: expected a number or text")


def _check_parameters(state_dict: Any) -> None:
    """Tensors, finite (names and shapes: the model's ``load_state_dict`` says which differ)."""
    if not isinstance(state_dict, dict):
        raise ValueError("state_dict: expected a mapping of tensors")
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"state_dict.{str(key)[:60]}: expected a tensor")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ValueError(f"state_dict.{str(key)[:60]}: not finite")
