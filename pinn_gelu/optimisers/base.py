"""What every optimiser shares: the step report, the context it works in, and its base class.

Each optimiser knows only how to take one step; the driver (:mod:`pinn_gelu.training`) owns the
loop, history, validation, progress, the non-finite guard, rollback and checkpoints — the split
of scipy's ``solve_ivp`` and its ``OdeSolver.step``. An optimiser is built with its configuration
section and a :class:`Context`, and provides:

- ``step(k, lr_scale) -> Step``: step k (1-based) of the phase, at the learning-rate scale the
  driver's rollbacks have left; the Step reports the loss and terms at the accepted parameters
  and, when the phase should end early, why;
- ``completed``: the stop reason when every configured step has run;
- ``state_dict()`` / ``load_state_dict(state)``: plain data and tensors for checkpoints, so
  that a resumed run continues bit for bit;
- ``Config``, ``describe`` and ``check_resources`` (class level): its section of the problem
  file, its line in a problem's summary, and a check of its memory needs before any training.

Before it changes the parameters, a step calls ``context.accept(loss, parts, grad_max)`` with
the values at the parameters it starts from (Adam) or has arrived at (L-BFGS, Gauss–Newton):
the driver checks them for non-finite values and keeps those parameters as the last good ones.
This module imports none of the optimisers (their registry, :data:`pinn_gelu.optimisers.
OPTIMISERS`, lives above them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from pinn_gelu.config import Limits
from pinn_gelu.loss import Objective

__all__ = ["Context", "Optimiser", "Resources", "Step", "check_torch_state", "gradient_max"]


@dataclass
class Step:
    """What one optimiser step reports to the driver.

    Attributes:
        loss: the weighted loss at the parameters the step accepted.
        parts: the unweighted terms there.
        extra: further numbers for the history (grad_max, damping, step length, …).
        stop: why the phase ends after this step, or None to go on.
        pending: the step's numbers left on the device, (L, terms…, max |∂L/∂θ|), for the
            driver to read and check later (:mod:`pinn_gelu.training.readings`); ``loss`` and
            ``parts`` are then not set.
    """

    loss: float
    parts: list[float]
    extra: dict[str, float] = field(default_factory=dict)
    stop: str | None = None
    pending: Tensor | None = None


@dataclass
class Context:
    """What an optimiser works with.

    Attributes:
        params: the trainable parameters.
        evaluate: () → (weighted loss, terms tensor), without a graph.
        gradient: () → (weighted loss, terms tensor), with ∂L/∂θ set in the parameters'
            ``.grad``.
        loss: the :data:`~pinn_gelu.loss.Objective` (residual vector and Jacobian).

    In a data-parallel run, ``evaluate`` and ``gradient`` give the global values on every rank
    (:mod:`pinn_gelu.distributed`), so every rank takes the same step.
        accept: (loss, terms, max |∂L/∂θ|) → None; raises on non-finite values.
        capture: capture a step as a CUDA graph where the optimiser can
            (``training.capture``; :mod:`pinn_gelu.optimisers.capture`).
    """

    params: list[nn.Parameter]
    evaluate: Callable[[], tuple[Tensor, Tensor]]
    gradient: Callable[[], tuple[Tensor, Tensor]]
    loss: Objective
    accept: Callable[[float, list[float], float], None]
    capture: bool = False


class Optimiser:
    """One phase's optimiser: see the module docstring. Subclasses set :attr:`Config`.

    Attributes:
        Config: the frozen dataclass of its ``training.<name>`` section (needs ``steps``).
        refresh_every: steps between refreshes of the numbers shown on a progress bar.
        completed: the stop reason when every configured step has run.
    """

    Config: ClassVar[type]
    refresh_every: ClassVar[int] = 10
    #: What one step is called in the summary (``steps``, ``iterations``).
    unit: ClassVar[str] = "steps"

    def __init__(self, config: Any, context: Context) -> None:
        self.config = config
        self.context = context
        self.completed = f"completed {config.steps} {self.unit}"

    @classmethod
    def describe(cls, name: str, config: Any) -> str:
        """The phase in a problem's summary: ``lbfgs 2500 iterations``."""
        if config.steps == 0:
            return f"{name} skipped"
        return f"{name} {config.steps} {cls.unit}"

    @classmethod
    def check_resources(cls, config: Any, need: Resources) -> str | None:
        """Why the phase cannot run at this size (a message naming the limit), or None."""
        return None

    def step(self, k: int, lr_scale: float) -> Step:
        """Take step k of the phase."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """The state a checkpoint keeps."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a state of :meth:`state_dict`."""


@dataclass(frozen=True)
class Resources:
    """The size of a run, for an optimiser's resource check before any training.

    Attributes:
        rows: residual rows over all ranks (the length of the weighted residual vector).
        parameters: trainable parameters of the model.
        limits: the run's :class:`~pinn_gelu.config.Limits`.
        free_bytes: the free memory of the run's CUDA device before training (None: the CPU,
            bounded by the limits alone).
    """

    rows: int
    parameters: int
    limits: Limits
    free_bytes: int | None = None


def gradient_max(params: list[nn.Parameter]) -> Tensor:
    """Max |∂L/∂θ| over the parameters' ``.grad`` (0 when none is set)."""
    grads = [p.grad.abs().max() for p in params if p.grad is not None]
    return torch.stack(grads).max() if grads else torch.zeros((), device=params[0].device)


def check_torch_state(state: Any, params: list[nn.Parameter], exact: tuple[str, ...] = ()) -> None:
    """Refuse a torch optimiser state from a checkpoint that its optimiser could not step from.

    Every tensor must be finite and shaped like one parameter, all of them flattened, or a scalar
    (the ``exact`` entries of parameter i: like parameter i); every number finite; lists at most
    10,000 long; nothing else but None. torch checks the parameter groups when it loads.

    Raises:
        ValueError: ``<entry>: …`` naming the first offending entry.
    """
    if not isinstance(state, dict) or not isinstance(state.get("state"), dict):
        raise ValueError("torch: expected torch's state mapping")
    total = sum(p.numel() for p in params)
    shapes = {tuple(p.shape) for p in params} | {(total,), ()}

    def check(value: Any, where: str, shape: tuple[int, ...] | None) -> None:
        if isinstance(value, torch.Tensor):
            if (
                (tuple(value.shape) != shape)
                if shape is not None
                else (tuple(value.shape) not in shapes)
            ):
                raise ValueError(f"{where}: a tensor of shape {tuple(value.shape)}")
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise ValueError(f"{where}: not finite")
        elif isinstance(value, list):
            if len(value) > 10_000:
                raise ValueError(f"{where}: a list of {len(value)} entries")
            for i, item in enumerate(value):
                check(item, f"{where}[{i}]", None)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ValueError(f"{where}: not finite")
        elif value is not None:
            raise ValueError(f"{where}: unexpected {type(value).__name__}")

    for index, entries in state["state"].items():
        if not isinstance(index, int) or not 0 <= index < len(params):
            raise ValueError(f"torch.state: no parameter {str(index)[:20]}")
        if not isinstance(entries, dict):
            raise ValueError(f"torch.state.{index}: expected a mapping")
        for key, value in entries.items():
            shape = tuple(params[index].shape) if key in exact else None
            check(value, f"torch.state.{index}.{str(key)[:40]}", shape)
