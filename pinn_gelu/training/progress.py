"""Progress of a phase on stderr: a tqdm bar on a terminal, a plain line every 5 % in a log."""

from __future__ import annotations

import math
import sys
from typing import Any

from tqdm import tqdm

__all__ = ["Progress"]


class Progress:
    """Progress of one phase on stderr: a tqdm bar on a terminal, else a plain line every 5 %.

    A log file (stderr redirected) gets about 20 lines per phase instead of thousands of
    carriage-return updates.
    """

    def __init__(self, trainer: Any, phase: str, total: int) -> None:
        self.trainer = trainer
        self.total = total
        self.name = f"{trainer.label} {phase}" if trainer.label else phase
        self.enabled = trainer.progress
        self.terminal = self.enabled and sys.stderr.isatty()
        self.bar: tqdm | None = None
        self.every = max(1, math.ceil(total / 20))
        self.start = trainer.phase_step

    def __enter__(self) -> Progress:
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
