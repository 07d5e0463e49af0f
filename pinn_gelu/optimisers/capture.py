"""A whole optimiser step captured once as a CUDA graph and replayed at every later step.

At PINN sizes a GPU step is launch-bound: hundreds of small kernels (the forward-mode jets of
every layer, the residual, the backward pass, the update), each launched from Python (issue 26:
a 20,000-point poisson_2d step took 4.9 ms on an H200, its arithmetic about 0.1 ms). A CUDA
graph records the kernels of one step once and launches them all as one (PyTorch, "CUDA
Graphs", whole-network capture: ``torch.cuda.CUDAGraph``, ``torch.cuda.graph``).

What capture needs, and where it comes from here:
- the same shapes and addresses at every step: the collocation points do not change between
  steps (a refinement of adaptive points builds a new loss, and a new optimiser, which captures
  again); parameters, gradients and the optimiser's moments are updated in place;
- no read from the device inside the step: the step's numbers stay on the device
  (:mod:`pinn_gelu.training.readings`); Adam's step count and learning rate live in device
  tensors (``capturable=True``, a tensor ``lr`` filled before each replay);
- warm-up: the first :data:`WARMUP` steps run eagerly on a side stream (they are real steps),
  then the next one is recorded and replayed.

Where capture is not possible (no CUDA device, an operation that cannot be captured, a failure
while recording), the steps run eagerly from then on and :attr:`StepGraph.note` says why; the
run's events show it. The step computed is the same either way; on the GPU the order of a
reduction may differ between eager and replayed kernels, so the numbers agree to rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from pinn_gelu.errors import one_line

__all__ = ["WARMUP", "StepGraph"]

#: Eager steps before the capture (the allocator's pools and lazy state settle).
WARMUP = 3


class StepGraph:
    """Run ``step`` eagerly for :data:`WARMUP` calls, then capture it and replay it.

    Args:
        step: one whole step, returning a tensor of its numbers (kept by the graph: each
            replay returns a copy).
        device: where the step runs; a graph needs a CUDA device.
        enabled: capture at all (False: always eager, no note).
    """

    def __init__(
        self, step: Callable[[], Tensor], device: torch.device, *, enabled: bool = True
    ) -> None:
        self.step = step
        self.device = device
        self.enabled = enabled
        self.calls = 0
        self.graph: Any = None
        self.output: Tensor | None = None
        #: How the steps run: captured, or why not (empty while warming up or when disabled).
        self.note = ""

    def __call__(self) -> Tensor:
        """One step: eager (warm-up, fallback) or a replay of the captured graph."""
        self.calls += 1
        if self.graph is not None:
            self.graph.replay()
            assert self.output is not None
            return self.output.clone()
        if not self.enabled or self.note:
            return self.step()
        if self.device.type != "cuda":
            self._fall_back(f"CUDA graphs need a CUDA device; this run is on {self.device.type}")
            return self.step()
        if self.calls <= WARMUP:
            try:
                stream = torch.cuda.Stream(self.device)
                stream.wait_stream(torch.cuda.current_stream(self.device))
            except Exception as err:  # no usable CUDA stream: eager from now on
                self._fall_back(f"{type(err).__name__}: {one_line(err)[:160]}")
                return self.step()
            return self._warm_up(stream)
        try:
            self._capture()
        except Exception as err:  # any failure to record: eager from now on, and say why
            self.graph, self.output = None, None
            self._fall_back(f"{type(err).__name__}: {one_line(err)[:160]}")
            return self.step()
        self.note = f"captured as a CUDA graph after {WARMUP} eager steps"
        return self()

    def _warm_up(self, stream: Any) -> Tensor:
        """One eager step on a side stream (as PyTorch's notes on capture warm up)."""
        with torch.cuda.stream(stream):
            out = self.step()
        torch.cuda.current_stream(self.device).wait_stream(stream)
        return out

    def _capture(self) -> None:
        """Record one step (its kernels are recorded, not run: the replay runs them)."""
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            output = self.step()
        self.graph, self.output = graph, output
        self.calls -= 1  # the recording took no step; __call__ replays it

    def _fall_back(self, reason: str) -> None:
        self.note = f"not captured as a CUDA graph ({reason}); eager steps"
