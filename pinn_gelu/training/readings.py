"""A step's numbers read from the device every k steps, not after every step.

On CUDA a step's kernels are queued and run while Python goes on; reading a number from the
device (``.item()``, ``.tolist()``, ``float()``) waits until every queued kernel has run. A
step that reads its loss and checks it for finiteness before the next one is queued leaves the
GPU idle between steps, which at PINN sizes costs more than the step (issue 26: a 20,000-point
step took 4.9 ms of which about 0.1 ms is arithmetic).

So an optimiser whose step does not need its own numbers (Adam: it updates from the gradient
whatever the loss) returns them as one device tensor, ``Step.pending`` = (L, terms…,
max |∂L/∂θ|). The driver keeps them here and reads all the kept steps in one transfer every
``read_every`` steps (on CUDA the optimiser's ``refresh_every``, when the progress display
refreshes; on the CPU, where a read waits for nothing, every step), and whenever it needs
them: a snapshot or checkpoint, adaptive points, a stop signal, the end of a phase. It then
checks them in step order and records each step's history entry, so the history has every
step. The arithmetic is the same whatever ``read_every``: on the CPU the numbers, history and
parameters are bitwise those of reading every step (tested).

A non-finite number is found at the next read rather than at its step: the run then keeps the
parameters of the last step read (``on_nonfinite: stop``) or rolls back to its last snapshot,
which is always at a step read (``rollback``), as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = ["Pending", "Readings"]


@dataclass
class Pending:
    """One step whose numbers are still on the device.

    Attributes:
        step: the run's step count after it.
        phase: the phase it belongs to.
        values: (L, terms…, max |∂L/∂θ|), detached.
        unknowns: the unknowns' values after it (their names in the driver's record), or None.
        errors: the validation errors measured at it.
        time_s: the run's elapsed seconds when it was queued.
    """

    step: int
    phase: str
    values: Tensor
    unknowns: Tensor | None
    errors: dict[str, float] = field(default_factory=dict)
    time_s: float = 0.0


@dataclass
class Reading:
    """A pending step's numbers, read: ``loss``, ``parts``, ``grad_max``, ``unknowns``."""

    pending: Pending
    loss: float
    parts: list[float]
    grad_max: float
    unknowns: list[float]

    @property
    def finite(self) -> bool:
        """Whether the loss and the gradient are finite."""
        return math.isfinite(self.loss) and math.isfinite(self.grad_max)


class Readings:
    """The steps not read yet, in order; :meth:`read` reads them in one transfer."""

    def __init__(self) -> None:
        self.kept: list[Pending] = []

    def add(self, pending: Pending) -> None:
        """Keep a step's numbers until the next read."""
        self.kept.append(pending)

    def read(self) -> list[Reading]:
        """Every kept step's numbers (one device-to-host transfer), in step order; forget them."""
        if not self.kept:
            return []
        pieces = []
        for p in self.kept:
            pieces.append(p.values.reshape(-1))
            if p.unknowns is not None:
                pieces.append(p.unknowns.reshape(-1).to(p.values))
        numbers = torch.cat(pieces).tolist()  # the one synchronisation
        out, at = [], 0
        for p in self.kept:
            width = p.values.numel()
            values = numbers[at : at + width]
            at += width
            count = p.unknowns.numel() if p.unknowns is not None else 0
            unknowns = numbers[at : at + count]
            at += count
            out.append(Reading(p, values[0], values[1:-1], values[-1], unknowns))
        self.kept = []
        return out

    def drop(self) -> None:
        """Forget the kept steps unread (their parameters are being replaced)."""
        self.kept = []
