"""What a training run produced: :class:`TrainResult` (scipy's ``OdeResult``, for PINNs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pinn_gelu.model.model import Model

__all__ = ["TrainResult"]


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        status: ``completed`` (every phase ran to its end or to a stated tolerance),
            ``failed`` (non-finite loss or gradient) or ``interrupted``.
        message: one line on how it ended.
        model: the trained model (its last finite parameters when failed).
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
        points: the interior collocation points at the end of a run with adaptive points
            (``training.adaptive``), (n, d); None otherwise.
        parameters: the identified unknowns (inverse problems), each a
            :class:`~pinn_gelu.training.uncertainty.Estimate` as a dict (value, stderr, truth,
            relative_error, note).
    """

    status: str
    message: str
    model: Model
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
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    points: Any = None

    @property
    def steps(self) -> int:
        """Steps of all phases together."""
        return sum(self.phase_steps.values())
