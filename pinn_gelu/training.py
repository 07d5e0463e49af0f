"""Training: the loss, Adam then L-BFGS, progress, checkpoints, faults, and the result.

The loss is a weighted sum of mean squared residuals (Raissi et al. 2019),

    L(θ) = Σ_t w_t · mean_i r_t(x_i; θ)²,

one term t per PDE residual and per boundary-condition kind (``pde``, ``dirichlet``, …), with
weights from ``training.weights`` (default 1). The history records every term unweighted.

Optimisation runs Adam (``training.adam``), then L-BFGS (``training.lbfgs``,
:class:`torch.optim.LBFGS` with the strong Wolfe line search). L-BFGS runs one iteration per
call, so every iteration is recorded, and runs the requested number of iterations unless a stated
condition ends it, which the result names: the gradient tolerance, the loss-change tolerance, or
``patience`` iterations without any decrease of the loss (the line search can no longer find a
lower loss: the precision limit, for which ``dtype: float64`` is the remedy). Evaluations are
cached by parameter value, so this costs no extra forward passes.

Reliability:

- **Checkpoints.** With a checkpoint path, the whole state (parameters, optimiser state, phase,
  step, L-BFGS stopping counters, history, RNG state, elapsed time) is written atomically every
  ``training.checkpoint_every`` steps and at the end of each phase; :meth:`Trainer.resume`
  continues from it. On CPU with the same threads, a resumed run ends with exactly the parameters
  of an uninterrupted one (the learning rate is a function of the step, the cache is only a
  cache).
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
import time
import warnings
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from .activations import order_warning, parse_activation
from .checkpoints import plain_data, read_checkpoint, write_checkpoint
from .collocation import Collocation, sample_collocation
from .config import DTYPES, LBFGSConfig
from .derivatives import select_engine
from .fields import Fields, need_rank
from .metrics import Evaluator, build_evaluator
from .networks import MLP, build_network
from .problem import Problem, Term

__all__ = ["SNAPSHOT_EVERY", "ActivationOrderWarning", "TrainResult", "Trainer", "train"]

#: Steps between the in-memory snapshots that a rollback returns to.
SNAPSHOT_EVERY = 50
PHASES = ("adam", "lbfgs", "done")


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
        progress: show progress bars (tqdm, on stderr).
        reference: reference values on the evaluation grid when the problem has no ``exact``.
        label: a prefix for the progress bars.
        checkpoint: path of the checkpoint file to write (none written when None).
        problem_data: the problem file's data as run, stored in checkpoints so that they
            describe themselves.
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
    ) -> None:
        self.started = time.perf_counter()
        self.elapsed_before = 0.0
        self.problem = problem
        self.label = label
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.problem_data = dict(problem_data or {})
        cfg = problem.training
        self.dtype = DTYPES[cfg.dtype]
        self.device = torch.device(cfg.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("training.device is cuda, but torch sees no CUDA device")
        activation = parse_activation(problem.network.activation)
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
        self.points: Collocation = sample_collocation(
            problem.domain, cfg.points, cfg.seed, dtype=self.dtype, device=self.device
        )
        self.terms: list[Term] = problem.pde.terms(problem, self.points)
        self.needs: dict[str, str] = {}
        for term in self.terms:
            current = self.needs.get(term.on, "value")
            self.needs[term.on] = max(current, term.need, key=need_rank)
        self.weights = [float(cfg.weights.get(t.name, 1.0)) for t in self.terms]
        self.evaluator: Evaluator | None = build_evaluator(
            problem, self.dtype, self.device, reference
        )
        self._compiled: Callable[[], tuple[Tensor, Tensor]] | None = None
        self._compile_checked = False
        self.compile_note = ""
        if cfg.compile:
            self.compile_note = "compiled with torch.compile"
            try:
                self._compiled = torch.compile(self.eager_loss, dynamic=False)
            except Exception as err:  # torch.compile unavailable on this platform
                self.compile_note = f"torch.compile unavailable ({type(err).__name__}); eager mode"
        self.warnings: list[str] = []
        message = order_warning(activation, problem.pde.order, problem.pde.kind)
        if message:
            self.warnings.append(message)
            warnings.warn(message, ActivationOrderWarning, stacklevel=2)
        self.progress = progress
        # the state that checkpoints hold
        self.phase = "adam"
        self.phase_step = 0
        self.step = 0
        self.history: list[dict[str, float | str]] = []
        self.phase_steps: dict[str, int] = {}
        self.stop_reasons: dict[str, str] = {}
        self.lbfgs_progress: dict[str, Any] = {"best": math.inf, "since_best": 0, "losses": []}
        self.rollbacks = 0
        self.lr_scale = 1.0
        self.events: list[str] = []
        self.optimizer: torch.optim.Optimizer | None = None
        self._pending_optimizer_state: dict[str, Any] | None = None
        # not checkpointed
        self.last_errors: dict[str, float] = {}
        self.stop_signal: int | None = None
        self._good = [p.detach().clone() for p in self.network.parameters()]
        self._snapshot: dict[str, Any] | None = None

    # --- the loss -----------------------------------------------------------------------------
    def loss(self) -> tuple[Tensor, Tensor]:
        """(weighted total, unweighted mean squares per term as one tensor).

        With ``training.compile`` the first call compiles :meth:`eager_loss`; if compilation
        fails, the eager function is used from then on and :attr:`compile_note` says why.
        """
        if self._compiled is None:
            return self.eager_loss()
        if self._compile_checked:
            return self._compiled()
        try:
            result = self._compiled()
        except Exception as err:  # any compiler failure: fall back, and report it
            reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
            self.compile_note = f"torch.compile failed ({type(err).__name__}: {reason}); eager mode"
            self._compiled = None
            return self.eager_loss()
        self._compile_checked = True
        return result

    def eager_loss(self) -> tuple[Tensor, Tensor]:
        """The loss without compilation: see :meth:`loss`."""
        fields: dict[str, Fields] = {
            place: self.engine(self.network, self.points.on(place), need)
            for place, need in self.needs.items()
        }
        parts = torch.stack([t.residual(fields[t.on]).square().mean() for t in self.terms])
        weights = torch.tensor(self.weights, dtype=parts.dtype, device=parts.device)
        return (parts * weights).sum(), parts

    def _gradient_max(self) -> Tensor:
        grads = [p.grad.abs().max() for p in self.network.parameters() if p.grad is not None]
        return torch.stack(grads).max() if grads else torch.zeros((), device=self.device)

    def _record(self, phase: str, total: float, parts: list[float], **extra: float) -> None:
        record: dict[str, float | str] = {"step": self.step, "phase": phase, "loss": total}
        record.update({t.name: v for t, v in zip(self.terms, parts, strict=True)})
        record.update(extra)
        record["time_s"] = self.elapsed()
        self.history.append(record)

    def _check(self, total: float, parts: list[float], grad_max: float) -> None:
        if not math.isfinite(total):
            bad = [t.name for t, v in zip(self.terms, parts, strict=True) if not math.isfinite(v)]
            raise _NonFinite(f"loss term {', '.join(bad) or 'total'} is {total}")
        if not math.isfinite(grad_max):
            raise _NonFinite("the gradient of the loss is not finite")

    def _keep_good(self) -> None:
        with torch.no_grad():
            torch._foreach_copy_(self._good, [p.detach() for p in self.network.parameters()])

    def _restore_good(self) -> None:
        with torch.no_grad():
            for p, good in zip(self.network.parameters(), self._good, strict=True):
                p.copy_(good)

    def _validate(self, phase_step: int, last: bool) -> dict[str, float]:
        every = self.problem.validation.every
        if self.evaluator is None or not (last or (every and phase_step % every == 0)):
            return {}
        self.last_errors = self.evaluator.errors(self.problem, self.network, self.engine)
        return {f"error_{k}": v for k, v in self.last_errors.items()}

    def elapsed(self) -> float:
        """Seconds of training so far, earlier sessions of a resumed run included."""
        return self.elapsed_before + time.perf_counter() - self.started

    # --- progress -----------------------------------------------------------------------------
    def _bar(self, phase: str, total: int) -> tqdm:
        return tqdm(
            total=total,
            initial=self.phase_step,
            desc=f"{self.label} {phase}" if self.label else phase,
            disable=not self.progress,
            dynamic_ncols=True,
            mininterval=0.5,
            leave=True,
        )

    def _postfix(self, bar: tqdm, total: float) -> None:
        shown = {"loss": f"{total:.3e}"}
        for name, value in self.last_errors.items():
            shown[f"err_{name}"] = f"{value:.2e}"
        bar.set_postfix(shown, refresh=False)

    # --- state, snapshots and checkpoints -------------------------------------------------------
    def request_stop(self, signal_number: int) -> None:
        """Stop at the end of the current step (with a checkpoint); from a signal handler."""
        self.stop_signal = signal_number

    def state(self) -> dict[str, Any]:
        """The resumable state, as plain data and tensors (a deep copy)."""
        return copy.deepcopy(
            {
                "phase": self.phase,
                "phase_step": self.phase_step,
                "step": self.step,
                "state_dict": {k: v.detach().cpu() for k, v in self.network.state_dict().items()},
                "optimizer": (
                    self.optimizer.state_dict()
                    if self.optimizer is not None
                    else self._pending_optimizer_state
                ),
                "lbfgs_progress": self.lbfgs_progress,
                "history": self.history,
                "phase_steps": self.phase_steps,
                "stop_reasons": self.stop_reasons,
                "rollbacks": self.rollbacks,
                "lr_scale": self.lr_scale,
                "events": self.events,
                "elapsed_s": self.elapsed(),
                "torch_rng": torch.get_rng_state(),
            }
        )

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore a state from :meth:`state` (or a checkpoint)."""
        state = copy.deepcopy(dict(state))
        self.network.load_state_dict(state["state_dict"])
        self.phase = state["phase"]
        self.phase_step = int(state["phase_step"])
        self.step = int(state["step"])
        self.lbfgs_progress = state["lbfgs_progress"]
        self.history = state["history"]
        self.phase_steps = state["phase_steps"]
        self.stop_reasons = state["stop_reasons"]
        self.rollbacks = int(state["rollbacks"])
        self.lr_scale = float(state["lr_scale"])
        self.events = state["events"]
        torch.set_rng_state(state["torch_rng"])
        self.optimizer = None
        self._pending_optimizer_state = state["optimizer"]
        self._keep_good()

    def _take_snapshot(self) -> None:
        self._snapshot = self.state()

    def save_checkpoint(self, state: Mapping[str, Any] | None = None) -> None:
        """Write the checkpoint file atomically (the current state unless one is given)."""
        if self.checkpoint is None:
            return
        content = {
            "problem": plain_data(self.problem_data),
            "limits": {
                k: getattr(self.problem.limits, k)
                for k in type(self.problem.limits).__dataclass_fields__
            },
            "network": self.network.config() if isinstance(self.network, MLP) else {},
            "dtype": self.problem.training.dtype,
            **(dict(state) if state is not None else self.state()),
        }
        write_checkpoint(self.checkpoint, content)

    def _after_step(self, phase_step: int) -> None:
        """Snapshots, periodic checkpoints and the stop request, at the end of every step."""
        if phase_step % SNAPSHOT_EVERY == 0:
            self._take_snapshot()
        every = self.problem.training.checkpoint_every
        if every and self.step % every == 0:
            self.save_checkpoint()
        if self.stop_signal is not None:
            raise _Interrupted

    def _optimizer(self, factory: Callable[[], torch.optim.Optimizer]) -> torch.optim.Optimizer:
        if self.optimizer is None:
            self.optimizer = factory()
            if self._pending_optimizer_state is not None:
                self.optimizer.load_state_dict(self._pending_optimizer_state)
                self._pending_optimizer_state = None
        return self.optimizer

    def _next_phase(self, phase: str, reason: str) -> None:
        self.stop_reasons[phase] = reason
        self.phase = PHASES[PHASES.index(phase) + 1]
        self.phase_step = 0
        self.optimizer = None
        self._pending_optimizer_state = None
        self._take_snapshot()
        self.save_checkpoint()

    # --- phases -------------------------------------------------------------------------------
    def run_adam(self) -> None:
        """The Adam phase: ``training.adam.steps`` steps at a (decaying) learning rate."""
        cfg = self.problem.training.adam
        if cfg.steps == 0 or self.phase_step >= cfg.steps:
            self._next_phase("adam", f"completed {cfg.steps} steps" if cfg.steps else "skipped")
            return
        optimizer = self._optimizer(lambda: torch.optim.Adam(self.network.parameters(), lr=cfg.lr))
        gamma = cfg.decay ** (1.0 / cfg.steps)
        with self._bar("adam", cfg.steps) as bar:
            for k in range(self.phase_step + 1, cfg.steps + 1):
                optimizer.zero_grad(set_to_none=True)
                total, parts = self.loss()
                total.backward()
                values = torch.cat(
                    [total.detach()[None], parts.detach(), self._gradient_max()[None]]
                )
                numbers = values.tolist()
                self._check(numbers[0], numbers[1:-1], numbers[-1])
                self._keep_good()
                for group in optimizer.param_groups:
                    group["lr"] = cfg.lr * gamma ** (k - 1) * self.lr_scale
                optimizer.step()
                self.step += 1
                self.phase_step = k
                self.phase_steps["adam"] = k
                self._record("adam", numbers[0], numbers[1:-1], **self._validate(k, k == cfg.steps))
                if k % 25 == 0 or k == cfg.steps:
                    self._postfix(bar, numbers[0])
                bar.update(1)
                self._after_step(k)
        self._next_phase("adam", f"completed {cfg.steps} steps")

    def run_lbfgs(self) -> None:
        """The L-BFGS phase: one iteration per call, every iteration recorded."""
        cfg = self.problem.training.lbfgs
        if cfg.steps == 0 or self.phase_step >= cfg.steps:
            self._next_phase(
                "lbfgs", f"completed {cfg.steps} iterations" if cfg.steps else "skipped"
            )
            return
        params = list(self.network.parameters())
        optimizer = self._optimizer(
            lambda: torch.optim.LBFGS(
                params,
                lr=cfg.lr,
                max_iter=1,
                max_eval=25,
                history_size=cfg.history_size,
                tolerance_grad=cfg.tolerance_grad,
                tolerance_change=0.0,
                line_search_fn="strong_wolfe",
            )
        )
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr * self.lr_scale
        cache = _EvaluationCache(params, self.loss)
        progress = self.lbfgs_progress
        reason = f"completed {cfg.steps} iterations"
        with self._bar("lbfgs", cfg.steps) as bar:
            for k in range(self.phase_step + 1, cfg.steps + 1):
                # torch's LBFGS takes a closure returning the loss tensor (typed as float)
                optimizer.step(cache.closure)  # type: ignore[arg-type]
                total, parts, grad_max = cache.current()
                self._check(total, parts, grad_max)
                self._keep_good()
                self.step += 1
                self.phase_step = k
                self.phase_steps["lbfgs"] = k
                progress["losses"] = [*progress["losses"][-cfg.patience :], total]
                progress["since_best"] = (
                    0 if total < progress["best"] else progress["since_best"] + 1
                )
                progress["best"] = min(progress["best"], total)
                stop = _lbfgs_stop(cfg, k, progress, grad_max)
                self._record(
                    "lbfgs",
                    total,
                    parts,
                    grad_max=grad_max,
                    **self._validate(k, k == cfg.steps or stop is not None),
                )
                if k % 10 == 0 or stop is not None:
                    self._postfix(bar, total)
                bar.update(1)
                if stop is not None:
                    reason = stop
                    break
                self._after_step(k)
        self._next_phase("lbfgs", reason)

    def _rollback(self, error: _NonFinite) -> None:
        cfg = self.problem.training
        failed_at = self.step + 1
        if self._snapshot is None:
            raise error
        rollbacks = self.rollbacks + 1
        events = [*self.events]
        self.load_state(self._snapshot)
        self.rollbacks = rollbacks
        self.lr_scale /= 2.0
        self.events = [
            *events,
            f"non-finite values at step {failed_at} ({error.what}): rolled back to step "
            f"{self.step}, learning rate halved (×{self.lr_scale:g}); rollback {rollbacks} of "
            f"{cfg.max_rollbacks}",
        ]
        self._take_snapshot()

    def run(self) -> TrainResult:
        """Run the remaining phases, then measure the final loss and errors."""
        status, message = "completed", ""
        if self._snapshot is None:
            self._take_snapshot()
        cfg = self.problem.training
        while self.phase != "done":
            try:
                if self.phase == "adam":
                    self.run_adam()
                else:
                    self.run_lbfgs()
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
        with torch.enable_grad():
            total, parts = self.loss()
        values = [total.item(), *parts.detach().tolist()]
        return {
            "loss": values[0],
            **{t.name: v for t, v in zip(self.terms, values[1:], strict=True)},
        }

    @classmethod
    def resume(
        cls,
        problem: Problem,
        checkpoint: str | Path,
        **kwargs: Any,
    ) -> Trainer:
        """A trainer that continues the run saved in ``checkpoint`` (read with weights_only)."""
        content = read_checkpoint(checkpoint)
        kwargs.setdefault("problem_data", content["problem"])
        trainer = cls(problem, checkpoint=checkpoint, **kwargs)
        trainer.load_state(content)
        trainer.elapsed_before = float(content["elapsed_s"])
        trainer.events.append(f"resumed at step {trainer.step} ({trainer.phase})")
        trainer._take_snapshot()
        return trainer


def _lbfgs_stop(
    cfg: LBFGSConfig, k: int, progress: Mapping[str, Any], grad_max: float
) -> str | None:
    """Why L-BFGS should stop after iteration k, or None to go on."""
    losses = progress["losses"]
    if grad_max <= cfg.tolerance_grad:
        return (
            f"gradient tolerance met at iteration {k}: max|∂L/∂θ| = {grad_max:.3e} ≤ "
            f"tolerance_grad = {cfg.tolerance_grad:g}"
        )
    if cfg.tolerance_change > 0 and len(losses) > cfg.patience:
        before = losses[-cfg.patience - 1]
        change = abs(before - losses[-1]) / max(abs(before), 1e-300)
        if change <= cfg.tolerance_change:
            return (
                f"loss-change tolerance met at iteration {k}: relative change {change:.3e} over "
                f"{cfg.patience} iterations ≤ tolerance_change = {cfg.tolerance_change:g}"
            )
    if progress["since_best"] >= cfg.patience:
        return (
            f"no decrease of the loss in {cfg.patience} iterations (stopped at iteration {k}, "
            f"loss {progress['best']:.3e}): the line search cannot reduce it further at this "
            "precision; dtype: float64 usually goes further"
        )
    return None


class _EvaluationCache:
    """The L-BFGS closure, remembering recent evaluations by exact parameter value.

    torch's LBFGS evaluates the closure at the start of every ``step`` call, at the point its
    previous line search accepted and already evaluated. Looking the parameters up among the
    last evaluations (bitwise equal: the accepted point is rebuilt by the same operations)
    saves that repeated evaluation, and gives each iteration's loss for the history.
    """

    def __init__(self, params: list[nn.Parameter], loss: Callable[[], tuple[Tensor, Tensor]]):
        self.params = params
        self.loss = loss
        self.entries: deque[tuple[Tensor, Tensor, list[Tensor], list[float]]] = deque(maxlen=32)

    def _flat(self) -> Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self.params])

    def _lookup(self) -> tuple[Tensor, Tensor, list[Tensor], list[float]] | None:
        flat = self._flat()
        for entry in reversed(self.entries):
            if torch.equal(entry[0], flat):
                return entry
        return None

    def closure(self) -> Tensor:
        """Loss with gradients set on the parameters (from the cache when possible)."""
        entry = self._lookup()
        if entry is None:
            for p in self.params:
                p.grad = None
            total, parts = self.loss()
            total.backward()
            grads = [
                p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
                for p in self.params
            ]
            entry = (self._flat(), total.detach(), grads, parts.detach().tolist())
            self.entries.append(entry)
        else:
            for p, g in zip(self.params, entry[2], strict=True):
                p.grad = g.clone()
        return entry[1]

    def current(self) -> tuple[float, list[float], float]:
        """(loss, terms, max |gradient|) at the current parameters."""
        entry = self._lookup()
        if entry is None:
            with torch.enable_grad():
                self.closure()
            entry = self.entries[-1]
        grad_max = max((g.abs().max().item() for g in entry[2]), default=0.0)
        return entry[1].item(), entry[3], grad_max


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
        progress: show progress bars on stderr.
        reference: reference values on the evaluation grid for problems without ``exact``.
        label: a prefix for the progress bars (the run's name in a comparison).

    Example::

        result = train(load_problem("problems/poisson_1d.yaml"))
        print(result.relative_l2["u"], result.message)
    """
    return Trainer(problem, network, progress=progress, reference=reference, label=label).run()
