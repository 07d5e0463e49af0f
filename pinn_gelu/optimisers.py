"""The optimisers that train a PINN, one per phase of ``training.schedule``: :data:`OPTIMISERS`.

Each knows only how to take one step; the driver (:mod:`pinn_gelu.training`) owns the loop,
history, validation, progress, the non-finite guard, rollback and checkpoints — the split of
scipy's ``solve_ivp`` and its ``OdeSolver.step``. An optimiser is built with its configuration
section and a :class:`Context`, and provides:

- ``step(k, lr_scale) -> Step``: step k (1-based) of the phase, at the learning-rate scale the
  driver's rollbacks have left; the Step reports the loss and terms at the accepted parameters
  and, when the phase should end early, why;
- ``completed``: the stop reason when every configured step has run;
- ``state_dict()`` / ``load_state_dict(state)``: plain data and tensors for checkpoints, so
  that a resumed run continues bit for bit.

Before it changes the parameters, a step calls ``context.accept(loss, parts, grad_max)`` with
the values at the parameters it starts from (Adam) or has arrived at (L-BFGS, Gauss–Newton):
the driver checks them for non-finite values and keeps those parameters as the last good ones.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from .config import AdamConfig, LBFGSConfig
from .loss import Loss

__all__ = ["OPTIMISERS", "Context", "Optimiser", "Step"]


@dataclass
class Step:
    """What one optimiser step reports to the driver.

    Attributes:
        loss: the weighted loss at the parameters the step accepted.
        parts: the unweighted terms there.
        extra: further numbers for the history (grad_max, damping, step length, …).
        stop: why the phase ends after this step, or None to go on.
    """

    loss: float
    parts: list[float]
    extra: dict[str, float] = field(default_factory=dict)
    stop: str | None = None


@dataclass
class Context:
    """What an optimiser works with.

    Attributes:
        params: the trainable parameters.
        evaluate: () → (weighted loss, terms tensor), without a graph.
        gradient: () → (weighted loss, terms tensor), with ∂L/∂θ set in the parameters'
            ``.grad``.
        loss: the :class:`~pinn_gelu.loss.Loss` (residual vector and Jacobian).

    In a data-parallel run, ``evaluate`` and ``gradient`` give the global values on every rank
    (:mod:`pinn_gelu.distributed`), so every rank takes the same step.
        accept: (loss, terms, max |∂L/∂θ|) → None; raises on non-finite values.
    """

    params: list[nn.Parameter]
    evaluate: Callable[[], tuple[Tensor, Tensor]]
    gradient: Callable[[], tuple[Tensor, Tensor]]
    loss: Loss
    accept: Callable[[float, list[float], float], None]


class Optimiser(Protocol):
    """One phase's optimiser: see the module docstring."""

    completed: str

    def step(self, k: int, lr_scale: float) -> Step:
        """Take step k of the phase."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """The state a checkpoint keeps."""
        ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a state of :meth:`state_dict`."""
        ...


def gradient_max(params: list[nn.Parameter]) -> Tensor:
    """Max |∂L/∂θ| over the parameters' ``.grad`` (0 when none is set)."""
    grads = [p.grad.abs().max() for p in params if p.grad is not None]
    return torch.stack(grads).max() if grads else torch.zeros((), device=params[0].device)


class Adam:
    """Adam (Kingma & Ba 2015) at learning rate lr·decay^((k−1)/steps), ``training.adam``."""

    def __init__(self, config: AdamConfig, context: Context) -> None:
        self.config = config
        self.context = context
        self.optimizer = torch.optim.Adam(context.params, lr=config.lr)
        self.gamma = config.decay ** (1.0 / config.steps) if config.steps else 1.0
        self.completed = f"completed {config.steps} steps"

    def step(self, k: int, lr_scale: float) -> Step:
        """One Adam update; the loss reported is the one at the parameters before it."""
        total, parts = self.context.gradient()
        values = torch.cat([total[None], parts, gradient_max(self.context.params)[None]]).tolist()
        self.context.accept(values[0], values[1:-1], values[-1])
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.lr * self.gamma ** (k - 1) * lr_scale
        self.optimizer.step()
        return Step(values[0], values[1:-1])

    def state_dict(self) -> dict[str, Any]:
        """Torch's Adam state."""
        return {"torch": self.optimizer.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore torch's Adam state."""
        self.optimizer.load_state_dict(state["torch"])


class LBFGS:
    """L-BFGS with the strong Wolfe line search (:class:`torch.optim.LBFGS`), ``training.lbfgs``.

    One iteration per step, so every iteration is recorded; runs the configured number unless a
    stated condition ends it: the gradient tolerance, the loss-change tolerance, or ``patience``
    iterations without any decrease of the loss (the line search can no longer find a lower
    loss: the precision limit, for which ``dtype: float64`` is the remedy). Evaluations are
    cached by parameter value, so the repeated evaluation at the start of torch's ``step`` costs
    nothing.
    """

    def __init__(self, config: LBFGSConfig, context: Context) -> None:
        self.config = config
        self.context = context
        self.optimizer = torch.optim.LBFGS(
            context.params,
            lr=config.lr,
            max_iter=1,
            max_eval=25,
            history_size=config.history_size,
            tolerance_grad=config.tolerance_grad,
            tolerance_change=0.0,
            line_search_fn="strong_wolfe",
        )
        self.cache = _EvaluationCache(context.params, context.gradient)
        self.progress: dict[str, Any] = {"best": math.inf, "since_best": 0, "losses": []}
        self.completed = f"completed {config.steps} iterations"

    def step(self, k: int, lr_scale: float) -> Step:
        """One L-BFGS iteration; the loss reported is the one at the new parameters."""
        cfg, progress = self.config, self.progress
        for group in self.optimizer.param_groups:
            group["lr"] = cfg.lr * lr_scale
        self.optimizer.step(self.cache.closure)
        total, parts, grad_max = self.cache.current()
        self.context.accept(total, parts, grad_max)
        progress["losses"] = [*progress["losses"][-cfg.patience :], total]
        progress["since_best"] = 0 if total < progress["best"] else progress["since_best"] + 1
        progress["best"] = min(progress["best"], total)
        return Step(total, parts, {"grad_max": grad_max}, self._stop(k, grad_max))

    def _stop(self, k: int, grad_max: float) -> str | None:
        cfg, progress = self.config, self.progress
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
                    f"loss-change tolerance met at iteration {k}: relative change {change:.3e} "
                    f"over {cfg.patience} iterations ≤ tolerance_change = "
                    f"{cfg.tolerance_change:g}"
                )
        if progress["since_best"] >= cfg.patience:
            return (
                f"no decrease of the loss in {cfg.patience} iterations (stopped at iteration {k}"
                f", loss {progress['best']:.3e}): the line search cannot reduce it further at "
                "this precision; dtype: float64 usually goes further"
            )
        return None

    def state_dict(self) -> dict[str, Any]:
        """Torch's L-BFGS state and the stopping counters."""
        return {"torch": self.optimizer.state_dict(), "progress": dict(self.progress)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore torch's L-BFGS state and the stopping counters."""
        self.optimizer.load_state_dict(state["torch"])
        self.progress = dict(state["progress"])


class _EvaluationCache:
    """The L-BFGS closure, remembering recent evaluations by exact parameter value.

    torch's LBFGS evaluates the closure at the start of every ``step`` call, at the point its
    previous line search accepted and already evaluated. Looking the parameters up among the
    last evaluations (bitwise equal: the accepted point is rebuilt by the same operations)
    saves that repeated evaluation, and gives each iteration's loss for the history.
    """

    def __init__(
        self, params: list[nn.Parameter], gradient: Callable[[], tuple[Tensor, Tensor]]
    ) -> None:
        self.params = params
        self.gradient = gradient
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
            total, parts = self.gradient()
            grads = [
                p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
                for p in self.params
            ]
            entry = (self._flat(), total, grads, parts.tolist())
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


def _registry() -> dict[str, Callable[[Any, Context], Optimiser]]:
    from .gauss_newton import GaussNewton

    return {"adam": Adam, "lbfgs": LBFGS, "gauss_newton": GaussNewton}


#: The optimisers by phase name (the names of :data:`pinn_gelu.config.PHASES`).
OPTIMISERS: dict[str, Callable[[Any, Context], Optimiser]] = _registry()
