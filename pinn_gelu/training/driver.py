"""The driver: the loop over the phases of ``training.schedule``, and its state.

The loss (:mod:`pinn_gelu.loss`) is minimised by the optimisers of ``training.schedule`` in order
(default ``[adam, lbfgs]``; see :data:`pinn_gelu.optimisers.OPTIMISERS`); a phase with
``steps: 0`` is skipped. The driver owns what is the same whatever the optimiser: the history
(a record per step, every term unweighted), validation, progress, the non-finite guard and
rollback, snapshots, checkpoints and ``on_step`` hooks (what they return is an event).

Reliability:

- **Checkpoints.** With a checkpoint path, the whole state (parameters, phase, the phase's
  optimiser state, step counters, history, RNG state, elapsed time, the adaptive points of
  :mod:`pinn_gelu.training.adaptive`) is written atomically every ``training.checkpoint_every``
  steps and at the end of each phase; :meth:`Trainer.resume` continues from it. On CPU with the
  same threads, a resumed run ends with exactly the parameters of an uninterrupted one.
- **Interruption.** :meth:`Trainer.request_stop` (the CLI's SIGINT/SIGTERM handlers) stops at
  the end of the current step with a checkpoint; status ``interrupted``.
- **Non-finite values.** A non-finite loss or gradient is detected at the step it appears.
  ``training.on_nonfinite: stop`` ends with status ``failed``, the network keeping its last
  finite parameters, naming the step and the term. ``rollback`` restores the last good snapshot
  (taken every :data:`SNAPSHOT_EVERY` steps), halves the learning rate and goes on, at most
  ``training.max_rollbacks`` times.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from pinn_gelu.checkpoints import (
    RESUMABLE_CHANGES,
    read_checkpoint,
    resume_conflicts,
)
from pinn_gelu.distributed import SINGLE, Group
from pinn_gelu.errors import one_line
from pinn_gelu.optimisers import OPTIMISERS, Context, Optimiser, Step
from pinn_gelu.problem import Problem, Term
from pinn_gelu.training.adaptive import AdaptivePoints
from pinn_gelu.training.progress import Progress
from pinn_gelu.training.readings import Pending, Readings
from pinn_gelu.training.result import TrainResult
from pinn_gelu.training.resume_check import check_state
from pinn_gelu.training.setup import assemble, build_loss
from pinn_gelu.training.state import RunState
from pinn_gelu.training.uncertainty import estimate_for_run

__all__ = ["DONE", "SNAPSHOT_EVERY", "Trainer"]

#: Steps between the in-memory snapshots that a rollback returns to.
SNAPSHOT_EVERY = 50
DONE = "done"


class _NonFinite(Exception):
    def __init__(self, what: str, step: int | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.step = step  # the step whose numbers were not finite (None: the next one)


class _Interrupted(Exception):
    pass


class Trainer(RunState):
    """One training run of a problem: set up once, then :meth:`run`.

    Args:
        problem: the validated problem.
        model: a model (or a bare network, which is wrapped) to train instead of building one
            from ``problem.network``.
        progress: show progress (a tqdm bar on a terminal, plain lines every 5 % otherwise).
        reference: reference values on the evaluation grid when the problem has no ``exact``.
        label: a prefix for the progress display.
        checkpoint: path of the checkpoint file to write (none written when None).
        group: the processes of a data-parallel run (:mod:`pinn_gelu.distributed`): this
            rank trains on its shard of the points; only rank 0 validates, shows progress and
            writes checkpoints.
    """

    def __init__(
        self,
        problem: Problem,
        model: nn.Module | None = None,
        *,
        progress: bool = True,
        reference: Mapping[str, np.ndarray] | None = None,
        label: str = "",
        checkpoint: str | Path | None = None,
        group: Group = SINGLE,
    ) -> None:
        self.started = time.perf_counter()
        self.group = group
        self.elapsed_before = 0.0
        self.problem = problem
        self.label = label
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        parts = assemble(problem, model, reference=reference, group=group)
        self.model = parts.model
        self.points = parts.points
        self.objective = parts.objective
        self.chunks = parts.chunks
        self.evaluator = parts.evaluator
        self.engine, self.engine_note = parts.engine, parts.engine_note
        self.dtype, self.device = parts.dtype, parts.device
        self.warnings = parts.warnings
        self.activation = problem.network.activation.spec
        self.schedule = list(problem.training.schedule)
        self.progress = progress and group.is_main
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        # the state that checkpoints hold
        self.adaptive = (
            AdaptivePoints(problem, parts.whole, group) if problem.training.adaptive.every else None
        )
        self.phase = self._phase_after(None)
        self.phase_step = 0
        self.step = 0
        self.history: list[dict[str, float | str]] = []
        self.phase_steps: dict[str, int] = {}
        self.stop_reasons: dict[str, str] = {}
        self.rollbacks = 0
        self.lr_scale = 1.0
        self.events: list[str] = []
        self.on_step: list[Callable[[int], str | None]] = []
        self.optimiser: Optimiser | None = None
        self._pending_optimiser_state: Mapping[str, Any] | None = None
        # not checkpointed
        self.last_errors: dict[str, float] = {}
        self.last_errors_step = 0
        self.stop_signal: int | None = None
        self._good = [p.detach().clone() for p in self.params]
        self._snapshot: dict[str, Any] | None = None
        #: Steps between reads of the numbers an optimiser leaves on the device (``None``: its
        #: ``refresh_every`` on CUDA, 1 on the CPU): :mod:`pinn_gelu.training.readings`.
        self.read_every: int | None = None
        self._readings = Readings()
        self._shown_loss = math.nan

    @property
    def terms(self) -> list[Term]:
        """The loss terms (those of :attr:`objective`)."""
        return self.objective.terms

    @property
    def compile_note(self) -> str:
        """How torch.compile went (empty when not asked for)."""
        return self.objective.compile_note

    # --- the loss -----------------------------------------------------------------------------
    def loss(self) -> tuple[Tensor, Tensor]:
        """(weighted total, unweighted mean squares per term), over all ranks, without a graph."""
        return self.objective.value()

    def _accept(self, total: float, parts: list[float], grad_max: float) -> None:
        """Check an optimiser's values for non-finite numbers; keep the parameters as good."""
        if not (math.isfinite(total) and math.isfinite(grad_max)):
            raise _NonFinite(self._what(total, parts, grad_max))
        self._keep_good()

    def _what(self, total: float, parts: list[float], grad_max: float) -> str:
        if not math.isfinite(total):
            bad = [t.name for t, v in zip(self.terms, parts, strict=True) if not math.isfinite(v)]
            return f"loss term {', '.join(bad) or 'total'} is {total}"
        return "the gradient of the loss is not finite"

    def _keep_good(self) -> None:
        with torch.no_grad():
            torch._foreach_copy_(self._good, [p.detach() for p in self.params])

    def _restore_good(self) -> None:
        with torch.no_grad():
            torch._foreach_copy_([p.data for p in self.params], self._good)

    def _record(self, phase: str, report: Step, errors: Mapping[str, float]) -> None:
        with torch.no_grad():
            values = self.objective.unknown_values() or {}
            unknowns = [float(v) for v in values.values()]
        self._append(self.step, phase, report.loss, report.parts, report.extra, errors, unknowns)

    def _append(
        self,
        step: int,
        phase: str,
        loss: float,
        parts: list[float],
        extra: Mapping[str, float],
        errors: Mapping[str, float],
        unknowns: list[float],
        time_s: float | None = None,
    ) -> None:
        """One step's history entry: loss, terms, extras, errors, unknowns, time."""
        record: dict[str, float | str] = {"step": step, "phase": phase, "loss": loss}
        record.update(zip(self.objective.names, parts, strict=True))
        record.update(extra)
        record.update(errors)
        names = list(self.objective.unknown_values() or {})
        record.update({f"unknown_{n}": v for n, v in zip(names, unknowns, strict=True)})
        record["time_s"] = self.elapsed() if time_s is None else time_s
        self.history.append(record)
        self._shown_loss = loss

    def _keep(self, phase: str, report: Step, errors: dict[str, float]) -> None:
        """Keep a step whose numbers are on the device (``report.pending``) for the next read."""
        assert report.pending is not None
        with torch.no_grad():
            values = self.objective.unknown_values() or {}
            unknowns = (
                torch.stack([v.detach().reshape(()) for v in values.values()]) if values else None
            )
        self._readings.add(
            Pending(self.step, phase, report.pending, unknowns, errors, self.elapsed())
        )

    def _read(self) -> None:
        """Read the kept steps: check them in order, record each (see :mod:`.readings`).

        Raises:
            _NonFinite: at the first kept step whose loss or gradient is not finite; the run's
                step is then the last one read before it, whose parameters :attr:`_good` holds.
        """
        readings = self._readings.read()
        bad = next((r for r in readings if not r.finite), None)
        if bad is not None:  # the kept steps' parameters are gone: back to the last read
            self._unread(readings[0].pending)
            raise _NonFinite(self._what(bad.loss, bad.parts, bad.grad_max), bad.pending.step)
        for r in readings:
            p = r.pending
            self._append(p.step, p.phase, r.loss, r.parts, {}, p.errors, r.unknowns, p.time_s)
        if readings:
            self._keep_good()

    def _unread(self, first: Pending) -> None:
        """Go back to the step before ``first``, the last one read (its parameters: _good)."""
        back = self.step - (first.step - 1)
        self.step -= back
        self.phase_step -= back
        self.phase_steps[first.phase] = self.phase_step
        self._readings.drop()

    def _validate(self, phase_step: int, steps: int, last: bool) -> dict[str, float]:
        every = self.problem.validation.cadence(steps)
        if self.evaluator is None or not (last or (every and phase_step % every == 0)):
            return {}
        self.last_errors = self.evaluator.errors(self.problem, self.model, self.engine)
        self.last_errors_step = self.step
        return {f"error_{k}": v for k, v in self.last_errors.items()}

    def elapsed(self) -> float:
        """Seconds of training so far, earlier sessions of a resumed run included."""
        return self.elapsed_before + time.perf_counter() - self.started

    # --- state, snapshots and checkpoints -------------------------------------------------------
    def request_stop(self, signal_number: int) -> None:
        """Stop at the end of the current step (with a checkpoint); from a signal handler."""
        self.stop_signal = signal_number

    def _after_step(self, phase_step: int) -> None:
        """Hooks, snapshots, periodic checkpoints and the stop request, after every step."""
        self.events.extend(e for e in (hook(self.step) for hook in self.on_step) if e)
        every = self.problem.training.checkpoint_every
        snapshot = phase_step % SNAPSHOT_EVERY == 0
        checkpoint = bool(every and self.step % every == 0)
        if snapshot or checkpoint:
            self._read()  # a snapshot and a checkpoint hold steps read, whose numbers are finite
        if snapshot:
            self._take_snapshot()
        if checkpoint:
            self.save_checkpoint()
        # a signal may reach one rank only, or the ranks at different steps: they agree
        agreed = int(self.group.maximum(float(self.stop_signal or 0)))
        if agreed:
            self._read()
            self.stop_signal = self.stop_signal or agreed
            raise _Interrupted

    def _phase_after(self, phase: str | None) -> str:
        index = -1 if phase is None else self.schedule.index(phase)
        return self.schedule[index + 1] if index + 1 < len(self.schedule) else DONE

    def _next_phase(self, phase: str, reason: str) -> None:
        self.stop_reasons[phase] = reason
        self.phase = self._phase_after(phase)
        self.phase_step = 0
        self.optimiser = None
        self._pending_optimiser_state = None
        self._take_snapshot()
        self.save_checkpoint()

    def _current_optimiser(self, name: str, config: Any) -> Optimiser:
        if self.optimiser is None:
            context = Context(
                self.params,
                self.objective.value,
                lambda: self.objective.value_and_gradient(self.params),
                self.objective,
                self._accept,
                self.problem.training.capture,
            )
            self.optimiser = OPTIMISERS[name](config, context)
            if self._pending_optimiser_state is not None:
                self.optimiser.load_state_dict(self._pending_optimiser_state)
                self._pending_optimiser_state = None
        return self.optimiser

    # --- the loop -----------------------------------------------------------------------------
    def run_phase(self, name: str) -> None:
        """Run the current phase from its current step to its end or its stop reason."""
        config = self.problem.training.phases[name]
        steps = config.steps
        if steps == 0:
            self._next_phase(name, "skipped")
            return
        optimiser = self._current_optimiser(name, config)
        reason = optimiser.completed
        if self.phase_step >= steps:
            self._next_phase(name, reason)
            return
        every = type(optimiser).refresh_every
        # on the CPU a read waits for nothing: every step, so that a failure keeps its step's
        read_every = self.read_every or (every if self.device.type == "cuda" else 1)
        with Progress(self, name, steps) as progress:
            for k in range(self.phase_step + 1, steps + 1):
                optimiser = self._current_optimiser(name, config)  # new after a refinement
                report = optimiser.step(k, self.lr_scale)
                self.step += 1
                self.phase_step = k
                self.phase_steps[name] = k
                errors = self._validate(k, steps, k == steps or report.stop is not None)
                refine = self.adaptive is not None and self.adaptive.due(self.step)
                if report.pending is None:
                    self._record(name, report, errors)
                else:
                    self._keep(name, report, errors)
                    if k % read_every == 0 or k == steps or refine:
                        self._read()
                progress.update(k, self._shown_loss, k % every == 0 or report.stop is not None)
                if report.stop is not None:
                    reason = report.stop
                    break
                if refine:
                    assert self.adaptive is not None
                    self.history[-1].update(self.adaptive.refine(self.model, self.engine))
                    self._use_points()
                self._after_step(k)
        note = getattr(optimiser, "note", "")
        if note:  # how its steps ran (a CUDA graph, or why not)
            self.events.append(f"{name}: {note}")
        self._next_phase(name, reason)

    def _use_points(self) -> None:
        """Train on the adaptive points from now on: a new loss; the optimiser keeps its state."""
        assert self.adaptive is not None
        self.points = self.adaptive.points
        self.objective = build_loss(
            self.problem, self.model, self.points, self.engine, self.group, self.chunks
        )
        if self.optimiser is not None:
            self._pending_optimiser_state = self.optimiser.state_dict()
            self.optimiser = None

    def _rollback(self, error: _NonFinite) -> None:
        cfg = self.problem.training
        failed_at = self.step + 1
        if self._snapshot is None:
            raise error
        if error.step is not None:
            failed_at = error.step
        self.load_state(self._snapshot)
        self.rollbacks += 1
        self.lr_scale /= 2.0
        self.events.append(
            f"non-finite values at step {failed_at} ({error.what}): rolled back to step "
            f"{self.step}, learning rate halved (×{self.lr_scale:g}); rollback {self.rollbacks} "
            f"of {cfg.max_rollbacks}"
        )
        self._take_snapshot()

    def run(self) -> TrainResult:
        """Run the remaining phases, then measure the final loss and errors."""
        status, message = "completed", ""
        if self._snapshot is None:
            self._take_snapshot()
        cfg = self.problem.training
        while self.phase != DONE:
            try:
                self.run_phase(self.phase)
            except _NonFinite as err:
                if cfg.on_nonfinite == "rollback" and self.rollbacks < cfg.max_rollbacks:
                    self._rollback(err)
                    continue
                phase = self.phase
                failed_at = err.step if err.step is not None else self.step + 1
                self._restore_good()
                status = "failed"
                message = (
                    f"non-finite values at step {failed_at} ({phase}): {err.what}; the network "
                    f"keeps its parameters of step {self.step}"
                )
                if cfg.on_nonfinite == "rollback":
                    message += f" (after {self.rollbacks} rollbacks, the most allowed)"
                if self._snapshot is not None:
                    self.save_checkpoint(self._snapshot)
                break
            except (_Interrupted, KeyboardInterrupt) as err:
                if isinstance(err, KeyboardInterrupt) and self._snapshot is not None:
                    # interrupted inside a step: go back to the last consistent state
                    self.load_state(self._snapshot)
                self.save_checkpoint()
                status = "interrupted"
                name = {2: "SIGINT", 15: "SIGTERM"}.get(self.stop_signal or 2, "a signal")
                message = f"interrupted by {name} after step {self.step} ({self.phase})"
                break
        final = self.final_loss()
        errors = (
            self.evaluator.errors(self.problem, self.model, self.engine)
            if self.evaluator is not None
            else {}
        )
        parameters = {}
        if self.model.specs:
            estimates = estimate_for_run(self.objective, self.problem, self.group.active, status)
            parameters = {n: e.as_dict() for n, e in estimates.items()}
        if status == "completed":
            message = "; ".join(f"{phase}: {why}" for phase, why in self.stop_reasons.items())
            message = message or "no training steps configured"
            if self.rollbacks:
                message += f"; {self.rollbacks} rollback(s)"
        return TrainResult(
            status=status,
            message=message,
            model=self.model,
            history=self.history,
            phase_steps=dict(self.phase_steps),
            stop_reasons=dict(self.stop_reasons),
            relative_l2=errors,
            final_loss=final,
            wall_time_s=self.elapsed(),
            derivatives=self.engine_note + (f"; {self.compile_note}" if self.compile_note else ""),
            warnings=list(self.warnings),
            activation=self.activation,
            events=list(self.events),
            signal=self.stop_signal if status == "interrupted" else None,
            parameters=parameters,
            points=self.adaptive.whole.interior.cpu().numpy() if self.adaptive else None,
        )

    def final_loss(self) -> dict[str, float]:
        """The loss and its unweighted terms at the current parameters."""
        total, parts = self.loss()
        values = [total.item(), *parts.tolist()]
        return {"loss": values[0], **dict(zip(self.objective.names, values[1:], strict=True))}

    @classmethod
    def resume(cls, problem: Problem, checkpoint: str | Path, **kwargs: Any) -> Trainer:
        """A trainer that continues the run saved in ``checkpoint`` (read with weights_only).

        The problem (its :attr:`~pinn_gelu.problem.Problem.source`, the file as run now) may
        differ from the checkpoint's only in budgets and cadences (``RESUMABLE_CHANGES`` of
        :mod:`pinn_gelu.checkpoints`); anything else raises ValueError naming the first key
        that differs.
        """
        content = read_checkpoint(checkpoint)
        conflicts = resume_conflicts(content["problem"], problem.source)
        if conflicts:
            raise ValueError(
                f"{checkpoint}: the problem differs from the checkpoint's at {conflicts[0]} (only "
                f"{', '.join(RESUMABLE_CHANGES)} may change)"
            )
        trainer = cls(problem, checkpoint=checkpoint, **kwargs)
        try:
            check_state(content, trainer.schedule, DONE, problem)
        except ValueError as err:
            raise ValueError(f"{checkpoint}: {err}") from None
        trainer.load_state(content)
        if trainer.phase != DONE:  # its optimiser's state is checked now, not at the first step
            try:
                trainer._current_optimiser(trainer.phase, problem.training.phases[trainer.phase])
            except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as err:
                raise ValueError(f"{checkpoint}: optimizer: {one_line(err)}") from None
        trainer.elapsed_before = float(content["elapsed_s"])
        trainer.events.append(f"resumed at step {trainer.step} ({trainer.phase})")
        trainer._take_snapshot()
        return trainer
