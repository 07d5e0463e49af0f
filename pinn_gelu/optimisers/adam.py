"""Adam (Kingma & Ba 2015): the ``adam`` phase and its ``training.adam`` section."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from pinn_gelu.config import option
from pinn_gelu.optimisers.base import Context, Optimiser, Step, check_torch_state, gradient_max
from pinn_gelu.optimisers.capture import StepGraph

__all__ = ["Adam", "AdamConfig"]


@dataclass(frozen=True, kw_only=True)
class AdamConfig:
    """The Adam phase: ``training.adam:`` section. ``steps: 0`` skips it."""

    steps: int = option(1000, "Adam steps", min=0, limit="max_steps")
    lr: float = option(2e-3, "learning rate", min_exclusive=0.0, max=10.0)
    decay: float = option(
        1.0,
        "multiplicative learning-rate decay reached at the last step (1: constant; "
        "0.1: the rate falls exponentially to a tenth)",
        min_exclusive=0.0,
        max=1.0,
    )


class Adam(Optimiser):
    """Adam (Kingma & Ba 2015) at learning rate lr·decay^((k−1)/steps), ``training.adam``."""

    Config = AdamConfig
    refresh_every = 25

    def __init__(self, config: AdamConfig, context: Context) -> None:
        super().__init__(config, context)
        device = context.params[0].device
        # a captured step keeps Adam's step count and learning rate on the device
        # (capturable; a tensor lr, filled before each step); otherwise torch's defaults
        capture = context.capture and device.type == "cuda"
        lr: float | Tensor = torch.tensor(config.lr, device=device) if capture else config.lr
        self.optimizer = torch.optim.Adam(context.params, lr=lr, capturable=capture)
        self.gamma = config.decay ** (1.0 / config.steps) if config.steps else 1.0
        self.graph = StepGraph(self._step, device, enabled=context.capture)

    @classmethod
    def describe(cls, name: str, config: Any) -> str:
        """``adam 1000 steps (lr 0.002)``."""
        if config.steps == 0:
            return f"{name} skipped"
        return f"{name} {config.steps} steps (lr {config.lr:g})"

    @property
    def note(self) -> str:
        """How the steps ran: captured as a CUDA graph, or why not (``training.capture``)."""
        return self.graph.note

    def step(self, k: int, lr_scale: float) -> Step:
        """One Adam update; its numbers (the loss at the parameters before it) stay on the device.

        The update needs none of them, so nothing waits for the device here: the driver reads
        and checks them every few steps (:mod:`pinn_gelu.training.readings`). With
        ``training.capture`` on CUDA the whole step is a replayed CUDA graph
        (:mod:`pinn_gelu.optimisers.capture`).
        """
        rate = self.config.lr * self.gamma ** (k - 1) * lr_scale
        for group in self.optimizer.param_groups:
            if isinstance(group["lr"], Tensor):
                group["lr"].fill_(rate)
            else:
                group["lr"] = rate
        return Step(math.nan, [], pending=self.graph())

    def _step(self) -> Tensor:
        """Loss, gradient, update: (L, terms…, max |∂L/∂θ| before the update), on the device."""
        total, parts = self.context.gradient()
        values = torch.cat([total[None], parts, gradient_max(self.context.params)[None]])
        self.optimizer.step()
        return values.detach()

    def state_dict(self) -> dict[str, Any]:
        """Torch's Adam state."""
        return {"torch": self.optimizer.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore torch's Adam state (checked: moments shaped like their parameters, finite)."""
        check_torch_state(state["torch"], self.context.params, exact=("exp_avg", "exp_avg_sq"))
        self.optimizer.load_state_dict(state["torch"])
