"""What a checkpoint and a snapshot of a run hold, and how a run goes back to them.

A :class:`~pinn_gelu.training.driver.Trainer` is a :class:`RunState`: its state is the
model's parameters, the optimiser's state, where the schedule stands (phase, steps), the
history and events, the rollback count and learning-rate scale, torch's random state and the
adaptive points. :meth:`RunState.state` copies it out as plain data and tensors (the checkpoint
format of :mod:`pinn_gelu.checkpoints`), :meth:`RunState.load_state` puts one back (a
snapshot, a checkpoint being resumed). A snapshot leaves out the history and events, which only
grow, and keeps their lengths instead.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from pinn_gelu.checkpoints import plain_data, upgrade_state_dict, write_checkpoint
from pinn_gelu.distributed import Group
from pinn_gelu.model.model import Model
from pinn_gelu.optimisers import Optimiser
from pinn_gelu.problem import Problem
from pinn_gelu.training.adaptive import AdaptivePoints
from pinn_gelu.training.readings import Readings

__all__ = ["RunState"]


class RunState:
    """The checkpointed part of a trainer (see the module docstring)."""

    model: Model
    problem: Problem
    group: Group
    checkpoint: Path | None
    schedule: list[str]
    phase: str
    phase_step: int
    step: int
    phase_steps: dict[str, int]
    stop_reasons: dict[str, str]
    rollbacks: int
    lr_scale: float
    history: list[dict[str, float | str]]
    events: list[str]
    adaptive: AdaptivePoints | None
    optimiser: Optimiser | None
    _pending_optimiser_state: Mapping[str, Any] | None
    _snapshot: dict[str, Any] | None
    _readings: Readings

    def elapsed(self) -> float:
        """Seconds of training so far (the trainer's)."""
        raise NotImplementedError

    def _use_points(self) -> None:
        raise NotImplementedError

    def _keep_good(self) -> None:
        raise NotImplementedError

    def _optimiser_state(self) -> Mapping[str, Any] | None:
        if self.optimiser is not None:
            return self.optimiser.state_dict()
        return self._pending_optimiser_state

    def state(self) -> dict[str, Any]:
        """The resumable state, as plain data and tensors (a deep copy)."""
        return {
            **self._snapshot_state(),
            "history": copy.deepcopy(self.history),
            "events": list(self.events),
        }

    def _snapshot_state(self) -> dict[str, Any]:
        """The state without the history and events, which only grow (their lengths instead)."""
        return copy.deepcopy(
            {
                "schedule": self.schedule,
                "phase": self.phase,
                "phase_step": self.phase_step,
                "step": self.step,
                "state_dict": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                "optimizer": self._optimiser_state(),
                "phase_steps": self.phase_steps,
                "stop_reasons": self.stop_reasons,
                "rollbacks": self.rollbacks,
                "lr_scale": self.lr_scale,
                "elapsed_s": self.elapsed(),
                "torch_rng": torch.get_rng_state(),
                "history_length": len(self.history),
                "events_length": len(self.events),
                **(self.adaptive.state() if self.adaptive is not None else {}),
            }
        )

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore a state from :meth:`state`, a snapshot, or a checkpoint."""
        state = copy.deepcopy(dict(state))
        self.model.load_state_dict(upgrade_state_dict(state["state_dict"]))
        if self.adaptive is not None and self.adaptive.load(state["adaptive"]):
            self._use_points()
        self.phase = state["phase"]
        self.phase_step = int(state["phase_step"])
        self.step = int(state["step"])
        if "history" in state:
            self.history = state["history"]
            self.events = state["events"]
        else:
            del self.history[state["history_length"] :]
            del self.events[state["events_length"] :]
        self.phase_steps = state["phase_steps"]
        self.stop_reasons = state["stop_reasons"]
        self.rollbacks = int(state["rollbacks"])
        self.lr_scale = float(state["lr_scale"])
        torch.set_rng_state(state["torch_rng"])
        self.optimiser = None
        self._pending_optimiser_state = state["optimizer"]
        self._readings.drop()
        self._keep_good()

    def _take_snapshot(self) -> None:
        self._snapshot = self._snapshot_state()

    def save_checkpoint(self, state: Mapping[str, Any] | None = None) -> None:
        """Write the checkpoint file atomically (the current state unless one is given).

        In a data-parallel run rank 0 writes it and the ranks meet at a barrier afterwards.
        """
        group = self.group
        if group.active and not group.any(group.is_main and self.checkpoint is not None):
            return
        if self.checkpoint is None or not group.is_main:
            group.barrier()
            return
        if state is None:
            state = self.state()
        elif "history" not in state:
            state = {
                **state,
                "history": copy.deepcopy(self.history[: state["history_length"]]),
                "events": list(self.events[: state["events_length"]]),
            }
        content = {
            "problem": plain_data(self.problem.source),
            "limits": {
                k: getattr(self.problem.limits, k)
                for k in type(self.problem.limits).__dataclass_fields__
            },
            "model": self.model.config(),
            "dtype": self.problem.training.dtype,
            **state,
        }
        write_checkpoint(self.checkpoint, content)
        self.group.barrier()
