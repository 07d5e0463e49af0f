"""A step's numbers stay on the device and are read every k steps (issue 26).

On the CPU the deferred path is bitwise the path that reads every step: the same arithmetic in
the same order; only when the numbers reach the host changes.
"""

from __future__ import annotations

import math

import pytest
import torch

from pinn_gelu import load_problem
from pinn_gelu.optimisers.adam import Adam
from pinn_gelu.training import Trainer
from pinn_gelu.training.readings import Readings

from .conftest import PROBLEMS

TINY = [
    "training.points.interior=120",
    "training.points.boundary=40",
    "network.width=10",
    "network.depth=2",
    "training.schedule=adam,lbfgs",
    "training.adam.steps=120",
    "training.lbfgs.steps=10",
    "validation.every=40",
]


def _run(problem, read_every: int | None, poison_at: int | None = None, checkpoint=None):
    trainer = Trainer(problem, progress=False, checkpoint=checkpoint)
    trainer.read_every = read_every
    if poison_at is not None:
        original, calls = trainer.objective.eager, {"n": 0}

        def poisoned():
            calls["n"] += 1
            total, parts = original()
            if calls["n"] == poison_at:
                return total * math.nan, torch.cat([parts[:1] * math.nan, parts[1:]])
            return total, parts

        trainer.objective.eager = poisoned  # type: ignore[method-assign]
    return trainer, trainer.run()


def _without_times(history):
    return [{k: v for k, v in r.items() if k != "time_s"} for r in history]


@pytest.mark.parametrize(
    ("name", "dtype"),
    [("poisson_2d", "float64"), ("poisson_2d", "float32"), ("heat_inverse", "float64")],
)
def test_reading_every_k_steps_is_bitwise_reading_every_step(name, dtype):
    problem = load_problem(PROBLEMS / f"{name}.yaml", [*TINY, f"training.dtype={dtype}"])
    _, every = _run(problem, 1)
    for k in (7, 25):
        _, deferred = _run(problem, k)
        assert _without_times(deferred.history) == _without_times(every.history)
        assert [r["step"] for r in deferred.history] == list(range(1, 131))
        for p, q in zip(deferred.model.parameters(), every.model.parameters(), strict=True):
            assert torch.equal(p, q)
        assert deferred.final_loss == every.final_loss
    if name == "heat_inverse":  # the unknowns' values are recorded at every step
        assert any(k.startswith("unknown_") for k in every.history[0])


def test_an_adam_step_reads_nothing_from_the_device(monkeypatch):
    problem = load_problem(PROBLEMS / "poisson_2d.yaml", TINY)
    trainer = Trainer(problem, progress=False)
    optimiser = trainer._current_optimiser("adam", problem.training.phases["adam"])
    assert isinstance(optimiser, Adam)

    steps = [optimiser.step(1, 1.0)]
    # torch's own step counter: a CPU tensor that torch reads on the CPU (on CUDA the Adam
    # phase is capturable and keeps it on the device)
    counters = {id(state["step"]) for state in optimiser.optimizer.state.values()}

    def refusing(method):
        original = getattr(torch.Tensor, method)

        def refuse(self, *args, **kwargs):
            if id(self) in counters:
                return original(self, *args, **kwargs)
            raise AssertionError(f"Tensor.{method} inside an Adam step")

        return refuse

    with monkeypatch.context() as patch:
        for method in ("item", "tolist", "__float__", "__bool__", "__int__"):
            patch.setattr(torch.Tensor, method, refusing(method))
        steps += [optimiser.step(k, 1.0) for k in range(2, 4)]
    assert all(s.pending is not None and math.isnan(s.loss) for s in steps)
    values = [s.pending.tolist() for s in steps]
    assert all(len(v) == 2 + len(trainer.objective.names) for v in values)
    assert values[1][0] < values[0][0]  # the loss before each update, going down


def test_the_kept_steps_are_read_in_one_transfer(monkeypatch):
    problem = load_problem(PROBLEMS / "poisson_2d.yaml", [*TINY, "validation.every=0"])
    reads = []
    original = Readings.read

    def counted(self):
        reads.append(len(self.kept))
        return original(self)

    monkeypatch.setattr(Readings, "read", counted)
    _, result = _run(problem, 25)
    # 120 Adam steps: a read every 25 steps, and at the phase's end (snapshots at 50 and 100
    # fall on reads; the validation at the last step needs no read)
    assert [n for n in reads if n] == [25, 25, 25, 25, 20]
    assert len(result.history) == 130


def test_a_non_finite_step_found_at_a_later_read_fails_naming_its_step():
    problem = load_problem(PROBLEMS / "poisson_2d.yaml", TINY)
    _, result = _run(problem, 25, poison_at=31)
    assert result.status == "failed"
    assert "non-finite values at step 31 (adam): loss term pde is nan" in result.message
    # the parameters and the history of the last step read, 25, not of the lost 26 … 50
    assert "keeps its parameters of step 25" in result.message
    assert result.phase_steps["adam"] == 25 and len(result.history) == 25
    _, reference = _run(
        load_problem(
            PROBLEMS / "poisson_2d.yaml",
            [*TINY, "training.adam.steps=25", "training.lbfgs.steps=0"],
        ),
        1,
    )
    for p, q in zip(result.model.parameters(), reference.model.parameters(), strict=False):
        assert torch.equal(p, q)
    assert all(math.isfinite(p.detach().sum()) for p in result.model.parameters())


def test_a_rollback_after_a_deferred_read_is_the_rollback_of_reading_every_step():
    problem = load_problem(PROBLEMS / "poisson_2d.yaml", [*TINY, "training.on_nonfinite=rollback"])
    _, every = _run(problem, 1, poison_at=58)
    _, deferred = _run(problem, 25, poison_at=58)
    assert every.status == deferred.status == "completed"
    assert deferred.events == every.events
    assert "non-finite values at step 58" in deferred.events[0]
    assert "rolled back to step 50" in deferred.events[0]
    assert _without_times(deferred.history) == _without_times(every.history)
    for p, q in zip(deferred.model.parameters(), every.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_a_stop_signal_reads_the_kept_steps_before_its_checkpoint(tmp_path):
    problem = load_problem(PROBLEMS / "poisson_2d.yaml", TINY)
    trainer = Trainer(problem, progress=False, checkpoint=tmp_path / "c.pt")
    trainer.read_every = 25
    original = trainer._after_step

    def after(phase_step: int) -> None:
        if trainer.step == 37:
            trainer.request_stop(2)
        original(phase_step)

    trainer._after_step = after  # type: ignore[method-assign]
    result = trainer.run()
    assert result.status == "interrupted"
    assert [r["step"] for r in result.history] == list(range(1, 38))
    assert all(math.isfinite(r["loss"]) for r in result.history)
