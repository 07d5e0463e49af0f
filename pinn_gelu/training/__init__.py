"""Training: the driver loop over the phases of ``training.schedule``, and the result.

The loss (:mod:`pinn_gelu.loss`) is minimised by the optimisers of ``training.schedule`` in order
(default ``[adam, lbfgs]``; see :data:`pinn_gelu.optimisers.OPTIMISERS`); a phase with
``steps: 0`` is skipped. The driver owns everything that is the same whatever the optimiser:
the history (one record per step, every term unweighted), the validation cadence, progress, the
non-finite guard and rollback, snapshots and checkpoints. Each optimiser only steps.

Reliability:

- **Checkpoints.** With a checkpoint path, the whole state (parameters, phase, the phase's
  optimiser state, step counters, history, RNG state, elapsed time) is written atomically every
  ``training.checkpoint_every`` steps and at the end of each phase; :meth:`Trainer.resume`
  continues from it. On CPU with the same threads, a resumed run ends with exactly the parameters
  of an uninterrupted one (the learning rate is a function of the step, caches are only caches).
- **Interruption.** :meth:`Trainer.request_stop` (called by the CLI's SIGINT/SIGTERM handlers)
  stops at the end of the current step with a checkpoint; status ``interrupted``.
- **Non-finite values.** A non-finite loss or gradient is detected at the step it appears.
  ``training.on_nonfinite: stop`` ends with status ``failed``, the network keeping its last
  finite parameters, naming the step and the term. ``rollback`` restores the last good snapshot
  (taken every :data:`SNAPSHOT_EVERY` steps), halves the learning rate and goes on, at most
  ``training.max_rollbacks`` times.
"""

from __future__ import annotations

import copy
import math
import sys
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from pinn_gelu.activations import order_warning
from pinn_gelu.checkpoints import (
    RESUMABLE_CHANGES,
    plain_data,
    read_checkpoint,
    resume_conflicts,
    write_checkpoint,
)
from pinn_gelu.collocation import sample_collocation, shard_collocation
from pinn_gelu.config import DTYPES
from pinn_gelu.derivatives import select_engine
from pinn_gelu.distributed import SINGLE, Group
from pinn_gelu.errors import ProblemFileError
from pinn_gelu.loss import Loss
from pinn_gelu.metrics import Evaluator, build_evaluator
from pinn_gelu.model.networks import MLP, build_network
from pinn_gelu.optimisers import OPTIMISERS, Context, Optimiser, Resources, Step
from pinn_gelu.problem import Problem, Term

__all__ = ["SNAPSHOT_EVERY", "ActivationOrderWarning", "TrainResult", "Trainer", "train"]

#: Steps between the in-memory snapshots that a rollback returns to.
SNAPSHOT_EVERY = 50
DONE = "done"


class ActivationOrderWarning(UserWarning):
    """The activation cannot represent the PDE's derivatives (ReLU on a second-order PDE)."""


class _NonFinite(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class _Interrupted(Exception):
    pass


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        status: ``completed`` (every phase ran to its end or to a stated tolerance),
            ``failed`` (non-finite loss or gradient) or ``interrupted``.
        message: one line on how it ended.
        network: the trained network (its last finite parameters when failed).
        history: one record per step: step, phase, loss, each term, error_<field> where measured.
        phase_steps: steps run per phase.
        stop_reasons: per phase, why it ended.
        relative_l2: final relative L2 error per field (empty without a reference).
        final_loss: final weighted loss (``loss``) and each unweighted term.
        wall_time_s: seconds for the whole run (all sessions of a resumed run), setup included.
        derivatives: which derivative engine computed the residuals, and why.
        warnings: warnings issued before training.
        activation: the activation spec.
        events: rollbacks and resumptions, in order.
        signal: the signal number that interrupted the run, if any.
    """

    status: str
    message: str
    network: nn.Module
    history: list[dict[str, float | str]]
    phase_steps: dict[str, int]
    stop_reasons: dict[str, str]
    relative_l2: dict[str, float]
    final_loss: dict[str, float]
    wall_time_s: float
    derivatives: str
    warnings: list[str] = field(default_factory=list)
    activation: str = ""
    events: list[str] = field(default_factory=list)
    signal: int | None = None

    @property
    def steps(self) -> int:
        """Steps of all phases together."""
        return sum(self.phase_steps.values())


class Trainer:
    """One training run of a problem: set up once, then :meth:`run`.

    Args:
        problem: the validated problem.
        network: a network to train instead of building one from ``problem.network``.
        progress: show progress (a tqdm bar on a terminal, plain lines every 5 % otherwise).
        reference: reference values on the evaluation grid when the problem has no ``exact``.
        label: a prefix for the progress display.
        checkpoint: path of the checkpoint file to write (none written when None).
        problem_data: the problem file's data as run, stored in checkpoints so that they
            describe themselves.
        group: the processes of a data-parallel run (:mod:`pinn_gelu.distributed`): this
            rank trains on its shard of the points; only rank 0 validates, shows progress and
            writes checkpoints.
    """

    def __init__(
        self,
        problem: Problem,
        network: nn.Module | None = None,
        *,
        progress: bool = True,
        reference: Mapping[str, np.ndarray] | None = None,
        label: str = "",
        checkpoint: str | Path | None = None,
        problem_data: Mapping[str, Any] | None = None,
        group: Group = SINGLE,
    ) -> None:
        self.started = time.perf_counter()
        self.group = group
        self.elapsed_before = 0.0
        self.problem = problem
        self.label = label
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.problem_data = dict(problem_data or {})
        cfg = problem.training
        self.dtype = DTYPES[cfg.dtype]
        self.device = torch.device(cfg.device)
        if self.device.type == "cuda" and group.active:
            self.device = torch.device("cuda", group.local_rank)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("training.device is cuda, but torch sees no CUDA device")
        activation = problem.network.activation.module()
        if network is None:
            network = build_network(
                problem.network,
                problem.domain.bounds,
                len(problem.pde.outputs),
                seed=cfg.seed,
                dtype=self.dtype,
                activation=activation,
            )
        self.network = network.to(device=self.device, dtype=self.dtype)
        self.activation = activation.spec
        self.engine, self.engine_note = select_engine(self.network, cfg.derivatives)
        # every rank draws the same global set, then keeps its shard
        self.points = shard_collocation(
            sample_collocation(
                problem.domain,
                cfg.points,
                cfg.seed,
                dtype=self.dtype,
                device=self.device,
                sides=problem.boundary_sides,
            ),
            group,
        )
        terms = problem.terms(self.points)
        self.objective = Loss(
            self.network,
            terms,
            self.points,
            self.engine,
            [problem.weight(t.name) for t in terms],
            compile=cfg.compile,
            group=group,
        )
        self.schedule = list(cfg.schedule)
        self._check_resources()
        self.evaluator: Evaluator | None = (
            build_evaluator(problem, self.dtype, self.device, reference) if group.is_main else None
        )
        self.warnings: list[str] = []
        message = order_warning(activation, problem.order, problem.pde.kind)
        if message:
            self.warnings.append(message)
            warnings.warn(message, ActivationOrderWarning, stacklevel=2)
        self.progress = progress and group.is_main
        self.params = [p for p in self.network.parameters() if p.requires_grad]
        # the state that checkpoints hold
        self.phase = self._phase_after(None)
        self.phase_step = 0
        self.step = 0
        self.history: list[dict[str, float | str]] = []
        self.phase_steps: dict[str, int] = {}
        self.stop_reasons: dict[str, str] = {}
        self.rollbacks = 0
        self.lr_scale = 1.0
        self.events: list[str] = []
        self.optimiser: Optimiser | None = None
        self._pending_optimiser_state: Mapping[str, Any] | None = None
        # not checkpointed
        self.last_errors: dict[str, float] = {}
        self.last_errors_step = 0
        self.stop_signal: int | None = None
        self._good = [p.detach().clone() for p in self.params]
        self._snapshot: dict[str, Any] | None = None

    @property
    def terms(self) -> list[Term]:
        """The loss terms (those of :attr:`objective`)."""
        return self.objective.terms

    @property
    def compile_note(self) -> str:
        """How torch.compile went (empty when not asked for)."""
        return self.objective.compile_note

    def _check_resources(self) -> None:
        """Refuse, before any training, a phase whose optimiser cannot run at this size."""
        need = Resources(
            rows=sum(self.objective.counts),  # over all ranks
            parameters=sum(p.numel() for p in self.network.parameters() if p.requires_grad),
            limits=self.problem.limits,
        )
        for name in self.schedule:
            config = self.problem.training.phases[name]
            reason = OPTIMISERS[name].check_resources(config, need) if config.steps else None
            if reason:
                raise ProblemFileError(self.problem.path, f"training.{name}", reason)

    # --- the loss -----------------------------------------------------------------------------
    def loss(self) -> tuple[Tensor, Tensor]:
        """(weighted total, unweighted mean squares per term), over all ranks, without a graph."""
        return self.objective.value()

    def _accept(self, total: float, parts: list[float], grad_max: float) -> None:
        """Check an optimiser's values for non-finite numbers; keep the parameters as good."""
        if not math.isfinite(total):
            bad = [t.name for t, v in zip(self.terms, parts, strict=True) if not math.isfinite(v)]
            raise _NonFinite(f"loss term {', '.join(bad) or 'total'} is {total}")
        if not math.isfinite(grad_max):
            raise _NonFinite("the gradient of the loss is not finite")
        self._keep_good()

    def _keep_good(self) -> None:
        with torch.no_grad():
            torch._foreach_copy_(self._good, [p.detach() for p in self.params])

    def _restore_good(self) -> None:
        with torch.no_grad():
            torch._foreach_copy_([p.data for p in self.params], self._good)

    def _record(self, phase: str, report: Step, errors: Mapping[str, float]) -> None:
        record: dict[str, float | str] = {"step": self.step, "phase": phase, "loss": report.loss}
        record.update(zip(self.objective.names, report.parts, strict=True))
        record.update(report.extra)
        record.update(errors)
        record["time_s"] = self.elapsed()
        self.history.append(record)

    def _validate(self, phase_step: int, last: bool) -> dict[str, float]:
        every = self.problem.validation.every
        if self.evaluator is None or not (last or (every and phase_step % every == 0)):
            return {}
        self.last_errors = self.evaluator.errors(self.problem, self.network, self.engine)
        self.last_errors_step = self.step
        return {f"error_{k}": v for k, v in self.last_errors.items()}

    def elapsed(self) -> float:
        """Seconds of training so far, earlier sessions of a resumed run included."""
        return self.elapsed_before + time.perf_counter() - self.started

    # --- state, snapshots and checkpoints -------------------------------------------------------
    def request_stop(self, signal_number: int) -> None:
        """Stop at the end of the current step (with a checkpoint); from a signal handler."""
        self.stop_signal = signal_number

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
                "state_dict": {k: v.detach().cpu() for k, v in self.network.state_dict().items()},
                "optimizer": self._optimiser_state(),
                "phase_steps": self.phase_steps,
                "stop_reasons": self.stop_reasons,
                "rollbacks": self.rollbacks,
                "lr_scale": self.lr_scale,
                "elapsed_s": self.elapsed(),
                "torch_rng": torch.get_rng_state(),
                "history_length": len(self.history),
                "events_length": len(self.events),
            }
        )

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore a state from :meth:`state`, a snapshot, or a checkpoint."""
        state = copy.deepcopy(dict(state))
        self.network.load_state_dict(state["state_dict"])
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
            "problem": plain_data(self.problem_data),
            "limits": {
                k: getattr(self.problem.limits, k)
                for k in type(self.problem.limits).__dataclass_fields__
            },
            "network": self.network.config() if isinstance(self.network, MLP) else {},
            "dtype": self.problem.training.dtype,
            **state,
        }
        write_checkpoint(self.checkpoint, content)
        self.group.barrier()

    def _after_step(self, phase_step: int) -> None:
        """Snapshots, periodic checkpoints and the stop request, at the end of every step."""
        if phase_step % SNAPSHOT_EVERY == 0:
            self._take_snapshot()
        every = self.problem.training.checkpoint_every
        if every and self.step % every == 0:
            self.save_checkpoint()
        # a signal may reach one rank only, or the ranks at different steps: they agree
        agreed = int(self.group.maximum(float(self.stop_signal or 0)))
        if agreed:
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
        with _Progress(self, name, steps) as progress:
            for k in range(self.phase_step + 1, steps + 1):
                report = optimiser.step(k, self.lr_scale)
                self.step += 1
                self.phase_step = k
                self.phase_steps[name] = k
                errors = self._validate(k, k == steps or report.stop is not None)
                self._record(name, report, errors)
                progress.update(k, report.loss, k % every == 0 or report.stop is not None)
                if report.stop is not None:
                    reason = report.stop
                    break
                self._after_step(k)
        self._next_phase(name, reason)

    def _rollback(self, error: _NonFinite) -> None:
        cfg = self.problem.training
        failed_at = self.step + 1
        if self._snapshot is None:
            raise error
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
                failed_at = self.step + 1
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
            self.evaluator.errors(self.problem, self.network, self.engine)
            if self.evaluator is not None
            else {}
        )
        if status == "completed":
            message = "; ".join(f"{phase}: {why}" for phase, why in self.stop_reasons.items())
            message = message or "no training steps configured"
            if self.events:
                message += f"; {len(self.events)} rollback(s)"
        return TrainResult(
            status=status,
            message=message,
            network=self.network,
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
        )

    def final_loss(self) -> dict[str, float]:
        """The loss and its unweighted terms at the current parameters."""
        total, parts = self.loss()
        values = [total.item(), *parts.tolist()]
        return {"loss": values[0], **dict(zip(self.objective.names, values[1:], strict=True))}

    @classmethod
    def resume(
        cls,
        problem: Problem,
        checkpoint: str | Path,
        **kwargs: Any,
    ) -> Trainer:
        """A trainer that continues the run saved in ``checkpoint`` (read with weights_only).

        With ``problem_data`` (the file's data as it is now), the problem may differ from the
        checkpoint's only in budgets and cadences (``RESUMABLE_CHANGES`` of checkpoints);
        anything else raises ValueError naming the first key that differs.
        """
        content = read_checkpoint(checkpoint)
        kwargs.setdefault("problem_data", content["problem"])
        conflicts = resume_conflicts(content["problem"], kwargs["problem_data"])
        if conflicts:
            raise ValueError(
                f"{checkpoint}: the problem differs from the checkpoint's at {conflicts[0]} (only "
                f"{', '.join(RESUMABLE_CHANGES)} may change)"
            )
        trainer = cls(problem, checkpoint=checkpoint, **kwargs)
        if list(content["schedule"]) != trainer.schedule:
            raise ValueError(
                f"{checkpoint}: the checkpoint's schedule {list(content['schedule'])} differs "
                f"from the problem's {trainer.schedule}"
            )
        trainer.load_state(content)
        trainer.elapsed_before = float(content["elapsed_s"])
        trainer.events.append(f"resumed at step {trainer.step} ({trainer.phase})")
        trainer._take_snapshot()
        return trainer


class _Progress:
    """Progress of one phase on stderr: a tqdm bar on a terminal, else a plain line every 5 %.

    A log file (stderr redirected) gets about 20 lines per phase instead of thousands of
    carriage-return updates.
    """

    def __init__(self, trainer: Trainer, phase: str, total: int) -> None:
        self.trainer = trainer
        self.total = total
        self.name = f"{trainer.label} {phase}" if trainer.label else phase
        self.enabled = trainer.progress
        self.terminal = self.enabled and sys.stderr.isatty()
        self.bar: tqdm | None = None
        self.every = max(1, math.ceil(total / 20))
        self.start = trainer.phase_step

    def __enter__(self) -> _Progress:
        if self.terminal:
            self.bar = tqdm(
                total=self.total,
                initial=self.start,
                desc=self.name,
                dynamic_ncols=True,
                mininterval=0.5,
                leave=True,
            )
        return self

    def _shown(self, loss: float) -> str:
        shown = [f"loss={loss:.3e}"]
        shown += [f"err_{k}={v:.2e}" for k, v in self.trainer.last_errors.items()]
        if self.trainer.last_errors and self.trainer.last_errors_step != self.trainer.step:
            # the error is measured every validation.every steps: say when
            shown[-1] += f" (at step {self.trainer.last_errors_step})"
        return ", ".join(shown)

    def update(self, k: int, loss: float, refresh: bool) -> None:
        """Step k is done with this loss; refresh the shown numbers when asked."""
        if self.bar is not None:
            if refresh:
                self.bar.set_postfix_str(self._shown(loss), refresh=False)
            self.bar.update(k - self.bar.n)
        elif self.enabled and (k % self.every == 0 or k == self.total):
            print(
                f"{self.name} {k}/{self.total} ({100 * k // self.total} %): {self._shown(loss)}, "
                f"{self.trainer.elapsed():.1f} s",
                file=sys.stderr,
                flush=True,
            )

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def train(
    problem: Problem,
    network: nn.Module | None = None,
    *,
    progress: bool = True,
    reference: Mapping[str, np.ndarray] | None = None,
    label: str = "",
) -> TrainResult:
    """Train a PINN for a problem and return the result.

    Args:
        problem: from :func:`pinn_gelu.load_problem`.
        network: train this network instead of building one from ``problem.network``.
        progress: show progress on stderr.
        reference: reference values on the evaluation grid for problems without ``exact``.
        label: a prefix for the progress display (the run's name in a comparison).

    Example::

        result = train(load_problem("problems/poisson_1d.yaml"))
        print(result.relative_l2["u"], result.message)
    """
    return Trainer(problem, network, progress=progress, reference=reference, label=label).run()
