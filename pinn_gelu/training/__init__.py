"""Training: assemble a run (:mod:`.setup`), drive it (:mod:`.driver`), report it (:mod:`.result`).

:func:`train` is the one-call form; :class:`Trainer` the same run step by step (checkpoints,
resume, stop requests). See :mod:`pinn_gelu.training.driver` for the loop and its guarantees.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from torch import nn

from pinn_gelu.problem import Problem
from pinn_gelu.training.driver import SNAPSHOT_EVERY, Trainer
from pinn_gelu.training.result import TrainResult
from pinn_gelu.training.setup import ActivationOrderWarning, Assembly, assemble, build_model

__all__ = [
    "SNAPSHOT_EVERY",
    "ActivationOrderWarning",
    "Assembly",
    "TrainResult",
    "Trainer",
    "assemble",
    "build_model",
    "train",
]


def train(
    problem: Problem,
    model: nn.Module | None = None,
    *,
    progress: bool = True,
    reference: Mapping[str, np.ndarray] | None = None,
    label: str = "",
) -> TrainResult:
    """Train a PINN for a problem and return the result.

    Args:
        problem: from :func:`pinn_gelu.load_problem`.
        model: train this model (or bare network) instead of building one from
            ``problem.network``.
        progress: show progress on stderr.
        reference: reference values on the evaluation grid for problems without ``exact``.
        label: a prefix for the progress display (the run's name in a comparison).

    Example::

        result = train(load_problem("problems/poisson_1d.yaml"))
        print(result.relative_l2["u"], result.message)
    """
    return Trainer(problem, model, progress=progress, reference=reference, label=label).run()
