"""Adam (Kingma & Ba 2015): the ``adam`` phase and its ``training.adam`` section."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from pinn_gelu.config import option
from pinn_gelu.optimisers.base import Context, Optimiser, Step, check_torch_state, gradient_max

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
        # capturable: on CUDA the step count stays on the device too (torch reads it with
        # .item() otherwise); the CPU keeps torch's default, and its numbers
        cuda = context.params[0].device.type == "cuda"
        self.optimizer = torch.optim.Adam(context.params, lr=config.lr, capturable=cuda)
        self.gamma = config.decay ** (1.0 / config.steps) if config.steps else 1.0

    @classmethod
    def describe(cls, name: str, config: Any) -> str:
        """``adam 1000 steps (lr 0.002)``."""
        if config.steps == 0:
            return f"{name} skipped"
        return f"{name} {config.steps} steps (lr {config.lr:g})"

    def step(self, k: int, lr_scale: float) -> Step:
        """One Adam update; its numbers (the loss at the parameters before it) stay on the device.

        The update needs none of them, so nothing waits for the device here: the driver reads
        and checks them every few steps (:mod:`pinn_gelu.training.readings`).
        """
        total, parts = self.context.gradient()
        values = torch.cat([total[None], parts, gradient_max(self.context.params)[None]])
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.lr * self.gamma ** (k - 1) * lr_scale
        self.optimizer.step()
        return Step(math.nan, [], pending=values.detach())

    def state_dict(self) -> dict[str, Any]:
        """Torch's Adam state."""
        return {"torch": self.optimizer.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore torch's Adam state (checked: moments shaped like their parameters, finite)."""
        check_torch_state(state["torch"], self.context.params, exact=("exp_avg", "exp_avg_sq"))
        self.optimizer.load_state_dict(state["torch"])
