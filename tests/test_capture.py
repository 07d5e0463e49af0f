"""A whole Adam step captured as a CUDA graph, and the eager fallback where it cannot be (26).

The fallback is exercised on the CPU; the capture itself runs only where torch sees a CUDA
device (the last test, skipped elsewhere).
"""

from __future__ import annotations

import pytest
import torch

from pinn_gelu import load_problem
from pinn_gelu.optimisers import capture
from pinn_gelu.optimisers.capture import WARMUP, StepGraph
from pinn_gelu.training import Trainer

from .conftest import PROBLEMS

TINY = [
    "training.points.interior=100",
    "training.points.boundary=40",
    "network.width=10",
    "network.depth=2",
    "training.schedule=adam",
    "training.adam.steps=30",
]


def _run(overrides, device="cpu"):
    problem = load_problem(
        PROBLEMS / "poisson_2d.yaml", [*TINY, f"training.device={device}", *overrides]
    )
    return Trainer(problem, progress=False).run()


def _same(a, b) -> None:
    assert [r["loss"] for r in a.history] == [r["loss"] for r in b.history]
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_capture_on_the_cpu_falls_back_to_eager_steps_and_says_why():
    eager = _run([])
    asked = _run(["training.capture=true"])
    _same(asked, eager)
    assert not any("CUDA graph" in e for e in eager.events)
    assert (
        "adam: not captured as a CUDA graph (CUDA graphs need a CUDA device; this run is on "
        "cpu); eager steps"
    ) in asked.events


class _Refused:
    """A CUDA graph whose recording fails, as an operation that cannot be captured makes it."""

    def __init__(self) -> None:
        raise RuntimeError("operation not permitted when stream is capturing\n(details)")


def test_a_failed_capture_falls_back_after_the_warm_up_and_loses_no_step(monkeypatch):
    calls = []

    def step():
        calls.append(1)
        return torch.tensor([float(len(calls))])

    graph = StepGraph(step, torch.device("cuda"))  # the device is only named: nothing runs there
    monkeypatch.setattr(capture.torch.cuda, "Stream", lambda device: _Stream())
    monkeypatch.setattr(capture.torch.cuda, "current_stream", lambda device: _Stream())
    monkeypatch.setattr(capture.torch.cuda, "stream", lambda stream: _Context())
    monkeypatch.setattr(capture.torch.cuda, "CUDAGraph", _Refused)
    values = [float(graph()) for _ in range(WARMUP + 3)]
    assert values == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]  # every call one step, none lost or doubled
    assert graph.graph is None
    assert graph.note == (
        "not captured as a CUDA graph (RuntimeError: operation not permitted when stream is "
        "capturing); eager steps"
    )


def test_no_usable_stream_falls_back_at_the_first_step():
    graph = StepGraph(lambda: torch.ones(1), torch.device("cuda"))
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    assert float(graph()) == 1.0 and graph.note.startswith("not captured as a CUDA graph (")
    assert float(graph()) == 1.0 and graph.calls == 2


def test_disabled_capture_runs_eagerly_without_a_note():
    graph = StepGraph(lambda: torch.zeros(2), torch.device("cpu"), enabled=False)
    assert torch.equal(graph(), torch.zeros(2)) and graph.note == ""


class _Stream:
    def wait_stream(self, other) -> None:
        pass


class _Context:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_captured_adam_phase_on_cuda_follows_the_eager_one():
    overrides = ["training.dtype=float64"]
    eager = _run(overrides, "cuda")
    captured = _run([*overrides, "training.capture=true"], "cuda")
    assert f"adam: captured as a CUDA graph after {WARMUP} eager steps" in captured.events
    assert len(captured.history) == len(eager.history) == 30
    for a, b in zip(captured.history, eager.history, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-9)
