"""L-BFGS with the strong Wolfe line search: the ``lbfgs`` phase, ``training.lbfgs``."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from pinn_gelu.config import option
from pinn_gelu.optimisers.base import Context, Optimiser, Step, check_torch_state

__all__ = ["LBFGS", "LBFGSConfig"]


@dataclass(frozen=True, kw_only=True)
class LBFGSConfig:
    """The L-BFGS phase: ``training.lbfgs:`` section (torch.optim.LBFGS, strong Wolfe).

    Runs ``steps`` iterations unless a stated tolerance is met; every iteration is recorded.
    ``steps: 0`` skips it.
    """

    steps: int = option(2500, "L-BFGS iterations", min=0, limit="max_steps")
    lr: float = option(1.0, "initial step length of the line search", min_exclusive=0.0, max=10.0)
    history_size: int = option(50, "curvature pairs kept", min=1, max=1000)
    tolerance_grad: float = option(
        1e-12,
        "stop when max |∂L/∂θ| ≤ this (0: only at an exactly zero gradient)",
        min=0.0,
        max=1.0,
    )
    tolerance_change: float = option(
        0.0,
        "stop when the loss changes by ≤ this (relative) over `patience` iterations (0 disables)",
        min=0.0,
        max=1.0,
    )
    patience: int = option(
        20,
        "iterations in a row without any decrease of the loss before stopping (line-search "
        "stall), and the window of tolerance_change",
        min=1,
        max=100_000,
    )


class LBFGS(Optimiser):
    """L-BFGS with the strong Wolfe line search (:class:`torch.optim.LBFGS`), ``training.lbfgs``.

    One iteration per step, so every iteration is recorded; runs the configured number unless a
    stated condition ends it: the gradient tolerance, the loss-change tolerance, or ``patience``
    iterations without any decrease of the loss (the line search can no longer find a lower
    loss: the precision limit, for which ``dtype: float64`` is the remedy). Evaluations are
    cached by parameter value, so the repeated evaluation at the start of torch's ``step`` costs
    nothing.
    """

    Config = LBFGSConfig
    unit = "iterations"

    def __init__(self, config: LBFGSConfig, context: Context) -> None:
        super().__init__(config, context)
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
        """Restore torch's L-BFGS state and the stopping counters (both checked first)."""
        check_torch_state(state["torch"], self.context.params)
        progress = state["progress"]
        if not isinstance(progress, dict) or set(progress) != {"best", "since_best", "losses"}:
            raise ValueError("progress: expected best, since_best and losses")
        since, losses, best = progress["since_best"], progress["losses"], progress["best"]
        if isinstance(since, bool) or not isinstance(since, int) or not 0 <= since <= 10**9:
            raise ValueError("progress.since_best: expected a whole number ≥ 0")
        if not isinstance(best, float) or math.isnan(best):
            raise ValueError("progress.best: expected a number")
        if not isinstance(losses, list) or len(losses) > self.config.patience + 1:
            raise ValueError(f"progress.losses: expected at most {self.config.patience + 1}")
        if not all(isinstance(x, float) and math.isfinite(x) for x in losses):
            raise ValueError("progress.losses: expected finite numbers")
        self.optimizer.load_state_dict(state["torch"])
        self.progress = dict(progress)


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
